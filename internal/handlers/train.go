package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/oklog/ulid/v2"

	"github.com/corr2d/corr2d/internal/jobs"
)

// trainRequest is the body of POST /train. Optional fields are pointers so
// that an explicit zero is told apart from an absent field.
type trainRequest struct {
	Input      json.RawMessage `json:"input"`
	Target     json.RawMessage `json:"target"`
	KernelSize []int           `json:"kernel_size"`
	LR         *float64        `json:"lr"`
	Steps      *int            `json:"steps"`
	Loss       *jobs.Loss      `json:"loss"`
	Seed       *uint64         `json:"seed"`
	Init       json.RawMessage `json:"init"`
}

// spec turns the request into a job spec with the defaults of d2l's run:
// lr 0.03, 10 steps, summed loss, seed 0.
func (s *Server) spec(req trainRequest) (jobs.Spec, error) {
	lim := s.cfg.Limits
	spec := jobs.Spec{LR: 0.03, Steps: 10, Loss: jobs.LossSum, Seed: req.Seed}
	x, err := parseMatrix(req.Input, "/input", "max_elements", lim.MaxElements)
	if err != nil {
		return spec, err
	}
	y, err := parseMatrix(req.Target, "/target", "max_elements", lim.MaxElements)
	if err != nil {
		return spec, err
	}
	spec.Input, spec.Target = rows(x), rows(y)
	if len(req.KernelSize) != 2 {
		return spec, invalidField(codeInvalidValue, "/kernel_size", "must be [kh, kw]")
	}
	spec.KernelSize = [2]int{req.KernelSize[0], req.KernelSize[1]}
	if kh, kw := spec.KernelSize[0], spec.KernelSize[1]; kh > 0 && kw > 0 && kh*kw > lim.MaxKernelElements {
		return spec, tooLarge("max_kernel_elements", "/kernel_size", "the kernel has more than %d elements", lim.MaxKernelElements)
	}
	if len(req.Init) > 0 && string(req.Init) != "null" {
		k, err := parseMatrix(req.Init, "/init", "max_kernel_elements", lim.MaxKernelElements)
		if err != nil {
			return spec, err
		}
		spec.Init = rows(k)
	} else if spec.Seed == nil {
		var zero uint64
		spec.Seed = &zero
	}
	if req.LR != nil {
		spec.LR = *req.LR
	}
	if req.Steps != nil {
		spec.Steps = *req.Steps
	}
	if spec.Steps > lim.MaxSteps {
		return spec, &apiError{status: http.StatusUnprocessableEntity, code: codeInvalidValue, pointer: "/steps",
			limit: "max_steps", detail: "must be at most " + strconv.Itoa(lim.MaxSteps)}
	}
	if req.Loss != nil {
		spec.Loss = *req.Loss
	}
	return spec, nil
}

func (s *Server) train(w http.ResponseWriter, r *http.Request) {
	var req trainRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	spec, err := s.spec(req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	j, err := s.jobs.Submit(r.Context(), spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/jobs/"+j.ID)
	s.writeJSON(w, r, http.StatusAccepted, jobView(j))
}

// jobJSON is a job as the API shows it.
type jobJSON struct {
	ID         string      `json:"id"`
	Status     jobs.Status `json:"status"`
	CreatedAt  time.Time   `json:"created_at"`
	StartedAt  *time.Time  `json:"started_at,omitempty"`
	FinishedAt *time.Time  `json:"finished_at,omitempty"`
	Step       int         `json:"step"`
	Steps      int         `json:"steps"`
	Loss       *float64    `json:"loss,omitempty"`
	Kernel     [][]float64 `json:"kernel"`
	InitKernel [][]float64 `json:"init_kernel"`
	Request    jobs.Spec   `json:"request"`
	Error      string      `json:"error,omitempty"`
}

func jobView(j jobs.Job) jobJSON {
	return jobJSON{
		ID: j.ID, Status: j.Status, CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt,
		Step: j.Step, Steps: j.Spec.Steps, Loss: j.Loss, Kernel: j.Kernel, InitKernel: j.InitKernel,
		Request: j.Spec, Error: j.Error,
	}
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.jobs.Get(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, jobView(j))
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.jobs.Cancel(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, jobView(j))
}

func (s *Server) deleteJob(w http.ResponseWriter, r *http.Request) {
	if err := s.jobs.Delete(r.Context(), chi.URLParam(r, "id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := jobs.ListFilter{Status: jobs.Status(q.Get("status")), After: q.Get("after")}
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
