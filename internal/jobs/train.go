package jobs

import (
	"context"
	"fmt"
	"math"

	"github.com/corr2d/corr2d/internal/engine"
)

// trainer learns a kernel K minimising the squared error between
// corr2d(X, K) and Y by plain gradient descent, in precision T.
//
// It follows d2l's loop with nn.Conv2d: the loss recorded for step i is the
// loss before the i-th update, and the update is K ← K − lr·∂L/∂K. The
// gradient is exact: with residual R = corr2d(X, K) − Y,
// ∂L/∂K = corr2d(X, c·R) with c = 2 for the summed loss and 2/n for the mean,
// so both passes run on the engine.
type trainer[T engine.Float] struct {
	eng  *engine.Engine
	x, y engine.Matrix[T]
	lr   T
	mean bool
}

func newTrainer[T engine.Float](eng *engine.Engine, s Spec) trainer[T] {
	return trainer[T]{
		eng:  eng,
		x:    toMatrix[T](s.Input),
		y:    toMatrix[T](s.Target),
		lr:   T(s.LR),
		mean: s.Loss == LossMean,
	}
}

// step computes the loss at k and returns it with the updated kernel.
func (t trainer[T]) step(ctx context.Context, k engine.Matrix[T]) (float64, engine.Matrix[T], error) {
	yhat, err := engine.Correlate(ctx, t.eng, engine.Background, t.x, k)
	if err != nil {
		return 0, k, fmt.Errorf("forward pass: %w", err)
	}
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
		loss = float64(T(sum / float64(n)))
		scale = 2 * (1 / T(n))
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, k, nil
	}
	for i, r := range yhat.Data {
		yhat.Data[i] = scale * r
	}
	grad, err := engine.Correlate(ctx, t.eng, engine.Background, t.x, yhat)
	if err != nil {
		return 0, k, fmt.Errorf("gradient: %w", err)
	}
	next := engine.Matrix[T]{Rows: k.Rows, Cols: k.Cols, Data: make([]T, len(k.Data))}
	for i, g := range grad.Data {
		// PyTorch forms lr·grad as its own tensor before subtracting, so
		// the product is rounded first; the conversions forbid a fused
		// multiply-add that would skip that rounding.
		d := T(t.lr * g)                //nolint:unconvert // see above
		next.Data[i] = T(k.Data[i] - d) //nolint:unconvert // see above
	}
	return loss, next, nil
}

func toMatrix[T engine.Float](rows [][]float64) engine.Matrix[T] {
	m := engine.Matrix[T]{Rows: len(rows)}
	if m.Rows > 0 {
		m.Cols = len(rows[0])
	}
	m.Data = make([]T, 0, m.Rows*m.Cols)
	for _, row := range rows {
		for _, v := range row {
			m.Data = append(m.Data, T(v))
		}
	}
	return m
}

func fromMatrix[T engine.Float](m engine.Matrix[T]) [][]float64 {
	rows := make([][]float64, m.Rows)
	for i := range rows {
		rows[i] = make([]float64, m.Cols)
		for j := range rows[i] {
			rows[i][j] = float64(m.Data[i*m.Cols+j])
		}
	}
	return rows
}
