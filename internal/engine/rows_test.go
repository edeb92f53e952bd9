package engine_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/corr2d/corr2d/internal/engine"
)

// The 3×3 and 5×5 kernels write their output rows, ldd apart, into a
// buffer of NaN: every column they report done must equal the row
// kernel's result bit for bit (same taps, same order, one fused
// multiply-add each) and the reference loop's within the tolerance; every
// other cell, between the rows and around them, must still be NaN. Widths
// cover the whole registers, the overlapping last register and rows
// narrower than one.
func TestRows3x3MatchTheRowKernelAndStayInBounds(t *testing.T) {
	t.Run("dtype=float32", func(t *testing.T) { testRowsKxK[float32](t, 3) })
	t.Run("dtype=float64", func(t *testing.T) { testRowsKxK[float64](t, 3) })
}

func TestRows5x5MatchTheRowKernelAndStayInBounds(t *testing.T) {
	t.Run("dtype=float32", func(t *testing.T) { testRowsKxK[float32](t, 5) })
	t.Run("dtype=float64", func(t *testing.T) { testRowsKxK[float64](t, 5) })
}

func testRowsKxK[T engine.Float](t *testing.T, size int) {
	r := rand.New(rand.NewPCG(91, uint64(size)))
	for n := 1; n <= 100; n++ {
		for _, slack := range []int{0, 1, 5} {
			t.Run(fmt.Sprintf("n=%d/slack=%d", n, slack), func(t *testing.T) {
				ldx := n + size - 1 + slack
				x := randSlice[T](r, (rowsKxKCount(size)+size-1)*ldx)
				checkRowsKxK(t, size, x, n, ldx, randSlice[T](r, size*size))
			})
		}
	}
}

// rowsKxKCount is how many output rows the size×size kernel computes.
func rowsKxKCount(size int) int {
	if size == 5 {
		return engine.Rows5x5Count
	}
	return engine.Rows3x3Count
}

// checkRowsKxK runs the size×size kernel over n columns of the input rows
// x, ldx apart, with the weights k, and checks its output and its guards.
func checkRowsKxK[T engine.Float](t *testing.T, size int, x []T, n, ldx int, k []T) {
	t.Helper()
	const guard = 16
	rows := rowsKxKCount(size)
	ldd := n + 3
	buf := nans[T](guard + (rows-1)*ldd + n + guard)
	kernel := engine.Rows3x3[T]
	if size == 5 {
		kernel = engine.Rows5x5[T]
	}
	m := kernel(buf[guard:], ldd, n, x, ldx, k)
	var z T
	switch lanes := 32 / sizeof(z); {
	case engine.SIMDName() == "" && m != 0:
		t.Fatalf("no SIMD kernel, yet %d columns were done", m)
	case engine.SIMDName() != "" && n >= lanes && m != n:
		t.Fatalf("n %d: %d columns done, want all", n, m)
	case n < lanes && m != 0:
		t.Fatalf("n %d: %d columns done, narrower than a register", n, m)
	}
	var offs []int
	for a := range size {
		for b := range size {
			offs = append(offs, a*ldx+b)
		}
	}
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
				t.Fatalf("%dx%d, n %d: row %d column %d = %v, want %v (row kernel), %v (reference)", size, size, n, q, j, row[j], want[j], ref)
			}
		}
	}
	for i, v := range buf {
		if c := i - guard; c >= 0 && c < (rows-1)*ldd+n && c%ldd < m {
			continue
		}
		if !math.IsNaN(float64(v)) {
			t.Fatalf("%dx%d, n %d: buffer cell %d outside the computed columns was written", size, size, n, i)
		}
	}
}

// FuzzRows3x3 runs the 3×3 kernel on arbitrary widths, row strides and
// values against the row kernel and the reference loop (see
// checkRowsKxK).
func FuzzRows3x3(f *testing.F) {
	f.Add(uint8(17), uint8(2), []byte{1, 2, 3, 250, 128, 7})
	f.Add(uint8(8), uint8(0), []byte{255})
	f.Add(uint8(3), uint8(9), []byte{})
	f.Fuzz(func(t *testing.T, n, slack uint8, data []byte) { fuzzRowsKxK(t, 3, int(n), int(slack), data) })
}

// FuzzRows5x5 is FuzzRows3x3 for the 5×5 kernel.
func FuzzRows5x5(f *testing.F) {
	f.Add(uint8(17), uint8(2), []byte{1, 2, 3, 250, 128, 7})
	f.Add(uint8(16), uint8(0), []byte{255})
	f.Add(uint8(5), uint8(9), []byte{})
	f.Fuzz(func(t *testing.T, n, slack uint8, data []byte) { fuzzRowsKxK(t, 5, int(n), int(slack), data) })
}

// fuzzRowsKxK fills the input rows and the weights of the size×size
// kernel from data, and checks both element types.
func fuzzRowsKxK(t *testing.T, size, n, slack int, data []byte) {
	val := func(i int) float64 {
		if len(data) == 0 {
			return 1
		}
		return float64(int8(data[i%len(data)])) / 16
	}
	ldx := n + size - 1 + slack
	x := make([]float64, (rowsKxKCount(size)+size-1)*ldx)
	for i := range x {
		x[i] = val(i)
	}
	k := make([]float64, size*size)
	for i := range k {
		k[i] = val(len(x) + 7*i)
	}
	checkRowsKxK(t, size, x, n, ldx, k)
	x32 := make([]float32, len(x))
	for i, v := range x {
		x32[i] = float32(v)
	}
	k32 := make([]float32, len(k))
	for i, v := range k {
		k32[i] = float32(v)
	}
	checkRowsKxK(t, size, x32, n, ldx, k32)
}
