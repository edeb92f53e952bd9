package engine

import "context"

// fold maps index i on an axis of n ≥ 1 cells to the cell that border b
// reads there, or -1 for a cell that holds the fill value.
//
// The mirroring borders are periodic: folding once about each edge again and
// again is the same as reducing i modulo the period and folding the remainder
// once. Symmetric mirroring (a b c d -> b a | a b c d | d c) repeats every 2n
// cells; reflection without repeating the edge (a b c d -> c b | a b c d | c b)
// repeats every 2n-2. Wrapping repeats every n. So any pad size works, which
// scipy needs for kernels larger than the input.
func fold(i, n int, b Border) int {
	if i >= 0 && i < n {
		return i
	}
	switch b {
	case BorderReplicate:
		if i < 0 {
			return 0
		}
		return n - 1
	case BorderCircular:
		return mod(i, n)
	case BorderReflect:
		if n == 1 {
			return 0
		}
		p := 2 * (n - 1)
		m := mod(i, p)
		if m >= n {
			m = p - m
		}
		return m
	case BorderSymmetric:
		p := 2 * n
		m := mod(i, p)
		if m >= n {
			m = p - 1 - m
		}
		return m
	default:
		return -1
	}
}

// mod is i modulo n in [0, n), also for negative i.
func mod(i, n int) int {
	m := i % n
	if m < 0 {
		m += n
	}
	return m
}

// padded is the input of a convolution as the kernels read it: every (n, c)
// plane padded and cropped to the hn×wn cells the output needs, each row
// stored in polyphase order for a column stride sw. Row r holds sw phases of
// wq cells each; padded column q lives at phase q%sw, position q/sw. With
// that layout the cells one kernel tap reads for a whole output row, columns
// j*sw + b*dw for j < wo, are contiguous: phase (b*dw)%sw from position
// (b*dw)/sw on. For sw == 1 it is the ordinary row-major layout.
type padded[T Float] struct {
	data  []T
	plane int // elements per (n, c) plane
	ld    int // elements per row: sw*wq
	wq    int // cells per phase
}

// at returns the offset within a row of padded column q.
func (p *padded[T]) at(q, sw int) int { return (q%sw)*p.wq + q/sw }

// padInput materialises x padded by pads (top, bottom, left, right) with
// border b, keeping only the first hn rows and wn columns of each padded
// plane. When there is nothing to pad or reorder it returns x's own data and
// copies nothing. It checks ctx between planes, since a huge input takes a
// while to copy.
func padInput[T Float](ctx context.Context, x Tensor[T], pads [4]int, hn, wn, sw int, b Border, fill T) (padded[T], error) {
	pd := newPadder(x, pads, hn, wn, sw, b, fill)
	if pd == nil {
		h, w := x.Shape[2], x.Shape[3]
		return padded[T]{data: x.Data, plane: h * w, ld: w, wq: w}, nil
	}
	pd.p.data = make([]T, pd.size())
	if err := pd.units(ctx, 0, x.Shape[0]*x.Shape[1]*hn); err != nil {
		return padded[T]{}, err
	}
	return pd.p, nil
}

// padder pads one input for padInput and padOnPool, row by row, so that
// the rows can also be split into bands on the pool (it is a plan whose
// units are the padded rows of every plane). It writes every cell of p.data, which
// its user allocates with size elements.
type padder[T Float] struct {
	x         Tensor[T]
	p         padded[T]
	top, left int
	hn, wn    int
	sw        int
	b         Border
	fill      T
	// Where each padded column comes from: the same for every row, so it
	// is worked out once. src[q] is the input column of padded column q,
	// or -1 for a fill cell.
	src []int
	// lo, hi: padded columns [lo, hi) are a plain copy of the input row
	// when sw == 1; when sw > 1, positions [lo, hi) of every phase hold
	// inner columns.
	lo, hi int
	// phases says, for sw > 1, which positions of each phase hold inner
	// columns, copied with a plain strided loop.
	phases []padPhase
}

// padPhase is one phase of a padded row in polyphase order: its first n
// positions hold padded columns, and positions [lo, hi) of them inner ones.
type padPhase struct{ n, lo, hi int }

