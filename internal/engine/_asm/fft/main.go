// Command fft generates the AVX2/FMA passes of the engine's FFT (see
// fftcore.go): one function per radix, 2, 3, 4 and 5, each running a whole
// Stockham stage. Run it through go generate in the engine package, alone
// with -run:
//
//	cd internal/engine && go generate -run ./fft
//
// It writes fft_amd64.s and fft_stub_amd64.go, both behind the !purego
// build tag.
package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// A YMM register holds two complex128 values, (re, im, re, im). Each pass
// runs its butterflies over two adjacent elements of the s interleaved
// sequences at once; every element of one loop shares the twiddles, which
// the stage stores spread (see fftStage.twx): the real part in four lanes,
// then (-im, im, -im, im), 64 bytes per twiddle.

// consts are the pass's constants in memory, each in all four lanes.
type consts struct {
	negImag Mem // the sign bit of the imaginary lanes
	vals    map[string]Mem
}

func main() {
	ConstraintExpr("!purego")
	c := consts{negImag: GLOBL("fftNegImag", RODATA|NOPTR), vals: map[string]Mem{}}
	for i := range 4 {
		DATA(8*i, U64(uint64(i%2)<<63))
	}
	for _, v := range []struct {
		name string
		val  float64
	}{
		{"Half", 0.5},
		{"H3", math.Sqrt(3) / 2},
		{"C1", math.Cos(2 * math.Pi / 5)}, {"S1", math.Sin(2 * math.Pi / 5)},
		{"C2", math.Cos(4 * math.Pi / 5)}, {"S2", math.Sin(4 * math.Pi / 5)},
	} {
		m := GLOBL("fft"+v.name, RODATA|NOPTR)
		for i := range 4 {
			DATA(8*i, U64(math.Float64bits(v.val)))
		}
		c.vals[v.name] = m
	}
	for _, p := range []int{2, 3, 4, 5} {
		pass(p, c)
	}
	mulConj(false, c)
	mulConj(true, c)
	split(c)
	join(c)
	for _, size := range []int{4, 8} {
		pack(size)
		unpack(size, c)
	}
	Generate()
}

// pass emits fftPass<p>AVX2(y, x []complex128, s, m int, twx []float64):
// y[k + s·(p·q + t)] = w^{q·t} Σ_r x[k + s·(q + r·m)] e^{-2πi·r·t/p} for
// q < m and k < s, s even, twiddles from twx.
func pass(p int, c consts) {
	TEXT(fmt.Sprintf("fftPass%dAVX2", p), NOSPLIT, "func(y, x []complex128, s, m int, twx []float64)")
	Pragma("noescape")
	Doc(fmt.Sprintf("fftPass%dAVX2 runs one radix-%d stage of the FFT; see fftStage.pass.", p, p))
	b := Load(Param("y").Base(), GP64())
	a := Load(Param("x").Base(), GP64())
	sb := Load(Param("s"), GP64())
	m := Load(Param("m"), GP64())
	tw := Load(Param("twx").Base(), GP64())

	SHLQ(U8(4), sb) // bytes per run of s elements
	mb := GP64()    // bytes between the inputs of a butterfly: s·m elements
	MOVQ(m, mb)
	IMULQ(sb, mb)
	m3, s3 := GP64(), GP64()
	LEAQ(Mem{Base: mb, Index: mb, Scale: 2}, m3)
	LEAQ(Mem{Base: sb, Index: sb, Scale: 2}, s3)
	// After its loop over k, b has moved one run; the next q's outputs
	// start p runs on.
	skip := GP64()
	IMUL3Q(U32(p-1), sb, skip)
	in := func(r int) Mem { return strided(a, mb, m3, r) }
	out := func(t int) Mem { return strided(b, sb, s3, t) }
	neg := YMM()
	VMOVUPD(c.negImag, neg)

	k := GP64()
	Label("q")
	MOVQ(sb, k)
	SHRQ(U8(5), k) // pairs of elements in a run
	Label("k")
	x := make([]reg.VecVirtual, p)
	for r := range x {
		x[r] = YMM()
		VMOVUPD(in(r), x[r])
	}
	ys := butterfly(p, x, neg, c)
	for t, y := range ys {
		if t > 0 {
			y = twiddle(y, Mem{Base: tw, Disp: 64 * (t - 1)})
		}
		VMOVUPD(y, out(t))
	}
	ADDQ(U32(32), a)
	ADDQ(U32(32), b)
	DECQ(k)
	JNZ(LabelRef("k"))
	ADDQ(skip, b)
	ADDQ(U32(64*(p-1)), tw)
	DECQ(m)
	JNZ(LabelRef("q"))
	VZEROUPPER()
	RET()
}

