package engine

import (
	"context"
	"fmt"
)

// Correlate computes the 2-D "valid" cross-correlation of x with k (d2l corr2d):
// out[i][j] = sum_{a<kh, b<kw} x[i+a][j+b]*k[a][b], shape (xr-kr+1) x (xc-kc+1).
//
// Each output element is summed in T (float32 inputs accumulate in float32,
// as PyTorch does), over a then b in row-major kernel order, starting from
// zero. The output rows are split into bands run in parallel on the pool;
// every element is computed by exactly one band, so the split never changes
// the result.
//
// The call waits until all its bands have finished or been skipped, so no
// worker writes to the result after it returns. Cancelling ctx stops the
// work: queued bands are skipped, running bands stop between output rows, and
// Correlate returns an error wrapping ctx.Err().
//
// An Interactive request for which the queue has no room for all its bands
// fails at once with ErrOverloaded and enqueues nothing. A Background request
// waits for room, ctx or Close. Invalid shapes fail with ErrShape, and a
// closed engine with ErrClosed.
func Correlate[T Float](ctx context.Context, e *Engine, p Priority, x, k Matrix[T]) (Matrix[T], error) {
	if err := checkShapes(x, k); err != nil {
		return Matrix[T]{}, err
	}
	if err := ready(ctx, p, "correlate"); err != nil {
		return Matrix[T]{}, err
	}

	// A valid cross-correlation is the simplest Conv2D: one image, one
	// channel, no padding, stride 1. Its path is no slower than a dedicated
	// one, since an unpadded stride-1 input is used in place, not copied.
	x4 := Tensor[T]{Shape: [4]int{1, 1, x.Rows, x.Cols}, Data: x.Data}
	k4 := Tensor[T]{Shape: [4]int{1, 1, k.Rows, k.Cols}, Data: k.Data}
	var c Conv
	var out Tensor[T]
	g, err := c.resolve(x4.Shape, k4.Shape)
	if err == nil {
		out, err = conv2d(ctx, e, p, x4, k4, nil, g, c)
	}
	if err != nil {
		return Matrix[T]{}, fmt.Errorf("engine: correlate: %w", err)
	}
	return Matrix[T]{Rows: out.Shape[2], Cols: out.Shape[3], Data: out.Data}, nil
}

// checkShapes validates the inputs once, at the edge, so the kernels below
// can assume them.
func checkShapes[T Float](x, k Matrix[T]) error {
	if err := checkMatrix("input", x); err != nil {
		return err
	}
	if err := checkMatrix("kernel", k); err != nil {
		return err
	}
	if k.Rows > x.Rows || k.Cols > x.Cols {
		return fmt.Errorf("%w: kernel %dx%d larger than input %dx%d", ErrShape, k.Rows, k.Cols, x.Rows, x.Cols)
	}
	return nil
}

func checkMatrix[T Float](name string, m Matrix[T]) error {
	if m.Rows <= 0 || m.Cols <= 0 {
		return fmt.Errorf("%w: %s is %dx%d", ErrShape, name, m.Rows, m.Cols)
	}
	// Dividing instead of multiplying Rows*Cols avoids overflow on absurd
	// dimensions.
	if len(m.Data)%m.Cols != 0 || len(m.Data)/m.Cols != m.Rows {
		return fmt.Errorf("%w: %s is %dx%d but has %d elements", ErrShape, name, m.Rows, m.Cols, len(m.Data))
	}
	return nil
}

// bands returns how many bands to split an outRows x outCols output into, given taps
// multiply-adds per element: enough for each band to carry at least
// minBandWork, at most a few per worker, never more than the queue holds (or
// a big request could never be admitted) and never more than the rows.
func (e *Engine) bands(outRows, outCols, taps int) int {
	// Floating point because the product can overflow int for huge inputs.
	work := float64(outRows) * float64(outCols) * float64(taps)
	n := min(work/float64(e.minBandWork), float64(outRows), float64(e.queueSize), float64(maxBandsPerWorker*e.workers))
	return max(int(n), 1)
}

// The axpyN helpers add N weighted source rows to d, one tap after another,
// so the order of the additions into each element is unchanged from N
// separate passes while d is loaded and stored once. Reslicing every source
// to len(d) lets the compiler drop the bounds checks in the loop.

func axpy8[T Float](d, s0, s1, s2, s3, s4, s5, s6, s7 []T, w0, w1, w2, w3, w4, w5, w6, w7 T) {
	s0, s1, s2, s3 = s0[:len(d)], s1[:len(d)], s2[:len(d)], s3[:len(d)]
	s4, s5, s6, s7 = s4[:len(d)], s5[:len(d)], s6[:len(d)], s7[:len(d)]
	for i, v := range d {
		v += w0 * s0[i]
		v += w1 * s1[i]
		v += w2 * s2[i]
		v += w3 * s3[i]
		v += w4 * s4[i]
		v += w5 * s5[i]
		v += w6 * s6[i]
		v += w7 * s7[i]
		d[i] = v
	}
}

func axpy4[T Float](d, s0, s1, s2, s3 []T, w0, w1, w2, w3 T) {
	s0, s1, s2, s3 = s0[:len(d)], s1[:len(d)], s2[:len(d)], s3[:len(d)]
	for i, v := range d {
		v += w0 * s0[i]
		v += w1 * s1[i]
		v += w2 * s2[i]
		v += w3 * s3[i]
		d[i] = v
	}
}

func axpy3[T Float](d, s0, s1, s2 []T, w0, w1, w2 T) {
	s0, s1, s2 = s0[:len(d)], s1[:len(d)], s2[:len(d)]
	for i, v := range d {
		v += w0 * s0[i]
		v += w1 * s1[i]
		v += w2 * s2[i]
		d[i] = v
	}
}

func axpy2[T Float](d, s0, s1 []T, w0, w1 T) {
	s0, s1 = s0[:len(d)], s1[:len(d)]
	for i, v := range d {
		v += w0 * s0[i]
		v += w1 * s1[i]
		d[i] = v
	}
}

func axpy1[T Float](d, s0 []T, w0 T) {
	s0 = s0[:len(d)]
	for i, v := range d {
		v += w0 * s0[i]
		d[i] = v
	}
}
