package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// deployDir is the real deploy folder; each case checks a copy of it with one
// file changed.
var deployDir = filepath.Join("..", "..", "deploy")

func TestRepositoryDeployFolderPasses(t *testing.T) {
	r := check(context.Background(), deployDir)
	for _, p := range r.problems {
		t.Error(p)
	}
}

func TestCheckFindsBrokenFiles(t *testing.T) {
	tests := []struct {
		name     string
		file     string // relative to the deploy folder
		old, new string // first occurrence of old is replaced by new
		want     string // a problem containing this must be reported
	}{
		{
			name: "a fixed range instead of the rate interval is reported",
			file: "grafana/dashboards/corr2d.json",
			old:  "[$__rate_interval]", new: "[1m]",
			want: "range [1m] should be [$__rate_interval]",
		},
		{
			name: "an expression that does not parse is reported",
			file: "grafana/dashboards/corr2d.json",
			old:  "sum by (route) (", new: "sum by (route (",
			want: "does not parse",
		},
		{
			name: "a panel pinned to a data source instead of the variable is reported",
			file: "grafana/dashboards/corr2d.json",
			old:  "\"id\": 2,\n      \"datasource\": {\n        \"type\": \"prometheus\",\n        \"uid\": \"${datasource}\"",
			new:  "\"id\": 2,\n      \"datasource\": {\n        \"type\": \"prometheus\",\n        \"uid\": \"corr2d-prometheus\"",
			want: `datasource uid "corr2d-prometheus", want the variable ${datasource}`,
		},
		{
			name: "a selector that ignores the instance variable is reported",
			file: "grafana/dashboards/corr2d.json",
			old:  `corr2d_http_requests_total{job=~\"$job\", instance=~\"$instance\"}`, new: `corr2d_http_requests_total{job=~\"$job\"}`,
			want: `lacks instance=~"$instance"`,
		},
		{
			name: "a dashboard without the job variable is reported",
			file: "grafana/dashboards/corr2d.json",
			old:  `"name": "job"`, new: `"name": "service"`,
			want: `no template variable "job"`,
		},
		{
			name: "a data source variable of a type nothing provides is reported",
			file: "grafana/dashboards/corr2d.json",
			old:  `"query": "prometheus"`, new: `"query": "loki"`,
			want: `picks type "loki", which no provisioned data source has`,
		},
		{
			name: "a scrape interval that differs from the data source is reported",
			file: "prometheus/prometheus.yml",
			old:  "scrape_interval: 5s", new: "scrape_interval: 15s",
			want: "differs from data source",
		},
		{
			name: "a scrape target that is not a service is reported",
			file: "prometheus/prometheus.yml",
			old:  `"corr2d-b:8080"`, new: `"api:8080"`,
			want: `target host "api" is not a Compose service`,
		},
		{
			name: "a replica Prometheus does not scrape is reported",
			file: "prometheus/prometheus.yml",
			old:  `, "corr2d-b:8080"`, new: ``,
			want: "replica corr2d-b is not scraped",
		},
		{
			name: "a dependency started before it is healthy is reported",
			file: "compose.yaml",
			old:  "condition: service_healthy", new: "condition: service_started",
			want: `with condition "service_started", want service_healthy`,
		},
		{
			name: "a service without a health check is reported",
			file: "compose.yaml",
			old:  `test: ["CMD", "pg_isready"`, new: `test: ["NONE", "pg_isready"`,
			want: "service postgres has no healthcheck",
		},
		{
			name: "a replica on a database that is not a service is reported",
			file: "compose.yaml",
			old:  "@postgres:5432/", new: "@db.example:5432/",
			want: "is not a postgres:// URL on a Compose service",
		},
		{
			name: "a load-balanced server that is not a replica is reported",
			file: "haproxy/haproxy.cfg",
			old:  "server corr2d-b corr2d-b:8080", new: "server corr2d-b corr2d-c:8080",
			want: `"corr2d-c" is not a replica that compose.yaml builds`,
		},
		{
			name: "a replica the load balancer leaves out is reported",
			file: "haproxy/haproxy.cfg",
			old:  "    server corr2d-b corr2d-b:8080\n", new: "",
			want: "replica corr2d-b is not a server of the load balancer",
		},
		{
			name: "a load balancer that does not check /readyz is reported",
			file: "haproxy/haproxy.cfg",
			old:  "option httpchk GET /readyz", new: "option httpchk GET /healthz",
			want: "no `option httpchk GET /readyz`",
		},
		{
			name: "a compose key outside the schema is reported",
			file: "compose.yaml",
			old:  "  stop_grace_period:", new: "  stop_grace_periods:",
			want: "does not load",
		},
		{
			name: "a missing Dockerfile is reported",
			file: "compose.yaml",
			old:  "dockerfile: deploy/Dockerfile", new: "dockerfile: deploy/Containerfile",
			want: "Containerfile does not exist",
		},
		{
			name: "a dashboards mount the provider does not read is reported",
			file: "compose.yaml",
			old:  ":/var/lib/grafana/dashboards/corr2d:ro", new: ":/dashboards:ro",
			want: "nothing is mounted at /var/lib/grafana/dashboards/corr2d",
		},
		{
			name: "broken provisioning YAML is reported",
			file: "grafana/provisioning/datasources/prometheus.yaml",
			old:  "datasources:", new: "datasources: [",
			want: "not valid YAML",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyDeploy(t)
			path := filepath.Join(dir, tt.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tt.old) {
				t.Fatalf("%s does not contain %q", tt.file, tt.old)
			}
			changed := strings.Replace(string(data), tt.old, tt.new, 1)
			if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
				t.Fatal(err)
			}
			r := check(context.Background(), dir)
			for _, p := range r.problems {
				if strings.Contains(p, tt.want) {
					return
				}
			}
			t.Errorf("check(%s) problems = %q, want one containing %q", tt.file, r.problems, tt.want)
		})
	}
}

// copyDeploy copies the deploy folder into a temporary repository layout, so
// that compose.yaml's build context (..) still has the Dockerfile in it.
func copyDeploy(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	dst := filepath.Join(root, "deploy")
	if err := os.CopyFS(dst, os.DirFS(deployDir)); err != nil {
		t.Fatal(err)
	}
	return dst
}
