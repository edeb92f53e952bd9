package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

// decodeJSON reads a JSON object body into v strictly: one object, no
// unknown fields, within the body limit. Syntax faults are 400; a well-formed
// body with wrong types or fields is 422, named by its pointer.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &apiError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia,
				detail: "send the body as application/json"}
		}
	}
	limit := s.cfg.Limits.MaxBodyBytes
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err, limit)
		}
		return badRequest("the body must hold exactly one JSON object")
	}
	return nil
}

func decodeError(err error, limit int64) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		mbe    *http.MaxBytesError
		ae     *apiError
	)
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe):
		return tooLarge("max_body_bytes", "", "the body is larger than %d bytes", limit)
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty; send a JSON object")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("the body is not valid JSON: %v", err)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalidField(codeInvalidValue, "", "the body must be a JSON object")
		}
		return invalidField(codeInvalidValue, "/"+strings.ReplaceAll(typ.Field, ".", "/"),
			"must be %s, not a JSON %s", typ.Type.String(), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return invalidField(codeUnknownField, "/"+name, "is not a known field")
	default:
		return badRequest("the body could not be read: %v", err)
	}
}
