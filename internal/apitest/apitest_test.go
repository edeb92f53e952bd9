package apitest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/api"
	"github.com/corr2d/corr2d/internal/apitest"
)

// recordingTB stands in for the test a Validator reports to, so that these
// tests can assert that a check fails without failing themselves. Everything
// but error reporting goes to the real test.
type recordingTB struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Error(args ...any) { r.Errorf("%s", fmt.Sprint(args...)) }

func (r *recordingTB) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errs...)
}

// expect runs check against a recording TB and reports whether it failed
// as wanted; when it fails as wanted, the messages must mention each of
// mention, so that a test cannot pass on an unrelated failure.
func expect(t *testing.T, wantFail bool, check func(tb testing.TB), mention ...string) {
	t.Helper()
	rec := &recordingTB{TB: t}
	check(rec)
	errs := rec.errors()
	switch {
	case wantFail && len(errs) == 0:
		t.Errorf("the check passed; want it to fail")
	case !wantFail && len(errs) > 0:
		t.Errorf("the check failed; want it to pass:\n%s", strings.Join(errs, "\n"))
	case wantFail:
		all := strings.Join(errs, "\n")
		t.Logf("failed as wanted:\n%s", all)
		for _, m := range mention {
			if !strings.Contains(all, m) {
				t.Errorf("failure does not mention %q:\n%s", m, all)
			}
		}
	}
}

// jsonHeader is the header of an answer of type ct, with the Vary the
// service always sends.
func jsonHeader(ct string) http.Header {
	return http.Header{"Content-Type": {ct}, "Vary": {"Accept, Accept-Encoding"}}
}

// serverTiming is a Server-Timing header as POST /corr2d answers carry it.
const serverTiming = `decode;dur=0.412, queue;dur=0.003, compute;dur=1.250;desc="direct", encode;dur=0.380`

// corr2dHeader is the header of a POST /corr2d answer of type ct.
func corr2dHeader(ct string) http.Header {
	h := jsonHeader(ct)
	h.Set("Server-Timing", serverTiming)
	return h
}

const d2lRequest = `{"input": [[0,1,2],[3,4,5],[6,7,8]], "kernel": [[0,1],[2,3]]}`

// geometryDefaults and sgdEcho are what a job's request holds for the
// fields a client leaves out: the layer's defaults and plain SGD, with the
// fields that only Adam uses as the service fills them.
const (
	geometryDefaults = `"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "padding_mode": "zeros", "bias": false, "dtype": "float32", `
	sgdEcho          = `"optimizer": {"name": "sgd", "momentum": 0, "dampening": 0, "nesterov": false, "weight_decay": 0}`
)

func corr2dRequest(body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/corr2d", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return req
}

