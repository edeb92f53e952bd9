package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/engine"
)

// naive is the test's own reference: the textbook four nested loops, summing
// each output element over a then b from zero in T.
func naive[T engine.Float](x, k engine.Matrix[T]) engine.Matrix[T] {
	rows, cols := x.Rows-k.Rows+1, x.Cols-k.Cols+1
	out := engine.Matrix[T]{Rows: rows, Cols: cols, Data: make([]T, rows*cols)}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			var s T
			for a := 0; a < k.Rows; a++ {
				for b := 0; b < k.Cols; b++ {
					s += x.Data[(i+a)*x.Cols+j+b] * k.Data[a*k.Cols+b]
				}
			}
			out.Data[i*cols+j] = s
		}
	}
	return out
}

// naiveScaled is naive plus, for each element, the sum of |x*k| over the
// taps, which bounds the rounding error of any summation of those terms and so
// scales the comparison tolerance.
func naiveScaled[T engine.Float](x, k engine.Matrix[T]) (engine.Matrix[T], []float64) {
	out := naive(x, k)
	scale := make([]float64, len(out.Data))
	for i := range scale {
		r, c := i/out.Cols, i%out.Cols
		for a := 0; a < k.Rows; a++ {
			for b := 0; b < k.Cols; b++ {
				scale[i] += math.Abs(float64(x.Data[(r+a)*x.Cols+c+b]) * float64(k.Data[a*k.Cols+b]))
			}
		}
	}
	return out, scale
}

// tolerance is the allowed error relative to the sum of |x*k|: the engine
// sums in the same order as naive, so results normally match bit for bit,
// and the slack only covers a compiler fusing a multiply-add differently.
func tolerance[T engine.Float]() float64 {
	var z T
	if _, ok := any(z).(float32); ok {
		return 1e-5
	}
	return 1e-12
}

// checkClose marks t failed unless got has want's shape, exactly Rows*Cols elements,
// and every element within tolerance of want.
func checkClose[T engine.Float](t testing.TB, got, want engine.Matrix[T], scale []float64) {
	t.Helper()
	if got.Rows != want.Rows || got.Cols != want.Cols {
		t.Errorf("result is %dx%d, want %dx%d", got.Rows, got.Cols, want.Rows, want.Cols)
		return
	}
	if len(got.Data) != want.Rows*want.Cols || cap(got.Data) != want.Rows*want.Cols {
		t.Errorf("result has len %d cap %d, want both %d", len(got.Data), cap(got.Data), want.Rows*want.Cols)
		return
	}
	tol := tolerance[T]()
	bad := 0
	for i, g := range got.Data {
		w := want.Data[i]
		if math.Abs(float64(g)-float64(w)) > tol*scale[i] || math.IsNaN(float64(g)) != math.IsNaN(float64(w)) {
			if bad++; bad <= 5 {
				t.Errorf("element (%d,%d) = %v, want %v", i/got.Cols, i%got.Cols, g, w)
			}
		}
	}
	if bad > 5 {
		t.Errorf("... and %d more wrong elements", bad-5)
	}
}

func randMatrix[T engine.Float](r *rand.Rand, rows, cols int) engine.Matrix[T] {
	m := engine.Matrix[T]{Rows: rows, Cols: cols, Data: make([]T, rows*cols)}
	for i := range m.Data {
		m.Data[i] = T(r.Float64()*2 - 1)
	}
	return m
}

func newRand() *rand.Rand { return rand.New(rand.NewPCG(11, 12)) }

func clone[T engine.Float](m engine.Matrix[T]) engine.Matrix[T] {
	m.Data = append([]T(nil), m.Data...)
	return m
}

func newTestEngine(t testing.TB, cfg engine.Config) *engine.Engine {
	t.Helper()
	e, err := engine.New(cfg, nil)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	t.Cleanup(e.Close)
	return e
}

type shape struct {
	name           string
	xr, xc, kr, kc int
}

