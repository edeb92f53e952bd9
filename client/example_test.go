package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corr2d/corr2d/client"
	"github.com/corr2d/corr2d/client/corr2dapi"
)

// serverURL is the live server the examples talk to: $CORR2D_URL, or one
// built from this module and started for the package's tests.
var serverURL string

func TestMain(m *testing.M) {
	os.Exit(runWithServer(m))
}

func runWithServer(m *testing.M) int {
	if serverURL = os.Getenv("CORR2D_URL"); serverURL != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "corr2d-client-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin := filepath.Join(dir, "corr2d")
	build := exec.Command("go", "build", "-o", bin, "github.com/corr2d/corr2d/cmd/server")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the server:", err)
		return 1
	}
	// The server listens on a port the system picks and writes it to
	// addrFile: no other process can take the port in between.
	addrFile := filepath.Join(dir, "addr")
	srv := exec.Command(bin, "--addr", "127.0.0.1:0", "--addr-file", addrFile,
		"--data-dir", filepath.Join(dir, "data"), "--log-level", "error")
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "start the server:", err)
		return 1
	}
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		_ = srv.Wait()
	}()
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		<-exited
	}()
	if err := waitForServer(addrFile, exited); err != nil {
		fmt.Fprintln(os.Stderr, "the server did not become ready:", err)
		return 1
	}
	return m.Run()
}

