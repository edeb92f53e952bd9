// Package apitest checks HTTP exchanges against the service's OpenAPI
// contract, api/openapi.yaml.
//
// It is test support: handler tests pass each request and recorded response
// to [Validator.Check] (or let [Validator.Serve] do both), and integration
// tests that talk to a real listener wrap their client's transport with
// [Validator.Transport], so that every response the service gives in a test
// is held to the document it publishes. Production code must not import it.
package apitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/corr2d/corr2d/api"
)

// Route is one operation of the contract: an HTTP method and a path template
// such as /jobs/{id}. OpenAPI and chi write templates the same way, so a
// Route compares directly with what chi.Walk reports.
type Route struct {
	Method  string
	Pattern string
}

// Validator matches requests to the operations of the OpenAPI document and
// validates both directions of an exchange. It is safe for concurrent use.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

// registerDecoders makes sure openapi3filter can decode every media type the
// document uses. kin-openapi registers JSON (including +json types), YAML and
// text/plain itself; OpenMetrics, which /metrics serves when a scraper asks
// for it, is plain text to the schema. The .npy and PNG answers need no
// decoder: a binary schema reads any body as a string. The decoder table is
// kin-openapi's package state, so this only ever adds what is missing, once,
// with one exception: multipart/form-data is replaced by formDecoder, since
// kin-openapi's decoder refuses a params part not labelled
// application/json, and decodes one that is into an object where the
// contract has a string (see formDecoder, which hands other forms back to
// kin-openapi's decoder).
var registerDecoders = sync.OnceFunc(func() {
	openapi3filter.RegisterBodyDecoder("multipart/form-data", formDecoder)
	for _, ct := range []string{"text/plain", "application/openmetrics-text", "text/event-stream", "text/html", "text/javascript", "text/css"} {
		if openapi3filter.RegisteredBodyDecoder(ct) == nil {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
		}
	}
	for _, ct := range []string{"application/json", "application/problem+json"} {
		if openapi3filter.RegisteredBodyDecoder(ct) == nil {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.JSONBodyDecoder)
		}
	}
	if openapi3filter.RegisteredBodyDecoder("application/yaml") == nil {
		openapi3filter.RegisterBodyDecoder("application/yaml", openapi3filter.YamlBodyDecoder)
	}
})

// NewValidator loads and validates the embedded OpenAPI document and builds
// a router over it. It stops the test if the document is broken.
func NewValidator(t testing.TB) *Validator {
	t.Helper()
	registerDecoders()

	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatalf("apitest: loading api/openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("apitest: api/openapi.yaml is not valid OpenAPI: %v", err)
	}
	// The document's only server is the relative URL "/", but tests reach
	// the service at httptest's example.com or at 127.0.0.1 on a random
	// port. Without servers the router matches paths on any host.
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("apitest: building router: %v", err)
	}
	return &Validator{doc: doc, router: router}
}

