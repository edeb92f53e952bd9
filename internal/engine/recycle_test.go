package engine_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/corr2d/corr2d/internal/engine"
)

// A released result is reused for the next result of its size, on every
// path, and its stale contents never show through.
func TestReleasedResultsAreReusedAndOverwritten(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 2})
	t.Run("dtype=float32", func(t *testing.T) { testRecycle[float32](t, e) })
	t.Run("dtype=float64", func(t *testing.T) { testRecycle[float64](t, e) })
}

func testRecycle[T engine.Float](t *testing.T, e *engine.Engine) {
	r := rand.New(rand.NewPCG(71, 72))
	x, w := randTensor[T](r, [4]int{1, 2, 200, 190}), randTensor[T](r, [4]int{3, 2, 3, 4})
	for _, c := range []engine.Conv{
		{Method: engine.MethodDirect},
		{Method: engine.MethodFFT, Padding: engine.PadSame},
	} {
		want, scale := refConv2D(x, w, nil, c)
		for range 3 {
			got, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, nil, c)
			if err != nil {
				t.Fatal(err)
			}
			checkTensorClose(t, got, want, scale)
			for i := range got.Data {
				got.Data[i] = T(math.NaN())
			}
			p := unsafe.SliceData(got.Data)
			engine.Release(e, got.Data)
			again, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, nil, c)
			if err != nil {
				t.Fatal(err)
			}
			checkTensorClose(t, again, want, scale)
			if unsafe.SliceData(again.Data) != p {
				t.Errorf("method %v: the released result was not reused", c.Method)
			}
			engine.Release(e, again.Data)
			if t.Failed() {
				t.Fatalf("method %v: a recycled result is wrong", c.Method)
			}
		}
	}
}

// Results too small to be worth it, and slices with spare capacity, are
// not kept.
func TestReleaseIgnoresSmallAndForeignShapedData(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 1})
	x := engine.Tensor[float64]{Shape: [4]int{1, 1, 8, 8}, Data: make([]float64, 64)}
	w := engine.Tensor[float64]{Shape: [4]int{1, 1, 1, 1}, Data: []float64{2}}
	small, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, nil, engine.Conv{})
	if err != nil {
		t.Fatal(err)
	}
	engine.Release(e, small.Data)
	engine.Release(e, make([]float64, 1<<16, 1<<17))
	big := engine.Tensor[float64]{Shape: [4]int{1, 1, 256, 256}, Data: make([]float64, 1<<16)}
	out, err := engine.Conv2D(context.Background(), e, engine.Interactive, big, w, nil, engine.Conv{})
	if err != nil {
		t.Fatal(err)
	}
	if cap(out.Data) != len(out.Data) {
		t.Errorf("result has cap %d, len %d: a slice with spare capacity was recycled", cap(out.Data), len(out.Data))
	}
}
