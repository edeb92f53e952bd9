package handlers_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/corr2d/corr2d/internal/admit"
	"github.com/corr2d/corr2d/internal/handlers"
)

// admissionServer serves a fixture whose requests share a budget of
// budget bytes, on a real listener, so that deadlines apply.
func admissionServer(t *testing.T, budget int64) (*fixture, *admit.Budget, *httptest.Server, *http.Client) {
	t.Helper()
	b, err := admit.New(budget, 50*time.Millisecond, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, options{handler: handlers.Config{
		Budget: b, BodyIdleTimeout: 300 * time.Millisecond, MinBodyRate: 1000, WriteIdleTimeout: time.Second,
	}})
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return f, b, ts, &http.Client{Transport: f.v.Transport(t, tr), Timeout: 10 * time.Second}
}

// answer is what post saw of a response.
type answer struct {
	StatusCode int
	Header     http.Header
}

func post(t *testing.T, c *http.Client, url, contentType string, body []byte) (answer, problem) {
	t.Helper()
	resp, err := c.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var p problem
	raw, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
	}
	return answer{resp.StatusCode, resp.Header}, p
}

const smallCorr2d = `{"input": [[1, 2], [3, 4]], "kernel": [[1]]}`

func TestAdmissionByTheMemoryBudget(t *testing.T) {
	_, b, ts, c := admissionServer(t, 4<<20)
	ctx := context.Background()

	resp, _ := post(t, c, ts.URL+"/corr2d", "application/json", []byte(smallCorr2d))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a small request within the budget: status %d, want 200", resp.StatusCode)
	}
	if got := b.Held(); got != 0 {
		t.Fatalf("budget held %d bytes after the request ended, want 0", got)
	}

	t.Run("a request waits, then 503 while others hold the budget", func(t *testing.T) {
		hold := b.Reserve()
		if err := hold.Grow(ctx, 3<<20+512<<10); err != nil {
			t.Fatal(err)
		}
		defer hold.Release()
		resp, p := post(t, c, ts.URL+"/corr2d", "application/json", []byte(smallCorr2d))
		if resp.StatusCode != http.StatusServiceUnavailable || p.Limit != "max_memory" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d, limit %q, Retry-After %q; want 503, max_memory and a Retry-After",
				resp.StatusCode, p.Limit, resp.Header.Get("Retry-After"))
		}
	})

	t.Run("a body that could decode to more than the budget is 413 before it is read", func(t *testing.T) {
		body := []byte(`{"input": [[` + strings.Repeat("1,", 1<<18) + `1]], "kernel": [[1]]}`)
		resp, p := post(t, c, ts.URL+"/corr2d", "application/json", body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || p.Limit != "max_memory" {
			t.Fatalf("status %d, limit %q; want 413 and max_memory", resp.StatusCode, p.Limit)
		}
	})

	t.Run("an image is reserved from its header, before its pixels are decoded", func(t *testing.T) {
		// 1024² 16-bit RGBA: a few KiB of PNG, 16 MiB once decoded.
		var img bytes.Buffer
		if err := png.Encode(&img, image.NewNRGBA64(image.Rect(0, 0, 1024, 1024))); err != nil {
			t.Fatal(err)
		}
		ct, body := form(t, map[string][]byte{"input": img.Bytes(), "kernel": []byte("[[1]]")})
		resp, p := post(t, c, ts.URL+"/corr2d", ct, body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || p.Limit != "max_memory" {
			t.Fatalf("status %d, limit %q; want 413 and max_memory", resp.StatusCode, p.Limit)
		}
	})

	if got := b.Held(); got != 0 {
		t.Fatalf("budget held %d bytes after every request ended, want 0", got)
	}
}

// rawRequest sends the head of a POST /corr2d with the given
// Content-Length and then body, on a connection of its own, and returns
// the connection and a reader of its answer.
func rawRequest(t *testing.T, ts *httptest.Server, length int64, body string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	head := fmt.Sprintf("POST /corr2d HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", length)
	if _, err := io.WriteString(conn, head+body); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(conn)
}

// readStatus reads an answer's status and whether it closes the
// connection.
func readStatus(t *testing.T, br *bufio.Reader) (status int, closes bool) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, resp.Close
}

