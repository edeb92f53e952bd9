package jsonscan

import (
	"errors"
	"io"
	"slices"
	"strconv"
)

// Stream is JSON text read from an io.Reader through a window of bounded
// size, so that a body of any length can be checked, split into members
// and read without ever being held whole; or text held in memory, read
// through the same code (see FromBytes).
//
// The window holds the text from Offset on, of which the bytes before Pos
// are consumed. A reader of the text works on Window by index and calls
// More when it needs bytes beyond the window's end; More drops what the
// reader no longer needs and reads on. A token is never split for the
// reader: one that reaches the window's end is read again from its start
// after More, and the window grows only when a single token fills it.
type Stream struct {
	r    io.Reader
	buf  []byte // the window; its capacity is the window's size
	off  int64  // offset in the text of buf[0]
	pos  int
	done bool  // the text has ended: buf holds all of the rest
	err  error // the read error that ended the text early, if any

	// maxToken bounds the tokens the walker reads and the window's growth
	// (see SetMaxToken); 0 leaves them unbounded.
	maxToken int

	// Text being captured: buf[capFrom:] is appended to *capture before
	// More drops it, unless that makes the capture longer than capMax
	// (when capMax > 0). capOff is the offset in the text of the value.
	capture *[]byte
	capFrom int
	capMax  int
	capOff  int64
}

// NewStream returns a Stream that reads r through a window of size bytes.
func NewStream(r io.Reader, size int) *Stream {
	return &Stream{r: r, buf: make([]byte, 0, max(size, 16))}
}

// FromBytes returns a Stream over the text b, held whole in its window.
// The stream never writes to b.
func FromBytes(b []byte) *Stream {
	return &Stream{buf: b, done: true}
}

// SetMaxToken bounds the tokens of the text to n bytes: a key, string or
// number that the stream's own walk (Object, SkipRest) finds longer, or a
// token of any reader that would make the window grow past n, ends the text
// with a *TooLargeError (see Err). So a hostile string costs at most the
// window, not its length.
func (s *Stream) SetMaxToken(n int) { s.maxToken = n }

// TooLargeError ends a text with a token longer than SetMaxToken allows,
// or a member's value longer than its Action's Limit. Reading stops there,
// so that such a value costs no more than its limit.
type TooLargeError struct {
	Member   string // the member of the top-level object it is in, if InMember
	InMember bool   // false for a key of the top-level object
	Token    bool   // one token; false for a captured value
	Offset   int64  // of the token or value in the text
	Limit    int    // in bytes
}

func (e *TooLargeError) Error() string {
	what := "the value"
	if e.Token {
		what = "a token"
	}
	return what + " at byte " + strconv.FormatInt(e.Offset, 10) + " is longer than " + strconv.Itoa(e.Limit) + " bytes"
}

// Window returns the text the window holds: from Offset, up to the end of
// what has been read.
func (s *Stream) Window() []byte { return s.buf }

// Offset returns the offset in the text of the window's first byte.
func (s *Stream) Offset() int64 { return s.off }

// Pos returns the index in the window of the first byte not consumed.
func (s *Stream) Pos() int { return s.pos }

// SetPos consumes the window's bytes before i.
func (s *Stream) SetPos(i int) { s.pos = i }

// Done reports whether the window holds all that is left of the text.
func (s *Stream) Done() bool { return s.done }

// Err returns the error that ended the text before the reader's end, if
// any: a read error, or a *TooLargeError; io.EOF is no error.
func (s *Stream) Err() error { return s.err }

// stop ends the text at the window's end with err.
func (s *Stream) stop(err error) {
	s.err, s.done, s.capture = err, true, nil
}

