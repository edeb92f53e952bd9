// Package engine computes 2-D cross-correlations on a fixed pool of worker
// goroutines with two priorities: interactive requests, which are rejected at
// once when their queue is full, and background work, which waits for room and
// runs only when no interactive task is waiting.
//
// The package imports nothing else from this module and knows nothing of HTTP,
// JSON or logging; it reports through the Prometheus registerer it is handed.
package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Priority selects the queue a request's bands wait in.
type Priority int

const (
	// Interactive is for HTTP requests: never starved by background work, and
	// rejected with ErrOverloaded at once when the queue is full, so that a
	// client gets a fast answer instead of an unbounded wait.
	Interactive Priority = iota
	// Background is for training jobs: they wait for queue room instead of
	// being rejected, and a worker runs them only when no interactive task
	// waits.
	Background

	numPriorities = 2
)

// String returns the priority's metric label value.
func (p Priority) String() string {
	switch p {
	case Interactive:
		return "interactive"
	case Background:
		return "background"
	default:
		return fmt.Sprintf("Priority(%d)", int(p))
	}
}

// Config sizes an Engine. The zero value is usable and picks the defaults
// documented on each field.
type Config struct {
	// Workers is the number of worker goroutines; 0 means runtime.GOMAXPROCS(0).
	Workers int
	// QueueSize is the maximum number of queued tasks (bands) per priority;
	// 0 means 256 per worker, which holds 32 maximally split requests.
	QueueSize int
	// MinBandWork is the minimum number of multiply-adds per band, so that
	// tiny requests run as a single band and do not pay for the split;
	// 0 means 1<<15.
	MinBandWork int
	// WinogradTile fixes the tile size with which method "winograd"
	// computes its layers: 2 for F(2×2, 3×3) on 3×3 layers with unit
	// strides and F(2×2, 4×4) on stride-2 layers, 4 for F(4×4, 3×3) on
	// the former, 3 for F(3×3, 4×4) on the latter; 0 lets the cost model
	// pick (see useWino43 and useWino34), as do 4 on stride-2 layers and
	// 3 on the others. Tests and measurements of each path set it; no
	// other value is valid.
	WinogradTile int
}

const (
	defaultQueuePerWorker = 256
	defaultMinBandWork    = 1 << 15
	// maxBandsPerWorker caps how finely one request is split: a few bands per
	// worker balance load and let interactive work slip in between
	// background bands, while more would only add queueing overhead.
	maxBandsPerWorker = 8
	// expressWork is the most multiply-adds an interactive call may have
	// and still go in the express lane, ahead of the bands of larger
	// interactive calls: about a millisecond of one worker, so that a
	// small request waits at most for the band a worker is running, not
	// for every band of a 4096×4096 request queued before it.
	expressWork = 1 << 20
)

var (
	// ErrShape is what every *ParamError wraps: an invalid shape or
	// parameter of a convolution.
	ErrShape = errors.New("engine: invalid shape")
	// ErrOverloaded reports that an interactive request found too little
	// room in its queue for all of its bands; nothing was enqueued.
	ErrOverloaded = errors.New("engine: queue full")
	// ErrClosed reports that the engine was closed before the request could
	// run.
	ErrClosed = errors.New("engine: closed")
)

// Engine is a fixed pool of workers that run the bands of Conv2D and
// Conv2DWeightGrad calls.
// It is safe for concurrent use. Call Close to stop the workers.
type Engine struct {
	workers     int
	queueSize   int
	minBandWork int
	winoTile    int // Config.WinogradTile

	// queues hold the bands waiting to run, one channel per priority. Each
	// has capacity queueSize and admission reserves room in queued before
	// sending, so a send never blocks.
	queues [numPriorities]chan task
	// express holds the bands of small interactive calls (see
	// expressWork); they count against the interactive queue's room.
	express chan task
	// quit is closed by Close; workers and waiting submitters watch it.
	quit chan struct{}
	wg   sync.WaitGroup

	// mu guards the fields below. Admission holds it across the reservation
	// and all the sends of a request, so Close (which takes it first) never
	// drains a queue while a request is half enqueued.
	mu     sync.Mutex
	closed bool
	queued [numPriorities]int
	// room is closed and replaced whenever a background slot frees up while
	// roomWaiters > 0, waking every waiting background submitter to retry.
	room        chan struct{}
	roomWaiters int

	closeOnce sync.Once
	metrics   *metrics
	recycled  recycler // results handed back by Release, and the FFT path's spectra
	fftPlans  fftPlans // the FFT path's plans, by length

	// hook, if set, runs on the worker just before each band; tests use it
	// to hold a worker busy or to record the order bands run in.
	hook func(Priority)
}

// task is one band of a request: units [lo, hi) of its plan.
type task struct {
	c      *call
	lo, hi int
}

