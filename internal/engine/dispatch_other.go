//go:build !amd64 || purego

package engine

// The portable build's side of dispatch_amd64.go: no SIMD kernels, so
// every caller runs the portable Go ones.

// simdName names the SIMD row kernel in use: none in this build.
func simdName() string { return "" }

// simdRow computes nothing: this build has no SIMD kernels, and convRow
// runs convRowGo on the whole row.
func simdRow[T Float](d, x []T, offs []int, k []T) int { return 0 }

// simdGrad adds nothing: this build has no SIMD kernels, and the weight
// gradient sums every row with dotRow.
func simdGrad[T Float](acc, dy, x []T, offs []int) int { return 0 }

// haveQuad is false: this build has no four-row kernel.
const haveQuad = false

// simdQuad computes nothing; see haveQuad.
func simdQuad[T Float](d []T, ldd, n int, x []T, ldx int, w []T, kw int) int { return 0 }

// have3x3 is false: this build has no 3×3 kernel.
const have3x3 = false

// simd3x3 computes nothing; see have3x3.
func simd3x3[T Float](d []T, ldd, n int, x []T, ldx int, k []T) int { return 0 }

// have5x5 is false: this build has no 5×5 kernel.
const have5x5 = false

// simd5x5 computes nothing; see have5x5.
func simd5x5[T Float](d []T, ldd, n int, x []T, ldx int, k []T) int { return 0 }

// gemmKernel computes rows of C = A·B for one panel of B with the portable
// microkernel, packing the panel from x first when offs is non-nil: this
// build has no SIMD kernels. See the amd64 version for the contract.
func gemmKernel[T Float](k int, a, b, c, x []T, offs []int, astride, rows, ldc int, load bool) {
	nr := gemmNR[T]()
	a, b = a[:(rows-1)/gemmMR*astride+k*gemmMR], b[:k*nr]
	if offs != nil {
		packPanelGo(b, x, offs[:k])
	}
	gemmKernelGo(k, a, b, c[:(rows-1)*ldc+nr], astride, rows, ldc, load)
}

// packPanel2 copies one panel of two runs with the portable loop.
func packPanel2[T Float](dst, x []T, offs []int, second, split int, mask []T) {
	packPanel2Go(dst[:len(offs)*gemmNR[T]()], x, offs, second, split)
}

// winoInput runs the portable Winograd input transform: this build has no
// SIMD kernels. See the amd64 version for the contract.
func winoInput[T Float](v, x []T, n, vc, vx, ld, wq, plane int) {
	winoInputGo(v, x, n, vc, vx, ld, wq, plane, winoLanes[T]())
}

// winoOutput runs the portable Winograd output transform.
func winoOutput[T Float](y, m, bias []T, n, mc, mx, ldy, yc int) {
	winoOutputGo(y, m, bias, n, mc, mx, ldy, yc, winoLanes[T]())
}

// wino44Input2 runs the portable input transform of the stride-2 Winograd
// path for twice the tiles side by side.
func wino44Input2[T Float](v, x []T, cols *[5]int, ld, vx int) {
	lanes := winoLanes[T]()
	wino44InputGo(v, x, cols, ld, vx, lanes)
	wino44InputGo(v[lanes:], x[lanes:], cols, ld, vx, lanes)
}

// wino44Output2 runs the portable output transform of the stride-2
// Winograd path for two groups of tiles side by side in m. See the amd64
// version for the contract.
func wino44Output2[T Float](y, y2, m, bias []T, n, mc, mx, ldy, yc int) {
	lanes := winoLanes[T]()
	wino44OutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes)
	wino44OutputGo(y2, m[lanes:], bias, n, mc, mx, ldy, yc, lanes)
}

// winoProductsSIMD says whether this build has the products' microkernel
// of the stride-2 Winograd path: it has none.
func winoProductsSIMD() bool { return false }

// winoProducts runs the portable products of the stride-2 Winograd path.
func winoProducts[T Float](a, b, c []T, k, batch, sa, sb, sc int) {
	winoProductsGo(a, b, c, k, batch, sa, sb, sc)
}

