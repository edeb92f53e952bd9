package jobs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/corr2d/corr2d/internal/admit"
	"github.com/corr2d/corr2d/internal/jobs"
)

func newBudget(t *testing.T, total int64) *admit.Budget {
	t.Helper()
	b, err := admit.New(total, 10*time.Millisecond, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitHeld waits until the budget holds want bytes.
func waitHeld(t *testing.T, b *admit.Budget, want int64, what string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for b.Held() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the budget holds %d bytes, want %d", what, b.Held(), want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRunningJobWaitsForAndHoldsItsWorkingSet(t *testing.T) {
	ctx := context.Background()
	spec := longSpec(10_000_000)
	need := spec.WorkingSet()
	if need <= 0 {
		t.Fatalf("WorkingSet() = %d, want a positive size", need)
	}
	budget := newBudget(t, 4*need)
	s := startService(t, t.TempDir(), jobs.Config{Memory: budget})

	// A request holds all but half of what the job needs.
	request := budget.Reserve()
	if err := request.Grow(ctx, 4*need-need/2); err != nil {
		t.Fatal(err)
	}
	j, err := s.runner.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	waiting := waitFor(t, s, j.ID, func(j jobs.Job) bool { return j.Paused != nil })
	if waiting.Step != 0 || !strings.Contains(waiting.Paused.Reason, "waiting for memory") {
		t.Errorf("a job without room = step %d, paused %+v; want step 0, waiting for memory", waiting.Step, waiting.Paused)
	}
	time.Sleep(100 * time.Millisecond)
	if got := waitFor(t, s, j.ID, func(jobs.Job) bool { return true }); got.Step != 0 {
		t.Fatalf("the job trained to step %d without its memory", got.Step)
	}
	if budget.Held() != request.Held() {
		t.Errorf("while the job waits the budget holds %d, want the request's %d alone", budget.Held(), request.Held())
	}

	request.Release()
	running := waitFor(t, s, j.ID, func(j jobs.Job) bool { return j.Step > 0 })
	if running.Paused != nil {
		t.Errorf("a training job still shows a pause: %+v", running.Paused)
	}
	waitHeld(t, budget, need, "while the job trains")

	if _, err := s.runner.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, j.ID, ended)
	waitHeld(t, budget, 0, "once the canceled job stopped")
}

func TestJobMemoryComesBackHoweverTheRunEnds(t *testing.T) {
	ctx := context.Background()
	diverging := longSpec(1000)
	diverging.LR = 1e30
	for _, tc := range []struct {
		name   string
		spec   jobs.Spec
		status jobs.Status
	}{
		{"a job that succeeds", longSpec(20), jobs.StatusSucceeded},
		{"a job that fails", diverging, jobs.StatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			budget := newBudget(t, 1<<30)
			s := startService(t, t.TempDir(), jobs.Config{Memory: budget})
			j, err := s.runner.Submit(ctx, tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := waitFor(t, s, j.ID, ended); got.Status != tc.status {
				t.Fatalf("job = %s (%s), want %s", got.Status, got.Error, tc.status)
			}
			waitHeld(t, budget, 0, "after the run")
		})
	}

	t.Run("a job stopped by the server's shutdown", func(t *testing.T) {
		budget := newBudget(t, 1<<30)
		s := startService(t, t.TempDir(), jobs.Config{Memory: budget})
		j, err := s.runner.Submit(ctx, longSpec(10_000_000))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, s, j.ID, func(j jobs.Job) bool { return j.Step > 0 })
		if budget.Held() == 0 {
			t.Error("a training job holds no memory")
		}
		s.stop()
		if budget.Held() != 0 {
			t.Errorf("after shutdown the budget holds %d bytes, want 0", budget.Held())
		}
	})
}

func TestJobLargerThanTheBudgetFailsClearly(t *testing.T) {
	ctx := context.Background()
	spec := longSpec(10)
	budget := newBudget(t, spec.WorkingSet()-1)
	s := startService(t, t.TempDir(), jobs.Config{Memory: budget})
	j, err := s.runner.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	got := waitFor(t, s, j.ID, ended)
	if got.Status != jobs.StatusFailed || !strings.Contains(got.Error, "more than this server's memory budget") || got.Step != 0 {
		t.Errorf("job = %s at step %d (%q), want failed at step 0 over the memory budget", got.Status, got.Step, got.Error)
	}
	if budget.Held() != 0 {
		t.Errorf("the budget holds %d bytes after the job failed", budget.Held())
	}
}
