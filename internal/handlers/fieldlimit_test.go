package handlers_test

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
)

// fieldLimit is the size of the largest member that is not a tensor.
const fieldLimit = 64 << 10

// Members that are not tensors (strings, parameters, unknown fields) and
// every key are held to 64 KiB: a longer one is a 413 naming the field, in
// a JSON body and in a params part alike. Lists of one number per channel
// are bounded like the tensors, not by this limit.
func TestFieldsOtherThanTensorsAreLimited(t *testing.T) {
	f := newFixture(t, options{})
	long := strings.Repeat("x", fieldLimit+1)
	ones := strings.Repeat("1,", fieldLimit/2) + "1"
	const operands = `"input": [[1, 2], [3, 4]], "kernel": [[1]]`
	for _, tt := range []struct {
		name, members string
		status        int
		pointer       string // "" for none
	}{
		{"a long operation", `"operation": "` + long + `"`, 413, "/operation"},
		{"a long padding list", `"padding": [` + ones + `]`, 413, "/padding"},
		{"a long unknown field", `"notes": {"text": "` + long + `"}`, 413, "/notes"},
		{"a long key", `"` + long + `": 1`, 413, ""},
		{"an operation just within the limit", `"operation": "` + long[:fieldLimit-2] + `"`, 422, "/operation"},
		{"a long bias list, one number per channel", `"bias": [` + ones + `]`, 422, "/bias"},
	} {
		body := `{` + operands + `, ` + tt.members + `}`
		check := func(t *testing.T, rec *httptest.ResponseRecorder) {
			t.Helper()
			p := decode[problem](t, rec)
			if rec.Code != tt.status || rec.Code == 413 && p.Limit != "max_field_bytes" {
				t.Fatalf("status %d, limit %q (%s); want %d naming max_field_bytes", rec.Code, p.Limit, p.Detail, tt.status)
			}
			if tt.pointer != "" && (len(p.Errors) != 1 || p.Errors[0].Pointer != tt.pointer) {
				t.Errorf("errors %+v, want the pointer %s", p.Errors, tt.pointer)
			}
			if rec.Body.Len() > 4096 {
				t.Errorf("the answer has %d bytes", rec.Body.Len())
			}
		}
		t.Run(tt.name+"/json", func(t *testing.T) {
			check(t, f.do(t, http.MethodPost, "/corr2d", body))
		})
		t.Run(tt.name+"/params", func(t *testing.T) {
			ct, form := form(t, map[string][]byte{"params": []byte(body)})
			check(t, f.send(t, http.MethodPost, "/corr2d", ct, form, nil))
		})
	}
}

// endless is a body of head and then of fill, n bytes in all, made as it
// is read, that counts what was read of it.
type endless struct {
	head []byte
	fill byte
	left int64
	read int64
}

func (e *endless) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), e.left)]
	n := copy(p, e.head)
	e.head = e.head[n:]
	for i := n; i < len(p); i++ {
		p[i] = e.fill
	}
	e.left -= int64(len(p))
	e.read += int64(len(p))
	return len(p), nil
}

// A 400 MiB string is refused once 64 KiB of it have been seen: the server
// reads no more than its window beyond, in a JSON body with or without a
// declared length, and in a params part.
func TestALongStringIsNotReadToItsEnd(t *testing.T) {
	f := newFixture(t, options{})
	const size = 400 << 20
	const most = 4 << 20 // the window, the multipart buffer and the limit, with room
	head := `{"input": [[1, 2]], "kernel": [[1]], "operation": "`
	for _, tt := range []struct {
		name     string
		declared bool
		params   bool
	}{
		{"json with its length", true, false},
		{"json of unknown length", false, false},
		{"a params part", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := &endless{head: []byte(head), fill: 'x', left: size}
			var r io.Reader = body
			ct := "application/json"
			length := int64(size)
			if tt.params {
				var pre bytes.Buffer
				mw := multipart.NewWriter(&pre)
				h := textproto.MIMEHeader{}
				h.Set("Content-Disposition", `form-data; name="params"`)
				if _, err := mw.CreatePart(h); err != nil {
					t.Fatal(err)
				}
				ct = mw.FormDataContentType()
				r = io.MultiReader(&pre, body)
				length += int64(pre.Len())
			}
			req := httptest.NewRequest(http.MethodPost, "/corr2d", r)
			req.Header.Set("Content-Type", ct)
			req.ContentLength = length
			if !tt.declared {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, req)
			p := decode[problem](t, rec)
			if rec.Code != http.StatusRequestEntityTooLarge || p.Limit != "max_field_bytes" ||
				len(p.Errors) != 1 || p.Errors[0].Pointer != "/operation" {
				t.Fatalf("status %d, limit %q, errors %+v (%s); want 413 naming /operation and max_field_bytes", rec.Code, p.Limit, p.Errors, p.Detail)
			}
			if body.read > most {
				t.Errorf("read %d bytes of the body, want at most %d", body.read, most)
			}
		})
	}
}
