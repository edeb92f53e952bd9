package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
)

// specV2 is the spec as schema 2 stored it: jobs.Spec of that release
// through encoding/json, with the engine's enums as their numbers then.
type specV2 struct {
	Input      tensor.Dense `json:"input"`
	Target     tensor.Dense `json:"target"`
	Rank       int          `json:"rank"`
	KernelSize [2]int       `json:"kernel_size"`
	Conv       struct {
		Stride, Dilation [2]int
		Padding          int
		Pad              [4]int
		Border           int
		Fill             float64
		Groups           int
		Convolve         bool
		Method           int
	} `json:"conv"`
	Bias      bool            `json:"bias"`
	DType     train.DType     `json:"dtype"`
	LR        float64         `json:"lr"`
	Steps     int             `json:"steps"`
	Loss      train.Loss      `json:"loss"`
	Optimizer train.Optimizer `json:"optimizer"`
	Seed      *uint64         `json:"seed,omitempty"`
	Init      *tensor.Dense   `json:"init,omitempty"`
	InitBias  []float64       `json:"init_bias,omitempty"`
	Request   json.RawMessage `json:"request,omitempty"`
}

// The engine's enums in the order schema 2's numbers meant them, frozen
// here: the engine may reorder its constants.
var (
	paddingV2 = []engine.Padding{engine.PadExplicit, engine.PadValid, engine.PadSame, engine.PadFull}
	borderV2  = []engine.Border{engine.BorderZeros, engine.BorderReflect, engine.BorderReplicate, engine.BorderCircular, engine.BorderSymmetric}
	methodV2  = []engine.Method{engine.MethodAuto, engine.MethodDirect, engine.MethodFFT}
)

func pick[T any](table []T, i int, what string) (T, error) {
	if i < 0 || i >= len(table) {
		var zero T
		return zero, fmt.Errorf("%s %d is not a schema 2 value", what, i)
	}
	return table[i], nil
}

func (v specV2) spec() (jobs.Spec, error) {
	s := jobs.Spec{
		Input: v.Input, Target: v.Target, Rank: v.Rank, KernelSize: v.KernelSize,
		Conv: engine.Conv{Stride: v.Conv.Stride, Dilation: v.Conv.Dilation, Pad: v.Conv.Pad, Fill: v.Conv.Fill,
			Groups: v.Conv.Groups, Convolve: v.Conv.Convolve},
		Bias: v.Bias, DType: v.DType, LR: v.LR, Steps: v.Steps, Loss: v.Loss, Optimizer: v.Optimizer,
		Seed: v.Seed, Init: v.Init, InitBias: v.InitBias, Request: v.Request,
	}
	var err error
	if s.Conv.Padding, err = pick(paddingV2, v.Conv.Padding, "padding"); err != nil {
		return s, err
	}
	if s.Conv.Border, err = pick(borderV2, v.Conv.Border, "border"); err != nil {
		return s, err
	}
	s.Conv.Method, err = pick(methodV2, v.Conv.Method, "method")
	return s, err
}

// upgradeFrom converts schema 2 or 3 (JSON text columns, a row per loss;
// 3 added the run and lease columns) to the current schema in one
// transaction, then
// rebuilds the file so that it can shrink after deletes. A failure leaves
// the file as it was. Leases are not carried over: Open lets them lapse.
func (s *Store) upgradeFrom(ctx context.Context, version int) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if version == 2 {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE corr2d_job ADD COLUMN run INTEGER NOT NULL DEFAULT 0`); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `ALTER TABLE corr2d_job RENAME TO corr2d_job_v2;
			ALTER TABLE corr2d_loss RENAME TO corr2d_loss_v2;
			DROP INDEX corr2d_job_status;`+schema); err != nil {
			return err
		}
		ids, err := column[string](ctx, tx, `SELECT id FROM corr2d_job_v2 ORDER BY id`)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := convertV2(ctx, tx, id); err != nil {
				return fmt.Errorf("job %s: %w", id, err)
			}
		}
		_, err = tx.ExecContext(ctx, fmt.Sprintf(`DROP TABLE corr2d_loss_v2; DROP TABLE corr2d_job_v2;
			PRAGMA user_version = %d;`, schemaVersion))
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: upgrade schema %d to %d: %w", version, schemaVersion, err)
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL; VACUUM;`); err != nil {
		return fmt.Errorf("sqlite: upgrade schema %d to %d: vacuum: %w", version, schemaVersion, err)
	}
	return nil
}

