package engine

import "github.com/prometheus/client_golang/prometheus"

// NewWithHook is New with a hook that runs on the worker just before each
// band, so tests can hold a worker busy or record the order bands run in.
func NewWithHook(cfg Config, reg prometheus.Registerer, hook func(Priority)) (*Engine, error) {
	return newEngine(cfg, reg, hook)
}

// CorrelateRow runs the inner kernel on one row of a valid correlation, the
// way Correlate does, for the guard-value tests.
func CorrelateRow[T Float](d, x []T, ldx int, k []T, kr, kc int) {
	offs := make([]int, 0, kr*kc)
	for a := range kr {
		for b := range kc {
			offs = append(offs, a*ldx+b)
		}
	}
	convRow(d, x, offs, k)
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
