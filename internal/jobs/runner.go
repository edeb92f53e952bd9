package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/riverqueue/river/rivertype"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"

	"github.com/corr2d/corr2d/internal/admit"
	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
)

// Config tunes a Runner. Zero fields take the defaults named on each.
type Config struct {
	// Concurrency is how many jobs run at once in this process (default 2).
	Concurrency int
	// MaxActive bounds queued plus running jobs; Submit beyond it fails with
	// ErrBusy (default 1000).
	MaxActive int
	// JobTimeout bounds one run of a job (default 1h). A job that hits it fails.
	JobTimeout time.Duration
	// CheckpointEvery is how often a running job saves its progress
	// (default 100ms); every step is saved when steps are slower than that.
	CheckpointEvery time.Duration
	// LossGrace is how long a finished job's loss series stays exported
	// (default 5m).
	LossGrace time.Duration
	// MaxLossSeries caps the corr2d_job_loss series exported at once
	// (default 1000).
	MaxLossSeries int
	// FailoverAfter is how long a running job's lease holds without renewal
	// (default 15s): a replica that dies mid-job has its jobs resumed by
	// another within about 1.25 times this.
	FailoverAfter time.Duration
	// Replica names this process as the holder of its jobs' leases
	// (default: a fresh unique id).
	Replica string
	// Retention, when positive, is how long ended jobs are kept: older ones
	// are deleted with their losses. Zero keeps every job.
	Retention time.Duration
	// StepSlots is how many training steps, of all jobs, run at once
	// (default GOMAXPROCS-1, at least 1). Keeping a processor out of
	// training keeps requests fast: while every processor has a runnable
	// training goroutine, Go's scheduler looks for network readiness only
	// every 10 ms, so every read a request waits for would wait that long.
	StepSlots int
	// PausedRetry is how long a paused job waits before its run is tried
	// again (default 5s): a job whose progress, start or end the store
	// could not write, or whose tensors it could not read. The wait does
	// not count as one of the queue's attempts, so a paused job is tried
	// for as long as the store stays unwritable, at a steady pace.
	PausedRetry time.Duration
	// Memory is the process's memory budget, shared with requests: a run
	// reserves its working set (Spec.WorkingSet) from it before it loads
	// the job's tensors, waiting as long as it takes, and gives it back
	// when the run ends. Nil reserves nothing.
	Memory *admit.Budget
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = 2
	}
	if c.MaxActive <= 0 {
		c.MaxActive = 1000
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = time.Hour
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 100 * time.Millisecond
	}
	if c.MaxLossSeries <= 0 {
		c.MaxLossSeries = 1000
	}
	if c.LossGrace <= 0 {
		c.LossGrace = 5 * time.Minute
	}
	if c.FailoverAfter <= 0 {
		c.FailoverAfter = 15 * time.Second
	}
	if c.Replica == "" {
		c.Replica = ulid.Make().String()
	}
	if c.StepSlots <= 0 {
		c.StepSlots = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if c.PausedRetry <= 0 {
		c.PausedRetry = 5 * time.Second
	}
	return c
}

// Runner accepts training jobs and works them on a durable River queue.
// Jobs run on the runner's own context, never a request's.
type Runner struct {
	cfg     Config
	store   Store
	eng     *engine.Engine
	log     *zap.Logger
	metrics *metrics
	queue   queue
	now     func() time.Time

	// steps holds a token for each training step running (see
	// Config.StepSlots).
	steps chan struct{}

	mu      sync.Mutex
	running map[string]localRun // jobs this process is working
	paused  map[string]Pause    // active jobs waiting for the store to write
	leases  *leaseLoop
}

// localRun is a job this process is working.
type localRun struct {
	stop  context.CancelFunc
	since time.Time
}

// trainArgs is the River job: one run of a job, whose state lives in the
// Store. A job's first run is run 0, which older queue entries, without
// the field, also mean.
type trainArgs struct {
	JobID string `json:"job_id"`
	Run   int    `json:"run,omitempty"`
}

