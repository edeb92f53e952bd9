package api_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// The operations that take tensors take them as a JSON body or as a
// multipart form: one binary part per tensor the JSON body requires, and a
// params part that is JSON whatever the part says it is.
func TestMultipartForms(t *testing.T) {
	doc := load(t)
	for path, tensors := range map[string][]string{
		"/corr2d": {"input", "kernel"},
		"/train":  {"input", "target"},
	} {
		op := doc.Paths.Value(path).Post
		content := op.RequestBody.Value.Content
		jsonSchema := content["application/json"].Schema.Value
		for _, name := range tensors {
			if !slices.Contains(jsonSchema.Required, name) {
				t.Errorf("%s: the JSON body does not require %s", path, name)
			}
		}
		form := content["multipart/form-data"]
		if form == nil {
			t.Errorf("%s: no multipart/form-data body", path)
			continue
		}
		schema := form.Schema.Value
		if !schema.Type.Is("object") || len(schema.Required) != 0 {
			t.Errorf("%s: form schema is %v with required %v; want an object with no required part (a tensor may be in params)", path, schema.Type, schema.Required)
		}
		want := append([]string{"params"}, tensors...)
		var got []string
		for name := range schema.Properties {
			got = append(got, name)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("%s: form parts %v, want %v", path, got, want)
		}
		for _, name := range tensors {
			if p := schema.Properties[name]; p == nil || !p.Value.Type.Is("string") || p.Value.Format != "binary" {
				t.Errorf("%s: part %s is not a string of format binary", path, name)
			}
		}
		if p := schema.Properties["params"]; p == nil || !p.Value.Type.Is("string") || p.Value.Format != "" {
			t.Errorf("%s: part params is not a plain string", path)
		}
		if enc := form.Encoding["params"]; enc == nil || enc.ContentType != "application/json" {
			t.Errorf("%s: params has no encoding with contentType application/json", path)
		}
	}
}

func TestCorr2dAnswers(t *testing.T) {
	doc := load(t)
	op := doc.Paths.Value("/corr2d").Post
	ok := op.Responses.Status(200).Value
	for _, ct := range []string{"application/x-npy", "image/png"} {
		mt := ok.Content[ct]
		if mt == nil || !mt.Schema.Value.Type.Is("string") || mt.Schema.Value.Format != "binary" {
			t.Errorf("200 %s is not documented as a binary string", ct)
		}
	}
	if ok.Content["application/json"] == nil {
		t.Error("200 application/json is gone")
	}
	var headerParams []string
	for _, p := range op.Parameters {
		if p.Value.In == openapi3.ParameterInHeader {
			headerParams = append(headerParams, p.Value.Name)
		}
	}
	slices.Sort(headerParams)
	if want := []string{"Accept", "Accept-Encoding", "Content-Encoding"}; !slices.Equal(want, headerParams) {
		t.Errorf("header parameters %v, want %v", headerParams, want)
	}
	for _, name := range []string{"Server-Timing", "Vary"} {
		if h := ok.Headers[name]; h == nil || !h.Value.Required {
			t.Errorf("200 does not require %s", name)
		}
	}
	if h := ok.Headers["Content-Encoding"]; h == nil || h.Value.Required {
		t.Error("200 must document Content-Encoding as optional")
	}
	// A streamed answer announces its Server-Timing trailer; one sent whole
	// does not.
	if h := ok.Headers["Trailer"]; h == nil || h.Value.Required || !slices.Equal(h.Value.Schema.Value.Enum, []any{"Server-Timing"}) {
		t.Error("200 must document Trailer as optional, naming only Server-Timing")
	}
	problem := doc.Components.Schemas["Problem"].Value.Properties["type"].Value
	if !slices.Contains(problem.Enum, any("/problems/not-acceptable")) {
		t.Error("Problem.type does not list /problems/not-acceptable")
	}
}

func TestServerTimingPattern(t *testing.T) {
	schema := load(t).Components.Headers["ServerTiming"].Value.Schema.Value
	for value, want := range map[string]bool{
		`decode;dur=0.412, queue;dur=0.003, compute;dur=1.250;desc="direct", encode;dur=0.380`: true,
		`decode;dur=12,queue;dur=0,compute;dur=3.5;desc="fft",encode;dur=0.1`:                  true,
		`decode;dur=0.412, queue;dur=0.003, compute;dur=1.250;desc="direct"`:                   true, // a streamed answer's header
		`decode;dur=0.412, queue;dur=0.003, compute;dur=1.250;desc="direct", encode`:           false,
		"decode;dur=0.412, queue;dur=0.003, compute;dur=1.250, encode;dur=0.380":               false,
		"decode;dur=0.412, compute;dur=1.250, encode;dur=0.380":                                false,
		"decode;dur=-1, queue;dur=0.003, compute;dur=1.250, encode;dur=0.380":                  false,
		"decode, queue, compute, encode":                                                       false,
		"":                                                                                     false,
	} {
		if err := schema.VisitJSON(value); (err == nil) != want {
			t.Errorf("Server-Timing %q accepted: %v, want %v (%v)", value, err == nil, want, err)
		}
	}
}

func TestContentEncodingParameter(t *testing.T) {
	schema := load(t).Components.Parameters["ContentEncoding"].Value.Schema.Value
	for value, want := range map[string]bool{
		"gzip": true, "x-gzip": true, "zstd": true, "identity": true, "GZip": true, " zstd ": true,
		"br": false, "deflate": false, "gzip, zstd": false, "gzipx": false,
	} {
		if err := schema.VisitJSON(value); (err == nil) != want {
			t.Errorf("Content-Encoding %q accepted: %v, want %v", value, err == nil, want)
		}
	}
}

// scale and range go together: clip needs a range, minmax takes none.
func TestScaleAndRange(t *testing.T) {
	schema := load(t).Components.Schemas["Corr2dRequest"].Value
	const base = `"input": [[0, 1], [2, 3]], "kernel": [[1]]`
	for extra, want := range map[string]bool{
		``:                                     true,
		`, "scale": "minmax"`:                  true,
		`, "scale": "clip", "range": [-1, 1]`:  true,
		`, "scale": "clip"`:                    false,
		`, "range": [0, 1]`:                    false,
		`, "scale": "minmax", "range": [0, 1]`: false,
		`, "scale": "clip", "range": [0]`:      false,
		`, "scale": "log"`:                     false,
	} {
		var v any
		if err := json.Unmarshal([]byte("{"+base+extra+"}"), &v); err != nil {
			t.Fatal(err)
		}
		if err := schema.VisitJSON(v); (err == nil) != want {
			t.Errorf("request with %q accepted: %v, want %v (%v)", extra, err == nil, want, err)
		}
	}
}
