package engine

import (
	"context"
	"math"
)

// Conv2DTiles runs Conv2D on the FFT path with transforms of at most maxP
// on a side (unless one tile must be larger), so that tests can make the
// overlap-save tiling cut small inputs into many tiles. It returns the
// number of tiles of one plane.
func Conv2DTiles[T Float](ctx context.Context, e *Engine, x, w Tensor[T], bias []T, c Conv, maxP int) (Tensor[T], int, error) {
	g, err := c.resolve(x.Shape, w.Shape)
	if err != nil {
		return Tensor[T]{}, 0, err
	}
	t := fftTile(g, maxP, elemSize[T]())
	out, err := conv2dTiled(ctx, e, Interactive, x, w, bias, g, c, t)
	return out, t.ty * t.tx, err
}

// PoisonSpectra sets every value of the spectrum buffers e's recycler
// holds to NaN, so that a test can tell whether stale contents show
// through, and returns how many buffers it poisoned.
func PoisonSpectra(e *Engine) int {
	e.recycled.mu.Lock()
	defer e.recycled.mu.Unlock()
	n := 0
	for k, list := range e.recycled.free {
		if k.size&spectrumTag == 0 {
			continue
		}
		for _, s := range list {
			switch buf := s.(type) {
			case []complex128:
				for i := range buf {
					buf[i] = complex(math.NaN(), math.NaN())
				}
			case []complex64:
				for i := range buf {
					buf[i] = complex64(complex(math.NaN(), math.NaN()))
				}
			}
			n++
		}
	}
	return n
}