// Kind implements river.JobArgs.
func (trainArgs) Kind() string { return "corr2d_train" }

// pruneArgs is the periodic River job that deletes ended jobs older than
// the retention. River inserts periodic jobs from its elected leader only,
// so with several replicas on one database one of them prunes at a time.
type pruneArgs struct{}

// Kind implements river.JobArgs.
func (pruneArgs) Kind() string { return "corr2d_prune" }

// New builds a runner on store, with River's queue in db, the store's own
// database (a *sql.DB of SQLite or a *pgxpool.Pool of PostgreSQL), whose
// queue tables it creates or updates.
func New(ctx context.Context, cfg Config, store Store, db any, eng *engine.Engine, log *zap.Logger, reg prometheus.Registerer) (*Runner, error) {
	cfg = cfg.withDefaults()
	m, err := newMetrics(reg, store, cfg.LossGrace, cfg.MaxLossSeries)
	if err != nil {
		return nil, err
	}
	r := &Runner{
		cfg: cfg, store: store, eng: eng, log: log, metrics: m,
		now:     func() time.Time { return time.Now().UTC() },
		running: map[string]localRun{},
		paused:  map[string]Pause{},
		steps:   make(chan struct{}, cfg.StepSlots),
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[trainArgs]) error {
		return r.work(ctx, j.Args.JobID, j.Args.Run)
	})); err != nil {
		return nil, fmt.Errorf("jobs: add worker: %w", err)
	}
	var periodic []*river.PeriodicJob
	if cfg.Retention > 0 {
		if err := river.AddWorkerSafely(workers, river.WorkFunc(func(ctx context.Context, _ *river.Job[pruneArgs]) error {
			_, err := r.Prune(ctx)
			return err
		})); err != nil {
			return nil, fmt.Errorf("jobs: add worker: %w", err)
		}
		every := min(max(cfg.Retention/4, time.Second), time.Hour)
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(every),
			func() (river.JobArgs, *river.InsertOpts) { return pruneArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
	}
	client, err := newQueue(ctx, db, &river.Config{
		Queues:       map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Concurrency}},
		Workers:      workers,
		PeriodicJobs: periodic,
		JobTimeout:   cfg.JobTimeout,
		// Failover goes by our leases, not by River's rescue: a run River
		// rescues has been superseded by then and ends at once.
		RescueStuckJobsAfter: cfg.JobTimeout + 10*time.Minute,
		Logger:               slog.New(zapslog.NewHandler(log.Named("river").Core())),
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	r.queue = client
	r.leases = newLeaseLoop(r)
	return r, nil
}

// Start starts working jobs, renewing their leases and resuming jobs whose
// lease lapsed, and requeues any queued job the queue lost track of (one
// created just before a crash, say).
func (r *Runner) Start(ctx context.Context) error {
	if err := r.queue.Start(ctx); err != nil {
		return fmt.Errorf("jobs: start queue: %w", err)
	}
	r.leases.start()
	if err := r.requeue(ctx); err != nil {
		return errors.Join(err, r.Stop(context.WithoutCancel(ctx)))
	}
	return nil
}

