package npy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
	"unsafe"
)

const magic = "\x93NUMPY"

const (
	// chunkBytes is the size of the buffer that the portable path reads
	// and writes data through: large enough that per-call overhead
	// vanishes, small enough to stay in cache while it is converted.
	chunkBytes = 64 << 10
	// initialElems bounds the first allocation for the data. The header
	// alone may claim up to MaxElements elements; growing the buffer as
	// the data actually arrives keeps a tiny request from making Read
	// allocate the whole claimed size. Arrays up to this size (a 1024×1024
	// image) are still allocated exactly once.
	initialElems = 1 << 20
)

// Read reads one .npy file of format version 1.0, 2.0 or 3.0 holding a
// little-endian float32 or float64 array in C order, and checks that r ends
// right after the data.
//
// Every field of the header is checked, and the array size against lim,
// before the data buffer is allocated; see the package errors for what is
// rejected how. The header may be padded to any alignment. NaN and
// infinities are returned as they are.
//
// The buffer for the data is allocated whole for arrays of up to 1 Mi
// elements, or up to lim.Upfront bytes, and otherwise grows as the data
// arrives, so a short body that claims a large array costs little memory.
// On little-endian hosts the data is read straight into it, without a
// conversion pass.
//
// Read consumes r up to and including one byte past the data, to detect
// trailing bytes; errors from r other than a premature io.EOF are returned
// wrapped.
func Read(r io.Reader, lim Limits) (Array, error) {
	return read(r, lim, hostLittleEndian())
}

// read is Read, reading the data straight into the result if direct is
// set, which is only correct on a little-endian host.
func read(r io.Reader, lim Limits, direct bool) (Array, error) {
	lim = lim.withDefaults()
	h, err := readHeader(r, lim)
	if err != nil {
		return Array{}, err
	}
	a := Array{DType: h.dtype, Shape: h.shape}
	switch h.dtype {
	case Float32:
		a.F32, err = readData(r, h.n, firstElems(h.n, 4, lim.Upfront), direct, decodeF32)
	case Float64:
		a.F64, err = readData(r, h.n, firstElems(h.n, 8, lim.Upfront), direct, decodeF64)
	}
	if err != nil {
		return Array{}, err
	}
	if err := checkEOF(r); err != nil {
		return Array{}, err
	}
	return a, nil
}

// readErr turns an error from io.ReadFull while reading what into the
// error Read returns.
func readErr(err error, what string, got, want int) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %s is %d bytes, want %d", ErrFormat, what, got, want)
	}
	return fmt.Errorf("npy: reading %s: %w", what, err)
}

func readHeader(r io.Reader, lim Limits) (header, error) {
	var pre [12]byte
	if n, err := io.ReadFull(r, pre[:8]); err != nil {
		return header{}, readErr(err, "magic and version", n, 8)
	}
	if string(pre[:6]) != magic {
		return header{}, fmt.Errorf("%w: not a .npy file (magic string %q)", ErrFormat, pre[:6])
	}
	major, minor := pre[6], pre[7]
	var hlen uint64
	switch {
	case major == 1 && minor == 0:
		if n, err := io.ReadFull(r, pre[8:10]); err != nil {
			return header{}, readErr(err, "header length", n, 2)
		}
		hlen = uint64(binary.LittleEndian.Uint16(pre[8:10]))
	case (major == 2 || major == 3) && minor == 0:
		if n, err := io.ReadFull(r, pre[8:12]); err != nil {
			return header{}, readErr(err, "header length", n, 4)
		}
		hlen = uint64(binary.LittleEndian.Uint32(pre[8:12]))
	default:
		return header{}, fmt.Errorf("%w: format version %d.%d; want 1.0, 2.0 or 3.0", ErrUnsupported, major, minor)
	}
	if hlen > uint64(lim.MaxHeaderBytes) {
		return header{}, fmt.Errorf("%w: header is %d bytes, over the limit of %d", ErrTooLarge, hlen, lim.MaxHeaderBytes)
	}
	if hlen == 0 {
		return header{}, fmt.Errorf("%w: header is empty", ErrFormat)
	}
	buf := make([]byte, hlen)
	if n, err := io.ReadFull(r, buf); err != nil {
		return header{}, readErr(err, "header", n, len(buf))
	}
	if buf[len(buf)-1] != '\n' {
		return header{}, fmt.Errorf("%w: header does not end in a newline", ErrFormat)
	}
	// Versions 1.0 and 2.0 are latin-1, which any byte sequence is; the
	// parser rejects non-ASCII bytes outside strings either way.
	if major == 3 && !utf8.Valid(buf) {
		return header{}, fmt.Errorf("%w: version 3.0 header is not valid UTF-8", ErrFormat)
	}
	return parseHeader(buf[:len(buf)-1], lim)
}

