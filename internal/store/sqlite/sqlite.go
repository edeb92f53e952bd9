// Package sqlite is the embedded job store: one SQLite file under the data
// directory, holding both our job tables and River's queue tables, owned by
// exactly one server process at a time.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" database/sql driver

	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/tensor"
)

// Store implements jobs.Store on SQLite.
type Store struct {
	// db is the one connection that writes (SQLite runs one writer at a
	// time), shared with River's queue.
	db *sql.DB
	// read is a pool of read-only connections for the reads that serve
	// requests (Get, List, Losses, Count). In WAL mode they read the last
	// committed state beside the writer, so a read never waits for a
	// checkpoint's commit and its fsync, nor for River's polling.
	read *sql.DB
	lock *flock.Flock
}

// readConns is the size of the read pool.
const readConns = 4

// schemaVersion is stored in SQLite's user_version. Versions 2 and 3 held
// JSON text columns and a row per loss (3 added leases); version 4 kept the
// input and target in the job's row; version 5 had no pause columns. Open
// converts them (see migrate.go). Version 1 was a development schema that
// was never released.
const schemaVersion = 6

// schema holds our own tables. River's tables are created by its migrator.
// Tensors are jobs.EncodeTensor's bytes, the spec jobs.EncodeSpec's
// document, and each checkpoint's losses one jobs.LossChunk.
//
// A job's input and target live in a table of their own: SQLite rewrites
// a whole row on every update, so in the job's row they would be read and
// written again, in memory, on every checkpoint and lease renewal.
const schema = `
CREATE TABLE IF NOT EXISTS corr2d_job (
	id          TEXT PRIMARY KEY,
	owner       TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL,
	spec        BLOB NOT NULL,
	created_at  INTEGER NOT NULL,
	started_at  INTEGER,
	finished_at INTEGER,
	step        INTEGER NOT NULL DEFAULT 0,
	loss        REAL,
	weight      BLOB NOT NULL,
	bias        BLOB,
	init_weight BLOB NOT NULL,
	init_bias   BLOB,
	opt_state   BLOB,
	error       TEXT NOT NULL DEFAULT '',
	run          INTEGER NOT NULL DEFAULT 0,
	lease_holder TEXT,
	lease_until  INTEGER,
	paused_reason TEXT,
	paused_since  INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS corr2d_job_status ON corr2d_job (status, id);
CREATE INDEX IF NOT EXISTS corr2d_job_owner ON corr2d_job (owner, id);
CREATE INDEX IF NOT EXISTS corr2d_job_finished ON corr2d_job (finished_at) WHERE finished_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS corr2d_job_tensor (
	job_id TEXT PRIMARY KEY REFERENCES corr2d_job (id) ON DELETE CASCADE,
	input  BLOB NOT NULL,
	target BLOB NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS corr2d_health (
	id INTEGER PRIMARY KEY,
	at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS corr2d_loss_chunk (
	job_id     TEXT NOT NULL REFERENCES corr2d_job (id) ON DELETE CASCADE,
	first_step INTEGER NOT NULL,
	last_step  INTEGER NOT NULL,
	data       BLOB NOT NULL,
	PRIMARY KEY (job_id, first_step)
) STRICT;
`

