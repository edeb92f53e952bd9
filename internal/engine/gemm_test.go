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

// gemmCases are problems for the GEMM path: named ones for its edges
// (partial tiles of channels and of pixels, panels across output rows,
// blocks of taps and of channels, the polyphase layout of strides) and
// random ones of odd sizes, with og 1..13, K = Cg·kh·kw 1..40 and up to
// 50 output pixels, over every parameter.
func gemmCases() []convCase {
	sq := func(v int) [2]int { return [2]int{v, v} }
	same := engine.Conv{Padding: engine.PadSame}
	cases := []convCase{
		{name: "one output pixel and one tap", x: [4]int{1, 1, 1, 1}, w: [4]int{7, 1, 1, 1}, bias: true},
		{name: "one output channel", x: [4]int{2, 3, 6, 9}, w: [4]int{1, 3, 3, 3}, conv: same},
		{name: "a whole tile of channels and pixels", x: [4]int{1, 2, 4, 18}, w: [4]int{6, 2, 3, 3}},
		{name: "two tiles and a row of channels", x: [4]int{2, 3, 7, 7}, w: [4]int{13, 3, 2, 2}, bias: true, conv: same},
		{name: "panels across two output rows", x: [4]int{1, 4, 7, 12}, w: [4]int{8, 4, 3, 3}, conv: same},
		{name: "panels across many narrow rows", x: [4]int{2, 2, 9, 3}, w: [4]int{9, 2, 3, 2}, conv: engine.Conv{Padding: engine.PadFull}},
		{name: "rows of exactly one panel", x: [4]int{1, 3, 5, 16}, w: [4]int{7, 3, 3, 3}, conv: same},
		{name: "rows of exactly two double panels", x: [4]int{1, 1, 3, 8}, w: [4]int{6, 1, 3, 5}, conv: same},
		{name: "a strided stem in polyphase order", x: [4]int{1, 3, 21, 20}, w: [4]int{8, 3, 7, 7}, bias: true,
			conv: engine.Conv{Stride: sq(2), Pad: [4]int{3, 3, 3, 3}}},
		{name: "stride 3 and dilation 2 with reflection", x: [4]int{2, 2, 13, 17}, w: [4]int{9, 2, 3, 2},
			conv: engine.Conv{Stride: [2]int{3, 2}, Dilation: sq(2), Pad: [4]int{2, 1, 3, 2}, Border: engine.BorderReflect}},
		{name: "groups with a convolution and a fill", x: [4]int{1, 6, 8, 9}, w: [4]int{15, 2, 3, 2}, bias: true,
			conv: engine.Conv{Groups: 3, Convolve: true, Pad: [4]int{1, 2, 0, 1}, Fill: 0.75}},
		{name: "depthwise with a multiplier", x: [4]int{2, 3, 10, 10}, w: [4]int{21, 1, 3, 3}, conv: engine.Conv{Groups: 3, Padding: engine.PadSame, Border: engine.BorderCircular}},
		{name: "taps in two blocks", x: [4]int{1, 33, 3, 20}, w: [4]int{7, 33, 3, 3}, bias: true, conv: same},
		{name: "taps in two blocks on narrow rows", x: [4]int{1, 33, 6, 7}, w: [4]int{7, 33, 3, 3}, conv: same},
		{name: "channels in two blocks of A", x: [4]int{1, 128, 3, 18}, w: [4]int{100, 128, 2, 2}, bias: true},
	}
	r := rand.New(rand.NewPCG(81, 82))
	for len(cases) < 15+250 {
		groups := 1 + r.IntN(3)
		og, cg := 1+r.IntN(13), 1+r.IntN(4)
		kh, kw := 1+r.IntN(4), 1+r.IntN(4)
		if cg*kh*kw > 40 {
			continue
		}
		cv := engine.Conv{
			Stride:   [2]int{1 + r.IntN(3), 1 + r.IntN(3)},
			Dilation: [2]int{1 + r.IntN(2), 1 + r.IntN(2)},
			Padding:  engine.Padding(r.IntN(4)),
			Border:   engine.Border(r.IntN(5)),
			Groups:   groups,
			Convolve: r.IntN(2) == 0,
		}
		H, W := 1+r.IntN(12), 1+r.IntN(12)
		randomPads(r, &cv, H, W, 3)
		c := convCase{x: [4]int{1 + r.IntN(2), groups * cg, H, W}, w: [4]int{groups * og, cg, kh, kw}, bias: r.IntN(2) == 0, conv: cv}
		if g, ok := refResolve(c.x, c.w, c.conv); !ok || g.ho*g.wo > 50 {
			continue
		}
		c.name = fmt.Sprintf("random %d", len(cases)-14)
		cases = append(cases, c)
	}
	return cases
}

