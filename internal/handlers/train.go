package handlers

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/corr2d/corr2d/internal/auth"
	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
)

// trainRequest is the body of POST /train. Optional fields are pointers so
// that an explicit zero is told apart from an absent field.
type trainRequest struct {
	convParams
	Input      json.RawMessage   `json:"input"`
	Target     json.RawMessage   `json:"target"`
	KernelSize []int             `json:"kernel_size"`
	Bias       *bool             `json:"bias"`
	DType      *string           `json:"dtype"`
	LR         *float64          `json:"lr"`
	Steps      *int              `json:"steps"`
	Loss       *train.Loss       `json:"loss"`
	Seed       *uint64           `json:"seed"`
	Init       json.RawMessage   `json:"init"`
	InitBias   []float64         `json:"init_bias"`
	Optimizer  *optimizerRequest `json:"optimizer"`
}

// optimizerRequest has torch.optim's parameter names; absent fields take
// torch.optim's defaults.
type optimizerRequest struct {
	Name        string    `json:"name"`
	Momentum    *float64  `json:"momentum"`
	Dampening   *float64  `json:"dampening"`
	Nesterov    *bool     `json:"nesterov"`
	WeightDecay *float64  `json:"weight_decay"`
	Betas       []float64 `json:"betas"`
	Eps         *float64  `json:"eps"`
}

// UnmarshalJSON decodes strictly, as the body's other members are decoded,
// so that a fault is named by its full pointer.
func (o *optimizerRequest) UnmarshalJSON(b []byte) error {
	type plain optimizerRequest
	return decodeObject(b, (*plain)(o), "/optimizer")
}

// trainEcho is a job's request as the API shows it: what the client sent,
// with every default filled in.
type trainEcho struct {
	Input       tensorInfo      `json:"input"`
	Target      tensorInfo      `json:"target"`
	KernelSize  [2]int          `json:"kernel_size"`
	Stride      json.RawMessage `json:"stride"`
	Padding     json.RawMessage `json:"padding"`
	Dilation    json.RawMessage `json:"dilation"`
	Groups      int             `json:"groups"`
	PaddingMode string          `json:"padding_mode"`
	Bias        bool            `json:"bias"`
	DType       train.DType     `json:"dtype"`
	LR          float64         `json:"lr"`
	Steps       int             `json:"steps"`
	Loss        train.Loss      `json:"loss"`
	Seed        *uint64         `json:"seed,omitempty"`
	Init        *tensorInfo     `json:"init,omitempty"`
	InitBias    []float64       `json:"init_bias,omitempty"`
	Optimizer   optimizerEcho   `json:"optimizer"`
}

// trainParts are the tensors of /train, whatever their encoding.
func (s *Server) trainParts() map[string]partSpec {
	tl := tensor.Limits{MinRank: 2, MaxRank: 4, MaxElements: s.cfg.Limits.MaxElements}
	return map[string]partSpec{"input": {limit: "max_elements", lim: tl}, "target": {limit: "max_elements", lim: tl}}
}

// readTrain reads a JSON body, or a multipart form of input and target
// parts and a params part.
func (s *Server) readTrain(w http.ResponseWriter, r *http.Request) (trainRequest, map[string]operand, error) {
	var req trainRequest
	parts := s.trainParts()
	if !isMultipart(r) {
		ops, err := s.decodeJSON(w, r, &req, parts, []string{"input", "target"})
		return req, ops, err
	}
	ops, err := s.readParts(w, r, parts, &req)
	if err != nil {
		return req, nil, err
	}
	return req, ops, s.jsonOperands(ops, parts, []namedRaw{{"input", req.Input}, {"target", req.Target}})
}

// spec turns the request into a job spec with d2l's defaults: lr 0.03,
// 10 steps, summed loss, no bias, plain SGD, seed 0, and PyTorch's float32
// (or the input's own dtype, for a .npy input).
func (s *Server) spec(req trainRequest, ops map[string]operand) (jobs.Spec, error) {
	lim := s.cfg.Limits
	spec := jobs.Spec{LR: 0.03, Steps: 10, Loss: train.LossSum, DType: train.Float32, Seed: req.Seed}
	x, y := ops["input"].dense(), ops["target"].dense()
	var err error
	if len(y.Shape) != len(x.Shape) {
		return spec, invalidField(codeInvalidShape, "/target", "must have the input's rank, %d", len(x.Shape))
	}
	spec.Rank = len(x.Shape)
	xs, ys := lift(x), lift(y)
	spec.Input = tensor.Dense{Shape: xs[:], Data: x.Data}
	spec.Target = tensor.Dense{Shape: ys[:], Data: y.Data}
	if len(req.KernelSize) != 2 {
		return spec, invalidField(codeInvalidValue, "/kernel_size", "must be [kh, kw]")
	}
	spec.KernelSize = [2]int{req.KernelSize[0], req.KernelSize[1]}
	if kh, kw := spec.KernelSize[0], spec.KernelSize[1]; kh > 0 && kw > 0 && int64(kh)*int64(kw)*int64(xs[1])*int64(ys[1]) > int64(lim.MaxKernelElements) {
		return spec, tooLarge("max_kernel_elements", "/kernel_size", "the weights would have more than %d elements", lim.MaxKernelElements)
	}
	if spec.Conv, err = req.conv(); err != nil {
		return spec, err
	}
	if req.Bias != nil {
		spec.Bias = *req.Bias
	}
	def := string(train.Float32)
	if d := ops["input"].dtype; d != "" {
		def = d
	}
	dt, err := dtype(req.DType, def)
	if err != nil {
		return spec, err
	}
	spec.DType = train.DType(dt)
	var initSent *tensor.Dense // as the client sent it, for the echo
	if !isNull(req.Init) {
		k, err := parseTensor(req.Init, "/init", "max_kernel_elements", tensor.Limits{MinRank: 2, MaxRank: 4, MaxElements: lim.MaxKernelElements})
		if err != nil {
			return spec, err
		}
		if len(k.Shape) == 3 {
			return spec, invalidField(codeInvalidShape, "/init", "must be 2-D kh×kw or 4-D O×(C/groups)×kh×kw")
		}
		initSent = &k
		ks := lift(k)
		spec.Init = &tensor.Dense{Shape: ks[:], Data: k.Data}
		spec.InitBias = req.InitBias
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
		return spec, tooLarge("max_steps", "/steps", "must be at most %d", lim.MaxSteps)
	}
	if req.Loss != nil {
		spec.Loss = *req.Loss
	}
	if spec.Optimizer, err = optimizer(req.Optimizer); err != nil {
		return spec, err
	}
	if spec.Request, err = json.Marshal(newTrainEcho(req, spec, x, y, initSent)); err != nil {
		return spec, fmt.Errorf("encode request: %w", err)
	}
	return spec, nil
}

