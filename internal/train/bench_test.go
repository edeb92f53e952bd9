package train_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
)

// BenchmarkStep is one training step of a square float32 input with a 3×3
// kernel. Its allocations per step are what a job running at full speed
// hands the garbage collector, so they show with -benchmem.
func BenchmarkStep(b *testing.B) {
	for _, c := range []struct {
		side int
		conv engine.Conv
		name string
	}{
		{8, engine.Conv{}, ""}, {64, engine.Conv{}, ""}, {256, engine.Conv{}, ""},
		{256, engine.Conv{Padding: engine.PadSame, Border: engine.BorderReflect}, "/padding=same-reflect"},
	} {
		side := c.side
		b.Run(fmt.Sprintf("size=%dx%d/k=3x3%s", side, side, c.name), func(b *testing.B) {
			eng, err := engine.New(engine.Config{Workers: 2}, prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close()
			x := tensor.Dense{Shape: []int{1, 1, side, side}, Data: make([]float64, side*side)}
			for i := range x.Data {
				x.Data[i] = float64(i%13)/13 - 0.5
			}
			ho := side - 2
			if c.conv.Padding == engine.PadSame {
				ho = side
			}
			y := tensor.Dense{Shape: []int{1, 1, ho, ho}, Data: make([]float64, ho*ho)}
			tr := train.New[float32](eng, train.Problem{Input: x, Target: y, KernelSize: [2]int{3, 3}, Conv: c.conv,
				Loss: train.LossMean, LR: 1e-3, Optimizer: train.Optimizer{Name: train.SGD}})
			p := train.Load[float32](train.State{Weight: tensor.Dense{Shape: []int{1, 1, 3, 3}, Data: make([]float64, 9)}})
			b.SetBytes(int64(4 * side * side))
			b.ReportAllocs()
			for b.Loop() {
				_, next, err := tr.Step(context.Background(), p)
				if err != nil {
					b.Fatal(err)
				}
				p = next
			}
		})
	}
}
