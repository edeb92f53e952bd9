package jobs

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the runner's instruments.
type metrics struct {
	finished     *prometheus.CounterVec
	stepDuration prometheus.Histogram
	steps        prometheus.Counter
	failovers    prometheus.Counter
	losses       *lossCollector
}

func newMetrics(reg prometheus.Registerer, store Store, grace time.Duration, maxLoss int) (*metrics, error) {
	m := &metrics{
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "corr2d_jobs_finished_total",
			Help: "Training jobs that reached a terminal status, by outcome.",
		}, []string{"outcome"}),
		stepDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "corr2d_job_step_duration_seconds",
			Help:    "Time to compute one training step (forward pass, loss, gradient, update).",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12),
		}),
		steps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corr2d_job_steps_total",
			Help: "Training steps computed by all jobs.",
		}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "corr2d_job_failovers_total",
			Help: "Runs queued to resume a job whose replica stopped renewing its lease.",
		}),
		losses: &lossCollector{
			desc: prometheus.NewDesc("corr2d_job_loss",
				"Training loss at the latest step of each active job; a job's series is removed a grace period after it ends.",
				[]string{"job_id"}, nil),
			running: prometheus.NewDesc("corr2d_job_running",
				"1 for each job running on this replica whose loss corr2d_job_loss exports: join the two on job_id to show the loss of running jobs only.",
				[]string{"job_id"}, nil),
			grace:  grace,
			max:    maxLoss,
			series: map[string]lossSeries{},
			now:    time.Now,
		},
	}
	for _, st := range []Status{StatusSucceeded, StatusFailed, StatusCanceled} {
		m.finished.WithLabelValues(string(st))
	}
	statusCollector := &statusCollector{
		desc:   prometheus.NewDesc("corr2d_jobs", "Jobs in the store, by status.", []string{"status"}, nil),
		store:  store,
		maxAge: countMaxAge,
		now:    time.Now,
	}
	for _, c := range []prometheus.Collector{m.finished, m.stepDuration, m.steps, m.failovers, m.losses, statusCollector} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("jobs: register metrics: %w", err)
		}
	}
	return m, nil
}

// lossCollector exports the latest loss of each active job, and beside it
// corr2d_job_running while the job runs here, so that a dashboard can leave
// out the jobs that ended within the grace period. Series of ended jobs
// expire at scrape time, so the label set stays bounded by the active
// jobs plus those that ended within the grace period, with no timer
// goroutines to own. At most max series are kept: a new job beyond that
// takes the place of the job that ended first, or, while max jobs are
// active, goes unexported, so thousands of tiny jobs cannot flood /metrics.
type lossCollector struct {
	desc    *prometheus.Desc
	running *prometheus.Desc
	grace   time.Duration
	max     int
	now     func() time.Time

	mu     sync.Mutex
	series map[string]lossSeries
}

type lossSeries struct {
	loss    float64
	hasLoss bool
	expires time.Time // zero while the job is active
}

// set records a job's latest loss. A step that completes after the job
// ended (a cancel racing the step) keeps the series' expiry.
func (c *lossCollector) set(id string, loss float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.series[id]
	if !ok && len(c.series) >= c.max && !c.evictLocked() {
		return
	}
	s.loss, s.hasLoss = loss, true
	c.series[id] = s
}

// evictLocked removes the series of the job that ended first, if any job
// has ended, and reports whether it did.
func (c *lossCollector) evictLocked() bool {
	var (
		oldest string
		at     time.Time
	)
	for id, s := range c.series {
		if !s.expires.IsZero() && (oldest == "" || s.expires.Before(at)) {
			oldest, at = id, s.expires
		}
	}
	if oldest == "" {
		return false
	}
	delete(c.series, oldest)
	return true
}

// start marks a job's series running again, for a run of a job whose
// earlier run here ended without finishing it.
func (c *lossCollector) start(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.series[id]; ok {
		s.expires = time.Time{}
		c.series[id] = s
	}
}

// end starts the grace period of a job's series: it finished, or its run
// here stopped.
func (c *lossCollector) end(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.series[id]
	if !ok {
		return // never exported, or already evicted
	}
	s.expires = c.now().Add(c.grace)
	c.series[id] = s
}

// Describe implements prometheus.Collector.
func (c *lossCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc; ch <- c.running }

// Collect implements prometheus.Collector.
func (c *lossCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for id, s := range c.series {
		if !s.expires.IsZero() && now.After(s.expires) {
			delete(c.series, id)
			continue
		}
		if !s.hasLoss {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, s.loss, id)
		if s.expires.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.running, prometheus.GaugeValue, 1, id)
		}
	}
}

// statusCollector counts jobs by status in the store at scrape time, so the
// numbers are right across restarts and replicas. A count younger than
// maxAge is reused: counting reads every job's row, and a scrape every
// few milliseconds (several Prometheus servers, a dashboard's refresh)
// must not turn into a table scan each time while jobs train.
type statusCollector struct {
	desc   *prometheus.Desc
	store  Store
	maxAge time.Duration
	now    func() time.Time

	mu     sync.Mutex // held while counting, so concurrent scrapes count once
	counts map[Status]int
	at     time.Time
}

// countMaxAge is how long a count of the jobs by status is reused.
const countMaxAge = time.Second

// Describe implements prometheus.Collector.
func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	counts, err := c.count()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, st := range Statuses {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
}

// count returns the counts of the jobs by status, from the store unless
// the last count is younger than maxAge.
func (c *statusCollector) count() (map[Status]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts != nil && c.now().Sub(c.at) < c.maxAge {
		return c.counts, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.store.Count(ctx)
	if err != nil {
		return nil, err
	}
	c.counts, c.at = counts, c.now()
	return counts, nil
}
