package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEveryAnswerCarriesARequestID(t *testing.T) {
	f := newFixture(t, options{})
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"none sent", "", false},
		{"a short printable id is kept", "req-42_ABC.x:y/z", true},
		{"64 characters are kept", strings.Repeat("a", 64), true},
		{"65 characters are replaced", strings.Repeat("a", 65), false},
		{"a space is replaced", "two words", false},
		{"a control character is replaced", "bad\x1bid", false},
		{"non-ASCII is replaced", "caf\u00e9", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []*http.Request{
				httptest.NewRequest(http.MethodGet, "/healthz", nil),
				httptest.NewRequest(http.MethodGet, "/no-such-route", nil),
				httptest.NewRequest(http.MethodPost, "/corr2d", strings.NewReader(`{"input": [[1]], "kernel": [[1, 2]]}`)),
			} {
				req.Header.Set("Content-Type", "application/json")
				if tc.sent != "" {
					req.Header.Set("X-Request-Id", tc.sent)
				}
				rec := httptest.NewRecorder()
				f.srv.ServeHTTP(rec, req)
				got := rec.Header().Get("X-Request-Id")
				switch {
				case tc.kept && got != tc.sent:
					t.Errorf("%s %s: X-Request-Id %q, want the client's %q", req.Method, req.URL.Path, got, tc.sent)
				case !tc.kept && (got == "" || got == tc.sent || len(got) != 26):
					t.Errorf("%s %s: X-Request-Id %q, want a fresh 26-character id", req.Method, req.URL.Path, got)
				}
				if rec.Code >= 400 {
					if p := decode[struct {
						RequestID string `json:"request_id"`
					}](t, rec); p.RequestID != got {
						t.Errorf("%s %s: problem request_id %q, header %q", req.Method, req.URL.Path, p.RequestID, got)
					}
				}
			}
		})
	}
}
