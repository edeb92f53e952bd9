package engine

import (
	"context"
	"math"
)

// The FFT path computes each output plane as the inverse transform of
// Σ_c X_c·conj(K_oc), where X_c is the 2-D DFT of a padded input plane and
// K_oc that of the (dilated) kernel, both zero-extended to P×Q. With
// P ≥ hn and Q ≥ wn (the padded input the outputs read), the circular
// correlation equals the linear one on every stride-1 output, and the
// strided outputs are taken from those. It computes in float64 whatever T is
// and rounds the result to T once, so float32 results are at least as
// accurate as the direct path's, but the sum is not the reference's ordered
// one: the error is of order 1e-15 times the plane's largest Σ|terms|, not
// each element's own.

// fftSize returns the smallest n' ≥ n whose only prime factors are 2, 3 and
// 5, the lengths the transforms of fftcore.go take.
func fftSize(n int) int {
	for m := n; ; m++ {
		r := m
		for _, p := range []int{2, 3, 5} {
			for r%p == 0 {
				r /= p
			}
		}
		if r == 1 {
			return m
		}
	}
}

// fftPlan is what both rounds of a Conv2D request on the FFT path share:
// the geometry, the transform size and the spectra.
type fftPlan[T Float] struct {
	x     padded[T] // sw == 1 layout
	hn    int
	wn    int
	w     []T // O×Cg×kh×kw, already flipped for a convolution
	kh    int
	kw    int
	dh    int
	dw    int
	n, c  int
	cg    int
	o, og int
	ho    int
	wo    int
	sh    int
	sw    int
	p, q  int // transform size
	nc    int // q/2+1 coefficients per transformed row
	xs    []complex128
	ks    []complex128 // conjugated
	bias  []T
	out   []T
}

// fftForward is the first round: its units are the N·C input planes, then
// the O·Cg kernels, each transformed into its spectrum.
type fftForward[T Float] struct{ *fftPlan[T] }

// fftInverse is the second round: its units are the N·O output planes, each
// the inverse transform of a sum of spectrum products.
type fftInverse[T Float] struct{ *fftPlan[T] }

// transforms are one band's transforms (see fftcore.go): they keep work
// buffers, so each band makes its own.
type transforms struct {
	row *rfft
	col *cfft
	rb  []float64
	cb  []complex128
}

func (j *fftPlan[T]) transforms() *transforms {
	return &transforms{
		row: newRFFT(j.q), col: newCFFT(j.p),
		rb: make([]float64, j.q), cb: make([]complex128, j.p),
	}
}

func (j fftForward[T]) units(ctx context.Context, lo, hi int) error {
	done := ctx.Done()
	pl := j.transforms()
	planes := j.n * j.c
	for u := lo; u < hi; u++ {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		if u < planes {
			j.forwardInput(pl, u)
		} else {
			j.forwardKernel(pl, u-planes)
		}
	}
	return nil
}

func (j fftInverse[T]) units(ctx context.Context, lo, hi int) error {
	done := ctx.Done()
	pl := j.transforms()
	acc := make([]complex128, j.p*j.nc)
	for u := lo; u < hi; u++ {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		j.output(pl, acc, u)
	}
	return nil
}

// forwardInput transforms input plane u (n*C + c) into xs.
func (j *fftPlan[T]) forwardInput(pl *transforms, u int) {
	spec := j.xs[u*j.p*j.nc : (u+1)*j.p*j.nc]
	src := j.x.data[u*j.x.plane:]
	for r := range j.hn {
		row := src[r*j.x.ld:][:j.wn]
		for i, v := range row {
			pl.rb[i] = float64(v)
		}
		clear(pl.rb[j.wn:])
		pl.row.coefficients(spec[r*j.nc:(r+1)*j.nc], pl.rb)
	}
	clear(spec[j.hn*j.nc:])
	j.columns(pl, spec, false)
}

// forwardKernel transforms kernel u (o*Cg + c), dilated, into ks, conjugated
// so that the product with xs is a correlation.
func (j *fftPlan[T]) forwardKernel(pl *transforms, u int) {
	spec := j.ks[u*j.p*j.nc : (u+1)*j.p*j.nc]
	clear(spec)
	k := j.w[u*j.kh*j.kw : (u+1)*j.kh*j.kw]
	for a := range j.kh {
		clear(pl.rb)
		for b := range j.kw {
			pl.rb[b*j.dw] = float64(k[a*j.kw+b])
		}
		pl.row.coefficients(spec[a*j.dh*j.nc:(a*j.dh+1)*j.nc], pl.rb)
	}
	j.columns(pl, spec, false)
	for i, v := range spec {
		spec[i] = complex(real(v), -imag(v))
	}
}

