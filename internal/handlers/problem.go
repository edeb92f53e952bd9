package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5/middleware"
	"go.uber.org/zap"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/grayimg"
	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/jsonscan"
	"github.com/corr2d/corr2d/internal/npy"
	"github.com/corr2d/corr2d/internal/tensor"
)

// Problem codes: the last segment of a problem's type, /problems/<code>.
const (
	codeMalformedJSON    = "malformed-json"
	codeInvalidValue     = "invalid-value"
	codeInvalidShape     = "invalid-shape"
	codeUnknownField     = "unknown-field"
	codeTooLarge         = "too-large"
	codeUnsupportedMedia = "unsupported-media-type"
	codeNotAcceptable    = "not-acceptable"
	codeNotFound         = "not-found"
	codeMethodNotAllowed = "method-not-allowed"
	codeConflict         = "conflict"
	codeOverloaded       = "overloaded"
	codeNotReady         = "not-ready"
	codeInternal         = "internal"
	codeRequestTimeout   = "request-timeout"
	codeClientClosed     = "client-closed"
)

// problemTitles holds the one title of each problem type, whatever the
// status it comes with (invalid-value is a 422 in a body, a 400 in a query).
var problemTitles = map[string]string{
	codeMalformedJSON:    "Malformed JSON",
	codeInvalidValue:     "Invalid value",
	codeInvalidShape:     "Invalid shape",
	codeUnknownField:     "Unknown field",
	codeTooLarge:         "Too large",
	codeUnsupportedMedia: "Unsupported media type",
	codeNotAcceptable:    "Not acceptable",
	codeNotFound:         "Not found",
	codeMethodNotAllowed: "Method not allowed",
	codeConflict:         "Conflict",
	codeOverloaded:       "Overloaded",
	codeNotReady:         "Not ready",
	codeInternal:         "Internal error",
	codeRequestTimeout:   "Request timeout",
	codeClientClosed:     "Client closed request",
}

// maxQuoted is how many bytes of a client's input (a key, a part name, a
// path) a problem or a log line quotes, so that a 100 MiB key never comes
// back as a 100 MiB answer or log line. A whole detail is held to
// 4*maxQuoted, which no message of ours reaches by itself.
const maxQuoted = 200

// clip returns s cut to at most n bytes at a rune boundary, marked with
// "…" where it was cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// pointerEscaper escapes a key for a JSON pointer (RFC 6901).
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// memberPointer is the JSON pointer of the member key of the object at ptr,
// quoting at most maxQuoted bytes of the key.
func memberPointer(ptr, key string) string {
	return ptr + "/" + pointerEscaper.Replace(clip(key, maxQuoted))
}

// apiError is an error that already knows its answer. Decoders and
// handlers return it for client faults they detect themselves.
type apiError struct {
	status  int
	code    string
	detail  string
	pointer string // JSON pointer of the offending field, if any
	limit   string // name of the violated limit, if any
	// retryAfter is the Retry-After of a 429, in seconds.
	retryAfter int
}

func (e *apiError) Error() string {
	if e.pointer != "" {
		return e.pointer + ": " + e.detail
	}
	return e.detail
}

// invalidField is a 422 of the given code about the field at pointer.
func invalidField(code, pointer, format string, args ...any) *apiError {
	return &apiError{status: http.StatusUnprocessableEntity, code: code, pointer: pointer, detail: fmt.Sprintf(format, args...)}
}

// badRequest is a 400 about a body that is not JSON.
func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeMalformedJSON, detail: fmt.Sprintf(format, args...)}
}

// tooLarge is a 413 naming the limit, and the field at pointer if any.
func tooLarge(limit, pointer, format string, args ...any) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: codeTooLarge, limit: limit, pointer: pointer, detail: fmt.Sprintf(format, args...)}
}

// problem is an RFC 9457 problem details body.
type problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Limit     string       `json:"limit,omitempty"`
	Errors    []fieldError `json:"errors,omitempty"`
}

type fieldError struct {
	Pointer string `json:"pointer"`
	Detail  string `json:"detail"`
}

// paramField is the request field an engine parameter comes from, and the
// problem code of its faults.
type paramField struct{ pointer, code string }

