package npy_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/npy"
)

// The files in testdata/ were written by NumPy 1.24 with:
//
//	python3 -c "
//	import numpy as np, numpy.lib.format as f
//	a=np.arange(6,dtype='<f8').reshape(2,3)
//	np.save('arange6_f8.npy',a)
//	for v in (2,3):
//	    with open('arange6_f4_v%d.npy'%v,'wb') as o: f.write_array(o,a.astype('<f4'),version=(v,0))
//	np.save('r4_f4.npy',(np.arange(120,dtype='<f4')/7-3).reshape(2,3,4,5))
//	np.save('scalar_f8.npy',np.float64(-2.5))
//	np.save('empty_f4.npy',np.zeros((0,3),'<f4'))
//	np.save('fortran_f8.npy',np.asfortranarray(a))
//	np.save('bigendian_f8.npy',a.astype('>f8'))
//	np.save('int64.npy',np.arange(6,dtype='<i8'))
//	"

// npyFile builds a .npy file by hand: the preamble for version major.0,
// the dict padded with spaces to a multiple of alignTo and a newline, then
// data.
func npyFile(major byte, dict string, alignTo int, data []byte) []byte {
	pre := 10
	if major > 1 {
		pre = 12
	}
	total := pre + len(dict) + 1
	hdr := dict + strings.Repeat(" ", (alignTo-total%alignTo)%alignTo) + "\n"
	b := []byte("\x93NUMPY")
	b = append(b, major, 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(hdr)))
	}
	b = append(b, hdr...)
	return append(b, data...)
}

