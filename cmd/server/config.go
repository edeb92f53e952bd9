package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/corr2d/corr2d/internal/handlers"
)

// config is every setting of the server. Each is a flag and, under the
// name CORR2D_<FLAG> with dashes as underscores, an environment variable;
// a flag given on the command line wins over the environment.
type config struct {
	addr            string
	addrFile        string
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
	jobRetention    time.Duration
	maxLossSeries   int
	logSample       int
	requestTimeout  time.Duration
	shutdownTimeout time.Duration
	limits          handlers.Limits
	memoryBudget    byteSize
	admissionWait   time.Duration
	maxConnections  int
	maxStreams      int
	maxDecodes      int
	maxHeaderBytes  byteSize
	bodyIdleTimeout time.Duration
	minBodyRate     byteSize
	writeTimeout    time.Duration
	drainDelay      time.Duration
	authTokensFile  string
	metricsAuth     bool
	rateLimit       float64
	rateBurst       int
	principalJobs   int
	corsOrigins     string
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	c := config{limits: handlers.DefaultLimits()}
	fs := flag.NewFlagSet("corr2d", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = usage(fs)
	fs.StringVar(&c.addr, "addr", ":8080", "address to listen on")
	fs.StringVar(&c.addrFile, "addr-file", "", "once listening, write the bound address (host:port) to this file, removed at shutdown; with --addr 127.0.0.1:0 it tells the port the system chose")
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
	fs.DurationVar(&c.jobRetention, "job-retention", 0, "delete ended jobs older than this (0: keep every job)")
	fs.DurationVar(&c.lossGrace, "loss-grace", 5*time.Minute, "how long a finished job's loss series stays in /metrics")
	fs.IntVar(&c.maxLossSeries, "max-loss-series", 1000, "most corr2d_job_loss series in /metrics at once")
	fs.IntVar(&c.logSample, "log-sample", 100, "per second, the request log lines written in full before only every n-th is (0: all); errors are always logged")
	fs.DurationVar(&c.requestTimeout, "request-timeout", time.Minute, "longest one /corr2d computation may take")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long shutdown waits for requests and jobs")
	fs.Int64Var(&c.limits.MaxBodyBytes, "max-body-bytes", c.limits.MaxBodyBytes, "largest request body")
	fs.IntVar(&c.limits.MaxElements, "max-elements", c.limits.MaxElements, "most numbers in an input or target matrix")
	fs.IntVar(&c.limits.MaxKernelElements, "max-kernel-elements", c.limits.MaxKernelElements, "most numbers in a kernel")
	fs.Int64Var(&c.limits.MaxWork, "max-work", c.limits.MaxWork, "most multiply-adds in one correlation")
	fs.IntVar(&c.limits.MaxSteps, "max-steps", c.limits.MaxSteps, "most steps of one training job")
	c.maxHeaderBytes = 64 << 10
	c.minBodyRate = 1 << 10
	fs.Var(&c.memoryBudget, "memory-budget", "bytes that requests and running jobs may reserve at once, e.g. 4GiB; also the Go runtime's soft memory limit (0: 3/4 of the cgroup's limit, else half the machine's memory)")
	fs.DurationVar(&c.admissionWait, "admission-wait", time.Second, "how long a request waits for room in the memory budget before it answers 503")
	fs.IntVar(&c.maxDecodes, "max-decodes", 0, "requests that decode their bodies at once; others wait up to admission-wait, then get 503 (0: one per core but one, at least 1)")
	fs.IntVar(&c.maxStreams, "max-streams", 256, "event streams and long-polls open at once; those beyond get 503")
	fs.IntVar(&c.maxConnections, "max-connections", 4096, "open client connections; those beyond get 503 and are closed (0: no cap)")
	fs.Var(&c.maxHeaderBytes, "max-header-bytes", "largest request header, e.g. 64KiB")
	fs.DurationVar(&c.bodyIdleTimeout, "body-idle-timeout", 10*time.Second, "a request body that makes no progress for this long gets 408; also the grace before min-body-rate applies")
	fs.Var(&c.minBodyRate, "min-body-rate", "slowest average rate of a request body, in bytes per second, e.g. 1KiB (0: any)")
	fs.DurationVar(&c.writeTimeout, "write-timeout", 30*time.Second, "an answer whose client reads nothing of it for this long is cut off")
	fs.DurationVar(&c.drainDelay, "drain-delay", 5*time.Second, "at shutdown, how long /readyz answers 503 before the server stops accepting")
	fs.StringVar(&c.authTokensFile, "auth-tokens-file", "", "file of '<principal> <role> <sha256 hex of token>' lines; reloaded on SIGHUP (empty: the server is open)")
	fs.BoolVar(&c.metricsAuth, "metrics-auth", false, "with --auth-tokens-file, /metrics needs a token too")
	fs.Float64Var(&c.rateLimit, "rate-limit", 0, "requests per second each principal may make; beyond, 429 (0: no limit)")
	fs.IntVar(&c.rateBurst, "rate-burst", 20, "requests a principal may make at once within --rate-limit")
	fs.IntVar(&c.principalJobs, "max-jobs-per-principal", 0, "queued plus running jobs each principal may have; beyond, 429 (0: only --max-active-jobs)")
	fs.StringVar(&c.corsOrigins, "cors-origins", "", "comma-separated origins (https://host:port) of other sites whose pages may call the API; * for any")
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
		env := envName(f.Name)
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

// byteSize is a flag of a number of bytes, with an optional binary unit:
// 4GiB, 512MiB, 64KiB or plain 1048576.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return errors.New("want a number of bytes, e.g. 1048576, 64KiB, 512MiB or 4GiB")
	}
	*b = byteSize(n * mult)
	return nil
}