// firstElems is the capacity of the first allocation for n elements of
// size bytes: all of them when the caller vouches for their bytes
// (Limits.Upfront), else at most initialElems.
func firstElems(n, size int, upfront int64) int {
	if int64(n)*int64(size) <= upfront {
		return n
	}
	return min(n, initialElems)
}

// readData reads exactly n elements from r into a slice of first
// elements' capacity, grown as the data arrives. With direct set, which
// needs a little-endian host, it reads straight into the result's memory;
// otherwise it reads through a buffer and decodes with decode, which
// converts len(dst) elements from src.
func readData[T float32 | float64](r io.Reader, n, first int, direct bool, decode func(dst []T, src []byte)) ([]T, error) {
	size := int(unsafe.Sizeof(T(0)))
	want := n * size // cannot overflow: Limits caps n at maxInt/8
	dst := make([]T, 0, first)
	var buf []byte
	if !direct {
		buf = make([]byte, min(want, chunkBytes))
	}
	for len(dst) < n {
		if len(dst) == cap(dst) {
			// Double, as append would, but never past n so that the
			// final slice wastes no memory.
			grown := make([]T, len(dst), min(n, 2*cap(dst)))
			copy(grown, dst)
			dst = grown
		}
		m := cap(dst)
		if !direct {
			m = min(m, len(dst)+len(buf)/size)
		}
		var chunk []byte
		if direct {
			chunk = asBytes(dst[len(dst):m])
		} else {
			chunk = buf[:(m-len(dst))*size]
		}
		if k, err := io.ReadFull(r, chunk); err != nil {
			return nil, readErr(err, "data", len(dst)*size+k, want)
		}
		if !direct {
			decode(dst[len(dst):m], chunk)
		}
		dst = dst[:m]
	}
	return dst, nil
}

// hostLittleEndian reports whether this machine stores numbers least
// significant byte first, as .npy '<f4' and '<f8' data does. Only then may
// float slices be read and written as raw memory.
func hostLittleEndian() bool {
	return binary.NativeEndian.Uint16([]byte{1, 0}) == 1
}

// asBytes returns the memory of s as bytes. The caller must only use it on
// a little-endian host when the bytes stand for '<f4' or '<f8' data.
func asBytes[T float32 | float64](s []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(T(0))))
}

// decodeF32 and decodeF64 are the portable decoders, used on big-endian
// hosts and as the reference for the direct path in tests.
func decodeF32(dst []float32, src []byte) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func decodeF64(dst []float64, src []byte) {
	src = src[:8*len(dst)]
	for i := range dst {
		dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:]))
	}
}

// checkEOF reads one more byte to make sure the data was the end of r.
func checkEOF(r io.Reader) error {
	var b [1]byte
	// bufio gives up after 100 empty reads; so do we.
	for range 100 {
		n, err := r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: trailing bytes after the data", ErrFormat)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("npy: reading past the data: %w", err)
		}
		// A Read of (0, nil) is allowed and means nothing happened; try
		// again as io.ReadFull would.
	}
	return fmt.Errorf("npy: reading past the data: %w", io.ErrNoProgress)
}
