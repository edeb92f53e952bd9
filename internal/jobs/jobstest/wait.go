package jobstest

import (
	"context"
	"testing"
	"time"

	"github.com/corr2d/corr2d/internal/jobs"
)

// WaitJob reads job id with get until done holds, and returns it. A loaded
// machine makes a job slower, not still, so the wait fails t once the
// job's status, step and pause have stood still for a minute, or after ten
// minutes in all; what says what was awaited.
func WaitJob(t testing.TB, get func(ctx context.Context, id string) (jobs.Job, error), id, what string, done func(jobs.Job) bool) jobs.Job {
	t.Helper()
	start := time.Now()
	var last jobs.Job
	moved := start
	for {
		j, err := get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if done(j) {
			return j
		}
		if j.Status != last.Status || j.Step != last.Step || pauseReason(j) != pauseReason(last) {
			last, moved = j, time.Now()
		}
		if time.Since(moved) > time.Minute || time.Since(start) > 10*time.Minute {
			t.Fatalf("job %s never %s: %s at step %d, paused %q, after %v (%s)", id, what, j.Status, j.Step, pauseReason(j),
				time.Since(start).Round(time.Second), j.Error)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pauseReason(j jobs.Job) string {
	if j.Paused == nil {
		return ""
	}
	return j.Paused.Reason
}