// call is the state shared by the bands of one request.
type call struct {
	// ctx is the caller's context, carried here because a band queued on a
	// channel must still see its caller's cancellation when a worker picks it
	// up; it lives only as long as the call.
	ctx    context.Context
	cancel context.CancelFunc
	work   plan
	wg     sync.WaitGroup
	// started is when the first band began, in Unix nanoseconds (0 until
	// then), for Stats.
	started atomic.Int64

	mu  sync.Mutex
	err error
}

// plan is the work of one request cut into numbered units, which bands of
// the pool compute: output rows, planes, parts of a gradient row or blocks
// of pixels, as each plan says. units computes units [lo, hi), checking
// ctx between them. The interface hides the element type from the untyped
// pool.
type plan interface {
	units(ctx context.Context, lo, hi int) error
}

// fail records the call's first error and cancels its remaining bands, since
// their results would be thrown away.
func (c *call) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.mu.Unlock()
	c.cancel()
}

// New starts an engine's workers and registers its metrics on reg. A nil reg
// means the metrics are kept but not exported. New returns an error, and
// starts nothing, if cfg is invalid or a metric cannot be registered.
func New(cfg Config, reg prometheus.Registerer) (*Engine, error) {
	return newEngine(cfg, reg, nil)
}

func newEngine(cfg Config, reg prometheus.Registerer, hook func(Priority)) (*Engine, error) {
	if cfg.Workers < 0 || cfg.QueueSize < 0 || cfg.MinBandWork < 0 {
		return nil, fmt.Errorf("engine: negative config value in %+v", cfg)
	}
	if t := cfg.WinogradTile; t != 0 && t != 2 && t != 3 && t != 4 {
		return nil, fmt.Errorf("engine: WinogradTile %d is not 0, 2, 3 or 4", t)
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	queueSize := cfg.QueueSize
	if queueSize == 0 {
		queueSize = defaultQueuePerWorker * workers
	}
	minBandWork := cfg.MinBandWork
	if minBandWork == 0 {
		minBandWork = defaultMinBandWork
	}

	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	m.workers.Set(float64(workers))
	for p := range Priority(numPriorities) {
		m.capacity[p].Set(float64(queueSize))
	}

	e := &Engine{
		workers:     workers,
		queueSize:   queueSize,
		minBandWork: minBandWork,
		winoTile:    cfg.WinogradTile,
		quit:        make(chan struct{}),
		room:        make(chan struct{}),
		metrics:     m,
		hook:        hook,
	}
	for p := range e.queues {
		e.queues[p] = make(chan task, queueSize)
	}
	e.express = make(chan task, queueSize)
	e.wg.Add(workers)
	for range workers {
		go e.worker()
	}
	return e, nil
}

// Workers returns the number of worker goroutines.
func (e *Engine) Workers() int { return e.workers }

// Close stops accepting requests, lets running bands finish, fails queued
// bands with ErrClosed and waits for every worker to exit. It is idempotent;
// concurrent callers all return once the engine has stopped.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		e.mu.Lock()
		e.closed = true
		close(e.quit)
		e.mu.Unlock()

		e.wg.Wait()
		// No worker is left and admission is shut, so whatever is still
		// queued will never run; fail it so its callers return.
		queues := map[chan task]Priority{e.express: Interactive, e.queues[Interactive]: Interactive, e.queues[Background]: Background}
		for q, p := range queues {
			for drained := false; !drained; {
				select {
				case t := <-q:
					e.dequeued(p)
					t.c.fail(fmt.Errorf("%w: band queued at shutdown", ErrClosed))
					t.c.wg.Done()
				default:
					drained = true
				}
			}
		}
	})
}

// worker runs bands until Close, always taking an express band first when
// one waits, then an interactive one.
func (e *Engine) worker() {
	defer e.wg.Done()
	for {
		var t task
		p := Interactive
		select {
		case t = <-e.express:
		default:
			select {
			case t = <-e.queues[Interactive]:
			default:
				select {
				case t = <-e.express:
				case t = <-e.queues[Interactive]:
				case t = <-e.queues[Background]:
					p = Background
				case <-e.quit:
					return
				}
			}
		}
		e.dequeued(p)
		e.execute(t, p)
	}
}

// dequeued releases the queue slot of a band just taken off queue p.
func (e *Engine) dequeued(p Priority) {
	e.mu.Lock()
	e.queued[p]--
	e.metrics.depth[p].Dec()
	if p == Background && e.roomWaiters > 0 {
		close(e.room)
		e.room = make(chan struct{})
	}
	e.mu.Unlock()
}

