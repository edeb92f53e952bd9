package engine

import (
	"context"
	"unsafe"
)

// The GEMM path computes the direct method's sums as one matrix product per
// image and group, C = A·B, where A is the group's weights (og rows of
// K = Cg·kh·kw taps, in the contract's tap order), B the im2col matrix of the
// padded input (K rows, one column per output pixel) and C the group's og
// output planes, written straight into the output tensor.
//
// It is the usual register-tiled layout: A is packed once per call into
// panels of gemmMR rows, B a panel of gemmNR[T]() pixels at a time, right
// before use, and a microkernel (gemmKernel) keeps a gemmMR×nr tile of C in
// registers while it runs over k, loading one panel row of B and
// broadcasting one of A per step. Against the row kernel, which loads an
// input vector for every multiply-add, it loads two vectors and six
// scalars for twelve, so it runs near the FMA units' peak rather than the
// loads'. K is cut into blocks (gemmKC) so that a panel of B stays in L1,
// the output channels into blocks (gemmABytes) so that their weights stay
// in L2.
//
// Each output element is still summed over its taps in order from zero,
// one (fused, on the SIMD path) multiply-add per tap, and the bias is added
// after the full sum: blocks of K continue from the partial sums stored in
// C, a tile short of channels is computed whole but stored only in part,
// and a tile short of pixels runs the same microkernel on a scratch tile,
// so neither the blocking nor the split into bands changes any result.

const (
	// gemmMR is the microkernel's tile height (output channels). It must
	// match mr in _asm/gemm/main.go.
	gemmMR = 6
	// gemmKC is the most taps one pass over a block of B covers, so that a
	// panel of B (gemmKC steps of 64 bytes, 16 KB) stays in the 32 KB L1
	// while every panel of A streams past it. K is cut into equal blocks
	// of at most this many taps.
	gemmKC = 256
	// gemmABytes is what a block of A (mc output channels by a block of
	// taps) aims to take in L2 (512 KB per core here), and gemmCBytes what
	// a unit's block of C does, so that both stay there next to the input
	// being packed.
	gemmABytes = 192 << 10
	gemmCBytes = 128 << 10
	// gemmMinOut, gemmMinTaps and gemmQuadOut pick the GEMM path (see
	// useGEMM).
	gemmMinOut  = gemmMR
	gemmMinTaps = 9
	gemmQuadOut = 16
)

// gemmNR is the microkernel's tile width (output pixels): two vector
// registers, 64 bytes, 16 float32 or 8 float64.
func gemmNR[T Float]() int {
	var z T
	return 64 / int(unsafe.Sizeof(z))
}

// useGEMM says whether the direct method computes g on the GEMM path: when
// this build has the SIMD microkernel, each group has at least a tile's
// height of output channels (gemmMinOut) and each output sums at least
// gemmMinTaps taps, and the four-row kernel does not serve g better. Below
// those sizes the row kernel, which reads the input in place, is as fast or
// faster, and the portable microkernel never beats the portable row kernel;
// PERF.md has the measurements behind the thresholds.
func useGEMM(g geometry) bool {
	og := g.w[0] / g.groups
	taps := g.w[1] * g.w[2] * g.w[3]
	return gemmSIMD() && og >= gemmMinOut && taps >= gemmMinTaps && (og >= gemmQuadOut || !useQuad(g))
}

// gemmPlan is one Conv2D request on the GEMM path. Its units are blocks of
// nc output pixels of one image and group, numbered (n*groups + g)*blocks +
// b, so that bands split over images, groups and pixels alike.
type gemmPlan[T Float] struct {
	x         []T // padded input, see padded
	plane, ld int
	c, cg     int // input channels, in total and per group
	o, og     int // output channels, in total and per group
	groups    int
	wo, pix   int // output columns, and pixels per plane (Ho·Wo)
	sh        int
	offs      []int // offset of each tap (c, a, b) from the pixel's first cell
	maxOff    int   // max(offs)
	a         []T   // packed weights, see packWeights
	bias      []T
	out       []T
	kc, mc    int // taps and output channels per pass
	nc        int // pixels per block, a multiple of nr
	blocks    int // blocks per plane
}

// conv2dGEMM runs a validated request of the direct method on the GEMM
// path.
func conv2dGEMM[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv) (Tensor[T], error) {
	out := result[T](e, g.out[0]*g.out[1]*g.out[2]*g.out[3])
	if err := gemmInto(ctx, e, p, x, w, bias, g, c, out); err != nil {
		return Tensor[T]{}, err
	}
	return Tensor[T]{Shape: g.out, Data: out}, nil
}

