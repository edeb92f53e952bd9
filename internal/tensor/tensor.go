// Package tensor is the service's n-dimensional array as it travels over
// the wire: a shape and row-major float64 data, read from and written to
// nested JSON arrays.
package tensor

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/corr2d/corr2d/internal/fastfloat"
	"github.com/corr2d/corr2d/internal/jsonscan"
)

// Dense is a row-major array. Float32 data is held exactly in float64.
type Dense struct {
	Shape []int
	Data  []float64
}

// Size returns the product of the dimensions.
func Size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Kind says what is wrong with a value.
type Kind int

// The kinds of decoding fault.
const (
	BadShape  Kind = iota // not an array, ragged, empty, the wrong rank
	BadValue              // not a number, or outside float64
	TooLarge              // more elements than allowed
	BadSyntax             // not JSON; Msg says at which byte
)

// Error is a decoding fault at a place inside the value, named by a JSON
// pointer relative to the value ("" for the value itself, "/3/7" inside).
type Error struct {
	Kind    Kind
	Pointer string
	Msg     string
}

func (e *Error) Error() string {
	if e.Pointer == "" {
		return e.Msg
	}
	return e.Pointer + ": " + e.Msg
}

// Limits bound what Parse accepts; zero fields are unbounded.
type Limits struct {
	MinRank, MaxRank int
	MaxElements      int
}

// maxNesting is encoding/json's limit on nesting, kept so that Parse
// accepts exactly the JSON that encoding/json accepts.
const maxNesting = 10000

// Parse reads raw, which must be one JSON value with nothing but white space
// around it, as nested arrays of numbers that must be rectangular.
//
// Parse checks the JSON syntax itself; it need not run behind a JSON
// decoder. Input that is not valid JSON is a BadSyntax error whose Msg gives
// the byte offset of the fault, and a syntax fault anywhere in raw takes
// precedence over any other fault, as with encoding/json, so that a caller
// can tell malformed input from a well-formed value of the wrong shape.
// Every error is an *Error.
//
// Numbers are read exactly as strconv.ParseFloat reads them. The data is
// reserved once, from a count of the rows or of the commas in raw (at most
// one element for every two bytes), so a decode allocates little beyond the
// result. The rows of a document of a megabyte or more are read on up to
// GOMAXPROCS goroutines, which have all ended when Parse returns.
func Parse(raw []byte, lim Limits) (Dense, error) {
	d, _, err := parse(raw, lim, true, defaultWorkers())
	if err != nil {
		return Dense{}, err
	}
	return d, nil
}

// ParsePrefix is Parse for a value at the start of a larger document: it
// reads the one value after any leading white space and returns the number
// of bytes consumed, up to the end of the value. What follows is the
// caller's concern, and its data is grown as it is read.
func ParsePrefix(b []byte, lim Limits) (Dense, int, error) {
	d, n, err := parse(b, lim, false, 1)
	if err != nil {
		return Dense{}, 0, err
	}
	return d, n, nil
}

func parse(b []byte, lim Limits, whole bool, workers int) (Dense, int, *Error) {
	p := newParser(lim)
	p.b = b
	if whole && len(b) >= parallelMin && workers > 1 {
		p.readRowsAhead(workers)
	}
	if whole && p.data == nil {
		p.hint = min(bytes.Count(b, []byte{','})+1, len(b)/2+1, p.max)
	}
	err := p.top()
	if err == nil {
		err = p.minRank()
	}
	switch {
	case err != nil:
		s := jsonscan.FromBytes(b)
		s.SetPos(p.stop.i)
		err = finish(s, p.stop.resume(), err, whole)
	case whole:
		err = trailing(b, p.i, 0)
	}
	if err != nil {
		return Dense{}, 0, err
	}
	return Dense{Shape: p.shape, Data: p.data}, p.i, nil
}