// Open opens (creating if needed) the store in dir, checks its integrity,
// migrates our tables and River's, and requeues River jobs that a crashed
// process left running. It holds an exclusive lock on dir until Close,
// which is what makes that requeueing safe: no other process can be
// working those jobs.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create data dir: %w", err)
	}
	// The lock file outlives every server that used the dir: with it, an
	// empty database file is one that replaced a database, not a new one.
	lockPath := filepath.Join(dir, "corr2d.lock")
	_, err := os.Stat(lockPath)
	used := err == nil
	lock := flock.New(lockPath)
	locked, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock data dir: %w", err)
	}
	if !locked {
		return nil, fmt.Errorf("sqlite: data dir %s is in use by another process", dir)
	}
	s, err := open(ctx, filepath.Join(dir, "corr2d.db"), used)
	if err != nil {
		_ = lock.Unlock()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

// ErrCorrupt is a database file that fails its integrity check, or an
// empty file where a database was.
var ErrCorrupt = errors.New("the database is corrupt")

func open(ctx context.Context, path string, used bool) (*Store, error) {
	fi, err := os.Stat(path)
	fresh := errors.Is(err, fs.ErrNotExist)
	switch {
	case err != nil && !fresh:
		return nil, fmt.Errorf("sqlite: %w", err)
	case err == nil && fi.Size() == 0 && used:
		return nil, fmt.Errorf("sqlite: %s is empty, but this data dir held a database: %w; restore it from a backup, or move it aside to start with no jobs", path, ErrCorrupt)
	case err == nil && fi.Size() == 0:
		fresh = true
	}
	// Incremental auto-vacuum (which must precede WAL, the file's first
	// write) lets deletes hand pages back to the file system; WAL lets
	// readers run beside the writer; synchronous=FULL makes every commit
	// survive a power cut, not only a killed process; the busy timeout
	// absorbs the short waits between River's connection and ours.
	dsn := "file:" + path + "?_pragma=auto_vacuum(INCREMENTAL)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// SQLite runs one writer at a time; River's SQLite driver asks for a
	// single connection so that its concurrent operations queue in Go instead
	// of failing with SQLITE_BUSY. Our own statements share it.
	db.SetMaxOpenConns(1)
	s := &Store{db: db}
	if err := s.prepare(ctx, path, fresh); err != nil {
		_ = db.Close()
		return nil, err
	}
	// The read pool opens once the file is migrated and in WAL mode.
	read, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	s.read = read
	return s, nil
}

// prepare checks and migrates the database.
func (s *Store) prepare(ctx context.Context, path string, fresh bool) error {
	if !fresh {
		if err := s.check(ctx, path); err != nil {
			return err
		}
	}
	return s.migrate(ctx)
}

// check runs SQLite's quick integrity check.
func (s *Store) check(ctx context.Context, path string) error {
	rows, err := s.db.QueryContext(ctx, `PRAGMA quick_check`)
	if err != nil {
		return fmt.Errorf("sqlite: integrity check of %s: %w: %w; restore it from a backup", path, ErrCorrupt, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("sqlite: integrity check of %s: %w", path, err)
		}
		if line != "ok" && len(problems) < 5 {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: integrity check of %s: %w: %w; restore it from a backup", path, ErrCorrupt, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("sqlite: integrity check of %s: %w: %s; restore it from a backup", path, ErrCorrupt, strings.Join(problems, "; "))
	}
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("sqlite: schema version: %w", err)
	}
	var tables int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'corr2d_job'`).Scan(&tables); err != nil {
		return fmt.Errorf("sqlite: schema version: %w", err)
	}
	switch {
	case tables == 0 || version == schemaVersion:
	case version == 2 || version == 3:
		if err := s.upgradeFrom(ctx, version); err != nil {
			return err
		}
	case version == 4 || version == 5:
		if err := s.upgradeFrom45(ctx, version); err != nil {
			return err
		}
	default:
		return fmt.Errorf("sqlite: the data dir holds schema version %d, this server reads 2 to %d; move it aside", version, schemaVersion)
	}
	if _, err := s.db.ExecContext(ctx, schema+fmt.Sprintf("PRAGMA user_version = %d;", schemaVersion)); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	// A job still marked running was orphaned by a crash (we hold the lock,
	// so nobody else runs it): its lease lapses now, and the runner resumes
	// it from its last checkpoint.
	if _, err := s.db.ExecContext(ctx, `UPDATE corr2d_job SET lease_until = NULL WHERE status = 'running'`); err != nil {
		return fmt.Errorf("sqlite: release orphaned jobs: %w", err)
	}
	return nil
}

// DB is the database River shares with the store.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database and releases the data dir.
func (s *Store) Close() error {
	err := errors.Join(s.read.Close(), s.db.Close())
	if s.lock != nil {
		err = errors.Join(err, s.lock.Unlock())
	}
	return err
}

// Ping implements jobs.Store. It writes one row, so that a store that can
// be read but not written (a full disk, a read-only file) is not ready.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO corr2d_health (id, at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET at = excluded.at`, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("sqlite: write check: %w", err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// Create implements jobs.Store.
func (s *Store) Create(ctx context.Context, j jobs.Job) error {
	r, err := jobs.EncodeJob(j)
	if err != nil {
		return fmt.Errorf("sqlite: create job %s: %w", j.ID, err)
	}
	if err := insert(ctx, s.db, r); err != nil {
		return fmt.Errorf("sqlite: create job %s: %w", j.ID, err)
	}
	return nil
}

// CreateTx implements jobs.TxCreator: within gets the *sql.Tx. The
// transaction takes the write lock as it begins, so its counts for the
// quota hold until it commits.
func (s *Store) CreateTx(ctx context.Context, j jobs.Job, q jobs.Quota, within func(ctx context.Context, tx any) error) error {
	r, err := jobs.EncodeJob(j)
	if err != nil {
		return fmt.Errorf("sqlite: create job %s: %w", j.ID, err)
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkQuota(ctx, tx, j.Owner, q); err != nil {
			return err
		}
		if err := insert(ctx, tx, r); err != nil {
			return fmt.Errorf("sqlite: create job %s: %w", j.ID, err)
		}
		return within(ctx, tx)
	})
}

// checkQuota refuses a job of owner that q does not let in.
func checkQuota(ctx context.Context, tx *sql.Tx, owner string, q jobs.Quota) error {
	for _, c := range []struct {
		most  int
		where string
		args  []any
		err   error
	}{
		{q.MaxActive, "", nil, jobs.ErrBusy},
		{q.MaxOwned, " AND owner = ?", []any{owner}, jobs.ErrQuota},
	} {
		if c.most <= 0 {
			continue
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM corr2d_job WHERE status IN ('queued', 'running')`+c.where,
			c.args...).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: count active jobs: %w", err)
		}
		if n >= c.most {
			return fmt.Errorf("sqlite: %d active: %w", n, c.err)
		}
	}
	return nil
}

// insert writes a job's two rows; db is a transaction, or the writer
// connection alone in an open that has no other.
func insert(ctx context.Context, db execer, r jobs.Record) error {
	_, err := db.ExecContext(ctx, `INSERT INTO corr2d_job (id, owner, status, spec, created_at,
		started_at, finished_at, step, loss, weight, bias, init_weight, init_bias, opt_state, error, run)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Owner, r.Status, r.Spec, r.CreatedAt.UnixNano(), nanos(r.StartedAt), nanos(r.FinishedAt),
		r.Step, r.Loss, r.Weight, r.Bias, r.InitWeight, r.InitBias, r.OptState, r.Error, r.Run)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO corr2d_job_tensor (job_id, input, target) VALUES (?, ?, ?)`,
		r.ID, r.Input, r.Target)
	return err
}

func nanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

// jobColumns are a job's columns in jobs.Record's order, without the
// input and target (see Tensors).
const jobColumns = `id, owner, status, spec, created_at, started_at, finished_at, step, loss, weight, bias, init_weight, init_bias, opt_state, error, run,
	paused_reason, paused_since`

type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (jobs.Job, error) {
	var (
		r                        jobs.Record
		created                  int64
		started, finished, since sql.NullInt64
		loss                     sql.NullFloat64
		reason                   sql.NullString
	)
	if err := row.Scan(&r.ID, &r.Owner, &r.Status, &r.Spec, &created, &started, &finished,
		&r.Step, &loss, &r.Weight, &r.Bias, &r.InitWeight, &r.InitBias, &r.OptState, &r.Error, &r.Run,
		&reason, &since); err != nil {
		return jobs.Job{}, err
	}
	r.CreatedAt = time.Unix(0, created).UTC()
	r.StartedAt = optTime(started)
	r.FinishedAt = optTime(finished)
	r.PausedReason, r.PausedSince = reason.String, optTime(since)
	if loss.Valid {
		r.Loss = &loss.Float64
	}
	return r.Job()
}

func optTime(t sql.NullInt64) *time.Time {
	if !t.Valid {
		return nil
	}
	v := time.Unix(0, t.Int64).UTC()
	return &v
}

// Get implements jobs.Store.
func (s *Store) Get(ctx context.Context, id string) (jobs.Job, error) {
	return s.get(ctx, s.read, id)
}

// Tensors implements jobs.Store.
func (s *Store) Tensors(ctx context.Context, id string) (input, target tensor.Dense, err error) {
	// Rows, not Row: their bytes are decoded in place, not copied first.
	rows, err := s.read.QueryContext(ctx, `SELECT input, target FROM corr2d_job_tensor WHERE job_id = ?`, id)
	if err != nil {
		return input, target, fmt.Errorf("sqlite: tensors of %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return input, target, fmt.Errorf("sqlite: tensors of %s: %w", id, err)
		}
		return input, target, fmt.Errorf("sqlite: job %s: %w", id, jobs.ErrNotFound)
	}
	var in, tgt sql.RawBytes
	if err := rows.Scan(&in, &tgt); err != nil {
		return input, target, fmt.Errorf("sqlite: tensors of %s: %w", id, err)
	}
	if input, target, err = jobs.DecodeTensors(in, tgt); err != nil {
		return input, target, fmt.Errorf("sqlite: tensors of %s: %w", id, err)
	}
	return input, target, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) get(ctx context.Context, q querier, id string) (jobs.Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM corr2d_job WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return jobs.Job{}, fmt.Errorf("sqlite: job %s: %w", id, jobs.ErrNotFound)
	}
	if err != nil {
		return jobs.Job{}, fmt.Errorf("sqlite: get job %s: %w", id, err)
	}
	return j, nil
}

// List implements jobs.Store.
func (s *Store) List(ctx context.Context, f jobs.ListFilter) ([]jobs.Job, error) {
	var (
		where []string
		args  []any
	)
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	if f.Owner != "" {
		where = append(where, "owner = ?")
		args = append(args, f.Owner)
	}
	if f.After != "" {
		where = append(where, "id > ?")
		args = append(args, f.After)
	}
	q := `SELECT ` + jobColumns + ` FROM corr2d_job`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, f.Limit)
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list jobs: %w", err)
	}
	defer rows.Close()
	out := []jobs.Job{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list jobs: %w", err)
	}
	return out, nil
}

// inTx runs fn in a transaction, committing only if fn succeeds.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// Start implements jobs.Store.
func (s *Store) Start(ctx context.Context, id string, l jobs.Lease, at time.Time) (jobs.Job, error) {
	var j jobs.Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE corr2d_job SET status = 'running',
			started_at = COALESCE(started_at, ?), run = ?, lease_holder = ?, lease_until = ?,
			paused_reason = NULL, paused_since = NULL
			WHERE id = ? AND status IN ('queued', 'running') AND run <= ?`,
			at.UnixNano(), l.Run, l.Holder, time.Now().Add(l.TTL).UnixNano(), id, l.Run)
		if err != nil {
			return fmt.Errorf("sqlite: start job %s: %w", id, err)
		}
		if err := s.expectOne(ctx, tx, res, id); err != nil {
			return err
		}
		j, err = s.get(ctx, tx, id)
		return err
	})
	return j, err
}

