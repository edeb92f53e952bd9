package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/jobs/jobstest"
)

// pausedView is the part of a job that says whether it waits for the store.
type pausedView struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	Step         int        `json:"step"`
	Error        string     `json:"error"`
	PausedReason string     `json:"paused_reason"`
	PausedSince  *time.Time `json:"paused_since"`
}

// pollJob reads GET /jobs/{id} until ok holds, failing once the job's
// status, step and pause have stood still for a minute (see
// jobstest.Await).
func pollJob(t *testing.T, f *fixture, id, what string, ok func(pausedView) bool) pausedView {
	t.Helper()
	read := func() pausedView { return decode[pausedView](t, f.do(t, http.MethodGet, "/jobs/"+id, "")) }
	progress := func(j pausedView) string { return fmt.Sprint(j.Status, j.Step, j.PausedReason) }
	return jobstest.Await(t, fmt.Sprintf("job %s (%s)", id, what), read, progress, ok)
}

// jobEnded reports whether a job has left the queued and running states.
func jobEnded(j pausedView) bool { return j.Status != "queued" && j.Status != "running" }

// A store that cannot be written pauses the running job: GET /jobs/{id}
// and GET /jobs say why and since when, /readyz answers 503, and once the
// store writes again the job runs on and the reason goes away.
func TestPausedJobShowsItsReason(t *testing.T) {
	f := newFixture(t, options{jobs: jobs.Config{CheckpointEvery: time.Millisecond}})
	id := submitEdgeJob(t, f, 1_000_000)
	pollJob(t, f, id, "made progress", func(j pausedView) bool { return j.Step > 0 })
	db := f.store.DB()
	if _, err := db.Exec(`PRAGMA query_only = ON`); err != nil {
		t.Fatal(err)
	}
	if rec := f.do(t, http.MethodGet, "/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /readyz with an unwritable store = %d, want 503", rec.Code)
	}
	before := time.Now()
	j := pollJob(t, f, id, "paused", func(j pausedView) bool { return j.PausedReason != "" })
	if j.Status != "running" || !strings.Contains(j.PausedReason, "could not save progress") ||
		!strings.Contains(j.PausedReason, "readonly") || j.PausedSince == nil || j.PausedSince.Before(before.Add(-time.Second)) {
		t.Errorf("paused job = %+v, want running, paused: could not save progress (readonly), since the store stopped writing", j)
	}
	list := decode[struct {
		Jobs []pausedView `json:"jobs"`
	}](t, f.do(t, http.MethodGet, "/jobs?status=running", ""))
	if len(list.Jobs) != 1 || list.Jobs[0].PausedReason == "" || list.Jobs[0].PausedSince == nil {
		t.Errorf("GET /jobs?status=running with a paused job = %+v, want it with its reason", list.Jobs)
	}
	if _, err := db.Exec(`PRAGMA query_only = OFF`); err != nil {
		t.Fatal(err)
	}
	resumed := pollJob(t, f, id, "resumed", func(r pausedView) bool { return r.PausedReason == "" && r.Step > j.Step })
	if resumed.Status != "running" || resumed.PausedSince != nil {
		t.Errorf("job once the store writes = %+v, want running without a pause", resumed)
	}
	if rec := f.do(t, http.MethodGet, "/readyz", ""); rec.Code != http.StatusOK {
		t.Errorf("GET /readyz once the store writes = %d, want 200", rec.Code)
	}
	if rec := f.do(t, http.MethodPost, "/jobs/"+id+"/cancel", ""); rec.Code != http.StatusOK {
		t.Fatalf("cancel = %d %s", rec.Code, rec.Body)
	}
}

// A store that runs out of room (SQLite's max_page_count fails writes that
// grow the file, as a full disk does) fails the running job with the
// reason, and the failed job shows no pause.
func TestFullStoreFailsTheJobOverHTTP(t *testing.T) {
	f := newFixture(t, options{jobs: jobs.Config{CheckpointEvery: time.Millisecond}})
	id := submitEdgeJob(t, f, 1_000_000)
	pollJob(t, f, id, "made progress", func(j pausedView) bool { return j.Step > 0 })
	db := f.store.DB()
	var pages int
	if err := db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	j := pollJob(t, f, id, "ended", func(j pausedView) bool { return j.Status != "running" })
	if j.Status != "failed" || !strings.Contains(j.Error, "could not save progress") || !strings.Contains(j.Error, "full") || j.PausedReason != "" {
		t.Errorf("job on a full store = %+v, want failed: could not save progress, full; no pause", j)
	}
}