type parser struct {
	b     []byte
	i     int
	lim   Limits
	max   int   // elements allowed
	hint  int   // elements to reserve at the first number
	shape []int // -1 while the first array at a depth is still being read
	leafs bool  // a number has been seen: the rank is fixed
	data  []float64
	path  []int      // path[d] is the index within the open array at depth d
	ahead *rowsAhead // rows already read, for large documents
	guard int        // len(data) from which numbers must first wait for workers reading ahead, or max

	// When the text is read from a stream (see Read), b is its window.
	src       *source
	streaming bool  // more text may follow the window
	off       int64 // offset in the text of b[0]
	stop      stop  // where the fault being returned left the text
}

func newParser(lim Limits) parser {
	p := parser{lim: lim, max: math.MaxInt}
	if lim.MaxElements > 0 {
		p.max = lim.MaxElements
	}
	p.guard = p.max
	return p
}

// minRank checks the rank of a value read whole.
func (p *parser) minRank() *Error {
	if p.lim.MinRank > 0 && len(p.shape) < p.lim.MinRank {
		p.halt(p.i, 0, jsonscan.AfterValue)
		return &Error{Kind: BadShape, Msg: fmt.Sprintf("must have at least %d dimensions, has %d", p.lim.MinRank, len(p.shape))}
	}
	return nil
}

// stop is where in the value the parser found a fault: at index i of the
// window, inside open arrays, with the text there in state. A stream's
// reader goes on from there to check the rest of the text.
type stop struct {
	i     int
	open  int
	state jsonscan.State
}

// halt notes where the fault about to be returned leaves the text.
func (p *parser) halt(i, open int, state jsonscan.State) {
	p.stop = stop{i: i, open: open, state: state}
}

func (st stop) resume() jsonscan.Resume { return jsonscan.Resume{Arrays: st.open, State: st.state} }

// space skips white space from i, reading on from a stream at the end of
// the window; it returns len(p.b) only at the end of the text.
func (p *parser) space(i int) int {
	for {
		i = jsonscan.SkipSpace(p.b, i)
		if i == len(p.b) && p.streaming {
			i, _ = p.more(i)
			continue
		}
		return i
	}
}

