package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

// newHTTPMetrics registers the request metrics with reg.
func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corr2d_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "corr2d_http_request_duration_seconds",
			Help:    "Time from a request's arrival to its answer, by route pattern and method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "corr2d_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("handlers: register metrics: %w", err)
		}
	}
	return m, nil
}

// observe logs and measures every request under its route pattern, never
// its path, so that label values stay bounded.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.httpm.inFlight.Inc()
		defer s.httpm.inFlight.Dec()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)

		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodOptions:
		default:
			method = "other"
		}
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		if status >= 500 && errors.Is(r.Context().Err(), context.Canceled) {
			// The client left; whatever failed after that is not the
			// server's fault.
			status = statusClientClosed
		}
		elapsed := time.Since(start)
		s.httpm.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		s.httpm.duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
		log := s.reqLog // sampled under load
		if status >= 500 && status != statusClientClosed {
			log = s.log
		}
		log.Info("request",
			zap.String("request_id", middleware.GetReqID(r.Context())),
			zap.String("method", clip(r.Method, maxQuoted)),
			zap.String("route", route),
			zap.String("path", clip(r.URL.Path, maxQuoted)),
			zap.Int("status", status),
			zap.Duration("duration", elapsed),
			zap.Int("bytes", ww.BytesWritten()),
		)
	})
}

// recoverPanic turns a handler panic into a 500 problem, so one bad request
// cannot take the process down.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				// The panic's value may quote the request: clipped.
				s.log.Error("handler panic", zap.String("panic", clip(fmt.Sprint(v), 4*maxQuoted)), zap.Stack("stack"))
				s.writeError(w, r, fmt.Errorf("handler panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
