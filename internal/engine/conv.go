package engine

import (
	"context"
	"fmt"
	"math"
	"math/bits"
	"time"
	"unsafe"
)

// Tensor is a dense row-major 4-D array: for data N×C×H×W, for weights
// O×(C/groups)×kh×kw. Element (a, b, c, d) is
// Data[((a*Shape[1]+b)*Shape[2]+c)*Shape[3]+d].
type Tensor[T Float] struct {
	Shape [4]int
	Data  []T
}

// Padding says how the input is padded before the correlation.
type Padding int

const (
	// PadExplicit pads by Conv.Pad: top, bottom, left, right.
	PadExplicit Padding = iota
	// PadValid does not pad.
	PadValid
	// PadSame makes the output H×W equal the input H×W; it needs stride 1.
	// Each axis is padded by dilation*(k-1) in total, total/2 before and the
	// rest (the odd extra cell) after, as PyTorch's padding="same" and
	// scipy's correlate2d do; with Convolve the odd extra cell goes before,
	// as scipy's convolve2d does.
	PadSame
	// PadFull pads every side by dilation*(k-1), as scipy's mode="full".
	PadFull
)

// Border is what the padded cells hold.
type Border int

const (
	// BorderZeros pads with the constant Conv.Fill (scipy's fillvalue),
	// zero by default.
	BorderZeros Border = iota
	// BorderReflect mirrors without repeating the edge, a b c d -> c b | a b
	// c d | c b: PyTorch "reflect", scipy.ndimage "mirror". Each pad must be
	// smaller than the input on its axis.
	BorderReflect
	// BorderReplicate repeats the edge, a b c d -> a a | a b c d | d d:
	// PyTorch "replicate", scipy.ndimage "nearest".
	BorderReplicate
	// BorderCircular wraps around, a b c d -> c d | a b c d | a b: PyTorch
	// "circular", scipy "wrap". Pads larger than the input wrap repeatedly.
	BorderCircular
	// BorderSymmetric mirrors repeating the edge, a b c d -> b a | a b c d |
	// d c: scipy "symm", scipy.ndimage "reflect". Pads larger than the input
	// mirror repeatedly.
	BorderSymmetric
)

// Conv holds the geometry of a convolution layer, with PyTorch's names. The
// zero value is a stride-1, undilated, ungrouped, unpadded correlation.
type Conv struct {
	Stride   [2]int // rows, columns; zero means 1
	Dilation [2]int // rows, columns; zero means 1
	Padding  Padding
	Pad      [4]int // top, bottom, left, right (PadExplicit only)
	Border   Border
	Fill     float64 // the padding value; must be 0 unless Border is BorderZeros
	Groups   int     // zero means 1
	// Convolve flips the kernel in both spatial axes first, making this a
	// true convolution (scipy convolve2d) rather than a cross-correlation.
	Convolve bool
	// Method picks the algorithm; the zero value, MethodAuto, lets the
	// engine choose by its cost model.
	Method Method
}

// Method is the algorithm Conv2D computes with.
type Method int

const (
	// MethodAuto picks MethodFFT where the cost model (see chooseMethod)
	// predicts it is faster, and MethodDirect otherwise.
	MethodAuto Method = iota
	// MethodDirect sums each output element over its taps in the order of
	// the contract, in T, with SIMD kernels where the CPU has them.
	MethodDirect
	// MethodFFT multiplies 2-D discrete Fourier transforms, in float64 for
	// both element types, rounding to T once at the end. Its cost hardly
	// depends on the kernel size, so it wins for large kernels; its error is
	// relative to the largest output magnitude of a plane, not to each
	// element (see fft.go). Strided outputs are subsampled from the stride-1
	// result, which wastes work but is exact.
	MethodFFT
)

// String returns the method's name: "auto", "direct" or "fft".
func (m Method) String() string {
	switch m {
	case MethodAuto:
		return "auto"
	case MethodDirect:
		return "direct"
	case MethodFFT:
		return "fft"
	default:
		return fmt.Sprintf("Method(%d)", int(m))
	}
}

// Param names the argument or Conv field an invalid-parameter error is
// about, in the engine's own terms; callers map it to their own names.
type Param int

const (
	ParamInput      Param = iota + 1 // the data tensor x
	ParamKernel                      // the weights w, or kh×kw for the gradient
	ParamBias                        // the bias slice
	ParamStride                      // Conv.Stride
	ParamDilation                    // Conv.Dilation
	ParamPadding                     // Conv.Padding and Conv.Pad
	ParamBorder                      // Conv.Border
	ParamFill                        // Conv.Fill
	ParamGroups                      // Conv.Groups
	ParamMethod                      // Conv.Method
	ParamGradOutput                  // dy of Conv2DWeightGrad
	ParamOutput                      // the result, when it cannot be allocated
)