// paramFields names the request field of each engine parameter. The
// tensors' faults are shape faults; the rest are invalid values.
var paramFields = map[engine.Param]paramField{
	engine.ParamInput:      {"/input", codeInvalidShape},
	engine.ParamKernel:     {"/kernel", codeInvalidShape},
	engine.ParamBias:       {"/bias", codeInvalidValue},
	engine.ParamStride:     {"/stride", codeInvalidValue},
	engine.ParamDilation:   {"/dilation", codeInvalidValue},
	engine.ParamPadding:    {"/padding", codeInvalidValue},
	engine.ParamBorder:     {"/padding_mode", codeInvalidValue},
	engine.ParamFill:       {"/fill_value", codeInvalidValue},
	engine.ParamGroups:     {"/groups", codeInvalidValue},
	engine.ParamMethod:     {"/method", codeInvalidValue},
	engine.ParamGradOutput: {"/grad_output", codeInvalidValue},
	engine.ParamOutput:     {"/output", codeInvalidValue},
}

// fault is an error of a reader of the request (of the body, a part, a
// tensor, a member), kept as the reader returned it, with where in the
// request it happened; faultProblem, beside classify, turns it into its
// answer.
type fault struct {
	ptr   string // JSON pointer of the field read, "" for the whole body
	limit string // the limit that bounds the field's size, if any
	what  string // what went wrong, for an error of no kind faultProblem knows
	// body: the body itself could not be read (400), rather than a field
	// that was read but is wrong (422), for an error of no known kind.
	body bool
	err  error
}

func (f *fault) Error() string {
	if f.ptr == "" {
		return f.err.Error()
	}
	return f.ptr + ": " + f.err.Error()
}

func (f *fault) Unwrap() error { return f.err }

// bodyFault is the fault of a body that could not be read to its end;
// what says so, for an error that is no problem of its own.
func bodyFault(err error, what string) *fault { return &fault{body: true, what: what, err: err} }

// fieldFault is the fault of the field at ptr, bounded by the named limit.
func fieldFault(err error, ptr, limit, what string) *fault {
	return &fault{ptr: ptr, limit: limit, what: what, err: err}
}

// faultProblem is the answer to a reader's fault, by the kind of its error.
func faultProblem(f *fault) *apiError {
	var (
		ae    *apiError
		mbe   *http.MaxBytesError
		tl    *jsonscan.TooLargeError
		te    *tensor.Error
		ute   *json.UnmarshalTypeError
		inner *fault
	)
	switch {
	case errors.As(f.err, &inner):
		return faultProblem(inner) // of a member inside the field: it knows better
	case errors.As(f.err, &ae):
		return ae
	case errors.As(f.err, &mbe):
		return tooLarge("max_body_bytes", "", "the body is larger than %d bytes", mbe.Limit)
	case errors.As(f.err, &tl) && !tl.InMember:
		return tooLarge("max_field_bytes", f.ptr, "has a key longer than %d bytes", tl.Limit)
	case errors.As(f.err, &tl) && tl.Token:
		return tooLarge("max_field_bytes", memberPointer(f.ptr, tl.Member), "has a string or number longer than %d bytes", tl.Limit)
	case errors.As(f.err, &tl):
		return tooLarge("max_field_bytes", memberPointer(f.ptr, tl.Member), "is longer than %d bytes", tl.Limit)
	case errors.As(f.err, &te):
		return tensorProblem(te, f.ptr, f.limit)
	case errors.Is(f.err, npy.ErrTooLarge), errors.Is(f.err, grayimg.ErrTooLarge):
		return tooLarge(f.limit, f.ptr, "%v", f.err)
	case errors.Is(f.err, npy.ErrFormat), errors.Is(f.err, npy.ErrUnsupported):
		return invalidField(codeInvalidValue, f.ptr, "%v", f.err)
	case errors.As(f.err, &ute) && ute.Field != "":
		return invalidField(codeInvalidValue, f.ptr+"/"+strings.ReplaceAll(ute.Field, ".", "/"),
			"must be %s, not a JSON %s", ute.Type.String(), ute.Value)
	case f.body:
		return badRequest("%s: %v", f.what, f.err)
	}
	return invalidField(codeInvalidValue, f.ptr, "%s: %v", f.what, f.err)
}

