package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/corr2d/corr2d/internal/engine"
)

var borderNames = map[engine.Border]string{
	engine.BorderZeros:     "zeros",
	engine.BorderReflect:   "reflect",
	engine.BorderReplicate: "replicate",
	engine.BorderCircular:  "circular",
	engine.BorderSymmetric: "symmetric",
}

var paddingNames = map[engine.Padding]string{
	engine.PadExplicit: "explicit",
	engine.PadValid:    "valid",
	engine.PadSame:     "same",
	engine.PadFull:     "full",
}

// convCase is one Conv2D problem: shapes, whether it has a bias, and the
// geometry.
type convCase struct {
	name string
	x, w [4]int
	bias bool
	conv engine.Conv
}

func (c convCase) String() string {
	cv := c.conv
	return fmt.Sprintf("x=%v w=%v stride=%v dilation=%v groups=%d %s pad=%v border=%s fill=%g bias=%v convolve=%v",
		c.x, c.w, cv.Stride, cv.Dilation, cv.Groups, paddingNames[cv.Padding], cv.Pad, borderNames[cv.Border], cv.Fill, c.bias, cv.Convolve)
}

// convCases are named edge cases followed by random combinations of every
// parameter, all valid.
func convCases() []convCase {
	sq := func(v int) [2]int { return [2]int{v, v} }
	cases := []convCase{
		{name: "1x1 input and kernel", x: [4]int{1, 1, 1, 1}, w: [4]int{1, 1, 1, 1}},
		{name: "1x1 input with a bias", x: [4]int{2, 3, 1, 1}, w: [4]int{4, 3, 1, 1}, bias: true},
		{name: "the zero Conv is a valid correlation", x: [4]int{1, 1, 6, 7}, w: [4]int{1, 1, 3, 2}},
		{name: "kernel equal to the input", x: [4]int{2, 2, 5, 4}, w: [4]int{3, 2, 5, 4}},
		{name: "kernel equal to the input, convolved", x: [4]int{1, 1, 5, 4}, w: [4]int{1, 1, 5, 4}, conv: engine.Conv{Convolve: true}},
		{name: "dilation stretches the kernel over the whole input", x: [4]int{1, 2, 7, 9}, w: [4]int{2, 2, 3, 3}, conv: engine.Conv{Dilation: [2]int{3, 4}}},
		{name: "stride larger than the kernel", x: [4]int{2, 1, 11, 10}, w: [4]int{2, 1, 2, 1}, conv: engine.Conv{Stride: sq(3)}},
		{name: "stride 4 with reflect padding", x: [4]int{1, 2, 13, 29}, w: [4]int{3, 2, 5, 6}, conv: engine.Conv{Stride: sq(4), Pad: [4]int{2, 3, 5, 1}, Border: engine.BorderReflect}},
		{name: "stride 4 padded past a narrow input", x: [4]int{1, 1, 6, 3}, w: [4]int{2, 1, 3, 7}, conv: engine.Conv{Stride: sq(4), Pad: [4]int{1, 0, 6, 6}, Fill: 1.5}},
		{name: "stride larger than the input leaves one output", x: [4]int{1, 1, 3, 3}, w: [4]int{1, 1, 2, 2}, conv: engine.Conv{Stride: sq(5)}},
		{name: "depthwise", x: [4]int{2, 4, 6, 6}, w: [4]int{4, 1, 3, 3}, bias: true, conv: engine.Conv{Groups: 4, Padding: engine.PadSame}},
		{name: "depthwise with a multiplier", x: [4]int{1, 3, 5, 6}, w: [4]int{6, 1, 2, 3}, conv: engine.Conv{Groups: 3}},
		{name: "two groups", x: [4]int{3, 4, 5, 5}, w: [4]int{4, 2, 2, 2}, bias: true, conv: engine.Conv{Groups: 2, Stride: [2]int{1, 2}}},
		{name: "same with an even kernel puts the extra pad after", x: [4]int{1, 1, 5, 6}, w: [4]int{1, 1, 4, 2}, conv: engine.Conv{Padding: engine.PadSame}},
		{name: "same with dilation", x: [4]int{1, 2, 6, 5}, w: [4]int{1, 2, 2, 3}, conv: engine.Conv{Padding: engine.PadSame, Dilation: [2]int{3, 2}, Border: engine.BorderReplicate}},
		{name: "full convolution as scipy convolve2d", x: [4]int{1, 1, 4, 5}, w: [4]int{1, 1, 3, 2}, conv: engine.Conv{Padding: engine.PadFull, Convolve: true}},
		{name: "full with a fill value", x: [4]int{1, 1, 3, 3}, w: [4]int{1, 1, 2, 3}, conv: engine.Conv{Padding: engine.PadFull, Fill: -2.5}},
		{name: "full symmetric with a kernel larger than the input", x: [4]int{1, 1, 2, 3}, w: [4]int{1, 1, 7, 8}, conv: engine.Conv{Padding: engine.PadFull, Border: engine.BorderSymmetric, Convolve: true}},
		{name: "full circular with a kernel larger than the input", x: [4]int{1, 1, 3, 2}, w: [4]int{1, 1, 8, 7}, conv: engine.Conv{Padding: engine.PadFull, Border: engine.BorderCircular}},
		{name: "same symmetric with a kernel larger than the input", x: [4]int{1, 1, 2, 2}, w: [4]int{1, 1, 9, 6}, conv: engine.Conv{Padding: engine.PadSame, Border: engine.BorderSymmetric}},
		{name: "replicate pads far beyond the input", x: [4]int{1, 1, 2, 3}, w: [4]int{1, 1, 2, 2}, conv: engine.Conv{Pad: [4]int{7, 1, 0, 9}, Border: engine.BorderReplicate}},
		{name: "circular pads far beyond the input", x: [4]int{1, 2, 3, 2}, w: [4]int{1, 2, 2, 2}, conv: engine.Conv{Pad: [4]int{8, 5, 6, 7}, Border: engine.BorderCircular}},
		{name: "symmetric pads far beyond the input", x: [4]int{1, 1, 2, 3}, w: [4]int{1, 1, 3, 2}, conv: engine.Conv{Pad: [4]int{9, 4, 7, 11}, Border: engine.BorderSymmetric}},
		{name: "reflect pads one below the input size", x: [4]int{1, 1, 4, 3}, w: [4]int{1, 1, 3, 3}, conv: engine.Conv{Pad: [4]int{3, 3, 2, 2}, Border: engine.BorderReflect}},
		{name: "reflect on a single row", x: [4]int{1, 1, 1, 5}, w: [4]int{1, 1, 1, 3}, conv: engine.Conv{Pad: [4]int{0, 0, 4, 1}, Border: engine.BorderReflect}},
		{name: "asymmetric zero pads with stride and dilation", x: [4]int{2, 2, 7, 8}, w: [4]int{3, 2, 3, 2}, bias: true,
			conv: engine.Conv{Pad: [4]int{0, 3, 2, 1}, Stride: [2]int{2, 3}, Dilation: [2]int{2, 1}}},
		{name: "stride 3 and dilation 3 with reflect", x: [4]int{1, 1, 9, 9}, w: [4]int{2, 1, 2, 3}, conv: engine.Conv{Pad: [4]int{2, 1, 8, 3}, Stride: sq(3), Dilation: sq(3), Border: engine.BorderReflect}},
		{name: "a tap count that uses every sweep size", x: [4]int{1, 3, 6, 6}, w: [4]int{2, 3, 3, 3}, conv: engine.Conv{Padding: engine.PadSame, Border: engine.BorderCircular, Convolve: true}},
	}

	cases = append(cases, singleChannelCases()...)
	named := len(cases)

	r := rand.New(rand.NewPCG(21, 22))
	for len(cases) < named+400 {
		N, C := 1+r.IntN(3), 1+r.IntN(4)
		groupChoices := []int{1, C} // ungrouped, depthwise
		if C%2 == 0 {
			groupChoices = append(groupChoices, 2)
		}
		groups := groupChoices[r.IntN(len(groupChoices))]
		O := groups * (1 + r.IntN(4/groups))
		H, W := 1+r.IntN(8), 1+r.IntN(8)
		kh, kw := 1+r.IntN(4), 1+r.IntN(4)
		cv := engine.Conv{
			Stride:   [2]int{1 + r.IntN(3), 1 + r.IntN(3)},
			Dilation: [2]int{1 + r.IntN(3), 1 + r.IntN(3)},
			Padding:  engine.Padding(r.IntN(4)),
			Border:   engine.Border(r.IntN(5)),
			Groups:   groups,
			Convolve: r.IntN(2) == 0,
		}
		randomPads(r, &cv, H, W, 4)
		c := convCase{x: [4]int{N, C, H, W}, w: [4]int{O, C / groups, kh, kw}, bias: r.IntN(2) == 0, conv: cv}
		if _, ok := refResolve(c.x, c.w, c.conv); !ok {
			continue
		}
		c.name = fmt.Sprintf("random %d", len(cases)-named+1)
		cases = append(cases, c)
	}
	return cases
}

