package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/oklog/ulid/v2"

	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/tensor"
)

// jobJSON is a job as the API shows it.
type jobJSON struct {
	ID         string          `json:"id"`
	Status     jobs.Status     `json:"status"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at,omitempty"`
	FinishedAt *time.Time      `json:"finished_at,omitempty"`
	Step       int             `json:"step"`
	Steps      int             `json:"steps"`
	Loss       *float64        `json:"loss,omitempty"`
	Kernel     tensor.Dense    `json:"kernel"`
	Bias       []float64       `json:"bias,omitempty"`
	InitKernel tensor.Dense    `json:"init_kernel"`
	InitBias   []float64       `json:"init_bias,omitempty"`
	Request    json.RawMessage `json:"request"`
	Error      string          `json:"error,omitempty"`
	// PausedReason and PausedSince say why an active job waits at its last
	// checkpoint: the store could not be written.
	PausedReason string     `json:"paused_reason,omitempty"`
	PausedSince  *time.Time `json:"paused_since,omitempty"`
}

// jobView shows the weights as the client framed the problem: kh×kw for a
// 2-D one, O×(C/groups)×kh×kw otherwise.
func jobView(j jobs.Job) jobJSON {
	shape := func(t tensor.Dense) tensor.Dense {
		if j.Spec.Rank == 2 && len(t.Shape) == 4 {
			return tensor.Dense{Shape: t.Shape[2:], Data: t.Data}
		}
		return t
	}
	v := jobJSON{
		ID: j.ID, Status: j.Status, CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		Step: j.Step, Steps: j.Spec.Steps, Loss: j.Loss, Kernel: shape(j.Weight), Bias: j.Bias,
		InitKernel: shape(j.InitWeight), InitBias: j.InitBias, Request: requestView(j), Error: j.Error,
	}
	if j.Paused != nil {
		since := j.Paused.Since
		v.PausedReason, v.PausedSince = j.Paused.Reason, &since
	}
	return v
}

// getJob answers GET /jobs/{id}, after waiting for a change if ?wait= asks.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	wait, err := waitParam(r.URL.Query().Get("wait"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.jobs.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if j, err = s.waitForChange(r.Context(), j, wait); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, jobView(j))
}

// cancelJob answers POST /jobs/{id}/cancel with the job as it stands.
func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.jobs.Cancel(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, jobView(j))
}

// deleteJob answers DELETE /jobs/{id}; an active job is a conflict.
func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) {
	if err := s.jobs.Delete(r.Context(), chi.URLParam(r, "id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listJobs answers GET /jobs: a page of the jobs the caller may see, oldest
// first, with the id to ask for the next page after.
func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := jobs.ListFilter{Status: jobs.Status(q.Get("status")), After: q.Get("after")}
	if p, limited := principal(r); limited {
		f.Owner = p.Name // a user lists its own jobs only
	}
	if f.After != "" {
		if _, err := ulid.ParseStrict(f.After); err != nil {
			s.writeError(w, r, badQuery("after", "must be a job id"))
			return
		}
	}
	if f.Status != "" && !f.Status.Valid() {
		s.writeError(w, r, badQuery("status", "must be one of queued, running, succeeded, failed, canceled"))
		return
	}
	limit, err := intParam(q.Get("limit"), "limit", 100, 1, 1000)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// One more than asked tells whether another page follows.
	f.Limit = limit + 1
	page, err := s.jobs.List(r.Context(), f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Jobs      []jobJSON `json:"jobs"`
		NextAfter string    `json:"next_after,omitempty"`
	}{Jobs: []jobJSON{}}
	if len(page) > limit {
		page = page[:limit]
		out.NextAfter = page[limit-1].ID
	}
	for _, j := range page {
		out.Jobs = append(out.Jobs, jobView(j))
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// jobLosses answers GET /jobs/{id}/losses: a page of the loss history.
func (s *Server) jobLosses(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, err := intParam(q.Get("after_step"), "after_step", 0, 0, int(^uint(0)>>1))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	limit, err := intParam(q.Get("limit"), "limit", 1000, 1, 10000)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pts, err := s.jobs.Losses(r.Context(), chi.URLParam(r, "id"), after, limit+1)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := struct {
		Losses        []jobs.LossPoint `json:"losses"`
		NextAfterStep *int             `json:"next_after_step,omitempty"`
	}{Losses: pts}
	if len(pts) > limit {
		out.Losses = pts[:limit]
		out.NextAfterStep = &pts[limit-1].Step
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// badQuery names a bad query parameter in the detail: a JSON pointer can
// only name a place in the body.
func badQuery(name, detail string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidValue, detail: "query parameter " + name + ": " + detail}
}

// intParam reads an optional integer query parameter within [lo, hi].
func intParam(v, name string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, badQuery(name, "must be an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return n, nil
}
