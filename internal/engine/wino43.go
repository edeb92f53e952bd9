package engine

import (
	"context"
	"unsafe"
)

// The Winograd path computes 3×3 layers with unit strides and dilations by
// F(4×4, 3×3) too, where that pays (see useWino43): each tile is a 4×4
// block of outputs, computed from its 6×6 window of each input channel by
// 36 products per input and output channel pair, 2.25 per output against
// F(2×2, 3×3)'s 4 and the direct method's 9. The price is larger
// transforms (per tile and channel, not per pair) and larger rounding
// errors: the transforms' coefficients grow with the tile.
//
// The points are 0, 1, -1, ½, -2 and ∞: of the usual choices, this set
// gave the smallest float32 error relative to the output's scale on 64
// channels of normal data (2.7e-6, against 7.3e-6 for 0, ±1, ±2 and 4.9e-6
// for 0, ±1, ±½), and PERF.md has what it gives on the golden set. The
// tables are scaled by powers of two (exact) so that Bᵀ and Aᵀ have integer
// coefficients:
//
//	Bᵀ = [[2,-3,-4,3,2,0], [0,-2,1,5,2,0], [0,2,-5,1,2,0],
//	      [0,-2,-1,2,1,0], [0,1,-2,-1,2,0], [0,2,-3,-4,3,2]]
//	Aᵀ = [[1,1,1,8,1,0], [0,1,-1,4,-2,0], [0,1,1,2,4,0], [0,1,-1,1,-8,1]]
//
// and G (see wino43Gx) carries the rest.
//
// Layout: each unit pads the input rows it reads into its own scratch, in
// plain rows, and a tile's window is split into its columns in registers
// (see wino43Input): tile t's window is columns 4t to 4t+5. The products run on the stride-2
// path's microkernel (winoProducts, see wino44.go): per position, the
// products of a panel's transformed tiles with every block of wino44Rows
// output channels are one batched call. Groups of winoLanes tiles (a tile
// row's last one filled up past the output's edge) go four to a panel of
// wino44Cols tiles.

// wino43Cells is the number of cells of a tile's window (6×6), and of
// positions ξ of its transforms.
const wino43Cells = 36

// wino43BT is the scaled Bᵀ above, row by row, in the order its terms are
// summed (as wino44Sum takes them; the first coefficient is positive).
var wino43BT = [6][]wino44Term{
	{{0, 2}, {1, -3}, {2, -4}, {3, 3}, {4, 2}},
	{{2, 1}, {1, -2}, {3, 5}, {4, 2}},
	{{1, 2}, {2, -5}, {3, 1}, {4, 2}},
	{{3, 2}, {1, -2}, {2, -1}, {4, 1}},
	{{1, 1}, {2, -2}, {3, -1}, {4, 2}},
	{{1, 2}, {2, -3}, {3, -4}, {4, 3}, {5, 2}},
}

// wino43AT is the scaled Aᵀ above, likewise.
var wino43AT = [4][]wino44Term{
	{{0, 1}, {1, 1}, {2, 1}, {3, 8}, {4, 1}},
	{{1, 1}, {2, -1}, {3, 4}, {4, -2}},
	{{1, 1}, {2, 1}, {3, 2}, {4, 4}},
	{{1, 1}, {2, -1}, {3, 1}, {4, -8}, {5, 1}},
}

// wino43Gx is G·(p0, p1, p2), the factors of the six products of a 3-tap
// kernel, with the scaling of wino43BT and wino43AT taken out:
// G = [[1/2,0,0], [1/6,1/6,1/6], [-1/6,1/6,-1/6], [-2/15,-1/15,-1/30],
// [1/30,-1/15,2/15], [0,0,1/2]]. The weights are transformed in float64
// and rounded once. It multiplies by 1/6 and 1/30 rather than divide (as
// wino44Gx does): one rounding more in float64, far below the
// tolerances, where the divisions took most of the weights' transform.
func wino43Gx(p0, p1, p2 float64) (g0, g1, g2, g3, g4, g5 float64) {
	const sixth, thirtieth = 1.0 / 6, 1.0 / 30
	return p0 * 0.5,
		(p0 + p1 + p2) * sixth,
		(-p0 + p1 - p2) * sixth,
		-(4*p0 + 2*p1 + p2) * thirtieth,
		(p0 - 2*p1 + 4*p2) * thirtieth,
		p2 * 0.5
}