// gemmInto computes the request into out, which holds exactly the output's
// elements: it pads the input (see padOnPool), packs the weights, then
// multiplies on the pool.
func gemmInto[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv, out []T) error {
	N, O := g.out[0], g.out[1]
	taps := g.w[1] * g.w[2] * g.w[3]
	og := O / g.groups
	pix := g.out[2] * g.out[3]
	macs := float64(N*O) * float64(pix) * float64(taps)
	xp, release, err := padOnPool(ctx, e, p, x, g, c, macs)
	if err != nil {
		return err
	}
	// run returns only once no band reads the padded input any more.
	defer release()
	offs := tapOffsets(xp, g)
	var z T
	size := int(unsafe.Sizeof(z))
	j := &gemmPlan[T]{
		x: xp.data, plane: xp.plane, ld: xp.ld,
		c: g.in[1], cg: g.w[1], o: O, og: og, groups: g.groups,
		wo: g.out[3], pix: pix, sh: g.sh,
		offs: offs,
		a:    packWeights(w.Data, g.groups, og, taps, g.w[2]*g.w[3], c.Convolve),
		bias: bias,
		out:  out[:N*O*pix],
	}
	for _, o := range offs {
		j.maxOff = max(j.maxOff, o)
	}
	j.kc = evenSplit(taps, gemmKC)
	j.mc = max(gemmMR, gemmABytes/(j.kc*size)/gemmMR*gemmMR)
	j.nc = j.blockPixels(N*g.groups, e.workers, size)
	j.blocks = (pix + j.nc - 1) / j.nc
	units := N * g.groups * j.blocks
	return e.run(ctx, p, j, units, e.bands(units, j.nc*og, taps), macs)
}

// evenSplit returns the length of the blocks n is cut into: as few blocks
// as hold no more than most elements each, all of the same length but the
// last.
func evenSplit(n, most int) int {
	parts := (n + most - 1) / most
	return (n + parts - 1) / parts
}

// blockPixels is how many pixels one unit computes, a multiple of the tile
// width: few enough that the unit's tiles of C stay in L2 between blocks
// of taps, and that the planes' blocks give each worker a dozen or more,
// which keeps the workers' shares of the bands even, but no more than a
// plane holds. It changes no result.
func (j *gemmPlan[T]) blockPixels(planes, workers, size int) int {
	nr := gemmNR[T]()
	nc := gemmCBytes / (j.og * size)
	nc = min(nc, planes*j.pix/(16*workers), j.pix+nr-1)
	return max(nr, nc/nr*nr)
}

// packWeights packs the O×K weights w, group by group, into panels of gemmMR
// output channels: within a panel, tap t of channel r is at t*gemmMR + r,
// and a group's last panel is filled up with zero channels. With flip each
// kernel of khkw taps is read back to front, as Convolve needs.
func packWeights[T Float](w []T, groups, og, taps, khkw int, flip bool) []T {
	panels := (og + gemmMR - 1) / gemmMR
	a := make([]T, groups*panels*taps*gemmMR)
	for o := range groups * og {
		g, m := o/og, o%og
		panel := a[(g*panels+m/gemmMR)*taps*gemmMR:][:taps*gemmMR]
		src := w[o*taps : (o+1)*taps]
		for t := range taps {
			s := t
			if flip {
				s = t - t%khkw + khkw - 1 - t%khkw
			}
			panel[t*gemmMR+m%gemmMR] = src[s]
		}
	}
	return a
}

// gemmScratch is one band's working memory, allocated once per band: a
// packed panel of B, a tile for the pixel edges, the blend mask of
// packPanel2 and the runs of a panel.
type gemmScratch[T Float] struct {
	b, edge, mask []T
	runs          []pixelRun
}

// pixelRun is a run of n pixels of one panel that are adjacent cells of one
// row of the padded input: panel columns [col, col+n) read from offset src
// of the plane.
type pixelRun struct{ col, src, n int }

func (j *gemmPlan[T]) units(ctx context.Context, lo, hi int) error {
	nr := gemmNR[T]()
	s := &gemmScratch[T]{
		b:    make([]T, j.kc*nr),
		edge: make([]T, gemmMR*nr),
		mask: make([]T, nr),
		runs: make([]pixelRun, 0, nr),
	}
	return eachUnit(ctx, lo, hi, func(u int) { j.unit(u, s) })
}

