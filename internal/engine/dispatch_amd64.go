//go:build !purego

package engine

import (
	"slices"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// This file is the one place that picks kernels for the CPU: every SIMD
// kernel the engine has is reached through a function here, which falls
// back to the portable Go kernel (or reports zero columns done) where the
// CPU lacks AVX2 and FMA. dispatch_other.go holds the same functions for
// builds without assembly.

//go:generate sh -c "cd _asm && go run . -out ../conv_amd64.s -stubs ../conv_stub_amd64.go -pkg engine"
//go:generate sh -c "cd _asm && go run ./gemm -out ../gemm_amd64.s -stubs ../gemm_stub_amd64.go -pkg engine"
//go:generate sh -c "cd _asm && go run ./fft -out ../fft_amd64.s -stubs ../fft_stub_amd64.go -pkg engine"
//go:generate sh -c "cd _asm && go run ./wino -out ../wino_amd64.s -stubs ../wino_stub_amd64.go -pkg engine"
//go:generate sh -c "cd _asm && go run ./pad -out ../pad_amd64.s -stubs ../pad_stub_amd64.go -pkg engine"

// haveAVX2FMA says whether the generated AVX2/FMA kernels in conv_amd64.s
// can run here. It is read once from CPUID and never changes.
var haveAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// haveAVX512 says whether the AVX-512 microkernel in gemm_amd64.s can run
// here (the OS saving the ZMM registers included).
var haveAVX512 = haveAVX2FMA && cpu.X86.HasAVX512F

// haveAVX512VL says whether the AVX-512 kernels that use VL's forms on YMM
// registers can run here (F(4×4, 3×3)'s input transform).
var haveAVX512VL = haveAVX512 && cpu.X86.HasAVX512VL

// simdName names the SIMD row kernel in use, for tests and benchmarks.
func simdName() string {
	if haveAVX2FMA {
		return "avx2fma"
	}
	return ""
}

// simdRow is the one place that picks a SIMD row kernel for this CPU. It
// computes the prefix of the row d (see convRow) that fills whole vector
// registers and returns its length: zero when the CPU lacks AVX2 and FMA.
func simdRow[T Float](d, x []T, offs []int, k []T) int {
	if !haveAVX2FMA {
		return 0
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		convRowAVX2F32(as[float32](d), as[float32](x), offs, as[float32](k))
		return len(d) &^ 7
	default:
		convRowAVX2F64(as[float64](d), as[float64](x), offs, as[float64](k))
		return len(d) &^ 3
	}
}

// simdGrad is the one place that picks a SIMD weight-gradient kernel for
// this CPU. It adds the prefix of the row dy that fills whole vector
// registers into acc, which holds lanes[T] partial sums per tap (see
// gradTaps), and returns the prefix's length: zero when the CPU lacks AVX2
// and FMA.
func simdGrad[T Float](acc, dy, x []T, offs []int) int {
	if !haveAVX2FMA {
		return 0
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		gradTapsAVX2F32(as[float32](acc), as[float32](dy), as[float32](x), offs)
		return len(dy) &^ 7
	default:
		gradTapsAVX2F64(as[float64](acc), as[float64](dy), as[float64](x), offs)
		return len(dy) &^ 3
	}
}

// haveQuad says whether simdQuad has a kernel on this CPU.
var haveQuad = haveAVX2FMA

// simdQuad computes four output rows of a single-channel correlation with
// unit strides (see convQuad in the generator): the prefix of n columns
// that fills whole vector registers, which it returns; zero without AVX2
// and FMA. d and x are the first output and input rows, ldd and ldx their
// row strides, w the weights laid out by quadWeights.
func simdQuad[T Float](d []T, ldd, n int, x []T, ldx int, w []T, kw int) int {
	if !haveAVX2FMA {
		return 0
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		convQuadAVX2F32(as[float32](d), ldd, n, as[float32](x), ldx, as[float32](w), kw)
		return n &^ 7
	default:
		convQuadAVX2F64(as[float64](d), ldd, n, as[float64](x), ldx, as[float64](w), kw)
		return n &^ 3
	}
}

// have3x3 says whether simd3x3 has a kernel on this CPU.
var have3x3 = haveAVX2FMA

// simd3x3 computes rows3x3 output rows of a single-channel 3×3 correlation
// with unit strides and dilations (see conv3x3 in the generator): the
// prefix of n columns that fills whole vector registers, which it returns;
// zero without AVX2 and FMA. d and x are the first output and input rows,
// ldd and ldx their row strides, k the nine weights. The slices are cut to
// what the kernel touches, so a short one panics here rather than in the
// assembly.
func simd3x3[T Float](d []T, ldd, n int, x []T, ldx int, k []T) int {
	if !haveAVX2FMA {
		return 0
	}
	d, x, k = d[:(rows3x3-1)*ldd+n], x[:(rows3x3+1)*ldx+n+2], k[:9]
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		conv3x3AVX2F32(as[float32](d), ldd, n, as[float32](x), ldx, as[float32](k))
		return n &^ 7
	default:
		conv3x3AVX2F64(as[float64](d), ldd, n, as[float64](x), ldx, as[float64](k))
		return n &^ 3
	}
}

