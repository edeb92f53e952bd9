package handlers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/grayimg"
	"github.com/corr2d/corr2d/internal/npy"
	"github.com/corr2d/corr2d/internal/tensor"
)

// operand is a tensor from the request, with the dtype its encoding
// carried ("" for JSON and images, which have none of their own). A float32
// .npy keeps its values as they came, in f32, with t holding the shape
// only: a float32 request then reaches the engine without a float64 copy
// of its input and back.
type operand struct {
	t     tensor.Dense
	f32   []float32
	dtype string
}

// dense returns the operand with its values in float64.
func (op operand) dense() tensor.Dense {
	if op.f32 != nil {
		return tensor.Dense{Shape: op.t.Shape, Data: engine.Convert[float64](op.f32)}
	}
	return op.t
}

// values returns the values of f64 or, when f32 holds them, of f32, in T:
// the slice itself when it already is a []T, else a converted copy.
func values[T engine.Float](f64 []float64, f32 []float32) []T {
	if f32 != nil {
		if s, ok := any(f32).([]T); ok {
			return s
		}
		return engine.Convert[T](f32)
	}
	if s, ok := any(f64).([]T); ok {
		return s
	}
	return engine.Convert[T](f64)
}

// partSpec says how a tensor part is read: its limit and ranks.
type partSpec struct {
	limit string // the limit's name in problems
	lim   tensor.Limits
	// reserve takes from the request's memory reservation what an image
	// part will hold once decoded, before it is; nil reserves nothing.
	reserve func(int64) error
	// upfront is the declared length of the body the part is in (0 if
	// none): a .npy part's data of up to that many bytes is allocated at
	// once, since the body is admitted with memory for it, rather than
	// grown as it arrives (see npy.Limits.Upfront).
	upfront int64
}

// multipartBuffer is the read buffer in front of a multipart body.
const multipartBuffer = 1 << 20

// isMultipart reports whether the request is a multipart form.
func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// readParts reads a multipart/form-data request: each tensor part named in
// specs, as .npy, PNG/JPEG (a grayscale matrix, white 1, black 0) or JSON,
// told apart by their first bytes; and an optional "params" part holding
// the other fields as JSON, decoded strictly into params.
func (s *Server) readParts(w http.ResponseWriter, r *http.Request, specs map[string]partSpec, params tensorBody) (map[string]operand, error) {
	limited := http.MaxBytesReader(w, r.Body, s.cfg.Limits.MaxBodyBytes)
	// The multipart reader pulls 4 KiB at a time; a large buffer in front
	// of it turns a thousand small reads of the connection per megabyte
	// into one. A small body (or none declared) gets a small buffer.
	size := multipartBuffer
	if r.ContentLength >= 0 && r.ContentLength < int64(size) {
		size = int(r.ContentLength)
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{bufio.NewReaderSize(limited, size), limited}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest("the multipart body cannot be read: %v", err)
	}
	out := map[string]operand{}
	seenParams := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bodyFault(err, "the multipart body is malformed")
		}
		name := part.FormName()
		ptr := memberPointer("", name)
		_, seen := out[name]
		switch spec, ok := specs[name]; {
		case seen || (name == "params" && seenParams):
			return nil, invalidField(codeInvalidValue, ptr, "is given twice")
		case name == "params":
			// Read as a JSON body is, as it streams in, with the same
			// rules, messages and limits; its tensors are kept raw.
			seenParams = true
			if _, err := decodeStream(part, 0, smallWindow, params, nil, nil); err != nil {
				return nil, err
			}
		case ok:
			spec.reserve = reserveImage(r.Context())
			spec.upfront = max(r.ContentLength, 0)
			op, err := readOperand(part, ptr, spec)
			if err != nil {
				return nil, err
			}
			out[name] = op
		default:
			return nil, invalidField(codeUnknownField, ptr, "is not a known part")
		}
	}
	return out, nil
}

var (
	npyMagic  = []byte("\x93NUMPY")
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
)

// readOperand reads one tensor part, whatever its encoding.
func readOperand(part io.Reader, ptr string, spec partSpec) (operand, error) {
	br := bufio.NewReaderSize(part, 64<<10)
	head, _ := br.Peek(8)
	switch {
	case bytes.HasPrefix(head, npyMagic):
		a, err := npy.Read(br, npy.Limits{MaxElements: spec.lim.MaxElements, MaxRank: spec.lim.MaxRank, Upfront: spec.upfront})
		if err != nil {
			return operand{}, fieldFault(err, ptr, spec.limit, "cannot be read")
		}
		return fromNPY(a, ptr, spec)
	case bytes.HasPrefix(head, pngMagic), bytes.HasPrefix(head, jpegMagic):
		h, w, pix, err := grayimg.Decode(br, grayimg.Limits{MaxPixels: spec.lim.MaxElements, Reserve: spec.reserve})
		if err != nil {
			return operand{}, fieldFault(err, ptr, spec.limit, "is not a readable image")
		}
		return operand{t: tensor.Dense{Shape: []int{h, w}, Data: pix}}, nil
	default:
		raw, err := io.ReadAll(br)
		if err != nil {
			return operand{}, bodyFault(err, "the multipart body is malformed")
		}
		if !json.Valid(raw) {
			return operand{}, invalidField(codeInvalidValue, ptr, "must be a .npy file, a PNG or JPEG image, or JSON nested arrays")
		}
		t, err := parseTensor(raw, ptr, spec.limit, spec.lim)
		return operand{t: t}, err
	}
}

// fromNPY checks an array's rank and values and widens it to float64
// (exactly, for float32).
func fromNPY(a npy.Array, ptr string, spec partSpec) (operand, error) {
	if r := len(a.Shape); r < spec.lim.MinRank || (spec.lim.MaxRank > 0 && r > spec.lim.MaxRank) {
		return operand{}, invalidField(codeInvalidShape, ptr, "must have %d to %d dimensions, has %d", spec.lim.MinRank, spec.lim.MaxRank, r)
	}
	for _, d := range a.Shape {
		if d == 0 {
			return operand{}, invalidField(codeInvalidShape, ptr, "must not be empty, has shape %v", a.Shape)
		}
	}
	op := operand{t: tensor.Dense{Shape: a.Shape}, f32: a.F32, dtype: "float32"}
	if a.DType != npy.Float32 {
		op.t.Data, op.dtype = a.F64, "float64"
	}
	i, v := nonFinite(op.t.Data)
	if op.f32 != nil {
		i, v = nonFinite(op.f32)
	}
	if i >= 0 {
		return operand{}, invalidField(codeInvalidValue, ptr+indexPointer(i, a.Shape), "must be a finite number, not %v", v)
	}
	return op, nil
}

// nonFinite returns the index and value of the first NaN or ±Inf in s, or
// -1. Those are the floats whose exponent bits are all ones, which one mask
// finds faster than math.IsNaN and math.IsInf together.
func nonFinite[T engine.Float](s []T) (int, float64) {
	switch s := any(s).(type) {
	case []float32:
		for i, v := range s {
			if math.Float32bits(v)&0x7f800000 == 0x7f800000 {
				return i, float64(v)
			}
		}
	case []float64:
		for i, v := range s {
			if math.Float64bits(v)&0x7ff0000000000000 == 0x7ff0000000000000 {
				return i, v
			}
		}
	}
	return -1, 0
}

// indexPointer names the element at flat index i of an array of shape.
func indexPointer(i int, shape []int) string {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	var b strings.Builder
	for _, v := range idx {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(v))
	}
	return b.String()
}
