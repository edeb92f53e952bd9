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
	if p != Interactive && p != Background {
		return Matrix[T]{}, fmt.Errorf("engine: unknown priority %d", int(p))
	}
	if err := ctx.Err(); err != nil {
		return Matrix[T]{}, fmt.Errorf("engine: correlate: %w", err)
	}

	j := &job[T]{
		x: x.Data, xc: x.Cols,
		k: k.Data, kr: k.Rows, kc: k.Cols,
		oc: x.Cols - k.Cols + 1,
	}
	outRows := x.Rows - k.Rows + 1
	j.out = make([]T, outRows*j.oc)

	n := e.bands(outRows, j.oc, k.Rows*k.Cols)
	tasks := make([]task, n)
	// A derived context lets one failing band (a panic, say) cancel its
	// siblings, whose work would be thrown away anyway.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &call{ctx: cctx, cancel: cancel, work: j}
	for b := range tasks {
		tasks[b] = task{c: c, lo: b * outRows / n, hi: (b + 1) * outRows / n}
	}

	if err := e.submit(ctx, p, c, tasks); err != nil {
		return Matrix[T]{}, fmt.Errorf("engine: correlate: %w", err)
	}
	c.wg.Wait()
	if c.err != nil { // no band is left to write c.err after Wait
		return Matrix[T]{}, fmt.Errorf("engine: correlate: %w", c.err)
	}
	return Matrix[T]{Rows: outRows, Cols: j.oc, Data: j.out}, nil
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

// job is one Correlate request, with the element type the pool cannot know.
type job[T Float] struct {
	x      []T
	xc     int
	k      []T
	kr, kc int
	out    []T
	oc     int
}

// rows computes output rows [lo, hi), checking ctx between rows so that a
// cancelled huge request stops promptly.
func (j *job[T]) rows(ctx context.Context, lo, hi int) error {
	done := ctx.Done()
	for i := lo; i < hi; i++ {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		correlateRow(j.out[i*j.oc:(i+1)*j.oc], j.x[i*j.xc:], j.xc, j.k, j.kr, j.kc)
	}
	return nil
}

// correlateRow computes one output row d of the valid cross-correlation. x
// starts at the input element aligned with d[0] and has row stride ldx; k is
// kr x kc, row-major. It assumes valid shapes: len(d)+kc-1 <= ldx and x holds
// kr rows from its start.
//
// Rather than summing each element separately, it sweeps the row once per
// group of up to eight kernel taps (saxpy style), which keeps the inner loop
// long and free of bounds checks; eight taps per sweep halve the loads and
// stores of d against four, and a 3x3 kernel takes two sweeps. Each element still sums its taps one at a
// time, in row-major kernel order, starting from zero, exactly as the
// reference loop does.
func correlateRow[T Float](d, x []T, ldx int, k []T, kr, kc int) {
	clear(d)
	n := len(d)
	src := func(t int) []T {
		off := (t/kc)*ldx + t%kc
		return x[off : off+n]
	}
	taps := kr * kc
	t := 0
	for ; t+8 <= taps; t += 8 {
		axpy8(d, src(t), src(t+1), src(t+2), src(t+3), src(t+4), src(t+5), src(t+6), src(t+7),
			k[t], k[t+1], k[t+2], k[t+3], k[t+4], k[t+5], k[t+6], k[t+7])
	}
	for ; t+4 <= taps; t += 4 {
		axpy4(d, src(t), src(t+1), src(t+2), src(t+3), k[t], k[t+1], k[t+2], k[t+3])
	}
	switch taps - t {
	case 3:
		axpy3(d, src(t), src(t+1), src(t+2), k[t], k[t+1], k[t+2])
	case 2:
		axpy2(d, src(t), src(t+1), k[t], k[t+1])
	case 1:
		axpy1(d, src(t), k[t])
	}
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