// have5x5 says whether simd5x5 has a kernel on this CPU.
var have5x5 = haveAVX2FMA

// simd5x5 computes rows5x5 output rows of a single-channel 5×5 correlation
// with unit strides and dilations (see conv5x5 in the generator), as
// simd3x3 does for 3×3: the prefix of n columns that fills whole vector
// registers, which it returns; zero without AVX2 and FMA.
func simd5x5[T Float](d []T, ldd, n int, x []T, ldx int, k []T) int {
	if !haveAVX2FMA {
		return 0
	}
	d, x, k = d[:(rows5x5-1)*ldd+n], x[:(rows5x5+3)*ldx+n+4], k[:25]
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		conv5x5AVX2F32(as[float32](d), ldd, n, as[float32](x), ldx, as[float32](k))
		return n &^ 7
	default:
		conv5x5AVX2F64(as[float64](d), ldd, n, as[float64](x), ldx, as[float64](k))
		return n &^ 3
	}
}

// gemmKernel computes the first rows of C = A·B (as many as rows says) for
// one panel of B, in tiles of gemmMR×nr (nr = gemmNR[T]()):
//
//	c[r*ldc + j] = c0 + Σ_{p<k} a[(r/gemmMR)*astride + p*gemmMR + r%gemmMR]·b[p*nr + j]
//
// for r < rows and j < nr, summed in order of p from c0, the element's old
// value when load is set and zero otherwise. a holds a panel of A per
// gemmMR rows, astride elements apart.
//
// With offs non-nil, k = len(offs) and the panel of B is packed into b on
// the way, b[p*nr + j] = x[offs[p] + j], the nr adjacent cells of one row
// of the padded input for every tap (the caller guarantees
// offs[p]+nr <= len(x)): the SIMD kernel does it inside its first tile,
// where the multiply-adds hide the loads.
//
// It is the one place that picks the microkernel for this CPU: the
// generated AVX-512 one where the CPU has AVX-512F (the same tile in one
// ZMM register per row, half the instructions), else the AVX2/FMA one
// (gemm_amd64.s), both fusing each multiply-add and so equal bit for bit,
// or gemmKernelGo. The slices are cut to what the kernel touches first, so a
// short one panics here rather than in the assembly.
func gemmKernel[T Float](k int, a, b, c, x []T, offs []int, astride, rows, ldc int, load bool) {
	nr := gemmNR[T]()
	a = a[:(rows-1)/gemmMR*astride+k*gemmMR]
	b, c = b[:k*nr], c[:(rows-1)*ldc+nr]
	if offs != nil {
		offs = offs[:k]
	}
	if !haveAVX2FMA {
		if offs != nil {
			packPanelGo(b, x, offs)
		}
		gemmKernelGo(k, a, b, c, astride, rows, ldc, load)
		return
	}
	var z T
	switch {
	case unsafe.Sizeof(z) == 4 && haveAVX512:
		gemmAVX512F32(as[float32](a), as[float32](b), as[float32](c), as[float32](x), offs, k, astride, rows, ldc, load)
	case unsafe.Sizeof(z) == 4:
		gemmAVX2F32(as[float32](a), as[float32](b), as[float32](c), as[float32](x), offs, k, astride, rows, ldc, load)
	case haveAVX512:
		gemmAVX512F64(as[float64](a), as[float64](b), as[float64](c), as[float64](x), offs, k, astride, rows, ldc, load)
	default:
		gemmAVX2F64(as[float64](a), as[float64](b), as[float64](c), as[float64](x), offs, k, astride, rows, ldc, load)
	}
}

