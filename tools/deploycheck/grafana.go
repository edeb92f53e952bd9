package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// grafanaFacts is what the Grafana files declare, for the cross-file checks.
type grafanaFacts struct {
	datasources   map[string]datasource // by uid
	providerPaths []string              // container paths dashboard providers read
}

type datasource struct {
	Name     string         `yaml:"name"`
	UID      string         `yaml:"uid"`
	Type     string         `yaml:"type"`
	URL      string         `yaml:"url"`
	JSONData map[string]any `yaml:"jsonData"`
}

type dashboardProvider struct {
	Name    string `yaml:"name"`
	Type    string `yaml:"type"`
	Options struct {
		Path string `yaml:"path"`
	} `yaml:"options"`
}

// checkGrafana checks grafana/provisioning/{datasources,dashboards}/*.yaml and
// grafana/dashboards/*.json.
//
// Provisioning files must parse and declare apiVersion 1; each data source
// needs a name, uid, type and url; each dashboard provider is of type file
// with a path. Each dashboard needs a uid, a title and a schemaVersion, unique
// panel ids, and the variables of dashboardVars; every panel and query must
// take its data source from the data source variable. Every query expression
// must parse as PromQL once Grafana's interval macros are replaced, use
// $__rate_interval as its range, name its metrics, and select by the job and
// instance variables.
func checkGrafana(r *report, dir string) *grafanaFacts {
	g := &grafanaFacts{datasources: map[string]datasource{}}

	for _, file := range yamlFiles(r, filepath.Join(dir, "grafana", "provisioning", "datasources")) {
		var doc struct {
			APIVersion  int          `yaml:"apiVersion"`
			Datasources []datasource `yaml:"datasources"`
		}
		if !decodeYAML(r, file, &doc) {
			continue
		}
		if doc.APIVersion != 1 {
			r.errorf(file, "apiVersion is %d, want 1", doc.APIVersion)
		}
		for i, ds := range doc.Datasources {
			if ds.Name == "" || ds.UID == "" || ds.Type == "" || ds.URL == "" {
				r.errorf(file, "datasources[%d] needs name, uid, type and url", i)
				continue
			}
			if _, dup := g.datasources[ds.UID]; dup {
				r.errorf(file, "data source uid %q declared twice", ds.UID)
			}
			g.datasources[ds.UID] = ds
		}
	}
	if len(g.datasources) == 0 {
		r.errorf(filepath.Join(dir, "grafana", "provisioning", "datasources"), "no data source provisioned")
	}

	for _, file := range yamlFiles(r, filepath.Join(dir, "grafana", "provisioning", "dashboards")) {
		var doc struct {
			APIVersion int                 `yaml:"apiVersion"`
			Providers  []dashboardProvider `yaml:"providers"`
		}
		if !decodeYAML(r, file, &doc) {
			continue
		}
		if doc.APIVersion != 1 {
			r.errorf(file, "apiVersion is %d, want 1", doc.APIVersion)
		}
		if len(doc.Providers) == 0 {
			r.errorf(file, "no dashboard providers")
		}
		for i, p := range doc.Providers {
			if p.Type != "file" || p.Options.Path == "" {
				r.errorf(file, "providers[%d] must be of type file with options.path", i)
				continue
			}
			g.providerPaths = append(g.providerPaths, p.Options.Path)
		}
	}

	files, _ := filepath.Glob(filepath.Join(dir, "grafana", "dashboards", "*.json"))
	if len(files) == 0 {
		r.errorf(filepath.Join(dir, "grafana", "dashboards"), "no dashboards")
	}
	for _, file := range files {
		checkDashboard(r, file, g.datasources)
	}
	return g
}

type panel struct {
	ID         int              `json:"id"`
	Type       string           `json:"type"`
	Title      string           `json:"title"`
	Datasource *dsRef           `json:"datasource"`
	Targets    []target         `json:"targets"`
	Panels     []panel          `json:"panels"` // a collapsed row's children
	GridPos    *struct{ W int } `json:"gridPos"`
}

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type target struct {
	RefID      string `json:"refId"`
	Expr       string `json:"expr"`
	Datasource *dsRef `json:"datasource"`
}

// variable is a dashboard template variable.
type variable struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Query      any    `json:"query"` // a plugin type, a string or an object with "query"
	Datasource *dsRef `json:"datasource"`
}

// dashboardVars are the variables every dashboard declares, so that one
// dashboard serves any Prometheus (datasource), whatever job name scrapes
// corr2d there (job), and one replica or all (instance). Every selector
// filters by the last two.
var dashboardVars = []struct{ name, typ string }{
	{"datasource", "datasource"},
	{"job", "query"},
	{"instance", "query"},
}

// The data source reference every panel, query and variable uses.
const dsVar = "${datasource}"

// selectorVars are the matchers every vector selector must carry.
var selectorVars = map[string]string{"job": "$job", "instance": "$instance"}

// macros are Grafana's interval variables, replaced by a fixed duration so
// that the expression can be parsed the way Prometheus will receive it.
var macros = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "5m", "$__range", "5m")

// rangeSelector finds the range of a range-vector selector such as [5m].
var rangeSelector = regexp.MustCompile(`\[([^\]]*)\]`)

