package engine_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/corr2d/corr2d/internal/engine"
)

// Overlap-save tiling changes no result beyond the FFT's rounding: every
// case of the Conv2D table, cut into tiles as small as the kernel allows,
// matches the reference.
func TestFFTTilesMatchReference(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 2})
	r := rand.New(rand.NewPCG(61, 62))
	for _, c := range append(convCases(), tiledCases()...) {
		for _, maxP := range []int{1, 12, 30} {
			t.Run(fmt.Sprintf("%s/maxP=%d", c.name, maxP), func(t *testing.T) {
				testTiles[float64](t, e, r, c, maxP)
				testTiles[float32](t, e, r, c, maxP)
			})
		}
	}
}

// tiledCases are inputs large enough for several tiles of kernels of a few
// taps, with strides, dilation, groups and padding.
func tiledCases() []convCase {
	return []convCase{
		{name: "one plane in many tiles", x: [4]int{1, 1, 41, 37}, w: [4]int{1, 1, 5, 4}},
		{name: "channels, bias and same padding", x: [4]int{2, 3, 29, 33}, w: [4]int{4, 3, 3, 5}, bias: true,
			conv: engine.Conv{Padding: engine.PadSame, Border: engine.BorderReflect}},
		{name: "stride and dilation across tiles", x: [4]int{1, 2, 40, 45}, w: [4]int{2, 1, 3, 3},
			conv: engine.Conv{Groups: 2, Stride: [2]int{2, 3}, Dilation: [2]int{2, 3}, Pad: [4]int{1, 2, 3, 0}}},
		{name: "full convolution", x: [4]int{1, 1, 23, 17}, w: [4]int{1, 1, 6, 7},
			conv: engine.Conv{Padding: engine.PadFull, Convolve: true}},
	}
}

func testTiles[T engine.Float](t *testing.T, e *engine.Engine, r *rand.Rand, c convCase, maxP int) {
	x, w := randTensor[T](r, c.x), randTensor[T](r, c.w)
	var bias []T
	if c.bias {
		bias = randSlice[T](r, c.w[0])
	}
	got, tiles, err := engine.Conv2DTiles(context.Background(), e, x, w, bias, c.conv, maxP)
	if err != nil {
		t.Fatalf("Conv2DTiles(%v) = %v", c, err)
	}
	want, scale := refConv2D(x, w, bias, c.conv)
	checkTensorClose(t, got, want, fftScale[T](scale))
	if maxP == 12 && c.x[2]*c.x[3] > 600 && tiles < 4 {
		t.Errorf("Conv2DTiles(%v, maxP %d) used %d tiles, want several", c, maxP, tiles)
	}
}

// FuzzFFTTiles runs the tiled FFT path on shapes, parameters, tile limits
// and values from the fuzzer's bytes against the reference loop.
func FuzzFFTTiles(f *testing.F) {
	e, err := engine.New(engine.Config{Workers: 2, MinBandWork: 1}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)
	f.Add([]byte{1, 1, 1, 40, 37, 5, 4, 0, 0, 0, 0, 12}, []byte{1, 2, 3})
	f.Add([]byte{2, 3, 4, 29, 33, 3, 5, 1, 1, 2, 1, 20}, []byte{200, 7})
	f.Add([]byte{1, 2, 2, 40, 45, 3, 3, 2, 3, 1, 2, 1}, []byte{})
	f.Fuzz(func(t *testing.T, params, data []byte) {
		fb := &fuzzBytes{params: params, data: data}
		nb := fb.next
		N, C, O := 1+nb(2), 1+nb(3), 1+nb(3)
		H, W := 1+nb(48), 1+nb(48)
		kh, kw := 1+nb(min(H, 9)), 1+nb(min(W, 9))
		c := engine.Conv{
			Stride:   [2]int{1 + nb(3), 1 + nb(3)},
			Dilation: [2]int{1 + nb(2), 1 + nb(2)},
			Padding:  engine.Padding(nb(4)),
			Border:   engine.Border(nb(6)),
		}
		if nb(2) == 1 && C == O {
			c.Groups = C
		}
		maxP := 1 + nb(64)
		cg := C
		if c.Groups > 1 {
			cg = 1
		}
		val := func(i int) float64 {
			if len(data) == 0 {
				return 1
			}
			return float64(int8(data[i%len(data)]^byte(i))) / 16
		}
		if _, _, err := c.Geometry([4]int{N, C, H, W}, [4]int{O, cg, kh, kw}); err != nil {
			return // the dilated kernel does not fit, say
		}
		// The values are multiples of 1/16, exact in float32 too.
		fuzzTiles[float64](t, e, [4]int{N, C, H, W}, [4]int{O, cg, kh, kw}, c, maxP, val)
		fuzzTiles[float32](t, e, [4]int{N, C, H, W}, [4]int{O, cg, kh, kw}, c, maxP, val)
	})
}