// execute runs one band, or skips it if its call was cancelled or the engine
// is closing, and marks it done either way.
func (e *Engine) execute(t task, p Priority) {
	defer t.c.wg.Done()
	select {
	case <-e.quit:
		t.c.fail(fmt.Errorf("%w: band queued at shutdown", ErrClosed))
		return
	default:
	}
	if err := t.c.ctx.Err(); err != nil {
		t.c.fail(err)
		return
	}

	e.metrics.busy.Inc()
	start := time.Now()
	t.c.started.CompareAndSwap(0, start.UnixNano())
	defer func() {
		e.metrics.duration[p].Observe(time.Since(start).Seconds())
		e.metrics.busy.Dec()
		// A panicking band must not take the process down with it; the
		// caller gets an error and the worker moves on.
		if r := recover(); r != nil {
			t.c.fail(fmt.Errorf("engine: band panicked: %v", r))
		}
	}()
	if e.hook != nil {
		e.hook(p)
	}
	if err := t.c.work.units(t.c.ctx, t.lo, t.hi); err != nil {
		t.c.fail(err)
	}
}

// submit enqueues all of c's bands on queue p, or none of them; small
// interactive work, of at most expressWork multiply-adds, goes to the
// express lane. Interactive submissions fail with ErrOverloaded when there
// is no room; background ones wait for room, ctx or Close.
func (e *Engine) submit(ctx context.Context, p Priority, c *call, tasks []task, macs float64) error {
	n := len(tasks)
	e.mu.Lock()
	for {
		if e.closed {
			e.mu.Unlock()
			return ErrClosed
		}
		if e.queued[p]+n <= e.queueSize {
			break
		}
		if p == Interactive {
			free := e.queueSize - e.queued[p]
			e.mu.Unlock()
			e.metrics.rejections[p].Inc()
			return fmt.Errorf("%w: %d bands, %d of %d %s slots free", ErrOverloaded, n, free, e.queueSize, p)
		}
		room := e.room
		e.roomWaiters++
		e.mu.Unlock()
		var err error
		select {
		case <-room:
		case <-ctx.Done():
			err = ctx.Err()
		case <-e.quit:
			err = ErrClosed
		}
		e.mu.Lock()
		e.roomWaiters--
		if err != nil {
			e.mu.Unlock()
			return err
		}
	}
	e.queued[p] += n
	c.wg.Add(n)
	q := e.queues[p]
	if p == Interactive && macs <= expressWork {
		q = e.express
	}
	for _, t := range tasks {
		q <- t // never blocks: room was reserved above, and express shares it
	}
	// The gauge counts the bands once they are in their queue, so that
	// whoever reads it finds them there; a worker's Dec waits for e.mu.
	e.metrics.depth[p].Add(float64(n))
	e.mu.Unlock()
	return nil
}

// metrics are the engine's Prometheus collectors, with the per-priority
// children resolved once so the hot path does no label lookups.
type metrics struct {
	workers    prometheus.Gauge
	busy       prometheus.Gauge
	depth      [numPriorities]prometheus.Gauge
	capacity   [numPriorities]prometheus.Gauge
	duration   [numPriorities]prometheus.Observer
	rejections [numPriorities]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "corr2d", "engine"
	workers := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "workers",
		Help: "Number of engine worker goroutines.",
	})
	busy := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "busy_workers",
		Help: "Number of bands running now: on the engine's workers, or inline on the caller's goroutine for tiny background work (so it may exceed corr2d_engine_workers).",
	})
	depth := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "queue_depth",
		Help: "Number of bands waiting in the queue, by priority.",
	}, []string{"priority"})
	capacity := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "queue_capacity",
		Help: "Maximum number of bands the queue holds, by priority.",
	}, []string{"priority"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "task_duration_seconds",
		Help: "Time spent running one band, on a worker or inline, by priority.",
		// Bands range from tens of microseconds (small requests) to seconds
		// (huge ones split over few workers).
		Buckets: prometheus.ExponentialBuckets(1e-5, 4, 10),
	}, []string{"priority"})
	rejections := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "rejections_total",
		Help: "Requests rejected because their queue was full, by priority.",
	}, []string{"priority"})

	if reg != nil {
		cs := []prometheus.Collector{workers, busy, depth, capacity, duration, rejections}
		for i, c := range cs {
			if err := reg.Register(c); err != nil {
				// Leave the registry as we found it so the caller may retry.
				for _, done := range cs[:i] {
					reg.Unregister(done)
				}
				return nil, fmt.Errorf("engine: registering metrics: %w", err)
			}
		}
	}

	m := &metrics{workers: workers, busy: busy}
	for p := range Priority(numPriorities) {
		// Resolving every label value up front also makes each series
		// visible at zero before anything happens.
		l := p.String()
		m.depth[p] = depth.WithLabelValues(l)
		m.capacity[p] = capacity.WithLabelValues(l)
		m.duration[p] = duration.WithLabelValues(l)
		m.rejections[p] = rejections.WithLabelValues(l)
	}
	return m, nil
}