// requeue makes sure every queued job in the store has a job on the
// queue; running ones are the leases' business.
func (r *Runner) requeue(ctx context.Context) error {
	for _, st := range []Status{StatusQueued} {
		after := ""
		for {
			page, err := r.store.List(ctx, ListFilter{Status: st, After: after, Limit: 500})
			if err != nil {
				return fmt.Errorf("jobs: list %s jobs: %w", st, err)
			}
			for _, j := range page {
				if _, err := r.enqueue(ctx, j.ID, j.Run); err != nil {
					return err
				}
			}
			if len(page) < 500 {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	return nil
}

// Stop interrupts running jobs, which checkpoint, waits for them until ctx
// ends, and hands them to the other replicas (or to this one's restart) at
// once by letting their leases lapse and queueing their next runs.
func (r *Runner) Stop(ctx context.Context) error {
	err := r.queue.StopAndCancel(ctx)
	if err != nil {
		err = fmt.Errorf("jobs: stop queue: %w", err)
	}
	r.leases.stop()
	return errors.Join(err, r.leases.handOver(ctx))
}

// enqueue queues run of job id. Queueing a run that is already queued, or
// that ran, is a no-op and reports false, which makes requeueing safe.
func (r *Runner) enqueue(ctx context.Context, id string, run int) (bool, error) {
	res, err := r.queue.Insert(ctx, trainArgs{JobID: id, Run: run}, &river.InsertOpts{
		UniqueOpts: river.UniqueOpts{ByArgs: true},
	})
	if err != nil {
		return false, fmt.Errorf("jobs: enqueue %s: %w", id, err)
	}
	return !res.UniqueSkippedAsDuplicate, nil
}

// Submit validates spec, records a queued job of no owner and enqueues it.
func (r *Runner) Submit(ctx context.Context, spec Spec) (Job, error) {
	return r.SubmitAs(ctx, Owner{}, spec)
}

// Owner is who submits a job, and how many active jobs it may have.
type Owner struct {
	Name string // empty on an open server
	// MaxActive bounds the owner's queued plus running jobs (zero: no
	// bound); a job beyond it is refused with ErrQuota.
	MaxActive int
}

// SubmitAs is Submit for a job that belongs to owner. The owner's quota
// and the runner's MaxActive are checked in the transaction that records
// the job.
func (r *Runner) SubmitAs(ctx context.Context, owner Owner, spec Spec) (Job, error) {
	if err := spec.Validate(); err != nil {
		return Job{}, err
	}
	q := Quota{MaxActive: r.cfg.MaxActive}
	if owner.Name != "" {
		q.MaxOwned = owner.MaxActive
	}
	j := Job{
		ID:        ulid.Make().String(),
		Owner:     owner.Name,
		Status:    StatusQueued,
		Spec:      spec,
		CreatedAt: r.now(),
	}
	if spec.Init != nil {
		j.InitWeight, j.InitBias = *spec.Init, spec.InitBias
		if spec.Bias && j.InitBias == nil {
			j.InitBias = make([]float64, spec.Target.Shape[1])
		}
	} else {
		shape := spec.WeightShape()
		w, b := train.TorchInit(*spec.Seed, spec.DType, shape, spec.Bias)
		j.InitWeight, j.InitBias = tensor.Dense{Shape: shape[:], Data: w}, b
	}
	j.Weight, j.Bias = j.InitWeight, j.InitBias
	if tc, ok := r.store.(TxCreator); ok {
		// The job and its queue entry commit together: a client that goes
		// away mid-request leaves both or neither, never an orphan.
		err := tc.CreateTx(ctx, j, q, func(ctx context.Context, tx any) error {
			_, err := r.queue.InsertInTx(ctx, tx, trainArgs{JobID: j.ID}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}})
			return err
		})
		if err != nil {
			return Job{}, fmt.Errorf("jobs: create: %w", err)
		}
		r.log.Info("job queued", zap.String("job_id", j.ID), zap.Int("steps", spec.Steps))
		return j, nil
	}
	// A store that cannot check the quota in its transaction checks the
	// server's bound before it, which racing submissions may pass together.
	counts, err := r.store.Count(ctx)
	if err != nil {
		return Job{}, fmt.Errorf("jobs: count active: %w", err)
	}
	if counts[StatusQueued]+counts[StatusRunning] >= r.cfg.MaxActive {
		return Job{}, fmt.Errorf("jobs: %d active: %w", r.cfg.MaxActive, ErrBusy)
	}
	if err := r.store.Create(ctx, j); err != nil {
		return Job{}, fmt.Errorf("jobs: create: %w", err)
	}
	if _, err := r.enqueue(ctx, j.ID, 0); err != nil {
		// The job is recorded, so Start requeues it after a restart; fail it
		// now rather than leave the client waiting on a job nobody runs.
		if _, ferr := r.finish(context.WithoutCancel(ctx), j.ID, StatusFailed, "could not be queued"); ferr != nil {
			err = errors.Join(err, ferr)
		}
		return Job{}, err
	}
	r.log.Info("job queued", zap.String("job_id", j.ID), zap.Int("steps", spec.Steps))
	return j, nil
}

// Prune deletes the ended jobs older than the retention, in batches, and
// returns how many it deleted.
func (r *Runner) Prune(ctx context.Context) (int, error) {
	if r.cfg.Retention <= 0 {
		return 0, nil
	}
	before := r.now().Add(-r.cfg.Retention)
	total := 0
	for {
		n, err := r.store.DeleteEnded(ctx, before, 500)
		total += n
		if err != nil {
			return total, fmt.Errorf("jobs: prune: %w", err)
		}
		if n < 500 {
			if total > 0 {
				r.log.Info("pruned ended jobs", zap.Int("deleted", total), zap.Duration("retention", r.cfg.Retention))
			}
			return total, nil
		}
	}
}

// Get returns one job, with the reason it is paused: the one this runner
// holds if it paused it, else the one in the store.
func (r *Runner) Get(ctx context.Context, id string) (Job, error) {
	j, err := r.store.Get(ctx, id)
	if err != nil {
		return Job{}, err
	}
	one := []Job{j}
	r.overlay(one)
	return one[0], nil
}

// List returns a page of jobs, with the reasons of those that are paused,
// as Get gives them.
func (r *Runner) List(ctx context.Context, f ListFilter) ([]Job, error) {
	page, err := r.store.List(ctx, f)
	if err != nil {
		return nil, err
	}
	r.overlay(page)
	return page, nil
}

// overlay sets Paused on the active jobs of page that this runner paused
// (its own record is the latest, and the only one when the store could
// not write it), and forgets the pauses of jobs that ended elsewhere
// (canceled through another replica, say).
func (r *Runner) overlay(page []Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.paused) == 0 {
		return
	}
	for i, j := range page {
		p, ok := r.paused[j.ID]
		switch {
		case !ok:
		case j.Status.Active():
			page[i].Paused = &p
		default:
			delete(r.paused, j.ID)
		}
	}
}

