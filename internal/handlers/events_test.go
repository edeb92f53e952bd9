package handlers_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/corr2d/corr2d/internal/handlers"
)

// sseEvent is one event of a text/event-stream, or a comment.
type sseEvent struct {
	name, id, data, comment string
}

// sseStream reads events from a live response as they arrive, keeping a
// copy of the raw body for the contract check at the end.
type sseStream struct {
	resp *http.Response
	raw  bytes.Buffer
	sc   *bufio.Scanner
}

func openStream(t *testing.T, ctx context.Context, url, lastID string) *sseStream {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	s := &sseStream{resp: resp}
	s.sc = bufio.NewScanner(io.TeeReader(resp.Body, &s.raw))
	s.sc.Buffer(nil, 1<<20)
	return s
}

// next returns the next event or comment; ok is false at the end of the
// stream.
func (s *sseStream) next() (ev sseEvent, ok bool) {
	seen := false
	for s.sc.Scan() {
		line := s.sc.Text()
		if line == "" {
			if seen {
				return ev, true
			}
			continue
		}
		seen = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			ev.comment = value
		case "event":
			ev.name = value
		case "id":
			ev.id = value
		case "data":
			ev.data = value
		}
	}
	return ev, false
}

type progressData struct {
	Status string `json:"status"`
	Step   int    `json:"step"`
	Steps  int    `json:"steps"`
	Losses []struct {
		Step int     `json:"step"`
		Loss float64 `json:"loss"`
	} `json:"losses"`
}

type endData struct {
	Status string      `json:"status"`
	Step   int         `json:"step"`
	Kernel [][]float64 `json:"kernel"`
	Error  string      `json:"error"`
}

// collected is what a stream said until it ended.
type collected struct {
	steps    []int
	losses   []float64
	statuses []string
	ids      []string
	end      *endData
}

// readAll reads a stream to its end, checking each event's id against its
// data, and holds the whole exchange to the contract.
func (f *fixture) readAll(t *testing.T, s *sseStream, stop func(collected) bool) collected {
	t.Helper()
	var c collected
	for {
		ev, ok := s.next()
		if !ok {
			break
		}
		switch ev.name {
		case "progress":
			var p progressData
			if err := json.Unmarshal([]byte(ev.data), &p); err != nil {
				t.Fatalf("progress data %q: %v", ev.data, err)
			}
			if ev.id != strconv.Itoa(p.Step) {
				t.Errorf("progress event id %q, data step %d", ev.id, p.Step)
			}
			for _, l := range p.Losses {
				c.steps = append(c.steps, l.Step)
				c.losses = append(c.losses, l.Loss)
			}
			c.statuses = append(c.statuses, p.Status)
		case "end":
			var e endData
			if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
				t.Fatalf("end data %q: %v", ev.data, err)
			}
			c.end = &e
		}
		if ev.id != "" {
			c.ids = append(c.ids, ev.id)
		}
		if stop != nil && stop(c) {
			return c
		}
	}
	if c.end == nil {
		t.Fatalf("stream ended without an end event:\n%s", s.raw.String())
	}
	f.v.Check(t, s.resp.Request, nil, s.resp.StatusCode, s.resp.Header, s.raw.Bytes())
	return c
}

func submitEdgeJob(t *testing.T, f *fixture, steps int) string {
	t.Helper()
	body := `{"input": ` + mustJSON(t, edgeImage()) + `, "target": ` + mustJSON(t, edgeTarget()) +
		`, "kernel_size": [1, 2], "lr": 0.001, "steps": ` + strconv.Itoa(steps) + `, "loss": "sum", "seed": 42}`
	rec := f.do(t, http.MethodPost, "/train", body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST /train = %d: %s", rec.Code, rec.Body)
	}
	return decode[jobView](t, rec).ID
}

func edgeTarget() [][]float64 {
	y := make([][]float64, 6)
	for i := range y {
		y[i] = []float64{0, 1, 0, 0, 0, -1, 0}
	}
	return y
}

func checkConsecutive(t *testing.T, steps []int, from int) {
	t.Helper()
	for i, s := range steps {
		if s != from+i {
			t.Fatalf("losses of steps %v: want consecutive steps from %d, no gap or repeat", steps, from)
		}
	}
}

