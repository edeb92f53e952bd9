// Package jsonscan holds the service's one JSON grammar. Stream reads JSON
// text through a window of bounded size, checks it token by token with the
// rules and messages of encoding/json's Valid (strings may hold any escape,
// including \uXXXX with unpaired surrogates, and bytes that are not UTF-8),
// splits a request body into the members of its top-level object, and lets
// a reader made for one value (a tensor of some megabytes) read that value
// from the window itself, handing the rest back to be checked. The body is
// never held whole, and text held in memory is read through the same code.
package jsonscan

import (
	"encoding/binary"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/corr2d/corr2d/internal/fastfloat"
)

// MaxDepth is how deeply Stream.Object lets arrays and objects nest, the
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
