package engine

import "context"

// conv2dDirect runs a validated request on the direct path.
func conv2dDirect[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv) (Tensor[T], error) {
	if useGEMM(g) {
		return conv2dGEMM(ctx, e, p, x, w, bias, g, c)
	}
	xp, err := padInput(ctx, x, g.pads, g.hn, g.wn, g.sw, c.Border, T(c.Fill))
	if err != nil {
		return Tensor[T]{}, err
	}
	O, cg, kh, kw := g.w[0], g.w[1], g.w[2], g.w[3]
	ho, wo := g.out[2], g.out[3]
	j := &convPlan[T]{
		x: xp.data, plane: xp.plane, ld: xp.ld,
		c: g.in[1], cg: cg, o: O, og: O / g.groups,
		ho: ho, wo: wo, sh: g.sh,
		w: w.Data, bias: bias,
		offs: tapOffsets(xp, g),
	}
	if c.Convolve {
		j.w = flipped(w)
	}
	if useQuad(g) {
		j.quad, j.quadLen, j.kw = quadWeights(j.w, O, kh, kw), (kh+3)*kw*4, kw
	}
	units := g.out[0] * O * ho
	j.out = result[T](e, units*wo)
	macs := float64(units) * float64(wo) * float64(cg*kh*kw)
	if err := e.run(ctx, p, j, units, e.bands(units, wo, cg*kh*kw), macs); err != nil {
		return Tensor[T]{}, err
	}
	return Tensor[T]{Shape: g.out, Data: j.out}, nil
}

// tapOffsets returns the offset of each tap (c, a, b), in that order, from
// the first cell an output pixel reads in its group's first padded plane.
func tapOffsets[T Float](xp padded[T], g geometry) []int {
	cg, kh, kw := g.w[1], g.w[2], g.w[3]
	offs := make([]int, 0, cg*kh*kw)
	for ci := range cg {
		for a := range kh {
			for b := range kw {
				offs = append(offs, ci*xp.plane+a*g.dh*xp.ld+xp.at(b*g.dw, g.sw))
			}
		}
	}
	return offs
}

// flipped returns a copy of the weights w with each kernel flipped in both
// spatial axes.
func flipped[T Float](w Tensor[T]) []T {
	kh, kw := w.Shape[2], w.Shape[3]
	f := make([]T, len(w.Data))
	for k := 0; k < len(f); k += kh * kw {
		src, dst := w.Data[k:k+kh*kw], f[k:k+kh*kw]
		for t, v := range src {
			dst[kh*kw-1-t] = v
		}
	}
	return f
}

// convPlan is one Conv2D request. Its units are output rows, numbered
// (n*O + o)*Ho + i, so that bands split over images, channels and rows alike.
type convPlan[T Float] struct {
	x         []T // padded input, see padded
	plane, ld int
	c, cg     int // input channels, in total and per group
	o, og     int // output channels, in total and per group
	ho, wo    int
	sh        int
	w         []T   // O×Cg×kh×kw, already flipped for a convolution
	offs      []int // offset of each tap (c, a, b) from the row's first cell
	bias      []T
	out       []T
	// quad, when set, holds each output channel's weights for the
	// four-row kernel (see quadWeights), quadLen of them per channel.
	quad        []T
	quadLen, kw int
}

func (j *convPlan[T]) units(ctx context.Context, lo, hi int) error {
	done := ctx.Done()
	taps := len(j.offs)
	for u := lo; u < hi; {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		n, o, i := u/(j.o*j.ho), u/j.ho%j.o, u%j.ho
		g := o / j.og
		base := (n*j.c+g*j.cg)*j.plane + i*j.sh*j.ld
		k := j.w[o*taps : (o+1)*taps]
		rows := 1
		m := 0 // columns of the rows done by the four-row kernel
		if j.quad != nil && u+4 <= hi && i+4 <= j.ho {
			rows = 4
			m = simdQuad(j.out[u*j.wo:], j.wo, j.wo, j.x[base:], j.ld, j.quad[o*j.quadLen:(o+1)*j.quadLen], j.kw)
		}
		for q := range rows {
			d := j.out[(u+q)*j.wo : (u+q+1)*j.wo]
			if m < j.wo {
				convRow(d[m:], j.x[base+q*j.ld+m:], j.offs, k)
			}
			if j.bias != nil {
				addScalar(d, j.bias[o])
			}
		}
		u += rows
	}
	return nil
}

// quadMinRows is the shortest kernel the four-row kernel takes: it spends
// kh+3 passes on kh rows of weights, which pays off only for tall kernels.
const quadMinRows = 8

// useQuad says whether the four-row kernel (see convQuad in the generator)
// serves g: one input channel per output channel, unit strides and
// dilations, a tall enough kernel, and a CPU that has the kernel.
func useQuad(g geometry) bool {
	return haveQuad && g.w[1] == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.w[2] >= quadMinRows
}

// quadWeights lays out the weights w (O×1×kh×kw) for the four-row kernel:
// for each output channel, q[(m*kw + b)*4 + r] = w[m-r][b] for input rows
// m < kh+3 and output rows r < 4, zero where m-r is not a kernel row.
func quadWeights[T Float](w []T, O, kh, kw int) []T {
	per := (kh + 3) * kw * 4
	q := make([]T, O*per)
	for o := range O {
		k, dst := w[o*kh*kw:(o+1)*kh*kw], q[o*per:(o+1)*per]
		for m := range kh + 3 {
			for b := range kw {
				for r := range 4 {
					if a := m - r; a >= 0 && a < kh {
						dst[(m*kw+b)*4+r] = k[a*kw+b]
					}
				}
			}
		}
	}
	return q
}

// convRow computes one output row d: d[j] = Σ_t k[t]·x[offs[t]+j], summed
// over the taps t in order from zero. It assumes x holds offs[t]+len(d)
// cells for every tap.
//
// The SIMD kernel, where the CPU has one (see simdRow), takes the longest
// prefix of the row that fills whole vector registers, one output element per
// lane, and convRowGo the rest. Both sum each element's taps in the same
// order; the SIMD kernel fuses each multiply-add (one rounding per tap
// instead of two), well within the engine's stated tolerance.
func convRow[T Float](d, x []T, offs []int, k []T) {
	n := simdRow(d, x, offs, k)
	if n < len(d) {
		convRowGo(d[n:], x[n:], offs, k)
	}
}
