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
// of the fastest calls); run it with -benchtime 9x or more (12x gives each
// form every place in the order twice).
//
// A call's time depends on the calls before it, so no form may inherit
// another's state. Each form reads an input of its own, written afresh
// just before each call (untimed), as a request's decoded input is: the
// "same" forms used to share one input, and each found it in cache after
// the one before, while valid's and full's had gone cold. The order
// changes every round (see balancedOrder), so that each form follows every
// other equally often, rather than valid always following full and paying
// for its cache and buffers. Nothing is asserted: on a shared machine
// timings are only figures.
//
//	go test -run '^$' -bench Padding -benchtime 12x ./internal/engine
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
	own := func() engine.Tensor[T] { // a copy in memory of its own
		return engine.Tensor[T]{Shape: x.Shape, Data: slices.Clone(x.Data)}
	}
	x = own()
	w := randTensor[T](r, [4]int{1, 1, k, k})
	p := k / 2
	forms := []struct {
		name string
		x    engine.Tensor[T]
		conv engine.Conv
	}{
		{"valid", randTensor[T](r, [4]int{1, 1, n + k - 1, n + k - 1}), engine.Conv{}},
		{"same-zeros", x, engine.Conv{Padding: engine.PadSame}},
		{"same-reflect", own(), engine.Conv{Padding: engine.PadSame, Border: engine.BorderReflect}},
		{"same-replicate", own(), engine.Conv{Padding: engine.PadSame, Border: engine.BorderReplicate}},
		{"explicit-circular", own(), engine.Conv{Pad: [4]int{p, k - 1 - p, p, k - 1 - p}, Border: engine.BorderCircular}},
		{"full-zeros", randTensor[T](r, [4]int{1, 1, n - k + 1, n - k + 1}), engine.Conv{Padding: engine.PadFull}},
	}
	sources := make([][]T, len(forms)) // what each call's input is written from
	for i, f := range forms {
		sources[i] = slices.Clone(f.x.Data)
	}
	times := make([][]time.Duration, len(forms))
	ctx := context.Background()
	orders := balancedOrder(len(forms))
	for round := 0; b.Loop(); round++ {
		for _, i := range orders[round%len(orders)] {
			f := forms[i]
			f.conv.Method = engine.MethodDirect
			copy(f.x.Data, sources[i])
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

// balancedOrder returns n orders of 0 … n-1 (n even) in which every form
// comes right after every other form exactly once, and takes every place
// once (a Williams design): run in turn, they spread over all forms alike
// what a call leaves to the next (cache contents, the recycler's buffers).
func balancedOrder(n int) [][]int {
	first := make([]int, n) // 0, 1, n-1, 2, n-2, …
	for i, lo, hi := 1, 1, n-1; i < n; i++ {
		if i%2 == 1 {
			first[i], lo = lo, lo+1
		} else {
			first[i], hi = hi, hi-1
		}
	}
	orders := make([][]int, n)
	for r := range orders {
		orders[r] = make([]int, n)
		for i, f := range first {
			orders[r][i] = (f + r) % n
		}
	}
	return orders
}

func TestBalancedOrderPairsEveryFormWithEveryOther(t *testing.T) {
	for _, n := range []int{2, 4, 6, 8} {
		orders := balancedOrder(n)
		follows := map[[2]int]int{}
		places := map[[2]int]int{}
		for _, o := range orders {
			if s := slices.Sorted(slices.Values(o)); !slices.Equal(s, []int{0, 1, 2, 3, 4, 5, 6, 7}[:n]) {
				t.Fatalf("n %d: order %v is not a permutation", n, o)
			}
			for i, f := range o {
				places[[2]int{f, i}]++
				if i > 0 {
					follows[[2]int{o[i-1], f}]++
				}
			}
		}
		if len(follows) != n*(n-1) || len(places) != n*n {
			t.Errorf("n %d: orders %v: %d ordered pairs follow each other (want %d), %d form-place pairs (want %d)",
				n, orders, len(follows), n*(n-1), len(places), n*n)
		}
	}
}
