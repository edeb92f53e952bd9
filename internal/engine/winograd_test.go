package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/engine"
)

// winoScale widens the per-element scale for the Winograd path, whose
// transforms mix the inputs of a whole 4×4 window before the products: its
// error is bounded relative to the result's largest Σ|terms| (the output's
// scale), not each element's own.
func winoScale(scale []float64) []float64 {
	top := 0.0
	for _, v := range scale {
		top = max(top, v)
	}
	wide := make([]float64, len(scale))
	for i, v := range scale {
		wide[i] = v + top
	}
	return wide
}

// winoCases are 3×3 layers with unit strides and dilations: the Conv2D
// table's, then odd sizes and tails (outputs that end mid-tile or
// mid-panel), many channels, batches, groups and every padding.
func winoCases() []convCase {
	var cases []convCase
	for _, c := range convCases() {
		cv := c.conv
		if c.w[2] == 3 && c.w[3] == 3 && max(cv.Stride[0], 1) == 1 && max(cv.Stride[1], 1) == 1 &&
			max(cv.Dilation[0], 1) == 1 && max(cv.Dilation[1], 1) == 1 {
			cases = append(cases, c)
		}
	}
	pad1 := engine.Conv{Pad: [4]int{1, 1, 1, 1}}
	same := func(b engine.Border) engine.Conv { return engine.Conv{Padding: engine.PadSame, Border: b} }
	return append(cases,
		convCase{name: "one output pixel", x: [4]int{1, 1, 3, 3}, w: [4]int{1, 1, 3, 3}},
		convCase{name: "one output row, odd width", x: [4]int{1, 2, 3, 12}, w: [4]int{3, 2, 3, 3}},
		convCase{name: "one output column", x: [4]int{1, 2, 9, 3}, w: [4]int{2, 2, 3, 3}, bias: true},
		convCase{name: "odd output sizes", x: [4]int{2, 3, 8, 10}, w: [4]int{7, 3, 3, 3}, bias: true},
		convCase{name: "a tile row wider than a panel, with a tail", x: [4]int{1, 4, 7, 45}, w: [4]int{6, 4, 3, 3}},
		convCase{name: "many channels", x: [4]int{2, 37, 9, 11}, w: [4]int{13, 37, 3, 3}, bias: true, conv: pad1},
		convCase{name: "a small ResNet block", x: [4]int{3, 16, 14, 14}, w: [4]int{16, 16, 3, 3}, conv: pad1},
		convCase{name: "groups", x: [4]int{2, 6, 10, 9}, w: [4]int{9, 2, 3, 3}, bias: true, conv: engine.Conv{Groups: 3, Padding: engine.PadSame}},
		convCase{name: "depthwise", x: [4]int{1, 5, 12, 12}, w: [4]int{5, 1, 3, 3}, conv: engine.Conv{Groups: 5}},
		convCase{name: "same, reflect", x: [4]int{1, 3, 9, 17}, w: [4]int{8, 3, 3, 3}, conv: same(engine.BorderReflect)},
		convCase{name: "same, replicate", x: [4]int{2, 2, 5, 6}, w: [4]int{4, 2, 3, 3}, conv: same(engine.BorderReplicate)},
		convCase{name: "same, circular", x: [4]int{1, 3, 6, 33}, w: [4]int{2, 3, 3, 3}, conv: same(engine.BorderCircular)},
		convCase{name: "same, symmetric, convolved", x: [4]int{1, 2, 11, 4}, w: [4]int{3, 2, 3, 3},
			conv: engine.Conv{Padding: engine.PadSame, Border: engine.BorderSymmetric, Convolve: true}},
		convCase{name: "full with a fill value", x: [4]int{1, 2, 4, 5}, w: [4]int{6, 2, 3, 3}, bias: true,
			conv: engine.Conv{Padding: engine.PadFull, Fill: 2.5}},
		convCase{name: "explicit uneven pads", x: [4]int{2, 3, 6, 7}, w: [4]int{5, 3, 3, 3}, conv: engine.Conv{Pad: [4]int{0, 3, 2, 1}}},
		convCase{name: "a 2x2 input padded to one tile", x: [4]int{1, 1, 2, 2}, w: [4]int{1, 1, 3, 3}, conv: engine.Conv{Pad: [4]int{1, 0, 0, 1}}},
	)
}

