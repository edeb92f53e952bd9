package postgres_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/jobs/jobstest"
	"github.com/corr2d/corr2d/internal/pgtest"
	"github.com/corr2d/corr2d/internal/store/postgres"
)

func TestMain(m *testing.M) {
	code := pgtest.Main(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			_, _ = os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

func openStore(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url)
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

func TestPausedJobShowsOnEveryReplica(t *testing.T) {
	s := openStore(t, pgtest.New(t))
	jobstest.RunPausedOnEveryReplica(t, s, s.Pool())
}

func TestStoreContract(t *testing.T) {
	jobstest.RunStoreContract(t, func(t *testing.T) jobs.Store { return openStore(t, pgtest.New(t)) })
}

// Replicas that start together migrate once: each Open succeeds and the
// schema holds one version row.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := pgtest.New(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	stores := make([]*postgres.Store, n)
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(context.Background(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
			continue
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	ctx := context.Background()
	var rows, version int
	if err := stores[0].Pool().QueryRow(ctx, `SELECT count(*), max(version) FROM corr2d_schema`).Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || version != postgres.Version() {
		t.Errorf("corr2d_schema has %d rows, version %d; want 1 row at %d", rows, version, postgres.Version())
	}
}

// A database migrated by a newer server is refused, not written to.
func TestNewerSchemaIsRefused(t *testing.T) {
	url := pgtest.New(t)
	s := openStore(t, url)
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `UPDATE corr2d_schema SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(ctx, url)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer schema = %v, want a refusal", err)
	}
}

// A job reads back from another replica's connection as it was written.
func TestReplicasSeeOneStore(t *testing.T) {
	url := pgtest.New(t)
	a, b := openStore(t, url), openStore(t, url)
	ctx := context.Background()
	want := jobstest.NewJob("01A", time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC))
	if err := a.Create(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "01A")
	if err != nil || got.ID != "01A" || got.Status != jobs.StatusQueued {
		t.Fatalf("Get on the other replica = %+v, %v", got, err)
	}
}

// A million recorded steps, saved as a running job saves them (a chunk per
// checkpoint), cost at most 12 bytes each on disk, indexes and TOAST
// included.
func TestLossHistoryBytesPerStep(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a million steps")
	}
	s := openStore(t, pgtest.New(t))
	ctx := context.Background()
	if err := s.Create(ctx, jobstest.NewJob("01A", time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "01A", jobs.Lease{Holder: "a", TTL: time.Minute}, time.Now()); err != nil {
		t.Fatal(err)
	}
	const steps, perCheckpoint = 1_000_000, 2000
	w := jobstest.NewJob("01A", time.Now()).Weight
	for first := 1; first <= steps; first += perCheckpoint {
		pts := make([]jobs.LossPoint, perCheckpoint)
		for i := range pts {
			// Losses as training makes them: decreasing, not round numbers.
			pts[i] = jobs.LossPoint{Step: first + i, Loss: 1 / float64(first+i) * (1 + 1e-3*float64(i%7))}
		}
		if err := s.Save(ctx, "01A", jobs.Checkpoint{Step: first + perCheckpoint - 1, Weight: w, Losses: pts}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool().Exec(ctx, `VACUUM ANALYZE corr2d_loss_chunk`); err != nil {
		t.Fatal(err)
	}
	var size int64
	if err := s.Pool().QueryRow(ctx, `SELECT pg_total_relation_size('corr2d_loss_chunk')`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	perStep := float64(size) / steps
	t.Logf("loss history: %d bytes for %d steps, %.2f B/step", size, steps, perStep)
	if perStep > 12 {
		t.Errorf("%.2f bytes per step, want at most 12", perStep)
	}
	got, err := s.Losses(ctx, "01A", steps-3, 10)
	if err != nil || len(got) != 3 || got[2].Step != steps {
		t.Errorf("last page = %v, %v; want steps %d..%d", got, err, steps-2, steps)
	}
}
