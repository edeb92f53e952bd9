package engine_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/engine"
)

// tolerance is the allowed error relative to the sum of |x*k|: the engine
// sums in the same order as naive, so results normally match bit for bit,
// and the slack only covers a compiler fusing a multiply-add differently.
func tolerance[T engine.Float]() float64 {
	var z T
	if _, ok := any(z).(float32); ok {
		return 1e-5
	}
	return 1e-12
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(11, 12)) }

func newTestEngine(t testing.TB, cfg engine.Config) *engine.Engine {
	t.Helper()
	e, err := engine.New(cfg, nil)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	t.Cleanup(e.Close)
	return e
}

// benchImpls runs call on an engine with all workers and with one, and the
// plain reference loop, reporting GFLOP/s for each.
func benchImpls(b *testing.B, flops float64, bytes int64, call func(*engine.Engine) error, refName string, ref func()) {
	report := func(b *testing.B) {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
	for _, impl := range []struct {
		name    string
		workers int
	}{{"engine", 0}, {"engine-1worker", 1}} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			e, err := engine.New(engine.Config{Workers: impl.workers}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			b.ReportAllocs()
			b.SetBytes(bytes)
			for b.Loop() {
				if err := call(e); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		})
	}
	b.Run("impl="+refName, func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(bytes)
		for b.Loop() {
			ref()
		}
		report(b)
	})
}

func sizeof[T engine.Float](v T) int {
	if _, ok := any(v).(float32); ok {
		return 4
	}
	return 8
}

// fuzzBytes hands out a fuzz target's two byte strings: next reads params
// as small choices and value reads data as the tensors' values, so that
// every pair of strings is a case and a crasher reads back as the same one.
type fuzzBytes struct {
	params, data []byte
	np, nd       int
}

// next is the next params byte modulo mod, or 0 once params run out.
func (f *fuzzBytes) next(mod int) int {
	if f.np >= len(f.params) {
		return 0
	}
	v := int(f.params[f.np]) % mod
	f.np++
	return v
}

// value is the next data byte as an int8, cycling through data, or 1 when
// data is empty.
func (f *fuzzBytes) value() float64 {
	if len(f.data) == 0 {
		return 1
	}
	v := float64(int8(f.data[f.nd%len(f.data)]))
	f.nd++
	return v
}

// tensor is a tensor of shape s filled with values.
func (f *fuzzBytes) tensor(s [4]int) engine.Tensor[float64] {
	t := engine.Tensor[float64]{Shape: s, Data: make([]float64, s[0]*s[1]*s[2]*s[3])}
	for i := range t.Data {
		t.Data[i] = f.value()
	}
	return t
}

// nans is n NaNs: a destination whose guard cells show any write a kernel
// should not have made.
func nans[T engine.Float](n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(math.NaN())
	}
	return s
}

// checkWritten fails t unless exactly the cells i of v for which
// written(i) holds were written over nans; what names the call.
func checkWritten[T engine.Float](t *testing.T, what string, v []T, written func(i int) bool) {
	t.Helper()
	for i, got := range v {
		if w := written(i); math.IsNaN(float64(got)) == w {
			t.Fatalf("%s: cell %d = %v, written %v", what, i, got, w)
		}
	}
}

// nanEqual compares results bit for bit, the NaNs of guard cells equal.
func nanEqual[T engine.Float]() cmp.Option {
	return cmp.Comparer(func(a, b T) bool { return a == b || math.IsNaN(float64(a)) && math.IsNaN(float64(b)) })
}
