package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/engine"
)

// F(3×3, 4×4) on the stride-2 path gives what the reference loop gives on
// every stride-2 case, on one worker and on several, and with one band a
// worker, whose bands of tile rows follow each other in one scratch.
func TestWinogradStride2Tile3MatchesReference(t *testing.T) {
	for _, cfg := range []engine.Config{
		{Workers: 1, MinBandWork: 16, WinogradTile: 3},
		{Workers: 3, MinBandWork: 16, WinogradTile: 3},
		{Workers: 2, MinBandWork: 1 << 40, WinogradTile: 3},
	} {
		e := newTestEngine(t, cfg)
		t.Run(fmt.Sprintf("workers=%d/dtype=float32", cfg.Workers), func(t *testing.T) { testWinogradMatches[float32](t, e, wino44Cases(), 53) })
		t.Run(fmt.Sprintf("workers=%d/dtype=float64", cfg.Workers), func(t *testing.T) { testWinogradMatches[float64](t, e, wino44Cases(), 53) })
	}
}

// The transforms of F(3×3, 4×4), SIMD and portable, round alike bit for
// bit, and write only what their contract says: one group of tiles or
// two, output rows and columns cut at an edge.
func TestWinogradStride2Tile3TransformsMatchThePortableOnesAndStayInBounds(t *testing.T) {
	t.Run("dtype=float32", testWino34Transforms[float32])
	t.Run("dtype=float64", testWino34Transforms[float64])
}

func testWino34Transforms[T engine.Float](t *testing.T) {
	r := rand.New(rand.NewPCG(55, 56))
	lanes := engine.WinoLanes[T]()
	impls := engine.Wino34Transforms[T]()
	same := nanEqual[T]()
	// The input: 6 rows of six phases, with slack for two groups; the
	// window's columns in the order the path reads them for column phase
	// 1.
	wq := 2*lanes + 5
	ld := 6*wq + 3
	cols := [6]int{wq, 3 * wq, 5 * wq, 1, 2*wq + 1, 4*wq + 1}
	x := randSlice[T](r, 5*ld+5*wq+2+2*lanes)
	vx := 2*lanes + 3
	for _, tiles := range []int{lanes, 2 * lanes} {
		want := map[string][]T{}
		for name, f := range impls {
			v := nans[T](36 * vx)
			f.In(v, x, &cols, ld, vx, tiles)
			checkWritten(t, fmt.Sprintf("%s (%d tiles): input transform", name, tiles), v, func(i int) bool { return i%vx < tiles })
			want[name] = v
		}
		if diff := cmp.Diff(want["go"], want["dispatched"], same); diff != "" {
			t.Errorf("%d tiles: dispatched input transform differs from the portable one (-go +dispatched):\n%s", tiles, diff)
		}
	}
	for _, n := range []int{1, 2, 5} {
		mc := 2*lanes + 1
		mx := n*mc + 3
		m := randSlice[T](r, 36*mx+2*lanes)
		bias := randSlice[T](r, n)
		ldy := 6*lanes + 3
		yc := 3*ldy + 1
		for _, tiles := range []int{lanes, 2 * lanes} {
			for _, rows := range []int{1, 2, 3} {
				for _, cols := range []int{1, 3*lanes - 1, 3 * tiles} {
					if cols > 3*tiles {
						continue
					}
					got := map[string][]T{}
					for name, f := range impls {
						y := nans[T](n * yc)
						f.Out(y, m, bias, n, mc, mx, ldy, yc, tiles, rows, cols)
						checkWritten(t, fmt.Sprintf("%s (n=%d, tiles %d, rows %d, cols %d): output transform", name, n, tiles, rows, cols),
							y, func(i int) bool { return i%yc < rows*ldy && i%yc%ldy < cols })
						got[name] = y
					}
					if diff := cmp.Diff(got["go"], got["dispatched"], same); diff != "" {
						t.Errorf("n=%d, tiles %d, rows %d, cols %d: dispatched output transform differs from the portable one (-go +dispatched):\n%s",
							n, tiles, rows, cols, diff)
					}
				}
			}
		}
	}
}

// FuzzWinogradStride2Tile3 runs the stride-2 Winograd path by F(3×3, 4×4)
// on the fuzzer's layers against the reference loop (see fuzzStride2).
func FuzzWinogradStride2Tile3(f *testing.F) {
	fuzzStride2(f, 3)
}

// BenchmarkWinogradStride2Tiles times method "winograd" on stride-2
// layers (the 7×7 stem, a small stem, a 5×5 layer with more channels) with
// each tile size (F(2×2, 4×4) and F(3×3, 4×4)), on all workers and on
// one, reporting GFLOP/s of the direct method's work.
func BenchmarkWinogradStride2Tiles(b *testing.B) {
	for _, l := range []struct {
		name string
		x, w [4]int
		pad  int
	}{
		{"n=1/c=3/o=64/size=224x224/k=7x7", [4]int{1, 3, 224, 224}, [4]int{64, 3, 7, 7}, 3},
		{"n=1/c=3/o=16/size=64x64/k=7x7", [4]int{1, 3, 64, 64}, [4]int{16, 3, 7, 7}, 3},
		{"n=2/c=16/o=32/size=56x56/k=5x5", [4]int{2, 16, 56, 56}, [4]int{32, 16, 5, 5}, 2},
	} {
		p := l.pad
		c := engine.Conv{Stride: [2]int{2, 2}, Pad: [4]int{p, p, p, p}, Method: engine.MethodWinograd}
		for _, tile := range []int{2, 3} {
			name := fmt.Sprintf("%s/stride=2/pad=%d/tile=%d", l.name, p, tile)
			b.Run(name+"/dtype=float32", func(b *testing.B) { benchTileConv[float32](b, l.x, l.w, c, tile) })
			b.Run(name+"/dtype=float64", func(b *testing.B) { benchTileConv[float64](b, l.x, l.w, c, tile) })
		}
	}
}

// benchTileConv times c on random x and w of the given shapes with the
// Winograd tile fixed, on all workers and on one.
func benchTileConv[T engine.Float](b *testing.B, xs, ws [4]int, c engine.Conv, tile int) {
	r := rand.New(rand.NewPCG(33, 34))
	x, w := randTensor[T](r, xs), randTensor[T](r, ws)
	g, ok := refResolve(xs, ws, c)
	if !ok {
		b.Fatalf("invalid layer x %v, w %v, %+v", xs, ws, c)
	}
	flops := 2 * float64(xs[0]*ws[0]*g.ho*g.wo) * float64(ws[1]*ws[2]*ws[3])
	for _, workers := range []int{0, 1} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			e := newTestEngine(b, engine.Config{Workers: workers, WinogradTile: tile})
			b.ReportAllocs()
			for b.Loop() {
				out, err := engine.Conv2D(context.Background(), e, engine.Interactive, x, w, nil, c)
				if err != nil {
					b.Fatal(err)
				}
				engine.Release(e, out.Data)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