func shapes() []shape {
	s := []shape{
		{"1x1 input and kernel", 1, 1, 1, 1},
		{"kernel equal to a square input", 5, 5, 5, 5},
		{"kernel equal to a wide input", 3, 11, 3, 11},
		{"odd sizes", 13, 17, 3, 5},
		{"odd sizes with even kernel", 15, 9, 4, 2},
		{"a single input row", 1, 40, 1, 7},
		{"a single input column", 40, 1, 7, 1},
		{"1xN kernel on a square", 20, 20, 1, 6},
		{"Nx1 kernel on a square", 20, 20, 6, 1},
		{"tall input", 67, 4, 3, 3},
		{"wide input", 4, 67, 3, 3},
		{"kernel spanning all columns", 10, 6, 2, 6},
		{"kernel spanning all rows", 6, 10, 6, 2},
		// The kernel sweeps taps in groups of 8, 4, then 3, 2 or 1; these
		// cover every combination of groups.
		{"one tap", 12, 12, 1, 1},
		{"two taps", 12, 12, 1, 2},
		{"three taps", 12, 12, 3, 1},
		{"four taps", 12, 12, 2, 2},
		{"five taps", 12, 12, 1, 5},
		{"seven taps", 12, 12, 7, 1},
		{"eight taps", 12, 12, 2, 4},
		{"nine taps", 12, 12, 3, 3},
		{"ten taps", 12, 12, 2, 5},
		{"eleven taps", 12, 12, 1, 11},
		{"twelve taps", 12, 12, 3, 4},
		{"fifteen taps", 12, 12, 3, 5},
		{"twenty-five taps", 12, 12, 5, 5},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		xr, xc := 1+r.IntN(70), 1+r.IntN(70)
		kr, kc := 1+r.IntN(xr), 1+r.IntN(xc)
		s = append(s, shape{fmt.Sprintf("random %dx%d with %dx%d kernel", xr, xc, kr, kc), xr, xc, kr, kc})
	}
	return s
}

func TestCorrelateMatchesNaiveLoop(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 3, MinBandWork: 64})
	t.Run("dtype=float32", func(t *testing.T) { testMatchesNaive[float32](t, e) })
	t.Run("dtype=float64", func(t *testing.T) { testMatchesNaive[float64](t, e) })
}

func testMatchesNaive[T engine.Float](t *testing.T, e *engine.Engine) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range shapes() {
		t.Run(s.name, func(t *testing.T) {
			x := randMatrix[T](r, s.xr, s.xc)
			k := randMatrix[T](r, s.kr, s.kc)
			x0, k0 := clone(x), clone(k)
			got, err := engine.Correlate(context.Background(), e, engine.Interactive, x, k)
			if err != nil {
				t.Fatalf("Correlate(%dx%d, %dx%d) = %v", s.xr, s.xc, s.kr, s.kc, err)
			}
			want, scale := naiveScaled(x, k)
			checkClose(t, got, want, scale)
			if diff := cmp.Diff(x0, x); diff != "" {
				t.Errorf("Correlate modified its input (-before +after):\n%s", diff)
			}
			if diff := cmp.Diff(k0, k); diff != "" {
				t.Errorf("Correlate modified its kernel (-before +after):\n%s", diff)
			}
		})
	}
}

// The examples from d2l.ai chapter 6.2, whose integer results are exact.
func TestCorrelateD2LExamples(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 2, MinBandWork: 1})

	// The edge image: ones with columns 2..5 zeroed.
	img := engine.Matrix[float64]{Rows: 6, Cols: 8, Data: make([]float64, 48)}
	for i := range 6 {
		for j := range 8 {
			if j < 2 || j > 5 {
				img.Data[i*8+j] = 1
			}
		}
	}
	imgT := engine.Matrix[float64]{Rows: 8, Cols: 6, Data: make([]float64, 48)}
	for i := range 6 {
		for j := range 8 {
			imgT.Data[j*6+i] = img.Data[i*8+j]
		}
	}
	edge := engine.Matrix[float64]{Rows: 1, Cols: 2, Data: []float64{1, -1}}
	edges := make([]float64, 0, 42)
	for range 6 {
		edges = append(edges, 0, 1, 0, 0, 0, -1, 0)
	}

	tests := []struct {
		name string
		x, k engine.Matrix[float64]
		want engine.Matrix[float64]
	}{
		{
			name: "the 3x3 example gives 19 25 37 43",
			x:    engine.Matrix[float64]{Rows: 3, Cols: 3, Data: []float64{0, 1, 2, 3, 4, 5, 6, 7, 8}},
			k:    engine.Matrix[float64]{Rows: 2, Cols: 2, Data: []float64{0, 1, 2, 3}},
			want: engine.Matrix[float64]{Rows: 2, Cols: 2, Data: []float64{19, 25, 37, 43}},
		},
		{
			name: "the edge kernel finds both vertical edges",
			x:    img,
			k:    edge,
			want: engine.Matrix[float64]{Rows: 6, Cols: 7, Data: edges},
		},
		{
			name: "the edge kernel finds nothing in the transposed image",
			x:    imgT,
			k:    edge,
			want: engine.Matrix[float64]{Rows: 8, Cols: 5, Data: make([]float64, 40)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := engine.Correlate(context.Background(), e, engine.Interactive, tt.x, tt.k)
			if err != nil {
				t.Fatalf("Correlate(%v, %v) = %v", tt.x, tt.k, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Correlate(%v, %v) mismatch (-want +got):\n%s", tt.x, tt.k, diff)
			}
			// float32 must give the same exact integers.
			got32, err := engine.Correlate(context.Background(), e, engine.Background, to32(tt.x), to32(tt.k))
			if err != nil {
				t.Fatalf("Correlate(float32 %v, %v) = %v", tt.x, tt.k, err)
			}
			if diff := cmp.Diff(to32(tt.want), got32); diff != "" {
				t.Errorf("Correlate(float32 %v, %v) mismatch (-want +got):\n%s", tt.x, tt.k, diff)
			}
		})
	}
}

