package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/corr2d/corr2d/internal/apitest"
	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/handlers"
	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/store/sqlite"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

type fixture struct {
	srv   *handlers.Server
	eng   *engine.Engine
	reg   *prometheus.Registry
	v     *apitest.Validator
	store *sqlite.Store
}

type options struct {
	engine  engine.Config
	limits  handlers.Limits
	handler handlers.Config // its Limits are options.limits
	jobs    jobs.Config
	dir     string      // the store's data dir; default: a temporary one
	log     *zap.Logger // default: the test's log
}

func newFixture(t testing.TB, o options) *fixture {
	t.Helper()
	ctx := context.Background()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	store, err := sqlite.Open(ctx, o.dir)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if o.engine.Workers == 0 {
		o.engine.Workers = 2
	}
	eng, err := engine.New(o.engine, reg)
	if err != nil {
		t.Fatal(err)
	}
	log := o.log
	if log == nil {
		log = zaptest.NewLogger(t)
	}
	runner, err := jobs.New(context.Background(), o.jobs, store, store.DB(), eng, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if o.limits == (handlers.Limits{}) {
		o.limits = handlers.DefaultLimits()
	}
	o.handler.Limits = o.limits
	srv, err := handlers.New(o.handler, log, eng, runner, reg, reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := runner.Stop(sctx); err != nil {
			t.Error(err)
		}
		eng.Close()
		if err := store.Close(); err != nil {
			t.Error(err)
		}
	})
	return &fixture{srv: srv, eng: eng, reg: reg, v: apitest.NewValidator(t), store: store}
}

// do sends one request through the handler and validates the exchange
// against the OpenAPI document.
func (f *fixture) do(t *testing.T, method, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return f.v.Serve(t, f.srv, req)
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body.String(), err)
	}
	return v
}

type corr2dResponse struct {
	Output [][]float64 `json:"output"`
	Shape  []int       `json:"shape"`
}

type problem struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Limit  string `json:"limit"`
	Errors []struct {
		Pointer string `json:"pointer"`
	} `json:"errors"`
}