// fail reports a fault at the element named by the first depth indices of
// the path.
func (p *parser) fail(k Kind, depth int, format string, args ...any) *Error {
	var b []byte
	for _, i := range p.path[:depth] {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return &Error{Kind: k, Pointer: string(b), Msg: fmt.Sprintf(format, args...)}
}

func syntaxError(offset int64, msg string) *Error {
	return &Error{Kind: BadSyntax, Msg: (&jsonscan.SyntaxError{Offset: int(offset), Msg: msg}).Error()}
}

// malformed is the fault of text at index i of the window that is not
// JSON, or not JSON the parser knows how to read on from. The parser only
// notes where it stopped (see halt); the JSON grammar in jsonscan then
// checks the text from there and says what is wrong (see finish and
// explain). This message is what is left if it finds nothing.
func (p *parser) malformed(i int) *Error { return syntaxError(p.off+int64(i), "malformed JSON") }

func (p *parser) top() *Error {
	p.i = p.space(p.i)
	p.halt(p.i, 0, jsonscan.AtValue)
	if p.i == len(p.b) {
		return p.malformed(p.i)
	}
	switch c := p.b[p.i]; {
	case c == '[':
		return p.array(0)
	case startsValue(c):
		return p.fail(BadShape, 0, "must be an array of numbers or nested arrays")
	default:
		return p.malformed(p.i)
	}
}

// array reads the array that starts at p.b[p.i], at the given depth.
func (p *parser) array(depth int) *Error {
	if depth == len(p.shape) {
		p.halt(p.i, depth, jsonscan.AtValue)
		if p.leafs {
			return p.fail(BadShape, depth, "must be a number, like the first element at this depth")
		}
		if p.lim.MaxRank > 0 && depth >= p.lim.MaxRank {
			return p.fail(BadShape, depth, "nests deeper than %d dimensions", p.lim.MaxRank)
		}
		if depth >= maxNesting {
			return p.malformed(p.i)
		}
		p.shape = append(p.shape, -1)
	}
	if p.ahead != nil && p.leafs && depth+1 == len(p.shape) && p.shape[depth] == p.ahead.width {
		if end, ok := p.ahead.take(p.i, p.data); ok {
			p.data = p.data[:len(p.data)+p.ahead.width]
			p.i = end
			return nil
		}
	}
	p.path = append(p.path[:depth], 0)
	p.i = p.space(p.i + 1)
	if p.i == len(p.b) {
		p.halt(p.i, depth+1, jsonscan.AfterOpen)
		return p.malformed(p.i)
	}
	if p.b[p.i] == ']' {
		p.halt(p.i, depth+1, jsonscan.AfterOpen)
		return p.fail(BadShape, depth, "must not be empty")
	}
	var n int
	var err *Error
	if p.b[p.i] != '[' && depth+1 == len(p.shape) {
		n, err = p.numbers(depth)
	} else {
		n, err = p.arrays(depth)
	}
	if err != nil {
		return err
	}
	switch want := p.shape[depth]; {
	case want == -1:
		p.shape[depth] = n
		if p.src != nil && depth+1 == len(p.shape) {
			// The first row: with its width known, the rows after it can
			// be read ahead.
			p.lookAhead(p.i)
		}
	case want != n:
		p.halt(p.i, depth, jsonscan.AfterValue)
		return p.fail(BadShape, depth, "has %d elements but the first array at this depth has %d", n, want)
	}
	return nil
}

// arrays reads the elements of an array of arrays, from its first element
// to past its closing bracket, and returns how many there are.
func (p *parser) arrays(depth int) (int, *Error) {
	for n := 0; ; {
		p.path[depth] = n
		switch c := p.b[p.i]; {
		case c == '[':
			if err := p.array(depth + 1); err != nil {
				return 0, err
			}
		case startsValue(c):
			p.halt(p.i, depth+1, jsonscan.AtValue)
			return 0, p.fail(BadShape, depth+1, "must be an array, like the first element at this depth")
		default:
			p.halt(p.i, depth+1, jsonscan.AtValue)
			return 0, p.malformed(p.i)
		}
		n++
		p.i = p.space(p.i)
		if p.i == len(p.b) {
			p.halt(p.i, depth+1, jsonscan.AfterValue)
			return 0, p.malformed(p.i)
		}
		switch p.b[p.i] {
		case ',':
			p.i = p.space(p.i + 1)
			if p.i == len(p.b) {
				p.halt(p.i, depth+1, jsonscan.AtValue)
				return 0, p.malformed(p.i)
			}
		case ']':
			p.i++
			return n, nil
		default:
			p.halt(p.i, depth+1, jsonscan.AfterValue)
			return 0, p.malformed(p.i)
		}
	}
}

// numberRoom is how many bytes must follow a number's start in the window
// of a stream for the number to be read without a look at the window's
// end: more than any number a writer of shortest forms emits. Closer to the
// end, the parser reads on first.
const numberRoom = 64

// numbers reads the elements of an array of numbers, from its first element
// to past its closing bracket, and returns how many there are. It is the
// loop that reads almost every byte of a large tensor.
func (p *parser) numbers(depth int) (int, *Error) {
	p.leafs = true
	if p.data == nil && p.hint > 0 {
		p.data = make([]float64, 0, p.hint)
	}
	b, i, data := p.b, p.i, p.data
	start := len(data)
	defer func() { p.i, p.data = i, data }()
	for {
		if p.streaming && len(b)-i < numberRoom {
			// Read on from the stream, keeping the text from i; the
			// window and data may move.
			p.data = data
			i, _ = p.more(i)
			b, data = p.b, p.data
		}
		if c := b[i]; c != '-' && c-'0' > 9 {
			return 0, p.notANumber(i, depth, len(data)-start)
		}
		v, j, st := fastfloat.ReadNumber(b, i)
		if j == len(b) && p.streaming {
			// The number may go on past the window.
			p.data = data
			i, _ = p.more(i)
			b, data = p.b, p.data
			continue
		}
		if st != fastfloat.OK {
			return 0, p.badNumber(st, i, j, depth, len(data)-start)
		}
		if len(data) >= p.guard {
			if err := p.pastGuard(i, depth, len(data)); err != nil {
				return 0, err
			}
		}
		data = append(data, v)
		i = j
		// The separator: a comma right after the number, perhaps with a
		// space after it, is the common case.
		if i < len(b) && b[i] == ',' {
			i++
		} else {
			p.data = data
			i = p.space(i)
			b, data = p.b, p.data
			if i == len(b) {
				p.halt(i, depth+1, jsonscan.AfterValue)
				return 0, p.malformed(i)
			}
			if b[i] == ']' {
				i++
				return len(data) - start, nil
			}
			if b[i] != ',' {
				p.halt(i, depth+1, jsonscan.AfterValue)
				return 0, p.malformed(i)
			}
			i++
		}
		if i < len(b) && b[i] > ' ' {
			continue
		}
		if i+1 < len(b) && b[i] == ' ' && b[i+1] > ' ' {
			i++
			continue
		}
		p.data = data
		i = p.space(i)
		b, data = p.b, p.data
		if i == len(b) {
			p.halt(i, depth+1, jsonscan.AtValue)
			return 0, p.malformed(i)
		}
	}
}

// notANumber is the fault of the value at b[i], the element at index k of
// an array of numbers, which does not start like a number.
func (p *parser) notANumber(i, depth, k int) *Error {
	c := p.b[i]
	p.path[depth] = k
	p.halt(i, depth+1, jsonscan.AtValue)
	switch {
	case c == '[':
		return p.fail(BadShape, depth+1, "must be a number, like the first element at this depth")
	case startsValue(c):
		return p.fail(BadValue, depth+1, "must be a number")
	}
	return p.malformed(i)
}

// badNumber is the fault of the number b[i:j], the element at index k,
// which fastfloat.ReadNumber read with status st.
func (p *parser) badNumber(st fastfloat.Status, i, j, depth, k int) *Error {
	p.halt(i, depth+1, jsonscan.AtValue)
	if st == fastfloat.Syntax {
		return p.malformed(j)
	}
	p.path[depth] = k
	return p.fail(BadValue, depth+1, "%s is outside the range of float64", p.b[i:j])
}

// pastGuard is called when n elements reach p.guard: past the limit it is
// a fault; past a row the workers read ahead, it waits for them first.
func (p *parser) pastGuard(i, depth, n int) *Error {
	if n >= p.max {
		p.halt(i, depth+1, jsonscan.AtValue)
		return &Error{Kind: TooLarge, Msg: fmt.Sprintf("has more than %d elements", p.max)}
	}
	// A row longer than the rows before it runs into the rows the
	// workers are reading: they must finish first.
	p.ahead.reading.Wait()
	p.guard = p.max
	return nil
}

func startsValue(c byte) bool {
	switch c {
	case '{', '[', '"', 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return true
	}
	return false
}

// MarshalJSON implements json.Marshaler.
// The zero Dense is null.
func (t Dense) MarshalJSON() ([]byte, error) {
	if t.Shape == nil && t.Data == nil {
		return []byte("null"), nil
	}
	if Size(t.Shape) != len(t.Data) {
		return nil, fmt.Errorf("tensor: shape %v holds %d elements, data has %d", t.Shape, Size(t.Shape), len(t.Data))
	}
	for _, v := range t.Data {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("tensor: NaN or Inf cannot be written as JSON")
		}
	}
	return AppendJSON(nil, t, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Dense) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		*t = Dense{}
		return nil
	}
	d, err := Parse(b, Limits{})
	if err != nil {
		return err
	}
	*t = d
	return nil
}
