package handlers

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/tensor"
)

// goldenConv is testdata/golden/conv2d.json, made by scripts/golden from
// PyTorch 1.13 and scipy: literal /corr2d bodies and what the library
// answered, or which field it refused.
type goldenConv struct {
	Generator map[string]any `json:"generator"`
	Cases     []struct {
		Name       string          `json:"name"`
		Reference  string          `json:"reference"`
		Request    json.RawMessage `json:"request"`
		Output     json.RawMessage `json:"output"`
		ErrorField string          `json:"error_field"`
	} `json:"cases"`
	// Disputed are convolve + "same" with an odd total padding, where
	// scipy's convolve2d and "flip, then PyTorch's same" differ; operation
	// convolve means scipy's convolve2d.
	Disputed []struct {
		Name  string          `json:"name"`
		Req   json.RawMessage `json:"request"`
		Scipy json.RawMessage `json:"scipy_convolve2d_same"`
	} `json:"disputed"`
}

func loadGoldenConv(t *testing.T) goldenConv {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", "conv2d.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenConv
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// checkGolden compares got with the library's output: within 1e-12 (float64)
// or 1e-5 (float32) of the output's largest magnitude, since sums of terms of
// mixed sign cancel and an element's own size is no scale.
func checkGolden(t *testing.T, got tensor.Dense, wantRaw json.RawMessage, dtype string) {
	t.Helper()
	want, err := tensor.Parse(wantRaw, tensor.Limits{})
	if err != nil {
		t.Fatalf("golden output: %v", err)
	}
	if len(got.Shape) != len(want.Shape) || tensor.Size(got.Shape) != tensor.Size(want.Shape) {
		t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
	}
	for i := range got.Shape {
		if got.Shape[i] != want.Shape[i] {
			t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
		}
	}
	tol := 1e-12
	if dtype == "float32" {
		tol = 1e-5
	}
	scale := 0.0
	for _, v := range want.Data {
		scale = math.Max(scale, math.Abs(v))
	}
	bad := 0
	for i := range got.Data {
		if d := math.Abs(got.Data[i] - want.Data[i]); d > tol*scale {
			if bad++; bad <= 5 {
				t.Errorf("output[%d] = %.17g, want %.17g (off by %.3g of the scale %.3g)", i, got.Data[i], want.Data[i], d/scale, scale)
			}
		}
	}
}

// goldenServer is a Server with an engine and the default limits and
// nothing else: enough to decode golden requests and run them without HTTP.
func goldenServer(t *testing.T) (*Server, *engine.Engine) {
	t.Helper()
	return goldenServerWith(t, engine.Config{Workers: 2})
}

// goldenServerWith is goldenServer with an engine configured by cfg.
func goldenServerWith(t *testing.T, cfg engine.Config) (*Server, *engine.Engine) {
	t.Helper()
	eng, err := engine.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return &Server{cfg: Config{Limits: DefaultLimits()}, eng: eng, log: zap.NewNop()}, eng
}

// runGolden runs a decoded call in its dtype and widens the result to
// float64, the golden files' precision.
func runGolden(ctx context.Context, eng *engine.Engine, call corr2dCall) (engine.Tensor[float64], error) {
	if call.dtype != "float32" {
		return conv2DAs[float64](ctx, eng, call)
	}
	o32, err := conv2DAs[float32](ctx, eng, call)
	return engine.Tensor[float64]{Shape: o32.Shape, Data: engine.Convert[float64](o32.Data)}, err
}

// TestGoldenConvThroughTheEngine runs every golden case through the
// request's decoding and the engine, without HTTP; handlers_test sends a
// sample of them over HTTP.
func TestGoldenConvThroughTheEngine(t *testing.T) {
	g := loadGoldenConv(t)
	s, eng := goldenServer(t)
	ctx := context.Background()
	var ok, refused int
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var req corr2dRequest
			var call corr2dCall
			var out engine.Tensor[float64]
			err := decodeObject(c.Request, &req, "")
			if err == nil {
				call, err = jsonCall(s, req)
			}
			if err == nil {
				out, err = runGolden(ctx, eng, call)
			}
			if c.ErrorField != "" {
				// The service may name a place inside the field (/kernel/0).
				ae := classify(err)
				if err == nil || ae.status != 422 || !strings.HasPrefix(ae.pointer+"/", "/"+c.ErrorField+"/") {
					t.Fatalf("err = %v (pointer %q), want a 422 naming /%s", err, ae.pointer, c.ErrorField)
				}
				refused++
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tensor.Dense{Shape: out.Shape[4-call.rank:], Data: out.Data}, c.Output, call.dtype)
			ok++
		})
	}
	for _, c := range g.Disputed {
		if c.Scipy == nil {
			continue // scipy has no dilation, so it has no answer here
		}
		t.Run(c.Name, func(t *testing.T) {
			var req corr2dRequest
			if err := json.Unmarshal(c.Req, &req); err != nil {
				t.Fatal(err)
			}
			call, err := jsonCall(s, req)
			if err != nil {
				t.Fatal(err)
			}
			out, err := engine.Conv2D(ctx, eng, engine.Interactive, call.x, call.w, call.bias, call.conv)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tensor.Dense{Shape: out.Shape[4-call.rank:], Data: out.Data}, c.Scipy, call.dtype)
		})
	}
	if len(g.Disputed) == 0 {
		t.Error("no convolve-same cases with an odd padding")
	}
	if ok < 500 || refused < 20 {
		t.Errorf("%d cases computed and %d refused; the golden set should hold at least 500 and 20", ok, refused)
	}
}

// jsonCall reads a JSON /corr2d request's tensors and checks the call, as
// the handler does after decoding the body.
func jsonCall(s *Server, req corr2dRequest) (corr2dCall, error) {
	ops := map[string]operand{}
	raws := []namedRaw{{"input", req.Input}, {"kernel", req.Kernel}}
	if err := s.jsonOperands(ops, s.corr2dParts(), raws); err != nil {
		return corr2dCall{}, err
	}
	return s.corr2dCall(req, ops["input"], ops["kernel"])
}
