package engine_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/corr2d/corr2d/internal/engine"
)

// gate is a hook that holds the first band a worker runs until released, and
// records the priority of every band in the order they start.
type gate struct {
	entered chan struct{} // closed when the first band reaches the hook
	release chan struct{} // closed by open, to let the first band go on
	once    sync.Once

	mu    sync.Mutex
	order []engine.Priority
}

func newGate() *gate {
	return &gate{entered: make(chan struct{}), release: make(chan struct{})}
}

func (g *gate) hook(p engine.Priority) {
	g.mu.Lock()
	g.order = append(g.order, p)
	first := len(g.order) == 1
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
	}
}

// open lets the held band go on; it may be called more than once.
func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

func (g *gate) started() []engine.Priority {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]engine.Priority(nil), g.order...)
}

// newHooked starts an engine with hook and a registry of its own, closing it
// when the test ends.
func newHooked(t *testing.T, cfg engine.Config, hook func(engine.Priority)) (*engine.Engine, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	e, err := engine.NewWithHook(cfg, reg, hook)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	t.Cleanup(e.Close)
	return e, reg
}

// newGated starts an engine whose first band waits at a gate until the
// gate opens. The gate also opens when the test ends, before the engine
// closes: a test that fails while the band waits would otherwise hang in
// Close, which waits for every worker.
func newGated(t *testing.T, cfg engine.Config) (*gate, *engine.Engine, *prometheus.Registry) {
	t.Helper()
	g := newGate()
	e, reg := newHooked(t, cfg, g.hook)
	t.Cleanup(g.open)
	return g, e, reg
}

// column returns an n x 1 plane of ones; with a 1x1 kernel it makes a
// request of n output rows, one band per row when MinBandWork is 1.
func column(n int) engine.Tensor[float64] {
	m := engine.Tensor[float64]{Shape: [4]int{1, 1, n, 1}, Data: make([]float64, n)}
	for i := range m.Data {
		m.Data[i] = 1
	}
	return m
}

var one = engine.Tensor[float64]{Shape: [4]int{1, 1, 1, 1}, Data: []float64{1}}

type result struct {
	m   engine.Tensor[float64]
	err error
}

// correlate is the valid single-channel correlation of x with k, the
// simplest Conv2D, which the pool tests send.
func correlate(ctx context.Context, e *engine.Engine, p engine.Priority, x, k engine.Tensor[float64]) (engine.Tensor[float64], error) {
	return engine.Conv2D(ctx, e, p, x, k, nil, engine.Conv{})
}

// goCorrelate runs correlate in a goroutine and delivers its result.
func goCorrelate(ctx context.Context, e *engine.Engine, p engine.Priority, x, k engine.Tensor[float64]) <-chan result {
	ch := make(chan result, 1)
	go func() {
		m, err := correlate(ctx, e, p, x, k)
		ch <- result{m, err}
	}()
	return ch
}

// waitUntil polls cond, for state that another goroutine reaches without
// signalling. It never asserts on time: if the state is never reached, the
// test binary's -timeout reports the hang, with waitUntil and its caller's
// line in the stack dump. what only documents the awaited state.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	_ = what
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

func depth(reg *prometheus.Registry, p string) func() float64 {
	return func() float64 { return gauge(reg, "corr2d_engine_queue_depth", p) }
}

// gauge reads one series (the one with the given priority label, if any) from
// reg.
func gauge(reg *prometheus.Registry, name, priority string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := priority == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "priority" && l.GetValue() == priority {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return -1
}

func TestCancelledOrExpiredContextReturnsAtOnce(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 2})
	x, k := column(10), one

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := correlate(ctx, e, engine.Interactive, x, k); !errors.Is(err, context.Canceled) {
		t.Errorf("correlate(cancelled ctx) = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel()
	if _, err := correlate(ctx, e, engine.Background, x, k); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("correlate(expired ctx) = %v, want context.DeadlineExceeded", err)
	}

	e.Close()
	goleak.VerifyNone(t)
}