// The GEMM path, run whatever the rule that picks it says (and so with the
// portable microkernel under purego), must match the reference within the
// engine's tolerance, write nothing outside its output, which the test
// surrounds with guard values, and give the same bits on one worker as on
// three.
func TestGEMMPathMatchesReference(t *testing.T) {
	one := newTestEngine(t, engine.Config{Workers: 1})
	three := newTestEngine(t, engine.Config{Workers: 3, MinBandWork: 16})
	t.Run("dtype=float32", func(t *testing.T) { testGEMMMatches[float32](t, one, three) })
	t.Run("dtype=float64", func(t *testing.T) { testGEMMMatches[float64](t, one, three) })
}

func testGEMMMatches[T engine.Float](t *testing.T, one, three *engine.Engine) {
	const guard = 40
	sentinel := T(math.Pi * 1e6)
	r := rand.New(rand.NewPCG(83, 84))
	ctx := context.Background()
	for _, c := range gemmCases() {
		t.Run(c.name, func(t *testing.T) {
			x, w := randTensor[T](r, c.x), randTensor[T](r, c.w)
			var bias []T
			if c.bias {
				bias = randSlice[T](r, c.w[0])
			}
			want, scale := refConv2D(x, w, bias, c.conv)
			n := len(want.Data)
			buf := make([]T, guard+n+guard)
			for i := range buf {
				buf[i] = sentinel
			}
			out := buf[guard : guard+n : guard+n]
			if err := engine.Conv2DGEMMInto(ctx, three, x, w, bias, c.conv, out); err != nil {
				t.Fatalf("GEMM path (%v) = %v", c, err)
			}
			for i, v := range buf {
				if (i < guard || i >= guard+n) && v != sentinel {
					t.Errorf("guard at %d (output is [%d, %d)) overwritten with %v", i, guard, guard+n, v)
				}
			}
			checkTensorClose(t, engine.Tensor[T]{Shape: want.Shape, Data: out}, want, scale)

			solo := make([]T, n)
			if err := engine.Conv2DGEMMInto(ctx, one, x, w, bias, c.conv, solo); err != nil {
				t.Fatalf("GEMM path on one worker (%v) = %v", c, err)
			}
			if diff := cmp.Diff(solo, out); diff != "" {
				t.Errorf("one and three workers differ (-one +three):\n%s", diff)
			}
			if t.Failed() {
				t.Logf("case: %v", c)
			}
		})
	}
}

// Every microkernel (the portable one and the SIMD one where this build
// and CPU have it) computes its tiles into a C whose rows are surrounded by
// sentinels, for every row count up to past two tiles, with and without
// partial sums to continue from and with and without packing its panel of
// B on the way; only the rows asked for may change, and the packed panel
// must be the im2col copy.
func TestGemmKernelsStayInsideTheirTiles(t *testing.T) {
	t.Run("dtype=float32", testGemmKernelGuards[float32])
	t.Run("dtype=float64", testGemmKernelGuards[float64])
}

