package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/store/sqlite"
	"github.com/corr2d/corr2d/internal/tensor"
)

func kernel(a, b float64) *tensor.Dense {
	return &tensor.Dense{Shape: []int{1, 1, 1, 2}, Data: []float64{a, b}}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// modernc's SQLite keeps no goroutines, but database/sql's connection
		// opener lives until Close, which every test does; River's and zap's
		// are stopped too. These are the standard library's finalizer-driven
		// leftovers of a closed *sql.DB.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
	)
}

// service is a runner on a real store and engine in a data dir.
type service struct {
	runner *jobs.Runner
	store  *sqlite.Store
	reg    *prometheus.Registry
	stop   func()
}

func startService(t *testing.T, dir string, cfg jobs.Config) *service {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	eng, err := engine.New(engine.Config{Workers: 2}, reg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := jobs.New(cfg, store, eng, riversqlite.New(store.DB()), zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s := &service{runner: r, store: store, reg: reg}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := r.Stop(sctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		eng.Close()
		if err := store.Close(); err != nil {
			t.Errorf("store Close: %v", err)
		}
	}
	t.Cleanup(s.stop)
	return s
}

func waitFor(t *testing.T, s *service, id string, done func(jobs.Job) bool) jobs.Job {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		j, err := s.runner.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if done(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s at step %d", id, j.Status, j.Step)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ended(j jobs.Job) bool { return !j.Status.Active() }

// goldenTrain is testdata/golden/train.json, made by scripts/golden from
// PyTorch's float32 nn.Conv2d.
type goldenTrain struct {
	Generator map[string]string `json:"generator"`
	Cases     []struct {
		Name        string      `json:"name"`
		Input       [][]float64 `json:"input"`
		Target      [][]float64 `json:"target"`
		KernelSize  [2]int      `json:"kernel_size"`
		LR          float64     `json:"lr"`
		Steps       int         `json:"steps"`
		Loss        jobs.Loss   `json:"loss"`
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

func loadGolden(t *testing.T) goldenTrain {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", "train.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g goldenTrain
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestTorchInitIsBitExact(t *testing.T) {
	g := loadGolden(t)
	if len(g.Init) == 0 {
		t.Fatal("no init cases in the golden file")
	}
	for _, c := range g.Init {
		got, _ := jobs.TorchInit(c.Seed, jobs.Float32, [4]int{1, 1, c.KernelSize[0], c.KernelSize[1]}, false)
		if diff := cmp.Diff(flatten(c.Weight), got); diff != "" {
			t.Errorf("TorchInit(%d, %v) mismatch (-torch +got):\n%s", c.Seed, c.KernelSize, diff)
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
	g := loadGolden(t)
	s := startService(t, t.TempDir(), jobs.Config{Concurrency: 2})
	ctx := context.Background()
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			spec := spec2D(c.Input, c.Target, c.KernelSize, c.Steps)
			spec.LR, spec.Loss, spec.Seed = c.LR, c.Loss, &c.Seed
			j, err := s.runner.Submit(ctx, spec)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(flatten(c.InitKernel), j.InitWeight.Data); diff != "" {
				t.Fatalf("initial kernel mismatch (-torch +got):\n%s", diff)
			}
			j = waitFor(t, s, j.ID, ended)
			if j.Status != jobs.StatusSucceeded {
				t.Fatalf("status %s (%s), want succeeded", j.Status, j.Error)
			}
			pts, err := s.runner.Losses(ctx, j.ID, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) != len(c.Losses) {
				t.Fatalf("%d losses, want %d", len(pts), len(c.Losses))
			}
			// float32 training: PyTorch sums in its own order, so the
			// losses agree to float32's precision, relative to the start
			// of the run once they have fallen near rounding noise.
			floor := c.Losses[0] * 1e-3
			for i, p := range pts {
				want := c.Losses[i]
				if p.Step != i+1 || math.Abs(p.Loss-want)/math.Max(want, floor) > 1e-5 {
					t.Errorf("step %d loss = %.9g, want %.9g (rel err %.2g)", p.Step, p.Loss, want, relErr(p.Loss, want))
				}
			}
			for i, want := range flatten(c.FinalKernel) {
				if got := j.Weight.Data[i]; math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
					t.Errorf("final kernel[%d] = %.9g, want %.9g", i, got, want)
				}
			}
		})
	}
}

func flatten(m [][]float64) []float64 {
	var out []float64
	for _, row := range m {
		out = append(out, row...)
	}
	return out
}

// spec2D is a single-channel problem with d2l's settings and seed 42.
func spec2D(x, y [][]float64, kernelSize [2]int, steps int) jobs.Spec {
	seed := uint64(42)
	return jobs.Spec{
		Input:      tensor.Dense{Shape: []int{1, 1, len(x), len(x[0])}, Data: flatten(x)},
		Target:     tensor.Dense{Shape: []int{1, 1, len(y), len(y[0])}, Data: flatten(y)},
		Rank:       2,
		KernelSize: kernelSize,
		DType:      jobs.Float32,
		LR:         0.03,
		Steps:      steps,
		Loss:       jobs.LossSum,
		Optimizer:  jobs.Optimizer{Name: "sgd"},
		Seed:       &seed,
	}
}

// longSpec is the d2l problem run for many steps, long enough to interrupt.
func longSpec(steps int) jobs.Spec {
	x := make([][]float64, 6)
	y := make([][]float64, 6)
	for i := range x {
		x[i] = []float64{1, 1, 0, 0, 0, 0, 1, 1}
		y[i] = []float64{0, 1, 0, 0, 0, -1, 0}
	}
	return spec2D(x, y, [2]int{1, 2}, steps)
}

func TestRestartResumesFromCheckpointWithHistoryIntact(t *testing.T) {
	ctx := context.Background()
	const steps = 3000
	cfg := jobs.Config{CheckpointEvery: time.Millisecond}

	// The reference: the same job run without interruption.
	ref := startService(t, t.TempDir(), cfg)
	rj, err := ref.runner.Submit(ctx, longSpec(steps))
	if err != nil {
		t.Fatal(err)
	}
	rj = waitFor(t, ref, rj.ID, ended)
	want, err := ref.runner.Losses(ctx, rj.ID, 0, steps)
	if err != nil {
		t.Fatal(err)
	}
	ref.stop()

	dir := t.TempDir()
	first := startService(t, dir, cfg)
	j, err := first.runner.Submit(ctx, longSpec(steps))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, first, j.ID, func(j jobs.Job) bool { return j.Step >= 10 })
	first.stop()
	mid, err := func() (jobs.Job, error) {
		s, err := sqlite.Open(ctx, dir)
		if err != nil {
			return jobs.Job{}, err
		}
		got, err := s.Get(ctx, j.ID)
		return got, errors.Join(err, s.Close())
	}()
	if err != nil {
		t.Fatal(err)
	}
	if mid.Step >= steps || !mid.Status.Active() {
		t.Skipf("the job finished (step %d, %s) before the stop; nothing to resume", mid.Step, mid.Status)
	}

	second := startService(t, dir, cfg)
	done := waitFor(t, second, j.ID, ended)
	if done.Status != jobs.StatusSucceeded || done.Step != steps {
		t.Fatalf("resumed job = %s at step %d (%s), want succeeded at %d", done.Status, done.Step, done.Error, steps)
	}
	if !done.StartedAt.Equal(*mid.StartedAt) {
		t.Errorf("StartedAt moved from %v to %v", mid.StartedAt, done.StartedAt)
	}
	got, err := second.runner.Losses(ctx, j.ID, 0, steps)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history after resume differs from an uninterrupted run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(rj.Weight, done.Weight); diff != "" {
		t.Errorf("final kernel after resume differs (-want +got):\n%s", diff)
	}
}

func TestCancelStopsARunningJob(t *testing.T) {
	ctx := context.Background()
	s := startService(t, t.TempDir(), jobs.Config{})
	j, err := s.runner.Submit(ctx, longSpec(1_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, j.ID, func(j jobs.Job) bool { return j.Step > 0 })
	c, err := s.runner.Cancel(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != jobs.StatusCanceled || c.FinishedAt == nil {
		t.Fatalf("Cancel = %s, want canceled with a finish time", c.Status)
	}
	// Canceling again returns the ended job unchanged.
	again, err := s.runner.Cancel(ctx, j.ID)
	if err != nil || again.Status != jobs.StatusCanceled {
		t.Fatalf("second Cancel = %v, %v", again.Status, err)
	}
	if got := gathered(t, s.reg, "corr2d_jobs_finished_total", "outcome", "canceled"); got != 1 {
		t.Errorf("finished{canceled} = %v, want 1", got)
	}
	if err := s.runner.Delete(ctx, j.ID); err != nil {
		t.Fatalf("Delete of a canceled job: %v", err)
	}
}

func TestSubmitBeyondMaxActiveIsBusy(t *testing.T) {
	ctx := context.Background()
	s := startService(t, t.TempDir(), jobs.Config{MaxActive: 1})
	j, err := s.runner.Submit(ctx, longSpec(1_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.runner.Submit(ctx, longSpec(10)); !errors.Is(err, jobs.ErrBusy) {
		t.Fatalf("second Submit = %v, want ErrBusy", err)
	}
	if _, err := s.runner.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.runner.Submit(ctx, longSpec(10)); err != nil {
		t.Fatalf("Submit after cancel = %v", err)
	}
}

func TestDivergingJobFailsWithItsHistory(t *testing.T) {
	ctx := context.Background()
	s := startService(t, t.TempDir(), jobs.Config{})
	spec := longSpec(500)
	spec.LR = 10
	j, err := s.runner.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	j = waitFor(t, s, j.ID, ended)
	if j.Status != jobs.StatusFailed || j.Error == "" {
		t.Fatalf("job = %s %q, want failed with a reason", j.Status, j.Error)
	}
	pts, err := s.runner.Losses(ctx, j.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != j.Step || len(pts) == 0 {
		t.Errorf("%d losses recorded for %d steps", len(pts), j.Step)
	}
}

func TestSubmitRejectsInvalidSpecs(t *testing.T) {
	s := startService(t, t.TempDir(), jobs.Config{})
	seed := uint64(1)
	tests := []struct {
		name    string
		edit    func(*jobs.Spec)
		pointer string
	}{
		{"kernel wider than the input", func(s *jobs.Spec) { s.KernelSize = [2]int{1, 9} }, "/kernel_size"},
		{"zero kernel size", func(s *jobs.Spec) { s.KernelSize = [2]int{0, 2} }, "/kernel_size"},
		{"target of the wrong shape", func(s *jobs.Spec) { s.Target.Shape[2] = 5; s.Target.Data = s.Target.Data[:35] }, "/target"},
		{"zero learning rate", func(s *jobs.Spec) { s.LR = 0 }, "/lr"},
		{"negative learning rate", func(s *jobs.Spec) { s.LR = -1 }, "/lr"},
		{"no steps", func(s *jobs.Spec) { s.Steps = 0 }, "/steps"},
		{"unknown loss", func(s *jobs.Spec) { s.Loss = "l1" }, "/loss"},
		{"both seed and init", func(s *jobs.Spec) { s.Init = kernel(1, 2) }, "/init"},
		{"neither seed nor init", func(s *jobs.Spec) { s.Seed = nil }, "/seed"},
		{"init of the wrong shape", func(s *jobs.Spec) {
			s.Seed = nil
			s.Init = &tensor.Dense{Shape: []int{1, 1, 1, 3}, Data: []float64{1, 2, 3}}
		}, "/init"},
		{"init_bias without bias", func(s *jobs.Spec) { s.Seed = nil; s.Init = kernel(1, 2); s.InitBias = []float64{1} }, "/init_bias"},
		{"groups that do not divide the channels", func(s *jobs.Spec) { s.Conv.Groups = 2 }, "/groups"},
		{"same padding with a stride", func(s *jobs.Spec) { s.Conv.Padding = engine.PadSame; s.Conv.Stride = [2]int{2, 2} }, "padding"},
		{"an unknown dtype", func(s *jobs.Spec) { s.DType = "float16" }, "/dtype"},
		{"an unknown optimizer", func(s *jobs.Spec) { s.Optimizer.Name = "rmsprop" }, "/optimizer/name"},
		{"nesterov without momentum", func(s *jobs.Spec) { s.Optimizer.Nesterov = true }, "/optimizer/nesterov"},
		{"adam with beta1 of 1", func(s *jobs.Spec) { s.Optimizer = jobs.Optimizer{Name: "adam", Betas: [2]float64{1, 0.999}} }, "/optimizer/betas/0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := longSpec(10)
			spec.Seed = &seed
			spec.Target.Shape = append([]int(nil), spec.Target.Shape...)
			tt.edit(&spec)
			_, err := s.runner.Submit(context.Background(), spec)
			// The spec's own fields come as JSON pointers, the convolution's
			// parameters as the engine's.
			var fe *jobs.FieldError
			var pe *engine.ParamError
			got := ""
			switch {
			case errors.As(err, &fe):
				got = fe.Pointer
			case errors.As(err, &pe):
				got = pe.Param.String()
			}
			if !errors.Is(err, jobs.ErrInvalid) || got != tt.pointer {
				t.Fatalf("Submit = %v, want an invalid %s", err, tt.pointer)
			}
		})
	}
}

// gathered returns the value of the series name{label=value} in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue() + m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no series %s{%s=%q}", name, label, value)
	return 0
}

func TestLossSeriesLivesWhileActiveAndExpiresAfterGrace(t *testing.T) {
	ctx := context.Background()
	s := startService(t, t.TempDir(), jobs.Config{LossGrace: 50 * time.Millisecond})
	j, err := s.runner.Submit(ctx, longSpec(1_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, j.ID, func(j jobs.Job) bool { return j.Step > 0 })
	if v := gathered(t, s.reg, "corr2d_job_loss", "job_id", j.ID); !(v >= 0) {
		t.Errorf("corr2d_job_loss = %v, want a loss", v)
	}
	if v := gathered(t, s.reg, "corr2d_jobs", "status", "running"); v != 1 {
		t.Errorf("corr2d_jobs{running} = %v, want 1", v)
	}
	if _, err := s.runner.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for series(t, s.reg, "corr2d_job_loss") > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the loss series of a canceled job was never removed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func series(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func TestTorchInitMatchesPyTorchForEveryShapeAndDType(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", "init_conv.json"))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Entries []struct {
			Seed        uint64     `json:"seed"`
			DType       jobs.DType `json:"dtype"`
			InChannels  int        `json:"in_channels"`
			OutChannels int        `json:"out_channels"`
			Groups      int        `json:"groups"`
			KernelSize  [2]int     `json:"kernel_size"`
			Bias        bool       `json:"bias"`
			Weight      any        `json:"weight"`
			BiasValues  []float64  `json:"bias_values"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if len(g.Entries) == 0 {
		t.Fatal("no entries")
	}
	for _, e := range g.Entries {
		shape := [4]int{e.OutChannels, e.InChannels / e.Groups, e.KernelSize[0], e.KernelSize[1]}
		w, bias := jobs.TorchInit(e.Seed, e.DType, shape, e.Bias)
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
