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

// wino43Cases are the 3×3 layers of winoCases and more whose sizes end
// mid-tile, mid-group and mid-panel for 4×4 tiles: a 56×56 layer as in a
// ResNet block, output channels that fill no block of eight, and tile rows
// of one, two and three groups.
func wino43Cases() []convCase {
	pad1 := engine.Conv{Pad: [4]int{1, 1, 1, 1}}
	return append(winoCases(),
		convCase{name: "a 56x56 block", x: [4]int{1, 8, 56, 56}, w: [4]int{8, 8, 3, 3}, bias: true, conv: pad1},
		convCase{name: "one tile", x: [4]int{1, 3, 6, 6}, w: [4]int{2, 3, 3, 3}},
		convCase{name: "a tile and a row", x: [4]int{1, 2, 7, 6}, w: [4]int{3, 2, 3, 3}},
		convCase{name: "two groups and a tail", x: [4]int{2, 5, 11, 70}, w: [4]int{11, 5, 3, 3}, bias: true, conv: pad1},
		convCase{name: "three groups a row", x: [4]int{1, 4, 13, 83}, w: [4]int{17, 4, 3, 3}},
		convCase{name: "wide channels, groups", x: [4]int{1, 24, 10, 21}, w: [4]int{18, 8, 3, 3}, bias: true,
			conv: engine.Conv{Groups: 3, Padding: engine.PadSame, Border: engine.BorderReflect}},
	)
}

func TestWinograd4x4MatchesReference(t *testing.T) {
	for _, workers := range []int{1, 3} {
		e := newTestEngine(t, engine.Config{Workers: workers, MinBandWork: 16, WinogradTile: 4})
		t.Run("dtype=float32", func(t *testing.T) { testWinogradMatches[float32](t, e, wino43Cases(), 53) })
		t.Run("dtype=float64", func(t *testing.T) { testWinogradMatches[float64](t, e, wino43Cases(), 53) })
	}
}

// The error of F(4×4, 3×3) relative to the output's largest magnitude on
// a many-channel layer of normal data, whose sums cancel: the case where
// its transforms' larger coefficients cost the most. It must stay within
// the float32 tolerance with room to spare.
func TestWinograd4x4ErrorOnAManyChannelLayer(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 2, WinogradTile: 4})
	r := rand.New(rand.NewPCG(59, 60))
	normal := func(shape [4]int) engine.Tensor[float32] {
		x := engine.Tensor[float32]{Shape: shape, Data: make([]float32, shape[0]*shape[1]*shape[2]*shape[3])}
		for i := range x.Data {
			x.Data[i] = float32(r.NormFloat64())
		}
		return x
	}
	x, w := normal([4]int{1, 64, 58, 58}), normal([4]int{16, 64, 3, 3})
	c := engine.Conv{Method: engine.MethodWinograd}
	got, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	x64 := engine.Tensor[float64]{Shape: x.Shape, Data: engine.Convert[float64](x.Data)}
	w64 := engine.Tensor[float64]{Shape: w.Shape, Data: engine.Convert[float64](w.Data)}
	want, _ := refConv2D(x64, w64, nil, c)
	top, off := 0.0, 0.0
	for i, v := range want.Data {
		top, off = max(top, math.Abs(v)), max(off, math.Abs(float64(got.Data[i])-v))
	}
	t.Logf("largest error relative to the output's scale: %.3g", off/top)
	if off > tolerance[float32]()/2*top {
		t.Errorf("largest error %g is %.3g of the output's scale %g, want at most %g", off, off/top, top, tolerance[float32]()/2)
	}
}

// The F(4×4, 3×3) transforms, SIMD and portable, round alike and write
// only what their contract says.
func TestWinograd4x4TransformsMatchThePortableOnesAndStayInBounds(t *testing.T) {
	t.Run("dtype=float32", testWino43Transforms[float32])
	t.Run("dtype=float64", testWino43Transforms[float64])
}