var paramNames = [...]string{
	ParamInput: "input", ParamKernel: "kernel", ParamBias: "bias", ParamStride: "stride",
	ParamDilation: "dilation", ParamPadding: "padding", ParamBorder: "border", ParamFill: "fill",
	ParamGroups: "groups", ParamMethod: "method", ParamGradOutput: "grad output", ParamOutput: "output",
}

// String returns the parameter's name in the engine's terms, for messages.
func (p Param) String() string {
	if p > 0 && int(p) < len(paramNames) {
		return paramNames[p]
	}
	return fmt.Sprintf("Param(%d)", int(p))
}

// ParamError is an invalid parameter or shape: Param says which, and Msg
// says what is wrong with it. It unwraps to ErrShape.
type ParamError struct {
	Param Param
	Msg   string
}

func (e *ParamError) Error() string { return "engine: " + e.Param.String() + ": " + e.Msg }

// Unwrap returns ErrShape, so that errors.Is(err, ErrShape) holds for every
// invalid request.
func (e *ParamError) Unwrap() error { return ErrShape }

func paramErr(p Param, format string, args ...any) *ParamError {
	return &ParamError{Param: p, Msg: fmt.Sprintf(format, args...)}
}

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

func (c Conv) resolve(in, w [4]int) (geometry, error) {
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
	var ok bool
	if g.sh, ok = orOne(c.Stride[0]); !ok {
		return g, paramErr(ParamStride, "%v has a negative value", c.Stride)
	}
	if g.sw, ok = orOne(c.Stride[1]); !ok {
		return g, paramErr(ParamStride, "%v has a negative value", c.Stride)
	}
	if g.dh, ok = orOne(c.Dilation[0]); !ok {
		return g, paramErr(ParamDilation, "%v has a negative value", c.Dilation)
	}
	if g.dw, ok = orOne(c.Dilation[1]); !ok {
		return g, paramErr(ParamDilation, "%v has a negative value", c.Dilation)
	}
	if g.groups, ok = orOne(c.Groups); !ok {
		return g, paramErr(ParamGroups, "%d is negative", c.Groups)
	}
	if c.Padding < PadExplicit || c.Padding > PadFull {
		return g, paramErr(ParamPadding, "unknown padding %d", int(c.Padding))
	}
	if c.Border < BorderZeros || c.Border > BorderSymmetric {
		return g, paramErr(ParamBorder, "unknown border %d", int(c.Border))
	}
	if c.Method < MethodAuto || c.Method > MethodFFT {
		return g, paramErr(ParamMethod, "unknown method %d", int(c.Method))
	}
	C, O, kh, kw := in[1], w[0], w[2], w[3]
	if C%g.groups != 0 {
		return g, paramErr(ParamGroups, "%d input channels are not divisible by %d groups", C, g.groups)
	}
	if O%g.groups != 0 {
		return g, paramErr(ParamGroups, "%d output channels are not divisible by %d groups", O, g.groups)
	}
	if w[1] != C/g.groups {
		return g, paramErr(ParamKernel, "has %d input channels, want %d (%d channels in %d groups)", w[1], C/g.groups, C, g.groups)
	}
	if c.Fill != 0 && c.Border != BorderZeros {
		return g, paramErr(ParamFill, "%v needs the zeros padding mode", c.Fill)
	}

	// The dilated kernel's extent, dilation*(k-1)+1, overflows only for
	// absurd parameters, but then it must fail, not wrap around.
	ekh, ok1 := extent(g.dh, kh)
	ekw, ok2 := extent(g.dw, kw)
	if !ok1 || !ok2 {
		return g, paramErr(ParamDilation, "%v stretches the %dx%d kernel beyond any input", c.Dilation, kh, kw)
	}
	switch c.Padding {
	case PadExplicit:
		g.pads = c.Pad
		for _, p := range g.pads {
			if p < 0 {
				return g, paramErr(ParamPadding, "%v has a negative value", c.Pad)
			}
		}
	case PadSame:
		if g.sh != 1 || g.sw != 1 {
			return g, paramErr(ParamPadding, `"same" needs stride 1, not %dx%d`, g.sh, g.sw)
		}
		th, tw := ekh-1, ekw-1
		g.pads = [4]int{th / 2, th - th/2, tw / 2, tw - tw/2}
		if c.Convolve {
			// scipy's convolve2d centres "same" on the flipped kernel, so
			// an odd extra cell goes before (top/left), not after.
			g.pads = [4]int{th - th/2, th / 2, tw - tw/2, tw / 2}
		}
	case PadFull:
		g.pads = [4]int{ekh - 1, ekh - 1, ekw - 1, ekw - 1}
	}
	H, W := in[2], in[3]
	if c.Border == BorderReflect {
		if g.pads[0] >= H || g.pads[1] >= H || g.pads[2] >= W || g.pads[3] >= W {
			return g, paramErr(ParamPadding, "reflect padding %v needs every pad below the input size %dx%d", g.pads, H, W)
		}
	}
	hp, ok1 := addAll(H, g.pads[0], g.pads[1])
	wp, ok2 := addAll(W, g.pads[2], g.pads[3])
	if !ok1 || !ok2 {
		return g, paramErr(ParamPadding, "%v overflows", g.pads)
	}
	if ekh > hp || ekw > wp {
		return g, paramErr(ParamKernel, "kernel larger than the padded input: %dx%d dilated by %dx%d spans %dx%d, padded input is %dx%d",
			kh, kw, g.dh, g.dw, ekh, ekw, hp, wp)
	}
	ho, wo := (hp-ekh)/g.sh+1, (wp-ekw)/g.sw+1
	g.out = [4]int{in[0], O, ho, wo}
	g.hn, g.wn = (ho-1)*g.sh+ekh, (wo-1)*g.sw+ekw
	return g, nil
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

// Conv2D computes out[n][o][i][j] = bias[o] + Σ_{c<Cg} Σ_a Σ_b
// xpad[n][g*Cg+c][i*sh + a*dh][j*sw + b*dw] · w[o][c][a][b], with
// g = o / (O/groups) and Cg = C/groups, where xpad is x padded per c and w is
// flipped in both spatial axes first when c.Convolve is set. bias may be nil
// (no bias) or have length O. The result has shape N×O×Ho×Wo (see
// Conv.Geometry).
//
// Each element is summed in T over (c, a, b) in row-major order starting
// from zero, then bias is added, so float32 accumulates in float32 as
// PyTorch does. The work is split into bands of output rows over (n, o,
// row), or on the GEMM path (see useGEMM) of blocks of pixels over (n,
// group, pixels), run on the pool; every element is computed by exactly one
// band, so the split never changes the result.
//
// Priorities, admission, cancellation and panics are as for Correlate; an
// invalid shape or parameter is a *ParamError, which wraps ErrShape.
func Conv2D[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, c Conv) (Tensor[T], error) {
	g, err := c.resolve(x.Shape, w.Shape)
	if err == nil {
		err = checkTensor(ParamInput, x)
	}
	if err == nil {
		err = checkTensor(ParamKernel, w)
	}
	if err == nil && bias != nil && len(bias) != w.Shape[0] {
		err = paramErr(ParamBias, "has %d elements, want %d (one per output channel)", len(bias), w.Shape[0])
	}
	if err == nil {
		err = checkSize[T](ParamOutput, g.out[:]...)
	}
	if err == nil {
		err = checkSize[T](ParamInput, x.Shape[0], x.Shape[1], g.hn, g.wn+g.sw)
	}
	if err != nil {
		return Tensor[T]{}, err
	}
	if err := ready(ctx, p, "conv2d"); err != nil {
		return Tensor[T]{}, err
	}

	out, err := conv2d(ctx, e, p, x, w, bias, g, c)
	if err != nil {
		return Tensor[T]{}, fmt.Errorf("engine: conv2d: %w", err)
	}
	return out, nil
}

// conv2d runs a validated Conv2D (or Correlate) request on the pool, with
// the method c asks for or, for MethodAuto, the one chooseMethod predicts is
// faster, and records the method in the caller's Stats.
func conv2d[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv) (Tensor[T], error) {
	m := c.Method
	if m == MethodAuto {
		var z T
		m = chooseMethod(g, unsafe.Sizeof(z))
	}
	if s, ok := ctx.Value(statsKey{}).(*Stats); ok {
		s.Method = m
	}
	if m == MethodFFT {
		return conv2dFFT(ctx, e, p, x, w, bias, g, c)
	}
	return conv2dDirect(ctx, e, p, x, w, bias, g, c)
}

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
	j := &convJob[T]{
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

// run splits units of work into n bands on queue p, waits for all of them to
// finish or be skipped, and returns the first error of any band. macs is the
// work's size in multiply-adds.
func (e *Engine) run(ctx context.Context, p Priority, work bander, units, n int, macs float64) error {
	if p == Background && n == 1 && macs < float64(e.minBandWork) && e.hook == nil {
		return e.inline(ctx, work, units)
	}
	tasks := make([]task, n)
	// A derived context lets one failing band (a panic, say) cancel its
	// siblings, whose work would be thrown away anyway.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &call{ctx: cctx, cancel: cancel, work: work}
	for b := range tasks {
		tasks[b] = task{c: c, lo: b * units / n, hi: (b + 1) * units / n}
	}
	submitted := time.Now()
	if err := e.submit(ctx, p, c, tasks, macs); err != nil {
		return err
	}
	c.wg.Wait()
	if s, ok := ctx.Value(statsKey{}).(*Stats); ok {
		end := time.Now()
		if first := c.started.Load(); first != 0 {
			s.Queue += time.Unix(0, first).Sub(submitted)
			s.Compute += end.Sub(time.Unix(0, first))
		} else {
			s.Queue += end.Sub(submitted)
		}
	}
	return c.err // no band is left to write c.err after Wait
}

// inline runs tiny background work on the caller's goroutine: handing a
// few dozen multiply-adds (a training step on d2l's 6×8 image) to a worker
// and back costs many times the work itself, and work this small cannot
// hold up an interactive request.
func (e *Engine) inline(ctx context.Context, work bander, units int) (err error) {
	select {
	case <-e.quit:
		return ErrClosed
	default:
	}
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("engine: band panicked: %v", r)
		}
		if s, ok := ctx.Value(statsKey{}).(*Stats); ok {
			s.Compute += time.Since(start)
		}
	}()
	return work.rows(ctx, 0, units)
}