func TestRoutes(t *testing.T) {
	got := apitest.NewValidator(t).Routes()
	want := []apitest.Route{
		{"GET", "/"},
		{"GET", "/assets/{file}"},
		{"POST", "/corr2d"},
		{"GET", "/docs"},
		{"GET", "/docs/assets/{file}"},
		{"GET", "/healthz"},
		{"GET", "/jobs"},
		{"DELETE", "/jobs/{id}"},
		{"GET", "/jobs/{id}"},
		{"POST", "/jobs/{id}/cancel"},
		{"GET", "/jobs/{id}/events"},
		{"GET", "/jobs/{id}/input"},
		{"GET", "/jobs/{id}/losses"},
		{"GET", "/jobs/{id}/target"},
		{"GET", "/metrics"},
		{"GET", "/openapi.yaml"},
		{"GET", "/problems/{code}"},
		{"GET", "/readyz"},
		{"POST", "/train"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Routes() mismatch (-want +got):\n%s", diff)
	}
}

const validProblem422 = `{
	"type": "/problems/invalid-shape",
	"title": "Invalid shape",
	"status": 422,
	"detail": "kernel 3x3 does not fit in input 2x2",
	"instance": "/corr2d",
	"request_id": "abc123",
	"errors": [{"pointer": "/kernel", "detail": "3 rows, but input has 2"}]
}`

func TestCheckCorr2d(t *testing.T) {
	v := apitest.NewValidator(t)
	tests := []struct {
		name     string
		reqBody  string
		status   int
		ct       string
		body     string
		wantFail bool
		mention  []string
	}{
		{
			name: "the d2l answer conforms", reqBody: d2lRequest,
			status: 200, ct: "application/json", body: `{"output": [[19,25],[37,43]], "shape": [2,2], "dtype": "float64"}`,
		},
		{
			name: "a charset parameter on the content type is fine", reqBody: d2lRequest,
			status: 200, ct: "application/json; charset=utf-8", body: `{"output": [[19,25],[37,43]], "shape": [2,2], "dtype": "float64"}`,
		},
		{
			name: "a missing shape is drift", reqBody: d2lRequest,
			status: 200, ct: "application/json", body: `{"output": [[19,25],[37,43]]}`,
			wantFail: true, mention: []string{"POST /corr2d -> 200", "shape", `{"output"`},
		},
		{
			name: "numbers as strings are drift", reqBody: d2lRequest,
			status: 200, ct: "application/json", body: `{"output": [["19","25"],["37","43"]], "shape": [2,2], "dtype": "float64"}`,
			wantFail: true, mention: []string{"output"},
		},
		{
			name: "an undocumented field is drift", reqBody: d2lRequest,
			status: 200, ct: "application/json", body: `{"output": [[19]], "shape": [1,1], "dtype": "float64", "Output": [[19]]}`,
			wantFail: true, mention: []string{"Output"},
		},
		{
			name: "a wrong content type is drift", reqBody: d2lRequest,
			status: 200, ct: "text/plain", body: `{"output": [[19]], "shape": [1,1], "dtype": "float64"}`,
			wantFail: true, mention: []string{"text/plain"},
		},
		{
			name: "an undocumented status is drift", reqBody: d2lRequest,
			status: 201, ct: "application/json", body: `{"output": [[19]], "shape": [1,1], "dtype": "float64"}`,
			wantFail: true, mention: []string{"status is not supported"},
		},
		{
			name: "a 422 problem conforms", reqBody: `{"input": [[1,2],[3,4]], "kernel": [[1,1,1],[1,1,1],[1,1,1]]}`,
			status: 422, ct: "application/problem+json", body: validProblem422,
		},
		{
			name: "a problem sent as plain JSON is drift", reqBody: `{"input": [[1,2],[3,4]], "kernel": [[1,1,1],[1,1,1],[1,1,1]]}`,
			status: 422, ct: "application/json", body: validProblem422,
			wantFail: true, mention: []string{"application/json"},
		},
		{
			name: "a problem whose status disagrees with the response is drift", reqBody: d2lRequest,
			status: 422, ct: "application/problem+json", body: strings.Replace(validProblem422, `"status": 422`, `"status": 400`, 1),
			wantFail: true, mention: []string{"status"},
		},
		{
			name: "a problem type that does not fit the status is drift", reqBody: d2lRequest,
			status: 422, ct: "application/problem+json", body: strings.Replace(validProblem422, "invalid-shape", "not-found", 1),
			wantFail: true, mention: []string{"type"},
		},
		{
			name: "an unknown field refused with 422 is fine", reqBody: `{"input": [[1]], "kernel": [[1]], "kernal": [[1]]}`,
			status: 422, ct: "application/problem+json",
			body: `{"type": "/problems/unknown-field", "title": "Unknown field", "status": 422, "detail": "unknown field kernal", "errors": [{"pointer": "/kernal", "detail": "unknown field"}]}`,
		},
		{
			name: "an unknown field accepted is drift", reqBody: `{"input": [[1]], "kernel": [[1]], "kernal": [[1]]}`,
			status: 200, ct: "application/json", body: `{"output": [[1]], "shape": [1,1], "dtype": "float64"}`,
			wantFail: true, mention: []string{"contract forbids", "kernal"},
		},
		{
			name: "malformed JSON refused with 400 is fine", reqBody: `{"input": [[1]`,
			status: 400, ct: "application/problem+json",
			body: `{"type": "/problems/malformed-json", "title": "Malformed JSON", "status": 400, "detail": "unexpected end of JSON input"}`,
		},
		{
			name: "overload with Retry-After conforms", reqBody: d2lRequest,
			status: 503, ct: "application/problem+json",
			body: `{"type": "/problems/overloaded", "title": "Overloaded", "status": 503, "detail": "the interactive queue is full"}`,
		},
		{
			name: "a too-large problem must name its limit", reqBody: d2lRequest,
			status: 413, ct: "application/problem+json",
			body:     `{"type": "/problems/too-large", "title": "Too large", "status": 413, "detail": "too many elements"}`,
			wantFail: true, mention: []string{"limit"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			header := corr2dHeader(tt.ct)
			if tt.status == 503 {
				header.Set("Retry-After", "1")
			}
			expect(t, tt.wantFail, func(tb testing.TB) {
				v.Check(tb, corr2dRequest(tt.reqBody), []byte(tt.reqBody), tt.status, header, []byte(tt.body))
			}, tt.mention...)
		})
	}
}

func TestCheckOverloadNeedsRetryAfter(t *testing.T) {
	v := apitest.NewValidator(t)
	body := `{"type": "/problems/overloaded", "title": "Overloaded", "status": 503, "detail": "queue full"}`
	expect(t, true, func(tb testing.TB) {
		v.Check(tb, corr2dRequest(d2lRequest), []byte(d2lRequest), 503, jsonHeader("application/problem+json"), []byte(body))
	}, "Retry-After")
}

func TestCheckUnknownRouteFails(t *testing.T) {
	v := apitest.NewValidator(t)
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/nope", nil),
		httptest.NewRequest(http.MethodGet, "/corr2d", nil),
		httptest.NewRequest(http.MethodGet, "/jobs/", nil),
	} {
		t.Run(req.Method+" "+req.URL.Path, func(t *testing.T) {
			expect(t, true, func(tb testing.TB) {
				v.Check(tb, req, nil, 200, jsonHeader("application/json"), []byte(`{}`))
			}, "not a route")
		})
	}
}