// f64Bytes and f32Bytes encode values little-endian.
func f64Bytes(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

func f32Bytes(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// sameArray reports whether a and b are identical bit for bit, so that NaN
// payloads and the sign of zero count.
func sameArray(a, b npy.Array) bool {
	if a.DType != b.DType || !slicesEqual(a.Shape, b.Shape) || len(a.F32) != len(b.F32) || len(a.F64) != len(b.F64) ||
		(a.F32 == nil) != (b.F32 == nil) || (a.F64 == nil) != (b.F64 == nil) {
		return false
	}
	for i := range a.F32 {
		if math.Float32bits(a.F32[i]) != math.Float32bits(b.F32[i]) {
			return false
		}
	}
	for i := range a.F64 {
		if math.Float64bits(a.F64[i]) != math.Float64bits(b.F64[i]) {
			return false
		}
	}
	return true
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// specials are values that a careless codec could mangle.
var specials = []float64{
	0, math.Copysign(0, -1), 1, -1, math.NaN(), math.Inf(1), math.Inf(-1),
	math.SmallestNonzeroFloat64, math.MaxFloat64, 1.0 / 3, math.Float64frombits(0x7ff8_0000_dead_beef),
}

// newArray returns an array of the given type and shape filled with
// specials and then a ramp.
func newArray(d npy.DType, shape ...int) npy.Array {
	a := npy.Array{DType: d, Shape: shape}
	n := a.Len()
	switch d {
	case npy.Float32:
		a.F32 = make([]float32, n)
		for i := range a.F32 {
			if i < len(specials) {
				a.F32[i] = float32(specials[i])
			} else {
				a.F32[i] = float32(i)*0.25 - 7
			}
		}
	case npy.Float64:
		a.F64 = make([]float64, n)
		for i := range a.F64 {
			if i < len(specials) {
				a.F64[i] = specials[i]
			} else {
				a.F64[i] = float64(i)*0.1 - 7
			}
		}
	}
	return a
}

// codec is one implementation of Read and Write: the direct one that this
// little-endian machine uses, or the portable one of big-endian hosts.
type codec struct {
	name  string
	read  func(io.Reader, npy.Limits) (npy.Array, error)
	write func(io.Writer, npy.Array) error
}

func codecs() []codec {
	return []codec{
		{"direct", npy.Read, npy.Write},
		{"portable", npy.ReadPortable, npy.WritePortable},
	}
}

func TestRoundTrip(t *testing.T) {
	shapes := [][]int{
		{},
		{1}, {7}, {70000}, // 70000 float64 span several write and read chunks
		{1, 1}, {3, 5}, {64, 33},
		{2, 3, 4}, {1, 9, 1},
		{2, 3, 4, 5}, {1, 1, 1, 1},
		{0}, {3, 0}, {0, 2, 2, 2},
	}
	for _, d := range []npy.DType{npy.Float32, npy.Float64} {
		for _, shape := range shapes {
			want := newArray(d, shape...)
			var files [][]byte
			for _, w := range codecs() {
				var buf bytes.Buffer
				if err := w.write(&buf, want); err != nil {
					t.Fatalf("%s Write(%v %v): %v", w.name, d, shape, err)
				}
				files = append(files, buf.Bytes())
			}
			if !bytes.Equal(files[0], files[1]) {
				t.Errorf("direct and portable Write(%v %v) differ", d, shape)
			}
			file := files[0]
			if got := len(file) - want.Len()*d.Size(); got%64 != 0 {
				t.Errorf("Write(%v %v) header and preamble are %d bytes, want a multiple of 64", d, shape, got)
			}
			for _, c := range codecs() {
				t.Run(fmt.Sprintf("%v/shape=%v/%s", d, shape, c.name), func(t *testing.T) {
					// A reader that returns one byte at a time exercises
					// every partial-read path.
					got, err := c.read(iotest.OneByteReader(bytes.NewReader(file)), npy.Limits{})
					if err != nil {
						t.Fatalf("Read: %v", err)
					}
					if !sameArray(got, want) {
						t.Errorf("Read(Write(%v %v)) differs: got shape %v, %d+%d elements", d, shape, got.Shape, len(got.F32), len(got.F64))
					}
				})
			}
		}
	}
}

// The expected bytes are written out from the format description, not
// produced by the code under test.
func TestWriteMatchesSpec(t *testing.T) {
	a := npy.Array{DType: npy.Float64, Shape: []int{2, 3}, F64: []float64{0, 1, 2, 3, 4, 5}}
	dict := "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"
	// 10 bytes of preamble + 59 of dict + 58 spaces + '\n' = 128.
	want := []byte("\x93NUMPY\x01\x00\x76\x00" + dict + strings.Repeat(" ", 58) + "\n" +
		"\x00\x00\x00\x00\x00\x00\x00\x00" + // 0.0
		"\x00\x00\x00\x00\x00\x00\xf0\x3f" + // 1.0
		"\x00\x00\x00\x00\x00\x00\x00\x40" + // 2.0
		"\x00\x00\x00\x00\x00\x00\x08\x40" + // 3.0
		"\x00\x00\x00\x00\x00\x00\x10\x40" + // 4.0
		"\x00\x00\x00\x00\x00\x00\x14\x40") // 5.0
	var buf bytes.Buffer
	if err := npy.Write(&buf, a); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if diff := cmp.Diff(want, buf.Bytes()); diff != "" {
		t.Errorf("Write(arange(6).reshape(2, 3)) mismatch (-want +got):\n%s", diff)
	}
	// NumPy 1.24 pads this header with 20 extra spaces for growth, which
	// happens to land on the same 128 bytes.
	numpy, err := os.ReadFile(filepath.Join("testdata", "arange6_f8.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(numpy, want) {
		t.Errorf("testdata/arange6_f8.npy differs from the hand-written bytes")
	}

	t.Run("rank 1 has a trailing comma and rank 0 an empty tuple", func(t *testing.T) {
		for _, c := range []struct {
			a    npy.Array
			want string
		}{
			{npy.Array{DType: npy.Float32, Shape: []int{4}, F32: make([]float32, 4)}, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"},
			{npy.Array{DType: npy.Float32, Shape: []int{}, F32: make([]float32, 1)}, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"},
			{npy.Array{DType: npy.Float32, Shape: []int{1, 2, 3, 4}, F32: make([]float32, 24)}, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3, 4), }"},
		} {
			var buf bytes.Buffer
			if err := npy.Write(&buf, c.a); err != nil {
				t.Fatalf("Write: %v", err)
			}
			if got := buf.String()[10 : 10+len(c.want)]; got != c.want {
				t.Errorf("Write(shape %v) header = %q, want %q", c.a.Shape, got, c.want)
			}
		}
	})
}

func TestReadNumPyFiles(t *testing.T) {
	arange := []float64{0, 1, 2, 3, 4, 5}
	arange32 := []float32{0, 1, 2, 3, 4, 5}
	r4 := make([]float32, 120)
	for i := range r4 {
		r4[i] = float32(i)/7 - 3
	}
	for _, c := range []struct {
		file    string
		want    npy.Array
		wantErr error
	}{
		{file: "arange6_f8.npy", want: npy.Array{DType: npy.Float64, Shape: []int{2, 3}, F64: arange}},
		{file: "arange6_f4_v2.npy", want: npy.Array{DType: npy.Float32, Shape: []int{2, 3}, F32: arange32}},
		{file: "arange6_f4_v3.npy", want: npy.Array{DType: npy.Float32, Shape: []int{2, 3}, F32: arange32}},
		{file: "r4_f4.npy", want: npy.Array{DType: npy.Float32, Shape: []int{2, 3, 4, 5}, F32: r4}},
		{file: "scalar_f8.npy", want: npy.Array{DType: npy.Float64, Shape: []int{}, F64: []float64{-2.5}}},
		{file: "empty_f4.npy", want: npy.Array{DType: npy.Float32, Shape: []int{0, 3}, F32: []float32{}}},
		{file: "fortran_f8.npy", wantErr: npy.ErrUnsupported},
		{file: "bigendian_f8.npy", wantErr: npy.ErrUnsupported},
		{file: "int64.npy", wantErr: npy.ErrUnsupported},
	} {
		t.Run(c.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := npy.Read(bytes.NewReader(b), npy.Limits{})
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Read(%s) error = %v, want %v", c.file, err, c.wantErr)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("Read(%s) mismatch (-want +got):\n%s", c.file, diff)
			}
		})
	}
}

// Headers that other writers, or other versions of NumPy, may produce.
func TestReadAcceptsHeaderVariants(t *testing.T) {
	data := f32Bytes(1, 2, 3, 4, 5, 6)
	want := npy.Array{DType: npy.Float32, Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, 5, 6}}
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"version 2.0", npyFile(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 64, data)},
		{"version 3.0", npyFile(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 64, data)},
		{"16-byte alignment of older NumPy", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 16, data)},
		{"no alignment", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 1, data)},
		{"other key order", npyFile(1, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", 64, data)},
		{"double quotes", npyFile(1, `{"descr": "<f4", "fortran_order": False, "shape": (2, 3)}`, 64, data)},
		{"odd whitespace", npyFile(1, "{ 'descr' :'<f4' ,\t'fortran_order':False,\n'shape':( 2 ,3 , ) , }", 64, data)},
		{"Python 2 long integers", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", 64, data)},
		{"escaped quote in descr", npyFile(1, `{'descr': '\<f4', 'fortran_order': False, 'shape': (2, 3), }`, 64, nil)},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := npy.Read(bytes.NewReader(c.file), npy.Limits{})
			if c.name == "escaped quote in descr" {
				// \< is not an escape Python's repr writes; it must be
				// refused rather than read as '<'.
				if !errors.Is(err, npy.ErrFormat) {
					t.Errorf("Read = %v, want ErrFormat", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Read mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// rejectCase is a file that Read must refuse.
type rejectCase struct {
	name    string
	file    []byte
	lim     npy.Limits
	wantErr error
	// wantMsg, if set, must occur in the error message.
	wantMsg string
}

func rejectCases() []rejectCase {
	const ok = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"
	data := f64Bytes(0, 1, 2, 3, 4, 5)
	hdr := func(dict string) []byte { return npyFile(1, dict, 64, data) }
	withDims := func(dims string) []byte {
		return npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': "+dims+", }", 64, data)
	}
	valid := hdr(ok)
	patched := func(off int, bs ...byte) []byte {
		b := bytes.Clone(valid)
		copy(b[off:], bs)
		return b
	}
	v2len := func(n uint32) []byte {
		b := []byte("\x93NUMPY\x02\x00")
		return binary.LittleEndian.AppendUint32(b, n)
	}
	return []rejectCase{
		{name: "empty input", file: nil, wantErr: npy.ErrFormat},
		{name: "bad magic", file: patched(1, 'n'), wantErr: npy.ErrFormat, wantMsg: "magic"},
		{name: "truncated preamble", file: valid[:9], wantErr: npy.ErrFormat},
		{name: "version 1.1", file: patched(7, 1), wantErr: npy.ErrUnsupported, wantMsg: "version 1.1"},
		{name: "version 4.0", file: patched(6, 4), wantErr: npy.ErrUnsupported, wantMsg: "version 4.0"},
		{name: "version 0.0", file: patched(6, 0), wantErr: npy.ErrUnsupported},
		{name: "header length beyond the limit", file: v2len(1 << 31), wantErr: npy.ErrTooLarge, wantMsg: "header"},
		{name: "header length beyond a custom limit", file: valid, lim: npy.Limits{MaxHeaderBytes: 100}, wantErr: npy.ErrTooLarge},
		{name: "header length zero", file: v2len(0), wantErr: npy.ErrFormat},
		{name: "header shorter than its length", file: valid[:50], wantErr: npy.ErrFormat, wantMsg: "header is 40 bytes, want 118"},
		{name: "header not ending in newline", file: patched(127, ' '), wantErr: npy.ErrFormat, wantMsg: "newline"},
		{name: "version 3.0 header not UTF-8", file: npyFile(3, "{'descr': '<f8\xff', 'fortran_order': False, 'shape': (2, 3), }", 64, data), wantErr: npy.ErrFormat},
		{name: "header not a dict", file: hdr("('<f8', False, (2, 3))"), wantErr: npy.ErrFormat},
		{name: "header empty dict", file: hdr("{}"), wantErr: npy.ErrFormat, wantMsg: "lacks key 'descr'"},
		{name: "header syntax error", file: hdr("{'descr': '<f8' 'fortran_order': False, 'shape': (2, 3)}"), wantErr: npy.ErrFormat},
		{name: "header unterminated string", file: hdr("{'descr: '<f8', 'fortran_order': False, 'shape': (2, 3)}"), wantErr: npy.ErrFormat},
		{name: "header unclosed dict", file: hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3),"), wantErr: npy.ErrFormat},
		{name: "header text after dict", file: hdr(ok + " x"), wantErr: npy.ErrFormat},
		{name: "header two dicts", file: hdr(ok + ok), wantErr: npy.ErrFormat},
		{name: "header unknown name", file: hdr("{'descr': '<f8', 'fortran_order': false, 'shape': (2, 3)}"), wantErr: npy.ErrFormat, wantMsg: `"false"`},
		{name: "header deep nesting", file: hdr("{'descr': " + strings.Repeat("[", 1000) + "}"), wantErr: npy.ErrFormat, wantMsg: "nested"},
		{name: "header non-string key", file: hdr("{1: '<f8', 'fortran_order': False, 'shape': (2, 3)}"), wantErr: npy.ErrFormat},
		{name: "unknown key", file: hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}"), wantErr: npy.ErrFormat, wantMsg: `unknown key "extra"`},
		{name: "duplicate key", file: hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'descr': '<f8'}"), wantErr: npy.ErrFormat, wantMsg: "twice"},
		{name: "missing key", file: hdr("{'descr': '<f8', 'shape': (2, 3)}"), wantErr: npy.ErrFormat, wantMsg: "fortran_order"},
		{name: "big-endian float64", file: hdr("{'descr': '>f8', 'fortran_order': False, 'shape': (2, 3), }"), wantErr: npy.ErrUnsupported, wantMsg: "big-endian"},
		{name: "big-endian float32", file: hdr("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }"), wantErr: npy.ErrUnsupported, wantMsg: "big-endian"},
		{name: "native byte order", file: hdr("{'descr': '=f8', 'fortran_order': False, 'shape': (2, 3), }"), wantErr: npy.ErrUnsupported},
		{name: "no byte order", file: hdr("{'descr': '|f8', 'fortran_order': False, 'shape': (2, 3), }"), wantErr: npy.ErrUnsupported},
		{name: "int dtype", file: hdr("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 3), }"), wantErr: npy.ErrUnsupported, wantMsg: `"<i8"`},
		{name: "float16 dtype", file: hdr("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }"), wantErr: npy.ErrUnsupported, wantMsg: `"<f2"`},
		{name: "structured dtype", file: hdr("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2, 3), }"), wantErr: npy.ErrUnsupported, wantMsg: "structured"},
		{name: "descr not a string", file: hdr("{'descr': 8, 'fortran_order': False, 'shape': (2, 3), }"), wantErr: npy.ErrFormat},
		{name: "fortran order", file: hdr("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }"), wantErr: npy.ErrUnsupported, wantMsg: "fortran_order"},
		{name: "fortran order not a bool", file: hdr("{'descr': '<f8', 'fortran_order': 0, 'shape': (2, 3), }"), wantErr: npy.ErrFormat},
		{name: "shape a list", file: withDims("[2, 3]"), wantErr: npy.ErrFormat, wantMsg: "tuple"},
		{name: "shape a parenthesised integer", file: withDims("(6)"), wantErr: npy.ErrFormat, wantMsg: "tuple"},
		{name: "shape of strings", file: withDims("('2', 3)"), wantErr: npy.ErrFormat},
		{name: "negative dim", file: withDims("(2, -3)"), wantErr: npy.ErrFormat, wantMsg: "negative"},
		{name: "huge negative dim", file: withDims("(0, -99999999999999999999999)"), wantErr: npy.ErrFormat, wantMsg: "negative"},
		{name: "dim beyond int64", file: withDims("(0, 99999999999999999999999)"), wantErr: npy.ErrTooLarge},
		{name: "dim beyond the limit beside a zero dim", file: withDims("(0, 4294967296)"), wantErr: npy.ErrTooLarge},
		{name: "shape product overflow", file: withDims("(4294967296, 4294967296, 4294967296)"), lim: npy.Limits{MaxElements: math.MaxInt}, wantErr: npy.ErrTooLarge},
		{name: "too many elements", file: withDims("(2, 3)"), lim: npy.Limits{MaxElements: 5}, wantErr: npy.ErrTooLarge, wantMsg: "limit of 5"},
		{name: "too many elements by default", file: withDims("(4096, 4097)"), wantErr: npy.ErrTooLarge},
		{name: "rank beyond the default limit", file: withDims("(1, 1, 1, 1, 1)"), wantErr: npy.ErrUnsupported, wantMsg: "rank 5"},
		{name: "rank beyond a custom limit", file: withDims("(2, 3)"), lim: npy.Limits{MaxRank: 1}, wantErr: npy.ErrUnsupported},
		{name: "leading zero", file: withDims("(02, 3)"), wantErr: npy.ErrFormat},
		{name: "short data", file: valid[:len(valid)-1], wantErr: npy.ErrFormat, wantMsg: "data is 47 bytes, want 48"},
		{name: "no data", file: valid[:128], wantErr: npy.ErrFormat, wantMsg: "data is 0 bytes, want 48"},
		{name: "trailing data", file: append(bytes.Clone(valid), 0), wantErr: npy.ErrFormat, wantMsg: "trailing"},
	}
}

func TestReadRejects(t *testing.T) {
	for _, c := range rejectCases() {
		t.Run(c.name, func(t *testing.T) {
			if _, err := npy.ReadPortable(bytes.NewReader(c.file), c.lim); !errors.Is(err, c.wantErr) {
				t.Errorf("ReadPortable = %v, want %v", err, c.wantErr)
			}
			got, err := npy.Read(bytes.NewReader(c.file), c.lim)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Read = %v, want %v", err, c.wantErr)
			}
			if !strings.Contains(err.Error(), c.wantMsg) {
				t.Errorf("Read error %q does not mention %q", err, c.wantMsg)
			}
			if got.Shape != nil || got.F32 != nil || got.F64 != nil {
				t.Errorf("Read returned data with its error: %+v", got)
			}
		})
	}
}

// A file whose header claims the largest array the limits allow but which
// carries no data must not make Read allocate that array.
func TestReadAllocatesAsDataArrives(t *testing.T) {
	file := npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4096, 4096), }", 64, f64Bytes(1, 2, 3))
	for _, c := range codecs() {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := c.read(bytes.NewReader(file), npy.Limits{})
		runtime.ReadMemStats(&after)
		if !errors.Is(err, npy.ErrFormat) {
			t.Fatalf("%s Read = %v, want ErrFormat", c.name, err)
		}
		// 4096² float64 are 128 MiB; the first allocation is 8 MiB.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
			t.Errorf("%s Read of a 3-element body claiming 128 MiB allocated %d bytes", c.name, alloc)
		}
	}
}

// With Upfront covering the data, an array past the first allocation's
// bound is allocated whole, once, rather than grown as it arrives; a body
// that falls short of its header still fails as before.
func TestReadAllocatesUpfrontWhatTheCallerVouchesFor(t *testing.T) {
	const n = 3 << 20 // three times the elements allocated whole without Upfront
	var buf bytes.Buffer
	if err := npy.Write(&buf, newArray(npy.Float32, 3, 1<<20)); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	for _, c := range codecs() {
		for _, upfront := range []int64{0, 4*n - 1, 4 * n, int64(len(file))} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			a, err := c.read(bytes.NewReader(file), npy.Limits{Upfront: upfront})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatalf("%s Read with Upfront %d: %v", c.name, upfront, err)
			}
			want := newArray(npy.Float32, 3, 1<<20) // NaN among them: compare bits
			same := slices.EqualFunc(a.F32, want.F32, func(x, y float32) bool { return math.Float32bits(x) == math.Float32bits(y) })
			if !same || cap(a.F32) != n {
				t.Errorf("%s Read with Upfront %d: values or capacity (%d) differ from what was written", c.name, upfront, cap(a.F32))
			}
			// Grown, the data takes 4+8 MiB before the final 12; whole, 12.
			alloc := after.TotalAlloc - before.TotalAlloc
			if whole := upfront >= 4*n; whole != (alloc < 4*n+4<<20) {
				t.Errorf("%s Read of %d bytes of data with Upfront %d allocated %d bytes", c.name, 4*n, upfront, alloc)
			}
		}
		short := file[:len(file)-5]
		if _, err := c.read(bytes.NewReader(short), npy.Limits{Upfront: int64(len(file))}); !errors.Is(err, npy.ErrFormat) {
			t.Errorf("%s Read of a short body with Upfront = %v, want ErrFormat", c.name, err)
		}
	}
}

