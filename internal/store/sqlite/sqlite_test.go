package sqlite_test

import (
	"compress/gzip"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/jobs/jobstest"
	"github.com/corr2d/corr2d/internal/store/sqlite"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
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

func TestPausedJobShowsOnEveryReplica(t *testing.T) {
	s := openStore(t, t.TempDir())
	jobstest.RunPausedOnEveryReplica(t, s, s.DB())
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

// fixtureDir copies the gzipped data dir of testdata/upgrade/NAME into a
// fresh directory.
func fixtureDir(t *testing.T, name string) (dir string, ids map[string]string) {
	t.Helper()
	src := filepath.Join("..", "..", "..", "testdata", "upgrade", name)
	f, err := os.Open(filepath.Join(src, "corr2d.db.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	out, err := os.Create(filepath.Join(dir, "corr2d.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, zr); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	list, err := os.ReadFile(filepath.Join(src, "jobs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	ids = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(list)), "\n") {
		status, id, _ := strings.Cut(line, " ")
		ids[status] = id
	}
	return dir, ids
}

func TestSchema2DataDirOpensAndItsJobsReadBack(t *testing.T) {
	ctx := context.Background()
	dir, ids := fixtureDir(t, "v2")
	s := openStore(t, dir)
	var version int
	if err := s.DB().QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil || version != 6 {
		t.Fatalf("user_version = %d, %v; want 6", version, err)
	}
	var vacuum int
	if err := s.DB().QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&vacuum); err != nil || vacuum != 2 {
		t.Errorf("auto_vacuum = %d, %v; want 2 (incremental)", vacuum, err)
	}
	tests := []struct {
		status   string
		want     jobs.Status
		step     int
		losses   int
		opt      string
		errorHas string
	}{
		{"succeeded", jobs.StatusSucceeded, 20, 20, train.SGD, ""},
		{"failed", jobs.StatusFailed, 8, 8, train.SGD, "not finite"},
		{"running", jobs.StatusRunning, 0, 0, train.Adam, ""},
		{"queued", jobs.StatusQueued, 0, 0, train.SGD, ""},
		{"canceled", jobs.StatusCanceled, 0, 0, train.SGD, ""},
	}
	for _, tt := range tests {
		j, err := s.Get(ctx, ids[tt.status])
		if err != nil {
			t.Fatalf("%s job: %v", tt.status, err)
		}
		if j.Status != tt.want || j.Step != tt.step || j.Spec.Optimizer.Name != tt.opt || !strings.Contains(j.Error, tt.errorHas) {
			t.Errorf("%s job = %s at step %d, optimizer %s, error %q", tt.status, j.Status, j.Step, j.Spec.Optimizer.Name, j.Error)
		}
		if j.Spec.Conv.Padding != engine.PadValid || j.Spec.Conv.Border != engine.BorderZeros || j.Spec.Rank != 2 ||
			!cmp.Equal(j.Spec.Input.Shape, []int{1, 1, 3, 8}) || len(j.Weight.Data) != 2 {
			t.Errorf("%s job spec = %+v", tt.status, j.Spec)
		}
		if in, _, err := s.Tensors(ctx, j.ID); err != nil || len(in.Data) != 24 {
			t.Errorf("%s job's input = %v, %v; want 24 numbers", tt.status, in, err)
		}
		pts, err := s.Losses(ctx, j.ID, 0, 1000)
		if err != nil || len(pts) != tt.losses {
			t.Errorf("%s job: %d losses, %v; want %d", tt.status, len(pts), err, tt.losses)
		}
		for i, p := range pts {
			if p.Step != i+1 {
				t.Errorf("%s job: loss %d is of step %d", tt.status, i, p.Step)
				break
			}
		}
	}
	q, _ := s.Get(ctx, ids["queued"])
	if q.Spec.Init == nil || q.Spec.DType != train.Float64 || q.Spec.Optimizer.Momentum != 0.9 || q.Spec.Seed != nil {
		t.Errorf("queued job's spec lost its init, dtype or momentum: %+v", q.Spec)
	}
}

// schema4 is the job table of schema 4, which held the input and target
// in the job's row.
const schema4 = `CREATE TABLE corr2d_job (
	id TEXT PRIMARY KEY, owner TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, spec BLOB NOT NULL,
	input BLOB NOT NULL, target BLOB NOT NULL, created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER,
	step INTEGER NOT NULL DEFAULT 0, loss REAL, weight BLOB NOT NULL, bias BLOB, init_weight BLOB NOT NULL,
	init_bias BLOB, opt_state BLOB, error TEXT NOT NULL DEFAULT '', run INTEGER NOT NULL DEFAULT 0,
	lease_holder TEXT, lease_until INTEGER) STRICT;
CREATE INDEX corr2d_job_status ON corr2d_job (status, id);
CREATE INDEX corr2d_job_owner ON corr2d_job (owner, id);
CREATE INDEX corr2d_job_finished ON corr2d_job (finished_at) WHERE finished_at IS NOT NULL;
CREATE TABLE corr2d_loss_chunk (job_id TEXT NOT NULL REFERENCES corr2d_job (id) ON DELETE CASCADE,
	first_step INTEGER NOT NULL, last_step INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (job_id, first_step)) STRICT;
PRAGMA user_version = 4;`

func TestSchema4MovesTensorsOutOfTheJobRow(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "corr2d.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	want := jobstest.NewJob("01V4", j0())
	r, err := jobs.EncodeJob(want)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, schema4); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO corr2d_job (id, status, spec, input, target, created_at, weight, init_weight, bias, init_bias)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Status, r.Spec, r.Input, r.Target, r.CreatedAt.UnixNano(),
		r.Weight, r.InitWeight, r.Bias, r.InitBias); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO corr2d_loss_chunk (job_id, first_step, last_step, data) VALUES (?, 1, 1, ?)`,
		r.ID, jobs.LossChunks([]jobs.LossPoint{{Step: 1, Loss: 2.5}})[0].Data); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir)
	var version, inputColumns int
	if err := s.DB().QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil || version != 6 {
		t.Fatalf("user_version = %d, %v; want 6", version, err)
	}
	if err := s.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('corr2d_job') WHERE name IN ('input', 'target')`).
		Scan(&inputColumns); err != nil || inputColumns != 0 {
		t.Errorf("corr2d_job keeps %d of the input and target columns (%v), want none", inputColumns, err)
	}
	got, err := s.Get(ctx, "01V4")
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Input.Data != nil || !cmp.Equal(got.Spec.Input.Shape, want.Spec.Input.Shape) || !cmp.Equal(got.Weight, want.Weight) {
		t.Errorf("Get after the upgrade = %+v", got)
	}
	in, tgt, err := s.Tensors(ctx, "01V4")
	if err != nil || !cmp.Equal(in, want.Spec.Input) || !cmp.Equal(tgt, want.Spec.Target) {
		t.Errorf("Tensors after the upgrade = %v, %v, %v; want %v, %v", in, tgt, err, want.Spec.Input, want.Spec.Target)
	}
	if pts, err := s.Losses(ctx, "01V4", 0, 10); err != nil || len(pts) != 1 || pts[0].Loss != 2.5 {
		t.Errorf("Losses after the upgrade = %v, %v", pts, err)
	}
}

