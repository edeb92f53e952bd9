package engine

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"slices"
	"testing"
)

func naiveDFT(x []complex128, sign float64) []complex128 {
	n := len(x)
	out := make([]complex128, n)
	for k := range n {
		var s complex128
		for j, v := range x {
			s += v * cmplx.Rect(1, sign*2*math.Pi*float64(j*k%n)/float64(n))
		}
		out[k] = s
	}
	return out
}

// smooth lists the 2-3-5 lengths up to max.
func smooth(max int) []int {
	var ns []int
	for n := 1; n <= max; n++ {
		if fftSize(n) == n {
			ns = append(ns, n)
		}
	}
	return ns
}

// precision is the relative error the tests allow the transforms in C:
// 1e-12 of a sequence's norm in complex128, 1e-6 in complex64 (whose
// epsilon is 6e-8).
func precision[C Complex]() float64 {
	var z C
	if _, ok := any(z).(complex64); ok {
		return 1e-6
	}
	return 1e-12
}

// roundoff is the difference the tests allow between two ways of rounding
// one butterfly or product in C (fused or not, SIMD or portable).
func roundoff[C Complex]() float64 {
	if precision[C]() > 1e-12 {
		return 1e-6
	}
	return 1e-14
}

// The transforms match the defining sums, forward and inverse, for every
// 2-3-5 length up to 400, within precision of the sequence's norm.
func TestCFFTMatchesTheDFT(t *testing.T) {
	t.Run("complex=128", testCFFT[complex128])
	t.Run("complex=64", testCFFT[complex64])
}

func testCFFT[C Complex](t *testing.T) {
	r := rand.New(rand.NewPCG(91, 92))
	for _, n := range smooth(400) {
		x := make([]complex128, n)
		norm := 0.0
		for i := range x {
			x[i] = complex(r.Float64()*2-1, r.Float64()*2-1)
			if precision[C]() > 1e-12 {
				x[i] = complex128(complex64(x[i]))
			}
			norm += cmplx.Abs(x[i])
		}
		f := newCFFT[C](n)
		for _, sign := range []float64{-1, 1} {
			got := make([]C, n)
			for i, v := range x {
				got[i] = C(v)
			}
			if sign < 0 {
				f.forward(got)
			} else {
				f.inverse(got)
			}
			want := naiveDFT(x, sign)
			for k := range want {
				if cmplx.Abs(complex128(got[k])-want[k]) > precision[C]()*norm {
					t.Fatalf("n=%d sign=%v: element %d = %v, want %v", n, sign, k, got[k], want[k])
				}
			}
		}
	}
}

func TestRFFTMatchesTheDFT(t *testing.T) {
	r := rand.New(rand.NewPCG(93, 94))
	for _, h := range smooth(200) {
		n := 2 * h
		x := make([]float64, n)
		cx := make([]complex128, n)
		norm := 0.0
		for i := range x {
			x[i] = r.Float64()*2 - 1
			cx[i] = complex(x[i], 0)
			norm += math.Abs(x[i])
		}
		f := newRFFT[complex128](n)
		spec := make([]complex128, n/2+1)
		f.coefficients(spec, x)
		want := naiveDFT(cx, -1)
		for k := range spec {
			if cmplx.Abs(spec[k]-want[k]) > 1e-12*norm {
				t.Fatalf("n=%d: coefficient %d = %v, want %v", n, k, spec[k], want[k])
			}
		}
		back := make([]float64, n)
		f.sequence(back, spec)
		for j := range back {
			if math.Abs(back[j]-float64(n)*x[j]) > 1e-12*norm*float64(n) {
				t.Fatalf("n=%d: sequence %d = %v, want %v", n, j, back[j], float64(n)*x[j])
			}
		}
	}
}