func TestBodyLimitsAndTimeouts(t *testing.T) {
	f, b, ts, _ := admissionServer(t, 64<<20)

	t.Run("a declared length over max_body_bytes is 413 before the body is read", func(t *testing.T) {
		_, br := rawRequest(t, ts, 1<<40, "")
		if status, _ := readStatus(t, br); status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", status)
		}
	})

	t.Run("a stalled body is 408 and its connection is closed", func(t *testing.T) {
		_, br := rawRequest(t, ts, 1000, `{"input": [[1`)
		if status, closes := readStatus(t, br); status != http.StatusRequestTimeout || !closes {
			t.Fatalf("status %d, close %v; want 408 and a closed connection", status, closes)
		}
	})

	t.Run("a body slower than the minimum rate is 408", func(t *testing.T) {
		conn, br := rawRequest(t, ts, 1000, `{"input": [[1`)
		got := make(chan int, 1)
		go func() {
			status := 0
			if resp, err := http.ReadResponse(br, nil); err == nil {
				status = resp.StatusCode
				_ = resp.Body.Close()
			}
			got <- status
		}()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case status := <-got:
				if status != http.StatusRequestTimeout {
					t.Fatalf("status %d, want 408", status)
				}
				return
			case <-tick.C:
				_, _ = io.WriteString(conn, ",1") // a trickle, well under 1000 bytes/s
			}
		}
	})

	t.Run("a client that leaves mid-body is counted as 499", func(t *testing.T) {
		conn, _ := rawRequest(t, ts, 1000, `{"input": [[1`)
		time.Sleep(50 * time.Millisecond)
		_ = conn.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := requestCount(t, f.reg, "/corr2d", "499")
			if n == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("corr2d_http_requests_total{code=\"499\"} = %v, want 1", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	deadline := time.Now().Add(5 * time.Second)
	for b.Held() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := b.Held(); got != 0 {
		t.Fatalf("budget held %d bytes after every request ended, want 0", got)
	}
}

// requestCount returns corr2d_http_requests_total of a route and code.
func requestCount(t *testing.T, reg *prometheus.Registry, route, code string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() != "corr2d_http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["code"] == code {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func TestHeadOnEveryGetRoute(t *testing.T) {
	f := newFixture(t, options{})
	ts := httptest.NewServer(f.srv)
	defer ts.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	err := chi.Walk(f.srv.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if method != http.MethodGet {
			return nil
		}
		path := strings.ReplaceAll(route, "{id}", "01J000000000000000000NOJOB")
		get, err := c.Get(ts.URL + path)
		if err != nil {
			return err
		}
		_ = get.Body.Close()
		req, err := http.NewRequest(http.MethodHead, ts.URL+path, nil)
		if err != nil {
			return err
		}
		head, err := c.Do(req)
		if err != nil {
			return err
		}
		_ = head.Body.Close()
		if head.StatusCode != get.StatusCode || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q; GET: %d %q", route, head.StatusCode, head.Header.Get("Content-Type"),
				get.StatusCode, get.Header.Get("Content-Type"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRequestLinesAreSampled(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	f := newFixture(t, options{log: zap.New(core), handler: handlers.Config{LogSample: 2}})
	for range 10 {
		f.do(t, http.MethodGet, "/healthz", "")
	}
	if n := logs.FilterMessage("request").Len(); n < 2 || n > 6 {
		t.Fatalf("10 requests in a second with a sample of 2 wrote %d request lines, want 2 to 6", n)
	}
}

// A request that waits for its body gives its decode slot back: with one
// slot, a stalled upload does not hold up another request.
func TestStalledUploadHoldsNoDecodeSlot(t *testing.T) {
	f := newFixture(t, options{handler: handlers.Config{MaxDecodes: 1, DecodeWait: 50 * time.Millisecond}})
	ts := httptest.NewServer(f.srv)
	t.Cleanup(ts.Close)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: f.v.Transport(t, tr), Timeout: 10 * time.Second}

	// Sent as it is written: the validating transport would wait for the
	// whole body.
	raw := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	pr, pw := io.Pipe()
	stalled := make(chan int, 1)
	go func() {
		resp, err := raw.Post(ts.URL+"/corr2d", "application/json", pr)
		if err != nil {
			stalled <- 0
			return
		}
		_ = resp.Body.Close()
		stalled <- resp.StatusCode
	}()
	if _, err := io.WriteString(pw, `{"input": [[1, 2], `); err != nil {
		t.Fatal(err)
	}
	// The server has the stalled upload, reads its start and waits for
	// more: on a loaded machine a fixed pause alone could end before the
	// upload even reached the handler, and the requests below would then
	// pass without a stalled upload beside them.
	waitGauge(t, f.reg, "corr2d_http_requests_in_flight", "", 1)
	time.Sleep(100 * time.Millisecond)
	for range 3 {
		if resp, p := post(t, c, ts.URL+"/corr2d", "application/json", []byte(smallCorr2d)); resp.StatusCode != http.StatusOK {
			t.Fatalf("beside a stalled upload: status %d (%+v), want 200", resp.StatusCode, p)
		}
	}
	if _, err := io.WriteString(pw, `[3, 4]], "kernel": [[1]]}`); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	if code := <-stalled; code != http.StatusOK {
		t.Fatalf("the stalled upload, once complete: status %d, want 200", code)
	}
}

// A zstd body reserves its decoder's window, as its frame header declares
// it, before anything is inflated.
// sendEncoded posts body to /corr2d with Content-Encoding enc, chunked
// (of unknown length).
func sendEncoded(t *testing.T, c *http.Client, url, enc string, body []byte) (int, problem) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/corr2d", io.MultiReader(bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", enc)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var p problem
	_ = json.NewDecoder(resp.Body).Decode(&p)
	return resp.StatusCode, p
}

func TestLaterZstdFrameIsHeldToTheFirstFramesWindow(t *testing.T) {
	_, b, ts, c := admissionServer(t, 64<<20)
	// A first frame that declares a 64 KiB window, past one block so that
	// it declares a window rather than its size.
	var first bytes.Buffer
	zw, err := zstd.NewWriter(&first, zstd.WithWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(zw, smallCorr2d+strings.Repeat(" ", 300<<10))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	single, err := zstd.NewWriter(nil, zstd.WithSingleSegment(true))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = single.Close() }()
	for _, tc := range []struct {
		name     string
		later    int
		code     int
		limit    string
		detailIs string
	}{
		{"a later single-segment frame within the window", 32 << 10, http.StatusOK, "", ""},
		{"a later single-segment frame that declares 8 MiB", 8 << 20, http.StatusRequestEntityTooLarge, "max_memory", "window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := single.EncodeAll([]byte(strings.Repeat(" ", tc.later)), bytes.Clone(first.Bytes()))
			code, p := sendEncoded(t, c, ts.URL, "zstd", body)
			if code != tc.code || p.Limit != tc.limit || !strings.Contains(p.Detail, tc.detailIs) {
				t.Errorf("status %d, limit %q, detail %q; want %d, %q, with %q", code, p.Limit, p.Detail, tc.code, tc.limit, tc.detailIs)
			}
			if held := b.Held(); held != 0 {
				t.Errorf("the budget holds %d bytes after the request, want 0", held)
			}
		})
	}
}

func TestGzipStateIsReserved(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = io.WriteString(zw, smallCorr2d)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	// Reading an inflated body of unknown length takes 7 MiB of its own
	// (see TestZstdWindowIsReserved); the gzip decoder 64 KiB beside it.
	for _, tc := range []struct {
		name   string
		budget int64
		enc    string
		body   []byte
		code   int
	}{
		{"a chunked plain body fits 7 MiB", 7 << 20, "identity", []byte(smallCorr2d), http.StatusOK},
		{"a gzip body does not fit 7 MiB", 7 << 20, "gzip", gz.Bytes(), http.StatusServiceUnavailable},
		{"a gzip body fits 7 MiB and its decoder's state", 7<<20 + 64<<10, "gzip", gz.Bytes(), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, b, ts, c := admissionServer(t, tc.budget)
			// Chunked, so that both bodies are of unknown length.
			code, p := sendEncoded(t, c, ts.URL, tc.enc, tc.body)
			if code != tc.code || (code != http.StatusOK && p.Limit != "max_memory") {
				t.Errorf("status %d (%+v), want %d", code, p, tc.code)
			}
			if held := b.Held(); held != 0 {
				t.Errorf("the budget holds %d bytes after the request, want 0", held)
			}
		})
	}
}