// pauseWrite bounds the write of a pause to the store, which may be the
// very thing that does not work.
const pauseWrite = 2 * time.Second

// pause records why job id waits; a job paused again keeps the time it
// was first paused. The runner keeps it, and writes it to the store too
// when the store can, so that every replica shows it.
func (r *Runner) pause(ctx context.Context, id, reason string) {
	r.mu.Lock()
	p, ok := r.paused[id]
	if !ok {
		p.Since = r.now()
	}
	p.Reason = reason
	r.paused[id] = p
	r.mu.Unlock()
	r.storePause(ctx, id, &p)
}

// storePause writes p (nil: no pause) to the store, if it can.
func (r *Runner) storePause(ctx context.Context, id string, p *Pause) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pauseWrite)
	defer cancel()
	if err := r.store.SetPause(sctx, id, p); err != nil {
		r.log.Debug("pause not recorded in the store", zap.String("job_id", id), zap.Error(err))
	}
}

// unpause forgets the pause of job id, once the store has written for it.
func (r *Runner) unpause(id string) {
	r.mu.Lock()
	delete(r.paused, id)
	r.mu.Unlock()
}

// Tensors returns a job's input and target with their data, which the
// jobs that Get and List return have the shapes of only.
func (r *Runner) Tensors(ctx context.Context, id string) (input, target tensor.Dense, err error) {
	return r.store.Tensors(ctx, id)
}

// Losses returns a page of a job's loss history.
func (r *Runner) Losses(ctx context.Context, id string, afterStep, limit int) ([]LossPoint, error) {
	return r.store.Losses(ctx, id, afterStep, limit)
}

// Delete removes an ended job.
func (r *Runner) Delete(ctx context.Context, id string) error { return r.store.Delete(ctx, id) }

// Ping checks the store.
func (r *Runner) Ping(ctx context.Context) error { return r.store.Ping(ctx) }