func TestEventsStreamAJobToItsEnd(t *testing.T) {
	f := newFixture(t, options{handler: handlers.Config{EventPoll: 10 * time.Millisecond}})
	srv := httptest.NewServer(f.srv)
	defer srv.Close()
	body := `{"input": ` + mustJSON(t, edgeImage()) + `, "target": ` + mustJSON(t, edgeTarget()) +
		`, "kernel_size": [1, 2], "lr": 0.03, "steps": 10, "loss": "sum", "seed": 42}`
	rec := f.do(t, http.MethodPost, "/train", body)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST /train = %d: %s", rec.Code, rec.Body)
	}
	id := decode[jobView](t, rec).ID

	s := openStream(t, context.Background(), srv.URL+"/jobs/"+id+"/events", "")
	if ct := s.resp.Header.Get("Content-Type"); s.resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("GET events = %d %q", s.resp.StatusCode, ct)
	}
	c := f.readAll(t, s, nil)
	checkConsecutive(t, c.steps, 1)
	// The seed's losses from PyTorch, as in TestTrainingLifecycleOverHTTP.
	want := []float64{31.631296, 17.349756, 9.918350, 5.862164, 3.552892, 2.192386, 1.369758, 0.862977, 0.546708, 0.347599}
	if len(c.losses) != len(want) {
		t.Fatalf("%d losses streamed, want %d", len(c.losses), len(want))
	}
	for i := range want {
		if abs(c.losses[i]-want[i]) > 1e-5*want[i] {
			t.Errorf("streamed loss at step %d = %.7g, want %.7g", i+1, c.losses[i], want[i])
		}
	}
	if c.end.Status != "succeeded" || c.end.Step != 10 || len(c.end.Kernel) != 1 || abs(c.end.Kernel[0][0]-1.0487369) > 1e-5 {
		t.Errorf("end event %+v", *c.end)
	}

	// Resuming after step 4 gives steps 5 to 10 and the end again.
	c = f.readAll(t, openStream(t, context.Background(), srv.URL+"/jobs/"+id+"/events", "4"), nil)
	checkConsecutive(t, c.steps, 5)
	if len(c.steps) != 6 || c.end.Status != "succeeded" {
		t.Errorf("resumed after 4: steps %v, end %+v", c.steps, c.end)
	}
	// HEAD answers the stream's headers at once.
	head, err := http.Head(srv.URL + "/jobs/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	_ = head.Body.Close()
	if head.StatusCode != http.StatusOK || head.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD events = %d %q", head.StatusCode, head.Header.Get("Content-Type"))
	}
	// After the end event there is nothing more: 204 stops an EventSource.
	s = openStream(t, context.Background(), srv.URL+"/jobs/"+id+"/events", "end")
	if s.resp.StatusCode != http.StatusNoContent {
		t.Errorf("GET events with Last-Event-ID: end = %d, want 204", s.resp.StatusCode)
	}
}

func TestEventsRefuseBadRequests(t *testing.T) {
	f := newFixture(t, options{})
	id := submitEdgeJob(t, f, 3)
	for _, tc := range []struct {
		name, target, lastID string
		want                 int
	}{
		{"an unknown job", "/jobs/01J9Z3K4M5N6P7Q8R9S0T1V2W3/events", "", http.StatusNotFound},
		{"a Last-Event-ID that is no step", "/jobs/" + id + "/events", "three", http.StatusBadRequest},
		{"a negative Last-Event-ID", "/jobs/" + id + "/events", "-1", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			if tc.lastID != "" {
				req.Header.Set("Last-Event-ID", tc.lastID)
			}
			if rec := f.v.Serve(t, f.srv, req); rec.Code != tc.want {
				t.Errorf("GET %s = %d, want %d: %s", tc.target, rec.Code, tc.want, rec.Body)
			}
		})
	}
}

// A client that drops the stream of a running job and resumes with the
// last id it got sees every step exactly once; cancelling ends the stream.
func TestEventsResumeARunningJobWithoutGapOrRepeat(t *testing.T) {
	f := newFixture(t, options{handler: handlers.Config{EventPoll: 5 * time.Millisecond}})
	srv := httptest.NewServer(f.srv)
	defer srv.Close()
	id := submitEdgeJob(t, f, 1_000_000)
	url := srv.URL + "/jobs/" + id + "/events"

	ctx, drop := context.WithCancel(context.Background())
	first := f.readAllUntil(t, openStream(t, ctx, url, ""), func(c collected) bool { return len(c.steps) > 0 && len(c.ids) >= 3 })
	drop()
	last := first.ids[len(first.ids)-1]

	s := openStream(t, context.Background(), url, last)
	second := f.readAllUntil(t, s, func(c collected) bool { return len(c.steps) > 0 })
	if rec := f.do(t, http.MethodPost, "/jobs/"+id+"/cancel", ""); rec.Code != http.StatusOK {
		t.Fatalf("cancel = %d %s", rec.Code, rec.Body)
	}
	rest := f.readAll(t, s, nil)
	steps := append(append(first.steps, second.steps...), rest.steps...)
	checkConsecutive(t, steps, 1)
	if rest.end.Status != "canceled" || rest.end.Step != steps[len(steps)-1] {
		t.Errorf("end %+v after streaming steps up to %d", *rest.end, steps[len(steps)-1])
	}
}

