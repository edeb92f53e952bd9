package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// Bands that share out the stride-2 path's weight transform get the same
// weights as one band alone, whichever takes which blocks, for either
// tile (25 and 36 positions).
func TestWino44WeightsSharedOutMatchOneBandAlone(t *testing.T) {
	e, err := New(Config{Workers: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const groups, og, cg, kh, kw = 2, 19, 3, 7, 6
	r := rand.New(rand.NewPCG(7, 8))
	w := make([]float32, groups*og*cg*kh*kw)
	for i := range w {
		w[i] = r.Float32()*2 - 1
	}
	for _, cells := range []int{wino44Cells, wino34Cells} {
		alone := newWino44Weights(e, w, groups, og, cg, kh, kw, cells)
		if err := takeAndWait(alone); err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(alone.u[:cells*alone.size])
		shared := newWino44Weights(e, w, groups, og, cg, kh, kw, cells)
		var wg sync.WaitGroup
		errs := make([]error, 5)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = takeAndWait(shared)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		if got := shared.u[:cells*shared.size]; !slices.Equal(got, want) {
			t.Errorf("%d positions: weights transformed by five bands differ from one band's", cells)
		}
	}
}

// takeAndWait does what a band does with p: it takes blocks until none is
// left, then waits for every block, as its products will.
func takeAndWait[T Float](p *wino44Weights[T]) error {
	p.take()
	for b := range p.blocks {
		if !p.wait(nil, b) {
			return fmt.Errorf("wait(%d) ended before the block was transformed", b)
		}
	}
	return nil
}

// A band that waits for a block another band took stops waiting when its
// context ends (that band panicked, say, and the call was cancelled).
func TestWino44WeightsWaitEndsWithTheContext(t *testing.T) {
	e, err := New(Config{Workers: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	p := newWino44Weights(e, make([]float64, 8*3*7*7), 1, 8, 3, 7, 7, wino44Cells)
	p.next.Store(int64(p.blocks)) // every block taken, none done
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if p.wait(ctx.Done(), 0) {
		t.Errorf("wait = true for a block no band transformed, want false once the context ended")
	}
}

// The split of a row into the four phases of a column stride of 4 gives
// what the portable loop gives, for lengths around whole registers, and
// writes nothing past each phase's last cell.
func TestDeint4MatchesThePortableOneAndStaysInBounds(t *testing.T) {
	t.Run("dtype=float32", func(t *testing.T) { testDeint4[float32](t) })
	t.Run("dtype=float64", func(t *testing.T) { testDeint4[float64](t) })
}

func testDeint4[T Float](t *testing.T) {
	const guard = 5
	for n := range 70 {
		x := make([]T, 4*n+guard)
		for i := range x {
			x[i] = T(i + 1)
		}
		var got, want [4][]T
		for p := range 4 {
			got[p], want[p] = make([]T, n+guard), make([]T, n+guard)
			for i := n; i < n+guard; i++ {
				got[p][i], want[p][i] = -1, -1
			}
		}
		deint4(got[0][:n], got[1], got[2], got[3], x)
		deint4Go(want[0][:n], want[1], want[2], want[3], x)
		for p := range 4 {
			if !slices.Equal(got[p], want[p]) {
				t.Fatalf("n=%d: phase %d = %v, want %v", n, p, got[p], want[p])
			}
			for k := range n {
				if want[p][k] != x[4*k+p] {
					t.Fatalf("n=%d: portable phase %d cell %d = %v, want %v", n, p, k, want[p][k], x[4*k+p])
				}
			}
		}
	}
}

// The split of a row into the six phases of a column stride of 6 gives
// what the portable loop gives, for lengths around whole registers, and
// writes nothing past each phase's last cell.
func TestDeint6MatchesThePortableOneAndStaysInBounds(t *testing.T) {
	t.Run("dtype=float32", func(t *testing.T) { testDeint6[float32](t) })
	t.Run("dtype=float64", func(t *testing.T) { testDeint6[float64](t) })
}

func testDeint6[T Float](t *testing.T) {
	const guard = 5
	for n := range 70 {
		wq := n + guard
		x := make([]T, 6*n+guard)
		for i := range x {
			x[i] = T(i + 1)
		}
		got, want := make([]T, 6*wq), make([]T, 6*wq)
		for i := range got {
			got[i], want[i] = -1, -1
		}
		deint6(got, wq, n, x)
		deint6Go(want, wq, n, x)
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: %v, want %v", n, got, want)
		}
		for p := range 6 {
			for k := range wq {
				w := T(-1)
				if k < n {
					w = x[6*k+p]
				}
				if cell := want[p*wq+k]; cell != w {
					t.Fatalf("n=%d: portable phase %d cell %d = %v, want %v", n, p, k, cell, w)
				}
			}
		}
	}
}
