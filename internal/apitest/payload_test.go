package apitest_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/corr2d/corr2d/internal/apitest"
)

// npyFile writes a version 1.0 .npy file of a float32 ("<f4") or float64
// ("<f8") array, as numpy.save does.
func npyFile(t testing.TB, descr string, shape []int, values ...float64) []byte {
	t.Helper()
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	tuple := strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, tuple)
	// Magic, version, length and header are padded to a multiple of 64.
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	_ = binary.Write(&b, binary.LittleEndian, uint16(len(header)))
	b.WriteString(header)
	for _, v := range values {
		if descr == "<f4" {
			_ = binary.Write(&b, binary.LittleEndian, float32(v))
		} else {
			_ = binary.Write(&b, binary.LittleEndian, v)
		}
	}
	return b.Bytes()
}

// grayPNG encodes an h x w 8-bit grayscale image of the given levels.
func grayPNG(t testing.TB, h, w int, levels ...uint8) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	copy(img.Pix, levels)
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// part is one part of a multipart form; contentType empty leaves the
// header out, as Python's requests does.
type part struct {
	name, contentType string
	data              []byte
}

// multipartRequest builds a POST of a multipart/form-data body.
func multipartRequest(t testing.TB, target string, parts ...part) (*http.Request, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename="%s.bin"`, p.name, p.name))
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(p.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(b.Bytes()))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req, b.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func zstded(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = zw.Close() }() // EncodeAll wrote everything already
	return zw.EncodeAll(b, nil)
}

const d2lAnswer = `{"output": [[19,25],[37,43]], "shape": [2,2], "dtype": "float64"}`

func problemBody(kind string, status int) string {
	return fmt.Sprintf(`{"type": "/problems/%s", "title": "T", "status": %d, "detail": "d"}`, kind, status)
}

// Multipart requests: the tensors as .npy files, images or JSON parts,
// labelled however the client likes, and the other fields in params.
func TestCheckMultipartCorr2d(t *testing.T) {
	v := apitest.NewValidator(t)
	x32 := npyFile(t, "<f4", []int{3, 3}, 0, 1, 2, 3, 4, 5, 6, 7, 8)
	x64 := npyFile(t, "<f8", []int{3, 3}, 0, 1, 2, 3, 4, 5, 6, 7, 8)
	k := npyFile(t, "<f8", []int{2, 2}, 0, 1, 2, 3)
	img := grayPNG(t, 3, 3, 0, 255, 0, 255, 0, 255, 0, 255, 0)
	answer32 := strings.Replace(d2lAnswer, "float64", "float32", 1)
	tests := []struct {
		name     string
		parts    []part
		status   int
		body     string
		wantFail bool
		mention  []string
	}{
		{
			name:   ".npy parts labelled octet-stream",
			parts:  []part{{"input", "application/octet-stream", x64}, {"kernel", "application/octet-stream", k}},
			status: 200, body: d2lAnswer,
		},
		{
			name:   "a float32 .npy input makes float32 the default",
			parts:  []part{{"input", "", x32}, {"kernel", "", k}},
			status: 200, body: answer32,
		},
		{
			name:   "a float32 .npy input answered in float64 is drift",
			parts:  []part{{"input", "", x32}, {"kernel", "", k}},
			status: 200, body: d2lAnswer, wantFail: true, mention: []string{`the default "float32"`},
		},
		{
			name:   "params override the input's dtype",
			parts:  []part{{"params", "application/octet-stream", []byte(`{"dtype": "float64"}`)}, {"input", "", x32}, {"kernel", "text/plain", []byte(`[[0,1],[2,3]]`)}},
			status: 200, body: d2lAnswer,
		},
		{
			name:   "params labelled application/json",
			parts:  []part{{"params", "application/json", []byte(`{"kernel": [[0,1],[2,3]]}`)}, {"input", "image/png", img}},
			status: 200, body: d2lAnswer,
		},
		{
			name:   "an image input of the wrong size for the output is drift",
			parts:  []part{{"input", "", grayPNG(t, 4, 3, make([]uint8, 12)...)}, {"kernel", "", k}},
			status: 200, body: d2lAnswer, wantFail: true, mention: []string{"want (H-kh+1)x(W-kw+1) = 3x2"},
		},
		{
			name:   "a part that is no tensor answered 200 is drift",
			parts:  []part{{"input", "", []byte("hello")}, {"kernel", "", k}},
			status: 200, body: d2lAnswer, wantFail: true, mention: []string{"contract forbids", `part "input" is neither`},
		},
		{
			name:   "a part that is no tensor refused with 422 is fine",
			parts:  []part{{"input", "", []byte("hello")}, {"kernel", "", k}},
			status: 422, body: problemBody("invalid-value", 422),
		},
		{
			name:   "a truncated .npy answered 200 is drift",
			parts:  []part{{"input", "", x64[:len(x64)-3]}, {"kernel", "", k}},
			status: 200, body: d2lAnswer, wantFail: true, mention: []string{"needs 72 data bytes, the file has 69"},
		},
		{
			name:   "a NaN in a .npy answered 200 is drift",
			parts:  []part{{"input", "", npyFile(t, "<f8", []int{3, 3}, 0, 1, 2, 3, math.NaN(), 5, 6, 7, 8)}, {"kernel", "", k}},
			status: 200, body: d2lAnswer, wantFail: true, mention: []string{"must be finite"},
		},
		{
			name:   "a big-endian .npy answered 200 is drift",
			parts:  []part{{"input", "", npyFile(t, ">f8", []int{3, 3}, 0, 1, 2, 3, 4, 5, 6, 7, 8)}, {"kernel", "", k}},
			status: 200, body: d2lAnswer, wantFail: true, mention: []string{`dtype ">f8"`},
		},
		{
			name:   "a tensor both as a part and in params answered 200 is drift",
			parts:  []part{{"params", "", []byte(`{"input": [[1]]}`)}, {"input", "", x64}, {"kernel", "", k}},
			status: 200, body: d2lAnswer, wantFail: true, mention: []string{"input is given both as a part and in params"},
		},
		{
			name:   "a missing kernel answered 200 is drift",
			parts:  []part{{"input", "", x64}},
			status: 200, body: d2lAnswer, wantFail: true, mention: []string{"kernel"},
		},
		{
			name:   "an unknown field in params answered 200 is drift",
			parts:  []part{{"params", "", []byte(`{"strides": 2}`)}, {"input", "", x64}, {"kernel", "", k}},
			status: 200, body: d2lAnswer, wantFail: true, mention: []string{"strides"},
		},
		{
			name:   "params that are not JSON answered 200 is drift",
			parts:  []part{{"params", "", []byte(`stride=2`)}, {"input", "", x64}, {"kernel", "", k}},
			status: 200, body: d2lAnswer, wantFail: true, mention: []string{"params"},
		},
		{
			name:   "an unknown part answered 200 is drift",
			parts:  []part{{"input", "", x64}, {"kernel", "", k}, {"target", "", k}},
			status: 200, body: d2lAnswer, wantFail: true, mention: []string{"target"},
		},
		{
			name:   "an unknown part refused with 422 is fine",
			parts:  []part{{"input", "", x64}, {"kernel", "", k}, {"target", "", k}},
			status: 422, body: problemBody("unknown-field", 422),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, body := multipartRequest(t, "/corr2d", tt.parts...)
			header := corr2dHeader("application/json")
			if tt.status >= 400 {
				header = jsonHeader("application/problem+json")
			}
			expect(t, tt.wantFail, func(tb testing.TB) {
				v.Check(tb, req, body, tt.status, header, []byte(tt.body))
			}, tt.mention...)
		})
	}
}

func TestCheckMultipartTrain(t *testing.T) {
	v := apitest.NewValidator(t)
	x := npyFile(t, "<f8", []int{2, 3}, 1, 1, 0, 1, 1, 0)
	y := npyFile(t, "<f8", []int{2, 2}, 0, 1, 0, 1)
	echo := func(dtype, input string) string {
		return `{"id": "01J9Z3K4M5N6P7Q8R9S0T1V2W3", "status": "queued", "created_at": "2025-01-15T10:30:00Z",
		"step": 0, "steps": 10, "kernel": [[0.5, 0.5]], "init_kernel": [[0.5, 0.5]],
		"request": {"input": {"shape": ` + input + `, "dtype": "` + dtype + `"}, "target": {"shape": [2,2], "dtype": "` + dtype + `"}, "kernel_size": [1,2], ` +
			strings.Replace(geometryDefaults, "float32", dtype, 1) +
			`"lr": 0.03, "steps": 10, "loss": "sum", "seed": 42, ` + sgdEcho + `}}`
	}
	parts := []part{{"params", "", []byte(`{"kernel_size": [1, 2], "seed": 42}`)}, {"input", "", x}, {"target", "", y}}
	tests := []struct {
		name     string
		parts    []part
		job      string
		wantFail bool
		mention  string
	}{
		{"a float64 .npy input makes float64 the default", parts, echo("float64", "[2,3]"), false, ""},
		{"the float32 default for a float64 .npy input is drift", parts, echo("float32", "[2,3]"), true, `request.dtype is float32`},
		{"an echo of another shape than the .npy part is drift", parts, echo("float64", "[1,3]"), true, "request.input has shape 1x3, but the npy part was 2x3"},
		{"kernel_size missing from params is drift", []part{{"input", "", x}, {"target", "", y}}, echo("float64", "[2,3]"), true, "kernel_size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, body := multipartRequest(t, "/train", tt.parts...)
			h := jsonHeader("application/json")
			h.Set("Location", "/jobs/01J9Z3K4M5N6P7Q8R9S0T1V2W3")
			expect(t, tt.wantFail, func(tb testing.TB) {
				v.Check(tb, req, body, 202, h, []byte(tt.job))
			}, tt.mention)
		})
	}
}

// Answers negotiated by Accept, and the binary ones checked for what their
// Content-Type says.
func TestCheckBinaryAnswers(t *testing.T) {
	v := apitest.NewValidator(t)
	out32 := npyFile(t, "<f4", []int{2, 2}, 19, 25, 37, 43)
	out64 := npyFile(t, "<f8", []int{2, 2}, 19, 25, 37, 43)
	pic := grayPNG(t, 2, 2, 0, 85, 170, 255)
	rgba := func() []byte {
		img := image.NewRGBA(image.Rect(0, 0, 2, 2))
		img.Set(0, 0, color.White)
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}()
	const input3D = `{"input": [[[0,1,2],[3,4,5],[6,7,8]]], "kernel": [[[[0,1],[2,3]]]]}`
	tests := []struct {
		name     string
		reqBody  string
		accept   string
		status   int
		ct       string
		body     []byte
		vary     string
		wantFail bool
		mention  []string
	}{
		{name: "a .npy answer", accept: "application/x-npy", status: 200, ct: "application/x-npy", body: out64},
		{name: "a .npy answer preferred by q-value", accept: "application/json;q=0.5, application/x-npy", status: 200, ct: "application/x-npy", body: out64},
		{name: "a PNG answer", accept: "image/png", status: 200, ct: "image/png", body: pic},
		{name: "a PNG answer for image/*", accept: "image/*", status: 200, ct: "image/png", body: pic},
		{name: "JSON for */*", accept: "*/*", status: 200, ct: "application/json", body: []byte(d2lAnswer)},
		{name: "JSON without Accept", status: 200, ct: "application/json", body: []byte(d2lAnswer)},
		{
			name: "a .npy answer of the wrong dtype", accept: "application/x-npy", status: 200, ct: "application/x-npy", body: out32,
			wantFail: true, mention: []string{`dtype is "float32"`},
		},
		{
			name: "a .npy answer of the wrong shape", accept: "application/x-npy", status: 200, ct: "application/x-npy",
			body: npyFile(t, "<f8", []int{1, 4}, 19, 25, 37, 43), wantFail: true, mention: []string{"output is 1x4"},
		},
		{
			name: "a .npy answer without its magic", accept: "application/x-npy", status: 200, ct: "application/x-npy",
			body: []byte(d2lAnswer), wantFail: true, mention: []string{`\x93NUMPY`},
		},
		{
			name: "a PNG answer without its magic", accept: "image/png", status: 200, ct: "image/png",
			body: out64, wantFail: true, mention: []string{`\x89PNG`},
		},
		{
			name: "a PNG answer in color", accept: "image/png", status: 200, ct: "image/png",
			body: rgba, wantFail: true, mention: []string{"grayscale"},
		},
		{
			name: "a PNG of a 3-D output", reqBody: input3D, accept: "image/png", status: 200, ct: "image/png",
			body: pic, wantFail: true, mention: []string{"406"},
		},
		{
			name: "JSON when .npy was asked for", accept: "application/x-npy", status: 200, ct: "application/json",
			body: []byte(d2lAnswer), wantFail: true, mention: []string{"prefers application/x-npy"},
		},
		{
			name: "an answer to an Accept it cannot satisfy", accept: "text/csv", status: 200, ct: "application/json",
			body: []byte(d2lAnswer), wantFail: true, mention: []string{"must be refused with 406"},
		},
		{
			name: "an answer whose Vary leaves out Accept", status: 200, ct: "application/json",
			body: []byte(d2lAnswer), vary: "Accept-Encoding", wantFail: true, mention: []string{"does not name Accept"},
		},
		{name: "406 for text/csv", accept: "text/csv", status: 406, ct: "application/problem+json", body: []byte(problemBody("not-acceptable", 406))},
		{name: "406 for PNG of a 3-D output", reqBody: input3D, accept: "image/png", status: 406, ct: "application/problem+json", body: []byte(problemBody("not-acceptable", 406))},
		{
			name: "406 for PNG of a 2-D output", accept: "image/png", status: 406, ct: "application/problem+json",
			body: []byte(problemBody("not-acceptable", 406)), wantFail: true, mention: []string{"406, but Accept"},
		},
		{
			name: "406 for JSON", accept: "application/json", status: 406, ct: "application/problem+json",
			body: []byte(problemBody("not-acceptable", 406)), wantFail: true, mention: []string{"406, but Accept"},
		},
		{
			name: "a 406 problem of another type", accept: "text/csv", status: 406, ct: "application/problem+json",
			body: []byte(problemBody("invalid-value", 406)), wantFail: true, mention: []string{"type"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqBody := tt.reqBody
			if reqBody == "" {
				reqBody = d2lRequest
			}
			req := corr2dRequest(reqBody)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			header := corr2dHeader(tt.ct)
			if tt.vary != "" {
				header.Set("Vary", tt.vary)
			}
			expect(t, tt.wantFail, func(tb testing.TB) {
				v.Check(tb, req, []byte(reqBody), tt.status, header, tt.body)
			}, tt.mention...)
		})
	}
}

func TestCheckServerTiming(t *testing.T) {
	v := apitest.NewValidator(t)
	for value, wantFail := range map[string]bool{
		serverTiming: false,
		"":           true,
		"decode;dur=0.412, compute;dur=1.250, encode;dur=0.380":            true,
		"decode;dur=0.4ms, queue;dur=0.003, compute;dur=1, encode;dur=0.3": true,
	} {
		t.Run(value, func(t *testing.T) {
			header := jsonHeader("application/json")
			if value != "" {
				header.Set("Server-Timing", value)
			}
			expect(t, wantFail, func(tb testing.TB) {
				v.Check(tb, corr2dRequest(d2lRequest), []byte(d2lRequest), 200, header, []byte(d2lAnswer))
			}, "Server-Timing")
		})
	}
}

// Compressed bodies are checked as they were before compression, in both
// directions.
func TestCheckCompressedExchanges(t *testing.T) {
	v := apitest.NewValidator(t)
	bad := `{"output": [[19,25],[37,43]], "dtype": "float64"}`
	tests := []struct {
		name           string
		reqCoding      string // Content-Encoding of the request
		acceptEncoding string
		status         int
		respCoding     string
		body           string
		rawBody        []byte // sent instead of body, when set
		wantFail       bool
		mention        []string
	}{
		{name: "a gzip request", reqCoding: "gzip", status: 200, body: d2lAnswer},
		{name: "a zstd request", reqCoding: "zstd", status: 200, body: d2lAnswer},
		{name: "an identity request", reqCoding: "identity", status: 200, body: d2lAnswer},
		{name: "a gzip answer", acceptEncoding: "gzip", status: 200, respCoding: "gzip", body: d2lAnswer},
		{name: "a zstd answer to zstd and a gzip request", reqCoding: "gzip", acceptEncoding: "zstd, gzip;q=0.5", status: 200, respCoding: "zstd", body: d2lAnswer},
		{name: "a zstd answer to *", acceptEncoding: "*", status: 200, respCoding: "zstd", body: d2lAnswer},
		{
			name: "drift inside a gzip answer", acceptEncoding: "gzip", status: 200, respCoding: "gzip", body: bad,
			wantFail: true, mention: []string{"shape"},
		},
		{
			name: "drift inside a zstd answer to a zstd request", reqCoding: "zstd", acceptEncoding: "zstd", status: 200, respCoding: "zstd", body: bad,
			wantFail: true, mention: []string{"shape"},
		},
		{
			name: "a compressed answer the client did not ask for", status: 200, respCoding: "gzip", body: d2lAnswer,
			wantFail: true, mention: []string{`Accept-Encoding "" does not allow it`},
		},
		{
			name: "a compressed answer in a coding the client refused", acceptEncoding: "gzip, zstd;q=0", status: 200, respCoding: "zstd", body: d2lAnswer,
			wantFail: true, mention: []string{"does not allow it"},
		},
		{
			name: "an answer that does not inflate", acceptEncoding: "gzip", status: 200, respCoding: "gzip", rawBody: []byte("not gzip"),
			wantFail: true, mention: []string{"does not decode"},
		},
		{
			name: "a br request answered 200", reqCoding: "br", status: 200, body: d2lAnswer,
			wantFail: true, mention: []string{"contract forbids", "Content-Encoding"},
		},
		{
			name: "a br request refused with 415", reqCoding: "br", status: 415,
			body: problemBody("unsupported-media-type", 415),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqBody := []byte(d2lRequest)
			switch tt.reqCoding {
			case "gzip":
				reqBody = gzipped(t, reqBody)
			case "zstd":
				reqBody = zstded(t, reqBody)
			case "br":
				reqBody = []byte("\x0b\x02\x80{}\x03") // anything: the coding is the fault
			}
			req := httptest.NewRequest(http.MethodPost, "/corr2d", bytes.NewReader(reqBody))
			req.Header.Set("Content-Type", "application/json")
			if tt.reqCoding != "" {
				req.Header.Set("Content-Encoding", tt.reqCoding)
			}
			if tt.acceptEncoding != "" {
				req.Header.Set("Accept-Encoding", tt.acceptEncoding)
			}
			header := corr2dHeader("application/json")
			if tt.status >= 400 {
				header = jsonHeader("application/problem+json")
			}
			body := tt.rawBody
			switch {
			case body != nil:
			case tt.respCoding == "gzip":
				body = gzipped(t, []byte(tt.body))
			case tt.respCoding == "zstd":
				body = zstded(t, []byte(tt.body))
			default:
				body = []byte(tt.body)
			}
			if tt.respCoding != "" {
				header.Set("Content-Encoding", tt.respCoding)
			}
			expect(t, tt.wantFail, func(tb testing.TB) {
				v.Check(tb, req, reqBody, tt.status, header, body)
			}, tt.mention...)
		})
	}
}

// compressingCorr2d answers POST /corr2d as the service does when asked for
// compression: it inflates a gzip request and gzips its answer when the
// client accepts it.
func compressingCorr2d(t testing.TB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := io.Reader(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("handler: %v", err)
				return
			}
			body = zr
		}
		if b, err := io.ReadAll(body); err != nil || string(b) != d2lRequest {
			t.Errorf("handler got body %q, %v; want the d2l request", b, err)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Vary", "Accept, Accept-Encoding")
		w.Header().Set("Server-Timing", serverTiming)
		answer := []byte(d2lAnswer)
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			answer = gzipped(t, answer)
		}
		_, _ = w.Write(answer)
	})
}

func TestServeCompressed(t *testing.T) {
	v := apitest.NewValidator(t)
	expect(t, false, func(tb testing.TB) {
		req := httptest.NewRequest(http.MethodPost, "/corr2d", bytes.NewReader(gzipped(t, []byte(d2lRequest))))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", "gzip")
		req.Header.Set("Accept-Encoding", "gzip")
		rec := v.Serve(tb, compressingCorr2d(t), req)
		if rec.Header().Get("Content-Encoding") != "gzip" {
			t.Errorf("Content-Encoding = %q, want gzip", rec.Header().Get("Content-Encoding"))
		}
	})
}

// Through a real listener: a client that asks for gzip itself reads the
// compressed body it asked for, and the check sees the inflated one.
func TestTransportCompressed(t *testing.T) {
	v := apitest.NewValidator(t)
	srv := httptest.NewServer(compressingCorr2d(t))
	defer srv.Close()
	client := &http.Client{Transport: v.Transport(t, srv.Client().Transport)}

	for _, explicit := range []bool{true, false} {
		t.Run(fmt.Sprintf("explicit Accept-Encoding %v", explicit), func(t *testing.T) {
			expect(t, false, func(tb testing.TB) {
				client.Transport = v.Transport(tb, srv.Client().Transport)
				req, err := http.NewRequest(http.MethodPost, srv.URL+"/corr2d", bytes.NewReader(gzipped(t, []byte(d2lRequest))))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Content-Encoding", "gzip")
				if explicit {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if explicit {
					// The caller asked for gzip, so it gets gzip to read.
					zr, err := gzip.NewReader(bytes.NewReader(body))
					if err != nil {
						t.Fatalf("body is not gzip: %v", err)
					}
					if body, err = io.ReadAll(zr); err != nil {
						t.Fatal(err)
					}
				}
				if string(body) != d2lAnswer {
					t.Errorf("body = %q, want %s", body, d2lAnswer)
				}
			})
		})
	}
}

func TestServeMultipart(t *testing.T) {
	v := apitest.NewValidator(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			t.Errorf("handler: %v", err)
		}
		w.Header().Set("Content-Type", "application/x-npy")
		w.Header().Set("Vary", "Accept, Accept-Encoding")
		w.Header().Set("Server-Timing", serverTiming)
		_, _ = w.Write(npyFile(t, "<f4", []int{2, 2}, 19, 25, 37, 43))
	})
	expect(t, false, func(tb testing.TB) {
		req, _ := multipartRequest(t, "/corr2d",
			part{"input", "", npyFile(t, "<f4", []int{3, 3}, 0, 1, 2, 3, 4, 5, 6, 7, 8)},
			part{"kernel", "", []byte(`[[0, 1], [2, 3]]`)})
		req.Header.Set("Accept", "application/x-npy")
		if rec := v.Serve(tb, h, req); rec.Code != 200 {
			t.Errorf("status %d", rec.Code)
		}
	})
}
