package tensor_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/corr2d/corr2d/internal/tensor"
)

// values is a mix of what the writer must get right: typical values,
// integers, tiny and huge magnitudes, signed zeros and subnormals.
func values(n int, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 9))
	out := make([]float64, n)
	for i := range out {
		switch r.IntN(8) {
		case 0:
			out[i] = float64(r.IntN(2001) - 1000)
		case 1:
			out[i] = math.Float64frombits(r.Uint64()&^(0x7ff<<52) | uint64(r.IntN(0x7ff))<<52)
		case 2:
			out[i] = []float64{0, negZero(), 5e-324, 1e-7, 1e21, math.MaxFloat64}[r.IntN(6)]
		default:
			out[i] = r.NormFloat64() * math.Pow(10, float64(r.IntN(9)-4))
		}
	}
	return out
}

// TestAppendJSONImplementationsAgree runs every writer over the same
// tensors, against the plain recursive reference.
func TestAppendJSONImplementationsAgree(t *testing.T) {
	c := tensor.ChunkElems
	shapes := [][]int{
		{}, {1}, {3}, {1, 1}, {2, 3}, {3, 1, 2}, {1, 1, 1, 1}, {2, 3, 4, 5},
		{0}, {2, 0}, {0, 3}, {2, 0, 3},
		{2*c + 5},          // one long row, split inside it
		{3, c + 1},         // rows that cross the chunks' edges
		{c/3 + 1, 3, 7},    // many small rows
		{5, 2, c/4 - 1, 3}, // rank 4
		{4, c},             // rows exactly a chunk long
	}
	for _, shape := range shapes {
		for _, bits := range []int{64, 32} {
			n := tensor.Size(shape)
			d := tensor.Dense{Shape: shape, Data: values(n, uint64(n))}
			if bits == 32 {
				for i, v := range d.Data {
					if d.Data[i] = float64(float32(v)); math.IsInf(d.Data[i], 0) {
						d.Data[i] = math.MaxFloat32
					}
				}
			}
			want := tensor.AppendJSONReference([]byte("prefix"), d, bits)
			check := func(name string, got []byte) {
				t.Helper()
				if !bytes.Equal(got, want) {
					i := 0
					for i < min(len(got), len(want)) && got[i] == want[i] {
						i++
					}
					t.Fatalf("%s(shape %v, %d bits) differs from the reference at byte %d: %.40q, want %.40q",
						name, shape, bits, i, got[i:], want[i:])
				}
			}
			check("AppendJSON", tensor.AppendJSON([]byte("prefix"), d, bits))
			for _, workers := range []int{0, 1, 2, 3, 8} {
				check("AppendJSONParallel", tensor.AppendJSONParallel([]byte("prefix"), d, bits, workers))
				var buf bytes.Buffer
				buf.WriteString("prefix")
				if err := tensor.WriteJSON(&buf, d, bits, workers); err != nil {
					t.Fatalf("WriteJSON(shape %v) = %v", shape, err)
				}
				check("WriteJSON", buf.Bytes())
			}
			if n == 0 || len(shape) == 0 {
				continue
			}
			// The output is JSON that reads back to the same values.
			raw := want[len("prefix"):]
			if !json.Valid(raw) {
				t.Fatalf("AppendJSON(shape %v) is not valid JSON", shape)
			}
			back, err := tensor.Parse(raw, tensor.Limits{})
			if err == nil && bits == 32 {
				// The shortest float32 form reads back as float32.
				for i, v := range back.Data {
					back.Data[i] = float64(float32(v))
				}
			}
			if err != nil || !sameDense(d, back) {
				t.Fatalf("AppendJSON(shape %v, %d bits) reads back as %v, %v", shape, bits, back.Shape, err)
			}
		}
	}
}

func TestWriteJSONRejectsWhatJSONCannotHold(t *testing.T) {
	big := make([]float64, 3*tensor.ChunkElems)
	for _, tt := range []struct {
		name string
		d    tensor.Dense
	}{
		{"NaN", tensor.Dense{Shape: []int{2}, Data: []float64{1, math.NaN()}}},
		{"Inf in a large tensor", tensor.Dense{Shape: []int{len(big)}, Data: append(append([]float64(nil), big[1:]...), math.Inf(-1))}},
		{"a shape larger than the data", tensor.Dense{Shape: []int{2, 2}, Data: []float64{1, 2, 3}}},
		{"a shape smaller than the data", tensor.Dense{Shape: []int{1}, Data: []float64{1, 2}}},
		{"no data for a scalar", tensor.Dense{Shape: []int{}, Data: nil}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tensor.WriteJSON(&buf, tt.d, 64, 2); err == nil || buf.Len() > 0 {
				t.Errorf("WriteJSON = %v after writing %d bytes, want an error before writing", err, buf.Len())
			}
		})
	}
}

// failingWriter accepts n writes, then fails.
type failingWriter struct{ n int }

var errWrite = errors.New("the client went away")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errWrite
	}
	w.n--
	return len(p), nil
}

func TestWriteJSONStopsAtAWriteError(t *testing.T) {
	d := tensor.Dense{Shape: []int{64, 1024}, Data: values(64*1024, 1)}
	for _, after := range []int{0, 1, 3} {
		err := tensor.WriteJSON(&failingWriter{n: after}, d, 64, 4)
		if !errors.Is(err, errWrite) {
			t.Errorf("WriteJSON to a writer that fails after %d writes = %v, want %v", after, err, errWrite)
		}
	}
	// goleak, in TestMain, checks that no worker outlived the calls.
}

func TestWriteJSONWritesSmallTensorsAtOnce(t *testing.T) {
	var w countingWriter
	d := tensor.Dense{Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}}
	if err := tensor.WriteJSON(&w, d, 64, 4); err != nil || w.writes != 1 || w.buf.String() != "[[1,2],[3,4]]" {
		t.Errorf("WriteJSON = %v, %d writes of %q", err, w.writes, w.buf.String())
	}
}

type countingWriter struct {
	buf    strings.Builder
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}

var _ io.Writer = (*countingWriter)(nil)
