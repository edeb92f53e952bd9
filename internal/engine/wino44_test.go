package engine_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/engine"
)

// wino44Cases are layers with strides of 2 and kernels of 5×5 to 8×8,
// which method "winograd" computes by F(2×2, 4×4) on the polyphase parts:
// the Conv2D table's, a small stem, odd sizes and tails (outputs that end
// mid-tile or mid-panel), every kernel size, channels, batches, groups and
// every padding.
func wino44Cases() []convCase {
	var cases []convCase
	for _, c := range convCases() {
		cv := c.conv
		if c.w[2] >= 5 && c.w[2] <= 8 && c.w[3] >= 5 && c.w[3] <= 8 && cv.Stride == [2]int{2, 2} &&
			max(cv.Dilation[0], 1) == 1 && max(cv.Dilation[1], 1) == 1 {
			cases = append(cases, c)
		}
	}
	s2 := func(pad [4]int) engine.Conv { return engine.Conv{Stride: [2]int{2, 2}, Pad: pad} }
	stem := s2([4]int{3, 3, 3, 3})
	full := func(b engine.Border, fill float64) engine.Conv {
		return engine.Conv{Stride: [2]int{2, 2}, Padding: engine.PadFull, Border: b, Fill: fill}
	}
	return append(cases,
		convCase{name: "a small stem", x: [4]int{1, 3, 38, 42}, w: [4]int{16, 3, 7, 7}, bias: true, conv: stem},
		convCase{name: "one output pixel", x: [4]int{1, 1, 7, 7}, w: [4]int{1, 1, 7, 7}, conv: s2([4]int{})},
		convCase{name: "one output row, odd width", x: [4]int{1, 2, 8, 31}, w: [4]int{3, 2, 7, 7}, conv: s2([4]int{})},
		convCase{name: "one output column", x: [4]int{1, 2, 16, 7}, w: [4]int{2, 2, 7, 7}, bias: true, conv: s2([4]int{})},
		convCase{name: "a 5x5 kernel", x: [4]int{2, 2, 17, 19}, w: [4]int{5, 2, 5, 5}, conv: s2([4]int{2, 2, 2, 2})},
		convCase{name: "a 6x6 kernel", x: [4]int{1, 3, 20, 21}, w: [4]int{7, 3, 6, 6}, bias: true, conv: s2([4]int{1, 2, 3, 0})},
		convCase{name: "an 8x8 kernel", x: [4]int{1, 2, 23, 40}, w: [4]int{6, 2, 8, 8}, conv: stem},
		convCase{name: "a 5x8 kernel", x: [4]int{1, 2, 15, 18}, w: [4]int{4, 2, 5, 8}, conv: s2([4]int{0, 1, 2, 3})},
		convCase{name: "a tile row wider than a panel, with a tail", x: [4]int{1, 3, 20, 90}, w: [4]int{13, 3, 7, 7}, conv: stem},
		convCase{name: "bands of several tile rows, the last one short", x: [4]int{1, 2, 90, 20}, w: [4]int{5, 2, 7, 7}, bias: true, conv: stem},
		convCase{name: "many channels", x: [4]int{2, 11, 15, 16}, w: [4]int{9, 11, 7, 7}, bias: true, conv: stem},
		convCase{name: "groups", x: [4]int{2, 6, 18, 17}, w: [4]int{9, 2, 7, 7}, bias: true,
			conv: engine.Conv{Groups: 3, Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}}},
		convCase{name: "reflect", x: [4]int{1, 3, 19, 22}, w: [4]int{8, 3, 7, 7},
			conv: engine.Conv{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}, Border: engine.BorderReflect}},
		convCase{name: "replicate, convolved", x: [4]int{2, 2, 11, 13}, w: [4]int{4, 2, 7, 6},
			conv: engine.Conv{Stride: [2]int{2, 2}, Pad: [4]int{3, 2, 3, 2}, Border: engine.BorderReplicate, Convolve: true}},
		convCase{name: "full, circular", x: [4]int{1, 3, 9, 12}, w: [4]int{2, 3, 7, 7}, conv: full(engine.BorderCircular, 0)},
		convCase{name: "full, symmetric", x: [4]int{1, 2, 10, 9}, w: [4]int{3, 2, 5, 5}, conv: full(engine.BorderSymmetric, 0)},
		convCase{name: "full with a fill value", x: [4]int{1, 2, 6, 7}, w: [4]int{6, 2, 7, 7}, bias: true, conv: full(engine.BorderZeros, 2.5)},
		convCase{name: "a 3x3 input padded to one output", x: [4]int{1, 1, 3, 3}, w: [4]int{1, 1, 7, 7}, conv: s2([4]int{2, 2, 1, 3})},
	)
}

