package engine

import (
	"math"
	"math/bits"
	"unsafe"
)

// geometry is a validated Conv with its defaults filled in.
type geometry struct {
	in, w, out [4]int
	pads       [4]int // top, bottom, left, right
	sh, sw     int
	dh, dw     int
	groups     int
	// hn×wn is the part of the padded input any output reads; past it, rows
	// and columns are skipped by the stride.
	hn, wn int
}

// Geometry validates c for an input of shape N×C×H×W and weights of shape
// O×Cg×kh×kw and returns the explicit pads (top, bottom, left, right) and the
// output shape N×O×Ho×Wo, where Ho = (H+top+bottom - dilation*(kh-1) - 1)/stride + 1
// and likewise Wo. Every invalid parameter is a *ParamError.
func (c Conv) Geometry(in, w [4]int) (pads [4]int, out [4]int, err error) {
	g, err := c.resolve(in, w)
	if err != nil {
		return [4]int{}, [4]int{}, err
	}
	return g.pads, g.out, nil
}

// resolve validates c for an input of shape in and weights of shape w and
// fills in the geometry, in three steps: the parameters on their own, the
// pads, and the sizes they make.
func (c Conv) resolve(in, w [4]int) (geometry, error) {
	g, err := c.params(in, w)
	if err != nil {
		return g, err
	}
	// The dilated kernel's extent, dilation*(k-1)+1, overflows only for
	// absurd parameters, but then it must fail, not wrap around.
	ekh, ok1 := extent(g.dh, w[2])
	ekw, ok2 := extent(g.dw, w[3])
	if !ok1 || !ok2 {
		return g, paramErr(ParamDilation, "%v stretches the %dx%d kernel beyond any input", c.Dilation, w[2], w[3])
	}
	if g.pads, err = c.padding(g, ekh, ekw); err != nil {
		return g, err
	}
	return g, g.sizes(ekh, ekw)
}

// params checks the shapes and the parameters that need no arithmetic on
// the input's size: positive dimensions, strides, dilations and groups,
// known enum values, channels that fit the groups, a fill value only for
// zero padding.
func (c Conv) params(in, w [4]int) (geometry, error) {
	g := geometry{in: in, w: w}
	for _, d := range in {
		if d < 1 {
			return g, paramErr(ParamInput, "shape %v has a dimension below 1", in)
		}
	}
	for _, d := range w {
		if d < 1 {
			return g, paramErr(ParamKernel, "shape %v has a dimension below 1", w)
		}
	}
	var ok [5]bool
	g.sh, ok[0] = orOne(c.Stride[0])
	g.sw, ok[1] = orOne(c.Stride[1])
	g.dh, ok[2] = orOne(c.Dilation[0])
	g.dw, ok[3] = orOne(c.Dilation[1])
	g.groups, ok[4] = orOne(c.Groups)
	switch {
	case !ok[0] || !ok[1]:
		return g, paramErr(ParamStride, "%v has a negative value", c.Stride)
	case !ok[2] || !ok[3]:
		return g, paramErr(ParamDilation, "%v has a negative value", c.Dilation)
	case !ok[4]:
		return g, paramErr(ParamGroups, "%d is negative", c.Groups)
	case c.Padding < PadExplicit || c.Padding > PadFull:
		return g, paramErr(ParamPadding, "unknown padding %d", int(c.Padding))
	case c.Border < BorderZeros || c.Border > BorderSymmetric:
		return g, paramErr(ParamBorder, "unknown border %d", int(c.Border))
	case c.Method < MethodAuto || c.Method > MethodWinograd:
		return g, paramErr(ParamMethod, "unknown method %d", int(c.Method))
	case c.Method == MethodWinograd && !useWinograd(g) && !useWino44(g):
		return g, paramErr(ParamMethod, "winograd needs a 3x3 kernel with stride 1, or a 5x5 to 8x8 one with stride 2, and dilation 1, not %dx%d with stride %v and dilation %v", w[2], w[3], [2]int{g.sh, g.sw}, [2]int{g.dh, g.dw})
	}
	C, O := in[1], w[0]
	switch {
	case C%g.groups != 0:
		return g, paramErr(ParamGroups, "%d input channels are not divisible by %d groups", C, g.groups)
	case O%g.groups != 0:
		return g, paramErr(ParamGroups, "%d output channels are not divisible by %d groups", O, g.groups)
	case w[1] != C/g.groups:
		return g, paramErr(ParamKernel, "has %d input channels, want %d (%d channels in %d groups)", w[1], C/g.groups, C, g.groups)
	case c.Fill != 0 && c.Border != BorderZeros:
		return g, paramErr(ParamFill, "%v needs the zeros padding mode", c.Fill)
	}
	return g, nil
}