// singleChannelCases are valid correlations of one plane with one kernel,
// d2l's corr2d: odd sizes, single rows and columns, kernels spanning the
// input, every combination of the row kernel's sweeps of 8, 4, then 3, 2 or
// 1 taps, and random sizes up to 70x70.
func singleChannelCases() []convCase {
	s := []struct {
		name           string
		xr, xc, kr, kc int
	}{
		{"kernel equal to a square input", 5, 5, 5, 5},
		{"kernel equal to a wide input", 3, 11, 3, 11},
		{"odd sizes", 13, 17, 3, 5},
		{"odd sizes with even kernel", 15, 9, 4, 2},
		{"a single input row", 1, 40, 1, 7},
		{"a single input column", 40, 1, 7, 1},
		{"1xN kernel on a square", 20, 20, 1, 6},
		{"Nx1 kernel on a square", 20, 20, 6, 1},
		{"tall input", 67, 4, 3, 3},
		{"wide input", 4, 67, 3, 3},
		{"kernel spanning all columns", 10, 6, 2, 6},
		{"kernel spanning all rows", 6, 10, 6, 2},
		{"one tap", 12, 12, 1, 1},
		{"two taps", 12, 12, 1, 2},
		{"three taps", 12, 12, 3, 1},
		{"four taps", 12, 12, 2, 2},
		{"five taps", 12, 12, 1, 5},
		{"seven taps", 12, 12, 7, 1},
		{"eight taps", 12, 12, 2, 4},
		{"nine taps", 12, 12, 3, 3},
		{"ten taps", 12, 12, 2, 5},
		{"eleven taps", 12, 12, 1, 11},
		{"twelve taps", 12, 12, 3, 4},
		{"fifteen taps", 12, 12, 3, 5},
		{"twenty-five taps", 12, 12, 5, 5},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		xr, xc := 1+r.IntN(70), 1+r.IntN(70)
		kr, kc := 1+r.IntN(xr), 1+r.IntN(xc)
		s = append(s, struct {
			name           string
			xr, xc, kr, kc int
		}{fmt.Sprintf("random %dx%d with %dx%d kernel", xr, xc, kr, kc), xr, xc, kr, kc})
	}
	cases := make([]convCase, len(s))
	for i, v := range s {
		cases[i] = convCase{name: "one plane: " + v.name, x: [4]int{1, 1, v.xr, v.xc}, w: [4]int{1, 1, v.kr, v.kc}}
	}
	return cases
}

// checkTensorClose marks t failed unless got has want's shape, exactly as
// many elements as the shape (len and cap), and every element within
// tolerance of want relative to the element's Σ|terms|.
func checkTensorClose[T engine.Float](t testing.TB, got, want engine.Tensor[T], scale []float64) {
	t.Helper()
	if got.Shape != want.Shape {
		t.Errorf("result has shape %v, want %v", got.Shape, want.Shape)
		return
	}
	if len(got.Data) != len(want.Data) || cap(got.Data) != len(want.Data) {
		t.Errorf("result has len %d cap %d, want both %d", len(got.Data), cap(got.Data), len(want.Data))
		return
	}
	tol := tolerance[T]()
	bad := 0
	for i, g := range got.Data {
		w := want.Data[i]
		if math.Abs(float64(g)-float64(w)) > tol*scale[i] || math.IsNaN(float64(g)) != math.IsNaN(float64(w)) {
			if bad++; bad <= 5 {
				t.Errorf("element %d (of shape %v) = %v, want %v (scale %g)", i, want.Shape, g, w, scale[i])
			}
		}
	}
	if bad > 5 {
		t.Errorf("... and %d more wrong elements", bad-5)
	}
}

// Every method runs over the same cases: the direct path (with the SIMD row
// kernel where the CPU has one), the FFT path, and whichever Auto picks.
var convMethods = []engine.Method{engine.MethodAuto, engine.MethodDirect, engine.MethodFFT}

func TestConv2DMatchesReference(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 3, MinBandWork: 16})
	for _, m := range convMethods {
		t.Run("method="+m.String(), func(t *testing.T) {
			t.Run("dtype=float32", func(t *testing.T) { testConvMatches[float32](t, e, m) })
			t.Run("dtype=float64", func(t *testing.T) { testConvMatches[float64](t, e, m) })
		})
	}
}

// fftScale widens the per-element scale for the FFT path, whose error is
// bounded relative to the largest Σ|terms| of the result, not each
// element's own: 1e-10 of it in float64, and in float32, whose transforms
// run in complex64, fftError32 of it.
func fftScale[T engine.Float](scale []float64) []float64 {
	top := 0.0
	for _, v := range scale {
		top = max(top, v)
	}
	wide := make([]float64, len(scale))
	for i, v := range scale {
		wide[i] = v + top*fftError[T]()/tolerance[T]()
	}
	return wide
}

// fftError is the FFT path's error allowance relative to the largest
// Σ|terms| of a result.
func fftError[T engine.Float]() float64 {
	if tolerance[T]() > 1e-10 {
		return fftError32
	}
	return 1e-10
}

// fftError32 is the FFT path's float32 error allowance: a tenth of the
// float32 tolerance, for a transform in complex64 whose rounding (epsilon
// 6e-8) grows with the log of its length.
const fftError32 = 1e-6

func testConvMatches[T engine.Float](t *testing.T, e *engine.Engine, m engine.Method) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, c := range convCases() {
		c.conv.Method = m
		t.Run(c.name, func(t *testing.T) {
			x, w := randTensor[T](r, c.x), randTensor[T](r, c.w)
			var bias []T
			if c.bias {
				bias = randSlice[T](r, c.w[0])
			}
			x0, w0, b0 := cloneTensor(x), cloneTensor(w), append([]T(nil), bias...)
			var st engine.Stats
			got, err := engine.Conv2D(engine.WithStats(context.Background(), &st), e, engine.Interactive, x, w, bias, c.conv)
			if err != nil {
				t.Fatalf("Conv2D(%v) = %v", c, err)
			}
			if ran := st.Method; ran == engine.MethodAuto || (m != engine.MethodAuto && ran != m) {
				t.Errorf("Conv2D(%v) reported method %v, want %v", c, ran, m)
			}
			want, scale := refConv2D(x, w, bias, c.conv)
			if m != engine.MethodDirect {
				scale = fftScale[T](scale)
			}
			checkTensorClose(t, got, want, scale)
			if diff := cmp.Diff(x0, x); diff != "" {
				t.Errorf("Conv2D modified its input (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(w0, w); diff != "" {
				t.Errorf("Conv2D modified its kernel (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(b0, append([]T(nil), bias...)); diff != "" {
				t.Errorf("Conv2D modified its bias (-before +after):\n%s", diff)
			}
			if t.Failed() {
				t.Logf("case: %v", c)
			}

			_, out, err := c.conv.Geometry(c.x, c.w)
			if err != nil || out != want.Shape {
				t.Errorf("Geometry(%v) = %v, %v; want %v, nil", c, out, err, want.Shape)
			}
		})
	}
}

func TestConv2DWeightGradMatchesReference(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 3, MinBandWork: 16})
	t.Run("dtype=float32", func(t *testing.T) { testWeightGradMatches[float32](t, e) })
	t.Run("dtype=float64", func(t *testing.T) { testWeightGradMatches[float64](t, e) })
}

func testWeightGradMatches[T engine.Float](t *testing.T, e *engine.Engine) {
	r := rand.New(rand.NewPCG(25, 26))
	for _, c := range convCases() {
		t.Run(c.name, func(t *testing.T) {
			_, out, err := c.conv.Geometry(c.x, c.w)
			if err != nil {
				t.Fatalf("Geometry(%v) = %v", c, err)
			}
			x, dy := randTensor[T](r, c.x), randTensor[T](r, out)
			x0, dy0 := cloneTensor(x), cloneTensor(dy)
			got, err := engine.Conv2DWeightGrad(context.Background(), e, engine.Background, x, dy, c.w[2], c.w[3], c.conv)
			if err != nil {
				t.Fatalf("Conv2DWeightGrad(%v) = %v", c, err)
			}
			want, scale := refWeightGrad(x, dy, c.w[2], c.w[3], c.conv)
			checkTensorClose(t, got, want, scale)
			if diff := cmp.Diff(x0, x); diff != "" {
				t.Errorf("Conv2DWeightGrad modified its input (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(dy0, dy); diff != "" {
				t.Errorf("Conv2DWeightGrad modified dy (-before +after):\n%s", diff)
			}
			if t.Failed() {
				t.Logf("case: %v", c)
			}
		})
	}
}

// The weight gradient is the derivative of L(w) = Σ dy·Conv2D(x, w). L is
// linear in w, so a central difference is exact up to rounding and checks
// Conv2DWeightGrad against Conv2D itself, flips and all.
func TestConv2DWeightGradIsTheDerivativeOfConv2D(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 2, MinBandWork: 1})
	tests := []convCase{
		{name: "grouped, strided and dilated with zero pads", x: [4]int{2, 4, 6, 7}, w: [4]int{2, 2, 2, 3},
			conv: engine.Conv{Groups: 2, Stride: [2]int{2, 1}, Dilation: [2]int{1, 2}, Pad: [4]int{1, 0, 2, 1}, Fill: 0.5}},
		{name: "a full symmetric convolution", x: [4]int{1, 2, 3, 4}, w: [4]int{3, 2, 3, 2},
			conv: engine.Conv{Padding: engine.PadFull, Border: engine.BorderSymmetric, Convolve: true}},
		{name: "a same circular correlation with a bias", x: [4]int{2, 1, 5, 4}, w: [4]int{2, 1, 4, 3}, bias: true,
			conv: engine.Conv{Padding: engine.PadSame, Border: engine.BorderCircular}},
	}
	r := rand.New(rand.NewPCG(27, 28))
	ctx := context.Background()
	for _, c := range tests {
		t.Run(c.name, func(t *testing.T) {
			x, w := randTensor[float64](r, c.x), randTensor[float64](r, c.w)
			var bias []float64
			if c.bias {
				bias = randSlice[float64](r, c.w[0])
			}
			_, out, err := c.conv.Geometry(c.x, c.w)
			if err != nil {
				t.Fatal(err)
			}
			dy := randTensor[float64](r, out)
			loss := func(w engine.Tensor[float64]) float64 {
				y, err := engine.Conv2D(ctx, e, engine.Interactive, x, w, bias, c.conv)
				if err != nil {
					t.Fatalf("Conv2D(%v) = %v", c, err)
				}
				s := 0.0
				for i, v := range y.Data {
					s += dy.Data[i] * v
				}
				return s
			}
			grad, err := engine.Conv2DWeightGrad(ctx, e, engine.Interactive, x, dy, c.w[2], c.w[3], c.conv)
			if err != nil {
				t.Fatalf("Conv2DWeightGrad(%v) = %v", c, err)
			}
			const h = 1e-3
			for k := range w.Data {
				wp, wm := cloneTensor(w), cloneTensor(w)
				wp.Data[k] += h
				wm.Data[k] -= h
				fd := (loss(wp) - loss(wm)) / (2 * h)
				if math.Abs(fd-grad.Data[k]) > 1e-9*max(1, math.Abs(fd)) {
					t.Errorf("dL/dw[%d] = %v, central difference %v", k, grad.Data[k], fd)
				}
			}
		})
	}
}

