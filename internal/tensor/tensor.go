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
	BadShape Kind = iota // not an array, ragged, empty, the wrong rank
	BadValue             // not a number, or outside float64
	TooLarge             // more elements than allowed
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

// Parse reads nested JSON arrays of numbers, which must be rectangular, into
// a Dense. raw must be valid JSON (the caller's decoder has checked it).
func Parse(raw []byte, lim Limits) (Dense, error) {
	p := parser{b: raw, lim: lim}
	p.ws()
	if p.i == len(p.b) || p.b[p.i] != '[' {
		return Dense{}, p.fail(BadShape, "must be an array of numbers or nested arrays")
	}
	if err := p.value(0); err != nil {
		return Dense{}, err
	}
	if lim.MinRank > 0 && len(p.shape) < lim.MinRank {
		return Dense{}, &Error{Kind: BadShape, Msg: fmt.Sprintf("must have at least %d dimensions, has %d", lim.MinRank, len(p.shape))}
	}
	return Dense{Shape: p.shape, Data: p.data}, nil
}

type parser struct {
	b     []byte
	i     int
	lim   Limits
	shape []int // -1 while the first array at a depth is still being read
	leafs bool  // a number has been seen: the rank is fixed
	data  []float64
	path  []int
}

func (p *parser) pointer() string {
	var b []byte
	for _, i := range p.path {
		b = append(b, '/')
		b = strconv.AppendInt(b, int64(i), 10)
	}
	return string(b)
}

func (p *parser) fail(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Pointer: p.pointer(), Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) error {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '[' {
		return p.array(depth)
	}
	p.leafs = true
	if depth != len(p.shape) {
		return p.fail(BadShape, "must be an array, like the first element at this depth")
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			break
		}
		p.i++
	}
	if p.i == start {
		return p.fail(BadValue, "must be a number")
	}
	v, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
	if err != nil || math.IsInf(v, 0) {
		return p.fail(BadValue, "%s is outside the range of float64", p.b[start:p.i])
	}
	if p.lim.MaxElements > 0 && len(p.data) >= p.lim.MaxElements {
		p.path = p.path[:0]
		return p.fail(TooLarge, "has more than %d elements", p.lim.MaxElements)
	}
	p.data = append(p.data, v)
	return nil
}

func (p *parser) array(depth int) error {
	if depth == len(p.shape) {
		if p.leafs {
			return p.fail(BadShape, "must be a number, like the first element at this depth")
		}
		if p.lim.MaxRank > 0 && depth >= p.lim.MaxRank {
			return p.fail(BadShape, "nests deeper than %d dimensions", p.lim.MaxRank)
		}
		p.shape = append(p.shape, -1)
	}
	p.i++ // '['
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		return p.fail(BadShape, "must not be empty")
	}
	n := 0
	for {
		p.path = append(p.path, n)
		if err := p.value(depth + 1); err != nil {
			return err
		}
		p.path = p.path[:len(p.path)-1]
		n++
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ',' {
			p.i++
			continue
		}
		p.i++ // ']'
		break
	}
	switch want := p.shape[depth]; {
	case want == -1:
		p.shape[depth] = n
	case want != n:
		return p.fail(BadShape, "has %d elements but the first array at this depth has %d", n, want)
	}
	return nil
}

// AppendJSON writes t as nested arrays, each number in the shortest form
// that reads back to the same value at the given precision (32 or 64 bits),
// formatted as encoding/json formats it.
func AppendJSON(b []byte, t Dense, bits int) []byte {
	if len(t.Shape) == 0 {
		return appendFloat(b, t.Data[0], bits)
	}
	b, _ = appendNested(b, t.Shape, t.Data, bits)
	return b
}

func appendNested(b []byte, shape []int, data []float64, bits int) ([]byte, []float64) {
	b = append(b, '[')
	for i := 0; i < shape[0]; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		if len(shape) == 1 {
			b = appendFloat(b, data[0], bits)
			data = data[1:]
		} else {
			b, data = appendNested(b, shape[1:], data, bits)
		}
	}
	return append(b, ']'), data
}

// appendFloat uses plain notation for ordinary magnitudes and exponent
// notation for very large or small ones, like encoding/json.
func appendFloat(b []byte, v float64, bits int) []byte {
	if a := math.Abs(v); a != 0 && (bits == 64 && (a < 1e-6 || a >= 1e21) || bits == 32 && (float32(a) < 1e-6 || float32(a) >= 1e21)) {
		n := len(b)
		b = strconv.AppendFloat(b, v, 'e', -1, bits)
		// Shorten e-07 to e-7, as encoding/json does.
		if m := len(b); m-n >= 4 && b[m-4] == 'e' && b[m-3] == '-' && b[m-2] == '0' {
			b[m-2] = b[m-1]
			b = b[:m-1]
		}
		return b
	}
	return strconv.AppendFloat(b, v, 'f', -1, bits)
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
