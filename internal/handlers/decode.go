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
	"github.com/corr2d/corr2d/internal/tensor"
)

// tensorBody is a request whose tensor members do not go through
// encoding/json: in a JSON body, those the operation reads as operands are
// read by tensor.Read as the body streams in (see decodeJSON), and the
// others are taken raw; in a params part, they are all taken raw, to be read
// by tensor.Parse. Either way a large tensor is scanned once, with no
// generic intermediate.
type tensorBody interface {
	tensorFields() map[string]*json.RawMessage
}

func (req *corr2dRequest) tensorFields() map[string]*json.RawMessage {
	return map[string]*json.RawMessage{"input": &req.Input, "kernel": &req.Kernel}
}

func (req *trainRequest) tensorFields() map[string]*json.RawMessage {
	return map[string]*json.RawMessage{"input": &req.Input, "target": &req.Target, "init": &req.Init}
}

// decodeJSON reads a JSON object body strictly: one object, no unknown
// fields, within the body limit. Syntax faults are 400; a well-formed body
// with wrong types or fields is 422, named by its pointer. The tensors that
// specs name are read from the body as it streams in, so that the body is
// never held whole beside them, and returned as operands; the other
// members are decoded into v.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v tensorBody, specs map[string]partSpec, names []string) (map[string]operand, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return nil, &apiError{status: http.StatusUnsupportedMediaType, code: codeUnsupportedMedia,
				detail: "send the body as application/json"}
		}
	}
	limit := s.cfg.Limits.MaxBodyBytes
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	var size int64
	if r.ContentLength > 0 && r.ContentLength <= limit {
		body = &declaredBody{r: body, left: r.ContentLength}
		size = r.ContentLength
	}
	return decodeStream(body, size, limit, windowFor(size), v, specs, names)
}

// declaredBody is a body read to its declared length exactly: one that
// ends sooner is cut short, and one that goes on is refused.
type declaredBody struct {
	r    io.Reader
	left int64
}

func (b *declaredBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		var one [1]byte
		if m, _ := b.r.Read(one[:]); m > 0 {
			return 0, badRequest("the body is longer than its Content-Length")
		}
		return 0, io.EOF
	}
	n, err := b.r.Read(p[:min(int64(len(p)), b.left)])
	b.left -= int64(n)
	if errors.Is(err, io.EOF) && b.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// smallWindow is the window for a body of unknown length (a compressed
// one): most bodies are small, and a large one is read well enough.
const smallWindow = 256 << 10

// windowFor returns the window to read a body of size bytes through (0 if
// its size is not known): tensor.WindowSize, or less for a smaller body.
func windowFor(size int64) int {
	switch {
	case size == 0:
		return smallWindow
	case size < tensor.WindowSize:
		return int(size) + 1
	}
	return tensor.WindowSize
}

// decodeStream reads an object body from r (size bytes long, or 0 if that
// is not known) through a window of window bytes, as decodeObject and then
// jsonOperands read one from memory, with the same faults in the same
// order, except that the tensors named in specs are read by tensor.Read as
// they stream in. The faults of the body come first: a read error (too
// large a body, say), then malformed JSON or not one object with distinct
// keys, wherever it is in the body; then the other members' fields, as
// encoding/json decodes them; then the tensors, in the order of names.
func decodeStream(r io.Reader, size, limit int64, window int, v tensorBody, specs map[string]partSpec, names []string) (map[string]operand, error) {
	st := jsonscan.NewStream(r, window)
	raws := v.tensorFields()
	read := map[string]*streamed{}
	var rest []restMember
	fault, valid := st.Object(func(key string) jsonscan.Action {
		if spec, ok := specs[key]; ok && !atNull(st) {
			res := &streamed{}
			read[key] = res
			var at jsonscan.Resume
			res.t, at, res.err = tensor.Read(st, spec.lim, size)
			return jsonscan.Action{Read: true, Resume: at}
		}
		if dst, ok := raws[key]; ok {
			return jsonscan.Action{Capture: (*[]byte)(dst)}
		}
		rest = append(rest, restMember{key: key})
		return jsonscan.Action{Capture: &rest[len(rest)-1].value}
	})
	switch {
	case st.Err() != nil:
		return nil, decodeError(st.Err(), limit)
	case fault != nil && valid:
		// Well-formed, but not one object with distinct keys.
		return nil, invalidField(codeInvalidValue, "", "the body must be one JSON object with distinct keys: %s", fault.Msg)
	case fault != nil:
		return nil, badRequest("the body is not valid JSON: %v", fault)
	}
	if err := decodeRest(rest, v); err != nil {
		return nil, err
	}
	ops := map[string]operand{}
	for _, name := range names {
		spec, ptr := specs[name], "/"+name
		res, raw := read[name], *raws[name]
		switch {
		case raw != nil || res == nil:
			// Absent, null, or given under a key that encoding/json
			// matched to the field (case aside), whose value overrides
			// the exact key's, as decodeObject lets it.
			t, err := parseTensor(raw, ptr, spec.limit, spec.lim)
			if err != nil {
				return nil, err
			}
			ops[name] = operand{t: t}
		case res.err != nil:
			return nil, tensorError(res.err, ptr, spec.limit)
		default:
			ops[name] = operand{t: res.t}
		}
	}
	return ops, nil
}

// streamed is a tensor member as tensor.Read read it.
type streamed struct {
	t   tensor.Dense
	err error
}

// restMember is a member of the body that encoding/json decodes.
type restMember struct {
	key   string
	value []byte
}

// atNull reports whether the value at the stream's position starts like
// null: no tensor to stream, but an absent one (or malformed JSON).
func atNull(st *jsonscan.Stream) bool {
	b, i := st.Window(), st.Pos()
	return i < len(b) && b[i] == 'n'
}

// decodeRest decodes the members that are not tensors into v with
// encoding/json, which names unknown fields and wrong types.
func decodeRest(members []restMember, v tensorBody) error {
	rest := []byte{'{'}
	for i, m := range members {
		if i > 0 {
			rest = append(rest, ',')
		}
		k, _ := json.Marshal(m.key) // a string always encodes
		rest = append(rest, k...)
		rest = append(rest, ':')
		rest = append(rest, m.value...)
	}
	dec := json.NewDecoder(bytes.NewReader(append(rest, '}')))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, 0)
	}
	return nil
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
