package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"

	"github.com/corr2d/corr2d/internal/engine"
)

// benchSide is the side of BenchmarkCorr2dJSON's square input.
const benchSide = 1024

// benchDataBytes is what the decoded input and kernel and the output of
// BenchmarkCorr2dJSON's request take as float64s.
const benchDataBytes = 8 * (benchSide*benchSide + 3*3 + (benchSide-2)*(benchSide-2))

// benchBody is BenchmarkCorr2dJSON's request: a 1024×1024 input of uniform
// values in [-1, 1), about 20 MB of JSON, and a 3×3 kernel.
func benchBody(tb testing.TB) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	x := make([][]float64, benchSide)
	for i := range x {
		x[i] = make([]float64, benchSide)
		for j := range x[i] {
			x[i][j] = r.Float64()*2 - 1
		}
	}
	k := [][]float64{{1, 0, -1}, {2, 0, -2}, {1, 0, -1}}
	body, err := json.Marshal(map[string]any{"input": x, "kernel": k})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// benchExchange is one way of answering BenchmarkCorr2dJSON's request; run
// returns the length of the answer.
type benchExchange struct {
	name string
	run  func(tb testing.TB, f *fixture, body []byte) int64
}

// benchExchanges are the ways BenchmarkCorr2dJSON compares.
var benchExchanges = []benchExchange{
	{"handler", handlerExchange},
	{"encoding-json", encodingJSONExchange},
}

// handlerExchange serves the request. It answers into discardWriter, as
// into a connection: a recorder would add a copy of the answer to the time
// and the heap, which the server itself never holds.
func handlerExchange(tb testing.TB, f *fixture, body []byte) int64 {
	req := httptest.NewRequest(http.MethodPost, "/corr2d", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := newDiscardWriter()
	f.srv.ServeHTTP(w, req)
	if w.status != http.StatusOK {
		tb.Fatalf("status %d", w.status)
	}
	return w.n
}

// encodingJSONExchange does the handler's steps with encoding/json.
func encodingJSONExchange(tb testing.TB, f *fixture, body []byte) int64 {
	var req struct {
		Input, Kernel [][]float64
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		tb.Fatal(err)
	}
	xt := engine.Tensor[float64]{Shape: [4]int{1, 1, len(req.Input), len(req.Input[0])}}
	for _, row := range req.Input {
		xt.Data = append(xt.Data, row...)
	}
	kt := engine.Tensor[float64]{Shape: [4]int{1, 1, len(req.Kernel), len(req.Kernel[0])}}
	for _, row := range req.Kernel {
		kt.Data = append(kt.Data, row...)
	}
	out, err := engine.Conv2D(context.Background(), f.eng, engine.Interactive, xt, kt, nil, engine.Conv{})
	if err != nil {
		tb.Fatal(err)
	}
	rows := make([][]float64, out.Shape[2])
	for i := range rows {
		rows[i] = out.Data[i*out.Shape[3] : (i+1)*out.Shape[3]]
	}
	resp, err := json.Marshal(map[string]any{"output": rows, "shape": out.Shape[2:], "dtype": "float64"})
	if err != nil {
		tb.Fatal(err)
	}
	return int64(len(resp))
}

// BenchmarkCorr2dJSON measures a whole JSON /corr2d exchange on a 1024×1024
// float64 input with a 3×3 kernel: through the handler, and through the same
// steps done with encoding/json, in one run so that the ratio is fair.
// Bytes/s count the request and answer bodies. peak/data is the most heap
// that one exchange keeps reachable at once, over the bytes of its decoded
// input and kernel and of its output (see TestCorr2dPeakHeap).
func BenchmarkCorr2dJSON(b *testing.B) {
	body := benchBody(b)
	f := newFixture(b, options{log: zap.NewNop()})
	for _, ex := range benchExchanges {
		b.Run("impl="+ex.name, func(b *testing.B) {
			b.ReportAllocs()
			var answer int64
			for b.Loop() {
				answer = ex.run(b, f, body)
			}
			b.SetBytes(int64(len(body)) + answer)
			b.ReportMetric(float64(peakInChild(b, ex.name))/benchDataBytes, "peak/data")
		})
	}
}

// peakEnv names, in the environment of the process that TestCorr2dPeakHeap
// measures in, the exchange to measure.
const peakEnv = "CORR2D_PEAK_EXCHANGE"

// peakInChild runs TestCorr2dPeakHeap for the named exchange in a new
// process of this test binary with stop-the-world collections, and returns
// the peak it prints.
func peakInChild(tb testing.TB, name string) uint64 {
	cmd := exec.Command(os.Args[0], "-test.run=^TestCorr2dPeakHeap$", "-test.bench=^$", "-test.count=1", "-test.v")
	godebug := "gcstoptheworld=1"
	if old := os.Getenv("GODEBUG"); old != "" {
		godebug = old + "," + godebug
	}
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug, peakEnv+"="+name)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("measuring the peak heap: %v\n%s", err, out)
	}
	for line := range strings.Lines(string(out)) {
		var peak uint64
		if _, err := fmt.Sscanf(line, "peak-heap-bytes %d", &peak); err == nil {
			return peak
		}
	}
	tb.Fatalf("the peak heap measurement printed no result:\n%s", out)
	return 0
}

