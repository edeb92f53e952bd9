package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/corr2d/corr2d/internal/engine"
)

// Inputs large enough to be padded on the pool, rows split over bands
// across plane boundaries, and padded planes read in place by the direct
// path, must give the reference's results on every path that pads: the direct
// and FFT methods, and the weight gradient.
func TestLargePaddedInputsMatchReference(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 3})
	r := rand.New(rand.NewPCG(71, 72))
	for _, c := range []convCase{
		{name: "one plane, same reflect", x: [4]int{1, 1, 530, 520}, w: [4]int{1, 1, 3, 3}, conv: engine.Conv{Padding: engine.PadSame, Border: engine.BorderReflect}},
		{name: "planes, full circular, strided", x: [4]int{2, 2, 300, 310}, w: [4]int{2, 2, 5, 4}, conv: engine.Conv{Padding: engine.PadFull, Border: engine.BorderCircular, Stride: [2]int{2, 3}}},
		{name: "many channels, same symmetric", x: [4]int{1, 4, 260, 270}, w: [4]int{8, 4, 3, 3}, bias: true, conv: engine.Conv{Padding: engine.PadSame, Border: engine.BorderSymmetric}},
		{name: "tall kernel, explicit zeros with a fill", x: [4]int{1, 1, 520, 540}, w: [4]int{1, 1, 11, 11}, conv: engine.Conv{Pad: [4]int{7, 2, 0, 12}, Fill: 0.5}},
	} {
		for _, m := range []engine.Method{engine.MethodDirect, engine.MethodFFT} {
			t.Run(fmt.Sprintf("%s/method=%v", c.name, m), func(t *testing.T) {
				x, w := randTensor[float64](r, c.x), randTensor[float64](r, c.w)
				var bias []float64
				if c.bias {
					bias = randSlice[float64](r, c.w[0])
				}
				c.conv.Method = m
				got, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, bias, c.conv)
				if err != nil {
					t.Fatalf("Conv2D(%v) = %v", c, err)
				}
				want, scale := refConv2D(x, w, bias, c.conv)
				if m == engine.MethodFFT {
					scale = fftScale[float64](scale)
				}
				checkTensorClose(t, got, want, scale)
				if m != engine.MethodDirect {
					return // the gradient has one method
				}
				dy := randTensor[float64](r, got.Shape)
				gw, err := engine.Conv2DWeightGrad(context.Background(), e, engine.Background, x, dy, c.w[2], c.w[3], c.conv)
				if err != nil {
					t.Fatalf("Conv2DWeightGrad(%v) = %v", c, err)
				}
				wantW, scaleW := refWeightGrad(x, dy, c.w[2], c.w[3], c.conv)
				checkTensorClose(t, gw, wantW, scaleW)
			})
		}
	}
}
