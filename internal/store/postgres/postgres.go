// Package postgres is the shared job store: jobs and their loss histories
// in a PostgreSQL database that any number of server replicas use at once,
// beside River's queue tables in the same database.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/tensor"
)

// Store implements jobs.Store on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
}

// migrations are our schema's versions, in order: migrations[i] takes the
// schema from version i to i+1. Released versions are never edited; a
// change is a new entry.
var migrations = []string{
	// 1: jobs as jobs.Record's columns (binary tensors, the versioned spec
	// document), each running job's lease (expiry on the server's clock),
	// and loss histories in binary chunks.
	`CREATE TABLE corr2d_job (
		id           text PRIMARY KEY,
		owner        text NOT NULL DEFAULT '',
		status       text NOT NULL,
		spec         bytea NOT NULL,
		input        bytea NOT NULL,
		target       bytea NOT NULL,
		created_at   bigint NOT NULL,
		started_at   bigint,
		finished_at  bigint,
		step         integer NOT NULL DEFAULT 0,
		loss         double precision,
		weight       bytea NOT NULL,
		bias         bytea,
		init_weight  bytea NOT NULL,
		init_bias    bytea,
		opt_state    bytea,
		error        text NOT NULL DEFAULT '',
		run          integer NOT NULL DEFAULT 0,
		lease_holder text,
		lease_until  timestamptz
	);
	CREATE INDEX corr2d_job_status ON corr2d_job (status, id);
	CREATE INDEX corr2d_job_owner ON corr2d_job (owner, id);
	CREATE INDEX corr2d_job_finished ON corr2d_job (finished_at) WHERE finished_at IS NOT NULL;
	CREATE TABLE corr2d_loss_chunk (
		job_id     text NOT NULL REFERENCES corr2d_job (id) ON DELETE CASCADE,
		first_step integer NOT NULL,
		last_step  integer NOT NULL,
		data       bytea NOT NULL,
		PRIMARY KEY (job_id, first_step)
	);`,
	// 2: why an active job waits, for every replica to show.
	`ALTER TABLE corr2d_job ADD COLUMN paused_reason text, ADD COLUMN paused_since bigint;`,
}

// migrateLock is the advisory lock key under which replicas migrate, so
// that replicas started together migrate one after the other.
const migrateLock = 0x636f72723264 // "corr2d"

// defaultMaxConns is the pool's size unless the URL sets pool_max_conns.
const defaultMaxConns = 16

// Open connects to the database at url and brings our schema up to date.
// Replicas may call it at the same time: one migrates while the others
// wait, then find nothing left to do.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: database url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default, four connections on a small machine, is too few
		// for a pool that River shares: its notification listener holds
		// one, and running jobs' checkpoints, River's fetches and the
		// requests' reads would queue for the rest.
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Version is the schema version this code writes.
func Version() int { return len(migrations) }

