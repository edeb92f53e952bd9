package admit_test

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/corr2d/corr2d/internal/admit"
)

func TestLimitListenerRefusesConnectionsOverTheCap(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := admit.LimitListener(raw, 1)
	defer func() { _ = ln.Close() }()
	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := dial()
	defer func() { _ = first.Close() }()
	held := <-accepted

	second := dial()
	defer func() { _ = second.Close() }()
	_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(second), nil)
	if err != nil {
		t.Fatalf("a connection over the cap got no answer: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("over the cap: status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// Closing the held connection frees its slot, once.
	_ = held.Close()
	_ = held.Close()
	third := dial()
	defer func() { _ = third.Close() }()
	select {
	case c := <-accepted:
		_ = c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a connection within the cap again was not accepted")
	}
}
