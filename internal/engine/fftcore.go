package engine

import (
	"math"
	"math/cmplx"
	"unsafe"
)

// Complex is the element type of the FFT path's transforms and spectra:
// complex64 for float32 requests, complex128 for float64 ones (see fft.go).
type Complex interface{ complex64 | complex128 }

// spreadLen is the number of elements of C that one spread twiddle takes
// (see spread): 64 bytes, one pair of SIMD registers.
func spreadLen[C Complex]() int {
	var z C
	return 64 / int(unsafe.Sizeof(z))
}

// conj returns the complex conjugate of v.
func conj[C Complex](v C) C {
	z := complex128(v)
	return C(complex(real(z), -imag(z)))
}

// minusI returns -i·v.
func minusI[C Complex](v C) C {
	z := complex128(v)
	return C(complex(imag(z), -real(z)))
}

// cfft transforms complex sequences of one length n whose only prime
// factors are 2, 3 and 5, with a self-sorting (Stockham) mixed-radix
// algorithm: each stage takes radix-4, 2, 3 or 5 butterflies from one
// buffer to the other, with no bit-reversal pass. Forward transforms use
// e^{-2πi/n}; inverse ones are unnormalised (n times the inverse DFT).
//
// It transforms b sequences at once when they are interleaved (element j of
// sequence c at j·b + c): a stage over s interleaved sub-transforms of one
// sequence is then the same stage over s·b, so every butterfly loop runs
// over at least b contiguous elements with one twiddle, which is what the
// SIMD passes (see fftPass) need. A cfft is read-only once planned; the
// caller owns the work buffers. Its twiddles are computed in float64 and
// rounded to C once.
type cfft[C Complex] struct {
	n      int
	stages []fftStage[C]
}

// fftStage is one pass of radix p over sub-transforms of length n (= p·m);
// tw[q*(p-1) + t-1] is the twiddle e^{-2πi·q·t/n} for q < m, 0 < t < p, and
// twx holds the same twiddles spread for the SIMD passes (see spread).
type fftStage[C Complex] struct {
	p, n, m int
	tw      []C
	twx     []C
}

// newCFFT plans transforms of length n ≥ 1, which must be 2^a·3^b·5^c.
func newCFFT[C Complex](n int) *cfft[C] {
	f := &cfft[C]{n: n}
	sl := spreadLen[C]()
	for l := n; l > 1; {
		p := 0
		switch {
		case l%4 == 0:
			p = 4
		case l%2 == 0:
			p = 2
		case l%3 == 0:
			p = 3
		case l%5 == 0:
			p = 5
		default:
			panic("engine: FFT length with a prime factor above 5")
		}
		m := l / p
		st := fftStage[C]{p: p, n: l, m: m, tw: make([]C, m*(p-1)), twx: make([]C, sl*m*(p-1))}
		for q := range m {
			for t := 1; t < p; t++ {
				w := cmplx.Rect(1, -2*math.Pi*float64(q*t)/float64(l))
				i := q*(p-1) + t - 1
				st.tw[i] = C(w)
				spread(st.twx[sl*i:][:sl], w)
			}
		}
		f.stages = append(f.stages, st)
		l = m
	}
	return f
}

// batch replaces the b interleaved sequences in x (len n·b) with their
// DFTs; work is scratch of at least n·b elements.
func (f *cfft[C]) batch(x, work []C, b int) {
	x = x[:f.n*b]
	src, dst := x, work[:f.n*b]
	s := b // the number of interleaved sub-transforms
	for i := range f.stages {
		fftPass(&f.stages[i], src, dst, s)
		src, dst = dst, src
		s *= f.stages[i].p
	}
	if len(f.stages)%2 == 1 {
		copy(x, src)
	}
}

// forward replaces x (len n) with its DFT.
func (f *cfft[C]) forward(x []C) {
	f.batch(x, make([]C, f.n), 1)
}

// inverse replaces x (len n) with n times its inverse DFT.
func (f *cfft[C]) inverse(x []C) {
	x = x[:f.n]
	conjugate(x)
	f.forward(x)
	conjugate(x)
}

