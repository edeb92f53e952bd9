// Package web holds the service's pages: the playground at /, the API
// reference at /docs and its explanation of every problem type. Their files are embedded, so the binary
// serves them with no network and no CDN; the vendored Swagger UI is
// refreshed from the npm registry by go generate.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"path"
	"strings"

	yaml "go.yaml.in/yaml/v4"
)

//go:generate bash fetch-assets.sh

//go:embed docs playground
var files embed.FS

// ProblemType explains one kind of problem, as the x-problem-types list of
// the OpenAPI document does.
type ProblemType struct {
	Code        string `yaml:"code"`
	Status      []int  `yaml:"status"`
	Summary     string `yaml:"summary"`
	Explanation string `yaml:"explanation"`
}

// Asset is a static file with what its answer needs.
type Asset struct {
	Body        []byte
	ContentType string
	ETag        string // a strong validator: the content's hash
}

// Pages are the rendered pages and their assets, built once at start.
type Pages struct {
	docs       Asset
	assets     map[string]Asset // under /docs/assets/
	playground Asset
	playAssets map[string]Asset // under /assets/
	problems   map[string]ProblemType
}

// New renders the pages from the OpenAPI document spec.
func New(spec []byte) (*Pages, error) {
	var doc struct {
		Problems []ProblemType `yaml:"x-problem-types"`
	}
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("web: read the problem types: %w", err)
	}
	p := &Pages{assets: map[string]Asset{}, playAssets: map[string]Asset{}, problems: map[string]ProblemType{}}
	for _, t := range doc.Problems {
		p.problems[t.Code] = t
	}
	tmpl, err := template.New("docs.html").Funcs(template.FuncMap{"code": inlineCode}).ParseFS(files, "docs/docs.html")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, doc.Problems); err != nil {
		return nil, fmt.Errorf("web: render docs: %w", err)
	}
	p.docs = newAsset("docs.html", b.Bytes())
	for _, dir := range []string{"docs", "docs/swagger-ui"} {
		if err := addAssets(p.assets, dir); err != nil {
			return nil, err
		}
	}
	if err := addAssets(p.playAssets, "playground"); err != nil {
		return nil, err
	}
	index, err := fs.ReadFile(files, "playground/index.html")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	p.playground = newAsset("index.html", index)
	return p, nil
}

// inlineCode renders the `code` spans of a plain-text explanation, the one
// piece of Markdown the explanations use; everything else is escaped.
func inlineCode(s string) template.HTML {
	var b strings.Builder
	for i, part := range strings.Split(s, "`") {
		if i%2 == 1 {
			b.WriteString("<code>" + template.HTMLEscapeString(part) + "</code>")
		} else {
			b.WriteString(template.HTMLEscapeString(part))
		}
	}
	return template.HTML(b.String()) //nolint:gosec // every piece of s is escaped above
}

func addAssets(into map[string]Asset, dir string) error {
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return fmt.Errorf("web: %w", err)
	}
	for _, e := range entries {
		ext := path.Ext(e.Name())
		if e.IsDir() || (ext != ".js" && ext != ".css") {
			continue
		}
		body, err := fs.ReadFile(files, path.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("web: %w", err)
		}
		into[e.Name()] = newAsset(e.Name(), body)
	}
	return nil
}

func newAsset(name string, body []byte) Asset {
	sum := sha256.Sum256(body)
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return Asset{Body: body, ContentType: ct, ETag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// Docs is the API reference page.
func (p *Pages) Docs() Asset { return p.docs }

// DocsAsset is a script or style sheet of the reference page, by file name.
func (p *Pages) DocsAsset(name string) (Asset, bool) {
	a, ok := p.assets[name]
	return a, ok
}

// Playground is the page at /.
func (p *Pages) Playground() Asset { return p.playground }

// PlaygroundAsset is a script or style sheet of the playground, by file name.
func (p *Pages) PlaygroundAsset(name string) (Asset, bool) {
	a, ok := p.playAssets[name]
	return a, ok
}

// ProblemAnchor is where the reference page explains the problem type
// code, such as /docs#problem-not-found; ok is false for an unknown code.
func (p *Pages) ProblemAnchor(code string) (string, bool) {
	if _, ok := p.problems[code]; !ok {
		return "", false
	}
	return "/docs#problem-" + code, true
}

// ProblemTypes lists the explained problem codes.
func (p *Pages) ProblemTypes() map[string]ProblemType { return p.problems }
