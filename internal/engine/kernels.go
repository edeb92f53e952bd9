package engine

// convRowGo is the portable row kernel, and the reference for the SIMD ones.
//
// Rather than summing each element separately, it sweeps the row once per
// group of up to eight taps (saxpy style), which keeps the inner loop long
// and free of bounds checks; eight taps per sweep halve the loads and stores
// of d against four, and a 3x3 kernel takes two sweeps. Each element still
// sums its taps one at a time, in order, starting from zero, exactly as the
// reference loop does. A precomputed offset per tap makes strides, dilation,
// channels and the polyphase layout all look alike here.
func convRowGo[T Float](d, x []T, offs []int, k []T) {
	clear(d)
	n := len(d)
	src := func(t int) []T { return x[offs[t] : offs[t]+n] }
	taps := len(offs)
	k = k[:taps]
	t := 0
	for ; t+8 <= taps; t += 8 {
		axpy8(d, src(t), src(t+1), src(t+2), src(t+3), src(t+4), src(t+5), src(t+6), src(t+7),
			k[t], k[t+1], k[t+2], k[t+3], k[t+4], k[t+5], k[t+6], k[t+7])
	}
	for ; t+4 <= taps; t += 4 {
		axpy4(d, src(t), src(t+1), src(t+2), src(t+3), k[t], k[t+1], k[t+2], k[t+3])
	}
	switch taps - t {
	case 3:
		axpy3(d, src(t), src(t+1), src(t+2), k[t], k[t+1], k[t+2])
	case 2:
		axpy2(d, src(t), src(t+1), k[t], k[t+1])
	case 1:
		axpy1(d, src(t), k[t])
	}
}

func addScalar[T Float](d []T, v T) {
	for i := range d {
		d[i] += v
	}
}

// dotRow adds Σ_j dy[j]·x[offs[b]+j] to acc[b] for every tap b, one term at
// a time in order of j. Four taps share each pass over dy, which gives the
// processor four independent sums to overlap.
func dotRow[T Float](acc, dy, x []T, offs []int) {
	n := len(dy)
	src := func(b int) []T { return x[offs[b] : offs[b]+n] }
	b := 0
	for ; b+4 <= len(acc); b += 4 {
		acc[b], acc[b+1], acc[b+2], acc[b+3] = dot4(acc[b], acc[b+1], acc[b+2], acc[b+3], dy, src(b), src(b+1), src(b+2), src(b+3))
	}
	for ; b < len(acc); b++ {
		acc[b] = dot1(acc[b], dy, src(b))
	}
}

func dot4[T Float](s0, s1, s2, s3 T, d, x0, x1, x2, x3 []T) (T, T, T, T) {
	x0, x1, x2, x3 = x0[:len(d)], x1[:len(d)], x2[:len(d)], x3[:len(d)]
	for i, v := range d {
		s0 += v * x0[i]
		s1 += v * x1[i]
		s2 += v * x2[i]
		s3 += v * x3[i]
	}
	return s0, s1, s2, s3
}

func dot1[T Float](s T, d, x []T) T {
	x = x[:len(d)]
	for i, v := range d {
		s += v * x[i]
	}
	return s
}

// The axpyN helpers add N weighted source rows to d, one tap after another,
// so the order of the additions into each element is unchanged from N
// separate passes while d is loaded and stored once. Reslicing every source
// to len(d) lets the compiler drop the bounds checks in the loop.

func axpy8[T Float](d, s0, s1, s2, s3, s4, s5, s6, s7 []T, w0, w1, w2, w3, w4, w5, w6, w7 T) {
	s0, s1, s2, s3 = s0[:len(d)], s1[:len(d)], s2[:len(d)], s3[:len(d)]
	s4, s5, s6, s7 = s4[:len(d)], s5[:len(d)], s6[:len(d)], s7[:len(d)]
	for i, v := range d {
		v += w0 * s0[i]
		v += w1 * s1[i]
		v += w2 * s2[i]
		v += w3 * s3[i]
		v += w4 * s4[i]
		v += w5 * s5[i]
		v += w6 * s6[i]
		v += w7 * s7[i]
		d[i] = v
	}
}

func axpy4[T Float](d, s0, s1, s2, s3 []T, w0, w1, w2, w3 T) {
	s0, s1, s2, s3 = s0[:len(d)], s1[:len(d)], s2[:len(d)], s3[:len(d)]
	for i, v := range d {
		v += w0 * s0[i]
		v += w1 * s1[i]
		v += w2 * s2[i]
		v += w3 * s3[i]
		d[i] = v
	}
}

func axpy3[T Float](d, s0, s1, s2 []T, w0, w1, w2 T) {
	s0, s1, s2 = s0[:len(d)], s1[:len(d)], s2[:len(d)]
	for i, v := range d {
		v += w0 * s0[i]
		v += w1 * s1[i]
		v += w2 * s2[i]
		d[i] = v
	}
}

func axpy2[T Float](d, s0, s1 []T, w0, w1 T) {
	s0, s1 = s0[:len(d)], s1[:len(d)]
	for i, v := range d {
		v += w0 * s0[i]
		v += w1 * s1[i]
		d[i] = v
	}
}

func axpy1[T Float](d, s0 []T, w0 T) {
	s0 = s0[:len(d)]
	for i, v := range d {
		v += w0 * s0[i]
		d[i] = v
	}
}