// More drops the window's bytes before keep (at most the window's length)
// and reads on until the window is full or the text ends. It reports
// whether it read anything; false means the text has ended, and the
// window then holds all of the rest. The indices of the window's bytes
// shift down by keep, Pos included; a reader that works on the window by
// index keeps its own place and sets Pos when it hands the stream on.
func (s *Stream) More(keep int) bool {
	if s.capture != nil {
		// All the window holds from capFrom on is the captured value's.
		if s.capMax > 0 && len(*s.capture)+len(s.buf)-s.capFrom > s.capMax {
			s.stop(&TooLargeError{Offset: s.capOff, Limit: s.capMax})
		} else {
			*s.capture = append(*s.capture, s.buf[s.capFrom:keep]...)
			s.capFrom = 0
		}
	}
	s.off += int64(keep)
	s.pos -= keep
	if s.done {
		s.buf = s.buf[keep:] // nothing to read, and b of FromBytes stays as it is
		return false
	}
	n := copy(s.buf[:cap(s.buf)], s.buf[keep:])
	buf := s.buf[:n]
	if n == cap(buf) {
		// One token fills the window: only a larger one can hold it.
		if s.maxToken > 0 && n > s.maxToken {
			s.buf = buf
			s.stop(&TooLargeError{Offset: s.off, Limit: s.maxToken, Token: true})
			return false
		}
		buf = slices.Grow(buf, n)
	}
	for len(buf) < cap(buf) {
		m, err := s.r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil {
			s.done = true
			if !errors.Is(err, io.EOF) {
				s.err = err
			}
			break
		}
	}
	s.buf = buf
	return len(buf) > n
}

// State says what the text at a place inside a value must be, for a
// reader that stopped there to hand the rest of the value back to Stream.
type State uint8

// The states a value can be left in.
const (
	AtValue    State = iota // a value starts here
	AfterOpen               // just after an array's '[': a value or ']'
	AfterValue              // a value has just ended
)

// Resume is where in a value a reader left the stream: what the text at
// Pos must be, inside how many arrays of the value.
type Resume struct {
	Arrays int
	State  State
}

// Action is what Object does with a member's value once its callback has
// seen the key.
type Action struct {
	// Read says the callback read the value, or the start of it, itself,
	// leaving Pos where it stopped, in the state Resume says. Object checks
	// the rest. The callback must not open more arrays than MaxDepth-1.
	Read   bool
	Resume Resume
	// Capture, if Read is false, is where Object appends the raw text of
	// the value as it checks it.
	Capture *[]byte
	// Limit, if above 0, is the most bytes Capture may take: a longer
	// value ends the text with a *TooLargeError as soon as it is seen to
	// be longer.
	Limit int
}

// validDepth is encoding/json's limit on nesting: past Object's own, text
// is still checked for validity up to it.
const validDepth = 10000

// Object checks the text of s, from its start, and calls member for each
// member of the object it must hold, with Pos at the start of its value,
// as it reaches it, with the key unescaped as encoding/json would decode
// it. The member's Action says who reads the value.
//
// Object returns the first fault of the text (nil if there is none): not
// valid JSON, empty, a top level that is not an object, a repeated key, or
// arrays and objects nested more than MaxDepth deep; its offset is in the
// text. Since the text is not held, a fault is found only where it is,
// after the members before it have been read: member is no longer called
// once a fault is found, and the caller must set aside what it made of
// those members if fault is not nil. valid reports whether the text is
// valid JSON all the same (as encoding/json's Valid would say: one value,
// nesting up to 10000 deep), so that a caller can tell malformed text from
// a well-formed value that is not one object with distinct keys. If
// reading the text fails (see Err), Object stops there and what it returns
// is of no use.
func (s *Stream) Object(member func(key string) Action) (fault *SyntaxError, valid bool) {
	w := walker{s: s, limit: MaxDepth}
	w.object(member)
	for s.More(len(s.buf)) {
		// The rest of the text after a fault: read only to its end, so
		// that a read error (too large a body, say) is not missed.
	}
	s.capture = nil
	var tl *TooLargeError
	if errors.As(s.err, &tl) && w.inMember {
		tl.Member, tl.InMember = w.name, true
	}
	return w.first, !w.broken
}

// SkipRest checks the rest of the value a reader left in the state at, at
// Pos, and leaves Pos just past it; maxDepth bounds the nesting of the
// whole value. It returns the first syntax fault, with its offset in the
// text.
func (s *Stream) SkipRest(at Resume, maxDepth int) *SyntaxError {
	w := walker{s: s, limit: maxDepth, strict: true}
	w.stack = make([]bool, at.Arrays, max(at.Arrays, 8))
	i, _ := w.skip(s.pos, at.State, 0)
	s.pos = i
	return w.first
}

