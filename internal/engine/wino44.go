package engine

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// The Winograd path also computes layers with a stride of 2 and kernels of
// 5×5 to 8×8 (a network's 7×7 stem above all), where F(2×2, 3×3) does not
// apply. A stride-2 correlation is the sum of four stride-1 ones over the
// polyphase parts of the padded input: with x_{pa,pb}[i][j] = x[2i+pa][2j+pb]
// and g_{pa,pb}[a][b] = g[2a+pa][2b+pb],
//
//	y[i][j] = Σ_{pa,pb<2} Σ_{a,b<4} g_{pa,pb}[a][b]·x_{pa,pb}[i+a][j+b],
//
// each part's kernel at most 4×4 (filled up with zeros). So each input
// channel becomes four channels of a stride-1 4×4 layer, which this file
// computes by F(2×2, 4×4) on the interpolation points 0, 1, -1, 2 and ∞:
//
//	Y = Aᵀ·[ Σ_c (G·g_c·Gᵀ) ⊙ (Bᵀ·d_c·B) ]·A
//
// with d_c a tile's 5×5 window of part c, 25 products per tile and part
// channel instead of the 64 of the parts' direct sums, or the 49 of the
// kernel's own taps; the products run on the GEMM microkernel as in
// winograd.go. The error stays within float32's tolerance on the golden set
// (PERF.md has the figures); like F(2×2, 3×3) it is not the direct method's
// order of summation, which method "direct" keeps.
//
// Layout: the input is padded in polyphase order with a column stride of 4
// (see padded): tile t of a tile row reads columns 4t+2v+pb of the padded
// input (v < 5), which is phase (2v+pb)%4, position t+(2v+pb)/4, so a
// register's width of tiles side by side reads one vector per window cell.
// Rows are read in place, 4 per tile row. Each unit of work, a band of
// tile rows, pads the rows it reads itself into its own scratch, so that
// the core that transforms them finds them in its cache (a padded copy of
// the whole input, written by one core and read by another, had cost more
// on two workers than on one). Groups of winoLanes tiles (a
// tile row's last one filled up past the output's edge) go four to a panel
// of wino44Cols tiles, the products' width.

// The products of the stride-2 path run on a microkernel of their own
// (winoProducts): tiles of wino44Rows output channels by wino44Cols[T]()
// tiles, two vector registers of AVX-512, which keep the FMA units busier
// than gemmKernel's tiles can with so few steps (4·cg, 12 for an RGB
// input). Its weights are packed in blocks of wino44Rows channels.
const wino44Rows = 8

// wino44Cols is the product tile's width: two ZMM registers, 32 float32
// or 16 float64 tiles, four groups of winoLanes.
func wino44Cols[T Float]() int { return 2 * gemmNR[T]() }

// wino44Blocks is how many blocks of wino44Rows output channels a group's
// transformed weights take, the last one filled up with zero channels.
func wino44Blocks(og int) int { return (og + wino44Rows - 1) / wino44Rows }

// wino44PoolWeights is the number of weights from which their transform
// goes on the pool: about 20 µs of work, more than a round on the pool
// costs.
const wino44PoolWeights = 1 << 11

// wino44Cells is the number of cells of a tile's window (5×5), and of
// positions ξ of its transforms.
const wino44Cells = 25

// wino44Term is one term of a transform's sum: coefficient c times cell i.
// Every sum starts from a term with a positive coefficient, and
// coefficients 2 are taken as a cell added to itself (exact), 3 as a
// product rounded once, so that the portable and SIMD transforms (which
// follow the same tables in _asm/wino) round alike.
type wino44Term struct{ i, c int }

// wino44BT is Bᵀ, row by row, in the order its terms are summed:
// Bᵀ = [[2,-1,-2,1,0], [0,-2,-1,1,0], [0,2,-3,1,0], [0,-1,0,1,0], [0,2,-1,-2,1]].
var wino44BT = [5][]wino44Term{
	{{3, 1}, {0, 2}, {1, -1}, {2, -2}},
	{{3, 1}, {1, -2}, {2, -1}},
	{{3, 1}, {1, 2}, {2, -3}},
	{{3, 1}, {1, -1}},
	{{4, 1}, {1, 2}, {2, -1}, {3, -2}},
}

