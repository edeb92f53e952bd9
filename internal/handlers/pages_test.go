package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDocsPageAndItsAssets(t *testing.T) {
	f := newFixture(t, options{})
	rec := f.do(t, http.MethodGet, "/docs", "")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /docs = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("GET /docs Content-Security-Policy %q", csp)
	}
	body := rec.Body.String()
	for _, want := range []string{`src="/docs/assets/swagger-ui-bundle.js"`, `id="problem-invalid-value"`, `id="problem-too-large"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /docs lacks %s", want)
		}
	}
	for _, tc := range []struct {
		file, contentType string
	}{
		{"swagger-ui-bundle.js", "text/javascript"},
		{"swagger-ui.css", "text/css"},
		{"docs.js", "text/javascript"},
		{"docs.css", "text/css"},
	} {
		rec := f.do(t, http.MethodGet, "/docs/assets/"+tc.file, "")
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), tc.contentType) || rec.Body.Len() == 0 {
			t.Errorf("GET /docs/assets/%s = %d %q, %d bytes", tc.file, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Len())
			continue
		}
		req := httptest.NewRequest(http.MethodGet, "/docs/assets/"+tc.file, nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		if again := f.v.Serve(t, f.srv, req); again.Code != http.StatusNotModified || again.Body.Len() != 0 {
			t.Errorf("GET /docs/assets/%s with its ETag = %d, %d bytes; want 304", tc.file, again.Code, again.Body.Len())
		}
	}
	for _, target := range []string{"/docs/assets/nope.js", "/docs/assets/docs.html", "/problems/no-such-problem"} {
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
