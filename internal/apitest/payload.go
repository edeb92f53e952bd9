package apitest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"maps"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// This file reads the payloads the contract allows besides JSON: bodies
// compressed with gzip or zstd, multipart forms whose tensor parts are .npy
// files, images or JSON, and .npy and PNG answers. Everything here is
// written from the contract, not shared with the service, so that a fault
// in the service's codecs cannot hide itself.

// maxInflated bounds how far the validator inflates a compressed body. The
// service's own limit is configuration and much lower; a body past this one
// is reported as undecodable rather than exhausting the test's memory.
const maxInflated = 256 << 20

// Magic numbers of the binary formats.
var (
	npyMagic  = []byte("\x93NUMPY")
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
)

// Media types of the binary answers.
const (
	mediaJSON = "application/json"
	mediaNPY  = "application/x-npy"
	mediaPNG  = "image/png"
)

// inflate returns body decoded as the Content-Encoding in header says:
// gzip (or x-gzip), zstd, or identity (also an absent header).
func inflate(header http.Header, body []byte) ([]byte, error) {
	coding := strings.ToLower(strings.TrimSpace(header.Get("Content-Encoding")))
	if coding == "" || coding == "identity" || len(body) == 0 {
		return body, nil
	}
	var r io.Reader
	switch coding {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("Content-Encoding %s: %w", coding, err)
		}
		defer func() { _ = zr.Close() }() // a reader of a complete buffer: nothing to flush
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(body), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxInflated))
		if err != nil {
			return nil, fmt.Errorf("Content-Encoding zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("Content-Encoding %q is not gzip, zstd or identity", coding)
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxInflated+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("Content-Encoding %s: %w", coding, err)
	case len(plain) > maxInflated:
		return nil, fmt.Errorf("Content-Encoding %s: the body inflates past %d bytes, more than apitest checks", coding, maxInflated)
	}
	return plain, nil
}

// acceptsCoding reports whether an Accept-Encoding header allows coding: it
// is named, or * is, with a q-value above zero (RFC 9110, section 12.5.3).
func acceptsCoding(header, coding string) bool {
	if coding == "x-gzip" {
		coding = "gzip"
	}
	q, wildcard := -1.0, -1.0
	for _, r := range mediaRanges(header) {
		switch {
		case strings.EqualFold(r.name, coding) || (coding == "gzip" && strings.EqualFold(r.name, "x-gzip")):
			q = max(q, r.q)
		case r.name == "*":
			wildcard = max(wildcard, r.q)
		}
	}
	if q < 0 {
		q = wildcard
	}
	return q > 0
}

// weighted is one element of an Accept or Accept-Encoding list.
type weighted struct {
	name string
	q    float64
}

// mediaRanges splits an Accept-style header into its elements, each with
// its q-value (1 when absent); an element that does not parse is left out.
func mediaRanges(header string) []weighted {
	var out []weighted
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		w := weighted{name: name, q: 1}
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					q = -1
				}
				w.q = q
			}
		}
		if w.q >= 0 {
			out = append(out, w)
		}
	}
	return out
}

// preferredAnswers returns the media types a POST /corr2d answer may have
// for an Accept header, as the contract chooses: each element names one of
// application/json (also */* and application/*), application/x-npy or
// image/png (also image/*), and the ones with the highest q-value above
// zero win (several, on a tie). No header means JSON; an empty result
// means the answer must be a 406.
func preferredAnswers(accept string) []string {
	if strings.TrimSpace(accept) == "" {
		return []string{mediaJSON}
	}
	best := map[string]float64{}
	for _, r := range mediaRanges(accept) {
		var media string
		switch r.name {
		case mediaJSON, "*/*", "application/*":
			media = mediaJSON
		case mediaNPY:
			media = mediaNPY
		case mediaPNG, "image/*":
			media = mediaPNG
		default:
			continue
		}
		best[media] = max(best[media], r.q)
	}
	top := 0.0
	for _, q := range best {
		top = max(top, q)
	}
	var out []string
	for media, q := range best {
		if q > 0 && q == top {
			out = append(out, media)
		}
	}
	slices.Sort(out)
	return out
}