// padding returns the pads (top, bottom, left, right) c asks for, given the
// dilated kernel's extent ekh×ekw, and checks them against the border.
func (c Conv) padding(g geometry, ekh, ekw int) ([4]int, error) {
	var pads [4]int
	switch c.Padding {
	case PadExplicit:
		pads = c.Pad
		for _, p := range pads {
			if p < 0 {
				return pads, paramErr(ParamPadding, "%v has a negative value", c.Pad)
			}
		}
	case PadSame:
		if g.sh != 1 || g.sw != 1 {
			return pads, paramErr(ParamPadding, `"same" needs stride 1, not %dx%d`, g.sh, g.sw)
		}
		th, tw := ekh-1, ekw-1
		pads = [4]int{th / 2, th - th/2, tw / 2, tw - tw/2}
		if c.Convolve {
			// scipy's convolve2d centres "same" on the flipped kernel, so
			// an odd extra cell goes before (top/left), not after.
			pads = [4]int{th - th/2, th / 2, tw - tw/2, tw / 2}
		}
	case PadFull:
		pads = [4]int{ekh - 1, ekh - 1, ekw - 1, ekw - 1}
	}
	H, W := g.in[2], g.in[3]
	if c.Border == BorderReflect && (pads[0] >= H || pads[1] >= H || pads[2] >= W || pads[3] >= W) {
		return pads, paramErr(ParamPadding, "reflect padding %v needs every pad below the input size %dx%d", pads, H, W)
	}
	return pads, nil
}

// sizes works out the output shape and the part of the padded input it
// reads, given the pads and the dilated kernel's extent ekh×ekw.
func (g *geometry) sizes(ekh, ekw int) error {
	hp, ok1 := addAll(g.in[2], g.pads[0], g.pads[1])
	wp, ok2 := addAll(g.in[3], g.pads[2], g.pads[3])
	if !ok1 || !ok2 {
		return paramErr(ParamPadding, "%v overflows", g.pads)
	}
	if ekh > hp || ekw > wp {
		return paramErr(ParamKernel, "kernel larger than the padded input: %dx%d dilated by %dx%d spans %dx%d, padded input is %dx%d",
			g.w[2], g.w[3], g.dh, g.dw, ekh, ekw, hp, wp)
	}
	ho, wo := (hp-ekh)/g.sh+1, (wp-ekw)/g.sw+1
	g.out = [4]int{g.in[0], g.w[0], ho, wo}
	g.hn, g.wn = (ho-1)*g.sh+ekh, (wo-1)*g.sw+ekw
	return nil
}

// orOne returns v, or 1 for zero; ok is false for a negative v.
func orOne(v int) (int, bool) {
	if v == 0 {
		return 1, true
	}
	return v, v > 0
}

// extent returns d*(k-1)+1 and whether it fits in an int.
func extent(d, k int) (int, bool) {
	hi, lo := bits.Mul64(uint64(d), uint64(k-1))
	if hi != 0 || lo >= math.MaxInt {
		return 0, false
	}
	return int(lo) + 1, true
}

// addAll returns the sum of non-negative values and whether it fits in an
// int.
func addAll(vs ...int) (int, bool) {
	s := 0
	for _, v := range vs {
		if s > math.MaxInt-v {
			return 0, false
		}
		s += v
	}
	return s, true
}

// count returns the product of non-negative dims and whether it fits in an
// int.
func count(dims ...int) (int, bool) {
	p := 1
	for _, d := range dims {
		hi, lo := bits.Mul64(uint64(p), uint64(d))
		if hi != 0 || lo > math.MaxInt {
			return 0, false
		}
		p = int(lo)
	}
	return p, true
}

// checkTensor checks that t's Data holds exactly its shape's elements. Its
// dims have been checked to be at least 1.
func checkTensor[T Float](p Param, t Tensor[T]) error {
	if n, ok := count(t.Shape[:]...); !ok || n != len(t.Data) {
		return paramErr(p, "shape %v but %d elements", t.Shape, len(t.Data))
	}
	return nil
}

// checkSize rejects a result that cannot be allocated, where a make would
// panic on the caller's goroutine. It is no limit on work: the service
// limits request sizes far below it.
func checkSize[T Float](p Param, dims ...int) error {
	var z T
	n, ok := count(append(dims, int(unsafe.Sizeof(z)))...)
	if !ok || n > 1<<47 {
		return paramErr(p, "%v elements are too many to allocate", dims)
	}
	return nil
}
