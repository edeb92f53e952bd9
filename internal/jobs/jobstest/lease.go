package jobstest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/jobs"
)

// runLeaseContract checks the leases by which replicas share running jobs.
func runLeaseContract(t *testing.T, open func(t *testing.T) jobs.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	ckpt := func(run, step int) jobs.Checkpoint {
		return jobs.Checkpoint{Run: run, Step: step, Weight: kernel(0, 0), Losses: []jobs.LossPoint{{Step: step, Loss: 1}}}
	}

	t.Run("a later run supersedes an earlier one, whose checkpoints are refused", func(t *testing.T) {
		s := open(t)
		mustNil(t, s.Create(ctx, NewJob("01A", t0)))
		j, err := s.Start(ctx, "01A", jobs.Lease{Holder: "a", Run: 0, TTL: time.Minute}, t0)
		mustNil(t, err)
		if j.Run != 0 {
			t.Errorf("Start run 0 = run %d", j.Run)
		}
		mustNil(t, s.Save(ctx, "01A", ckpt(0, 1)))
		j, err = s.Start(ctx, "01A", jobs.Lease{Holder: "b", Run: 1, TTL: time.Minute}, t0)
		mustNil(t, err)
		if j.Run != 1 || j.Step != 1 {
			t.Errorf("Start run 1 = run %d at step %d, want run 1 at step 1", j.Run, j.Step)
		}
		mustIs(t, s.Save(ctx, "01A", ckpt(0, 2)), jobs.ErrNotActive)
		_, err = s.Start(ctx, "01A", jobs.Lease{Holder: "a", Run: 0, TTL: time.Minute}, t0)
		mustIs(t, err, jobs.ErrNotActive)
		mustNil(t, s.Save(ctx, "01A", ckpt(1, 2)))
		pts, err := s.Losses(ctx, "01A", 0, 10)
		mustNil(t, err)
		if diff := cmp.Diff([]jobs.LossPoint{{Step: 1, Loss: 1}, {Step: 2, Loss: 1}}, pts); diff != "" {
			t.Errorf("losses (-want +got):\n%s", diff)
		}
	})

	t.Run("renewal keeps a lease and names the holder's jobs", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"01A", "01B", "01C"} {
			mustNil(t, s.Create(ctx, NewJob(id, t0)))
		}
		_, err := s.Start(ctx, "01A", jobs.Lease{Holder: "a", Run: 0, TTL: 200 * time.Millisecond}, t0)
		mustNil(t, err)
		_, err = s.Start(ctx, "01B", jobs.Lease{Holder: "b", Run: 2, TTL: time.Minute}, t0)
		mustNil(t, err)
		held, err := s.Renew(ctx, "a", time.Minute)
		mustNil(t, err)
		if diff := cmp.Diff([]jobs.RunRef{{ID: "01A", Run: 0}}, held); diff != "" {
			t.Errorf("Renew(a) (-want +got):\n%s", diff)
		}
		time.Sleep(300 * time.Millisecond)
		lapsed, err := s.Lapsed(ctx, nil)
		mustNil(t, err)
		if len(lapsed) != 0 {
			t.Errorf("Lapsed after renewal = %v, want none (01C is queued, not running)", lapsed)
		}
	})

	t.Run("a lease lapses without renewal, at once with a zero ttl", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"01A", "01B"} {
			mustNil(t, s.Create(ctx, NewJob(id, t0)))
		}
		_, err := s.Start(ctx, "01A", jobs.Lease{Holder: "a", Run: 3, TTL: 100 * time.Millisecond}, t0)
		mustNil(t, err)
		_, err = s.Start(ctx, "01B", jobs.Lease{Holder: "b", Run: 0, TTL: time.Minute}, t0)
		mustNil(t, err)
		time.Sleep(200 * time.Millisecond)
		lapsed, err := s.Lapsed(ctx, nil)
		mustNil(t, err)
		if diff := cmp.Diff([]jobs.RunRef{{ID: "01A", Run: 3}}, lapsed); diff != "" {
			t.Errorf("Lapsed (-want +got):\n%s", diff)
		}
		released, err := s.Renew(ctx, "b", 0)
		mustNil(t, err)
		if diff := cmp.Diff([]jobs.RunRef{{ID: "01B", Run: 0}}, released); diff != "" {
			t.Errorf("Renew(b, 0) (-want +got):\n%s", diff)
		}
		lapsed, err = s.Lapsed(ctx, nil)
		mustNil(t, err)
		if len(lapsed) != 2 {
			t.Errorf("Lapsed after the zero renewal = %v, want both jobs", lapsed)
		}
		// An ended job holds no lease.
		_, err = s.Finish(ctx, "01A", jobs.StatusCanceled, "", t0)
		mustNil(t, err)
		lapsed, err = s.Lapsed(ctx, nil)
		mustNil(t, err)
		if diff := cmp.Diff([]jobs.RunRef{{ID: "01B", Run: 0}}, lapsed); diff != "" {
			t.Errorf("Lapsed after a cancel (-want +got):\n%s", diff)
		}
	})

	t.Run("a claimed run of a job still queued at that run is lapsed", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"01A", "01B", "01C"} {
			mustNil(t, s.Create(ctx, NewJob(id, t0)))
		}
		_, err := s.Start(ctx, "01B", jobs.Lease{Holder: "b", Run: 0, TTL: time.Minute}, t0)
		mustNil(t, err)
		// 01A was never started; 01B runs under a live lease; 01C is queued
		// at run 0, not 1.
		lapsed, err := s.Lapsed(ctx, []jobs.RunRef{{ID: "01A", Run: 0}, {ID: "01B", Run: 0}, {ID: "01C", Run: 1}, {ID: "nope", Run: 0}})
		mustNil(t, err)
		if diff := cmp.Diff([]jobs.RunRef{{ID: "01A", Run: 0}}, lapsed); diff != "" {
			t.Errorf("Lapsed (-want +got):\n%s", diff)
		}
	})
}
