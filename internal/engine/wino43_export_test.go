package engine

// Wino43Transforms lists the F(4×4, 3×3) input and output transforms by
// name, as WinoTransforms does for F(2×2, 3×3).
func Wino43Transforms[T Float]() map[string]struct {
	In  func(v, x []T, ld, vx int)
	In2 func(v, x []T, ld, vx int)
	Out func(y, m, bias []T, n, mc, mx, ldy, yc int)
} {
	type pair = struct {
		In  func(v, x []T, ld, vx int)
		In2 func(v, x []T, ld, vx int)
		Out func(y, m, bias []T, n, mc, mx, ldy, yc int)
	}
	lanes := winoLanes[T]()
	return map[string]pair{
		"go": {
			In: func(v, x []T, ld, vx int) { wino43InputGo(v, x, ld, vx, lanes) },
			In2: func(v, x []T, ld, vx int) {
				wino43InputGo(v, x, ld, vx, lanes)
				wino43InputGo(v[lanes:], x[4*lanes:], ld, vx, lanes)
			},
			Out: func(y, m, bias []T, n, mc, mx, ldy, yc int) {
				wino43OutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes)
			},
		},
		"dispatched": {In: wino43Input[T], In2: wino43Input2[T], Out: wino43Output[T]},
	}
}