func TestReadPassesOnReaderErrors(t *testing.T) {
	errBoom := errors.New("boom")
	var buf bytes.Buffer
	if err := npy.Write(&buf, newArray(npy.Float32, 100)); err != nil {
		t.Fatal(err)
	}
	for _, c := range codecs() {
		for _, n := range []int{0, 5, 9, 100, 200, buf.Len()} {
			r := io.MultiReader(bytes.NewReader(buf.Bytes()[:n]), iotest.ErrReader(errBoom))
			_, err := c.read(r, npy.Limits{})
			if !errors.Is(err, errBoom) || errors.Is(err, npy.ErrFormat) {
				t.Errorf("%s Read of %d bytes then an error = %v, want it to wrap only the reader's error", c.name, n, err)
			}
		}
	}
	// A reader that returns its last bytes together with io.EOF is fine.
	if _, err := npy.Read(iotest.DataErrReader(bytes.NewReader(buf.Bytes())), npy.Limits{}); err != nil {
		t.Errorf("Read from DataErrReader: %v", err)
	}
}

func TestWriteRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		a    npy.Array
	}{
		{"zero DType", npy.Array{Shape: []int{1}, F32: []float32{1}}},
		{"too few elements", npy.Array{DType: npy.Float32, Shape: []int{2, 2}, F32: []float32{1, 2, 3}}},
		{"too many elements", npy.Array{DType: npy.Float64, Shape: []int{1}, F64: []float64{1, 2}}},
		{"data in the other slice", npy.Array{DType: npy.Float64, Shape: []int{1}, F32: []float32{1}}},
		{"both slices set", npy.Array{DType: npy.Float32, Shape: []int{1}, F32: []float32{1}, F64: []float64{}}},
		{"negative dim", npy.Array{DType: npy.Float32, Shape: []int{-1}}},
		{"overflowing shape", npy.Array{DType: npy.Float32, Shape: []int{math.MaxInt, 2}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := npy.Write(&buf, c.a); err == nil {
				t.Errorf("Write(%+v) succeeded, want an error", c.a)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.after {
		return w.after, errors.New("disk full")
	}
	w.after -= len(p)
	return len(p), nil
}

func TestWritePassesOnWriterErrors(t *testing.T) {
	for _, c := range codecs() {
		for _, after := range []int{0, 200} {
			err := c.write(&failWriter{after: after}, newArray(npy.Float64, 100))
			if err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Errorf("%s Write to a writer failing after %d bytes = %v, want the writer's error", c.name, after, err)
			}
		}
	}
}

func FuzzRead(f *testing.F) {
	for _, shape := range [][]int{{}, {3}, {2, 3}, {2, 1, 3}, {1, 2, 1, 2}, {0, 2}} {
		for _, d := range []npy.DType{npy.Float32, npy.Float64} {
			var buf bytes.Buffer
			if err := npy.Write(&buf, newArray(d, shape...)); err != nil {
				f.Fatal(err)
			}
			f.Add(buf.Bytes())
		}
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.npy"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, c := range rejectCases() {
		f.Add(c.file)
	}
	// Small limits keep the fuzzer from spending its time on allocation.
	lim := npy.Limits{MaxElements: 1 << 16}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := npy.Read(bytes.NewReader(b), lim)
		if pa, perr := npy.ReadPortable(bytes.NewReader(b), lim); (err == nil) != (perr == nil) || !sameArray(a, pa) {
			t.Fatalf("Read = %v, ReadPortable = %v, or their arrays differ", err, perr)
		}
		// Allocating the data whole up front changes nothing but memory.
		up := lim
		up.Upfront = int64(len(b))
		if ua, uerr := npy.Read(bytes.NewReader(b), up); (err == nil) != (uerr == nil) || !sameArray(a, ua) {
			t.Fatalf("Read = %v, Read with Upfront = %v, or their arrays differ", err, uerr)
		}
		if err != nil {
			if !errors.Is(err, npy.ErrFormat) && !errors.Is(err, npy.ErrUnsupported) && !errors.Is(err, npy.ErrTooLarge) {
				t.Fatalf("Read error %v wraps no sentinel", err)
			}
			return
		}
		if a.Len() < 0 || len(a.F32)+len(a.F64) != a.Len() {
			t.Fatalf("Read returned shape %v with %d+%d elements", a.Shape, len(a.F32), len(a.F64))
		}
		var buf bytes.Buffer
		if err := npy.Write(&buf, a); err != nil {
			t.Fatalf("Write of an array Read accepted: %v", err)
		}
		back, err := npy.Read(&buf, lim)
		if err != nil {
			t.Fatalf("Read(Write(a)): %v", err)
		}
		if !sameArray(a, back) {
			t.Fatalf("Read(Write(a)) differs from a: shape %v vs %v", back.Shape, a.Shape)
		}
	})
}

func BenchmarkRead(b *testing.B) {
	for _, d := range []npy.DType{npy.Float32, npy.Float64} {
		for _, c := range codecs() {
			b.Run(fmt.Sprintf("size=1024x1024/dtype=%v/%s", d, c.name), func(b *testing.B) {
				var buf bytes.Buffer
				if err := npy.Write(&buf, newArray(d, 1024, 1024)); err != nil {
					b.Fatal(err)
				}
				file := buf.Bytes()
				r := bytes.NewReader(file)
				b.SetBytes(int64(len(file)))
				b.ReportAllocs()
				for b.Loop() {
					r.Reset(file)
					if _, err := c.read(r, npy.Limits{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, d := range []npy.DType{npy.Float32, npy.Float64} {
		for _, c := range codecs() {
			b.Run(fmt.Sprintf("size=1024x1024/dtype=%v/%s", d, c.name), func(b *testing.B) {
				a := newArray(d, 1024, 1024)
				var buf bytes.Buffer
				if err := npy.Write(&buf, a); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(buf.Len()))
				b.ReportAllocs()
				for b.Loop() {
					buf.Reset()
					if err := c.write(&buf, a); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
