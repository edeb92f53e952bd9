package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/corr2d/corr2d/internal/jobs"
)

// Live progress is read from the job store, never from this process's
// memory: a job trains on whichever replica took it, and a stream or a
// long-poll on any other replica sees its checkpoints as they are saved.
// Both poll the store at EventPoll, which is of the order of the runner's
// checkpoint interval, so a checkpoint shows up within one poll.

// endEventID is the end event's id. A client that reconnects with it as Last-Event-ID
// has seen everything and gets 204, which tells an EventSource to stop.
const endEventID = "end"

// streamGate bounds the event streams and long-polls held open at once.
// Each holds a connection and polls the store, so they are admitted like
// any other scarce resource and refused with 503 beyond the bound.
type streamGate chan struct{}

func (g streamGate) acquire() bool {
	select {
	case g <- struct{}{}:
		return true
	default:
		return false
	}
}

func (g streamGate) release() { <-g }

func (s *Server) tooManyStreams() *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: codeOverloaded, limit: "max_streams",
		detail: "too many event streams and long-polls are open; retry later"}
}

// progressEvent is the data of a "progress" event: the losses recorded
// since the previous event, and where the job stands.
type progressEvent struct {
	Status jobs.Status      `json:"status"`
	Step   int              `json:"step"`
	Steps  int              `json:"steps"`
	Loss   *float64         `json:"loss,omitempty"`
	Losses []jobs.LossPoint `json:"losses"`
}

// endEvent is the data of the final "end" event: the outcome.
type endEvent struct {
	Status     jobs.Status `json:"status"`
	Step       int         `json:"step"`
	Steps      int         `json:"steps"`
	Loss       *float64    `json:"loss,omitempty"`
	Kernel     any         `json:"kernel"`
	Bias       []float64   `json:"bias,omitempty"`
	Error      string      `json:"error,omitempty"`
	FinishedAt *time.Time  `json:"finished_at,omitempty"`
}

// eventLossPage is how many losses one event carries at most; a client
// that resumes far behind gets its backlog in events of this size.
const eventLossPage = 1000

// sseWriter writes Server-Sent Events, each flushed at once and each
// bounded by a write deadline so that a client that stops reading cannot
// hold the handler forever.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (e *sseWriter) write(b []byte) error {
	if err := e.rc.SetWriteDeadline(time.Now().Add(e.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := e.w.Write(b); err != nil {
		return err
	}
	return e.rc.Flush()
}

func (e *sseWriter) event(name, id string, data any) error {
	body, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", name, err)
	}
	return e.write(fmt.Appendf(nil, "event: %s\nid: %s\ndata: %s\n\n", name, id, body))
}

// lastEventID reads the Last-Event-ID a client resumes from: the step of
// the last loss it holds, or the end event's id.
func lastEventID(v string) (after int, ended bool, err error) {
	switch v {
	case "":
		return 0, false, nil
	case endEventID:
		return 0, true, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, false, &apiError{status: http.StatusBadRequest, code: codeInvalidValue,
			detail: "header Last-Event-ID: must be a step number or \"end\""}
	}
	return n, false, nil
}