// wino44AT is Aᵀ = [[1,1,1,1,0], [0,1,-1,2,1]], likewise.
var wino44AT = [2][]wino44Term{
	{{0, 1}, {1, 1}, {2, 1}, {3, 1}},
	{{1, 1}, {2, -1}, {3, 2}, {4, 1}},
}

// wino44Gx is G·(p0, p1, p2, p3), where G transforms a 4-tap kernel into
// the factors of its 5 products:
// G = [[1/2,0,0,0], [-1/2,-1/2,-1/2,-1/2], [-1/6,1/6,-1/6,1/6], [1/6,1/3,2/3,4/3], [0,0,0,1]].
// The weights are transformed in float64 and rounded once.
//
// It multiplies by 1/6 rather than divide by 6: one rounding more in
// float64, far below float32's and float64's tolerances, where the
// divisions took a third of the stem's weight transform.
func wino44Gx(p0, p1, p2, p3 float64) (g0, g1, g2, g3, g4 float64) {
	const sixth = 1.0 / 6
	return p0 * 0.5,
		-(p0 + p1 + p2 + p3) * 0.5,
		(-p0 + p1 - p2 + p3) * sixth,
		(p0 + 2*p1 + 4*p2 + 8*p3) * sixth,
		p3
}

// wino44Sum evaluates one row of a transform table over the cells d, in
// the table's order, rounding as the SIMD transforms do.
func wino44Sum[T Float](terms []wino44Term, d *[5]T) T {
	term := func(t wino44Term) T {
		v := d[t.i]
		switch t.c {
		case 1, -1:
			return v
		case 2, -2:
			return v + v
		default:
			// The conversion rounds the product, as the SIMD transforms
			// do, where the sum after it could otherwise fuse with it.
			return T(T(max(t.c, -t.c)) * v) //nolint:unconvert // see above
		}
	}
	s := term(terms[0])
	for _, t := range terms[1:] {
		if t.c < 0 {
			s -= term(t)
		} else {
			s += term(t)
		}
	}
	return s
}

// useWino44 says whether g is a layer the stride-2 Winograd path computes:
// strides of 2, unit dilations and a kernel of 5×5 to 8×8, whose polyphase
// parts are at most 4×4 and not much smaller.
func useWino44(g geometry) bool {
	kh, kw := g.w[2], g.w[3]
	return g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 && kh >= 5 && kh <= 8 && kw >= 5 && kw <= 8
}

// wino44Plan is one Conv2D request on the stride-2 Winograd path, laid out
// as winoPlan with 4·cg part channels per group, by F(2×2, 4×4) (25
// positions) or F(3×3, 4×4) (36, see wino34.go).
type wino44Plan[T Float] struct {
	pd        *padder[T] // pads the input, polyphase with column stride 2·m
	m, cells  int        // the tile's side (2 or 3) and its window's cells
	plane, ld int        // a unit's padded rows: per channel, per row
	th, k     int        // tile rows: in all, per unit
	bands     int        // units per plane
	cols      [2][6]int  // offset in a row of window column v of column phase pb
	c, cg     int        // input channels, in total and per group
	o, og     int
	groups    int
	ho, wo    int
	gr        int // groups of winoLanes tiles per tile row
	slots     int // groups per plane
	panels    int
	pp        int // panels per unit
	// u holds the transformed weights of position ξ at u[ξ*size:], og×4cg
	// per group packed as packWeights lays them out, part channel
	// (c*2+pa)*2+pb.
	u     []T
	usize int
	wt    *wino44Weights[T]
	bias  []T
	out   []T
	e     *Engine
}

