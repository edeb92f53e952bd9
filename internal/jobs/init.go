package jobs

import (
	"math"

	"gonum.org/v1/gonum/mathext/prng"
)

// TorchInit returns the kernel that
//
//	torch.manual_seed(seed); nn.Conv2d(1, 1, kernel_size=(kh, kw), bias=False)
//
// starts from: kaiming-uniform with a=√5, which is U(−b, b) with
// b = 1/√fan_in, drawn in row-major order from ATen's CPU generator.
// The values are float32, held in float64 without loss.
//
// ATen's generator is MT19937 seeded with the low 32 bits of the seed, the
// same generator and seeding as gonum's. ATen turns one 32-bit draw u into
// x = (u & 0xFFFFFF)·2⁻²⁴ and returns x·(to−from)+from in float32 with a
// single rounding: its vectorised CPU builds (AVX2 and AVX-512, the ones this
// machine and PyTorch's wheels dispatch to) fuse the multiply-add.
func TorchInit(seed uint64, kh, kw int) [][]float64 {
	src := prng.NewMT19937()
	src.Seed(seed)
	// PyTorch computes the bound in double as gain·√3/√fan_in with
	// gain = √(2/(1+a²)); the float32 casts below make it equal to 1/√fan_in.
	bound := 1 / math.Sqrt(float64(kh*kw))
	from, to := float32(-bound), float32(bound)
	span := to - from
	k := make([][]float64, kh)
	for i := range k {
		k[i] = make([]float64, kw)
		for j := range k[i] {
			x := float32(src.Uint32()&0xFFFFFF) * (1.0 / (1 << 24))
			// The product of two float32 values is exact in float64, so this
			// sum rounds once, as the fused multiply-add does.
			k[i][j] = float64(float32(float64(x)*float64(span) + float64(from)))
		}
	}
	return k
}
