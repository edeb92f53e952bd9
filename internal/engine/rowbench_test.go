package engine_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/corr2d/corr2d/internal/engine"
)

// BenchmarkConvRow times every row kernel on one output row of a
// single-channel valid correlation: size=W is the row width, k=K the square
// kernel. Compare kernels (and runs) with benchstat.
func BenchmarkConvRow(b *testing.B) {
	b.Run("dtype=float32", benchConvRow[float32])
	b.Run("dtype=float64", benchConvRow[float64])
}

func benchConvRow[T engine.Float](b *testing.B) {
	r := rand.New(rand.NewPCG(51, 52))
	for name, kernel := range engine.RowKernels[T]() {
		for _, w := range []int{56, 1024} {
			for _, k := range []int{3, 11, 31} {
				b.Run(fmt.Sprintf("kernel=%s/size=%dx%d/k=%dx%d", name, k, w, k, k), func(b *testing.B) {
					x := randSlice[T](r, k*w)
					wk := randSlice[T](r, k*k)
					offs := make([]int, 0, k*k)
					for a := range k {
						for c := range k {
							offs = append(offs, a*w+c)
						}
					}
					d := make([]T, w-k+1)
					var z T
					b.SetBytes(int64(len(d)) * int64(unsafe.Sizeof(z)))
					b.ReportAllocs()
					for b.Loop() {
						kernel(d, x, offs, wk)
					}
					b.ReportMetric(2*float64(len(d)*k*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}
