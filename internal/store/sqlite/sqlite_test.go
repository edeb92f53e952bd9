package sqlite_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/jobs/jobstest"
	"github.com/corr2d/corr2d/internal/store/sqlite"
)

func openStore(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func TestStoreContract(t *testing.T) {
	jobstest.RunStoreContract(t, func(t *testing.T) jobs.Store { return openStore(t, t.TempDir()) })
}

func TestDataDirIsExclusive(t *testing.T) {
	dir := t.TempDir()
	openStore(t, dir)
	_, err := sqlite.Open(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open = %v, want an in-use error", err)
	}
}

func TestReopenKeepsJobs(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	j := jobstest.NewJob("01A", j0())
	if err := s.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, dir)
	got, err := s2.Get(ctx, "01A")
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if got.ID != "01A" || got.Status != jobs.StatusQueued {
		t.Errorf("Get after reopen = %+v", got)
	}
}

func j0() (t time.Time) { return time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC) }