// Routes lists every operation of the document, sorted by pattern and then
// by method.
func (v *Validator) Routes() []Route {
	var routes []Route
	for pattern, item := range v.doc.Paths.Map() {
		for method := range item.Operations() {
			routes = append(routes, Route{Method: method, Pattern: pattern})
		}
	}
	slices.SortFunc(routes, func(a, b Route) int {
		if c := strings.Compare(a.Pattern, b.Pattern); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return routes
}

// Check validates one exchange: req, sent with body reqBody (req.Body is not
// read, since a handler has usually consumed it), answered with status,
// header and body. Both bodies are taken as they travel: a body with a
// Content-Encoding of gzip or zstd is inflated before it is checked. It
// reports every disagreement with the document through t.Errorf:
//
//   - the request's method and path must be an operation of the document;
//   - the status must be one the operation documents, the Content-Type one
//     it lists for that status, the body must match that schema (and be
//     empty where no content is documented), and documented required
//     headers such as Location, Retry-After and Server-Timing must be
//     present and valid;
//   - a binary answer must be what its Content-Type says: a .npy file
//     (starting with \x93NUMPY, of a float32 or float64 array whose data
//     fill its shape) or an 8-bit grayscale PNG; a compressed answer must
//     use a coding the request's Accept-Encoding allows;
//   - POST /corr2d must answer in the media type Accept prefers, name
//     Accept in Vary, and answer 406 only when Accept allows none of its
//     media types or asks for PNG of an output that is not 2-D;
//   - the fields of a response must agree where the contract relates them
//     (see semantics.go): a correlation's output is rectangular, of the
//     input's rank and batch, with the kernel's output channels, its shape
//     is the output's, its dtype the one asked for, and without stride,
//     padding, dilation or groups a 2-D kernel gives (H-kh+1)x(W-kw+1); a
//     job's kernels have its kernel_size, the problem's rank and channels,
//     it has a bias exactly when it trains one, and its request echoes what
//     was submitted with every default filled in; pages are ordered,
//     filtered and limited as asked;
//   - a request the document forbids (a bad query parameter, a body that
//     does not match its schema, a wrong Content-Type or Content-Encoding,
//     a compressed body that does not inflate, a multipart form with a
//     tensor part that is no .npy file, image or JSON, a tensor given both
//     as a part and in params, or params that with the parts do not make a
//     valid JSON body) must be refused with a 4xx status, or 503 if the
//     service refused it before reading it. Such a request answered
//     otherwise means the service accepts more than its contract says.
//
// Requests that deliberately miss every route, to test 404 and 405, belong
// in [Validator.CheckUnrouted].
func (v *Validator) Check(t testing.TB, req *http.Request, reqBody []byte, status int, header http.Header, body []byte) {
	t.Helper()
	for _, msg := range v.check(req, reqBody, status, header, body, false) {
		t.Errorf("%s", msg)
	}
}

// CheckUnrouted validates the answer to a request that matches no operation
// of the document: it must be a 404 problem (components.responses.NotFound)
// when no path matches, and a 405 problem (MethodNotAllowed) when the path
// exists but the method does not. A request that does match an operation is
// an error here; use [Validator.Check] for those.
func (v *Validator) CheckUnrouted(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	r := withBody(req, nil)
	if _, _, err := v.router.FindRoute(r); err == nil {
		t.Errorf("%s: CheckUnrouted on a request that matches an operation of the contract; use Check", describe(req, status))
		return
	}
	for _, msg := range v.check(req, nil, status, header, body, true) {
		t.Errorf("%s", msg)
	}
}

// Serve runs req through h, checks the exchange with [Validator.Check] and
// returns the recorder for the test's own assertions. It reads req.Body
// first, so the body validated is the one h saw.
func (v *Validator) Serve(t testing.TB, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	reqBody, err := readBody(req)
	if err != nil {
		t.Fatalf("apitest: reading request body: %v", err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, withBody(req, reqBody))
	v.Check(t, req, reqBody, rec.Code, rec.Result().Header, rec.Body.Bytes())
	return rec
}

// check returns one message per disagreement between the exchange and the
// document. With unrouted, a request outside the document is validated as a
// 404 or 405 answer rather than reported.
func (v *Validator) check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte, unrouted bool) []string {
	ctx := context.Background()
	// Both bodies are checked as they were before their Content-Encoding.
	// A response body that does not inflate is simply wrong; a request
	// body that does not is one the contract forbids (see below).
	plain, err := inflate(header, body)
	if err != nil {
		return []string{fmt.Sprintf("%s: the response body does not decode as its Content-Encoding says: %v%s",
			describe(req, status), err, excerpts(nil, body))}
	}
	var msgs []string
	if coding := header.Get("Content-Encoding"); coding != "" && !strings.EqualFold(coding, "identity") &&
		!acceptsCoding(req.Header.Get("Accept-Encoding"), coding) {
		msgs = append(msgs, fmt.Sprintf("%s: the response is compressed with %s, but the request's Accept-Encoding %q does not allow it",
			describe(req, status), coding, req.Header.Get("Accept-Encoding")))
	}
	body = plain

	r := withBody(req, reqBody)
	route, params, err := v.router.FindRoute(r)
	if err != nil {
		if !unrouted {
			return []string{fmt.Sprintf("%s: %s %s is not a route of api/openapi.yaml (%v)%s",
				describe(req, status), req.Method, req.URL.Path, err, excerpts(reqBody, body))}
		}
		return append(msgs, v.checkUnrouted(ctx, r, err, status, header, body)...)
	}

	var faults []string
	if plainReq, err := inflate(req.Header, reqBody); err != nil {
		faults = append(faults, "request body: "+err.Error())
	} else {
		reqBody = plainReq
		r = withBody(req, reqBody)
	}

	reqInput := &openapi3filter.RequestValidationInput{
		Request:    r,
		PathParams: params,
		Route:      route,
		Options:    options(),
	}
	var sub submission
	if len(faults) == 0 {
		if err := openapi3filter.ValidateRequest(ctx, reqInput); err != nil {
			faults = append(faults, flatten(err)...)
		}
		var more []string
		sub, more = readSubmission(route.Operation, req.Header, reqBody)
		faults = append(faults, more...)
	}
	// A request outside the contract is fine, even useful, as long as the
	// service turns it away.
	if len(faults) > 0 && (status < 400 || (status >= 500 && status != http.StatusServiceUnavailable)) {
		msgs = append(msgs, fmt.Sprintf("%s: the service answered %d to a request the contract forbids; it must refuse it with a 4xx problem:\n%s%s",
			describe(req, status), status, indent(faults), excerpts(reqBody, body)))
	}

	respInput := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqInput,
		Status:                 status,
		Header:                 header,
		Options:                options(),
	}
	respInput.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, respInput); err != nil {
		msgs = append(msgs, fmt.Sprintf("%s: response does not match the contract:\n%s%s",
			describe(req, status), indent(flatten(err)), excerpts(reqBody, body)))
	} else if broken := semantics(route.Operation.OperationID, req, sub, status, header, body); len(broken) > 0 {
		msgs = append(msgs, fmt.Sprintf("%s: response breaks rules of the contract:\n%s%s",
			describe(req, status), indent(broken), excerpts(reqBody, body)))
	}
	// ValidateResponse passes a body it has no schema for; a response that
	// documents no content (204) must really have none.
	if ref := route.Operation.Responses.Status(status); ref != nil && ref.Value != nil && len(ref.Value.Content) == 0 && len(body) > 0 {
		msgs = append(msgs, fmt.Sprintf("%s: the contract documents no body for %d, got %d bytes%s",
			describe(req, status), status, len(body), excerpts(reqBody, body)))
	}
	return msgs
}

