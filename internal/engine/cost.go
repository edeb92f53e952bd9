package engine

import "math"

// The cost model behind MethodAuto predicts each method's time in
// nanoseconds of one worker and picks the cheaper: the direct method costs
// a time per multiply-add (the row kernel's or the GEMM path's steady rate)
// plus a time per output, the FFT path (see fftTileCost) a time per unit of
// transform work for each of its 2-D transforms (the kernels' once, the
// input and output planes of every tile) and a fixed cost per transform,
// more for transforms that do not fit in the cache, a time per complex multiply-add of its spectrum
// products and a fixed cost per call, which keeps tiny problems on the
// direct path; the Winograd path, for the 3×3 layers the GEMM path would
// run, a time per product and per transformed tile (see winogradCost).
// Only the ratios of the predictions matter, so a uniformly faster or
// slower machine picks the same method. PERF.md says
// how each constant was measured.
const (
	directNsPerMAC32 = 0.09
	directNsPerMAC64 = 0.18
	directNsPerOut   = 2
	fftNsPerWork     = 0.3
	fftNsPerCMAC     = 0.3
	// fftNsPerWork32 and fftNsPerCMAC32 are the same for float32
	// requests, whose transforms run in complex64: 0.5–0.7 of the
	// float64 times on large planes.
	fftNsPerWork32 = 0.18
	fftNsPerCMAC32 = 0.18
	fftNsPerPlane  = 2000
	fftNsPerCall   = 50000
	// fftNsOutOfCache scales fftNsPerWork for transforms whose spectrum
	// does not fit in the second-level cache (see fftSpecBytes).
	fftNsOutOfCache = 1.5
	// gemmNsPerMAC32 and gemmNsPerMAC64 are the direct method's cost per
	// multiply-add on the GEMM path (see useGEMM).
	gemmNsPerMAC32 = 0.03
	gemmNsPerMAC64 = 0.07
)

// chooseMethod returns the method the cost model predicts is faster for g
// with elements of the given size in bytes.
func chooseMethod(g geometry, size uintptr) Method {
	// fftCost searches the tilings, which takes about a millisecond for
	// a large output: longer than a small kernel's whole correlation. A
	// direct cost under the FFT's floor needs no search.
	d, m := directCost(g, size), MethodDirect
	if useWinogradAuto(g) {
		if w := winogradCost(g, size); w < d {
			d, m = w, MethodWinograd
		}
	}
	if d <= fftCostFloor(g, size) || d <= fftCost(g, size) {
		return m
	}
	return MethodFFT
}

// fftCostFloor is a lower bound of fftCost(g) that takes no search: the
// tiles cover the output, each tile's transform is at least as large as
// its outputs and as the dilated kernel, and its spectrum holds at least
// half as many values as it has outputs. So every input and output plane
// costs at least Ho·Wo·log2 of the kernel's area in transform work, and
// every product of spectra Ho·Wo/2 complex multiply-adds.
func fftCostFloor(g geometry, size uintptr) float64 {
	N, C, O, cg := float64(g.in[0]), float64(g.in[1]), float64(g.w[0]), float64(g.w[1])
	ekh, ekw := (g.w[2]-1)*g.dh+1, (g.w[3]-1)*g.dw+1
	outs := float64(g.out[2]) * float64(g.out[3])
	m := newTileModel(g, size)
	work := 2.5 * outs * math.Log2(float64(max(2, ekh*ekw))) * m.perWork
	return fftNsPerCall + N*(C+O)*work + N*O*cg*outs/2*m.perCMAC
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

func fftCost(g geometry, size uintptr) float64 {
	c := fftTileCost(g, fftTile(g, fftMaxTile, size), size)
	if math.IsNaN(c) {
		return math.Inf(1)
	}
	return c
}