// conv2dWino44 runs a validated request for which useWino44 holds: band
// by band on the pool, the bands transforming the weights first, then
// each band of tile rows padding its own rows of the input; by
// F(3×3, 4×4) where useWino34 says so, else by F(2×2, 4×4).
func conv2dWino44[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv) (Tensor[T], error) {
	N, O := g.out[0], g.out[1]
	og, cg := O/g.groups, g.w[1]
	ho, wo := g.out[2], g.out[3]
	lanes := winoLanes[T]()
	var z T
	m := 2
	if useWino34(e, g, unsafe.Sizeof(z)) {
		m = 3
	}
	cells := (m + 3) * (m + 3)
	th, tw := (ho+m-1)/m, (wo+m-1)/m
	gr := (tw + lanes - 1) / lanes
	// Tile row ty reads padded rows 2m·ty to 2m·ty+2m+5; group k of a row
	// reads positions k·lanes to k·lanes+lanes+1 of the 2m column phases
	// (to k·lanes+lanes for m = 3).
	pd := newPadder(x, g.pads, 2*m*th+6, 2*m*(gr*lanes+2), 2*m, c.Border, T(c.Fill))
	tiles := float64(N) * float64(th) * float64(tw)
	macs := tiles * float64(cells) * 4 * float64(og*cg*g.groups)
	ws := w.Data
	if c.Convolve {
		ws = flipped(w)
	}
	k := wino44TileRows(m, th, gr, wino44Cols[T]()/lanes, N*g.groups, e.workers, cg*pd.p.ld*int(unsafe.Sizeof(z)))
	j := &wino44Plan[T]{
		pd: pd, m: m, cells: cells, plane: (2*m*k + 6) * pd.p.ld, ld: pd.p.ld,
		th: th, k: k, bands: (th + k - 1) / k,
		c: g.in[1], cg: cg, o: O, og: og, groups: g.groups,
		ho: ho, wo: wo, gr: gr, slots: th * gr,
		bias: bias, e: e,
	}
	for pb := range 2 {
		for v := range m + 3 {
			q := 2*v + pb
			j.cols[pb][v] = q%(2*m)*pd.p.wq + q/(2*m)
		}
	}
	// The bands transform the weights themselves (see wino44Weights.ready):
	// a round on the pool of its own had cost a wake-up and a wait.
	j.wt = newWino44Weights(e, ws, g.groups, og, cg, g.w[2], g.w[3], cells)
	defer recycleScratch(e, j.wt.u)
	j.u, j.usize = j.wt.u, j.wt.size
	per := wino44Cols[T]() / lanes
	j.panels = (k*gr + per - 1) / per // of a unit's whole band
	j.pp = wino44Panels[T](cells, 4*cg, j.panels, N*g.groups*j.bands, e.workers)
	if j.bias == nil {
		j.bias = make([]T, O)
	}
	j.out = result[T](e, N*O*ho*wo)
	units := N * g.groups * j.bands
	if err := e.run(ctx, p, j, units, e.bands(units, k*gr*lanes*og, cells*4*cg), macs); err != nil {
		return Tensor[T]{}, err
	}
	return Tensor[T]{Shape: g.out, Data: j.out}, nil
}

// wino44Weights splits every kh×kw kernel of w (O×cg×kh×kw) into its four
// polyphase parts, 4×4 with zeros past the kernel, transforms each into
// G·g·Gᵀ in float64, rounded once to T, and packs position ξ of every part
// as an O×4cg matrix in blocks of wino44Rows output channels, group by
// group: part channel c' = (c*2+pa)*2+pb of output channel m of group g is
// at ((g*blocks + m/wino44Rows)*4cg + c')*wino44Rows + m%wino44Rows of
// position ξ, which starts at u[ξ*size:]. It goes block by block, group
// by group, so that each block writes whole runs of wino44Rows elements
// (channel by channel, 25 stores to 25 places apart had taken a third of
// the transform's time), and so that the bands share the blocks out (see
// take).
type wino44Weights[T Float] struct {
	w, u                   []T
	size                   int
	groups, og, cg, kh, kw int
	cells                  int // positions: 25 for F(2×2, 4×4), 36 for F(3×3, 4×4)
	blocks                 int
	// next is the first block no band has taken, done how many are
	// transformed, both zero at first; ok[b] is set once block b is, fin
	// is closed once all are.
	next, done atomic.Int64
	ok         []atomic.Bool
	fin        chan struct{}
}

// newWino44Weights lays out the transformed weights of w for the given
// number of positions in a buffer from e's recycler (u, for
// recycleScratch once no band reads it), which the blocks write in full,
// with zeros for the channels past a group's last.
func newWino44Weights[T Float](e *Engine, w []T, groups, og, cg, kh, kw, cells int) *wino44Weights[T] {
	size := groups * wino44Blocks(og) * 4 * cg * wino44Rows
	u := scratch[T](e, cells*size)
	return &wino44Weights[T]{w: w, u: u, size: size, groups: groups, og: og, cg: cg, kh: kh, kw: kw,
		cells: cells, blocks: groups * wino44Blocks(og), ok: make([]atomic.Bool, groups*wino44Blocks(og)), fin: make(chan struct{})}
}

