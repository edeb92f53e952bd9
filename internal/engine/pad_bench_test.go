package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/corr2d/corr2d/internal/engine"
)

// BenchmarkPadding times every padding form and border against the valid
// correlation of the same output size (an input larger by the kernel less
// one), interleaving the calls so that all forms see the same load. Each
// form's calls are timed one by one, the first included, and it reports
// each form's median in ms and its ratio to valid's median (and the ratio
// of the fastest calls); run it with
// -benchtime 9x or more. Nothing is asserted: on a shared machine timings
// are only figures.
//
//	go test -run '^$' -bench Padding -benchtime 9x ./internal/engine
func BenchmarkPadding(b *testing.B) {
	for _, c := range []struct {
		n, k int
	}{{1024, 3}, {1000, 3}, {4096, 3}, {1024, 11}} {
		name := fmt.Sprintf("size=%dx%d/k=%dx%d", c.n, c.n, c.k, c.k)
		b.Run(name+"/dtype=float32", func(b *testing.B) { benchPadding[float32](b, c.n, c.k) })
		b.Run(name+"/dtype=float64", func(b *testing.B) { benchPadding[float64](b, c.n, c.k) })
	}
}

func benchPadding[T engine.Float](b *testing.B, n, k int) {
	e := newTestEngine(b, engine.Config{})
	r := rand.New(rand.NewPCG(61, 62))
	x := randTensor[T](r, [4]int{1, 1, n, n})
	big := randTensor[T](r, [4]int{1, 1, n + k - 1, n + k - 1})
	w := randTensor[T](r, [4]int{1, 1, k, k})
	p := k / 2
	forms := []struct {
		name string
		x    engine.Tensor[T]
		conv engine.Conv
	}{
		{"valid", big, engine.Conv{}},
		{"same-zeros", x, engine.Conv{Padding: engine.PadSame}},
		{"same-reflect", x, engine.Conv{Padding: engine.PadSame, Border: engine.BorderReflect}},
		{"same-replicate", x, engine.Conv{Padding: engine.PadSame, Border: engine.BorderReplicate}},
		{"explicit-circular", x, engine.Conv{Pad: [4]int{p, k - 1 - p, p, k - 1 - p}, Border: engine.BorderCircular}},
		{"full-zeros", randTensor[T](r, [4]int{1, 1, n - k + 1, n - k + 1}), engine.Conv{Padding: engine.PadFull}},
	}
	times := make([][]time.Duration, len(forms))
	ctx := context.Background()
	for b.Loop() {
		for i, f := range forms {
			f.conv.Method = engine.MethodDirect
			t0 := time.Now()
			out, err := engine.Conv2D(ctx, e, engine.Interactive, f.x, w, nil, f.conv)
			times[i] = append(times[i], time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			if out.Shape != [4]int{1, 1, n, n} {
				b.Fatalf("%s: output %v, want %dx%d", f.name, out.Shape, n, n)
			}
			engine.Release(e, out.Data)
		}
	}
	median := func(d []time.Duration) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[len(s)/2]) / 1e6
	}
	fastest := func(d []time.Duration) float64 { return float64(slices.Min(d)) / 1e6 }
	valid, validMin := median(times[0]), fastest(times[0])
	for i, f := range forms {
		m := median(times[i])
		b.ReportMetric(m, f.name+"-ms")
		if i > 0 {
			b.ReportMetric(m/valid, f.name+"/valid")
			// The fastest calls' ratio, steadier than the medians' when
			// the machine is busy.
			b.ReportMetric(fastest(times[i])/validMin, f.name+"/valid-min")
		}
	}
}
