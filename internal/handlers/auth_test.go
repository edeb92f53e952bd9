package handlers_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/corr2d/corr2d/internal/auth"
	"github.com/corr2d/corr2d/internal/handlers"
)

// tokensFile writes a tokens file of alice and bob (users) and root
// (admin), whose tokens are their names with "-secret".
func tokensFile(t *testing.T) *auth.Tokens {
	t.Helper()
	var b strings.Builder
	for _, p := range []struct{ name, role string }{{"alice", "user"}, {"bob", "user"}, {"root", "admin"}} {
		sum := sha256.Sum256([]byte(p.name + "-secret"))
		b.WriteString(p.name + " " + p.role + " " + hex.EncodeToString(sum[:]) + "\n")
	}
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// as sends a request with the token of who ("" for none) and the given
// extra headers, straight to the handler.
func (f *fixture) as(who, method, target, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+who+"-secret")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

func edgeTrainBody(t *testing.T, steps int) string {
	return `{"input": ` + mustJSON(t, edgeImage()) + `, "target": ` + mustJSON(t, edgeTarget()) +
		`, "kernel_size": [1, 2], "lr": 0.001, "steps": ` + strconv.Itoa(steps) + `, "seed": 42}`
}

func TestAuthMatrix(t *testing.T) {
	f := newFixture(t, options{handler: handlers.Config{Access: handlers.Access{
		Tokens: tokensFile(t), CORSOrigins: []string{"https://friend.example"},
	}}})
	rec := f.as("alice", http.MethodPost, "/train", edgeTrainBody(t, 3))
	if rec.Code != http.StatusAccepted {
		t.Fatalf("alice POST /train = %d: %s", rec.Code, rec.Body)
	}
	id := decode[jobView](t, rec).ID
	job := "/jobs/" + id

	for _, tc := range []struct {
		name, who, method, path string
		header                  []string
		want                    int
	}{
		{"no token", "", http.MethodGet, "/jobs", nil, http.StatusUnauthorized},
		{"no token, POST", "", http.MethodPost, "/corr2d", nil, http.StatusUnauthorized},
		{"a wrong token", "mallory", http.MethodGet, "/jobs", nil, http.StatusUnauthorized},
		{"the probes need none", "", http.MethodGet, "/healthz", nil, http.StatusOK},
		{"metrics need none without --metrics-auth", "", http.MethodGet, "/metrics", nil, http.StatusOK},
		{"the playground needs none", "", http.MethodGet, "/", nil, http.StatusOK},
		{"the reference needs none", "", http.MethodGet, "/docs", nil, http.StatusOK},
		{"the spec needs none", "", http.MethodGet, "/openapi.yaml", nil, http.StatusOK},
		{"page assets need none", "", http.MethodGet, "/docs/assets/docs.js", nil, http.StatusOK},
		{"the owner reads its job", "alice", http.MethodGet, job, nil, http.StatusOK},
		{"another user cannot see it", "bob", http.MethodGet, job, nil, http.StatusNotFound},
		{"another user cannot read its losses", "bob", http.MethodGet, job + "/losses", nil, http.StatusNotFound},
		{"another user cannot follow it", "bob", http.MethodGet, job + "/events", nil, http.StatusNotFound},
		{"another user cannot cancel it", "bob", http.MethodPost, job + "/cancel", nil, http.StatusNotFound},
		{"another user cannot delete it", "bob", http.MethodDelete, job, nil, http.StatusNotFound},
		{"an admin reads every job", "root", http.MethodGet, job, nil, http.StatusOK},
		{"a cross-site POST is refused", "alice", http.MethodPost, "/corr2d",
			[]string{"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"a cross-site POST without a token is refused too", "", http.MethodPost, "/train",
			[]string{"Origin", "https://evil.example"}, http.StatusForbidden},
		{"a null origin is refused", "alice", http.MethodPost, "/corr2d", []string{"Origin", "null"}, http.StatusForbidden},
		{"a preflight of an allowed origin is answered", "", http.MethodOptions, "/corr2d",
			[]string{"Origin", "https://friend.example", "Access-Control-Request-Method", "POST"}, http.StatusNoContent},
		{"a preflight of another origin is refused", "", http.MethodOptions, "/corr2d",
			[]string{"Origin", "https://evil.example", "Access-Control-Request-Method", "POST"}, http.StatusForbidden},
		{"an allowed origin's request passes", "alice", http.MethodGet, "/jobs",
			[]string{"Origin", "https://friend.example", "Sec-Fetch-Site", "cross-site"}, http.StatusOK},
		{"a same-origin request passes", "alice", http.MethodGet, "/jobs",
			[]string{"Origin", "http://example.com", "Sec-Fetch-Site", "same-origin"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.as(tc.who, tc.method, tc.path, "", tc.header...)
			if rec.Code != tc.want {
				t.Fatalf("%s %s as %q = %d, want %d: %s", tc.method, tc.path, tc.who, rec.Code, tc.want, rec.Body)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %q", rec.Header().Get("WWW-Authenticate"))
			}
			if origin := rec.Header().Get("Access-Control-Allow-Origin"); (origin != "") != (tc.want != http.StatusForbidden && len(tc.header) > 0 && tc.header[1] == "https://friend.example") {
				t.Errorf("Access-Control-Allow-Origin = %q", origin)
			}
		})
	}

	lists := func(who string) bool {
		rec := f.as(who, http.MethodGet, "/jobs", "")
		return strings.Contains(rec.Body.String(), id)
	}
	if !lists("alice") || lists("bob") || !lists("root") {
		t.Errorf("GET /jobs lists the job to alice %v, bob %v, root %v; want true, false, true", lists("alice"), lists("bob"), lists("root"))
	}
}

func TestMetricsAuth(t *testing.T) {
	f := newFixture(t, options{handler: handlers.Config{Access: handlers.Access{Tokens: tokensFile(t), MetricsAuth: true}}})
	if rec := f.as("", http.MethodGet, "/metrics", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("GET /metrics without a token under --metrics-auth = %d, want 401", rec.Code)
	}
	if rec := f.as("bob", http.MethodGet, "/metrics", ""); rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics with a token = %d, want 200", rec.Code)
	}
	if rec := f.as("", http.MethodGet, "/readyz", ""); rec.Code != http.StatusOK {
		t.Fatalf("GET /readyz without a token = %d, want 200", rec.Code)
	}
}

func TestQuotas(t *testing.T) {
	t.Run("requests per second", func(t *testing.T) {
		f := newFixture(t, options{handler: handlers.Config{Access: handlers.Access{
			Tokens: tokensFile(t), RequestsPerSecond: 0.5, Burst: 2,
		}}})
		for i := range 2 {
			if rec := f.as("alice", http.MethodGet, "/jobs", ""); rec.Code != http.StatusOK {
				t.Fatalf("request %d within the burst = %d", i, rec.Code)
			}
		}
		rec := f.as("alice", http.MethodGet, "/jobs", "")
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("over the rate: %d, Retry-After %q; want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
		}
		if rec := f.as("bob", http.MethodGet, "/jobs", ""); rec.Code != http.StatusOK {
			t.Fatalf("another principal's request = %d, want 200: quotas are per principal", rec.Code)
		}
	})
	t.Run("active jobs", func(t *testing.T) {
		f := newFixture(t, options{handler: handlers.Config{Access: handlers.Access{Tokens: tokensFile(t), MaxActiveJobs: 1}}})
		rec := f.as("alice", http.MethodPost, "/train", edgeTrainBody(t, 1_000_000))
		if rec.Code != http.StatusAccepted {
			t.Fatalf("first job = %d: %s", rec.Code, rec.Body)
		}
		id := decode[jobView](t, rec).ID
		defer f.as("alice", http.MethodPost, "/jobs/"+id+"/cancel", "")
		rec = f.as("alice", http.MethodPost, "/train", edgeTrainBody(t, 3))
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("second active job = %d, Retry-After %q; want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
		}
		if rec := f.as("bob", http.MethodPost, "/train", edgeTrainBody(t, 3)); rec.Code != http.StatusAccepted {
			t.Fatalf("another principal's job = %d, want 202", rec.Code)
		}
	})
}