// Exact examples whose results are integers, from d2l.ai and from numpy's
// polynomial product (which is what scipy's convolve2d "full" computes).
func TestConv2DExamples(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 2, MinBandWork: 1})
	ten := func(h, w int, v ...float64) engine.Tensor[float64] {
		return engine.Tensor[float64]{Shape: [4]int{1, 1, h, w}, Data: v}
	}
	// d2l's edge image: ones with columns 2..5 zeroed, and its transpose.
	img, imgT := ten(6, 8, make([]float64, 48)...), ten(8, 6, make([]float64, 48)...)
	for i := range 6 {
		for j := range 8 {
			if j < 2 || j > 5 {
				img.Data[i*8+j], imgT.Data[j*6+i] = 1, 1
			}
		}
	}
	edges := make([]float64, 0, 42)
	for range 6 {
		edges = append(edges, 0, 1, 0, 0, 0, -1, 0)
	}
	tests := []struct {
		name string
		x, w engine.Tensor[float64]
		bias []float64
		conv engine.Conv
		want engine.Tensor[float64]
	}{
		{
			name: "d2l's 3x3 example gives 19 25 37 43",
			x:    ten(3, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8), w: ten(2, 2, 0, 1, 2, 3),
			want: ten(2, 2, 19, 25, 37, 43),
		},
		{
			name: "d2l's edge kernel finds both vertical edges",
			x:    img, w: ten(1, 2, 1, -1),
			want: ten(6, 7, edges...),
		},
		{
			name: "d2l's edge kernel finds nothing in the transposed image",
			x:    imgT, w: ten(1, 2, 1, -1),
			want: ten(8, 5, make([]float64, 40)...),
		},
		{
			name: "the bias is added to every element",
			x:    ten(3, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8), w: ten(2, 2, 0, 1, 2, 3), bias: []float64{-19},
			want: ten(2, 2, 0, 6, 18, 24),
		},
		{
			name: "a full convolution multiplies polynomials",
			x:    ten(2, 2, 1, 2, 3, 4), w: ten(2, 2, 1, 2, 3, 4),
			conv: engine.Conv{Padding: engine.PadFull, Convolve: true},
			want: ten(3, 3, 1, 4, 4, 6, 20, 16, 9, 24, 16),
		},
		{
			name: "a full correlation is the convolution with the kernel flipped",
			x:    ten(2, 2, 1, 2, 3, 4), w: ten(2, 2, 4, 3, 2, 1),
			conv: engine.Conv{Padding: engine.PadFull},
			want: ten(3, 3, 1, 4, 4, 6, 20, 16, 9, 24, 16),
		},
		{
			name: "stride 2 picks every other valid output",
			x:    ten(3, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), w: ten(1, 1, 1),
			conv: engine.Conv{Stride: [2]int{2, 2}},
			want: ten(2, 3, 1, 3, 5, 11, 13, 15),
		},
		{
			name: "dilation 2 reads every other cell",
			x:    ten(1, 5, 1, 2, 3, 4, 5), w: ten(1, 2, 1, 10),
			conv: engine.Conv{Dilation: [2]int{1, 2}},
			want: ten(1, 3, 31, 42, 53),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := engine.Conv2D(context.Background(), e, engine.Interactive, tt.x, tt.w, tt.bias, tt.conv)
			if err != nil {
				t.Fatalf("Conv2D(%v, %v) = %v", tt.x, tt.w, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Conv2D(%v, %v) mismatch (-want +got):\n%s", tt.x, tt.w, diff)
			}
			// float32 must give the same exact integers.
			got32, err := engine.Conv2D(context.Background(), e, engine.Background, to32(tt.x), to32(tt.w), engine.Convert[float32](tt.bias), tt.conv)
			if err != nil {
				t.Fatalf("Conv2D(float32 %v, %v) = %v", tt.x, tt.w, err)
			}
			if diff := cmp.Diff(to32(tt.want), got32); diff != "" {
				t.Errorf("Conv2D(float32 %v, %v) mismatch (-want +got):\n%s", tt.x, tt.w, diff)
			}
		})
	}
}

func to32(t engine.Tensor[float64]) engine.Tensor[float32] {
	return engine.Tensor[float32]{Shape: t.Shape, Data: engine.Convert[float32](t.Data)}
}

// With a 1x1 kernel of one, the output is the padded input itself, which
// shows each border mode cell by cell, along rows and along columns. The
// expected rows are the contract's pictures, extended by hand past the input.
func TestConv2DBorders(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 2, MinBandWork: 1})
	tests := []struct {
		name        string
		in          []float64
		border      engine.Border
		fill        float64
		before, aft int
		want        []float64
	}{
		{"zeros with a fill value", []float64{1, 2, 3, 4}, engine.BorderZeros, 9, 2, 2, []float64{9, 9, 1, 2, 3, 4, 9, 9}},
		{"reflect", []float64{1, 2, 3, 4}, engine.BorderReflect, 0, 2, 2, []float64{3, 2, 1, 2, 3, 4, 3, 2}},
		{"reflect as far as allowed", []float64{1, 2, 3, 4}, engine.BorderReflect, 0, 3, 3, []float64{4, 3, 2, 1, 2, 3, 4, 3, 2, 1}},
		{"replicate", []float64{1, 2, 3, 4}, engine.BorderReplicate, 0, 2, 2, []float64{1, 1, 1, 2, 3, 4, 4, 4}},
		{"replicate beyond the input", []float64{1, 2}, engine.BorderReplicate, 0, 3, 4, []float64{1, 1, 1, 1, 2, 2, 2, 2, 2}},
		{"circular", []float64{1, 2, 3, 4}, engine.BorderCircular, 0, 2, 2, []float64{3, 4, 1, 2, 3, 4, 1, 2}},
		{"circular beyond the input", []float64{1, 2, 3}, engine.BorderCircular, 0, 5, 5, []float64{2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2}},
		{"symmetric", []float64{1, 2, 3, 4}, engine.BorderSymmetric, 0, 2, 2, []float64{2, 1, 1, 2, 3, 4, 4, 3}},
		{"symmetric beyond the input", []float64{1, 2, 3}, engine.BorderSymmetric, 0, 6, 7, []float64{1, 2, 3, 3, 2, 1, 1, 2, 3, 3, 2, 1, 1, 2, 3, 3}},
		{"symmetric on one cell", []float64{5}, engine.BorderSymmetric, 0, 2, 1, []float64{5, 5, 5, 5}},
	}
	one := engine.Tensor[float64]{Shape: [4]int{1, 1, 1, 1}, Data: []float64{1}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := len(tt.in)
			rows := engine.Conv{Pad: [4]int{0, 0, tt.before, tt.aft}, Border: tt.border, Fill: tt.fill}
			got, err := engine.Conv2D(context.Background(), e, engine.Interactive, engine.Tensor[float64]{Shape: [4]int{1, 1, 1, n}, Data: tt.in}, one, nil, rows)
			if err != nil {
				t.Fatalf("Conv2D(row %v, %+v) = %v", tt.in, rows, err)
			}
			want := engine.Tensor[float64]{Shape: [4]int{1, 1, 1, len(tt.want)}, Data: tt.want}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Conv2D(row %v, %+v) mismatch (-want +got):\n%s", tt.in, rows, diff)
			}

			cols := engine.Conv{Pad: [4]int{tt.before, tt.aft, 0, 0}, Border: tt.border, Fill: tt.fill}
			got, err = engine.Conv2D(context.Background(), e, engine.Interactive, engine.Tensor[float64]{Shape: [4]int{1, 1, n, 1}, Data: tt.in}, one, nil, cols)
			if err != nil {
				t.Fatalf("Conv2D(column %v, %+v) = %v", tt.in, cols, err)
			}
			want.Shape = [4]int{1, 1, len(tt.want), 1}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Conv2D(column %v, %+v) mismatch (-want +got):\n%s", tt.in, cols, diff)
			}
		})
	}
}

