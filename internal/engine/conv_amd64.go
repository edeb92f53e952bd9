//go:build !purego

package engine

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

//go:generate sh -c "cd _asm && go run . -out ../conv_amd64.s -stubs ../conv_stub_amd64.go -pkg engine"

// haveAVX2FMA says whether the generated AVX2/FMA kernels in conv_amd64.s
// can run here. It is read once from CPUID and never changes.
var haveAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA

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

// as reinterprets a slice of T as a slice of its underlying type F, which
// has the same size and layout.
func as[F, T Float](s []T) []F {
	return unsafe.Slice((*F)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