func conjugate[C Complex](x []C) {
	for i, v := range x {
		x[i] = conj(v)
	}
}

// pass runs one stage from x to y over s interleaved sequences:
// y[k + s·(p·q + t)] = w^{q·t} Σ_r x[k + s·(q + r·m)] e^{-2πi·r·t/p}.
// It is the portable pass; fftPass picks a SIMD one where there is one.
func (st *fftStage[C]) pass(x, y []C, s int) {
	m := st.m
	switch st.p {
	case 4:
		for q := range m {
			w1, w2, w3 := st.tw[3*q], st.tw[3*q+1], st.tw[3*q+2]
			x0, x1, x2, x3 := x[s*q:][:s], x[s*(q+m):][:s], x[s*(q+2*m):][:s], x[s*(q+3*m):][:s]
			y0, y1, y2, y3 := y[s*4*q:][:s], y[s*(4*q+1):][:s], y[s*(4*q+2):][:s], y[s*(4*q+3):][:s]
			for k := range x0 {
				a0, a1, a2, a3 := x0[k], x1[k], x2[k], x3[k]
				b0, b1 := a0+a2, a0-a2
				b2, b3 := a1+a3, a1-a3
				b3 = minusI(b3)
				y0[k] = b0 + b2
				y1[k] = (b1 + b3) * w1
				y2[k] = (b0 - b2) * w2
				y3[k] = (b1 - b3) * w3
			}
		}
	case 2:
		for q := range m {
			w1 := st.tw[q]
			x0, x1 := x[s*q:][:s], x[s*(q+m):][:s]
			y0, y1 := y[s*2*q:][:s], y[s*(2*q+1):][:s]
			for k := range x0 {
				a0, a1 := x0[k], x1[k]
				y0[k] = a0 + a1
				y1[k] = (a0 - a1) * w1
			}
		}
	case 3:
		// e^{-2πi/3} = -1/2 - i·√3/2.
		const h = 0.8660254037844386
		for q := range m {
			w1, w2 := st.tw[2*q], st.tw[2*q+1]
			x0, x1, x2 := x[s*q:][:s], x[s*(q+m):][:s], x[s*(q+2*m):][:s]
			y0, y1, y2 := y[s*3*q:][:s], y[s*(3*q+1):][:s], y[s*(3*q+2):][:s]
			for k := range x0 {
				a0, a1, a2 := x0[k], x1[k], x2[k]
				sum, dif := a1+a2, a1-a2
				c := a0 - sum*0.5
				d := minusI(dif) * h // -i·(√3/2)·(a1-a2)
				y0[k] = a0 + sum
				y1[k] = (c + d) * w1
				y2[k] = (c - d) * w2
			}
		}
	case 5:
		c1, s1 := C(complex(math.Cos(2*math.Pi/5), 0)), C(complex(math.Sin(2*math.Pi/5), 0))
		c2, s2 := C(complex(math.Cos(4*math.Pi/5), 0)), C(complex(math.Sin(4*math.Pi/5), 0))
		for q := range m {
			tw := st.tw[4*q : 4*q+4]
			x0, x1, x2, x3, x4 := x[s*q:][:s], x[s*(q+m):][:s], x[s*(q+2*m):][:s], x[s*(q+3*m):][:s], x[s*(q+4*m):][:s]
			y0, y1, y2, y3, y4 := y[s*5*q:][:s], y[s*(5*q+1):][:s], y[s*(5*q+2):][:s], y[s*(5*q+3):][:s], y[s*(5*q+4):][:s]
			for k := range x0 {
				a0, a1, a2, a3, a4 := x0[k], x1[k], x2[k], x3[k], x4[k]
				p1, m1 := a1+a4, a1-a4
				p2, m2 := a2+a3, a2-a3
				r1 := a0 + c1*p1 + c2*p2
				r2 := a0 + c2*p1 + c1*p2
				// -i·(s1·m1 + s2·m2) and -i·(s2·m1 - s1·m2)
				i1 := minusI(s1*m1 + s2*m2)
				i2 := minusI(s2*m1 - s1*m2)
				y0[k] = a0 + p1 + p2
				y1[k] = (r1 + i1) * tw[0]
				y2[k] = (r2 + i2) * tw[1]
				y3[k] = (r2 - i2) * tw[2]
				y4[k] = (r1 - i1) * tw[3]
			}
		}
	}
}

