package npy

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
	"unsafe"
)

// align is the multiple that NumPy (since 1.14) pads the preamble and header
// to, so that the data can be memory-mapped with any element alignment.
const align = 64

// Write writes a as a .npy file: format version 1.0 with descr '<f4' or
// '<f8' and fortran_order False, the header padded with spaces so the data
// starts at a multiple of 64 bytes, as NumPy writes it. (A header too long
// for version 1.0, which takes a rank in the thousands, is written as
// version 2.0, as NumPy does.)
//
// It checks that a is consistent: a valid DType, non-negative dimensions,
// and exactly Len() elements in the slice DType names, the other nil.
// Errors from w are returned wrapped.
func Write(w io.Writer, a Array) error {
	return write(w, a, hostLittleEndian())
}

// write is Write, writing the data straight from a's memory if direct is
// set, which is only correct on a little-endian host.
func write(w io.Writer, a Array, direct bool) error {
	n := a.Len()
	if n < 0 {
		return fmt.Errorf("npy: write: invalid shape %v", a.Shape)
	}
	var got int
	switch a.DType {
	case Float32:
		if a.F64 != nil {
			return fmt.Errorf("npy: write: float32 array has F64 set")
		}
		got = len(a.F32)
	case Float64:
		if a.F32 != nil {
			return fmt.Errorf("npy: write: float64 array has F32 set")
		}
		got = len(a.F64)
	default:
		return fmt.Errorf("%w: write: %v", ErrUnsupported, a.DType)
	}
	if got != n {
		return fmt.Errorf("npy: write: shape %v holds %d elements, data has %d", a.Shape, n, got)
	}

	if _, err := w.Write(appendHeader(nil, a.DType, a.Shape)); err != nil {
		return fmt.Errorf("npy: writing header: %w", err)
	}
	var err error
	switch a.DType {
	case Float32:
		err = writeData(w, a.F32, direct, encodeF32)
	case Float64:
		err = writeData(w, a.F64, direct, encodeF64)
	}
	if err != nil {
		return fmt.Errorf("npy: writing data: %w", err)
	}
	return nil
}

// appendHeader appends the preamble and header dict for an array of type
// d and the given shape to b. The dict is written the way NumPy's repr
// writes it, keys sorted, so files compare equal byte for byte with
// NumPy's apart from its padding.
func appendHeader(b []byte, d DType, shape []int) []byte {
	dict := make([]byte, 0, 64+8*len(shape))
	dict = append(dict, "{'descr': '"...)
	dict = append(dict, d.descr()...)
	dict = append(dict, "', 'fortran_order': False, 'shape': ("...)
	for i, dim := range shape {
		if i > 0 {
			dict = append(dict, ", "...)
		}
		dict = strconv.AppendInt(dict, int64(dim), 10)
	}
	if len(shape) == 1 {
		dict = append(dict, ',')
	}
	dict = append(dict, "), }"...)

	v1 := true
	pre := len(magic) + 2 + 2
	pad := (align - (pre+len(dict)+1)%align) % align
	if len(dict)+pad+1 > math.MaxUint16 {
		v1 = false
		pre += 2 // for the 4-byte length of version 2.0
		pad = (align - (pre+len(dict)+1)%align) % align
	}
	hlen := len(dict) + pad + 1

	b = append(b, magic...)
	if v1 {
		b = append(b, 1, 0)
		b = binary.LittleEndian.AppendUint16(b, uint16(hlen))
	} else {
		b = append(b, 2, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(hlen))
	}
	b = append(b, dict...)
	for range pad {
		b = append(b, ' ')
	}
	return append(b, '\n')
}

// writeData writes src as little-endian data: straight from its memory if
// direct is set, otherwise encoded in chunks so that Write needs a fixed
// amount of memory whatever the array size. io.Writer must not retain the
// slice it is given, so handing it src's memory is safe.
func writeData[T float32 | float64](w io.Writer, src []T, direct bool, encode func(dst []byte, src []T)) error {
	if direct {
		if len(src) == 0 {
			return nil
		}
		_, err := w.Write(asBytes(src))
		return err
	}
	size := int(unsafe.Sizeof(T(0)))
	per := chunkBytes / size
	buf := make([]byte, min(len(src), per)*size)
	for len(src) > 0 {
		k := min(len(src), per)
		encode(buf[:k*size], src[:k])
		if _, err := w.Write(buf[:k*size]); err != nil {
			return err
		}
		src = src[k:]
	}
	return nil
}

// encodeF32 and encodeF64 are the portable encoders, used on big-endian
// hosts and as the reference for the direct path in tests.
func encodeF32(dst []byte, src []float32) {
	dst = dst[:4*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func encodeF64(dst []byte, src []float64) {
	dst = dst[:8*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint64(dst[8*i:], math.Float64bits(v))
	}
}
