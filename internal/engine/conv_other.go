//go:build !amd64 || purego

package engine

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