// unit computes the output pixels [p0, p1) of every channel of one image
// and group: block of taps by block of taps (each continuing from the
// partial sums the last left in C), output channels mc at a time, panel of
// pixels by panel, then adds the bias. Each panel of B is packed right
// before the panels of A stream past it, while it is in L1; with more than
// mc channels it is packed again for each block of them, which costs
// little next to mc channels' work.
func (j *gemmPlan[T]) unit(u int, s *gemmScratch[T]) {
	nr := gemmNR[T]()
	plane, blk := u/j.blocks, u%j.blocks
	n, g := plane/j.groups, plane%j.groups
	p0 := blk * j.nc
	p1 := min(p0+j.nc, j.pix)
	x := j.x[(n*j.c+g*j.cg)*j.plane:]
	out := j.out[(n*j.o+g*j.og)*j.pix:][:j.og*j.pix]
	taps := len(j.offs)
	panels := (j.og + gemmMR - 1) / gemmMR
	for k0 := 0; k0 < taps; k0 += j.kc {
		k1 := min(k0+j.kc, taps)
		k := k1 - k0
		b := s.b[:k*nr]
		for m0 := 0; m0 < j.og; m0 += j.mc {
			m1 := min(m0+j.mc, j.og)
			a := j.a[((g*panels+m0/gemmMR)*taps+k0)*gemmMR:]
			for p := p0; p < p1; p += nr {
				j.panel(s, b, x, out[m0*j.pix+p:], a, p, p1, k0, k1, m1-m0)
			}
		}
	}
	if j.bias != nil {
		for m := range j.og {
			addScalar(out[m*j.pix+p0:m*j.pix+p1], j.bias[g*j.og+m])
		}
	}
}

// panel adds the taps [k0, k1) of rows output channels to the pixels
// [p, min(p+nr, end)) of C (c, with row stride pix), with a the first
// panel of A for those channels and taps, packing the panel of B into b on
// the way. A panel in one output row, the common case, is packed by the
// microkernel itself; one across two rows is a blend of two copies per
// tap; anything else (rows narrower than a panel, the end of a plane) goes
// run by run, and a panel of fewer than nr pixels through a scratch tile.
func (j *gemmPlan[T]) panel(s *gemmScratch[T], b, x, c, a []T, p, end, k0, k1, rows int) {
	nr := gemmNR[T]()
	k, offs := k1-k0, j.offs[k0:k1]
	astride := len(j.offs) * gemmMR
	runs := j.panelRuns(s.runs, p, end)
	first := runs[0]
	switch {
	case len(runs) == 1 && first.n == nr:
		gemmKernel(k, a, b, c, x[first.src:][:j.maxOff+nr], offs, astride, rows, j.pix, k0 > 0)
		return
	case len(runs) == 2 && first.n+runs[1].n == nr:
		// The second run's cells sit second+first.n after where the first
		// run's would continue; every read stays below the second run's
		// last cell.
		second := runs[1].src - first.src - first.n
		packPanel2(b, x[first.src:][:second+j.maxOff+nr], offs, second, first.n, s.mask)
	default:
		packRuns(b, x, offs, runs, nr)
	}
	if cols := min(nr, end-p); cols < nr {
		edgeTile(s.edge, c, j.pix, rows, cols, k, a, b, astride, k0 > 0)
		return
	}
	gemmKernel(k, a, b, c, nil, nil, astride, rows, j.pix, k0 > 0)
}

// panelRuns splits the pixels [p, min(p+nr, end)) of a panel into runs of
// adjacent cells: one per output row they cover.
func (j *gemmPlan[T]) panelRuns(runs []pixelRun, p, end int) []pixelRun {
	nr := gemmNR[T]()
	runs = runs[:0]
	end = min(end, p+nr)
	for col := 0; p < end; {
		i, c := p/j.wo, p%j.wo
		n := min(j.wo-c, end-p)
		runs = append(runs, pixelRun{col: col, src: i*j.sh*j.ld + c, n: n})
		col += n
		p += n
	}
	return runs
}

