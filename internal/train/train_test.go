package train_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
)

// Every test stops the engine workers it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	eng, err := engine.New(engine.Config{Workers: 2}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return eng
}

// goldenTrain is testdata/golden/train.json, made by scripts/golden from
// PyTorch's float32 nn.Conv2d.
type goldenTrain struct {
	Cases []struct {
		Name        string      `json:"name"`
		Input       [][]float64 `json:"input"`
		Target      [][]float64 `json:"target"`
		KernelSize  [2]int      `json:"kernel_size"`
		LR          float64     `json:"lr"`
		Steps       int         `json:"steps"`
		Loss        train.Loss  `json:"loss"`
		Seed        uint64      `json:"seed"`
		InitKernel  [][]float64 `json:"init_kernel"`
		Losses      []float64   `json:"losses"`
		FinalKernel [][]float64 `json:"final_kernel"`
	} `json:"cases"`
	Init []struct {
		Seed       uint64      `json:"seed"`
		KernelSize [2]int      `json:"kernel_size"`
		Weight     [][]float64 `json:"weight"`
	} `json:"init"`
}

func readGolden(t *testing.T, name string, v any) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "golden", name))
	if err == nil {
		err = json.NewDecoder(f).Decode(v)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
}

func flatten(m [][]float64) []float64 {
	var out []float64
	for _, row := range m {
		out = append(out, row...)
	}
	return out
}

func dense2D(m [][]float64) tensor.Dense {
	return tensor.Dense{Shape: []int{1, 1, len(m), len(m[0])}, Data: flatten(m)}
}

func TestTorchInitIsBitExact(t *testing.T) {
	var g goldenTrain
	readGolden(t, "train.json", &g)
	if len(g.Init) == 0 {
		t.Fatal("no init cases in the golden file")
	}
	for _, c := range g.Init {
		got, _ := train.TorchInit(c.Seed, train.Float32, [4]int{1, 1, c.KernelSize[0], c.KernelSize[1]}, false)
		if diff := cmp.Diff(flatten(c.Weight), got); diff != "" {
			t.Errorf("TorchInit(%d, %v) mismatch (-torch +got):\n%s", c.Seed, c.KernelSize, diff)
		}
	}
}

func TestTorchInitMatchesPyTorchForEveryShapeAndDType(t *testing.T) {
	var g struct {
		Entries []struct {
			Seed        uint64      `json:"seed"`
			DType       train.DType `json:"dtype"`
			InChannels  int         `json:"in_channels"`
			OutChannels int         `json:"out_channels"`
			Groups      int         `json:"groups"`
			KernelSize  [2]int      `json:"kernel_size"`
			Bias        bool        `json:"bias"`
			Weight      any         `json:"weight"`
			BiasValues  []float64   `json:"bias_values"`
		} `json:"entries"`
	}
	readGolden(t, "init_conv.json", &g)
	if len(g.Entries) == 0 {
		t.Fatal("no entries")
	}
	for _, e := range g.Entries {
		shape := [4]int{e.OutChannels, e.InChannels / e.Groups, e.KernelSize[0], e.KernelSize[1]}
		w, bias := train.TorchInit(e.Seed, e.DType, shape, e.Bias)
		var want []float64
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case []any:
				for _, x := range v {
					walk(x)
				}
			case float64:
				want = append(want, v)
			}
		}
		walk(e.Weight)
		if diff := cmp.Diff(want, w); diff != "" {
			t.Errorf("seed %d %s %v weights (-torch +got):\n%s", e.Seed, e.DType, shape, diff)
		}
		if diff := cmp.Diff(e.BiasValues, bias); diff != "" {
			t.Errorf("seed %d %s %v bias (-torch +got):\n%s", e.Seed, e.DType, shape, diff)
		}
	}
}

// relErr is |got-want| relative to want.
func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / math.Abs(want)
}

