//go:build !amd64 || purego

package engine

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

// gemmSIMD says whether this build has a SIMD microkernel: it has none, and
// the portable one does not beat the row kernel (see useGEMM).
func gemmSIMD() bool { return false }
