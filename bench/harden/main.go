// Command harden loads a running corr2d server the way a hostile client
// would, all at once, and reports whether it held: the server's peak
// resident memory, the status of every request, and the latency of
// /healthz meanwhile.
//
//	go build -o /tmp/corr2d ./cmd/server
//	go run ./bench/harden -server /tmp/corr2d            # starts it with --memory-budget 4GiB
//	go run ./bench/harden -url http://127.0.0.1:8080 -pid 1234   # a server already running
//
// The load, by default: 64 concurrent JSON requests of a 4096×4096 input
// (the largest max_elements allows), 32 concurrent multipart requests of a
// 4096×4096 16-bit RGBA PNG, and 3000 slow uploads that declare a 1 MiB
// multipart body and trickle it at a few bytes a second. Bodies are
// generated as they are sent, so the client holds almost nothing. It talks
// to loopback only, and stops the server it started if the server's
// resident memory passes -abort-rss.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

type options struct {
	server, url        string
	pid                int
	budget             string
	jsonN, pngN, slowN int
	side               int
	slowSize           int
	timeout            time.Duration
	abortRSS           int64
	accept             string
}

func main() {
	var o options
	flag.StringVar(&o.server, "server", "", "a built corr2d binary to start on loopback (else -url and -pid)")
	flag.StringVar(&o.url, "url", "", "base URL of a running server on this host")
	flag.IntVar(&o.pid, "pid", 0, "process id of the running server, for its peak memory")
	flag.StringVar(&o.budget, "budget", "4GiB", "--memory-budget of the server this starts")
	flag.IntVar(&o.jsonN, "json", 64, "concurrent JSON requests of a side×side input")
	flag.IntVar(&o.pngN, "png", 32, "concurrent multipart requests of a side×side 16-bit RGBA PNG")
	flag.IntVar(&o.slowN, "slow", 3000, "concurrent slow uploads")
	flag.IntVar(&o.side, "side", 4096, "side of the square inputs")
	flag.IntVar(&o.slowSize, "slow-size", 1<<20, "declared body size of a slow upload")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "longest the run may take")
	flag.Int64Var(&o.abortRSS, "abort-rss", 7<<30, "stop the server this started if its resident memory passes this many bytes")
	flag.StringVar(&o.accept, "accept", "application/x-npy", "Accept of the JSON and PNG requests")
	probeURL := flag.String("probe", "", "(used by harden itself) time GET /healthz of this base URL until standard input closes, then print the probes")
	flag.Parse()
	if *probeURL != "" {
		probeMain(*probeURL)
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "harden:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if o.server != "" {
		stop, base, pid, err := startServer(ctx, o)
		if err != nil {
			return err
		}
		defer stop()
		o.url, o.pid = base, pid
	}
	if o.url == "" || o.pid == 0 {
		return errors.New("give -server, or -url and -pid")
	}
	if u, err := url.Parse(o.url); err != nil || !isLoopback(u.Hostname()) {
		return fmt.Errorf("-url %q: only loopback servers are loaded", o.url)
	}

	img, err := pngOf(o.side)
	if err != nil {
		return err
	}
	fmt.Printf("load: %d JSON %d², %d PNG %d² (%d KiB each), %d slow uploads of %d bytes; server pid %d\n",
		o.jsonN, o.side, o.pngN, o.side, len(img)>>10, o.slowN, o.slowSize, o.pid)

	var tally tally
	tr := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 256, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: o.timeout}

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	stopProbe, err := startProber(ctx, o.url)
	if err != nil {
		return err
	}
	peak := make(chan int64, 1)
	go func() { peak <- watch(loadCtx, o, stopLoad) }()

	start := time.Now()
	var wg sync.WaitGroup
	for range o.slowN {
		wg.Go(func() { tally.add("slow", slowUpload(ctx, o.url, o.slowSize)) })
	}
	for range o.jsonN {
		wg.Go(func() { tally.add("json", jsonRequest(ctx, client, o)) })
	}
	for range o.pngN {
		wg.Go(func() { tally.add("png", pngRequest(ctx, client, o, img)) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopLoad()
	lat, err := stopProbe()
	if err != nil {
		return err
	}
	hwm := <-peak
	if h, err := vmHWM(o.pid); err == nil {
		hwm = max(hwm, h)
	}

	fmt.Printf("done in %v\n", elapsed.Round(time.Millisecond))
	tally.print()
	fmt.Printf("server peak RSS (VmHWM): %d MiB\n", hwm>>20)
	printProbes(lat, start)
	return nil
}

// printProbes reports the /healthz latencies: quantiles, and when in the
// run the slowest probes were sent.
func printProbes(probes []sample, start time.Time) {
	if len(probes) == 0 {
		return
	}
	slices.SortFunc(probes, func(a, b sample) int { return int(a.took - b.took) })
	q := func(p float64) time.Duration { return probes[min(len(probes)-1, int(p*float64(len(probes))))].took }
	fmt.Printf("/healthz: %d probes, p50 %v, p99 %v, max %v\n", len(probes), q(0.5).Round(time.Microsecond),
		q(0.99).Round(time.Microsecond), probes[len(probes)-1].took.Round(time.Microsecond))
	var slowest []string
	for _, p := range probes[max(0, len(probes)-5):] {
		slowest = append(slowest, fmt.Sprintf("%v at +%v", p.took.Round(time.Millisecond), p.at.Sub(start).Round(100*time.Millisecond)))
	}
	fmt.Printf("/healthz slowest: %s\n", strings.Join(slowest, ", "))
}

func get(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// startServer starts the binary on a free loopback port with a fresh data
// directory and the budget, and waits until it is ready.
func startServer(ctx context.Context, o options) (stop func(), base string, pid int, err error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", 0, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	dir, err := os.MkdirTemp("", "corr2d-harden-")
	if err != nil {
		return nil, "", 0, err
	}
	// Not bound to ctx: stop ends it gently, with an interrupt.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), o.server, "--addr", addr, "--data-dir", filepath.Join(dir, "data"),
		"--memory-budget", o.budget, "--drain-delay", "0", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", 0, err
	}
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = os.RemoveAll(dir)
	}
	base = "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := get(ctx, http.DefaultClient, base+"/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop, base, cmd.Process.Pid, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, "", 0, errors.New("the server never became ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tally counts outcomes by kind of request.
type tally struct {
	mu     sync.Mutex
	counts map[string]map[string]int
}

func (t *tally) add(kind, outcome string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.counts == nil {
		t.counts = map[string]map[string]int{}
	}
	if t.counts[kind] == nil {
		t.counts[kind] = map[string]int{}
	}
	t.counts[kind][outcome]++
}

func (t *tally) print() {
	for _, kind := range []string{"json", "png", "slow"} {
		m := t.counts[kind]
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
		}
		fmt.Printf("%-5s %s\n", kind, strings.Join(parts, " "))
	}
}

// outcome names a request's end: its status, with a 503 that lacks
// Retry-After marked, or its error.
func outcome(resp *http.Response, err error) string {
	if err != nil {
		return "error:" + shortErr(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	s := strconv.Itoa(resp.StatusCode)
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		s += "-without-Retry-After"
	}
	return s
}

func shortErr(err error) string {
	s := err.Error()
	for _, k := range []string{"connection reset", "broken pipe", "EOF", "timeout", "refused"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	if len(s) > 60 {
		s = s[len(s)-60:]
	}
	return s
}

// jsonRequest sends {"input": side×side numbers, "kernel": 3×3}, generated
// as it is sent, with its Content-Length declared.
func jsonRequest(ctx context.Context, c *http.Client, o options) string {
	body, n := jsonBody(o.side)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url+"/corr2d", body)
	if err != nil {
		return "error:" + err.Error()
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", o.accept)
	return outcome(c.Do(req))
}

// number is every input value: fixed width, so the length is known.
const number = "0.12345678"

func jsonBody(side int) (io.Reader, int64) {
	head := `{"kernel": [[1,2,1],[2,4,2],[1,2,1]], "input": [`
	row := "[" + strings.Repeat(number+",", side-1) + number + "]"
	tail := "]}"
	n := int64(len(head)) + int64(side)*int64(len(row)) + int64(side-1) + int64(len(tail))
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 256<<10)
		_, err := bw.WriteString(head)
		for i := 0; i < side && err == nil; i++ {
			if i > 0 {
				err = bw.WriteByte(',')
			}
			if err == nil {
				_, err = bw.WriteString(row)
			}
		}
		if err == nil {
			_, err = bw.WriteString(tail)
		}
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr, n
}

// pngOf encodes a side×side 16-bit RGBA gradient: small on the wire,
// 8 bytes a pixel once decoded.
func pngOf(side int) ([]byte, error) {
	img := image.NewNRGBA64(image.Rect(0, 0, side, side))
	for y := range side {
		for x := range side {
			img.SetNRGBA64(x, y, color.NRGBA64{R: uint16(x * 16), G: uint16(y * 16), B: 0x8000, A: 0xffff})
		}
	}
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func pngRequest(ctx context.Context, c *http.Client, o options, img []byte) string {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range []struct {
		name string
		data []byte
	}{{"input", img}, {"kernel", []byte("[[1,2,1],[2,4,2],[1,2,1]]")}} {
		w, err := mw.CreateFormFile(p.name, p.name)
		if err == nil {
			_, err = w.Write(p.data)
		}
		if err != nil {
			return "error:" + err.Error()
		}
	}
	if err := mw.Close(); err != nil {
		return "error:" + err.Error()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url+"/corr2d", &buf)
	if err != nil {
		return "error:" + err.Error()
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", o.accept)
	return outcome(c.Do(req))
}

// slowUpload declares a multipart body of size bytes, sends its start, and
// then one byte every two seconds until the server answers.
func slowUpload(ctx context.Context, base string, size int) string {
	u, _ := url.Parse(base)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return "error:" + shortErr(err)
	}
	defer func() { _ = conn.Close() }()
	head := fmt.Sprintf("POST /corr2d HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n"+
		"--b\r\nContent-Disposition: form-data; name=\"input\"; filename=\"x\"\r\n\r\n[[", u.Host, size)
	if _, err := io.WriteString(conn, head); err != nil {
		return "error:" + shortErr(err)
	}
	answer := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		answer <- outcome(resp, err)
	}()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case s := <-answer:
			return s
		case <-ctx.Done():
			_ = conn.Close()
			return "no-answer"
		case <-tick.C:
			_, _ = io.WriteString(conn, "1")
		}
	}
}

// startProber times /healthz from a process of its own, as a monitor
// would: in this one, the thousands of load goroutines would delay the
// probe itself. stop ends it and returns its probes.
func startProber(ctx context.Context, base string) (stop func() ([]sample, error), err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// Not bound to ctx's end: stop ends it by closing its input.
	cmd := exec.CommandContext(context.WithoutCancel(ctx), exe, "-probe", base)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return func() ([]sample, error) {
		_ = stdin.Close()
		if err := cmd.Wait(); err != nil {
			return nil, fmt.Errorf("prober: %w", err)
		}
		var probes []sample
		for line := range strings.Lines(out.String()) {
			var at, took int64
			if _, err := fmt.Sscan(line, &at, &took); err != nil {
				return nil, fmt.Errorf("prober said %q: %w", line, err)
			}
			probes = append(probes, sample{time.Unix(0, at), time.Duration(took)})
		}
		return probes, nil
	}, nil
}

// probeMain is the prober's process: it probes until its standard input
// closes, then prints each probe as its start in Unix nanoseconds and its
// duration in nanoseconds.
func probeMain(base string) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	w := bufio.NewWriter(os.Stdout)
	for _, p := range probe(ctx, base) {
		_, _ = fmt.Fprintln(w, p.at.UnixNano(), int64(p.took))
	}
	_ = w.Flush()
}

