package engine

// Wino34Transforms lists the F(3×3, 4×4) input and output transforms by
// name, the portable ones and the dispatched ones, as WinoTransforms does
// for F(2×2, 3×3).
func Wino34Transforms[T Float]() map[string]struct {
	In  func(v, x []T, cols *[6]int, ld, vx, tiles int)
	Out func(y, m, bias []T, n, mc, mx, ldy, yc, tiles, rows, cols int)
} {
	type pair = struct {
		In  func(v, x []T, cols *[6]int, ld, vx, tiles int)
		Out func(y, m, bias []T, n, mc, mx, ldy, yc, tiles, rows, cols int)
	}
	return map[string]pair{
		"go":         {In: wino34InputGo[T], Out: wino34OutputGo[T]},
		"dispatched": {In: wino34Input[T], Out: wino34Output[T]},
	}
}
