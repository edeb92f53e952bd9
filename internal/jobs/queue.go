package jobs

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// queue is the part of River's client the runner uses; it does not depend
// on the driver's transaction type.
type queue interface {
	Start(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobCancel(ctx context.Context, jobID int64) (*rivertype.JobRow, error)
	// InsertInTx inserts on a transaction of the store's database, so that
	// the queue entry commits with the store's writes or not at all.
	InsertInTx(ctx context.Context, tx any, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// txQueue is a River client whose InsertTx takes the store's transaction.
type txQueue[TTx any] struct{ *river.Client[TTx] }

func (q txQueue[TTx]) InsertInTx(ctx context.Context, tx any, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	t, ok := tx.(TTx)
	if !ok {
		return nil, fmt.Errorf("jobs: a %T is not a transaction of the queue's database", tx)
	}
	return q.InsertTx(ctx, t, args, opts)
}

// queueLock is the advisory lock key under which PostgreSQL replicas
// migrate River's tables, so that replicas started together do it once.
const queueLock = 0x7269766572 // "river"

// newQueue migrates River's tables in db, the store's database (a *sql.DB
// of SQLite or a *pgxpool.Pool of PostgreSQL), and builds a client on it.
// This is the one place that knows how the queue is kept.
func newQueue(ctx context.Context, db any, cfg *river.Config) (queue, error) {
	switch db := db.(type) {
	case *sql.DB:
		driver := riversqlite.New(db)
		migrator, err := rivermigrate.New(driver, nil)
		if err != nil {
			return nil, fmt.Errorf("jobs: river migrator: %w", err)
		}
		if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return nil, fmt.Errorf("jobs: migrate river: %w", err)
		}
		c, err := river.NewClient(driver, cfg)
		return txQueue[*sql.Tx]{c}, err
	case *pgxpool.Pool:
		driver := riverpgxv5.New(db)
		migrator, err := rivermigrate.New(driver, nil)
		if err != nil {
			return nil, fmt.Errorf("jobs: river migrator: %w", err)
		}
		if err := migrateLocked(ctx, db, migrator); err != nil {
			return nil, fmt.Errorf("jobs: migrate river: %w", err)
		}
		c, err := river.NewClient(driver, cfg)
		return txQueue[pgx.Tx]{c}, err
	default:
		return nil, fmt.Errorf("jobs: no queue driver for a database of type %T", db)
	}
}

// migrateLocked runs River's migrations while holding a session advisory
// lock on a connection of its own, so that of several replicas starting
// together one migrates and the others wait, then find nothing to do.
func migrateLocked(ctx context.Context, db *pgxpool.Pool, migrator *rivermigrate.Migrator[pgx.Tx]) error {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(queueLock)); err != nil {
		return err
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(queueLock))
	}()
	_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	return err
}
