package handlers

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"
)

func TestDecodeSlots(t *testing.T) {
	ctx := context.Background()
	sem := semaphore.NewWeighted(1)
	a, b := &decodeSlot{sem: sem}, &decodeSlot{sem: sem}
	if err := a.takeFirst(ctx, time.Second); err != nil {
		t.Fatalf("the first request's takeFirst = %v, want a slot", err)
	}
	// All slots taken: the next request waits its bound, then 503.
	var ae *apiError
	if err := b.takeFirst(ctx, 20*time.Millisecond); !errors.As(err, &ae) || ae.status != http.StatusServiceUnavailable || ae.limit != "max_decodes" {
		t.Fatalf("takeFirst with every slot taken = %v, want 503 max_decodes", err)
	}
	// A slot given back while the first waits for its body is free.
	a.give()
	if err := b.takeFirst(ctx, time.Second); err != nil {
		t.Fatalf("takeFirst after the holder gave its slot back = %v", err)
	}
	// The first request takes its turn again once the other is done.
	got := make(chan error, 1)
	go func() { got <- a.take(ctx) }()
	select {
	case err := <-got:
		t.Fatalf("take while the only slot is held returned %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	b.end()
	if err := <-got; err != nil {
		t.Fatalf("take after the slot came free = %v", err)
	}
	// A client that leaves while waiting is a cancellation.
	c := &decodeSlot{sem: sem}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.takeFirst(cctx, time.Second); !errors.As(err, &ae) || ae.status != statusClientClosed {
		t.Fatalf("takeFirst of a gone client = %v, want 499", err)
	}
	// An ended request never takes a slot again.
	a.end()
	if err := a.take(ctx); err != nil || !sem.TryAcquire(1) {
		t.Fatalf("take after end = %v, or it took the slot", err)
	}
}
