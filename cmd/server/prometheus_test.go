package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// The live check scrapes every second; Grafana's $__rate_interval would be
// four scrapes, and ten seconds leaves room for a late scrape on a loaded
// machine.
const (
	liveScrapeInterval = "1s"
	liveRateInterval   = "10s"
)

// mayBeEmpty lists the dashboard queries (panel title, refId) whose answer
// may be empty while jobs train and requests succeed, and why. Every other
// query must return data.
var mayBeEmpty = map[[2]string]string{
	{"Error rate by route", "A"}: "5xx only: a route has a 5xx series only once a request there failed with a server fault, and none does here",
}

// mustBePositive lists the dashboard queries that must read above zero
// while jobs train, on some series whose labels include where: they are
// what shows the training.
var mustBePositive = map[[2]string]struct {
	where map[string]string
	why   string
}{
	{"Worker saturation", "A"}:             {nil, "the engine serves requests and trains"},
	{"Task duration p95 by priority", "A"}: {map[string]string{"priority": "background"}, "training steps run inline and must count as background bands"},
	{"Training steps per second", "A"}:     {nil, "jobs are training"},
}

// alertOperandsMayBeEmpty lists the alerts one of whose compared operands
// may be empty here, and why. For every other alert, each side of each
// comparison that is not a number must return data, or the alert could
// never fire.
var alertOperandsMayBeEmpty = map[string]string{
	"Corr2dHighErrorRatio": "the numerator sums the rate of 5xx series, and with no server fault there is none: a sum over nothing is empty",
}

// TestDashboardAndAlertsOnLivePrometheus runs a real Prometheus against two
// replicas on one PostgreSQL while jobs train and requests flow, and
// evaluates through its HTTP API every query of the shipped dashboard (with
// its variables as Grafana would fill them) and every alert rule.
func TestDashboardAndAlertsOnLivePrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Prometheus and two server processes")
	}
	promBin := debianTool(t, "prometheus", "PROMETHEUS")
	rs := startReplicas(t, buildBinary(t), 2, "--job-concurrency", "2", "--checkpoint-every", "50ms")
	prom := startPrometheus(t, promBin, rs)

	// Short jobs first, so that some finish before the long ones take every
	// slot; the long ones train until the end of the test.
	front := rs.procs[0].server()
	var short, long []string
	for i := range 4 {
		var j job
		front.call(t, http.MethodPost, "/train", replicaJobBody(i, 300), &j)
		short = append(short, j.ID)
	}
	for i := range 3 {
		var j job
		rs.procs[i%2].server().call(t, http.MethodPost, "/train", replicaJobBody(i, 1_000_000), &j)
		long = append(long, j.ID)
	}
	t.Cleanup(func() {
		for _, id := range long {
			front.call(t, http.MethodPost, "/jobs/"+id+"/cancel", nil, nil)
		}
	})
	stop := traffic(rs)
	defer stop()
	for _, id := range short {
		if j := front.waitJob(t, id, finished); j.Status != "succeeded" {
			t.Fatalf("short job ended %s: %s", j.Status, j.Error)
		}
	}

	instances := make([]string, len(rs.procs))
	for i, p := range rs.procs {
		instances[i] = strings.TrimPrefix(p.base, "http://")
	}
	// Enough scrapes of both replicas for every rate, and the long jobs
	// running and seen.
	prom.waitFor(t, fmt.Sprintf(`count(count_over_time(up{job="corr2d"}[%s]) >= 10) == %d`, liveRateInterval, len(instances)))
	prom.waitFor(t, `corr2d_job_running`)
	prom.pin(t, fmt.Sprintf(`count(up{job="corr2d"} == 1) == %d`, len(instances)), `corr2d_job_running`)

	checkDashboard(t, prom, instances)
	checkAlerts(t, prom)
}

