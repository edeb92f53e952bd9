package main

import (
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
)

// checkPrometheus checks prometheus/prometheus.yml beyond what promtool
// checks: every static target must be a Compose service (or Prometheus
// itself), every service built from this repository (each replica) must be
// scraped on its own, and the scrape interval must equal each Grafana data
// source's timeInterval, or $__rate_interval will not match the data.
func checkPrometheus(r *report, dir string, g *grafanaFacts, c *composeFacts) {
	file := filepath.Join(dir, "prometheus", "prometheus.yml")
	var cfg struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if !decodeYAML(r, file, &cfg) {
		return
	}
	if cfg.Global.ScrapeInterval == "" {
		r.errorf(file, "global.scrape_interval is not set")
	}
	scraped := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, t := range st.Targets {
				host, _, err := net.SplitHostPort(t)
				if err != nil {
					r.errorf(file, "job %s: target %q is not host:port", sc.JobName, t)
					continue
				}
				if host != "localhost" && !c.services[host] {
					r.errorf(file, "job %s: target host %q is not a Compose service", sc.JobName, host)
				}
				scraped[host] = true
			}
		}
	}
	if len(c.built) == 0 {
		r.errorf(file, "compose.yaml builds no service to scrape")
	}
	for name := range c.built {
		if !scraped[name] {
			r.errorf(file, "replica %s is not scraped", name)
		}
	}

	for uid, ds := range g.datasources {
		if ti, _ := ds.JSONData["timeInterval"].(string); ti != cfg.Global.ScrapeInterval {
			r.errorf(file, "scrape_interval %q differs from data source %s timeInterval %q", cfg.Global.ScrapeInterval, uid, ti)
		}
		u, err := url.Parse(ds.URL)
		if err != nil || !c.services[u.Hostname()] {
			r.errorf(file, "data source %s url %q does not point at a Compose service", uid, ds.URL)
		}
	}
}

// checkCrossRefs checks that compose.yaml mounts what the other files expect:
// the Prometheus configuration, Grafana's provisioning folder, and the
// dashboards folder at the path the dashboard provider reads.
func checkCrossRefs(r *report, g *grafanaFacts, c *composeFacts) {
	mountedAt := func(target string) (string, bool) {
		for _, binds := range c.binds {
			for _, b := range binds {
				if b.Target == target {
					return b.Source, true
				}
			}
		}
		return "", false
	}
	want := map[string]string{
		"/etc/prometheus/prometheus.yml":     filepath.Join("prometheus", "prometheus.yml"),
		"/etc/grafana/provisioning":          filepath.Join("grafana", "provisioning"),
		"/usr/local/etc/haproxy/haproxy.cfg": filepath.Join("haproxy", "haproxy.cfg"),
	}
	for _, p := range g.providerPaths {
		want[p] = filepath.Join("grafana", "dashboards")
	}
	targets := make([]string, 0, len(want))
	for t := range want {
		targets = append(targets, t)
	}
	slices.Sort(targets)
	for _, t := range targets {
		src, ok := mountedAt(t)
		switch {
		case !ok:
			r.errorf("compose.yaml", "nothing is mounted at %s", t)
		case !hasSuffixPath(src, want[t]):
			r.errorf("compose.yaml", "%s is mounted from %s, want deploy/%s", t, src, want[t])
		}
	}
}

// hasSuffixPath reports whether path ends with the path elements of suffix.
func hasSuffixPath(path, suffix string) bool {
	return path == suffix || strings.HasSuffix(path, string(filepath.Separator)+suffix)
}
