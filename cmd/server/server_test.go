package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/corr2d/corr2d/internal/apitest"
	"github.com/corr2d/corr2d/internal/jobs/jobstest"
)

// server is a real run() on a real listener.
type server struct {
	base     string
	addrFile string // its --addr-file
	client   *http.Client
	logs     *syncBuffer
	stop     func() error
}

// syncBuffer is a log sink the server writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startupLimit bounds a wait for a started server, Prometheus or HAProxy
// to listen or become ready. A start shows no progress to watch, so this
// is far above the seconds one takes under load: it only turns a hang into
// a failure that shows the logs.
const startupLimit = 2 * time.Minute

// errExited is poll's answer when the process it waits for has ended.
var errExited = errors.New("it exited")

// poll calls ready every 10ms until it reports true. It returns errExited
// once exited is closed, or an error after startupLimit.
func poll(exited <-chan struct{}, ready func() bool) error {
	deadline := time.Now().Add(startupLimit)
	for !ready() {
		select {
		case <-exited:
			return errExited
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v", startupLimit)
		}
	}
	return nil
}

// listenArgs are the flags that make the server listen on a port the
// system picks, on loopback, and write that address to addrFile, a new
// path: no other process can take the port between its choice and its use.
func listenArgs(t *testing.T) (args []string, addrFile string) {
	t.Helper()
	addrFile = filepath.Join(t.TempDir(), "addr")
	return []string{"--addr", "127.0.0.1:0", "--addr-file", addrFile}, addrFile
}

// readAddr reports whether path holds an address, and sets *addr to it.
func readAddr(path string, addr *string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	*addr = strings.TrimSpace(string(b))
	return true
}

// answersOK reports whether a GET of url answers 200 OK.
func answersOK(client *http.Client, url string) func() bool {
	return func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
}