// take transforms blocks no band has taken yet, one by one, until none
// is left. Every band calls it before its first unit, so that the
// weights' transform is shared out among the bands that start first,
// within the same round on the pool; each band then waits for the one
// block whose products it computes next (see wait), not for all of them
// before its first unit: a band that waited for the last block another
// band was still transforming had parked, and on a quiet machine waking
// it cost the wait of a whole unit of the other band (about 90 µs of the
// stem's 0.6 ms).
func (p *wino44Weights[T]) take() {
	total := int64(p.blocks)
	for {
		b := p.next.Add(1) - 1
		if b >= total {
			return
		}
		p.block(int(b))
		p.ok[b].Store(true)
		if p.done.Add(1) == total {
			close(p.fin)
		}
	}
}

// wait waits until block b is transformed and says so, or until done is
// closed (the call was cancelled: a band panicked, say) and says it is
// not. It never waits for a block that no running band transforms (every
// band takes its blocks before its first unit), so one worker alone
// cannot deadlock. The wait is short, when there is one (a block takes
// about 5 µs, and a band pads and transforms its input first): it yields
// the processor for up to wino44Spin before it parks, since a parked band
// was woken onto the busy core of the band that finished the last block,
// and taken over by the idle one only 60–100 µs later; but spinning on
// without a bound had cost twice the time when the machine was busy (the
// band it waits for was off the processor).
func (p *wino44Weights[T]) wait(done <-chan struct{}, b int) bool {
	if p.ok[b].Load() {
		return true
	}
	for start := time.Now(); time.Since(start) < wino44Spin; {
		runtime.Gosched()
		if p.ok[b].Load() {
			return true
		}
	}
	select {
	case <-p.fin:
		return true
	case <-done:
		return false
	}
}

// wino44Spin is how long wait yields before it parks: ten blocks' time.
const wino44Spin = 50 * time.Microsecond

// block transforms the kernels of block b (of group b/blocks): part
// channel by part channel, the positions of its wino44Rows output
// channels, each position's run stored at once.
func (p *wino44Weights[T]) block(b int) {
	blocks, cp := wino44Blocks(p.og), 4*p.cg
	g, m0 := b/blocks, b%blocks*wino44Rows
	rows := min(wino44Rows, p.og-m0)
	for c := range p.cg {
		for ph := range 4 {
			var run [wino34Cells][wino44Rows]T // zero past the group's channels
			for r := range rows {
				p.part(&run, r, (g*p.og+m0+r)*p.cg+c, ph)
			}
			at := b*cp*wino44Rows + (c*4+ph)*wino44Rows
			for xi := range run[:p.cells] {
				// An array assignment: copy's call per run of 8 had taken
				// a fifth of the transform.
				*(*[wino44Rows]T)(p.u[xi*p.size+at:]) = run[xi]
			}
		}
	}
}

// part transforms polyphase part ph of kernel k (of O·cg) into column r
// of run's first cells positions.
func (p *wino44Weights[T]) part(run *[wino34Cells][wino44Rows]T, r, k, ph int) {
	kh, kw := p.kh, p.kw
	w := p.w[k*kh*kw:][:kh*kw]
	pa, pb := ph/2, ph%2
	var part [4][4]float64
	for a := range 4 {
		for b := range 4 {
			if i, j := 2*a+pa, 2*b+pb; i < kh && j < kw {
				part[a][b] = float64(w[i*kw+j])
			}
		}
	}
	if p.cells == wino34Cells {
		var t [4][6]float64 // (G·part)ᵀ, column b of part transformed
		for b := range 4 {
			t[b][0], t[b][1], t[b][2], t[b][3], t[b][4], t[b][5] = wino34Gx(part[0][b], part[1][b], part[2][b], part[3][b])
		}
		for i := range 6 {
			g0, g1, g2, g3, g4, g5 := wino34Gx(t[0][i], t[1][i], t[2][i], t[3][i])
			u := run[6*i:][:6]
			u[0][r], u[1][r], u[2][r], u[3][r], u[4][r], u[5][r] = T(g0), T(g1), T(g2), T(g3), T(g4), T(g5)
		}
		return
	}
	var t [4][5]float64 // (G·part)ᵀ, column b of part transformed
	for b := range 4 {
		t[b][0], t[b][1], t[b][2], t[b][3], t[b][4] = wino44Gx(part[0][b], part[1][b], part[2][b], part[3][b])
	}
	for i := range 5 {
		g0, g1, g2, g3, g4 := wino44Gx(t[0][i], t[1][i], t[2][i], t[3][i])
		u := run[5*i:][:5]
		u[0][r], u[1][r], u[2][r], u[3][r], u[4][r] = T(g0), T(g1), T(g2), T(g3), T(g4)
	}
}

