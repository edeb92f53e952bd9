package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/jobs/jobstest"
	"github.com/corr2d/corr2d/internal/store/sqlite"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
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
	r, err := jobs.New(context.Background(), cfg, store, store.DB(), eng, zaptest.NewLogger(t), reg)
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

// waitFor polls job id until done holds; it fails when the job stands
// still for a minute (see jobstest.WaitJob).
func waitFor(t *testing.T, s *service, id string, done func(jobs.Job) bool) jobs.Job {
	t.Helper()
	return jobstest.WaitJob(t, s.runner.Get, id, "reached the awaited state", done)
}

func ended(j jobs.Job) bool { return !j.Status.Active() }

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
		DType:      train.Float32,
		LR:         0.03,
		Steps:      steps,
		Loss:       train.LossSum,
		Optimizer:  train.Optimizer{Name: train.SGD},
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

func TestOverflowingWeightsFailTheJobAtThatStep(t *testing.T) {
	ctx := context.Background()
	s := startService(t, t.TempDir(), jobs.Config{})
	for _, opt := range []train.Optimizer{{Name: train.SGD}, {Name: train.Adam, Betas: [2]float64{0.9, 0.999}, Eps: 1e-8}} {
		spec := longSpec(100)
		spec.LR, spec.Optimizer = 1e38, opt
		j, err := s.runner.Submit(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		j = waitFor(t, s, j.ID, ended)
		if j.Status != jobs.StatusFailed || !strings.Contains(j.Error, "not finite") || !strings.Contains(j.Error, "lower lr") {
			t.Fatalf("%s job with lr 1e38 = %s %q, want failed: not finite, lower lr", opt.Name, j.Status, j.Error)
		}
		for _, w := range append(j.Weight.Data, j.Bias...) {
			if math.IsInf(w, 0) || math.IsNaN(w) {
				t.Errorf("%s job kept non-finite weights %v", opt.Name, j.Weight.Data)
			}
		}
		pts, err := s.runner.Losses(ctx, j.ID, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != j.Step {
			t.Errorf("%s job: %d losses recorded for %d steps", opt.Name, len(pts), j.Step)
		}
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
		{"sgd with adam's betas", func(s *jobs.Spec) { s.Optimizer.Betas = [2]float64{0.9, 0.999} }, "/optimizer"},
		{"adam with sgd's momentum", func(s *jobs.Spec) {
			s.Optimizer = train.Optimizer{Name: train.Adam, Betas: [2]float64{0.9, 0.999}, Momentum: 0.9}
		}, "/optimizer"},
		{"adam with beta1 of 1", func(s *jobs.Spec) { s.Optimizer = train.Optimizer{Name: train.Adam, Betas: [2]float64{1, 0.999}} }, "/optimizer/betas/0"},
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
	if v := gathered(t, s.reg, "corr2d_job_running", "job_id", j.ID); v != 1 {
		t.Errorf("corr2d_job_running = %v, want 1", v)
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

func TestRetentionDeletesEndedJobsOnly(t *testing.T) {
	ctx := context.Background()
	s := startService(t, t.TempDir(), jobs.Config{Retention: 200 * time.Millisecond})
	done, err := s.runner.Submit(ctx, longSpec(5))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, done.ID, ended)
	long, err := s.runner.Submit(ctx, longSpec(1_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.runner.Get(ctx, done.ID)
		if errors.Is(err, jobs.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("an ended job outlived its retention by 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if j, err := s.runner.Get(ctx, long.ID); err != nil || !j.Status.Active() {
		t.Fatalf("the running job = %v, %v; retention must not touch it", j.Status, err)
	}
	if _, err := s.runner.Cancel(ctx, long.ID); err != nil {
		t.Fatal(err)
	}
}

// Clients that go away at any moment of POST /train leave a job with its
// queue entry or neither: never a job that nobody will run.
func TestSubmissionsCutShortLeaveNoOrphans(t *testing.T) {
	s := startService(t, t.TempDir(), jobs.Config{})
	cut := 0
	for i := range 60 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i*i)*20*time.Microsecond)
		if _, err := s.runner.Submit(ctx, longSpec(5)); err != nil {
			cut++
		}
		cancel()
	}
	var stored, queued int
	db := s.store.DB()
	if err := db.QueryRow(`SELECT COUNT(*) FROM corr2d_job`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(`SELECT COUNT(DISTINCT json_extract(args, '$.job_id')) FROM river_job WHERE kind = 'corr2d_train'`).Scan(&queued); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of 60 submissions cut short, %d jobs stored", cut, stored)
	if stored != queued {
		t.Errorf("%d jobs stored but %d on the queue", stored, queued)
	}
}

// A store that runs out of room (simulated with SQLite's max_page_count,
// which fails writes that grow the file as a full disk does) fails the
// running job with the reason.
func TestFullStoreFailsTheRunningJob(t *testing.T) {
	ctx := context.Background()
	s := startService(t, t.TempDir(), jobs.Config{CheckpointEvery: time.Millisecond})
	j, err := s.runner.Submit(ctx, longSpec(1_000_000_000))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, j.ID, func(j jobs.Job) bool { return j.Step > 0 })
	var pages int
	if err := s.store.DB().QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.store.DB().Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	j = waitFor(t, s, j.ID, ended)
	if j.Status != jobs.StatusFailed || !strings.Contains(j.Error, "could not save progress") || !strings.Contains(j.Error, "full") {
		t.Fatalf("job = %s %q, want failed: could not save progress, full", j.Status, j.Error)
	}
}

// A store that cannot be written at all pauses the running job and fails
// its readiness check; once writes work again both recover, and the job
// resumes from its last checkpoint.
func TestUnwritableStorePausesTheJobAndIsNotReady(t *testing.T) {
	ctx := context.Background()
	s := startService(t, t.TempDir(), jobs.Config{CheckpointEvery: time.Millisecond})
	j, err := s.runner.Submit(ctx, longSpec(10_000))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, j.ID, func(j jobs.Job) bool { return j.Step > 0 })
	db := s.store.DB()
	if _, err := db.Exec(`PRAGMA query_only = ON`); err != nil {
		t.Fatal(err)
	}
	if err := s.runner.Ping(ctx); err == nil {
		t.Error("Ping of a store that cannot write = nil, want an error")
	}
	time.Sleep(300 * time.Millisecond)
	paused, err := s.runner.Get(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if paused.Status != jobs.StatusRunning {
		t.Fatalf("job with an unwritable store = %s %q, want it still running (paused)", paused.Status, paused.Error)
	}
	if _, err := db.Exec(`PRAGMA query_only = OFF`); err != nil {
		t.Fatal(err)
	}
	if err := s.runner.Ping(ctx); err != nil {
		t.Errorf("Ping once writes work = %v", err)
	}
	done := waitFor(t, s, j.ID, ended)
	if done.Status != jobs.StatusSucceeded || done.Step != 10_000 || done.Paused != nil {
		t.Fatalf("job after the store recovered = %s at %d (%s, paused %v), want succeeded", done.Status, done.Step, done.Error, done.Paused)
	}
	pts, err := s.runner.Losses(ctx, j.ID, 0, 10000)
	if err != nil || len(pts) != 10000 || pts[9999].Step != 10000 {
		t.Errorf("history after the pause: %d points, %v", len(pts), err)
	}
}
