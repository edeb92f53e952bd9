// Package handlers is the HTTP face of corr2d: routing, request decoding,
// limits, the error table and the response encodings.
package handlers

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/semaphore"

	"github.com/corr2d/corr2d/api"
	"github.com/corr2d/corr2d/internal/admit"
	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/web"
)

// Limits bound what one request may ask for. Each has a name that problem
// responses report when it is exceeded.
type Limits struct {
	MaxBodyBytes      int64 // max_body_bytes: request body size
	MaxElements       int   // max_elements: numbers in one input or target matrix
	MaxKernelElements int   // max_kernel_elements: numbers in one kernel
	MaxWork           int64 // max_work: multiply-adds of one correlation
	MaxSteps          int   // max_steps: steps of one training job
}

// DefaultLimits are safe for a 2-core machine: a 4096×4096 image with a
// 31×31 kernel fits, and nothing a client sends can take the server down.
func DefaultLimits() Limits {
	return Limits{
		MaxBodyBytes:      512 << 20,
		MaxElements:       1 << 24,
		MaxKernelElements: 1 << 16,
		MaxWork:           1 << 34,
		MaxSteps:          1_000_000,
	}
}

// Config tunes the handler.
type Config struct {
	Limits Limits
	// RequestTimeout bounds one /corr2d computation.
	RequestTimeout time.Duration
	// RetryAfterSeconds is what 503 answers tell clients to wait.
	RetryAfterSeconds int
	// MaxStreams bounds the event streams and long-polls open at once
	// (default 256); beyond it they get 503.
	MaxStreams int
	// EventPoll is how often a stream or long-poll reads the job store
	// (default 200ms).
	EventPoll time.Duration
	// EventHeartbeat is how long a stream may stay silent before it sends
	// a comment that keeps proxies from closing it (default 15s).
	EventHeartbeat time.Duration
	// EventWriteTimeout bounds each write to a stream (default 10s).
	EventWriteTimeout time.Duration
	// EventRetry is the reconnection delay a stream advises (default 1s).
	EventRetry time.Duration
	// Budget is the memory that requests reserve before they read their
	// bodies; nil admits every request.
	Budget *admit.Budget
	// BodyIdleTimeout ends with 408 a body that makes no progress for
	// that long; zero never does.
	BodyIdleTimeout time.Duration
	// MinBodyRate ends with 408 a body that, after a grace of
	// BodyIdleTimeout, has come slower than this many bytes per second on
	// average; zero allows any rate.
	MinBodyRate int64
	// WriteIdleTimeout ends an answer whose client has read nothing of it
	// for that long; zero waits for ever.
	WriteIdleTimeout time.Duration
	// Access is who may do what; its zero value runs the server open.
	Access Access
	// MaxDecodes bounds the requests that decode their bodies at once
	// (default GOMAXPROCS-1, at least 1, so that one processor is left for
	// the probes and the job routes however many decode); DecodeWait is how long one waits for a turn
	// before its 503 (default 1s).
	MaxDecodes int
	DecodeWait time.Duration
	// LogSample, if positive, samples the per-request info lines: each
	// second, the first LogSample and then every LogSample-th. Server
	// faults are always logged.
	LogSample int
}

// withDefaults fills in the defaults of the fields left zero.
func (c Config) withDefaults() Config {
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = time.Minute
	}
	if c.RetryAfterSeconds <= 0 {
		c.RetryAfterSeconds = 1
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = 256
	}
	if c.EventPoll <= 0 {
		c.EventPoll = 200 * time.Millisecond
	}
	if c.EventHeartbeat <= 0 {
		c.EventHeartbeat = 15 * time.Second
	}
	if c.EventWriteTimeout <= 0 {
		c.EventWriteTimeout = 10 * time.Second
	}
	if c.EventRetry <= 0 {
		c.EventRetry = time.Second
	}
	if c.MaxDecodes <= 0 {
		c.MaxDecodes = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if c.DecodeWait <= 0 {
		c.DecodeWait = time.Second
	}
	return c
}

// Server serves the API. It holds no state of its own beyond the draining
// flag; the work is in the engine and the job runner.
type Server struct {
	cfg      Config
	log      *zap.Logger
	reqLog   *zap.Logger // log, sampled for the per-request lines
	eng      *engine.Engine
	jobs     *jobs.Runner
	metrics  http.Handler
	httpm    *httpMetrics
	router   *chi.Mux
	draining atomic.Bool
	pages    *web.Pages
	streams  streamGate
	decodes  *semaphore.Weighted // the decode slots, see decodeSlot
	// closing is closed by Drain; open streams and long-polls end on it,
	// so that shutdown does not wait for them.
	closing   chan struct{}
	closeOnce sync.Once
}