// checkUnrouted validates the answer to a request the router could not
// match, against the shared response the document names for that case.
func (v *Validator) checkUnrouted(ctx context.Context, r *http.Request, routeErr error, status int, header http.Header, body []byte) []string {
	name, want := "NotFound", http.StatusNotFound
	if errors.Is(routeErr, routers.ErrMethodNotAllowed) {
		name, want = "MethodNotAllowed", http.StatusMethodNotAllowed
	}
	if status != want {
		return []string{fmt.Sprintf("%s: %s %s matches no operation (%v), so the answer must be %d, got %d%s",
			describe(r, status), r.Method, r.URL.Path, routeErr, want, status, excerpts(nil, body))}
	}
	resp := v.doc.Components.Responses[name]
	if resp == nil {
		return []string{fmt.Sprintf("apitest: api/openapi.yaml has no components.responses.%s", name)}
	}
	// ValidateResponse needs an operation to look the status up in; this
	// one stands for "any request outside the routes".
	route := &routers.Route{
		Spec:      v.doc,
		Path:      r.URL.Path,
		PathItem:  &openapi3.PathItem{},
		Method:    r.Method,
		Operation: &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(want, resp))},
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, Route: route},
		Status:                 status,
		Header:                 header,
		Options:                options(),
	}
	input.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, input); err != nil {
		return []string{fmt.Sprintf("%s: response does not match components.responses.%s:\n%s%s",
			describe(r, status), name, indent(flatten(err)), excerpts(nil, body))}
	}
	return nil
}

// options returns fresh validation options for each call: openapi3filter
// keeps no state in them, but a fresh value guarantees that concurrent
// checks share nothing.
func options() *openapi3filter.Options {
	return &openapi3filter.Options{
		// Report every fault, not only the first.
		MultiError: true,
		// A status the operation does not document is drift, not a pass.
		IncludeResponseStatus: true,
		// Filling in defaults would rewrite the request being checked.
		SkipSettingDefaults: true,
		// The bearer scheme is met by a bearer Authorization header;
		// whether the token is known is the server's to say (401).
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			scheme, token, _ := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
			if !strings.EqualFold(scheme, "Bearer") || token == "" {
				return errors.New("no bearer token")
			}
			return nil
		},
		// Keep messages to the path and the reason; the body excerpt that
		// follows them shows the value, and the schema is in the document.
		SchemaValidationOptions: []openapi3.SchemaValidationOption{
			openapi3.DisableSchemaErrorDetails(),
			openapi3.SetSchemaErrorMessageCustomizer(explainAnyOf),
		},
	}
}