// expectOne turns an update that touched no row into ErrNotFound or
// ErrNotActive, whichever explains it.
func (s *Store) expectOne(ctx context.Context, tx *sql.Tx, res sql.Result, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: job %s: %w", id, err)
	}
	if n == 1 {
		return nil
	}
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM corr2d_job WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: job %s: %w", id, jobs.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlite: job %s: %w", id, err)
	}
	return fmt.Errorf("sqlite: job %s: %w", id, jobs.ErrNotActive)
}

// Save implements jobs.Store.
func (s *Store) Save(ctx context.Context, id string, c jobs.Checkpoint) error {
	r := jobs.EncodeCheckpoint(c)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE corr2d_job SET step = ?, weight = ?, bias = ?, opt_state = ?,
			loss = COALESCE(?, loss), paused_reason = NULL, paused_since = NULL WHERE id = ? AND status = 'running' AND run = ?`, r.Step, r.Weight, r.Bias, r.OptState, r.Loss, id, c.Run)
		if err != nil {
			return fmt.Errorf("sqlite: save job %s: %w", id, err)
		}
		if err := s.expectOne(ctx, tx, res, id); err != nil {
			return err
		}
		if len(r.Chunks) == 0 {
			return nil
		}
		if err := s.cutLosses(ctx, tx, id, r.Chunks[0].First); err != nil {
			return fmt.Errorf("sqlite: save losses of %s: %w", id, err)
		}
		for _, ch := range r.Chunks {
			if err := insertChunk(ctx, tx, id, ch); err != nil {
				return fmt.Errorf("sqlite: save losses of %s: %w", id, err)
			}
		}
		return nil
	})
}

func insertChunk(ctx context.Context, db execer, id string, ch jobs.LossChunk) error {
	_, err := db.ExecContext(ctx, `INSERT INTO corr2d_loss_chunk (job_id, first_step, last_step, data) VALUES (?, ?, ?, ?)`,
		id, ch.First, ch.Last, ch.Data)
	return err
}

// cutLosses removes the recorded losses from step on: a resumed job
// records them again.
func (s *Store) cutLosses(ctx context.Context, tx *sql.Tx, id string, step int) error {
	var ch jobs.LossChunk
	err := tx.QueryRowContext(ctx, `SELECT first_step, last_step, data FROM corr2d_loss_chunk
		WHERE job_id = ? AND first_step < ? AND last_step >= ?`, id, step, step).Scan(&ch.First, &ch.Last, &ch.Data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	default:
		kept, _, err := ch.Truncate(step)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE corr2d_loss_chunk SET last_step = ?, data = ? WHERE job_id = ? AND first_step = ?`,
			kept.Last, kept.Data, id, ch.First); err != nil {
			return err
		}
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM corr2d_loss_chunk WHERE job_id = ? AND first_step >= ?`, id, step)
	return err
}

// SetPause implements jobs.Store.
func (s *Store) SetPause(ctx context.Context, id string, p *jobs.Pause) error {
	reason, since := jobs.PauseColumns(p)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE corr2d_job SET paused_reason = ?, paused_since = ?
			WHERE id = ? AND status IN ('queued', 'running')`, reason, since, id)
		if err != nil {
			return fmt.Errorf("sqlite: pause job %s: %w", id, err)
		}
		return s.expectOne(ctx, tx, res, id)
	})
}