func testGemmKernelGuards[T engine.Float](t *testing.T) {
	mr, nr := engine.GemmTile[T]()
	sentinel := T(math.Pi * 1e6)
	for name, kernel := range engine.GemmKernels[T]() {
		r := rand.New(rand.NewPCG(85, 86))
		for _, k := range []int{1, 2, 3, 4, 5, 7, 8, 9, 31, 64} {
			for rows := 1; rows <= 2*mr+1; rows++ {
				for _, mode := range []struct{ load, pack bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
					t.Run(fmt.Sprintf("kernel=%s/k=%d/rows=%d/load=%v/pack=%v", name, k, rows, mode.load, mode.pack), func(t *testing.T) {
						ldc := nr + 3
						astride := k*mr + 5
						panels := (rows + mr - 1) / mr
						a := randSlice[T](r, panels*astride)
						for p := range panels {
							// A's rows past the last are zero, as packed.
							for q := range k {
								for i := rows - p*mr; i < mr; i++ {
									if i >= 0 {
										a[p*astride+q*mr+i] = 0
									}
								}
							}
						}
						x := randSlice[T](r, 200)
						var offs []int
						b := randSlice[T](r, k*nr)
						if mode.pack {
							offs = make([]int, k)
							for q := range offs {
								offs[q] = r.IntN(len(x) - nr + 1)
							}
							b = make([]T, k*nr)
						}
						c := make([]T, (rows+1)*ldc+nr)
						for i := range c {
							c[i] = sentinel
						}
						c0 := randSlice[T](r, rows*nr)
						for i := range rows {
							copy(c[(i+1)*ldc:], c0[i*nr:(i+1)*nr])
						}
						kernel(k, a, b, c[ldc:], x, offs, astride, rows, ldc, mode.load)

						if mode.pack {
							for q := range k {
								for j := range nr {
									if got, want := b[q*nr+j], x[offs[q]+j]; got != want {
										t.Fatalf("packed b[%d] = %v, want x[%d] = %v", q*nr+j, got, offs[q]+j, want)
									}
								}
							}
						}
						for i, v := range c {
							row, col := i/ldc-1, i%ldc
							if (row < 0 || row >= rows || col >= nr) && v != sentinel {
								t.Errorf("c[%d] (row %d, column %d) outside the tile changed to %v", i, row, col, v)
							}
						}
						for i := range rows {
							for j := range nr {
								var want T
								scale := 0.0
								if mode.load {
									want = c0[i*nr+j]
									scale = math.Abs(float64(want))
								}
								for q := range k {
									av := a[i/mr*astride+q*mr+i%mr]
									want += av * b[q*nr+j]
									scale += math.Abs(float64(av) * float64(b[q*nr+j]))
								}
								if got := c[(i+1)*ldc+j]; math.Abs(float64(got)-float64(want)) > tolerance[T]()*scale {
									t.Errorf("c row %d column %d = %v, want %v", i, j, got, want)
								}
							}
						}
					})
				}
			}
		}
	}
}

// Conv2D takes the GEMM path for many-channel work where this build has the
// SIMD microkernel, and keeps the row kernel for single-channel and
// depthwise work; a large enough input is then padded on the pool, and the
// result must still match the reference.
func TestConv2DPicksTheGEMMPath(t *testing.T) {
	pad1 := engine.Conv{Pad: [4]int{1, 1, 1, 1}}
	stem := engine.Conv{Stride: [2]int{2, 2}, Pad: [4]int{3, 3, 3, 3}}
	for _, tt := range []struct {
		name string
		x, w [4]int
		conv engine.Conv
		want bool
	}{
		{"a ResNet block's 3x3", [4]int{8, 64, 56, 56}, [4]int{64, 64, 3, 3}, pad1, true},
		{"a ResNet stem", [4]int{1, 3, 224, 224}, [4]int{64, 3, 7, 7}, stem, true},
		{"one channel in and out", [4]int{1, 1, 1024, 1024}, [4]int{1, 1, 3, 3}, engine.Conv{}, false},
		{"depthwise", [4]int{1, 32, 56, 56}, [4]int{32, 1, 3, 3}, engine.Conv{Groups: 32}, false},
		{"a 1x1 on few channels", [4]int{1, 4, 56, 56}, [4]int{64, 4, 1, 1}, engine.Conv{}, false},
	} {
		if got, want := engine.UseGEMM(tt.x, tt.w, tt.conv), tt.want && engine.GemmSIMD(); got != want {
			t.Errorf("%s: UseGEMM = %v, want %v", tt.name, got, want)
		}
	}

	e := newTestEngine(t, engine.Config{Workers: 2, MinBandWork: 1 << 12})
	r := rand.New(rand.NewPCG(87, 88))
	c := engine.Conv{Padding: engine.PadSame, Border: engine.BorderReplicate, Convolve: true}
	xs, ws := [4]int{2, 10, 120, 118}, [4]int{7, 10, 3, 1} // 287920 padded cells
	x, w := randTensor[float32](r, xs), randTensor[float32](r, ws)
	bias := randSlice[float32](r, ws[0])
	got, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, bias, c)
	if err != nil {
		t.Fatal(err)
	}
	want, scale := refConv2D(x, w, bias, c)
	checkTensorClose(t, got, want, scale)
}
