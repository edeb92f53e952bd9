package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/corr2d/corr2d/internal/handlers"
)

// config is every setting of the server. Each is a flag and, under the
// name CORR2D_<FLAG> with dashes as underscores, an environment variable;
// a flag given on the command line wins over the environment.
type config struct {
	addr            string
	dataDir         string
	databaseURL     string
	failoverAfter   time.Duration
	logFormat       string
	logLevel        string
	workers         int
	queueSize       int
	jobConcurrency  int
	maxActiveJobs   int
	jobTimeout      time.Duration
	checkpointEvery time.Duration
	lossGrace       time.Duration
	requestTimeout  time.Duration
	shutdownTimeout time.Duration
	limits          handlers.Limits
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	c := config{limits: handlers.DefaultLimits()}
	fs := flag.NewFlagSet("corr2d", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", ":8080", "address to listen on")
	fs.StringVar(&c.dataDir, "data-dir", "./data", "directory of the embedded job store")
	fs.StringVar(&c.databaseURL, "database-url", "", "postgres:// URL of a shared PostgreSQL job store (empty: the embedded store in --data-dir)")
	fs.DurationVar(&c.failoverAfter, "failover-after", 15*time.Second, "how long a running job's lease holds without renewal before another replica resumes it")
	fs.StringVar(&c.logFormat, "log-format", "json", "log format: json or console")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.IntVar(&c.workers, "workers", runtime.GOMAXPROCS(0), "engine worker goroutines")
	fs.IntVar(&c.queueSize, "queue-size", 0, "engine queue length per priority, in bands (0: 256 per worker)")
	fs.IntVar(&c.jobConcurrency, "job-concurrency", 2, "training jobs run at once")
	fs.IntVar(&c.maxActiveJobs, "max-active-jobs", 1000, "queued plus running jobs allowed before POST /train answers 503")
	fs.DurationVar(&c.jobTimeout, "job-timeout", time.Hour, "longest a training job may run before it fails")
	fs.DurationVar(&c.checkpointEvery, "checkpoint-every", 100*time.Millisecond, "how often a running job saves its progress")
	fs.DurationVar(&c.lossGrace, "loss-grace", 5*time.Minute, "how long a finished job's loss series stays in /metrics")
	fs.DurationVar(&c.requestTimeout, "request-timeout", time.Minute, "longest one /corr2d computation may take")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long shutdown waits for requests and jobs")
	fs.Int64Var(&c.limits.MaxBodyBytes, "max-body-bytes", c.limits.MaxBodyBytes, "largest request body")
	fs.IntVar(&c.limits.MaxElements, "max-elements", c.limits.MaxElements, "most numbers in an input or target matrix")
	fs.IntVar(&c.limits.MaxKernelElements, "max-kernel-elements", c.limits.MaxKernelElements, "most numbers in a kernel")
	fs.Int64Var(&c.limits.MaxWork, "max-work", c.limits.MaxWork, "most multiply-adds in one correlation")
	fs.IntVar(&c.limits.MaxSteps, "max-steps", c.limits.MaxSteps, "most steps of one training job")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "CORR2D_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" && !given[f.Name] && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, serr)
			}
		}
	})
	if err != nil {
		return c, err
	}
	if c.databaseURL != "" && !strings.HasPrefix(c.databaseURL, "postgres://") && !strings.HasPrefix(c.databaseURL, "postgresql://") {
		return c, fmt.Errorf("database url: want postgres://… or empty for the embedded store")
	}
	if c.logFormat != "json" && c.logFormat != "console" {
		return c, fmt.Errorf("log format %q: want json or console", c.logFormat)
	}
	return c, nil
}