func TestCheckUnrouted(t *testing.T) {
	v := apitest.NewValidator(t)
	notFound := `{"type": "/problems/not-found", "title": "Not found", "status": 404, "detail": "no route"}`
	notAllowed := `{"type": "/problems/method-not-allowed", "title": "Method not allowed", "status": 405, "detail": "use POST"}`
	problem := jsonHeader("application/problem+json")
	tests := []struct {
		name     string
		method   string
		path     string
		status   int
		body     string
		wantFail bool
	}{
		{"an unknown path answered 404 conforms", "GET", "/nope", 404, notFound, false},
		{"a wrong method answered 405 conforms", "GET", "/corr2d", 405, notAllowed, false},
		{"a wrong method answered 404 is drift", "PUT", "/corr2d", 404, notFound, true},
		{"an unknown path answered 200 is drift", "GET", "/nope", 200, `{}`, true},
		{"a 404 with a 405 problem is drift", "GET", "/nope", 404, notAllowed, true},
		{"a routed request is a misuse", "GET", "/healthz", 404, notFound, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, tt.wantFail, func(tb testing.TB) {
				v.CheckUnrouted(tb, httptest.NewRequest(tt.method, tt.path, nil), tt.status, problem, []byte(tt.body))
			})
		})
	}
}

// A valid job and variations of it that break the rules the Job schema
// encodes beyond field types.
func TestCheckJob(t *testing.T) {
	v := apitest.NewValidator(t)
	const request = `{"input": {"shape": [2,3], "dtype": "float32"}, "target": {"shape": [2,2], "dtype": "float32"}, "kernel_size": [1,2], ` + geometryDefaults +
		`"lr": 0.03, "steps": 10, "loss": "sum", "seed": 42, ` + sgdEcho + `}`
	const queued = `{"id": "01J9Z3K4M5N6P7Q8R9S0T1V2W3", "status": "queued", "created_at": "2025-01-15T10:30:00Z",
		"step": 0, "steps": 10, "kernel": [[0.5, 0.5]], "init_kernel": [[0.5, 0.5]], "request": ` + request + `}`
	tests := []struct {
		name     string
		body     string
		wantFail bool
	}{
		{"a queued job conforms", queued, false},
		{"a failed job with its error conforms", strings.NewReplacer(`"queued"`, `"failed"`, `"step": 0`, `"step": 0, "finished_at": "2025-01-15T10:30:01Z", "error": "loss overflowed"`).Replace(queued), false},
		{"a queued job with finished_at is drift", strings.Replace(queued, `"step": 0`, `"step": 0, "finished_at": "2025-01-15T10:30:01Z"`, 1), true},
		{"a failed job without error is drift", strings.NewReplacer(`"queued"`, `"failed"`, `"step": 0`, `"step": 0, "finished_at": "2025-01-15T10:30:01Z"`).Replace(queued), true},
		{"a job without step is drift", strings.Replace(queued, `"step": 0, `, ``, 1), true},
		{"a request without its defaults is drift", strings.Replace(queued, `, "lr": 0.03`, ``, 1), true},
		{"a request with both seed and init is drift", strings.Replace(queued, `"seed": 42`, `"seed": 42, "init": [[1, 1]]`, 1), true},
		{"a null timestamp is drift", strings.Replace(queued, `"step": 0`, `"step": 0, "started_at": null`, 1), true},
		{"a lowercase id is drift", strings.Replace(queued, "01J9Z3K4M5N6P7Q8R9S0T1V2W3", "01j9z3k4m5n6p7q8r9s0t1v2w3", 1), true},
		{"a bad timestamp is drift", strings.Replace(queued, "2025-01-15T10:30:00Z", "2025-01-15 10:30:00", 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/jobs/01J9Z3K4M5N6P7Q8R9S0T1V2W3", nil)
			expect(t, tt.wantFail, func(tb testing.TB) {
				v.Check(tb, req, nil, 200, jsonHeader("application/json"), []byte(tt.body))
			})
		})
	}
}

