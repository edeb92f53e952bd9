package jobstest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/corr2d/corr2d/internal/jobs"
)

// Await calls read until done holds for what it returns, and returns that.
// A loaded machine makes a job slower, not still, so the wait fails t only
// once progress (its status, step and pause, say) has stood still for a
// minute, or after ten minutes in all; the failure names what and the last
// value read.
func Await[V any](t testing.TB, what string, read func() V, progress func(V) string, done func(V) bool) V {
	t.Helper()
	start := time.Now()
	moved, last := start, ""
	for {
		v := read()
		if done(v) {
			return v
		}
		if p := progress(v); p != last {
			moved, last = time.Now(), p
		}
		if time.Since(moved) > time.Minute || time.Since(start) > 10*time.Minute {
			t.Fatalf("waited %v for %s; last read: %+v", time.Since(start).Round(time.Second), what, v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// WaitJob reads job id with get until done holds, and returns it (see
// Await); what says what was awaited.
func WaitJob(t testing.TB, get func(ctx context.Context, id string) (jobs.Job, error), id, what string, done func(jobs.Job) bool) jobs.Job {
	t.Helper()
	read := func() jobs.Job {
		j, err := get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	progress := func(j jobs.Job) string { return fmt.Sprint(j.Status, j.Step, pauseReason(j)) }
	return Await(t, fmt.Sprintf("job %s (%s)", id, what), read, progress, done)
}

func pauseReason(j jobs.Job) string {
	if j.Paused == nil {
		return ""
	}
	return j.Paused.Reason
}