// newTrainEcho is the one place that builds a job's request as the API
// shows it: the client's tensors and wire forms, the spec's defaults.
func newTrainEcho(req trainRequest, spec jobs.Spec, x, y tensor.Dense, init *tensor.Dense) trainEcho {
	echo := trainEcho{
		Input: tensorInfo{Shape: x.Shape, DType: spec.DType}, Target: tensorInfo{Shape: y.Shape, DType: spec.DType},
		KernelSize: spec.KernelSize,
		Stride:     orDefault(req.Stride, "1"), Padding: orDefault(req.Padding, "0"), Dilation: orDefault(req.Dilation, "1"),
		Groups: max(spec.Conv.Groups, 1), PaddingMode: "zeros", Bias: spec.Bias, DType: spec.DType,
		LR: spec.LR, Steps: spec.Steps, Loss: spec.Loss, Seed: spec.Seed, InitBias: spec.InitBias,
		Optimizer: echoOptimizer(spec.Optimizer),
	}
	if init != nil {
		echo.Init = &tensorInfo{Shape: init.Shape, DType: spec.DType}
	}
	if req.PaddingMode != nil {
		echo.PaddingMode = *req.PaddingMode
	}
	return echo
}

// orDefault is raw, or the JSON def when raw is absent or null.
func orDefault(raw json.RawMessage, def string) json.RawMessage {
	if isNull(raw) {
		return json.RawMessage(def)
	}
	return raw
}

// optimizer fills in torch.optim's defaults: plain SGD when absent. The
// optimizer's rules are jobs.Spec.Validate's.
func optimizer(req *optimizerRequest) (train.Optimizer, error) {
	o := train.Optimizer{Name: train.SGD}
	if req == nil {
		return o, nil
	}
	o.Name = req.Name
	set := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	if req.Name == train.Adam {
		o.Betas, o.Eps = [2]float64{0.9, 0.999}, 1e-8
	}
	set(&o.Momentum, req.Momentum)
	set(&o.Dampening, req.Dampening)
	if req.Nesterov != nil {
		o.Nesterov = *req.Nesterov
	}
	set(&o.Eps, req.Eps)
	if req.Betas != nil {
		if len(req.Betas) != 2 {
			return o, invalidField(codeInvalidValue, "/optimizer/betas", "must be [beta1, beta2]")
		}
		o.Betas = [2]float64(req.Betas)
	}
	set(&o.WeightDecay, req.WeightDecay)
	return o, nil
}

// trainCopies is how many copies of its tensors a /train request holds at
// the most: as decoded, and as the job store encodes and writes them.
const trainCopies = 4

// train answers POST /train: it checks the request and submits the job,
// answering 202 with the job and its Location.
func (s *Server) train(w http.ResponseWriter, r *http.Request) {
	req, ops, err := s.readTrain(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	spec, err := s.spec(req, ops)
	if err == nil {
		// The tensors and the copies that storing the job encodes; or, if
		// more, what the job will reserve to run, so that a job this
		// server could never run is refused now rather than failing once
		// queued. The two are not added up: the job reserves its own
		// memory when it starts, and waits for this request's to come
		// back if it must.
		err = settle(r.Context(), max(trainCopies*8*int64(len(spec.Input.Data)+len(spec.Target.Data)), spec.WorkingSet()))
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var owner string
	if p, ok := auth.FromContext(r.Context()); ok {
		owner = p.Name
	}
	j, err := s.jobs.SubmitAs(r.Context(), jobs.Owner{Name: owner, MaxActive: s.cfg.Access.MaxActiveJobs}, spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/jobs/"+j.ID)
	s.writeJSON(w, r, http.StatusAccepted, jobView(j))
}
