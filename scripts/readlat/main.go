// Command readlat measures how fast a corr2d server answers reads while
// jobs train: it submits training jobs that run at full speed, then reads
// GET /jobs/{id}, GET /jobs and GET /metrics in turn for a while, and
// prints each route's latency percentiles. It cancels its jobs at the end.
//
//	go run ./scripts/readlat -base http://127.0.0.1:8080 -jobs 2 -for 20s
//
// scripts/readlat.sh starts a server (SQLite or PostgreSQL) at a given
// revision and runs this against it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"
)

func main() {
	base := flag.String("base", "http://127.0.0.1:8080", "the server's base URL")
	jobs := flag.Int("jobs", 2, "training jobs to run meanwhile")
	size := flag.Int("size", 64, "side of each job's square input")
	dur := flag.Duration("for", 20*time.Second, "how long to read")
	steps := flag.Int("steps", 1_000_000, "steps of each job; a few make the jobs end at once, for the same reads with nothing training")
	flag.Parse()
	if err := run(*base, *jobs, *size, *steps, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "readlat:", err)
		os.Exit(1)
	}
}

func run(base string, n, size, steps int, dur time.Duration) error {
	client := &http.Client{Timeout: 30 * time.Second}
	var ids []string
	defer func() {
		for _, id := range ids {
			_, _ = do(client, http.MethodPost, base+"/jobs/"+id+"/cancel", nil)
		}
	}()
	for i := range n {
		body, err := json.Marshal(trainBody(size, steps, i))
		if err != nil {
			return err
		}
		b, err := do(client, http.MethodPost, base+"/train", body)
		if err != nil {
			return fmt.Errorf("POST /train: %w", err)
		}
		var j struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &j); err != nil {
			return fmt.Errorf("POST /train answered %q", b)
		}
		ids = append(ids, j.ID)
	}
	if len(ids) == 0 {
		return fmt.Errorf("no jobs")
	}
	// Let the jobs get going and write some checkpoints first.
	time.Sleep(2 * time.Second)
	routes := []struct{ name, path string }{
		{"GET /jobs/{id}", "/jobs/" + ids[0]},
		{"GET /jobs", "/jobs?limit=20"},
		{"GET /metrics", "/metrics"},
	}
	lat := make([][]time.Duration, len(routes))
	for end := time.Now().Add(dur); time.Now().Before(end); {
		for i, r := range routes {
			start := time.Now()
			if _, err := do(client, http.MethodGet, base+r.path, nil); err != nil {
				return fmt.Errorf("%s: %w", r.name, err)
			}
			lat[i] = append(lat[i], time.Since(start))
		}
	}
	var j struct {
		Status string `json:"status"`
		Step   int    `json:"step"`
	}
	b, err := do(client, http.MethodGet, base+"/jobs/"+ids[0], nil)
	if err == nil {
		_ = json.Unmarshal(b, &j)
	}
	fmt.Printf("%d jobs training (%dx%d, job 1 %s at step %d), reading for %s\n", n, size, size, j.Status, j.Step, dur)
	fmt.Printf("%-16s %8s %10s %10s %10s\n", "route", "n", "p50", "p99", "max")
	for i, r := range routes {
		d := lat[i]
		slices.Sort(d)
		fmt.Printf("%-16s %8d %10s %10s %10s\n", r.name, len(d), pct(d, 0.50), pct(d, 0.99), d[len(d)-1].Round(time.Microsecond))
	}
	return nil
}

func pct(d []time.Duration, q float64) time.Duration {
	return d[min(len(d)-1, int(q*float64(len(d))))].Round(time.Microsecond)
}

// trainBody is a job on a random-looking input with a 3×3 kernel.
func trainBody(size, steps, seed int) map[string]any {
	x := make([][]float64, size)
	y := make([][]float64, size-2)
	for i := range x {
		for j := range size {
			x[i] = append(x[i], float64((i*31+j*17+seed)%13)/13-0.5)
		}
	}
	for i := range y {
		for j := range size - 2 {
			y[i] = append(y[i], x[i][j]-x[i+2][j+2])
		}
	}
	return map[string]any{"input": x, "target": y, "kernel_size": []int{3, 3}, "lr": 0.01,
		"steps": steps, "loss": "mean", "seed": seed}
}

func do(c *http.Client, method, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return b, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return b, nil
}
