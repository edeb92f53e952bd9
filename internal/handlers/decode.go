package handlers

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
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
	// listFields are the members that hold one number per channel: bounded
	// by the tensors' limits, like the tensors, not by maxFieldBytes.
	listFields() []string
}

func (req *corr2dRequest) tensorFields() map[string]*json.RawMessage {
	return map[string]*json.RawMessage{"input": &req.Input, "kernel": &req.Kernel}
}

func (req *corr2dRequest) listFields() []string { return []string{"bias"} }

func (req *trainRequest) tensorFields() map[string]*json.RawMessage {
	return map[string]*json.RawMessage{"input": &req.Input, "target": &req.Target, "init": &req.Init}
}

func (req *trainRequest) listFields() []string { return []string{"init_bias"} }

// maxFieldBytes bounds each other member of a body, and every key, string
// and number in it: a longer one is refused with a 413 naming it as soon
// as it is seen to be longer, so that a 400 MiB string costs no more than
// the window it is read through.
const maxFieldBytes = 64 << 10

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
	return decodeStream(body, size, windowFor(size), v, specs, names)
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
// is not known) through a window of window bytes. The tensors named in
// specs are read by tensor.Read as they stream in; the other tensor fields
// are kept raw. The faults of the body come first: a read error (too large
// a body or field, say), then malformed JSON or not one object with
// distinct keys, wherever it is in the body; then the other members, in
// order (see decodeMembers); then the tensors named in names, in that
// order. A params part is read by it too, with no specs and no names, so
// both kinds of request have one set of rules and messages.
func decodeStream(r io.Reader, size int64, window int, v tensorBody, specs map[string]partSpec, names []string) (map[string]operand, error) {
	st := jsonscan.NewStream(r, window)
	st.SetMaxToken(maxFieldBytes)
	raws := v.tensorFields()
	lists := v.listFields()
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
		act := jsonscan.Action{Capture: &rest[len(rest)-1].value, Limit: maxFieldBytes}
		if slices.Contains(lists, key) {
			act.Limit = 0
		}
		return act
	})
	switch {
	case st.Err() != nil:
		return nil, bodyFault(st.Err(), "the body could not be read")
	case fault != nil && valid:
		// Well-formed, but not one object with distinct keys.
		return nil, invalidField(codeInvalidValue, "", "the body must be one JSON object with distinct keys: %s", fault.Msg)
	case fault != nil:
		return nil, badRequest("the body is not valid JSON: %v", fault)
	}
	if err := decodeMembers(rest, v, ""); err != nil {
		return nil, err
	}
	return operands(read, raws, specs, names)
}

// operands are the tensors named in names, in that order: those read as
// the body streamed in, and those kept raw, parsed now.
func operands(read map[string]*streamed, raws map[string]*json.RawMessage, specs map[string]partSpec, names []string) (map[string]operand, error) {
	ops := map[string]operand{}
	for _, name := range names {
		spec, ptr := specs[name], "/"+name
		res, raw := read[name], *raws[name]
		switch {
		case raw != nil || res == nil:
			// Absent, null, or kept raw.
			t, err := parseTensor(raw, ptr, spec.limit, spec.lim)
			if err != nil {
				return nil, err
			}
			ops[name] = operand{t: t}
		case res.err != nil:
			return nil, fieldFault(res.err, ptr, spec.limit, "")
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

// decodeMembers decodes an object's members into the struct v points to,
// one at a time in order, so that the first fault reported is the first
// member's. A key must be one of v's JSON names exactly, where
// encoding/json would let "Input" stand for "input". ptr is the object's
// JSON pointer ("" for the body).
func decodeMembers(members []restMember, v any, ptr string) error {
	names := map[string]bool{}
	jsonNames(reflect.TypeOf(v).Elem(), names)
	for _, m := range members {
		if !names[m.key] {
			return invalidField(codeUnknownField, memberPointer(ptr, m.key), "is not a known field")
		}
		k, _ := json.Marshal(m.key) // a string always encodes
		obj := append(append(append(append([]byte{'{'}, k...), ':'), m.value...), '}')
		if err := json.Unmarshal(obj, v); err != nil {
			return fieldFault(err, ptr, "", "cannot be decoded")
		}
	}
	return nil
}

// jsonNames adds the names encoding/json gives the fields of struct type t,
// and of the structs it embeds, to names.
func jsonNames(t reflect.Type, names map[string]bool) {
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			jsonNames(f.Type, names)
		case name != "":
			names[name] = true
		case f.IsExported():
			names[f.Name] = true
		}
	}
}

// decodeObject decodes the JSON object b, the value at ptr, into the
// struct v points to, as decodeStream decodes a body's other members.
func decodeObject(b []byte, v any, ptr string) error {
	st := jsonscan.FromBytes(b)
	var members []restMember
	fault, _ := st.Object(func(key string) jsonscan.Action {
		members = append(members, restMember{key: key})
		return jsonscan.Action{Capture: &members[len(members)-1].value}
	})
	if fault != nil {
		return invalidField(codeInvalidValue, ptr, "must be one JSON object with distinct keys: %s", fault.Msg)
	}
	return decodeMembers(members, v, ptr)
}
