package engine

import (
	"slices"
	"unsafe"
)

// edges lets the direct path read a padded input without padding it: with
// unit column stride, an output pixel whose taps all fall inside the input
// (the interior) is computed from the input in place, with the same
// kernels and offsets as a valid correlation, and only the pixels near the
// border (a few rows at the top and bottom, a few columns at each side)
// from patches: the cells of the padded input their taps read, built in a
// band's scratch per row, or for the side margins of interior rows per
// strip of rows (see sides). So padding costs about what the border pixels
// cost, where copying the whole input first cost as much as the
// arithmetic of a small kernel.
type edges[T Float] struct {
	top, left int // pads before the input's rows and columns
	h, w      int // the input plane
	dh, dw    int
	kh, kw    int
	border    Border
	fill      T
	// Padded columns [lo, hi) are the input's, in order; lsrc[q] is the
	// input column of padded column q < lo and rsrc[q-hi] that of q ≥ hi,
	// or -1 for a fill cell (see col). Only the margins have a table: one
	// as wide as the row, made on every call, cost more than the margins.
	lsrc, rsrc []int
	lo, hi     int
}

// newEdges works out the column map of g's padded input (stride 1 along
// the columns) for border b.
func newEdges[T Float](g geometry, b Border, fill T) *edges[T] {
	e := &edges[T]{
		top: g.pads[0], left: g.pads[2], h: g.in[2], w: g.in[3],
		dh: g.dh, dw: g.dw, kh: g.w[2], kw: g.w[3],
		border: b, fill: fill,
		lo: min(g.pads[2], g.wn), hi: min(g.pads[2]+g.in[3], g.wn),
	}
	e.lsrc, e.rsrc = make([]int, e.lo), make([]int, g.wn-e.hi)
	for q := range e.lsrc {
		e.lsrc[q] = fold(q-e.left, e.w, b)
	}
	for q := range e.rsrc {
		e.rsrc[q] = fold(e.hi+q-e.left, e.w, b)
	}
	return e
}

// col returns the input column of padded column q, or -1 for a fill cell.
func (e *edges[T]) col(q int) int {
	switch {
	case q < e.lo:
		return e.lsrc[q]
	case q >= e.hi:
		return e.rsrc[q-e.hi]
	}
	return q - e.left
}

// cell returns padded column q of the row whose input row is xr.
func (e *edges[T]) cell(xr []T, q int) T {
	if c := e.col(q); c >= 0 {
		return xr[c]
	}
	return e.fill
}

// interior returns the output rows [rowLo, rowHi) and columns [colLo,
// colHi) of g whose every tap reads a cell of the input; either range may
// be empty.
func (e *edges[T]) interior(g geometry) (rowLo, rowHi, colLo, colHi int) {
	ho, wo := g.out[2], g.out[3]
	rowLo = min((e.top+g.sh-1)/g.sh, ho)
	rowHi = rowLo
	if last := e.h - 1 - (e.kh-1)*e.dh + e.top; last >= 0 {
		rowHi = max(rowLo, min(last/g.sh+1, ho))
	}
	colLo = min(e.left, wo)
	colHi = max(colLo, min(e.w-(e.kw-1)*e.dw+e.left, wo))
	return rowLo, rowHi, colLo, colHi
}

// patch is one band's scratch for edges.row and edges.sides: the padded
// cells of a patch, the taps' offsets into it and the outputs computed
// from it.
type patch[T Float] struct {
	eng   *Engine
	cells []T
	offs  []int
	out   []T
	rows  []int // the input row of each kernel row, for pixels
	cols  []int // the input column of each strip column, for sides
}

// newPatch makes the scratch for patches of cg channels. Its cells and
// outputs grow with the widest patch asked for, from e's recycler: most
// bands only ever patch the few margin columns of each row, clearing
// scratch for whole rows on every band cost more than those patches, and
// so did memory made afresh on every call, which the first writes had to
// fault in.
func (e *edges[T]) newPatch(eng *Engine, cg, kh, kw int) *patch[T] {
	return &patch[T]{eng: eng, offs: make([]int, cg*kh*kw), rows: make([]int, kh)}
}

// grow makes room in s for n cells and m outputs.
func (s *patch[T]) grow(n, m int) {
	if len(s.cells) < n {
		recycleScratch(s.eng, s.cells)
		s.cells = scratch[T](s.eng, n)
	}
	if len(s.out) < m {
		recycleScratch(s.eng, s.out)
		s.out = scratch[T](s.eng, m)
	}
}

