package engine_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/corr2d/corr2d/internal/engine"
)

// padPlanes returns x padded by pads (top, bottom, left, right) with border
// b and fill, cell by cell through the reference's index rule.
func padPlanes[T engine.Float](x engine.Tensor[T], pads [4]int, b engine.Border, fill float64) engine.Tensor[T] {
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	hp, wp := H+pads[0]+pads[1], W+pads[2]+pads[3]
	p := engine.Tensor[T]{Shape: [4]int{N, C, hp, wp}, Data: make([]T, N*C*hp*wp)}
	for n := range N {
		for c := range C {
			for r := range hp {
				for q := range wp {
					p.Data[((n*C+c)*hp+r)*wp+q] = refPadded(x, n, c, r-pads[0], q-pads[2], b, fill)
				}
			}
		}
	}
	return p
}

// checkPaddedAsValid runs the padded correlation c of x with w, and the
// valid one of x padded ahead by the reference, on e. Where the CPU has SIMD
// kernels and the output rows are at least a register wide, every output
// (margins included) is computed by the kernels the valid path uses, in the
// same order, so the two must agree bit for bit; otherwise both must be
// within the tolerance of the reference loop.
func checkPaddedAsValid[T engine.Float](t *testing.T, e *engine.Engine, x, w engine.Tensor[T], c engine.Conv, pads [4]int) {
	t.Helper()
	ctx := context.Background()
	c.Method = engine.MethodDirect
	got, err := engine.Conv2D(ctx, e, engine.Background, x, w, nil, c)
	if err != nil {
		t.Fatalf("Conv2D(%+v) = %v", c, err)
	}
	valid := engine.Conv{Method: engine.MethodDirect, Convolve: c.Convolve}
	want, err := engine.Conv2D(ctx, e, engine.Background, padPlanes(x, pads, c.Border, c.Fill), w, nil, valid)
	if err != nil {
		t.Fatalf("Conv2D(padded ahead) = %v", err)
	}
	var z T
	lanes := 32 / sizeof(z)
	if engine.SIMDName() == "" || got.Shape[3] < lanes {
		ref, scale := refConv2D(x, w, nil, c)
		checkTensorClose(t, got, ref, scale)
		return
	}
	if got.Shape != want.Shape {
		t.Fatalf("padded output %v, valid output of the padded input %v", got.Shape, want.Shape)
	}
	for i, v := range got.Data {
		if v != want.Data[i] && !(math.IsNaN(float64(v)) && math.IsNaN(float64(want.Data[i]))) {
			wo := got.Shape[3]
			t.Fatalf("output (%d, %d) = %v, valid over the padded input gives %v", i/wo, i%wo, v, want.Data[i])
		}
	}
}

// Every padding form and border computes every output, margins included,
// as the valid correlation over an input padded ahead does: the same taps
// in the same order on the same kernels, whichever kernel (3×3, 5×5, the
// four-row one, the row kernel) and band split serves it.
func TestPaddedMatchesValidOverPaddedInput(t *testing.T) {
	t.Run("dtype=float32", testPaddedAsValid[float32])
	t.Run("dtype=float64", testPaddedAsValid[float64])
}

func testPaddedAsValid[T engine.Float](t *testing.T) {
	engines := map[string]*engine.Engine{
		"bands":    newTestEngine(t, engine.Config{Workers: 3, MinBandWork: 1}),
		"one band": newTestEngine(t, engine.Config{Workers: 1, MinBandWork: math.MaxInt}),
	}
	r := rand.New(rand.NewPCG(91, 92))
	for _, k := range [][2]int{{3, 3}, {5, 5}, {7, 7}, {11, 11}, {9, 4}, {2, 13}} {
		for _, size := range [][2]int{{61, 53}, {130, 20}, {12, 9}} {
			x := randTensor[T](r, [4]int{1, 1, size[0], size[1]})
			w := randTensor[T](r, [4]int{1, 1, k[0], k[1]})
			kh, kw := k[0], k[1]
			for b, bname := range borderNames {
				for _, pads := range [][4]int{
					{(kh - 1) / 2, kh / 2, (kw - 1) / 2, kw / 2}, // same
					{kh - 1, kh - 1, kw - 1, kw - 1},             // full
					{1, 0, 0, 3},
					{0, kh - 1, kw, 1},
				} {
					if b == engine.BorderReflect && (pads[0] >= size[0] || pads[1] >= size[0] || pads[2] >= size[1] || pads[3] >= size[1]) {
						continue // reflection needs pads inside the input
					}
					if size[0]+pads[0]+pads[1] < kh || size[1]+pads[2]+pads[3] < kw {
						continue
					}
					c := engine.Conv{Pad: pads, Border: b}
					if b == engine.BorderZeros {
						c.Fill = 0.25
					}
					for name, e := range engines {
						t.Run(fmt.Sprintf("k=%dx%d/in=%dx%d/%s/pads=%v/%s", kh, kw, size[0], size[1], bname, pads, name), func(t *testing.T) {
							checkPaddedAsValid(t, e, x, w, c, pads)
						})
					}
				}
			}
		}
	}
}

// FuzzPaddedMatchesValid draws the input, kernel, pads and border from
// the fuzzer's bytes and holds the padded correlation to the valid one
// over the input padded ahead (see checkPaddedAsValid), in both element
// types.
func FuzzPaddedMatchesValid(f *testing.F) {
	f.Add(uint8(40), uint8(33), uint8(3), uint8(3), uint8(1), uint8(1), uint8(1), uint8(1), uint8(0), false, []byte{1, 2, 3})
	f.Add(uint8(30), uint8(64), uint8(11), uint8(11), uint8(10), uint8(10), uint8(10), uint8(10), uint8(2), false, []byte{200, 7})
	f.Add(uint8(9), uint8(17), uint8(5), uint8(2), uint8(0), uint8(4), uint8(7), uint8(0), uint8(3), true, []byte{})
	e := newTestEngine(f, engine.Config{Workers: 2, MinBandWork: 1})
	f.Fuzz(func(t *testing.T, h, wd, kh, kw, top, bottom, left, right, border uint8, convolve bool, data []byte) {
		H, W := int(h)%48+1, int(wd)%80+1
		KH, KW := int(kh)%13+1, int(kw)%13+1
		pads := [4]int{int(top) % 13, int(bottom) % 13, int(left) % 13, int(right) % 13}
		b := engine.Border(int(border) % len(borderNames))
		if H+pads[0]+pads[1] < KH || W+pads[2]+pads[3] < KW {
			t.Skip("kernel larger than the padded input")
		}
		if b == engine.BorderReflect && (pads[0] >= H || pads[1] >= H || pads[2] >= W || pads[3] >= W) {
			t.Skip("reflection needs pads inside the input")
		}
		val := func(i int) float64 {
			if len(data) == 0 {
				return 1
			}
			return float64(int8(data[i%len(data)])) / 16
		}
		x := engine.Tensor[float64]{Shape: [4]int{1, 1, H, W}, Data: make([]float64, H*W)}
		for i := range x.Data {
			x.Data[i] = val(i)
		}
		w := engine.Tensor[float64]{Shape: [4]int{1, 1, KH, KW}, Data: make([]float64, KH*KW)}
		for i := range w.Data {
			w.Data[i] = val(7*i + 3)
		}
		c := engine.Conv{Pad: pads, Border: b, Convolve: convolve}
		if b == engine.BorderZeros {
			c.Fill = 0.5
		}
		checkPaddedAsValid(t, e, x, w, c, pads)
		checkPaddedAsValid(t, e, to32(x), to32(w), c, pads)
	})
}
