package engine

import "github.com/prometheus/client_golang/prometheus"

// NewWithHook is New with a hook that runs on the worker just before each
// band, so tests can hold a worker busy or record the order bands run in.
func NewWithHook(cfg Config, reg prometheus.Registerer, hook func(Priority)) (*Engine, error) {
	return newEngine(cfg, reg, hook)
}

// Bands exposes how a request of the given output size would be split.
func (e *Engine) Bands(outRows, outCols, taps int) int {
	return e.bands(outRows, outCols, taps)
}

// Fold exposes the border index folding for the padding tests.
func Fold(i, n int, b Border) int { return fold(i, n, b) }

// ConvRow exposes the inner Conv2D kernel for the guard-value tests.
func ConvRow[T Float](d, x []T, offs []int, k []T) { convRow(d, x, offs, k) }

// RowKernels lists every implementation of the row kernel by name: the
// portable one and the dispatched one, which runs the SIMD kernel where this
// CPU and build have one.
func RowKernels[T Float]() map[string]func(d, x []T, offs []int, k []T) {
	m := map[string]func(d, x []T, offs []int, k []T){"go": convRowGo[T]}
	if simdName() != "" {
		m[simdName()] = convRow[T]
	}
	return m
}

// QuadRows runs the four-row kernel on four output rows of a valid
// single-channel correlation, returning the columns it computed (zero where
// this CPU or build has no such kernel), for the guard-value tests.
func QuadRows[T Float](d []T, ldd, n int, x []T, ldx int, k []T, kh, kw int) int {
	return simdQuad(d, ldd, n, x, ldx, quadWeights(k, 1, kh, kw), kw)
}

// SIMDName names the SIMD kernels in use, "" for none.
func SIMDName() string { return simdName() }

// ExpressDepth is how many bands wait in the express lane.
func (e *Engine) ExpressDepth() int { return len(e.express) }

// GradKernels lists every implementation of the weight-gradient row kernel
// by name: the portable one and the dispatched SIMD one where this CPU and
// build have it. Each adds Σ_j dy[j]·x[offs[b]+j] for the columns it covers
// into acc, which holds VectorLanes[T]() partial sums per tap b, and
// returns how many columns of dy it covered; dotRow sums the rest into
// tail, one sum per tap.
func GradKernels[T Float]() map[string]func(acc, tail, dy, x []T, offs []int) {
	m := map[string]func(acc, tail, dy, x []T, offs []int){
		"go": func(acc, tail, dy, x []T, offs []int) { dotRow(tail, dy, x, offs) },
	}
	if simdName() != "" {
		m[simdName()] = func(acc, tail, dy, x []T, offs []int) {
			n := simdGrad(acc, dy, x, offs)
			if n < len(dy) {
				dotRow(tail, dy[n:], x[n:], offs)
			}
		}
	}
	return m
}

// VectorLanes is how many partial sums per tap the SIMD gradient kernel
// keeps.
func VectorLanes[T Float]() int { return vectorLanes[T]() }

// Rows3x3 runs the 3×3 kernel on rows3x3 output rows of a valid
// single-channel correlation, its row tails included, returning the
// columns it computed (zero where this CPU or build has no such kernel),
// for the guard-value tests and the fuzz target; Rows3x3Count is how many
// rows it computes.
func Rows3x3[T Float](d []T, ldd, n int, x []T, ldx int, k []T) int {
	return rowsKxK(3, d, ldd, n, x, ldx, k)
}

// Rows3x3Count is the number of output rows Rows3x3 computes.
const Rows3x3Count = rows3x3

// Rows5x5 is Rows3x3 for the 5×5 kernel, which computes Rows5x5Count rows.
func Rows5x5[T Float](d []T, ldd, n int, x []T, ldx int, k []T) int {
	return rowsKxK(5, d, ldd, n, x, ldx, k)
}

// Rows5x5Count is the number of output rows Rows5x5 computes.
const Rows5x5Count = rows5x5