// release hands s's cells and outputs back to the recycler.
func (s *patch[T]) release() {
	recycleScratch(s.eng, s.cells)
	recycleScratch(s.eng, s.out)
	s.cells, s.out = nil, nil
}

// minScratch is the least scratch, in elements, that scratch hands out:
// patch sizes vary with each band's rows, and rounding them up to powers
// of two from here lets a few sizes serve them all.
const minScratch = 256

// scratch returns a slice of at least n elements with stale contents,
// recycled when e's recycler holds one of its size.
func scratch[T Float](e *Engine, n int) []T {
	size := minScratch
	for size < n {
		size *= 2
	}
	var z T
	if s, ok := e.recycled.get(recycleKey{unsafe.Sizeof(z), size}).([]T); ok {
		return s
	}
	return make([]T, size)
}

// recycleScratch hands s, from scratch, back to e's recycler.
func recycleScratch[T Float](e *Engine, s []T) {
	if len(s) > 0 {
		var z T
		e.recycled.put(recycleKey{unsafe.Sizeof(z), len(s)}, s[:len(s):len(s)])
	}
}

// row computes the output columns [a0, a1) and [b0, b1) of d (a1 ≤ b0),
// an output row whose taps start at padded row r0, for the group of input
// channels starting at ch of x (the unpadded input), with the kernel k. It
// copies the padded cells those columns read, kh rows of each channel,
// into s, the two spans side by side, then runs the row kernel once over
// both: each output reads only cells of its own span.
func (e *edges[T]) row(s *patch[T], d, x []T, ch, r0, a0, a1, b0, b1 int, k []T) {
	na, nb := a1-a0, b1-b0
	if na+nb == 0 {
		return
	}
	if (na+nb)*len(s.offs) <= pixelMax {
		for a := range s.rows {
			s.rows[a] = fold(r0+a*e.dh-e.top, e.h, e.border)
		}
		e.pixels(s, d, x, ch, a0, a1, k)
		e.pixels(s, d, x, ch, b0, b1, k)
		return
	}
	span := (e.kw - 1) * e.dw
	pa, pb := 0, 0 // cells per patch row of each span
	if na > 0 {
		pa = na + span
	}
	if nb > 0 {
		pb = nb + span
	}
	cg := len(s.offs) / (e.kh * e.kw)
	pw := pa + pb
	s.grow(cg*e.kh*pw, pw)
	cells := s.cells[:cg*e.kh*pw]
	plane := e.h * e.w
	t := 0
	for ci := range cg {
		for a := range e.kh {
			dst := cells[(ci*e.kh+a)*pw:][:pw]
			if sr := fold(r0+a*e.dh-e.top, e.h, e.border); sr >= 0 {
				xr := x[(ch+ci)*plane+sr*e.w:][:e.w]
				e.gatherRow(dst[:pa], xr, a0)
				e.gatherRow(dst[pa:], xr, b0)
			} else {
				for q := range dst {
					dst[q] = e.fill
				}
			}
			for b := range e.kw {
				s.offs[t] = (ci*e.kh+a)*pw + b*e.dw
				t++
			}
		}
	}
	if nb == 0 {
		convRow(d[a0:a1], cells, s.offs, k)
		return
	}
	out := s.out[:pa+nb]
	convRow(out, cells, s.offs, k)
	copy(d[a0:a1], out)
	copy(d[b0:b1], out[pa:])
}

// gatherRow sets dst[i] to padded column q0+i of the row whose input row
// is xr: the input's own columns with one copy, the others through src.
func (e *edges[T]) gatherRow(dst, xr []T, q0 int) {
	if len(dst) == 0 {
		return
	}
	q1 := q0 + len(dst)
	lo, hi := min(max(q0, e.lo), q1), max(min(q1, e.hi), q0)
	if lo >= hi {
		lo, hi = q1, q1
	}
	for q := q0; q < lo; q++ {
		dst[q-q0] = e.cell(xr, q)
	}
	if lo < hi {
		copy(dst[lo-q0:hi-q0], xr[lo-e.left:hi-e.left])
	}
	for q := hi; q < q1; q++ {
		dst[q-q0] = e.cell(xr, q)
	}
}

// stripRows is the most output rows whose side margins edges.sides
// computes at once: a band's rows of a 1024² plane on two workers (64) in
// one strip rather than two took about 3% off a 3×3 "same" or "full"
// correlation (each strip sets up its tables and scratch, and its rows
// start the many-row kernels afresh).
const stripRows = 128

