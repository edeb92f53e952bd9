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
	h, w := x.Shape[2], x.Shape[3]
	if pads == [4]int{} && sw == 1 {
		return padded[T]{data: x.Data, plane: h * w, ld: w, wq: w}, nil
	}
	top, left := pads[0], pads[2]
	wq := (wn + sw - 1) / sw
	p := padded[T]{plane: hn * sw * wq, ld: sw * wq, wq: wq}
	planes := x.Shape[0] * x.Shape[1]
	p.data = make([]T, planes*p.plane)

	// Where each padded column comes from and goes to is the same for every
	// row, so it is worked out once.
	src := make([]int, wn)
	dst := make([]int, wn)
	for q := range wn {
		src[q] = fold(q-left, w, b)
		dst[q] = p.at(q, sw)
	}
	// Columns [lo, hi) are a plain copy of the input row when sw == 1.
	lo, hi := min(left, wn), min(left+w, wn)

	done := ctx.Done()
	for pl := range planes {
		select {
		case <-done:
			return padded[T]{}, ctx.Err()
		default:
		}
		in := x.Data[pl*h*w : (pl+1)*h*w]
		out := p.data[pl*p.plane : (pl+1)*p.plane]
		for r := range hn {
			row := out[r*p.ld : (r+1)*p.ld]
			sr := fold(r-top, h, b)
			if sr < 0 {
				for q := range row {
					row[q] = fill
				}
				continue
			}
			xr := in[sr*w : (sr+1)*w]
			if sw == 1 {
				gather(row[:lo], xr, src[:lo], fill)
				copy(row[lo:hi], xr)
				gather(row[hi:wn], xr, src[hi:wn], fill)
				continue
			}
			for q, s := range src {
				v := fill
				if s >= 0 {
					v = xr[s]
				}
				row[dst[q]] = v
			}
		}
	}
	return p, nil
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
