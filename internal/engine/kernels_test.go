package engine_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/corr2d/corr2d/internal/engine"
)

// Every weight-gradient kernel (the portable one and the SIMD one where this
// build and CPU have it) reads dy and x through slices surrounded by NaN and
// writes its sums through slices surrounded by sentinels: a read past dy or
// past any tap's cells turns a sum into NaN, and a write past the sums
// changes a sentinel. The lengths cover every block size and tail.
func TestGradKernelsStayInsideTheirSlices(t *testing.T) {
	t.Run("dtype=float32", testGradKernelGuards[float32])
	t.Run("dtype=float64", testGradKernelGuards[float64])
}

func testGradKernelGuards[T engine.Float](t *testing.T) {
	const guard = 16
	sentinel := T(math.Pi * 1e6)
	nan := T(math.NaN())
	lanes := engine.VectorLanes[T]()
	for name, kernel := range engine.GradKernels[T]() {
		r := rand.New(rand.NewPCG(41, 42))
		for kw := 1; kw <= 9; kw++ {
			for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 64, 67} {
				t.Run(fmt.Sprintf("kernel=%s/kw=%d/len=%d", name, kw, n), func(t *testing.T) {
					dyBuf := guarded(guard, randSlice[T](r, n), nan)
					xs := randSlice[T](r, n+2*kw+5)
					xBuf := guarded(guard, xs, nan)
					offs := make([]int, kw)
					for b := range offs {
						offs[b] = r.IntN(len(xs) - n + 1)
					}
					accBuf := guarded(guard, make([]T, kw*lanes), sentinel)
					tailBuf := guarded(guard, make([]T, kw), sentinel)
					dy, x := dyBuf[guard:guard+n], xBuf[guard:guard+len(xs)]
					acc, tail := accBuf[guard:guard+kw*lanes], tailBuf[guard:guard+kw]
					kernel(acc, tail, dy, x, offs)

					checkGuards(t, "partial sums", accBuf, guard, kw*lanes, sentinel)
					checkGuards(t, "tail sums", tailBuf, guard, kw, sentinel)
					for b, o := range offs {
						got := float64(tail[b])
						for _, v := range acc[b*lanes : (b+1)*lanes] {
							got += float64(v)
						}
						want, scale := 0.0, 0.0
						for j, v := range dy {
							want += float64(v) * float64(x[o+j])
							scale += math.Abs(float64(v) * float64(x[o+j]))
						}
						if math.IsNaN(got) || math.Abs(got-want) > tolerance[T]()*scale {
							t.Errorf("tap %d sums to %v, want %v", b, got, want)
						}
					}
				})
			}
		}
	}
}

// guarded returns s with guard copies of v before and after it.
func guarded[T engine.Float](guard int, s []T, v T) []T {
	buf := make([]T, 0, guard+len(s)+guard)
	for range guard {
		buf = append(buf, v)
	}
	buf = append(buf, s...)
	for range guard {
		buf = append(buf, v)
	}
	return buf
}

// checkGuards marks t failed if a cell of buf outside [guard, guard+n) no
// longer holds sentinel.
func checkGuards[T engine.Float](t *testing.T, what string, buf []T, guard, n int, sentinel T) {
	t.Helper()
	for i, v := range buf {
		if (i < guard || i >= guard+n) && v != sentinel {
			t.Errorf("%s: guard at buffer index %d overwritten with %v", what, i, v)
		}
	}
}

// The GEMM microkernel's tile height and the 3×3 and 5×5 kernels' row counts are
// constants of the engine and of its assembly generator, which lives in a
// module of its own and cannot import it; this holds them equal.
func TestKernelShapesMatchTheGenerator(t *testing.T) {
	mr, _ := engine.GemmTile[float32]()
	for _, c := range []struct {
		file, name string
		engine     int
	}{
		{"_asm/gemm/main.go", "mr", mr},
		{"_asm/rows3.go", "rows3x3", engine.Rows3x3Count},
		{"_asm/rows5.go", "rows5x5", engine.Rows5x5Count},
	} {
		src, err := os.ReadFile(c.file)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^\s*(?:const\s+)?` + c.name + `\s*=\s*(\d+)\s*$`).FindSubmatch(src)
		if m == nil {
			t.Fatalf("no %s = N constant in %s", c.name, c.file)
		}
		if gen, _ := strconv.Atoi(string(m[1])); gen != c.engine {
			t.Errorf("the engine's %s = %d, but %s has %d", c.name, c.engine, c.file, gen)
		}
	}
}