// The engine folds an index into the input in one step of modular
// arithmetic; the reference mirrors or wraps one edge at a time until the
// index lands inside. They must agree far beyond the input on both sides.
func TestFoldMatchesRepeatedMirroring(t *testing.T) {
	for b, name := range borderNames {
		t.Run(name, func(t *testing.T) {
			for n := 1; n <= 7; n++ {
				for i := -40; i < 40+n; i++ {
					if b == engine.BorderReflect && (i <= -n || i >= 2*n-1) {
						continue // beyond what reflection allows; see below
					}
					want, ok := refIndex(i, n, b)
					if !ok {
						want = -1
					}
					if got := engine.Fold(i, n, b); got != want {
						t.Errorf("Fold(%d, %d) = %d, want %d", i, n, got, want)
					}
				}
			}
		})
	}
	// Conv2D never folds a reflection more than once, but fold itself
	// handles any index and must still agree.
	t.Run("reflect repeatedly", func(t *testing.T) {
		for n := 1; n <= 7; n++ {
			for i := -40; i < 40+n; i++ {
				want, _ := refIndex(i, n, engine.BorderReflect)
				if got := engine.Fold(i, n, engine.BorderReflect); got != want {
					t.Errorf("Fold(%d, %d) = %d, want %d", i, n, got, want)
				}
			}
		}
	})
}

func TestConvGeometry(t *testing.T) {
	tests := []struct {
		name      string
		in, w     [4]int
		conv      engine.Conv
		wantPads  [4]int
		wantShape [4]int
	}{
		{"ResNet's stem halves 224 to 112", [4]int{1, 3, 224, 224}, [4]int{64, 3, 7, 7},
			engine.Conv{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}}, [4]int{3, 3, 3, 3}, [4]int{1, 64, 112, 112}},
		{"valid ignores Pad", [4]int{2, 1, 10, 8}, [4]int{4, 1, 3, 2},
			engine.Conv{Padding: engine.PadValid, Pad: [4]int{5, 5, 5, 5}}, [4]int{}, [4]int{2, 4, 8, 7}},
		{"same with an odd kernel pads evenly", [4]int{1, 1, 9, 9}, [4]int{1, 1, 5, 3},
			engine.Conv{Padding: engine.PadSame}, [4]int{2, 2, 1, 1}, [4]int{1, 1, 9, 9}},
		{"same with an even kernel pads one more after", [4]int{1, 1, 9, 9}, [4]int{1, 1, 4, 2},
			engine.Conv{Padding: engine.PadSame}, [4]int{1, 2, 0, 1}, [4]int{1, 1, 9, 9}},
		{"same counts the dilated extent", [4]int{1, 1, 9, 9}, [4]int{1, 1, 2, 3},
			engine.Conv{Padding: engine.PadSame, Dilation: [2]int{3, 2}}, [4]int{1, 2, 2, 2}, [4]int{1, 1, 9, 9}},
		{"full pads the dilated extent minus one", [4]int{1, 1, 4, 5}, [4]int{1, 1, 3, 2},
			engine.Conv{Padding: engine.PadFull, Dilation: [2]int{1, 2}}, [4]int{2, 2, 2, 2}, [4]int{1, 1, 6, 7}},
		{"stride rounds the output down", [4]int{1, 1, 10, 11}, [4]int{1, 1, 3, 3},
			engine.Conv{Stride: [2]int{3, 4}}, [4]int{}, [4]int{1, 1, 3, 3}},
		{"grouped channels", [4]int{1, 6, 5, 5}, [4]int{9, 2, 1, 1},
			engine.Conv{Groups: 3}, [4]int{}, [4]int{1, 9, 5, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pads, out, err := tt.conv.Geometry(tt.in, tt.w)
			if err != nil || pads != tt.wantPads || out != tt.wantShape {
				t.Errorf("Geometry(%v, %v) = %v, %v, %v; want %v, %v, nil", tt.in, tt.w, pads, out, err, tt.wantPads, tt.wantShape)
			}
		})
	}
}

func TestConv2DRejectsInvalidParameters(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 1})
	tests := []struct {
		name    string
		x, w    [4]int
		xn, wn  int // data lengths; -1 means the shape's product
		bias    []float64
		conv    engine.Conv
		param   engine.Param
		geomErr bool // Geometry sees it too (it does not see data or bias)
	}{
		{"an input with a zero dimension", [4]int{1, 0, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil, engine.Conv{}, engine.ParamInput, true},
		{"an input with a negative dimension", [4]int{1, 1, -3, 3}, [4]int{1, 1, 1, 1}, 0, -1, nil, engine.Conv{}, engine.ParamInput, true},
		{"no images", [4]int{0, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil, engine.Conv{}, engine.ParamInput, true},
		{"too little input data", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, 8, -1, nil, engine.Conv{}, engine.ParamInput, false},
		{"too much input data", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, 10, -1, nil, engine.Conv{}, engine.ParamInput, false},
		{"nil input data", [4]int{1, 1, 2, 2}, [4]int{1, 1, 1, 1}, 0, -1, nil, engine.Conv{}, engine.ParamInput, false},
		{"input data a multiple of the rows but too much", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, 12, -1, nil, engine.Conv{}, engine.ParamInput, false},
		{"too much kernel data", [4]int{1, 1, 3, 3}, [4]int{1, 1, 2, 2}, -1, 5, nil, engine.Conv{}, engine.ParamKernel, false},
		{"a kernel wider than the input", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 4}, -1, -1, nil, engine.Conv{}, engine.ParamKernel, true},
		{"a kernel larger in both dimensions", [4]int{1, 1, 2, 2}, [4]int{1, 1, 3, 3}, -1, -1, nil, engine.Conv{}, engine.ParamKernel, true},
		{"a kernel with a zero dimension", [4]int{1, 1, 3, 3}, [4]int{1, 1, 0, 1}, -1, -1, nil, engine.Conv{}, engine.ParamKernel, true},
		{"no output channels", [4]int{1, 1, 3, 3}, [4]int{0, 1, 1, 1}, -1, -1, nil, engine.Conv{}, engine.ParamKernel, true},
		{"too little kernel data", [4]int{1, 1, 3, 3}, [4]int{1, 1, 2, 2}, -1, 3, nil, engine.Conv{}, engine.ParamKernel, false},
		{"input channels not divisible by groups", [4]int{1, 3, 3, 3}, [4]int{2, 1, 1, 1}, -1, -1, nil, engine.Conv{Groups: 2}, engine.ParamGroups, true},
		{"output channels not divisible by groups", [4]int{1, 4, 3, 3}, [4]int{3, 2, 1, 1}, -1, -1, nil, engine.Conv{Groups: 2}, engine.ParamGroups, true},
		{"negative groups", [4]int{1, 2, 3, 3}, [4]int{2, 1, 1, 1}, -1, -1, nil, engine.Conv{Groups: -2}, engine.ParamGroups, true},
		{"kernel channels other than C/groups", [4]int{1, 4, 3, 3}, [4]int{2, 4, 1, 1}, -1, -1, nil, engine.Conv{Groups: 2}, engine.ParamKernel, true},
		{"kernel channels other than C", [4]int{1, 3, 3, 3}, [4]int{2, 2, 1, 1}, -1, -1, nil, engine.Conv{}, engine.ParamKernel, true},
		{"a bias per input channel", [4]int{1, 3, 3, 3}, [4]int{2, 3, 1, 1}, -1, -1, []float64{1, 2, 3}, engine.Conv{}, engine.ParamBias, false},
		{"an empty non-nil bias", [4]int{1, 1, 3, 3}, [4]int{2, 1, 1, 1}, -1, -1, []float64{}, engine.Conv{}, engine.ParamBias, false},
		{"a negative stride", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil, engine.Conv{Stride: [2]int{1, -1}}, engine.ParamStride, true},
		{"a negative dilation", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil, engine.Conv{Dilation: [2]int{-2, 1}}, engine.ParamDilation, true},
		{"a negative explicit pad", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil, engine.Conv{Pad: [4]int{0, 0, 0, -1}}, engine.ParamPadding, true},
		{"an unknown padding", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil, engine.Conv{Padding: 4}, engine.ParamPadding, true},
		{"a negative padding", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil, engine.Conv{Padding: -1}, engine.ParamPadding, true},
		{"an unknown border", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil, engine.Conv{Border: 5}, engine.ParamBorder, true},
		{"same with stride 2", [4]int{1, 1, 6, 6}, [4]int{1, 1, 3, 3}, -1, -1, nil, engine.Conv{Padding: engine.PadSame, Stride: [2]int{1, 2}}, engine.ParamPadding, true},
		{"a reflect pad equal to the input height", [4]int{1, 1, 3, 5}, [4]int{1, 1, 1, 1}, -1, -1, nil,
			engine.Conv{Pad: [4]int{0, 3, 0, 0}, Border: engine.BorderReflect}, engine.ParamPadding, true},
		{"a reflect pad equal to the input width", [4]int{1, 1, 5, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil,
			engine.Conv{Pad: [4]int{0, 0, 3, 0}, Border: engine.BorderReflect}, engine.ParamPadding, true},
		{"full reflect with a kernel as large as the input", [4]int{1, 1, 4, 4}, [4]int{1, 1, 5, 1}, -1, -1, nil,
			engine.Conv{Padding: engine.PadFull, Border: engine.BorderReflect}, engine.ParamPadding, true},
		{"same reflect with a kernel twice the input", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 7}, -1, -1, nil,
			engine.Conv{Padding: engine.PadSame, Border: engine.BorderReflect}, engine.ParamPadding, true},
		{"a kernel taller than the input", [4]int{1, 1, 3, 3}, [4]int{1, 1, 4, 1}, -1, -1, nil, engine.Conv{}, engine.ParamKernel, true},
		{"a kernel wider than the padded input", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 6}, -1, -1, nil,
			engine.Conv{Pad: [4]int{0, 0, 1, 1}}, engine.ParamKernel, true},
		{"dilation stretching the kernel past the input", [4]int{1, 1, 7, 7}, [4]int{1, 1, 3, 3}, -1, -1, nil,
			engine.Conv{Dilation: [2]int{4, 1}}, engine.ParamKernel, true},
		{"a fill value with reflect", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil,
			engine.Conv{Border: engine.BorderReflect, Fill: 1}, engine.ParamFill, true},
		{"a fill value with replicate", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil,
			engine.Conv{Border: engine.BorderReplicate, Fill: -0.5}, engine.ParamFill, true},
		{"a NaN fill value with circular", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil,
			engine.Conv{Border: engine.BorderCircular, Fill: math.NaN()}, engine.ParamFill, true},
		{"a dilation that overflows", [4]int{1, 1, 3, 3}, [4]int{1, 1, 3, 3}, -1, -1, nil,
			engine.Conv{Dilation: [2]int{math.MaxInt/2 + 1, 1}}, engine.ParamDilation, true},
		{"pads that overflow", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil,
			engine.Conv{Pad: [4]int{math.MaxInt, math.MaxInt, 0, 0}, Border: engine.BorderReplicate}, engine.ParamPadding, true},
		{"an output too large to allocate", [4]int{1, 1, 3, 3}, [4]int{1, 1, 1, 1}, -1, -1, nil,
			engine.Conv{Pad: [4]int{1 << 40, 0, 1 << 40, 0}}, engine.ParamOutput, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size := func(s [4]int, n int) int {
				if n >= 0 {
					return n
				}
				return s[0] * s[1] * s[2] * s[3]
			}
			x := engine.Tensor[float64]{Shape: tt.x, Data: make([]float64, size(tt.x, tt.xn))}
			w := engine.Tensor[float64]{Shape: tt.w, Data: make([]float64, size(tt.w, tt.wn))}
			got, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, tt.bias, tt.conv)
			checkParamError(t, "Conv2D", err, tt.param)
			if got.Data != nil || got.Shape != [4]int{} {
				t.Errorf("Conv2D returned %v along with its error, want the zero Tensor", got.Shape)
			}
			_, _, gerr := tt.conv.Geometry(tt.x, tt.w)
			if tt.geomErr {
				checkParamError(t, "Geometry", gerr, tt.param)
			} else if gerr != nil && tt.param != engine.ParamOutput {
				t.Errorf("Geometry = %v, want nil (only the data is wrong)", gerr)
			}
		})
	}
}