func to32(m engine.Matrix[float64]) engine.Matrix[float32] {
	out := engine.Matrix[float32]{Rows: m.Rows, Cols: m.Cols, Data: make([]float32, len(m.Data))}
	for i, v := range m.Data {
		out.Data[i] = float32(v)
	}
	return out
}

func TestCorrelateRejectsBadShapes(t *testing.T) {
	e := newTestEngine(t, engine.Config{Workers: 1})
	m := func(rows, cols, n int) engine.Matrix[float64] {
		return engine.Matrix[float64]{Rows: rows, Cols: cols, Data: make([]float64, n)}
	}
	tests := []struct {
		name string
		x, k engine.Matrix[float64]
	}{
		{"an empty input", m(0, 0, 0), m(1, 1, 1)},
		{"an input with no rows", m(0, 3, 0), m(1, 1, 1)},
		{"an input with no columns", m(3, 0, 0), m(1, 1, 1)},
		{"an input with negative rows", m(-2, 3, 0), m(1, 1, 1)},
		{"an empty kernel", m(3, 3, 9), m(0, 0, 0)},
		{"a kernel with negative columns", m(3, 3, 9), m(1, -1, 0)},
		{"nil input data", m(2, 2, 0), m(1, 1, 1)},
		{"too little input data", m(3, 3, 8), m(1, 1, 1)},
		{"too much input data", m(3, 3, 10), m(1, 1, 1)},
		{"input data a multiple of columns but not rows", m(3, 3, 12), m(1, 1, 1)},
		{"too little kernel data", m(3, 3, 9), m(2, 2, 3)},
		{"too much kernel data", m(3, 3, 9), m(2, 2, 5)},
		{"a kernel taller than the input", m(3, 3, 9), m(4, 1, 4)},
		{"a kernel wider than the input", m(3, 3, 9), m(1, 4, 4)},
		{"a kernel larger in both dimensions", m(2, 2, 4), m(3, 3, 9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := engine.Correlate(context.Background(), e, engine.Interactive, tt.x, tt.k)
			if !errors.Is(err, engine.ErrShape) {
				t.Errorf("Correlate(%dx%d[%d], %dx%d[%d]) = %v, %v; want ErrShape",
					tt.x.Rows, tt.x.Cols, len(tt.x.Data), tt.k.Rows, tt.k.Cols, len(tt.k.Data), got, err)
			}
		})
	}
}

// The kernel writes each output row through a slice whose capacity runs on
// into sentinel values, so an append, a reslice or an off-by-one past the row
// would show up as a changed sentinel.
func TestCorrelateRowStaysInsideItsOutput(t *testing.T) {
	t.Run("dtype=float32", testGuards[float32])
	t.Run("dtype=float64", testGuards[float64])
}