// wino44Panels is how many panels of wino44Cols tiles a unit computes at
// a time, with cells positions: as many as keep their transformed input
// and one block's products within wino44ScratchBytes, but no more than a
// unit's band has, nor so many that the units give each worker fewer
// than four.
func wino44Panels[T Float](cells, cp, panels, planes, workers int) int {
	var z T
	per := cells * (cp + wino44Rows) * wino44Cols[T]() * int(unsafe.Sizeof(z))
	pp := max(1, wino44ScratchBytes/per)
	return max(1, min(pp, panels, max(1, planes*panels/(4*workers))))
}

// wino44TileRows is how many tile rows of side m (of gr groups, per of
// which fill a panel) a unit computes, given planes images and groups, the
// workers and the bytes of one padded row of all of a group's input
// channels: enough that the 6 padded rows a band shares with the next are
// padded twice only a few times, few enough that each worker gets about
// four units and that a band's padded rows stay within wino44PadBytes, and
// where it can be, a number of whole panels.
func wino44TileRows(m, th, gr, per, planes, workers, rowBytes int) int {
	k := max(1, min(th, planes*th/(4*workers), (wino44PadBytes/rowBytes-6)/(2*m)))
	for c := k; 2*c >= k; c-- {
		if c*gr%per == 0 {
			return c
		}
	}
	return k
}

// wino44PadBytes is what a unit's padded rows aim to take: a good part of
// the second-level cache, where the input transform finds them.
const wino44PadBytes = 256 << 10

// wino44ScratchBytes is what a unit's transformed input and one block of
// products aim to take: most of a first-level cache.
const wino44ScratchBytes = 40 << 10

func (j *wino44Plan[T]) units(ctx context.Context, lo, hi int) error {
	nc := wino44Cols[T]()
	cp := 4 * j.cg
	// Recycled scratch with stale contents, as on the 3×3 path: every
	// cell read is written first but for the lanes of a last panel's
	// missing groups and the rows of a last block's missing channels,
	// whose products nothing reads. F(3×3, 4×4)'s transforms read two
	// groups' width where they take one (masked off, see wino34Input):
	// x has that much room past its last row.
	s := newWinoScratch[T](j.e, j.cells, j.pp*cp*nc, j.pp*wino44Rows*nc, wino44Rows*2*nc)
	defer s.release(j.e)
	x := scratch[T](j.e, j.cg*j.plane+nc)
	defer recycleScratch(j.e, x)
	j.wt.take()
	done := ctx.Done()
	return eachUnit(ctx, lo, hi, func(u int) { j.unit(u, u > lo, x, s, done) })
}

// unit computes the band of up to k tile rows of one image and group: it
// pads the rows of the input they read into x, then goes through their
// panels pp at a time (see chunk). When x holds the band before (after
// says so), the 6 rows the two share move up rather than being padded
// again.
func (j *wino44Plan[T]) unit(u int, after bool, x []T, s *winoScratch[T], done <-chan struct{}) {
	plane, b := u/j.bands, u%j.bands
	n, g := plane/j.groups, plane%j.groups
	ty0, ty1 := b*j.k, min(b*j.k+j.k, j.th)
	r0, rows := 2*j.m*ty0, 2*j.m*(ty1-ty0)+6
	shared := 0
	if after && b > 0 {
		shared = 6
	}
	for c := range j.cg {
		xc := x[c*j.plane:]
		copy(xc[:shared*j.ld], xc[2*j.m*j.k*j.ld:])
		pl := n*j.c + g*j.cg + c
		for r := shared; r < rows; r++ {
			j.pd.rowTo(xc[r*j.ld:], pl, r0+r)
		}
	}
	step := j.pp * wino44Cols[T]() / winoLanes[T]()
	for sl := ty0 * j.gr; sl < ty1*j.gr; sl += step {
		j.chunk(x, r0, n, g, sl, min(sl+step, ty1*j.gr), s, done)
	}
}

