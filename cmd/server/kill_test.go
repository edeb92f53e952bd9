package main

import (
	"context"
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

// process is the server binary running as a child process, so that the
// test can kill it the hard way.
type process struct {
	cmd  *exec.Cmd
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

func startProcess(t *testing.T, bin, dataDir string, args ...string) *process {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, append([]string{"--addr", addr, "--data-dir", dataDir, "--drain-delay", "0"}, args...)...)
	logPath := filepath.Join(t.TempDir(), "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, base: "http://" + addr}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("log of the server at %s (last 4 KiB):\n%s", addr, b[max(0, len(b)-4096):])
			}
		}
	})
	waitOK(t, http.DefaultClient, p.base+"/readyz", 20*time.Second)
	return p
}

// waitOK polls url until it answers 200 OK, and fails t if it has not
// within timeout.
func waitOK(t *testing.T, client *http.Client, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered 200 OK", url)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	_ = p.cmd.Wait()

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
	if err := p2.cmd.Wait(); err != nil {
		t.Errorf("server exit after SIGINT: %v", err)
	}
}