func TestSchema2QueuedJobRunsAfterTheUpgrade(t *testing.T) {
	ctx := context.Background()
	dir, ids := fixtureDir(t, "v2")
	s := openStore(t, dir)
	reg := prometheus.NewRegistry()
	eng, err := engine.New(engine.Config{Workers: 2}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	r, err := jobs.New(ctx, jobs.Config{Concurrency: 2}, s, s.DB(), eng, zaptest.NewLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := r.Stop(sctx); err != nil {
			t.Error(err)
		}
	}()
	if j := jobstest.WaitJob(t, r.Get, ids["queued"], "ended", func(j jobs.Job) bool { return !j.Status.Active() }); j.Status != jobs.StatusSucceeded || j.Step != 30 {
		t.Fatalf("queued job = %s at step %d (%s), want succeeded at 30", j.Status, j.Step, j.Error)
	}
	// The job that was running at the crash resumes too.
	jobstest.WaitJob(t, r.Get, ids["running"], "resumed", func(j jobs.Job) bool { return j.Step > 0 })
	if _, err := r.Cancel(ctx, ids["running"]); err != nil {
		t.Fatal(err)
	}
}

// fileBytes is the database's size in use: its pages less the free ones.
func fileBytes(t *testing.T, s *sqlite.Store) int64 {
	t.Helper()
	var pages, free, size int64
	for q, dst := range map[string]*int64{`PRAGMA page_count`: &pages, `PRAGMA freelist_count`: &free, `PRAGMA page_size`: &size} {
		if err := s.DB().QueryRow(q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	return (pages - free) * size
}

// TestMillionStepsCostAtMost12BytesEach records a million float64 losses
// in checkpoints of 1000 steps, the rate of a fast job, and measures what
// the file grew by.
func TestMillionStepsCostAtMost12BytesEach(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a million losses")
	}
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	j := jobstest.NewJob("01M", j0())
	j.Spec.Steps = 1_000_000
	if err := s.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, j.ID, jobs.Lease{Holder: "test", TTL: time.Hour}, j0()); err != nil {
		t.Fatal(err)
	}
	before := fileBytes(t, s)
	const steps, every = 1_000_000, 1000
	pts := make([]jobs.LossPoint, every)
	for done := 0; done < steps; done += every {
		for i := range pts {
			// Not float32 values, so each costs 8 bytes.
			pts[i] = jobs.LossPoint{Step: done + i + 1, Loss: 1 / float64(done+i+3)}
		}
		if err := s.Save(ctx, j.ID, jobs.Checkpoint{Step: done + every, Weight: j.Weight, Bias: j.Bias, Losses: pts}); err != nil {
			t.Fatal(err)
		}
	}
	perStep := float64(fileBytes(t, s)-before) / steps
	t.Logf("%.2f bytes per recorded step (float64 losses, a checkpoint every %d steps)", perStep, every)
	if perStep > 12 {
		t.Errorf("%.2f bytes per recorded step, want at most 12", perStep)
	}
	page, err := s.Losses(ctx, j.ID, 654_320, 3)
	if err != nil || len(page) != 3 || page[0].Step != 654_321 || page[0].Loss != 1/float64(654_323) {
		t.Errorf("Losses(after 654320, 3) = %v, %v", page, err)
	}
}

func TestDeletedJobsShrinkTheFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	for i := range 40 {
		j := jobstest.NewJob(fmt.Sprintf("01S%02d", i), j0())
		j.Spec.Input = tensor.Dense{Shape: []int{1, 1, 100, 100}, Data: make([]float64, 10000)}
		for k := range j.Spec.Input.Data {
			j.Spec.Input.Data[k] = 1 / float64(k+3)
		}
		if err := s.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Finish(ctx, j.ID, jobs.StatusCanceled, "", j0()); err != nil {
			t.Fatal(err)
		}
	}
	size := func() int64 {
		if _, err := s.DB().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(dir, "corr2d.db"))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	full := size()
	n, err := s.DeleteEnded(ctx, j0().Add(time.Second), 1000)
	if err != nil || n != 40 {
		t.Fatalf("DeleteEnded = %d, %v; want 40", n, err)
	}
	if got := size(); got > full/4 {
		t.Errorf("file is %d bytes after deleting every job, %d before; want it to shrink", got, full)
	}
}

func TestCorruptDatabaseIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := s.Create(ctx, jobstest.NewJob(fmt.Sprintf("01C%02d", i), j0())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.DB().ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "corr2d.db")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the last pages, where the latest rows live, with garbage.
	for i := len(b) - 3*4096; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(ctx, dir)
	if !errors.Is(err, sqlite.ErrCorrupt) || !strings.Contains(err.Error(), "backup") {
		t.Fatalf("Open of a corrupt database = %v, want ErrCorrupt with advice", err)
	}
}

func TestEmptyFileWhereADatabaseWasIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir)
	if err := s.Create(ctx, jobstest.NewJob("01E", j0())); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"corr2d.db-wal", "corr2d.db-shm"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	if err := os.WriteFile(filepath.Join(dir, "corr2d.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, dir); !errors.Is(err, sqlite.ErrCorrupt) {
		t.Fatalf("Open of an emptied database = %v, want ErrCorrupt", err)
	}
	// A new dir with an empty file (made by hand, say) starts empty.
	fresh := t.TempDir()
	if err := os.WriteFile(filepath.Join(fresh, "corr2d.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	openStore(t, fresh)
}

func TestCreateTxRollsBackWithTheQueueInsert(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir())
	boom := errors.New("queue insert failed")
	err := s.CreateTx(ctx, jobstest.NewJob("01T", j0()), jobs.Quota{}, func(context.Context, any) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("CreateTx = %v, want the insert's error", err)
	}
	if _, err := s.Get(ctx, "01T"); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("Get after a failed CreateTx = %v, want ErrNotFound", err)
	}
	var tx any
	if err := s.CreateTx(ctx, jobstest.NewJob("01T", j0()), jobs.Quota{}, func(_ context.Context, t any) error { tx = t; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, ok := tx.(*sql.Tx); !ok {
		t.Errorf("CreateTx handed %T, want the *sql.Tx River's SQLite driver takes", tx)
	}
	if _, err := s.Get(ctx, "01T"); err != nil {
		t.Fatalf("Get after CreateTx = %v", err)
	}
}