func TestConv2DWeightGradRejectsInvalidParameters(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 1})
	x := engine.Tensor[float64]{Shape: [4]int{2, 4, 5, 5}, Data: make([]float64, 200)}
	dy := func(s [4]int) engine.Tensor[float64] {
		return engine.Tensor[float64]{Shape: s, Data: make([]float64, max(0, s[0]*s[1]*s[2]*s[3]))}
	}
	tests := []struct {
		name   string
		x, dy  engine.Tensor[float64]
		kh, kw int
		conv   engine.Conv
		param  engine.Param
	}{
		{"dy with the wrong height", x, dy([4]int{2, 3, 4, 3}), 3, 3, engine.Conv{}, engine.ParamGradOutput},
		{"dy with the wrong batch", x, dy([4]int{1, 3, 3, 3}), 3, 3, engine.Conv{}, engine.ParamGradOutput},
		{"dy with no channels", x, dy([4]int{2, 0, 3, 3}), 3, 3, engine.Conv{}, engine.ParamGradOutput},
		{"dy with too little data", x, engine.Tensor[float64]{Shape: [4]int{2, 3, 3, 3}, Data: make([]float64, 53)}, 3, 3, engine.Conv{}, engine.ParamGradOutput},
		{"a zero kernel height", x, dy([4]int{2, 3, 3, 3}), 0, 3, engine.Conv{}, engine.ParamKernel},
		{"a kernel larger than the input", x, dy([4]int{2, 3, 1, 1}), 6, 5, engine.Conv{}, engine.ParamKernel},
		{"input channels not divisible by groups", x, dy([4]int{2, 3, 3, 3}), 3, 3, engine.Conv{Groups: 3}, engine.ParamGroups},
		{"output channels not divisible by groups", x, dy([4]int{2, 3, 3, 3}), 3, 3, engine.Conv{Groups: 2}, engine.ParamGroups},
		{"negative groups", x, dy([4]int{2, 3, 3, 3}), 3, 3, engine.Conv{Groups: -1}, engine.ParamGroups},
		{"more groups than channels", x, dy([4]int{2, 8, 3, 3}), 3, 3, engine.Conv{Groups: 8}, engine.ParamGroups},
		{"too little input data", engine.Tensor[float64]{Shape: x.Shape, Data: make([]float64, 199)}, dy([4]int{2, 3, 3, 3}), 3, 3, engine.Conv{}, engine.ParamInput},
		{"same with stride 2", x, dy([4]int{2, 3, 5, 5}), 3, 3, engine.Conv{Padding: engine.PadSame, Stride: [2]int{2, 2}}, engine.ParamPadding},
		{"a fill value with symmetric", x, dy([4]int{2, 3, 3, 3}), 3, 3, engine.Conv{Border: engine.BorderSymmetric, Fill: 2}, engine.ParamFill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := engine.Conv2DWeightGrad(context.Background(), e, engine.Interactive, tt.x, tt.dy, tt.kh, tt.kw, tt.conv)
			checkParamError(t, "Conv2DWeightGrad", err, tt.param)
			if got.Data != nil {
				t.Errorf("Conv2DWeightGrad returned data along with its error")
			}
		})
	}
}

func checkParamError(t *testing.T, fn string, err error, p engine.Param) {
	t.Helper()
	var pe *engine.ParamError
	switch {
	case !errors.As(err, &pe):
		t.Errorf("%s = %v, want a *ParamError for %v", fn, err, p)
	case pe.Param != p:
		t.Errorf("%s = %v, want a *ParamError for %v", fn, err, p)
	case !errors.Is(err, engine.ErrShape):
		t.Errorf("%s = %v, want it to be ErrShape", fn, err)
	case err.Error() != "engine: "+p.String()+": "+pe.Msg:
		t.Errorf("%s error reads %q, want it to start with %q", fn, err.Error(), "engine: "+p.String()+": ")
	}
}

func TestConv2DRejectsUnknownPriority(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 1})
	x := engine.Tensor[float64]{Shape: [4]int{1, 1, 1, 1}, Data: []float64{1}}
	if _, err := engine.Conv2D(context.Background(), e, engine.Priority(7), x, x, nil, engine.Conv{}); err == nil {
		t.Errorf("Conv2D(priority 7) succeeded, want an error")
	}
	if _, err := engine.Conv2DWeightGrad(context.Background(), e, engine.Priority(-1), x, x, 1, 1, engine.Conv{}); err == nil {
		t.Errorf("Conv2DWeightGrad(priority -1) succeeded, want an error")
	}
}

// Every row kernel (the portable one and each SIMD one this build and CPU
// have) writes each output row through a slice whose capacity runs on into
// sentinel values, so a write past the row shows up as a changed sentinel.
// The lengths cover every block size of the SIMD kernels and their tails.
func TestConvRowStaysInsideItsOutput(t *testing.T) {
	t.Run("dtype=float32", testConvRowGuards[float32])
	t.Run("dtype=float64", testConvRowGuards[float64])
}

func testConvRowGuards[T engine.Float](t *testing.T) {
	const guard = 16
	sentinel := T(math.Pi * 1e6)
	for name, kernel := range engine.RowKernels[T]() {
		r := rand.New(rand.NewPCG(29, 30))
		for taps := 1; taps <= 27; taps++ {
			for _, n := range []int{1, 2, 3, 4, 7, 8, 9, 31, 33, 64, 67, 100, 131, 200} {
				t.Run(fmt.Sprintf("kernel=%s/taps=%d/len=%d", name, taps, n), func(t *testing.T) {
					x := randSlice[T](r, 300)
					k := randSlice[T](r, taps)
					offs := make([]int, taps)
					for i := range offs {
						offs[i] = r.IntN(len(x) - n + 1)
					}
					buf := make([]T, guard+n+guard)
					for i := range buf {
						buf[i] = sentinel
					}
					d := buf[guard : guard+n]
					kernel(d, x, offs, k)
					for i, v := range buf {
						if (i < guard || i >= guard+n) && v != sentinel {
							t.Errorf("sentinel at buffer index %d overwritten with %v", i, v)
						}
					}
					for j := range n {
						var want T
						scale := 0.0
						for tp := range taps {
							want += k[tp] * x[offs[tp]+j]
							scale += math.Abs(float64(k[tp]) * float64(x[offs[tp]+j]))
						}
						if math.Abs(float64(d[j])-float64(want)) > tolerance[T]()*scale {
							t.Errorf("d[%d] = %v, want %v", j, d[j], want)
						}
					}
				})
			}
		}
	}
}