// tensorPart is what a binary tensor part of a form holds, read from its
// header: a .npy array (with its values) or an image.
type tensorPart struct {
	kind  string    // "npy", "png" or "jpeg"
	shape []int     // outermost first; [H, W] for an image
	dtype string    // "float32" or "float64" for a .npy part
	data  []float64 // the values of a .npy part, widened exactly
}

// npyArray is a parsed .npy file.
type npyArray struct {
	dtype string
	shape []int
	data  []float64
}

var (
	npyDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// parseNPY reads a .npy file as the contract allows it: format 1.0, 2.0 or
// 3.0, a little-endian float32 or float64 array in C order, with exactly
// as many data bytes as the shape needs. The values are read only with
// values set.
func parseNPY(b []byte, values bool) (npyArray, error) {
	var a npyArray
	if !bytes.HasPrefix(b, npyMagic) {
		return a, errors.New(`it does not start with "\x93NUMPY"`)
	}
	if len(b) < 10 {
		return a, errors.New("the header is cut short")
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:10])), 10
	case 2, 3:
		if len(b) < 12 {
			return a, errors.New("the header is cut short")
		}
		hlen, start = int(binary.LittleEndian.Uint32(b[8:12])), 12
	default:
		return a, fmt.Errorf("format version %d.%d is not 1.0, 2.0 or 3.0", b[6], b[7])
	}
	if hlen > len(b)-start {
		return a, errors.New("the header is cut short")
	}
	header := string(b[start : start+hlen])
	data := b[start+hlen:]

	descr, fortran, shape := npyDescr.FindStringSubmatch(header), npyFortran.FindStringSubmatch(header), npyShape.FindStringSubmatch(header)
	if descr == nil || fortran == nil || shape == nil {
		return a, fmt.Errorf("the header %q lacks descr, fortran_order or shape", strings.TrimSpace(header))
	}
	size := 0
	switch descr[1] {
	case "<f4":
		a.dtype, size = "float32", 4
	case "<f8":
		a.dtype, size = "float64", 8
	default:
		return a, fmt.Errorf("dtype %q is not '<f4' or '<f8'", descr[1])
	}
	if fortran[1] != "False" {
		return a, errors.New("the array is in Fortran order, not C order")
	}
	n := 1
	for d := range strings.SplitSeq(shape[1], ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		v, err := strconv.Atoi(d)
		if err != nil || v < 0 || (v > 0 && n > math.MaxInt/size/v) {
			return a, fmt.Errorf("shape (%s) is not a tuple of sizes", shape[1])
		}
		a.shape = append(a.shape, v)
		n *= v
	}
	if len(data) != n*size {
		return a, fmt.Errorf("shape %v needs %d data bytes, the file has %d", a.shape, n*size, len(data))
	}
	if values {
		a.data = make([]float64, n)
		for i := range a.data {
			if size == 4 {
				a.data[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:])))
			} else {
				a.data[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
			}
		}
	}
	return a, nil
}

// readTensorPart reads a binary tensor part; ok is false for a part that
// is none of the binary formats (and so must be JSON).
func readTensorPart(b []byte) (p tensorPart, ok bool, err error) {
	switch {
	case bytes.HasPrefix(b, npyMagic):
		a, err := parseNPY(b, true)
		if err != nil {
			return p, true, fmt.Errorf("is not a .npy file the contract allows: %w", err)
		}
		if len(a.shape) < 2 || len(a.shape) > 4 {
			return p, true, fmt.Errorf("is a .npy array of rank %d, not 2 to 4", len(a.shape))
		}
		if slices.Contains(a.shape, 0) {
			return p, true, fmt.Errorf("is an empty .npy array, of shape %v", a.shape)
		}
		for i, v := range a.data {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return p, true, fmt.Errorf("holds %v at flat index %d; every value must be finite", v, i)
			}
		}
		return tensorPart{kind: "npy", shape: a.shape, dtype: a.dtype, data: a.data}, true, nil
	case bytes.HasPrefix(b, pngMagic):
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			return p, true, fmt.Errorf("is not a readable PNG: %w", err)
		}
		return tensorPart{kind: "png", shape: []int{cfg.Height, cfg.Width}}, true, nil
	case bytes.HasPrefix(b, jpegMagic):
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			return p, true, fmt.Errorf("is not a readable JPEG: %w", err)
		}
		return tensorPart{kind: "jpeg", shape: []int{cfg.Height, cfg.Width}}, true, nil
	}
	return p, false, nil
}