// ready checks what every public entry point checks before any work: a
// known priority and a live context.
func ready(ctx context.Context, p Priority, op string) error {
	if p != Interactive && p != Background {
		return fmt.Errorf("engine: unknown priority %d", int(p))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("engine: %s: %w", op, err)
	}
	return nil
}

// Stats is how long a caller's work waited in the queue and then ran, summed
// over its calls, and the method the last Conv2D or Correlate call computed
// with. Callers that want it attach one with WithStats.
type Stats struct {
	Queue, Compute time.Duration
	Method         Method
}

type statsKey struct{}

// WithStats returns a context under which Conv2D, Conv2DWeightGrad and
// Correlate add their queueing and computing times to s. s must not be
// shared by concurrent calls.
func WithStats(ctx context.Context, s *Stats) context.Context {
	return context.WithValue(ctx, statsKey{}, s)
}

// convJob is one Conv2D request. Its units are output rows, numbered
// (n*O + o)*Ho + i, so that bands split over images, channels and rows alike.
type convJob[T Float] struct {
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

func (j *convJob[T]) rows(ctx context.Context, lo, hi int) error {
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

// convRowGo is the portable row kernel, and the reference for the SIMD ones.
//
// Rather than summing each element separately, it sweeps the row once per
// group of up to eight taps (saxpy style), which keeps the inner loop long
// and free of bounds checks; eight taps per sweep halve the loads and stores
// of d against four, and a 3x3 kernel takes two sweeps. Each element still
// sums its taps one at a time, in order, starting from zero, exactly as the
// reference loop does. A precomputed offset per tap makes strides, dilation,
// channels and the polyphase layout all look alike here.
func convRowGo[T Float](d, x []T, offs []int, k []T) {
	clear(d)
	n := len(d)
	src := func(t int) []T { return x[offs[t] : offs[t]+n] }
	taps := len(offs)
	k = k[:taps]
	t := 0
	for ; t+8 <= taps; t += 8 {
		axpy8(d, src(t), src(t+1), src(t+2), src(t+3), src(t+4), src(t+5), src(t+6), src(t+7),
			k[t], k[t+1], k[t+2], k[t+3], k[t+4], k[t+5], k[t+6], k[t+7])
	}
	for ; t+4 <= taps; t += 4 {
		axpy4(d, src(t), src(t+1), src(t+2), src(t+3), k[t], k[t+1], k[t+2], k[t+3])
	}
	switch taps - t {
	case 3:
		axpy3(d, src(t), src(t+1), src(t+2), k[t], k[t+1], k[t+2])
	case 2:
		axpy2(d, src(t), src(t+1), k[t], k[t+1])
	case 1:
		axpy1(d, src(t), k[t])
	}
}

func addScalar[T Float](d []T, v T) {
	for i := range d {
		d[i] += v
	}
}

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
	var err error
	for _, d := range dy.Shape {
		if d < 1 {
			err = paramErr(ParamGradOutput, "shape %v has a dimension below 1", dy.Shape)
		}
	}
	var g geometry
	if err == nil {
		// Any kernel channel count works for an invalid group count: resolve
		// reports the groups before it compares channels.
		cg := 1
		if groups, ok := orOne(c.Groups); ok && x.Shape[1]/groups > 0 {
			cg = x.Shape[1] / groups
		}
		g, err = c.resolve(x.Shape, [4]int{dy.Shape[1], cg, kh, kw})
	}
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
	if err != nil {
		return Tensor[T]{}, err
	}
	if err := ready(ctx, p, "conv2d weight grad"); err != nil {
		return Tensor[T]{}, err
	}

	xp, err := padInput(ctx, x, g.pads, g.hn, g.wn, g.sw, c.Border, T(c.Fill))
	if err != nil {
		return Tensor[T]{}, fmt.Errorf("engine: conv2d weight grad: %w", err)
	}
	O, cg := g.w[0], g.w[1]
	rows := g.out[0] * g.out[2] // rows of dy per output channel
	per := gradRowsPerPart(rows, g.out[3]*kw)
	j := &gradJob[T]{
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
	macs := float64(O*cg*kh) * float64(kw) * float64(rows*g.out[3])
	if err := e.run(ctx, p, j, units, n, macs); err != nil {
		return Tensor[T]{}, fmt.Errorf("engine: conv2d weight grad: %w", err)
	}
	return Tensor[T]{Shape: [4]int{O, cg, kh, kw}, Data: j.weights(c.Convolve)}, nil
}

// gradGrain is about how many multiply-adds one part of a weight-gradient
// row sums: enough to dwarf the cost of a band, small enough that a 3×3
// kernel on one channel, three rows of dW, still splits into bands for
// every worker.
const gradGrain = 1 << 17

// gradRowsPerPart is how many of the rows rows of dy, each costing cost
// multiply-adds, one part of a weight-gradient row covers. It depends on
// the problem alone, never on the pool, so the result does not either.
func gradRowsPerPart(rows, cost int) int {
	return max(1, min(rows, gradGrain/max(cost, 1)))
}

// gradJob is one Conv2DWeightGrad request. A row of dW, (o, c, a), is
// split into parts, each summing a run of per rows of dy over every tap b
// of the row at once, so that each row of dy and of the input is loaded
// once for all kw taps. Its units are the parts, numbered
// ((o*Cg + c)*kh + a)*parts + s; each writes its kw partial sums to sums,
// and weights adds them up in order once every part is done.
type gradJob[T Float] struct {
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

func (j *gradJob[T]) rows(ctx context.Context, lo, hi int) error {
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
func (j *gradJob[T]) weights(flip bool) []T {
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

// dotRow adds Σ_j dy[j]·x[offs[b]+j] to acc[b] for every tap b, one term at
// a time in order of j. Four taps share each pass over dy, which gives the
// processor four independent sums to overlap.
func dotRow[T Float](acc, dy, x []T, offs []int) {
	n := len(dy)
	src := func(b int) []T { return x[offs[b] : offs[b]+n] }
	b := 0
	for ; b+4 <= len(acc); b += 4 {
		acc[b], acc[b+1], acc[b+2], acc[b+3] = dot4(acc[b], acc[b+1], acc[b+2], acc[b+3], dy, src(b), src(b+1), src(b+2), src(b+3))
	}
	for ; b < len(acc); b++ {
		acc[b] = dot1(acc[b], dy, src(b))
	}
}

func dot4[T Float](s0, s1, s2, s3 T, d, x0, x1, x2, x3 []T) (T, T, T, T) {
	x0, x1, x2, x3 = x0[:len(d)], x1[:len(d)], x2[:len(d)], x3[:len(d)]
	for i, v := range d {
		s0 += v * x0[i]
		s1 += v * x1[i]
		s2 += v * x2[i]
		s3 += v * x3[i]
	}
	return s0, s1, s2, s3
}

func dot1[T Float](s T, d, x []T) T {
	x = x[:len(d)]
	for i, v := range d {
		s += v * x[i]
	}
	return s
}

// Convert returns a copy of s with every element converted to T (rounded to
// nearest for float64 to float32, exact the other way); nil stays nil.
func Convert[T, F Float](s []F) []T {
	if s == nil {
		return nil
	}
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = T(v)
	}
	return out
}