// checkCancelledMidway runs call on an engine of the given workers whose
// first band cancels call's context; every band that reaches the hook
// waits until the cancellation has happened, so none computes a row. call
// must return context.Canceled having started between one and workers of
// its bands (and fewer than all), leaving the queue empty and, once the
// engine is closed, no goroutine behind.
func checkCancelledMidway(t *testing.T, workers int, bands func(*engine.Engine) int, call func(context.Context, *engine.Engine) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	var mu sync.Mutex
	started := 0
	hook := func(engine.Priority) {
		mu.Lock()
		started++
		mu.Unlock()
		once.Do(cancel)
	}
	e, reg := newHooked(t, engine.Config{Workers: workers, MinBandWork: 1}, hook)
	n := bands(e)
	if err := call(ctx, e); !errors.Is(err, context.Canceled) {
		t.Fatalf("call cancelled midway = %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if started < 1 || started > workers || started >= n {
		t.Errorf("%d of %d bands started with %d workers, want 1..%d", started, n, workers, workers)
	}
	if got := gauge(reg, "corr2d_engine_queue_depth", "background"); got != 0 {
		t.Errorf("queue depth after return = %v, want 0", got)
	}
	e.Close()
	goleak.VerifyNone(t)
}

func TestInteractiveRequestIsRejectedWhenTheQueueIsFull(t *testing.T) {
	g, e, reg := newGated(t, engine.Config{Workers: 1, QueueSize: 2, MinBandWork: 1})

	// Two bands: the worker holds the first, the second waits in the queue.
	first := goCorrelate(context.Background(), e, engine.Interactive, column(3), one)
	<-g.entered
	if got := depth(reg, "interactive")(); got != 1 {
		t.Fatalf("interactive queue depth = %v, want 1", got)
	}

	// Two more bands do not fit in the one free slot, so none is queued.
	_, err := correlate(context.Background(), e, engine.Interactive, column(2), one)
	if !errors.Is(err, engine.ErrOverloaded) {
		t.Fatalf("correlate(full queue) = %v, want ErrOverloaded", err)
	}
	if got := gauge(reg, "corr2d_engine_rejections_total", "interactive"); got != 1 {
		t.Errorf("interactive rejections = %v, want 1", got)
	}
	if got := depth(reg, "interactive")(); got != 1 {
		t.Errorf("interactive queue depth after rejection = %v, want 1 (all or nothing)", got)
	}

	// Background work is never rejected: with its queue full, the next
	// request waits for room until the worker is released, and one that
	// gives up waiting gets its context's error.
	bg := goCorrelate(context.Background(), e, engine.Background, column(2), one)
	waitUntil(t, "the background queue fills", func() bool { return depth(reg, "background")() == 2 })
	waiting := goCorrelate(context.Background(), e, engine.Background, column(1), one)
	ctx, cancel := context.WithCancel(context.Background())
	givesUp := goCorrelate(ctx, e, engine.Background, column(1), one)
	cancel()
	if r := <-givesUp; !errors.Is(r.err, context.Canceled) {
		t.Errorf("correlate(background, cancelled while waiting) = %v, want context.Canceled", r.err)
	}

	g.open()
	for name, ch := range map[string]<-chan result{"first": first, "background": bg, "waiting background": waiting} {
		if r := <-ch; r.err != nil {
			t.Errorf("correlate(%s) = %v, want success", name, r.err)
		}
	}
	if got := gauge(reg, "corr2d_engine_rejections_total", "background"); got != 0 {
		t.Errorf("background rejections = %v, want 0", got)
	}
}

// Once the held worker is released it must take the interactive band before
// any of the background bands queued ahead of it.
func TestInteractiveWorkRunsBeforeQueuedBackgroundWork(t *testing.T) {
	g, e, reg := newGated(t, engine.Config{Workers: 1, QueueSize: 64, MinBandWork: 1})

	bg := goCorrelate(context.Background(), e, engine.Background, column(8), one)
	<-g.entered
	waitUntil(t, "seven background bands are queued", func() bool { return depth(reg, "background")() == 7 })
	fg := goCorrelate(context.Background(), e, engine.Interactive, column(1), one)
	waitUntil(t, "the interactive band is queued", func() bool { return depth(reg, "interactive")() == 1 })
	g.open()

	for _, ch := range []<-chan result{bg, fg} {
		if r := <-ch; r.err != nil {
			t.Fatalf("Correlate = %v, want success", r.err)
		}
	}
	B, I := engine.Background, engine.Interactive
	want := []engine.Priority{B, I, B, B, B, B, B, B, B}
	if diff := cmp.Diff(want, g.started()); diff != "" {
		t.Errorf("band start order mismatch (-want +got):\n%s", diff)
	}
}

// Small interactive work takes the express lane and so runs before the
// bands of a large interactive request queued ahead of it.
func TestSmallInteractiveWorkOvertakesLargeInteractiveWork(t *testing.T) {
	g, e, reg := newGated(t, engine.Config{Workers: 1, QueueSize: 64, MinBandWork: 1})

	big := goCorrelate(context.Background(), e, engine.Interactive, column(1<<21), one)
	<-g.entered
	waitUntil(t, "seven more bands of the large request are queued", func() bool { return depth(reg, "interactive")() == 7 })
	if n := e.ExpressDepth(); n != 0 {
		t.Fatalf("a request of 2^21 multiply-adds put %d bands in the express lane", n)
	}
	small := goCorrelate(context.Background(), e, engine.Interactive, column(1), one)
	waitUntil(t, "the small request is queued", func() bool { return depth(reg, "interactive")() == 8 })
	if n := e.ExpressDepth(); n != 1 {
		t.Fatalf("the small request put %d bands in the express lane, want 1", n)
	}
	g.open()
	for _, ch := range []<-chan result{big, small} {
		if r := <-ch; r.err != nil {
			t.Fatalf("Correlate = %v, want success", r.err)
		}
	}
	if n := len(g.started()); n != 9 {
		t.Errorf("%d bands ran, want 9", n)
	}
}

func TestCloseFailsQueuedWorkAndLetsRunningWorkFinish(t *testing.T) {
	g, e, reg := newGated(t, engine.Config{Workers: 1, QueueSize: 4, MinBandWork: 1})

	running := goCorrelate(context.Background(), e, engine.Interactive, column(4), one)
	<-g.entered
	queued := goCorrelate(context.Background(), e, engine.Background, column(4), one)
	waitUntil(t, "the background queue fills", func() bool { return depth(reg, "background")() == 4 })
	waitingForRoom := goCorrelate(context.Background(), e, engine.Background, column(1), one)

	closed := make(chan struct{})
	go func() {
		e.Close()
		close(closed)
	}()
	// The probe's two bands do not fit in the one free interactive slot, so
	// it is rejected at once: ErrOverloaded until Close stops admission,
	// ErrClosed after.
	waitUntil(t, "Close stops admission", func() bool {
		_, err := correlate(context.Background(), e, engine.Interactive, column(2), one)
		return errors.Is(err, engine.ErrClosed)
	})
	g.open()
	<-closed

	for name, ch := range map[string]<-chan result{"running": running, "queued": queued, "waiting for room": waitingForRoom} {
		if r := <-ch; !errors.Is(r.err, engine.ErrClosed) {
			t.Errorf("correlate(%s at Close) = %v, want ErrClosed", name, r.err)
		}
	}
	if got := g.started(); len(got) != 1 {
		t.Errorf("%d bands started, want only the one running at Close", len(got))
	}
	goleak.VerifyNone(t)
}

func TestCloseIsIdempotentAndRejectsLaterRequests(t *testing.T) {
	e, err := engine.New(engine.Config{Workers: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := correlate(context.Background(), e, engine.Interactive, column(5), one); err != nil {
		t.Fatalf("correlate before Close = %v", err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(e.Close)
	}
	wg.Wait()
	e.Close()
	for _, p := range []engine.Priority{engine.Interactive, engine.Background} {
		if _, err := correlate(context.Background(), e, p, column(5), one); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("correlate(%v) after Close = %v, want ErrClosed", p, err)
		}
	}
	goleak.VerifyNone(t)
}

func TestPanickingBandBecomesAnError(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	hook := func(engine.Priority) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			panic("boom")
		}
	}
	e, reg := newHooked(t, engine.Config{Workers: 1, MinBandWork: 1}, hook)

	_, err := correlate(context.Background(), e, engine.Interactive, column(3), one)
	if err == nil || !strings.Contains(err.Error(), "band panicked: boom") {
		t.Errorf("correlate(panicking band) = %v, want a band panicked error", err)
	}
	// The worker survived and runs the next request.
	got, err := correlate(context.Background(), e, engine.Interactive, column(3), one)
	if err != nil {
		t.Fatalf("correlate after a panic = %v", err)
	}
	if diff := cmp.Diff(column(3), got); diff != "" {
		t.Errorf("correlate after a panic mismatch (-want +got):\n%s", diff)
	}
	if got := gauge(reg, "corr2d_engine_busy_workers", ""); got != 0 {
		t.Errorf("busy workers = %v, want 0", got)
	}
}

func TestNewRegistersMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, err := engine.New(engine.Config{Workers: 2, QueueSize: 10}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := correlate(context.Background(), e, engine.Interactive, column(4), one); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, priority string
		want           float64
	}{
		{"corr2d_engine_workers", "", 2},
		{"corr2d_engine_busy_workers", "", 0},
		{"corr2d_engine_queue_depth", "interactive", 0},
		{"corr2d_engine_queue_depth", "background", 0},
		{"corr2d_engine_queue_capacity", "interactive", 10},
		{"corr2d_engine_queue_capacity", "background", 10},
		{"corr2d_engine_task_duration_seconds", "interactive", 1},
		{"corr2d_engine_task_duration_seconds", "background", 0},
		{"corr2d_engine_rejections_total", "interactive", 0},
		{"corr2d_engine_rejections_total", "background", 0},
	}
	for _, tt := range tests {
		if got := gauge(reg, tt.name, tt.priority); got != tt.want {
			t.Errorf("%s{priority=%q} = %v, want %v", tt.name, tt.priority, got, tt.want)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		series += len(mf.GetMetric())
	}
	if series != 10 {
		t.Errorf("Gather returned %d series, want 10 (every label value present from the start)", series)
	}

	// A second engine on the same registry collides, and says so.
	if e2, err := engine.New(engine.Config{Workers: 1}, reg); err == nil {
		e2.Close()
		t.Errorf("New on a registry that already has engine metrics succeeded, want an error")
	} else if are := (prometheus.AlreadyRegisteredError{}); !errors.As(err, &are) {
		t.Errorf("New on a used registry = %v, want a prometheus.AlreadyRegisteredError", err)
	}
}

// Tiny background work runs on the caller's goroutine, not a worker; the
// saturation metrics must count it all the same.
func TestInlineBackgroundWorkCountsAsABand(t *testing.T) {
	reg := prometheus.NewRegistry()
	e, err := engine.New(engine.Config{Workers: 1}, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for range 3 {
		if _, err := correlate(context.Background(), e, engine.Background, column(4), one); err != nil {
			t.Fatal(err)
		}
	}
	if got := gauge(reg, "corr2d_engine_task_duration_seconds", "background"); got != 3 {
		t.Errorf("background bands observed = %v, want 3", got)
	}
	if got := gauge(reg, "corr2d_engine_busy_workers", ""); got != 0 {
		t.Errorf("busy workers after the work = %v, want 0", got)
	}
}

func TestNewConfig(t *testing.T) {
	e := newTestEngine(t, engine.Config{})
	if got, want := e.Workers(), runtime.GOMAXPROCS(0); got != want {
		t.Errorf("Workers() with a zero Config = %d, want GOMAXPROCS %d", got, want)
	}
	for _, cfg := range []engine.Config{{Workers: -1}, {QueueSize: -1}, {MinBandWork: -1}} {
		if e, err := engine.New(cfg, nil); err == nil {
			e.Close()
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

// Many concurrent callers of both priorities must each get their own correct
// result; run with -race this also checks the pool's synchronisation.
func TestConcurrentCallers(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 4, MinBandWork: 16})
	var wg sync.WaitGroup
	for c := range 16 {
		wg.Go(func() {
			r := newRand()
			p := engine.Priority(c % 2)
			for range 10 {
				x := randTensor[float64](r, [4]int{1, 1, 5 + r.IntN(40), 5 + r.IntN(40)})
				k := randTensor[float64](r, [4]int{1, 1, 1 + r.IntN(5), 1 + r.IntN(5)})
				got, err := correlate(context.Background(), e, p, x, k)
				if err != nil {
					t.Errorf("correlate(%v) = %v", p, err)
					return
				}
				want, scale := refConv2D(x, k, nil, engine.Conv{})
				checkTensorClose(t, got, want, scale)
			}
		})
	}
	wg.Wait()
}

func TestBands(t *testing.T) {
	tests := []struct {
		name                 string
		cfg                  engine.Config
		outRows, outCols, kk int
		want                 int
	}{
		{"a tiny request is one band", engine.Config{Workers: 4}, 2, 2, 4, 1},
		{"work below MinBandWork is one band", engine.Config{Workers: 4, MinBandWork: 1000}, 10, 10, 9, 1},
		{"work is split by MinBandWork", engine.Config{Workers: 4, MinBandWork: 100}, 10, 10, 9, 9},
		{"never more bands than rows", engine.Config{Workers: 4, MinBandWork: 1}, 3, 1000, 9, 3},
		{"at most eight bands per worker", engine.Config{Workers: 2, MinBandWork: 1}, 1000, 1000, 9, 16},
		{"never more bands than the queue holds", engine.Config{Workers: 4, QueueSize: 5, MinBandWork: 1}, 1000, 1000, 9, 5},
		{"huge work does not overflow", engine.Config{Workers: 4, MinBandWork: 1}, 1 << 30, 1 << 30, 1 << 30, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, tt.cfg)
			if got := e.Bands(tt.outRows, tt.outCols, tt.kk); got != tt.want {
				t.Errorf("Bands(%d, %d, %d) = %d, want %d", tt.outRows, tt.outCols, tt.kk, got, tt.want)
			}
		})
	}
}
