//go:build linux

package handlers_test

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corr2d/corr2d/internal/jobs"
)

// submitSlowJob starts a job whose steps take about a millisecond each: a
// 256×256 input and a 15×15 kernel. d2l's 6×8 problem runs a thousand
// steps in a few milliseconds, less than it takes to notice its first step
// and fill the disk, so the job could end before the disk was full. Under
// the race detector a step takes 15–20 ms, so callers keep the steps few
// enough for the job to end well within pollJob's wait.
func submitSlowJob(t *testing.T, f *fixture, steps int) string {
	t.Helper()
	const n, k = 256, 15
	r := rand.New(rand.NewPCG(3, 4))
	x := make([][]float64, n)
	for i := range x {
		x[i] = make([]float64, n)
		for j := range x[i] {
			x[i][j] = r.Float64()
		}
	}
	y := make([][]float64, n-k+1)
	for i := range y {
		y[i] = make([]float64, n-k+1)
	}
	body := `{"input": ` + mustJSON(t, x) + `, "target": ` + mustJSON(t, y) + `, "kernel_size": [` +
		strconv.Itoa(k) + `, ` + strconv.Itoa(k) + `], "lr": 1e-9, "steps": ` + strconv.Itoa(steps) + `, "seed": 42}`
	rec := f.do(t, http.MethodPost, "/train", body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST /train = %d: %s", rec.Code, rec.Body)
	}
	return decode[jobView](t, rec).ID
}

// mountTmpfs mounts a tmpfs of size bytes on a fresh directory and
// unmounts it at the end of the test (after the cleanups registered later,
// such as the store's). Without the right to mount it skips, except that
// under CI=true a failure other than a permission one fails the test.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size)
	switch {
	case errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES):
		t.Skipf("cannot mount a tmpfs here (%v): needs root", err)
	case err != nil && os.Getenv("CI") == "true":
		t.Fatalf("mount tmpfs: %v", err)
	case err != nil:
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes zeros to a file in dir until the file system is full.
func fill(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(errors.Join(err, f.Close()))
			}
			if err := f.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return name
		}
	}
}

// A data dir on a real file system that fills up while a job trains: the
// job ends failed with the reason, or waits paused with it; /readyz
// answers 503 while the store cannot write, and 200 once room is freed,
// when a paused job resumes and runs to its end.
func TestFullDiskFailsOrPausesTheJobAndIsNotReady(t *testing.T) {
	dir := mountTmpfs(t, "8m")
	f := newFixture(t, options{dir: dir, jobs: jobs.Config{CheckpointEvery: time.Millisecond, PausedRetry: 50 * time.Millisecond}})
	const steps = 300
	id := submitSlowJob(t, f, steps)
	pollJob(t, f, id, "made progress", func(j pausedView) bool { return j.Step > 0 })
	filler := fill(t, dir)
	j := pollJob(t, f, id, "failed or paused", func(j pausedView) bool { return j.Status == "failed" || j.PausedReason != "" })
	why := j.Error + j.PausedReason
	t.Logf("job on a full disk: %s at step %d, error %q, paused %q", j.Status, j.Step, j.Error, j.PausedReason)
	if !strings.Contains(why, "could not") || !strings.Contains(why, "full") {
		t.Errorf("job on a full disk = %+v, want failed or paused: could not ..., full", j)
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.do(t, http.MethodGet, "/readyz", "").Code != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("GET /readyz on a full disk never answered 503")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for f.do(t, http.MethodGet, "/readyz", "").Code != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("GET /readyz once room was freed never answered 200")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if j.Status == "failed" {
		return
	}
	done := pollJob(t, f, id, "resumed and ended", func(j pausedView) bool { return j.Status != "running" })
	if done.Status != "succeeded" || done.Step != steps || done.PausedReason != "" {
		t.Errorf("paused job once room was freed = %+v, want succeeded at step %d, no pause", done, steps)
	}
	losses := decode[lossPage](t, f.do(t, http.MethodGet, "/jobs/"+id+"/losses?limit="+strconv.Itoa(steps), ""))
	got := make([]int, len(losses.Losses))
	for i, p := range losses.Losses {
		got[i] = p.Step
	}
	if len(got) != steps {
		t.Fatalf("the resumed job recorded %d losses, want %d", len(got), steps)
	}
	checkConsecutive(t, got, 1)
}