func TestRoutesMatchTheSpec(t *testing.T) {
	f := newFixture(t, options{})
	var got []apitest.Route
	err := chi.Walk(f.srv.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		got = append(got, apitest.Route{Method: method, Pattern: route})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := f.v.Routes()
	sortRoutes(got)
	sortRoutes(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("router and api/openapi.yaml disagree (-spec +router):\n%s", diff)
	}
}

func sortRoutes(rs []apitest.Route) {
	slices.SortFunc(rs, func(a, b apitest.Route) int {
		return strings.Compare(a.Pattern+" "+a.Method, b.Pattern+" "+b.Method)
	})
}

func edgeImage() [][]float64 {
	x := make([][]float64, 6)
	for i := range x {
		x[i] = []float64{1, 1, 0, 0, 0, 0, 1, 1}
	}
	return x
}

func transpose(m [][]float64) [][]float64 {
	t := make([][]float64, len(m[0]))
	for j := range t {
		t[j] = make([]float64, len(m))
		for i := range m {
			t[j][i] = m[i][j]
		}
	}
	return t
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCorr2dReproducesTheD2LExamples(t *testing.T) {
	f := newFixture(t, options{})
	edge := make([][]float64, 6)
	for i := range edge {
		edge[i] = []float64{0, 1, 0, 0, 0, -1, 0}
	}
	zeros := make([][]float64, 8)
	for i := range zeros {
		zeros[i] = make([]float64, 5)
	}
	tests := []struct {
		name      string
		x, k      [][]float64
		wantOut   [][]float64
		wantShape []int
	}{
		{"the 3x3 example", [][]float64{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}}, [][]float64{{0, 1}, {2, 3}}, [][]float64{{19, 25}, {37, 43}}, []int{2, 2}},
		{"vertical edges of the 6x8 image", edgeImage(), [][]float64{{1, -1}}, edge, []int{6, 7}},
		{"the transposed image has none", transpose(edgeImage()), [][]float64{{1, -1}}, zeros, []int{8, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(t, http.MethodPost, "/corr2d", mustJSON(t, map[string]any{"input": tt.x, "kernel": tt.k}))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := decode[corr2dResponse](t, rec)
			if diff := cmp.Diff(corr2dResponse{Output: tt.wantOut, Shape: tt.wantShape}, got); diff != "" {
				t.Errorf("POST /corr2d mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// goldenCorr2d is testdata/golden/corr2d_valid.json, made by scripts/golden
// from PyTorch's F.conv2d and scipy's correlate2d in float64.
type goldenCorr2d struct {
	Cases []struct {
		Name   string      `json:"name"`
		Input  [][]float64 `json:"input"`
		Kernel [][]float64 `json:"kernel"`
		Torch  [][]float64 `json:"torch"`
		Scipy  [][]float64 `json:"scipy"`
	} `json:"cases"`
}

func TestCorr2dMatchesPyTorchAndScipy(t *testing.T) {
	var g goldenCorr2d
	readGolden(t, "corr2d_valid.json", &g)
	f := newFixture(t, options{})
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			rec := f.do(t, http.MethodPost, "/corr2d", mustJSON(t, map[string]any{"input": c.Input, "kernel": c.Kernel}))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			got := decode[corr2dResponse](t, rec).Output
			for _, ref := range []struct {
				name string
				want [][]float64
			}{{"torch", c.Torch}, {"scipy", c.Scipy}} {
				if len(got) != len(ref.want) || len(got[0]) != len(ref.want[0]) {
					t.Fatalf("shape %dx%d, %s has %dx%d", len(got), len(got[0]), ref.name, len(ref.want), len(ref.want[0]))
				}
				// Relative to the output's magnitude: sums of terms of
				// mixed sign cancel, so an element's own size is no scale.
				scale := 0.0
				for _, row := range ref.want {
					for _, v := range row {
						scale = max(scale, abs(v))
					}
				}
				for i := range got {
					for j := range got[i] {
						if d := abs(got[i][j] - ref.want[i][j]); d > 1e-12*scale {
							t.Errorf("output[%d][%d] = %.17g, %s has %.17g", i, j, got[i][j], ref.name, ref.want[i][j])
						}
					}
				}
			}
		})
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func TestBadInputGetsAClearProblem(t *testing.T) {
	small := handlers.DefaultLimits()
	small.MaxBodyBytes = 4096
	small.MaxElements = 100
	small.MaxKernelElements = 9
	small.MaxWork = 500
	small.MaxSteps = 50
	f := newFixture(t, options{limits: small})
	edge := mustJSON(t, edgeImage())
	target := mustJSON(t, [][]float64{{0, 1, 0, 0, 0, -1, 0}, {0, 1, 0, 0, 0, -1, 0}, {0, 1, 0, 0, 0, -1, 0}, {0, 1, 0, 0, 0, -1, 0}, {0, 1, 0, 0, 0, -1, 0}, {0, 1, 0, 0, 0, -1, 0}})
	train := func(extra string) string {
		return `{"input": ` + edge + `, "target": ` + target + `, "kernel_size": [1, 2]` + extra + `}`
	}
	tests := []struct {
		name, path, body string
		status           int
		typ, pointer     string
		limit            string
	}{
		{"malformed JSON", "/corr2d", `{"input": [[1]`, 400, "malformed-json", "", ""},
		{"an empty body", "/corr2d", ``, 400, "malformed-json", "", ""},
		{"two objects", "/corr2d", `{"input": [[1]], "kernel": [[1]]} {}`, 400, "malformed-json", "", ""},
		{"a body that is not an object", "/corr2d", `[1, 2]`, 422, "invalid-value", "", ""},
		{"a misspelt field", "/corr2d", `{"input": [[1]], "kernal": [[1]]}`, 422, "unknown-field", "/kernal", ""},
		{"a field name in other case", "/corr2d", `{"input": [[1]], "kernel": [[1]], "Input": [[2]]}`, 422, "unknown-field", "/Input", ""},
		{"a parameter name in other case", "/corr2d", `{"input": [[1]], "kernel": [[1]], "Padding": 1}`, 422, "unknown-field", "/Padding", ""},
		{"a missing kernel", "/corr2d", `{"input": [[1]]}`, 422, "invalid-value", "/kernel", ""},
		{"a null input", "/corr2d", `{"input": null, "kernel": [[1]]}`, 422, "invalid-value", "/input", ""},
		{"ragged rows", "/corr2d", `{"input": [[1, 2], [3, 4], [5]], "kernel": [[1]]}`, 422, "invalid-shape", "/input/2", ""},
		{"an empty matrix", "/corr2d", `{"input": [], "kernel": [[1]]}`, 422, "invalid-shape", "/input", ""},
		{"an empty row", "/corr2d", `{"input": [[]], "kernel": [[1]]}`, 422, "invalid-shape", "/input/0", ""},
		{"a flat array", "/corr2d", `{"input": [1, 2], "kernel": [[1]]}`, 422, "invalid-shape", "/input", ""},
		{"a 5-D input", "/corr2d", `{"input": [[[[[1]]]]], "kernel": [[1]]}`, 422, "invalid-shape", "/input/0/0/0/0", ""},
		{"a 3-D kernel", "/corr2d", `{"input": [[1, 2]], "kernel": [[[1]]]}`, 422, "invalid-shape", "/kernel", ""},
		{"a 2-D input with two output channels", "/corr2d", `{"input": [[1, 2]], "kernel": [[[[1]]], [[[2]]]]}`, 422, "invalid-shape", "/kernel", ""},
		{"a kernel for other channels", "/corr2d", `{"input": [[[1, 2]], [[3, 4]]], "kernel": [[[[1]]]]}`, 422, "invalid-shape", "/kernel", ""},
		{"a zero stride", "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "stride": 0}`, 422, "invalid-value", "/stride", ""},
		{"a stride of three numbers", "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "stride": [1, 2, 3]}`, 422, "invalid-value", "/stride", ""},
		{"a negative padding", "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "padding": -1}`, 422, "invalid-value", "/padding", ""},
		{"an unknown padding", "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "padding": "middle"}`, 422, "invalid-value", "/padding", ""},
		{"same padding with a stride", "/corr2d", `{"input": [[1, 2, 3]], "kernel": [[1]], "padding": "same", "stride": 2}`, 422, "invalid-value", "/padding", ""},
		{"reflect padding as large as the input", "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "padding": [0, 2], "padding_mode": "reflect"}`, 422, "invalid-value", "/padding", ""},
		{"zero groups", "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "groups": 0}`, 422, "invalid-value", "/groups", ""},
		{"groups that do not divide the channels", "/corr2d", `{"input": [[[1]], [[2]], [[3]]], "kernel": [[[[1]]], [[[1]]]], "groups": 2}`, 422, "invalid-value", "/groups", ""},
		{"an unknown padding mode", "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "padding_mode": "mirror"}`, 422, "invalid-value", "/padding_mode", ""},
		{"a fill value with reflect", "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "padding_mode": "reflect", "fill_value": 1}`, 422, "invalid-value", "/fill_value", ""},
		{"a bias per missing channel", "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "bias": [1, 2]}`, 422, "invalid-value", "/bias", ""},
		{"an unknown operation", "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "operation": "xcorr"}`, 422, "invalid-value", "/operation", ""},
		{"an unknown dtype", "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "dtype": "float16"}`, 422, "invalid-value", "/dtype", ""},
		{"a string for a number", "/corr2d", `{"input": [[1, "NaN"]], "kernel": [[1]]}`, 422, "invalid-value", "/input/0/1", ""},
		{"a null for a number", "/corr2d", `{"input": [[1], [null]], "kernel": [[1]]}`, 422, "invalid-value", "/input/1/0", ""},
		{"a number too large for float64", "/corr2d", `{"input": [[1e999]], "kernel": [[1]]}`, 422, "invalid-value", "/input/0/0", ""},
		{"a kernel larger than the input", "/corr2d", `{"input": [[1, 2]], "kernel": [[1], [2]]}`, 422, "invalid-shape", "/kernel", ""},
		{"too many input elements", "/corr2d", `{"input": [` + strings.Repeat("[1,2,3,4,5,6,7,8,9,10,11],", 9) + `[1,2,3,4,5,6,7,8,9,10,11]], "kernel": [[1]]}`, 413, "too-large", "/input", "max_elements"},
		{"too large a kernel", "/corr2d", `{"input": [[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]], "kernel": [[1,2,3,4],[1,2,3,4],[1,2,3,4]]}`, 413, "too-large", "/kernel", "max_kernel_elements"},
		{"too much work", "/corr2d", `{"input": ` + mustJSON(t, square(10)) + `, "kernel": ` + mustJSON(t, square(3)) + `}`, 413, "too-large", "/kernel", "max_work"},
		{"too large a body", "/corr2d", `{"input": [[` + strings.Repeat("1,", 3000) + `1]], "kernel": [[1]]}`, 413, "too-large", "", "max_body_bytes"},
		{"a target of the wrong shape", "/train", `{"input": ` + edge + `, "target": [[1]], "kernel_size": [1, 2]}`, 422, "invalid-value", "/target", ""},
		{"a kernel size of three numbers", "/train", `{"input": [[1, 2]], "target": [[1]], "kernel_size": [1, 2, 3]}`, 422, "invalid-value", "/kernel_size", ""},
		{"a learning rate of zero", "/train", train(`, "lr": 0`), 422, "invalid-value", "/lr", ""},
		{"a negative learning rate", "/train", train(`, "lr": -0.1`), 422, "invalid-value", "/lr", ""},
		{"a fractional step count", "/train", train(`, "steps": 1.5`), 422, "invalid-value", "/steps", ""},
		{"too many steps", "/train", train(`, "steps": 51`), 413, "too-large", "/steps", "max_steps"},
		{"an unknown loss", "/train", train(`, "loss": "l1"`), 422, "invalid-value", "/loss", ""},
		{"a negative seed", "/train", train(`, "seed": -1`), 422, "invalid-value", "/seed", ""},
		{"both seed and init", "/train", train(`, "seed": 1, "init": [[0.5, -0.5]]`), 422, "invalid-value", "/init", ""},
		{"an init of the wrong shape", "/train", train(`, "init": [[0.5]]`), 422, "invalid-value", "/init", ""},
		{"an unknown optimizer", "/train", train(`, "optimizer": {"name": "rmsprop"}`), 422, "invalid-value", "/optimizer/name", ""},
		{"nesterov without momentum", "/train", train(`, "optimizer": {"name": "sgd", "nesterov": true}`), 422, "invalid-value", "/optimizer/nesterov", ""},
		{"a beta of one", "/train", train(`, "optimizer": {"name": "adam", "betas": [1, 0.999]}`), 422, "invalid-value", "/optimizer/betas/0", ""},
		{"an unknown optimizer field", "/train", train(`, "optimizer": {"name": "sgd", "lr": 1}`), 422, "unknown-field", "/optimizer/lr", ""},
		{"an optimizer field in other case", "/train", train(`, "optimizer": {"Name": "adam"}`), 422, "unknown-field", "/optimizer/Name", ""},
		{"an optimizer that is no object", "/train", train(`, "optimizer": 5`), 422, "invalid-value", "/optimizer", ""},
		{"an optimizer with a repeated key", "/train", train(`, "optimizer": {"name": "sgd", "name": "adam"}`), 422, "invalid-value", "/optimizer", ""},
		{"a target of another rank", "/train", `{"input": [[1, 2]], "target": [[[1]]], "kernel_size": [1, 2]}`, 422, "invalid-shape", "/target", ""},
		{"a kernel wider than the input", "/train", `{"input": [[1, 2]], "target": [[1]], "kernel_size": [1, 3]}`, 422, "invalid-value", "/kernel_size", ""},
		{"same padding with a stride in training", "/train", train(`, "padding": "same", "stride": 2`), 422, "invalid-value", "/padding", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(t, http.MethodPost, tt.path, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q, want application/problem+json", ct)
			}
			p := decode[problem](t, rec)
			if p.Type != "/problems/"+tt.typ || p.Status != tt.status || p.Limit != tt.limit {
				t.Errorf("problem = %+v, want type %s, limit %q", p, tt.typ, tt.limit)
			}
			if tt.pointer != "" && (len(p.Errors) != 1 || p.Errors[0].Pointer != tt.pointer) {
				t.Errorf("problem errors = %+v, want pointer %s", p.Errors, tt.pointer)
			}
		})
	}
}

func square(n int) [][]float64 {
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, n)
		for j := range m[i] {
			m[i][j] = float64(i - j)
		}
	}
	return m
}

func TestWrongMediaTypeIs415(t *testing.T) {
	f := newFixture(t, options{})
	req := httptest.NewRequest(http.MethodPost, "/corr2d", strings.NewReader(`input=1`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := f.v.Serve(t, f.srv, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d, want 415: %s", rec.Code, rec.Body)
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	f := newFixture(t, options{})
	for _, tt := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{http.MethodGet, "/nope", 404, ""},
		{http.MethodGet, "/corr2d", 405, "POST"},
		{http.MethodPut, "/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", 405, "GET, HEAD, DELETE"},
	} {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		f.v.CheckUnrouted(t, req, rec.Code, rec.Header(), rec.Body.Bytes())
		if rec.Code != tt.status {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, rec.Code, tt.status)
		}
		if got := strings.Join(rec.Header().Values("Allow"), ", "); got != tt.allow {
			t.Errorf("%s %s Allow = %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}

func TestFullQueueAnswers503WithRetryAfter(t *testing.T) {
	f := newFixture(t, options{engine: engine.Config{Workers: 1, QueueSize: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	big := engine.Tensor[float64]{Shape: [4]int{1, 1, 3000, 3000}, Data: make([]float64, 9_000_000)}
	k := engine.Tensor[float64]{Shape: [4]int{1, 1, 31, 31}, Data: make([]float64, 961)}
	conv := engine.Conv{Method: engine.MethodDirect}
	done := make(chan error, 2)
	// One request occupies the only worker, a second fills the queue.
	go func() { _, err := engine.Conv2D(ctx, f.eng, engine.Interactive, big, k, nil, conv); done <- err }()
	waitGauge(t, f.reg, "corr2d_engine_busy_workers", "", 1)
	go func() { _, err := engine.Conv2D(ctx, f.eng, engine.Interactive, big, k, nil, conv); done <- err }()
	waitGauge(t, f.reg, "corr2d_engine_queue_depth", "interactive", 1)

	rec := f.do(t, http.MethodPost, "/corr2d", `{"input": [[0,1,2],[3,4,5],[6,7,8]], "kernel": [[0,1],[2,3]]}`)
	cancel()
	for range 2 {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("blocking request ended with %v, want context.Canceled", err)
		}
	}
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d, Retry-After %q; want 503 with Retry-After: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if p := decode[problem](t, rec); p.Type != "/problems/overloaded" {
		t.Errorf("problem type %s, want overloaded", p.Type)
	}
	// Once the queue drains the same request succeeds.
	if rec := f.do(t, http.MethodPost, "/corr2d", `{"input": [[0,1,2],[3,4,5],[6,7,8]], "kernel": [[0,1],[2,3]]}`); rec.Code != http.StatusOK {
		t.Errorf("after the queue drained: status %d", rec.Code)
	}
}

// waitGauge waits until the gauge name{priority=label} reads want.
func waitGauge(t *testing.T, reg *prometheus.Registry, name, label string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				match := label == ""
				for _, lp := range m.GetLabel() {
					match = match || lp.GetValue() == label
				}
				if match && m.GetGauge().GetValue() == want {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s{%s} never reached %v", name, label, want)
		}
		time.Sleep(time.Millisecond)
	}
}

type jobView struct {
	ID         string      `json:"id"`
	Status     string      `json:"status"`
	Step       int         `json:"step"`
	Steps      int         `json:"steps"`
	Loss       *float64    `json:"loss"`
	Kernel     [][]float64 `json:"kernel"`
	InitKernel [][]float64 `json:"init_kernel"`
	Error      string      `json:"error"`
}

type lossPage struct {
	Losses []struct {
		Step int     `json:"step"`
		Loss float64 `json:"loss"`
	} `json:"losses"`
	NextAfterStep *int `json:"next_after_step"`
}

func TestTrainingLifecycleOverHTTP(t *testing.T) {
	f := newFixture(t, options{})
	body := `{"input": ` + mustJSON(t, edgeImage()) + `, "target": ` +
		mustJSON(t, [][]float64{{0, 1, 0, 0, 0, -1, 0}, {0, 1, 0, 0, 0, -1, 0}, {0, 1, 0, 0, 0, -1, 0}, {0, 1, 0, 0, 0, -1, 0}, {0, 1, 0, 0, 0, -1, 0}, {0, 1, 0, 0, 0, -1, 0}}) +
		`, "kernel_size": [1, 2], "lr": 0.03, "steps": 10, "loss": "sum", "seed": 42}`
	rec := f.do(t, http.MethodPost, "/train", body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST /train = %d: %s", rec.Code, rec.Body)
	}
	j := decode[jobView](t, rec)
	if loc := rec.Header().Get("Location"); loc != "/jobs/"+j.ID {
		t.Errorf("Location %q, want /jobs/%s", loc, j.ID)
	}
	// torch.manual_seed(42); nn.Conv2d(1, 1, kernel_size=(1, 2), bias=False).weight
	if want := [][]float64{{0.5406103730201721, 0.5869042277336121}}; !cmp.Equal(j.InitKernel, want) {
		t.Errorf("init_kernel %v, want %v", j.InitKernel, want)
	}
	pollJob(t, f, j.ID, "ended", jobEnded)
	j = decode[jobView](t, f.do(t, http.MethodGet, "/jobs/"+j.ID, ""))
	if j.Status != "succeeded" || j.Step != 10 {
		t.Fatalf("job %s at step %d (%s)", j.Status, j.Step, j.Error)
	}
	// The seed's losses from PyTorch, per step before the update.
	want := []float64{31.631296, 17.349756, 9.918350, 5.862164, 3.552892, 2.192386, 1.369758, 0.862977, 0.546708, 0.347599}
	var got []float64
	after := 0
	for {
		page := decode[lossPage](t, f.do(t, http.MethodGet, fmt.Sprintf("/jobs/%s/losses?after_step=%d&limit=3", j.ID, after), ""))
		for _, p := range page.Losses {
			got = append(got, p.Loss)
		}
		if page.NextAfterStep == nil {
			break
		}
		after = *page.NextAfterStep
	}
	if len(got) != len(want) {
		t.Fatalf("%d losses, want %d", len(got), len(want))
	}
	for i := range want {
		if abs(got[i]-want[i]) > 1e-5*want[i] {
			t.Errorf("loss at step %d = %.7g, want %.7g", i+1, got[i], want[i])
		}
	}
	list := decode[struct {
		Jobs []jobView `json:"jobs"`
	}](t, f.do(t, http.MethodGet, "/jobs?status=succeeded&limit=5", ""))
	if len(list.Jobs) != 1 || list.Jobs[0].ID != j.ID {
		t.Errorf("GET /jobs?status=succeeded = %+v", list.Jobs)
	}
	if rec := f.do(t, http.MethodPost, "/jobs/"+j.ID+"/cancel", ""); rec.Code != http.StatusOK || decode[jobView](t, rec).Status != "succeeded" {
		t.Errorf("cancel of a finished job = %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, http.MethodDelete, "/jobs/"+j.ID, ""); rec.Code != http.StatusNoContent {
		t.Errorf("DELETE = %d %s", rec.Code, rec.Body)
	}
	for _, path := range []string{"/jobs/" + j.ID, "/jobs/" + j.ID + "/losses"} {
		if rec := f.do(t, http.MethodGet, path, ""); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s after delete = %d", path, rec.Code)
		}
	}
}

func TestActiveJobCannotBeDeletedButCanBeCanceled(t *testing.T) {
	f := newFixture(t, options{})
	rec := f.do(t, http.MethodPost, "/train", `{"input": [[1, 2, 3]], "target": [[1, 2]], "kernel_size": [1, 2], "steps": 1000000, "lr": 0.001}`)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST /train = %d: %s", rec.Code, rec.Body)
	}
	id := decode[jobView](t, rec).ID
	if rec := f.do(t, http.MethodDelete, "/jobs/"+id, ""); rec.Code != http.StatusConflict {
		t.Errorf("DELETE of an active job = %d, want 409", rec.Code)
	}
	rec = f.do(t, http.MethodPost, "/jobs/"+id+"/cancel", "")
	if rec.Code != http.StatusOK || decode[jobView](t, rec).Status != "canceled" {
		t.Fatalf("cancel = %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, http.MethodDelete, "/jobs/"+id, ""); rec.Code != http.StatusNoContent {
		t.Errorf("DELETE after cancel = %d", rec.Code)
	}
}

func TestQueryParametersAreChecked(t *testing.T) {
	f := newFixture(t, options{})
	for _, target := range []string{"/jobs?status=done", "/jobs?limit=0", "/jobs?limit=abc", "/jobs?after=not-an-id"} {
		if rec := f.do(t, http.MethodGet, target, ""); rec.Code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", target, rec.Code)
		}
	}
}

func TestHealthReadinessAndSpec(t *testing.T) {
	f := newFixture(t, options{})
	if rec := f.do(t, http.MethodGet, "/healthz", ""); rec.Code != http.StatusOK {
		t.Errorf("/healthz = %d", rec.Code)
	}
	if rec := f.do(t, http.MethodGet, "/readyz", ""); rec.Code != http.StatusOK {
		t.Errorf("/readyz = %d", rec.Code)
	}
	rec := f.do(t, http.MethodGet, "/openapi.yaml", "")
	if rec.Code != http.StatusOK || !bytes.HasPrefix(rec.Body.Bytes(), []byte("openapi: ")) {
		t.Errorf("/openapi.yaml = %d %.40q", rec.Code, rec.Body)
	}
	f.srv.Drain()
	if rec := f.do(t, http.MethodGet, "/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining = %d, want 503", rec.Code)
	}
}

// FuzzRequests sends arbitrary bodies to both decoders through the whole
// handler: every answer must be one the contract allows, never a panic or a
// 500.
func FuzzRequests(f *testing.F) {
	for _, seed := range []string{
		`{"input": [[0,1,2],[3,4,5],[6,7,8]], "kernel": [[0,1],[2,3]]}`,
		`{"input": [[1,1,0,0],[1,1,0,0]], "target": [[0,1,0],[0,1,0]], "kernel_size": [1,2], "steps": 2}`,
		`{"input": [[1]], "kernel": [[1]], "x": 1}`, `{"input": [[1],[2,3]]}`, `{`, `[]`, `null`, ``,
		`{"input": [[1]], "target": [[1]], "kernel_size": [1,1], "lr": -1, "seed": 3}`,
	} {
		f.Add("/corr2d", seed)
		f.Add("/train", seed)
	}
	// A fuzz target may not log through f once fuzzing starts.
	fx := newFixture(f, options{log: zap.NewNop()})
	f.Fuzz(func(t *testing.T, path, body string) {
		if path != "/corr2d" && path != "/train" {
			return
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		fx.srv.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 202, 400, 413, 422, 503:
		default:
			t.Fatalf("POST %s %q = %d: %s", path, body, rec.Code, rec.Body)
		}
	})
}

// TestGoldenConvOverHTTP sends a sample of the golden cases through the
// whole handler; golden_test.go runs all of them without HTTP.
func TestGoldenConvOverHTTP(t *testing.T) {
	var g struct {
		Cases []struct {
			Name       string          `json:"name"`
			Request    json.RawMessage `json:"request"`
			Output     json.RawMessage `json:"output"`
			ErrorField string          `json:"error_field"`
		} `json:"cases"`
	}
	readGolden(t, "conv2d.json", &g)
	f := newFixture(t, options{})
	for i, c := range g.Cases {
		if i%7 != 0 && c.ErrorField == "" {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			rec := f.do(t, http.MethodPost, "/corr2d", string(c.Request))
			if c.ErrorField != "" {
				p := decode[problem](t, rec)
				if rec.Code != http.StatusUnprocessableEntity || len(p.Errors) != 1 || !strings.HasPrefix(p.Errors[0].Pointer+"/", "/"+c.ErrorField+"/") {
					t.Fatalf("status %d %+v, want 422 naming /%s", rec.Code, p, c.ErrorField)
				}
				return
			}
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			var got, want any
			var resp struct {
				Output json.RawMessage `json:"output"`
				DType  string          `json:"dtype"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(resp.Output, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(c.Output, &want); err != nil {
				t.Fatal(err)
			}
			tol := 1e-12
			if resp.DType == "float32" {
				tol = 1e-5
			}
			scale := 0.0
			walk(want, func(v float64) { scale = max(scale, abs(v)) })
			var gv, wv []float64
			walk(got, func(v float64) { gv = append(gv, v) })
			walk(want, func(v float64) { wv = append(wv, v) })
			if len(gv) != len(wv) {
				t.Fatalf("%d numbers, want %d", len(gv), len(wv))
			}
			for i := range gv {
				if abs(gv[i]-wv[i]) > tol*scale {
					t.Fatalf("output number %d = %.17g, want %.17g", i, gv[i], wv[i])
				}
			}
		})
	}
}

func walk(v any, fn func(float64)) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			walk(e, fn)
		}
	case float64:
		fn(v)
	}
}

// TestGoldenTrainingOverHTTP runs every PyTorch training run of
// testdata/golden/train_conv.json through POST /train and compares the
// initial weights exactly and the per-step losses and final weights within
// 1e-9 (float64) or 1e-5 (float32).
func TestGoldenTrainingOverHTTP(t *testing.T) {
	var g struct {
		Cases []struct {
			Name        string          `json:"name"`
			Request     json.RawMessage `json:"request"`
			InitWeight  any             `json:"init_weight"`
			InitBias    []float64       `json:"init_bias"`
			Losses      []float64       `json:"losses"`
			FinalWeight any             `json:"final_weight"`
			FinalBias   []float64       `json:"final_bias"`
		} `json:"cases"`
	}
	readGolden(t, "train_conv.json", &g)
	if len(g.Cases) < 20 {
		t.Fatalf("%d training runs in the golden set, want at least 20", len(g.Cases))
	}
	f := newFixture(t, options{})
	for _, c := range g.Cases {
		t.Run(c.Name, func(t *testing.T) {
			rec := f.do(t, http.MethodPost, "/train", string(c.Request))
			if rec.Code != http.StatusAccepted {
				t.Fatalf("POST /train = %d: %s", rec.Code, rec.Body)
			}
			var j struct {
				ID         string    `json:"id"`
				Status     string    `json:"status"`
				Error      string    `json:"error"`
				Kernel     any       `json:"kernel"`
				Bias       []float64 `json:"bias"`
				InitKernel any       `json:"init_kernel"`
				InitBias   []float64 `json:"init_bias"`
				Request    struct {
					DType string `json:"dtype"`
				} `json:"request"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &j); err != nil {
				t.Fatal(err)
			}
			var gotInit, wantInit []float64
			walk(j.InitKernel, func(v float64) { gotInit = append(gotInit, v) })
			walk(c.InitWeight, func(v float64) { wantInit = append(wantInit, v) })
			if diff := cmp.Diff(wantInit, gotInit); diff != "" {
				t.Fatalf("initial weights differ from PyTorch's (-torch +got):\n%s", diff)
			}
			if diff := cmp.Diff(c.InitBias, j.InitBias); diff != "" {
				t.Fatalf("initial bias differs from PyTorch's (-torch +got):\n%s", diff)
			}
			pollJob(t, f, j.ID, "ended", jobEnded)
			if err := json.Unmarshal(f.do(t, http.MethodGet, "/jobs/"+j.ID, "").Body.Bytes(), &j); err != nil {
				t.Fatal(err)
			}
			if j.Status != "succeeded" {
				t.Fatalf("job %s: %s", j.Status, j.Error)
			}
			tol := 1e-5
			if j.Request.DType == "float64" {
				tol = 1e-9
			}
			page := decode[lossPage](t, f.do(t, http.MethodGet, "/jobs/"+j.ID+"/losses?limit=10000", ""))
			if len(page.Losses) != len(c.Losses) {
				t.Fatalf("%d losses, want %d", len(page.Losses), len(c.Losses))
			}
			for i, p := range page.Losses {
				if want := c.Losses[i]; abs(p.Loss-want) > tol*abs(want) {
					t.Errorf("step %d loss %.12g, want %.12g (rel %.2g)", i+1, p.Loss, want, abs(p.Loss-want)/abs(want))
				}
			}
			var gotW, wantW []float64
			walk(j.Kernel, func(v float64) { gotW = append(gotW, v) })
			walk(c.FinalWeight, func(v float64) { wantW = append(wantW, v) })
			gotW = append(gotW, j.Bias...)
			wantW = append(wantW, c.FinalBias...)
			scale := 0.0
			for _, v := range wantW {
				scale = max(scale, abs(v))
			}
			for i := range wantW {
				if abs(gotW[i]-wantW[i]) > 10*tol*scale {
					t.Errorf("final parameter %d = %.12g, want %.12g", i, gotW[i], wantW[i])
				}
			}
		})
	}
}

// readGolden decodes testdata/golden/name, written by scripts/golden from
// PyTorch and scipy.
func readGolden(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "golden", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
