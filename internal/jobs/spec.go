package jobs

import (
	"errors"
	"fmt"
	"math"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/train"
)

// FieldError is an invalid field of a request, named by its JSON pointer.
type FieldError struct {
	Pointer string
	Detail  string
}

// Error implements error.
func (e *FieldError) Error() string { return e.Pointer + ": " + e.Detail }

// Unwrap makes every FieldError an ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func invalid(pointer, format string, args ...any) error {
	return &FieldError{Pointer: pointer, Detail: fmt.Sprintf(format, args...)}
}

// WeightShape is the shape O×(C/groups)×kh×kw of the weights the spec trains.
func (s Spec) WeightShape() [4]int {
	groups := max(s.Conv.Groups, 1)
	return [4]int{s.Target.Shape[1], s.Input.Shape[1] / groups, s.KernelSize[0], s.KernelSize[1]}
}

// loadCopies is how many copies of its tensors loading a job holds at
// the most, counted at 8 bytes an element: the stored bytes as the
// database holds them in memory (SQLite materialises a value it returns),
// as its driver hands them over, and decoded to float64; and one for the
// garbage collector's slack until the first two go.
const loadCopies = 4

// WorkingSet is the memory in bytes that a run of a job of this spec holds
// at the most: while it loads its input and target, or while it trains on
// them (the float64 data, the trainer's copies in its precision, and the
// forward and backward passes' outputs and padded copies). It needs only
// the shapes, so a runner reserves it before it loads anything.
func (s Spec) WorkingSet() int64 {
	if len(s.Input.Shape) != 4 || len(s.Target.Shape) != 4 {
		return 0
	}
	n := elements(s.Input.Shape) + elements(s.Target.Shape)
	load := loadCopies * 8 * n
	size, run := int64(8), 8*n // a float64 trainer reads the data in place
	if s.DType == train.Float32 {
		size, run = 4, 12*n
	}
	if fp, err := s.Conv.Footprint([4]int(s.Input.Shape), s.WeightShape(), int(size)); err == nil {
		run += 2 * fp
	}
	return max(load, run)
}

func elements(shape []int) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= int64(d)
	}
	return n
}

// Problem is what the trainer learns from.
func (s Spec) Problem() train.Problem {
	return train.Problem{Input: s.Input, Target: s.Target, KernelSize: s.KernelSize, Conv: s.Conv,
		Loss: s.Loss, LR: s.LR, Optimizer: s.Optimizer}
}

// Validate checks what the JSON shape alone cannot: that the sizes agree
// and the numbers make sense, as PyTorch's nn.Conv2d and optimizers would.
// Input and Target must be 4-D.
func (s Spec) Validate() error {
	in, tgt := s.Input.Shape, s.Target.Shape
	if len(in) != 4 || len(tgt) != 4 {
		return invalid("/target", "must have the rank of the input")
	}
	kh, kw := s.KernelSize[0], s.KernelSize[1]
	if kh < 1 || kw < 1 {
		return invalid("/kernel_size", "must be at least [1, 1], got [%d, %d]", kh, kw)
	}
	if tgt[0] != in[0] {
		return invalid("/target", "has a batch of %d, the input %d", tgt[0], in[0])
	}
	groups := max(s.Conv.Groups, 1)
	if in[1]%groups != 0 || tgt[1]%groups != 0 {
		return invalid("/groups", "%d groups must divide the %d input and %d output channels", groups, in[1], tgt[1])
	}
	w := s.WeightShape()
	_, out, err := s.Conv.Geometry([4]int(in), w)
	var pe *engine.ParamError
	switch {
	case errors.As(err, &pe) && pe.Param == engine.ParamKernel:
		// The weights' shape comes from kernel_size here.
		return invalid("/kernel_size", "%s", pe.Msg)
	case errors.As(err, &pe):
		// The HTTP layer names the field of the engine's parameter.
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	case err != nil:
		return invalid("/kernel_size", "%v", err)
	}
	if out != [4]int(tgt) {
		return invalid("/target", "must have shape %v (the output of this convolution), got %v", out[:], tgt)
	}
	if s.Conv.Convolve || s.Conv.Fill != 0 {
		return invalid("/padding_mode", "training supports correlation with PyTorch's padding modes only")
	}
	if s.DType != train.Float32 && s.DType != train.Float64 {
		return invalid("/dtype", `must be "float32" or "float64", got %q`, s.DType)
	}
	if !(s.LR > 0) || math.IsInf(s.LR, 0) {
		return invalid("/lr", "must be a finite number > 0, got %v", s.LR)
	}
	if s.Steps < 1 {
		return invalid("/steps", "must be at least 1, got %d", s.Steps)
	}
	if s.Loss != train.LossSum && s.Loss != train.LossMean {
		return invalid("/loss", `must be "sum" or "mean", got %q`, s.Loss)
	}
	if err := validateOptimizer(s.Optimizer); err != nil {
		return err
	}
	switch {
	case s.Seed != nil && s.Init != nil:
		return invalid("/init", "give either seed or init, not both")
	case s.Seed == nil && s.Init == nil:
		return invalid("/seed", "give either seed or init")
	case s.Init != nil && (len(s.Init.Shape) != 4 || [4]int(s.Init.Shape) != w):
		return invalid("/init", "must have the weight shape %v, got %v", w[:], s.Init.Shape)
	case s.InitBias != nil && s.Init == nil:
		return invalid("/init_bias", "goes with init")
	case s.Init != nil && s.Bias && len(s.InitBias) != w[0]:
		return invalid("/init_bias", "must hold %d numbers, one per output channel", w[0])
	case s.Init != nil && !s.Bias && s.InitBias != nil:
		return invalid("/init_bias", "needs bias: true")
	}
	return nil
}

// validateOptimizer applies PyTorch's own checks of torch.optim.SGD and
// Adam, and refuses the other optimizer's settings.
func validateOptimizer(o train.Optimizer) error {
	nonNeg := func(ptr string, v float64) error {
		if !(v >= 0) || math.IsInf(v, 0) {
			return invalid(ptr, "must be a finite number >= 0, got %v", v)
		}
		return nil
	}
	switch o.Name {
	case train.SGD:
		if o.Betas != [2]float64{} || o.Eps != 0 {
			return invalid("/optimizer", "betas and eps belong to adam")
		}
		for _, f := range []struct {
			ptr string
			v   float64
		}{{"/optimizer/momentum", o.Momentum}, {"/optimizer/dampening", o.Dampening}, {"/optimizer/weight_decay", o.WeightDecay}} {
			if err := nonNeg(f.ptr, f.v); err != nil {
				return err
			}
		}
		if o.Nesterov && (o.Momentum <= 0 || o.Dampening != 0) {
			return invalid("/optimizer/nesterov", "needs momentum > 0 and dampening 0")
		}
	case train.Adam:
		if o.Momentum != 0 || o.Dampening != 0 || o.Nesterov {
			return invalid("/optimizer", "momentum, dampening and nesterov belong to sgd")
		}
		for i, b := range o.Betas {
			if !(b >= 0 && b < 1) {
				return invalid(fmt.Sprintf("/optimizer/betas/%d", i), "must be in [0, 1), got %v", b)
			}
		}
		if err := nonNeg("/optimizer/eps", o.Eps); err != nil {
			return err
		}
		if err := nonNeg("/optimizer/weight_decay", o.WeightDecay); err != nil {
			return err
		}
	default:
		return invalid("/optimizer/name", `must be "sgd" or "adam", got %q`, o.Name)
	}
	return nil
}