// wino44Input runs the portable input transform of the stride-2 Winograd
// path. See the amd64 version for the contract.
func wino44Input[T Float](v, x []T, cols *[5]int, ld, vx int) {
	wino44InputGo(v, x, cols, ld, vx, winoLanes[T]())
}

// wino44Output runs the portable output transform of the stride-2
// Winograd path.
func wino44Output[T Float](y, m, bias []T, n, mc, mx, ldy, yc int) {
	wino44OutputGo(y, m, bias, n, mc, mx, ldy, yc, winoLanes[T]())
}

// gemmSIMD says whether this build has a SIMD microkernel: it has none, and
// the portable one does not beat the row kernel (see useGEMM).
func gemmSIMD() bool { return false }

// fftPass runs one FFT stage with the portable butterflies: this build has
// no SIMD passes.
func fftPass[C Complex](st *fftStage[C], x, y []C, s int) { st.pass(x, y, s) }

// simdMulConj computes nothing: this build has no SIMD kernels, and
// accumulate runs its loop on the whole spectrum.
func simdMulConj[C Complex](acc, x, k []C, add bool) int { return 0 }

// simdSplit runs nothing: this build has no SIMD kernels.
func simdSplit[C Complex](spec, z []C, offs []int, wx []C, m int) bool { return false }

// simdJoin runs nothing: this build has no SIMD kernels.
func simdJoin[C Complex](z, spec []C, offs []int, wx []C, m int) bool { return false }

// simdPack packs nothing: this build has no SIMD kernels.
func simdPack[T Float, C Complex](z []C, c int, src []T) int { return 0 }

// simdUnpack stores nothing: this build has no SIMD kernels.
func simdUnpack[T Float, C Complex](dst []T, ld int, z []C, cells int, scale float64, bias T) int {
	return 0
}

// wino43Input runs the portable input transform of F(4×4, 3×3).
func wino43Input[T Float](v, x []T, ld, vx int) {
	wino43InputGo(v, x, ld, vx, winoLanes[T]())
}

// wino43Input2 runs the portable input transform of F(4×4, 3×3) on two
// groups of tiles side by side.
func wino43Input2[T Float](v, x []T, ld, vx int) {
	lanes := winoLanes[T]()
	wino43InputGo(v, x, ld, vx, lanes)
	wino43InputGo(v[lanes:], x[4*lanes:], ld, vx, lanes)
}

// wino43Output runs the portable output transform of F(4×4, 3×3).
func wino43Output[T Float](y, m, bias []T, n, mc, mx, ldy, yc int) {
	wino43OutputGo(y, m, bias, n, mc, mx, ldy, yc, winoLanes[T](), 4*winoLanes[T]())
}

// wino43Output2 runs the portable output transform of F(4×4, 3×3) on two
// groups of tiles side by side, the second's cut at cols2 columns.
func wino43Output2[T Float](y, y2, m, bias []T, n, mc, mx, ldy, yc, cols2 int) {
	lanes := winoLanes[T]()
	wino43OutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes, 4*lanes)
	wino43OutputGo(y2, m[lanes:], bias, n, mc, mx, ldy, yc, lanes, cols2)
}

// deint4 runs the portable split of a row into four phases.
func deint4[T Float](d0, d1, d2, d3, x []T) { deint4Go(d0, d1, d2, d3, x) }

// deint6 runs the portable split of a row into six phases.
func deint6[T Float](d []T, wq, n int, x []T) { deint6Go(d, wq, n, x) }

// wino34Input runs the portable input transform of F(3×3, 4×4).
func wino34Input[T Float](v, x []T, cols *[6]int, ld, vx, tiles int) {
	wino34InputGo(v, x, cols, ld, vx, tiles)
}

// wino34Output runs the portable output transform of F(3×3, 4×4).
func wino34Output[T Float](y, m, bias []T, n, mc, mx, ldy, yc, tiles, rows, cols int) {
	wino34OutputGo(y, m, bias, n, mc, mx, ldy, yc, tiles, rows, cols)
}