// FuzzFFT runs both transforms, in both precisions, on lengths and values
// from the fuzzer's bytes against the defining sums: the complex one
// forward and inverse, the real one there and back. The values are
// multiples of 1/16, exact in float32.
func FuzzFFT(f *testing.F) {
	f.Add(uint16(12), []byte{1, 2, 3, 250})
	f.Add(uint16(75), []byte{9})
	f.Add(uint16(1), []byte{})
	f.Fuzz(func(t *testing.T, length uint16, data []byte) {
		n := fftSize(1 + int(length)%300)
		val := func(i int) float64 {
			if len(data) == 0 {
				return 1
			}
			return float64(int8(data[i%len(data)])) / 16
		}
		checkTransforms[complex128](t, n, val)
		checkTransforms[complex64](t, n, val)
	})
}

// checkTransforms is FuzzFFT's check in one precision, within precision[C]
// of the sequence's norm.
func checkTransforms[C Complex](t *testing.T, n int, val func(int) float64) {
	tol := precision[C]()
	x := make([]complex128, n)
	norm := 1.0
	for i := range x {
		x[i] = complex(val(2*i), val(2*i+1))
		norm += cmplx.Abs(x[i])
	}
	c := newCFFT[C](n)
	got := make([]C, n)
	for _, sign := range []float64{-1, 1} {
		for i, v := range x {
			got[i] = C(v)
		}
		if sign < 0 {
			c.forward(got)
		} else {
			c.inverse(got)
		}
		for k, w := range naiveDFT(x, sign) {
			if cmplx.Abs(complex128(got[k])-w) > tol*norm {
				t.Fatalf("n=%d sign %v, %T: element %d = %v, want %v", n, sign, got[0], k, got[k], w)
			}
		}
	}
	rn := fftRowSize(n)
	re := make([]float64, rn)
	cre := make([]complex128, rn)
	for i := range re {
		re[i] = val(i)
		cre[i] = complex(re[i], 0)
	}
	r := newRFFT[C](rn)
	spec := make([]C, rn/2+1)
	r.coefficients(spec, re)
	for k, w := range naiveDFT(cre, -1)[:rn/2+1] {
		if cmplx.Abs(complex128(spec[k])-w) > tol*norm*2 {
			t.Fatalf("n=%d real, %T: coefficient %d = %v, want %v", rn, spec[0], k, spec[k], w)
		}
	}
	back := make([]float64, rn)
	r.sequence(back, spec)
	for j, v := range back {
		if math.Abs(v-float64(rn)*re[j]) > 10*tol*norm*float64(rn) {
			t.Fatalf("n=%d real, %T: sequence %d = %v, want %v", rn, spec[0], j, v, float64(rn)*re[j])
		}
	}
}

// The pass fftPass picks (SIMD where the CPU has it) matches the portable
// pass for every radix and run length, and writes nothing past its output:
// the cells after it hold NaN guards before and after.
func TestFFTPassesMatchThePortablePass(t *testing.T) {
	t.Run("complex=128", testPasses[complex128])
	t.Run("complex=64", testPasses[complex64])
}

func testPasses[C Complex](t *testing.T) {
	r := rand.New(rand.NewPCG(95, 96))
	for _, n := range []int{2, 3, 4, 5, 6, 10, 12, 15, 20, 60} {
		f := newCFFT[C](n)
		for _, st := range f.stages {
			for _, s := range []int{1, 2, 4, 6, 8, 12, 18, 24} {
				size := st.n * s
				x := make([]C, size)
				for i := range x {
					x[i] = C(complex(r.Float64()*2-1, r.Float64()*2-1))
				}
				guard := C(complex(math.NaN(), math.NaN()))
				got := make([]C, size+3)
				for i := range got {
					got[i] = guard
				}
				want := make([]C, size)
				fftPass(&st, x, got, s)
				st.pass(x, want, s)
				for i, w := range want {
					if cmplx.Abs(complex128(got[i]-w)) > roundoff[C]()*float64(st.p) {
						t.Fatalf("radix %d, n %d, s %d: element %d = %v, want %v", st.p, st.n, s, i, got[i], w)
					}
				}
				for i, v := range got[size:] {
					if !cmplx.IsNaN(complex128(v)) {
						t.Fatalf("radix %d, n %d, s %d: wrote %v past the output at %d", st.p, st.n, s, v, size+i)
					}
				}
			}
		}
	}
}

