package engine

import (
	"context"
	"sync"
)

// conv2dDirect runs a validated request on the direct path. With unit
// column stride the input is read in place, padded or not (see edges);
// with a column stride it is first padded into polyphase order on the pool.
func conv2dDirect[T Float](ctx context.Context, e *Engine, p Priority, x, w Tensor[T], bias []T, g geometry, c Conv) (Tensor[T], error) {
	if useGEMM(g) {
		return conv2dGEMM(ctx, e, p, x, w, bias, g, c)
	}
	O, cg, kh, kw := g.w[0], g.w[1], g.w[2], g.w[3]
	ho, wo := g.out[2], g.out[3]
	units := g.out[0] * O * ho
	macs := float64(units) * float64(wo) * float64(cg*kh*kw)
	j := &convPlan[T]{
		c: g.in[1], cg: cg, o: O, og: O / g.groups,
		ho: ho, wo: wo, sh: g.sh, kh: kh, kw: kw,
		w: w.Data, bias: bias,
		rowHi: ho, colHi: wo, eng: e,
	}
	release := func() {}
	if g.sw == 1 {
		h, wd := g.in[2], g.in[3]
		j.x, j.plane, j.ld = x.Data, h*wd, wd
		if g.pads != [4]int{} {
			j.edges = newEdges(g, c.Border, T(c.Fill))
			j.rowLo, j.rowHi, j.colLo, j.colHi = j.edges.interior(g)
		}
	} else {
		xp, rel, err := padOnPool(ctx, e, p, x, g, c, macs)
		if err != nil {
			return Tensor[T]{}, err
		}
		// run returns only once no band reads the padded input any more.
		release = rel
		j.x, j.plane, j.ld = xp.data, xp.plane, xp.ld
	}
	defer release()
	j.offs = tapOffsets(padded[T]{plane: j.plane, ld: j.ld, wq: j.ld / g.sw}, g)
	if c.Convolve {
		j.w = flipped(w)
	}
	j.small = smallKernel(g)
	if useQuad(g) {
		j.quad, j.quadLen = quadWeights(j.w, O, kh, kw), (kh+3)*kw*4
	}
	j.out = result[T](e, units*wo)
	defer j.releasePatches() // after run: no band holds a patch then
	if err := e.run(ctx, p, j, units, e.bands(units, wo, cg*kh*kw), macs); err != nil {
		return Tensor[T]{}, err
	}
	return Tensor[T]{Shape: g.out, Data: j.out}, nil
}

// tapOffsets returns the offset of each tap (c, a, b), in that order, from
// the first cell an output pixel reads in its group's first padded plane.
func tapOffsets[T Float](xp padded[T], g geometry) []int {
	cg, kh, kw := g.w[1], g.w[2], g.w[3]
	offs := make([]int, 0, cg*kh*kw)
	for ci := range cg {
		for a := range kh {
			for b := range kw {
				offs = append(offs, ci*xp.plane+a*g.dh*xp.ld+xp.at(b*g.dw, g.sw))
			}
		}
	}
	return offs
}

// flipped returns a copy of the weights w with each kernel flipped in both
// spatial axes.
func flipped[T Float](w Tensor[T]) []T {
	kh, kw := w.Shape[2], w.Shape[3]
	f := make([]T, len(w.Data))
	for k := 0; k < len(f); k += kh * kw {
		src, dst := w.Data[k:k+kh*kw], f[k:k+kh*kw]
		for t, v := range src {
			dst[kh*kw-1-t] = v
		}
	}
	return f
}