func TestWinogradMatchesReference(t *testing.T) {
	for _, workers := range []int{1, 3} {
		e := newTestEngine(t, engine.Config{Workers: workers, MinBandWork: 16, WinogradTile: 2})
		t.Run("dtype=float32", func(t *testing.T) { testWinogradMatches[float32](t, e, winoCases(), 41) })
		t.Run("dtype=float64", func(t *testing.T) { testWinogradMatches[float64](t, e, winoCases(), 41) })
	}
}

// testWinogradMatches runs cases through method "winograd" against the
// reference loop, with random data from seed.
func testWinogradMatches[T engine.Float](t *testing.T, e *engine.Engine, cases []convCase, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed+1))
	for _, c := range cases {
		c.conv.Method = engine.MethodWinograd
		t.Run(c.name, func(t *testing.T) {
			x, w := randTensor[T](r, c.x), randTensor[T](r, c.w)
			var bias []T
			if c.bias {
				bias = randSlice[T](r, c.w[0])
			}
			x0, w0 := cloneTensor(x), cloneTensor(w)
			var st engine.Stats
			got, err := engine.Conv2D(engine.WithStats(context.Background(), &st), e, engine.Interactive, x, w, bias, c.conv)
			if err != nil {
				t.Fatalf("Conv2D(%v) = %v", c, err)
			}
			if st.Method != engine.MethodWinograd {
				t.Errorf("Conv2D(%v) reported method %v, want winograd", c, st.Method)
			}
			want, scale := refConv2D(x, w, bias, c.conv)
			checkTensorClose(t, got, want, winoScale(scale))
			if diff := cmp.Diff(x0, x); diff != "" {
				t.Errorf("Conv2D modified its input (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(w0, w); diff != "" {
				t.Errorf("Conv2D modified its kernel (-before +after):\n%s", diff)
			}
			if t.Failed() {
				t.Logf("case: %v", c)
			}
		})
	}
}

// Small integers keep every step of F(2×2, 3×3) exact in float64 (the
// weights' transform only halves them twice), so there the Winograd path
// must equal the reference loop bit for bit.
func TestWinogradIsExactOnSmallIntegers(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 2, MinBandWork: 16, WinogradTile: 2})
	r := rand.New(rand.NewPCG(43, 44))
	ints := func(shape [4]int) engine.Tensor[float64] {
		t := engine.Tensor[float64]{Shape: shape, Data: make([]float64, shape[0]*shape[1]*shape[2]*shape[3])}
		for i := range t.Data {
			t.Data[i] = float64(r.IntN(21) - 10)
		}
		return t
	}
	for _, c := range winoCases() {
		x, w := ints(c.x), ints(c.w)
		var bias []float64
		if c.bias {
			bias = ints([4]int{1, 1, 1, c.w[0]}).Data
		}
		c.conv.Method = engine.MethodWinograd
		got, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, bias, c.conv)
		if err != nil {
			t.Fatalf("Conv2D(%v) = %v", c, err)
		}
		want, _ := refConv2D(x, w, bias, c.conv)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Conv2D(%v) mismatch (-want +got):\n%s", c, diff)
		}
	}
}