func TestTrainingMatchesPyTorch(t *testing.T) {
	var g goldenTrain
	readGolden(t, "train.json", &g)
	eng := newEngine(t)
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			pr := train.Problem{
				Input: dense2D(c.Input), Target: dense2D(c.Target), KernelSize: c.KernelSize,
				Loss: c.Loss, LR: c.LR, Optimizer: train.Optimizer{Name: train.SGD},
			}
			w, _ := train.TorchInit(c.Seed, train.Float32, [4]int{1, 1, c.KernelSize[0], c.KernelSize[1]}, false)
			if diff := cmp.Diff(flatten(c.InitKernel), w); diff != "" {
				t.Fatalf("initial kernel mismatch (-torch +got):\n%s", diff)
			}
			tr := train.New[float32](eng, pr)
			p := train.Load[float32](train.State{Weight: tensor.Dense{Shape: []int{1, 1, c.KernelSize[0], c.KernelSize[1]}, Data: w}})
			// float32 training: PyTorch sums in its own order, so the
			// losses agree to float32's precision, relative to the start
			// of the run once they have fallen near rounding noise.
			floor := c.Losses[0] * 1e-3
			for i, want := range c.Losses {
				loss, next, err := tr.Step(context.Background(), p)
				if err != nil {
					t.Fatalf("step %d: %v", i+1, err)
				}
				if math.Abs(loss-want)/math.Max(want, floor) > 1e-5 {
					t.Errorf("step %d loss = %.9g, want %.9g (rel err %.2g)", i+1, loss, want, relErr(loss, want))
				}
				p = next
			}
			got := p.State().Weight.Data
			for i, want := range flatten(c.FinalKernel) {
				if math.Abs(got[i]-want) > 1e-5*math.Max(1, math.Abs(want)) {
					t.Errorf("final kernel[%d] = %.9g, want %.9g", i, got[i], want)
				}
			}
		})
	}
}

// The d2l problem: learn [1, -1] from a 6×8 image's edges.
func edgeProblem() train.Problem {
	x := make([][]float64, 6)
	y := make([][]float64, 6)
	for i := range x {
		x[i] = []float64{1, 1, 0, 0, 0, 0, 1, 1}
		y[i] = []float64{0, 1, 0, 0, 0, -1, 0}
	}
	return train.Problem{Input: dense2D(x), Target: dense2D(y), KernelSize: [2]int{1, 2},
		Loss: train.LossSum, LR: 0.03, Optimizer: train.Optimizer{Name: train.SGD}}
}

func TestANonFiniteStepIsAnErrorAndKeepsTheParameters(t *testing.T) {
	eng := newEngine(t)
	tests := []struct {
		name string
		lr   float64
		opt  train.Optimizer
	}{
		// One update of lr 1e38 takes the weights past float32's range:
		// the loss before it is finite, the weights after it are not.
		{"sgd with lr 1e38", 1e38, train.Optimizer{Name: train.SGD}},
		{"sgd with lr 10 diverges", 10, train.Optimizer{Name: train.SGD}},
		{"adam with lr 1e38", 1e38, train.Optimizer{Name: train.Adam, Betas: [2]float64{0.9, 0.999}, Eps: 1e-8}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pr := edgeProblem()
			pr.LR, pr.Optimizer = tt.lr, tt.opt
			tr := train.New[float32](eng, pr)
			start := train.State{Weight: tensor.Dense{Shape: []int{1, 1, 1, 2}, Data: []float64{0.5, -0.25}}}
			p := train.Load[float32](start)
			for step := 1; step <= 1000; step++ {
				_, next, err := tr.Step(context.Background(), p)
				if errors.Is(err, train.ErrNotFinite) {
					if diff := cmp.Diff(p.State(), next.State()); diff != "" {
						t.Errorf("a non-finite step changed the parameters (-before +after):\n%s", diff)
					}
					for _, v := range next.State().Weight.Data {
						if math.IsInf(v, 0) || math.IsNaN(v) {
							t.Fatalf("weights kept after a non-finite step: %v", next.State().Weight.Data)
						}
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				p = next
			}
			t.Fatal("1000 steps and no ErrNotFinite")
		})
	}
}

func TestStateRoundTripsThroughEveryPrecision(t *testing.T) {
	s := train.State{
		Weight: tensor.Dense{Shape: []int{1, 1, 1, 2}, Data: []float64{0.5, -0.25}},
		Bias:   []float64{0.125},
		Opt:    train.OptState{Step: 3, Buf: [][]float64{{1, 2}, {3}}, Sq: [][]float64{{4, 5}, {6}}},
	}
	if diff := cmp.Diff(s, train.Load[float32](s).State()); diff != "" {
		t.Errorf("float32 round trip (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(s, train.Load[float64](s).State()); diff != "" {
		t.Errorf("float64 round trip (-want +got):\n%s", diff)
	}
}
