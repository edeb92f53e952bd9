package handlers_test

import (
	"net/http"
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

// Client input quoted in an answer or a log line is cut to a few hundred
// bytes: a 60 KiB key (keys up to 64 KiB are read) comes back neither in
// the answer nor in the log, and neither does a 1 MiB job id.
func TestClientInputIsQuotedBriefly(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	f := newFixture(t, options{log: zap.New(core)})
	key := strings.Repeat("k", 60<<10)
	for _, tt := range []struct {
		name, method, target, body, pointer string
	}{
		{"an unknown key", http.MethodPost, "/corr2d", `{"input": [[1]], "kernel": [[1]], "` + key + `": 1}`, "/kkkk"},
		{"an unknown optimizer key", http.MethodPost, "/train",
			`{"input": [[1, 2]], "target": [[1]], "kernel_size": [1, 2], "optimizer": {"` + key + `": 1}}`, "/optimizer/kkkk"},
		{"a repeated key", http.MethodPost, "/corr2d", `{"input": [[1]], "kernel": [[1]], "` + key + `": 1, "` + key + `": 2}`, ""},
		{"a long job id", http.MethodGet, "/jobs/" + strings.Repeat("k", 1<<20), "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			logs.TakeAll()
			rec := f.do(t, tt.method, tt.target, tt.body)
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