// packPanel2 packs a panel whose pixels are two runs of adjacent cells: the
// first split pixels from x[offs[t]:], the rest from x[offs[t]+second+split:].
// mask is scratch of nr elements. The caller guarantees
// offs[t]+second+nr <= len(x), which covers every cell read.
func packPanel2[T Float](dst, x []T, offs []int, second, split int, mask []T) {
	nr := gemmNR[T]()
	dst, mask = dst[:len(offs)*nr], mask[:nr]
	if !haveAVX2FMA {
		packPanel2Go(dst, x, offs, second, split)
		return
	}
	// A lane with the sign bit set takes the second run.
	for j := range mask {
		mask[j] = 1
		if j >= split {
			mask[j] = -1
		}
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		packPanel2AVX2F32(as[float32](dst), as[float32](x), offs, second, as[float32](mask))
	default:
		packPanel2AVX2F64(as[float64](dst), as[float64](x), offs, second, as[float64](mask))
	}
}

// winoInput is the one place that picks the Winograd input transform for
// this CPU (see winoInputGo for what it computes, for winoLanes tiles): the
// generated AVX2 one (wino_amd64.s) or the portable one, which round alike.
// The slices are cut to what the transform touches first, so a short one
// panics here rather than in the assembly.
func winoInput[T Float](v, x []T, n, vc, vx, ld, wq, plane int) {
	lanes := winoLanes[T]()
	v = v[:15*vx+(n-1)*vc+lanes]
	x = x[:(n-1)*plane+3*ld+wq+1+lanes]
	if !haveAVX2FMA {
		winoInputGo(v, x, n, vc, vx, ld, wq, plane, lanes)
		return
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		winoInAVX2F32(as[float32](v), as[float32](x), n, vc, vx, ld, wq, plane)
	default:
		winoInAVX2F64(as[float64](v), as[float64](x), n, vc, vx, ld, wq, plane)
	}
}

// winoOutput is the one place that picks the Winograd output transform for
// this CPU (see winoOutputGo), like winoInput.
func winoOutput[T Float](y, m, bias []T, n, mc, mx, ldy, yc int) {
	lanes := winoLanes[T]()
	m = m[:15*mx+(n-1)*mc+lanes]
	y, bias = y[:(n-1)*yc+ldy+2*lanes], bias[:n]
	if !haveAVX2FMA {
		winoOutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes)
		return
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		winoOutAVX2F32(as[float32](y), as[float32](m), as[float32](bias), n, mc, mx, ldy, yc)
	default:
		winoOutAVX2F64(as[float64](y), as[float64](m), as[float64](bias), n, mc, mx, ldy, yc)
	}
}

// wino44Input2 is wino44Input for twice the tiles side by side (two
// groups of winoLanes): the AVX-512 transform of both at once, or two calls
// of wino44Input, which round alike.
func wino44Input2[T Float](v, x []T, cols *[5]int, ld, vx int) {
	lanes := winoLanes[T]()
	if !haveAVX512 {
		wino44Input(v, x, cols, ld, vx)
		wino44Input(v[lanes:], x[lanes:], cols, ld, vx)
		return
	}
	v = v[:(wino44Cells-1)*vx+2*lanes]
	x = x[:4*ld+slices.Max(cols[:])+2*lanes]
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		wino44In2AVX512F32(as[float32](v), as[float32](x), cols[:], ld, vx)
	default:
		wino44In2AVX512F64(as[float64](v), as[float64](x), cols[:], ld, vx)
	}
}