// rfft transforms real sequences of an even length n (n/2 a 2-3-5 number)
// through a complex transform of half the length: the even and odd cells
// as the real and imaginary parts, separated afterwards. Like cfft it works
// on b sequences at once, interleaved in a packed buffer z of n/2·b
// elements; the half spectra go to (or come from) a spectrum stored in
// blocks of eight coefficients (see specAt), where the b sequences are rows
// of it.
type rfft[C Complex] struct {
	n    int
	half *cfft[C]
	w    []C // e^{-2πi·k/n}, k ≤ n/2
	// wx and wxc hold w and its conjugate spread for the SIMD steps, like
	// fftStage.twx.
	wx, wxc []C
}

func newRFFT[C Complex](n int) *rfft[C] {
	f := &rfft[C]{n: n, half: newCFFT[C](n / 2), w: make([]C, n/2+1)}
	sl := spreadLen[C]()
	f.wx, f.wxc = make([]C, sl*len(f.w)), make([]C, sl*len(f.w))
	for k := range f.w {
		w := cmplx.Rect(1, -2*math.Pi*float64(k)/float64(n))
		f.w[k] = C(w)
		spread(f.wx[sl*k:][:sl], w)
		spread(f.wxc[sl*k:][:sl], cmplx.Conj(w))
	}
	return f
}

// spread writes w in dst (spreadLen elements) as the SIMD steps take it, a
// register of copies of the real part, then one of the imaginary part
// negated and not: as float64s (re, re, re, re, -im, im, -im, im) for
// complex128, as float32s eight copies of re, then (-im, im) four times.
func spread[C Complex](dst []C, w complex128) {
	h := len(dst) / 2
	for i := range h {
		dst[i] = C(complex(real(w), real(w)))
		dst[h+i] = C(complex(-imag(w), imag(w)))
	}
}

// specOffsets returns specAt(p, 0, k) for k ≤ m: where each coefficient of
// row 0 of a spectrum of p rows lives.
func specOffsets(p, m int) []int {
	offs := make([]int, m+1)
	for k := range offs {
		offs[k] = specAt(p, 0, k)
	}
	return offs
}

// simdRows says whether the SIMD steps of rfft.forward and rfft.inverse
// can take rows: a full batch of consecutive rows.
func simdRows(rows []int, b int) bool {
	return b == specBlock && len(rows) == b && rows[b-1]-rows[0] == b-1
}

// specBlock is the width of the column blocks of a stored spectrum.
const specBlock = 8

// specAt is the offset of row r, coefficient k of a spectrum of p rows
// stored in blocks of specBlock coefficients: each block holds its
// coefficients of every row, row after row, so that the column transforms
// run on a contiguous p×specBlock block and the row transforms write
// specBlock values per row. With p = 1 it is the plain order, k.
func specAt(p, r, k int) int {
	return (k/specBlock)*p*specBlock + r*specBlock + k%specBlock
}

// pack sets sequence c of the packed buffer z (b interleaved sequences) to
// the real sequence src, zero-extended to n: cell 2j is the real part of
// element j, cell 2j+1 the imaginary part.
func packReal[T Float, C Complex](z []C, b, c int, src []T, n int) {
	src = src[:min(len(src), n)]
	j := 0
	if b == specBlock {
		j = simdPack(z, c, src)
	}
	for ; 2*j+1 < len(src); j++ {
		z[j*b+c] = C(complex(float64(src[2*j]), float64(src[2*j+1])))
	}
	if 2*j < len(src) {
		z[j*b+c] = C(complex(float64(src[2*j]), 0))
		j++
	}
	for ; j < n/2; j++ {
		z[j*b+c] = 0
	}
}