func testWino43Transforms[T engine.Float](t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	lanes := engine.WinoLanes[T]()
	impls := engine.Wino43Transforms[T]()
	same := nanEqual[T]()
	// The input: 6 rows of the windows of two groups of tiles, with
	// slack; In2 takes two groups, In one.
	ld := 8*lanes + 5
	x := randSlice[T](r, 6*ld)
	vx := 2*lanes + 3
	for _, two := range []bool{false, true} {
		want := map[string][]T{}
		for name, f := range impls {
			v, in, tiles := nans[T](36*vx), f.In, lanes
			if two {
				in, tiles = f.In2, 2*lanes
			}
			in(v, x, ld, vx)
			checkWritten(t, fmt.Sprintf("%s (two groups %v): input transform", name, two), v, func(i int) bool { return i%vx < tiles })
			want[name] = v
		}
		if diff := cmp.Diff(want["go"], want["dispatched"], same); diff != "" {
			t.Errorf("two groups %v: dispatched input transform differs from the portable one (-go +dispatched):\n%s", two, diff)
		}
	}
	for _, n := range []int{1, 2, 5} {
		mc := 2*lanes + 3
		mx := n*mc + 3
		m := randSlice[T](r, 36*mx)
		bias := randSlice[T](r, n)
		ldy := 4*lanes + 3
		yc := 4*ldy + 1
		got := map[string][]T{}
		for name, f := range impls {
			y := nans[T](n * yc)
			f.Out(y, m, bias, n, mc, mx, ldy, yc)
			checkWritten(t, fmt.Sprintf("%s: output transform (n=%d)", name, n), y, func(i int) bool { return i%yc < 3*ldy+4*lanes && i%yc%ldy < 4*lanes })
			got[name] = y
		}
		if diff := cmp.Diff(got["go"], got["dispatched"], same); diff != "" {
			t.Errorf("n=%d: dispatched output transform differs from the portable one (-go +dispatched):\n%s", n, diff)
		}
		// Two groups side by side in m, to two places in one buffer, the
		// second cut at every width.
		for _, cols2 := range []int{1, 5, 2 * lanes, 2*lanes + 3, 4 * lanes} {
			got2 := map[string][]T{}
			for name, f := range impls {
				y := nans[T](2 * n * yc)
				f.Out2(y, y[n*yc:], m, bias, n, mc, mx, ldy, yc, cols2)
				checkWritten(t, fmt.Sprintf("%s: output transform of two groups (n=%d, cols2=%d)", name, n, cols2), y, func(i int) bool {
					j, cols := i%(n*yc), 4*lanes
					if i >= n*yc {
						cols = cols2
					}
					return j%yc < 3*ldy+cols && j%yc%ldy < cols
				})
				got2[name] = y
			}
			if diff := cmp.Diff(got2["go"], got2["dispatched"], same); diff != "" {
				t.Errorf("n=%d, cols2=%d: dispatched output transform of two groups differs from the portable one (-go +dispatched):\n%s", n, cols2, diff)
			}
		}
	}
}

