// Package jobs runs kernel-training jobs: it owns the job lifecycle and the
// checkpoints of the training loop, on top of a durable queue and a Store.
// The numerics live in package train.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
)

// Status is where a job is in its lifecycle.
type Status string

// The job statuses. Queued and running jobs are active; the rest are terminal.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusCanceled  Status = "canceled"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{StatusQueued, StatusRunning, StatusSucceeded, StatusFailed, StatusCanceled}

// Active reports whether a job in this status may still change.
func (s Status) Active() bool { return s == StatusQueued || s == StatusRunning }

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Spec is what a training job is asked to do. It is plain data, stored as
// JSON. Tensors are 4-D: the input N×C×H×W, the target N×O×Ho×Wo, the
// weights O×(C/groups)×kh×kw; the HTTP layer lifts lower ranks.
type Spec struct {
	Input  tensor.Dense `json:"input"`
	Target tensor.Dense `json:"target"`
	// Rank is the rank of the client's tensors (2, 3 or 4), so that answers
	// come in the same form.
	Rank       int             `json:"rank"`
	KernelSize [2]int          `json:"kernel_size"`
	Conv       engine.Conv     `json:"conv"`
	Bias       bool            `json:"bias"`
	DType      train.DType     `json:"dtype"`
	LR         float64         `json:"lr"`
	Steps      int             `json:"steps"`
	Loss       train.Loss      `json:"loss"`
	Optimizer  train.Optimizer `json:"optimizer"`
	// Seed selects PyTorch's default initialisation; nil when Init is given.
	Seed     *uint64       `json:"seed,omitempty"`
	Init     *tensor.Dense `json:"init,omitempty"`
	InitBias []float64     `json:"init_bias,omitempty"`
	// Request is the request as the client sent it, with defaults filled
	// in: what the API shows as the job's request.
	Request json.RawMessage `json:"request,omitempty"`
}

// Job is a training job as stored and reported.
type Job struct {
	ID string
	// Owner is the principal that submitted the job; empty on an open
	// server.
	Owner      string
	Status     Status
	Spec       Spec
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	// Step counts the updates applied so far; Weight and Bias are the
	// parameters after them, State the optimizer's buffers.
	Step       int
	Loss       *float64
	Weight     tensor.Dense
	Bias       []float64
	InitWeight tensor.Dense
	InitBias   []float64
	State      train.OptState
	Error      string
	// Run numbers the job's runs: a run that starts supersedes the ones
	// before it, whose checkpoints are then refused.
	Run int
	// Paused, when set, says why an active job waits. The runner that
	// paused the job holds it in memory, and records it in the store when
	// the store can write it, for every replica to show; Start, Save and
	// Finish clear it there.
	Paused *Pause
}

// Pause is why an active job waits: the store could not record its
// progress, its start or its end, and the queue runs it again later; or
// the job waits for the memory to run in.
type Pause struct {
	Reason string
	Since  time.Time
}

// LossPoint is the loss recorded at one step: the loss before that step's
// update, as d2l prints it.
type LossPoint struct {
	Step int     `json:"step"`
	Loss float64 `json:"loss"`
}

// Checkpoint is the progress a running job saves: the parameters and
// optimizer state after Step updates, and the losses recorded since the
// last checkpoint.
type Checkpoint struct {
	Step   int
	Weight tensor.Dense
	Bias   []float64
	State  train.OptState
	Losses []LossPoint
	// Run is the run that saves; the store refuses the checkpoint of a run
	// that has been superseded.
	Run int
}

// Lease is a replica's claim on a running job. The replica renews it while
// the job runs; once it lapses (the replica died or stopped), any replica
// starts the job's next run, which resumes from the last checkpoint.
type Lease struct {
	Holder string        // the replica
	Run    int           // the run it claims
	TTL    time.Duration // how long the claim holds without renewal
}

// RunRef names one run of a job.
type RunRef struct {
	ID  string
	Run int
}

// ListFilter selects a page of jobs, ordered by id (and so by creation time).
type ListFilter struct {
	Status Status // empty for all
	Owner  string // empty for every owner's
	After  string // exclusive id cursor; empty for the first page
	Limit  int
}

