package engine

import (
	"context"
	"unsafe"
)

// The Winograd path computes 3×3 layers with unit strides and dilations by
// Lavin and Gray's minimal filtering F(2×2, 3×3): each 2×2 block of output
// pixels (a tile) of one output channel is
//
//	Y = Aᵀ·[ Σ_c (G·g_c·Gᵀ) ⊙ (Bᵀ·d_c·B) ]·A
//
// where d_c is the tile's 4×4 window of input channel c and g_c the 3×3
// kernel of that channel. The sum over channels of the sixteen
// element-wise products is, for each of the sixteen positions ξ, a matrix
// product of the transformed weights (og × cg) with the transformed input
// tiles (cg × tiles), which runs on the GEMM path's microkernel: 16
// multiply-adds per tile and channel pair instead of the direct method's
// 36, at the price of the transforms, which cost per tile and channel, not
// per pair.
//
// The result is not summed in the contract's order: it differs from the
// direct method's by rounding (the transforms add and subtract inputs of
// neighbouring pixels before the products), and a non-finite input can
// give NaN where the direct method gives an infinity. MethodAuto uses it
// only for float32 and float64 layers where it is faster (see useWinograd
// and winogradCost); PERF.md has the error measured on the golden set.
//
// Layout: the input is padded into polyphase order with a column stride of
// 2 (see padded), so that the column 2t+j of tile t is phase j%2, position
// t+j/2: a register's width of tiles side by side (winoLanes) reads four
// consecutive vectors per row. A tile row holds groups of winoLanes tiles,
// the last one filled up past the output's edge; two groups make a panel
// of gemmNR tiles, the GEMM's width. The padded input is made large enough
// that every group reads inside it; outputs of tiles past the edge are
// computed and dropped.

// winoLanes is how many tiles one call of the transforms takes side by
// side: one vector register, half of a GEMM panel.
func winoLanes[T Float]() int { return gemmNR[T]() / 2 }

// winoPlan is one Conv2D request on the Winograd path. Its units are runs
// of pp panels of gemmNR tiles of one image and group, numbered
// (n*groups + g)*chunks + k, so that bands split over images, groups and
// tiles alike.
type winoPlan[T Float] struct {
	x             []T // padded input, polyphase with column stride 2
	plane, ld, wq int
	c, cg         int // input channels, in total and per group
	o, og         int // output channels, in total and per group
	groups        int
	ho, wo        int
	gr            int // groups of winoLanes tiles per tile row
	slots         int // groups per plane
	panels        int // panels per plane: slots/2 rounded up
	pp            int // panels per unit (see winoPanels)
	// u holds the transformed weights, position ξ by position: u[ξ] is
	// og×cg per group, packed into panels of gemmMR channels (see
	// packWeights).
	u    [16][]T
	bias []T // one per output channel, zeros when there is none
	out  []T
	e    *Engine // whose recycler holds the bands' scratch
}

// useWinograd says whether g is a layer the Winograd path computes: a 3×3
// kernel with unit strides and dilations.
func useWinograd(g geometry) bool {
	return g.w[2] == 3 && g.w[3] == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1
}

