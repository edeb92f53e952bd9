package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPagesAndTheirAssets(t *testing.T) {
	f := newFixture(t, options{})
	for _, page := range []struct {
		path string
		want []string
	}{
		{"/docs", []string{`src="/docs/assets/swagger-ui-bundle.js"`, `id="problem-invalid-value"`, `id="problem-too-large"`}},
		{"/", []string{`src="/assets/playground.js"`, `id="loss-canvas"`, `id="token"`}},
	} {
		rec := f.do(t, http.MethodGet, page.path, "")
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s = %d %q", page.path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s Content-Security-Policy %q", page.path, csp)
		}
		for _, want := range page.want {
			if !strings.Contains(rec.Body.String(), want) {
				t.Errorf("GET %s lacks %s", page.path, want)
			}
		}
	}
	for _, tc := range []struct {
		path, contentType string
	}{
		{"/docs/assets/swagger-ui-bundle.js", "text/javascript"},
		{"/docs/assets/swagger-ui.css", "text/css"},
		{"/docs/assets/docs.js", "text/javascript"},
		{"/docs/assets/docs.css", "text/css"},
		{"/assets/playground.js", "text/javascript"},
		{"/assets/playground.css", "text/css"},
	} {
		rec := f.do(t, http.MethodGet, tc.path, "")
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.contentType) || rec.Body.Len() == 0 {
			t.Errorf("GET %s = %d %q, %d bytes", tc.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
			continue
		}
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		if again := f.v.Serve(t, f.srv, req); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("GET %s with its ETag = %d, %d bytes; want 304", tc.path, again.Code, again.Body.Len())
		}
	}
	for _, target := range []string{"/docs/assets/nope.js", "/docs/assets/docs.html", "/assets/index.html", "/assets/docs.js", "/problems/no-such-problem"} {
		if rec := f.do(t, http.MethodGet, target, ""); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", target, rec.Code)
		}
	}
}

// A problem's type, resolved against the request's URL, leads to the
// explanation of that type.
func TestProblemTypesLeadToTheirExplanation(t *testing.T) {
	f := newFixture(t, options{})
	p := decode[problem](t, f.do(t, http.MethodPost, "/corr2d", `{"input": [[1, 2]], "kernel": [[1, 2, 3]]}`))
	rec := f.do(t, http.MethodGet, p.Type, "")
	if rec.Code != http.StatusFound {
		t.Fatalf("GET %s = %d, want 302", p.Type, rec.Code)
	}
	code := strings.TrimPrefix(p.Type, "/problems/")
	if loc := rec.Header().Get("Location"); loc != "/docs#problem-"+code {
		t.Errorf("GET %s: Location %q", p.Type, loc)
	}
}
