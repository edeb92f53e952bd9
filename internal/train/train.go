// Package train learns the weights of a convolution layer as PyTorch
// would: the training step, the SGD and Adam optimizers and PyTorch's
// default initialisation, on the engine, with no queue or database.
package train

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/corr2d/corr2d/internal/engine"
	"github.com/corr2d/corr2d/internal/tensor"
)

// Problem is what a trainer learns from: 4-D tensors, the input N×C×H×W
// and the target N×O×Ho×Wo, and how to learn. The caller validates it.
type Problem struct {
	Input, Target tensor.Dense
	KernelSize    [2]int
	Conv          engine.Conv
	Loss          Loss
	LR            float64
	Optimizer     Optimizer
}

// ErrNotFinite is a step whose loss, or whose updated weights, are not
// finite numbers: the learning rate is too high for the problem. The error
// Step returns says which.
var ErrNotFinite = errors.New("not finite")

// notFinite is an ErrNotFinite that names what overflowed.
type notFinite string

func (e notFinite) Error() string        { return string(e) }
func (e notFinite) Is(target error) bool { return target == ErrNotFinite }

// Trainer learns the weights W (and bias b) of a convolution layer that
// minimise the squared error between conv(X; W, b) and Y, in precision T,
// following PyTorch's nn.Conv2d and torch.optim step by step.
//
// The loss recorded for step i is the loss before the i-th update, as d2l
// prints it. The gradients are exact: with the residual R = conv(X) − Y and
// c = 2 (summed loss) or 2/n (mean), ∂L/∂W is the weight gradient of the
// convolution at dY = c·R, and ∂L/∂b[o] = Σ dY[·][o][·][·]; both passes run
// on the engine.
type Trainer[T engine.Float] struct {
	eng    *engine.Engine
	x, y   engine.Tensor[T]
	conv   engine.Conv
	kh, kw int
	mean   bool
	lr     float64
	opt    Optimizer
}

// New returns a trainer of pr in precision T that runs on eng.
func New[T engine.Float](eng *engine.Engine, pr Problem) Trainer[T] {
	return Trainer[T]{
		eng:  eng,
		x:    view[T](pr.Input),
		y:    view[T](pr.Target),
		conv: pr.Conv,
		kh:   pr.KernelSize[0],
		kw:   pr.KernelSize[1],
		mean: pr.Loss == LossMean,
		lr:   pr.LR,
		opt:  pr.Optimizer,
	}
}

// Step computes the loss at p and returns it with the updated parameters.
// A loss or an update that is not finite is an ErrNotFinite, with p
// unchanged.
func (t Trainer[T]) Step(ctx context.Context, p Params[T]) (float64, Params[T], error) {
	yhat, err := engine.Conv2D(ctx, t.eng, engine.Background, t.x, p.w, p.b, t.conv)
	if err != nil {
		return 0, p, fmt.Errorf("forward pass: %w", err)
	}
	// The output becomes dy in place and is dead once the step is done: a
	// large job reuses it for the next step's output.
	defer engine.Release(t.eng, yhat.Data)
	n := len(yhat.Data)
	// The sum is taken in float64 and rounded once: as close to the exact
	// value as PyTorch's own reduction gets, whatever its order.
	var sum float64
	for i, v := range yhat.Data {
		r := T(v - t.y.Data[i]) //nolint:unconvert // rounds here, as PyTorch's own tensor does
		yhat.Data[i] = r
		sum += float64(r) * float64(r)
	}
	loss := float64(T(sum))
	scale := T(2)
	if t.mean {
		// PyTorch's mean backward spreads 1/n, rounded, and pow's backward
		// doubles the residual.
		loss = float64(T(sum / float64(n)))
		scale = 2 * (1 / T(n))
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, p, notFinite("loss is not finite")
	}
	dy := yhat
	for i, r := range dy.Data {
		dy.Data[i] = scale * r
	}
	dw, err := engine.Conv2DWeightGrad(ctx, t.eng, engine.Background, t.x, dy, t.kh, t.kw, t.conv)
	if err != nil {
		return 0, p, fmt.Errorf("gradient: %w", err)
	}
	grads := [][]T{dw.Data}
	next := Params[T]{w: engine.Tensor[T]{Shape: p.w.Shape, Data: clone(p.w.Data)}, step: p.step + 1}
	tensors := [][]T{next.w.Data}
	if p.b != nil {
		grads = append(grads, biasGrad(dy))
		next.b = clone(p.b)
		tensors = append(tensors, next.b)
	}
	for i := range p.buf {
		next.buf = append(next.buf, clone(p.buf[i]))
	}
	for i := range p.sq {
		next.sq = append(next.sq, clone(p.sq[i]))
	}
	t.update(&next, tensors, grads)
	if !next.finite() {
		return loss, p, notFinite("the weights are not finite after the update")
	}
	return loss, next, nil
}

