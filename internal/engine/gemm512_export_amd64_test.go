//go:build !purego

package engine

import "unsafe"

// GemmWidths lists the SIMD microkernels this CPU can run by name, "avx2"
// and, where the CPU has AVX-512F, "avx512", called directly rather than
// through gemmKernel's choice; the arguments are gemmKernel's, already cut
// to length.
func GemmWidths[T Float]() map[string]func(k int, a, b, c, x []T, offs []int, astride, rows, ldc int, load bool) {
	type kernel = func(k int, a, b, c, x []T, offs []int, astride, rows, ldc int, load bool)
	var z T
	f32 := unsafe.Sizeof(z) == 4
	pick := func(k32 func(a, b, c, x []float32, offs []int, k, astride, rows, ldc int, load bool),
		k64 func(a, b, c, x []float64, offs []int, k, astride, rows, ldc int, load bool)) kernel {
		return func(k int, a, b, c, x []T, offs []int, astride, rows, ldc int, load bool) {
			if f32 {
				k32(as[float32](a), as[float32](b), as[float32](c), as[float32](x), offs, k, astride, rows, ldc, load)
			} else {
				k64(as[float64](a), as[float64](b), as[float64](c), as[float64](x), offs, k, astride, rows, ldc, load)
			}
		}
	}
	m := map[string]kernel{}
	if haveAVX2FMA {
		m["avx2"] = pick(gemmAVX2F32, gemmAVX2F64)
	}
	if haveAVX512 {
		m["avx512"] = pick(gemmAVX512F32, gemmAVX512F64)
	}
	return m
}
