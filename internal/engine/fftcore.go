package engine

import (
	"math"
	"math/cmplx"
)

// cfft transforms complex sequences of one length n whose only prime
// factors are 2, 3 and 5, with a self-sorting (Stockham) mixed-radix
// algorithm: each stage takes radix-4, 2, 3 or 5 butterflies from one
// buffer to the other, with no bit-reversal pass. Forward transforms use
// e^{-2πi/n}; inverse ones are unnormalised (n times the inverse DFT). A
// cfft holds its own work buffer, so each band makes its own.
type cfft struct {
	n      int
	stages []fftStage
	work   []complex128
}

// fftStage is one pass of radix p over sub-transforms of length n (= p·m);
// tw[q*(p-1) + t-1] is the twiddle e^{-2πi·q·t/n} for q < m, 0 < t < p.
type fftStage struct {
	p, n, m int
	tw      []complex128
}

// newCFFT plans transforms of length n ≥ 1, which must be 2^a·3^b·5^c.
func newCFFT(n int) *cfft {
	f := &cfft{n: n, work: make([]complex128, n)}
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
		st := fftStage{p: p, n: l, m: m, tw: make([]complex128, m*(p-1))}
		for q := range m {
			for t := 1; t < p; t++ {
				st.tw[q*(p-1)+t-1] = cmplx.Rect(1, -2*math.Pi*float64(q*t)/float64(l))
			}
		}
		f.stages = append(f.stages, st)
		l = m
	}
	return f
}

// forward replaces x (len n) with its DFT.
func (f *cfft) forward(x []complex128) {
	x = x[:f.n]
	src, dst := x, f.work
	s := 1 // stride: the number of interleaved sub-transforms
	for _, st := range f.stages {
		st.pass(src, dst, s)
		src, dst = dst, src
		s *= st.p
	}
	if len(f.stages)%2 == 1 {
		copy(x, src)
	}
}

// inverse replaces x (len n) with n times its inverse DFT.
func (f *cfft) inverse(x []complex128) {
	x = x[:f.n]
	for i, v := range x {
		x[i] = complex(real(v), -imag(v))
	}
	f.forward(x)
	for i, v := range x {
		x[i] = complex(real(v), -imag(v))
	}
}

// pass runs one stage from x to y over s interleaved sequences:
// y[k + s·(p·q + t)] = w^{q·t} Σ_r x[k + s·(q + r·m)] e^{-2πi·r·t/p}.
func (st *fftStage) pass(x, y []complex128, s int) {
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
				b3 = complex(imag(b3), -real(b3)) // -i·(a1-a3)
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
				d := complex(h*imag(dif), -h*real(dif)) // -i·(√3/2)·(a1-a2)
				y0[k] = a0 + sum
				y1[k] = (c + d) * w1
				y2[k] = (c - d) * w2
			}
		}
	case 5:
		c1, s1 := math.Cos(2*math.Pi/5), math.Sin(2*math.Pi/5)
		c2, s2 := math.Cos(4*math.Pi/5), math.Sin(4*math.Pi/5)
		for q := range m {
			tw := st.tw[4*q : 4*q+4]
			x0, x1, x2, x3, x4 := x[s*q:][:s], x[s*(q+m):][:s], x[s*(q+2*m):][:s], x[s*(q+3*m):][:s], x[s*(q+4*m):][:s]
			y0, y1, y2, y3, y4 := y[s*5*q:][:s], y[s*(5*q+1):][:s], y[s*(5*q+2):][:s], y[s*(5*q+3):][:s], y[s*(5*q+4):][:s]
			for k := range x0 {
				a0, a1, a2, a3, a4 := x0[k], x1[k], x2[k], x3[k], x4[k]
				p1, m1 := a1+a4, a1-a4
				p2, m2 := a2+a3, a2-a3
				r1 := a0 + complex(c1, 0)*p1 + complex(c2, 0)*p2
				r2 := a0 + complex(c2, 0)*p1 + complex(c1, 0)*p2
				// -i·(s1·m1 + s2·m2) and -i·(s2·m1 - s1·m2)
				i1 := complex(s1, 0)*m1 + complex(s2, 0)*m2
				i2 := complex(s2, 0)*m1 - complex(s1, 0)*m2
				i1 = complex(imag(i1), -real(i1))
				i2 = complex(imag(i2), -real(i2))
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
// as the real and imaginary parts, separated afterwards.
type rfft struct {
	n    int
	half *cfft
	z    []complex128
	w    []complex128 // e^{-2πi·k/n}, k ≤ n/2
}

func newRFFT(n int) *rfft {
	f := &rfft{n: n, half: newCFFT(n / 2), z: make([]complex128, n/2), w: make([]complex128, n/2+1)}
	for k := range f.w {
		f.w[k] = cmplx.Rect(1, -2*math.Pi*float64(k)/float64(n))
	}
	return f
}

// coefficients sets dst[k], k ≤ n/2, to the DFT of the real sequence src
// (len n).
func (f *rfft) coefficients(dst []complex128, src []float64) {
	m := f.n / 2
	z := f.z
	for j := range z {
		z[j] = complex(src[2*j], src[2*j+1])
	}
	f.half.forward(z)
	dst = dst[:m+1]
	for k := 0; k <= m; k++ {
		a, b := z[k%m], z[(m-k)%m]
		b = complex(real(b), -imag(b))
		e, o := (a+b)*0.5, (a-b)*complex(0, -0.5) // E[k], O[k]
		dst[k] = e + f.w[k]*o
	}
}

// sequence sets dst (len n) to n times the inverse DFT of the half
// spectrum src[k], k ≤ n/2, of a real sequence.
func (f *rfft) sequence(dst []float64, src []complex128) {
	m := f.n / 2
	z := f.z
	for k := range m {
		a, b := src[k], src[m-k]
		b = complex(real(b), -imag(b))
		e, o := a+b, (a-b)*complex(real(f.w[k]), -imag(f.w[k])) // 2E[k], 2O[k]
		z[k] = e + complex(-imag(o), real(o))                   // 2E + i·2O
	}
	f.half.inverse(z)
	for j, v := range z {
		dst[2*j], dst[2*j+1] = real(v), imag(v)
	}
}