func checkDashboard(r *report, file string, sources map[string]datasource) {
	data, err := os.ReadFile(file)
	if err != nil {
		r.errorf(file, "%v", err)
		return
	}
	var d struct {
		UID           string  `json:"uid"`
		Title         string  `json:"title"`
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
		Templating    struct {
			List []variable `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		r.errorf(file, "not valid JSON: %v", err)
		return
	}
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		r.errorf(file, "dashboard needs uid, title and schemaVersion")
	}
	dsType := checkVariables(r, file, d.Templating.List, sources)

	pql := parser.NewParser(parser.Options{})
	ids := map[int]bool{}
	queries := 0
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := "panel " + quote(p.Title)
			if ids[p.ID] {
				r.errorf(file, "%s: id %d is used twice", where, p.ID)
			}
			ids[p.ID] = true
			if p.GridPos == nil {
				r.errorf(file, "%s: no gridPos", where)
			}
			if p.Type == "row" {
				if p.Datasource != nil {
					checkRef(r, file, where, p.Datasource, dsType)
				}
				walk(p.Panels)
				continue
			}
			if p.Datasource == nil {
				r.errorf(file, "%s: no datasource", where)
			} else {
				checkRef(r, file, where, p.Datasource, dsType)
			}
			if len(p.Targets) == 0 {
				r.errorf(file, "%s: no queries", where)
			}
			for _, t := range p.Targets {
				queries++
				where := where + " query " + t.RefID
				if t.Datasource != nil {
					checkRef(r, file, where, t.Datasource, dsType)
				}
				checkExpr(r, file, where, t.Expr, pql)
			}
		}
	}
	walk(d.Panels)
	r.notef("%s: %d panels, %d queries", file, len(ids), queries)
}

// checkVariables checks that the dashboard declares dashboardVars, that the
// data source variable picks a plugin type some provisioned data source has,
// and that the query variables take their data source from it. It returns
// that plugin type.
func checkVariables(r *report, file string, vars []variable, sources map[string]datasource) (dsType string) {
	byName := map[string]variable{}
	for _, v := range vars {
		byName[v.Name] = v
	}
	for _, want := range dashboardVars {
		v, ok := byName[want.name]
		switch {
		case !ok:
			r.errorf(file, "no template variable %q", want.name)
			continue
		case v.Type != want.typ:
			r.errorf(file, "variable %q is of type %q, want %q", want.name, v.Type, want.typ)
			continue
		}
		if v.Type == "datasource" {
			dsType, _ = v.Query.(string)
			continue
		}
		if v.Datasource == nil || v.Datasource.UID != dsVar {
			r.errorf(file, "variable %q must query the data source %s", want.name, dsVar)
		}
		if variableQuery(v) == "" {
			r.errorf(file, "variable %q has no query", want.name)
		}
	}
	provisioned := false
	for _, ds := range sources {
		provisioned = provisioned || (dsType != "" && ds.Type == dsType)
	}
	if byName["datasource"].Type == "datasource" && !provisioned {
		r.errorf(file, "the datasource variable picks type %q, which no provisioned data source has", dsType)
	}
	return dsType
}

// variableQuery is a query variable's query, in either of the forms Grafana
// saves.
func variableQuery(v variable) string {
	switch q := v.Query.(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["query"].(string)
		return s
	}
	return ""
}

func checkRef(r *report, file, where string, ref *dsRef, dsType string) {
	switch {
	case ref.UID != dsVar:
		r.errorf(file, "%s: datasource uid %q, want the variable %s", where, ref.UID, dsVar)
	case ref.Type != dsType:
		r.errorf(file, "%s: datasource type %q, but the variable picks %q", where, ref.Type, dsType)
	}
}

func checkExpr(r *report, file, where, expr string, pql parser.Parser) {
	if strings.TrimSpace(expr) == "" {
		r.errorf(file, "%s: empty expr", where)
		return
	}
	for _, m := range rangeSelector.FindAllStringSubmatch(expr, -1) {
		if m[1] != "$__rate_interval" {
			r.errorf(file, "%s: range [%s] should be [$__rate_interval]", where, m[1])
		}
	}
	e, err := pql.ParseExpr(macros.Replace(expr))
	if err != nil {
		r.errorf(file, "%s: %q does not parse: %v", where, expr, err)
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		// Whether the name is exported is checked against a live server by
		// the service's own tests (cmd/server).
		if vs.Name == "" {
			r.errorf(file, "%s: selector %s has no metric name", where, vs)
		}
		for label, value := range selectorVars {
			if !hasMatcher(vs, label, value) {
				r.errorf(file, "%s: selector %s lacks %s=~%q", where, vs, label, value)
			}
		}
		return nil
	})
}

// hasMatcher reports whether vs matches label against the regular
// expression value.
func hasMatcher(vs *parser.VectorSelector, label, value string) bool {
	for _, m := range vs.LabelMatchers {
		if m.Name == label && m.Type == labels.MatchRegexp && m.Value == value {
			return true
		}
	}
	return false
}

// yamlFiles lists the *.yaml and *.yml files in dir, reporting an empty dir.
func yamlFiles(r *report, dir string) []string {
	a, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	b, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	files := append(a, b...)
	if len(files) == 0 {
		r.errorf(dir, "no YAML files")
	}
	return files
}

// decodeYAML decodes a file into v, reporting a read or syntax error.
func decodeYAML(r *report, file string, v any) bool {
	data, err := os.ReadFile(file)
	if err != nil {
		r.errorf(file, "%v", err)
		return false
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		r.errorf(file, "not valid YAML: %v", err)
		return false
	}
	return true
}

func quote(s string) string { return "\"" + s + "\"" }
