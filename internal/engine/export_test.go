package engine

import "github.com/prometheus/client_golang/prometheus"

// NewWithHook is New with a hook that runs on the worker just before each
// band, so tests can hold a worker busy or record the order bands run in.
func NewWithHook(cfg Config, reg prometheus.Registerer, hook func(Priority)) (*Engine, error) {
	return newEngine(cfg, reg, hook)
}

// CorrelateRow exposes the inner kernel for the guard-value tests.
func CorrelateRow[T Float](d, x []T, ldx int, k []T, kr, kc int) {
	correlateRow(d, x, ldx, k, kr, kc)
}

// Bands exposes how a request of the given output size would be split.
func (e *Engine) Bands(outRows, outCols, taps int) int {
	return e.bands(outRows, outCols, taps)
}
