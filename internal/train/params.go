package train

import (
	"math"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/tensor"
)

// DType is the precision a job trains in.
type DType string

// The supported precisions; float32 is PyTorch's default.
const (
	Float32 DType = "float32"
	Float64 DType = "float64"
)

// Loss names how the per-element squared errors are reduced.
type Loss string

// The supported losses: the seed's l.sum(), and the mean.
const (
	LossSum  Loss = "sum"
	LossMean Loss = "mean"
)

// The optimizers, with torch.optim's names.
const (
	SGD  = "sgd"
	Adam = "adam"
)

// Optimizer configures the update rule, with PyTorch's names and defaults
// (torch.optim.SGD and torch.optim.Adam). Momentum, Dampening and Nesterov
// belong to SGD, Betas and Eps to Adam.
type Optimizer struct {
	Name        string     `json:"name"` // SGD or Adam
	Momentum    float64    `json:"momentum"`
	Dampening   float64    `json:"dampening"`
	Nesterov    bool       `json:"nesterov"`
	WeightDecay float64    `json:"weight_decay"`
	Betas       [2]float64 `json:"betas"`
	Eps         float64    `json:"eps"`
}

// OptState is an optimizer's memory in float64, as checkpoints keep it
// (float32 values are exact in float64): the steps taken, then SGD's
// momentum or Adam's first moment and Adam's second moment, one slice per
// parameter tensor (weight, then bias), empty until the first step.
type OptState struct {
	Step int         `json:"step"`
	Buf  [][]float64 `json:"buf,omitempty"`
	Sq   [][]float64 `json:"sq,omitempty"`
}

// State is everything training changes, in float64: what a checkpoint
// saves and a resumed run starts from.
type State struct {
	Weight tensor.Dense
	Bias   []float64 // nil without a bias
	Opt    OptState
}

// Params are a State in the trainer's precision T.
type Params[T engine.Float] struct {
	w engine.Tensor[T]
	b []T
	// step counts optimizer steps; buf holds SGD's momentum or Adam's first
	// moment and sq Adam's second moment, per parameter tensor.
	step    int
	buf, sq [][]T
}

// Load converts a saved state to precision T.
func Load[T engine.Float](s State) Params[T] {
	p := Params[T]{w: toTensor[T](s.Weight), b: engine.Convert[T](s.Bias), step: s.Opt.Step}
	for _, b := range s.Opt.Buf {
		p.buf = append(p.buf, engine.Convert[T](b))
	}
	for _, s := range s.Opt.Sq {
		p.sq = append(p.sq, engine.Convert[T](s))
	}
	return p
}

// State converts p back to float64 for a checkpoint.
func (p Params[T]) State() State {
	s := State{
		Weight: tensor.Dense{Shape: p.w.Shape[:], Data: engine.Convert[float64](p.w.Data)},
		Bias:   engine.Convert[float64](p.b),
		Opt:    OptState{Step: p.step},
	}
	for _, b := range p.buf {
		s.Opt.Buf = append(s.Opt.Buf, engine.Convert[float64](b))
	}
	for _, q := range p.sq {
		s.Opt.Sq = append(s.Opt.Sq, engine.Convert[float64](q))
	}
	return s
}

// finite reports whether every weight and bias is a finite number.
func (p Params[T]) finite() bool {
	for _, s := range [][]T{p.w.Data, p.b} {
		for _, v := range s {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return false
			}
		}
	}
	return true
}

// view is d in precision T: d's own data when T is float64, which the
// trainer only reads, else a converted copy.
func view[T engine.Float](d tensor.Dense) engine.Tensor[T] {
	if data, ok := any(d.Data).([]T); ok {
		return engine.Tensor[T]{Shape: [4]int(d.Shape), Data: data}
	}
	return toTensor[T](d)
}

func toTensor[T engine.Float](d tensor.Dense) engine.Tensor[T] {
	return engine.Tensor[T]{Shape: [4]int(d.Shape), Data: engine.Convert[T](d.Data)}
}
