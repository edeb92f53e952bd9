// Package jsonscan checks JSON text and splits a request body into the
// members of its top-level object without decoding them, so that a large
// value (a tensor of some megabytes) can be handed to a reader made for it as
// a sub-slice of the body, with no copy and no generic intermediate. Stream
// does the same for a body read through a window of bounded size, handing
// the reader the stream at the value instead, so that the body is never
// held whole.
//
// What it accepts is exactly what encoding/json's Valid accepts, with a
// lower limit on nesting: strings may hold any escape, including \uXXXX with
// unpaired surrogates, and bytes that are not UTF-8, as encoding/json allows.
package jsonscan

import (
	"encoding/binary"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/corr2d/corr2d/internal/fastfloat"
)

// MaxDepth is how deeply Object and Skip let arrays and objects nest, the
// outermost counting as one. Request bodies need a handful of levels; the
// limit keeps a hostile body from costing more than a bounded stack.
const MaxDepth = 64

// SyntaxError is malformed JSON: what is wrong, at which byte of the input.
type SyntaxError struct {
	Offset int // of the first byte that cannot be part of valid JSON, or len(input) if it ends early
	Msg    string
}

func (e *SyntaxError) Error() string {
	return "invalid JSON at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// Object checks that b holds exactly one JSON object, with white space
// around it allowed and nothing else, whose keys are all distinct; then it
// calls fn for each member in document order with the key (unescaped, as
// encoding/json would decode it) and the raw bytes of the value (a sub-slice
// of b, without surrounding white space, with its capacity cut to its length
// so that appending to it cannot overwrite b).
//
// Malformed input, an empty one, a top level that is not an object, and a
// repeated key are reported as a *SyntaxError before fn is called at all,
// so that a syntax fault always takes precedence over what fn would say
// about a value. The first error fn returns stops the walk and is returned
// as is.
func Object(b []byte, fn func(key string, value []byte) error) error {
	i := SkipSpace(b, 0)
	if i == len(b) {
		return &SyntaxError{Offset: i, Msg: "the input is empty, expected an object"}
	}
	if b[i] != '{' {
		return &SyntaxError{Offset: i, Msg: "expected an object, found " + QuoteByte(b[i])}
	}
	var buf [16]member
	members := buf[:0]
	var index map[string]struct{} // once there are too many members to compare one by one
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		i++
	} else {
		for {
			if i == len(b) {
				return unexpectedEnd(i)
			}
			if b[i] != '"' {
				return &SyntaxError{Offset: i, Msg: "expected a string key, found " + QuoteByte(b[i])}
			}
			keyStart := i
			end, plain, err := scanString(b, i)
			if err != nil {
				return err
			}
			key := decodeKey(b[i+1:end-1], plain)
			if duplicate(members, index, key) {
				return &SyntaxError{Offset: keyStart, Msg: "the key " + strconv.Quote(key) + " appears more than once"}
			}
			if len(members) >= 16 {
				if index == nil {
					index = make(map[string]struct{}, 2*len(members))
					for _, m := range members {
						index[m.key] = struct{}{}
					}
				}
				index[key] = struct{}{}
			}
			i = SkipSpace(b, end)
			if i == len(b) {
				return unexpectedEnd(i)
			}
			if b[i] != ':' {
				return &SyntaxError{Offset: i, Msg: "expected ':' after an object key, found " + QuoteByte(b[i])}
			}
			start := SkipSpace(b, i+1)
			end, err = skipValue(b, start, 1, MaxDepth)
			if err != nil {
				return err
			}
			members = append(members, member{key: key, start: start, end: end})
			i = SkipSpace(b, end)
			if i == len(b) {
				return unexpectedEnd(i)
			}
			if b[i] == '}' {
				i++
				break
			}
			if b[i] != ',' {
				return &SyntaxError{Offset: i, Msg: "expected ',' or '}' after an object member, found " + QuoteByte(b[i])}
			}
			i = SkipSpace(b, i+1)
		}
	}
	if i = SkipSpace(b, i); i != len(b) {
		return &SyntaxError{Offset: i, Msg: "unexpected " + QuoteByte(b[i]) + " after the object"}
	}
	for _, m := range members {
		if err := fn(m.key, b[m.start:m.end:m.end]); err != nil {
			return err
		}
	}
	return nil
}