func TestCheckTrainNeedsLocation(t *testing.T) {
	v := apitest.NewValidator(t)
	const reqBody = `{"input": [[1,1,0],[1,1,0]], "target": [[0,1],[0,1]], "kernel_size": [1,2]}`
	const job = `{"id": "01J9Z3K4M5N6P7Q8R9S0T1V2W3", "status": "queued", "created_at": "2025-01-15T10:30:00Z",
		"step": 0, "steps": 10, "kernel": [[0.5, 0.5]], "init_kernel": [[0.5, 0.5]],
		"request": {"input": {"shape": [2,3], "dtype": "float32"}, "target": {"shape": [2,2], "dtype": "float32"}, "kernel_size": [1,2], ` + geometryDefaults +
		`"lr": 0.03, "steps": 10, "loss": "sum", "seed": 0, ` + sgdEcho + `}}`
	newReq := func() *http.Request {
		req := httptest.NewRequest(http.MethodPost, "/train", strings.NewReader(reqBody))
		req.Header.Set("Content-Type", "application/json")
		return req
	}
	t.Run("with Location", func(t *testing.T) {
		h := jsonHeader("application/json")
		h.Set("Location", "/jobs/01J9Z3K4M5N6P7Q8R9S0T1V2W3")
		expect(t, false, func(tb testing.TB) { v.Check(tb, newReq(), []byte(reqBody), 202, h, []byte(job)) })
	})
	t.Run("without Location", func(t *testing.T) {
		expect(t, true, func(tb testing.TB) {
			v.Check(tb, newReq(), []byte(reqBody), 202, jsonHeader("application/json"), []byte(job))
		}, "Location")
	})
}

func TestCheckQueryParameters(t *testing.T) {
	v := apitest.NewValidator(t)
	const page = `{"jobs": []}`
	badQuery := `{"type": "/problems/invalid-value", "title": "Invalid value", "status": 400, "detail": "bad limit"}`
	tests := []struct {
		target   string
		status   int
		body     string
		wantFail bool
	}{
		{"/jobs?status=running&limit=1000", 200, page, false},
		{"/jobs?limit=0", 400, badQuery, false},
		{"/jobs?limit=0", 200, page, true},
		{"/jobs?status=done", 200, page, true},
		{"/jobs/01J9Z3K4M5N6P7Q8R9S0T1V2W3/losses?after_step=-1", 200, `{"losses": []}`, true},
		{"/jobs/01J9Z3K4M5N6P7Q8R9S0T1V2W3/losses?after_step=2&limit=10000", 200, `{"losses": [{"step": 3, "loss": 0.5}], "next_after_step": 3}`, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s->%d", tt.target, tt.status), func(t *testing.T) {
			ct := "application/json"
			if tt.status >= 400 {
				ct = "application/problem+json"
			}
			expect(t, tt.wantFail, func(tb testing.TB) {
				v.Check(tb, httptest.NewRequest(http.MethodGet, tt.target, nil), nil, tt.status, jsonHeader(ct), []byte(tt.body))
			})
		})
	}
}