// Cancel cancels an active job and returns it; an ended job is returned as
// it is. A queued job is skipped when the queue reaches it; a running job
// stops at once, here or, through the queue's cancellation signal, on
// another replica (and at the latest when its replica next renews the
// lease or checkpoints).
func (r *Runner) Cancel(ctx context.Context, id string) (Job, error) {
	j, err := r.finish(ctx, id, StatusCanceled, "")
	if errors.Is(err, ErrNotActive) {
		return r.store.Get(ctx, id)
	}
	if err != nil {
		return Job{}, err
	}
	r.mu.Lock()
	local, ok := r.running[id]
	r.mu.Unlock()
	if ok {
		local.stop()
	} else if j.StartedAt != nil {
		r.cancelElsewhere(ctx, id)
	}
	return j, nil
}

// cancelElsewhere signals the replica running job id to stop it. Failing
// to is logged, not returned: the job is canceled in the store already,
// and its replica notices that at its next lease renewal.
func (r *Runner) cancelElsewhere(ctx context.Context, id string) {
	res, err := r.queue.JobList(ctx, river.NewJobListParams().Kinds(trainArgs{}.Kind()).
		States(rivertype.JobStateRunning).First(10000))
	if err != nil {
		r.log.Warn("cancel: list running runs", zap.String("job_id", id), zap.Error(err))
		return
	}
	for _, row := range res.Jobs {
		var args trainArgs
		if err := json.Unmarshal(row.EncodedArgs, &args); err != nil || args.JobID != id {
			continue
		}
		if _, err := r.queue.JobCancel(ctx, row.ID); err != nil {
			r.log.Warn("cancel: signal the running replica", zap.String("job_id", id), zap.Error(err))
		}
	}
}

func (r *Runner) finish(ctx context.Context, id string, st Status, msg string) (Job, error) {
	j, err := r.store.Finish(ctx, id, st, msg, r.now())
	if err != nil {
		return Job{}, err
	}
	r.unpause(id)
	r.metrics.finished.WithLabelValues(string(st)).Inc()
	r.metrics.losses.end(id)
	r.log.Info("job finished", zap.String("job_id", id), zap.String("status", string(st)),
		zap.Int("step", j.Step), zap.String("error", msg))
	return j, nil
}

// storeContext bounds a store write that must outlive an interrupted run,
// so that the run can save its progress, but must not hang.
func storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// work is River's entry point for one run of a job.
func (r *Runner) work(ctx context.Context, id string, run int) error {
	sctx, cancel := storeContext(ctx)
	j, err := r.store.Start(sctx, id, Lease{Holder: r.cfg.Replica, Run: run, TTL: r.cfg.FailoverAfter}, r.now())
	cancel()
	// A lease renewal that begins after this instant sees the lease.
	since := time.Now()
	switch {
	case errors.Is(err, ErrNotActive):
		return nil // canceled while queued, or superseded by a later run
	case errors.Is(err, ErrNotFound):
		return river.JobCancel(err)
	case err != nil:
		return r.retryLater(ctx, id, "could not start: "+err.Error())
	}
	r.unpause(id)
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	defer r.track(id, stop, since)()
	// The loss series shows this run as running until it returns, however
	// it ends: finished, interrupted or superseded by another replica's.
	r.metrics.losses.start(id)
	defer r.metrics.losses.end(id)
	r.log.Info("job running", zap.String("job_id", id), zap.Int("run", run), zap.Int("from_step", j.Step))

	err = r.run(ctx, j)
	status, msg, retry := r.outcome(ctx, err)
	sctx, cancel = storeContext(ctx)
	defer cancel()
	switch {
	case retry && ctx.Err() != nil:
		// Canceled, superseded, or shutting down: progress is saved, and
		// Stop queues the next run of a job that is still active.
		r.log.Info("job interrupted", zap.String("job_id", id), zap.Int("run", run))
		return nil
	case retry:
		return r.retryLater(ctx, id, retryReason(err))
	case status == "":
		return nil
	}
	if _, ferr := r.finish(sctx, id, status, msg); ferr != nil && !errors.Is(ferr, ErrNotActive) {
		// The store cannot write even that: the job keeps its last
		// checkpoint and the queue runs it again later.
		return r.retryLater(ctx, id, pauseReason(err, status, ferr))
	}
	return nil
}