// conv2dWinograd runs a validated request for which useWinograd holds on
// the Winograd path: it pads the input on the pool, transforms the weights,
// then computes panel by panel on the pool.
func conv2dWinograd[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv) (Tensor[T], error) {
	N, O := g.out[0], g.out[1]
	og, cg := O/g.groups, g.w[1]
	ho, wo := g.out[2], g.out[3]
	lanes := winoLanes[T]()
	th, tw := (ho+1)/2, (wo+1)/2
	gr := (tw + lanes - 1) / lanes
	// Tile row ty reads padded rows 2ty to 2ty+3; group k of a row reads
	// positions k·lanes to k·lanes+lanes of both phases.
	gp := g
	gp.hn, gp.wn, gp.sw = 2*th+2, 2*(gr*lanes+1), 2
	tiles := float64(N) * float64(th) * float64(tw)
	macs := tiles * 16 * float64(og*cg*g.groups)
	xp, release, err := padOnPool(ctx, e, p, x, gp, c, macs)
	if err != nil {
		return Tensor[T]{}, err
	}
	// run returns only once no band reads the padded input any more.
	defer release()
	ws := w.Data
	if c.Convolve {
		ws = flipped(w)
	}
	u, ubuf := winoWeights(e, ws, g.groups, og, cg)
	defer recycleScratch(e, ubuf)
	j := &winoPlan[T]{
		x: xp.data, plane: xp.plane, ld: xp.ld, wq: xp.wq,
		c: g.in[1], cg: cg, o: O, og: og, groups: g.groups,
		ho: ho, wo: wo, gr: gr, slots: th * gr,
		u:    u,
		bias: bias,
		e:    e,
	}
	j.panels = (j.slots + 1) / 2
	j.pp = winoPanels[T](cg, og, j.panels, N*g.groups, e.workers)
	if j.bias == nil {
		j.bias = make([]T, O)
	}
	j.out = result[T](e, N*O*ho*wo)
	units := N * g.groups * ((j.panels + j.pp - 1) / j.pp)
	if err := e.run(ctx, p, j, units, e.bands(units, j.pp*gemmNR[T]()*og, 16*cg), macs); err != nil {
		return Tensor[T]{}, err
	}
	return Tensor[T]{Shape: g.out, Data: j.out}, nil
}

// winoWeights transforms every 3×3 kernel g of w (O×cg×3×3) into
// G·g·Gᵀ, G = [[1,0,0],[½,½,½],[½,-½,½],[0,0,1]], in float64 rounded once
// to T, and stores position ξ of every kernel as an O×cg matrix packed
// into panels of gemmMR output channels, group by group, as packWeights
// lays them out: in u[ξ], channel c of output channel m of group g is at
// ((g*panels + m/gemmMR)*cg + c)*gemmMR + m%gemmMR, and a group's last
// panel is filled up with zero channels. The sixteen matrices lie in one
// buffer from e's recycler, which it returns for recycleScratch.
func winoWeights[T Float](e *Engine, w []T, groups, og, cg int) ([16][]T, []T) {
	panels := (og + gemmMR - 1) / gemmMR
	size := groups * panels * cg * gemmMR
	buf := scratch[T](e, 16*size)
	all := buf[:16*size]
	clear(all)
	var u [16][]T
	for xi := range u {
		u[xi] = all[xi*size : (xi+1)*size]
	}
	for o := range groups * og {
		g, m := o/og, o%og
		base := (g*panels+m/gemmMR)*cg*gemmMR + m%gemmMR
		for c := range cg {
			k := w[(o*cg+c)*9:][:9]
			var t [4][3]float64 // G·g
			for b := range 3 {
				g0, g1, g2 := float64(k[b]), float64(k[3+b]), float64(k[6+b])
				t[0][b], t[1][b], t[2][b], t[3][b] = g0, (g0+g1+g2)*0.5, (g0-g1+g2)*0.5, g2
			}
			at := base + c*gemmMR
			for a, r := range t {
				u[4*a][at] = T(r[0])
				u[4*a+1][at] = T((r[0] + r[1] + r[2]) * 0.5)
				u[4*a+2][at] = T((r[0] - r[1] + r[2]) * 0.5)
				u[4*a+3][at] = T(r[2])
			}
		}
	}
	return u, buf
}

// winoScratch is one band's working memory: the transformed input tiles of
// a unit's panels (16 positions, vx apart, each holding a cg×nr block per
// panel), their products with the weights (16 positions, mx apart, an
// og×nr block per panel) and a tile's outputs for the edges.
type winoScratch[T Float] struct {
	v, m, y []T
	vx, mx  int
}

// newWinoScratch takes a band's scratch from e's recycler: positions of
// v and m, each with room for vx and mx elements and a cache line more
// (see winoSkew), and ny elements of y.
func newWinoScratch[T Float](e *Engine, positions, vx, mx, ny int) *winoScratch[T] {
	s := &winoScratch[T]{vx: vx + winoSkew[T](), mx: mx + winoSkew[T]()}
	s.v, s.m, s.y = scratch[T](e, positions*s.vx), scratch[T](e, positions*s.mx), scratch[T](e, ny)
	return s
}