// Splitting over many bands must give exactly what one band gives, since
// every element is computed by exactly one band in the same order.
func TestConv2DBandSplitDoesNotChangeResults(t *testing.T) {
	split := newTestEngine(t, engine.Config{Workers: 4, MinBandWork: 100})
	whole := newTestEngine(t, engine.Config{Workers: 1, MinBandWork: math.MaxInt})
	if n := split.Bands(296, 296, 25); n < 4 {
		t.Fatalf("a 300x300 request with a 5x5 kernel splits into %d bands, want at least 4", n)
	}
	if n := whole.Bands(296, 296, 25); n != 1 {
		t.Fatalf("with MinBandWork=MaxInt a request splits into %d bands, want 1", n)
	}
	r := rand.New(rand.NewPCG(31, 32))
	plane, k5 := randTensor[float64](r, [4]int{1, 1, 300, 300}), randTensor[float64](r, [4]int{1, 1, 5, 5})
	got1, err := engine.Conv2D(context.Background(), split, engine.Background, plane, k5, nil, engine.Conv{})
	if err != nil {
		t.Fatalf("Conv2D(one plane, split) = %v", err)
	}
	one1, err := engine.Conv2D(context.Background(), whole, engine.Background, plane, k5, nil, engine.Conv{})
	if err != nil {
		t.Fatalf("Conv2D(one plane, one band) = %v", err)
	}
	if diff := cmp.Diff(one1, got1); diff != "" {
		t.Errorf("split Conv2D of one plane differs from the single band (-one +split):\n%s", diff)
	}

	x := randTensor[float32](r, [4]int{3, 4, 20, 17})
	w := randTensor[float32](r, [4]int{6, 2, 3, 4})
	bias := randSlice[float32](r, 6)
	c := engine.Conv{Groups: 2, Padding: engine.PadSame, Border: engine.BorderSymmetric, Dilation: [2]int{2, 1}}
	ctx := context.Background()

	got, err := engine.Conv2D(ctx, split, engine.Background, x, w, bias, c)
	if err != nil {
		t.Fatalf("Conv2D(split) = %v", err)
	}
	one, err := engine.Conv2D(ctx, whole, engine.Background, x, w, bias, c)
	if err != nil {
		t.Fatalf("Conv2D(one band) = %v", err)
	}
	if diff := cmp.Diff(one, got); diff != "" {
		t.Errorf("split Conv2D differs from the single band (-one +split):\n%s", diff)
	}

	dy := randTensor[float32](r, got.Shape)
	gotW, err := engine.Conv2DWeightGrad(ctx, split, engine.Background, x, dy, 3, 4, c)
	if err != nil {
		t.Fatalf("Conv2DWeightGrad(split) = %v", err)
	}
	oneW, err := engine.Conv2DWeightGrad(ctx, whole, engine.Background, x, dy, 3, 4, c)
	if err != nil {
		t.Fatalf("Conv2DWeightGrad(one band) = %v", err)
	}
	if diff := cmp.Diff(oneW, gotW); diff != "" {
		t.Errorf("split Conv2DWeightGrad differs from the single band (-one +split):\n%s", diff)
	}

	// Padded single-channel planes: the small kernels take the interior
	// and the margins of each band's rows are computed together, so the
	// split decides which rows share a strip.
	for _, k := range []int{3, 5, 11} {
		x := randTensor[float32](r, [4]int{1, 1, 203, 61})
		w := randTensor[float32](r, [4]int{1, 1, k, k})
		c := engine.Conv{Padding: engine.PadFull, Border: engine.BorderReplicate}
		got, err := engine.Conv2D(ctx, split, engine.Background, x, w, nil, c)
		if err != nil {
			t.Fatalf("Conv2D(%dx%d full, split) = %v", k, k, err)
		}
		one, err := engine.Conv2D(ctx, whole, engine.Background, x, w, nil, c)
		if err != nil {
			t.Fatalf("Conv2D(%dx%d full, one band) = %v", k, k, err)
		}
		if diff := cmp.Diff(one, got); diff != "" {
			t.Errorf("split Conv2D (%dx%d full) differs from the single band (-one +split):\n%s", k, k, diff)
		}
	}
}

// A huge Conv2D cancelled once its bands are running stops: the bands that
// had started stop before their next row and the queued ones are skipped.
func TestConv2DCancelledMidwayStops(t *testing.T) {
	tests := []struct {
		name  string
		x, w  [4]int
		conv  engine.Conv
		bands func(*engine.Engine) int
	}{
		{"many channels, same reflect", [4]int{2, 8, 300, 300}, [4]int{8, 8, 5, 5}, engine.Conv{Padding: engine.PadSame, Border: engine.BorderReflect},
			func(e *engine.Engine) int { return e.Bands(2*8*300, 300, 8*25) }},
		{"one large plane, valid", [4]int{1, 1, 1500, 1500}, [4]int{1, 1, 9, 9}, engine.Conv{},
			func(e *engine.Engine) int { return e.Bands(1492, 1492, 81) }},
	}
	for _, tt := range tests {
		for _, workers := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/workers=%d", tt.name, workers), func(t *testing.T) {
				r := newRand()
				x := randTensor[float32](r, tt.x)
				w := randTensor[float32](r, tt.w)
				checkCancelledMidway(t, workers, tt.bands, func(ctx context.Context, e *engine.Engine) error {
					_, err := engine.Conv2D(ctx, e, engine.Background, x, w, nil, tt.conv)
					return err
				})
			})
		}
	}
}

func TestConv2DWithCancelledContextReturnsAtOnce(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 2})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	x := engine.Tensor[float64]{Shape: [4]int{1, 1, 4, 4}, Data: make([]float64, 16)}
	w := engine.Tensor[float64]{Shape: [4]int{1, 1, 2, 2}, Data: make([]float64, 4)}
	if _, err := engine.Conv2D(ctx, e, engine.Interactive, x, w, nil, engine.Conv{Pad: [4]int{1, 1, 1, 1}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Conv2D(cancelled ctx) = %v, want context.Canceled", err)
	}
	dy := engine.Tensor[float64]{Shape: [4]int{1, 1, 3, 3}, Data: make([]float64, 9)}
	if _, err := engine.Conv2DWeightGrad(ctx, e, engine.Background, x, dy, 2, 2, engine.Conv{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Conv2DWeightGrad(cancelled ctx) = %v, want context.Canceled", err)
	}
}

func TestInteractiveConv2DIsRejectedWhenTheQueueIsFull(t *testing.T) {
	g, e, reg := newGated(t, engine.Config{Workers: 1, QueueSize: 2, MinBandWork: 1})

	// Two bands: the worker holds the first, the second waits in the queue.
	first := goCorrelate(context.Background(), e, engine.Interactive, column(3), one)
	<-g.entered
	if got := depth(reg, "interactive")(); got != 1 {
		t.Fatalf("interactive queue depth = %v, want 1", got)
	}

	// Each request below needs two bands, and only one slot is free.
	x := engine.Tensor[float64]{Shape: [4]int{1, 1, 4, 4}, Data: make([]float64, 16)}
	w := engine.Tensor[float64]{Shape: [4]int{1, 1, 2, 2}, Data: make([]float64, 4)}
	if _, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, nil, engine.Conv{}); !errors.Is(err, engine.ErrOverloaded) {
		t.Errorf("Conv2D(full queue) = %v, want ErrOverloaded", err)
	}
	dy := engine.Tensor[float64]{Shape: [4]int{1, 1, 3, 3}, Data: make([]float64, 9)}
	if _, err := engine.Conv2DWeightGrad(context.Background(), e, engine.Interactive, x, dy, 2, 2, engine.Conv{}); !errors.Is(err, engine.ErrOverloaded) {
		t.Errorf("Conv2DWeightGrad(full queue) = %v, want ErrOverloaded", err)
	}
	if got := gauge(reg, "corr2d_engine_rejections_total", "interactive"); got != 2 {
		t.Errorf("interactive rejections = %v, want 2", got)
	}
	if got := depth(reg, "interactive")(); got != 1 {
		t.Errorf("interactive queue depth after rejection = %v, want 1 (all or nothing)", got)
	}

	g.open()
	if r := <-first; r.err != nil {
		t.Errorf("Correlate(first) = %v, want success", r.err)
	}
	if _, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, nil, engine.Conv{}); err != nil {
		t.Errorf("Conv2D once the queue has room = %v, want success", err)
	}
}

