package handlers

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/tensor"
)

// The Winograd path answers every golden case it can compute (3x3 kernels
// with stride 1, 5x5 to 8x8 ones with stride 2, dilation 1) within the
// golden tolerance of the output's scale, whether or not auto would pick it
// there: that is what lets auto pick it.
func TestGoldenConvThroughWinograd(t *testing.T) {
	if ran := goldenThrough(t, engine.Config{Workers: 2, WinogradTile: 2}, engine.MethodWinograd); ran < 5 {
		t.Errorf("only %d golden cases ran through the Winograd path", ran)
	}
}

// The same with the 3x3 layers on F(4x4, 3x3), whose larger transforms
// round more.
func TestGoldenConvThroughWinograd4x4(t *testing.T) {
	if ran := goldenThrough(t, engine.Config{Workers: 2, WinogradTile: 4}, engine.MethodWinograd); ran < 5 {
		t.Errorf("only %d golden cases ran through the Winograd path", ran)
	}
}

// The same with the stride-2 layers on F(3x3, 4x4), whose transforms are
// F(4x4, 3x3)'s size.
func TestGoldenConvThroughWinogradStride2Tile3(t *testing.T) {
	if ran := goldenThrough(t, engine.Config{Workers: 2, WinogradTile: 3}, engine.MethodWinograd); ran < 5 {
		t.Errorf("only %d golden cases ran through the Winograd path", ran)
	}
}

// The FFT path answers every golden case within the golden tolerance of
// the output's scale, float32 ones included (whose transforms run in
// complex64), whether or not auto would pick it there.
func TestGoldenConvThroughFFT(t *testing.T) {
	if ran := goldenThrough(t, engine.Config{Workers: 2}, engine.MethodFFT); ran < 500 {
		t.Errorf("only %d golden cases ran through the FFT path", ran)
	}
}

// goldenThrough runs every golden case that method computes through it,
// on an engine configured by cfg, checks each against the golden output
// and returns how many ran.
func goldenThrough(t *testing.T, cfg engine.Config, method engine.Method) int {
	g := loadGoldenConv(t)
	s, eng := goldenServerWith(t, cfg)
	ctx := context.Background()
	ran := 0
	worst := map[string]float64{}
	for _, c := range g.Cases {
		if c.ErrorField != "" {
			continue
		}
		var req corr2dRequest
		if err := decodeObject(c.Request, &req, ""); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		call, err := jsonCall(s, req)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		call.conv.Method = method
		out, err := runGolden(ctx, eng, call)
		var pe *engine.ParamError
		if errors.As(err, &pe) && pe.Param == engine.ParamMethod {
			continue // not a layer this method computes
		}
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		t.Run(c.Name, func(t *testing.T) {
			got := tensor.Dense{Shape: out.Shape[4-call.rank:], Data: out.Data}
			checkGolden(t, got, c.Output, call.dtype)
			want, err := tensor.Parse(c.Output, tensor.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			scale, off := 0.0, 0.0
			for i, v := range want.Data {
				scale = math.Max(scale, math.Abs(v))
				off = math.Max(off, math.Abs(got.Data[i]-v))
			}
			if scale > 0 {
				worst[call.dtype] = math.Max(worst[call.dtype], off/scale)
			}
		})
		ran++
	}
	t.Logf("%d golden cases through the %v path; largest error relative to the output's scale: %v", ran, method, worst)
	return ran
}
