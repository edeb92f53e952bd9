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
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" database/sql driver

	"github.com/corr2d/corr2d/internal/jobs"
)

// Store implements jobs.Store on SQLite.
type Store struct {
	db   *sql.DB
	lock *flock.Flock
}

// schemaVersion is stored in SQLite's user_version. Version 1 was a
// development schema that was never released; its files are refused.
// upgrades[v] takes a file from version v to v+1.
const schemaVersion = 3

var upgrades = map[int]string{
	// 3: each running job's lease (holder and expiry) and run number.
	2: `ALTER TABLE corr2d_job ADD COLUMN run INTEGER NOT NULL DEFAULT 0;
		ALTER TABLE corr2d_job ADD COLUMN lease_holder TEXT;
		ALTER TABLE corr2d_job ADD COLUMN lease_until INTEGER;`,
}

// schema holds our own tables. River's tables are created by its migrator.
const schema = `
CREATE TABLE IF NOT EXISTS corr2d_job (
	id          TEXT PRIMARY KEY,
	status      TEXT NOT NULL,
	spec        TEXT NOT NULL,
	created_at  INTEGER NOT NULL,
	started_at  INTEGER,
	finished_at INTEGER,
	step        INTEGER NOT NULL DEFAULT 0,
	loss        REAL,
	weight      TEXT NOT NULL,
	bias        TEXT,
	init_weight TEXT NOT NULL,
	init_bias   TEXT,
	opt_state   TEXT,
	error       TEXT NOT NULL DEFAULT '',
	run          INTEGER NOT NULL DEFAULT 0,
	lease_holder TEXT,
	lease_until  INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS corr2d_job_status ON corr2d_job (status, id);
CREATE TABLE IF NOT EXISTS corr2d_loss (
	job_id TEXT NOT NULL REFERENCES corr2d_job (id) ON DELETE CASCADE,
	step   INTEGER NOT NULL,
	loss   REAL NOT NULL,
	PRIMARY KEY (job_id, step)
) STRICT, WITHOUT ROWID;
`

// Open opens (creating if needed) the store in dir, migrates our tables,
// and lets the leases of jobs that a crashed process left running lapse so
// that they resume at once. It holds an exclusive lock on dir until Close,
// which is what makes that safe: no other process can be working them.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create data dir: %w", err)
	}
	lock := flock.New(filepath.Join(dir, "corr2d.lock"))
	locked, err := lock.TryLock()
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock data dir: %w", err)
	}
	if !locked {
		return nil, fmt.Errorf("sqlite: data dir %s is in use by another process", dir)
	}
	s, err := open(ctx, filepath.Join(dir, "corr2d.db"))
	if err != nil {
		_ = lock.Unlock()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

func open(ctx context.Context, path string) (*Store, error) {
	// WAL lets readers run beside the writer; synchronous=FULL makes every
	// commit survive a power cut, not only a killed process; the busy timeout
	// absorbs the short waits between River's connection and ours.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
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
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
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
	case tables == 0:
		if _, err := s.db.ExecContext(ctx, schema+fmt.Sprintf("PRAGMA user_version = %d;", schemaVersion)); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
	case version < 2 || version > schemaVersion:
		return fmt.Errorf("sqlite: the data dir holds schema version %d, this server reads 2 to %d; move it aside", version, schemaVersion)
	}
	for ; tables > 0 && version < schemaVersion; version++ {
		if _, err := s.db.ExecContext(ctx, upgrades[version]+fmt.Sprintf("PRAGMA user_version = %d;", version+1)); err != nil {
			return fmt.Errorf("sqlite: migrate to version %d: %w", version+1, err)
		}
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
	err := s.db.Close()
	if s.lock != nil {
		err = errors.Join(err, s.lock.Unlock())
	}
	return err
}

// Ping implements jobs.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Create implements jobs.Store.
func (s *Store) Create(ctx context.Context, j jobs.Job) error {
	spec, err := json.Marshal(j.Spec)
	if err != nil {
		return fmt.Errorf("sqlite: encode spec: %w", err)
	}
	cols, err := encodeAll(j.Weight, j.Bias, j.InitWeight, j.InitBias)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO corr2d_job
		(id, status, spec, created_at, step, weight, bias, init_weight, init_bias) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		j.ID, string(j.Status), string(spec), j.CreatedAt.UnixNano(), j.Step, cols[0], cols[1], cols[2], cols[3])
	if err != nil {
		return fmt.Errorf("sqlite: create job %s: %w", j.ID, err)
	}
	return nil
}

const jobColumns = `id, status, spec, created_at, started_at, finished_at, step, loss, weight, bias, init_weight, init_bias, opt_state, error, run`

type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (jobs.Job, error) {
	var (
		j                           jobs.Job
		status, spec, weight, initW string
		bias, initBias, state       sql.NullString
		created                     int64
		started, finished           sql.NullInt64
		loss                        sql.NullFloat64
	)
	if err := row.Scan(&j.ID, &status, &spec, &created, &started, &finished, &j.Step, &loss,
		&weight, &bias, &initW, &initBias, &state, &j.Error, &j.Run); err != nil {
		return jobs.Job{}, err
	}
	j.Status = jobs.Status(status)
	j.CreatedAt = time.Unix(0, created).UTC()
	j.StartedAt = optTime(started)
	j.FinishedAt = optTime(finished)
	if loss.Valid {
		j.Loss = &loss.Float64
	}
	for _, c := range []struct {
		name string
		src  sql.NullString
		dst  any
	}{
		{"spec", sql.NullString{String: spec, Valid: true}, &j.Spec},
		{"weight", sql.NullString{String: weight, Valid: true}, &j.Weight},
		{"bias", bias, &j.Bias},
		{"init weight", sql.NullString{String: initW, Valid: true}, &j.InitWeight},
		{"init bias", initBias, &j.InitBias},
		{"optimizer state", state, &j.State},
	} {
		if !c.src.Valid {
			continue
		}
		if err := json.Unmarshal([]byte(c.src.String), c.dst); err != nil {
			return jobs.Job{}, fmt.Errorf("decode %s: %w", c.name, err)
		}
	}
	return j, nil
}