func testGuards[T engine.Float](t *testing.T) {
	const guard, gap = 16, 3
	sentinel := T(math.Pi * 1e6)
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range shapes() {
		t.Run(s.name, func(t *testing.T) {
			x := randMatrix[T](r, s.xr, s.xc)
			k := randMatrix[T](r, s.kr, s.kc)
			rows, cols := s.xr-s.kr+1, s.xc-s.kc+1
			ldd := cols + gap
			buf := make([]T, guard+rows*ldd+guard)
			for i := range buf {
				buf[i] = sentinel
			}
			got := engine.Matrix[T]{Rows: rows, Cols: cols, Data: make([]T, rows*cols)}
			for i := range rows {
				d := buf[guard+i*ldd : guard+i*ldd+cols]
				engine.CorrelateRow(d, x.Data[i*x.Cols:], x.Cols, k.Data, k.Rows, k.Cols)
				copy(got.Data[i*cols:], d)
			}
			for i, v := range buf {
				inRow := i >= guard && i < guard+rows*ldd && (i-guard)%ldd < cols
				if !inRow && v != sentinel {
					t.Errorf("sentinel at buffer index %d overwritten with %v", i, v)
				}
			}
			want, scale := naiveScaled(x, k)
			checkClose(t, got, want, scale)
		})
	}
}

// Splitting a large request over several workers must give exactly what one
// band gives, since every element is computed by exactly one band in the same
// way.
func TestCorrelateBandSplitDoesNotChangeResults(t *testing.T) {
	split := newTestEngine(t, engine.Config{Workers: 4, MinBandWork: 1000})
	whole := newTestEngine(t, engine.Config{Workers: 1, MinBandWork: math.MaxInt})
	if n := split.Bands(296, 296, 25); n < 4 {
		t.Fatalf("a 300x300 request with a 5x5 kernel splits into %d bands, want at least 4", n)
	}
	if n := whole.Bands(296, 296, 25); n != 1 {
		t.Fatalf("with MinBandWork=MaxInt a request splits into %d bands, want 1", n)
	}
	r := rand.New(rand.NewPCG(7, 8))
	x := randMatrix[float64](r, 300, 300)
	k := randMatrix[float64](r, 5, 5)
	got, err := engine.Correlate(context.Background(), split, engine.Background, x, k)
	if err != nil {
		t.Fatalf("Correlate(split) = %v", err)
	}
	one, err := engine.Correlate(context.Background(), whole, engine.Background, x, k)
	if err != nil {
		t.Fatalf("Correlate(one band) = %v", err)
	}
	if diff := cmp.Diff(one, got); diff != "" {
		t.Errorf("split result differs from the single-band result (-one +split):\n%s", diff)
	}
	want, scale := naiveScaled(x, k)
	checkClose(t, got, want, scale)
}

func TestBands(t *testing.T) {
	tests := []struct {
		name                 string
		cfg                  engine.Config
		outRows, outCols, kk int
		want                 int
	}{
		{"a tiny request is one band", engine.Config{Workers: 4}, 2, 2, 4, 1},
		{"work below MinBandWork is one band", engine.Config{Workers: 4, MinBandWork: 1000}, 10, 10, 9, 1},
		{"work is split by MinBandWork", engine.Config{Workers: 4, MinBandWork: 100}, 10, 10, 9, 9},
		{"never more bands than rows", engine.Config{Workers: 4, MinBandWork: 1}, 3, 1000, 9, 3},
		{"at most eight bands per worker", engine.Config{Workers: 2, MinBandWork: 1}, 1000, 1000, 9, 16},
		{"never more bands than the queue holds", engine.Config{Workers: 4, QueueSize: 5, MinBandWork: 1}, 1000, 1000, 9, 5},
		{"huge work does not overflow", engine.Config{Workers: 4, MinBandWork: 1}, 1 << 30, 1 << 30, 1 << 30, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEngine(t, tt.cfg)
			if got := e.Bands(tt.outRows, tt.outCols, tt.kk); got != tt.want {
				t.Errorf("Bands(%d, %d, %d) = %d, want %d", tt.outRows, tt.outCols, tt.kk, got, tt.want)
			}
		})
	}
}