// startServer runs the service with args and env on a port of its own
// choice and waits until it is ready. Every exchange of its client is
// checked against the OpenAPI document.
func startServer(t *testing.T, dataDir string, env map[string]string, args ...string) *server {
	t.Helper()
	listen, addrFile := listenArgs(t)
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	exited := make(chan struct{})
	var runErr error
	args = append(append(listen, "--data-dir", dataDir, "--drain-delay", "0"), args...)
	go func() {
		defer close(exited)
		runErr = run(ctx, args, func(k string) string { return env[k] }, logs, logs)
	}()

	v := apitest.NewValidator(t)
	s := &server{
		client: &http.Client{Transport: v.Transport(t, &http.Transport{}), Timeout: 30 * time.Second},
		logs:   logs,
	}
	var once sync.Once
	s.stop = func() error {
		once.Do(func() {
			cancel()
			<-exited
			s.client.CloseIdleConnections()
		})
		return runErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	fail := func(what string, err error) {
		t.Helper()
		if errors.Is(err, errExited) {
			err = errors.Join(errors.New("run ended"), runErr)
		}
		t.Fatalf("%s: %v\n%s", what, err, logs)
	}
	var addr string
	if err := poll(exited, func() bool { return readAddr(addrFile, &addr) }); err != nil {
		fail("the server wrote no --addr-file", err)
	}
	s.base, s.addrFile = "http://"+addr, addrFile
	if err := poll(exited, answersOK(http.DefaultClient, s.base+"/readyz")); err != nil {
		fail("the server never became ready", err)
	}
	return s
}

// reply is what call saw of a response; its body went to call's out.
type reply struct {
	status int
	header http.Header
}

// call sends a JSON request and decodes the answer into out (if non-nil).
func (s *server) call(t *testing.T, method, path string, body any, out any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return reply{status: resp.StatusCode, header: resp.Header}
}

type job struct {
	ID     string      `json:"id"`
	Status string      `json:"status"`
	Step   int         `json:"step"`
	Kernel [][]float64 `json:"kernel"`
	Error  string      `json:"error"`
}

// waitJob polls job id until done holds, failing once the job's status
// and step have stood still for a minute (see jobstest.Await).
func (s *server) waitJob(t *testing.T, id string, done func(job) bool) job {
	t.Helper()
	read := func() job {
		var j job
		if r := s.call(t, http.MethodGet, "/jobs/"+id, nil, &j); r.status != http.StatusOK {
			t.Fatalf("GET /jobs/%s = %d", id, r.status)
		}
		return j
	}
	progress := func(j job) string { return fmt.Sprint(j.Status, j.Step) }
	return jobstest.Await(t, "job "+id+" (done)", read, progress, done)
}

func finished(j job) bool { return j.Status != "queued" && j.Status != "running" }

func edge() (x, y [][]float64) {
	for range 6 {
		x = append(x, []float64{1, 1, 0, 0, 0, 0, 1, 1})
		y = append(y, []float64{0, 1, 0, 0, 0, -1, 0})
	}
	return x, y
}

func trainBody(steps int) map[string]any {
	x, y := edge()
	return map[string]any{"input": x, "target": y, "kernel_size": []int{1, 2}, "lr": 0.03, "steps": steps, "loss": "sum", "seed": 42}
}

// TestSeedWalkthrough is the README's walkthrough: d2l 6.2 through the API.
func TestSeedWalkthrough(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	x, y := edge()
	var out struct {
		Output [][]float64 `json:"output"`
	}
	s.call(t, http.MethodPost, "/corr2d", map[string]any{"input": [][]float64{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}}, "kernel": [][]float64{{0, 1}, {2, 3}}}, &out)
	if fmt.Sprint(out.Output) != "[[19 25] [37 43]]" {
		t.Errorf("corr2d(X, K) = %v", out.Output)
	}
	s.call(t, http.MethodPost, "/corr2d", map[string]any{"input": x, "kernel": [][]float64{{1, -1}}}, &out)
	if fmt.Sprint(out.Output) != fmt.Sprint(y) {
		t.Errorf("edges = %v, want %v", out.Output, y)
	}
	xt := make([][]float64, 8)
	for j := range xt {
		for i := range x {
			xt[j] = append(xt[j], x[i][j])
		}
	}
	s.call(t, http.MethodPost, "/corr2d", map[string]any{"input": xt, "kernel": [][]float64{{1, -1}}}, &out)
	if len(out.Output) != 8 || len(out.Output[0]) != 5 || strings.Trim(fmt.Sprint(out.Output), "[0 ]") != "" {
		t.Errorf("edges of the transpose = %v, want 8x5 zeros", out.Output)
	}

	var j job
	r := s.call(t, http.MethodPost, "/train", trainBody(10), &j)
	if r.status != http.StatusAccepted || r.header.Get("Location") != "/jobs/"+j.ID {
		t.Fatalf("POST /train = %d, Location %q", r.status, r.header.Get("Location"))
	}
	j = s.waitJob(t, j.ID, finished)
	if j.Status != "succeeded" {
		t.Fatalf("job %s: %s", j.Status, j.Error)
	}
	var page struct {
		Losses []struct{ Loss float64 } `json:"losses"`
	}
	s.call(t, http.MethodGet, "/jobs/"+j.ID+"/losses", nil, &page)
	// PyTorch's float32 run of the same seed (testdata/golden/train.json).
	want := []float64{31.631296, 17.349756, 9.918350, 5.862164, 3.552892, 2.192386, 1.369758, 0.862977, 0.546708, 0.347599}
	if len(page.Losses) != len(want) {
		t.Fatalf("%d losses, want %d", len(page.Losses), len(want))
	}
	for i, p := range page.Losses {
		if d := p.Loss - want[i]; d > 1e-5*want[i] || -d > 1e-5*want[i] {
			t.Errorf("step %d loss %.7g, want %.7g", i+1, p.Loss, want[i])
		}
	}
}

