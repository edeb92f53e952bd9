package apitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// Transport returns a RoundTripper that sends each request through base
// (http.DefaultTransport when nil) and checks the exchange against the
// contract, reporting disagreements through t.Errorf. The caller's request
// is not modified and the response body is read in full and replaced, so the
// caller reads it as usual: a body compressed because the caller asked for it
// with Accept-Encoding stays compressed for the caller, and is inflated only
// for the check, as a compressed request body is.
//
// Unlike [Validator.Check], a request that matches no operation is not an
// error in itself: through a real listener it is how a test exercises the
// 404 and 405 answers, so the answer is validated as [Validator.CheckUnrouted]
// does. A transport failure is returned to the caller unchecked.
//
// Use it only for requests a test finishes before it returns: t.Errorf must
// not be called after the test has completed.
func (v *Validator) Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{v: v, t: t, base: base}
}

type transport struct {
	v    *Validator
	t    testing.TB
	base http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// Read the body from a copy: a RoundTripper must not modify the
	// caller's request, and the base transport needs a fresh reader.
	out := req.Clone(req.Context())
	reqBody, err := readBody(out)
	if err != nil {
		return nil, fmt.Errorf("apitest: reading request body: %w", err)
	}
	if out.Body != nil {
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	}

	resp, err := tr.base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("apitest: reading response body of %s %s: %w", req.Method, req.URL.Path, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))

	tr.t.Helper()
	for _, msg := range tr.v.check(req, reqBody, resp.StatusCode, resp.Header, body, true) {
		tr.t.Errorf("%s", msg)
	}
	return resp, nil
}