func TestCheckDeleteHasNoBody(t *testing.T) {
	v := apitest.NewValidator(t)
	req := httptest.NewRequest(http.MethodDelete, "/jobs/01J9Z3K4M5N6P7Q8R9S0T1V2W3", nil)
	expect(t, false, func(tb testing.TB) { v.Check(tb, req, nil, 204, http.Header{}, nil) })
	expect(t, true, func(tb testing.TB) { v.Check(tb, req, nil, 204, jsonHeader("application/json"), []byte(`{}`)) }, "no body")
}

func TestCheckOperationalEndpoints(t *testing.T) {
	v := apitest.NewValidator(t)
	const metrics = "# HELP corr2d_http_requests_in_flight Requests being served.\n# TYPE corr2d_http_requests_in_flight gauge\ncorr2d_http_requests_in_flight 1\n"
	tests := []struct {
		name, path, ct, body string
		status               int
		wantFail             bool
	}{
		{"Prometheus text", "/metrics", "text/plain; version=0.0.4; charset=utf-8; escaping=underscores", metrics, 200, false},
		{"OpenMetrics", "/metrics", "application/openmetrics-text; version=1.0.0; charset=utf-8", metrics + "# EOF\n", 200, false},
		{"the spec itself", "/openapi.yaml", "application/yaml", string(api.OpenAPI()), 200, false},
		{"the spec as JSON is drift", "/openapi.yaml", "application/json", `{"openapi": "3.0.3"}`, 200, true},
		{"healthy", "/healthz", "application/json", `{"status":"ok"}`, 200, false},
		{"ready", "/readyz", "application/json", `{"status":"ready"}`, 200, false},
		{"ready with the wrong word", "/readyz", "application/json", `{"status":"ok"}`, 200, true},
		{"not ready", "/readyz", "application/problem+json", `{"type":"/problems/not-ready","title":"Not ready","status":503,"detail":"draining"}`, 503, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, tt.wantFail, func(tb testing.TB) {
				v.Check(tb, httptest.NewRequest(http.MethodGet, tt.path, nil), nil, tt.status, jsonHeader(tt.ct), []byte(tt.body))
			})
		})
	}
}

// The router must ignore the host: handler tests use example.com and
// integration tests a loopback address on a random port.
func TestCheckMatchesAnyHost(t *testing.T) {
	v := apitest.NewValidator(t)
	for _, target := range []string{"http://example.com/healthz", "http://127.0.0.1:43817/healthz", "https://[::1]:8080/healthz"} {
		expect(t, false, func(tb testing.TB) {
			v.Check(tb, httptest.NewRequest(http.MethodGet, target, nil), nil, 200, jsonHeader("application/json"), []byte(`{"status":"ok"}`))
		})
	}
}