func (s *Store) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
			return fmt.Errorf("postgres: migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS corr2d_schema (version integer NOT NULL)`); err != nil {
			return fmt.Errorf("postgres: schema table: %w", err)
		}
		var version int
		err := tx.QueryRow(ctx, `SELECT version FROM corr2d_schema`).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			_, err = tx.Exec(ctx, `INSERT INTO corr2d_schema (version) VALUES (0)`)
		}
		if err != nil {
			return fmt.Errorf("postgres: schema version: %w", err)
		}
		if version > len(migrations) {
			return fmt.Errorf("postgres: the database holds schema version %d, newer than this server's %d; upgrade the server",
				version, len(migrations))
		}
		for v := version; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("postgres: migrate to version %d: %w", v+1, err)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE corr2d_schema SET version = $1`, len(migrations)); err != nil {
			return fmt.Errorf("postgres: schema version: %w", err)
		}
		return nil
	})
}

// Pool is the connection pool, which River's queue shares.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping implements jobs.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Create implements jobs.Store.
func (s *Store) Create(ctx context.Context, j jobs.Job) error {
	return s.CreateTx(ctx, j, jobs.Quota{}, func(context.Context, any) error { return nil })
}

// CreateTx implements jobs.TxCreator: within gets the pgx.Tx.
func (s *Store) CreateTx(ctx context.Context, j jobs.Job, q jobs.Quota, within func(ctx context.Context, tx any) error) error {
	r, err := jobs.EncodeJob(j)
	if err != nil {
		return fmt.Errorf("postgres: create job %s: %w", j.ID, err)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := checkQuota(ctx, tx, j.Owner, q); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO corr2d_job (id, owner, status, spec, input, target, created_at,
		started_at, finished_at, step, loss, weight, bias, init_weight, init_bias, opt_state, error, run)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			r.ID, r.Owner, r.Status, r.Spec, r.Input, r.Target, r.CreatedAt.UnixNano(), nanos(r.StartedAt), nanos(r.FinishedAt),
			r.Step, r.Loss, r.Weight, r.Bias, r.InitWeight, r.InitBias, r.OptState, r.Error, r.Run)
		if err != nil {
			return fmt.Errorf("postgres: create job %s: %w", j.ID, err)
		}
		return within(ctx, tx)
	})
}

// ownerLock is the first key of the advisory locks that serialise one
// owner's submissions (the second is a hash of the owner).
const ownerLock = 0x6a6f6273 // "jobs"

// checkQuota refuses a job of owner that q does not let in. The owner's
// count is taken under a transaction lock of that owner, so that racing
// submissions, on any replica, count one after the other; the count of
// all active jobs is not, to keep submissions of different owners apart.
func checkQuota(ctx context.Context, tx pgx.Tx, owner string, q jobs.Quota) error {
	if q.MaxActive > 0 {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM corr2d_job WHERE status IN ('queued', 'running')`).Scan(&n); err != nil {
			return fmt.Errorf("postgres: count active jobs: %w", err)
		}
		if n >= q.MaxActive {
			return fmt.Errorf("postgres: %d active: %w", n, jobs.ErrBusy)
		}
	}
	if q.MaxOwned > 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(ownerLock), owner); err != nil {
			return fmt.Errorf("postgres: owner lock: %w", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM corr2d_job WHERE status IN ('queued', 'running') AND owner = $1`,
			owner).Scan(&n); err != nil {
			return fmt.Errorf("postgres: count active jobs: %w", err)
		}
		if n >= q.MaxOwned {
			return fmt.Errorf("postgres: %d active: %w", n, jobs.ErrQuota)
		}
	}
	return nil
}

func nanos(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	n := t.UnixNano()
	return &n
}

// jobColumns are a job's columns in jobs.Record's order, without the
// input and target (see Tensors).
const jobColumns = `id, owner, status, spec, created_at, started_at, finished_at, step, loss, weight, bias, init_weight, init_bias, opt_state, error, run,
	paused_reason, paused_since`

func scanJob(row pgx.Row) (jobs.Job, error) {
	var (
		r                        jobs.Record
		created                  int64
		started, finished, since *int64
		reason                   *string
	)
	if err := row.Scan(&r.ID, &r.Owner, &r.Status, &r.Spec, &created, &started, &finished,
		&r.Step, &r.Loss, &r.Weight, &r.Bias, &r.InitWeight, &r.InitBias, &r.OptState, &r.Error, &r.Run,
		&reason, &since); err != nil {
		return jobs.Job{}, err
	}
	r.CreatedAt = time.Unix(0, created).UTC()
	r.StartedAt = optTime(started)
	r.FinishedAt = optTime(finished)
	if reason != nil {
		r.PausedReason, r.PausedSince = *reason, optTime(since)
	}
	return r.Job()
}

func optTime(ns *int64) *time.Time {
	if ns == nil {
		return nil
	}
	v := time.Unix(0, *ns).UTC()
	return &v
}

// Get implements jobs.Store.
func (s *Store) Get(ctx context.Context, id string) (jobs.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM corr2d_job WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return jobs.Job{}, fmt.Errorf("postgres: job %s: %w", id, jobs.ErrNotFound)
	}
	if err != nil {
		return jobs.Job{}, fmt.Errorf("postgres: get job %s: %w", id, err)
	}
	return j, nil
}

// Tensors implements jobs.Store.
func (s *Store) Tensors(ctx context.Context, id string) (input, target tensor.Dense, err error) {
	rows, err := s.pool.Query(ctx, `SELECT input, target FROM corr2d_job WHERE id = $1`, id)
	if err != nil {
		return input, target, fmt.Errorf("postgres: tensors of %s: %w", id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return input, target, fmt.Errorf("postgres: tensors of %s: %w", id, err)
		}
		return input, target, fmt.Errorf("postgres: job %s: %w", id, jobs.ErrNotFound)
	}
	// Binary bytea values are the stored bytes as they are: decoded in the
	// connection's buffer, not copied first.
	raw := rows.RawValues()
	for _, f := range rows.FieldDescriptions() {
		if f.Format != pgx.BinaryFormatCode {
			raw = make([][]byte, 2)
			if err := rows.Scan(&raw[0], &raw[1]); err != nil {
				return input, target, fmt.Errorf("postgres: tensors of %s: %w", id, err)
			}
			break
		}
	}
	if input, target, err = jobs.DecodeTensors(raw[0], raw[1]); err != nil {
		return input, target, fmt.Errorf("postgres: tensors of %s: %w", id, err)
	}
	return input, target, nil
}

// List implements jobs.Store.
func (s *Store) List(ctx context.Context, f jobs.ListFilter) ([]jobs.Job, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+jobColumns+` FROM corr2d_job
		WHERE ($1 = '' OR status = $1) AND ($4 = '' OR owner = $4) AND id > $2 ORDER BY id LIMIT $3`,
		string(f.Status), f.After, f.Limit, f.Owner)
	if err != nil {
		return nil, fmt.Errorf("postgres: list jobs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (jobs.Job, error) { return scanJob(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list jobs: %w", err)
	}
	return out, nil
}

// update runs an UPDATE … RETURNING the job's columns on the job id, and
// turns a miss into ErrNotFound or ErrNotActive, whichever explains it.
func (s *Store) update(ctx context.Context, id, verb, sql string, args ...any) (jobs.Job, error) {
	j, err := scanJob(s.pool.QueryRow(ctx, sql+` RETURNING `+jobColumns, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return jobs.Job{}, s.miss(ctx, id)
	}
	if err != nil {
		return jobs.Job{}, fmt.Errorf("postgres: %s job %s: %w", verb, id, err)
	}
	return j, nil
}

// miss explains why a statement on job id touched no row.
func (s *Store) miss(ctx context.Context, id string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM corr2d_job WHERE id = $1)`, id).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: job %s: %w", id, err)
	}
	if !exists {
		return fmt.Errorf("postgres: job %s: %w", id, jobs.ErrNotFound)
	}
	return fmt.Errorf("postgres: job %s: %w", id, jobs.ErrNotActive)
}

