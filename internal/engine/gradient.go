package engine

import (
	"context"
	"fmt"
	"unsafe"
)

// Conv2DWeightGrad returns dL/dW, of shape O×Cg×kh×kw, given the input x and
// dy = dL/dOut (shape N×O×Ho×Wo) of a Conv2D with the same c:
// dW[o][c][a][b] = Σ_n Σ_i Σ_j dy[n][o][i][j] · xpad[n][g*Cg+c][i*sh + a*dh][j*sw + b*dw].
// With c.Convolve it is the gradient with respect to the kernel as passed to
// Conv2D, that is, flipped back.
//
// Each element is summed in T, in an order fixed by the shapes alone (never
// by the pool): the rows of dy are cut into parts of about gradGrain
// multiply-adds, each part sums its rows in lanes of a vector register (the
// SIMD kernel) plus the row tails, and the parts are added in order. That
// is as accurate as one running sum or better, and the parts of every row
// of dW spread over the workers even for a single 3×3 kernel. Priorities,
// admission and cancellation are as for Conv2D. dy of the wrong shape is a
// *ParamError for ParamGradOutput.
func Conv2DWeightGrad[T Float](ctx context.Context, e *Engine, p Priority, x, dy Tensor[T], kh, kw int, c Conv) (Tensor[T], error) {
	g, err := gradGeometry(x, dy, kh, kw, c)
	if err != nil {
		return Tensor[T]{}, err
	}
	if err := ready(ctx, p, "conv2d weight grad"); err != nil {
		return Tensor[T]{}, err
	}

	macs := float64(g.w[0]*g.w[1]*kh) * float64(kw) * float64(g.out[0]*g.out[2]*g.out[3])
	xp, release, err := padOnPool(ctx, e, p, x, g, c, macs)
	if err != nil {
		return Tensor[T]{}, fmt.Errorf("engine: conv2d weight grad: %w", err)
	}
	// run returns only once no band reads the padded input any more.
	defer release()
	O, cg := g.w[0], g.w[1]
	rows := g.out[0] * g.out[2] // rows of dy per output channel
	per := gradRowsPerPart(rows, g.out[3]*kw)
	j := &gradPlan[T]{
		x: xp.data, plane: xp.plane, ld: xp.ld,
		c: g.in[1], cg: cg, o: O, og: O / g.groups,
		ho: g.out[2], wo: g.out[3], sh: g.sh, dh: g.dh,
		kh: kh, kw: kw,
		dyRows: rows, per: per, parts: (rows + per - 1) / per,
		dy:   dy.Data,
		offs: make([]int, kw),
	}
	for b := range kw {
		j.offs[b] = xp.at(b*g.dw, g.sw)
	}
	units := O * cg * kh * j.parts
	j.sums = make([]T, units*kw)
	n := e.bands(units, kw, per*g.out[3])
	if err := e.run(ctx, p, j, units, n, macs); err != nil {
		return Tensor[T]{}, fmt.Errorf("engine: conv2d weight grad: %w", err)
	}
	return Tensor[T]{Shape: [4]int{O, cg, kh, kw}, Data: j.weights(c.Convolve)}, nil
}

// gradGeometry validates a Conv2DWeightGrad call: the convolution whose
// output dy is, and the data of x and dy.
func gradGeometry[T Float](x, dy Tensor[T], kh, kw int, c Conv) (geometry, error) {
	for _, d := range dy.Shape {
		if d < 1 {
			return geometry{}, paramErr(ParamGradOutput, "shape %v has a dimension below 1", dy.Shape)
		}
	}
	// Any kernel channel count works for an invalid group count: resolve
	// reports the groups before it compares channels.
	cg := 1
	if groups, ok := orOne(c.Groups); ok && x.Shape[1]/groups > 0 {
		cg = x.Shape[1] / groups
	}
	g, err := c.resolve(x.Shape, [4]int{dy.Shape[1], cg, kh, kw})
	if err == nil && g.out != dy.Shape {
		err = paramErr(ParamGradOutput, "shape %v, want the output shape %v", dy.Shape, g.out)
	}
	if err == nil {
		err = checkTensor(ParamInput, x)
	}
	if err == nil {
		err = checkTensor(ParamGradOutput, dy)
	}
	if err == nil {
		err = checkSize[T](ParamInput, x.Shape[0], x.Shape[1], g.hn, g.wn+g.sw)
	}
	return g, err
}

