package engine_test

import (
	"math"
	"math/rand/v2"

	"github.com/corr2d/corr2d/internal/engine"
)

// This file holds the tests' own reference for Conv2D and Conv2DWeightGrad,
// written from the contract without looking at the engine's code paths: the
// pads are worked out here, every padded cell is looked up by folding its
// index one mirror or wrap at a time, and every element is a plain sum.

// refGeometry is the test's own resolution of a Conv: defaults, pads and the
// output size, with ok false for any parameter the engine must reject.
type refGeometry struct {
	pads           [4]int
	sh, sw, dh, dw int
	groups         int
	ho, wo         int
}

func refResolve(in, w [4]int, c engine.Conv) (refGeometry, bool) {
	def := func(v int) int {
		if v == 0 {
			return 1
		}
		return v
	}
	g := refGeometry{
		sh: def(c.Stride[0]), sw: def(c.Stride[1]),
		dh: def(c.Dilation[0]), dw: def(c.Dilation[1]),
		groups: def(c.Groups),
	}
	for _, d := range append(in[:], w[:]...) {
		if d < 1 {
			return g, false
		}
	}
	if g.sh < 1 || g.sw < 1 || g.dh < 1 || g.dw < 1 || g.groups < 1 {
		return g, false
	}
	if in[1]%g.groups != 0 || w[0]%g.groups != 0 || w[1] != in[1]/g.groups {
		return g, false
	}
	if c.Border < engine.BorderZeros || c.Border > engine.BorderSymmetric {
		return g, false
	}
	if c.Fill != 0 && c.Border != engine.BorderZeros {
		return g, false
	}
	spanH, spanW := g.dh*(w[2]-1), g.dw*(w[3]-1)
	switch c.Padding {
	case engine.PadExplicit:
		g.pads = c.Pad
		if c.Pad[0] < 0 || c.Pad[1] < 0 || c.Pad[2] < 0 || c.Pad[3] < 0 {
			return g, false
		}
	case engine.PadValid:
	case engine.PadSame:
		if g.sh != 1 || g.sw != 1 {
			return g, false
		}
		g.pads = [4]int{spanH / 2, spanH - spanH/2, spanW / 2, spanW - spanW/2}
		if c.Convolve { // scipy convolve2d: the odd extra cell goes first
			g.pads = [4]int{spanH - spanH/2, spanH / 2, spanW - spanW/2, spanW / 2}
		}
	case engine.PadFull:
		g.pads = [4]int{spanH, spanH, spanW, spanW}
	default:
		return g, false
	}
	H, W := in[2], in[3]
	if c.Border == engine.BorderReflect && (g.pads[0] >= H || g.pads[1] >= H || g.pads[2] >= W || g.pads[3] >= W) {
		return g, false
	}
	hp, wp := H+g.pads[0]+g.pads[1], W+g.pads[2]+g.pads[3]
	if spanH+1 > hp || spanW+1 > wp {
		return g, false
	}
	g.ho, g.wo = (hp-spanH-1)/g.sh+1, (wp-spanW-1)/g.sw+1
	return g, true
}

// refIndex finds the input cell that padded index i on an axis of n cells
// reads, by repeating the border's one-step rule until i lands inside; ok is
// false for a fill cell.
func refIndex(i, n int, b engine.Border) (int, bool) {
	for i < 0 || i >= n {
		switch b {
		case engine.BorderZeros:
			return 0, false
		case engine.BorderReplicate:
			i = max(0, min(i, n-1))
		case engine.BorderCircular:
			if i < 0 {
				i += n
			} else {
				i -= n
			}
		case engine.BorderReflect: // mirror about the edge cell
			if n == 1 {
				i = 0
			} else if i < 0 {
				i = -i
			} else {
				i = 2*(n-1) - i
			}
		case engine.BorderSymmetric: // mirror about the edge itself
			if i < 0 {
				i = -1 - i
			} else {
				i = 2*n - 1 - i
			}
		}
	}
	return i, true
}

// refPadded reads input cell (row, col) of plane (n, c), where row and col
// are in unpadded coordinates and may lie outside the input.
func refPadded[T engine.Float](x engine.Tensor[T], n, c, row, col int, b engine.Border, fill float64) T {
	H, W := x.Shape[2], x.Shape[3]
	r, okr := refIndex(row, H, b)
	q, okc := refIndex(col, W, b)
	if !okr || !okc {
		return T(fill)
	}
	return x.Data[((n*x.Shape[1]+c)*H+r)*W+q]
}