// release hands the scratch back to e's recycler.
func (s *winoScratch[T]) release(e *Engine) {
	recycleScratch(e, s.v)
	recycleScratch(e, s.m)
	recycleScratch(e, s.y)
}

// winoSkew is what the positions of a band's scratch are set further
// apart than their contents need, one cache line: with 64 channels the
// sixteen positions of a tile would otherwise lie exactly 4 KiB apart, in
// one set of the first-level cache, which holds fewer than sixteen lines.
func winoSkew[T Float]() int { return gemmNR[T]() }

// winoScratchBytes is what a band's transformed tiles and products aim to
// take (see winoPanels): about half the second-level cache, so that they
// stay there beside the weights of one position.
const winoScratchBytes = 384 << 10

// winoPanels is how many panels one unit computes: as many as fit
// winoScratchBytes of scratch, so that each position's weights, read
// from the second-level cache or beyond, serve several panels, but no
// more than a plane has, nor so many that the planes' units give each
// worker fewer than four.
func winoPanels[T Float](cg, og, panels, planes, workers int) int {
	var z T
	per := 16 * (cg + og) * gemmNR[T]() * int(unsafe.Sizeof(z))
	pp := max(1, winoScratchBytes/per)
	pp = min(pp, panels, max(1, planes*panels/(4*workers)))
	return max(pp, 1)
}

func (j *winoPlan[T]) units(ctx context.Context, lo, hi int) error {
	nr := gemmNR[T]()
	// The scratch comes from the recycler with stale contents: every cell
	// a unit reads it has written first, but for the lanes of a last
	// panel's missing group, whose columns the products compute and
	// nothing reads. Fresh memory would cost its page faults on every
	// call.
	s := newWinoScratch[T](j.e, 16, j.pp*j.cg*nr, j.pp*j.og*nr, j.og*2*nr)
	defer s.release(j.e)
	return eachUnit(ctx, lo, hi, func(u int) { j.unit(u, s) })
}

// unit computes up to pp panels of one image and group: the input
// transform of their groups of tiles, the sixteen products of each panel
// (position by position, so that a position's weights serve every panel
// while they are in cache), and the output transform.
func (j *winoPlan[T]) unit(u int, s *winoScratch[T]) {
	nr, lanes := gemmNR[T](), winoLanes[T]()
	chunks := (j.panels + j.pp - 1) / j.pp
	plane, p0 := u/chunks, u%chunks*j.pp
	p1 := min(p0+j.pp, j.panels)
	n, g := plane/j.groups, plane%j.groups
	sl0, sl1 := 2*p0, min(2*p1, j.slots)
	x := j.x[(n*j.c+g*j.cg)*j.plane:]
	for sl := sl0; sl < sl1; sl++ {
		k := sl - sl0
		ty, tx := sl/j.gr, sl%j.gr*lanes
		winoInput(s.v[k/2*j.cg*nr+k%2*lanes:], x[2*ty*j.ld+tx:], j.cg, nr, s.vx, j.ld, j.wq, j.plane)
	}
	panels := (j.og + gemmMR - 1) / gemmMR
	for xi := range 16 {
		a := j.u[xi][g*panels*j.cg*gemmMR:]
		for k := range p1 - p0 {
			gemmKernel(j.cg, a, s.v[xi*s.vx+k*j.cg*nr:], s.m[xi*s.mx+k*j.og*nr:], nil, nil, j.cg*gemmMR, j.og, nr, false)
		}
	}
	pix := j.ho * j.wo
	out := j.out[(n*j.o+g*j.og)*pix:]
	bias := j.bias[g*j.og:]
	for sl := sl0; sl < sl1; sl++ {
		k := sl - sl0
		m := s.m[k/2*j.og*nr+k%2*lanes:]
		ty, tx := sl/j.gr, sl%j.gr*lanes
		winoTileOutput(out, s.y, j.og, j.ho, j.wo, 2, 2*ty, 2*tx, func(y []T, ldy, yc int) {
			winoOutput(y, m, bias, j.og, nr, s.mx, ldy, yc)
		})
	}
}