// forward transforms the packed sequences in z (b interleaved, work as
// scratch) and writes the coefficients k ≤ n/2 of sequence c to row
// rows[c] of spec, a spectrum of p rows (see specAt) whose offsets offs
// (from specOffsets, or nil) lets a full batch of rows take the SIMD step.
func (f *rfft[C]) forward(spec []C, p int, rows []int, z, work []C, b int, offs []int) {
	m := f.n / 2
	f.half.batch(z, work, b)
	if offs != nil && simdRows(rows, b) && m > 1 && simdSplit(spec[rows[0]*specBlock:], z, offs, f.wx, m) {
		f.split(spec, p, rows, z, b, 0, 1)
		f.split(spec, p, rows, z, b, m, m+1)
		return
	}
	f.split(spec, p, rows, z, b, 0, m+1)
}

// split is the last step of forward, for coefficients k0 ≤ k < k1.
func (f *rfft[C]) split(spec []C, p int, rows []int, z []C, b, k0, k1 int) {
	m := f.n / 2
	for k := k0; k < k1; k++ {
		za, zb := z[(k%m)*b:][:b], z[((m-k)%m)*b:][:b]
		w := f.w[k]
		base := specAt(p, 0, k)
		for c, r := range rows {
			a, bb := za[c], conj(zb[c])
			e, o := (a+bb)*0.5, (a-bb)*complex(0, -0.5) // E[k], O[k]
			spec[base+r*specBlock] = e + w*o
		}
	}
}

// inverse sets sequence c of z to n times the inverse DFT of the half
// spectrum on row rows[c] of spec (p rows, see specAt), whose values are
// stored conjugated; the real sequence is the real parts of z and the
// negated imaginary parts (see unpackReal). work is scratch; offs is as for
// forward.
func (f *rfft[C]) inverse(z, work []C, spec []C, p int, rows []int, b int, offs []int) {
	m := f.n / 2
	if offs == nil || !simdRows(rows, b) || !simdJoin(z, spec[rows[0]*specBlock:], offs, f.wxc, m) {
		f.join(z, spec, p, rows, b)
	}
	f.half.batch(z, work, b)
}

// join is the first step of inverse.
func (f *rfft[C]) join(z, spec []C, p int, rows []int, b int) {
	m := f.n / 2
	for k := range m {
		za, zb := specAt(p, 0, k), specAt(p, 0, m-k)
		w := conj(f.w[k])
		dst := z[k*b:][:b]
		for c, r := range rows {
			a, bb := conj(spec[za+r*specBlock]), spec[zb+r*specBlock]
			e, o := a+bb, (a-bb)*w // 2E[k], 2O[k]
			v := e - minusI(o)     // 2E + i·2O
			// The forward transform of the conjugate is the conjugate of
			// the inverse transform.
			dst[c] = conj(v)
		}
	}
}

// unpackReal returns cell i of sequence c of z after rfft.inverse.
func unpackReal[C Complex](z []C, b, c, i int) float64 {
	v := complex128(z[(i/2)*b+c])
	if i%2 == 0 {
		return real(v)
	}
	return -imag(v)
}

// coefficients sets dst[k], k ≤ n/2, to the DFT of the real sequence src
// (len n): one sequence through the batched forward.
func (f *rfft[C]) coefficients(dst []C, src []float64) {
	z := make([]C, f.n/2)
	packReal(z, 1, 0, src, f.n)
	f.forward(dst, 1, []int{0}, z, make([]C, f.n/2), 1, nil)
}

// sequence sets dst (len n) to n times the inverse DFT of the half
// spectrum src[k], k ≤ n/2, of a real sequence.
func (f *rfft[C]) sequence(dst []float64, src []C) {
	spec := make([]C, len(src))
	for k, v := range src {
		spec[k] = conj(v)
	}
	z := make([]C, f.n/2)
	f.inverse(z, make([]C, f.n/2), spec, 1, []int{0}, 1, nil)
	for i := range dst[:f.n] {
		dst[i] = unpackReal(z, 1, 0, i)
	}
}
