package engine

import (
	"context"
	"fmt"
	"time"
)

// run splits units of work into n bands on queue p, waits for all of them to
// finish or be skipped, and returns the first error of any band. macs is the
// work's size in multiply-adds.
func (e *Engine) run(ctx context.Context, p Priority, work plan, units, n int, macs float64) error {
	if p == Background && n == 1 && macs < float64(e.minBandWork) && e.hook == nil {
		return e.inline(ctx, work, units)
	}
	tasks := make([]task, n)
	// A derived context lets one failing band (a panic, say) cancel its
	// siblings, whose work would be thrown away anyway.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &call{ctx: cctx, cancel: cancel, work: work}
	for b := range tasks {
		tasks[b] = task{c: c, lo: b * units / n, hi: (b + 1) * units / n}
	}
	submitted := time.Now()
	if err := e.submit(ctx, p, c, tasks, macs); err != nil {
		return err
	}
	c.wg.Wait()
	if s, ok := ctx.Value(statsKey{}).(*Stats); ok {
		end := time.Now()
		if first := c.started.Load(); first != 0 {
			s.Queue += time.Unix(0, first).Sub(submitted)
			s.Compute += end.Sub(time.Unix(0, first))
		} else {
			s.Queue += end.Sub(submitted)
		}
	}
	return c.err // no band is left to write c.err after Wait
}

// inline runs tiny background work on the caller's goroutine: handing a
// few dozen multiply-adds (a training step on d2l's 6×8 image) to a worker
// and back costs many times the work itself, and work this small cannot
// hold up an interactive request. It counts as a busy worker and a
// background band all the same, or the saturation metrics would read zero
// while training keeps every core busy.
func (e *Engine) inline(ctx context.Context, work plan, units int) (err error) {
	select {
	case <-e.quit:
		return ErrClosed
	default:
	}
	start := time.Now()
	e.metrics.busy.Inc()
	defer func() {
		e.metrics.duration[Background].Observe(time.Since(start).Seconds())
		e.metrics.busy.Dec()
		if r := recover(); r != nil {
			err = fmt.Errorf("engine: band panicked: %v", r)
		}
		if s, ok := ctx.Value(statsKey{}).(*Stats); ok {
			s.Compute += time.Since(start)
		}
	}()
	return work.units(ctx, 0, units)
}

// eachUnit calls fn for the units [lo, hi) of a band, and stops with the
// context's error before the next unit once it is cancelled, so that a
// cancelled call gives its workers back within one unit.
func eachUnit(ctx context.Context, lo, hi int, fn func(u int)) error {
	done := ctx.Done()
	for u := lo; u < hi; u++ {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		fn(u)
	}
	return nil
}

// ready checks what every public entry point checks before any work: a
// known priority and a live context.
func ready(ctx context.Context, p Priority, op string) error {
	if p != Interactive && p != Background {
		return fmt.Errorf("engine: unknown priority %d", int(p))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("engine: %s: %w", op, err)
	}
	return nil
}

// Stats is how long a caller's work waited in the queue and then ran, summed
// over its calls, and the method the last Conv2D call computed with.
// Callers that want it attach one with WithStats.
type Stats struct {
	Queue, Compute time.Duration
	Method         Method
}

type statsKey struct{}

// WithStats returns a context under which Conv2D and Conv2DWeightGrad add
// their queueing and computing times to s. s must not be shared by
// concurrent calls.
func WithStats(ctx context.Context, s *Stats) context.Context {
	return context.WithValue(ctx, statsKey{}, s)
}

// bands returns how many bands to split work of the given units into, each
// of cols outputs of taps multiply-adds: enough for each band to carry at
// least minBandWork, at most a few per worker, never more than the queue
// holds (or a big request could never be admitted) and never more than the
// units.
func (e *Engine) bands(units, cols, taps int) int {
	// Floating point because the product can overflow int for huge inputs.
	work := float64(units) * float64(cols) * float64(taps)
	n := min(work/float64(e.minBandWork), float64(units), float64(e.queueSize), float64(maxBandsPerWorker*e.workers))
	return max(int(n), 1)
}