// chunk computes slots [sl0, sl1) of image n and group g, up to pp panels,
// from their padded rows in x, which start at padded row r0: the input
// transform of every part channel of their groups of tiles, then block of
// wino44Rows output channels by block the products of each panel and
// their output transform, so that a block's products stay in the
// first-level cache between the two. Each block's products wait until its
// weights are transformed (see wino44Weights.wait), or until done is
// closed, when chunk stops.
func (j *wino44Plan[T]) chunk(x []T, r0, n, g, sl0, sl1 int, s *winoScratch[T], done <-chan struct{}) {
	nc, lanes := wino44Cols[T](), winoLanes[T]()
	per := nc / lanes // groups per panel
	cp := 4 * j.cg
	j.inputs(x, r0, sl0, sl1, s)
	pix := j.ho * j.wo
	out := j.out[(n*j.o+g*j.og)*pix:]
	bias := j.bias[g*j.og:]
	blocks := wino44Blocks(j.og)
	for b := range blocks {
		if !j.wt.wait(done, g*blocks+b) {
			return // cancelled: the call fails, its output is not read
		}
		a := j.u[(g*blocks+b)*cp*wino44Rows:]
		for k := range (sl1 - sl0 + per - 1) / per {
			winoProducts(a, s.v[k*cp*nc:], s.m[k*wino44Rows*nc:], cp, j.cells, j.usize, s.vx, s.mx)
		}
		m0 := b * wino44Rows
		rows := min(wino44Rows, j.og-m0)
		if j.m == 3 {
			j.outputs34(out[m0*pix:], bias[m0:], rows, sl0, sl1, s)
			continue
		}
		for sl := sl0; sl < sl1; sl++ {
			k := sl - sl0
			m := s.m[k/per*wino44Rows*nc+k%per*lanes:]
			if k%2 == 0 && sl+1 < sl1 && j.whole(sl) && j.whole(sl+1) {
				// Two whole groups side by side in m: one transform.
				wino44Output2(j.at(out[m0*pix:], sl), j.at(out[m0*pix:], sl+1), m, bias[m0:], rows, nc, s.mx, j.wo, pix)
				sl++
				continue
			}
			j.output(out[m0*pix:], m, bias[m0:], rows, sl, s)
		}
	}
}

// inputs transforms the input of every part channel of slots [sl0, sl1)
// into s.v, from their padded rows in x, which start at padded row r0.
func (j *wino44Plan[T]) inputs(x []T, r0, sl0, sl1 int, s *winoScratch[T]) {
	nc, lanes := wino44Cols[T](), winoLanes[T]()
	per := nc / lanes // groups per panel
	cp := 4 * j.cg
	for sl := sl0; sl < sl1; sl++ {
		k := sl - sl0
		ty, tx := sl/j.gr, sl%j.gr*lanes
		v := s.v[k/per*cp*nc+k%per*lanes:]
		// Two groups of one tile row side by side in v take one transform.
		two := k%2 == 0 && sl+1 < sl1 && (sl+1)%j.gr != 0
		for c := range j.cg {
			for ph := range 4 {
				pa, pb := ph/2, ph%2
				xs := x[c*j.plane+(2*j.m*ty-r0+pa)*j.ld+tx:]
				vc := v[(c*4+ph)*nc:]
				switch {
				case j.m == 3 && two:
					wino34Input(vc, xs, &j.cols[pb], 2*j.ld, s.vx, 2*lanes)
				case j.m == 3:
					wino34Input(vc, xs, &j.cols[pb], 2*j.ld, s.vx, lanes)
				case two:
					wino44Input2(vc, xs, (*[5]int)(j.cols[pb][:5]), 2*j.ld, s.vx)
				default:
					wino44Input(vc, xs, (*[5]int)(j.cols[pb][:5]), 2*j.ld, s.vx)
				}
			}
		}
		if two {
			sl++
		}
	}
}

// outputs34 transforms the products of rows output channels (a block's,
// whose first plane is out) of slots sl0 to sl1 back by F(3×3, 4×4), two
// groups of one tile row at a time where they are side by side in s.m,
// cutting the tiles at the output's edges.
func (j *wino44Plan[T]) outputs34(out, bias []T, rows, sl0, sl1 int, s *winoScratch[T]) {
	nc, lanes := wino44Cols[T](), winoLanes[T]()
	per := nc / lanes
	pix := j.ho * j.wo
	for sl := sl0; sl < sl1; sl++ {
		k := sl - sl0
		m := s.m[k/per*wino44Rows*nc+k%per*lanes:]
		tiles := lanes
		if k%2 == 0 && sl+1 < sl1 && (sl+1)%j.gr != 0 {
			tiles = 2 * lanes
		}
		ty, tx := sl/j.gr, sl%j.gr*lanes
		r0, c0 := 3*ty, 3*tx
		h, w := min(3, j.ho-r0), min(3*tiles, j.wo-c0)
		wino34Output(out[r0*j.wo+c0:], m, bias, rows, nc, s.mx, j.wo, pix, tiles, h, w)
		if tiles > lanes {
			sl++
		}
	}
}