// convPlan is one Conv2D request on the row kernels. Its units are output
// rows, numbered (n*O + o)*Ho + i, so that bands split over images,
// channels and rows alike.
//
// Output rows [rowLo, rowHi) and columns [colLo, colHi) are the interior,
// whose taps all read cells of x: x is the input itself, or for a column
// stride the input padded ahead of time, when the interior is everything.
// The rest, where some taps read the padding, is computed from patches
// padded per row (see edges); a row of the interior costs what a row of a
// valid correlation does.
type convPlan[T Float] struct {
	x         []T // the input, or the padded input (see padded)
	plane, ld int
	c, cg     int // input channels, in total and per group
	o, og     int // output channels, in total and per group
	ho, wo    int
	sh        int
	kh, kw    int
	w         []T   // O×Cg×kh×kw, already flipped for a convolution
	offs      []int // offset of each tap (c, a, b) from the row's first cell
	bias      []T
	out       []T
	// quad, when set, holds each output channel's weights for the
	// four-row kernel (see quadWeights), quadLen of them per channel.
	quad    []T
	quadLen int
	// small is 3 or 5 when the 3×3 or the 5×5 kernel (see smallKernel)
	// takes smallRows of them at a time, and 0 otherwise.
	small int

	rowLo, rowHi int
	colLo, colHi int
	edges        *edges[T] // nil when the interior is everything
	eng          *Engine   // whose recycler holds the patches' scratch

	// spare holds the patches of finished bands for the next band to
	// take: a call has up to maxBandsPerWorker bands per worker, and each
	// made its own patch and tables, where one a worker serves them all.
	mu    sync.Mutex
	spare []*patch[T]
}

// takePatch returns a spare patch, or a new one.
func (j *convPlan[T]) takePatch() *patch[T] {
	j.mu.Lock()
	defer j.mu.Unlock()
	if n := len(j.spare); n > 0 {
		s := j.spare[n-1]
		j.spare = j.spare[:n-1]
		return s
	}
	return j.edges.newPatch(j.eng, j.cg, j.kh, j.kw)
}

// givePatch keeps s, whose band is done, for the next band.
func (j *convPlan[T]) givePatch(s *patch[T]) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.spare = append(j.spare, s)
}

// releasePatches hands the spare patches' scratch back to the recycler,
// once no band runs any more.
func (j *convPlan[T]) releasePatches() {
	for _, s := range j.spare {
		s.release()
	}
	j.spare = nil
}

func (j *convPlan[T]) units(ctx context.Context, lo, hi int) error {
	done := ctx.Done()
	taps := len(j.offs)
	var s *patch[T]
	if j.edges != nil {
		s = j.takePatch()
		defer j.givePatch(s)
	}
	for u := lo; u < hi; {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
		n, o, i := u/(j.o*j.ho), u/j.ho%j.o, u%j.ho
		ch := n*j.c + o/j.og*j.cg // the group's first input channel
		k := j.w[o*taps : (o+1)*taps]
		var rows int
		if i < j.rowLo || i >= j.rowHi || j.colLo >= j.colHi {
			rows = j.border(s, u, hi, i, ch, o, k)
		} else {
			rows = j.strip(s, u, hi, i, ch, o, k)
		}
		if j.bias != nil {
			for q := range rows {
				addScalar(j.out[(u+q)*j.wo:(u+q+1)*j.wo], j.bias[o])
			}
		}
		u += rows
	}
	return nil
}

// border computes output rows outside the interior from output row i
// (unit u) of output channel o, whose group starts at input channel ch: up
// to stripRows of them in one tile (see edges.block) with unit row stride
// and rows at least a register wide, otherwise the one row from a patch.
// It returns how many rows it computed.
func (j *convPlan[T]) border(s *patch[T], u, hi, i, ch, o int, k []T) int {
	if j.sh != 1 || j.wo < vectorLanes[T]() {
		j.edges.row(s, j.out[u*j.wo:(u+1)*j.wo], j.x, ch, i*j.sh, 0, j.wo, j.wo, j.wo, k)
		return 1
	}
	end := j.ho // the first row past these: the interior's first, or the end
	if i < j.rowLo && j.colLo < j.colHi {
		end = j.rowLo
	}
	// A tile of whole rows holds cg·(rows+(kh-1)·dh) of them: no more
	// than tileCells cells unless one output row needs more.
	tw := j.wo + (j.kw-1)*j.edges.dw
	fit := tileCells/(j.cg*tw) - (j.kh-1)*j.edges.dh
	rows := max(1, min(end-i, hi-u, stripRows, fit))
	j.block(s, u, rows, i, ch, o, 0, j.wo, k)
	return rows
}

