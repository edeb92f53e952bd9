// Package jobstest holds the contract every jobs.Store must meet, as a test
// suite that each store's own tests run against a fresh instance.
package jobstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
)

// NewJob returns a queued job with a small valid spec, for store tests.
func NewJob(id string, created time.Time) jobs.Job {
	seed := uint64(42)
	return jobs.Job{
		ID:     id,
		Status: jobs.StatusQueued,
		Spec: jobs.Spec{
			Input:      tensor.Dense{Shape: []int{1, 1, 2, 3}, Data: []float64{1, 1, 0, 1, 0, 0}},
			Target:     tensor.Dense{Shape: []int{1, 1, 2, 2}, Data: []float64{0, 1, 1, 0}},
			KernelSize: [2]int{1, 2},
			DType:      train.Float32,
			LR:         0.03,
			Steps:      10,
			Loss:       train.LossSum,
			Optimizer:  train.Optimizer{Name: train.SGD},
			Seed:       &seed,
			Request:    json.RawMessage(`{"seed":42}`),
		},
		CreatedAt:  created.UTC(),
		Weight:     kernel(0.25, -0.5),
		Bias:       []float64{0.125},
		InitWeight: kernel(0.25, -0.5),
		InitBias:   []float64{0.125},
	}
}

// kernel is a 1×1×1×2 weight.
func kernel(a, b float64) tensor.Dense {
	return tensor.Dense{Shape: []int{1, 1, 1, 2}, Data: []float64{a, b}}
}

// readsBack checks that Get returns want without its tensors' data, and
// Tensors returns those.
func readsBack(t *testing.T, s jobs.Store, want jobs.Job) {
	t.Helper()
	ctx := context.Background()
	got, err := s.Get(ctx, want.ID)
	mustNil(t, err)
	lean := want
	lean.Spec.Input = tensor.Dense{Shape: want.Spec.Input.Shape}
	lean.Spec.Target = tensor.Dense{Shape: want.Spec.Target.Shape}
	if diff := cmp.Diff(lean, got); diff != "" {
		t.Errorf("Get mismatch (-want +got):\n%s", diff)
	}
	in, tgt, err := s.Tensors(ctx, want.ID)
	mustNil(t, err)
	if diff := cmp.Diff([]tensor.Dense{want.Spec.Input, want.Spec.Target}, []tensor.Dense{in, tgt}); diff != "" {
		t.Errorf("Tensors mismatch (-want +got):\n%s", diff)
	}
}

// lease is the claim under which the lifecycle tests start jobs.
var lease = jobs.Lease{Holder: "replica-a", TTL: time.Minute}