// columns transforms every column of the p×nc spectrum in place, forward or
// inverse (unnormalised).
func (j *fftPlan[T]) columns(pl *transforms, spec []complex128, inverse bool) {
	for q := range j.nc {
		for r := range j.p {
			pl.cb[r] = spec[r*j.nc+q]
		}
		if inverse {
			pl.col.inverse(pl.cb)
		} else {
			pl.col.forward(pl.cb)
		}
		for r := range j.p {
			spec[r*j.nc+q] = pl.cb[r]
		}
	}
}

// output computes output plane u (n*O + o).
func (j *fftPlan[T]) output(pl *transforms, acc []complex128, u int) {
	n, o := u/j.o, u%j.o
	g := o / j.og
	clear(acc)
	size := j.p * j.nc
	for c := range j.cg {
		xs := j.xs[(n*j.c+g*j.cg+c)*size:][:size]
		ks := j.ks[(o*j.cg+c)*size:][:size]
		for i, v := range xs {
			acc[i] += v * ks[i]
		}
	}
	j.columns(pl, acc, true)
	scale := 1 / float64(j.p*j.q)
	out := j.out[u*j.ho*j.wo : (u+1)*j.ho*j.wo]
	for i := range j.ho {
		pl.row.sequence(pl.rb, acc[i*j.sh*j.nc:(i*j.sh+1)*j.nc])
		d := out[i*j.wo : (i+1)*j.wo]
		for jj := range d {
			d[jj] = T(pl.rb[jj*j.sw] * scale)
		}
		if j.bias != nil {
			addScalar(d, j.bias[o])
		}
	}
}

// conv2dFFT runs a validated Conv2D request on the FFT path.
func conv2dFFT[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv) (Tensor[T], error) {
	// The transforms read the padded input in the ordinary layout,
	// whatever the column stride.
	g1 := g
	g1.sw = 1
	perPlane := int(fftPlaneWork(fftSize(g.hn), fftSize(g.wn)))
	xp, release, err := padOnPool(ctx, e, p, x, g1, c, float64(g.in[0]*g.in[1])*float64(perPlane))
	if err != nil {
		return Tensor[T]{}, err
	}
	defer release()
	O, cg, kh, kw := g.w[0], g.w[1], g.w[2], g.w[3]
	P, Q := fftSize(g.hn), fftRowSize(g.wn)
	nc := Q/2 + 1
	j := &fftPlan[T]{
		x: xp, hn: g.hn, wn: g.wn,
		w: w.Data, kh: kh, kw: kw, dh: g.dh, dw: g.dw,
		n: g.in[0], c: g.in[1], cg: cg, o: O, og: O / g.groups,
		ho: g.out[2], wo: g.out[3], sh: g.sh, sw: g.sw,
		p: P, q: Q, nc: nc,
		bias: bias,
	}
	if c.Convolve {
		j.w = flipped(w)
	}
	j.xs = make([]complex128, j.n*j.c*P*nc)
	j.ks = make([]complex128, O*cg*P*nc)
	units := j.n*j.c + O*cg
	if err := e.run(ctx, p, fftForward[T]{j}, units, e.bands(units, 1, perPlane), float64(units)*float64(perPlane)); err != nil {
		return Tensor[T]{}, err
	}
	units = j.n * O
	j.out = result[T](e, units*j.ho*j.wo)
	if err := e.run(ctx, p, fftInverse[T]{j}, units, e.bands(units, 1, perPlane+cg*P*nc), float64(units)*float64(perPlane+cg*P*nc)); err != nil {
		return Tensor[T]{}, err
	}
	return Tensor[T]{Shape: g.out, Data: j.out}, nil
}

// fftPlaneWork is the approximate count of floating-point operations of one
// 2-D real transform of size P×Q.
func fftPlaneWork(P, Q int) float64 {
	n := float64(P) * float64(Q)
	return 2.5 * n * math.Log2(n)
}

// fftRowSize is the transform length of the rows, which the real
// transform needs even: the smallest even 2-3-5 length ≥ n.
func fftRowSize(n int) int { return 2 * fftSize((n+1)/2) }