// fakeCorr2d answers POST /corr2d with the d2l result, or with a response
// that breaks the contract when the request asks for it with ?bad.
func fakeCorr2d(t testing.TB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || string(body) != d2lRequest {
			t.Errorf("handler got body %q, %v; want the d2l request", body, err)
		}
		switch {
		case r.Method != http.MethodPost || r.URL.Path != "/corr2d":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"type":"/problems/not-found","title":"Not found","status":404,"detail":"no such route"}`)
		case r.URL.Query().Has("bad"):
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Vary", "Accept, Accept-Encoding")
			w.Header().Set("Server-Timing", serverTiming)
			_, _ = io.WriteString(w, `{"output": [[19,25],[37,43]], "shape": "2x2", "dtype": "float64"}`)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Vary", "Accept, Accept-Encoding")
			w.Header().Set("Server-Timing", serverTiming)
			_, _ = io.WriteString(w, `{"output": [[19,25],[37,43]], "shape": [2,2], "dtype": "float64"}`)
		}
	})
}

func TestServe(t *testing.T) {
	v := apitest.NewValidator(t)
	expect(t, false, func(tb testing.TB) {
		rec := v.Serve(tb, fakeCorr2d(t), corr2dRequest(d2lRequest))
		if rec.Code != 200 {
			t.Errorf("status = %d, want 200", rec.Code)
		}
	})
	expect(t, true, func(tb testing.TB) {
		req := corr2dRequest(d2lRequest)
		req.URL.RawQuery = "bad"
		v.Serve(tb, fakeCorr2d(t), req)
	}, "shape")
}

func TestTransport(t *testing.T) {
	v := apitest.NewValidator(t)
	srv := httptest.NewServer(fakeCorr2d(t))
	defer srv.Close()

	post := func(tb testing.TB, path string) (int, string) {
		client := &http.Client{Transport: v.Transport(tb, srv.Client().Transport)}
		resp, err := client.Post(srv.URL+path, "application/json", strings.NewReader(d2lRequest))
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading body: %v", err)
		}
		return resp.StatusCode, string(body)
	}

	t.Run("a conforming response passes and stays readable", func(t *testing.T) {
		expect(t, false, func(tb testing.TB) {
			status, body := post(tb, "/corr2d")
			if want := `{"output": [[19,25],[37,43]], "shape": [2,2], "dtype": "float64"}`; status != 200 || body != want {
				t.Errorf("got %d %s, want 200 %s", status, body, want)
			}
		})
	})
	t.Run("a non-conforming response fails", func(t *testing.T) {
		expect(t, true, func(tb testing.TB) {
			post(tb, "/corr2d?bad")
		}, "POST /corr2d?bad -> 200", "shape")
	})
	t.Run("an unknown route answered 404 passes", func(t *testing.T) {
		expect(t, false, func(tb testing.TB) {
			if status, _ := post(tb, "/nope"); status != 404 {
				t.Errorf("status = %d, want 404", status)
			}
		})
	})
	t.Run("a known path with the wrong method answered 404 fails", func(t *testing.T) {
		expect(t, true, func(tb testing.TB) { post(tb, "/healthz") }, "must be 405")
	})
	t.Run("concurrent requests", func(t *testing.T) {
		expect(t, false, func(tb testing.TB) {
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() { post(tb, "/corr2d") })
			}
			wg.Wait()
		})
	})
}

// Rules that relate fields to each other or to the request, which the
// schemas alone cannot catch.
func TestCheckSemantics(t *testing.T) {
	v := apitest.NewValidator(t)
	const trainBody = `{"input": [[1,1,0],[1,1,0]], "target": [[0,1],[0,1]], "kernel_size": [1,2], "lr": 0.1}`
	job := func(id, status, extra string) string {
		return `{"id": "` + id + `", "status": "` + status + `", "created_at": "2025-01-15T10:30:00Z", ` + extra +
			` "steps": 10, "kernel": [[0.5, 0.5]], "init_kernel": [[0.5, 0.5]],
			"request": {"input": {"shape": [2,3], "dtype": "float32"}, "target": {"shape": [2,2], "dtype": "float32"}, "kernel_size": [1,2], ` + geometryDefaults +
			`"lr": 0.1, "steps": 10, "loss": "sum", "seed": 0, ` + sgdEcho + `}}`
	}
	const id1, id2 = "01J9Z3K4M5N6P7Q8R9S0T1V2W3", "01J9Z3K4M5N6P7Q8R9S0T1V2W4"
	queued := job(id1, "queued", `"step": 0,`)
	done := `"step": 10, "started_at": "2025-01-15T10:30:01Z", "finished_at": "2025-01-15T10:30:02Z",`
	tests := []struct {
		name     string
		method   string
		target   string
		reqBody  string
		status   int
		location string
		body     string
		mention  string // empty when the exchange conforms
	}{
		{
			name: "corr2d shape disagrees with output", method: "POST", target: "/corr2d", reqBody: d2lRequest,
			status: 200, body: `{"output": [[19,25],[37,43]], "shape": [2,3], "dtype": "float64"}`, mention: "shape is [2, 3]",
		},
		{
			name: "corr2d output of the wrong size", method: "POST", target: "/corr2d", reqBody: d2lRequest,
			status: 200, body: `{"output": [[19]], "shape": [1,1], "dtype": "float64"}`, mention: "want (H-kh+1)x(W-kw+1) = 2x2",
		},
		{
			name: "corr2d ragged output", method: "POST", target: "/corr2d", reqBody: d2lRequest,
			status: 200, body: `{"output": [[19,25],[37]], "shape": [2,2], "dtype": "float64"}`, mention: "different lengths",
		},
		{
			name: "train answer echoes the request", method: "POST", target: "/train", reqBody: trainBody,
			status: 202, location: "/jobs/" + id1, body: queued,
		},
		{
			name: "train Location names another job", method: "POST", target: "/train", reqBody: trainBody,
			status: 202, location: "/jobs/" + id2, body: queued, mention: "Location",
		},
		{
			name: "train answer changes a submitted field", method: "POST", target: "/train",
			reqBody: strings.Replace(trainBody, "0.1", "0.2", 1),
			status:  202, location: "/jobs/" + id1, body: queued, mention: "request.lr",
		},
		{
			name: "a kernel of the wrong shape", method: "GET", target: "/jobs/" + id1,
			status: 200, body: strings.Replace(queued, `"kernel": [[0.5, 0.5]]`, `"kernel": [[0.5], [0.5]]`, 1), mention: "kernel is 2x1",
		},
		{
			name: "a succeeded job short of its steps", method: "GET", target: "/jobs/" + id1,
			status: 200, body: job(id1, "succeeded", strings.Replace(done, `"step": 10`, `"step": 9`, 1)), mention: "succeeded job has step 9",
		},
		{
			name: "cancel answering a job still running", method: "POST", target: "/jobs/" + id1 + "/cancel",
			status: 200, body: job(id1, "running", `"step": 3, "started_at": "2025-01-15T10:30:01Z",`), mention: "status",
		},
		{
			name: "cancel answering a canceled job", method: "POST", target: "/jobs/" + id1 + "/cancel",
			status: 200, body: job(id1, "canceled", `"step": 3, "started_at": "2025-01-15T10:30:01Z", "finished_at": "2025-01-15T10:30:02Z",`),
		},
		{
			name: "a list in order", method: "GET", target: "/jobs?limit=2",
			status: 200, body: `{"jobs": [` + queued + `,` + job(id2, "queued", `"step": 0,`) + `], "next_after": "` + id2 + `"}`,
		},
		{
			name: "a list out of order", method: "GET", target: "/jobs",
			status: 200, body: `{"jobs": [` + job(id2, "queued", `"step": 0,`) + `,` + queued + `]}`, mention: "sorts before",
		},
		{
			name: "a list longer than its limit", method: "GET", target: "/jobs?limit=1",
			status: 200, body: `{"jobs": [` + queued + `,` + job(id2, "queued", `"step": 0,`) + `]}`, mention: "limit 1",
		},
		{
			name: "a list ignoring the status filter", method: "GET", target: "/jobs?status=succeeded",
			status: 200, body: `{"jobs": [` + queued + `]}`, mention: "the query asked for succeeded",
		},
		{
			name: "a list cursor that is not the last id", method: "GET", target: "/jobs?limit=1",
			status: 200, body: `{"jobs": [` + queued + `], "next_after": "` + id2 + `"}`, mention: "next_after",
		},
		{
			name: "losses in order", method: "GET", target: "/jobs/" + id1 + "/losses?after_step=1&limit=2",
			status: 200, body: `{"losses": [{"step": 2, "loss": 1.5}, {"step": 3, "loss": 0.5}], "next_after_step": 3}`,
		},
		{
			name: "losses not after after_step", method: "GET", target: "/jobs/" + id1 + "/losses?after_step=2",
			status: 200, body: `{"losses": [{"step": 2, "loss": 1.5}]}`, mention: "losses[0] has step 2",
		},
		{
			name: "a loss cursor that is not the last step", method: "GET", target: "/jobs/" + id1 + "/losses",
			status: 200, body: `{"losses": [{"step": 1, "loss": 1.5}], "next_after_step": 0}`, mention: "next_after_step",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.reqBody != "" {
				body = strings.NewReader(tt.reqBody)
			}
			req := httptest.NewRequest(tt.method, tt.target, body)
			if tt.reqBody != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			header := jsonHeader("application/json")
			if tt.target == "/corr2d" {
				header.Set("Server-Timing", serverTiming)
			}
			if tt.location != "" {
				header.Set("Location", tt.location)
			}
			expect(t, tt.mention != "", func(tb testing.TB) {
				v.Check(tb, req, []byte(tt.reqBody), tt.status, header, []byte(tt.body))
			}, tt.mention)
		})
	}
}