// New builds the handler. gatherer is what /metrics exposes.
func New(cfg Config, log *zap.Logger, eng *engine.Engine, runner *jobs.Runner, reg prometheus.Registerer, gatherer prometheus.Gatherer) (*Server, error) {
	cfg = cfg.withDefaults()
	m, err := newHTTPMetrics(reg)
	if err != nil {
		return nil, err
	}
	pages, err := web.New(api.OpenAPI())
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: log, reqLog: log, eng: eng, jobs: runner, httpm: m, pages: pages,
		streams: make(streamGate, cfg.MaxStreams), closing: make(chan struct{}),
		decodes: semaphore.NewWeighted(int64(cfg.MaxDecodes)),
		metrics: compressed(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
			ErrorLog:          zap.NewStdLog(log),
			EnableOpenMetrics: true,
			// compressed does it with the encoders our answers reuse;
			// promhttp would allocate a new one for every scrape.
			DisableCompression: true,
		})),
	}
	if cfg.LogSample > 0 {
		s.reqLog = log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return zapcore.NewSamplerWithOptions(c, time.Second, cfg.LogSample, cfg.LogSample)
		}))
	}
	s.router = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Drain makes /readyz fail so that load balancers stop sending traffic
// while the server shuts down, and ends open event streams and long-polls
// (clients reconnect, to another replica if there is one).
func (s *Server) Drain() {
	s.draining.Store(true)
	s.closeOnce.Do(func() { close(s.closing) })
}

// Router exposes the routes for the test that holds them against the spec.
func (s *Server) Router() chi.Routes { return s.router }

// routes is the one list of every route, in the order of api/openapi.yaml.
func (s *Server) routes() *chi.Mux {
	r := chi.NewRouter()
	r.Use(requestID, middleware.GetHead, s.observe, s.recoverPanic, s.crossSite, s.authenticate, s.limitRate, s.refuseLargeBody, s.writeDeadlines, s.decompress)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, &apiError{status: http.StatusNotFound, code: codeNotFound, detail: "no such route"})
	})
	r.MethodNotAllowed(s.methodNotAllowed)

	r.Get("/", s.playground)
	r.Get("/assets/{file}", s.playgroundAsset)
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Method(http.MethodGet, "/metrics", s.metrics)
	r.Get("/openapi.yaml", s.openapi)
	r.Get("/docs", s.docsPage)
	r.Get("/docs/assets/{file}", s.docsAsset)
	r.Get("/problems/{code}", s.problemType)
	lim := s.cfg.Limits
	r.With(s.admitBody(8*int64(lim.MaxElements+lim.MaxKernelElements))).Post("/corr2d", s.corr2d)
	r.With(s.admitBody(8*int64(2*lim.MaxElements+lim.MaxKernelElements))).Post("/train", s.train)
	r.Get("/jobs", s.listJobs)
	r.With(s.ownJob).Get("/jobs/{id}", s.getJob)
	r.With(s.ownJob).Delete("/jobs/{id}", s.deleteJob)
	r.With(s.ownJob).Get("/jobs/{id}/input", s.jobTensor("input"))
	r.With(s.ownJob).Get("/jobs/{id}/target", s.jobTensor("target"))
	r.With(s.ownJob).Get("/jobs/{id}/losses", s.jobLosses)
	r.With(s.ownJob).Get("/jobs/{id}/events", s.jobEvents)
	r.With(s.ownJob).Post("/jobs/{id}/cancel", s.cancelJob)
	return r
}

// methodNotAllowed answers 405 with the methods the path does serve in
// Allow.
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if s.router.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead) // see middleware.GetHead
			}
		}
	}
	for _, m := range allow {
		w.Header().Add("Allow", m)
	}
	s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: codeMethodNotAllowed,
		detail: r.Method + " is not allowed here"})
}

// healthz answers while the process serves at all: a liveness probe.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 while the server takes work: not while it drains, nor
// while the job store cannot be reached.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		s.writeError(w, r, &apiError{status: http.StatusServiceUnavailable, code: codeNotReady, detail: "the server is shutting down"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.jobs.Ping(ctx); err != nil {
		// The store's ping writes (SQLite) or connects (PostgreSQL): a full
		// disk or a read-only file fails it as an unreachable server does.
		s.log.Warn("store not ready", zap.Error(err))
		s.writeError(w, r, &apiError{status: http.StatusServiceUnavailable, code: codeNotReady,
			detail: "the job store cannot be reached or written"})
		return
	}
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ready"})
}

// openapi serves the API's description, api/openapi.yaml.
func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	writeBody(w, r, http.StatusOK, "application/yaml", api.OpenAPI())
}