// tensorProblem is the answer to a fault of the tensor at ptr, whose size
// is bounded by the named limit.
func tensorProblem(te *tensor.Error, ptr, limit string) *apiError {
	switch te.Kind {
	case tensor.BadSyntax:
		return badRequest("%s is not valid JSON: %s", ptr, te.Msg)
	case tensor.TooLarge:
		return tooLarge(limit, ptr, "%s", te.Msg)
	case tensor.BadValue:
		return invalidField(codeInvalidValue, ptr+te.Pointer, "%s", te.Msg)
	}
	return invalidField(codeInvalidShape, ptr+te.Pointer, "%s", te.Msg)
}

// classify is the one place that maps errors to HTTP answers.
func classify(err error) *apiError {
	var ae *apiError
	var f *fault
	var fe *jobs.FieldError
	var pe *engine.ParamError
	switch {
	case errors.As(err, &f):
		return faultProblem(f)
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &pe):
		f := paramFields[pe.Param]
		if f.pointer == "" {
			f = paramField{"", codeInvalidValue}
		}
		return invalidField(f.code, f.pointer, "%s", pe.Msg)
	case errors.As(err, &fe):
		return invalidField(codeInvalidValue, fe.Pointer, "%s", fe.Detail)
	case errors.Is(err, jobs.ErrNotFound):
		return &apiError{status: http.StatusNotFound, code: codeNotFound, detail: "no job with this id"}
	case errors.Is(err, jobs.ErrActive):
		return &apiError{status: http.StatusConflict, code: codeConflict, detail: "the job is still queued or running; cancel it first"}
	case errors.Is(err, jobs.ErrQuota):
		return quotaExceeded(time.Second, "the principal's quota of queued and running jobs is reached")
	case errors.Is(err, jobs.ErrBusy):
		return &apiError{status: http.StatusServiceUnavailable, code: codeOverloaded, limit: "max_active_jobs",
			detail: "too many active training jobs; retry later"}
	case errors.Is(err, engine.ErrOverloaded):
		return &apiError{status: http.StatusServiceUnavailable, code: codeOverloaded, detail: "the engine's queue is full; retry later"}
	case errors.Is(err, engine.ErrClosed):
		return &apiError{status: http.StatusServiceUnavailable, code: codeOverloaded, detail: "the server is shutting down; retry later"}
	case errors.Is(err, context.Canceled):
		return clientGone()
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, code: codeOverloaded, detail: "the request took longer than the server allows; retry later"}
	default:
		return &apiError{status: http.StatusInternalServerError, code: codeInternal, detail: "internal error"}
	}
}

// writeError answers with the problem for err. Client faults log at info,
// server faults at error.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	log := s.log.With(zap.String("request_id", middleware.GetReqID(r.Context())), zap.String("error", clip(err.Error(), 4*maxQuoted)))
	switch {
	case ae.status >= 500 && ae.code != codeOverloaded:
		log.Error("request failed", zap.Int("status", ae.status))
	case errors.Is(err, context.Canceled):
		log.Info("request canceled by the client")
	default:
		log.Info("request refused", zap.Int("status", ae.status))
	}
	p := problem{
		Type:      "/problems/" + ae.code,
		Title:     problemTitles[ae.code],
		Status:    ae.status,
		Detail:    clip(ae.Error(), 4*maxQuoted),
		Instance:  clip(r.URL.Path, maxQuoted),
		RequestID: middleware.GetReqID(r.Context()),
		Limit:     ae.limit,
	}
	if ae.pointer != "" {
		p.Errors = []fieldError{{Pointer: clip(ae.pointer, 4*maxQuoted), Detail: clip(ae.detail, 4*maxQuoted)}}
	}
	if ae.status == http.StatusRequestTimeout {
		w.Header().Set("Connection", "close")
	}
	if ae.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
	}
	if ae.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(s.cfg.RetryAfterSeconds))
	}
	body, _ := json.Marshal(p) // a problem always encodes
	writeBody(w, r, ae.status, "application/problem+json", append(body, '\n'))
}

// writeJSON encodes v fully before it writes anything, so that an encoding
// failure is a clean 500 and never a half-written 200.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encode response: %w", err))
		return
	}
	writeBody(w, r, status, "application/json", append(body, '\n'))
}

// writeBody writes a rendered body, compressed when the client accepts it
// and it is large enough to gain.
func writeBody(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte) {
	body, enc := compressBody(r, body)
	if enc != "" {
		w.Header().Set("Content-Encoding", enc)
	}
	w.Header().Add("Vary", "Accept-Encoding")
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client that left cannot be told
}