// wino43Sum evaluates one row of a transform table over the cells d, in
// the table's order, rounding as the SIMD transforms do: a coefficient ±2
// as a cell added to itself, larger ones as a product rounded before the
// sum.
func wino43Sum[T Float](terms []wino44Term, d *[6]T) T {
	term := func(t wino44Term) T {
		v := d[t.i]
		switch t.c {
		case 1, -1:
			return v
		case 2, -2:
			return v + v
		default:
			return T(T(max(t.c, -t.c)) * v) //nolint:unconvert // rounds the product, never fused
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

// useWino43 says whether method "winograd" computes the 3×3 layer g
// (useWinograd) by F(4×4, 3×3) on e: where e's configuration asks for it,
// or, by default, where the CPU has the products microkernel and the cost
// model predicts it faster than F(2×2, 3×3).
func useWino43(e *Engine, g geometry, size uintptr) bool {
	switch e.winoTile {
	case 2:
		return false
	case 4:
		return true
	}
	return wino43Pays(g, size)
}

// wino43Pays says whether F(4×4, 3×3) is predicted faster than F(2×2, 3×3)
// for the 3×3 layer g, with elements of the given size: only with the
// products microkernel, since the portable products would lose, and only
// with at least wino43MinChannels input and output channels per group.
// With fewer, the model (which counts the transforms by the byte) is too
// kind to the larger tiles: on 16 channels they measured as slow as
// F(2×2, 3×3) in float32 and 1.35× slower in float64 (PERF.md).
func wino43Pays(g geometry, size uintptr) bool {
	og, cg := g.out[1]/g.groups, g.w[1]
	return winoProductsSIMD() && min(og, cg) >= wino43MinChannels && wino43Cost(g, size) < wino22Cost(g, size)
}

// wino43MinChannels is the fewest channels per group, in and out, for
// which MethodAuto and method "winograd" consider F(4×4, 3×3).
const wino43MinChannels = 32

// wino43Plan is one Conv2D request on the F(4×4, 3×3) path, laid out as
// wino44Plan with cg channels per group and 36 positions.
type wino43Plan[T Float] struct {
	// pd pads the input's rows, nil where there is nothing to pad (see
	// padRow); x is the input.
	pd        *padder[T]
	x         Tensor[T]
	plane, ld int // a unit's padded rows: per channel, per row
	c, cg     int // input channels, in total and per group
	o, og     int
	groups    int
	ho, wo    int
	gr        int // groups of winoLanes tiles per tile row
	slots     int // groups per plane
	panels    int
	pp        int // panels per unit
	// u holds the transformed weights of position ξ at u[ξ*usize:], og×cg
	// per group in blocks of wino44Rows output channels (see
	// wino43Weights).
	u     []T
	usize int
	bias  []T
	out   []T
	e     *Engine
}

// conv2dWino43 runs a validated request for which useWinograd holds by
// F(4×4, 3×3): it transforms the weights on the pool, then computes panel
// by panel on the pool, each unit padding the rows of the input it reads
// into its own scratch first, so that the core that transforms them finds
// them in its cache (as on the stride-2 path).
func conv2dWino43[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv) (Tensor[T], error) {
	N, O := g.out[0], g.out[1]
	og, cg := O/g.groups, g.w[1]
	ho, wo := g.out[2], g.out[3]
	lanes := winoLanes[T]()
	th, tw := (ho+3)/4, (wo+3)/4
	gr := (tw + lanes - 1) / lanes
	// Tile row ty reads padded rows 4ty to 4ty+5; group k of a row reads
	// columns 4k·lanes to 4(k+1)·lanes+1.
	ld := 4*gr*lanes + 2
	tiles := float64(N) * float64(th) * float64(tw)
	macs := tiles * wino43Cells * float64(og*cg*g.groups)
	ws := w.Data
	if c.Convolve {
		ws = flipped(w)
	}
	wt := newWino43Weights(e, ws, g.groups, og, cg)
	defer recycleScratch(e, wt.u)
	var err error
	if n := min(O, e.workers); n > 1 && O*cg*9 >= wino44PoolWeights {
		err = e.run(ctx, p, wt, g.groups*wino44Blocks(og), n, float64(O*cg)*wino43Cells)
	} else {
		err = wt.units(ctx, 0, g.groups*wino44Blocks(og))
	}
	if err != nil {
		return Tensor[T]{}, err
	}
	j := &wino43Plan[T]{
		pd: newPadder(x, g.pads, 4*th+2, ld, 1, c.Border, T(c.Fill)), x: x, ld: ld,
		c: g.in[1], cg: cg, o: O, og: og, groups: g.groups,
		ho: ho, wo: wo, gr: gr, slots: th * gr,
		u: wt.u, usize: wt.size,
		bias: bias, e: e,
	}
	per := wino44Cols[T]() / lanes
	j.panels = (j.slots + per - 1) / per
	j.pp = wino43Panels[T](cg, og, j.panels, N*g.groups, e.workers)
	// A unit's slots span at most this many tile rows.
	j.plane = (4*min(th, (j.pp*per+gr-2)/gr+1) + 2) * ld
	if j.bias == nil {
		j.bias = make([]T, O)
	}
	j.out = result[T](e, N*O*ho*wo)
	units := N * g.groups * ((j.panels + j.pp - 1) / j.pp)
	if err := e.run(ctx, p, j, units, e.bands(units, j.pp*wino44Cols[T]()*og, wino43Cells*cg), macs); err != nil {
		return Tensor[T]{}, err
	}
	return Tensor[T]{Shape: g.out, Data: j.out}, nil
}

// padRow pads row r of input plane pl (padded rows of ld cells) into dst:
// through the padder, or where there is nothing to pad a copy of the
// input's row with zeros after it, and zeros below the input. The zeros
// only enter outputs past the edge, which are dropped, but their size
// enters the rounding of the tile's other outputs, as padded zeros do.
func (j *wino43Plan[T]) padRow(dst []T, pl, r int) {
	if j.pd != nil {
		j.pd.rowTo(dst, pl, r)
		return
	}
	h, w := j.x.Shape[2], j.x.Shape[3]
	dst = dst[:j.ld]
	if r >= h {
		clear(dst)
		return
	}
	copy(dst, j.x.Data[(pl*h+r)*w:][:w])
	clear(dst[w:])
}

// wino43Weights transforms every 3×3 kernel g of w (O×cg×3×3) into
// G·g·Gᵀ in float64, rounded once to T, and packs position ξ of every
// kernel as an O×cg matrix in blocks of wino44Rows output channels, group
// by group, as the products microkernel reads them: channel c of output
// channel m of group g is at ((g*blocks + m/wino44Rows)*cg + c)*wino44Rows
// + m%wino44Rows of position ξ, which starts at u[ξ*size:]. It is a plan
// whose units are the blocks of output channels, so that a large layer's
// weights are transformed on the pool.
type wino43Weights[T Float] struct {
	w, u           []T
	size           int
	groups, og, cg int
}

// newWino43Weights lays out the transformed weights of w in a buffer from
// e's recycler (u, for recycleScratch once no band reads it), with stale
// contents: block writes every run the products read, zeros for the
// channels past a group's last in its last block. The
// positions lie a cache line further apart than their contents need (see
// winoSkew): 64 channels would put them exactly 16 KiB apart, and the
// transform's 36 stores per kernel in one set of the first-level cache.
func newWino43Weights[T Float](e *Engine, w []T, groups, og, cg int) *wino43Weights[T] {
	size := groups*wino44Blocks(og)*cg*wino44Rows + winoSkew[T]()
	u := scratch[T](e, wino43Cells*size)
	return &wino43Weights[T]{w: w, u: u, size: size, groups: groups, og: og, cg: cg}
}

func (p *wino43Weights[T]) units(_ context.Context, lo, hi int) error {
	for b := lo; b < hi; b++ {
		p.block(b)
	}
	return nil
}

// block transforms the kernels of block b of wino44Rows output channels
// (numbered across the groups), input channel by input channel, storing
// each position's run of the block's channels at once: 36 stores of a
// run apart, where one channel at a time had made 36 scattered ones per
// kernel.
func (p *wino43Weights[T]) block(b int) {
	blocks := wino44Blocks(p.og)
	g, m0 := b/blocks, b%blocks*wino44Rows
	rows := min(wino44Rows, p.og-m0)
	for c := range p.cg {
		var run [wino43Cells][wino44Rows]T
		for r := range rows {
			o := g*p.og + m0 + r
			k := p.w[(o*p.cg+c)*9:][:9]
			var t [3][6]float64 // (G·g)ᵀ, column b of g transformed
			for col := range 3 {
				t[col][0], t[col][1], t[col][2], t[col][3], t[col][4], t[col][5] = wino43Gx(float64(k[col]), float64(k[3+col]), float64(k[6+col]))
			}
			for i := range 6 {
				g0, g1, g2, g3, g4, g5 := wino43Gx(t[0][i], t[1][i], t[2][i])
				u := run[6*i:][:6]
				u[0][r], u[1][r], u[2][r], u[3][r], u[4][r], u[5][r] = T(g0), T(g1), T(g2), T(g3), T(g4), T(g5)
			}
		}
		at := (b*p.cg + c) * wino44Rows
		for xi := range run {
			*(*[wino44Rows]T)(p.u[xi*p.size+at:]) = run[xi] // see wino44Weights.block
		}
	}
}

// wino43ScratchBytes is what a unit's transformed input and products aim
// to take: about half the second-level cache, as on the F(2×2, 3×3) path.
const wino43ScratchBytes = 512 << 10

// wino43Panels is how many panels of wino44Cols tiles one unit computes:
// as many as keep their transformed input and products within
// wino43ScratchBytes, but at least one, no more than a plane has, nor so
// many that the units give each worker fewer than four.
func wino43Panels[T Float](cg, og, panels, planes, workers int) int {
	var z T
	rows := wino44Blocks(og) * wino44Rows
	per := wino43Cells * (cg + rows) * wino44Cols[T]() * int(unsafe.Sizeof(z))
	pp := max(1, wino43ScratchBytes/per)
	return max(1, min(pp, panels, max(1, planes*panels/(4*workers))))
}

func (j *wino43Plan[T]) units(ctx context.Context, lo, hi int) error {
	nc := wino44Cols[T]()
	rows := wino44Blocks(j.og) * wino44Rows
	// Recycled scratch with stale contents, as on the F(2×2, 3×3) path:
	// every cell read is written first but for the lanes of a last
	// panel's missing groups and the rows of a last block's missing
	// channels, whose products nothing reads.
	// The products are laid out block by block of wino44Rows output
	// channels, each block's 36 positions together (wino44Rows·nc
	// apart), so that the output transform of a block reads one run of
	// memory.
	s := &winoScratch[T]{vx: j.pp*j.cg*nc + winoSkew[T](), mx: wino44Rows * nc}
	s.v = scratch[T](j.e, wino43Cells*s.vx)
	s.m = scratch[T](j.e, j.pp*rows*wino43Cells*nc)
	s.y = scratch[T](j.e, wino44Rows*16*winoLanes[T]())
	defer s.release(j.e)
	x := scratch[T](j.e, j.cg*j.plane)
	defer recycleScratch(j.e, x)
	return eachUnit(ctx, lo, hi, func(u int) { j.unit(u, x, s) })
}

// unit computes up to pp panels of one image and group: the input
// transform of every channel of their groups of tiles, then position by
// position the products of each panel with every block of output channels
// (one batched call, while the position's transformed tiles are in the
// first-level cache), then the output transform (see outputs).
func (j *wino43Plan[T]) unit(u int, x []T, s *winoScratch[T]) {
	nc, lanes := wino44Cols[T](), winoLanes[T]()
	per := nc / lanes // groups per panel
	blocks := wino44Blocks(j.og)
	chunks := (j.panels + j.pp - 1) / j.pp
	plane, p0 := u/chunks, u%chunks*j.pp
	p1 := min(p0+j.pp, j.panels)
	n, g := plane/j.groups, plane%j.groups
	sl0, sl1 := per*p0, min(per*p1, j.slots)
	// The padded rows of the unit's tile rows, channel by channel.
	r0 := 4 * (sl0 / j.gr)
	rows := 4*((sl1-1)/j.gr+1) + 2 - r0
	for c := range j.cg {
		for r := range rows {
			j.padRow(x[c*j.plane+r*j.ld:], n*j.c+g*j.cg+c, r0+r)
		}
	}
	for sl := sl0; sl < sl1; sl++ {
		k := sl - sl0
		ty, tx := sl/j.gr, sl%j.gr*lanes
		v := s.v[k/per*j.cg*nc+k%per*lanes:]
		xs := x[(4*ty-r0)*j.ld+4*tx:]
		// Two groups of one tile row side by side in v take one transform.
		if k%2 == 0 && sl+1 < sl1 && (sl+1)%j.gr != 0 {
			for c := range j.cg {
				wino43Input2(v[c*nc:], xs[c*j.plane:], j.ld, s.vx)
			}
			sl++
			continue
		}
		for c := range j.cg {
			wino43Input(v[c*nc:], xs[c*j.plane:], j.ld, s.vx)
		}
	}
	a := j.u[g*blocks*j.cg*wino44Rows:]
	for xi := range wino43Cells {
		for k := range p1 - p0 {
			winoProducts(a[xi*j.usize:], s.v[xi*s.vx+k*j.cg*nc:], s.m[(k*blocks*wino43Cells+xi)*s.mx:],
				j.cg, blocks, j.cg*wino44Rows, 0, wino43Cells*s.mx)
		}
	}
	j.outputs(n, g, sl0, sl1, s)
}

// outputs transforms the products of slots sl0 to sl1 of image n and
// group g back, block of output channels by block, adding the bias.
func (j *wino43Plan[T]) outputs(n, g, sl0, sl1 int, s *winoScratch[T]) {
	nc, lanes := wino44Cols[T](), winoLanes[T]()
	per := nc / lanes
	blocks := wino44Blocks(j.og)
	pix := j.ho * j.wo
	for b := range blocks {
		m0 := b * wino44Rows
		rows := min(wino44Rows, j.og-m0)
		out := j.out[(n*j.o+g*j.og+m0)*pix:]
		bias := j.bias[g*j.og+m0:]
		for sl := sl0; sl < sl1; sl++ {
			k := sl - sl0
			m := s.m[(k/per*blocks+b)*wino43Cells*s.mx+k%per*lanes:]
			if k%2 == 0 && sl+1 < sl1 && j.whole(sl) && sl/j.gr == (sl+1)/j.gr && 4*(sl/j.gr)+4 <= j.ho {
				// A whole group and the next of its tile row side by
				// side in m: one transform, the second's columns cut at
				// the edge.
				cols := min(4*lanes, j.wo-4*((sl+1)%j.gr*lanes))
				wino43Output2(j.at(out, sl), j.at(out, sl+1), m, bias, rows, nc, s.mx, j.wo, pix, cols)
				sl++
				continue
			}
			j.output(out, m, bias, rows, sl, s)
		}
	}
}

// output transforms the products m of rows output channels of slot sl
// (rows wino44Cols apart) into their outputs in out, adding the bias;
// tiles past the output's edge go through the scratch tile s.y.
func (j *wino43Plan[T]) output(out, m, bias []T, rows, sl int, s *winoScratch[T]) {
	nc, lanes := wino44Cols[T](), winoLanes[T]()
	ty, tx := sl/j.gr, sl%j.gr*lanes
	winoTileOutput(out, s.y, rows, j.ho, j.wo, 4, 4*ty, 4*tx, func(y []T, ldy, yc int) {
		wino43Output(y, m, bias, rows, nc, s.mx, ldy, yc)
	})
}

// whole says whether the tiles of slot sl lie within the output: four
// rows and 4·winoLanes columns of it.
func (j *wino43Plan[T]) whole(sl int) bool {
	ty, tx := sl/j.gr, sl%j.gr*winoLanes[T]()
	return 4*ty+4 <= j.ho && 4*tx+4*winoLanes[T]() <= j.wo
}

// at is where the outputs of slot sl start in out, a plane's first.
func (j *wino43Plan[T]) at(out []T, sl int) []T {
	ty, tx := sl/j.gr, sl%j.gr*winoLanes[T]()
	return out[4*ty*j.wo+4*tx:]
}

// wino43InputGo is the portable input transform, and the reference for
// the SIMD one (see wino43Input): for lanes tiles side by side of one
// channel, element ξ = 6i+j of tile t is
//
//	v[ξ*vx + t] = (Bᵀ·d·B)[i][j]
//
// where d is the tile's window, row r at x[r*ld + 4t:]. Along the rows
// first, then down the columns, each sum as wino43Sum takes it.
func wino43InputGo[T Float](v, x []T, ld, vx, lanes int) {
	for t := range lanes {
		var e [6][6]T // e[j][r] = (d·B)[r][j]
		for r := range 6 {
			d := (*[6]T)(x[r*ld+4*t:])
			for jj, bj := range wino43BT {
				e[jj][r] = wino43Sum(bj, d)
			}
		}
		for jj := range 6 {
			for i, bi := range wino43BT {
				v[(6*i+jj)*vx+t] = wino43Sum(bi, &e[jj])
			}
		}
	}
}

// wino43OutputGo is the portable output transform, and the reference for
// the SIMD one (see wino43Output): for lanes tiles side by side and n
// channels, with element ξ = 6i+j of tile t of channel o at
// m[ξ*mx + o*mc + t],
//
//	y[o*yc + r*ldy + 4t + s] = (Aᵀ·M·A)[r][s] + bias[o]
//
// for 4t + s < cols (the rest of the tiles' columns are not stored), down
// the columns first, then along the rows, then the bias.
func wino43OutputGo[T Float](y, m, bias []T, n, mc, mx, ldy, yc, lanes, cols int) {
	for o := range n {
		mo := m[o*mc:]
		for t := range lanes {
			var col [6][6]T // col[j][i] = M[i][j]
			for i := range 6 {
				for jj := range 6 {
					col[jj][i] = mo[(6*i+jj)*mx+t]
				}
			}
			for r, at := range wino43AT {
				var row [6]T
				for jj := range 6 {
					row[jj] = wino43Sum(at, &col[jj])
				}
				for s, as := range wino43AT {
					if 4*t+s < cols {
						y[o*yc+r*ldy+4*t+s] = wino43Sum(as, &row) + bias[o]
					}
				}
			}
		}
	}
}

// The F(4×4, 3×3) path's cost model, in the units of directCost, with the
// constants of the F(2×2, 3×3) path (see winogradCost): its products at
// the GEMM rate, more when a group's transformed weights do not fit
// winoWeightsBytes, its transforms wino43TileCost times what a F(2×2,
// 3×3) tile's cost per channel and byte (its windows have 36 cells against
// 16, its outputs 16 against 4), and its weights' transform
// winoNsPerWeight per transformed weight.
const wino43TileCost = 2.5

// wino43Cost predicts the F(4×4, 3×3) path's time for g with elements of
// the given size, in the units of directCost.
func wino43Cost(g geometry, size uintptr) float64 {
	N, O := g.out[0], g.out[1]
	og, cg := O/g.groups, g.w[1]
	lanes := 32 / int(size)
	th, tw := (g.out[2]+3)/4, (g.out[3]+3)/4
	tiles := float64(N*g.groups) * float64(th) * float64((tw+lanes-1)/lanes*lanes)
	perMAC := gemmNsPerMAC32
	if size == 8 {
		perMAC = gemmNsPerMAC64
	}
	if wino43Cells*og*cg*int(size) > winoWeightsBytes {
		perMAC *= winoOutOfCache
	}
	rows := float64(wino44Blocks(og) * wino44Rows)
	perTile := wino43Cells*rows*float64(cg)*perMAC + wino43TileCost*float64(cg+og)*float64(size)*winoNsPerTileByte
	return tiles*perTile + wino43Cells*float64(O)*float64(cg)*winoNsPerWeight
}

// wino43Footprint is the elements the F(4×4, 3×3) path holds for g beyond
// its output, with elements of size bytes and up to workers bands at work:
// the transformed weights and each band's scratch (see wino43Plan.units,
// with the most panels wino43Panels allows): the padded rows of its
// units' tile rows, the transformed tiles, the products and a block's
// edge tile.
func wino43Footprint(g geometry, size, workers int) int64 {
	og, cg := g.out[1]/g.groups, g.w[1]
	lanes := 32 / size
	nc := 4 * lanes
	th, tw := (g.out[2]+3)/4, (g.out[3]+3)/4
	gr := (tw + lanes - 1) / lanes
	rows := wino44Blocks(og) * wino44Rows
	skew := 64 / size
	weights := int64(wino43Cells * (g.groups*rows*cg + skew))
	pp := max(1, wino43ScratchBytes/(wino43Cells*(cg+rows)*nc*size))
	ld := 4*gr*lanes + 2
	padded := cg * (4*min(th, (pp*nc/lanes+gr-2)/gr+1) + 2) * ld
	scratch := int64(wino43Cells*(pp*cg*nc+skew) + pp*rows*wino43Cells*nc + wino44Rows*16*lanes + padded)
	return weights + int64(workers)*scratch
}
