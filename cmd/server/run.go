package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/corr2d/corr2d/internal/admit"
	"github.com/corr2d/corr2d/internal/auth"
	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/handlers"
	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/store/postgres"
	"github.com/corr2d/corr2d/internal/store/sqlite"
)

// run builds the service, serves until ctx ends, and shuts it down in the
// reverse order of construction.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	switch {
	case isVersion(args):
		printVersion(stdout)
		return nil
	case isHelp(args):
		// The usage goes to stdout and the exit status is 0: it was asked for.
		if _, err := parseConfig([]string{"-h"}, getenv, stdout); !errors.Is(err, flag.ErrHelp) {
			return err
		}
		return nil
	case len(args) > 0 && args[0] == "healthcheck":
		return healthcheck(ctx, args[1:], getenv, stderr)
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg, stdout)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()

	budgetSize, restoreLimit, err := memoryBudget(cfg, getenv)
	if err != nil {
		return err
	}
	defer restoreLimit()

	reg := prometheus.NewRegistry()
	if err := registerRuntime(reg); err != nil {
		return err
	}
	store, db, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, store.Close()) }()

	eng, err := engine.New(engine.Config{Workers: cfg.workers, QueueSize: cfg.queueSize}, reg)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	defer eng.Close()

	// Requests and running jobs share one memory budget.
	budget, err := admit.New(budgetSize, cfg.admissionWait, reg)
	if err != nil {
		return err
	}
	runner, err := jobs.New(ctx, jobsConfig(cfg, budget), store, db, eng, log.Named("jobs"), reg)
	if err != nil {
		return err
	}
	if err := runner.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
		defer cancel()
		err = errors.Join(err, runner.Stop(sctx))
	}()

	access, stopReload, err := newAccess(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer stopReload()
	h, err := handlers.New(handlerConfig(cfg, access, budget), log.Named("http"), eng, runner, reg, reg)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, h, log, zap.String("store", storeName(cfg)),
		zap.Int("workers", eng.Workers()), zap.Int64("memory_budget", budgetSize))
}

// jobsConfig is the job runner's part of the configuration.
func jobsConfig(cfg config, budget *admit.Budget) jobs.Config {
	return jobs.Config{
		Memory:          budget,
		Concurrency:     cfg.jobConcurrency,
		MaxActive:       cfg.maxActiveJobs,
		JobTimeout:      cfg.jobTimeout,
		CheckpointEvery: cfg.checkpointEvery,
		LossGrace:       cfg.lossGrace,
		MaxLossSeries:   cfg.maxLossSeries,
		FailoverAfter:   cfg.failoverAfter,
		Retention:       cfg.jobRetention,
	}
}

// handlerConfig is the HTTP handler's part of the configuration.
func handlerConfig(cfg config, access handlers.Access, budget *admit.Budget) handlers.Config {
	return handlers.Config{
		Access: access,
		Limits: cfg.limits, RequestTimeout: cfg.requestTimeout, Budget: budget,
		BodyIdleTimeout: cfg.bodyIdleTimeout, MinBodyRate: int64(cfg.minBodyRate), WriteIdleTimeout: cfg.writeTimeout,
		LogSample: cfg.logSample, MaxStreams: cfg.maxStreams,
		MaxDecodes: cfg.maxDecodes, DecodeWait: cfg.admissionWait,
	}
}

// memoryBudget is the size of the requests' memory budget: the flag's, or
// else what the machine or its cgroup allows. Unless GOMEMLIMIT is set, it
// also becomes the runtime's memory limit until restore is called.
func memoryBudget(cfg config, getenv func(string) string) (size int64, restore func(), err error) {
	size = int64(cfg.memoryBudget)
	if size == 0 {
		size = admit.DefaultSize(os.ReadFile)
	}
	if size == 0 {
		return 0, nil, errors.New("memory budget: cannot tell the machine's memory; set --memory-budget")
	}
	if getenv("GOMEMLIMIT") != "" {
		return size, func() {}, nil
	}
	// The runtime collects harder as the heap nears the budget, so that
	// garbage does not stand in for memory that requests reserved.
	prev := debug.SetMemoryLimit(size)
	return size, func() { debug.SetMemoryLimit(prev) }, nil
}