// walker checks text from a Stream token by token: it is the one place
// that knows JSON's rules and words their faults.
type walker struct {
	s        *Stream
	limit    int          // on nesting; validDepth once a fault is found
	first    *SyntaxError // the first fault
	broken   bool         // the text is not valid JSON
	strict   bool         // every fault ends the walk (SkipRest)
	stack    []bool       // the open containers, true for an object
	name     string       // the top-level member being read, if inMember
	inMember bool
}

// fail records a fault at window index i. A fault that leaves the text
// valid JSON (a repeated key, too deep a nesting for Object, a top level
// that is not an object) lets the walk go on to check validity; fail
// reports whether it does.
func (w *walker) fail(i int, msg string, validAfter bool) bool {
	if w.first == nil {
		w.first = &SyntaxError{Offset: int(w.s.off) + i, Msg: msg}
	}
	if !validAfter || w.strict {
		w.broken = true
		w.s.capture = nil
		return false
	}
	w.limit = validDepth
	return true
}

func (w *walker) unexpectedEnd(i int) bool { return w.fail(i, "unexpected end of input", false) }

// more reads on, keeping the window from *i, which it moves with the text.
func (w *walker) more(i *int) bool {
	keep := *i
	ok := w.s.More(keep)
	*i -= keep
	return ok
}

// space skips white space from i, reading on as needed; it returns
// len(Window()) only at the end of the text.
func (w *walker) space(i int) int {
	for {
		i = SkipSpace(w.s.buf, i)
		if i < len(w.s.buf) || !w.more(&i) {
			return i
		}
	}
}

// token runs scan on the token at i, reading on and scanning again while
// the token reaches the window's end, where it may go on. A token longer
// than the stream's maxToken ends the text.
func (w *walker) token(i int, scan func(b []byte, i int) (int, error)) (start, end int, err error) {
	for {
		end, err = scan(w.s.buf, i)
		if end < len(w.s.buf) || w.s.done {
			break
		}
		w.more(&i) // and scan again, with more text or at its end
	}
	if m := w.s.maxToken; m > 0 && end-i > m && w.s.err == nil {
		w.s.stop(&TooLargeError{Offset: w.s.off + int64(i), Limit: m, Token: true})
		return i, end, &SyntaxError{Offset: i, Msg: "a token longer than " + strconv.Itoa(m) + " bytes"}
	}
	return i, end, err
}

// syntax records the error of a scanner, whose offset is in the window.
func (w *walker) syntax(err error) bool {
	var se *SyntaxError
	if !errors.As(err, &se) {
		panic("jsonscan: a scanner returned " + err.Error())
	}
	return w.fail(se.Offset, se.Msg, false)
}

func scanStringToken(b []byte, i int) (int, error) {
	end, _, err := scanString(b, i)
	return end, err
}

// literalToken checks the literal that starts at b[i], which is 't', 'f'
// or 'n'.
func literalToken(b []byte, i int) (int, error) {
	switch b[i] {
	case 't':
		return literal(b, i, "true")
	case 'f':
		return literal(b, i, "false")
	}
	return literal(b, i, "null")
}

// object walks the top level: one object, with distinct keys, and nothing
// but white space after it.
func (w *walker) object(visit func(string) Action) {
	i := w.space(w.s.pos)
	b := w.s.buf
	if i == len(b) {
		w.fail(i, "the input is empty, expected an object", false)
		return
	}
	if b[i] != '{' {
		w.fail(i, "expected an object, found "+QuoteByte(b[i]), true)
		if i, ok := w.skip(i, AtValue, 0); ok {
			w.trailing(i, "the object")
		}
		return
	}
	w.stack = append(w.stack, true)
	var seen keySet
	i = w.space(i + 1)
	if i < len(w.s.buf) && w.s.buf[i] == '}' {
		i++
	} else {
		for {
			var ok bool
			if i, ok = w.topMember(i, &seen, visit); !ok {
				return
			}
			if i = w.space(i); i == len(w.s.buf) {
				w.unexpectedEnd(i)
				return
			}
			c := w.s.buf[i]
			if c == '}' {
				i++
				break
			}
			if c != ',' {
				w.fail(i, "expected ',' or '}' after an object member, found "+QuoteByte(c), false)
				return
			}
			i = w.space(i + 1)
		}
	}
	w.stack = w.stack[:0]
	w.trailing(i, "the object")
}