// gradGrain is about how many multiply-adds one part of a weight-gradient
// row sums: enough to dwarf the cost of a band, small enough that a 3×3
// kernel on one channel, three rows of dW, still splits into bands for
// every worker.
const gradGrain = 1 << 17

// gradRowsPerPart is how many rows of dy (of rows in all, each costing cost
// multiply-adds) one part of a weight-gradient row covers. It depends on
// the problem alone, never on the pool, so the result does not either.
func gradRowsPerPart(rows, cost int) int {
	return max(1, min(rows, gradGrain/max(cost, 1)))
}

// gradPlan is one Conv2DWeightGrad request. A row of dW, (o, c, a), is
// split into parts, each summing a run of per rows of dy over every tap b
// of the row at once, so that each row of dy and of the input is loaded
// once for all kw taps. Its units are the parts, numbered
// ((o*Cg + c)*kh + a)*parts + s; each writes its kw partial sums to sums,
// and weights adds them up in order once every part is done.
type gradPlan[T Float] struct {
	x                  []T // padded input, see padded
	plane, ld          int
	c, cg              int
	o, og              int
	ho, wo             int
	sh, dh             int
	kh, kw             int
	dyRows, per, parts int
	dy                 []T
	offs               []int // offset of tap b from the row's first cell
	sums               []T   // kw partial sums per unit
}

func (j *gradPlan[T]) units(ctx context.Context, lo, hi int) error {
	done := ctx.Done()
	lanes := vectorLanes[T]()
	vec := make([]T, j.kw*lanes) // lanes partial sums per tap, see gradTaps
	acc := make([]T, j.kw)
	for u := lo; u < hi; u++ {
		row, s := u/j.parts, u%j.parts
		o, c, a := row/(j.cg*j.kh), row/j.kh%j.cg, row%j.kh
		ci := o/j.og*j.cg + c
		clear(vec)
		clear(acc)
		for r := s * j.per; r < min((s+1)*j.per, j.dyRows); r++ {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
			n, i := r/j.ho, r%j.ho
			dy := j.dy[((n*j.o+o)*j.ho+i)*j.wo:][:j.wo]
			x := j.x[(n*j.c+ci)*j.plane+(i*j.sh+a*j.dh)*j.ld:]
			m := simdGrad(vec, dy, x, j.offs)
			if m < len(dy) {
				dotRow(acc, dy[m:], x[m:], j.offs)
			}
		}
		sums := j.sums[u*j.kw : (u+1)*j.kw]
		for b, v := range acc {
			for _, l := range vec[b*lanes : (b+1)*lanes] {
				v += l
			}
			sums[b] = v
		}
	}
	return nil
}

// vectorLanes is how many elements of T fill a 32-byte vector register: the
// partial sums per tap of a weight-gradient row, whether or not this build
// has the SIMD kernel that fills them.
func vectorLanes[T Float]() int {
	var z T
	return 32 / int(unsafe.Sizeof(z))
}

// weights adds up the parts of every row of dW, in order, into dW; with
// flip, into the tap (kh-1-a, kw-1-b) of the kernel the caller passed,
// since the gradient was taken for the flipped one.
func (j *gradPlan[T]) weights(flip bool) []T {
	dw := make([]T, len(j.sums)/j.parts)
	for row := range len(dw) / j.kw {
		out := dw[row*j.kw : (row+1)*j.kw]
		if flip {
			a := row % j.kh
			out = dw[(row+j.kh-1-2*a)*j.kw:][:j.kw]
		}
		for s := range j.parts {
			for b, v := range j.sums[(row*j.parts+s)*j.kw:][:j.kw] {
				if flip {
					b = j.kw - 1 - b
				}
				out[b] += v
			}
		}
	}
	return dw
}