// winoTileOutput writes the outputs of a group of winoLanes tiles side by
// side, t×t outputs each and the first at row r0, column c0, into rows
// planes of ho×wo outputs at out. transform writes them at y, rows ldy
// apart and planes yc apart. A group that crosses the output's edge is
// transformed into the scratch tile y, and only its part inside is copied.
func winoTileOutput[T Float](out, y []T, rows, ho, wo, t, r0, c0 int, transform func(y []T, ldy, yc int)) {
	tw, pix := t*winoLanes[T](), ho*wo
	h, w := min(t, ho-r0), min(tw, wo-c0)
	if h == t && w == tw {
		transform(out[r0*wo+c0:], wo, pix)
		return
	}
	transform(y, tw, t*tw)
	for o := range rows {
		for r := range h {
			copy(out[o*pix+(r0+r)*wo+c0:][:w], y[(o*t+r)*tw:])
		}
	}
}

// winoInputGo is the portable input transform, and the reference for the
// SIMD one (see winoInput): for lanes tiles side by side and n channels,
// element ξ = 4i+j of tile t of channel c is
//
//	v[ξ*vx + c*vc + t] = (Bᵀ·d·B)[i][j],  Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]],
//
// where d is the tile's window: row i at x[c*plane + i*ld:], column 2t+j at
// phase j%2 (wq elements apart), position t+j/2. Each element is a
// difference or sum of two, down the columns first, then along the rows.
func winoInputGo[T Float](v, x []T, n, vc, vx, ld, wq, plane, lanes int) {
	for c := range n {
		xc := x[c*plane:]
		for t := range lanes {
			var d [4][4]T
			for i := range 4 {
				r := xc[i*ld+t:]
				d[i] = [4]T{r[0], r[wq], r[1], r[wq+1]}
			}
			var tt [4][4]T
			for jj := range 4 {
				tt[0][jj] = d[0][jj] - d[2][jj]
				tt[1][jj] = d[1][jj] + d[2][jj]
				tt[2][jj] = d[2][jj] - d[1][jj]
				tt[3][jj] = d[1][jj] - d[3][jj]
			}
			for i, r := range tt {
				o := v[4*i*vx+c*vc+t:]
				o[0] = r[0] - r[2]
				o[vx] = r[1] + r[2]
				o[2*vx] = r[2] - r[1]
				o[3*vx] = r[1] - r[3]
			}
		}
	}
}

// winoOutputGo is the portable output transform, and the reference for
// the SIMD one (see winoOutput): for lanes tiles side by side and n
// channels, with element ξ = 4i+j of tile t of channel o at
// m[ξ*mx + o*mc + t],
//
//	y[o*yc + r*ldy + 2t + s] = (Aᵀ·M·A)[r][s] + bias[o],  Aᵀ = [[1,1,1,0],[0,1,-1,-1]],
//
// each sum of three taken from left to right, down the columns first.
func winoOutputGo[T Float](y, m, bias []T, n, mc, mx, ldy, yc, lanes int) {
	for o := range n {
		mo := m[o*mc:]
		for t := range lanes {
			var s [2][4]T
			for jj := range 4 {
				m0, m1, m2, m3 := mo[jj*mx+t], mo[(4+jj)*mx+t], mo[(8+jj)*mx+t], mo[(12+jj)*mx+t]
				s[0][jj] = m0 + m1 + m2
				s[1][jj] = m1 - m2 - m3
			}
			for r, q := range s {
				yr := y[o*yc+r*ldy+2*t:]
				yr[0] = q[0] + q[1] + q[2] + bias[o]
				yr[1] = q[1] - q[2] - q[3] + bias[o]
			}
		}
	}
}