// sample is one probe: when it was sent and how long it took.
type sample struct {
	at   time.Time
	took time.Duration
}

// probe times GET /healthz every 50 ms on a connection of its own until
// ctx ends.
func probe(ctx context.Context, base string) []sample {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var lat []sample
	for ctx.Err() == nil {
		start := time.Now()
		resp, err := get(ctx, c, base+"/healthz")
		d := time.Since(start)
		if ctx.Err() != nil {
			break // the run ended during this probe
		}
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				d = 10 * time.Second // counts as a failure at the top of the distribution
			}
		} else {
			d = 10 * time.Second
		}
		lat = append(lat, sample{start, d})
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return lat
}

// watch polls the server's resident memory, returns its peak, and ends
// the load (abort) if it passes the abort level.
func watch(ctx context.Context, o options, abort func()) int64 {
	var peak int64
	for ctx.Err() == nil {
		if rss, err := statusField(o.pid, "VmRSS:"); err == nil {
			peak = max(peak, rss)
			if o.server != "" && rss > o.abortRSS {
				fmt.Fprintf(os.Stderr, "harden: server RSS %d MiB passed -abort-rss; stopping it\n", rss>>20)
				if p, err := os.FindProcess(o.pid); err == nil {
					_ = p.Kill()
				}
				abort()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	return peak
}

func vmHWM(pid int) (int64, error) { return statusField(pid, "VmHWM:") }

// statusField reads a kB field of /proc/<pid>/status, in bytes.
func statusField(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