// RunStoreContract runs the contract suite; open returns a fresh, empty store.
func RunStoreContract(t *testing.T, open func(t *testing.T) jobs.Store) {
	runLeaseContract(t, open)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)

	t.Run("a created job reads back as it was written", func(t *testing.T) {
		s := open(t)
		want := NewJob("01A", t0)
		mustNil(t, s.Create(ctx, want))
		readsBack(t, s, want)
	})

	t.Run("a job without bias reads back without one", func(t *testing.T) {
		s := open(t)
		want := NewJob("01B", t0)
		want.Bias, want.InitBias = nil, nil
		mustNil(t, s.Create(ctx, want))
		readsBack(t, s, want)
	})

	t.Run("an unknown id is ErrNotFound everywhere", func(t *testing.T) {
		s := open(t)
		_, err := s.Get(ctx, "nope")
		mustIs(t, err, jobs.ErrNotFound)
		_, _, err = s.Tensors(ctx, "nope")
		mustIs(t, err, jobs.ErrNotFound)
		_, err = s.Start(ctx, "nope", lease, t0)
		mustIs(t, err, jobs.ErrNotFound)
		mustIs(t, s.Save(ctx, "nope", jobs.Checkpoint{Step: 1}), jobs.ErrNotFound)
		_, err = s.Finish(ctx, "nope", jobs.StatusCanceled, "", t0)
		mustIs(t, err, jobs.ErrNotFound)
		mustIs(t, s.Delete(ctx, "nope"), jobs.ErrNotFound)
		_, err = s.Losses(ctx, "nope", 0, 10)
		mustIs(t, err, jobs.ErrNotFound)
	})

	t.Run("a duplicate id is refused", func(t *testing.T) {
		s := open(t)
		mustNil(t, s.Create(ctx, NewJob("01A", t0)))
		if err := s.Create(ctx, NewJob("01A", t0)); err == nil {
			t.Fatal("Create of a duplicate id succeeded")
		}
	})

	t.Run("the lifecycle records start, checkpoints and finish", func(t *testing.T) {
		s := open(t)
		mustNil(t, s.Create(ctx, NewJob("01A", t0)))
		started, err := s.Start(ctx, "01A", lease, t0.Add(time.Second))
		mustNil(t, err)
		if started.Status != jobs.StatusRunning || started.StartedAt == nil || !started.StartedAt.Equal(t0.Add(time.Second)) {
			t.Fatalf("Start = %+v, want running since t0+1s", started)
		}
		if started.Spec.Input.Data != nil || started.Spec.Target.Data != nil || len(started.Spec.Input.Shape) != 4 {
			t.Errorf("Start returned input %v and target %v, want their shapes without data", started.Spec.Input, started.Spec.Target)
		}
		// A resumed job keeps its first start time.
		again, err := s.Start(ctx, "01A", lease, t0.Add(time.Hour))
		mustNil(t, err)
		if !again.StartedAt.Equal(*started.StartedAt) {
			t.Errorf("restart moved StartedAt to %v", again.StartedAt)
		}
		mustNil(t, s.Save(ctx, "01A", jobs.Checkpoint{Step: 2, Weight: kernel(1, 2), Bias: []float64{0.5},
			State: train.OptState{Step: 2, Buf: [][]float64{{0.5, 1}, {2}}}, Losses: []jobs.LossPoint{{Step: 1, Loss: 6.5}, {Step: 2, Loss: 3.25}}}))
		mustNil(t, s.Save(ctx, "01A", jobs.Checkpoint{Step: 3, Weight: kernel(1.5, -2), Bias: []float64{0.25},
			State: train.OptState{Step: 3, Buf: [][]float64{{0.25, -1}, {3}}}, Losses: []jobs.LossPoint{{Step: 3, Loss: 1.125}}}))
		got, err := s.Get(ctx, "01A")
		mustNil(t, err)
		if got.Step != 3 || got.Loss == nil || *got.Loss != 1.125 || !cmp.Equal(got.Weight, kernel(1.5, -2)) ||
			!cmp.Equal(got.Bias, []float64{0.25}) || !cmp.Equal(got.State, train.OptState{Step: 3, Buf: [][]float64{{0.25, -1}, {3}}}) {
			t.Errorf("after checkpoints Get = step %d loss %v weight %v bias %v state %v, want 3, 1.125, [1.5 -2], [0.25], step 3",
				got.Step, got.Loss, got.Weight, got.Bias, got.State)
		}
		if !cmp.Equal(got.InitWeight, kernel(0.25, -0.5)) {
			t.Errorf("checkpoints changed the initial weight to %v", got.InitWeight)
		}
		done, err := s.Finish(ctx, "01A", jobs.StatusSucceeded, "", t0.Add(2*time.Hour))
		mustNil(t, err)
		if done.Status != jobs.StatusSucceeded || done.FinishedAt == nil {
			t.Errorf("Finish = %+v, want succeeded with a finish time", done)
		}
		mustIs(t, s.Save(ctx, "01A", jobs.Checkpoint{Step: 4}), jobs.ErrNotActive)
		_, err = s.Finish(ctx, "01A", jobs.StatusCanceled, "", t0)
		mustIs(t, err, jobs.ErrNotActive)
		_, err = s.Start(ctx, "01A", lease, t0)
		mustIs(t, err, jobs.ErrNotActive)
	})

	t.Run("a failure keeps its message", func(t *testing.T) {
		s := open(t)
		mustNil(t, s.Create(ctx, NewJob("01A", t0)))
		got, err := s.Finish(ctx, "01A", jobs.StatusFailed, "loss is not finite", t0)
		mustNil(t, err)
		if got.Error != "loss is not finite" {
			t.Errorf("Error = %q, want the message", got.Error)
		}
	})

	t.Run("a queued job can be canceled and a queued checkpoint is refused", func(t *testing.T) {
		s := open(t)
		mustNil(t, s.Create(ctx, NewJob("01A", t0)))
		mustIs(t, s.Save(ctx, "01A", jobs.Checkpoint{Step: 1}), jobs.ErrNotActive)
		_, err := s.Finish(ctx, "01A", jobs.StatusCanceled, "", t0)
		mustNil(t, err)
	})

	t.Run("losses page in step order and survive a rewrite", func(t *testing.T) {
		s := open(t)
		mustNil(t, s.Create(ctx, NewJob("01A", t0)))
		_, err := s.Start(ctx, "01A", lease, t0)
		mustNil(t, err)
		var pts []jobs.LossPoint
		for i := 1; i <= 25; i++ {
			pts = append(pts, jobs.LossPoint{Step: i, Loss: 1 / float64(i)})
		}
		mustNil(t, s.Save(ctx, "01A", jobs.Checkpoint{Step: 25, Weight: kernel(0, 0), Losses: pts}))
		// A resumed job may record the same step again; it must not duplicate.
		mustNil(t, s.Save(ctx, "01A", jobs.Checkpoint{Step: 25, Weight: kernel(0, 0), Losses: pts[24:]}))
		page, err := s.Losses(ctx, "01A", 10, 5)
		mustNil(t, err)
		if diff := cmp.Diff(pts[10:15], page); diff != "" {
			t.Errorf("Losses(after 10, limit 5) mismatch (-want +got):\n%s", diff)
		}
		all, err := s.Losses(ctx, "01A", 0, 1000)
		mustNil(t, err)
		if len(all) != 25 {
			t.Errorf("len(Losses) = %d, want 25", len(all))
		}
	})

	t.Run("list filters by status and pages by id", func(t *testing.T) {
		s := open(t)
		for i := range 7 {
			mustNil(t, s.Create(ctx, NewJob(fmt.Sprintf("01J%02d", i), t0.Add(time.Duration(i)*time.Second))))
		}
		for _, id := range []string{"01J01", "01J04"} {
			_, err := s.Finish(ctx, id, jobs.StatusCanceled, "", t0)
			mustNil(t, err)
		}
		first, err := s.List(ctx, jobs.ListFilter{Limit: 3})
		mustNil(t, err)
		second, err := s.List(ctx, jobs.ListFilter{Limit: 3, After: first[len(first)-1].ID})
		mustNil(t, err)
		if ids := idsOf(append(first, second...)); !cmp.Equal(ids, []string{"01J00", "01J01", "01J02", "01J03", "01J04", "01J05"}) {
			t.Errorf("two pages = %v, want 01J00..01J05 in order", ids)
		}
		canceled, err := s.List(ctx, jobs.ListFilter{Status: jobs.StatusCanceled, Limit: 10})
		mustNil(t, err)
		if ids := idsOf(canceled); !cmp.Equal(ids, []string{"01J01", "01J04"}) {
			t.Errorf("canceled = %v, want [01J01 01J04]", ids)
		}
		counts, err := s.Count(ctx)
		mustNil(t, err)
		want := map[jobs.Status]int{jobs.StatusQueued: 5, jobs.StatusCanceled: 2, jobs.StatusRunning: 0, jobs.StatusSucceeded: 0, jobs.StatusFailed: 0}
		if diff := cmp.Diff(want, counts); diff != "" {
			t.Errorf("Count mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("only ended jobs can be deleted, with their losses", func(t *testing.T) {
		s := open(t)
		mustNil(t, s.Create(ctx, NewJob("01A", t0)))
		mustIs(t, s.Delete(ctx, "01A"), jobs.ErrActive)
		_, err := s.Start(ctx, "01A", lease, t0)
		mustNil(t, err)
		mustNil(t, s.Save(ctx, "01A", jobs.Checkpoint{Step: 1, Weight: kernel(0, 0), Losses: []jobs.LossPoint{{Step: 1, Loss: 2}}}))
		mustIs(t, s.Delete(ctx, "01A"), jobs.ErrActive)
		_, err = s.Finish(ctx, "01A", jobs.StatusSucceeded, "", t0)
		mustNil(t, err)
		mustNil(t, s.Delete(ctx, "01A"))
		_, err = s.Get(ctx, "01A")
		mustIs(t, err, jobs.ErrNotFound)
		_, _, err = s.Tensors(ctx, "01A")
		mustIs(t, err, jobs.ErrNotFound)
		// A new job under the same id starts with no history.
		mustNil(t, s.Create(ctx, NewJob("01A", t0)))
		pts, err := s.Losses(ctx, "01A", 0, 10)
		mustNil(t, err)
		if len(pts) != 0 {
			t.Errorf("losses of a re-created job = %v, want none", pts)
		}
	})

	t.Run("a pause reads back from every reader until the job moves on", func(t *testing.T) {
		s := open(t)
		mustNil(t, s.Create(ctx, NewJob("01P", t0)))
		mustNil(t, s.Create(ctx, NewJob("01Q", t0)))
		paused := func(what string, want *jobs.Pause) {
			t.Helper()
			got, err := s.Get(ctx, "01P")
			mustNil(t, err)
			listed, err := s.List(ctx, jobs.ListFilter{Limit: 10})
			mustNil(t, err)
			if diff := cmp.Diff(want, got.Paused); diff != "" {
				t.Errorf("%s: Get's pause (-want +got):\n%s", what, diff)
			}
			if len(listed) != 2 || !cmp.Equal(want, listed[0].Paused) || listed[1].Paused != nil {
				t.Errorf("%s: List's pauses = %+v, %+v; want %+v and none", what, listed[0].Paused, listed[1].Paused, want)
			}
		}
		waiting := &jobs.Pause{Reason: "waiting for memory", Since: t0.Add(time.Minute)}
		mustNil(t, s.SetPause(ctx, "01P", waiting))
		paused("a queued job paused", waiting)
		_, err := s.Start(ctx, "01P", lease, t0)
		mustNil(t, err)
		paused("once started", nil)
		full := &jobs.Pause{Reason: "could not save progress: disk full", Since: t0.Add(time.Hour)}
		mustNil(t, s.SetPause(ctx, "01P", full))
		paused("a running job paused", full)
		mustNil(t, s.Save(ctx, "01P", jobs.Checkpoint{Step: 1, Weight: kernel(1, 1)}))
		paused("once a checkpoint is saved", nil)
		mustNil(t, s.SetPause(ctx, "01P", full))
		mustNil(t, s.SetPause(ctx, "01P", nil))
		paused("once cleared", nil)
		mustNil(t, s.SetPause(ctx, "01P", full))
		_, err = s.Finish(ctx, "01P", jobs.StatusCanceled, "", t0)
		mustNil(t, err)
		paused("once ended", nil)
		mustIs(t, s.SetPause(ctx, "01P", full), jobs.ErrNotActive)
		mustIs(t, s.SetPause(ctx, "nope", full), jobs.ErrNotFound)
	})

	t.Run("every field of a rich job reads back exactly", func(t *testing.T) {
		s := open(t)
		want := NewJob("01R", t0)
		want.Owner = "alice"
		want.Spec.Input = tensor.Dense{Shape: []int{1, 2, 3, 3}, Data: []float64{0.1, -2, 3e-300, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 0.3}}
		want.Spec.Target = tensor.Dense{Shape: []int{1, 2, 3, 3}, Data: make([]float64, 18)}
		want.Spec.Rank, want.Spec.KernelSize, want.Spec.Bias = 3, [2]int{3, 3}, true
		want.Spec.Conv = engine.Conv{Padding: engine.PadSame, Border: engine.BorderReflect, Groups: 2, Dilation: [2]int{1, 1}, Stride: [2]int{1, 1}}
		want.Spec.DType = train.Float64
		want.Spec.Optimizer = train.Optimizer{Name: train.Adam, Betas: [2]float64{0.9, 0.999}, Eps: 1e-8, WeightDecay: 0.01}
		w := tensor.Dense{Shape: []int{2, 1, 3, 3}, Data: []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 2, 3, 4, 5, 6, 7, 8, 9}}
		want.Spec.Seed, want.Spec.Init, want.Spec.InitBias = nil, &w, []float64{0.5, -0.5}
		want.InitWeight, want.InitBias, want.Weight, want.Bias = w, []float64{0.5, -0.5}, w, []float64{0.5, -0.5}
		mustNil(t, s.Create(ctx, want))
		readsBack(t, s, want)
		listed, err := s.List(ctx, jobs.ListFilter{Limit: 10})
		mustNil(t, err)
		if len(listed) != 1 || !cmp.Equal(listed[0].Spec.Input.Shape, want.Spec.Input.Shape) ||
			!cmp.Equal(listed[0].Spec.Target.Shape, want.Spec.Target.Shape) || listed[0].Owner != "alice" {
			t.Errorf("List = %+v, want the job with its owner and tensor shapes", listed)
		}
	})

	t.Run("list filters by owner", func(t *testing.T) {
		s := open(t)
		for i, owner := range []string{"alice", "bob", "alice", ""} {
			j := NewJob(fmt.Sprintf("01O%02d", i), t0)
			j.Owner = owner
			mustNil(t, s.Create(ctx, j))
		}
		alices, err := s.List(ctx, jobs.ListFilter{Owner: "alice", Limit: 10})
		mustNil(t, err)
		if ids := idsOf(alices); !cmp.Equal(ids, []string{"01O00", "01O02"}) {
			t.Errorf("alice's jobs = %v, want [01O00 01O02]", ids)
		}
		all, err := s.List(ctx, jobs.ListFilter{Limit: 10})
		mustNil(t, err)
		if len(all) != 4 {
			t.Errorf("unfiltered List = %d jobs, want 4", len(all))
		}
	})

	t.Run("losses of many checkpoints page across them", func(t *testing.T) {
		s := open(t)
		mustNil(t, s.Create(ctx, NewJob("01A", t0)))
		_, err := s.Start(ctx, "01A", lease, t0)
		mustNil(t, err)
		var all []jobs.LossPoint
		for c := range 5 {
			var pts []jobs.LossPoint
			for i := 1; i <= 7; i++ {
				pts = append(pts, jobs.LossPoint{Step: c*7 + i, Loss: float64(c*7+i) / 3})
			}
			all = append(all, pts...)
			mustNil(t, s.Save(ctx, "01A", jobs.Checkpoint{Step: (c + 1) * 7, Weight: kernel(0, 0), Losses: pts}))
		}
		for _, p := range []struct{ after, limit int }{{0, 100}, {0, 3}, {5, 9}, {6, 1}, {7, 7}, {20, 100}, {35, 10}} {
			got, err := s.Losses(ctx, "01A", p.after, p.limit)
			mustNil(t, err)
			want := all[min(p.after, len(all)):min(p.after+p.limit, len(all))]
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Losses(after %d, limit %d) mismatch (-want +got):\n%s", p.after, p.limit, diff)
			}
		}
	})

	t.Run("ended jobs finished before a time are removed with their losses", func(t *testing.T) {
		s := open(t)
		for i, st := range []jobs.Status{jobs.StatusSucceeded, jobs.StatusFailed, jobs.StatusCanceled, jobs.StatusSucceeded, jobs.StatusQueued, jobs.StatusRunning} {
			id := fmt.Sprintf("01D%02d", i)
			mustNil(t, s.Create(ctx, NewJob(id, t0)))
			if st == jobs.StatusQueued {
				continue
			}
			_, err := s.Start(ctx, id, lease, t0)
			mustNil(t, err)
			mustNil(t, s.Save(ctx, id, jobs.Checkpoint{Step: 1, Weight: kernel(0, 0), Losses: []jobs.LossPoint{{Step: 1, Loss: 2}}}))
			if st != jobs.StatusRunning {
				// 01D03 ends an hour later than the others.
				_, err = s.Finish(ctx, id, st, "", t0.Add(time.Duration(i/3)*time.Hour))
				mustNil(t, err)
			}
		}
		n, err := s.DeleteEnded(ctx, t0.Add(time.Minute), 2)
		mustNil(t, err)
		if n != 2 {
			t.Errorf("DeleteEnded(limit 2) = %d, want 2", n)
		}
		n, err = s.DeleteEnded(ctx, t0.Add(time.Minute), 100)
		mustNil(t, err)
		if n != 1 {
			t.Errorf("second DeleteEnded = %d, want the 1 left", n)
		}
		left, err := s.List(ctx, jobs.ListFilter{Limit: 10})
		mustNil(t, err)
		if ids := idsOf(left); !cmp.Equal(ids, []string{"01D03", "01D04", "01D05"}) {
			t.Errorf("after DeleteEnded = %v, want the later one and the active ones", ids)
		}
		_, err = s.Losses(ctx, "01D00", 0, 10)
		mustIs(t, err, jobs.ErrNotFound)
	})

	t.Run("ping answers", func(t *testing.T) {
		mustNil(t, open(t).Ping(ctx))
	})

	t.Run("an owner's quota holds when submissions race", func(t *testing.T) {
		s := open(t)
		tc, ok := s.(jobs.TxCreator)
		if !ok {
			t.Skip("the store creates no jobs in a transaction")
		}
		const tries, most = 12, 3
		errs := make(chan error, tries)
		for i := range tries {
			go func() {
				j := NewJob(fmt.Sprintf("01Q%02d", i), t0)
				j.Owner = "alice"
				errs <- tc.CreateTx(ctx, j, jobs.Quota{MaxOwned: most}, func(context.Context, any) error { return nil })
			}()
		}
		created := 0
		for range tries {
			switch err := <-errs; {
			case err == nil:
				created++
			case !errors.Is(err, jobs.ErrQuota):
				t.Errorf("CreateTx = %v, want nil or ErrQuota", err)
			}
		}
		if created != most {
			t.Errorf("%d of %d racing submissions got in under a quota of %d", created, tries, most)
		}
		// Another owner has a quota of its own, and an ended job leaves room.
		bob := NewJob("01Q90", t0)
		bob.Owner = "bob"
		mustNil(t, tc.CreateTx(ctx, bob, jobs.Quota{MaxOwned: 1}, func(context.Context, any) error { return nil }))
		page, err := s.List(ctx, jobs.ListFilter{Owner: "alice", Limit: tries})
		mustNil(t, err)
		_, err = s.Finish(ctx, page[0].ID, jobs.StatusCanceled, "", t0)
		mustNil(t, err)
		late := NewJob("01Q91", t0)
		late.Owner = "alice"
		mustNil(t, tc.CreateTx(ctx, late, jobs.Quota{MaxOwned: most}, func(context.Context, any) error { return nil }))
	})

	t.Run("the server's bound on active jobs is checked on creation", func(t *testing.T) {
		s := open(t)
		tc, ok := s.(jobs.TxCreator)
		if !ok {
			t.Skip("the store creates no jobs in a transaction")
		}
		none := func(context.Context, any) error { return nil }
		mustNil(t, tc.CreateTx(ctx, NewJob("01B00", t0), jobs.Quota{MaxActive: 2}, none))
		mustNil(t, tc.CreateTx(ctx, NewJob("01B01", t0), jobs.Quota{MaxActive: 2}, none))
		mustIs(t, tc.CreateTx(ctx, NewJob("01B02", t0), jobs.Quota{MaxActive: 2}, none), jobs.ErrBusy)
		if _, err := s.Get(ctx, "01B02"); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("a refused job was stored: Get = %v", err)
		}
	})
}

func idsOf(js []jobs.Job) []string {
	ids := make([]string, len(js))
	for i, j := range js {
		ids[i] = j.ID
	}
	return ids
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}