// Finish implements jobs.Store.
func (s *Store) Finish(ctx context.Context, id string, status jobs.Status, errMsg string, at time.Time) (jobs.Job, error) {
	if status.Active() {
		return jobs.Job{}, fmt.Errorf("sqlite: finish job %s as %s: not a terminal status", id, status)
	}
	var j jobs.Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE corr2d_job SET status = ?, error = ?, finished_at = ?,
			paused_reason = NULL, paused_since = NULL WHERE id = ? AND status IN ('queued', 'running')`, string(status), errMsg, at.UnixNano(), id)
		if err != nil {
			return fmt.Errorf("sqlite: finish job %s: %w", id, err)
		}
		if err := s.expectOne(ctx, tx, res, id); err != nil {
			return err
		}
		j, err = s.get(ctx, tx, id)
		return err
	})
	return j, err
}

// Delete implements jobs.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM corr2d_job WHERE id = ?`, id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: job %s: %w", id, jobs.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlite: delete job %s: %w", id, err)
		}
		if jobs.Status(status).Active() {
			return fmt.Errorf("sqlite: delete job %s: %w", id, jobs.ErrActive)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM corr2d_job WHERE id = ?`, id); err != nil {
			return fmt.Errorf("sqlite: delete job %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.reclaim(ctx)
}

// DeleteEnded implements jobs.Store.
func (s *Store) DeleteEnded(ctx context.Context, before time.Time, limit int) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM corr2d_job WHERE id IN (SELECT id FROM corr2d_job
		WHERE finished_at < ? AND status IN ('succeeded', 'failed', 'canceled') ORDER BY finished_at LIMIT ?)`,
		before.UnixNano(), limit)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete ended jobs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete ended jobs: %w", err)
	}
	if n > 0 {
		err = s.reclaim(ctx)
	}
	return int(n), err
}

