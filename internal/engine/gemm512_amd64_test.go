//go:build !purego

package engine_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/engine"
)

// The AVX-512 microkernel computes the AVX2 one's tile with half the
// instructions: the same fused multiply-add per term in the same order, so
// the same bits, with and without packing, continuing from C or not, for
// every row count, and nothing written outside the rows that exist.
func TestGemmAVX512MatchesAVX2BitForBit(t *testing.T) {
	t.Run("dtype=float32", testGemmWidths[float32])
	t.Run("dtype=float64", testGemmWidths[float64])
}

func testGemmWidths[T engine.Float](t *testing.T) {
	ks := engine.GemmWidths[T]()
	if ks["avx512"] == nil || ks["avx2"] == nil {
		t.Skip("this CPU lacks AVX-512F or AVX2: one microkernel, nothing to compare")
	}
	mr, nr := engine.GemmTile[T]()
	r := rand.New(rand.NewPCG(91, 92))
	nan := T(math.NaN())
	for _, k := range []int{1, 2, 3, 4, 5, 9, 27, 64, 147, 300} {
		for rows := 1; rows <= 3*mr+2; rows++ {
			for _, pack := range []bool{false, true} {
				for _, load := range []bool{false, true} {
					panels := (rows + mr - 1) / mr
					astride := k*mr + 5
					a := randSlice[T](r, panels*astride)
					ldc := nr + 3
					c0 := randSlice[T](r, (rows+1)*ldc)
					for i := rows * ldc; i < len(c0); i++ {
						c0[i] = nan
					}
					x := randSlice[T](r, 4*k+nr)
					var offs []int
					b0 := randSlice[T](r, k*nr)
					if pack {
						offs = make([]int, k)
						for i := range offs {
							offs[i] = r.IntN(4*k + 1)
						}
					}
					got := map[string][2][]T{}
					for name, kern := range ks {
						b, c := append([]T(nil), b0...), append([]T(nil), c0...)
						kern(k, a, b, c, x, offs, astride, rows, ldc, load)
						got[name] = [2][]T{b, c}
					}
					if diff := cmp.Diff(got["avx2"], got["avx512"], cmp.Comparer(func(p, q T) bool {
						return p == q || math.IsNaN(float64(p)) && math.IsNaN(float64(q))
					})); diff != "" {
						t.Fatalf("k=%d rows=%d pack=%v load=%v: avx512 differs from avx2 (-avx2 +avx512):\n%s", k, rows, pack, load, diff)
					}
				}
			}
		}
	}
}
