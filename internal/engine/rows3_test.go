package engine_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/corr2d/corr2d/internal/engine"
)

// The 3×3 kernel writes rows3x3 output rows, ldd apart, into a buffer of
// NaN: every column it reports done must equal the row kernel's result bit
// for bit (same taps, same order, one fused multiply-add each) and the
// reference loop's within the tolerance; every other cell, between the
// rows and around them, must still be NaN. Widths cover the whole
// registers, the overlapping last register and rows narrower than one.
func TestRows3x3MatchTheRowKernelAndStayInBounds(t *testing.T) {
	t.Run("dtype=float32", testRows3x3[float32])
	t.Run("dtype=float64", testRows3x3[float64])
}

func testRows3x3[T engine.Float](t *testing.T) {
	r := rand.New(rand.NewPCG(91, 92))
	for _, n := range []int{1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 31, 33, 64, 100} {
		for _, slack := range []int{0, 1, 5} {
			t.Run(fmt.Sprintf("n=%d/slack=%d", n, slack), func(t *testing.T) {
				x := randSlice[T](r, (engine.Rows3x3Count+2)*(n+2+slack))
				checkRows3x3(t, x, n, n+2+slack, randSlice[T](r, 9))
			})
		}
	}
}

// checkRows3x3 runs the 3×3 kernel over n columns of the input rows x, ldx
// apart, with the weights k, and checks its output and its guards.
func checkRows3x3[T engine.Float](t *testing.T, x []T, n, ldx int, k []T) {
	t.Helper()
	const guard = 16
	rows := engine.Rows3x3Count
	ldd := n + 3
	buf := make([]T, guard+(rows-1)*ldd+n+guard)
	for i := range buf {
		buf[i] = T(math.NaN())
	}
	m := engine.Rows3x3(buf[guard:], ldd, n, x, ldx, k)
	var z T
	switch lanes := 32 / sizeof(z); {
	case engine.SIMDName() == "" && m != 0:
		t.Fatalf("no SIMD kernel, yet %d columns were done", m)
	case engine.SIMDName() != "" && n >= lanes && m != n:
		t.Fatalf("n %d: %d columns done, want all", n, m)
	case n < lanes && m != 0:
		t.Fatalf("n %d: %d columns done, narrower than a register", n, m)
	}
	offs := []int{0, 1, 2, ldx, ldx + 1, ldx + 2, 2 * ldx, 2*ldx + 1, 2*ldx + 2}
	for q := range rows {
		want := make([]T, m)
		engine.ConvRow(want, x[q*ldx:], offs, k)
		row := buf[guard+q*ldd:]
		for j := range m {
			ref, scale := 0.0, 0.0
			for tap, o := range offs {
				v := float64(k[tap]) * float64(x[q*ldx+o+j])
				ref += v
				scale += math.Abs(v)
			}
			if row[j] != want[j] || math.Abs(float64(row[j])-ref) > tolerance[T]()*scale {
				t.Fatalf("n %d: row %d column %d = %v, want %v (row kernel), %v (reference)", n, q, j, row[j], want[j], ref)
			}
		}
	}
	for i, v := range buf {
		if c := i - guard; c >= 0 && c < (rows-1)*ldd+n && c%ldd < m {
			continue
		}
		if !math.IsNaN(float64(v)) {
			t.Fatalf("n %d: buffer cell %d outside the computed columns was written", n, i)
		}
	}
}

// FuzzRows3x3 runs the 3×3 kernel on arbitrary widths, row strides and
// values against the row kernel and the reference loop (see
// checkRows3x3).
func FuzzRows3x3(f *testing.F) {
	f.Add(uint8(17), uint8(2), []byte{1, 2, 3, 250, 128, 7})
	f.Add(uint8(8), uint8(0), []byte{255})
	f.Add(uint8(3), uint8(9), []byte{})
	f.Fuzz(func(t *testing.T, n, slack uint8, data []byte) {
		val := func(i int) float64 {
			if len(data) == 0 {
				return 1
			}
			return float64(int8(data[i%len(data)])) / 16
		}
		ldx := int(n) + 2 + int(slack)
		x := make([]float64, (engine.Rows3x3Count+2)*ldx)
		for i := range x {
			x[i] = val(i)
		}
		k := make([]float64, 9)
		for i := range k {
			k[i] = val(len(x) + 7*i)
		}
		checkRows3x3(t, x, int(n), ldx, k)
		x32 := make([]float32, len(x))
		for i, v := range x {
			x32[i] = float32(v)
		}
		k32 := make([]float32, len(k))
		for i, v := range k {
			k32[i] = float32(v)
		}
		checkRows3x3(t, x32, int(n), ldx, k32)
	})
}
