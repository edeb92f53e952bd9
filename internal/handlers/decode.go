package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/corr2d/corr2d/internal/jsonscan"
)

// tensorBody is a request whose tensor members are taken from the body as
// they are, to be read by tensor.Parse, instead of going through
// encoding/json: a large tensor is then scanned once, with no copy.
type tensorBody interface {
	tensorFields() map[string]*json.RawMessage
}

func (req *corr2dRequest) tensorFields() map[string]*json.RawMessage {
	return map[string]*json.RawMessage{"input": &req.Input, "kernel": &req.Kernel}
}

func (req *trainRequest) tensorFields() map[string]*json.RawMessage {
	return map[string]*json.RawMessage{"input": &req.Input, "target": &req.Target, "init": &req.Init}
}

// decodeJSON reads a JSON object body into v strictly: one object, no
// unknown fields, within the body limit. Syntax faults are 400; a well-formed
// body with wrong types or fields is 422, named by its pointer.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v tensorBody) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &apiError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia,
				detail: "send the body as application/json"}
		}
	}
	limit := s.cfg.Limits.MaxBodyBytes
	body, err := readBody(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	if err != nil {
		return decodeError(err, limit)
	}
	return decodeObject(body, v)
}

// readBody reads a whole body into one buffer, sized up front when the
// length is known so that a large body is not copied while it grows.
func readBody(r io.Reader, length, limit int64) ([]byte, error) {
	if length > 0 && length <= limit {
		buf := make([]byte, length)
		n, err := io.ReadFull(r, buf)
		if err != nil {
			return buf[:n], err
		}
		// Anything beyond the declared length is an error of its own.
		var one [1]byte
		if m, _ := r.Read(one[:]); m > 0 {
			return nil, badRequest("the body is longer than its Content-Length")
		}
		return buf, nil
	}
	var buf bytes.Buffer
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// decodeObject splits body into its members: tensor members are kept as
// sub-slices of body, the rest are decoded by encoding/json, which names
// unknown fields and wrong types.
func decodeObject(body []byte, v tensorBody) error {
	tensors := v.tensorFields()
	rest := []byte{'{'}
	err := jsonscan.Object(body, func(key string, value []byte) error {
		if dst, ok := tensors[key]; ok {
			*dst = value
			return nil
		}
		if len(rest) > 1 {
			rest = append(rest, ',')
		}
		k, _ := json.Marshal(key) // a string always encodes
		rest = append(rest, k...)
		rest = append(rest, ':')
		rest = append(rest, value...)
		return nil
	})
	var syn *jsonscan.SyntaxError
	switch {
	case errors.As(err, &syn) && json.Valid(body):
		// Well-formed, but not one object with distinct keys.
		return invalidField(codeInvalidValue, "", "the body must be one JSON object with distinct keys: %s", syn.Msg)
	case errors.As(err, &syn):
		return badRequest("the body is not valid JSON: %v", err)
	case err != nil:
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(append(rest, '}')))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, 0)
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