func TestWinogradRefusesOtherLayers(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 1})
	x := engine.Tensor[float64]{Shape: [4]int{1, 1, 9, 9}, Data: make([]float64, 81)}
	for _, c := range []struct {
		name string
		w    [4]int
		conv engine.Conv
	}{
		{"a 5x5 kernel", [4]int{1, 1, 5, 5}, engine.Conv{}},
		{"a 3x2 kernel", [4]int{1, 1, 3, 2}, engine.Conv{}},
		{"stride 2", [4]int{1, 1, 3, 3}, engine.Conv{Stride: [2]int{1, 2}}},
		{"dilation 2", [4]int{1, 1, 3, 3}, engine.Conv{Dilation: [2]int{2, 1}}},
	} {
		c.conv.Method = engine.MethodWinograd
		w := engine.Tensor[float64]{Shape: c.w, Data: make([]float64, c.w[2]*c.w[3])}
		_, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, nil, c.conv)
		var pe *engine.ParamError
		if !errors.As(err, &pe) || pe.Param != engine.ParamMethod {
			t.Errorf("Conv2D(winograd, %s) = %v, want a *ParamError for method", c.name, err)
		}
	}
}

// The transforms, SIMD and portable, round alike and write only what
// their contract says: every other cell of the destination keeps its NaN
// guard, and the dispatched ones equal the portable ones bit for bit.
func TestWinogradTransformsMatchThePortableOnesAndStayInBounds(t *testing.T) {
	t.Run("dtype=float32", testWinoTransforms[float32])
	t.Run("dtype=float64", testWinoTransforms[float64])
}

func testWinoTransforms[T engine.Float](t *testing.T) {
	r := rand.New(rand.NewPCG(45, 46))
	lanes := engine.WinoLanes[T]()
	impls := engine.WinoTransforms[T]()
	for _, n := range []int{1, 2, 5} {
		// The input: n planes of 4 rows of two phases, with slack.
		wq := lanes + 3
		ld, plane := 2*wq+1, 4*(2*wq+1)+2
		x := randSlice[T](r, n*plane)
		vc := 2*lanes + 1
		vx := n*vc + 3
		m := randSlice[T](r, 16*vx)
		bias := randSlice[T](r, n)
		ldy, yc := 2*lanes+3, 2*(2*lanes+3)+1
		want := map[string][2][]T{}
		for name, f := range impls {
			v := nans[T](16 * vx)
			f.In(v, x, n, vc, vx, ld, wq, plane)
			y := nans[T](n * yc)
			f.Out(y, m, bias, n, vc, vx, ldy, yc)
			checkWritten(t, fmt.Sprintf("%s: input transform (n=%d)", name, n), v, func(i int) bool { return i%vx < n*vc && i%vx%vc < lanes })
			checkWritten(t, fmt.Sprintf("%s: output transform (n=%d)", name, n), y, func(i int) bool { return i%yc < ldy+2*lanes && i%yc%ldy < 2*lanes })
			want[name] = [2][]T{v, y}
		}
		if diff := cmp.Diff(want["go"], want["dispatched"], nanEqual[T]()); diff != "" {
			t.Errorf("n=%d: dispatched transforms differ from the portable ones (-go +dispatched):\n%s", n, diff)
		}
	}
}

// BenchmarkWinograd times the Winograd path against the direct method on
// 3×3 layers, reporting GFLOP/s of the direct method's work (two per
// multiply-add), so that the rates compare as times do.
func BenchmarkWinograd(b *testing.B) {
	pad1 := engine.Conv{Pad: [4]int{1, 1, 1, 1}}
	for _, c := range []struct {
		name string
		x, w [4]int
	}{
		{"n=8/c=64/o=64/size=56x56/k=3x3/pad=1", [4]int{8, 64, 56, 56}, [4]int{64, 64, 3, 3}},
		{"n=1/c=128/o=128/size=28x28/k=3x3/pad=1", [4]int{1, 128, 28, 28}, [4]int{128, 128, 3, 3}},
		{"n=8/c=16/o=16/size=56x56/k=3x3/pad=1", [4]int{8, 16, 56, 56}, [4]int{16, 16, 3, 3}},
	} {
		for _, m := range []engine.Method{engine.MethodDirect, engine.MethodWinograd} {
			cv := pad1
			cv.Method = m
			b.Run(c.name+"/method="+m.String()+"/dtype=float32", func(b *testing.B) { benchConv[float32](b, c.x, c.w, cv) })
			b.Run(c.name+"/method="+m.String()+"/dtype=float64", func(b *testing.B) { benchConv[float64](b, c.x, c.w, cv) })
		}
	}
}

