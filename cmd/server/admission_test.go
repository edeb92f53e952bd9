package main

import (
	"io"
	"net/http"
	"testing"
	"time"
)

func TestByteSizeFlags(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int64
	}{
		{"4GiB", 4 << 30},
		{"512MiB", 512 << 20},
		{"64KiB", 64 << 10},
		{"1048576", 1 << 20},
		{"7B", 7},
	} {
		c, err := parseConfig([]string{"--memory-budget", tc.value}, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Errorf("--memory-budget %s: %v", tc.value, err)
			continue
		}
		if int64(c.memoryBudget) != tc.want {
			t.Errorf("--memory-budget %s = %d, want %d", tc.value, c.memoryBudget, tc.want)
		}
	}
	for _, bad := range []string{"4GB", "-1", "lots", "99999999999TiB"} {
		if _, err := parseConfig([]string{"--memory-budget", bad}, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("--memory-budget %s was accepted", bad)
		}
	}
	c, err := parseConfig(nil, func(k string) string { return map[string]string{"CORR2D_MAX_HEADER_BYTES": "16KiB"}[k] }, io.Discard)
	if err != nil || c.maxHeaderBytes != 16<<10 {
		t.Errorf("CORR2D_MAX_HEADER_BYTES=16KiB gave %d, %v; want 16384", c.maxHeaderBytes, err)
	}
}

// TestShutdownDrainsBeforeItStopsAccepting checks the order of a shutdown:
// /readyz fails first, for the drain delay, while requests are still
// served. The delay is long enough that a loaded machine, slow to answer
// each poll, still sees the 503 and then a served request within it.
func TestShutdownDrainsBeforeItStopsAccepting(t *testing.T) {
	const drain = 3 * time.Second
	s := startServer(t, t.TempDir(), nil, "--drain-delay", drain.String(), "--memory-budget", "1GiB")
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	deadline := time.Now().Add(drain - 100*time.Millisecond)
	sawDraining := false
	for time.Now().Before(deadline) && !sawDraining {
		resp, err := http.Get(s.base + "/readyz")
		if err != nil {
			t.Fatalf("the server stopped accepting before its drain delay: %v", err)
		}
		_ = resp.Body.Close()
		sawDraining = resp.StatusCode == http.StatusServiceUnavailable
		time.Sleep(20 * time.Millisecond)
	}
	if !sawDraining {
		t.Fatal("/readyz never answered 503 during the drain delay")
	}
	resp, err := http.Get(s.base + "/healthz")
	if err != nil {
		t.Fatalf("the server stopped accepting during its drain delay: %v", err)
	}
	_ = resp.Body.Close()
	if err := <-stopped; err != nil {
		t.Fatalf("run: %v", err)
	}
}