// fuzzTiles is FuzzFFTTiles's check in one precision.
func fuzzTiles[T engine.Float](t *testing.T, e *engine.Engine, xs, ws [4]int, c engine.Conv, maxP int, val func(int) float64) {
	x := engine.Tensor[T]{Shape: xs, Data: make([]T, xs[0]*xs[1]*xs[2]*xs[3])}
	w := engine.Tensor[T]{Shape: ws, Data: make([]T, ws[0]*ws[1]*ws[2]*ws[3])}
	for i := range x.Data {
		x.Data[i] = T(val(i))
	}
	for i := range w.Data {
		w.Data[i] = T(val(len(x.Data) + i))
	}
	got, _, err := engine.Conv2DTiles(context.Background(), e, x, w, nil, c, maxP)
	if err != nil {
		t.Fatalf("Conv2DTiles(%v, %v, %+v, maxP %d) = %v", x.Shape, w.Shape, c, maxP, err)
	}
	want, scale := refConv2D(x, w, nil, c)
	checkTensorClose(t, got, want, fftWindowScale(scale, x, w))
}

// fftWindowScale is fftScale for inputs that may hold zeros: the FFT's
// rounding spreads over a whole tile, so an output whose terms are all
// zero (its taps meet only zeros) still picks up rounding of the order of
// max|x|·Σ|w| from the rest of its window, where the reference gives
// exactly zero.
func fftWindowScale[T engine.Float](scale []float64, x, w engine.Tensor[T]) []float64 {
	top, sum := 0.0, 0.0
	for _, v := range x.Data {
		top = max(top, math.Abs(float64(v)))
	}
	for _, v := range w.Data {
		sum += math.Abs(float64(v))
	}
	wide := fftScale[T](scale)
	for i := range wide {
		wide[i] += top * sum * fftError[T]() / tolerance[T]()
	}
	return wide
}

// The FFT path keeps its spectra and transform buffers for the next call
// of the same sizes, and their stale contents never show through: after
// every call, each buffer the engine holds is filled with NaN, and the next
// call (other values, other tilings, padded or not) still matches the
// reference.
func TestFFTSpectraAreReusedAndOverwritten(t *testing.T) {
	t.Run("dtype=float32", testSpectraReused[float32])
	t.Run("dtype=float64", testSpectraReused[float64])
}

func testSpectraReused[T engine.Float](t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 2})
	r := rand.New(rand.NewPCG(67, 68))
	for i, tc := range []struct {
		x, w [4]int
		conv engine.Conv
		maxP int
	}{
		{x: [4]int{1, 1, 90, 70}, w: [4]int{1, 1, 9, 7}, maxP: 1024},
		{x: [4]int{1, 1, 90, 70}, w: [4]int{1, 1, 9, 7}, maxP: 1024},
		{x: [4]int{1, 1, 90, 70}, w: [4]int{1, 1, 9, 7}, maxP: 40},
		{x: [4]int{2, 2, 61, 75}, w: [4]int{3, 2, 6, 5}, maxP: 40, conv: engine.Conv{Padding: engine.PadSame, Border: engine.BorderReplicate}},
		{x: [4]int{2, 2, 61, 75}, w: [4]int{3, 2, 6, 5}, maxP: 40, conv: engine.Conv{Padding: engine.PadSame, Border: engine.BorderReplicate}},
	} {
		x, w := randTensor[T](r, tc.x), randTensor[T](r, tc.w)
		got, _, err := engine.Conv2DTiles(context.Background(), e, x, w, nil, tc.conv, tc.maxP)
		if err != nil {
			t.Fatal(err)
		}
		want, scale := refConv2D(x, w, nil, tc.conv)
		checkTensorClose(t, got, want, fftScale[T](scale))
		if n := engine.PoisonSpectra(e); n == 0 && i > 0 {
			t.Fatalf("call %d: the engine kept no spectra", i)
		}
	}
}