func TestWinogradStride2MatchesReference(t *testing.T) {
	// Small bands put a unit or two in each; one band of every unit has
	// each band of tile rows follow the one before in the same scratch.
	for _, cfg := range []engine.Config{{Workers: 1, MinBandWork: 16, WinogradTile: 2}, {Workers: 3, MinBandWork: 16, WinogradTile: 2}, {Workers: 2, MinBandWork: 1 << 40, WinogradTile: 2}} {
		e := newTestEngine(t, cfg)
		t.Run("dtype=float32", func(t *testing.T) { testWinogradMatches[float32](t, e, wino44Cases(), 47) })
		t.Run("dtype=float64", func(t *testing.T) { testWinogradMatches[float64](t, e, wino44Cases(), 47) })
	}
}

// The stride-2 transforms, SIMD and portable, round alike and write only
// what their contract says, as the 3×3 path's do.
func TestWinogradStride2TransformsMatchThePortableOnesAndStayInBounds(t *testing.T) {
	t.Run("dtype=float32", testWino44Transforms[float32])
	t.Run("dtype=float64", testWino44Transforms[float64])
}

func testWino44Transforms[T engine.Float](t *testing.T) {
	r := rand.New(rand.NewPCG(49, 50))
	lanes := engine.WinoLanes[T]()
	impls := engine.Wino44Transforms[T]()
	same := nanEqual[T]()
	// The input: 5 rows of four phases, with slack; the window's columns
	// in the order the path reads them for column phase 1.
	// In2 takes twice the tiles.
	wq := 2*lanes + 5
	ld := 4*wq + 3
	cols := [5]int{wq, 3 * wq, 1, 2*wq + 1, 2}
	x := randSlice[T](r, 5*ld)
	vx := 2*lanes + 3
	for _, two := range []bool{false, true} {
		want := map[string][]T{}
		for name, f := range impls {
			v, in, tiles := nans[T](25*vx), f.In, lanes
			if two {
				in, tiles = f.In2, 2*lanes
			}
			in(v, x, &cols, ld, vx)
			checkWritten(t, fmt.Sprintf("%s (two groups %v): input transform", name, two), v, func(i int) bool { return i%vx < tiles })
			want[name] = v
		}
		if diff := cmp.Diff(want["go"], want["dispatched"], same); diff != "" {
			t.Errorf("two groups %v: dispatched input transform differs from the portable one (-go +dispatched):\n%s", two, diff)
		}
	}
	for _, n := range []int{1, 2, 5} {
		mc := 2*lanes + 1
		mx := n*mc + 3
		m := randSlice[T](r, 25*mx)
		bias := randSlice[T](r, n)
		ldy, yc := 2*lanes+3, 2*(2*lanes+3)+1
		got := map[string][]T{}
		for name, f := range impls {
			y := nans[T](n * yc)
			f.Out(y, m, bias, n, mc, mx, ldy, yc)
			checkWritten(t, fmt.Sprintf("%s: output transform (n=%d)", name, n), y, func(i int) bool { return i%yc < ldy+2*lanes && i%yc%ldy < 2*lanes })
			got[name] = y
		}
		if diff := cmp.Diff(got["go"], got["dispatched"], same); diff != "" {
			t.Errorf("n=%d: dispatched output transform differs from the portable one (-go +dispatched):\n%s", n, diff)
		}
		// Two groups at once, into two outputs.
		pair := map[string][2][]T{}
		for name, f := range impls {
			y, y2 := nans[T](n*yc), nans[T](n*yc)
			f.Out2(y, y2, m, bias, n, mc, mx, ldy, yc)
			for _, out := range [][]T{y, y2} {
				checkWritten(t, fmt.Sprintf("%s: paired output transform (n=%d)", name, n), out, func(i int) bool { return i%yc < ldy+2*lanes && i%yc%ldy < 2*lanes })
			}
			pair[name] = [2][]T{y, y2}
		}
		if diff := cmp.Diff(pair["go"], pair["dispatched"], same); diff != "" {
			t.Errorf("n=%d: dispatched paired output transform differs from the portable one (-go +dispatched):\n%s", n, diff)
		}
	}
}