// serve listens on cfg.addr and serves h until ctx ends; then it drains
// (readiness fails first, so that load balancers stop sending) and shuts
// the server down. fields go into the "listening" log line.
func serve(ctx context.Context, cfg config, h *handlers.Server, log *zap.Logger, fields ...zap.Field) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if cfg.addrFile != "" {
		if err := writeAddrFile(cfg.addrFile, ln.Addr().String()); err != nil {
			return errors.Join(fmt.Errorf("addr file: %w", err), ln.Close())
		}
		// A file left behind would name a port that may since serve
		// something else.
		defer func() { _ = os.Remove(cfg.addrFile) }()
	}
	if cfg.maxConnections > 0 {
		ln = admit.LimitListener(ln, cfg.maxConnections)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    int(cfg.maxHeaderBytes),
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", append([]zap.Field{zap.String("addr", ln.Addr().String())}, fields...)...)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining", zap.Duration("drain_delay", cfg.drainDelay))
	h.Drain()
	// Load balancers see /readyz fail and stop sending before the listener
	// closes.
	drain := time.NewTimer(cfg.drainDelay)
	<-drain.C
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// writeAddrFile writes addr to path through a temporary file in the same
// directory and a rename, so that whoever polls for path finds either no
// file or the whole address.
func writeAddrFile(path, addr string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, werr := f.WriteString(addr + "\n")
	err = errors.Join(werr, f.Chmod(0o644), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// jobStore is a jobs.Store that the server closes at the end.
type jobStore interface {
	jobs.Store
	Close() error
}

// openStore opens PostgreSQL when a database URL is given, else the
// embedded SQLite store in the data dir. It also returns the store's
// database, in which the jobs package keeps its queue.
func openStore(ctx context.Context, cfg config) (jobStore, any, error) {
	if cfg.databaseURL != "" {
		s, err := postgres.Open(ctx, cfg.databaseURL)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Pool(), nil
	}
	s, err := sqlite.Open(ctx, cfg.dataDir)
	if err != nil {
		return nil, nil, err
	}
	return s, s.DB(), nil
}

// storeName says where the jobs are kept, for the log: never the URL,
// which may hold a password.
func storeName(cfg config) string {
	if cfg.databaseURL != "" {
		return "postgres"
	}
	return "sqlite:" + cfg.dataDir
}

func newLogger(cfg config, out io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.logLevel)
	if err != nil {
		return nil, fmt.Errorf("log level: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	if cfg.logFormat == "console" {
		enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(out)), level)), nil
}

func registerRuntime(reg *prometheus.Registry) error {
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register runtime metrics: %w", err)
		}
	}
	return nil
}

// healthcheck probes /healthz of a server on this host: the container's
// health check, which has no shell or curl to run.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(cfg.addr)
	if err != nil {
		return fmt.Errorf("healthcheck: address %q: %w", cfg.addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort("127.0.0.1", port)+"/healthz", nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: status %d", resp.StatusCode)
	}
	return nil
}

// newAccess loads the tokens, if any, and reloads them on SIGHUP until ctx
// ends or stop is called, which waits for the reloader to end; an open
// server says so at start.
func newAccess(ctx context.Context, cfg config, log *zap.Logger) (a handlers.Access, stop func(), err error) {
	a = handlers.Access{
		MetricsAuth: cfg.metricsAuth, RequestsPerSecond: cfg.rateLimit, Burst: cfg.rateBurst,
		MaxActiveJobs: cfg.principalJobs,
	}
	for o := range strings.SplitSeq(cfg.corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			a.CORSOrigins = append(a.CORSOrigins, o)
		}
	}
	if cfg.authTokensFile == "" {
		log.Warn("no --auth-tokens-file: the server is open, and anyone who can reach it may submit, read, cancel and delete every job")
		return a, func() {}, nil
	}
	tokens, err := auth.Load(cfg.authTokensFile)
	if err != nil {
		return a, nil, err
	}
	a.Tokens = tokens
	log.Info("tokens loaded", zap.Int("tokens", tokens.Len()))
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := tokens.Reload(); err != nil {
					log.Error("tokens not reloaded; the previous ones stay", zap.Error(err))
					continue
				}
				log.Info("tokens reloaded", zap.Int("tokens", tokens.Len()))
			}
		}
	}()
	return a, func() { cancel(); <-done }, nil
}
