package engine

import "context"

// GemmTile is the GEMM microkernel's tile, rows by columns, for T.
func GemmTile[T Float]() (mr, nr int) { return gemmMR, gemmNR[T]() }

// GemmKernels lists every implementation of the GEMM microkernel by name:
// the portable one and the dispatched one, which runs the SIMD kernel where
// this CPU and build have one.
func GemmKernels[T Float]() map[string]func(k int, a, b, c, x []T, offs []int, astride, rows, ldc int, load bool) {
	m := map[string]func(k int, a, b, c, x []T, offs []int, astride, rows, ldc int, load bool){
		"go": func(k int, a, b, c, x []T, offs []int, astride, rows, ldc int, load bool) {
			if offs != nil {
				packPanelGo(b[:k*gemmNR[T]()], x, offs)
			}
			gemmKernelGo(k, a, b, c, astride, rows, ldc, load)
		},
	}
	if gemmSIMD() {
		m[simdName()] = gemmKernel[T]
	}
	return m
}

// UseGEMM says whether Conv2D's direct method takes the GEMM path for
// input shape in, weights w and c.
func UseGEMM(in, w [4]int, c Conv) bool {
	g, err := c.resolve(in, w)
	return err == nil && useGEMM(g)
}

// Conv2DGEMMInto runs Conv2D on the GEMM path whatever UseGEMM says,
// writing the result into out, which must hold exactly the output's
// elements, so that a test can put guard values around it.
func Conv2DGEMMInto[T Float](ctx context.Context, e *Engine, x, w Tensor[T], bias []T, c Conv, out []T) error {
	g, err := c.resolve(x.Shape, w.Shape)
	if err != nil {
		return err
	}
	return gemmInto(ctx, e, Interactive, x, w, bias, g, c, out)
}

// GemmSIMD says whether this build and CPU have the SIMD GEMM microkernel,
// without which Conv2D keeps the row kernel.
func GemmSIMD() bool { return gemmSIMD() }