// tileCells bounds the tiles of whole rows border makes, in cells: with
// many channels or wide rows, a tile of stripRows rows would be as large
// as a padded copy of the input.
const tileCells = 1 << 18

// stripRows is how many rows strip takes at most: stripRows, or fewer
// when their margins' cells (about cg·pw a row, see edges.sides) would
// pass tileCells.
func (j *convPlan[T]) stripRows() int {
	if j.edges == nil {
		return stripRows
	}
	span := (j.kw - 1) * j.edges.dw
	pw := j.colLo + j.wo - j.colHi + 2*span
	return max(1, min(stripRows, tileCells/(j.cg*max(pw, 1))-(j.kh-1)*j.edges.dh))
}

// strip computes output rows of the interior from output row i (unit u)
// of output channel o, whose group starts at input channel ch, up to
// stripRows of them, and their margins; it returns how many rows it
// computed. With unit row stride the margins of all the rows are computed
// at once (see edges.sides), otherwise row by row.
func (j *convPlan[T]) strip(s *patch[T], u, hi, i, ch, o int, k []T) int {
	end := min(hi, u+j.rowHi-i, u+j.stripRows())
	b0 := j.wo // where the right margin starts: the least interior end
	for v := u; v < end; {
		var ends [manyRows]int
		rows := j.interior(v, end, i+v-u, ch, o, k, &ends)
		for _, e := range ends[:rows] {
			b0 = min(b0, e)
		}
		v += rows
	}
	rows := end - u
	l := vectorLanes[T]()
	switch {
	case j.edges == nil || b0 == j.wo && j.colLo == 0:
	case j.quad != nil && j.wo >= l:
		// With the four-row kernel, tiles at least a register wide (see
		// block), each side alone: a strip of both sides read as one
		// long row (see edges.sides) spends two thirds of an 11×11's
		// row kernel on outputs between the sides, where a tile runs
		// the four-row kernel on a register per side. With a small
		// kernel the strip costs less: its few cells a row are what
		// matters there.
		if j.colLo > 0 {
			j.block(s, u, rows, i, ch, o, 0, max(j.colLo, l), k)
		}
		if b0 < j.wo {
			n := max(j.wo-b0, l)
			j.block(s, u, rows, i, ch, o, j.wo-n, n, k)
		}
	case j.sh == 1:
		j.edges.sides(s, j.out[u*j.wo:], j.wo, j.wo, rows, j.x, ch, i, j.colLo, b0, k)
	default:
		for q := range rows {
			d := j.out[(u+q)*j.wo : (u+q+1)*j.wo]
			j.edges.row(s, d, j.x, ch, (i+q)*j.sh, 0, j.colLo, b0, j.wo, k)
		}
	}
	return rows
}

