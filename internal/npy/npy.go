// Package npy reads and writes NumPy .npy files holding little-endian
// float32 or float64 arrays in C order, the binary payload format of the
// corr2d API.
//
// The format is described by numpy.lib.format (NEP 1): the magic string
// "\x93NUMPY", a major and minor version byte, a little-endian header length
// (uint16 in version 1.0, uint32 in 2.0 and 3.0), then a Python dict literal
// such as
//
//	{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
//
// padded with spaces and ended by '\n', then the raw array data.
//
// Read is written for untrusted input: it checks the whole header and the
// caller's Limits before it allocates anything in proportion to the claimed
// array size.
package npy

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error that Read and Write return because of the
// input wraps exactly one of them, with detail; errors from the underlying
// reader or writer are wrapped as they are, so that a caller can still
// recognise, say, an *http.MaxBytesError with errors.As.
var (
	// ErrFormat reports input that is not a well-formed .npy file: a bad
	// magic string, a malformed header, a data section of the wrong length.
	ErrFormat = errors.New("npy: malformed file")
	// ErrUnsupported reports a well-formed file that this package does not
	// handle: another format version, dtype or byte order, Fortran order,
	// or a rank above Limits.MaxRank.
	ErrUnsupported = errors.New("npy: unsupported file")
	// ErrTooLarge reports a header longer than Limits.MaxHeaderBytes or an
	// array with more elements than Limits.MaxElements.
	ErrTooLarge = errors.New("npy: file too large")
)

// DType is the element type of an Array.
type DType int

// The element types this package reads and writes. The zero DType is
// invalid, so that a forgotten field is caught rather than read as float32.
const (
	// Float32 is IEEE 754 binary32, descr '<f4'.
	Float32 DType = iota + 1
	// Float64 is IEEE 754 binary64, descr '<f8'.
	Float64
)

// String returns the NumPy name of d, such as "float32".
func (d DType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	default:
		return fmt.Sprintf("DType(%d)", int(d))
	}
}

// Size returns the size of one element of type d in bytes, or 0 for an
// invalid DType.
func (d DType) Size() int {
	switch d {
	case Float32:
		return 4
	case Float64:
		return 8
	default:
		return 0
	}
}

// descr returns the .npy descr string of d.
func (d DType) descr() string {
	switch d {
	case Float32:
		return "<f4"
	case Float64:
		return "<f8"
	default:
		return ""
	}
}

// Array is an n-dimensional array in C (row-major) order. Exactly one of F32
// and F64 holds the data, the one that DType names, with Len() elements; the
// other is nil.
//
// A rank-0 array (empty Shape) is a scalar with one element. Dimensions may
// be zero, giving an array with no elements; Read returns such arrays and
// leaves it to the caller to reject them.
type Array struct {
	DType DType
	Shape []int
	F32   []float32
	F64   []float64
}

// Len returns the number of elements the shape of a describes: the product
// of its dimensions, 1 for rank 0. It returns -1 if a dimension is negative
// or the product overflows int.
func (a Array) Len() int {
	n, ok := shapeLen(a.Shape, maxInt)
	if !ok {
		return -1
	}
	return n
}

const maxInt = int(^uint(0) >> 1)

// shapeLen returns the product of shape and true, or false if a dimension is
// negative or greater than limit or the product exceeds limit. Checking each
// dimension against limit, not just the product, keeps a zero dimension
// from hiding an absurd one that a caller might later compute with.
func shapeLen(shape []int, limit int) (int, bool) {
	n := 1
	for _, d := range shape {
		if d < 0 || d > limit {
			return 0, false
		}
		if d == 0 {
			n = 0
			continue
		}
		if n > limit/d {
			return 0, false
		}
		n *= d
	}
	return n, n <= limit
}

// Defaults for the zero fields of Limits.
const (
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxElements    = 1 << 24
	DefaultMaxRank        = 4
)

// Limits bound what Read accepts. A zero or negative field takes its
// default, so the zero Limits is safe for untrusted input.
type Limits struct {
	// MaxHeaderBytes caps the length of the header dict as the file states
	// it, checked before the header is read. Default 64 KiB.
	MaxHeaderBytes int
	// MaxElements caps the number of array elements, and so the data
	// buffer Read allocates; each dimension is capped by it too. Default
	// 1<<24 (128 MiB of float64).
	MaxElements int
	// MaxRank caps the number of dimensions. Default 4.
	MaxRank int
	// Upfront is how many bytes of data Read may allocate before they
	// have arrived: a caller that knows that many bytes are on their way
	// (the declared length of the body the file is in, which it has
	// admitted) lets an array whose data fits be allocated whole, once,
	// rather than grown as it arrives, which for a 64 MiB array made
	// 128 MiB of fresh memory and copied half of it. Zero or negative:
	// only arrays of up to 1 Mi elements are allocated whole.
	Upfront int64
}

func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultMaxElements
	}
	// The data length in bytes must fit in an int too.
	l.MaxElements = min(l.MaxElements, maxInt/8)
	if l.MaxRank <= 0 {
		l.MaxRank = DefaultMaxRank
	}
	return l
}