// debianTool finds the program name (from the Debian package of that
// name), or the one $env names, skipping the test without it, except under
// CI=true, where .ci/run installs it.
func debianTool(t *testing.T, name, env string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("no %s on PATH (Debian's %s package) and %s unset", name, name, env)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// promServer is a Prometheus process and its HTTP API.
type promServer struct {
	base   string
	client *http.Client
	// at is the instant queries evaluate at; zero means now.
	at time.Time
}

// startPrometheus runs Prometheus scraping rs every second as job "corr2d"
// and evaluating the shipped alert rules, and waits until it is ready.
func startPrometheus(t *testing.T, bin string, rs *replicas) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules, err := filepath.Abs(filepath.Join("..", "..", "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, p := range rs.procs {
		targets = append(targets, strings.TrimPrefix(p.base, "http://"))
	}
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval": liveScrapeInterval, "scrape_timeout": liveScrapeInterval,
			"evaluation_interval": liveScrapeInterval,
		},
		"rule_files":     []string{rules},
		"scrape_configs": []any{map[string]any{"job_name": "corr2d", "static_configs": []any{map[string]any{"targets": targets}}}},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Prometheus listens on a port the system picks and names it in its
	// "Listening on" line, at level info.
	cmd := exec.Command(bin, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:0", "--log.level=info")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &promServer{client: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		p.client.CloseIdleConnections()
		if t.Failed() {
			b := logs.String()
			t.Logf("prometheus log (last 4 KiB):\n%s", b[max(0, len(b)-4096):])
		}
	})
	c := startChild(t, cmd)
	if err := poll(c.exited, func() bool {
		m := promListening.FindStringSubmatch(logs.String())
		if m != nil {
			p.base = "http://" + m[1]
		}
		return m != nil
	}); err != nil {
		t.Fatalf("prometheus never said where it listens: %v", c.why(err))
	}
	if err := poll(c.exited, answersOK(p.client, p.base+"/-/ready")); err != nil {
		t.Fatalf("%s/-/ready never answered 200 OK: %v", p.base, c.why(err))
	}
	return p
}

// promListening matches the line where Prometheus names the address its
// web listener bound.
var promListening = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// sample is one series of an instant vector answer.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix time, "value"]
}

// query evaluates expr now; an error is Prometheus's own (a bad query).
func (p *promServer) query(expr string) ([]sample, error) {
	var out struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	path := "/api/v1/query?query=" + url.QueryEscape(expr)
	if !p.at.IsZero() {
		path += "&time=" + strconv.FormatFloat(float64(p.at.UnixMilli())/1000, 'f', 3, 64)
	}
	if err := p.get(path, &out); err != nil {
		return nil, err
	}
	if out.Status != "success" {
		return nil, fmt.Errorf("prometheus: %s", out.Error)
	}
	if out.Data.ResultType == "scalar" {
		return []sample{{}}, nil
	}
	var s []sample
	if err := json.Unmarshal(out.Data.Result, &s); err != nil {
		return nil, fmt.Errorf("%s answer: %w", out.Data.ResultType, err)
	}
	return s, nil
}