// BenchmarkWinogradStride2 times the stride-2 Winograd path against the
// direct method on the 7×7 stem, reporting GFLOP/s of the direct method's
// work (two per multiply-add), so that the rates compare as times do.
func BenchmarkWinogradStride2(b *testing.B) {
	for _, m := range []engine.Method{engine.MethodDirect, engine.MethodWinograd} {
		cv := engine.Conv{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}, Method: m}
		x, w := [4]int{1, 3, 224, 224}, [4]int{64, 3, 7, 7}
		name := "n=1/c=3/o=64/size=224x224/k=7x7/stride=2/pad=3/method=" + m.String()
		b.Run(name+"/dtype=float32", func(b *testing.B) { benchConv[float32](b, x, w, cv) })
		b.Run(name+"/dtype=float64", func(b *testing.B) { benchConv[float64](b, x, w, cv) })
	}
}

// The products' microkernel, SIMD and portable, agrees to the rounding of
// its sums (the SIMD one fuses each multiply-add, the portable one rounds
// the product first) and writes only its tiles: the guard cells between
// them keep their NaN.
func TestWinogradStride2ProductsMatchThePortableOnesAndStayInBounds(t *testing.T) {
	t.Run("dtype=float32", testWinoProducts[float32])
	t.Run("dtype=float64", testWinoProducts[float64])
}

func testWinoProducts[T engine.Float](t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	rows, cols, impls := engine.WinoProducts[T]()
	eps := 1e-6
	if _, ok := any(T(0)).(float64); ok {
		eps = 1e-14
	}
	for _, k := range []int{1, 2, 3, 4, 5, 12, 37} {
		for _, batch := range []int{1, 2, 25} {
			sa, sb, sc := k*rows+3, k*cols+5, rows*cols+7
			a := randSlice[T](r, batch*sa)
			b := randSlice[T](r, batch*sb)
			got := map[string][]T{}
			for name, f := range impls {
				c := nans[T](batch * sc)
				f(a, b, c, k, batch, sa, sb, sc)
				checkWritten(t, fmt.Sprintf("%s (k=%d, batch=%d)", name, k, batch), c, func(i int) bool { return i%sc < rows*cols })
				got[name] = c
			}
			for i, want := range got["go"] {
				if i%sc >= rows*cols {
					continue
				}
				if d := math.Abs(float64(got["dispatched"][i] - want)); d > eps*float64(k) {
					t.Fatalf("k=%d, batch=%d: cell %d = %v, portable %v", k, batch, i, got["dispatched"][i], want)
				}
			}
		}
	}
}

// mixScale returns a function that widens an output's scale (for the
// stride-2 Winograd path on x and w) by what its transforms mix: the
// kernel's largest weight times the sum of |x| over each output's window.
// Data with zeros in step with the kernel's can make every term of an
// output zero while its transformed tiles are not.
func mixScale(x, w engine.Tensor[float64], c engine.Conv) func([]float64) []float64 {
	abs := engine.Tensor[float64]{Shape: x.Shape, Data: make([]float64, len(x.Data))}
	for i, v := range x.Data {
		abs.Data[i] = math.Abs(v)
	}
	ones := engine.Tensor[float64]{Shape: w.Shape, Data: make([]float64, len(w.Data))}
	top := 0.0
	for i, v := range w.Data {
		ones.Data[i], top = 1, max(top, math.Abs(v))
	}
	c.Fill = math.Abs(c.Fill)
	_, window := refConv2D(abs, ones, nil, c)
	return func(scale []float64) []float64 {
		wide := make([]float64, len(scale))
		for i, v := range scale {
			wide[i] = v + top*window[i]
		}
		return wide
	}
}