type member struct {
	key        string
	start, end int
}

func duplicate(members []member, index map[string]struct{}, key string) bool {
	if index != nil {
		_, ok := index[key]
		return ok
	}
	for _, m := range members {
		if m.key == key {
			return true
		}
	}
	return false
}

// Skip checks the one JSON value at the start of b, after any white space,
// and returns the offset just past it. What follows the value is the
// caller's concern. Nesting deeper than MaxDepth is an error.
func Skip(b []byte) (int, error) {
	return SkipDepth(b, MaxDepth)
}

// SkipDepth is Skip with another limit on nesting. encoding/json's is 10000.
func SkipDepth(b []byte, maxDepth int) (int, error) {
	return skipValue(b, SkipSpace(b, 0), 0, maxDepth)
}

// skipValue checks the value at b[i:] and returns the offset past it. depth
// is how many containers are already open around it. It keeps its own
// stack rather than recursing, so that the depth limit bounds only memory
// for open containers, not goroutine stack.
func skipValue(b []byte, i, depth, maxDepth int) (int, error) {
	var buf [MaxDepth]bool
	inObject := buf[:0] // for each open container, whether it is an object
	var err error
	for {
		// A value must start at i.
		if i == len(b) {
			return i, unexpectedEnd(i)
		}
		switch c := b[i]; c {
		case '{', '[':
			if depth+len(inObject) >= maxDepth {
				return i, &SyntaxError{Offset: i, Msg: "arrays and objects nest more than " + strconv.Itoa(maxDepth) + " deep"}
			}
			i = SkipSpace(b, i+1)
			if i < len(b) && (c == '{' && b[i] == '}' || c == '[' && b[i] == ']') {
				i++ // an empty container is a complete value
				break
			}
			inObject = append(inObject, c == '{')
			if c == '{' {
				if i, err = skipKey(b, i); err != nil {
					return i, err
				}
			}
			continue
		case '"':
			if i, _, err = scanString(b, i); err != nil {
				return i, err
			}
		case 't':
			if i, err = literal(b, i, "true"); err != nil {
				return i, err
			}
		case 'f':
			if i, err = literal(b, i, "false"); err != nil {
				return i, err
			}
		case 'n':
			if i, err = literal(b, i, "null"); err != nil {
				return i, err
			}
		default:
			if c != '-' && (c < '0' || c > '9') {
				return i, &SyntaxError{Offset: i, Msg: "expected a value, found " + QuoteByte(c)}
			}
			if i, err = skipNumber(b, i); err != nil {
				return i, err
			}
			// The bulk of a request is arrays of numbers: stay here while
			// a comma, perhaps and a space, leads to another number.
			if len(inObject) > 0 && !inObject[len(inObject)-1] {
				for i+2 < len(b) && b[i] == ',' {
					j := i + 1
					if b[j] == ' ' {
						j++
					}
					if c := b[j]; c != '-' && (c < '0' || c > '9') {
						break
					}
					if i, err = skipNumber(b, j); err != nil {
						return i, err
					}
				}
			}
		}
		// A value has ended at i: close containers until one wants another
		// element, or the outermost value is complete.
		for {
			if len(inObject) == 0 {
				return i, nil
			}
			i = SkipSpace(b, i)
			if i == len(b) {
				return i, unexpectedEnd(i)
			}
			obj := inObject[len(inObject)-1]
			c := b[i]
			if c == ',' {
				i = SkipSpace(b, i+1)
				if obj {
					if i, err = skipKey(b, i); err != nil {
						return i, err
					}
				}
				break
			}
			if obj && c == '}' || !obj && c == ']' {
				inObject = inObject[:len(inObject)-1]
				i++
				continue
			}
			if obj {
				return i, &SyntaxError{Offset: i, Msg: "expected ',' or '}' after an object member, found " + QuoteByte(c)}
			}
			return i, &SyntaxError{Offset: i, Msg: "expected ',' or ']' after an array element, found " + QuoteByte(c)}
		}
	}
}