// packRuns packs a panel of any runs: dst[t*nr + r.col + i] =
// x[offs[t] + r.src + i] for each run r, and zero for the columns past the
// last run.
func packRuns[T Float](dst, x []T, offs []int, runs []pixelRun, nr int) {
	last := runs[len(runs)-1]
	filled := last.col + last.n
	for t, o := range offs {
		row := dst[t*nr : (t+1)*nr]
		for _, r := range runs {
			copy(row[r.col:r.col+r.n], x[o+r.src:])
		}
		clear(row[filled:])
	}
}

// edgeTile runs the microkernel for rows of C (c, with row stride ldc) of
// fewer than nr columns, a tile at a time on the scratch tile t, copying
// the partial sums in first when load is set and the result out after.
func edgeTile[T Float](t, c []T, ldc, rows, cols, k int, a, b []T, astride int, load bool) {
	nr := gemmNR[T]()
	for m := 0; m < rows; m += gemmMR {
		tr := min(gemmMR, rows-m)
		cm := c[m*ldc:]
		if load {
			for r := range tr {
				copy(t[r*nr:r*nr+cols], cm[r*ldc:])
			}
		}
		gemmKernel(k, a[m/gemmMR*astride:], b, t, nil, nil, astride, tr, nr, load)
		for r := range tr {
			copy(cm[r*ldc:r*ldc+cols], t[r*nr:])
		}
	}
}

// gemmKernelGo is the portable microkernel, and the reference for the SIMD
// ones (see gemmKernel): tile by tile down the panels of A, one multiply
// and one add per term, in order.
func gemmKernelGo[T Float](k int, a, b, c []T, astride, rows, ldc int, load bool) {
	for m := 0; m < rows; m += gemmMR {
		tileGo(k, a[m/gemmMR*astride:], b, c[m*ldc:], min(gemmMR, rows-m), ldc, load)
	}
}

// tileGo computes one tile of gemmKernelGo, of which rows exist in c,
// two rows by four columns at a time: eight sums the compiler can keep in
// registers while k runs, where a whole tile of them would live in memory
// (PERF.md compares the blockings tried). A is padded with zero rows to
// gemmMR, so an odd last row's partner is computed from zeros and dropped.
func tileGo[T Float](k int, a, b, c []T, rows, ldc int, load bool) {
	nr := gemmNR[T]()
	a, b = a[:k*gemmMR], b[:k*nr]
	for r := 0; r < rows; r += 2 {
		two := r+1 < rows
		c0 := c[r*ldc : r*ldc+nr]
		var c1 []T
		if two {
			c1 = c[(r+1)*ldc : (r+1)*ldc+nr]
		}
		for j := 0; j < nr; j += 4 {
			var s0, s1 [4]T
			if load {
				copy(s0[:], c0[j:j+4])
				if two {
					copy(s1[:], c1[j:j+4])
				}
			}
			s00, s01, s02, s03 := s0[0], s0[1], s0[2], s0[3]
			s10, s11, s12, s13 := s1[0], s1[1], s1[2], s1[3]
			for p := range k {
				a0, a1 := a[p*gemmMR+r], a[p*gemmMR+r+1]
				bj := b[p*nr+j : p*nr+j+4 : p*nr+j+4]
				b0, b1, b2, b3 := bj[0], bj[1], bj[2], bj[3]
				s00 += a0 * b0
				s01 += a0 * b1
				s02 += a0 * b2
				s03 += a0 * b3
				s10 += a1 * b0
				s11 += a1 * b1
				s12 += a1 * b2
				s13 += a1 * b3
			}
			c0[j], c0[j+1], c0[j+2], c0[j+3] = s00, s01, s02, s03
			if two {
				c1[j], c1[j+1], c1[j+2], c1[j+3] = s10, s11, s12, s13
			}
		}
	}
}

// packPanelGo is the portable panel copy of gemmKernel: dst[t*nr + j] =
// x[offs[t] + j] for every tap t and j < nr.
func packPanelGo[T Float](dst, x []T, offs []int) {
	nr := len(dst) / max(len(offs), 1)
	for t, o := range offs {
		copy(dst[t*nr:(t+1)*nr], x[o:o+nr])
	}
}

// packPanel2Go is the portable copy of a panel in two runs (see
// packPanel2).
func packPanel2Go[T Float](dst, x []T, offs []int, second, split int) {
	nr := len(dst) / max(len(offs), 1)
	for t, o := range offs {
		copy(dst[t*nr:t*nr+split], x[o:])
		copy(dst[t*nr+split:(t+1)*nr], x[o+second+split:])
	}
}