// FuzzWinogradStride2 runs the stride-2 Winograd path by F(2×2, 4×4) on
// layers of every shape, kernel of 5×5 to 8×8, padding, border, group
// count and bias the bytes pick, against the reference loop (see
// fuzzStride2).
func FuzzWinogradStride2(f *testing.F) {
	fuzzStride2(f, 2)
}

// fuzzStride2 runs the stride-2 Winograd path with the given tile on the
// fuzzer's layers against the reference loop, in float64 and float32 (its
// weights' transform divides by 3, so no data keeps it exact), within the
// tolerance of the output's scale widened by mixScale, and for
// F(3×3, 4×4), whose transforms mix a tile's whole 6×6 window of each
// part, by tileScale too.
func fuzzStride2(f *testing.F, tile int) {
	e, err := engine.New(engine.Config{Workers: 3, MinBandWork: 1, WinogradTile: tile}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)
	f.Add([]byte{0, 2, 5, 20, 30, 2, 2, 0, 0, 3, 3, 3, 3, 0, 1}, []byte{1, 2, 3, 250})
	f.Add([]byte{1, 3, 7, 11, 39, 0, 3, 1, 2, 1, 1, 0, 2, 1, 0, 1}, []byte{7, 200, 13, 128, 127})
	f.Add([]byte{0, 0, 0, 6, 6, 1, 0, 3, 0, 1, 2}, []byte{})
	widen := func(s []float64) []float64 { return s }
	if tile == 3 {
		widen = tileScale
	}
	f.Fuzz(func(t *testing.T, params, data []byte) {
		fb := &fuzzBytes{params: params, data: data}
		nb := fb.next
		N, C, O := nb(2)+1, nb(4)+1, nb(10)+1
		H, W := nb(24)+1, nb(48)+1
		kh, kw := nb(4)+5, nb(4)+5
		groups := nb(3) + 1
		if C%groups != 0 || O%groups != 0 {
			groups = 1
		}
		c := engine.Conv{
			Stride: [2]int{2, 2}, Groups: groups, Padding: engine.Padding(nb(4)), Border: engine.Border(nb(5)),
			Convolve: nb(2) == 1, Method: engine.MethodWinograd,
		}
		if c.Padding == engine.PadSame {
			c.Padding = engine.PadFull
		}
		c.Pad = [4]int{nb(5), nb(5), nb(5), nb(5)}
		if c.Border == engine.BorderZeros && nb(2) == 1 {
			c.Fill = float64(int8(nb(256)))
		}
		hasBias := nb(2) == 1
		tensor := fb.tensor
		x, w := tensor([4]int{N, C, H, W}), tensor([4]int{O, C / groups, kh, kw})
		var bias []float64
		if hasBias {
			bias = tensor([4]int{1, 1, 1, O}).Data
		}
		if _, valid := refResolve(x.Shape, w.Shape, c); !valid {
			return
		}
		got, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, bias, c)
		if err != nil {
			t.Fatalf("Conv2D(x %v, w %v, %+v) = %v", x.Shape, w.Shape, c, err)
		}
		want, scale := refConv2D(x, w, bias, c)
		mix := mixScale(x, w, c)
		checkTensorClose(t, got, want, widen(mix(winoScale(scale))))
		x32, w32 := engine.Tensor[float32]{Shape: x.Shape, Data: engine.Convert[float32](x.Data)},
			engine.Tensor[float32]{Shape: w.Shape, Data: engine.Convert[float32](w.Data)}
		got32, err := engine.Conv2D(context.Background(), e, engine.Interactive, x32, w32, engine.Convert[float32](bias), c)
		if err != nil {
			t.Fatalf("Conv2D(float32 x %v, w %v, %+v) = %v", x.Shape, w.Shape, c, err)
		}
		want32, scale32 := refConv2D(x32, w32, engine.Convert[float32](bias), c)
		checkTensorClose(t, got32, want32, widen(mix(winoScale(scale32))))
	})
}
