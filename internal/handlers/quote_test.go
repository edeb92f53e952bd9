package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// A problem type has one title, whatever the status it comes with.
func TestOneTitlePerProblemType(t *testing.T) {
	f := newFixture(t, options{})
	titles := map[string]string{}
	for _, tt := range []struct{ method, target, body string }{
		{http.MethodGet, "/jobs?limit=0", ""},                                               // invalid-value, 400
		{http.MethodPost, "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "padding": -1}`}, // invalid-value, 422
		{http.MethodPost, "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "groups": "x"}`}, // invalid-value, 422
		{http.MethodPost, "/corr2d", `{"input": [[1, 2]], "kernel": [[1]], "x": 1}`},        // unknown-field
		{http.MethodPost, "/corr2d", `{"input": `},                                          // malformed-json
		{http.MethodGet, "/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV", ""},                            // not-found
	} {
		rec := f.do(t, tt.method, tt.target, tt.body)
		p := decode[struct {
			Type, Title string
			Status      int
		}](t, rec)
		if p.Title == "" || p.Title == http.StatusText(p.Status) && p.Type != "/problems/conflict" {
			t.Errorf("%s %s: title %q, want the title of %s", tt.method, tt.target, p.Title, p.Type)
		}
		if prev, ok := titles[p.Type]; ok && prev != p.Title {
			t.Errorf("%s has the titles %q and %q", p.Type, prev, p.Title)
		}
		titles[p.Type] = p.Title
	}
	if len(titles) != 4 {
		t.Errorf("saw the problem types %v, want four", titles)
	}
}

const smallBody = `{"input": [[1, 2]], "kernel": [[1]]}`

// Client input quoted in an answer or a log line is cut to a few hundred
// bytes: a 60 KiB key (keys up to 64 KiB are read) comes back neither in
// the answer nor in the log, and neither does a 1 MiB job id.
func TestClientInputIsQuotedBriefly(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	f := newFixture(t, options{log: zap.New(core)})
	key := strings.Repeat("k", 60<<10)
	long := func(field string) string {
		return `{"input": [[1, 2]], "kernel": [[1]], "` + field + `": "` + key + `"}`
	}
	for _, tt := range []struct {
		name, method, target, body, pointer string
		header                              http.Header
	}{
		{"an unknown key", http.MethodPost, "/corr2d", `{"input": [[1]], "kernel": [[1]], "` + key + `": 1}`, "/kkkk", nil},
		{"an unknown optimizer key", http.MethodPost, "/train",
			`{"input": [[1, 2]], "target": [[1]], "kernel_size": [1, 2], "optimizer": {"` + key + `": 1}}`, "/optimizer/kkkk", nil},
		{"a repeated key", http.MethodPost, "/corr2d", `{"input": [[1]], "kernel": [[1]], "` + key + `": 1, "` + key + `": 2}`, "", nil},
		{"a long job id", http.MethodGet, "/jobs/" + strings.Repeat("k", 1<<20), "", "", nil},
		{"a long operation", http.MethodPost, "/corr2d", long("operation"), "", nil},
		{"a long dtype", http.MethodPost, "/corr2d", long("dtype"), "", nil},
		{"a long method", http.MethodPost, "/corr2d", long("method"), "", nil},
		{"a long padding", http.MethodPost, "/corr2d", long("padding"), "", nil},
		{"a long padding mode", http.MethodPost, "/corr2d", long("padding_mode"), "", nil},
		{"a long scale", http.MethodPost, "/corr2d", long("scale"), "", nil},
		{"a long string in the input", http.MethodPost, "/corr2d", `{"input": [["` + key + `"]], "kernel": [[1]]}`, "", nil},
		{"a long number in the input", http.MethodPost, "/corr2d", `{"input": [[1` + strings.Repeat("1", 1<<20) + `x]], "kernel": [[1]]}`, "", nil},
		{"a long loss", http.MethodPost, "/train", `{"input": [[1, 2]], "target": [[1]], "kernel_size": [1, 2], "loss": "` + key + `"}`, "", nil},
		{"a long optimizer name", http.MethodPost, "/train", `{"input": [[1, 2]], "target": [[1]], "kernel_size": [1, 2], "optimizer": {"name": "` + key + `"}}`, "", nil},
		{"a long status filter", http.MethodGet, "/jobs?status=" + key, "", "", nil},
		{"a long after", http.MethodGet, "/jobs?after=" + key, "", "", nil},
		{"a long limit", http.MethodGet, "/jobs?limit=" + key, "", "", nil},
		{"a long Content-Type", http.MethodPost, "/corr2d", smallBody, "", http.Header{"Content-Type": {"text/" + key}}},
		{"a long Content-Encoding", http.MethodPost, "/corr2d", smallBody, "", http.Header{"Content-Encoding": {key}}},
		{"a long Accept", http.MethodPost, "/corr2d", smallBody, "", http.Header{"Accept": {"image/" + key}}},
		{"a long part name", http.MethodPost, "/corr2d", "--b\r\nContent-Disposition: form-data; name=\"" + key + "\"\r\n\r\n[[1]]\r\n--b--\r\n", "",
			http.Header{"Content-Type": {"multipart/form-data; boundary=b"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs.TakeAll()
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			for k, v := range tt.header {
				req.Header[k] = v
			}
			rec := f.v.Serve(t, f.srv, req)
			if rec.Code < 400 || rec.Body.Len() > 4096 {
				t.Fatalf("status %d with %d bytes of answer, want a problem of at most 4 KiB", rec.Code, rec.Body.Len())
			}
			if p := decode[struct{ Instance string }](t, rec); len(p.Instance) > 1024 {
				t.Errorf("the instance quotes %d bytes of the path", len(p.Instance))
			}
			p := decode[problem](t, rec)
			if tt.pointer != "" && (len(p.Errors) != 1 || !strings.HasPrefix(p.Errors[0].Pointer, tt.pointer) || !strings.HasSuffix(p.Errors[0].Pointer, "…")) {
				t.Errorf("errors %+v, want a clipped pointer starting %s", p.Errors, tt.pointer)
			}
			entries := logs.AllUntimed()
			if len(entries) == 0 {
				t.Fatal("nothing was logged")
			}
			for _, e := range entries {
				size := len(e.Message)
				for _, fld := range e.Context {
					size += len(fld.Key) + len(fld.String)
				}
				if size > 4096 {
					t.Errorf("log line %q carries %d bytes", e.Message, size)
				}
			}
		})
	}
}