// jobEvents streams a job's progress as Server-Sent Events until it ends.
func (s *Server) jobEvents(w http.ResponseWriter, r *http.Request) {
	after, ended, err := lastEventID(r.Header.Get("Last-Event-ID"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := chi.URLParam(r, "id")
	j, err := s.jobs.Get(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ended && !j.Status.Active() {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method == http.MethodHead {
		// The headers of a stream, without holding one open for a body
		// nobody will read.
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	if !s.streams.acquire() {
		s.writeError(w, r, s.tooManyStreams())
		return
	}
	defer s.streams.release()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a buffering proxy would hold the events back
	w.WriteHeader(http.StatusOK)
	sse := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: s.cfg.EventWriteTimeout}
	defer func() { _ = sse.rc.SetWriteDeadline(time.Time{}) }()
	if err := s.streamJob(r.Context(), sse, j, after); err != nil && r.Context().Err() == nil {
		s.log.Info("event stream ended early", zap.String("job", id), zap.Error(err))
	}
}

// streamJob sends what is new since step after, then polls the store for
// more until the job ends, the client leaves or the server drains.
func (s *Server) streamJob(ctx context.Context, sse *sseWriter, j jobs.Job, after int) error {
	if err := sse.write(fmt.Appendf(nil, "retry: %d\n\n", s.cfg.EventRetry.Milliseconds())); err != nil {
		return err
	}
	poll := time.NewTicker(s.cfg.EventPoll)
	defer poll.Stop()
	heartbeat := time.NewTicker(s.cfg.EventHeartbeat)
	defer heartbeat.Stop()
	var status jobs.Status
	for {
		sent, err := s.sendProgress(ctx, sse, j, after, status)
		if err != nil {
			return err
		}
		if sent != after || j.Status != status {
			heartbeat.Reset(s.cfg.EventHeartbeat)
		}
		after, status = sent, j.Status
		if !j.Status.Active() {
			return sse.event("end", endEventID, outcome(j))
		}
		if err := s.waitPoll(ctx, sse, poll, heartbeat); err != nil {
			return err
		}
		j, err = s.jobs.Get(ctx, j.ID)
		if errors.Is(err, jobs.ErrNotFound) {
			return sse.event("end", endEventID, endEvent{Status: status, Step: after, Error: "the job was deleted"})
		}
		if err != nil {
			return err
		}
	}
}

// waitPoll waits for the next poll, writing heartbeat comments meanwhile
// so that proxies keep an idle stream open.
func (s *Server) waitPoll(ctx context.Context, sse *sseWriter, poll, heartbeat *time.Ticker) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return errors.New("server draining")
		case <-heartbeat.C:
			if err := sse.write([]byte(": keep-alive\n\n")); err != nil {
				return err
			}
		case <-poll.C:
			return nil
		}
	}
}

// sendProgress sends the losses recorded after step after, a page per
// event, or one event without losses when only the status changed. It
// returns the step of the last loss sent. The losses are read after j,
// so when j has ended they are complete.
func (s *Server) sendProgress(ctx context.Context, sse *sseWriter, j jobs.Job, after int, status jobs.Status) (int, error) {
	changed := j.Status != status
	for {
		pts, err := s.jobs.Losses(ctx, j.ID, after, eventLossPage)
		if err != nil {
			return after, err
		}
		if len(pts) == 0 && !changed {
			return after, nil
		}
		if len(pts) > 0 {
			after = pts[len(pts)-1].Step
		}
		ev := progressEvent{Status: j.Status, Step: after, Steps: j.Spec.Steps, Losses: pts}
		if ev.Losses == nil {
			ev.Losses = []jobs.LossPoint{}
		}
		if len(pts) > 0 {
			ev.Loss = &pts[len(pts)-1].Loss
		}
		if err := sse.event("progress", strconv.Itoa(after), ev); err != nil {
			return after, err
		}
		changed = false
		if len(pts) < eventLossPage {
			return after, nil
		}
	}
}

// outcome is the end event of a job that has ended.
func outcome(j jobs.Job) endEvent {
	v := jobView(j)
	return endEvent{Status: v.Status, Step: v.Step, Steps: v.Steps, Loss: v.Loss, Kernel: v.Kernel,
		Bias: v.Bias, Error: v.Error, FinishedAt: v.FinishedAt}
}

// maxWait bounds ?wait= so that a long-poll ends well before the usual
// idle timeouts of proxies.
const maxWait = 60 * time.Second

// waitParam reads ?wait=, a duration such as 30s, at most maxWait.
func waitParam(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxWait {
		return 0, badQuery("wait", "must be a duration from 0s to "+maxWait.String()+", such as 30s")
	}
	return d, nil
}

// waitForChange long-polls: it returns the job once its step or status
// differs from j's, it has ended, or d has passed.
func (s *Server) waitForChange(ctx context.Context, j jobs.Job, d time.Duration) (jobs.Job, error) {
	if d <= 0 || !j.Status.Active() {
		return j, nil
	}
	if !s.streams.acquire() {
		return j, s.tooManyStreams()
	}
	defer s.streams.release()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := time.NewTicker(s.cfg.EventPoll)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return j, ctx.Err()
		case <-s.closing:
			return j, nil
		case <-deadline.C:
			return j, nil
		case <-poll.C:
		}
		now, err := s.jobs.Get(ctx, j.ID)
		if err != nil {
			return j, err
		}
		if now.Step != j.Step || now.Status != j.Status || (now.Paused == nil) != (j.Paused == nil) {
			return now, nil
		}
	}
}