// explainAnyOf replaces kin-openapi's bare "doesn't match any schema from
// anyOf" with the descriptions of the alternatives, where the document gives
// them (as Job does for the states a job can be in, and Tensor for its
// ranks), so that a failure says which rule the value broke. Other errors
// keep their default message; that of oneOf already lists why each
// alternative failed, which for the small unions that use it (padding,
// stride, optimizer) says more than their descriptions would.
func explainAnyOf(err *openapi3.SchemaError) string {
	if err.SchemaField != "anyOf" || err.Schema == nil {
		return ""
	}
	var alternatives []string
	for _, ref := range err.Schema.AnyOf {
		if ref.Value == nil || ref.Value.Description == "" {
			return ""
		}
		alternatives = append(alternatives, ref.Value.Description)
	}
	return fmt.Sprintf("Error at %q: matches none of the alternatives: %s",
		"/"+strings.Join(err.JSONPointer(), "/"), strings.Join(alternatives, "; "))
}

// withBody returns a shallow copy of req that reads body, so that validation
// neither consumes nor depends on the caller's req.Body.
func withBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(req.Context())
	r.Body = http.NoBody
	r.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	if len(body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	r.ContentLength = int64(len(body))
	return r
}

// readBody reads and closes req.Body, if any, and puts an equivalent reader
// back so req can still be sent or served.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	req.Body = io.NopCloser(bytes.NewReader(b))
	return b, err
}

func describe(req *http.Request, status int) string {
	target := req.URL.Path
	if req.URL.RawQuery != "" {
		target += "?" + req.URL.RawQuery
	}
	return fmt.Sprintf("%s %s -> %d", req.Method, target, status)
}

// flatten turns kin-openapi's nested errors into one line per fault, each
// prefixed with where it was found (a parameter, the body).
func flatten(err error) []string {
	var prefix string
	var inner error
	//nolint:errorlint // walks kin-openapi's own error tree one level at a time
	switch e := err.(type) {
	case openapi3.MultiError:
		var lines []string
		for _, sub := range e {
			lines = append(lines, flatten(sub)...)
		}
		return lines
	case *openapi3filter.RequestError:
		switch {
		case e.Parameter != nil:
			prefix = fmt.Sprintf("parameter %q in %s: ", e.Parameter.Name, e.Parameter.In)
		case e.RequestBody != nil:
			prefix = "request body: "
		}
		if e.Reason != "" {
			prefix += e.Reason + ": "
		}
		inner = e.Err
	case *openapi3filter.ResponseError:
		prefix = e.Reason + ": "
		inner = e.Err
	}
	if inner == nil {
		return []string{err.Error()}
	}
	lines := flatten(inner)
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return lines
}

func indent(lines []string) string {
	return "\t" + strings.Join(lines, "\n\t")
}

// excerptLen bounds how much of a body a failure message shows: enough to
// recognise the payload, little enough to keep the test log readable.
const excerptLen = 512

func excerpts(reqBody, respBody []byte) string {
	var b strings.Builder
	if len(reqBody) > 0 {
		fmt.Fprintf(&b, "\n\trequest body:  %s", excerpt(reqBody))
	}
	fmt.Fprintf(&b, "\n\tresponse body: %s", excerpt(respBody))
	return b.String()
}

func excerpt(body []byte) string {
	switch {
	case len(body) == 0:
		return "(empty)"
	case bytes.HasPrefix(body, pngMagic):
		return fmt.Sprintf("(a PNG image of %d bytes)", len(body))
	case bytes.HasPrefix(body, npyMagic):
		// The header is text; the data after it is not worth showing.
		if end := bytes.IndexByte(body, '\n'); end > 0 && end < excerptLen {
			return fmt.Sprintf("(a .npy file of %d bytes: %s)", len(body), strings.TrimSpace(string(body[len(npyMagic)+4:end])))
		}
		return fmt.Sprintf("(a .npy file of %d bytes)", len(body))
	}
	s := body
	more := 0
	if len(s) > excerptLen {
		s, more = s[:excerptLen], len(s)-excerptLen
		// Do not cut a rune in half.
		for len(s) > 0 && !utf8.Valid(s) {
			s = s[:len(s)-1]
			more++
		}
	}
	text := strings.ToValidUTF8(string(s), "\uFFFD")
	if more > 0 {
		text += fmt.Sprintf("… (%d more bytes)", more)
	}
	return text
}
