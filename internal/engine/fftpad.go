package engine

// window returns padded columns c0 ≤ q < c0+n of padded row pr of plane pl,
// the part of it a tile of the FFT path reads: a slice of the input row
// itself when those columns are all inside it, else the row built in buf
// (at least n long) through the column map. So the FFT path pads no more
// than each tile's window, row by row, where the transforms read it,
// instead of copying the whole padded input first.
func (pd *padder[T]) window(buf []T, pl, pr, c0, n int) []T {
	h, w := pd.x.Shape[2], pd.x.Shape[3]
	dst := buf[:n]
	sr := fold(pr-pd.top, h, pd.b)
	if sr < 0 {
		for i := range dst {
			dst[i] = pd.fill
		}
		return dst
	}
	xr := pd.x.Data[(pl*h+sr)*w:][:w]
	if c0 >= pd.lo && c0+n <= pd.hi {
		return xr[c0-pd.left:][:n]
	}
	// Columns [lo, hi) of the window are inside the input row.
	lo, hi := min(max(pd.lo, c0), c0+n), min(max(pd.hi, c0), c0+n)
	gather(dst[:lo-c0], xr, pd.src[c0:lo], pd.fill)
	if hi > lo {
		copy(dst[lo-c0:hi-c0], xr[lo-pd.left:hi-pd.left])
	}
	gather(dst[hi-c0:], xr, pd.src[hi:c0+n], pd.fill)
	return dst
}