// reclaim hands the pages that deletes freed back to the file system.
func (s *Store) reclaim(ctx context.Context) error {
	// The pragma frees pages as it is stepped: read it to the end.
	rows, err := s.db.QueryContext(ctx, `PRAGMA incremental_vacuum`)
	if err != nil {
		return fmt.Errorf("sqlite: reclaim space: %w", err)
	}
	for rows.Next() {
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite: reclaim space: %w", err)
	}
	return nil
}

// Losses implements jobs.Store.
func (s *Store) Losses(ctx context.Context, id string, afterStep, limit int) ([]jobs.LossPoint, error) {
	var one int
	err := s.read.QueryRowContext(ctx, `SELECT 1 FROM corr2d_job WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: job %s: %w", id, jobs.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: losses of %s: %w", id, err)
	}
	// Chunks are ordered by first step and never overlap, so the page
	// starts in the first chunk that ends after afterStep.
	rows, err := s.read.QueryContext(ctx, `SELECT first_step, last_step, data FROM corr2d_loss_chunk
		WHERE job_id = ? AND last_step > ? ORDER BY first_step`, id, afterStep)
	if err != nil {
		return nil, fmt.Errorf("sqlite: losses of %s: %w", id, err)
	}
	defer rows.Close()
	out, err := jobs.ScanLosses(rows, afterStep, limit)
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: losses of %s: %w", id, err)
	}
	return out, nil
}

// Count implements jobs.Store.
func (s *Store) Count(ctx context.Context) (map[jobs.Status]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT status, COUNT(*) FROM corr2d_job GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count jobs: %w", err)
	}
	defer rows.Close()
	out := make(map[jobs.Status]int, len(jobs.Statuses))
	for _, st := range jobs.Statuses {
		out[st] = 0
	}
	for rows.Next() {
		var (
			st string
			n  int
		)
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("sqlite: count jobs: %w", err)
		}
		out[jobs.Status(st)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: count jobs: %w", err)
	}
	return out, nil
}

// Renew implements jobs.Store.
func (s *Store) Renew(ctx context.Context, holder string, ttl time.Duration) ([]jobs.RunRef, error) {
	rows, err := s.db.QueryContext(ctx, `UPDATE corr2d_job SET lease_until = ?
		WHERE lease_holder = ? AND status = 'running' RETURNING id, run`, time.Now().Add(ttl).UnixNano(), holder)
	if err != nil {
		return nil, fmt.Errorf("sqlite: renew leases: %w", err)
	}
	return scanRuns(rows)
}

// Lapsed implements jobs.Store.
func (s *Store) Lapsed(ctx context.Context, claimed []jobs.RunRef) ([]jobs.RunRef, error) {
	refs, err := json.Marshal(claimed)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lapsed leases: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, run FROM corr2d_job
		WHERE status = 'running' AND (lease_until IS NULL OR lease_until <= ?)
		UNION SELECT j.id, j.run FROM corr2d_job j JOIN json_each(?) c
			ON j.id = c.value ->> 'ID' AND j.run = c.value ->> 'Run'
		WHERE j.status = 'queued'`, time.Now().UnixNano(), string(refs))
	if err != nil {
		return nil, fmt.Errorf("sqlite: lapsed leases: %w", err)
	}
	return scanRuns(rows)
}

func scanRuns(rows *sql.Rows) ([]jobs.RunRef, error) {
	defer rows.Close()
	var out []jobs.RunRef
	for rows.Next() {
		var r jobs.RunRef
		if err := rows.Scan(&r.ID, &r.Run); err != nil {
			return nil, fmt.Errorf("sqlite: leases: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: leases: %w", err)
	}
	return out, nil
}
