package handlers

import (
	"context"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// Decoding a large body (parsing JSON numbers, inflating and converting a
// PNG) keeps a core busy for as long as the body lasts. Left alone, a few
// dozen of them at once leave the scheduler so many runnable goroutines
// that a probe waits behind them for seconds. So a request decodes only
// while it holds one of a few decode slots, as many as there are cores by
// default: it takes one before it reads its body, waiting at most the
// admission wait (else 503), gives it back while it waits for the network,
// so that a slow client holds none, and gives it up for good once its
// tensors are decoded (the engine bounds the computation itself). The
// probes, /metrics and the job routes never take one.

// decodeSlot is a request's claim on a decode slot. Its methods may be
// called after the request has ended, and then do nothing.
type decodeSlot struct {
	mu    sync.Mutex
	sem   *semaphore.Weighted
	held  bool
	ended bool // the request is over: never take a slot again
}

type decodeSlotKey struct{}

// takeFirst takes a slot for a request that has not decoded yet, waiting
// at most wait.
func (d *decodeSlot) takeFirst(ctx context.Context, wait time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	err := d.take(wctx)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return clientGone()
	}
	return &apiError{status: http.StatusServiceUnavailable, code: codeOverloaded, limit: "max_decodes",
		detail: "every decode slot is taken by other requests; retry later"}
}

// take takes a slot back, waiting as long as ctx allows: a request that
// was admitted and is part way through its body waits its turn rather
// than be refused with its work half done. The slots are handed out in
// the order they were asked for, and each is held only while a buffer of
// body is decoded, so the wait is short.
func (d *decodeSlot) take(ctx context.Context) error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.held || d.ended {
		return nil
	}
	if err := d.sem.Acquire(ctx, 1); err != nil {
		return err
	}
	d.held = true
	return nil
}

// give gives the slot back, if held.
func (d *decodeSlot) give() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.held {
		d.sem.Release(1)
		d.held = false
	}
}

// end gives the slot back for good.
func (d *decodeSlot) end() {
	d.give()
	d.mu.Lock()
	d.ended = true
	d.mu.Unlock()
}

// decoded gives up the request's decode slot: its tensors are decoded.
func decoded(ctx context.Context) {
	if d, ok := ctx.Value(decodeSlotKey{}).(*decodeSlot); ok {
		d.end()
	}
}