// skipKey checks `"key" :` at b[i:] and returns the offset of the value
// after it.
func skipKey(b []byte, i int) (int, error) {
	if i == len(b) {
		return i, unexpectedEnd(i)
	}
	if b[i] != '"' {
		return i, &SyntaxError{Offset: i, Msg: "expected a string key, found " + QuoteByte(b[i])}
	}
	i, _, err := scanString(b, i)
	if err != nil {
		return i, err
	}
	i = SkipSpace(b, i)
	if i == len(b) {
		return i, unexpectedEnd(i)
	}
	if b[i] != ':' {
		return i, &SyntaxError{Offset: i, Msg: "expected ':' after an object key, found " + QuoteByte(b[i])}
	}
	return SkipSpace(b, i+1), nil
}

// scanString checks the string that starts with the quote at b[i] and
// returns the offset past its closing quote, and whether its content can be
// used as it stands: no escapes and valid UTF-8.
func scanString(b []byte, i int) (end int, plain bool, err error) {
	plain = true
	j := i + 1
	for j < len(b) {
		c := b[j]
		switch {
		case c == '"':
			return j + 1, plain, nil
		case c == '\\':
			plain = false
			if j+1 == len(b) {
				return j + 1, false, unexpectedEnd(j + 1)
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				for k := j + 2; k < j+6; k++ {
					if k == len(b) {
						return k, false, unexpectedEnd(k)
					}
					if !isHex(b[k]) {
						return k, false, &SyntaxError{Offset: k, Msg: "expected a hex digit in a \\u escape, found " + QuoteByte(b[k])}
					}
				}
				j += 6
			default:
				return j + 1, false, &SyntaxError{Offset: j + 1, Msg: "invalid escape " + QuoteByte(b[j+1]) + " in a string"}
			}
		case c < 0x20:
			return j, false, &SyntaxError{Offset: j, Msg: "control character " + QuoteByte(c) + " in a string"}
		case c >= utf8.RuneSelf:
			// Not UTF-8 is accepted, as encoding/json accepts it, but such a
			// key must be decoded to compare it as encoding/json would.
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			j += size
		default:
			j++
		}
	}
	return j, false, unexpectedEnd(j)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			r = r<<4 | rune(c-'0')
		default:
			r = r<<4 | rune(c|0x20-'a'+10)
		}
	}
	return r
}

// decodeKey turns the checked content of a string into the key that
// encoding/json would decode: escapes resolved, a \u escape that is not
// half of a surrogate pair and a byte that is not UTF-8 each become U+FFFD.
func decodeKey(s []byte, plain bool) string {
	if plain {
		return string(s)
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'u':
				r := hex4(s[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						if pair := utf16.DecodeRune(r, hex4(s[i+2:])); pair != utf8.RuneError {
							out = utf8.AppendRune(out, pair)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				out = utf8.AppendRune(out, r)
				continue
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			default: // '"', '\\', '/'
				out = append(out, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, s[i:i+size]...)
			}
			i += size
		}
	}
	return string(out)
}

// skipNumber checks the JSON number at b[i:], which starts with '-' or a
// digit: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func skipNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i == len(b):
		return i, unexpectedEnd(i)
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return i, &SyntaxError{Offset: i, Msg: "expected a digit in a number, found " + QuoteByte(b[i])}
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return numberEnd(b, j)
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return numberEnd(b, j)
		}
		i = j
	}
	return i, nil
}

func numberEnd(b []byte, i int) (int, error) {
	if i == len(b) {
		return i, unexpectedEnd(i)
	}
	return i, &SyntaxError{Offset: i, Msg: "expected a digit in a number, found " + QuoteByte(b[i])}
}

// digits returns the offset of the first byte at or after i that is not a
// digit, looking at eight bytes at a time while it can.
func digits(b []byte, i int) int {
	for i+8 <= len(b) && fastfloat.EightDigits(binary.LittleEndian.Uint64(b[i:])) {
		i += 8
	}
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func literal(b []byte, i int, word string) (int, error) {
	for k := 0; k < len(word); k++ {
		if i+k == len(b) {
			return i + k, unexpectedEnd(i + k)
		}
		if b[i+k] != word[k] {
			return i + k, &SyntaxError{Offset: i + k, Msg: "expected " + word + ", found " + QuoteByte(b[i+k])}
		}
	}
	return i + len(word), nil
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func unexpectedEnd(i int) error {
	return &SyntaxError{Offset: i, Msg: "unexpected end of input"}
}

// QuoteByte names the byte c in a syntax error: quoted if it is printable
// ASCII, in hex otherwise.
func QuoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "byte 0x" + strconv.FormatUint(uint64(c), 16)
}
