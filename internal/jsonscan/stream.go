package jsonscan

import (
	"errors"
	"io"
	"slices"
	"strconv"
)

// Stream is JSON text read from an io.Reader through a window of bounded
// size, so that a body of any length can be checked, split into members
// and read without ever being held whole.
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

	// Text being captured: buf[capFrom:] is appended to *capture before
	// More drops it.
	capture *[]byte
	capFrom int
}

// NewStream returns a Stream that reads r through a window of size bytes.
func NewStream(r io.Reader, size int) *Stream {
	return &Stream{r: r, buf: make([]byte, 0, max(size, 16))}
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
// any; io.EOF is no error.
func (s *Stream) Err() error { return s.err }

// More drops the window's bytes before keep (at most the window's length)
// and reads on until the window is full or the text ends. It reports
// whether it read anything; false means the text has ended, and the
// window then holds all of the rest. The indices of the window's bytes
// shift down by keep, Pos included; a reader that works on the window by
// index keeps its own place and sets Pos when it hands the stream on.
func (s *Stream) More(keep int) bool {
	if s.capture != nil {
		*s.capture = append(*s.capture, s.buf[s.capFrom:keep]...)
		s.capFrom = 0
	}
	n := copy(s.buf[:cap(s.buf)], s.buf[keep:])
	s.off += int64(keep)
	s.pos -= keep
	buf := s.buf[:n]
	if s.done {
		s.buf = buf
		return false
	}
	if n == cap(buf) {
		// One token fills the window: only a larger one can hold it.
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
}

// validDepth is encoding/json's limit on nesting: past Object's own, text
// is still checked for validity up to it.
const validDepth = 10000

// Object checks the text of s, from its start, as Object checks a byte
// slice, reading it to its end, and calls member for each member with
// Pos at the start of its value, as it reaches it, with the key unescaped.
// The member's Action says who reads the value.
//
// Object returns the fault Object would report for the whole text (nil
// if there is none), with its offset in the text. Since the text is not
// held, a fault is found only where it is, after the members before it have
// been read: member is no longer called once a fault is found, and the
// caller must set aside what it made of those members if fault is not nil.
// valid reports whether the text is valid JSON all the same (as
// encoding/json's Valid would say: one value, nesting up to 10000 deep), so
// that a caller can tell malformed text from a well-formed value that is
// not one object with distinct keys. If reading the text fails (see Err),
// Object stops there and what it returns is of no use.
func (s *Stream) Object(member func(key string) Action) (fault *SyntaxError, valid bool) {
	w := walker{s: s, limit: MaxDepth}
	w.object(member)
	for s.More(len(s.buf)) {
		// The rest of the text after a fault: read only to its end, so
		// that a read error (too large a body, say) is not missed.
	}
	s.capture = nil
	return w.first, !w.broken
}

// SkipRest checks the rest of the value a reader left in the state at, at
// Pos, as SkipDepth checks a value, and leaves Pos just past it; maxDepth
// bounds the nesting of the whole value. It returns the first syntax fault,
// with its offset in the text.
func (s *Stream) SkipRest(at Resume, maxDepth int) *SyntaxError {
	w := walker{s: s, limit: maxDepth, strict: true}
	w.stack = make([]bool, at.Arrays, max(at.Arrays, 8))
	i, _ := w.skip(s.pos, at.State, 0)
	s.pos = i
	return w.first
}

// walker checks text from a Stream with the checks of Object and
// skipValue, and their messages, token by token.
type walker struct {
	s      *Stream
	limit  int          // on nesting; validDepth once a fault is found
	first  *SyntaxError // the first fault
	broken bool         // the text is not valid JSON
	strict bool         // every fault ends the walk (SkipRest)
	stack  []bool       // the open containers, true for an object
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
// the token reaches the window's end, where it may go on.
func (w *walker) token(i int, scan func(b []byte, i int) (int, error)) (start, end int, err error) {
	for {
		end, err = scan(w.s.buf, i)
		if end < len(w.s.buf) || w.s.done {
			return i, end, err
		}
		w.more(&i) // and scan again, with more text or at its end
	}
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

// object walks the top level: Object's checks, in Object's order.
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
	var seen []member
	var index map[string]struct{}
	i = w.space(i + 1)
	if i < len(w.s.buf) && w.s.buf[i] == '}' {
		i++
	} else {
		for {
			b = w.s.buf
			if i == len(b) {
				w.unexpectedEnd(i)
				return
			}
			if b[i] != '"' {
				w.fail(i, "expected a string key, found "+QuoteByte(b[i]), false)
				return
			}
			keyStart, end, err := w.token(i, scanStringToken)
			if err != nil {
				w.syntax(err)
				return
			}
			b = w.s.buf
			_, plain, _ := scanString(b, keyStart)
			key := decodeKey(b[keyStart+1:end-1], plain)
			if w.first == nil {
				if duplicate(seen, index, key) {
					w.fail(keyStart, "the key "+strconv.Quote(key)+" appears more than once", true)
				} else {
					seen = append(seen, member{key: key})
					if len(seen) > 16 {
						if index == nil {
							index = make(map[string]struct{}, 2*len(seen))
							for _, m := range seen {
								index[m.key] = struct{}{}
							}
						}
						index[key] = struct{}{}
					}
				}
			}
			if i = w.space(end); i == len(w.s.buf) {
				w.unexpectedEnd(i)
				return
			}
			if c := w.s.buf[i]; c != ':' {
				w.fail(i, "expected ':' after an object key, found "+QuoteByte(c), false)
				return
			}
			var ok bool
			if i, ok = w.member(w.space(i+1), key, visit); !ok {
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

// member checks the value at i of the member key, which the callback may
// read or have captured first, and returns the offset past it.
func (w *walker) member(i int, key string, visit func(string) Action) (int, bool) {
	if w.first != nil {
		return w.skip(i, AtValue, 1)
	}
	w.s.pos = i
	act := visit(key)
	if act.Read {
		for range act.Resume.Arrays {
			w.stack = append(w.stack, false)
		}
		return w.skip(w.s.pos, act.Resume.State, 1)
	}
	if act.Capture == nil {
		return w.skip(i, AtValue, 1)
	}
	w.s.capture, w.s.capFrom = act.Capture, i
	end, ok := w.skip(i, AtValue, 1)
	if ok {
		*act.Capture = append(*act.Capture, w.s.buf[w.s.capFrom:end]...)
	}
	w.s.capture = nil
	return end, ok
}

// trailing checks that nothing but white space follows the value.
func (w *walker) trailing(i int, what string) {
	if i = w.space(i); i < len(w.s.buf) {
		w.fail(i, "unexpected "+QuoteByte(w.s.buf[i])+" after "+what, false)
	}
}

// skip checks the text from i, in state st, until the containers open
// beyond the first base have closed after a value, as skipValue does, and
// returns the offset past that value; false means a fault ended the walk.
func (w *walker) skip(i int, st State, base int) (int, bool) {
	var err error
	for {
		switch st {
		case AtValue:
			// White space is skipped before a value is due; a reader that
			// left the stream may have left some.
			if i = w.space(i); i == len(w.s.buf) {
				return i, w.unexpectedEnd(i)
			}
			switch c := w.s.buf[i]; c {
			case '{', '[':
				if len(w.stack) >= w.limit {
					msg := "arrays and objects nest more than " + strconv.Itoa(w.limit) + " deep"
					if !w.fail(i, msg, w.limit < validDepth) {
						return i, false
					}
				}
				w.stack = append(w.stack, c == '{')
				i, st = w.space(i+1), AfterOpen
				continue
			case '"':
				_, i, err = w.token(i, scanStringToken)
			case 't':
				_, i, err = w.token(i, func(b []byte, i int) (int, error) { return literal(b, i, "true") })
			case 'f':
				_, i, err = w.token(i, func(b []byte, i int) (int, error) { return literal(b, i, "false") })
			case 'n':
				_, i, err = w.token(i, func(b []byte, i int) (int, error) { return literal(b, i, "null") })
			default:
				if c != '-' && (c < '0' || c > '9') {
					return i, w.fail(i, "expected a value, found "+QuoteByte(c), false)
				}
				_, i, err = w.token(i, skipNumber)
			}
			if err != nil {
				return i, w.syntax(err)
			}
			st = AfterValue
		case AfterOpen:
			if i = w.space(i); i == len(w.s.buf) {
				return i, w.unexpectedEnd(i)
			}
			obj, c := w.stack[len(w.stack)-1], w.s.buf[i]
			if obj && c == '}' || !obj && c == ']' {
				w.stack = w.stack[:len(w.stack)-1]
				i, st = i+1, AfterValue
				continue
			}
			if obj {
				var ok bool
				if i, ok = w.key(i); !ok {
					return i, false
				}
			}
			st = AtValue
		case AfterValue:
			if len(w.stack) == base {
				return i, true
			}
			if i = w.space(i); i == len(w.s.buf) {
				return i, w.unexpectedEnd(i)
			}
			obj, c := w.stack[len(w.stack)-1], w.s.buf[i]
			switch {
			case c == ',':
				i, st = w.space(i+1), AtValue
				if obj {
					var ok bool
					if i, ok = w.key(i); !ok {
						return i, false
					}
				}
			case obj && c == '}' || !obj && c == ']':
				w.stack = w.stack[:len(w.stack)-1]
				i++
			case obj:
				return i, w.fail(i, "expected ',' or '}' after an object member, found "+QuoteByte(c), false)
			default:
				return i, w.fail(i, "expected ',' or ']' after an array element, found "+QuoteByte(c), false)
			}
		}
	}
}

// key checks `"key" :` at i, as skipKey does, and returns the offset of
// the value after it.
func (w *walker) key(i int) (int, bool) {
	if i == len(w.s.buf) {
		return i, w.unexpectedEnd(i)
	}
	if c := w.s.buf[i]; c != '"' {
		return i, w.fail(i, "expected a string key, found "+QuoteByte(c), false)
	}
	_, i, err := w.token(i, scanStringToken)
	if err != nil {
		return i, w.syntax(err)
	}
	if i = w.space(i); i == len(w.s.buf) {
		return i, w.unexpectedEnd(i)
	}
	if c := w.s.buf[i]; c != ':' {
		return i, w.fail(i, "expected ':' after an object key, found "+QuoteByte(c), false)
	}
	return w.space(i + 1), true
}