// submission is a request body as the contract reads it, whichever way it
// was sent: fields holds the JSON body, or the params part of a form with
// the tensors sent as JSON parts added; parts holds the tensors sent as
// .npy files or images, which have no JSON value.
type submission struct {
	fields map[string]any
	parts  map[string]tensorPart
}

// shape returns the dimensions of a tensor of the request, whether it was
// sent as JSON or as a binary part; ok is false when it is absent or not
// rectangular.
func (s submission) shape(name string) ([]int, bool) {
	if p, ok := s.parts[name]; ok {
		return p.shape, true
	}
	v, ok := s.fields[name]
	if !ok {
		return nil, false
	}
	return dims(v)
}

// defaultDType is the dtype the request computes in when it names none:
// that of a .npy input, else def.
func (s submission) defaultDType(def string) string {
	if p, ok := s.parts["input"]; ok && p.kind == "npy" {
		return p.dtype
	}
	return def
}

// readSubmission reads a request body of the operation for the semantic
// rules, and returns the faults that make it a request the contract
// forbids beyond what kin-openapi checks: for a multipart form, a tensor
// part that is none of the allowed formats, a tensor given both as a part
// and in params, and params whose fields, together with the parts, do not
// match the schema of the JSON body.
func readSubmission(op *openapi3.Operation, header http.Header, body []byte) (submission, []string) {
	var sub submission
	mt, params, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		if json.Unmarshal(body, &sub.fields) != nil {
			sub.fields = nil
		}
		return sub, nil
	}
	var faults []string
	sub.fields = map[string]any{}
	sub.parts = map[string]tensorPart{}
	jsonParts := map[string]any{}
	seen := map[string]bool{}
	var unreadable []string // tensor parts already reported
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sub, append(faults, fmt.Sprintf("the multipart body is malformed: %v", err))
		}
		name := part.FormName()
		data, err := io.ReadAll(part)
		if err != nil {
			return sub, append(faults, fmt.Sprintf("the multipart body is malformed: %v", err))
		}
		if seen[name] {
			faults = append(faults, fmt.Sprintf("part %q is given twice", name))
			continue
		}
		seen[name] = true
		if name == "params" {
			var p map[string]any
			if err := json.Unmarshal(data, &p); err != nil || p == nil {
				faults = append(faults, fmt.Sprintf("part \"params\" is not a JSON object: %.80q", data))
				continue
			}
			for k, v := range p {
				sub.fields[k] = v
			}
			continue
		}
		tp, binary, err := readTensorPart(data)
		switch {
		case err != nil:
			faults = append(faults, fmt.Sprintf("part %q %v", name, err))
			unreadable = append(unreadable, name)
		case binary:
			sub.parts[name] = tp
		default:
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				faults = append(faults, fmt.Sprintf("part %q is neither a .npy file, a PNG or JPEG image nor JSON: %.40q", name, data))
				unreadable = append(unreadable, name)
				continue
			}
			jsonParts[name] = v
		}
	}
	// A tensor comes either as a part or in params.
	for name := range seen {
		if _, inParams := sub.fields[name]; inParams && name != "params" {
			faults = append(faults, fmt.Sprintf("%s is given both as a part and in params", name))
		}
	}
	for name, v := range jsonParts {
		sub.fields[name] = v
	}

	// The fields and the parts together make a JSON body of the operation;
	// a binary part stands in as the smallest tensor for the schema check,
	// since it was checked above (as was an unreadable part, reported
	// already).
	if op.RequestBody == nil || op.RequestBody.Value.Content[mediaJSON] == nil {
		return sub, faults
	}
	whole := map[string]any{}
	for k, v := range sub.fields {
		whole[k] = v
	}
	for _, name := range append(slices.Collect(maps.Keys(sub.parts)), unreadable...) {
		if _, ok := whole[name]; !ok {
			whole[name] = []any{[]any{0.0}}
		}
	}
	schema := op.RequestBody.Value.Content[mediaJSON].Schema.Value
	if err := schema.VisitJSON(whole, openapi3.MultiErrors(), openapi3.VisitAsRequest(), openapi3.DisableSchemaErrorDetails()); err != nil {
		for _, line := range flatten(err) {
			faults = append(faults, "params and parts together: "+line)
		}
	}
	return sub, faults
}