func optTime(t sql.NullInt64) *time.Time {
	if !t.Valid {
		return nil
	}
	v := time.Unix(0, t.Int64).UTC()
	return &v
}

// encodeAll encodes values as JSON columns; a nil slice is SQL NULL.
func encodeAll(values ...any) ([]sql.NullString, error) {
	out := make([]sql.NullString, len(values))
	for i, v := range values {
		if b, ok := v.([]float64); ok && b == nil {
			continue
		}
		enc, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("sqlite: encode column: %w", err)
		}
		out[i] = sql.NullString{String: string(enc), Valid: true}
	}
	return out, nil
}

// Get implements jobs.Store.
func (s *Store) Get(ctx context.Context, id string) (jobs.Job, error) {
	return s.get(ctx, s.db, id)
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
	rows, err := s.db.QueryContext(ctx, q, args...)
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
			started_at = COALESCE(started_at, ?), run = ?, lease_holder = ?, lease_until = ?
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
	if _, err := s.get(ctx, tx, id); err != nil {
		return err
	}
	return fmt.Errorf("sqlite: job %s: %w", id, jobs.ErrNotActive)
}

// Save implements jobs.Store.
func (s *Store) Save(ctx context.Context, id string, c jobs.Checkpoint) error {
	cols, err := encodeAll(c.Weight, c.Bias, c.State)
	if err != nil {
		return err
	}
	state := cols[2]
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var loss sql.NullFloat64
		if n := len(c.Losses); n > 0 {
			loss = sql.NullFloat64{Float64: c.Losses[n-1].Loss, Valid: true}
		}
		res, err := tx.ExecContext(ctx, `UPDATE corr2d_job SET step = ?, weight = ?, bias = ?, opt_state = ?,
			loss = COALESCE(?, loss) WHERE id = ? AND status = 'running' AND run = ?`, c.Step, cols[0], cols[1], state, loss, id, c.Run)
		if err != nil {
			return fmt.Errorf("sqlite: save job %s: %w", id, err)
		}
		if err := s.expectOne(ctx, tx, res, id); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO corr2d_loss (job_id, step, loss) VALUES (?, ?, ?)
			ON CONFLICT (job_id, step) DO UPDATE SET loss = excluded.loss`)
		if err != nil {
			return fmt.Errorf("sqlite: save losses of %s: %w", id, err)
		}
		defer stmt.Close()
		for _, p := range c.Losses {
			if _, err := stmt.ExecContext(ctx, id, p.Step, p.Loss); err != nil {
				return fmt.Errorf("sqlite: save loss %d of %s: %w", p.Step, id, err)
			}
		}
		return nil
	})
}

// Finish implements jobs.Store.
func (s *Store) Finish(ctx context.Context, id string, status jobs.Status, errMsg string, at time.Time) (jobs.Job, error) {
	if status.Active() {
		return jobs.Job{}, fmt.Errorf("sqlite: finish job %s as %s: not a terminal status", id, status)
	}
	var j jobs.Job
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE corr2d_job SET status = ?, error = ?, finished_at = ?
			WHERE id = ? AND status IN ('queued', 'running')`, string(status), errMsg, at.UnixNano(), id)
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
	return s.inTx(ctx, func(tx *sql.Tx) error {
		j, err := s.get(ctx, tx, id)
		if err != nil {
			return err
		}
		if j.Status.Active() {
			return fmt.Errorf("sqlite: delete job %s: %w", id, jobs.ErrActive)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM corr2d_job WHERE id = ?`, id); err != nil {
			return fmt.Errorf("sqlite: delete job %s: %w", id, err)
		}
		return nil
	})
}

// Losses implements jobs.Store.
func (s *Store) Losses(ctx context.Context, id string, afterStep, limit int) ([]jobs.LossPoint, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT step, loss FROM corr2d_loss
		WHERE job_id = ? AND step > ? ORDER BY step LIMIT ?`, id, afterStep, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: losses of %s: %w", id, err)
	}
	defer rows.Close()
	out := []jobs.LossPoint{}
	for rows.Next() {
		var p jobs.LossPoint
		if err := rows.Scan(&p.Step, &p.Loss); err != nil {
			return nil, fmt.Errorf("sqlite: losses of %s: %w", id, err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: losses of %s: %w", id, err)
	}
	return out, nil
}

// Count implements jobs.Store.
func (s *Store) Count(ctx context.Context) (map[jobs.Status]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM corr2d_job GROUP BY status`)
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
func (s *Store) Lapsed(ctx context.Context) ([]jobs.RunRef, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, run FROM corr2d_job
		WHERE status = 'running' AND (lease_until IS NULL OR lease_until <= ?)`, time.Now().UnixNano())
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
