package web_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v4"

	"github.com/corr2d/corr2d/api"
	"github.com/corr2d/corr2d/internal/web"
)

// Every problem type the contract names is explained on the reference page.
func TestEveryProblemTypeIsExplained(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Properties struct {
						Type struct {
							Enum []string `yaml:"enum"`
						} `yaml:"type"`
					} `yaml:"properties"`
				} `yaml:"Problem"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	p, err := web.New(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, typ := range doc.Components.Schemas.Problem.Properties.Type.Enum {
		want = append(want, strings.TrimPrefix(typ, "/problems/"))
	}
	for code, pt := range p.ProblemTypes() {
		got = append(got, code)
		if pt.Summary == "" || pt.Explanation == "" || len(pt.Status) == 0 {
			t.Errorf("x-problem-types entry %q lacks a summary, explanation or status", code)
		}
	}
	// An explanation may come before its type reaches the enum, never after.
	for _, code := range want {
		if !slices.Contains(got, code) {
			t.Errorf("problem type %q is not explained: add it to x-problem-types in api/openapi.yaml", code)
		}
	}
	page := p.Docs().Body
	for _, code := range want {
		if !bytes.Contains(page, []byte(`id="problem-`+code+`"`)) {
			t.Errorf("/docs has no section problem-%s", code)
		}
		if to, ok := p.ProblemAnchor(code); !ok || to != "/docs#problem-"+code {
			t.Errorf("ProblemAnchor(%q) = %q, %v", code, to, ok)
		}
	}
}

func TestAssetsAreEmbedded(t *testing.T) {
	p, err := web.New(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	for name, ct := range map[string]string{
		"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
		"swagger-ui.css":       "text/css; charset=utf-8",
		"docs.js":              "text/javascript; charset=utf-8",
	} {
		a, ok := p.DocsAsset(name)
		if !ok || len(a.Body) == 0 || a.ContentType != ct || a.ETag == "" {
			t.Errorf("DocsAsset(%q) = %d bytes, %q, %q, %v", name, len(a.Body), a.ContentType, a.ETag, ok)
		}
	}
	if _, ok := p.DocsAsset("docs.html"); ok {
		t.Error("the page template is served as an asset")
	}
	// No page or script of ours loads anything from another host.
	for _, name := range []string{"docs.js"} {
		a, _ := p.DocsAsset(name)
		if bytes.Contains(a.Body, []byte("https://")) {
			t.Errorf("%s refers to another host", name)
		}
	}
	if bytes.Contains(p.Docs().Body, []byte("://")) {
		t.Error("/docs refers to another host")
	}
}