// Start implements jobs.Store.
func (s *Store) Start(ctx context.Context, id string, l jobs.Lease, at time.Time) (jobs.Job, error) {
	return s.update(ctx, id, "start", `UPDATE corr2d_job SET status = 'running', started_at = COALESCE(started_at, $2),
		run = $3, lease_holder = $4, lease_until = clock_timestamp() + $5 * interval '1 microsecond',
		paused_reason = NULL, paused_since = NULL
		WHERE id = $1 AND status IN ('queued', 'running') AND run <= $3`,
		id, at.UnixNano(), l.Run, l.Holder, l.TTL.Microseconds())
}

// Save implements jobs.Store.
func (s *Store) Save(ctx context.Context, id string, c jobs.Checkpoint) error {
	r := jobs.EncodeCheckpoint(c)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE corr2d_job SET step = $2, weight = $3, bias = $4, opt_state = $5,
			loss = COALESCE($6, loss), paused_reason = NULL, paused_since = NULL WHERE id = $1 AND status = 'running' AND run = $7`,
			id, r.Step, r.Weight, r.Bias, r.OptState, r.Loss, c.Run)
		if err != nil {
			return fmt.Errorf("postgres: save job %s: %w", id, err)
		}
		if tag.RowsAffected() != 1 {
			return s.miss(ctx, id)
		}
		if len(r.Chunks) == 0 {
			return nil
		}
		if err := cutLosses(ctx, tx, id, r.Chunks[0].First); err != nil {
			return fmt.Errorf("postgres: save losses of %s: %w", id, err)
		}
		var batch pgx.Batch
		for _, ch := range r.Chunks {
			batch.Queue(`INSERT INTO corr2d_loss_chunk (job_id, first_step, last_step, data) VALUES ($1, $2, $3, $4)`,
				id, ch.First, ch.Last, ch.Data)
		}
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return fmt.Errorf("postgres: save losses of %s: %w", id, err)
		}
		return nil
	})
}

// cutLosses removes the recorded losses from step on: a resumed job
// records them again.
func cutLosses(ctx context.Context, tx pgx.Tx, id string, step int) error {
	var ch jobs.LossChunk
	err := tx.QueryRow(ctx, `SELECT first_step, last_step, data FROM corr2d_loss_chunk
		WHERE job_id = $1 AND first_step < $2 AND last_step >= $2`, id, step).Scan(&ch.First, &ch.Last, &ch.Data)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	default:
		kept, _, err := ch.Truncate(step)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE corr2d_loss_chunk SET last_step = $1, data = $2 WHERE job_id = $3 AND first_step = $4`,
			kept.Last, kept.Data, id, ch.First); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `DELETE FROM corr2d_loss_chunk WHERE job_id = $1 AND first_step >= $2`, id, step)
	return err
}

// Finish implements jobs.Store.
func (s *Store) Finish(ctx context.Context, id string, status jobs.Status, errMsg string, at time.Time) (jobs.Job, error) {
	if status.Active() {
		return jobs.Job{}, fmt.Errorf("postgres: finish job %s as %s: not a terminal status", id, status)
	}
	return s.update(ctx, id, "finish", `UPDATE corr2d_job SET status = $2, error = $3, finished_at = $4,
		paused_reason = NULL, paused_since = NULL
		WHERE id = $1 AND status IN ('queued', 'running')`, id, string(status), errMsg, at.UnixNano())
}