// biasGrad sums dY over the batch and the spatial axes, per channel.
func biasGrad[T engine.Float](dy engine.Tensor[T]) []T {
	n, o, plane := dy.Shape[0], dy.Shape[1], dy.Shape[2]*dy.Shape[3]
	g := make([]T, o)
	for c := range o {
		var s float64
		for b := range n {
			for _, v := range dy.Data[(b*o+c)*plane : (b*o+c+1)*plane] {
				s += float64(v)
			}
		}
		g[c] = T(s)
	}
	return g
}

// update applies one optimizer step to each parameter tensor in place,
// with torch.optim's update rules (PyTorch 1.13, single-tensor path).
func (t Trainer[T]) update(p *Params[T], tensors, grads [][]T) {
	o := t.opt
	wd := T(o.WeightDecay)
	switch o.Name {
	case Adam:
		if p.buf == nil {
			for _, g := range grads {
				p.buf = append(p.buf, make([]T, len(g)))
				p.sq = append(p.sq, make([]T, len(g)))
			}
		}
		b1, b2 := T(o.Betas[0]), T(o.Betas[1])
		c1, c2 := T(1-o.Betas[0]), T(1-o.Betas[1])
		// The bias corrections are Python floats in PyTorch: double.
		bc1 := 1 - math.Pow(o.Betas[0], float64(p.step))
		bc2 := 1 - math.Pow(o.Betas[1], float64(p.step))
		stepSize := T(-(t.lr / bc1))
		bc2Sqrt := T(math.Sqrt(bc2))
		eps := T(o.Eps)
		for k, w := range tensors {
			m, v := p.buf[k], p.sq[k]
			for i, g := range grads[k] {
				if wd != 0 {
					g += wd * w[i]
				}
				m[i] = T(m[i]*b1) + c1*g                              //nolint:unconvert // PyTorch rounds after mul_
				v[i] = T(v[i]*b2) + c2*T(g*g)                         //nolint:unconvert // and after each product
				denom := T(T(math.Sqrt(float64(v[i])))/bc2Sqrt) + eps //nolint:unconvert // sqrt in T
				w[i] += stepSize * T(m[i]/denom)                      //nolint:unconvert // addcdiv divides first
			}
		}
	default: // sgd
		mom, damp := T(o.Momentum), T(1-o.Dampening)
		if o.Momentum != 0 && p.buf == nil {
			for _, g := range grads {
				p.buf = append(p.buf, make([]T, len(g)))
			}
		}
		first := p.step == 1
		lr := T(-t.lr)
		for k, w := range tensors {
			for i, g := range grads[k] {
				d := g
				if wd != 0 {
					d += wd * w[i]
				}
				if mom != 0 {
					buf := p.buf[k]
					if first {
						buf[i] = d
					} else {
						buf[i] = T(buf[i]*mom) + damp*d //nolint:unconvert // PyTorch rounds after mul_
					}
					if o.Nesterov {
						d += mom * buf[i]
					} else {
						d = buf[i]
					}
				}
				w[i] += lr * d
			}
		}
	}
}

func clone[T engine.Float](s []T) []T { return append([]T(nil), s...) }