// FuzzWinograd4x4 runs F(4×4, 3×3) on 3×3 layers of every shape, padding,
// border, group count and bias the bytes pick, against the reference loop,
// in float64 and float32 (its weights' transform divides by 3 and 5, so no
// data keeps it exact), within the tolerance of the output's scale widened
// by mixScale and tileScale.
func FuzzWinograd4x4(f *testing.F) {
	e, err := engine.New(engine.Config{Workers: 3, MinBandWork: 1, WinogradTile: 4}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)
	f.Add([]byte{0, 0, 5, 4, 4, 0, 1, 0, 0, 0}, []byte{1, 2, 3, 250})
	f.Add([]byte{1, 3, 7, 11, 30, 2, 3, 2, 1, 1, 1, 2, 0, 3}, []byte{7, 200, 13, 128, 127})
	f.Add([]byte{2, 5, 5, 1, 1, 5, 0, 4, 1, 3}, []byte{})
	f.Fuzz(func(t *testing.T, params, data []byte) {
		x, w, bias, c, valid := fuzz3x3Case(&fuzzBytes{params: params, data: data}, [4]int{9, 19, 20, 80})
		if !valid {
			return
		}
		got, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, bias, c)
		if err != nil {
			t.Fatalf("Conv2D(x %v, w %v, %+v) = %v", x.Shape, w.Shape, c, err)
		}
		want, scale := refConv2D(x, w, bias, c)
		mix := mixScale(x, w, c)
		checkTensorClose(t, got, want, tileScale(mix(winoScale(scale))))
		x32, w32 := engine.Tensor[float32]{Shape: x.Shape, Data: engine.Convert[float32](x.Data)},
			engine.Tensor[float32]{Shape: w.Shape, Data: engine.Convert[float32](w.Data)}
		got32, err := engine.Conv2D(context.Background(), e, engine.Interactive, x32, w32, engine.Convert[float32](bias), c)
		if err != nil {
			t.Fatalf("Conv2D(float32 x %v, w %v, %+v) = %v", x.Shape, w.Shape, c, err)
		}
		want32, scale32 := refConv2D(x32, w32, engine.Convert[float32](bias), c)
		checkTensorClose(t, got32, want32, tileScale(mix(winoScale(scale32))))
	})
}

// tileScale widens a tolerance's scale to its largest value: the
// transforms of F(4×4, 3×3) mix the 6×6 window of a tile, so an output's
// error follows the inputs its tile's neighbours read, even where its own
// window is all zeros.
func tileScale(scale []float64) []float64 {
	top := 0.0
	for _, v := range scale {
		top = max(top, v)
	}
	wide := make([]float64, len(scale))
	for i := range wide {
		wide[i] = top
	}
	return wide
}

// BenchmarkWinogradTiles times method "winograd" on 3×3 layers with each
// tile size (F(2×2, 3×3) and F(4×4, 3×3)), on all workers and on one,
// reporting GFLOP/s of the direct method's work, as BenchmarkWinograd does.
func BenchmarkWinogradTiles(b *testing.B) {
	for _, c := range []struct {
		name string
		x, w [4]int
	}{
		{"n=8/c=64/o=64/size=56x56", [4]int{8, 64, 56, 56}, [4]int{64, 64, 3, 3}},
		{"n=1/c=128/o=128/size=28x28", [4]int{1, 128, 28, 28}, [4]int{128, 128, 3, 3}},
		{"n=8/c=16/o=16/size=56x56", [4]int{8, 16, 56, 56}, [4]int{16, 16, 3, 3}},
	} {
		for _, tile := range []int{2, 4} {
			name := fmt.Sprintf("%s/k=3x3/pad=1/tile=%d", c.name, tile)
			b.Run(name+"/dtype=float32", func(b *testing.B) { benchTile[float32](b, c.x, c.w, tile) })
			b.Run(name+"/dtype=float64", func(b *testing.B) { benchTile[float64](b, c.x, c.w, tile) })
		}
	}
}

func benchTile[T engine.Float](b *testing.B, xs, ws [4]int, tile int) {
	r := rand.New(rand.NewPCG(33, 34))
	x, w := randTensor[T](r, xs), randTensor[T](r, ws)
	c := engine.Conv{Pad: [4]int{1, 1, 1, 1}, Method: engine.MethodWinograd}
	flops := 2 * float64(xs[0]*ws[0]*xs[2]*xs[3]) * float64(ws[1]*9)
	for _, workers := range []int{0, 1} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			e := newTestEngine(b, engine.Config{Workers: workers, WinogradTile: tile})
			b.ReportAllocs()
			for b.Loop() {
				out, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, nil, c)
				if err != nil {
					b.Fatal(err)
				}
				engine.Release(e, out.Data)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