// The Winograd path's cost model, in the units of directCost (see
// cost.go, PERF.md): its products cost what the GEMM path's multiply-adds
// do, and more when the transformed weights of one group do not fit
// winoWeightsBytes, since every unit then reads them from beyond the
// second-level cache; the transforms and the padded copy cost
// winoNsPerTileByte per tile, channel and byte of the element; the
// weights' transform winoNsPerWeight per transformed weight.
const (
	winoNsPerTileByte = 2
	winoNsPerWeight   = 6
	winoWeightsBytes  = 512 << 10
	winoOutOfCache    = 1.5
)

// useWinogradAuto says whether MethodAuto may consider the Winograd path
// for g: a layer it computes (useWinograd) that the direct method would
// run on the GEMM path, whose microkernel it shares, or a stride-2 layer
// (useWino44) where the GEMM path would run and the CPU has the stride-2
// path's products microkernel.
func useWinogradAuto(g geometry) bool {
	return useGEMM(g) && (useWinograd(g) || useWino44(g) && winoProductsSIMD())
}

// winogradCost predicts the Winograd path's time for g with elements of
// the given size, in the units of directCost: that of the tile size
// method "winograd" picks by default (see useWino43 and useWino34).
func winogradCost(g geometry, size uintptr) float64 {
	if useWino44(g) {
		if wino34Pays(g, size) {
			return wino44Cost(g, size, 3)
		}
		return wino44Cost(g, size, 2)
	}
	c := wino22Cost(g, size)
	if wino43Pays(g, size) {
		c = wino43Cost(g, size)
	}
	return c
}

// wino22Cost predicts the F(2×2, 3×3) path's time for g with elements of
// the given size, in the units of directCost.
func wino22Cost(g geometry, size uintptr) float64 {
	N, O := g.out[0], g.out[1]
	og, cg := O/g.groups, g.w[1]
	lanes := 32 / int(size)
	th, tw := (g.out[2]+1)/2, (g.out[3]+1)/2
	tiles := float64(N*g.groups) * float64(th) * float64((tw+lanes-1)/lanes*lanes)
	perMAC := gemmNsPerMAC32
	if size == 8 {
		perMAC = gemmNsPerMAC64
	}
	if 16*og*cg*int(size) > winoWeightsBytes {
		perMAC *= winoOutOfCache
	}
	perTile := 16*float64(og)*float64(cg)*perMAC + float64(cg+og)*float64(size)*winoNsPerTileByte
	return tiles*perTile + 16*float64(O)*float64(cg)*winoNsPerWeight
}

// winoFootprint is the elements the Winograd path holds for g beyond its
// output, with elements of size bytes and up to workers bands at work: the
// padded input, the transformed weights and each band's scratch (see
// winoScratch, with the most panels winoPanels allows), the larger of
// its two tile sizes' (see useWino43 and useWino34).
func winoFootprint(g geometry, size, workers int) int64 {
	if useWino44(g) {
		return max(wino44Footprint(g, size, workers, 2), wino44Footprint(g, size, workers, 3))
	}
	return max(wino22Footprint(g, size, workers), wino43Footprint(g, size, workers))
}

// wino22Footprint is winoFootprint for F(2×2, 3×3).
func wino22Footprint(g geometry, size, workers int) int64 {
	N, C, O := int64(g.in[0]), int64(g.in[1]), int64(g.out[1])
	og, cg := g.out[1]/g.groups, g.w[1]
	lanes := 32 / size
	th, tw := (g.out[2]+1)/2, (g.out[3]+1)/2
	gr := (tw + lanes - 1) / lanes
	padded := N * C * int64(2*th+2) * int64(2*(gr*lanes+1))
	weights := 16 * (O + int64(g.groups*gemmMR)) * int64(cg)
	nr := 2 * lanes
	pp := max(1, winoScratchBytes/(16*(cg+og)*nr*size))
	scratch := int64(16*(pp*(cg+og)*nr+2*nr) + og*2*nr)
	return padded + weights + int64(workers)*scratch
}