// accumulate (SIMD where the CPU has it) matches the plain product on
// every length, stores or adds as asked, and writes nothing past acc.
func TestAccumulateMatchesTheProduct(t *testing.T) {
	t.Run("complex=128", testAccumulate[complex128])
	t.Run("complex=64", testAccumulate[complex64])
}

func testAccumulate[C Complex](t *testing.T) {
	r := rand.New(rand.NewPCG(97, 98))
	rnd := func(n int) []C {
		v := make([]C, n)
		for i := range v {
			v[i] = C(complex(r.Float64()*2-1, r.Float64()*2-1))
		}
		return v
	}
	tol := 1e-15
	if precision[C]() > 1e-12 {
		tol = 1e-6
	}
	for n := range 27 {
		for _, first := range []bool{true, false} {
			x, k, acc0 := rnd(n), rnd(n), rnd(n)
			guard := C(complex(math.NaN(), math.NaN()))
			acc := append(append([]C(nil), acc0...), guard, guard)
			accumulate(acc[:n], x, k, first)
			for i := range n {
				want := cmplx.Conj(complex128(x[i])) * complex128(k[i])
				if !first {
					want += complex128(acc0[i])
				}
				if cmplx.Abs(complex128(acc[i])-want) > tol {
					t.Fatalf("accumulate(n=%d, first=%v)[%d] = %v, want %v", n, first, i, acc[i], want)
				}
			}
			if !cmplx.IsNaN(complex128(acc[n])) || !cmplx.IsNaN(complex128(acc[n+1])) {
				t.Fatalf("accumulate(n=%d, first=%v) wrote past acc: %v", n, first, acc[n:])
			}
		}
	}
}

// The real transforms' SIMD steps (a full batch of eight consecutive rows,
// with offsets) give what the portable steps give, and leave the rest of
// the spectrum alone.
func TestRFFTBatchStepsMatchThePortableSteps(t *testing.T) {
	t.Run("complex=128", testRFFTBatch[complex128])
	t.Run("complex=64", testRFFTBatch[complex64])
}

func testRFFTBatch[C Complex](t *testing.T) {
	r := rand.New(rand.NewPCG(99, 100))
	tol := 0.1 * precision[C]()
	for _, n := range []int{4, 6, 10, 16, 30, 48, 90} {
		f := newRFFT[C](n)
		for _, p := range []int{8, 12} {
			m := n / 2
			size := p * ((m + specBlock) / specBlock * specBlock)
			offs := specOffsets(p, m)
			rows := []int{2, 3, 4, 5, 6, 7, 8, 9}
			if p == 8 {
				rows = []int{0, 1, 2, 3, 4, 5, 6, 7}
			}
			z := make([]C, m*specBlock)
			for i := range z {
				z[i] = C(complex(r.Float64()*2-1, r.Float64()*2-1))
			}
			work := make([]C, m*specBlock)
			got, want := make([]C, size), make([]C, size)
			guard := C(complex(math.NaN(), 0))
			for i := range got {
				got[i], want[i] = guard, guard
			}
			f.forward(got, p, rows, slices.Clone(z), work, specBlock, offs)
			f.forward(want, p, rows, slices.Clone(z), work, specBlock, nil)
			for i := range want {
				g, w := complex128(got[i]), complex128(want[i])
				if cmplx.IsNaN(w) != cmplx.IsNaN(g) || cmplx.Abs(g-w) > tol*float64(n) {
					t.Fatalf("n=%d p=%d forward: spectrum cell %d = %v, want %v", n, p, i, g, w)
				}
			}
			spec := make([]C, size)
			for i := range spec {
				spec[i] = C(complex(r.Float64()*2-1, r.Float64()*2-1))
			}
			zg, zw := make([]C, len(z)), make([]C, len(z))
			f.inverse(zg, work, spec, p, rows, specBlock, offs)
			f.inverse(zw, work, spec, p, rows, specBlock, nil)
			for i := range zw {
				if cmplx.Abs(complex128(zg[i]-zw[i])) > tol*float64(n) {
					t.Fatalf("n=%d p=%d inverse: packed cell %d = %v, want %v", n, p, i, zg[i], zw[i])
				}
			}
		}
	}
}