// interior computes the interior columns of output row i (unit u) of
// output channel o, whose group starts at input channel ch, and of the
// next rows too when the four-row, 3×3 or 5×5 kernel takes them; it returns
// how many rows it computed. The SIMD kernel covers every interior column of a
// row at least one register wide (see simdTail); with edges, columns it
// leaves (a narrower interior, or no SIMD kernel), when fewer than
// patchTail, are left to the patch of the right margin, and ends[q] says
// where row q's interior stopped.
func (j *convPlan[T]) interior(u, hi, i, ch, o int, k []T, ends *[manyRows]int) int {
	base := ch*j.plane + (i*j.sh-j.top())*j.ld - j.left() + j.colLo
	n := j.colHi - j.colLo
	// m: columns of the rows done by a many-row kernel
	rows, m := j.many(j.out[u*j.wo+j.colLo:], j.wo, n, min(hi-u, j.rowHi-i), j.x[base:], j.ld, o, k)
	for q := range rows {
		d := j.out[(u+q)*j.wo+j.colLo : (u+q)*j.wo+j.colHi]
		x := j.x[base+q*j.ld:]
		done := m
		if done < n {
			done += simdRow(d[done:], x[done:], j.offs, k)
			done = simdTail(d, x, j.offs, k, done)
		}
		if done < n && (j.edges == nil || n-done >= patchTail) {
			convRowGo(d[done:], x[done:], j.offs, k)
			done = n
		}
		ends[q] = j.colLo + done
	}
	return rows
}

// many computes the first n columns of the next output rows of output
// channel o, d's rows ldd apart and x's ldx apart, with the four-row, 3×3
// or 5×5 kernel when one serves the plan and at least as many rows as it
// takes are left (left of them): it returns how many rows that is, and
// how many of their columns it computed (n, or zero for a row narrower
// than a register), or one row and no columns when no such kernel runs.
func (j *convPlan[T]) many(d []T, ldd, n, left int, x []T, ldx, o int, k []T) (rows, m int) {
	switch {
	case j.quad != nil && left >= 4:
		return 4, quadRows(d, ldd, n, x, ldx, j.quad[o*j.quadLen:(o+1)*j.quadLen], j.kw)
	case j.small != 0 && left >= smallRows(j.small):
		return smallRows(j.small), rowsKxK(j.small, d, ldd, n, x, ldx, k)
	}
	return 1, 0
}

// manyRows is how many rows many computes at once when enough are left.
func (j *convPlan[T]) manyRows() int {
	switch {
	case j.quad != nil:
		return 4
	case j.small != 0:
		return smallRows(j.small)
	}
	return 1
}

// patchTail is the most interior columns of a row left to its right
// margin's patch rather than computed by the portable row kernel in a call
// of their own: a call per row costs more than copying a few cells.
const patchTail = 16

// top and left are the pads the plan reads around x: those of the
// request when x is the input itself, none when x was padded ahead.
func (j *convPlan[T]) top() int {
	if j.edges == nil {
		return 0
	}
	return j.edges.top
}

func (j *convPlan[T]) left() int {
	if j.edges == nil {
		return 0
	}
	return j.edges.left
}

// rows3x3 and rows5x5 are how many output rows the 3×3 and the 5×5
// kernels compute at once; the generator has the same constants. manyRows
// is the most rows any kernel computes at once.
const (
	rows3x3  = 6
	rows5x5  = 6
	manyRows = max(rows3x3, rows5x5, 4)
)

// smallKernel says which of the 3×3 and 5×5 kernels (see conv3x3 and
// conv5x5 in the generator) serves g, 3 or 5, or 0 for neither: a square
// kernel of that size on one input channel per output channel, unit
// strides and dilations, and a CPU that has the kernel. Both compute what
// the row kernel does, bit for bit, loading each input vector once for
// the output rows that read it.
func smallKernel(g geometry) int {
	if g.w[1] != 1 || g.w[2] != g.w[3] || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1 {
		return 0
	}
	switch {
	case g.w[2] == 3 && have3x3:
		return 3
	case g.w[2] == 5 && have5x5:
		return 5
	}
	return 0
}

// smallRows is how many output rows the size×size kernel computes at once.
func smallRows(size int) int {
	if size == 5 {
		return rows5x5
	}
	return rows3x3
}

