package handlers

import (
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/time/rate"

	"github.com/corr2d/corr2d/internal/auth"
	"github.com/corr2d/corr2d/internal/jobs"
)

// Access is who may do what: the tokens, what they cover, the quotas of
// each principal, and the other sites whose pages may call the API.
type Access struct {
	// Tokens, when not nil, makes every route but the probes (and
	// /metrics, unless MetricsAuth) need a bearer token. Nil runs the
	// server open.
	Tokens      *auth.Tokens
	MetricsAuth bool
	// RequestsPerSecond and Burst bound each principal's request rate;
	// zero means no bound.
	RequestsPerSecond float64
	Burst             int
	// MaxActiveJobs bounds each principal's queued plus running jobs; zero
	// means no bound beyond the server's. The job store checks it in the
	// transaction that records a job, so racing submissions cannot pass it.
	MaxActiveJobs int
	// CORSOrigins are the origins (scheme://host[:port]) of other sites
	// whose pages may call the API; "*" allows every origin.
	CORSOrigins []string
}

// Problem codes of access control.
const (
	codeUnauthorized = "unauthorized"
	codeForbidden    = "forbidden"
	codeQuota        = "quota-exceeded"
)

// unauthenticated is open to anyone even when tokens are required: the
// probes of load balancers and orchestrators, and the metrics scrape unless
// it is protected too.
func (s *Server) unauthenticated(path string) bool {
	return path == "/healthz" || path == "/readyz" || (path == "/metrics" && !s.cfg.Access.MetricsAuth) || page(path)
}

// page reports the pages for people and what they load: a browser opening
// them sends no bearer token, and they hold no one's data (the playground
// sends the token its user types on the API calls it makes).
func page(path string) bool {
	switch path {
	case "/", "/docs", "/openapi.yaml":
		return true
	}
	for _, prefix := range []string{"/assets/", "/docs/assets/", "/problems/"} {
		if strings.HasPrefix(path, prefix) {
			return true
		}
	}
	return false
}

// authenticate finds the request's principal from its bearer token and
// puts it on the context; a request without a known token gets 401.
func (s *Server) authenticate(next http.Handler) http.Handler {
	tokens := s.cfg.Access.Tokens
	if tokens == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions || s.unauthenticated(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		challenge := `Bearer realm="corr2d"`
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", challenge)
			s.writeError(w, r, &apiError{status: http.StatusUnauthorized, code: codeUnauthorized,
				detail: "send Authorization: Bearer <token>"})
			return
		}
		p, ok := tokens.Lookup(strings.TrimSpace(token))
		if !ok {
			w.Header().Set("WWW-Authenticate", challenge+`, error="invalid_token"`)
			s.writeError(w, r, &apiError{status: http.StatusUnauthorized, code: codeUnauthorized,
				detail: "the bearer token is not known"})
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), p)))
	})
}

// limiters holds one token bucket per principal. Principals come only from
// the tokens file, so the map is bounded by it.
type limiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	m     map[string]*rate.Limiter
}

func (l *limiters) get(name string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[name]
	if !ok {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[name] = lim
	}
	return lim
}

// limitRate answers 429 with Retry-After to a principal over its request
// rate.
func (s *Server) limitRate(next http.Handler) http.Handler {
	a := s.cfg.Access
	if a.Tokens == nil || a.RequestsPerSecond <= 0 {
		return next
	}
	l := &limiters{rate: rate.Limit(a.RequestsPerSecond), burst: max(a.Burst, 1), m: map[string]*rate.Limiter{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		res := l.get(p.Name).Reserve()
		if d := res.Delay(); d > 0 {
			res.Cancel()
			s.writeError(w, r, quotaExceeded(d, "more than %g requests per second", a.RequestsPerSecond))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// quotaExceeded is a 429 that says how many seconds to wait.
func quotaExceeded(wait time.Duration, format string, args ...any) *apiError {
	e := invalidField(codeQuota, "", format, args...)
	e.status = http.StatusTooManyRequests
	e.retryAfter = max(1, int(math.Ceil(wait.Seconds())))
	return e
}

// principal returns the request's principal and whether it is limited to
// its own jobs: false for an admin and on an open server.
func principal(r *http.Request) (auth.Principal, bool) {
	p, ok := auth.FromContext(r.Context())
	return p, ok && !p.Admin()
}

// ownJob answers 404 for a job of another principal, as for a job that
// does not exist: a user cannot even learn that it does.
func (s *Server) ownJob(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, limited := principal(r)
		if !limited {
			next.ServeHTTP(w, r)
			return
		}
		j, err := s.jobs.Get(r.Context(), chi.URLParam(r, "id"))
		if err == nil && j.Owner != p.Name {
			err = jobs.ErrNotFound
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// crossSite refuses requests that a page of another site makes, unless
// that site's origin is allowed, and answers the CORS preflights of
// allowed origins. A browser says where a request comes from in
// Sec-Fetch-Site and, for anything but a plain navigation, Origin; a
// request that has neither is not from a browser's page and passes.
func (s *Server) crossSite(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		site := r.Header.Get("Sec-Fetch-Site")
		cross := site == "cross-site" || site == "same-site" || (origin != "" && !sameOrigin(r, origin))
		if !cross {
			next.ServeHTTP(w, r)
			return
		}
		if origin == "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			// A navigation or a plain subresource load from another
			// site: the page cannot read the answer, and it changes
			// nothing.
			next.ServeHTTP(w, r)
			return
		}
		if !s.allowedOrigin(origin) {
			s.writeError(w, r, &apiError{status: http.StatusForbidden, code: codeForbidden,
				detail: "requests from pages of other sites are refused; the server's CORS origins do not include this one"})
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding, Accept, X-Request-Id")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", "Location, Retry-After, Server-Timing, X-Request-Id")
		next.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether origin is the server's own, as the request
// reached it.
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// allowedOrigin reports whether --cors-origins lets pages of origin call the
// API; the opaque origin "null" never may.
func (s *Server) allowedOrigin(origin string) bool {
	if origin == "" || origin == "null" {
		return false
	}
	return slices.ContainsFunc(s.cfg.Access.CORSOrigins, func(o string) bool {
		return o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin)
	})
}