// packReal (whose pairs of cells go through the SIMD step where the CPU has
// it) packs every row length into its sequence of a batch of eight, with
// the cells past the row zero, and touches no other sequence.
func TestPackRealPacksEveryLength(t *testing.T) {
	t.Run("dtype=float32/complex=64", testPackReal[float32, complex64])
	t.Run("dtype=float32/complex=128", testPackReal[float32, complex128])
	t.Run("dtype=float64/complex=128", testPackReal[float64, complex128])
}

func testPackReal[T Float, C Complex](t *testing.T) {
	r := rand.New(rand.NewPCG(101, 102))
	for _, n := range []int{2, 4, 6, 8, 10, 16, 30} {
		for size := 0; size <= n+3; size++ {
			src := make([]T, size)
			for i := range src {
				src[i] = T(r.Float64()*2 - 1)
			}
			for _, c := range []int{0, 3, 7} {
				guard := C(complex(math.NaN(), 0))
				z := make([]C, n/2*specBlock)
				for i := range z {
					z[i] = guard
				}
				packReal(z, specBlock, c, src, n)
				for i, v := range z {
					j, seq := i/specBlock, i%specBlock
					want := guard
					if seq == c {
						want = C(complex(cell(src, 2*j, n), cell(src, 2*j+1, n)))
					}
					if bothNaN := cmplx.IsNaN(complex128(v)) && cmplx.IsNaN(complex128(want)); v != want && !bothNaN {
						t.Fatalf("n=%d, %d values, sequence %d: cell %d = %v, want %v", n, size, c, i, v, want)
					}
				}
			}
		}
	}
}

// cell is src[i] as a float64, or zero past the row or past n.
func cell[T Float](src []T, i, n int) float64 {
	if i >= len(src) || i >= n {
		return 0
	}
	return float64(src[i])
}

// simdUnpack stores exactly what inverseRows' loop stores (the same
// rounding), on the eight rows and the columns asked, and nothing else:
// guard values between and after the rows stay.
func TestUnpackMatchesTheLoop(t *testing.T) {
	t.Run("dtype=float32/complex=64", testUnpack[float32, complex64])
	t.Run("dtype=float32/complex=128", testUnpack[float32, complex128])
	t.Run("dtype=float64/complex=128", testUnpack[float64, complex128])
}

func testUnpack[T Float, C Complex](t *testing.T) {
	r := rand.New(rand.NewPCG(103, 104))
	for _, cells := range []int{1, 2, 3, 7, 16} {
		z := make([]C, specBlock*cells)
		for i := range z {
			z[i] = C(complex(r.Float64()*2000-1000, r.Float64()*2000-1000))
		}
		ld := 2*cells + 3
		const guard = -7777
		dst := make([]T, specBlock*ld)
		for i := range dst {
			dst[i] = guard
		}
		scale, bias := 1/float64(3*cells+5), T(0.375)
		done := simdUnpack(dst, ld, z, cells, scale, bias)
		if done != 0 && done != cells {
			t.Fatalf("cells=%d: simdUnpack stored %d cells, want all or none", cells, done)
		}
		for i, v := range dst {
			c, k := i/ld, i%ld
			want := T(guard)
			if k < 2*done {
				v := complex128(z[k/2*specBlock+c])
				want = T(real(v)*scale) + bias
				if k%2 == 1 {
					want = T(-imag(v)*scale) + bias
				}
			}
			if dst[i] != want {
				t.Fatalf("cells=%d: row %d column %d = %v, want %v", cells, c, k, v, want)
			}
		}
	}
}
