package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type lossPoint struct {
	Step int     `json:"step"`
	Loss float64 `json:"loss"`
}

// child is a process the test started; exited is closed once it has
// ended, and err is then what Wait returned.
type child struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// startChild starts cmd and kills it, if still running, when t ends.
func startChild(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, exited: make(chan struct{})}
	go func() {
		defer close(c.exited)
		c.err = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})
	return c
}

// why says why poll gave up on c: with Wait's answer if c exited.
func (c *child) why(err error) error {
	switch {
	case !errors.Is(err, errExited):
		return err
	case c.err == nil:
		return errors.New("it exited with status 0")
	}
	return fmt.Errorf("it exited: %w", c.err)
}

// wait waits until the process has ended and returns what Wait returned.
func (c *child) wait() error {
	<-c.exited
	return c.err
}

// process is the server binary running as a child process, so that the
// test can kill it the hard way.
type process struct {
	*child
	base string
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "corr2d")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess runs the server binary with args on a port of its own
// choice and waits until it is ready.
func startProcess(t *testing.T, bin, dataDir string, args ...string) *process {
	t.Helper()
	listen, addrFile := listenArgs(t)
	cmd := exec.Command(bin, append(append(listen, "--data-dir", dataDir, "--drain-delay", "0"), args...)...)
	logPath := filepath.Join(t.TempDir(), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p := &process{}
	// Cleanups run last first: this one after startChild's has killed it.
	t.Cleanup(func() {
		_ = logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("log of the server at %s (last 4 KiB):\n%s", p.base, b[max(0, len(b)-4096):])
			}
		}
	})
	p.child = startChild(t, cmd)
	var addr string
	if err := poll(p.exited, func() bool { return readAddr(addrFile, &addr) }); err != nil {
		t.Fatalf("the server wrote no --addr-file: %v", p.why(err))
	}
	p.base = "http://" + addr
	if err := poll(p.exited, answersOK(http.DefaultClient, p.base+"/readyz")); err != nil {
		t.Fatalf("%s/readyz never answered 200 OK: %v", p.base, p.why(err))
	}
	return p
}

func (p *process) server() *server {
	return &server{base: p.base, client: &http.Client{Timeout: 30 * time.Second}}
}

func (s *server) losses(t *testing.T, id string) []lossPoint {
	t.Helper()
	var all []lossPoint
	after := 0
	for {
		var page struct {
			Losses        []lossPoint `json:"losses"`
			NextAfterStep *int        `json:"next_after_step"`
		}
		s.call(t, http.MethodGet, fmt.Sprintf("/jobs/%s/losses?after_step=%d&limit=10000", id, after), nil, &page)
		all = append(all, page.Losses...)
		if page.NextAfterStep == nil {
			return all
		}
		after = *page.NextAfterStep
	}
}

// TestKillNineLosesNothing kills the server with SIGKILL in the middle of
// training, with more jobs waiting, and checks that the restarted server
// still has every job and every loss it had reported, and carries on.
func TestKillNineLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the server binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	p := startProcess(t, bin, dir, "--job-concurrency", "1", "--checkpoint-every", "1ms")
	s := p.server()

	var running job
	s.call(t, http.MethodPost, "/train", trainBody(1_000_000), &running)
	var queued []string
	for range 3 {
		var j job
		s.call(t, http.MethodPost, "/train", trainBody(20), &j)
		queued = append(queued, j.ID)
	}
	s.waitJob(t, running.ID, func(j job) bool { return j.Step >= 50 })
	recorded := s.losses(t, running.ID)

	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.wait()

	p2 := startProcess(t, bin, dir, "--job-concurrency", "2")
	s2 := p2.server()
	// Every loss reported before the kill is still there, unchanged.
	after := s2.losses(t, running.ID)
	if len(after) < len(recorded) {
		t.Fatalf("%d losses after the restart, %d before", len(after), len(recorded))
	}
	if diff := cmp.Diff(recorded, after[:len(recorded)]); diff != "" {
		t.Errorf("recorded losses changed across kill -9 (-before +after):\n%s", diff)
	}
	// The interrupted job resumes from its checkpoint and the waiting ones run.
	s2.waitJob(t, running.ID, func(j job) bool { return j.Step > len(recorded)+10 })
	for _, id := range queued {
		if j := s2.waitJob(t, id, finished); j.Status != "succeeded" {
			t.Errorf("queued job %s ended %s (%s)", id, j.Status, j.Error)
		}
	}
	history := s2.losses(t, running.ID)
	for i, pt := range history {
		if pt.Step != i+1 {
			t.Fatalf("loss history has step %d at position %d: a gap or a duplicate", pt.Step, i)
		}
	}
	s2.call(t, http.MethodPost, "/jobs/"+running.ID+"/cancel", nil, nil)

	// A clean stop on SIGTERM exits 0.
	if err := p2.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { <-ctx.Done(); _ = p2.cmd.Process.Kill() }()
	if err := p2.wait(); err != nil {
		t.Errorf("server exit after SIGINT: %v", err)
	}
}
