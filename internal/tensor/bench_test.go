package tensor_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/corr2d/corr2d/internal/tensor"
)

// Values as they travel: uniform ones like rand.Float64()*2-1, and the
// outputs of a 3×3 correlation of such values, which need 16 or 17
// significant digits and range over a few units.
func uniform(r *rand.Rand) float64 { return r.Float64()*2 - 1 }

func correlation(r *rand.Rand) float64 {
	s := 0.0
	for range 9 {
		s += uniform(r) * uniform(r)
	}
	return s
}

var valueKinds = []struct {
	name string
	gen  func(*rand.Rand) float64
}{{"uniform", uniform}, {"correlation", correlation}}

func negZero() float64 { return math.Copysign(0, -1) }

func matrix(h, w int, gen func(*rand.Rand) float64) [][]float64 {
	r := rand.New(rand.NewPCG(uint64(h), uint64(w)))
	m := make([][]float64, h)
	for i := range m {
		m[i] = make([]float64, w)
		for j := range m[i] {
			m[i][j] = gen(r)
		}
	}
	return m
}

func dense(m [][]float64) tensor.Dense {
	d := tensor.Dense{Shape: []int{len(m), len(m[0])}}
	for _, row := range m {
		d.Data = append(d.Data, row...)
	}
	return d
}

// matrixJSON writes the document with encoding/json, independently of the
// code under test.
func matrixJSON(h, w int, gen func(*rand.Rand) float64) []byte {
	b, err := json.Marshal(matrix(h, w, gen))
	if err != nil {
		panic(err)
	}
	return b
}

// allocated returns how many bytes f allocates, with the collector off so
// that nothing is freed meanwhile: an upper bound on how much f adds to the
// peak heap.
func allocated(f func()) int64 {
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// BenchmarkDecode reads a 1024×1024 matrix (about 20 MB of JSON) with
// tensor.Parse from memory, with tensor.Decode from a reader through a
// window of tensor.WindowSize bytes, and, as the reference row, with
// encoding/json into [][]float64.
// MB/s counts JSON bytes; alloc/data is the bytes allocated by one decode
// over the 8 MB of float64 data it yields.
func BenchmarkDecode(b *testing.B) {
	for _, vk := range valueKinds {
		raw := matrixJSON(1024, 1024, vk.gen)
		const dataBytes = 8 * 1024 * 1024
		prefix := "size=1024x1024/values=" + vk.name + "/impl="
		b.Run(prefix+"tensor.Parse", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tensor.Parse(raw, tensor.Limits{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(allocated(func() { _, _ = tensor.Parse(raw, tensor.Limits{}) }))/dataBytes, "alloc/data")
		})
		// Decode reads the document as a request body: through a window,
		// knowing its length.
		decode := func() (tensor.Dense, error) {
			return tensor.Decode(bytes.NewReader(raw), tensor.Limits{}, tensor.WindowSize, int64(len(raw)))
		}
		b.Run(prefix+"tensor.Decode", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decode(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(allocated(func() { _, _ = decode() }))/dataBytes, "alloc/data")
		})
		b.Run(prefix+"encoding-json", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				var m [][]float64
				if err := json.Unmarshal(raw, &m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(allocated(func() {
				var m [][]float64
				_ = json.Unmarshal(raw, &m)
			}))/dataBytes, "alloc/data")
		})
	}
}

// BenchmarkEncode writes a 1024×1024 matrix with AppendJSON, its parallel
// forms, the plain strconv reference it must match, and encoding/json's
// Marshal of [][]float64. MB/s counts JSON bytes written.
func BenchmarkEncode(b *testing.B) {
	for _, vk := range valueKinds {
		m := matrix(1024, 1024, vk.gen)
		d := dense(m)
		size := int64(len(tensor.AppendJSON(nil, d, 64)))
		prefix := "size=1024x1024/values=" + vk.name + "/impl="
		run := func(name string, f func()) {
			b.Run(prefix+name, func(b *testing.B) {
				b.SetBytes(size)
				b.ReportAllocs()
				for b.Loop() {
					f()
				}
			})
		}
		run("AppendJSON", func() { tensor.AppendJSON(nil, d, 64) })
		run("AppendJSONParallel", func() { tensor.AppendJSONParallel(nil, d, 64, 0) })
		run("WriteJSON", func() {
			if err := tensor.WriteJSON(io.Discard, d, 64, 0); err != nil {
				b.Fatal(err)
			}
		})
		run("reference", func() { tensor.AppendJSONReference(nil, d, 64) })
		run("encoding-json", func() {
			if _, err := json.Marshal(m); err != nil {
				b.Fatal(err)
			}
		})
	}
}