// SetPause implements jobs.Store.
func (s *Store) SetPause(ctx context.Context, id string, p *jobs.Pause) error {
	reason, since := jobs.PauseColumns(p)
	tag, err := s.pool.Exec(ctx, `UPDATE corr2d_job SET paused_reason = $2, paused_since = $3
		WHERE id = $1 AND status IN ('queued', 'running')`, id, reason, since)
	if err != nil {
		return fmt.Errorf("postgres: pause job %s: %w", id, err)
	}
	if tag.RowsAffected() != 1 {
		return s.miss(ctx, id)
	}
	return nil
}

// Delete implements jobs.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM corr2d_job WHERE id = $1 AND status NOT IN ('queued', 'running')`, id)
	if err != nil {
		return fmt.Errorf("postgres: delete job %s: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	err = s.miss(ctx, id)
	if errors.Is(err, jobs.ErrNotActive) {
		return fmt.Errorf("postgres: delete job %s: %w", id, jobs.ErrActive)
	}
	return err
}

// DeleteEnded implements jobs.Store. PostgreSQL's autovacuum reuses the
// space.
func (s *Store) DeleteEnded(ctx context.Context, before time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM corr2d_job WHERE id IN (SELECT id FROM corr2d_job
		WHERE finished_at < $1 AND status IN ('succeeded', 'failed', 'canceled') ORDER BY finished_at LIMIT $2)`,
		before.UnixNano(), limit)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete ended jobs: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Losses implements jobs.Store.
func (s *Store) Losses(ctx context.Context, id string, afterStep, limit int) ([]jobs.LossPoint, error) {
	// Chunks are ordered by first step and never overlap, so the page
	// starts in the first chunk that ends after afterStep; reading stops
	// once the page is full.
	rows, err := s.pool.Query(ctx, `SELECT first_step, last_step, data FROM corr2d_loss_chunk
		WHERE job_id = $1 AND last_step > $2 ORDER BY first_step`, id, afterStep)
	if err != nil {
		return nil, fmt.Errorf("postgres: losses of %s: %w", id, err)
	}
	out, err := jobs.ScanLosses(rows, afterStep, limit)
	rows.Close()
	if err == nil {
		err = rows.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: losses of %s: %w", id, err)
	}
	if len(out) == 0 {
		// No losses yet, or no such job: only the second is an error.
		if err := s.miss(ctx, id); errors.Is(err, jobs.ErrNotFound) {
			return nil, err
		}
	}
	return out, nil
}

// Count implements jobs.Store.
func (s *Store) Count(ctx context.Context) (map[jobs.Status]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM corr2d_job GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("postgres: count jobs: %w", err)
	}
	out := make(map[jobs.Status]int, len(jobs.Statuses))
	for _, st := range jobs.Statuses {
		out[st] = 0
	}
	var (
		st string
		n  int
	)
	if _, err := pgx.ForEachRow(rows, []any{&st, &n}, func() error {
		out[jobs.Status(st)] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("postgres: count jobs: %w", err)
	}
	return out, nil
}

// Renew implements jobs.Store.
func (s *Store) Renew(ctx context.Context, holder string, ttl time.Duration) ([]jobs.RunRef, error) {
	rows, err := s.pool.Query(ctx, `UPDATE corr2d_job SET lease_until = clock_timestamp() + $2 * interval '1 microsecond'
		WHERE lease_holder = $1 AND status = 'running' RETURNING id, run`, holder, ttl.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("postgres: renew leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[jobs.RunRef])
	if err != nil {
		return nil, fmt.Errorf("postgres: renew leases: %w", err)
	}
	return out, nil
}

// Lapsed implements jobs.Store.
func (s *Store) Lapsed(ctx context.Context, claimed []jobs.RunRef) ([]jobs.RunRef, error) {
	ids := make([]string, len(claimed))
	runs := make([]int32, len(claimed))
	for i, c := range claimed {
		ids[i], runs[i] = c.ID, int32(c.Run)
	}
	rows, err := s.pool.Query(ctx, `SELECT id, run FROM corr2d_job
		WHERE status = 'running' AND (lease_until IS NULL OR lease_until <= clock_timestamp())
		UNION SELECT j.id, j.run FROM corr2d_job j JOIN unnest($1::text[], $2::integer[]) AS c (id, run)
			ON j.id = c.id AND j.run = c.run
		WHERE j.status = 'queued'`, ids, runs)
	if err != nil {
		return nil, fmt.Errorf("postgres: lapsed leases: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[jobs.RunRef])
	if err != nil {
		return nil, fmt.Errorf("postgres: lapsed leases: %w", err)
	}
	return out, nil
}