// moveCells copies src into dst, len(dst) cells: a short run, such as a
// tile's few input columns a row, in blocks of eight cells (the last one
// overlapping the one before), which cost less than the call copy makes,
// and a long one with copy.
func moveCells[T Float](dst, src []T) {
	n := len(dst)
	switch {
	case n > 64:
		copy(dst, src)
	case n >= 8:
		src = src[:n]
		for q := 0; q+8 <= n; q += 8 {
			*(*[8]T)(dst[q:]) = *(*[8]T)(src[q:])
		}
		if n%8 != 0 {
			*(*[8]T)(dst[n-8:]) = *(*[8]T)(src[n-8:])
		}
	default:
		src = src[:n]
		for q := range dst {
			dst[q] = src[q]
		}
	}
}

// sides computes the output columns [0, a1) and [b0, wo) of rows
// consecutive output rows, the first at d and the others ldd apart, whose
// taps start at padded rows r0, r0+1, …: the margins of interior rows with
// unit row stride. Like row, it copies the padded cells those columns read
// into s, the two spans side by side, but once per padded row for all the
// rows at once: the strip holds each channel's padded rows r0 … r0 +
// rows-1 + (kh-1)·dh, pw cells each. Read as one long row, output q·pw + c
// of the strip is then output column c (or b0 + c - pa) of row q, with the
// taps at the offsets of a valid correlation over rows pw apart, so one
// call of the row kernel computes every margin of every row, at the speed
// of whole registers; what it computes between the spans and past a row's
// end is not copied out.
func (e *edges[T]) sides(s *patch[T], d []T, ldd, wo, rows int, x []T, ch, r0, a1, b0 int, k []T) {
	span := (e.kw - 1) * e.dw
	na, nb := a1, wo-b0
	pa, pb := 0, 0 // cells per strip row of each span
	if na > 0 {
		pa = na + span
	}
	if nb > 0 {
		pb = nb + span
	}
	pw := pa + pb
	cg := len(s.offs) / (e.kh * e.kw)
	sr := rows + (e.kh-1)*e.dh // strip rows per channel
	// The last output copied out is rows·pw - span - 1, whose last tap
	// reads the strip's last cell. At least a register's worth of outputs
	// keeps every margin on the SIMD kernel whatever the band split, so
	// that the split changes no bit; the cells past the strip that only
	// those extra outputs read hold whatever they hold.
	n := max(rows*pw-span, vectorLanes[T]())
	size := cg*sr*pw + n - min(n, rows*pw-span)
	s.grow(size, n)
	cells := s.cells[:size]
	// The input column of each strip column, or -1: the strip's rows are
	// short, and one pass through these costs less than a copy per span.
	if cap(s.cols) < pw {
		s.cols = make([]int, pw)
	}
	cols := s.cols[:pw]
	for q := range pa {
		cols[q] = e.col(q)
	}
	for q := range pb {
		cols[pa+q] = e.col(b0 + q)
	}
	plane := e.h * e.w
	t := 0
	for ci := range cg {
		for y := range sr {
			dst := cells[(ci*sr+y)*pw:][:pw]
			if r := fold(r0+y-e.top, e.h, e.border); r >= 0 {
				gather(dst, x[(ch+ci)*plane+r*e.w:][:e.w], cols, e.fill)
			} else {
				for q := range dst {
					dst[q] = e.fill
				}
			}
		}
		for a := range e.kh {
			for b := range e.kw {
				s.offs[t] = (ci*sr+a*e.dh)*pw + b*e.dw
				t++
			}
		}
	}
	out := s.out[:n]
	convRow(out, cells, s.offs, k)
	for q := range rows {
		row := d[q*ldd:]
		moveFew(row[:na], out[q*pw:])
		if nb > 0 {
			moveFew(row[b0:wo], out[q*pw+pa:])
		}
	}
}

// moveFew copies src into dst, a margin of a few cells: for those, a loop
// costs less than the call copy makes, which took a third of the time of
// sides for a 3×3.
func moveFew[T Float](dst, src []T) {
	if len(dst) > 8 {
		copy(dst, src)
		return
	}
	src = src[:len(dst)]
	for i := range dst {
		dst[i] = src[i]
	}
}

// pixelMax is the most multiply-adds (outputs × taps) of a row's margins
// that edges.row computes pixel by pixel, reading the input through the
// row and column maps, rather than from a patch: the margins of a small
// kernel hold a few pixels, which cost less than copying their patch.
const pixelMax = 256