// readAllUntil reads events until stop holds, without the end checks.
func (f *fixture) readAllUntil(t *testing.T, s *sseStream, stop func(collected) bool) collected {
	t.Helper()
	done := false
	c := f.readAll(t, s, func(c collected) bool { done = stop(c); return done })
	if !done {
		t.Fatalf("stream ended before the condition held: %+v", c)
	}
	return c
}

func TestEventsSendHeartbeatsWhenIdle(t *testing.T) {
	f := newFixture(t, options{handler: handlers.Config{EventPoll: time.Hour, EventHeartbeat: 10 * time.Millisecond}})
	srv := httptest.NewServer(f.srv)
	defer srv.Close()
	id := submitEdgeJob(t, f, 1_000_000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := openStream(t, ctx, srv.URL+"/jobs/"+id+"/events", "")
	beats := 0
	for beats < 3 {
		ev, ok := s.next()
		if !ok {
			t.Fatal("stream ended")
		}
		if ev.comment != "" {
			beats++
		}
	}
	cancel()
	if rec := f.do(t, http.MethodPost, "/jobs/"+id+"/cancel", ""); rec.Code != http.StatusOK {
		t.Fatalf("cancel = %d", rec.Code)
	}
}

func TestStreamsAreBoundedAndEndOnDrain(t *testing.T) {
	f := newFixture(t, options{handler: handlers.Config{MaxStreams: 1, EventPoll: 5 * time.Millisecond}})
	srv := httptest.NewServer(f.srv)
	defer srv.Close()
	id := submitEdgeJob(t, f, 1_000_000)
	defer f.do(t, http.MethodPost, "/jobs/"+id+"/cancel", "")
	s := openStream(t, context.Background(), srv.URL+"/jobs/"+id+"/events", "")
	if _, ok := s.next(); !ok {
		t.Fatal("first stream ended at once")
	}
	for _, target := range []string{"/jobs/" + id + "/events", "/jobs/" + id + "?wait=10s"} {
		rec := f.do(t, http.MethodGet, target, "")
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Errorf("GET %s beyond max_streams = %d (Retry-After %q), want 503", target, rec.Code, rec.Header().Get("Retry-After"))
		}
		if p := decode[problem](t, rec); p.Limit != "max_streams" {
			t.Errorf("problem limit %q, want max_streams", p.Limit)
		}
	}
	f.srv.Drain()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, ok := s.next(); !ok {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open 10s after Drain")
	}
}

func TestLongPollWaitsForAChange(t *testing.T) {
	f := newFixture(t, options{handler: handlers.Config{EventPoll: 5 * time.Millisecond}})
	id := submitEdgeJob(t, f, 1_000_000)
	before := decode[jobView](t, f.do(t, http.MethodGet, "/jobs/"+id, ""))
	start := time.Now()
	after := decode[jobView](t, f.do(t, http.MethodGet, "/jobs/"+id+"?wait=30s", ""))
	if after.Step == before.Step && after.Status == before.Status {
		t.Errorf("?wait=30s answered after %v with the same step %d and status %s", time.Since(start), after.Step, after.Status)
	}
	if rec := f.do(t, http.MethodPost, "/jobs/"+id+"/cancel", ""); rec.Code != http.StatusOK {
		t.Fatalf("cancel = %d", rec.Code)
	}
	// An ended job is answered at once.
	start = time.Now()
	if j := decode[jobView](t, f.do(t, http.MethodGet, "/jobs/"+id+"?wait=30s", "")); j.Status != "canceled" {
		t.Errorf("status %s", j.Status)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("?wait on an ended job took %v", d)
	}
	for _, target := range []string{"/jobs/" + id + "?wait=soon", "/jobs/" + id + "?wait=2m", "/jobs/" + id + "?wait=-1s"} {
		if rec := f.do(t, http.MethodGet, target, ""); rec.Code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", target, rec.Code)
		}
	}
}

func TestLongPollEndsWhenTheWaitIsOver(t *testing.T) {
	f := newFixture(t, options{handler: handlers.Config{EventPoll: time.Hour}})
	id := submitEdgeJob(t, f, 1_000_000)
	defer f.do(t, http.MethodPost, "/jobs/"+id+"/cancel", "")
	start := time.Now()
	if rec := f.do(t, http.MethodGet, "/jobs/"+id+"?wait=50ms", ""); rec.Code != http.StatusOK {
		t.Errorf("GET ?wait=50ms = %d", rec.Code)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("?wait=50ms answered after %v", d)
	}
}
