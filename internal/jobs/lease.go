package jobs

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.uber.org/zap"
)

// leaseLoop keeps this replica's leases alive and resumes the jobs of
// replicas that died: every quarter of the lease time it renews the leases
// of the jobs it runs (stopping any that it no longer holds: canceled, or
// superseded), and queues the next run of every running job whose lease
// has lapsed. Every replica does this; queueing a run twice is a no-op.
type leaseLoop struct {
	r    *Runner
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

func newLeaseLoop(r *Runner) *leaseLoop { return &leaseLoop{r: r, done: make(chan struct{})} }

func (l *leaseLoop) start() {
	l.wg.Go(func() {
		t := time.NewTicker(l.r.cfg.FailoverAfter / 4)
		defer t.Stop()
		for {
			l.tick()
			select {
			case <-l.done:
				return
			case <-t.C:
			}
		}
	})
}

// stop ends the loop and waits for it.
func (l *leaseLoop) stop() {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
}

func (l *leaseLoop) tick() {
	ctx, cancel := context.WithTimeout(context.Background(), l.r.cfg.FailoverAfter/2)
	defer cancel()
	l.renew(ctx)
	l.resume(ctx)
}

// renew extends this replica's leases and stops the runs it no longer
// holds. A run that started after the renewal began may not be in its
// answer yet, so only older runs are stopped.
func (l *leaseLoop) renew(ctx context.Context) {
	began := time.Now()
	held, err := l.r.store.Renew(ctx, l.r.cfg.Replica, l.r.cfg.FailoverAfter)
	if err != nil {
		l.r.log.Warn("renew leases", zap.Error(err))
		return
	}
	holds := make(map[string]bool, len(held))
	for _, ref := range held {
		holds[ref.ID] = true
	}
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	for id, run := range l.r.running {
		if !holds[id] && run.since.Before(began) {
			l.r.log.Info("job no longer held here; stopping it", zap.String("job_id", id))
			run.stop()
		}
	}
}

// resume queues the next run of every job whose lease lapsed, or whose
// run the queue handed to a replica that died before starting it.
func (l *leaseLoop) resume(ctx context.Context) {
	claimed, err := l.claimed(ctx)
	if err != nil {
		l.r.log.Warn("list claimed runs", zap.Error(err))
		return
	}
	lapsed, err := l.r.store.Lapsed(ctx, claimed)
	if err != nil {
		l.r.log.Warn("find lapsed leases", zap.Error(err))
		return
	}
	for _, ref := range lapsed {
		queued, err := l.r.enqueue(ctx, ref.ID, ref.Run+1)
		if err != nil {
			l.r.log.Warn("resume job", zap.String("job_id", ref.ID), zap.Error(err))
			continue
		}
		if queued {
			l.r.metrics.failovers.Inc()
			l.r.log.Info("job lease lapsed; resuming it", zap.String("job_id", ref.ID), zap.Int("run", ref.Run+1))
		}
	}
}

// claimed lists the runs that the queue handed to a replica longer than a
// lease ago: a live replica has started them by then, or they are lost.
func (l *leaseLoop) claimed(ctx context.Context) ([]RunRef, error) {
	res, err := l.r.queue.JobList(ctx, river.NewJobListParams().Kinds(trainArgs{}.Kind()).
		States(rivertype.JobStateRunning).First(10000))
	if err != nil {
		return nil, err
	}
	var out []RunRef
	for _, row := range res.Jobs {
		var args trainArgs
		if row.AttemptedAt == nil || time.Since(*row.AttemptedAt) < l.r.cfg.FailoverAfter ||
			json.Unmarshal(row.EncodedArgs, &args) != nil {
			continue
		}
		out = append(out, RunRef{ID: args.JobID, Run: args.Run})
	}
	return out, nil
}

// handOver lets this replica's leases lapse now and queues the next run of
// each of its jobs, so that another replica resumes them at once.
func (l *leaseLoop) handOver(ctx context.Context) error {
	released, err := l.r.store.Renew(ctx, l.r.cfg.Replica, 0)
	if err != nil {
		return err
	}
	for _, ref := range released {
		if _, err := l.r.enqueue(ctx, ref.ID, ref.Run+1); err != nil {
			return err
		}
		l.r.log.Info("job handed over", zap.String("job_id", ref.ID), zap.Int("run", ref.Run+1))
	}
	return nil
}