// pixels computes the output columns [j0, j1) of d as row does, one pixel
// at a time, reading kernel row a from input row s.rows[a] (-1 for a row
// of the padding): each sums its taps in order from zero, reading the fill
// value for a cell of the padding.
func (e *edges[T]) pixels(s *patch[T], d, x []T, ch, j0, j1 int, k []T) {
	cg, plane := len(s.offs)/(e.kh*e.kw), e.h*e.w
	for j := j0; j < j1; j++ {
		var sum T
		t := 0
		for ci := range cg {
			xc := x[(ch+ci)*plane : (ch+ci+1)*plane]
			for _, r := range s.rows {
				for b := range e.kw {
					v := e.fill
					if c := e.col(j + b*e.dw); r >= 0 && c >= 0 {
						v = xc[r*e.w+c]
					}
					sum += k[t] * v
					t++
				}
			}
		}
		d[j] = sum
	}
}

// block computes output rows [i, i+rows) of output channel o (units u …
// u+rows-1), whose group starts at input channel ch, at columns [c0,
// c0+n), n at least a register wide, with unit row stride: whole rows
// above and below the interior, and with the four-row kernel the side
// margins of interior rows. It copies the padded cells those outputs read
// into a tile (each channel's padded rows i … i+rows-1+(kh-1)·dh, columns
// c0 … c0+n-1+(kw-1)·dw) and runs the interior's kernels over it, the
// many-row ones included, writing straight into the output rows: every
// output is then computed as the valid correlation over the padded input
// computes it, bit for bit. Patches per row ran the row kernel alone, with
// one register's chain of multiply-adds in flight for a narrow margin.
// Columns of the tile past a margin are interior ones, which the
// interior's kernels compute to the same bits, so writing them again
// changes nothing.
func (j *convPlan[T]) block(s *patch[T], u, rows, i, ch, o, c0, n int, k []T) {
	e := j.edges
	span := (e.kw - 1) * e.dw
	tw, sr := n+span, rows+(e.kh-1)*e.dh // cells per tile row, rows per channel
	cg := j.cg
	s.grow(cg*sr*tw, 0)
	cells := s.cells[:cg*sr*tw]
	e.tile(s, cells, j.x, ch, cg, i, sr, c0, tw)
	t := 0
	for ci := range cg {
		for a := range e.kh {
			for b := range e.kw {
				s.offs[t] = (ci*sr+a*e.dh)*tw + b*e.dw
				t++
			}
		}
	}
	kr := j.manyRows()
	for q := 0; q < rows; {
		if rows-q < kr && rows >= kr {
			// The last rows, too few for the many-row kernel alone, with
			// some before them again: to the same bits, and at the
			// many-row kernel's speed rather than the row kernel's.
			q = rows - kr
		}
		d, x := j.out[(u+q)*j.wo+c0:], cells[q*tw:]
		many, m := j.many(d, j.wo, n, rows-q, x, tw, o, k)
		for p := range many {
			dp, xp := d[p*j.wo:][:n], x[p*tw:]
			done := m
			if done < n {
				done = simdTail(dp, xp, s.offs, k, done+simdRow(dp[done:], xp[done:], s.offs, k))
			}
			if done < n {
				convRowGo(dp[done:], xp[done:], s.offs, k)
			}
		}
		q += many
	}
}

// tile copies into cells the padded cells of a tile (see block): for each
// of cg channels from ch of x, padded rows i … i+sr-1 and columns c0 …
// c0+tw-1, rows tw cells apart.
func (e *edges[T]) tile(s *patch[T], cells, x []T, ch, cg, i, sr, c0, tw int) {
	plane := e.h * e.w
	// Tile columns [lo, hi) are the input's columns [lo+c0-left, …), the
	// others come through pre and post, worked out once for every row.
	lo, hi := min(max(e.lo-c0, 0), tw), min(max(e.hi-c0, 0), tw)
	if lo >= hi {
		lo, hi = tw, tw
	}
	s.cols = slices.Grow(s.cols[:0], lo+tw-hi)[:lo+tw-hi]
	pre, post := s.cols[:lo], s.cols[lo:]
	for q := range pre {
		pre[q] = e.col(c0 + q)
	}
	for q := range post {
		post[q] = e.col(c0 + hi + q)
	}
	for ci := range cg {
		for y := range sr {
			dst := cells[(ci*sr+y)*tw:][:tw]
			r := i + y - e.top
			if r < 0 || r >= e.h {
				r = fold(r, e.h, e.border)
			}
			if r < 0 {
				for q := range dst {
					dst[q] = e.fill
				}
				continue
			}
			xr := x[(ch+ci)*plane+r*e.w:][:e.w]
			gather(dst[:lo], xr, pre, e.fill)
			if lo < hi {
				moveCells(dst[lo:hi], xr[lo+c0-e.left:])
			}
			gather(dst[hi:], xr, post, e.fill)
		}
	}
}