// strided returns the address base + r·step for r < 5, given step3 =
// 3·step in a register (an index scales by 1, 2, 4 or 8 only).
func strided(base, step, step3 reg.Register, r int) Mem {
	switch r {
	case 0:
		return Mem{Base: base}
	case 3:
		return Mem{Base: base, Index: step3, Scale: 1}
	default:
		return Mem{Base: base, Index: step, Scale: uint8(r)}
	}
}

// butterfly returns the p outputs of one butterfly before the twiddles.
func butterfly(p int, x []reg.VecVirtual, neg reg.VecVirtual, c consts) []reg.VecVirtual {
	switch p {
	case 2:
		return []reg.VecVirtual{add(x[0], x[1]), sub(x[0], x[1])}
	case 3:
		sum, dif := add(x[1], x[2]), sub(x[1], x[2])
		cc := YMM()
		VMOVAPD(x[0], cc)
		VFNMADD231PD(c.vals["Half"], sum, cc) // a0 - sum/2
		d := YMM()
		VMULPD(c.vals["H3"], minusI(dif, neg), d)
		return []reg.VecVirtual{add(x[0], sum), add(cc, d), sub(cc, d)}
	case 4:
		b0, b1 := add(x[0], x[2]), sub(x[0], x[2])
		b2, b3 := add(x[1], x[3]), minusI(sub(x[1], x[3]), neg)
		return []reg.VecVirtual{add(b0, b2), add(b1, b3), sub(b0, b2), sub(b1, b3)}
	default: // 5
		p1, m1 := add(x[1], x[4]), sub(x[1], x[4])
		p2, m2 := add(x[2], x[3]), sub(x[2], x[3])
		y0 := add(x[0], add(p1, p2))
		r1, r2 := YMM(), YMM()
		VMOVAPD(x[0], r1)
		VFMADD231PD(c.vals["C1"], p1, r1)
		VFMADD231PD(c.vals["C2"], p2, r1)
		VMOVAPD(x[0], r2)
		VFMADD231PD(c.vals["C2"], p1, r2)
		VFMADD231PD(c.vals["C1"], p2, r2)
		i1, i2 := YMM(), YMM()
		VMULPD(c.vals["S1"], m1, i1)
		VFMADD231PD(c.vals["S2"], m2, i1)
		VMULPD(c.vals["S2"], m1, i2)
		VFNMADD231PD(c.vals["S1"], m2, i2)
		i1, i2 = minusI(i1, neg), minusI(i2, neg)
		return []reg.VecVirtual{y0, add(r1, i1), add(r2, i2), sub(r2, i2), sub(r1, i1)}
	}
}

func add(a, b reg.VecVirtual) reg.VecVirtual {
	d := YMM()
	VADDPD(b, a, d)
	return d
}

func sub(a, b reg.VecVirtual) reg.VecVirtual {
	d := YMM()
	VSUBPD(b, a, d)
	return d
}

// minusI returns -i·v: (im, -re) in each complex lane pair.
func minusI(v, neg reg.VecVirtual) reg.VecVirtual {
	d := YMM()
	VPERMILPD(U8(5), v, d)
	VXORPD(neg, d, d)
	return d
}

