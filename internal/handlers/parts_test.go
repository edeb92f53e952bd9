package handlers_test

import (
	"bytes"
	"encoding/json"
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

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"go.uber.org/zap"

	"github.com/corr2d/corr2d/internal/grayimg"
	"github.com/corr2d/corr2d/internal/handlers"
	"github.com/corr2d/corr2d/internal/npy"
)

// form builds a multipart body from named parts; a part's content type is
// left out, as Python's requests and curl -F leave it generic.
func form(t testing.TB, parts map[string][]byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, name := range []string{"params", "input", "kernel", "target"} {
		data, ok := parts[name]
		if !ok {
			continue
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+name+`"; filename="`+name+`.bin"`)
		h.Set("Content-Type", "application/octet-stream")
		pw, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

func npyBytes(t testing.TB, a npy.Array) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := npy.Write(&buf, a); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (f *fixture) send(t *testing.T, method, path, contentType string, body []byte, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return f.v.Serve(t, f.srv, req)
}

func TestNPYInAndOutKeepsFloat32(t *testing.T) {
	f := newFixture(t, options{})
	ct, body := form(t, map[string][]byte{
		"input":  npyBytes(t, npy.Array{DType: npy.Float32, Shape: []int{3, 3}, F32: []float32{0, 1, 2, 3, 4, 5, 6, 7, 8}}),
		"kernel": npyBytes(t, npy.Array{DType: npy.Float32, Shape: []int{2, 2}, F32: []float32{0, 1, 2, 3}}),
	})
	rec := f.send(t, http.MethodPost, "/corr2d", ct, body, map[string]string{"Accept": "application/x-npy"})
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/x-npy" {
		t.Fatalf("status %d, type %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	a, err := npy.Read(rec.Body, npy.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := npy.Array{DType: npy.Float32, Shape: []int{2, 2}, F32: []float32{19, 25, 37, 43}}
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("answer mismatch (-want +got):\n%s", diff)
	}
	for _, phase := range []string{"decode;dur=", "queue;dur=", "compute;dur=", "encode;dur="} {
		if !strings.Contains(rec.Header().Get("Server-Timing"), phase) {
			t.Errorf("Server-Timing %q lacks %s", rec.Header().Get("Server-Timing"), phase)
		}
	}
}

func TestMultipartParamsOverrideTheDType(t *testing.T) {
	f := newFixture(t, options{})
	ct, body := form(t, map[string][]byte{
		"params": []byte(`{"dtype": "float64", "padding": "same"}`),
		"input":  npyBytes(t, npy.Array{DType: npy.Float32, Shape: []int{1, 3}, F32: []float32{1, 2, 3}}),
		"kernel": []byte(`[[1, 1, 1]]`),
	})
	rec := f.send(t, http.MethodPost, "/corr2d", ct, body, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got := strings.TrimSpace(rec.Body.String()); got != `{"output":[[3,6,5]],"shape":[1,3],"dtype":"float64","method":"direct"}` {
		t.Errorf("answer %s", got)
	}
}

func TestEdgeDetectionOnAnImage(t *testing.T) {
	f := newFixture(t, options{})
	img := image.NewGray(image.Rect(0, 0, 8, 6))
	for y := range 6 {
		for x := range 8 {
			if x < 2 || x >= 6 {
				img.SetGray(x, y, color.Gray{Y: 255})
			}
		}
	}
	var pic bytes.Buffer
	if err := png.Encode(&pic, img); err != nil {
		t.Fatal(err)
	}
	ct, body := form(t, map[string][]byte{"input": pic.Bytes(), "kernel": []byte(`[[1, -1]]`)})
	rec := f.send(t, http.MethodPost, "/corr2d", ct, body, nil)
	if got := strings.TrimSpace(rec.Body.String()); !strings.HasPrefix(got, `{"output":[[0,1,0,0,0,-1,0],`) {
		t.Fatalf("edges of the d2l image = %d %s", rec.Code, got)
	}
	ct, body = form(t, map[string][]byte{"input": pic.Bytes(), "kernel": []byte(`[[1, -1]]`), "params": []byte(`{"scale": "clip", "range": [-1, 1]}`)})
	rec = f.send(t, http.MethodPost, "/corr2d", ct, body, map[string]string{"Accept": "image/png"})
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/png" {
		t.Fatalf("status %d type %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	h, w, pix, err := grayimg.Decode(rec.Body, grayimg.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// -1 is black, 0 mid-gray (128/255), 1 white.
	if h != 6 || w != 7 || pix[1] != 1 || pix[5] != 0 || pix[0] != 128.0/255 {
		t.Errorf("edge image %dx%d, first row %v", h, w, pix[:7])
	}
}

func TestCompressedRequestsAndResponses(t *testing.T) {
	f := newFixture(t, options{})
	body := []byte(`{"input": ` + mustJSON(t, square(40)) + `, "kernel": [[1, -1]]}`)
	for _, enc := range []string{"gzip", "zstd"} {
		t.Run(enc, func(t *testing.T) {
			var buf bytes.Buffer
			var zw io.WriteCloser
			if enc == "gzip" {
				zw = gzip.NewWriter(&buf)
			} else {
				var err error
				if zw, err = zstd.NewWriter(&buf); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := zw.Write(body); err != nil {
				t.Fatal(err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			rec := f.send(t, http.MethodPost, "/corr2d", "application/json", buf.Bytes(),
				map[string]string{"Content-Encoding": enc, "Accept-Encoding": enc})
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != enc {
				t.Fatalf("status %d, Content-Encoding %q: %.200s", rec.Code, rec.Header().Get("Content-Encoding"), rec.Body)
			}
			var plain []byte
			var err error
			if enc == "gzip" {
				zr, gerr := gzip.NewReader(rec.Body)
				if gerr != nil {
					t.Fatal(gerr)
				}
				plain, err = io.ReadAll(zr)
			} else {
				zr, zerr := zstd.NewReader(rec.Body)
				if zerr != nil {
					t.Fatal(zerr)
				}
				plain, err = io.ReadAll(zr)
				zr.Close()
			}
			if err != nil || !bytes.HasPrefix(plain, []byte(`{"output":[[1,1,1,`)) {
				t.Errorf("decompressed answer %.60s (%v)", plain, err)
			}
		})
	}
}

func TestACompressedBombIsRefusedEarly(t *testing.T) {
	lim := handlers.DefaultLimits()
	lim.MaxBodyBytes = 1 << 20
	f := newFixture(t, options{limits: lim})
	// 64 MiB of spaces inflate from about 64 KiB of gzip.
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte("{\"input\": [[1]], \"kernel\": [[1]]" + strings.Repeat(" ", 64<<20) + "}")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	rec := f.send(t, http.MethodPost, "/corr2d", "application/json", buf.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	if p := decode[problem](t, rec); rec.Code != http.StatusRequestEntityTooLarge || p.Limit != "max_body_bytes" {
		t.Fatalf("status %d %+v, want 413 max_body_bytes", rec.Code, p)
	}
}

func TestBadPayloadsNameTheirPart(t *testing.T) {
	f := newFixture(t, options{})
	good := npyBytes(t, npy.Array{DType: npy.Float64, Shape: []int{2, 2}, F64: []float64{1, 2, 3, 4}})
	nan := npyBytes(t, npy.Array{DType: npy.Float64, Shape: []int{2, 2}, F64: []float64{1, 2, 3, math.NaN()}})
	inf32 := npyBytes(t, npy.Array{DType: npy.Float32, Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, float32(math.Inf(-1)), 6}})
	nan32 := npyBytes(t, npy.Array{DType: npy.Float32, Shape: []int{1, 2, 2}, F32: []float32{1, float32(math.NaN()), 3, 4}})
	truncated := good[:len(good)-3]
	tests := []struct {
		name    string
		parts   map[string][]byte
		status  int
		pointer string
	}{
		{"a truncated .npy", map[string][]byte{"input": truncated, "kernel": good}, 422, "/input"},
		{"a NaN in a .npy", map[string][]byte{"input": nan, "kernel": good}, 422, "/input/1/1"},
		{"an Inf in a float32 .npy", map[string][]byte{"input": inf32, "kernel": good}, 422, "/input/1/1"},
		{"a NaN in a float32 .npy kernel", map[string][]byte{"input": good, "kernel": nan32}, 422, "/kernel/0/0/1"},
		{"a part that is no tensor", map[string][]byte{"input": []byte("hello"), "kernel": good}, 422, "/input"},
		{"an unknown part", map[string][]byte{"input": good, "kernel": good, "target": good}, 422, "/target"},
		{"a tensor given twice", map[string][]byte{"input": good, "kernel": good, "params": []byte(`{"input": [[1]]}`)}, 422, "/input"},
		{"an unknown parameter", map[string][]byte{"input": good, "kernel": good, "params": []byte(`{"strides": 2}`)}, 422, "/strides"},
		{"a parameter in other case", map[string][]byte{"input": good, "kernel": good, "params": []byte(`{"Stride": 2}`)}, 422, "/Stride"},
		{"params with a repeated key", map[string][]byte{"input": good, "kernel": good, "params": []byte(`{"stride": 2, "stride": 1}`)}, 422, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct, body := form(t, tt.parts)
			rec := f.send(t, http.MethodPost, "/corr2d", ct, body, nil)
			p := decode[problem](t, rec)
			if rec.Code != tt.status || (tt.pointer != "" && (len(p.Errors) != 1 || p.Errors[0].Pointer != tt.pointer)) {
				t.Fatalf("status %d %+v, want %d naming %s", rec.Code, p, tt.status, tt.pointer)
			}
		})
	}
}

func TestUnacceptableAnswersAre406(t *testing.T) {
	f := newFixture(t, options{})
	for _, accept := range []string{"text/csv", "image/png"} {
		body := `{"input": [[[1, 2]]], "kernel": [[[[1]]]]}` // a 3-D answer cannot be an image
		rec := f.send(t, http.MethodPost, "/corr2d", "application/json", []byte(body), map[string]string{"Accept": accept})
		if rec.Code != http.StatusNotAcceptable {
			t.Errorf("Accept %s: status %d, want 406", accept, rec.Code)
		}
	}
}

func TestTrainingFromNPYParts(t *testing.T) {
	f := newFixture(t, options{})
	x := npy.Array{DType: npy.Float64, Shape: []int{6, 8}}
	y := npy.Array{DType: npy.Float64, Shape: []int{6, 7}}
	for range 6 {
		x.F64 = append(x.F64, 1, 1, 0, 0, 0, 0, 1, 1)
		y.F64 = append(y.F64, 0, 1, 0, 0, 0, -1, 0)
	}
	ct, body := form(t, map[string][]byte{
		"params": []byte(`{"kernel_size": [1, 2], "seed": 42, "steps": 3}`),
		"input":  npyBytes(t, x), "target": npyBytes(t, y),
	})
	rec := f.send(t, http.MethodPost, "/train", ct, body, nil)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if j := decode[jobView](t, rec); !strings.Contains(rec.Body.String(), `"dtype":"float64"`) || j.Steps != 3 {
		t.Errorf("job from .npy parts: %s", rec.Body)
	}
}

func TestTheMethodCanBeChosenAndIsReported(t *testing.T) {
	f := newFixture(t, options{})
	x := mustJSON(t, square(40))
	answers := map[string][]float64{}
	for _, method := range []string{"direct", "fft"} {
		body := `{"input": ` + x + `, "kernel": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "padding": "same", "method": "` + method + `"}`
		rec := f.send(t, http.MethodPost, "/corr2d", "application/json", []byte(body), nil)
		var resp struct {
			Output [][]float64 `json:"output"`
			Method string      `json:"method"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || rec.Code != http.StatusOK {
			t.Fatalf("method %s: %d %v", method, rec.Code, err)
		}
		if resp.Method != method || !strings.Contains(rec.Header().Get("Server-Timing"), `desc="`+method+`"`) {
			t.Errorf("method %s reported as %q, Server-Timing %q", method, resp.Method, rec.Header().Get("Server-Timing"))
		}
		for _, row := range resp.Output {
			answers[method] = append(answers[method], row...)
		}
	}
	for i, d := range answers["direct"] {
		if math.Abs(answers["fft"][i]-d) > 1e-10*400 {
			t.Fatalf("fft element %d = %v, direct %v", i, answers["fft"][i], d)
		}
	}
}

// FuzzMultipart sends arbitrary multipart bodies, seeded with real forms, to
// both routes: every answer must be a documented status, never a panic or 500.
func FuzzMultipart(f *testing.F) {
	good := npyBytes(f, npy.Array{DType: npy.Float32, Shape: []int{2, 2}, F32: []float32{1, 2, 3, 4}})
	for _, parts := range []map[string][]byte{
		{"input": good, "kernel": good},
		{"input": good, "kernel": []byte(`[[1]]`), "params": []byte(`{"padding": "same"}`)},
		{"input": good, "target": good, "params": []byte(`{"kernel_size": [1, 1]}`)},
		{"input": good[:20], "kernel": []byte("\x89PNG\r\n\x1a\n")},
	} {
		ct, body := form(f, parts)
		_, boundary, _ := strings.Cut(ct, "boundary=")
		f.Add(boundary, body)
	}
	fx := newFixture(f, options{log: zap.NewNop()})
	f.Fuzz(func(t *testing.T, boundary string, body []byte) {
		for _, path := range []string{"/corr2d", "/train"} {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
			rec := httptest.NewRecorder()
			fx.srv.ServeHTTP(rec, req)
			switch rec.Code {
			case 200, 202, 400, 413, 415, 422, 503:
			default:
				t.Fatalf("POST %s = %d: %s", path, rec.Code, rec.Body)
			}
		}
	})
}
