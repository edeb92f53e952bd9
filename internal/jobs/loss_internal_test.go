package jobs

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testCollector is a loss collector of at most limit series, with an hour's
// grace, on the clock *now.
func testCollector(limit int, now *time.Time) *lossCollector {
	return &lossCollector{
		desc:    prometheus.NewDesc("corr2d_job_loss", "loss", []string{"job_id"}, nil),
		running: prometheus.NewDesc("corr2d_job_running", "running", []string{"job_id"}, nil),
		grace:   time.Hour,
		max:     limit,
		now:     func() time.Time { return *now },
		series:  map[string]lossSeries{},
	}
}

func TestLossSeriesAreCapped(t *testing.T) {
	now := time.Unix(0, 0)
	c := testCollector(2, &now)
	c.set("a", 1)
	c.set("b", 2)
	c.set("c", 3) // two active jobs fill the cap: c goes unexported
	if n := testutil.CollectAndCount(c, "corr2d_job_loss"); n != 2 {
		t.Fatalf("with 2 active jobs and a cap of 2, %d series, want 2", n)
	}
	c.end("c") // never exported: nothing to end
	c.end("a")
	c.set("d", 4) // takes the place of a, which ended
	got := map[string]bool{}
	for id := range c.series {
		got[id] = true
	}
	if len(got) != 2 || !got["b"] || !got["d"] {
		t.Fatalf("series after d = %v, want b and d", got)
	}
	c.set("b", 5) // a known job updates whatever the cap
	if c.series["b"].loss != 5 {
		t.Fatalf("b's loss = %v, want 5", c.series["b"].loss)
	}
}

func TestRunningSeriesFollowsTheRunNotTheGrace(t *testing.T) {
	now := time.Unix(0, 0)
	c := testCollector(10, &now)
	count := func() (loss, running int) {
		return testutil.CollectAndCount(c, "corr2d_job_loss"), testutil.CollectAndCount(c, "corr2d_job_running")
	}
	c.start("a") // no loss yet: nothing to show
	if l, r := count(); l != 0 || r != 0 {
		t.Fatalf("before a step: %d loss and %d running series, want none", l, r)
	}
	c.set("a", 1)
	c.set("b", 2)
	if l, r := count(); l != 2 || r != 2 {
		t.Fatalf("two jobs running: %d loss and %d running series, want 2 and 2", l, r)
	}
	c.end("a") // its run stopped: the loss stays for the grace period
	if l, r := count(); l != 2 || r != 1 {
		t.Fatalf("a ended: %d loss and %d running series, want 2 and 1", l, r)
	}
	c.set("a", 3) // a step racing the end keeps it ended
	if _, r := count(); r != 1 {
		t.Fatalf("a step after the end: %d running series, want 1", r)
	}
	c.start("a") // a later run of a, here
	if l, r := count(); l != 2 || r != 2 {
		t.Fatalf("a runs again: %d loss and %d running series, want 2 and 2", l, r)
	}
	c.end("b")
	now = now.Add(2 * time.Hour)
	if l, r := count(); l != 1 || r != 1 {
		t.Fatalf("past b's grace: %d loss and %d running series, want 1 and 1", l, r)
	}
}

// countingStore counts the store's counts; nothing else is called.
type countingStore struct {
	Store
	calls  int
	queued int
}

func (s *countingStore) Count(context.Context) (map[Status]int, error) {
	s.calls++
	return map[Status]int{StatusQueued: s.queued}, nil
}

func TestStatusCountIsReusedForMaxAge(t *testing.T) {
	now := time.Unix(0, 0)
	store := &countingStore{queued: 3}
	c := &statusCollector{
		desc:   prometheus.NewDesc("corr2d_jobs", "jobs", []string{"status"}, nil),
		store:  store,
		maxAge: time.Second,
		now:    func() time.Time { return now },
	}
	queued := func() float64 {
		t.Helper()
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mfs[0].GetMetric() {
			if m.GetLabel()[0].GetValue() == string(StatusQueued) {
				return m.GetGauge().GetValue()
			}
		}
		t.Fatal("no queued series")
		return 0
	}
	steps := []struct {
		advance   time.Duration
		queued    int
		want      float64
		wantCalls int
	}{
		{0, 3, 3, 1},
		{500 * time.Millisecond, 5, 3, 1}, // younger than a second: reused
		{500 * time.Millisecond, 5, 5, 2}, // a second old: counted again
		{999 * time.Millisecond, 7, 5, 2},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		store.queued = s.queued
		if got := queued(); got != s.want || store.calls != s.wantCalls {
			t.Errorf("scrape %d: corr2d_jobs{queued} = %v after %d counts, want %v after %d", i, got, store.calls, s.want, s.wantCalls)
		}
	}
}