// FuzzWinograd runs the Winograd path on 3×3 layers of every shape,
// padding, border, group count and bias the bytes pick, against the
// reference loop: exactly in float64 on the small integers data makes
// (see TestWinogradIsExactOnSmallIntegers), within the tolerance of the
// output's scale in float32.
func FuzzWinograd(f *testing.F) {
	e, err := engine.New(engine.Config{Workers: 3, MinBandWork: 1, WinogradTile: 2}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)
	f.Add([]byte{0, 0, 5, 4, 4, 0, 1, 0, 0, 0}, []byte{1, 2, 3, 250})
	f.Add([]byte{1, 3, 7, 11, 30, 2, 3, 2, 1, 1, 1, 2, 0, 3}, []byte{7, 200, 13, 128, 127})
	f.Add([]byte{2, 5, 5, 1, 1, 5, 0, 4, 1, 3}, []byte{})
	f.Fuzz(func(t *testing.T, params, data []byte) {
		x, w, bias, c, valid := fuzz3x3Case(&fuzzBytes{params: params, data: data}, [4]int{6, 9, 12, 40})
		if !valid {
			return
		}
		got, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, bias, c)
		if err != nil {
			t.Fatalf("Conv2D(x %v, w %v, %+v) = %v", x.Shape, w.Shape, c, err)
		}
		want, _ := refConv2D(x, w, bias, c)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Conv2D(x %v, w %v, %+v) mismatch (-want +got):\n%s", x.Shape, w.Shape, c, diff)
		}
		x32, w32 := engine.Tensor[float32]{Shape: x.Shape, Data: engine.Convert[float32](x.Data)},
			engine.Tensor[float32]{Shape: w.Shape, Data: engine.Convert[float32](w.Data)}
		got32, err := engine.Conv2D(context.Background(), e, engine.Interactive, x32, w32, engine.Convert[float32](bias), c)
		if err != nil {
			t.Fatalf("Conv2D(float32 x %v, w %v, %+v) = %v", x.Shape, w.Shape, c, err)
		}
		want32, scale := refConv2D(x32, w32, engine.Convert[float32](bias), c)
		checkTensorClose(t, got32, want32, winoScale(scale))
	})
}

// fuzz3x3Case reads a 3×3 layer for the Winograd fuzz targets from fb:
// shapes up to most's input channels, output channels, input height and
// width, groups, padding, border, fill, bias and the tensors' values, for
// method "winograd"; valid says whether the reference loop takes it.
func fuzz3x3Case(fb *fuzzBytes, most [4]int) (x, w engine.Tensor[float64], bias []float64, c engine.Conv, valid bool) {
	nb := fb.next
	N, C, O := nb(2)+1, nb(most[0])+1, nb(most[1])+1
	H, W := nb(most[2])+1, nb(most[3])+1
	groups := nb(3) + 1
	if C%groups != 0 || O%groups != 0 {
		groups = 1
	}
	c = engine.Conv{
		Groups: groups, Padding: engine.Padding(nb(4)), Border: engine.Border(nb(5)),
		Convolve: nb(2) == 1, Method: engine.MethodWinograd,
	}
	c.Pad = [4]int{nb(4), nb(4), nb(4), nb(4)}
	if c.Border == engine.BorderZeros && nb(2) == 1 {
		c.Fill = float64(int8(nb(256)))
	}
	hasBias := nb(2) == 1
	x, w = fb.tensor([4]int{N, C, H, W}), fb.tensor([4]int{O, C / groups, 3, 3})
	if hasBias {
		bias = fb.tensor([4]int{1, 1, 1, O}).Data
	}
	_, valid = refResolve(x.Shape, w.Shape, c)
	return x, w, bias, c, valid
}