// rowsKxK computes the first n columns of smallRows(size) output rows with
// the size×size kernel, the last whole register of each row included as
// simdTail does, and returns how many columns it computed: n, or zero when
// n is narrower than a register.
func rowsKxK[T Float](size int, d []T, ldd, n int, x []T, ldx int, k []T) int {
	kern := simd3x3[T]
	if size == 5 {
		kern = simd5x5[T]
	}
	m := kern(d, ldd, n, x, ldx, k)
	if m > 0 && m < n {
		l := vectorLanes[T]()
		kern(d[n-l:], ldd, l, x[n-l:], ldx, k)
		m = n
	}
	return m
}

// quadRows computes the first n columns of four output rows with the
// four-row kernel, the last whole register of each row included as
// rowsKxK does: on one register per row, the row kernel's one chain of
// multiply-adds waits on each, and cost about 5% of an 11×11 correlation
// whose rows are not a whole number of registers wide. It returns n, or
// zero when n is narrower than a register.
func quadRows[T Float](d []T, ldd, n int, x []T, ldx int, w []T, kw int) int {
	m := simdQuad(d, ldd, n, x, ldx, w, kw)
	if m > 0 && m < n {
		l := vectorLanes[T]()
		simdQuad(d[n-l:], ldd, l, x[n-l:], ldx, w, kw)
		m = n
	}
	return m
}

// quadMinRows is the shortest kernel the four-row kernel takes: it spends
// kh+3 passes on kh rows of weights, which pays off only for tall kernels.
const quadMinRows = 8

// useQuad says whether the four-row kernel (see convQuad in the generator)
// serves g: one input channel per output channel, unit strides and
// dilations, a tall enough kernel, and a CPU that has the kernel.
func useQuad(g geometry) bool {
	return haveQuad && g.w[1] == 1 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.w[2] >= quadMinRows
}

// quadWeights lays out the weights w (O×1×kh×kw) for the four-row kernel:
// for each output channel, q[(m*kw + b)*4 + r] = w[m-r][b] for input rows
// m < kh+3 and output rows r < 4, zero where m-r is not a kernel row.
func quadWeights[T Float](w []T, O, kh, kw int) []T {
	per := (kh + 3) * kw * 4
	q := make([]T, O*per)
	for o := range O {
		k, dst := w[o*kh*kw:(o+1)*kh*kw], q[o*per:(o+1)*per]
		for m := range kh + 3 {
			for b := range kw {
				for r := range 4 {
					if a := m - r; a >= 0 && a < kh {
						dst[(m*kw+b)*4+r] = k[a*kw+b]
					}
				}
			}
		}
	}
	return q
}

// convRow computes one output row d: d[j] = Σ_t k[t]·x[offs[t]+j], summed
// over the taps t in order from zero. It assumes x holds offs[t]+len(d)
// cells for every tap.
//
// The SIMD kernel, where the CPU has one (see simdRow), takes the longest
// prefix of the row that fills whole vector registers, one output element per
// lane, then the last whole register of the row (see simdTail); convRowGo
// takes rows narrower than a register. Both sum each element's taps in the same
// order; the SIMD kernel fuses each multiply-add (one rounding per tap
// instead of two), well within the engine's stated tolerance.
func convRow[T Float](d, x []T, offs []int, k []T) {
	n := simdTail(d, x, offs, k, simdRow(d, x, offs, k))
	if n < len(d) {
		convRowGo(d[n:], x[n:], offs, k)
	}
}

// simdTail finishes the row d, whose first done columns the SIMD kernel
// computed, with one more call of it over the row's last whole register.
// That recomputes a few columns already done, to the same bits (each lane
// sums its taps alone, in the same order), which costs less than leaving
// the tail to the portable kernel. It returns the columns now done: len(d),
// or done itself when the SIMD kernel did nothing (no such kernel, or a row
// narrower than a register).
func simdTail[T Float](d, x []T, offs []int, k []T, done int) int {
	l := vectorLanes[T]()
	if done == 0 || done == len(d) || len(d) < l {
		return done
	}
	s := len(d) - l
	simdRow(d[s:], x[s:], offs, k)
	return len(d)
}