// whole says whether the tiles of slot sl lie within the output: two rows
// and 2·winoLanes columns of it.
func (j *wino44Plan[T]) whole(sl int) bool {
	ty, tx := sl/j.gr, sl%j.gr*winoLanes[T]()
	return 2*ty+2 <= j.ho && 2*tx+2*winoLanes[T]() <= j.wo
}

// at is where the outputs of slot sl start in out, a block's first plane.
func (j *wino44Plan[T]) at(out []T, sl int) []T {
	ty, tx := sl/j.gr, sl%j.gr*winoLanes[T]()
	return out[2*ty*j.wo+2*tx:]
}

// output transforms the products m of rows output channels of slot sl
// (rows wino44Cols apart) into their outputs in out, adding the bias;
// tiles past the output's edge go through the scratch tile s.y.
func (j *wino44Plan[T]) output(out, m, bias []T, rows, sl int, s *winoScratch[T]) {
	nc, lanes := wino44Cols[T](), winoLanes[T]()
	ty, tx := sl/j.gr, sl%j.gr*lanes
	winoTileOutput(out, s.y, rows, j.ho, j.wo, 2, 2*ty, 2*tx, func(y []T, ldy, yc int) {
		wino44Output(y, m, bias, rows, nc, s.mx, ldy, yc)
	})
}

// winoProductsGo is the portable batch of products of the stride-2 path,
// and the reference for the SIMD one (see winoProducts): for i < batch,
//
//	c[i*sc + r*nc + j] = Σ_{p<k} a[i*sa + p*wino44Rows + r]·b[i*sb + p*nc + j]
//
// for r < wino44Rows and j < nc = wino44Cols[T](), one multiply and one add
// per term, in order of p.
func winoProductsGo[T Float](a, b, c []T, k, batch, sa, sb, sc int) {
	nc := wino44Cols[T]()
	for i := range batch {
		ai, bi, ci := a[i*sa:], b[i*sb:], c[i*sc:]
		for r := range wino44Rows {
			row := ci[r*nc : (r+1)*nc]
			clear(row)
			for p := range k {
				av := ai[p*wino44Rows+r]
				for jj, bv := range bi[p*nc : (p+1)*nc] {
					row[jj] += T(av * bv) //nolint:unconvert // rounds the product first, never fused
				}
			}
		}
	}
}

// wino44InputGo is the portable input transform, and the reference for
// the SIMD one (see wino44Input): for lanes tiles side by side of one part
// channel, element ξ = 5i+j of tile t is
//
//	v[ξ*vx + t] = (Bᵀ·d·B)[i][j]
//
// where d is the tile's window: row r at x[r*ld:], column c at cols[c] in
// it, tile t one element further than tile t-1. Down the columns first,
// then along the rows, each sum as wino44Sum takes it.
func wino44InputGo[T Float](v, x []T, cols *[5]int, ld, vx, lanes int) {
	for t := range lanes {
		var d [5][5]T // d[column][row]
		for r := range 5 {
			for c := range 5 {
				d[c][r] = x[r*ld+cols[c]+t]
			}
		}
		for i, bt := range wino44BT {
			var row [5]T
			for c := range 5 {
				row[c] = wino44Sum(bt, &d[c])
			}
			for jj, bj := range wino44BT {
				v[(5*i+jj)*vx+t] = wino44Sum(bj, &row)
			}
		}
	}
}

