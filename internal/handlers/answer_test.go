package handlers_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/corr2d/corr2d/internal/npy"
)

// inflate decodes a body sent with the given Content-Encoding.
func inflate(t *testing.T, enc string, body []byte) []byte {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	switch enc {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("Content-Encoding %q", enc)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("inflating %s: %v", enc, err)
	}
	return plain
}

// A large answer is streamed: no Content-Length, the timing of the first
// three phases in the header and of all four in the trailer it announces,
// compressed on the way if the client allows it, and the same bytes
// whatever the coding.
func TestALargeAnswerIsStreamedWithATimingTrailer(t *testing.T) {
	f := newFixture(t, options{})
	body := []byte(`{"input": ` + mustJSON(t, square(200)) + `, "kernel": [[0.5, -0.25], [0.125, 1e-7]]}`)
	var plainAnswers [][]byte
	for _, enc := range []string{"", "gzip", "zstd"} {
		t.Run("coding="+enc, func(t *testing.T) {
			rec := f.send(t, http.MethodPost, "/corr2d", "application/json", body, map[string]string{"Accept-Encoding": enc})
			res := rec.Result()
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %.300s", rec.Code, rec.Body)
			}
			if got := res.Header.Get("Content-Encoding"); got != enc {
				t.Errorf("Content-Encoding %q, want %q", got, enc)
			}
			if res.Header.Get("Content-Length") != "" || res.Header.Get("Trailer") != "Server-Timing" {
				t.Errorf("Content-Length %q, Trailer %q; want none and Server-Timing", res.Header.Get("Content-Length"), res.Header.Get("Trailer"))
			}
			head, trailer := res.Header.Get("Server-Timing"), res.Trailer.Get("Server-Timing")
			if strings.Contains(head, "encode") || !strings.Contains(head, "compute;dur=") {
				t.Errorf("Server-Timing header %q, want decode, queue and compute only", head)
			}
			if !strings.HasPrefix(trailer, head+", encode;dur=") {
				t.Errorf("Server-Timing trailer %q, want the header's %q and encode", trailer, head)
			}
			plain := inflate(t, enc, rec.Body.Bytes())
			if len(plain) <= 64<<10 {
				t.Fatalf("the answer has %d bytes, too few to be streamed", len(plain))
			}
			var resp struct {
				Output [][]float64 `json:"output"`
				Shape  []int       `json:"shape"`
			}
			if err := json.Unmarshal(plain, &resp); err != nil || len(resp.Output) != 199 || len(resp.Output[0]) != 199 {
				t.Fatalf("answer %.100s…: %v", plain, err)
			}
			// square(n)[i][j] = i-j, so the output at (i, j) is
			// 0.5(i-j) - 0.25(i-j-1) + 0.125(i+1-j) + 1e-7(i-j).
			for i, row := range resp.Output {
				for j, v := range row {
					d := float64(i - j)
					if want := 0.5*d - 0.25*(d-1) + 0.125*(d+1) + 1e-7*d; math.Abs(v-want) > 1e-12 {
						t.Fatalf("output[%d][%d] = %v, want %v", i, j, v, want)
					}
				}
			}
			plainAnswers = append(plainAnswers, plain)
		})
	}
	for _, p := range plainAnswers[1:] {
		if !bytes.Equal(p, plainAnswers[0]) {
			t.Error("a compressed answer inflates to other bytes than the plain one")
		}
	}
}

// A small answer is sent whole, with its length and every phase's timing
// in the header.
func TestASmallAnswerIsSentWhole(t *testing.T) {
	f := newFixture(t, options{})
	for _, accept := range []string{"application/json", "application/x-npy", "image/png"} {
		rec := f.send(t, http.MethodPost, "/corr2d", "application/json",
			[]byte(`{"input": [[0, 1, 2], [3, 4, 5], [6, 7, 8]], "kernel": [[0, 1], [2, 3]]}`), map[string]string{"Accept": accept})
		res := rec.Result()
		if rec.Code != http.StatusOK || res.Header.Get("Content-Length") == "" || res.Header.Get("Trailer") != "" {
			t.Errorf("%s: status %d, Content-Length %q, Trailer %q", accept, rec.Code, res.Header.Get("Content-Length"), res.Header.Get("Trailer"))
		}
		if st := res.Header.Get("Server-Timing"); !strings.Contains(st, "encode;dur=") {
			t.Errorf("%s: Server-Timing %q lacks encode", accept, st)
		}
	}
}

// Sums of finite values can overflow. JSON and PNG cannot carry ±Inf: the
// client is told so before any answer starts; a .npy file carries them.
func TestAnOverflowingOutputIsRefusedBeforeTheAnswerStarts(t *testing.T) {
	f := newFixture(t, options{})
	body := []byte(`{"input": [[1e308, 1e308], [1e308, 1e308]], "kernel": [[10, 10]]}`)
	for _, accept := range []string{"application/json", "image/png"} {
		rec := f.send(t, http.MethodPost, "/corr2d", "application/json", body, map[string]string{"Accept": accept})
		p := decode[problem](t, rec)
		if rec.Code != http.StatusUnprocessableEntity || p.Type != "/problems/invalid-value" || !strings.Contains(p.Detail, "+Inf at /0/0") {
			t.Errorf("%s: status %d, problem %+v", accept, rec.Code, p)
		}
	}
	rec := f.send(t, http.MethodPost, "/corr2d", "application/json", body, map[string]string{"Accept": "application/x-npy"})
	if rec.Code != http.StatusOK {
		t.Fatalf("npy: status %d: %s", rec.Code, rec.Body)
	}
	a, err := npy.Read(rec.Body, npy.Limits{})
	if err != nil || len(a.F64) != 2 || !math.IsInf(a.F64[0], 1) {
		t.Errorf("npy answer %+v, %v; want [+Inf +Inf]", a, err)
	}
}

// Over a connection, the trailer arrives after the body.
func TestTheTimingTrailerCrossesAConnection(t *testing.T) {
	f := newFixture(t, options{})
	srv := httptest.NewServer(f.srv)
	defer srv.Close()
	client := &http.Client{Transport: f.v.Transport(t, nil)}
	body := `{"input": ` + mustJSON(t, square(200)) + `, "kernel": [[1, -1]]}`
	resp, err := client.Post(srv.URL+"/corr2d", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	head, trailer := resp.Header.Get("Server-Timing"), resp.Trailer.Get("Server-Timing")
	if resp.StatusCode != http.StatusOK || resp.ContentLength != -1 || !strings.HasPrefix(trailer, head+", encode;dur=") {
		t.Errorf("status %d, length %d, Server-Timing %q then %q", resp.StatusCode, resp.ContentLength, head, trailer)
	}
}
