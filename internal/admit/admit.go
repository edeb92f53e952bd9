// Package admit holds the process-wide memory budget that requests reserve
// from before they read their bodies, and training jobs before they load
// their tensors: a request that does not fit waits a bounded time and is
// then turned away, a job waits until it fits, instead of either taking
// memory the process does not have.
package admit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
)

var (
	// ErrBusy reports that a reservation did not fit in the budget within
	// the wait: the request may succeed later.
	ErrBusy = errors.New("admit: memory budget exhausted")
	// ErrTooLarge reports a reservation larger than the whole budget: the
	// request can never fit, however long it waits.
	ErrTooLarge = errors.New("admit: larger than the memory budget")
)

// Budget is a number of bytes shared by every request and training job of
// the process. Its zero value is not usable; a nil *Budget admits
// everything, for tests and tools that run without one.
type Budget struct {
	total int64
	wait  time.Duration
	sem   *semaphore.Weighted
	held  atomic.Int64 // bytes reserved now; the semaphore does not say
	m     *metrics

	// freedMu guards freed, which is closed (and replaced) whenever
	// reserved bytes are given back, to wake the patient waiters of Await.
	freedMu sync.Mutex
	freed   chan struct{}
}

type metrics struct {
	held     prometheus.GaugeFunc
	total    prometheus.Gauge
	refused  *prometheus.CounterVec
	waitTime prometheus.Histogram
}

// New returns a budget of total bytes whose reservations wait at most wait
// for room. Its metrics are registered with reg.
func New(total int64, wait time.Duration, reg prometheus.Registerer) (*Budget, error) {
	if total <= 0 {
		return nil, fmt.Errorf("admit: budget of %d bytes: want a positive size", total)
	}
	b := &Budget{total: total, wait: wait, sem: semaphore.NewWeighted(total), freed: make(chan struct{})}
	b.m = &metrics{
		held: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "corr2d_memory_reserved_bytes",
			Help: "Bytes of the memory budget that requests and running jobs hold now.",
		}, func() float64 { return float64(b.held.Load()) }),
		total: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corr2d_memory_budget_bytes",
			Help: "Size of the memory budget that requests and running jobs reserve from.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corr2d_memory_refused_total",
			Help: "Reservations refused, by reason: busy (no room within the wait) or too_large (over the whole budget).",
		}, []string{"reason"}),
		waitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corr2d_memory_wait_seconds",
			Help:    "Time reservations waited for room, admitted or not; those that fit at once are not counted.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 7),
		}),
	}
	b.m.total.Set(float64(total))
	for _, c := range []prometheus.Collector{b.m.held, b.m.total, b.m.refused, b.m.waitTime} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("admit: register metrics: %w", err)
		}
	}
	return b, nil
}

// Total returns the budget's size in bytes.
func (b *Budget) Total() int64 {
	if b == nil {
		return 0
	}
	return b.total
}

// Held returns the bytes reserved now.
func (b *Budget) Held() int64 {
	if b == nil {
		return 0
	}
	return b.held.Load()
}

// Reservation is what one request holds of a budget. It starts empty,
// grows and shrinks as the request learns what it needs, and is returned
// whole by Release. It belongs to one goroutine at a time.
type Reservation struct {
	b    *Budget
	held int64
}

// Reserve returns an empty reservation of b.
func (b *Budget) Reserve() *Reservation { return &Reservation{b: b} }

// Held returns the bytes r holds.
func (r *Reservation) Held() int64 { return r.held }

// check says whether adding n bytes to r is nothing to do (no budget, or
// no bytes), or an ErrTooLarge: more than could ever fit beside what r
// holds.
func (r *Reservation) check(n int64) (skip bool, err error) {
	b := r.b
	if b == nil || n <= 0 {
		return true, nil
	}
	if n > b.total-r.held {
		b.m.refused.WithLabelValues("too_large").Inc()
		return false, fmt.Errorf("%w: %d more bytes beside %d held, budget %d", ErrTooLarge, n, r.held, b.total)
	}
	return false, nil
}

// Grow adds n bytes to r. When they do not fit, it waits for room until
// the budget's wait has passed (ErrBusy) or ctx ends (its error). Bytes
// that could never fit beside what r holds fail at once with ErrTooLarge.
// On failure r holds what it held before.
func (r *Reservation) Grow(ctx context.Context, n int64) error {
	b := r.b
	if skip, err := r.check(n); skip || err != nil {
		return err
	}
	if !b.sem.TryAcquire(n) {
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, b.wait)
		err := b.sem.Acquire(wctx, n)
		cancel()
		b.m.waitTime.Observe(time.Since(start).Seconds())
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			b.m.refused.WithLabelValues("busy").Inc()
			return fmt.Errorf("%w: %d bytes did not fit within %v", ErrBusy, n, b.wait)
		}
	}
	r.held += n
	b.held.Add(n)
	return nil
}

// awaitRecheck is how often Await looks for room even when nothing was
// given back: a request that stops waiting in the semaphore's queue can
// leave room behind without a release.
const awaitRecheck = 250 * time.Millisecond

// Await adds n bytes to r, waiting for room as long as ctx lasts. Unlike
// Grow, it never queues ahead of requests: it takes room only when the
// budget has it free and no request is waiting, so that a large job
// waiting for memory held by another job cannot hold up every request
// meanwhile. It is for work that can wait (a training job), not for a
// request. Bytes that could never fit beside what r holds fail at once
// with ErrTooLarge; on failure r holds what it held before.
func (r *Reservation) Await(ctx context.Context, n int64) error {
	b := r.b
	if skip, err := r.check(n); skip || err != nil {
		return err
	}
	var (
		start time.Time
		tick  *time.Ticker
	)
	for {
		// The channel is taken before the attempt, so that a release
		// between a failed attempt and the wait still wakes it.
		b.freedMu.Lock()
		freed := b.freed
		b.freedMu.Unlock()
		if b.sem.TryAcquire(n) {
			break
		}
		if tick == nil {
			start, tick = time.Now(), time.NewTicker(awaitRecheck)
			defer tick.Stop()
		}
		select {
		case <-ctx.Done():
			b.m.waitTime.Observe(time.Since(start).Seconds())
			return ctx.Err()
		case <-freed:
		case <-tick.C:
		}
	}
	if tick != nil {
		b.m.waitTime.Observe(time.Since(start).Seconds())
	}
	r.held += n
	b.held.Add(n)
	return nil
}

// Set makes r hold exactly n bytes: it grows as Grow does, or gives back
// what it holds beyond n.
func (r *Reservation) Set(ctx context.Context, n int64) error {
	if n >= r.held {
		return r.Grow(ctx, n-r.held)
	}
	r.shrink(r.held - n)
	return nil
}

// Release gives back everything r holds. It may be called more than once.
func (r *Reservation) Release() { r.shrink(r.held) }

func (r *Reservation) shrink(n int64) {
	if r.b == nil || n <= 0 {
		return
	}
	r.held -= n
	r.b.held.Add(-n)
	r.b.sem.Release(n)
	r.b.freedMu.Lock()
	close(r.b.freed)
	r.b.freed = make(chan struct{})
	r.b.freedMu.Unlock()
}