// get decodes the JSON answer to a GET of path; Prometheus answers API
// errors with a JSON body too, so any status is decoded.
func (p *promServer) get(path string, out any) error {
	resp, err := p.client.Get(p.base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// waitFor waits until expr returns data.
func (p *promServer) waitFor(t *testing.T, expr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s, err := p.query(expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if len(s) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still no data after a minute", expr)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// pin fixes the instant every later query evaluates at: a recent one, with
// its scrapes in, at which every expr has data. A scrape that fails or is
// late on a loaded machine then cannot turn a later answer empty.
func (p *promServer) pin(t *testing.T, exprs ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p.at = time.Now().Add(-1500 * time.Millisecond)
		ready := true
		for _, expr := range exprs {
			s, err := p.query(expr)
			if err != nil {
				t.Fatalf("%s: %v", expr, err)
			}
			ready = ready && len(s) > 0
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no instant in the last minute where all of %q have data", exprs)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// traffic sends a steady trickle of requests to every replica: successful
// correlations, job listings and a 404, so that every HTTP and interactive
// engine series has data. The returned function stops it.
func traffic(rs *replicas) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	body := []byte(`{"input": [[0,1,2],[3,4,5],[6,7,8]], "kernel": [[0,1],[2,3]]}`)
	wg.Go(func() {
		for {
			for _, p := range rs.procs {
				for _, req := range []struct{ method, path string }{
					{http.MethodPost, "/corr2d"}, {http.MethodGet, "/jobs"}, {http.MethodGet, "/jobs/unknown"},
				} {
					r, _ := http.NewRequest(req.method, p.base+req.path, bytes.NewReader(body))
					r.Header.Set("Content-Type", "application/json")
					if resp, err := client.Do(r); err == nil {
						_ = resp.Body.Close()
					}
				}
			}
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		client.CloseIdleConnections()
	}
}

// dashboardQuery is one query of a dashboard panel.
type dashboardQuery struct {
	panel, refID, expr string
}

// dashboardContents reads the shipped dashboards' queries and the
// label_values queries of their variables, by variable name.
func dashboardContents(t *testing.T) (queries []dashboardQuery, variables map[string]string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
		Panels json.RawMessage `json:"panels"` // a collapsed row's, nested once
	}
	variables = map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels     []panel `json:"panels"`
			Templating struct {
				List []struct {
					Name       string `json:"name"`
					Type       string `json:"type"`
					Definition string `json:"definition"`
				} `json:"list"`
			} `json:"templating"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all := d.Panels
		for _, p := range d.Panels {
			var nested []panel
			if len(p.Panels) > 0 && json.Unmarshal(p.Panels, &nested) == nil {
				all = append(all, nested...)
			}
		}
		for _, p := range all {
			for _, tg := range p.Targets {
				queries = append(queries, dashboardQuery{p.Title, tg.RefID, tg.Expr})
			}
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" {
				variables[v.Name] = v.Definition
			}
		}
	}
	return queries, variables
}

// labelValues is Grafana's label_values(selector, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// checkDashboard evaluates the dashboard's variables and then its queries,
// with every instance and with each one alone, as Grafana would send them.
func checkDashboard(t *testing.T, prom *promServer, instances []string) {
	queries, variables := dashboardContents(t)
	vars := map[string]string{"job": "corr2d"}
	checkVariableQueries(t, prom, variables, vars, instances)

	expand := func(expr, instance string) string {
		return strings.NewReplacer("$__rate_interval", liveRateInterval, "$__interval", "5s", "$__range", "1m",
			"$job", vars["job"], "$instance", instance).Replace(expr)
	}
	// Grafana escapes a single chosen value for a regex inside a PromQL
	// string, doubling the backslashes.
	escape := strings.NewReplacer(".", `\\.`)
	for _, q := range queries {
		key := [2]string{q.panel, q.refID}
		name := fmt.Sprintf("%q %s", q.panel, q.refID)
		all := expand(q.expr, ".*")
		s, err := prom.query(all)
		switch {
		case err != nil:
			t.Errorf("%s: %s: %v", name, all, err)
			continue
		case len(s) == 0 && mayBeEmpty[key] == "":
			t.Errorf("%s: %s: no data while jobs train", name, all)
		}
		if want, ok := mustBePositive[key]; ok && len(s) > 0 && !anyPositive(s, want.where) {
			t.Errorf("%s: %s = %v, want a value above 0 where %v (%s)", name, all, s, want.where, want.why)
		}
		for _, inst := range instances {
			one := expand(q.expr, escape.Replace(inst))
			if _, err := prom.query(one); err != nil {
				t.Errorf("%s for instance %s: %s: %v", name, inst, one, err)
			}
		}
	}
	for key := range mayBeEmpty {
		if !slices.ContainsFunc(queries, func(q dashboardQuery) bool { return q.panel == key[0] && q.refID == key[1] }) {
			t.Errorf("mayBeEmpty names %q %s, which the dashboard no longer has", key[0], key[1])
		}
	}
	t.Logf("evaluated %d dashboard queries, each for all instances and for each of %d", len(queries), len(instances))
}

// checkVariableQueries evaluates the label_values queries of the job and
// instance variables, with vars substituted: they must offer the job and
// every replica.
func checkVariableQueries(t *testing.T, prom *promServer, variables, vars map[string]string, instances []string) {
	t.Helper()
	for _, name := range []string{"job", "instance"} {
		m := labelValues.FindStringSubmatch(variables[name])
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(selector, label)", name, variables[name])
			continue
		}
		selector := strings.ReplaceAll(m[1], "$job", vars["job"])
		var out struct {
			Status string   `json:"status"`
			Error  string   `json:"error"`
			Data   []string `json:"data"`
		}
		if err := prom.get("/api/v1/label/"+m[2]+"/values?match[]="+url.QueryEscape(selector), &out); err != nil || out.Status != "success" {
			t.Errorf("variable %s: %v %s", name, err, out.Error)
			continue
		}
		want := []string{vars["job"]}
		if name == "instance" {
			want = slices.Sorted(slices.Values(instances))
		}
		if !slices.Equal(out.Data, want) {
			t.Errorf("variable %s offers %q, want %q", name, out.Data, want)
		}
	}

}

// anyPositive reports whether a series of s whose labels include where
// has a value above zero.
func anyPositive(s []sample, where map[string]string) bool {
	for _, x := range s {
		match := true
		for k, v := range where {
			match = match && x.Metric[k] == v
		}
		v, _ := x.Value[1].(string)
		if f, err := strconv.ParseFloat(v, 64); match && err == nil && f > 0 {
			return true
		}
	}
	return false
}

// checkAlerts checks that Prometheus loaded and evaluated every shipped
// rule without error, and evaluates each alert's expression and the
// operands of its comparisons.
func checkAlerts(t *testing.T, prom *promServer) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	shipped := map[string]string{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			shipped[r.Alert] = r.Expr
		}
	}

	rulesEvaluated(t, prom, shipped)

	for name, expr := range shipped {
		if _, err := prom.query(expr); err != nil {
			t.Errorf("alert %s: %v", name, err)
			continue
		}
		for _, operand := range comparedOperands(t, expr) {
			s, err := prom.query(operand)
			switch {
			case err != nil:
				t.Errorf("alert %s: %s: %v", name, operand, err)
			case len(s) == 0 && alertOperandsMayBeEmpty[name] == "":
				t.Errorf("alert %s: %s: no data while jobs train, so the alert could never fire", name, operand)
			}
		}
	}
	for name := range alertOperandsMayBeEmpty {
		if _, ok := shipped[name]; !ok {
			t.Errorf("alertOperandsMayBeEmpty names %s, which alerts.yml no longer has", name)
		}
	}
	t.Logf("evaluated %d alert rules", len(shipped))
}

// rulesEvaluated waits until Prometheus has evaluated every rule once at
// least, and checks that it loaded every shipped alert and that none failed.
func rulesEvaluated(t *testing.T, prom *promServer, shipped map[string]string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var out struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name           string `json:"name"`
						Health         string `json:"health"`
						LastError      string `json:"lastError"`
						LastEvaluation string `json:"lastEvaluation"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := prom.get("/api/v1/rules", &out); err != nil {
			t.Fatal(err)
		}
		pending, loaded := 0, map[string]bool{}
		for _, g := range out.Data.Groups {
			for _, r := range g.Rules {
				loaded[r.Name] = true
				switch {
				case r.Health == "unknown" || strings.HasPrefix(r.LastEvaluation, "0001-"):
					pending++
				case r.Health != "ok":
					t.Errorf("rule %s: health %s: %s", r.Name, r.Health, r.LastError)
				}
			}
		}
		for name := range shipped {
			if !loaded[name] {
				t.Errorf("rule %s of alerts.yml is not loaded", name)
			}
		}
		if pending == 0 || t.Failed() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rules still not evaluated after 30s", pending)
		}
		time.Sleep(250 * time.Millisecond)
	}

}

// comparedOperands returns the sides of every comparison in expr that are
// not plain numbers: the quantities an alert watches.
func comparedOperands(t *testing.T, expr string) []string {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("%q: %v", expr, err)
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		b, ok := n.(*parser.BinaryExpr)
		if !ok || !b.Op.IsComparisonOperator() {
			return nil
		}
		for _, side := range []parser.Expr{b.LHS, b.RHS} {
			inner := side
			for p, ok := inner.(*parser.ParenExpr); ok; p, ok = inner.(*parser.ParenExpr) {
				inner = p.Expr
			}
			if _, number := inner.(*parser.NumberLiteral); !number {
				out = append(out, side.String())
			}
		}
		return nil
	})
	return out
}
