package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/corr2d/corr2d/internal/engine"
)

// corr2dRequest is the body of POST /corr2d. The matrices stay raw until
// parseMatrix reads them, so that a fault is named by its exact place.
// Later parameters (stride, padding, channels, ...) are new optional fields.
type corr2dRequest struct {
	Input  json.RawMessage `json:"input"`
	Kernel json.RawMessage `json:"kernel"`
}

func (s *Server) corr2d(w http.ResponseWriter, r *http.Request) {
	var req corr2dRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	x, k, err := s.corr2dOperands(req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	y, err := engine.Correlate(ctx, s.eng, engine.Interactive, x, k)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := make([]byte, 0, 32+len(y.Data)*20)
	b = append(b, `{"output":`...)
	b = appendMatrix(b, y)
	b = append(b, `,"shape":[`...)
	b = strconv.AppendInt(b, int64(y.Rows), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(y.Cols), 10)
	b = append(b, "]}\n"...)
	writeBody(w, http.StatusOK, "application/json", b)
}

// corr2dOperands parses and checks the operands against the limits.
func (s *Server) corr2dOperands(req corr2dRequest) (x, k engine.Matrix[float64], err error) {
	lim := s.cfg.Limits
	if x, err = parseMatrix(req.Input, "/input", "max_elements", lim.MaxElements); err != nil {
		return x, k, err
	}
	if k, err = parseMatrix(req.Kernel, "/kernel", "max_kernel_elements", lim.MaxKernelElements); err != nil {
		return x, k, err
	}
	if k.Rows > x.Rows || k.Cols > x.Cols {
		return x, k, invalidField(codeInvalidShape, "/kernel",
			"the %d×%d kernel is larger than the %d×%d input", k.Rows, k.Cols, x.Rows, x.Cols)
	}
	work := int64(x.Rows-k.Rows+1) * int64(x.Cols-k.Cols+1) * int64(len(k.Data))
	if lim.MaxWork > 0 && work > lim.MaxWork {
		return x, k, tooLarge("max_work", "/kernel", "needs %d multiply-adds, more than the %d allowed", work, lim.MaxWork)
	}
	return x, k, nil
}
