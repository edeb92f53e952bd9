package engine

import (
	"context"
	"math"
	"slices"
	"unsafe"
)

// The FFT path computes the output in tiles by overlap-save: a tile of
// th×tw outputs reads a window of the padded input ((th-1)·sh + ekh rows by
// (tw-1)·sw + ekw columns, ekh×ekw the dilated kernel's extent), which fits
// in a transform of p×q. The inverse transform of Σ_c X_c·conj(K_oc), X_c
// the window's 2-D DFT and K_oc that of the (dilated) kernel zero-extended
// to p×q, is the circular correlation of the window with the kernel; it
// equals the linear one on the tile's outputs, whose taps do not wrap, and
// the strided outputs are taken from those. Memory is bounded by the tile,
// not the image: the kernels' spectra plus, per band, one spectrum per input
// channel and one accumulator.
//
// It computes float64 requests in complex128 transforms and float32 ones in
// complex64 (see fftComplex), which halves the memory the transforms move
// and doubles the lanes of their SIMD steps. The sum is not the reference's
// ordered one: the error is of order the element's epsilon times the
// tile's largest Σ|terms|, not each element's own (about 1e-15 in float64,
// 1e-7 in float32).

// fftSize returns the smallest n' ≥ n whose only prime factors are 2, 3 and
// 5, the lengths the transforms of fftcore.go take.
func fftSize(n int) int {
	for m := max(n, 1); ; m++ {
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

// fftRowSize is the transform length of the rows, which the real
// transform needs even: the smallest even 2-3-5 length ≥ n.
func fftRowSize(n int) int { return 2 * fftSize((n+1)/2) }

// fftTiling is a tile of th×tw outputs in transforms of p×q, ty×tx tiles
// in all.
type fftTiling struct {
	p, q   int
	th, tw int
	ty, tx int
}

// fftMaxTile caps a tile's transform side: past it the transforms leave
// the caches and tiles this large already waste little on overlap.
const fftMaxTile = 1024

// fftSpecBytes is the size of a spectrum above which the transforms run
// out of the second-level cache; fftTile charges tiles past it more.
const fftSpecBytes = 1 << 20

// spectrum is the number of coefficients a p×q spectrum stores (q/2+1 per
// row, rounded up to whole blocks).
func (t fftTiling) spectrum() int { return t.p * specCols(t.q) }

// specCols is the number of coefficients a spectrum stores per row for
// rows of q: q/2+1, rounded up to whole blocks.
func specCols(q int) int { return (q/2 + specBlock) / specBlock * specBlock }

// fftTile picks the tiling of g's outputs with the least predicted time, among
// transform sizes up to maxP on a side (any size that covers the whole
// output is allowed too), for elements of size bytes. It runs on every FFT
// and auto request, so each axis's candidates are worked out once and only
// their pairs are costed.
func fftTile(g geometry, maxP int, size uintptr) fftTiling {
	ekh, ekw := (g.w[2]-1)*g.dh+1, (g.w[3]-1)*g.dw+1
	// Up to twice the largest size needed, so that there is an even one
	// past ekw.
	sizes := smoothSizes(2 * max(ekh, ekw, maxP))
	rows := fftAxes(sizes, ekh, g.out[2], g.sh, maxP, false)
	cols := fftAxes(sizes, ekw, g.out[3], g.sw, maxP, true)
	// Thousands of pairs for a large output: the model's constants are
	// worked out once, and each pair costs a few multiplications.
	m := newTileModel(g, size)
	best, bestCost := fftTiling{}, math.Inf(1)
	for _, r := range rows {
		p := float64(r.size)
		for _, c := range cols {
			cost := m.cost(p, float64(c.size), float64(specCols(c.size)), float64(r.tiles)*float64(c.tiles), r.log+c.log)
			if cost < bestCost {
				best = fftTiling{p: r.size, q: c.size, th: r.per, tw: c.per, ty: r.tiles, tx: c.tiles}
				bestCost = cost
			}
		}
	}
	return best
}

// fftAxis is one candidate tiling of an axis: tiles of per outputs each in
// transforms of size, whose log2 is log.
type fftAxis struct {
	size, per, tiles int
	log              float64
}

// fftAxes lists the candidate tilings of an axis of out outputs with a
// kernel extent ek and a stride: for each transform size from sizes (even
// ones only if even) that fits the kernel, up to maxP or the first that
// covers the axis, the outputs spread evenly over the tiles needed and the
// transform shrunk to fit them.
func fftAxes(sizes []int, ek, out, stride, maxP int, even bool) []fftAxis {
	var axes []fftAxis
	for _, n := range sizes {
		if n < ek || (even && n%2 != 0) {
			continue
		}
		per := min(out, (n-ek)/stride+1)
		tiles := (out + per - 1) / per
		a := fftAxis{per: (out + tiles - 1) / tiles, tiles: tiles}
		i, _ := slices.BinarySearch(sizes, (a.per-1)*stride+ek)
		for even && sizes[i]%2 != 0 {
			i++
		}
		a.size = sizes[i]
		a.log = math.Log2(float64(a.size))
		axes = append(axes, a)
		if per == out || n >= maxP {
			break
		}
	}
	return axes
}

// smoothSizes returns the 2-3-5 numbers up to n, ascending.
func smoothSizes(top int) []int {
	var sizes []int
	for a := 1; a <= top; a *= 2 {
		for b := a; b <= top; b *= 3 {
			for c := b; c <= top; c *= 5 {
				sizes = append(sizes, c)
			}
		}
	}
	slices.Sort(sizes)
	return sizes
}

// fftTileCost predicts the FFT path's time with tiling t in nanoseconds of
// one worker (see cost.go) for elements of size bytes: per tile, N·C
// forward and N·O inverse transforms and N·O·Cg spectrum products; the
// kernels' O·Cg transforms once. Each transform also has a fixed cost,
// which keeps many channels off tiny tiles.
func fftTileCost(g geometry, t fftTiling, size uintptr) float64 {
	p, q := float64(t.p), float64(t.q)
	return newTileModel(g, size).cost(p, q, float64(specCols(t.q)), float64(t.ty)*float64(t.tx), math.Log2(p*q))
}

// tileModel holds what fftTileCost takes from the geometry: the kernels'
// transforms, the input and output planes per tile and the spectrum
// products per tile; and from the precision of the transforms, the bytes of
// a coefficient and the time per unit of work and per product.
type tileModel struct{ kernels, planes, products, coef, perWork, perCMAC float64 }

func newTileModel(g geometry, size uintptr) tileModel {
	N, C, O, cg := float64(g.in[0]), float64(g.in[1]), float64(g.w[0]), float64(g.w[1])
	m := tileModel{kernels: O * cg, planes: N * (C + O), products: N * O * cg, coef: 16, perWork: fftNsPerWork, perCMAC: fftNsPerCMAC}
	if size == 4 {
		m.coef, m.perWork, m.perCMAC = 8, fftNsPerWork32, fftNsPerCMAC32
	}
	return m
}

// cost is fftTileCost for transforms of p×q, whose spectra store cols
// coefficients a row, over tiles tiles, given log2(p·q).
func (m tileModel) cost(p, q, cols, tiles, log2n float64) float64 {
	spec := p * cols
	work := 2.5 * p * q * log2n * m.perWork
	if m.coef*spec > fftSpecBytes {
		work *= fftNsOutOfCache
	}
	work += fftNsPerPlane
	return fftNsPerCall + m.kernels*work + tiles*(m.planes*work+m.products*spec*m.perCMAC)
}

// elemSize is the size in bytes of T.
func elemSize[T Float]() uintptr {
	var z T
	return unsafe.Sizeof(z)
}

// fftPlaneWork is the approximate count of floating-point operations of one
// 2-D real transform of size P×Q.
func fftPlaneWork(P, Q int) float64 {
	n := float64(P) * float64(Q)
	return 2.5 * n * math.Log2(n)
}

// fftPlan is what both rounds of a Conv2D request on the FFT path share:
// the geometry, the tiling and the kernels' spectra.
type fftPlan[T Float, C Complex] struct {
	e     *Engine
	x     padded[T]  // the input, when it needs no padding
	pd    *padder[T] // or how to pad it, window by window (see window)
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
	t     fftTiling
	ks    []C // O·Cg spectra of t.spectrum() each
	bias  []T
	out   []T
	spare chan *tileScratch[T, C] // see tileScratch
}

// fftKernels is the first round: its units are the O·Cg kernels, each
// transformed into its spectrum.
type fftKernels[T Float, C Complex] struct{ *fftPlan[T, C] }

// fftTiles is the second round: its units are the N·ty·tx tiles of the
// output, each computed for every output channel.
type fftTiles[T Float, C Complex] struct{ *fftPlan[T, C] }

// transforms are one band's transforms (see fftcore.go) and buffers.
type transforms[C Complex] struct {
	row  *rfft[C]
	col  *cfft[C]
	z    []C // packed rows: q/2 × specBlock
	work []C // max(p, q/2) × specBlock
	rows []int
	offs []int // specOffsets(p, q/2)
}

// transforms returns a band's transforms, with buffers from the engine's
// recycler; the band hands them back with release.
func (j *fftPlan[T, C]) transforms() *transforms[C] {
	tr := &transforms[C]{
		z:    spectra[C](j.e, j.t.q/2*specBlock),
		work: spectra[C](j.e, max(j.t.p, j.t.q/2)*specBlock),
		rows: make([]int, 0, specBlock),
	}
	tr.row, tr.col, tr.offs = plans[C](&j.e.fftPlans, j.t.p, j.t.q)
	return tr
}

func (tr *transforms[C]) release(e *Engine) {
	releaseSpectra(e, tr.z)
	releaseSpectra(e, tr.work)
}

func (j fftKernels[T, C]) units(ctx context.Context, lo, hi int) error {
	done := ctx.Done()
	tr := j.transforms()
	defer tr.release(j.e)
	size := j.t.spectrum()
	row := make([]float64, j.t.q)
	for u := lo; u < hi; u++ {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		k := j.w[u*j.kh*j.kw : (u+1)*j.kh*j.kw]
		// Kernel row a is spectrum row a·dh; the rows between are zero.
		forward2D(tr, j.t, j.ks[u*size:(u+1)*size], (j.kh-1)*j.dh+1, func(r int) []float64 {
			clear(row)
			if r%j.dh == 0 {
				for b, v := range k[r/j.dh*j.kw : (r/j.dh+1)*j.kw] {
					row[b*j.dw] = float64(v)
				}
			}
			return row
		})
	}
	return nil
}

// tileScratch is what a band of the second round works in: its transforms,
// one spectrum per input channel, an accumulator and a row of a padded
// window. A band takes one left by a band that has finished (fftPlan.spare)
// before it makes its own, so a call makes about one per worker, not one
// per band.
type tileScratch[T Float, C Complex] struct {
	tr      *transforms[C]
	xs, acc []C
	row     []T
}

// releaseScratch hands the buffers of every tileScratch in spare back to
// the recycler, once no band runs.
func releaseScratch[T Float, C Complex](e *Engine, spare chan *tileScratch[T, C]) {
	for {
		select {
		case s := <-spare:
			s.tr.release(e)
			releaseSpectra(e, s.xs)
			releaseSpectra(e, s.acc)
		default:
			return
		}
	}
}

func (j fftTiles[T, C]) units(ctx context.Context, lo, hi int) error {
	var s *tileScratch[T, C]
	select {
	case s = <-j.spare:
	default:
		size := j.t.spectrum()
		s = &tileScratch[T, C]{tr: j.transforms(), xs: spectra[C](j.e, j.c*size), acc: spectra[C](j.e, size), row: make([]T, j.t.q)}
	}
	defer func() {
		select {
		case j.spare <- s:
		default:
		}
	}()
	return eachUnit(ctx, lo, hi, func(u int) { j.tile(s, u) })
}

// tile computes tile u (n·ty·tx + ty·tile row + tile column) of every
// output channel: the spectra of its window in each input channel, then
// one inverse transform per output channel.
func (j *fftPlan[T, C]) tile(s *tileScratch[T, C], u int) {
	tr, xs, acc := s.tr, s.xs, s.acc
	t := j.t
	size := t.spectrum()
	n, ti, tj := u/(t.ty*t.tx), u/t.tx%t.ty, u%t.tx
	r0, c0 := ti*t.th*j.sh, tj*t.tw*j.sw
	hr, wr := min(t.p, j.hn-r0), min(t.q, j.wn-c0)
	for c := range j.c {
		pl, spec := n*j.c+c, xs[c*size:(c+1)*size]
		if j.pd != nil {
			forward2D(tr, t, spec, hr, func(r int) []T {
				return j.pd.window(s.row, pl, r0+r, c0, wr)
			})
			continue
		}
		src := j.x.data[pl*j.x.plane+r0*j.x.ld+c0:]
		forward2D(tr, t, spec, hr, func(r int) []T {
			return src[r*j.x.ld:][:wr]
		})
	}
	i0, i1 := ti*t.th, min(j.ho, (ti+1)*t.th)
	jj0, jj1 := tj*t.tw, min(j.wo, (tj+1)*t.tw)
	for o := range j.o {
		g := o / j.og
		for c := range j.cg {
			accumulate(acc, xs[(g*j.cg+c)*size:][:size], j.ks[(o*j.cg+c)*size:][:size], c == 0)
		}
		j.columns(tr, acc)
		out := j.out[(n*j.o+o)*j.ho*j.wo:][:j.ho*j.wo]
		var bias T
		if j.bias != nil {
			bias = j.bias[o]
		}
		j.inverseRows(tr, acc, out, i0, i1, jj0, jj1, bias)
	}
}

// accumulate adds conj(x)·k to acc, element by element, or stores it there
// if first: the conjugate of the correlation's spectrum, which is what the
// inverse transforms take (see rfft.inverse).
func accumulate[C Complex](acc, x, k []C, first bool) {
	k = k[:len(x)]
	acc = acc[:len(x)]
	done := simdMulConj(acc, x, k, !first)
	acc, x, k = acc[done:], x[done:], k[done:]
	if first {
		for i, v := range x {
			acc[i] = conj(v) * k[i]
		}
		return
	}
	for i, v := range x {
		acc[i] += conj(v) * k[i]
	}
}

// forward sets spec to the 2-D DFT of a p×q real plane whose rows below hr
// are zero and whose row r < hr is row(r), zero-extended to q.
func forward2D[R Float, C Complex](tr *transforms[C], t fftTiling, spec []C, hr int, row func(r int) []R) {
	for r0 := 0; r0 < hr; r0 += specBlock {
		tr.rows = tr.rows[:0]
		for r := r0; r < min(hr, r0+specBlock); r++ {
			packReal(tr.z, specBlock, r-r0, row(r), t.q)
			tr.rows = append(tr.rows, r)
		}
		tr.row.forward(spec, t.p, tr.rows, tr.z, tr.work, specBlock, tr.offs)
	}
	// The last block's columns past q/2 hold no coefficient; they are
	// cleared, not left stale from a recycled buffer, although no result
	// reads them (each column is transformed on its own).
	if k := t.q/2 + 1; k%specBlock != 0 {
		last := specAt(t.p, 0, k)
		for r := range hr {
			clear(spec[last+r*specBlock : last-k%specBlock+(r+1)*specBlock])
		}
	}
	blocks := len(spec) / (t.p * specBlock)
	for b := range blocks {
		blk := spec[b*t.p*specBlock : (b+1)*t.p*specBlock]
		clear(blk[hr*specBlock:])
		tr.col.batch(blk, tr.work, specBlock)
	}
}

// columns transforms every column of the p×q spectrum in place.
func (j *fftPlan[T, C]) columns(tr *transforms[C], spec []C) {
	block := j.t.p * specBlock
	for b := range len(spec) / block {
		tr.col.batch(spec[b*block:(b+1)*block], tr.work, specBlock)
	}
}

// inverseRows finishes the inverse transform of acc, whose columns are
// transformed, on the stride-1 rows and columns that outputs i0 ≤ i < i1,
// jj0 ≤ j < jj1 of plane out read, and stores those outputs plus bias.
func (j *fftPlan[T, C]) inverseRows(tr *transforms[C], acc []C, out []T, i0, i1, jj0, jj1 int, bias T) {
	scale := 1 / float64(j.t.p*j.t.q)
	for ib := i0; ib < i1; ib += specBlock {
		tr.rows = tr.rows[:0]
		for i := ib; i < min(i1, ib+specBlock); i++ {
			tr.rows = append(tr.rows, (i-i0)*j.sh)
		}
		tr.row.inverse(tr.z, tr.work, acc, j.t.p, tr.rows, specBlock, tr.offs)
		// A full batch of unit-stride rows is stored by the SIMD step, all
		// but an odd last column.
		start := 0
		if j.sw == 1 && len(tr.rows) == specBlock {
			start = 2 * simdUnpack(out[ib*j.wo+jj0:], j.wo, tr.z, (jj1-jj0)/2, scale, bias)
		}
		for c := range tr.rows {
			d := out[(ib+c)*j.wo:][jj0:jj1]
			if j.sw != 1 {
				for jj := range d {
					d[jj] = T(unpackReal(tr.z, specBlock, c, jj*j.sw)*scale) + bias
				}
				continue
			}
			// Unit stride: each packed cell holds two outputs.
			z := tr.z[c:]
			for jj := start; jj+1 < len(d); jj += 2 {
				v := complex128(z[jj/2*specBlock])
				d[jj], d[jj+1] = T(real(v)*scale)+bias, T(-imag(v)*scale)+bias
			}
			if n := len(d); n%2 == 1 {
				d[n-1] = T(real(complex128(z[(n-1)/2*specBlock]))*scale) + bias
			}
		}
	}
}

// conv2dFFT runs a validated Conv2D request on the FFT path.
func conv2dFFT[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv) (Tensor[T], error) {
	return conv2dTiled(ctx, e, p, x, w, bias, g, c, fftTile(g, fftMaxTile, elemSize[T]()))
}

// conv2dTiled runs conv2dFFT with tiling t, in the transforms of T's
// precision (see fftComplex).
func conv2dTiled[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv, t fftTiling) (Tensor[T], error) {
	if elemSize[T]() == 4 {
		return conv2dSpectra[T, complex64](ctx, e, p, x, w, bias, g, c, t)
	}
	return conv2dSpectra[T, complex128](ctx, e, p, x, w, bias, g, c, t)
}

// conv2dSpectra runs conv2dTiled with spectra of C.
func conv2dSpectra[T Float, C Complex](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv, t fftTiling) (Tensor[T], error) {
	perPlane := int(fftPlaneWork(t.p, t.q))
	O, cg, kh, kw := g.w[0], g.w[1], g.w[2], g.w[3]
	tiles := g.in[0] * t.ty * t.tx
	j := &fftPlan[T, C]{
		e: e, hn: g.hn, wn: g.wn,
		w: w.Data, kh: kh, kw: kw, dh: g.dh, dw: g.dw,
		n: g.in[0], c: g.in[1], cg: cg, o: O, og: O / g.groups,
		ho: g.out[2], wo: g.out[3], sh: g.sh, sw: g.sw,
		t: t, bias: bias,
	}
	// The tiles read their windows of the padded input in the ordinary
	// layout, whatever the column stride: straight from x, padded as
	// they are read.
	if j.pd = newPadder(x, g.pads, g.hn, g.wn, 1, c.Border, T(c.Fill)); j.pd == nil {
		ld := x.Shape[3]
		j.x = padded[T]{data: x.Data, plane: x.Shape[2] * ld, ld: ld, wq: ld}
	}
	if c.Convolve {
		j.w = flipped(w)
	}
	j.ks = spectra[C](e, O*cg*t.spectrum())
	defer releaseSpectra(e, j.ks)
	units := O * cg
	if err := e.run(ctx, p, fftKernels[T, C]{j}, units, e.bands(units, 1, perPlane), float64(units)*float64(perPlane)); err != nil {
		return Tensor[T]{}, err
	}
	j.out = result[T](e, g.out[0]*O*j.ho*j.wo)
	perTile := (g.in[1] + O) * perPlane
	bands := e.bands(tiles, 1, perTile)
	j.spare = make(chan *tileScratch[T, C], bands)
	defer releaseScratch(e, j.spare)
	if err := e.run(ctx, p, fftTiles[T, C]{j}, tiles, bands, float64(tiles)*float64(perTile)); err != nil {
		return Tensor[T]{}, err
	}
	return Tensor[T]{Shape: g.out, Data: j.out}, nil
}
