package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestLoadBalancerConfigDrainsAndFailsOver runs the shipped HAProxy
// configuration (deploy/haproxy/haproxy.cfg, with the compose service names
// replaced by local addresses) in front of two replicas on one PostgreSQL,
// sends requests through it without pause, and checks that both replicas
// serve, that a replica stopped with SIGTERM is taken out of rotation while
// it drains (its /readyz fails), before its listener closes, without a
// single failed request, and that the load balancer reports itself down
// once no replica is left.
func TestLoadBalancerConfigDrainsAndFailsOver(t *testing.T) {
	if testing.Short() {
		t.Skip("runs HAProxy and two server processes")
	}
	haproxy := debianTool(t, "haproxy", "HAPROXY")
	rs := startReplicas(t, buildBinary(t), 2, "--drain-delay", "5s")
	lb := startHAProxy(t, haproxy, rs)

	tr := startLBTraffic(lb)
	stopTraffic := tr.stop
	if p := idleReplica(rs, 20*time.Second); p != nil {
		stopTraffic()
		t.Fatalf("replica %s served nothing through the load balancer", p.base)
	}

	// A graceful stop of one replica: it leaves rotation while it still
	// serves, and not one request fails.
	a := rs.procs[0]
	stoppedAt := time.Now()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	idle := idleBeforeExit(a)
	t.Logf("replica a stopped %v after SIGTERM, having served nothing for its last %v", time.Since(stoppedAt).Round(time.Millisecond), idle.Round(time.Millisecond))
	if idle < time.Second {
		t.Errorf("the load balancer sent requests to replica a until %v before it stopped; want it out of rotation during the drain", idle)
	}
	before := tr.ok.Load()
	time.Sleep(time.Second)
	stopTraffic()
	if tr.ok.Load() == before {
		t.Error("no request succeeded through the load balancer after replica a stopped")
	}
	if n := tr.failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed through the load balancer while replica a drained; last: %v", n, n+tr.ok.Load(), tr.lastFailure.Load())
	}
	t.Logf("%d requests through the load balancer, %d failed", tr.ok.Load()+tr.failed.Load(), tr.failed.Load())

	// With the last replica gone, the load balancer says it is down.
	b := rs.procs[1]
	if err := b.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = b.wait()
	killedAt := time.Now()
	for status(t, lb+"/lb/health") != http.StatusServiceUnavailable {
		if time.Since(killedAt) > 15*time.Second {
			t.Fatal("/lb/health still not 503 15s after the last replica died")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("/lb/health answered 503 %v after the last replica died", time.Since(killedAt).Round(time.Millisecond))
}

// lbTraffic is four clients sending small correlations through the load
// balancer without pause, counting answers.
type lbTraffic struct {
	ok, failed  atomic.Int64
	lastFailure atomic.Value // string
	stop        func()
}

func startLBTraffic(lb string) *lbTraffic {
	tr := &lbTraffic{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	body := []byte(`{"input": [[0,1,2],[3,4,5],[6,7,8]], "kernel": [[0,1],[2,3]]}`)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				resp, err := client.Post(lb+"/corr2d", "application/json", bytes.NewReader(body))
				switch {
				case err != nil:
					tr.failed.Add(1)
					tr.lastFailure.Store(err.Error())
				case resp.StatusCode != http.StatusOK:
					tr.failed.Add(1)
					tr.lastFailure.Store(resp.Status)
				default:
					tr.ok.Add(1)
				}
				if resp != nil {
					_ = resp.Body.Close()
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	tr.stop = func() {
		close(done)
		wg.Wait()
		client.CloseIdleConnections()
	}
	return tr
}

// idleReplica returns a replica of rs that has served no correlation
// within timeout, or nil once every one has.
func idleReplica(rs *replicas, timeout time.Duration) *process {
	deadline := time.Now().Add(timeout)
	for _, p := range rs.procs {
		for n, _ := servedCorr2d(p); n == 0; n, _ = servedCorr2d(p) {
			if time.Now().After(deadline) {
				return p
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// idleBeforeExit waits for p to exit and returns for how long before that
// its count of served correlations stood still, read every 100ms.
func idleBeforeExit(p *process) time.Duration {
	last, changed := -1.0, time.Now()
	for {
		select {
		case <-p.exited:
			return time.Since(changed)
		case <-time.After(100 * time.Millisecond):
		}
		if n, err := servedCorr2d(p); err == nil && n != last {
			last, changed = n, time.Now()
		}
	}
}

// corr2dServed matches the counts of POST /corr2d answered with 200.
var corr2dServed = regexp.MustCompile(`(?m)^corr2d_http_requests_total\{[^}]*code="200"[^}]*route="/corr2d"[^}]*\} (\S+)$`)

// servedCorr2d reads how many POST /corr2d a replica answered with 200.
func servedCorr2d(p *process) (float64, error) {
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, m := range corr2dServed.FindAllSubmatch(b, -1) {
		v, err := strconv.ParseFloat(string(m[1]), 64)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// startHAProxy runs deploy/haproxy/haproxy.cfg in front of rs, on a local
// port: only the replicas' addresses and the bind line change. HAProxy
// serves a listener this test opened on a port the system picked, handed
// down as file descriptor 3 (bind fd@3), so that no other process can take
// the port first. It returns the load balancer's base URL once it reports
// itself up.
func startHAProxy(t *testing.T, bin string, rs *replicas) string {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join("..", "..", "deploy", "haproxy", "haproxy.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	lnFile, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lnFile.Close() }()
	cfg = replaceOnce(t, cfg, "bind :8080", "bind fd@3")
	for i, name := range []string{"corr2d-a", "corr2d-b"} {
		cfg = replaceOnce(t, cfg, name+":8080", rs.procs[i].base[len("http://"):])
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-f", path, "-db")
	cmd.ExtraFiles = []*os.File{lnFile}
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	t.Cleanup(func() {
		if t.Failed() {
			b := logs.String()
			t.Logf("haproxy log (last 4 KiB):\n%s", b[max(0, len(b)-4096):])
		}
	})
	c := startChild(t, cmd)
	base := "http://" + ln.Addr().String()
	if err := poll(c.exited, answersOK(http.DefaultClient, base+"/lb/health")); err != nil {
		t.Fatalf("%s/lb/health never answered 200 OK: %v", base, c.why(err))
	}
	return base
}

// replaceOnce replaces the one occurrence of old in b, failing t if there
// is not exactly one: the configuration and this test have drifted.
func replaceOnce(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	if n := bytes.Count(b, []byte(old)); n != 1 {
		t.Fatalf("haproxy.cfg has %q %d times, want once", old, n)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}