// wino44OutputGo is the portable output transform, and the reference for
// the SIMD one (see wino44Output): for lanes tiles side by side and n
// channels, with element ξ = 5i+j of tile t of channel o at
// m[ξ*mx + o*mc + t],
//
//	y[o*yc + r*ldy + 2t + s] = (Aᵀ·M·A)[r][s] + bias[o],
//
// down the columns first, then along the rows, then the bias.
func wino44OutputGo[T Float](y, m, bias []T, n, mc, mx, ldy, yc, lanes int) {
	for o := range n {
		mo := m[o*mc:]
		for t := range lanes {
			var col [5][5]T // col[j][i] = M[i][j]
			for i := range 5 {
				for jj := range 5 {
					col[jj][i] = mo[(5*i+jj)*mx+t]
				}
			}
			for r, at := range wino44AT {
				var row [5]T
				for jj := range 5 {
					row[jj] = wino44Sum(at, &col[jj])
				}
				yr := y[o*yc+r*ldy+2*t:]
				yr[0] = wino44Sum(wino44AT[0], &row) + bias[o]
				yr[1] = wino44Sum(wino44AT[1], &row) + bias[o]
			}
		}
	}
}

// wino44Cost predicts the stride-2 Winograd path's time for g with
// elements of the given size and tiles of side m (2 or 3), in the units
// of directCost, with the 3×3 path's constants (see winogradCost): its
// products at the GEMM rate, its transforms and padded copy
// winoNsPerTileByte per tile, channel (part channels on the input side)
// and byte, times wino34TileCost for F(3×3, 4×4), its weights' transform
// winoNsPerWeight per transformed weight. Measured on the 7×7 stem, one
// worker, CPU time (PERF.md): F(2×2, 4×4) 0.80 (float32) and 0.76
// (float64) of the direct method's GEMM path; the model says 0.74 and 0.82.
func wino44Cost(g geometry, size uintptr, m int) float64 {
	N, O := g.out[0], g.out[1]
	og, cp := O/g.groups, 4*g.w[1]
	lanes := 32 / int(size)
	cells := float64((m + 3) * (m + 3))
	th, tw := (g.out[2]+m-1)/m, (g.out[3]+m-1)/m
	tiles := float64(N*g.groups) * float64(th) * float64((tw+lanes-1)/lanes*lanes)
	perMAC := gemmNsPerMAC32
	if size == 8 {
		perMAC = gemmNsPerMAC64
	}
	transforms := float64(cp+og) * float64(size) * winoNsPerTileByte
	if m == 3 {
		transforms *= wino34TileCost
	}
	rows := float64(wino44Blocks(og) * wino44Rows)
	perTile := cells*rows*float64(cp)*perMAC + transforms
	return tiles*perTile + cells*float64(O)*float64(cp)*winoNsPerWeight
}

// wino34TileCost is what the transforms of a F(3×3, 4×4) tile cost
// against a F(2×2, 4×4) tile's, per channel and byte: 6×6 windows against
// 5×5, three outputs a row against two, and the three-way interleave of
// the outputs. Fitted to one worker's CPU time on three layers (PERF.md):
// F(3×3, 4×4) over F(2×2, 4×4) measured 0.96 (float32) and 0.84 (float64)
// on the 7×7 stem (the model: 0.98, 0.95), 1.23 and 1.14 on a small 7×7
// stem (1.44, 1.10), 1.18 and 1.09 on a 16-channel 5×5 layer (1.32,
// 1.00), so that it picks the faster tile on each.
const wino34TileCost = 2.5

// wino44Footprint is the elements the stride-2 Winograd path holds for g
// beyond its output, with elements of size bytes, up to workers bands at
// work and tiles of side m: the transformed weights and each band's
// padded rows and scratch (see wino44TileRows, and wino44Panels with the
// most panels it allows).
func wino44Footprint(g geometry, size, workers, m int) int64 {
	N := g.in[0]
	og, cp := g.out[1]/g.groups, 4*g.w[1]
	lanes := 32 / size
	nc := 4 * lanes
	cells := (m + 3) * (m + 3)
	th, tw := (g.out[2]+m-1)/m, (g.out[3]+m-1)/m
	gr := (tw + lanes - 1) / lanes
	ld := 2 * m * (gr*lanes + 2)
	k := wino44TileRows(m, th, gr, nc/lanes, N*g.groups, workers, g.w[1]*ld*size)
	padded := int64(workers) * int64(g.w[1]*(2*m*k+6)*ld+nc)
	weights := int64(cells * g.groups * wino44Blocks(og) * wino44Rows * cp)
	pp := max(1, wino44ScratchBytes/(cells*(cp+wino44Rows)*nc*size))
	scratch := int64(cells*(pp*(cp+wino44Rows)*nc+2*64/size) + wino44Rows*2*nc)
	return padded + weights + int64(workers)*scratch
}
