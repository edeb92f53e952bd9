package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/api"
)

// load parses and validates the embedded document; every other test starts
// from a document that kin-openapi accepts, examples included.
func load(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("LoadFromData: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return doc
}

type operation struct {
	method, path string
	op           *openapi3.Operation
}

func operations(doc *openapi3.T) []operation {
	var ops []operation
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, operation{method, path, op})
		}
	}
	slices.SortFunc(ops, func(a, b operation) int {
		return strings.Compare(a.path+" "+a.method, b.path+" "+b.method)
	})
	return ops
}

func TestDocumentIsValid(t *testing.T) {
	doc := load(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
}

// The routes are the ones api.md lists; a route added to the spec or dropped
// from it must be a deliberate change of this list too.
func TestRoutesAreTheContractedOnes(t *testing.T) {
	var got []string
	for _, o := range operations(load(t)) {
		got = append(got, o.method+" "+o.path)
	}
	want := []string{
		"GET /",
		"GET /assets/{file}",
		"POST /corr2d",
		"GET /docs",
		"GET /docs/assets/{file}",
		"GET /healthz",
		"GET /jobs",
		"DELETE /jobs/{id}",
		"GET /jobs/{id}",
		"POST /jobs/{id}/cancel",
		"GET /jobs/{id}/events",
		"GET /jobs/{id}/input",
		"GET /jobs/{id}/losses",
		"GET /jobs/{id}/target",
		"GET /metrics",
		"GET /openapi.yaml",
		"GET /problems/{code}",
		"GET /readyz",
		"POST /train",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("routes mismatch (-want +got):\n%s", diff)
	}
}

func TestEveryOperationHasAUniqueOperationID(t *testing.T) {
	seen := map[string]string{}
	for _, o := range operations(load(t)) {
		where := o.method + " " + o.path
		if o.op.OperationID == "" {
			t.Errorf("%s has no operationId", where)
			continue
		}
		if prev, ok := seen[o.op.OperationID]; ok {
			t.Errorf("%s reuses operationId %q of %s", where, o.op.OperationID, prev)
		}
		seen[o.op.OperationID] = where
		if o.op.Summary == "" {
			t.Errorf("%s has no summary", where)
		}
	}
}

// wantErrorStatuses lists which error statuses an operation must document,
// derived from what it takes: a body can be malformed, too large, of the
// wrong type or invalid; a query can be bad; an id can name no job; a queue
// can be full. Every operation can fail internally.
func wantErrorStatuses(o operation) []int {
	want := []int{http.StatusInternalServerError}
	if o.op.RequestBody != nil {
		// A body that stalls is ended with 408.
		want = append(want, http.StatusBadRequest, http.StatusRequestTimeout, http.StatusRequestEntityTooLarge,
			http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, http.StatusServiceUnavailable)
	}
	for _, p := range o.op.Parameters {
		badInput := p.Value.In == openapi3.ParameterInQuery ||
			(p.Value.In == openapi3.ParameterInHeader && p.Value.Name == "Last-Event-ID")
		if badInput && !slices.Contains(want, http.StatusBadRequest) {
			want = append(want, http.StatusBadRequest)
		}
		// Event streams and long-polls hold a connection each, and are
		// refused beyond their bound.
		holds := p.Value.Name == "wait" || p.Value.Name == "Last-Event-ID"
		if holds && !slices.Contains(want, http.StatusServiceUnavailable) {
			want = append(want, http.StatusServiceUnavailable)
		}
	}
	for _, p := range o.op.Parameters {
		if p.Value.In == openapi3.ParameterInHeader && p.Value.Name == "Accept" {
			// An operation that negotiates its answer refuses an Accept it
			// cannot satisfy.
			want = append(want, http.StatusNotAcceptable)
		}
	}
	if strings.Contains(o.path, "{") {
		want = append(want, http.StatusNotFound)
	}
	if o.method == http.MethodDelete {
		want = append(want, http.StatusConflict)
	}
	if o.path == "/readyz" {
		want = append(want, http.StatusServiceUnavailable)
	}
	// A page of another site is refused anywhere; every route but the
	// probes needs a token (with a tokens file), and is rate-limited per
	// principal. /metrics may need one too.
	want = append(want, http.StatusForbidden)
	if o.path != "/healthz" && o.path != "/readyz" {
		want = append(want, http.StatusUnauthorized, http.StatusTooManyRequests)
	}
	slices.Sort(want)
	return want
}

func TestOperationsDocumentTheirErrors(t *testing.T) {
	for _, o := range operations(load(t)) {
		var got []int
		for code := range o.op.Responses.Map() {
			n, err := strconv.Atoi(code)
			if err != nil {
				t.Errorf("%s %s: response %q is not a plain status code", o.method, o.path, code)
				continue
			}
			if n >= 400 {
				got = append(got, n)
			}
		}
		slices.Sort(got)
		if diff := cmp.Diff(wantErrorStatuses(o), got); diff != "" {
			t.Errorf("%s %s error statuses (-want +got):\n%s", o.method, o.path, diff)
		}
	}
}

// checkProblem reports how response r, for status, fails to be a problem:
// only application/problem+json, a schema built on Problem that pins status.
func checkProblem(t *testing.T, where string, status int, r *openapi3.Response) {
	t.Helper()
	if len(r.Content) != 1 || r.Content["application/problem+json"] == nil {
		t.Errorf("%s: content types %v, want only application/problem+json", where, slices.Sorted(mapKeys(r.Content)))
		return
	}
	schema := r.Content["application/problem+json"].Schema
	if schema == nil || schema.Value == nil {
		t.Errorf("%s: problem response has no schema", where)
		return
	}
	usesProblem := schema.Ref == "#/components/schemas/Problem"
	pinned := false
	for _, part := range schema.Value.AllOf {
		if part.Ref == "#/components/schemas/Problem" {
			usesProblem = true
		}
		if s := part.Value.Properties["status"]; s != nil && len(s.Value.Enum) == 1 {
			pinned = fmt.Sprint(s.Value.Enum[0]) == strconv.Itoa(status)
		}
	}
	if !usesProblem {
		t.Errorf("%s: schema does not use #/components/schemas/Problem", where)
	}
	if !pinned {
		t.Errorf("%s: schema does not pin status to %d", where, status)
	}
	if status == http.StatusServiceUnavailable && r.Headers["Retry-After"] == nil {
		t.Errorf("%s: 503 without a Retry-After header", where)
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestErrorResponsesAreProblems(t *testing.T) {
	doc := load(t)
	for _, o := range operations(doc) {
		for code, ref := range o.op.Responses.Map() {
			n, _ := strconv.Atoi(code)
			if n < 400 {
				continue
			}
			where := fmt.Sprintf("%s %s %s", o.method, o.path, code)
			checkProblem(t, where, n, ref.Value)
			if n == http.StatusServiceUnavailable && o.path != "/readyz" && !ref.Value.Headers["Retry-After"].Value.Required {
				t.Errorf("%s: overload 503 must require Retry-After", where)
			}
		}
	}
	// The responses for unrouted requests are used by no operation, so they
	// are checked by name.
	for name, status := range map[string]int{"NotFound": 404, "MethodNotAllowed": 405} {
		ref := doc.Components.Responses[name]
		if ref == nil {
			t.Errorf("components.responses.%s is missing", name)
			continue
		}
		checkProblem(t, "components.responses."+name, status, ref.Value)
	}
}

func TestSuccessResponsesHaveSchemas(t *testing.T) {
	for _, o := range operations(load(t)) {
		for code, ref := range o.op.Responses.Map() {
			n, _ := strconv.Atoi(code)
			if n >= 400 {
				continue
			}
			where := fmt.Sprintf("%s %s %s", o.method, o.path, code)
			// 204 and 304 have no body; a redirect's body is not for
			// clients to read.
			if n == http.StatusNoContent || n == http.StatusNotModified || n == http.StatusFound {
				if len(ref.Value.Content) != 0 {
					t.Errorf("%s: %d must have no content", where, n)
				}
				continue
			}
			if len(ref.Value.Content) == 0 {
				t.Errorf("%s: no content", where)
			}
			for ct, mt := range ref.Value.Content {
				if mt.Schema == nil {
					t.Errorf("%s %s: no schema", where, ct)
				}
			}
		}
	}
}

// Request bodies refuse unknown fields, so a misspelt field ("kernal") or
// part is a 422 instead of being silently dropped.
func TestRequestBodiesForbidUnknownFields(t *testing.T) {
	for _, o := range operations(load(t)) {
		if o.op.RequestBody == nil {
			continue
		}
		for ct, mt := range o.op.RequestBody.Value.Content {
			if ct != "application/json" && ct != "multipart/form-data" {
				t.Errorf("%s %s: request content type %q, want application/json or multipart/form-data", o.method, o.path, ct)
			}
			ap := mt.Schema.Value.AdditionalProperties
			if ap.Has == nil || *ap.Has {
				t.Errorf("%s %s: request schema allows additional properties", o.method, o.path)
			}
		}
	}
}

// correlate is the textbook valid cross-correlation, here only to check that
// the examples in the document agree with the arithmetic they illustrate.
func correlate(x, k [][]float64) [][]float64 {
	h, w := len(x)-len(k)+1, len(x[0])-len(k[0])+1
	y := make([][]float64, h)
	for i := range y {
		y[i] = make([]float64, w)
		for j := range y[i] {
			for a := range k {
				for b := range k[a] {
					y[i][j] += x[i+a][j+b] * k[a][b]
				}
			}
		}
	}
	return y
}

func matrix(t *testing.T, v any) [][]float64 {
	t.Helper()
	rows, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not a matrix", v)
	}
	m := make([][]float64, len(rows))
	for i, r := range rows {
		for _, e := range r.([]any) {
			m[i] = append(m[i], toFloat(t, e))
		}
	}
	return m
}

func toFloat(t *testing.T, v any) float64 {
	t.Helper()
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	case uint64:
		return float64(n)
	case int64:
		return float64(n)
	}
	t.Fatalf("%v (%T) is not a number", v, v)
	return 0
}

func TestCorr2dExampleIsD2L(t *testing.T) {
	doc := load(t)
	op := doc.Paths.Value("/corr2d").Post
	req := op.RequestBody.Value.Content["application/json"].Examples["d2l"].Value.Value.(map[string]any)
	resp := op.Responses.Status(200).Value.Content["application/json"].Examples["d2l"].Value.Value.(map[string]any)

	x, k := matrix(t, req["input"]), matrix(t, req["kernel"])
	if diff := cmp.Diff([][]float64{{0, 1, 2}, {3, 4, 5}, {6, 7, 8}}, x); diff != "" {
		t.Errorf("example input (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]float64{{0, 1}, {2, 3}}, k); diff != "" {
		t.Errorf("example kernel (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(correlate(x, k), matrix(t, resp["output"])); diff != "" {
		t.Errorf("example output is not corr2d(input, kernel) (-computed +example):\n%s", diff)
	}
	var shape []float64
	for _, v := range resp["shape"].([]any) {
		shape = append(shape, toFloat(t, v))
	}
	if diff := cmp.Diff([]float64{2, 2}, shape); diff != "" {
		t.Errorf("example shape (-want +got):\n%s", diff)
	}
}

// The training example is d2l's edge image and its edge map: the target must
// be what the kernel [[1, -1]] the job is meant to learn produces.
func TestTrainExampleIsD2L(t *testing.T) {
	doc := load(t)
	op := doc.Paths.Value("/train").Post
	req := op.RequestBody.Value.Content["application/json"].Examples["d2lEdge"].Value.Value.(map[string]any)

	x, y := matrix(t, req["input"]), matrix(t, req["target"])
	if len(x) != 6 || len(x[0]) != 8 {
		t.Fatalf("example input is %dx%d, want 6x8", len(x), len(x[0]))
	}
	for i := range x {
		for j := range x[i] {
			want := 1.0
			if j >= 2 && j < 6 {
				want = 0
			}
			if x[i][j] != want {
				t.Errorf("input[%d][%d] = %v, want %v", i, j, x[i][j], want)
			}
		}
	}
	if diff := cmp.Diff(correlate(x, [][]float64{{1, -1}}), y); diff != "" {
		t.Errorf("example target is not corr2d(input, [[1, -1]]) (-computed +example):\n%s", diff)
	}
	for field, want := range map[string]any{"lr": 0.03, "steps": 10.0, "loss": "sum", "seed": 42.0} {
		got := req[field]
		if s, ok := got.(string); ok {
			if s != want {
				t.Errorf("example %s = %q, want %q", field, s, want)
			}
			continue
		}
		if toFloat(t, got) != want {
			t.Errorf("example %s = %v, want %v", field, got, want)
		}
	}
}

func TestOpenAPIReturnsACopy(t *testing.T) {
	a := api.OpenAPI()
	a[0] ^= 0xff
	if b := api.OpenAPI(); b[0] == a[0] {
		t.Error("modifying the result of OpenAPI changed what the next call returns")
	}
}

// tensor4 reads a decoded tensor of rank 2, 3 or 4 as N x C x H x W (or
// O x Cg x kh x kw), lifting the lower ranks as PyTorch does, and returns
// the rank it had.
func tensor4(t *testing.T, v any) ([][][][]float64, int) {
	t.Helper()
	depth := 0
	for x := v; ; depth++ {
		a, ok := x.([]any)
		if !ok {
			break
		}
		x = a[0]
	}
	switch depth {
	case 2:
		return [][][][]float64{{matrix(t, v)}}, 2
	case 3:
		var c [][][]float64
		for _, m := range v.([]any) {
			c = append(c, matrix(t, m))
		}
		return [][][][]float64{c}, 3
	case 4:
		var n [][][][]float64
		for _, x := range v.([]any) {
			one, _ := tensor4(t, x)
			n = append(n, one[0])
		}
		return n, 4
	}
	t.Fatalf("%v has rank %d, want 2, 3 or 4", v, depth)
	return nil, 0
}

// fold maps index i of a padded axis of length n back into the input, as
// padding mode names it; ok is false for a cell outside (zeros mode).
func fold(mode string, i, n int) (int, bool) {
	for i < 0 || i >= n {
		switch mode {
		case "zeros":
			return 0, false
		case "replicate":
			return min(max(i, 0), n-1), true
		case "circular":
			return ((i % n) + n) % n, true
		case "reflect": // c b | a b c d | c b
			if i < 0 {
				i = -i
			} else {
				i = 2*(n-1) - i
			}
		case "symmetric": // b a | a b c d | d c
			if i < 0 {
				i = -i - 1
			} else {
				i = 2*n - 1 - i
			}
		}
	}
	return i, true
}

// conv2d is the documented formula, directly: here only to check that the
// document's examples agree with the arithmetic they illustrate. pads is
// top, bottom, left, right.
func conv2d(x, w [][][][]float64, bias []float64, stride, dilation [2]int, pads [4]int, mode string, groups int) [][][][]float64 {
	C, O := len(x[0]), len(w)
	H, W := len(x[0][0]), len(x[0][0][0])
	cg, kh, kw := len(w[0]), len(w[0][0]), len(w[0][0][0])
	ho := (H+pads[0]+pads[1]-dilation[0]*(kh-1)-1)/stride[0] + 1
	wo := (W+pads[2]+pads[3]-dilation[1]*(kw-1)-1)/stride[1] + 1
	out := make([][][][]float64, len(x))
	for n := range x {
		out[n] = make([][][]float64, O)
		for o := range O {
			g := o / (O / groups)
			out[n][o] = make([][]float64, ho)
			for i := range ho {
				out[n][o][i] = make([]float64, wo)
				for j := range wo {
					s := 0.0
					if bias != nil {
						s = bias[o]
					}
					for c := range cg {
						for a := range kh {
							for b := range kw {
								r, okR := fold(mode, i*stride[0]+a*dilation[0]-pads[0], H)
								q, okQ := fold(mode, j*stride[1]+b*dilation[1]-pads[2], W)
								if okR && okQ {
									s += x[n][g*C/groups+c][r][q] * w[o][c][a][b]
								}
							}
						}
					}
					out[n][o][i][j] = s
				}
			}
		}
	}
	return out
}

// intPair reads an integer n as [n, n], or an [a, b] array.
func intPair(t *testing.T, v any, def int) [2]int {
	t.Helper()
	switch p := v.(type) {
	case nil:
		return [2]int{def, def}
	case []any:
		return [2]int{int(toFloat(t, p[0])), int(toFloat(t, p[1]))}
	}
	n := int(toFloat(t, v))
	return [2]int{n, n}
}

// examplePads resolves a request's padding to top, bottom, left, right.
func examplePads(t *testing.T, v any, kh, kw int, dilation [2]int) [4]int {
	t.Helper()
	th, tw := dilation[0]*(kh-1), dilation[1]*(kw-1)
	switch p := v.(type) {
	case nil:
		return [4]int{}
	case string:
		switch p {
		case "valid":
			return [4]int{}
		case "same":
			return [4]int{th / 2, th - th/2, tw / 2, tw - tw/2}
		case "full":
			return [4]int{th, th, tw, tw}
		}
		t.Fatalf("padding %q", p)
	case []any:
		if len(p) == 2 {
			a, b := int(toFloat(t, p[0])), int(toFloat(t, p[1]))
			return [4]int{a, a, b, b}
		}
		return [4]int{int(toFloat(t, p[0])), int(toFloat(t, p[1])), int(toFloat(t, p[2])), int(toFloat(t, p[3]))}
	}
	n := int(toFloat(t, v))
	return [4]int{n, n, n, n}
}

// flatten lists a decoded tensor's numbers in row-major order.
func flatten(t *testing.T, v any) []float64 {
	t.Helper()
	if a, ok := v.([]any); ok {
		var out []float64
		for _, e := range a {
			out = append(out, flatten(t, e)...)
		}
		return out
	}
	return []float64{toFloat(t, v)}
}

func dimsOf(v any) []float64 {
	var d []float64
	for a, ok := v.([]any); ok; a, ok = a[0].([]any) {
		d = append(d, float64(len(a)))
	}
	return d
}

// Every /corr2d example answer is what its request computes, by the
// formula the document states, with the output in the input's rank.
func TestCorr2dExamplesAgreeWithTheFormula(t *testing.T) {
	doc := load(t)
	op := doc.Paths.Value("/corr2d").Post
	reqs := op.RequestBody.Value.Content["application/json"].Examples
	resps := op.Responses.Status(200).Value.Content["application/json"].Examples
	for _, name := range []string{"d2l", "multiChannelSame", "multiChannelStrided"} {
		t.Run(name, func(t *testing.T) {
			if reqs[name] == nil || resps[name] == nil {
				t.Fatalf("example %s is missing from the request or the 200 response", name)
			}
			req := reqs[name].Value.Value.(map[string]any)
			resp := resps[name].Value.Value.(map[string]any)
			x, rank := tensor4(t, req["input"])
			w, _ := tensor4(t, req["kernel"])
			var bias []float64
			switch b := req["bias"].(type) {
			case nil:
			case []any:
				bias = flatten(t, b)
			default:
				for range w {
					bias = append(bias, toFloat(t, b))
				}
			}
			mode, _ := req["padding_mode"].(string)
			if mode == "" {
				mode = "zeros"
			}
			groups := 1
			if g, ok := req["groups"]; ok {
				groups = int(toFloat(t, g))
			}
			stride, dilation := intPair(t, req["stride"], 1), intPair(t, req["dilation"], 1)
			pads := examplePads(t, req["padding"], len(w[0][0]), len(w[0][0][0]), dilation)
			y := conv2d(x, w, bias, stride, dilation, pads, mode, groups)

			var want any = y
			var shape []float64
			switch rank {
			case 2:
				want = y[0][0]
				shape = []float64{float64(len(y[0][0])), float64(len(y[0][0][0]))}
			case 3:
				want = y[0]
				shape = []float64{float64(len(y[0])), float64(len(y[0][0])), float64(len(y[0][0][0]))}
			case 4:
				shape = []float64{float64(len(y)), float64(len(y[0])), float64(len(y[0][0])), float64(len(y[0][0][0]))}
			}
			if diff := cmp.Diff(shape, dimsOf(resp["output"])); diff != "" {
				t.Errorf("output dimensions (-computed +example):\n%s", diff)
			}
			var got []float64
			for _, v := range resp["shape"].([]any) {
				got = append(got, toFloat(t, v))
			}
			if diff := cmp.Diff(shape, got); diff != "" {
				t.Errorf("shape (-computed +example):\n%s", diff)
			}
			if diff := cmp.Diff(flattenGo(want), flatten(t, resp["output"])); diff != "" {
				t.Errorf("output is not what the request computes (-computed +example):\n%s", diff)
			}
			wantType, _ := req["dtype"].(string)
			if wantType == "" {
				wantType = "float64"
			}
			if resp["dtype"] != wantType {
				t.Errorf("dtype = %v, want %s", resp["dtype"], wantType)
			}
		})
	}
}

func flattenGo(v any) []float64 {
	switch x := v.(type) {
	case [][]float64:
		var out []float64
		for _, r := range x {
			out = append(out, r...)
		}
		return out
	case [][][]float64:
		var out []float64
		for _, m := range x {
			out = append(out, flattenGo(m)...)
		}
		return out
	case [][][][]float64:
		var out []float64
		for _, m := range x {
			out = append(out, flattenGo(m)...)
		}
		return out
	}
	return nil
}

// The two-channel training example: its target is what the kernel and bias
// the summary names produce, and the queued job echoes the request with
// every default filled in and has weights and a bias of the right shape.
func TestTrainTwoChannelExample(t *testing.T) {
	doc := load(t)
	op := doc.Paths.Value("/train").Post
	req := op.RequestBody.Value.Content["application/json"].Examples["twoChannelAdam"].Value.Value.(map[string]any)
	x, _ := tensor4(t, req["input"])
	truth := [][][][]float64{{{{1, 0}, {0, -1}}, {{0, 1}, {1, 0}}}}
	y := conv2d(x, truth, []float64{0.5}, [2]int{1, 1}, [2]int{1, 1}, [4]int{}, "zeros", 1)
	if diff := cmp.Diff(flattenGo(y[0]), flatten(t, req["target"])); diff != "" {
		t.Errorf("target is not conv2d(input, the named kernel) + 0.5 (-computed +example):\n%s", diff)
	}
	if len(x[0]) != 2 || req["bias"] != true {
		t.Errorf("example has %d channels and bias %v; want 2 and true", len(x[0]), req["bias"])
	}
	if opt, _ := req["optimizer"].(map[string]any); opt["name"] != "adam" {
		t.Errorf("example optimizer = %v, want adam", req["optimizer"])
	}

	job := op.Responses.Status(202).Value.Content["application/json"].Examples["twoChannelAdam"].Value.Value.(map[string]any)
	echo := job["request"].(map[string]any)
	for _, k := range []string{"input", "target"} {
		info, _ := echo[k].(map[string]any)
		if diff := cmp.Diff(dimsOf(req[k]), flatten(t, info["shape"])); diff != "" || info["dtype"] != "float32" {
			t.Errorf("request.%s is not shown as the shape and dtype sent (-sent +echo):\n%s", k, diff)
		}
	}
	for k, v := range req {
		if k == "optimizer" || k == "input" || k == "target" {
			continue
		}
		if diff := cmp.Diff(v, echo[k]); diff != "" {
			t.Errorf("request.%s is not echoed (-sent +echo):\n%s", k, diff)
		}
	}
	want := map[string]any{
		"stride": 1.0, "padding": 0.0, "dilation": 1.0, "groups": 1.0, "padding_mode": "zeros",
		"dtype": "float32", "loss": "sum",
	}
	for k, v := range want {
		got := echo[k]
		if n, ok := got.(string); ok {
			got = n
		} else {
			got = toFloat(t, got)
		}
		if got != v {
			t.Errorf("request.%s = %v, want the default %v", k, echo[k], v)
		}
	}
	opt := echo["optimizer"].(map[string]any)
	if diff := cmp.Diff([]float64{0.9, 0.999}, flatten(t, opt["betas"])); diff != "" {
		t.Errorf("optimizer.betas is not Adam's default (-want +got):\n%s", diff)
	}
	if toFloat(t, opt["eps"]) != 1e-8 {
		t.Errorf("optimizer.eps = %v, want Adam's default 1e-8", opt["eps"])
	}
	if _, ok := opt["momentum"]; ok {
		t.Errorf("an adam job's optimizer shows sgd's momentum: %v", opt)
	}
	if diff := cmp.Diff([]float64{1, 2, 2, 2}, dimsOf(job["kernel"])); diff != "" {
		t.Errorf("kernel is not O x C x kh x kw = 1x2x2x2 (-want +got):\n%s", diff)
	}
	for _, k := range []string{"bias", "init_bias"} {
		if b, _ := job[k].([]any); len(b) != 1 {
			t.Errorf("%s = %v, want one number for the one output channel", k, job[k])
		}
	}
}

// The Tensor schemas are spelled out rank by rank; kin-openapi must tell
// the ranks apart and refuse what is not a tensor of an allowed rank.
func TestTensorSchemas(t *testing.T) {
	doc := load(t)
	schemas := doc.Components.Schemas
	tests := []struct {
		value         string
		tensor, kernl bool
	}{
		{`[[1]]`, true, true},
		{`[[1, 2], [3, 4]]`, true, true},
		{`[[[1, 2]], [[3, 4]]]`, true, false},
		{`[[[[1]]]]`, true, true},
		{`[[[[[1]]]]]`, false, false},
		{`[1, 2]`, false, false},
		{`1`, false, false},
		{`[]`, false, false},
		{`[[]]`, false, false},
		{`[[1, [2]]]`, false, false},
		{`[["1"]]`, false, false},
	}
	for _, tt := range tests {
		var v any
		if err := json.Unmarshal([]byte(tt.value), &v); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]bool{"Tensor": tt.tensor, "KernelTensor": tt.kernl} {
			err := schemas[name].Value.VisitJSON(v)
			if (err == nil) != want {
				t.Errorf("%s accepts %s: %v, want %v (%v)", name, tt.value, err == nil, want, err)
			}
		}
	}
}

// The reference's padding modes are the pictures PaddingMode draws for
// `a b c d` padded by 2, so the examples are checked against those words.
func TestPaddingModePictures(t *testing.T) {
	desc := load(t).Components.Schemas["PaddingMode"].Value.Description
	for mode, picture := range map[string]string{
		"zeros":     "0 0 | a b c d | 0 0",
		"reflect":   "c b | a b c d | c b",
		"replicate": "a a | a b c d | d d",
		"circular":  "c d | a b c d | a b",
		"symmetric": "b a | a b c d | d c",
	} {
		var cells []string
		for i := -2; i < 6; i++ {
			j, ok := fold(mode, i, 4)
			cell := "0"
			if ok {
				cell = string(rune('a' + j))
			}
			if i == 0 || i == 4 {
				cells = append(cells, "|")
			}
			cells = append(cells, cell)
		}
		if got := strings.Join(cells, " "); got != picture {
			t.Errorf("%s pads a b c d as %q, want %q", mode, got, picture)
		}
		if !strings.Contains(desc, "`"+mode+"`: `"+picture+"`") {
			t.Errorf("PaddingMode's description does not draw %s as %q", mode, picture)
		}
	}
}