// newPadder works out the layout and column maps of the padded input; it
// returns nil when there is nothing to pad or reorder.
func newPadder[T Float](x Tensor[T], pads [4]int, hn, wn, sw int, b Border, fill T) *padder[T] {
	if pads == [4]int{} && sw == 1 {
		return nil
	}
	w := x.Shape[3]
	left := pads[2]
	wq := (wn + sw - 1) / sw
	pd := &padder[T]{
		x:   x,
		p:   padded[T]{plane: hn * sw * wq, ld: sw * wq, wq: wq},
		top: pads[0], left: left, hn: hn, wn: wn, sw: sw, b: b, fill: fill,
		src: make([]int, wn),
		lo:  min(left, wn), hi: min(left+w, wn),
	}
	for q := range wn {
		pd.src[q] = fold(q-left, w, b)
	}
	if sw > 1 {
		pd.phases = make([]padPhase, sw)
		for ph := range pd.phases {
			s := &pd.phases[ph]
			for ; s.n*sw+ph < wn; s.n++ {
			}
			for ; s.lo < s.n && s.lo*sw+ph < left; s.lo++ {
			}
			for s.hi = s.lo; s.hi < s.n && s.hi*sw+ph < left+w; s.hi++ {
			}
		}
		pd.lo, pd.hi = 0, wq
		for _, s := range pd.phases {
			pd.lo, pd.hi = max(pd.lo, s.lo), min(pd.hi, s.hi)
		}
		pd.hi = max(pd.hi, pd.lo)
	}
	return pd
}

// size is the number of elements of the padded input.
func (pd *padder[T]) size() int { return pd.x.Shape[0] * pd.x.Shape[1] * pd.p.plane }

// units pads rows [lo, hi) of the padded input, numbered plane*hn + row,
// checking ctx between planes.
func (pd *padder[T]) units(ctx context.Context, lo, hi int) error {
	done := ctx.Done()
	for u := lo; u < hi; u++ {
		if u == lo || u%pd.hn == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
		}
		pd.row(u/pd.hn, u%pd.hn)
	}
	return nil
}

// row pads row r of plane pl.
func (pd *padder[T]) row(pl, r int) {
	pd.rowTo(pd.p.data[pl*pd.p.plane+r*pd.p.ld:], pl, r)
}

// rowTo pads row r of plane pl into the first ld cells of dst.
func (pd *padder[T]) rowTo(dst []T, pl, r int) {
	h, w := pd.x.Shape[2], pd.x.Shape[3]
	row := dst[:pd.p.ld]
	sr := fold(r-pd.top, h, pd.b)
	if sr < 0 {
		for q := range row {
			row[q] = pd.fill
		}
		return
	}
	xr := pd.x.Data[(pl*h+sr)*w:][:w]
	if pd.sw == 1 {
		gather(row[:pd.lo], xr, pd.src[:pd.lo], pd.fill)
		copy(row[pd.lo:pd.hi], xr)
		gather(row[pd.hi:pd.wn], xr, pd.src[pd.hi:pd.wn], pd.fill)
		return
	}
	pd.stridedRow(row, xr)
}

// stridedRow pads one row in polyphase order: phase by phase, the inner
// columns with a plain strided copy and the few border ones through src.
// The positions of a phase past the last padded column are never read but
// are zeroed all the same, so that every cell of the row is written.
func (pd *padder[T]) stridedRow(row, xr []T) {
	sw, wq := pd.sw, pd.p.wq
	if sw == 4 || sw == 6 {
		pd.splitRow(row, xr)
		return
	}
	for ph, s := range pd.phases {
		out := row[ph*wq : (ph+1)*wq]
		for i := s.n; i < wq; i++ {
			out[i] = 0
		}
		for i := range s.lo {
			out[i] = pd.cell(xr, i*sw+ph)
		}
		if s.hi > s.lo {
			stridedCopy(out[s.lo:s.hi], xr[s.lo*sw+ph-pd.left:], sw)
		}
		for i := s.hi; i < s.n; i++ {
			out[i] = pd.cell(xr, i*sw+ph)
		}
	}
}

// splitRow is stridedRow for a column stride of 4 or 6, the layouts of
// the stride-2 Winograd path by F(2×2, 4×4) and F(3×3, 4×4): the positions
// where all phases hold inner columns are split out of the input row in
// one pass (deint4, deint6); the others (the borders, and what differs
// between the phases) go through src.
func (pd *padder[T]) splitRow(row, xr []T) {
	wq, sw, lo, hi := pd.p.wq, pd.sw, pd.lo, pd.hi
	for ph, s := range pd.phases {
		out := row[ph*wq : (ph+1)*wq]
		for i := range min(lo, s.n) {
			out[i] = pd.cell(xr, sw*i+ph)
		}
		for i := hi; i < s.n; i++ {
			out[i] = pd.cell(xr, sw*i+ph)
		}
		clear(out[s.n:])
	}
	if hi == lo {
		return
	}
	x := xr[sw*lo-pd.left:]
	if sw == 6 {
		deint6(row[lo:], wq, hi-lo, x)
		return
	}
	deint4(row[lo:hi], row[wq+lo:], row[2*wq+lo:], row[3*wq+lo:], x)
}

