package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	"go.uber.org/zap"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/grayimg"
	"github.com/corr2d/corr2d/internal/tensor"
)

// corr2dRequest is the body of POST /corr2d, or its "params" part in a
// multipart form whose "input" and "kernel" parts carry the tensors. The
// tensors of a JSON body are read from it as it streams in (see
// decodeJSON); those of a params part stay raw until tensor.Parse reads
// them. Either way a fault is named by its exact place.
type corr2dRequest struct {
	convParams
	scaleParams
	Input     json.RawMessage `json:"input"`
	Kernel    json.RawMessage `json:"kernel"`
	Bias      json.RawMessage `json:"bias"`
	FillValue *float64        `json:"fill_value"`
	Operation *string         `json:"operation"`
	DType     *string         `json:"dtype"`
	Method    *string         `json:"method"`
}

// corr2dCall is a checked /corr2d request, ready for the engine.
type corr2dCall struct {
	x, w  engine.Tensor[float64]
	x32   []float32 // the input's values when it came as float32; x has only its shape then
	bias  []float64
	conv  engine.Conv
	rank  int // of the input, and so of the output
	dtype string
	scale grayimg.Scale
}

// corr2d answers POST /corr2d: it reads and checks the request, runs the
// correlation on the engine's interactive lane, and streams the answer in
// the negotiated media type, with the phases in Server-Timing.
func (s *Server) corr2d(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var tm timing
	media, err := negotiate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req, ops, err := s.readCorr2d(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	call, err := s.corr2dCall(req, ops["input"], ops["kernel"])
	if err == nil {
		err = call.settle(r.Context())
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tm.add("decode", time.Since(start))
	decoded(r.Context())

	var st engine.Stats
	ctx, cancel := context.WithTimeout(engine.WithStats(r.Context(), &st), s.cfg.RequestTimeout)
	defer cancel()
	// The answer has the input's rank: a 2-D image gives a 2-D map.
	ans := answer{media: media, bits: 64, scale: call.scale}
	var shape [4]int
	if call.dtype == "float32" {
		var out engine.Tensor[float32]
		out, err = conv2DAs[float32](ctx, s.eng, call)
		shape, ans.bits, ans.f32 = out.Shape, 32, out.Data
		// The answer is written by the time the handler returns.
		defer engine.Release(s.eng, out.Data)
	} else {
		var out engine.Tensor[float64]
		out, err = conv2DAs[float64](ctx, s.eng, call)
		shape, ans.t.Data = out.Shape, out.Data
		defer engine.Release(s.eng, out.Data)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	tm.add("queue", st.Queue)
	tm.addDesc("compute", st.Compute, st.Method.String())
	ans.t.Shape = shape[4-call.rank:]
	ans.info = answerInfo{dtype: call.dtype, method: st.Method.String()}
	if err := ans.check(); err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", media)
	h.Add("Vary", "Accept, Accept-Encoding")
	// Float arrays and PNGs barely compress: only text is worth it.
	aw := newAnswerWriter(w, r, &tm, media == mediaJSON)
	if err := ans.render(aw); err != nil {
		if !aw.streamed {
			s.writeError(w, r, err)
			return
		}
		// The status is sent; the client sees the body end early.
		s.log.Info("answer cut short", zap.String("request_id", middleware.GetReqID(r.Context())), zap.Error(err))
	}
	aw.finish()
}

// methods maps the method field to the engine's methods.
var methods = map[string]engine.Method{
	"auto": engine.MethodAuto, "direct": engine.MethodDirect, "fft": engine.MethodFFT, "winograd": engine.MethodWinograd,
}

// corr2dParts are the limits of the tensors of /corr2d, whatever their
// encoding.
func (s *Server) corr2dParts() map[string]partSpec {
	lim := s.cfg.Limits
	return map[string]partSpec{
		"input":  {limit: "max_elements", lim: tensor.Limits{MinRank: 2, MaxRank: 4, MaxElements: lim.MaxElements}},
		"kernel": {limit: "max_kernel_elements", lim: tensor.Limits{MinRank: 2, MaxRank: 4, MaxElements: lim.MaxKernelElements}},
	}
}

// readCorr2d reads a JSON body, or a multipart form of tensor parts and a
// params part.
func (s *Server) readCorr2d(w http.ResponseWriter, r *http.Request) (corr2dRequest, map[string]operand, error) {
	var req corr2dRequest
	parts := s.corr2dParts()
	if isMultipart(r) {
		ops, err := s.readParts(w, r, parts, &req)
		if err != nil {
			return req, nil, err
		}
		return req, ops, s.jsonOperands(ops, parts, []namedRaw{{"input", req.Input}, {"kernel", req.Kernel}})
	}
	ops, err := s.decodeJSON(w, r, &req, parts, []string{"input", "kernel"})
	return req, ops, err
}

// namedRaw is a tensor field of a JSON body.
type namedRaw struct {
	name string
	raw  json.RawMessage
}

// jsonOperands parses tensors given in JSON into ops; a tensor given both as
// a part and in JSON is refused.
func (s *Server) jsonOperands(ops map[string]operand, specs map[string]partSpec, raws []namedRaw) error {
	for _, nr := range raws {
		name, raw := nr.name, nr.raw
		_, asPart := ops[name]
		switch {
		case asPart && !isNull(raw):
			return invalidField(codeInvalidValue, "/"+name, "is given both as a part and in params")
		case asPart:
			continue
		}
		t, err := parseTensor(raw, "/"+name, specs[name].limit, specs[name].lim)
		if err != nil {
			return err
		}
		ops[name] = operand{t: t}
	}
	return nil
}

// conv2DAs computes the call in precision T, as PyTorch does for that
// dtype; operands already in T are used as they are.
func conv2DAs[T engine.Float](ctx context.Context, eng *engine.Engine, c corr2dCall) (engine.Tensor[T], error) {
	x := engine.Tensor[T]{Shape: c.x.Shape, Data: values[T](c.x.Data, c.x32)}
	w := engine.Tensor[T]{Shape: c.w.Shape, Data: values[T](c.w.Data, nil)}
	return engine.Conv2D(ctx, eng, engine.Interactive, x, w, values[T](c.bias, nil), c.conv)
}

// corr2dCall checks the operands and parameters against the limits and
// each other. The input's own dtype (a float32 .npy, say) is the default.
func (s *Server) corr2dCall(req corr2dRequest, in, kernel operand) (corr2dCall, error) {
	lim := s.cfg.Limits
	var c corr2dCall
	var err error
	x, k := in.t, kernel.dense()
	c.x32 = in.f32
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
	def := "float64"
	if in.dtype != "" {
		def = in.dtype
	}
	if c.dtype, err = dtype(req.DType, def); err != nil {
		return c, err
	}
	if c.scale, err = req.scale(); err != nil {
		return c, err
	}
	if req.Method != nil {
		m, ok := methods[*req.Method]
		if !ok {
			return c, invalidField(codeInvalidValue, "/method", `must be "auto", "direct", "fft" or "winograd"`)
		}
		c.conv.Method = m
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

// settle makes the request's memory reservation what the call holds: its
// operands, their copies in the computation's precision, and what the
// engine allocates for it.
func (c corr2dCall) settle(ctx context.Context) error {
	size := 8
	if c.dtype == "float32" {
		size = 4
	}
	need := 8*int64(len(c.x.Data)+len(c.w.Data)) + 4*int64(len(c.x32))
	switch {
	case size == 4 && c.x32 == nil:
		need += 4 * int64(len(c.x.Data))
	case size == 8 && c.x32 != nil:
		need += 8 * int64(len(c.x32))
	}
	if size == 4 {
		need += 4 * int64(len(c.w.Data))
	}
	fp, err := c.conv.Footprint(c.x.Shape, c.w.Shape, size)
	if err != nil {
		return err
	}
	return settle(ctx, need+fp)
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