func TestConv2DAfterCloseFails(t *testing.T) {
	e, err := engine.New(engine.Config{Workers: 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Close()
	x := engine.Tensor[float64]{Shape: [4]int{1, 1, 2, 2}, Data: make([]float64, 4)}
	if _, err := engine.Conv2D(context.Background(), e, engine.Background, x, x, nil, engine.Conv{}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Conv2D after Close = %v, want ErrClosed", err)
	}
	goleak.VerifyNone(t)
}

// FuzzConv2D builds small problems, valid or not, from the fuzzer's bytes:
// params picks every shape and parameter (with out-of-range values now and
// then), data the values. Values are small integers, so every valid result is
// exact and must equal the reference bit for bit; anything invalid must be a
// *ParamError wrapping ErrShape, and nothing may panic.
func FuzzConv2D(f *testing.F) {
	e, err := engine.New(engine.Config{Workers: 3, MinBandWork: 1}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)

	f.Add([]byte{1, 1, 1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, 0}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{2, 4, 4, 6, 5, 3, 2, 2, 3, 2, 1, 3, 3, 4, 1, 2, 3, 0, 4, 1, 1, 1, 9, 1}, []byte{255, 3, 7, 128})
	f.Add([]byte{1, 2, 2, 2, 2, 4, 4, 1, 1, 1, 1, 2, 3, 2, 0, 0, 0, 0, 0, 2, 0, 1}, []byte{1})
	f.Add([]byte{1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 8, 8, 8, 8}, []byte{})
	f.Add([]byte{1, 3, 3, 5, 5, 2, 2, 2, 0, 1, 1, 4, 1, 0, 2, 2, 2, 2, 4, 200, 1}, []byte{5, 250})
	f.Fuzz(func(t *testing.T, params, data []byte) {
		fb := &fuzzBytes{params: params, data: data}
		nb := fb.next
		N, C, O := nb(3), nb(5), nb(5)
		H, W, kh, kw := nb(7), nb(7), nb(5), nb(5)
		c := engine.Conv{
			Stride:   [2]int{nb(5) - 1, nb(5) - 1},
			Dilation: [2]int{nb(5) - 1, nb(5) - 1},
			Groups:   nb(6) - 1,
			Padding:  engine.Padding(nb(6) - 1),
			Border:   engine.Border(nb(7) - 1),
		}
		c.Pad = [4]int{nb(10) - 1, nb(10) - 1, nb(10) - 1, nb(10) - 1}
		if nb(4) == 1 {
			c.Fill = float64(int8(nb(256)))
		}
		c.Convolve = nb(2) == 1
		cg := nb(5)
		if groups := max(c.Groups, 1); nb(4) != 0 && C%groups == 0 {
			cg = C / groups // usually right, so that most inputs are valid
		}
		biasMode, mangle := nb(3), nb(8)

		val := fb.value
		tensor := func(s [4]int, extra int) engine.Tensor[float64] {
			t := engine.Tensor[float64]{Shape: s, Data: make([]float64, max(0, s[0]*s[1]*s[2]*s[3]+extra))}
			for i := range t.Data {
				t.Data[i] = val()
			}
			return t
		}
		x := tensor([4]int{N, C, H, W}, map[int]int{1: 1, 2: -1}[mangle])
		w := tensor([4]int{O, cg, kh, kw}, map[int]int{3: 1, 4: -1}[mangle])
		var bias []float64
		if biasMode > 0 {
			bias = make([]float64, O+biasMode-1)
			for i := range bias {
				bias[i] = val()
			}
		}

		g, valid := refResolve(x.Shape, w.Shape, c)
		valid = valid && len(x.Data) == N*C*H*W && len(w.Data) == O*cg*kh*kw && (bias == nil || len(bias) == O)
		got, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, bias, c)
		if !valid {
			var pe *engine.ParamError
			if !errors.As(err, &pe) || !errors.Is(err, engine.ErrShape) {
				t.Fatalf("Conv2D(x %v[%d], w %v[%d], bias[%d], %+v) = %v, want a *ParamError",
					x.Shape, len(x.Data), w.Shape, len(w.Data), len(bias), c, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Conv2D(x %v, w %v, %+v) = %v", x.Shape, w.Shape, c, err)
		}
		want, _ := refConv2D(x, w, bias, c)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Conv2D(x %v, w %v, %+v) mismatch (-want +got):\n%s", x.Shape, w.Shape, c, diff)
		}

		dy := tensor([4]int{N, O, g.ho, g.wo}, 0)
		gotW, err := engine.Conv2DWeightGrad(context.Background(), e, engine.Interactive, x, dy, kh, kw, c)
		if err != nil {
			t.Fatalf("Conv2DWeightGrad(x %v, dy %v, %+v) = %v", x.Shape, dy.Shape, c, err)
		}
		wantW, _ := refWeightGrad(x, dy, kh, kw, c)
		if diff := cmp.Diff(wantW, gotW); diff != "" {
			t.Fatalf("Conv2DWeightGrad(x %v, dy %v, %+v) mismatch (-want +got):\n%s", x.Shape, dy.Shape, c, diff)
		}
	})
}

// BenchmarkConv2D reports GFLOP/s (two per multiply-add) for the engine on
// all its workers, on one worker, and for the reference loop.
func BenchmarkConv2D(b *testing.B) {
	cases := []struct {
		name string
		x, w [4]int
		conv engine.Conv
	}{
		{"n=1/c=1/o=1/size=1024x1024/k=3x3", [4]int{1, 1, 1024, 1024}, [4]int{1, 1, 3, 3}, engine.Conv{}},
		{"n=8/c=16/o=16/size=56x56/k=3x3/pad=1", [4]int{8, 16, 56, 56}, [4]int{16, 16, 3, 3}, engine.Conv{Pad: [4]int{1, 1, 1, 1}}},
		{"n=1/c=3/o=16/size=224x224/k=7x7/stride=2/pad=3", [4]int{1, 3, 224, 224}, [4]int{16, 3, 7, 7},
			engine.Conv{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}}},
		// The two many-channel layers of the GEMM path's issue: a ResNet
		// block's 3x3 and its 7x7 stem.
		{"n=8/c=64/o=64/size=56x56/k=3x3/pad=1", [4]int{8, 64, 56, 56}, [4]int{64, 64, 3, 3}, engine.Conv{Pad: [4]int{1, 1, 1, 1}}},
		{"n=1/c=3/o=64/size=224x224/k=7x7/stride=2/pad=3", [4]int{1, 3, 224, 224}, [4]int{64, 3, 7, 7},
			engine.Conv{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}}},
	}
	for _, c := range cases {
		b.Run(c.name+"/dtype=float32", func(b *testing.B) { benchConv[float32](b, c.x, c.w, c.conv) })
		b.Run(c.name+"/dtype=float64", func(b *testing.B) { benchConv[float64](b, c.x, c.w, c.conv) })
	}
}

func benchConv[T engine.Float](b *testing.B, xs, ws [4]int, c engine.Conv) {
	r := rand.New(rand.NewPCG(33, 34))
	x, w := randTensor[T](r, xs), randTensor[T](r, ws)
	_, out, err := c.Geometry(xs, ws)
	if err != nil {
		b.Fatal(err)
	}
	flops := 2 * float64(out[0]*out[1]*out[2]*out[3]) * float64(ws[1]*ws[2]*ws[3])
	var elem T
	bytes := int64(len(x.Data)+len(w.Data)+out[0]*out[1]*out[2]*out[3]) * int64(sizeof(elem))
	benchImpls(b, flops, bytes, func(e *engine.Engine) error {
		// Results go back as a service's do, so that the allocator's
		// zeroing of a fresh output is not timed as the engine's work.
		out, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, nil, c)
		engine.Release(e, out.Data)
		return err
	}, "reference", func() { refConv2D(x, w, nil, c) })
}

func TestWithStatsRecordsQueueAndCompute(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 1})
	var s engine.Stats
	ctx := engine.WithStats(context.Background(), &s)
	x := engine.Tensor[float64]{Shape: [4]int{1, 1, 64, 64}, Data: make([]float64, 64*64)}
	w := engine.Tensor[float64]{Shape: [4]int{1, 1, 3, 3}, Data: make([]float64, 9)}
	if _, err := engine.Conv2D(ctx, e, engine.Interactive, x, w, nil, engine.Conv{}); err != nil {
		t.Fatal(err)
	}
	if s.Compute <= 0 || s.Queue < 0 {
		t.Errorf("Stats = %+v, want a positive compute time", s)
	}
	before := s
	if _, err := engine.Conv2D(ctx, e, engine.Interactive, x, w, nil, engine.Conv{}); err != nil {
		t.Fatal(err)
	}
	if s.Compute <= before.Compute {
		t.Errorf("a second call did not add to Stats: %+v then %+v", before, s)
	}
}

func TestConv2DRejectsAnUnknownMethod(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 1})
	x := engine.Tensor[float64]{Shape: [4]int{1, 1, 3, 3}, Data: make([]float64, 9)}
	for _, m := range []engine.Method{-1, engine.MethodWinograd + 1} {
		_, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, x, nil, engine.Conv{Method: m})
		var pe *engine.ParamError
		if !errors.As(err, &pe) || pe.Param != engine.ParamMethod {
			t.Errorf("Conv2D(method %v) = %v, want a *ParamError for method", m, err)
		}
	}
}