// wino44Output2 is wino44Output for two groups of winoLanes tiles side by
// side in m: the first group's outputs go to y, the second's to y2. It is
// the one place that picks the AVX-512 transform of both at once (ZMM
// registers, half the instructions), or two calls of wino44Output, which
// round alike.
func wino44Output2[T Float](y, y2, m, bias []T, n, mc, mx, ldy, yc int) {
	lanes := winoLanes[T]()
	if !haveAVX512 {
		wino44Output(y, m, bias, n, mc, mx, ldy, yc)
		wino44Output(y2, m[lanes:], bias, n, mc, mx, ldy, yc)
		return
	}
	m = m[:(wino44Cells-1)*mx+(n-1)*mc+2*lanes]
	y, y2, bias = y[:(n-1)*yc+ldy+2*lanes], y2[:(n-1)*yc+ldy+2*lanes], bias[:n]
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		wino44Out2AVX512F32(as[float32](y), as[float32](y2), as[float32](m), as[float32](bias), n, mc, mx, ldy, yc)
	default:
		wino44Out2AVX512F64(as[float64](y), as[float64](y2), as[float64](m), as[float64](bias), n, mc, mx, ldy, yc)
	}
}

// winoProductsSIMD says whether this CPU has the products' microkernel of
// the stride-2 Winograd path, which makes that path pay (see
// useWinogradAuto).
func winoProductsSIMD() bool { return haveAVX512 }

// winoProducts is the one place that picks the products' microkernel of
// the stride-2 Winograd path (see winoProductsGo for what it computes):
// the generated AVX-512 one, fusing each multiply-add, or the portable
// one. The slices are cut to what the kernel touches first, so a short
// one panics here rather than in the assembly.
func winoProducts[T Float](a, b, c []T, k, batch, sa, sb, sc int) {
	nc := wino44Cols[T]()
	a = a[:(batch-1)*sa+k*wino44Rows]
	b, c = b[:(batch-1)*sb+k*nc], c[:(batch-1)*sc+wino44Rows*nc]
	if !haveAVX512 {
		winoProductsGo(a, b, c, k, batch, sa, sb, sc)
		return
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		winoProductsAVX512F32(as[float32](a), as[float32](b), as[float32](c), k, batch, sa, sb, sc)
	default:
		winoProductsAVX512F64(as[float64](a), as[float64](b), as[float64](c), k, batch, sa, sb, sc)
	}
}

// wino44Input is the one place that picks the input transform of the
// stride-2 Winograd path for this CPU (see wino44InputGo for what it
// computes, for winoLanes tiles of one part channel): the generated AVX2
// one (wino_amd64.s) or the portable one, which round alike. The slices
// are cut to what the transform touches first, so a short one panics here
// rather than in the assembly.
func wino44Input[T Float](v, x []T, cols *[5]int, ld, vx int) {
	lanes := winoLanes[T]()
	v = v[:(wino44Cells-1)*vx+lanes]
	x = x[:4*ld+slices.Max(cols[:])+lanes]
	if !haveAVX2FMA {
		wino44InputGo(v, x, cols, ld, vx, lanes)
		return
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		wino44InAVX2F32(as[float32](v), as[float32](x), cols[:], ld, vx)
	default:
		wino44InAVX2F64(as[float64](v), as[float64](x), cols[:], ld, vx)
	}
}

// wino44Output is the one place that picks the output transform of the
// stride-2 Winograd path for this CPU (see wino44OutputGo), like
// wino44Input.
func wino44Output[T Float](y, m, bias []T, n, mc, mx, ldy, yc int) {
	lanes := winoLanes[T]()
	m = m[:(wino44Cells-1)*mx+(n-1)*mc+lanes]
	y, bias = y[:(n-1)*yc+ldy+2*lanes], bias[:n]
	if !haveAVX2FMA {
		wino44OutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes)
		return
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		wino44OutAVX2F32(as[float32](y), as[float32](m), as[float32](bias), n, mc, mx, ldy, yc)
	default:
		wino44OutAVX2F64(as[float64](y), as[float64](m), as[float64](bias), n, mc, mx, ldy, yc)
	}
}