// Errors a Store returns, wrapped with context.
var (
	ErrNotFound  = errors.New("job not found")
	ErrNotActive = errors.New("job is not active")
	ErrActive    = errors.New("job is still active")
	ErrBusy      = errors.New("too many active jobs")
	ErrQuota     = errors.New("the owner has too many active jobs")
	ErrInvalid   = errors.New("invalid training request")
)

// Quota bounds the active (queued plus running) jobs that a new job joins;
// zero fields bound nothing.
type Quota struct {
	// MaxActive bounds all active jobs: ErrBusy beyond it. It guards the
	// queue against floods; the PostgreSQL store checks it without
	// serialising submissions, so submissions racing on several replicas
	// may pass it together.
	MaxActive int
	// MaxOwned bounds the new job's owner's active jobs: ErrQuota beyond
	// it. It holds exactly, however many submissions race.
	MaxOwned int
}

// TxCreator is a Store that can create a job and run more writes (the
// job's queue entry) in the same transaction. tx is the store's own
// transaction type, the one River's driver for its database takes. The
// quota q is checked in that transaction, before the job is inserted.
type TxCreator interface {
	CreateTx(ctx context.Context, j Job, q Quota, within func(ctx context.Context, tx any) error) error
}

// Store keeps jobs and their loss histories durably. Every implementation
// passes the contract suite in package jobstest.
type Store interface {
	// Create inserts a new job.
	Create(ctx context.Context, j Job) error
	// Get returns one job or ErrNotFound. Its spec's Input and Target have
	// their shapes but no data, as every job a Store returns: reading a
	// job costs little whatever its tensors, and Tensors returns those.
	Get(ctx context.Context, id string) (Job, error)
	// Tensors returns the input and target of a job, with their data, or
	// ErrNotFound.
	Tensors(ctx context.Context, id string) (input, target tensor.Dense, err error)
	// List returns a page of jobs in id order.
	List(ctx context.Context, f ListFilter) ([]Job, error)
	// Start moves a queued job to running under lease l, as run l.Run
	// (keeping StartedAt if it was already running, as on resume), and
	// returns it; ErrNotActive if it has ended or a later run has started.
	Start(ctx context.Context, id string, l Lease, at time.Time) (Job, error)
	// Save records a checkpoint of a running job atomically; ErrNotActive if
	// the job is no longer running or c.Run has been superseded.
	Save(ctx context.Context, id string, c Checkpoint) error
	// Renew extends by ttl the leases that holder has on running jobs, and
	// returns those jobs with their runs. A ttl of zero lets them lapse now.
	Renew(ctx context.Context, holder string, ttl time.Duration) ([]RunRef, error)
	// Lapsed returns the running jobs whose lease has lapsed, or that have
	// none, with their current run; and of the claimed runs (runs that the
	// queue handed to a replica a while ago), those whose job is still
	// queued at that run: the replica died before it started them.
	Lapsed(ctx context.Context, claimed []RunRef) ([]RunRef, error)
	// SetPause records why an active job waits, or with nil that it no
	// longer does; ErrNotActive if the job has ended. Start, Save and Finish
	// clear it too.
	SetPause(ctx context.Context, id string, p *Pause) error
	// Finish moves an active job to a terminal status, recording errMsg for
	// failures; ErrNotActive if it had already ended.
	Finish(ctx context.Context, id string, status Status, errMsg string, at time.Time) (Job, error)
	// Delete removes an ended job and its losses; ErrActive if it has not ended.
	Delete(ctx context.Context, id string) error
	// DeleteEnded removes up to limit ended jobs that finished before the
	// given time, with their losses, reclaims the space where the store can,
	// and returns how many it removed.
	DeleteEnded(ctx context.Context, before time.Time, limit int) (int, error)
	// Losses returns up to limit recorded losses with step > afterStep.
	Losses(ctx context.Context, id string, afterStep, limit int) ([]LossPoint, error)
	// Count returns the number of jobs in each status.
	Count(ctx context.Context) (map[Status]int, error)
	// Ping checks that the store can be reached.
	Ping(ctx context.Context) error
}