func TestZstdWindowIsReserved(t *testing.T) {
	// Reading an inflated body of unknown length takes 7 MiB of its own.
	_, b, ts, c := admissionServer(t, 16<<20)
	send := func(window int) (int, problem) {
		t.Helper()
		var buf bytes.Buffer
		zw, err := zstd.NewWriter(&buf, zstd.WithWindowSize(window))
		if err != nil {
			t.Fatal(err)
		}
		// Past one block, so that the frame declares its window
		// rather than its size.
		_, _ = io.WriteString(zw, smallCorr2d+strings.Repeat(" ", 300<<10))
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return sendEncoded(t, c, ts.URL, "zstd", buf.Bytes())
	}
	if code, p := send(64 << 10); code != http.StatusOK {
		t.Fatalf("a zstd body with a 64 KiB window: status %d (%+v), want 200", code, p)
	}
	if held := b.Held(); held != 0 {
		t.Errorf("the budget holds %d bytes after the request, want 0", held)
	}
	// 32 MiB of window can never fit a budget of 16 MiB.
	if code, p := send(32 << 20); code != http.StatusRequestEntityTooLarge || p.Limit != "max_memory" {
		t.Fatalf("a zstd body with a 32 MiB window: status %d, limit %q; want 413 max_memory", code, p.Limit)
	}
}
