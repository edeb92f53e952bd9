package engine

import "math"

// The cost model behind MethodAuto predicts each method's time in
// nanoseconds of one worker and picks the cheaper. Its constants were
// measured on the development machine (2 cores of an AMD EPYC Zen 5 VM that
// exposes AVX2/FMA but not AVX-512; two workers) with
//
//	go run ./bench -nopython -reps 3 -method direct
//	go run ./bench -nopython -reps 3 -method fft
//
// taking median wall time × 2 workers over the single-channel rows:
//
//   - direct: ns per multiply-add from the 1024² rows with a 31×31 kernel
//     (39 ms f32, 73 ms f64 for 950M multiply-adds), where the SIMD kernel
//     runs at its steady rate; ns per output for the allocation, loads,
//     stores and row loop, from the 3×3 rows;
//   - fft: ns per unit of fftPlaneWork for each of the N·C + O·Cg + N·O
//     2-D transforms, from the 1024² rows (≈180 ms whatever the kernel, for
//     3 transforms of 1080²), and ns per complex multiply-add of the
//     N·O·Cg spectrum products; plus a fixed cost per call for its two
//     rounds on the pool and the transform plans, which keeps tiny problems
//     (where n·log n is near zero) on the direct path.
//
// gonum's FFTPACK runs at well under 1 GFLOP/s here, so on this machine the
// model picks the FFT path only for large kernels on large planes with few
// output channels — and in the bench table never: even 4096² with 31×31 is
// faster on the AVX2 direct path. Only the ratio of the two predictions
// matters, so a uniformly faster or slower machine picks the same method.
const (
	directNsPerMAC32 = 0.08
	directNsPerMAC64 = 0.15
	directNsPerOut   = 2
	fftNsPerWork     = 1.2
	fftNsPerCMAC     = 2
	fftNsPerCall     = 50000
	// gemmNsPerMAC32 and gemmNsPerMAC64 are the direct method's cost per
	// multiply-add on the GEMM path (see useGEMM), from the two
	// many-channel rows of BenchmarkConv2D on one worker (about 65 and 30
	// GFLOP/s), where it runs about three times as fast as the row kernel.
	gemmNsPerMAC32 = 0.03
	gemmNsPerMAC64 = 0.07
)

// chooseMethod returns the method the cost model predicts is faster for g
// with elements of the given size in bytes.
func chooseMethod(g geometry, size uintptr) Method {
	if directCost(g, size) <= fftCost(g) {
		return MethodDirect
	}
	return MethodFFT
}

func directCost(g geometry, size uintptr) float64 {
	outs := float64(g.out[0]) * float64(g.out[1]) * float64(g.out[2]) * float64(g.out[3])
	taps := float64(g.w[1]) * float64(g.w[2]) * float64(g.w[3])
	perMAC := directNsPerMAC32
	if size == 8 {
		perMAC = directNsPerMAC64
	}
	if useGEMM(g) {
		perMAC = gemmNsPerMAC32
		if size == 8 {
			perMAC = gemmNsPerMAC64
		}
	}
	return outs * (taps*perMAC + directNsPerOut)
}

func fftCost(g geometry) float64 {
	P, Q := fftSize(g.hn), fftSize(g.wn)
	N, C, O, cg := float64(g.in[0]), float64(g.in[1]), float64(g.w[0]), float64(g.w[1])
	transforms := N*C + O*cg + N*O
	spectrum := float64(P) * float64(Q/2+1)
	c := fftNsPerCall + transforms*fftPlaneWork(P, Q)*fftNsPerWork + N*O*cg*spectrum*fftNsPerCMAC
	if math.IsNaN(c) {
		return math.Inf(1)
	}
	return c
}