// retryLater pauses job id for reason and has the queue run it again
// after Config.PausedRetry, from its last checkpoint.
func (r *Runner) retryLater(ctx context.Context, id, reason string) error {
	r.log.Warn("job paused", zap.String("job_id", id), zap.String("reason", reason),
		zap.Duration("retry_in", r.cfg.PausedRetry))
	r.pause(ctx, id, reason)
	return river.JobSnooze(r.cfg.PausedRetry)
}

// run reserves the working set of job j from the memory budget, loads its
// tensors and trains it, and gives the memory back when it returns.
func (r *Runner) run(ctx context.Context, j Job) error {
	res := r.cfg.Memory.Reserve()
	defer res.Release()
	if err := r.reserve(ctx, j, res); err != nil {
		return err
	}
	sctx, cancel := storeContext(ctx)
	in, tgt, err := r.store.Tensors(sctx, j.ID)
	cancel()
	if err != nil {
		return &loadFailure{err: err}
	}
	j.Spec.Input, j.Spec.Target = in, tgt
	if j.Spec.DType == train.Float64 {
		return runSteps(ctx, r, j, train.New[float64](r.eng, j.Spec.Problem()))
	}
	tr := train.New[float32](r.eng, j.Spec.Problem())
	// The trainer holds its own float32 copies: the float64 data can go.
	j.Spec.Input, j.Spec.Target = tensor.Dense{Shape: in.Shape}, tensor.Dense{Shape: tgt.Shape}
	return runSteps(ctx, r, j, tr)
}

// reserve takes the working set of job j into res, waiting for room as
// long as ctx lasts; a job waiting for memory shows why. A job larger than
// the whole budget fails: it could never run here.
func (r *Runner) reserve(ctx context.Context, j Job, res *admit.Reservation) error {
	need, budget := j.Spec.WorkingSet(), r.cfg.Memory
	if budget == nil {
		return nil
	}
	if need > budget.Total() {
		return &failure{msg: fmt.Sprintf("the job needs %d MiB of memory to run, more than this server's memory budget of %d MiB",
			need>>20, budget.Total()>>20)}
	}
	if free := budget.Total() - budget.Held(); free < need {
		r.pause(ctx, j.ID, fmt.Sprintf("waiting for memory: the job needs %d MiB, %d MiB of the server's %d MiB are free",
			need>>20, max(free, 0)>>20, budget.Total()>>20))
		defer func() {
			r.unpause(j.ID)
			r.storePause(ctx, j.ID, nil)
		}()
	}
	if err := res.Await(ctx, need); err != nil {
		if errors.Is(err, admit.ErrTooLarge) {
			return &failure{msg: err.Error()}
		}
		return err
	}
	return nil
}

// retryReason says why a run that will be retried stopped: a checkpoint
// the store could not write, or tensors it could not read.
func retryReason(err error) string {
	var load *loadFailure
	if errors.As(err, &load) {
		return load.Error()
	}
	return (&storeFailure{err: err}).Error()
}

// pauseReason says why a job whose run ended with err could not be
// recorded as status: the checkpoint that failed, when one did, or else
// the failed write of the status.
func pauseReason(err error, status Status, ferr error) string {
	var store *storeFailure
	if errors.As(err, &store) {
		return store.Error()
	}
	return fmt.Sprintf("could not record the job as %s: %v", status, ferr)
}

// outcome says what the end of a run means for its job: a terminal status
// to record with its message, nothing to record (status ""), or retry, to
// run the job again from its last checkpoint.
func (r *Runner) outcome(ctx context.Context, err error) (status Status, msg string, retry bool) {
	var (
		fail  *failure
		store *storeFailure
	)
	switch {
	case err == nil:
		return StatusSucceeded, "", false
	case errors.As(err, &fail):
		return StatusFailed, fail.msg, false
	case errors.As(err, &store):
		return StatusFailed, store.Error(), false
	case errors.Is(err, ErrNotActive):
		return "", "", false // canceled: Cancel recorded it
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return StatusFailed, fmt.Sprintf("exceeded the job timeout of %s", r.cfg.JobTimeout), false
	default:
		return "", "", true // interrupted, or the store failed
	}
}