// TestCorr2dPeakHeap measures the peak heap of one exchange of
// BenchmarkCorr2dJSON, when BenchmarkCorr2dJSON runs it in a process of its
// own (see peakInChild); run alone, it is skipped.
//
// The peak is the most heap that reachable objects hold at once while the
// exchange runs, beyond what they hold without it (the lesser of before and
// after: the benchmark's own request body, the server's state). A goroutine
// runs one full collection after another and reads, after each,
// runtime/metrics' /gc/heap/live:bytes, what that collection found
// reachable; the largest reading is the peak. Reachable bytes, not the
// heap's size, since at the default GOGC the heap may hold as much garbage
// as live data and its size says more about when the collector last ran
// than about what the exchange needs. And with GODEBUG=gcstoptheworld=1,
// which only a new process can take, since a concurrent collection counts
// everything allocated while it marks as reachable too: when its mark spans
// phases of the request (it can take tens of milliseconds here), it adds up
// buffers that never coexist. A stop-the-world collection counts what is
// reachable at one instant. Collections come every few milliseconds, and the
// exchange's phases (reading the body, computing, writing the answer) last
// tens of milliseconds each, so each is sampled many times. The result is
// the median of five exchanges, which discards the odd one in which a stale
// pointer in a frame scanned conservatively (after an asynchronous
// preemption) kept a dead buffer alive, or the sampler missed a phase.
func TestCorr2dPeakHeap(t *testing.T) {
	name := os.Getenv(peakEnv)
	if name == "" {
		t.Skip("run by BenchmarkCorr2dJSON in a process of its own")
	}
	i := slices.IndexFunc(benchExchanges, func(e benchExchange) bool { return e.name == name })
	if i < 0 {
		t.Fatalf("no exchange %q", name)
	}
	run := benchExchanges[i].run
	body := benchBody(t)
	f := newFixture(t, options{log: zap.NewNop()})
	run(t, f, body) // the first exchange may set up what later ones reuse
	peaks := make([]uint64, 5)
	for i := range peaks {
		peaks[i] = peakHeap(func() { run(t, f, body) })
	}
	slices.Sort(peaks)
	for _, p := range peaks {
		t.Logf("peak/data %.3f", float64(p)/benchDataBytes)
	}
	fmt.Printf("peak-heap-bytes %d\n", peaks[len(peaks)/2])
}

// peakHeap runs f once, sampling the reachable heap as TestCorr2dPeakHeap
// describes, and returns the largest sample less the baseline.
func peakHeap(f func()) uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() uint64 {
		runtime.GC()
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	var (
		base, peak uint64
		wg         sync.WaitGroup
	)
	started := make(chan struct{})
	stop := make(chan struct{})
	wg.Go(func() {
		base = live()
		close(started)
		for {
			peak = max(peak, live())
			select {
			case <-stop:
				return
			default:
			}
		}
	})
	<-started // the sampler is running before f holds the processors
	f()
	close(stop)
	wg.Wait()
	// What was still reachable before f and is no longer after it (the
	// last exchange's buffers, kept by a stale pointer) is no part of f.
	base = min(base, live())
	return max(peak, base) - base
}

// discardWriter is an http.ResponseWriter that counts the body and keeps
// none of it, as a connection would.
type discardWriter struct {
	header http.Header
	status int
	n      int64
}

func newDiscardWriter() *discardWriter { return &discardWriter{header: http.Header{}} }

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += int64(len(p))
	return len(p), nil
}
