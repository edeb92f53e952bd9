package jobstest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/corr2d/corr2d/internal/admit"
	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/jobs"
)

// RunPausedOnEveryReplica checks, on a store and its database as two
// replicas share them, that the reason a job is paused shows on a replica
// other than the one that paused it, and goes away there once the job
// moves on. The job waits for memory on replica a, whose budget a request
// holds; replica b only reads.
func RunPausedOnEveryReplica(t *testing.T, store jobs.Store, db any) {
	ctx := context.Background()
	spec := NewJob("", time.Now()).Spec
	spec.Steps = 100_000_000
	need := spec.WorkingSet()
	budget, err := admit.New(2*need, time.Millisecond, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	request := budget.Reserve()
	if err := request.Grow(ctx, need+need/2); err != nil {
		t.Fatal(err)
	}
	defer request.Release()
	eng, err := engine.New(engine.Config{Workers: 1}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	a, err := jobs.New(ctx, jobs.Config{Memory: budget}, store, db, eng, zaptest.NewLogger(t).Named("a"), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	b, err := jobs.New(ctx, jobs.Config{}, store, db, eng, zaptest.NewLogger(t).Named("b"), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := a.Stop(sctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()
	j, err := a.Submit(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	until := func(what string, ok func(jobs.Job) bool) jobs.Job {
		t.Helper()
		return WaitJob(t, b.Get, j.ID, what+" on replica b", ok)
	}
	got := until("showed its pause", func(j jobs.Job) bool { return j.Paused != nil })
	if !strings.Contains(got.Paused.Reason, "waiting for memory") || got.Paused.Since.IsZero() || got.Step != 0 {
		t.Errorf("on replica b the paused job = step %d, paused %+v; want step 0, waiting for memory, since a time", got.Step, got.Paused)
	}
	listed, err := b.List(ctx, jobs.ListFilter{Limit: 10})
	if err != nil || len(listed) != 1 || listed[0].Paused == nil || listed[0].Paused.Reason != got.Paused.Reason {
		t.Errorf("replica b lists %+v, %v; want the job with its pause", listed, err)
	}
	request.Release()
	until("trained without a pause", func(j jobs.Job) bool { return j.Step > 0 && j.Paused == nil })
	if _, err := b.Cancel(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
}