// wino43Input is the one place that picks the input transform of
// F(4×4, 3×3) for this CPU (see wino43InputGo for what it computes, for
// winoLanes tiles of one channel): the generated AVX-512 one
// (wino_amd64.s, which splits a window's columns with AVX-512VL permutes)
// or the portable one, which round alike. The slices are cut to what the
// transform touches first, so a short one panics here rather than in the
// assembly.
func wino43Input[T Float](v, x []T, ld, vx int) {
	lanes := winoLanes[T]()
	v = v[:(wino43Cells-1)*vx+lanes]
	x = x[:5*ld+4*lanes+2]
	if !haveAVX512VL {
		wino43InputGo(v, x, ld, vx, lanes)
		return
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		wino43InAVX512F32(as[float32](v), as[float32](x), ld, vx)
	default:
		wino43InAVX512F64(as[float64](v), as[float64](x), ld, vx)
	}
}

// wino43Input2 is wino43Input for twice the tiles side by side (two groups
// of winoLanes): the AVX-512 transform of both at once on ZMM registers,
// or two calls of the portable one, which round alike.
func wino43Input2[T Float](v, x []T, ld, vx int) {
	lanes := winoLanes[T]()
	v = v[:(wino43Cells-1)*vx+2*lanes]
	x = x[:5*ld+8*lanes+2]
	if !haveAVX512VL {
		wino43InputGo(v, x, ld, vx, lanes)
		wino43InputGo(v[lanes:], x[4*lanes:], ld, vx, lanes)
		return
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		wino43In2AVX512F32(as[float32](v), as[float32](x), ld, vx)
	default:
		wino43In2AVX512F64(as[float64](v), as[float64](x), ld, vx)
	}
}

// wino43Output is the one place that picks the output transform of
// F(4×4, 3×3) for this CPU (see wino43OutputGo), like wino43Input.
func wino43Output[T Float](y, m, bias []T, n, mc, mx, ldy, yc int) {
	lanes := winoLanes[T]()
	m = m[:(wino43Cells-1)*mx+(n-1)*mc+lanes]
	y, bias = y[:(n-1)*yc+3*ldy+4*lanes], bias[:n]
	if !haveAVX2FMA {
		wino43OutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes, 4*lanes)
		return
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		wino43OutAVX2F32(as[float32](y), as[float32](m), as[float32](bias), n, mc, mx, ldy, yc)
	default:
		wino43OutAVX2F64(as[float64](y), as[float64](m), as[float64](bias), n, mc, mx, ldy, yc)
	}
}

// wino43Output2 is wino43Output for two groups of winoLanes tiles side by
// side in m: the first group's outputs go to y, the first cols2 columns of
// each row of the second's to y2. It is the one place that picks the
// AVX-512 transform of both at once (ZMM registers, half the
// instructions, masked stores), or the portable one, which rounds alike.
func wino43Output2[T Float](y, y2, m, bias []T, n, mc, mx, ldy, yc, cols2 int) {
	lanes := winoLanes[T]()
	m = m[:(wino43Cells-1)*mx+(n-1)*mc+2*lanes]
	y, y2, bias = y[:(n-1)*yc+3*ldy+4*lanes], y2[:(n-1)*yc+3*ldy+cols2], bias[:n]
	if !haveAVX512 {
		wino43OutputGo(y, m, bias, n, mc, mx, ldy, yc, lanes, 4*lanes)
		wino43OutputGo(y2, m[lanes:], bias, n, mc, mx, ldy, yc, lanes, cols2)
		return
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		wino43Out2AVX512F32(as[float32](y), as[float32](y2), as[float32](m), as[float32](bias), n, mc, mx, ldy, yc, cols2)
	default:
		wino43Out2AVX512F64(as[float64](y), as[float64](y2), as[float64](m), as[float64](bias), n, mc, mx, ldy, yc, cols2)
	}
}

// gemmSIMD says whether this CPU has the SIMD microkernel, which is what
// makes the GEMM path pay (see useGEMM).
func gemmSIMD() bool { return haveAVX2FMA }