// topMember checks the member of the top-level object at i, whose key must
// not be among those seen, and returns the offset past its value.
func (w *walker) topMember(i int, seen *keySet, visit func(string) Action) (int, bool) {
	start, end, ok := w.keyToken(i)
	if !ok {
		return end, false
	}
	b := w.s.buf
	_, plain, _ := scanString(b, start)
	key := decodeKey(b[start+1:end-1], plain)
	if w.first == nil && !seen.add(key) {
		w.fail(start, "the key "+strconv.Quote(key)+" appears more than once", true)
	}
	if i, ok = w.colon(end); !ok {
		return i, false
	}
	return w.member(i, key, visit)
}

// keySet holds the keys of an object, to find one that repeats: in a slice
// while there are few, in a map beyond.
type keySet struct {
	few   []string
	index map[string]struct{}
}

// add adds key to the set, and reports false if it was there already.
func (k *keySet) add(key string) bool {
	if k.index != nil {
		if _, ok := k.index[key]; ok {
			return false
		}
		k.index[key] = struct{}{}
		return true
	}
	if slices.Contains(k.few, key) {
		return false
	}
	k.few = append(k.few, key)
	if len(k.few) > 16 {
		k.index = make(map[string]struct{}, 2*len(k.few))
		for _, f := range k.few {
			k.index[f] = struct{}{}
		}
	}
	return true
}

// member checks the value at i of the member key, which the callback may
// read or have captured first, and returns the offset past it.
func (w *walker) member(i int, key string, visit func(string) Action) (int, bool) {
	if w.first != nil {
		return w.skip(i, AtValue, 1)
	}
	w.name, w.inMember = key, true
	w.s.pos = i
	end, ok := w.value(i, visit(key))
	w.inMember = !ok
	return end, ok
}

// value checks the value at i of a member as act says.
func (w *walker) value(i int, act Action) (int, bool) {
	if act.Read {
		for range act.Resume.Arrays {
			w.stack = append(w.stack, false)
		}
		return w.skip(w.s.pos, act.Resume.State, 1)
	}
	if act.Capture == nil {
		return w.skip(i, AtValue, 1)
	}
	s := w.s
	s.capture, s.capFrom, s.capMax, s.capOff = act.Capture, i, act.Limit, s.off+int64(i)
	end, ok := w.skip(i, AtValue, 1)
	if ok && s.capture != nil {
		if act.Limit > 0 && len(*act.Capture)+end-s.capFrom > act.Limit {
			s.stop(&TooLargeError{Offset: s.capOff, Limit: act.Limit})
			return end, false
		}
		*act.Capture = append(*act.Capture, s.buf[s.capFrom:end]...)
	}
	s.capture = nil
	return end, ok
}

// trailing checks that nothing but white space follows the value.
func (w *walker) trailing(i int, what string) {
	if i = w.space(i); i < len(w.s.buf) {
		w.fail(i, "unexpected "+QuoteByte(w.s.buf[i])+" after "+what, false)
	}
}

// skip checks the text from i, in state st, until the containers open
// beyond the first base have closed after a value, and returns the offset
// past that value; false means a fault ended the walk.
func (w *walker) skip(i int, st State, base int) (int, bool) {
	ok := true
	for ok {
		switch st {
		case AtValue:
			i, st, ok = w.atValue(i)
		case AfterOpen:
			i, st, ok = w.afterOpen(i)
		default:
			if len(w.stack) == base {
				return i, true
			}
			i, st, ok = w.afterValue(i)
		}
	}
	return i, false
}

// atValue checks the start of a container, or a whole scalar, at i (after
// white space), and returns the offset past it and the state there.
func (w *walker) atValue(i int) (int, State, bool) {
	// White space is skipped before a value is due; a reader that left the
	// stream may have left some.
	if i = w.space(i); i == len(w.s.buf) {
		return i, AtValue, w.unexpectedEnd(i)
	}
	var err error
	switch c := w.s.buf[i]; c {
	case '{', '[':
		if len(w.stack) >= w.limit {
			msg := "arrays and objects nest more than " + strconv.Itoa(w.limit) + " deep"
			if !w.fail(i, msg, w.limit < validDepth) {
				return i, AtValue, false
			}
		}
		w.stack = append(w.stack, c == '{')
		return w.space(i + 1), AfterOpen, true
	case '"':
		_, i, err = w.token(i, scanStringToken)
	case 't', 'f', 'n':
		_, i, err = w.token(i, literalToken)
	default:
		if c != '-' && (c < '0' || c > '9') {
			return i, AtValue, w.fail(i, "expected a value, found "+QuoteByte(c), false)
		}
		if _, i, err = w.token(i, skipNumber); err == nil {
			i, err = w.numbers(i)
		}
	}
	if err != nil {
		return i, AtValue, w.syntax(err)
	}
	return i, AfterValue, true
}

