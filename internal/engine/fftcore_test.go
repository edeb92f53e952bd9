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

// The transforms match the defining sums, forward and inverse, for every
// 2-3-5 length up to 400, within 1e-12 of the sequence's norm.
func TestCFFTMatchesTheDFT(t *testing.T) {
	r := rand.New(rand.NewPCG(91, 92))
	for _, n := range smooth(400) {
		x := make([]complex128, n)
		norm := 0.0
		for i := range x {
			x[i] = complex(r.Float64()*2-1, r.Float64()*2-1)
			norm += cmplx.Abs(x[i])
		}
		f := newCFFT(n)
		for _, sign := range []float64{-1, 1} {
			got := append([]complex128(nil), x...)
			if sign < 0 {
				f.forward(got)
			} else {
				f.inverse(got)
			}
			want := naiveDFT(x, sign)
			for k := range want {
				if cmplx.Abs(got[k]-want[k]) > 1e-12*norm {
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
		f := newRFFT(n)
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

// FuzzFFT runs both transforms on lengths and values from the fuzzer's
// bytes against the defining sums: the complex one forward and inverse,
// the real one there and back.
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
		x := make([]complex128, n)
		norm := 1.0
		for i := range x {
			x[i] = complex(val(2*i), val(2*i+1))
			norm += cmplx.Abs(x[i])
		}
		c := newCFFT(n)
		got := append([]complex128(nil), x...)
		c.forward(got)
		for k, w := range naiveDFT(x, -1) {
			if cmplx.Abs(got[k]-w) > 1e-12*norm {
				t.Fatalf("n=%d forward: element %d = %v, want %v", n, k, got[k], w)
			}
		}
		got = append(got[:0], x...)
		c.inverse(got)
		for k, w := range naiveDFT(x, 1) {
			if cmplx.Abs(got[k]-w) > 1e-12*norm {
				t.Fatalf("n=%d inverse: element %d = %v, want %v", n, k, got[k], w)
			}
		}
		rn := fftRowSize(n)
		re := make([]float64, rn)
		cre := make([]complex128, rn)
		for i := range re {
			re[i] = val(i)
			cre[i] = complex(re[i], 0)
		}
		r := newRFFT(rn)
		spec := make([]complex128, rn/2+1)
		r.coefficients(spec, re)
		for k, w := range naiveDFT(cre, -1)[:rn/2+1] {
			if cmplx.Abs(spec[k]-w) > 1e-12*norm*2 {
				t.Fatalf("n=%d real: coefficient %d = %v, want %v", rn, k, spec[k], w)
			}
		}
		back := make([]float64, rn)
		r.sequence(back, spec)
		for j, v := range back {
			if math.Abs(v-float64(rn)*re[j]) > 1e-11*norm*float64(rn) {
				t.Fatalf("n=%d real: sequence %d = %v, want %v", rn, j, v, float64(rn)*re[j])
			}
		}
	})
}

// The pass fftPass picks (SIMD where the CPU has it) matches the portable
// pass for every radix and run length, and writes nothing past its output:
// the cells after it hold NaN guards before and after.
func TestFFTPassesMatchThePortablePass(t *testing.T) {
	r := rand.New(rand.NewPCG(95, 96))
	for _, n := range []int{2, 3, 4, 5, 6, 10, 12, 15, 20, 60} {
		f := newCFFT(n)
		for _, st := range f.stages {
			for _, s := range []int{1, 2, 4, 6, 8, 18} {
				size := st.n * s
				x := make([]complex128, size)
				for i := range x {
					x[i] = complex(r.Float64()*2-1, r.Float64()*2-1)
				}
				guard := complex(math.NaN(), math.NaN())
				got := make([]complex128, size+3)
				for i := range got {
					got[i] = guard
				}
				want := make([]complex128, size)
				fftPass(&st, x, got, s)
				st.pass(x, want, s)
				for i, w := range want {
					if cmplx.Abs(got[i]-w) > 1e-14*float64(st.p) {
						t.Fatalf("radix %d, n %d, s %d: element %d = %v, want %v", st.p, st.n, s, i, got[i], w)
					}
				}
				for i, v := range got[size:] {
					if !cmplx.IsNaN(v) {
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
	r := rand.New(rand.NewPCG(97, 98))
	rnd := func(n int) []complex128 {
		v := make([]complex128, n)
		for i := range v {
			v[i] = complex(r.Float64()*2-1, r.Float64()*2-1)
		}
		return v
	}
	for n := range 27 {
		for _, first := range []bool{true, false} {
			x, k, acc0 := rnd(n), rnd(n), rnd(n)
			guard := complex(math.NaN(), math.NaN())
			acc := append(append([]complex128(nil), acc0...), guard, guard)
			accumulate(acc[:n], x, k, first)
			for i := range n {
				want := complex(real(x[i]), -imag(x[i])) * k[i]
				if !first {
					want += acc0[i]
				}
				if cmplx.Abs(acc[i]-want) > 1e-15 {
					t.Fatalf("accumulate(n=%d, first=%v)[%d] = %v, want %v", n, first, i, acc[i], want)
				}
			}
			if !cmplx.IsNaN(acc[n]) || !cmplx.IsNaN(acc[n+1]) {
				t.Fatalf("accumulate(n=%d, first=%v) wrote past acc: %v", n, first, acc[n:])
			}
		}
	}
}

// The real transforms' SIMD steps (a full batch of eight consecutive rows,
// with offsets) give what the portable steps give, and leave the rest of
// the spectrum alone.
func TestRFFTBatchStepsMatchThePortableSteps(t *testing.T) {
	r := rand.New(rand.NewPCG(99, 100))
	for _, n := range []int{4, 6, 10, 16, 30, 48, 90} {
		f := newRFFT(n)
		for _, p := range []int{8, 12} {
			m := n / 2
			size := p * ((m + specBlock) / specBlock * specBlock)
			offs := specOffsets(p, m)
			rows := []int{2, 3, 4, 5, 6, 7, 8, 9}
			if p == 8 {
				rows = []int{0, 1, 2, 3, 4, 5, 6, 7}
			}
			z := make([]complex128, m*specBlock)
			for i := range z {
				z[i] = complex(r.Float64()*2-1, r.Float64()*2-1)
			}
			work := make([]complex128, m*specBlock)
			got, want := make([]complex128, size), make([]complex128, size)
			guard := complex(math.NaN(), 0)
			for i := range got {
				got[i], want[i] = guard, guard
			}
			f.forward(got, p, rows, slices.Clone(z), work, specBlock, offs)
			f.forward(want, p, rows, slices.Clone(z), work, specBlock, nil)
			for i := range want {
				if cmplx.IsNaN(want[i]) != cmplx.IsNaN(got[i]) || cmplx.Abs(got[i]-want[i]) > 1e-13*float64(n) {
					t.Fatalf("n=%d p=%d forward: spectrum cell %d = %v, want %v", n, p, i, got[i], want[i])
				}
			}
			spec := make([]complex128, size)
			for i := range spec {
				spec[i] = complex(r.Float64()*2-1, r.Float64()*2-1)
			}
			zg, zw := make([]complex128, len(z)), make([]complex128, len(z))
			f.inverse(zg, work, spec, p, rows, specBlock, offs)
			f.inverse(zw, work, spec, p, rows, specBlock, nil)
			for i := range zw {
				if cmplx.Abs(zg[i]-zw[i]) > 1e-13*float64(n) {
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
	t.Run("dtype=float32", func(t *testing.T) { testPackReal[float32](t) })
	t.Run("dtype=float64", func(t *testing.T) { testPackReal[float64](t) })
}

func testPackReal[T Float](t *testing.T) {
	r := rand.New(rand.NewPCG(101, 102))
	for _, n := range []int{2, 4, 6, 8, 10, 16, 30} {
		for size := 0; size <= n+3; size++ {
			src := make([]T, size)
			for i := range src {
				src[i] = T(r.Float64()*2 - 1)
			}
			for _, c := range []int{0, 3, 7} {
				guard := complex(math.NaN(), 0)
				z := make([]complex128, n/2*specBlock)
				for i := range z {
					z[i] = guard
				}
				packReal(z, specBlock, c, src, n)
				for i, v := range z {
					j, seq := i/specBlock, i%specBlock
					want := guard
					if seq == c {
						want = complex(cell(src, 2*j, n), cell(src, 2*j+1, n))
					}
					if bothNaN := cmplx.IsNaN(v) && cmplx.IsNaN(want); v != want && !bothNaN {
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
	t.Run("dtype=float32", func(t *testing.T) { testUnpack[float32](t) })
	t.Run("dtype=float64", func(t *testing.T) { testUnpack[float64](t) })
}

func testUnpack[T Float](t *testing.T) {
	r := rand.New(rand.NewPCG(103, 104))
	for _, cells := range []int{1, 2, 3, 7, 16} {
		z := make([]complex128, specBlock*cells)
		for i := range z {
			z[i] = complex(r.Float64()*2000-1000, r.Float64()*2000-1000)
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
				v := z[k/2*specBlock+c]
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
