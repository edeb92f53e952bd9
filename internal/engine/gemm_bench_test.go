package engine_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/corr2d/corr2d/internal/engine"
)

// BenchmarkGemmKernel times every GEMM microkernel on one tile with its
// panels in L1, the rate the GEMM path approaches on large problems.
func BenchmarkGemmKernel(b *testing.B) {
	b.Run("dtype=float32", benchGemmKernel[float32])
	b.Run("dtype=float64", benchGemmKernel[float64])
}

func benchGemmKernel[T engine.Float](b *testing.B) {
	r := rand.New(rand.NewPCG(71, 72))
	mr, nr := engine.GemmTile[T]()
	for name, kernel := range engine.GemmKernels[T]() {
		for _, k := range []int{64, 192, 256} {
			b.Run(fmt.Sprintf("kernel=%s/k=%d", name, k), func(b *testing.B) {
				a, bp, c := randSlice[T](r, k*mr), randSlice[T](r, k*nr), randSlice[T](r, mr*nr)
				for b.Loop() {
					kernel(k, a, bp, c, nil, nil, k*mr, mr, nr, true)
				}
				b.ReportMetric(2*float64(k*mr*nr)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