func scrape(t *testing.T, s *server) []byte {
	t.Helper()
	resp, err := s.client.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMetricsAndDashboard checks the exposition against Prometheus's naming
// rules and that every query of the shipped Grafana dashboard names only
// series this server exports.
func TestMetricsAndDashboard(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	// Make every labelled family appear: a request, a rejection-free
	// correlation, a running job with a loss, and a finished one.
	s.call(t, http.MethodPost, "/corr2d", map[string]any{"input": [][]float64{{1, 2}}, "kernel": [][]float64{{1}}}, nil)
	var long, short job
	s.call(t, http.MethodPost, "/train", trainBody(1_000_000), &long)
	s.call(t, http.MethodPost, "/train", trainBody(5), &short)
	s.waitJob(t, short.ID, finished)
	s.waitJob(t, long.ID, func(j job) bool { return j.Step > 0 })
	exposition := scrape(t, s)
	s.call(t, http.MethodPost, "/jobs/"+long.ID+"/cancel", nil, nil)

	problems, err := promlint.New(bytes.NewReader(exposition)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "corr2d_") {
			t.Errorf("metric %s: %s", p.Metric, p.Text)
		}
	}
	exported := map[string]bool{}
	for _, line := range strings.Split(string(exposition), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		exported[name] = true
	}
	if !exported[`corr2d_job_loss`] {
		t.Fatal("no corr2d_job_loss series while a job runs")
	}

	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "dashboards", "corr2d.json"))
	if err != nil {
		t.Fatal(err)
	}
	exprs := dashboardExprs(t, b)
	if len(exprs) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	macros := strings.NewReplacer("$__rate_interval", "5m", "$__interval", "5m", "$__range", "5m")
	for _, expr := range exprs {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(macros.Replace(expr))
		if err != nil {
			t.Errorf("%q does not parse: %v", expr, err)
			continue
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && !exported[vs.Name] {
				t.Errorf("dashboard query %q names %s, which the server does not export", expr, vs.Name)
			}
			return nil
		})
	}
}

// dashboardExprs collects every "expr" string in a Grafana dashboard.
func dashboardExprs(t *testing.T, b []byte) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if s, ok := c.(string); ok && k == "expr" {
					out = append(out, s)
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	return out
}

func TestConfigFromEnvironmentAndFlags(t *testing.T) {
	env := map[string]string{"CORR2D_WORKERS": "3", "CORR2D_MAX_STEPS": "77", "CORR2D_LOG_FORMAT": "console"}
	c, err := parseConfig([]string{"--max-steps", "88"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.workers != 3 || c.limits.MaxSteps != 88 || c.logFormat != "console" {
		t.Errorf("workers %d, max steps %d, log format %s; want 3 from the environment, 88 from the flag, console", c.workers, c.limits.MaxSteps, c.logFormat)
	}
	for _, bad := range []map[string]string{{"CORR2D_WORKERS": "many"}, {"CORR2D_LOG_FORMAT": "xml"}} {
		if _, err := parseConfig(nil, func(k string) string { return bad[k] }, io.Discard); err == nil {
			t.Errorf("parseConfig with %v succeeded", bad)
		}
	}
}

func TestHealthcheckSubcommand(t *testing.T) {
	s := startServer(t, t.TempDir(), nil)
	addr := strings.TrimPrefix(s.base, "http://")
	if err := run(context.Background(), []string{"healthcheck", "--addr", addr}, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
		t.Errorf("healthcheck of a live server: %v", err)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.addrFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("--addr-file after a clean stop: %v, want it removed", err)
	}
	if err := run(context.Background(), []string{"healthcheck", "--addr", addr}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Error("healthcheck of a stopped server succeeded")
	}
}

func TestGracefulShutdownCheckpointsAndResumes(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, nil, "--checkpoint-every", "1ms")
	var j job
	s.call(t, http.MethodPost, "/train", trainBody(1_000_000), &j)
	s.waitJob(t, j.ID, func(j job) bool { return j.Step > 0 })
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, dir, nil)
	var before job
	s2.call(t, http.MethodGet, "/jobs/"+j.ID, nil, &before)
	after := s2.waitJob(t, j.ID, func(x job) bool { return x.Step > before.Step })
	if after.Status != "running" {
		t.Errorf("resumed job is %s", after.Status)
	}
	s2.call(t, http.MethodPost, "/jobs/"+j.ID+"/cancel", nil, nil)
}

// TestAddrFileThatCannotBeWrittenFailsTheStart: a server whose address
// nobody can learn is not started.
func TestAddrFileThatCannotBeWrittenFailsTheStart(t *testing.T) {
	dir := t.TempDir()
	args := []string{"--addr", "127.0.0.1:0", "--addr-file", filepath.Join(dir, "missing", "addr"), "--data-dir", dir, "--drain-delay", "0"}
	err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "addr file") {
		t.Fatalf("run with an --addr-file in a missing directory = %v, want an addr file error", err)
	}
}