func TestTinyBackgroundWorkIsComputedInlineAndStillCancellable(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 1})
	x := engine.Tensor[float32]{Shape: [4]int{1, 1, 6, 8}, Data: make([]float32, 48)}
	for i := range x.Data {
		x.Data[i] = float32(i%8) - 3
	}
	w := engine.Tensor[float32]{Shape: [4]int{1, 1, 1, 2}, Data: []float32{1, -1}}
	var st engine.Stats
	got, err := engine.Conv2D(engine.WithStats(context.Background(), &st), e, engine.Background, x, w, nil, engine.Conv{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		for j := range 7 {
			if want := x.Data[i*8+j] - x.Data[i*8+j+1]; got.Data[i*7+j] != want {
				t.Fatalf("out[%d][%d] = %v, want %v", i, j, got.Data[i*7+j], want)
			}
		}
	}
	if st.Queue != 0 {
		t.Errorf("inline work queued for %v", st.Queue)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := engine.Conv2D(ctx, e, engine.Background, x, w, nil, engine.Conv{}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled tiny background work = %v, want context.Canceled", err)
	}
}

// Wide rows take the SIMD weight-gradient kernel (four taps at a time, two
// vectors per turn, then one, then the scalar tail), and tall ones are cut
// into parts: every such path must agree with the reference, and the result
// must not depend on how many workers share the parts.
func TestConv2DWeightGradWideRowsAndParts(t *testing.T) {
	one := newTestEngine(t, engine.Config{Workers: 1})
	three := newTestEngine(t, engine.Config{Workers: 3, MinBandWork: 16})
	t.Run("dtype=float32", func(t *testing.T) { testWeightGradWide[float32](t, one, three) })
	t.Run("dtype=float64", func(t *testing.T) { testWeightGradWide[float64](t, one, three) })
}

func testWeightGradWide[T engine.Float](t *testing.T, one, three *engine.Engine) {
	r := rand.New(rand.NewPCG(61, 62))
	for _, kw := range []int{1, 2, 3, 4, 5, 7, 8, 9} {
		for _, wo := range []int{3, 4, 8, 15, 16, 17, 24, 33, 71} {
			for _, h := range []int{2, 300} {
				conv := engine.Conv{Dilation: [2]int{1, 1 + kw%2}}
				xs := [4]int{2, 2, h + 1, wo + (kw-1)*conv.Dilation[1]}
				ws := [4]int{3, 2, 2, kw}
				_, out, err := conv.Geometry(xs, ws)
				if err != nil {
					t.Fatal(err)
				}
				x, dy := randTensor[T](r, xs), randTensor[T](r, out)
				got, err := engine.Conv2DWeightGrad(context.Background(), three, engine.Interactive, x, dy, ws[2], kw, conv)
				if err != nil {
					t.Fatal(err)
				}
				want, scale := refWeightGrad(x, dy, ws[2], kw, conv)
				checkTensorClose(t, got, want, scale)
				solo, err := engine.Conv2DWeightGrad(context.Background(), one, engine.Interactive, x, dy, ws[2], kw, conv)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(solo, got); diff != "" {
					t.Errorf("kw %d, wo %d, h %d: 1 and 3 workers differ (-1 +3):\n%s", kw, wo, h, diff)
				}
			}
		}
	}
}

// The four-row kernel writes exactly the whole-register prefix of its four
// rows, each equal to the reference, and nothing around them.
func TestQuadRowsMatchAndStayInBounds(t *testing.T) {
	t.Run("dtype=float32", testQuadRows[float32])
	t.Run("dtype=float64", testQuadRows[float64])
}

func testQuadRows[T engine.Float](t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	const guard = 16
	for _, kh := range []int{3, 4, 8, 13} {
		for _, kw := range []int{1, 3, 8} {
			for _, n := range []int{1, 4, 7, 8, 12, 13, 24, 25, 40} {
				ldx := n + kw - 1 + 5
				x := randSlice[T](r, (kh+3)*ldx)
				k := randSlice[T](r, kh*kw)
				ldd := n + guard
				buf := nans[T](guard + 4*ldd)
				m := engine.QuadRows(buf[guard:], ldd, n, x, ldx, k, kh, kw)
				if engine.SIMDName() == "" {
					if m != 0 {
						t.Fatalf("no SIMD kernel, yet %d columns were done", m)
					}
					continue
				}
				var z T
				if lanes := 32 / sizeof(z); m != n/lanes*lanes {
					t.Fatalf("kh %d kw %d n %d: %d columns done, want %d", kh, kw, n, m, n/lanes*lanes)
				}
				for q := range 4 {
					row := buf[guard+q*ldd:]
					for j := range ldd {
						if j >= m {
							if !math.IsNaN(float64(row[j])) && (q < 3 || j < ldd-guard) {
								t.Fatalf("kh %d kw %d n %d: row %d column %d (past %d) was written", kh, kw, n, q, j, m)
							}
							continue
						}
						var want, scale float64
						for a := range kh {
							for b := range kw {
								v := float64(k[a*kw+b]) * float64(x[(q+a)*ldx+j+b])
								want += v
								scale += math.Abs(v)
							}
						}
						if math.Abs(float64(row[j])-want) > tolerance[T]()*scale {
							t.Fatalf("kh %d kw %d n %d: row %d column %d = %v, want %v", kh, kw, n, q, j, row[j], want)
						}
					}
				}
				for _, v := range buf[:guard] {
					if !math.IsNaN(float64(v)) {
						t.Fatalf("kh %d kw %d n %d: the guard before the rows was written", kh, kw, n)
					}
				}
			}
		}
	}
}

// Kernels on one channel that take a many-row kernel inside Conv2D: tall
// ones the four-row kernel, 3×3 ones the 3×3 kernel. Odd heights leave rows
// to the row kernel, odd widths leave a last register that overlaps, and
// padding leaves margins.
func TestConv2DManyRowKernelsMatchReference(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 3, MinBandWork: 16})
	t.Run("dtype=float32", func(t *testing.T) { testManyRowKernels[float32](t, e) })
	t.Run("dtype=float64", func(t *testing.T) { testManyRowKernels[float64](t, e) })
}

func testManyRowKernels[T engine.Float](t *testing.T, e *engine.Engine) {
	r := rand.New(rand.NewPCG(83, 84))
	var bias []T
	for _, c := range []struct {
		x, w [4]int
		conv engine.Conv
		bias bool
	}{
		{[4]int{1, 1, 40, 45}, [4]int{1, 1, 8, 8}, engine.Conv{}, false},
		{[4]int{2, 1, 41, 70}, [4]int{3, 1, 9, 4}, engine.Conv{Padding: engine.PadSame, Border: engine.BorderReflect}, true},
		{[4]int{1, 2, 37, 33}, [4]int{2, 1, 11, 11}, engine.Conv{Groups: 2, Convolve: true, Padding: engine.PadFull}, true},
		{[4]int{1, 1, 64, 64}, [4]int{1, 1, 31, 31}, engine.Conv{}, false},
		{[4]int{1, 1, 40, 45}, [4]int{1, 1, 3, 3}, engine.Conv{}, false},
		{[4]int{2, 3, 29, 21}, [4]int{3, 1, 3, 3}, engine.Conv{Groups: 3, Convolve: true, Padding: engine.PadSame, Border: engine.BorderReplicate}, true},
		{[4]int{1, 1, 50, 9}, [4]int{2, 1, 3, 3}, engine.Conv{Pad: [4]int{1, 4, 2, 0}, Fill: 0.5}, true},
		{[4]int{1, 1, 33, 70}, [4]int{1, 1, 3, 3}, engine.Conv{Padding: engine.PadFull, Border: engine.BorderCircular}, false},
		{[4]int{1, 1, 40, 45}, [4]int{1, 1, 5, 5}, engine.Conv{}, false},
		{[4]int{2, 3, 29, 21}, [4]int{3, 1, 5, 5}, engine.Conv{Groups: 3, Convolve: true, Padding: engine.PadSame, Border: engine.BorderReflect}, true},
		{[4]int{1, 1, 50, 12}, [4]int{2, 1, 5, 5}, engine.Conv{Pad: [4]int{3, 1, 4, 0}, Fill: -0.5}, true},
		{[4]int{1, 1, 35, 70}, [4]int{1, 1, 5, 5}, engine.Conv{Padding: engine.PadFull, Border: engine.BorderSymmetric}, false},
		{[4]int{1, 1, 17, 6}, [4]int{1, 1, 5, 5}, engine.Conv{Padding: engine.PadSame}, false},
	} {
		x, w := randTensor[T](r, c.x), randTensor[T](r, c.w)
		bias = nil
		if c.bias {
			bias = randSlice[T](r, c.w[0])
		}
		got, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, bias, c.conv)
		if err != nil {
			t.Fatal(err)
		}
		want, scale := refConv2D(x, w, bias, c.conv)
		checkTensorClose(t, got, want, scale)
		if t.Failed() {
			t.Fatalf("x %v w %v %+v", c.x, c.w, c.conv)
		}
	}
}

// randomPads completes a random case's padding: unit strides for "same";
// explicit pads up to slack cells beyond an input of H×W (reflection allows
// only up to the input size minus one); now and then a fill value for zero
// borders.
func randomPads(r *rand.Rand, cv *engine.Conv, H, W, slack int) {
	if cv.Padding == engine.PadSame {
		cv.Stride = [2]int{1, 1}
	}
	if cv.Padding == engine.PadExplicit {
		limH, limW := H+slack, W+slack
		if cv.Border == engine.BorderReflect {
			limH, limW = H, W
		}
		cv.Pad = [4]int{r.IntN(limH), r.IntN(limH), r.IntN(limW), r.IntN(limW)}
	}
	if cv.Border == engine.BorderZeros && r.IntN(3) == 0 {
		cv.Fill = math.Round((r.Float64()*4-2)*100) / 100
	}
}