// refWeight reads tap (a, b) of kernel (o, c), flipped for a convolution.
func refWeight[T engine.Float](w engine.Tensor[T], o, c, a, b int, flip bool) T {
	kh, kw := w.Shape[2], w.Shape[3]
	if flip {
		a, b = kh-1-a, kw-1-b
	}
	return w.Data[((o*w.Shape[1]+c)*kh+a)*kw+b]
}

// refConv2D is the contract's formula, one element at a time, summed over c,
// a, b in T from zero and then plus the bias. scale[i] is Σ|terms| of element
// i, which bounds the rounding error of any order of summation.
func refConv2D[T engine.Float](x, w engine.Tensor[T], bias []T, c engine.Conv) (engine.Tensor[T], []float64) {
	g, ok := refResolve(x.Shape, w.Shape, c)
	if !ok {
		panic("refConv2D: invalid parameters")
	}
	N, C, O := x.Shape[0], x.Shape[1], w.Shape[0]
	cg, og := C/g.groups, O/g.groups
	out := engine.Tensor[T]{Shape: [4]int{N, O, g.ho, g.wo}, Data: make([]T, N*O*g.ho*g.wo)}
	scale := make([]float64, len(out.Data))
	for n := range N {
		for o := range O {
			grp := o / og
			for i := range g.ho {
				for j := range g.wo {
					var s T
					var abs float64
					for ci := range cg {
						for a := range w.Shape[2] {
							for b := range w.Shape[3] {
								v := refPadded(x, n, grp*cg+ci, i*g.sh+a*g.dh-g.pads[0], j*g.sw+b*g.dw-g.pads[2], c.Border, c.Fill)
								k := refWeight(w, o, ci, a, b, c.Convolve)
								s += v * k
								abs += math.Abs(float64(v) * float64(k))
							}
						}
					}
					if bias != nil {
						s += bias[o]
						abs += math.Abs(float64(bias[o]))
					}
					idx := ((n*O+o)*g.ho+i)*g.wo + j
					out.Data[idx] = s
					scale[idx] = abs
				}
			}
		}
	}
	return out, scale
}

// refWeightGrad is dW[o][c][a][b] = Σ_n Σ_i Σ_j dy·xpad for the kernel as
// the caller passes it: with Convolve, tap (a, b) of that kernel is tap
// (kh-1-a, kw-1-b) of the one correlated.
func refWeightGrad[T engine.Float](x, dy engine.Tensor[T], kh, kw int, c engine.Conv) (engine.Tensor[T], []float64) {
	N, C, O := x.Shape[0], x.Shape[1], dy.Shape[1]
	groups := max(c.Groups, 1)
	g, ok := refResolve(x.Shape, [4]int{O, C / groups, kh, kw}, c)
	if !ok || dy.Shape != [4]int{N, O, g.ho, g.wo} {
		panic("refWeightGrad: invalid parameters")
	}
	cg, og := C/groups, O/groups
	dw := engine.Tensor[T]{Shape: [4]int{O, cg, kh, kw}, Data: make([]T, O*cg*kh*kw)}
	scale := make([]float64, len(dw.Data))
	for o := range O {
		for ci := range cg {
			for a := range kh {
				for b := range kw {
					// (a, b) index the caller's kernel; (ta, tb) the tap of
					// the correlated kernel it becomes.
					ta, tb := a, b
					if c.Convolve {
						ta, tb = kh-1-a, kw-1-b
					}
					var s T
					var abs float64
					for n := range N {
						for i := range g.ho {
							for j := range g.wo {
								v := refPadded(x, n, o/og*cg+ci, i*g.sh+ta*g.dh-g.pads[0], j*g.sw+tb*g.dw-g.pads[2], c.Border, c.Fill)
								d := dy.Data[((n*O+o)*g.ho+i)*g.wo+j]
								s += d * v
								abs += math.Abs(float64(d) * float64(v))
							}
						}
					}
					idx := ((o*cg+ci)*kh+a)*kw + b
					dw.Data[idx] = s
					scale[idx] = abs
				}
			}
		}
	}
	return dw, scale
}

func randTensor[T engine.Float](r *rand.Rand, shape [4]int) engine.Tensor[T] {
	t := engine.Tensor[T]{Shape: shape, Data: make([]T, shape[0]*shape[1]*shape[2]*shape[3])}
	for i := range t.Data {
		t.Data[i] = T(r.Float64()*2 - 1)
	}
	return t
}

func randSlice[T engine.Float](r *rand.Rand, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = T(r.Float64()*2 - 1)
	}
	return s
}

func cloneTensor[T engine.Float](t engine.Tensor[T]) engine.Tensor[T] {
	t.Data = append([]T(nil), t.Data...)
	return t
}
