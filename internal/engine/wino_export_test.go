package engine

// WinoLanes is how many tiles one call of the Winograd transforms takes.
func WinoLanes[T Float]() int { return winoLanes[T]() }

// WinoTransforms lists the Winograd input and output transforms by name:
// the portable ones and the dispatched ones, which run the SIMD transforms
// where this CPU and build have them.
func WinoTransforms[T Float]() map[string]struct {
	In  func(v, x []T, n, vc, vx, ld, wq, plane int)
	Out func(y, m, bias []T, n, mc, mx, ldy, yc int)
} {
	type pair = struct {
		In  func(v, x []T, n, vc, vx, ld, wq, plane int)
		Out func(y, m, bias []T, n, mc, mx, ldy, yc int)
	}
	lanes := winoLanes[T]()
	return map[string]pair{
		"go": {
			In: func(v, x []T, n, vc, vx, ld, wq, plane int) { winoInputGo(v, x, n, vc, vx, ld, wq, plane, lanes) },
			Out: func(y, m, bias []T, n, mc, mx, ldy, yc int) {
				winoOutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes)
			},
		},
		"dispatched": {In: winoInput[T], Out: winoOutput[T]},
	}
}
