package api_test

import (
	"context"
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
		"POST /corr2d",
		"GET /healthz",
		"GET /jobs",
		"DELETE /jobs/{id}",
		"GET /jobs/{id}",
		"POST /jobs/{id}/cancel",
		"GET /jobs/{id}/losses",
		"GET /metrics",
		"GET /openapi.yaml",
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
		want = append(want, http.StatusBadRequest, http.StatusRequestEntityTooLarge,
			http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, http.StatusServiceUnavailable)
	}
	for _, p := range o.op.Parameters {
		if p.Value.In == openapi3.ParameterInQuery && !slices.Contains(want, http.StatusBadRequest) {
			want = append(want, http.StatusBadRequest)
		}
	}
	if strings.Contains(o.path, "{id}") {
		want = append(want, http.StatusNotFound)
	}
	if o.method == http.MethodDelete {
		want = append(want, http.StatusConflict)
	}
	if o.path == "/readyz" {
		want = append(want, http.StatusServiceUnavailable)
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
			if n == http.StatusNoContent {
				if len(ref.Value.Content) != 0 {
					t.Errorf("%s: 204 must have no content", where)
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

// Request bodies refuse unknown fields, so a misspelt field ("kernal") is a
// 422 instead of being silently dropped.
func TestRequestBodiesForbidUnknownFields(t *testing.T) {
	for _, o := range operations(load(t)) {
		if o.op.RequestBody == nil {
			continue
		}
		for ct, mt := range o.op.RequestBody.Value.Content {
			if ct != "application/json" {
				t.Errorf("%s %s: request content type %q, want only application/json", o.method, o.path, ct)
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