// FuzzCorrelate builds small matrices, valid or not, from the fuzzer's bytes.
// Values are small integers, so every valid result is exact and must equal
// the naive loop's bit for bit; invalid shapes must give ErrShape, and
// nothing may panic.
func FuzzCorrelate(f *testing.F) {
	e, err := engine.New(engine.Config{Workers: 3, MinBandWork: 1}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(e.Close)

	f.Add(uint8(3), uint8(3), uint8(2), uint8(2), uint8(0), []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3})
	f.Add(uint8(6), uint8(8), uint8(1), uint8(2), uint8(0), []byte{1, 1, 0, 0, 0, 0, 1, 1, 1, 255})
	f.Add(uint8(1), uint8(1), uint8(1), uint8(1), uint8(0), []byte{7})
	f.Add(uint8(2), uint8(2), uint8(3), uint8(1), uint8(0), []byte{})
	f.Add(uint8(4), uint8(4), uint8(2), uint8(2), uint8(1), []byte{9, 8, 7})
	f.Add(uint8(0), uint8(5), uint8(1), uint8(1), uint8(2), []byte{1})
	f.Fuzz(func(t *testing.T, xr, xc, kr, kc, mangle uint8, data []byte) {
		dims := func(v uint8) int { return int(v % 10) }
		x := engine.Matrix[float64]{Rows: dims(xr), Cols: dims(xc)}
		k := engine.Matrix[float64]{Rows: dims(kr), Cols: dims(kc)}
		nx, nk := x.Rows*x.Cols, k.Rows*k.Cols
		// mangle makes the Data length disagree with the shape now and then.
		switch mangle % 8 {
		case 1:
			nx++
		case 2:
			nx = max(nx-1, 0)
		case 3:
			nk++
		case 4:
			nk = max(nk-1, 0)
		}
		next := 0
		val := func() float64 {
			if len(data) == 0 {
				return 1
			}
			v := float64(int8(data[next%len(data)]))
			next++
			return v
		}
		x.Data = make([]float64, nx)
		for i := range x.Data {
			x.Data[i] = val()
		}
		k.Data = make([]float64, nk)
		for i := range k.Data {
			k.Data[i] = val()
		}

		valid := x.Rows > 0 && x.Cols > 0 && k.Rows > 0 && k.Cols > 0 &&
			len(x.Data) == x.Rows*x.Cols && len(k.Data) == k.Rows*k.Cols &&
			k.Rows <= x.Rows && k.Cols <= x.Cols
		got, err := engine.Correlate(context.Background(), e, engine.Interactive, x, k)
		if !valid {
			if !errors.Is(err, engine.ErrShape) {
				t.Fatalf("Correlate(%dx%d[%d], %dx%d[%d]) = %v, want ErrShape",
					x.Rows, x.Cols, len(x.Data), k.Rows, k.Cols, len(k.Data), err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Correlate(%v, %v) = %v", x, k, err)
		}
		want := naive(x, k)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Correlate(%v, %v) mismatch (-want +got):\n%s", x, k, diff)
		}
	})
}

// BenchmarkCorrelate reports GFLOP/s (two per multiply-add) for the engine on
// all its workers, the engine on one worker, and the naive loop.
func BenchmarkCorrelate(b *testing.B) {
	for _, n := range []int{256, 1024} {
		for _, kk := range []int{3, 5} {
			name := fmt.Sprintf("size=%dx%d/k=%dx%d", n, n, kk, kk)
			b.Run(name+"/dtype=float32", func(b *testing.B) { benchCorrelate[float32](b, n, kk) })
			b.Run(name+"/dtype=float64", func(b *testing.B) { benchCorrelate[float64](b, n, kk) })
		}
	}
}

func benchCorrelate[T engine.Float](b *testing.B, n, kk int) {
	r := rand.New(rand.NewPCG(9, 10))
	x := randMatrix[T](r, n, n)
	k := randMatrix[T](r, kk, kk)
	out := n - kk + 1
	flops := 2 * float64(out*out*kk*kk)
	var elem T
	bytes := int64(len(x.Data)+len(k.Data)+out*out) * int64(sizeof(elem))
	benchImpls(b, flops, bytes, func(e *engine.Engine) error {
		_, err := engine.Correlate(context.Background(), e, engine.Interactive, x, k)
		return err
	}, "naive", func() { naive(x, k) })
}

// benchImpls runs call on an engine with all workers and with one, and the
// plain reference loop, reporting GFLOP/s for each.
func benchImpls(b *testing.B, flops float64, bytes int64, call func(*engine.Engine) error, refName string, ref func()) {
	report := func(b *testing.B) {
		b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	}
	for _, impl := range []struct {
		name    string
		workers int
	}{{"engine", 0}, {"engine-1worker", 1}} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			e, err := engine.New(engine.Config{Workers: impl.workers}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			b.ReportAllocs()
			b.SetBytes(bytes)
			for b.Loop() {
				if err := call(e); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		})
	}
	b.Run("impl="+refName, func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(bytes)
		for b.Loop() {
			ref()
		}
		report(b)
	})
}

func sizeof[T engine.Float](v T) int {
	if _, ok := any(v).(float32); ok {
		return 4
	}
	return 8
}
