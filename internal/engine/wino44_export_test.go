package engine

// Wino44Transforms lists the stride-2 Winograd path's input and output
// transforms by name, as WinoTransforms does for the 3×3 path.
func Wino44Transforms[T Float]() map[string]struct {
	In   func(v, x []T, cols *[5]int, ld, vx int)
	In2  func(v, x []T, cols *[5]int, ld, vx int)
	Out  func(y, m, bias []T, n, mc, mx, ldy, yc int)
	Out2 func(y, y2, m, bias []T, n, mc, mx, ldy, yc int)
} {
	type pair = struct {
		In   func(v, x []T, cols *[5]int, ld, vx int)
		In2  func(v, x []T, cols *[5]int, ld, vx int)
		Out  func(y, m, bias []T, n, mc, mx, ldy, yc int)
		Out2 func(y, y2, m, bias []T, n, mc, mx, ldy, yc int)
	}
	lanes := winoLanes[T]()
	return map[string]pair{
		"go": {
			In: func(v, x []T, cols *[5]int, ld, vx int) { wino44InputGo(v, x, cols, ld, vx, lanes) },
			In2: func(v, x []T, cols *[5]int, ld, vx int) {
				wino44InputGo(v, x, cols, ld, vx, lanes)
				wino44InputGo(v[lanes:], x[lanes:], cols, ld, vx, lanes)
			},
			Out: func(y, m, bias []T, n, mc, mx, ldy, yc int) {
				wino44OutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes)
			},
			Out2: func(y, y2, m, bias []T, n, mc, mx, ldy, yc int) {
				wino44OutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes)
				wino44OutputGo(y2, m[lanes:], bias, n, mc, mx, ldy, yc, lanes)
			},
		},
		"dispatched": {In: wino44Input[T], In2: wino44Input2[T], Out: wino44Output[T], Out2: wino44Output2[T]},
	}
}

// WinoProducts lists the stride-2 Winograd path's products microkernels by
// name, the portable one and the dispatched one, with the tile's height and
// width.
func WinoProducts[T Float]() (rows, cols int, impls map[string]func(a, b, c []T, k, batch, sa, sb, sc int)) {
	return wino44Rows, wino44Cols[T](), map[string]func(a, b, c []T, k, batch, sa, sb, sc int){
		"go":         winoProductsGo[T],
		"dispatched": winoProducts[T],
	}
}
