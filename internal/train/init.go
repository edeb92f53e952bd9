package train

import (
	"math"

	"gonum.org/v1/gonum/mathext/prng"
)

// TorchInit returns the weights (O×Cg×kh×kw, row-major) and, if bias, the
// bias that
//
//	torch.manual_seed(seed); nn.Conv2d(C, O, (kh, kw), groups=C/Cg, bias=bias, dtype=dtype)
//
// starts from: kaiming-uniform with a=√5 for the weights, which is
// U(−b, b) with b = 1/√fan_in, fan_in = Cg·kh·kw, then the bias from the same
// bound, drawn in row-major order from ATen's CPU generator. float32 values
// are held in float64 without loss.
//
// ATen's generator is MT19937 seeded with the low 32 bits of the seed, the
// same generator and seeding as gonum's. For float32, ATen turns one 32-bit
// draw u into x = (u & 0xFFFFFF)·2⁻²⁴ and returns x·(to−from)+from with a
// single rounding: its vectorised CPU builds (AVX2 and AVX-512, the ones
// PyTorch dispatches to on this kind of machine) fuse the multiply-add. For
// float64 it forms a 64-bit draw from two 32-bit ones and keeps 53 bits.
func TorchInit(seed uint64, dtype DType, shape [4]int, bias bool) (w, b []float64) {
	src := prng.NewMT19937()
	src.Seed(seed)
	fanIn := shape[1] * shape[2] * shape[3]
	// PyTorch computes the bound in double as gain·√3/√fan_in with
	// gain = √(2/(1+a²)), a = √5; for the bias it is 1/√fan_in. Both are
	// computed as PyTorch does, since they can differ in the last bit.
	gain := math.Sqrt(2 / (1 + math.Sqrt(5)*math.Sqrt(5)))
	wBound := math.Sqrt(3) * (gain / math.Sqrt(float64(fanIn)))
	w = uniform(src, dtype, shape[0]*fanIn, wBound)
	if bias {
		b = uniform(src, dtype, shape[0], 1/math.Sqrt(float64(fanIn)))
	}
	return w, b
}

// uniform draws n values of U(−bound, bound) as ATen's uniform_ does.
func uniform(src *prng.MT19937, dtype DType, n int, bound float64) []float64 {
	out := make([]float64, n)
	if dtype == Float64 {
		from, to := -bound, bound
		for i := range out {
			hi, lo := uint64(src.Uint32()), uint64(src.Uint32())
			x := float64((hi<<32|lo)&(1<<53-1)) * (1.0 / (1 << 53))
			out[i] = math.FMA(x, to-from, from)
		}
		return out
	}
	from, to := float32(-bound), float32(bound)
	span := to - from
	for i := range out {
		x := float32(src.Uint32()&0xFFFFFF) * (1.0 / (1 << 24))
		// The product of two float32 values is exact in float64, so this
		// sum rounds once, as the fused multiply-add does.
		out[i] = float64(float32(float64(x)*float64(span) + float64(from)))
	}
	return out
}
