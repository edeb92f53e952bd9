package engine

// Wino43Transforms lists the F(4×4, 3×3) input and output transforms by
// name, as WinoTransforms does for F(2×2, 3×3).
func Wino43Transforms[T Float]() map[string]struct {
	In   func(v, x []T, ld, vx int)
	In2  func(v, x []T, ld, vx int)
	Out  func(y, m, bias []T, n, mc, mx, ldy, yc int)
	Out2 func(y, y2, m, bias []T, n, mc, mx, ldy, yc, cols2 int)
} {
	type pair = struct {
		In   func(v, x []T, ld, vx int)
		In2  func(v, x []T, ld, vx int)
		Out  func(y, m, bias []T, n, mc, mx, ldy, yc int)
		Out2 func(y, y2, m, bias []T, n, mc, mx, ldy, yc, cols2 int)
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
				wino43OutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes, 4*lanes)
			},
			Out2: func(y, y2, m, bias []T, n, mc, mx, ldy, yc, cols2 int) {
				wino43OutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes, 4*lanes)
				wino43OutputGo(y2, m[lanes:], bias, n, mc, mx, ldy, yc, lanes, cols2)
			},
		},
		"dispatched": {In: wino43Input[T], In2: wino43Input2[T], Out: wino43Output[T], Out2: wino43Output2[T]},
	}
}
