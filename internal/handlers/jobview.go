package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"go.uber.org/zap"

	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/npy"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
)

// tensorInfo is what a job's request shows of a tensor: its shape and
// dtype. The tensor itself is at /jobs/{id}/input or /target.
type tensorInfo struct {
	Shape []int       `json:"shape"`
	DType train.DType `json:"dtype"`
}

// optimizerEcho shows the chosen optimizer's settings only.
type optimizerEcho struct {
	Name        string      `json:"name"`
	Momentum    *float64    `json:"momentum,omitempty"`
	Dampening   *float64    `json:"dampening,omitempty"`
	Nesterov    *bool       `json:"nesterov,omitempty"`
	WeightDecay float64     `json:"weight_decay"`
	Betas       *[2]float64 `json:"betas,omitempty"`
	Eps         *float64    `json:"eps,omitempty"`
}

// echoOptimizer shows the settings that the chosen optimizer uses.
func echoOptimizer(o train.Optimizer) optimizerEcho {
	e := optimizerEcho{Name: o.Name, WeightDecay: o.WeightDecay}
	if o.Name == train.Adam {
		e.Betas, e.Eps = &o.Betas, &o.Eps
	} else {
		e.Momentum, e.Dampening, e.Nesterov = &o.Momentum, &o.Dampening, &o.Nesterov
	}
	return e
}

// clientShape is a 4-D shape as the client framed it, in rank dimensions.
func clientShape(shape []int, rank int) []int {
	if rank < len(shape) {
		return shape[len(shape)-rank:]
	}
	return shape
}

// requestView is the job's request as views show it. Requests stored by
// older versions hold the tensors themselves and every optimizer field:
// those become their shapes and the chosen optimizer's fields.
func requestView(j jobs.Job) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(j.Spec.Request, &m); err != nil {
		return j.Spec.Request
	}
	lean := func(key string, shape []int) {
		raw := bytes.TrimSpace(m[key])
		if len(raw) == 0 || raw[0] != '[' {
			return
		}
		// The nesting depth of the array is the rank the client sent.
		depth := 0
		for _, c := range raw {
			if c == '[' {
				depth++
			} else if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				break
			}
		}
		if b, err := json.Marshal(tensorInfo{Shape: clientShape(shape, depth), DType: j.Spec.DType}); err == nil {
			m[key] = b
		}
	}
	lean("input", j.Spec.Input.Shape)
	lean("target", j.Spec.Target.Shape)
	lean("init", j.InitWeight.Shape)
	if b, err := json.Marshal(echoOptimizer(j.Spec.Optimizer)); err == nil && m["optimizer"] != nil {
		m["optimizer"] = b
	}
	b, err := json.Marshal(m)
	if err != nil {
		return j.Spec.Request
	}
	return b
}

// jobTensor answers GET /jobs/{id}/input or /target: the tensor as the
// client framed it, as JSON or, on request, as .npy in the job's dtype.
func (s *Server) jobTensor(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		media, err := negotiate(r)
		if err == nil && media == mediaPNG {
			err = &apiError{status: http.StatusNotAcceptable, code: codeNotAcceptable,
				detail: "a job's tensors come as application/json or application/x-npy"}
		}
		var (
			j       jobs.Job
			in, tgt tensor.Dense
		)
		if err == nil {
			j, err = s.jobs.Get(r.Context(), chi.URLParam(r, "id"))
		}
		// Loading the tensors holds what a run of the job loads them with
		// at the most: reserved as a request's memory is.
		res := s.cfg.Budget.Reserve()
		defer res.Release()
		if err == nil {
			err = admitError(res.Grow(r.Context(), j.Spec.WorkingSet()))
		}
		if err == nil {
			in, tgt, err = s.jobs.Tensors(r.Context(), j.ID)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		t := in
		if name == "target" {
			t = tgt
		}
		t.Shape = clientShape(t.Shape, j.Spec.Rank)
		h := w.Header()
		h.Set("Content-Type", media)
		h.Add("Vary", "Accept, Accept-Encoding")
		var tm timing
		aw := newAnswerWriter(w, r, &tm, media == mediaJSON)
		if err := renderTensor(aw, media, t, j.Spec.DType); err != nil {
			if !aw.streamed {
				s.writeError(w, r, err)
				return
			}
			s.log.Info("answer cut short", zap.Error(err))
		}
		aw.finish()
	}
}

// renderTensor writes {"shape": ..., "dtype": ..., "data": ...} or a .npy
// file of dtype.
func renderTensor(w io.Writer, media string, t tensor.Dense, dtype train.DType) error {
	if media == mediaNPY {
		arr := npy.Array{DType: npy.Float64, Shape: t.Shape, F64: t.Data}
		if dtype == train.Float32 {
			f32 := make([]float32, len(t.Data))
			for i, v := range t.Data {
				f32[i] = float32(v)
			}
			arr = npy.Array{DType: npy.Float32, Shape: t.Shape, F32: f32}
		}
		if err := npy.Write(w, arr); err != nil {
			return fmt.Errorf("encode npy: %w", err)
		}
		return nil
	}
	b := []byte(`{"shape":[`)
	for i, d := range t.Shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(d), 10)
	}
	b = append(b, `],"dtype":"`...)
	b = append(b, dtype...)
	b = append(b, `","data":`...)
	if _, err := w.Write(b); err != nil {
		return err
	}
	// The stored values are the client's own, so they print as sent.
	if err := tensor.WriteJSON(w, t, 64, 0); err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	_, err := io.WriteString(w, "}\n")
	return err
}