// waitForServer waits until the server started with --addr-file addrFile
// has written it and answers /readyz, and sets serverURL. A start shows no
// progress to watch: the two-minute bound, far above the seconds a start
// takes on a loaded machine, only turns a hang into a failure. It gives
// up at once if exited is closed.
func waitForServer(addrFile string, exited <-chan struct{}) error {
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if b, err := os.ReadFile(addrFile); err == nil {
			serverURL = "http://" + strings.TrimSpace(string(b))
			if resp, err := http.Get(serverURL + "/readyz"); err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return errors.New("not ready after 2 minutes")
		}
		select {
		case <-exited:
			return errors.New("the server exited")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// d2l 6.2: a white 6x8 image with a black band, and its vertical edges.
func d2l() (x, y client.Tensor) {
	var xr, yr [][]float64
	for range 6 {
		xr = append(xr, []float64{1, 1, 0, 0, 0, 0, 1, 1})
		yr = append(yr, []float64{0, 1, 0, 0, 0, -1, 0})
	}
	return client.Matrix(xr), client.Matrix(yr)
}

func mustClient() *client.Client {
	c, err := client.New(serverURL, os.Getenv("CORR2D_TOKEN"))
	if err != nil {
		panic(err)
	}
	return c
}

// finishedJob trains d2l's problem for three steps and waits for it.
func finishedJob(c *client.Client) corr2dapi.Job {
	x, y := d2l()
	j, err := c.Train(context.Background(), x, y, map[string]any{"kernel_size": []int{1, 2}, "steps": 3, "seed": 42, "dtype": "float32"})
	if err != nil {
		panic(err)
	}
	if j, err = c.Wait(context.Background(), j.Id); err != nil {
		panic(err)
	}
	return j
}

// POST /corr2d, with .npy tensors both ways.
func ExampleClient_Corr2D() {
	c := mustClient()
	x, _ := d2l()
	y, err := c.Corr2D(context.Background(), x, client.Matrix([][]float64{{1, -1}}), nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(y.Shape, y.Rows()[0])
	// Output: [6 7] [0 1 0 0 0 -1 0]
}

// A refused request is a *client.Problem naming the field.
func ExampleProblem() {
	c := mustClient()
	_, err := c.Corr2D(context.Background(), client.Matrix([][]float64{{1, 2}}), client.Matrix([][]float64{{1, 2, 3}}), nil)
	var p *client.Problem
	if !errors.As(err, &p) {
		panic(err)
	}
	fmt.Println(p.Status, p.Code(), p.Pointer())
	// Output: 422 invalid-shape /kernel
}

// POST /train, then GET /jobs/{id}?wait=30s until the job ends.
func ExampleClient_Wait() {
	c := mustClient()
	x, y := d2l()
	j, err := c.Train(context.Background(), x, y, map[string]any{"kernel_size": []int{1, 2}, "lr": 0.03, "steps": 10, "seed": 42, "dtype": "float32"})
	if err != nil {
		panic(err)
	}
	if j, err = c.Wait(context.Background(), j.Id); err != nil {
		panic(err)
	}
	fmt.Println(j.Status, j.Step, fmt.Sprintf("%.4f", *j.Loss))
	// Output: succeeded 10 0.3476
}

// GET /jobs/{id}.
func ExampleClient_getJob() {
	c := mustClient()
	j := finishedJob(c)
	resp, err := c.API.GetJobWithResponse(context.Background(), j.Id, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode(), resp.JSON200.Status, resp.JSON200.Steps)
	// Output: 200 succeeded 3
}

// GET /jobs.
func ExampleClient_listJobs() {
	c := mustClient()
	j := finishedJob(c)
	status := corr2dapi.Succeeded
	resp, err := c.API.ListJobsWithResponse(context.Background(), &corr2dapi.ListJobsParams{Status: &status})
	if err != nil {
		panic(err)
	}
	found := false
	for _, listed := range resp.JSON200.Jobs {
		found = found || listed.Id == j.Id
	}
	fmt.Println(resp.StatusCode(), found)
	// Output: 200 true
}

// GET /jobs/{id}/losses.
func ExampleClient_listJobLosses() {
	c := mustClient()
	j := finishedJob(c)
	resp, err := c.API.ListJobLossesWithResponse(context.Background(), j.Id, nil)
	if err != nil {
		panic(err)
	}
	for _, l := range resp.JSON200.Losses {
		fmt.Printf("%d %.3f\n", l.Step, l.Loss)
	}
	// Output:
	// 1 31.631
	// 2 17.350
	// 3 9.918
}

// GET /jobs/{id}/events: the first lines of the stream of an ended job.
func ExampleClient_streamJobEvents() {
	c := mustClient()
	j := finishedJob(c)
	resp, err := c.API.StreamJobEvents(context.Background(), j.Id, nil)
	if err != nil {
		panic(err)
	}
	defer func() { _ = resp.Body.Close() }()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, "event:") || strings.HasPrefix(line, "id:") {
			fmt.Println(line)
		}
	}
	// Output:
	// event: progress
	// id: 3
	// event: end
	// id: end
}

// GET /jobs/{id}/input and /target.
func ExampleClient_getJobInput() {
	c := mustClient()
	j := finishedJob(c)
	in, err := c.API.GetJobInput(context.Background(), j.Id, nil)
	if err != nil {
		panic(err)
	}
	_ = in.Body.Close()
	target, err := c.API.GetJobTarget(context.Background(), j.Id, nil)
	if err != nil {
		panic(err)
	}
	_ = target.Body.Close()
	fmt.Println(in.StatusCode, target.StatusCode)
	// Output: 200 200
}

// POST /jobs/{id}/cancel and DELETE /jobs/{id}.
func ExampleClient_cancelJob() {
	c := mustClient()
	x, y := d2l()
	j, err := c.Train(context.Background(), x, y, map[string]any{"kernel_size": []int{1, 2}, "lr": 1e-6, "steps": 1000000, "seed": 42})
	if err != nil {
		panic(err)
	}
	canceled, err := c.API.CancelJobWithResponse(context.Background(), j.Id)
	if err != nil {
		panic(err)
	}
	deleted, err := c.API.DeleteJobWithResponse(context.Background(), j.Id)
	if err != nil {
		panic(err)
	}
	fmt.Println(canceled.StatusCode(), deleted.StatusCode())
	// Output: 200 204
}

// The operational and page routes: GET /healthz, /readyz, /metrics,
// /openapi.yaml, /docs, /docs/assets/{file}, /, /assets/{file} and
// /problems/{code} (which redirects to /docs#problem-<code>).
func ExampleClient_pages() {
	c := mustClient()
	ctx := context.Background()
	status := func(resp *http.Response, err error) int {
		if err != nil {
			panic(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println(status(c.API.GetHealth(ctx)), status(c.API.GetReadiness(ctx)), status(c.API.GetMetrics(ctx)), status(c.API.GetOpenAPI(ctx)))
	fmt.Println(status(c.API.GetDocs(ctx)), status(c.API.GetDocsAsset(ctx, "docs.js")), status(c.API.GetPlayground(ctx)), status(c.API.GetPlaygroundAsset(ctx, "playground.js")))
	noRedirect, err := corr2dapi.NewClient(serverURL, corr2dapi.WithHTTPClient(&http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}))
	if err != nil {
		panic(err)
	}
	resp, err := noRedirect.GetProblemType(ctx, "too-large")
	if err != nil {
		panic(err)
	}
	_ = resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Location"))
	// Output:
	// 200 200 200 200
	// 200 200 200 200
	// 302 /docs#problem-too-large
}