// twiddle returns v times the spread twiddle at w: re·(wr) + swap(v)·(-wi, wi).
func twiddle(v reg.VecVirtual, w Mem) reg.VecVirtual {
	sw, d := YMM(), YMM()
	VPERMILPD(U8(5), v, sw)
	VMULPD(w, v, d)
	VFMADD231PD(w.Offset(32), sw, d)
	return d
}

// mulConj emits fftMulConjAVX2(acc, x, k []complex128), which sets acc[i]
// to conj(x[i])·k[i], or with add fftMulConjAddAVX2, which adds it, for
// every i < len(x) rounded down to a multiple of eight (the caller does
// the rest).
func mulConj(add bool, c consts) {
	name := "fftMulConjAVX2"
	if add {
		name = "fftMulConjAddAVX2"
	}
	TEXT(name, NOSPLIT, "func(acc, x, k []complex128)")
	Pragma("noescape")
	if add {
		Doc(name + " adds conj(x)·k to acc; see accumulate.")
	} else {
		Doc(name + " stores conj(x)·k in acc; see accumulate.")
	}
	ap := Load(Param("acc").Base(), GP64())
	xp := Load(Param("x").Base(), GP64())
	kp := Load(Param("k").Base(), GP64())
	n := Load(Param("x").Len(), GP64())
	SHRQ(U8(3), n)
	JZ(LabelRef("done"))
	neg := YMM()
	VMOVUPD(c.negImag, neg)
	Label("loop")
	for u := range 4 {
		d := 32 * u
		// conj(x) = (a, b); k = (c, d): (a·c - b·d, b·c + a·d).
		xc, kr, ki, t := YMM(), YMM(), YMM(), YMM()
		VXORPD(Mem{Base: xp, Disp: d}, neg, xc)
		VMOVDDUP(Mem{Base: kp, Disp: d}, kr)
		VPERMILPD(U8(15), Mem{Base: kp, Disp: d}, ki)
		VPERMILPD(U8(5), xc, t)
		VMULPD(ki, t, t)
		VFMADDSUB231PD(kr, xc, t)
		if add {
			VADDPD(Mem{Base: ap, Disp: d}, t, t)
		}
		VMOVUPD(t, Mem{Base: ap, Disp: d})
	}
	ADDQ(U32(128), ap)
	ADDQ(U32(128), xp)
	ADDQ(U32(128), kp)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// split emits fftSplitAVX2(spec, z []complex128, offs []int, wx []float64,
// m int): the forward real transform's last step for eight sequences
// packed in z (see rfft.forward), coefficients 0 < k < m, each to
// spec[offs[k] + 8c] for sequence c. wx holds e^{-2πik/n} spread like a
// twiddle, 64 bytes per k.
func split(c consts) {
	TEXT("fftSplitAVX2", NOSPLIT, "func(spec, z []complex128, offs []int, wx []float64, m int)")
	Pragma("noescape")
	Doc("fftSplitAVX2 separates the coefficients of eight packed real transforms; see rfft.forward.")
	sp := Load(Param("spec").Base(), GP64())
	za := Load(Param("z").Base(), GP64())
	op := Load(Param("offs").Base(), GP64())
	wp := Load(Param("wx").Base(), GP64())
	m := Load(Param("m"), GP64())
	zb := GP64()
	// za at z[8k], zb at z[8(m-k)], from k = 1.
	MOVQ(m, zb)
	SHLQ(U8(7), zb)
	ADDQ(za, zb)
	SUBQ(U32(128), zb)
	ADDQ(U32(128), za)
	ADDQ(U32(8), op)
	ADDQ(U32(64), wp)
	DECQ(m)
	JLE(LabelRef("done"))
	neg, half := YMM(), YMM()
	VMOVUPD(c.negImag, neg)
	VMOVUPD(c.vals["Half"], half)
	out := GP64()
	Label("loop")
	MOVQ(Mem{Base: op}, out)
	SHLQ(U8(4), out)
	ADDQ(sp, out)
	for u := range 4 {
		a, bc := YMM(), YMM()
		VMOVUPD(Mem{Base: za, Disp: 32 * u}, a)
		VXORPD(Mem{Base: zb, Disp: 32 * u}, neg, bc)
		s, d := add(a, bc), sub(a, bc)
		v := add(s, twiddle(minusI(d, neg), Mem{Base: wp}))
		VMULPD(half, v, v)
		VMOVUPD(v.AsX(), Mem{Base: out, Disp: 256 * u})
		VEXTRACTF128(U8(1), v, Mem{Base: out, Disp: 256*u + 128})
	}
	ADDQ(U32(128), za)
	SUBQ(U32(128), zb)
	ADDQ(U32(8), op)
	ADDQ(U32(64), wp)
	DECQ(m)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// join emits fftJoinAVX2(z, spec []complex128, offs []int, wx []float64,
// m int): the inverse real transform's first step for eight sequences
// (see rfft.inverse), k < m, from spec[offs[k] + 8c] and spec[offs[m-k] +
// 8c] for sequence c, which hold conjugated coefficients. wx holds
// e^{+2πik/n} spread like a twiddle.
func join(c consts) {
	TEXT("fftJoinAVX2", NOSPLIT, "func(z, spec []complex128, offs []int, wx []float64, m int)")
	Pragma("noescape")
	Doc("fftJoinAVX2 packs eight half spectra for the inverse real transforms; see rfft.inverse.")
	zp := Load(Param("z").Base(), GP64())
	sp := Load(Param("spec").Base(), GP64())
	oa := Load(Param("offs").Base(), GP64())
	wp := Load(Param("wx").Base(), GP64())
	m := Load(Param("m"), GP64())
	ob := GP64()
	LEAQ(Mem{Base: oa, Index: m, Scale: 8}, ob) // &offs[m]
	TESTQ(m, m)
	JLE(LabelRef("done"))
	neg := YMM()
	VMOVUPD(c.negImag, neg)
	pa, pb := GP64(), GP64()
	Label("loop")
	MOVQ(Mem{Base: oa}, pa)
	SHLQ(U8(4), pa)
	ADDQ(sp, pa)
	MOVQ(Mem{Base: ob}, pb)
	SHLQ(U8(4), pb)
	ADDQ(sp, pb)
	for u := range 4 {
		a, bb := YMM(), YMM()
		VMOVUPD(Mem{Base: pa, Disp: 256 * u}, a.AsX())
		VINSERTF128(U8(1), Mem{Base: pa, Disp: 256*u + 128}, a, a)
		VMOVUPD(Mem{Base: pb, Disp: 256 * u}, bb.AsX())
		VINSERTF128(U8(1), Mem{Base: pb, Disp: 256*u + 128}, bb, bb)
		VXORPD(neg, a, a) // the true coefficient
		e, d := add(a, bb), sub(a, bb)
		o := twiddle(d, Mem{Base: wp})
		v := sub(e, minusI(o, neg)) // 2E + i·2O
		VXORPD(neg, v, v)
		VMOVUPD(v, Mem{Base: zp, Disp: 32 * u})
	}
	ADDQ(U32(128), zp)
	ADDQ(U32(8), oa)
	SUBQ(U32(8), ob)
	ADDQ(U32(64), wp)
	DECQ(m)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// suffix names a routine's element type: F32 or F64.
func suffix(size int) string {
	if size == 4 {
		return "F32"
	}
	return "F64"
}

// pack emits fftPack<F32|F64>AVX2(z []complex128, src []T, cells int):
// z[8j] = complex(src[2j], src[2j+1]) for j < cells, cells a multiple of
// two: one real row packed into its sequence of a batch of eight (see
// packReal), z starting at the sequence's first cell.
func pack(size int) {
	name := "fftPack" + suffix(size) + "AVX2"
	typ := "float64"
	if size == 4 {
		typ = "float32"
	}
	TEXT(name, NOSPLIT, "func(z []complex128, src []"+typ+", cells int)")
	Pragma("noescape")
	Doc(name + " packs a real row into its sequence of a batch of eight; see packReal.")
	zp := Load(Param("z").Base(), GP64())
	sp := Load(Param("src").Base(), GP64())
	n := Load(Param("cells"), GP64())
	SHRQ(U8(1), n)
	JZ(LabelRef("done"))
	Label("loop")
	v := YMM()
	if size == 4 {
		VCVTPS2PD(Mem{Base: sp}, v)
	} else {
		VMOVUPD(Mem{Base: sp}, v)
	}
	VMOVUPD(v.AsX(), Mem{Base: zp})
	VEXTRACTF128(U8(1), v, Mem{Base: zp, Disp: 128})
	ADDQ(U32(4*size), sp)
	ADDQ(U32(256), zp)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// unpack emits fftUnpack<F32|F64>AVX2(dst []T, ld int, z []complex128,
// cells int, scale float64, bias T): for each of the eight sequences c of
// z after the inverse transforms, row c of dst (ld elements apart) gets
// dst[c·ld + 2j] = T(re(z[8j+c])·scale) + bias and dst[c·ld + 2j+1] =
// T(-im(z[8j+c])·scale) + bias for j < cells: the unit-stride outputs of
// fftPlan.inverseRows, rounded as it rounds them (a product, then the sum,
// never fused).
func unpack(size int, c consts) {
	name := "fftUnpack" + suffix(size) + "AVX2"
	typ := "float64"
	if size == 4 {
		typ = "float32"
	}
	TEXT(name, NOSPLIT, "func(dst []"+typ+", ld int, z []complex128, cells int, scale float64, bias "+typ+")")
	Pragma("noescape")
	Doc(name + " stores eight rows of outputs from their inverse transforms; see fftPlan.inverseRows.")
	d := Load(Param("dst").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	zp := Load(Param("z").Base(), GP64())
	n := Load(Param("cells"), GP64())
	TESTQ(n, n)
	JZ(LabelRef("done"))
	scl, bias := YMM(), YMM()
	Load(Param("scale"), scl.AsX())
	VBROADCASTSD(scl.AsX(), scl)
	neg := YMM()
	VMOVUPD(c.negImag, neg)
	VXORPD(neg, scl, scl) // (s, -s, s, -s)
	Load(Param("bias"), bias.AsX())
	if size == 4 {
		VBROADCASTSS(bias.AsX(), bias.AsX())
	} else {
		VBROADCASTSD(bias.AsX(), bias)
	}
	SHLQ(U8(map[int]uint64{4: 2, 8: 3}[size]), ld) // bytes
	ld3, d4 := GP64(), GP64()
	LEAQ(Mem{Base: ld, Index: ld, Scale: 2}, ld3)
	LEAQ(Mem{Base: d, Index: ld, Scale: 4}, d4)
	row := func(r int) Mem {
		if r >= 4 {
			return strided(d4, ld, ld3, r-4)
		}
		return strided(d, ld, ld3, r)
	}
	Label("loop")
	for u := range 4 {
		v := YMM()
		VMULPD(Mem{Base: zp, Disp: 32 * u}, scl, v)
		if size == 4 {
			x := XMM()
			VCVTPD2PSY(v, x)
			VADDPS(bias.AsX(), x, x)
			VMOVLPS(x, row(2*u))
			VMOVHPS(x, row(2*u+1))
		} else {
			VADDPD(bias, v, v)
			VMOVUPD(v.AsX(), row(2*u))
			VEXTRACTF128(U8(1), v, row(2*u+1))
		}
	}
	ADDQ(U32(128), zp)
	ADDQ(U32(2*size), d)
	ADDQ(U32(2*size), d4)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
