package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/tensor"
)

// corr2dRequest is the body of POST /corr2d. The tensors stay raw until
// tensor.Parse reads them, so that a fault is named by its exact place.
type corr2dRequest struct {
	convParams
	Input     json.RawMessage `json:"input"`
	Kernel    json.RawMessage `json:"kernel"`
	Bias      json.RawMessage `json:"bias"`
	FillValue *float64        `json:"fill_value"`
	Operation *string         `json:"operation"`
	DType     *string         `json:"dtype"`
}

// corr2dCall is a checked /corr2d request, ready for the engine.
type corr2dCall struct {
	x, w  engine.Tensor[float64]
	bias  []float64
	conv  engine.Conv
	rank  int // of the input, and so of the output
	dtype string
}

func (s *Server) corr2d(w http.ResponseWriter, r *http.Request) {
	var req corr2dRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	call, err := s.corr2dCall(req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
	defer cancel()
	var out engine.Tensor[float64]
	bits := 64
	if call.dtype == "float32" {
		bits = 32
		out, err = conv2DAs[float32](ctx, s.eng, call)
	} else {
		out, err = engine.Conv2D(ctx, s.eng, engine.Interactive, call.x, call.w, call.bias, call.conv)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The answer has the input's rank: a 2-D image gives a 2-D map.
	shape := out.Shape[4-call.rank:]
	b := make([]byte, 0, 64+len(out.Data)*20)
	b = append(b, `{"output":`...)
	b = tensor.AppendJSON(b, tensor.Dense{Shape: shape, Data: out.Data}, bits)
	b = append(b, `,"shape":[`...)
	for i, d := range shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(d), 10)
	}
	b = append(b, `],"dtype":"`...)
	b = append(b, call.dtype...)
	b = append(b, "\"}\n"...)
	writeBody(w, http.StatusOK, "application/json", b)
}

// conv2DAs computes the call in precision T, as PyTorch does for that dtype.
func conv2DAs[T engine.Float](ctx context.Context, eng *engine.Engine, c corr2dCall) (engine.Tensor[float64], error) {
	x := engine.Tensor[T]{Shape: c.x.Shape, Data: convert[T](c.x.Data)}
	w := engine.Tensor[T]{Shape: c.w.Shape, Data: convert[T](c.w.Data)}
	out, err := engine.Conv2D(ctx, eng, engine.Interactive, x, w, convert[T](c.bias), c.conv)
	if err != nil {
		return engine.Tensor[float64]{}, err
	}
	return engine.Tensor[float64]{Shape: out.Shape, Data: convert[float64](out.Data)}, nil
}

func convert[T, F engine.Float](s []F) []T {
	if s == nil {
		return nil
	}
	out := make([]T, len(s))
	for i, v := range s {
		out[i] = T(v)
	}
	return out
}

// corr2dCall parses the operands and parameters and checks them against the
// limits and each other.
func (s *Server) corr2dCall(req corr2dRequest) (corr2dCall, error) {
	lim := s.cfg.Limits
	var c corr2dCall
	x, err := parseTensor(req.Input, "/input", "max_elements", tensor.Limits{MinRank: 2, MaxRank: 4, MaxElements: lim.MaxElements})
	if err != nil {
		return c, err
	}
	k, err := parseTensor(req.Kernel, "/kernel", "max_kernel_elements", tensor.Limits{MinRank: 2, MaxRank: 4, MaxElements: lim.MaxKernelElements})
	if err != nil {
		return c, err
	}
	if len(k.Shape) == 3 {
		return c, invalidField(codeInvalidShape, "/kernel", "must be 2-D kh×kw or 4-D O×(C/groups)×kh×kw")
	}
	c.rank = len(x.Shape)
	c.x = engine.Tensor[float64]{Shape: lift(x), Data: x.Data}
	c.w = engine.Tensor[float64]{Shape: lift(k), Data: k.Data}
	if c.rank == 2 && c.w.Shape[0] != 1 {
		return c, invalidField(codeInvalidShape, "/kernel", "a 2-D input has one output channel; send a 3-D or 4-D input for %d", c.w.Shape[0])
	}
	if c.conv, err = req.conv(); err != nil {
		return c, err
	}
	if req.FillValue != nil {
		c.conv.Fill = *req.FillValue
	}
	if req.Operation != nil {
		switch *req.Operation {
		case "correlate":
		case "convolve":
			c.conv.Convolve = true
		default:
			return c, invalidField(codeInvalidValue, "/operation", `must be "correlate" or "convolve"`)
		}
	}
	if c.dtype, err = dtype(req.DType, "float64"); err != nil {
		return c, err
	}
	if c.bias, err = bias(req.Bias, c.w.Shape[0]); err != nil {
		return c, err
	}
	_, out, err := c.conv.Geometry(c.x.Shape, c.w.Shape)
	if err != nil {
		return c, err
	}
	outElems := int64(out[0]) * int64(out[1]) * int64(out[2]) * int64(out[3])
	if lim.MaxElements > 0 && outElems > int64(lim.MaxElements) {
		return c, tooLarge("max_elements", "/kernel", "the output would have %d elements, more than the %d allowed", outElems, lim.MaxElements)
	}
	work := outElems * int64(c.w.Shape[1]*c.w.Shape[2]*c.w.Shape[3])
	if lim.MaxWork > 0 && work > lim.MaxWork {
		return c, tooLarge("max_work", "/kernel", "needs %d multiply-adds, more than the %d allowed", work, lim.MaxWork)
	}
	return c, nil
}

// bias reads a number, added to every output channel, or a list with one
// number per output channel; absent means none.
func bias(raw json.RawMessage, channels int) ([]float64, error) {
	if isNull(raw) {
		return nil, nil
	}
	var v float64
	if json.Unmarshal(raw, &v) == nil {
		b := make([]float64, channels)
		for i := range b {
			b[i] = v
		}
		return b, nil
	}
	var list []float64
	if json.Unmarshal(raw, &list) != nil {
		return nil, invalidField(codeInvalidValue, "/bias", "must be a number or a list of numbers, one per output channel")
	}
	return list, nil
}