// Large kernels on the FFT path stay within 1e-10 of the output's scale (its
// largest magnitude) in float64, and within 1e-5 of it in float32 (whose
// transforms run in complex64), whatever the tiling. The reference sums in
// float64 in both cases.
func TestFFTLargeKernelsAreAccurate(t *testing.T) {
	t.Run("dtype=float32", func(t *testing.T) { testLargeKernels[float32](t, 1e-5) })
	t.Run("dtype=float64", func(t *testing.T) { testLargeKernels[float64](t, 1e-10) })
}

func testLargeKernels[T engine.Float](t *testing.T, limit float64) {
	e := newTestEngine(t, engine.Config{Workers: 2})
	r := rand.New(rand.NewPCG(63, 64))
	for _, tc := range []struct {
		x, k, maxP int
	}{{200, 63, 1024}, {200, 63, 96}, {160, 127, 1024}, {190, 127, 160}} {
		t.Run(fmt.Sprintf("%dx%d/k=%d/maxP=%d", tc.x, tc.x, tc.k, tc.maxP), func(t *testing.T) {
			x := randTensor[T](r, [4]int{1, 1, tc.x, tc.x})
			w := randTensor[T](r, [4]int{1, 1, tc.k, tc.k})
			got, _, err := engine.Conv2DTiles(context.Background(), e, x, w, nil, engine.Conv{}, tc.maxP)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := refConv2D(widen(x), widen(w), nil, engine.Conv{})
			top, worst := 0.0, 0.0
			for i, v := range want.Data {
				top = max(top, math.Abs(v))
				worst = max(worst, math.Abs(float64(got.Data[i])-v))
			}
			t.Logf("largest error %.1e of the output scale", worst/top)
			if worst > limit*top {
				t.Errorf("largest error %g of an output scale %g (%.1e of it), want at most %g of it", worst, top, worst/top, limit)
			}
		})
	}
}

// BenchmarkConv2DMethods times the direct and FFT paths side by side on
// one worker, on the single planes behind the cost model's FFT constants
// (see PERF.md), with the naive reference left out: it would take minutes.
func BenchmarkConv2DMethods(b *testing.B) {
	for _, tc := range []struct{ n, k int }{{256, 11}, {256, 31}, {1024, 11}, {1024, 31}, {1024, 63}, {1024, 127}, {4096, 11}, {4096, 31}} {
		// The inputs are made in the sub-benchmarks, so that -bench
		// filters skip making the large ones.
		inputs := func() (engine.Tensor[float64], engine.Tensor[float64]) {
			r := rand.New(rand.NewPCG(65, 66))
			return randTensor[float64](r, [4]int{1, 1, tc.n, tc.n}), randTensor[float64](r, [4]int{1, 1, tc.k, tc.k})
		}
		for _, m := range []engine.Method{engine.MethodDirect, engine.MethodFFT} {
			name := fmt.Sprintf("size=%dx%d/k=%dx%d/method=%v", tc.n, tc.n, tc.k, tc.k, m)
			b.Run(name+"/dtype=float32", func(b *testing.B) {
				x, w := inputs()
				benchMethod(b, convert32(x), convert32(w), m)
			})
			b.Run(name+"/dtype=float64", func(b *testing.B) {
				x, w := inputs()
				benchMethod(b, x, w, m)
			})
		}
	}
}

// widen returns t in float64.
func widen[T engine.Float](t engine.Tensor[T]) engine.Tensor[float64] {
	out := engine.Tensor[float64]{Shape: t.Shape, Data: make([]float64, len(t.Data))}
	for i, v := range t.Data {
		out.Data[i] = float64(v)
	}
	return out
}

func convert32(t engine.Tensor[float64]) engine.Tensor[float32] {
	out := engine.Tensor[float32]{Shape: t.Shape, Data: make([]float32, len(t.Data))}
	for i, v := range t.Data {
		out.Data[i] = float32(v)
	}
	return out
}

func benchMethod[T engine.Float](b *testing.B, x, w engine.Tensor[T], m engine.Method) {
	e := newTestEngine(b, engine.Config{Workers: 1})
	b.ReportAllocs()
	b.SetBytes(int64(sizeof(x.Data[0]) * len(x.Data)))
	for b.Loop() {
		out, err := engine.Conv2D(context.Background(), e, engine.Background, x, w, nil, engine.Conv{Method: m})
		if err != nil {
			b.Fatal(err)
		}
		engine.Release(e, out.Data)
	}
}
