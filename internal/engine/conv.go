package engine

import (
	"context"
	"fmt"
	"unsafe"
)

// Conv2D computes out[n][o][i][j] = bias[o] + Σ_{c<Cg} Σ_a Σ_b
// xpad[n][g*Cg+c][i*sh + a*dh][j*sw + b*dw] · w[o][c][a][b], with
// g = o / (O/groups) and Cg = C/groups, where xpad is x padded per c and w is
// flipped in both spatial axes first when c.Convolve is set. bias may be nil
// (no bias) or have length O. The result has shape N×O×Ho×Wo (see
// Conv.Geometry).
//
// Each element is summed in T over (c, a, b) in row-major order starting
// from zero, then bias is added, so float32 accumulates in float32 as
// PyTorch does. The work is split into bands of output rows over (n, o,
// row), or on the GEMM path (see useGEMM) of blocks of pixels over (n,
// group, pixels), run on the pool; every element is computed by exactly one
// band, so the split never changes the result.
//
// The call waits until all its bands have finished or been skipped, so no
// worker writes to the result after it returns. Cancelling ctx stops the
// work: queued bands are skipped, running bands stop between units, and
// Conv2D returns an error wrapping ctx.Err(). An Interactive request for
// which the queue has no room for all its bands fails at once with
// ErrOverloaded and enqueues nothing; a Background request waits for room,
// ctx or Close. A closed engine fails with ErrClosed, a panicking band
// with an error. An invalid shape or parameter is a *ParamError, which
// wraps ErrShape.
func Conv2D[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, c Conv) (Tensor[T], error) {
	g, err := c.resolve(x.Shape, w.Shape)
	if err == nil {
		err = checkTensor(ParamInput, x)
	}
	if err == nil {
		err = checkTensor(ParamKernel, w)
	}
	if err == nil && bias != nil && len(bias) != w.Shape[0] {
		err = paramErr(ParamBias, "has %d elements, want %d (one per output channel)", len(bias), w.Shape[0])
	}
	if err == nil {
		err = checkSize[T](ParamOutput, g.out[:]...)
	}
	if err == nil {
		err = checkSize[T](ParamInput, x.Shape[0], x.Shape[1], g.hn, g.wn+g.sw)
	}
	if err != nil {
		return Tensor[T]{}, err
	}
	if err := ready(ctx, p, "conv2d"); err != nil {
		return Tensor[T]{}, err
	}

	out, err := conv2d(ctx, e, p, x, w, bias, g, c)
	if err != nil {
		return Tensor[T]{}, fmt.Errorf("engine: conv2d: %w", err)
	}
	return out, nil
}

// conv2d runs a validated Conv2D request on the pool, with
// the method c asks for or, for MethodAuto, the one chooseMethod predicts is
// faster, and records the method in the caller's Stats.
func conv2d[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv) (Tensor[T], error) {
	m := c.Method
	if m == MethodAuto {
		var z T
		m = chooseMethod(g, unsafe.Sizeof(z))
	}
	if s, ok := ctx.Value(statsKey{}).(*Stats); ok {
		s.Method = m
	}
	switch m {
	case MethodFFT:
		return conv2dFFT(ctx, e, p, x, w, bias, g, c)
	case MethodWinograd:
		var z T
		switch {
		case useWino44(g):
			return conv2dWino44(ctx, e, p, x, w, bias, g, c)
		case useWino43(e, g, unsafe.Sizeof(z)):
			return conv2dWino43(ctx, e, p, x, w, bias, g, c)
		}
		return conv2dWinograd(ctx, e, p, x, w, bias, g, c)
	}
	return conv2dDirect(ctx, e, p, x, w, bias, g, c)
}