// as reinterprets a slice of T as a slice of its underlying type F, which
// has the same size and layout.
func as[F, T Float](s []T) []F {
	return unsafe.Slice((*F)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// words reinterprets s as a slice of F over the same bytes: the FFT
// path's complex values and spread twiddles as the assembly takes them.
func words[F, S any](s []S) []F {
	var f F
	var e S
	n := len(s) * int(unsafe.Sizeof(e)) / int(unsafe.Sizeof(f))
	return unsafe.Slice((*F)(unsafe.Pointer(unsafe.SliceData(s))), n)
}

// isC64 says whether C is complex64.
func isC64[C Complex]() bool {
	var z C
	return unsafe.Sizeof(z) == 8
}

// fftPass is the one place that picks an FFT stage's butterflies for this
// CPU (see fftStage.pass for what a stage computes).
// The SIMD passes take a register of elements at a time (two complex128,
// four complex64), so they need s a multiple of that: true of every stage
// of a batch of eight sequences.
func fftPass[C Complex](st *fftStage[C], x, y []C, s int) {
	lanes := 2
	if isC64[C]() {
		lanes = 4
	}
	if !haveAVX2FMA || s%lanes != 0 {
		st.pass(x, y, s)
		return
	}
	x, y = x[:st.n*s], y[:st.n*s]
	if isC64[C]() {
		x, y, tw := words[complex64](x), words[complex64](y), words[float32](st.twx)
		switch st.p {
		case 2:
			fftPass2C64AVX2(y, x, s, st.m, tw)
		case 3:
			fftPass3C64AVX2(y, x, s, st.m, tw)
		case 4:
			fftPass4C64AVX2(y, x, s, st.m, tw)
		default:
			fftPass5C64AVX2(y, x, s, st.m, tw)
		}
		return
	}
	x2, y2, tw := words[complex128](x), words[complex128](y), words[float64](st.twx)
	switch st.p {
	case 2:
		fftPass2AVX2(y2, x2, s, st.m, tw)
	case 3:
		fftPass3AVX2(y2, x2, s, st.m, tw)
	case 4:
		fftPass4AVX2(y2, x2, s, st.m, tw)
	default:
		fftPass5AVX2(y2, x2, s, st.m, tw)
	}
}

// simdMulConj is the one place that picks the SIMD spectrum product (see
// accumulate): it stores conj(x)·k in acc, or adds it with add, on the
// prefix of a multiple of eight elements, and returns that prefix's length;
// zero when the CPU lacks AVX2 and FMA.
func simdMulConj[C Complex](acc, x, k []C, add bool) int {
	if !haveAVX2FMA {
		return 0
	}
	n := len(x) &^ 7
	acc, x, k = acc[:n], x[:n], k[:n]
	switch {
	case isC64[C]() && add:
		fftMulConjAddC64AVX2(words[complex64](acc), words[complex64](x), words[complex64](k))
	case isC64[C]():
		fftMulConjC64AVX2(words[complex64](acc), words[complex64](x), words[complex64](k))
	case add:
		fftMulConjAddAVX2(words[complex128](acc), words[complex128](x), words[complex128](k))
	default:
		fftMulConjAVX2(words[complex128](acc), words[complex128](x), words[complex128](k))
	}
	return n
}

// simdSplit is the one place that picks the SIMD last step of the forward
// real transform (see rfft.forward) for coefficients 0 < k < m of eight
// consecutive rows, spec starting at the first row; it reports whether it
// ran (not without AVX2 and FMA).
func simdSplit[C Complex](spec, z []C, offs []int, wx []C, m int) bool {
	if !haveAVX2FMA {
		return false
	}
	// Bounds: the last write and the last reads, checked here once.
	_, _, _, _ = spec[offs[m-1]+7*specBlock], z[8*m-1], offs[m-1], wx[spreadLen[C]()*m-1]
	if isC64[C]() {
		fftSplitC64AVX2(words[complex64](spec), words[complex64](z), offs, words[float32](wx), m)
	} else {
		fftSplitAVX2(words[complex128](spec), words[complex128](z), offs, words[float64](wx), m)
	}
	return true
}

// simdJoin is the one place that picks the SIMD first step of the inverse
// real transform (see rfft.inverse) for eight consecutive rows, spec
// starting at the first row; it reports whether it ran.
func simdJoin[C Complex](z, spec []C, offs []int, wx []C, m int) bool {
	if !haveAVX2FMA {
		return false
	}
	_, _, _, _ = spec[offs[m]+7*specBlock], z[8*m-1], offs[m], wx[spreadLen[C]()*m-1]
	if isC64[C]() {
		fftJoinC64AVX2(words[complex64](z), words[complex64](spec), offs, words[float32](wx), m)
	} else {
		fftJoinAVX2(words[complex128](z), words[complex128](spec), offs, words[float64](wx), m)
	}
	return true
}

// simdPack is the one place that picks the SIMD packing of a real row into
// sequence c of a batch of eight (see packReal): it packs the prefix of src
// that fills whole pairs of cells and returns how many cells it packed;
// zero when the CPU lacks AVX2 and FMA. A float32 row packed into complex64
// cells needs no conversion: each pair of values is moved as one.
func simdPack[T Float, C Complex](z []C, c int, src []T) int {
	cells := len(src) / 4 * 2
	if !haveAVX2FMA || cells == 0 {
		return 0
	}
	z = z[c : c+specBlock*(cells-1)+1]
	var s T
	switch {
	case isC64[C]() && unsafe.Sizeof(s) == 4:
		zc, pairs := words[complex64](z), words[complex64](src[:2*cells])
		for j, v := range pairs {
			zc[j*specBlock] = v
		}
	case isC64[C]():
		return 0
	case unsafe.Sizeof(s) == 4:
		fftPackF32AVX2(words[complex128](z), as[float32](src[:2*cells]), cells)
	default:
		fftPackF64AVX2(words[complex128](z), as[float64](src[:2*cells]), cells)
	}
	return cells
}

// simdUnpack is the one place that picks the SIMD store of eight rows of
// unit-stride outputs from their inverse transforms (see
// fftPlan.inverseRows): row c of dst, ld elements apart, gets the first
// 2·cells values of sequence c of z, scaled and biased. It returns the
// cells it stored: cells, or zero when the CPU lacks AVX2 and FMA.
func simdUnpack[T Float, C Complex](dst []T, ld int, z []C, cells int, scale float64, bias T) int {
	if !haveAVX2FMA || cells == 0 {
		return 0
	}
	dst, z = dst[:(specBlock-1)*ld+2*cells], z[:specBlock*cells]
	switch {
	case isC64[C]() && unsafe.Sizeof(bias) == 4:
		fftUnpackF32C64AVX2(as[float32](dst), ld, words[complex64](z), cells, scale, float32(bias))
	case isC64[C]():
		return 0
	case unsafe.Sizeof(bias) == 4:
		fftUnpackF32AVX2(as[float32](dst), ld, words[complex128](z), cells, scale, float32(bias))
	default:
		fftUnpackF64AVX2(as[float64](dst), ld, words[complex128](z), cells, scale, float64(bias))
	}
	return cells
}

// deint4 is the one place that picks the split of a row into the four
// phases of a column stride of 4 (see deint4Go for what it computes, for
// len(d0) cells of each phase): the generated AVX-512 routine
// (pad_amd64.s) for whole registers, four permutes per register of each
// phase where the portable loop moves a cell at a time, and deint4Go for
// the rest. The slices are cut to what it touches first, so a short one
// panics here rather than in the assembly.
func deint4[T Float](d0, d1, d2, d3, x []T) {
	n := len(d0)
	d1, d2, d3, x = d1[:n], d2[:n], d3[:n], x[:4*n]
	if haveAVX512 {
		var z T
		m := n / (64 / int(unsafe.Sizeof(z))) * (64 / int(unsafe.Sizeof(z)))
		if m > 0 {
			switch unsafe.Sizeof(z) {
			case 4:
				deint4AVX512F32(as[float32](d0), as[float32](d1), as[float32](d2), as[float32](d3), as[float32](x), m)
			default:
				deint4AVX512F64(as[float64](d0), as[float64](d1), as[float64](d2), as[float64](d3), as[float64](x), m)
			}
		}
		d0, d1, d2, d3, x = d0[m:], d1[m:], d2[m:], d3[m:], x[4*m:]
	}
	deint4Go(d0, d1, d2, d3, x)
}

// deint6 is the one place that picks the split of a row into the six
// phases of a column stride of 6 (see deint6Go for what it computes): the
// generated AVX-512 routine (pad_amd64.s) for whole registers, where the
// portable loop moves a cell at a time, and deint6Go for the rest. The
// slices are cut to what it touches first, so a short one panics here
// rather than in the assembly.
func deint6[T Float](d []T, wq, n int, x []T) {
	d, x = d[:5*wq+n], x[:6*n]
	if haveAVX512 {
		var z T
		lanes := 64 / int(unsafe.Sizeof(z))
		m := n / lanes * lanes
		if m > 0 {
			switch unsafe.Sizeof(z) {
			case 4:
				deint6AVX512F32(as[float32](d), as[float32](x), wq, m)
			default:
				deint6AVX512F64(as[float64](d), as[float64](x), wq, m)
			}
		}
		d, n, x = d[m:], n-m, x[6*m:]
	}
	deint6Go(d, wq, n, x)
}

// wino34Input is the one place that picks the input transform of
// F(3×3, 4×4) for this CPU (see wino34InputGo for what it computes, for
// tiles tiles of one part channel, one or two groups of winoLanes): the
// generated AVX-512 one (wino_amd64.s), which takes two groups' width on
// ZMM registers and masks off the second group's lanes where it is not
// asked for, or the portable one, which rounds alike. The slices are cut
// to what the SIMD one reads and writes.
func wino34Input[T Float](v, x []T, cols *[6]int, ld, vx, tiles int) {
	lanes := winoLanes[T]()
	if !haveAVX512 {
		wino34InputGo(v, x, cols, ld, vx, tiles)
		return
	}
	v = v[:(wino34Cells-1)*vx+tiles]
	x = x[:5*ld+max(cols[0], cols[1], cols[2], cols[3], cols[4], cols[5])+2*lanes]
	// A whole register's mask has all 16 bits set (see the generator's
	// store), also for float64's 8 lanes.
	mask := 1<<tiles - 1
	if tiles == 2*lanes {
		mask = 1<<16 - 1
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		wino34InAVX512F32(as[float32](v), as[float32](x), cols[:], ld, vx, mask)
	default:
		wino34InAVX512F64(as[float64](v), as[float64](x), cols[:], ld, vx, mask)
	}
}

// wino34Output is the one place that picks the output transform of
// F(3×3, 4×4) for this CPU (see wino34OutputGo), like wino34Input: the
// AVX-512 one reads two groups' width of m and stores the first cols
// outputs of each of the first rows rows by masked stores.
func wino34Output[T Float](y, m, bias []T, n, mc, mx, ldy, yc, tiles, rows, cols int) {
	lanes := winoLanes[T]()
	if !haveAVX512 {
		wino34OutputGo(y, m, bias, n, mc, mx, ldy, yc, tiles, rows, cols)
		return
	}
	m = m[:(wino34Cells-1)*mx+(n-1)*mc+2*lanes]
	y, bias = y[:(n-1)*yc+(rows-1)*ldy+cols], bias[:n]
	// The outputs of 2·lanes tiles are three registers of 2·lanes.
	var masks [3]int
	for i := range masks {
		n := min(max(cols-2*lanes*i, 0), 2*lanes)
		masks[i] = 1<<n - 1
		if n == 2*lanes {
			masks[i] = 1<<16 - 1 // whole: a plain store
		}
	}
	var z T
	switch unsafe.Sizeof(z) {
	case 4:
		wino34OutAVX512F32(as[float32](y), as[float32](m), as[float32](bias), n, mc, mx, ldy, yc, rows, masks[:])
	default:
		wino34OutAVX512F64(as[float64](y), as[float64](m), as[float64](bias), n, mc, mx, ldy, yc, rows, masks[:])
	}
}