// formDecoder decodes a multipart/form-data body whose schema is an object
// of string properties, as the contract's forms are. It differs from
// kin-openapi's decoder in what the contract needs: every part is kept as
// the raw string it is, whatever its Content-Type says (clients label .npy
// and PNG parts application/octet-stream or not at all); a part whose
// encoding names application/json (params) must hold a JSON object, but is
// still a string to the schema. Any other form goes to kin-openapi's
// decoder.
func formDecoder(body io.Reader, header http.Header, schema *openapi3.SchemaRef, encFn openapi3filter.EncodingFn) (any, error) {
	if !stringForm(schema) {
		return openapi3filter.MultipartBodyDecoder(body, header, schema, encFn)
	}
	_, params, err := mime.ParseMediaType(header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	obj := map[string]any{}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return obj, nil
		}
		if err != nil {
			return nil, err
		}
		name := part.FormName()
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, fmt.Errorf("part %s: %w", name, err)
		}
		if _, dup := obj[name]; dup {
			return nil, fmt.Errorf("part %s: given twice", name)
		}
		if enc := encFn(name); enc != nil && enc.ContentType != "" {
			ct, _, _ := strings.Cut(enc.ContentType, ";")
			if ct = strings.TrimSpace(ct); (ct == mediaJSON || strings.HasSuffix(ct, "+json")) && !json.Valid(data) {
				return nil, fmt.Errorf("part %s: not %s", name, ct)
			}
		}
		obj[name] = string(data)
	}
}

// stringForm reports whether schema is an object whose properties are all
// strings, the only kind of form formDecoder handles itself.
func stringForm(schema *openapi3.SchemaRef) bool {
	if schema == nil || schema.Value == nil || !schema.Value.Type.Is("object") || len(schema.Value.AllOf) > 0 {
		return false
	}
	for _, p := range schema.Value.Properties {
		if p.Value == nil || !p.Value.Type.Is("string") {
			return false
		}
	}
	return true
}

// binaryAnswer is what the header of a .npy or PNG answer says.
type binaryAnswer struct {
	shape []int
	dtype string // "" for an image
}

// readBinaryAnswer checks that a binary answer is what its Content-Type
// says: a .npy file of a float32 or float64 array in C order, or an 8-bit
// grayscale PNG. ok is false for any other media type.
func readBinaryAnswer(media string, body []byte) (a binaryAnswer, ok bool, err error) {
	switch media {
	case mediaNPY:
		arr, err := parseNPY(body, false)
		if err != nil {
			return a, true, fmt.Errorf("the %s answer is not a .npy file the contract allows: %w", media, err)
		}
		return binaryAnswer{shape: arr.shape, dtype: arr.dtype}, true, nil
	case mediaPNG:
		if !bytes.HasPrefix(body, pngMagic) {
			return a, true, fmt.Errorf(`the %s answer does not start with "\x89PNG\r\n\x1a\n"`, media)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(body))
		if err != nil {
			return a, true, fmt.Errorf("the %s answer is not a readable PNG: %w", media, err)
		}
		if cfg.ColorModel != color.GrayModel {
			return a, true, fmt.Errorf("the %s answer is not an 8-bit grayscale image", media)
		}
		return binaryAnswer{shape: []int{cfg.Height, cfg.Width}}, true, nil
	}
	return a, false, nil
}