// track registers the cancel function of a job this process runs, for
// Cancel; the returned function unregisters it.
func (r *Runner) track(id string, cancel context.CancelFunc, since time.Time) (untrack func()) {
	r.mu.Lock()
	r.running[id] = localRun{stop: cancel, since: since}
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.running, id)
		r.mu.Unlock()
	}
}

// storeFailure is a checkpoint the store could not write (a full disk, an
// unwritable file): the job fails with the reason if the store can still
// record that, and otherwise waits for the queue's retry, from its last
// checkpoint.
type storeFailure struct{ err error }

func (f *storeFailure) Error() string { return "could not save progress: " + f.err.Error() }
func (f *storeFailure) Unwrap() error { return f.err }

// loadFailure is a job's tensors that the store could not read: the queue
// runs the job again later.
type loadFailure struct{ err error }

func (f *loadFailure) Error() string { return "could not load the input and target: " + f.err.Error() }
func (f *loadFailure) Unwrap() error { return f.err }

// failure is a job's own fault: it fails the job instead of being retried.
type failure struct{ msg string }

func (f *failure) Error() string { return f.msg }

// stepInSlot runs one training step in one of the step slots, and says
// how long the step took once it had its slot.
func stepInSlot[T engine.Float](ctx context.Context, slots chan struct{}, tr train.Trainer[T], p train.Params[T]) (float64, train.Params[T], time.Duration, error) {
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return 0, p, 0, ctx.Err()
	}
	defer func() { <-slots }()
	start := time.Now()
	loss, next, err := tr.Step(ctx, p)
	return loss, next, time.Since(start), err
}

// runSteps runs the remaining steps of j with tr, in precision T, saving
// progress as it goes and when interrupted.
func runSteps[T engine.Float](ctx context.Context, r *Runner, j Job, tr train.Trainer[T]) error {
	p := train.Load[T](train.State{Weight: j.Weight, Bias: j.Bias, Opt: j.State})
	var pending []LossPoint
	lastSave := time.Now()
	save := func(step int) error {
		st := p.State()
		sctx, cancel := storeContext(ctx)
		defer cancel()
		err := r.store.Save(sctx, j.ID, Checkpoint{Run: j.Run, Step: step, Weight: st.Weight, Bias: st.Bias, State: st.Opt, Losses: pending})
		pending = pending[:0]
		lastSave = time.Now()
		if err == nil {
			r.unpause(j.ID)
		}
		return err
	}
	for step := j.Step + 1; step <= j.Spec.Steps; step++ {
		loss, next, took, err := stepInSlot(ctx, r.steps, tr, p)
		if errors.Is(err, train.ErrNotFinite) {
			err = &failure{msg: fmt.Sprintf("%v at step %d; lower lr", err, step)}
		}
		if err != nil {
			// The parameters are those of the last good step.
			return errors.Join(err, save(step-1))
		}
		p = next
		pending = append(pending, LossPoint{Step: step, Loss: loss})
		r.metrics.stepDuration.Observe(took.Seconds())
		r.metrics.steps.Inc()
		r.metrics.losses.set(j.ID, loss)
		if step == j.Spec.Steps || time.Since(lastSave) >= r.cfg.CheckpointEvery {
			if err := save(step); err != nil {
				if errors.Is(err, ErrNotActive) || ctx.Err() != nil {
					return err
				}
				return &storeFailure{err: err}
			}
		}
		// Small steps run inline on this goroutine; yielding between them
		// lets requests waiting for a processor run now, not when the
		// scheduler next preempts a training loop. (The step slots keep a
		// processor free for them too, but not with a single processor.)
		runtime.Gosched()
	}
	return nil
}