// deint4Go is the portable deint4, and the reference for the SIMD one:
// d_p[k] = x[4k+p] for each phase p < 4 and k < len(d0).
func deint4Go[T Float](d0, d1, d2, d3, x []T) {
	n := len(d0)
	d1, d2, d3, x = d1[:n], d2[:n], d3[:n], x[:4*n]
	for k := range d0 {
		q := x[4*k : 4*k+4]
		d0[k], d1[k], d2[k], d3[k] = q[0], q[1], q[2], q[3]
	}
}

// deint6Go is the portable deint6, and the reference for the SIMD one:
// d[p*wq+k] = x[6k+p] for each phase p < 6 and k < n.
func deint6Go[T Float](d []T, wq, n int, x []T) {
	x = x[:6*n]
	for p := range 6 {
		dp := d[p*wq:][:n]
		for k := range dp {
			dp[k] = x[6*k+p]
		}
	}
}

// stridedCopy sets d[k] = x[k*sw] for every k < len(d), four at a time so
// that one bounds check covers four cells.
func stridedCopy[T Float](d, x []T, sw int) {
	k := 0
	for ; k+4 <= len(d); k += 4 {
		q := x[k*sw : k*sw+3*sw+1]
		d[k], d[k+1], d[k+2], d[k+3] = q[0], q[sw], q[2*sw], q[3*sw]
	}
	for ; k < len(d); k++ {
		d[k] = x[k*sw]
	}
}

// cell returns padded column q of a row whose input row is xr.
func (pd *padder[T]) cell(xr []T, q int) T {
	if v := pd.src[q]; v >= 0 {
		return xr[v]
	}
	return pd.fill
}

// gather sets d[q] = x[src[q]], or fill where src[q] < 0.
func gather[T Float](d, x []T, src []int, fill T) {
	src = src[:len(d)]
	for q, s := range src {
		if s < 0 {
			d[q] = fill
		} else {
			d[q] = x[s]
		}
	}
}

// poolPad is the size in cells from which padOnPool pads on the pool:
// about a quarter of a millisecond of copying. A polyphase copy (column
// stride above 1) goes cell by cell, about four times slower (1 ns a cell
// for the 7×7 stem's stride 4 of the Winograd path), so it counts
// poolPadStrided times its cells.
const (
	poolPad        = 1 << 18
	poolPadStrided = 4
)

// padOnPool is padInput with the rows split into bands on the pool when
// the input is large (poolPad cells or more): padding a large input on the
// caller's goroutine alone, before any band starts, would cost a good part
// of the arithmetic's time on two workers, while a small one is padded in
// place, where a round on the pool would cost more than it saves. The padded copy comes from
// e's recycler, since it is written in full; the caller hands it back with
// release once no band reads it. macs is the whole request's size, so that
// the engine queues both its rounds alike.
func padOnPool[T Float](ctx context.Context, e *Engine, p Priority, x Tensor[T], g geometry, c Conv, macs float64) (xp padded[T], release func(), err error) {
	pd := newPadder(x, g.pads, g.hn, g.wn, g.sw, c.Border, T(c.Fill))
	if pd == nil {
		xp, err = padInput(ctx, x, g.pads, g.hn, g.wn, g.sw, c.Border, T(c.Fill))
		return xp, func() {}, err
	}
	pd.p.data = result[T](e, pd.size())
	release = func() { Release(e, pd.p.data) }
	rows := x.Shape[0] * x.Shape[1] * g.hn
	work := pd.size()
	if g.sw > 1 {
		work *= poolPadStrided
	}
	if n := min(rows, e.workers); n > 1 && work >= poolPad {
		err = e.run(ctx, p, pd, rows, n, macs)
	} else {
		err = pd.units(ctx, 0, rows)
	}
	if err != nil {
		release()
		return padded[T]{}, func() {}, err
	}
	return pd.p, release, nil
}