// upgradeFrom45 brings schema 4 or 5 up to date in one transaction:
// from 4, it moves every job's input and target out of its row into
// corr2d_job_tensor (and then hands the freed pages back to the file
// system); from 5, it adds the pause columns.
func (s *Store) upgradeFrom45(ctx context.Context, version int) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if version == 4 {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE corr2d_job_tensor (
				job_id TEXT PRIMARY KEY REFERENCES corr2d_job (id) ON DELETE CASCADE,
				input  BLOB NOT NULL,
				target BLOB NOT NULL
			) STRICT;
			INSERT INTO corr2d_job_tensor (job_id, input, target) SELECT id, input, target FROM corr2d_job;
			ALTER TABLE corr2d_job DROP COLUMN input;
			ALTER TABLE corr2d_job DROP COLUMN target;`); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `ALTER TABLE corr2d_job ADD COLUMN paused_reason TEXT;
			ALTER TABLE corr2d_job ADD COLUMN paused_since INTEGER;`+fmt.Sprintf("PRAGMA user_version = %d;", schemaVersion))
		return err
	})
	if err == nil && version == 4 {
		err = s.reclaim(ctx)
	}
	if err != nil {
		return fmt.Errorf("sqlite: upgrade schema %d to %d: %w", version, schemaVersion, err)
	}
	return nil
}

func column[T any](ctx context.Context, tx *sql.Tx, q string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// convertV2 rewrites one schema 2 or 3 job and its losses in the current
// schema.
func convertV2(ctx context.Context, tx *sql.Tx, id string) error {
	var (
		j                           jobs.Job
		status, spec, weight, initW string
		bias, initBias, state       sql.NullString
		created                     int64
		started, finished           sql.NullInt64
		loss                        sql.NullFloat64
		v2                          specV2
	)
	if err := tx.QueryRowContext(ctx, `SELECT id, status, spec, created_at, started_at, finished_at, step, loss,
		weight, bias, init_weight, init_bias, opt_state, error, run FROM corr2d_job_v2 WHERE id = ?`, id).Scan(
		&j.ID, &status, &spec, &created, &started, &finished, &j.Step, &loss,
		&weight, &bias, &initW, &initBias, &state, &j.Error, &j.Run); err != nil {
		return err
	}
	for _, c := range []struct {
		src sql.NullString
		dst any
	}{
		{sql.NullString{String: spec, Valid: true}, &v2},
		{sql.NullString{String: weight, Valid: true}, &j.Weight},
		{bias, &j.Bias},
		{sql.NullString{String: initW, Valid: true}, &j.InitWeight},
		{initBias, &j.InitBias},
		{state, &j.State},
	} {
		if c.src.Valid {
			if err := json.Unmarshal([]byte(c.src.String), c.dst); err != nil {
				return err
			}
		}
	}
	var err error
	if j.Spec, err = v2.spec(); err != nil {
		return err
	}
	r, err := jobs.EncodeJob(j)
	if err != nil {
		return err
	}
	r.Status = status
	r.CreatedAt = time.Unix(0, created).UTC()
	r.StartedAt, r.FinishedAt = optTime(started), optTime(finished)
	if loss.Valid {
		r.Loss = &loss.Float64
	}
	if err := insert(ctx, tx, r); err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT step, loss FROM corr2d_loss_v2 WHERE job_id = ? ORDER BY step`, id)
	if err != nil {
		return err
	}
	var pts []jobs.LossPoint
	for rows.Next() {
		var p jobs.LossPoint
		if err := rows.Scan(&p.Step, &p.Loss); err != nil {
			_ = rows.Close()
			return err
		}
		pts = append(pts, p)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, ch := range jobs.LossChunks(pts) {
		if err := insertChunk(ctx, tx, id, ch); err != nil {
			return err
		}
	}
	return nil
}
