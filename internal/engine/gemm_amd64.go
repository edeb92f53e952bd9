//go:build !purego

package engine

import "unsafe"

//go:generate sh -c "cd _asm && go run ./gemm -out ../gemm_amd64.s -stubs ../gemm_stub_amd64.go -pkg engine"

// gemmKernel computes rows rows of C = A·B for one panel of B, in tiles
// of gemmMR×nr (nr = gemmNR[T]()):
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
// generated AVX2/FMA one (gemm_amd64.s), which fuses each multiply-add, or
// gemmKernelGo. The slices are cut to what the kernel touches first, so a
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
	switch unsafe.Sizeof(z) {
	case 4:
		gemmAVX2F32(as[float32](a), as[float32](b), as[float32](c), as[float32](x), offs, k, astride, rows, ldc, load)
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

// gemmSIMD says whether this CPU has the SIMD microkernel, which is what
// makes the GEMM path pay (see useGEMM).
func gemmSIMD() bool { return haveAVX2FMA }