// numbers skips, after a number that ended at i in an array, the numbers
// that follow it, each after a comma and perhaps a space, while they end
// inside the window: the bulk of a request, checked without a token's
// round trip. It stops before the comma of any other element.
func (w *walker) numbers(i int) (int, error) {
	if len(w.stack) == 0 || w.stack[len(w.stack)-1] {
		return i, nil
	}
	b, most := w.s.buf, w.s.maxToken
	for i+2 < len(b) && b[i] == ',' {
		j := i + 1
		if b[j] == ' ' {
			j++
		}
		if c := b[j]; c != '-' && (c < '0' || c > '9') {
			break
		}
		end, err := skipNumber(b, j)
		if end >= len(b) || most > 0 && end-j > most {
			break // it may go on past the window, or is too long: token's to say
		}
		if err != nil {
			return end, err
		}
		i = end
	}
	return i, nil
}

// afterOpen checks what follows an array's '[' or an object's '{' at i:
// its end, or its first element (an object's, after its key).
func (w *walker) afterOpen(i int) (int, State, bool) {
	if i = w.space(i); i == len(w.s.buf) {
		return i, AfterOpen, w.unexpectedEnd(i)
	}
	obj, c := w.stack[len(w.stack)-1], w.s.buf[i]
	if obj && c == '}' || !obj && c == ']' {
		w.stack = w.stack[:len(w.stack)-1]
		return i + 1, AfterValue, true
	}
	if obj {
		i, ok := w.key(i)
		return i, AtValue, ok
	}
	return i, AtValue, true
}

// afterValue checks what follows an element at i: a comma and the next
// element's start (an object's, after its key), or the container's end.
func (w *walker) afterValue(i int) (int, State, bool) {
	if i = w.space(i); i == len(w.s.buf) {
		return i, AfterValue, w.unexpectedEnd(i)
	}
	obj, c := w.stack[len(w.stack)-1], w.s.buf[i]
	switch {
	case c == ',':
		i = w.space(i + 1)
		if obj {
			i, ok := w.key(i)
			return i, AtValue, ok
		}
		return i, AtValue, true
	case obj && c == '}' || !obj && c == ']':
		w.stack = w.stack[:len(w.stack)-1]
		return i + 1, AfterValue, true
	case obj:
		return i, AfterValue, w.fail(i, "expected ',' or '}' after an object member, found "+QuoteByte(c), false)
	}
	return i, AfterValue, w.fail(i, "expected ',' or ']' after an array element, found "+QuoteByte(c), false)
}

// key checks `"key" :` at i and returns the offset of the value after it.
func (w *walker) key(i int) (int, bool) {
	_, end, ok := w.keyToken(i)
	if !ok {
		return end, false
	}
	return w.colon(end)
}

// keyToken checks the string key at i and returns where it starts and
// ends in the window.
func (w *walker) keyToken(i int) (start, end int, ok bool) {
	if i == len(w.s.buf) {
		return i, i, w.unexpectedEnd(i)
	}
	if c := w.s.buf[i]; c != '"' {
		return i, i, w.fail(i, "expected a string key, found "+QuoteByte(c), false)
	}
	start, end, err := w.token(i, scanStringToken)
	if err != nil {
		return start, end, w.syntax(err)
	}
	return start, end, true
}

// colon checks the ':' after a key that ends at i, and returns the offset
// of the value after it.
func (w *walker) colon(i int) (int, bool) {
	if i = w.space(i); i == len(w.s.buf) {
		return i, w.unexpectedEnd(i)
	}
	if c := w.s.buf[i]; c != ':' {
		return i, w.fail(i, "expected ':' after an object key, found "+QuoteByte(c), false)
	}
	return w.space(i + 1), true
}
