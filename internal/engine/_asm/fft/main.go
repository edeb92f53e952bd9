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

// A YMM register holds two complex128 values, (re, im, re, im), or four
// complex64 ones. Each pass runs its butterflies over two (four) adjacent
// elements of the s interleaved sequences at once; every element of one
// loop shares the twiddles, which the stage stores spread (see
// fftStage.twx): the real part in every lane of one register, then
// (-im, im) in every pair of lanes of the next, 64 bytes per twiddle.

// consts are the pass's constants in memory, each in every lane, in one
// precision; its methods emit the instructions of that precision.
type consts struct {
	c64     bool // complex64 (PS instructions), else complex128 (PD)
	negImag Mem  // the sign bit of the imaginary lanes
	vals    map[string]Mem
}

func main() {
	ConstraintExpr("!purego")
	var cs []consts
	for _, c64 := range []bool{false, true} {
		cs = append(cs, constants(c64))
	}
	// The complex128 routines, then their complex64 twins for float32
	// requests.
	for _, c := range cs {
		for _, p := range []int{2, 3, 4, 5} {
			pass(p, c)
		}
		mulConj(false, c)
		mulConj(true, c)
		split(c)
		join(c)
		if c.c64 {
			unpack(4, cs[0], true)
			continue
		}
		for _, size := range []int{4, 8} {
			pack(size)
			unpack(size, c, false)
		}
	}
	Generate()
}

// constants lays out the constants of one precision.
func constants(c64 bool) consts {
	c := consts{c64: c64, vals: map[string]Mem{}}
	tag := ""
	if c64 {
		tag = "32"
	}
	c.negImag = GLOBL("fftNegImag"+tag, RODATA|NOPTR)
	for i := range 4 {
		if c64 {
			DATA(8*i, U64(uint64(1)<<63))
		} else {
			DATA(8*i, U64(uint64(i%2)<<63))
		}
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
		m := GLOBL("fft"+v.name+tag, RODATA|NOPTR)
		for i := range 4 {
			if c64 {
				b := uint64(math.Float32bits(float32(v.val)))
				DATA(8*i, U64(b|b<<32))
			} else {
				DATA(8*i, U64(math.Float64bits(v.val)))
			}
		}
		c.vals[v.name] = m
	}
	return c
}

// name is a routine's name in this precision: base, then C64 for
// complex64, then AVX2.
func (c consts) name(base string) string {
	if c.c64 {
		return base + "C64AVX2"
	}
	return base + "AVX2"
}

// typ is the Go element type of this precision.
func (c consts) typ() string {
	if c.c64 {
		return "complex64"
	}
	return "complex128"
}

// esz is the size in bytes of one complex value.
func (c consts) esz() int {
	if c.c64 {
		return 8
	}
	return 16
}

// twiddleType is the Go type of the spread twiddles a routine takes.
func (c consts) twiddleType() string {
	if c.c64 {
		return "[]float32"
	}
	return "[]float64"
}

// pass emits fftPass<p>AVX2(y, x []complex128, s, m int, twx []float64):
// y[k + s·(p·q + t)] = w^{q·t} Σ_r x[k + s·(q + r·m)] e^{-2πi·r·t/p} for
// q < m and k < s, s even, twiddles from twx.
func pass(p int, c consts) {
	name := c.name(fmt.Sprintf("fftPass%d", p))
	TEXT(name, NOSPLIT, fmt.Sprintf("func(y, x []%s, s, m int, twx %s)", c.typ(), c.twiddleType()))
	Pragma("noescape")
	Doc(fmt.Sprintf("%s runs one radix-%d stage of the FFT; see fftStage.pass.", name, p))
	b := Load(Param("y").Base(), GP64())
	a := Load(Param("x").Base(), GP64())
	sb := Load(Param("s"), GP64())
	m := Load(Param("m"), GP64())
	tw := Load(Param("twx").Base(), GP64())

	// Bytes per run of s elements, and between the inputs of a
	// butterfly: s·m elements.
	SHLQ(U8(map[bool]uint64{false: 4, true: 3}[c.c64]), sb)
	mb := GP64()
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
	neg := c.load(c.negImag)

	k := GP64()
	Label("q")
	MOVQ(sb, k)
	SHRQ(U8(5), k) // registers of elements in a run
	Label("k")
	x := make([]reg.VecVirtual, p)
	for r := range x {
		x[r] = c.load(in(r))
	}
	ys := butterfly(p, x, neg, c)
	for t, y := range ys {
		if t > 0 {
			y = c.twiddle(y, Mem{Base: tw, Disp: 64 * (t - 1)})
		}
		c.store(y, out(t))
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
	add, sub := c.add, c.sub
	minusI := func(v, neg reg.VecVirtual) reg.VecVirtual { return c.minusI(v, neg) }
	switch p {
	case 2:
		return []reg.VecVirtual{add(x[0], x[1]), sub(x[0], x[1])}
	case 3:
		sum, dif := add(x[1], x[2]), sub(x[1], x[2])
		cc := c.move(x[0])
		c.pick(VFNMADD231PD, VFNMADD231PS)(c.vals["Half"], sum, cc) // a0 - sum/2
		d := YMM()
		c.pick(VMULPD, VMULPS)(c.vals["H3"], minusI(dif, neg), d)
		return []reg.VecVirtual{add(x[0], sum), add(cc, d), sub(cc, d)}
	case 4:
		b0, b1 := add(x[0], x[2]), sub(x[0], x[2])
		b2, b3 := add(x[1], x[3]), minusI(sub(x[1], x[3]), neg)
		return []reg.VecVirtual{add(b0, b2), add(b1, b3), sub(b0, b2), sub(b1, b3)}
	default: // 5
		fma, fnma, mul := c.pick(VFMADD231PD, VFMADD231PS), c.pick(VFNMADD231PD, VFNMADD231PS), c.pick(VMULPD, VMULPS)
		p1, m1 := add(x[1], x[4]), sub(x[1], x[4])
		p2, m2 := add(x[2], x[3]), sub(x[2], x[3])
		y0 := add(x[0], add(p1, p2))
		r1, r2 := YMM(), YMM()
		c.pick(VMOVAPD, VMOVAPS)(x[0], r1)
		fma(c.vals["C1"], p1, r1)
		fma(c.vals["C2"], p2, r1)
		c.pick(VMOVAPD, VMOVAPS)(x[0], r2)
		fma(c.vals["C2"], p1, r2)
		fma(c.vals["C1"], p2, r2)
		i1, i2 := YMM(), YMM()
		mul(c.vals["S1"], m1, i1)
		fma(c.vals["S2"], m2, i1)
		mul(c.vals["S2"], m1, i2)
		fnma(c.vals["S1"], m2, i2)
		i1, i2 = minusI(i1, neg), minusI(i2, neg)
		return []reg.VecVirtual{y0, add(r1, i1), add(r2, i2), sub(r2, i2), sub(r1, i1)}
	}
}

// pick returns the complex128 instruction pd or the complex64 one ps.
func (c consts) pick(pd, ps func(...Op)) func(...Op) {
	if c.c64 {
		return ps
	}
	return pd
}

func (c consts) load(m Mem) reg.VecVirtual {
	d := YMM()
	c.pick(VMOVUPD, VMOVUPS)(m, d)
	return d
}

func (c consts) store(v reg.VecVirtual, m Mem) { c.pick(VMOVUPD, VMOVUPS)(v, m) }

func (c consts) move(v reg.VecVirtual) reg.VecVirtual {
	d := YMM()
	c.pick(VMOVAPD, VMOVAPS)(v, d)
	return d
}

func (c consts) add(a, b reg.VecVirtual) reg.VecVirtual {
	d := YMM()
	c.pick(VADDPD, VADDPS)(b, a, d)
	return d
}

func (c consts) sub(a, b reg.VecVirtual) reg.VecVirtual {
	d := YMM()
	c.pick(VSUBPD, VSUBPS)(b, a, d)
	return d
}

// swap exchanges the real and imaginary lanes of each complex value.
func (c consts) swap(v Op, d reg.VecVirtual) {
	if c.c64 {
		VPERMILPS(U8(0xb1), v, d)
		return
	}
	VPERMILPD(U8(5), v, d)
}

func (c consts) xor(a, b Op, d reg.VecVirtual) { c.pick(VXORPD, VXORPS)(a, b, d) }

// minusI returns -i·v: (im, -re) in each complex lane pair.
func (c consts) minusI(v, neg reg.VecVirtual) reg.VecVirtual {
	d := YMM()
	c.swap(v, d)
	c.xor(neg, d, d)
	return d
}

// twiddle returns v times the spread twiddle at w: re·(wr) + swap(v)·(-wi, wi).
func (c consts) twiddle(v reg.VecVirtual, w Mem) reg.VecVirtual {
	sw, d := YMM(), YMM()
	c.swap(v, sw)
	c.pick(VMULPD, VMULPS)(w, v, d)
	c.pick(VFMADD231PD, VFMADD231PS)(w.Offset(32), sw, d)
	return d
}

// mulConj emits fftMulConjAVX2(acc, x, k []complex128), which sets acc[i]
// to conj(x[i])·k[i], or with add fftMulConjAddAVX2, which adds it, for
// every i < len(x) rounded down to a multiple of eight (the caller does
// the rest).
func mulConj(add bool, c consts) {
	name := c.name("fftMulConj")
	if add {
		name = c.name("fftMulConjAdd")
	}
	TEXT(name, NOSPLIT, fmt.Sprintf("func(acc, x, k []%s)", c.typ()))
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
	neg := c.load(c.negImag)
	Label("loop")
	// Eight values: four registers of complex128, two of complex64.
	for u := range c.esz() / 4 {
		d := 32 * u
		// conj(x) = (a, b); k = (c, d): (a·c - b·d, b·c + a·d).
		xc, kr, ki, t := YMM(), YMM(), YMM(), YMM()
		c.xor(Mem{Base: xp, Disp: d}, neg, xc)
		if c.c64 {
			VMOVSLDUP(Mem{Base: kp, Disp: d}, kr)
			VMOVSHDUP(Mem{Base: kp, Disp: d}, ki)
		} else {
			VMOVDDUP(Mem{Base: kp, Disp: d}, kr)
			VPERMILPD(U8(15), Mem{Base: kp, Disp: d}, ki)
		}
		c.swap(xc, t)
		c.pick(VMULPD, VMULPS)(ki, t, t)
		c.pick(VFMADDSUB231PD, VFMADDSUB231PS)(kr, xc, t)
		if add {
			c.pick(VADDPD, VADDPS)(Mem{Base: ap, Disp: d}, t, t)
		}
		c.store(t, Mem{Base: ap, Disp: d})
	}
	step := U32(8 * c.esz())
	ADDQ(step, ap)
	ADDQ(step, xp)
	ADDQ(step, kp)
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
	name := c.name("fftSplit")
	TEXT(name, NOSPLIT, fmt.Sprintf("func(spec, z []%s, offs []int, wx %s, m int)", c.typ(), c.twiddleType()))
	Pragma("noescape")
	Doc(name + " separates the coefficients of eight packed real transforms; see rfft.forward.")
	blk := 8 * c.esz() // bytes of one coefficient of eight sequences
	sp := Load(Param("spec").Base(), GP64())
	za := Load(Param("z").Base(), GP64())
	op := Load(Param("offs").Base(), GP64())
	wp := Load(Param("wx").Base(), GP64())
	m := Load(Param("m"), GP64())
	zb := GP64()
	// za at z[8k], zb at z[8(m-k)], from k = 1.
	MOVQ(m, zb)
	SHLQ(U8(map[bool]uint64{false: 7, true: 6}[c.c64]), zb)
	ADDQ(za, zb)
	SUBQ(U32(blk), zb)
	ADDQ(U32(blk), za)
	ADDQ(U32(8), op)
	ADDQ(U32(64), wp)
	DECQ(m)
	JLE(LabelRef("done"))
	neg, half := c.load(c.negImag), c.load(c.vals["Half"])
	out := GP64()
	Label("loop")
	MOVQ(Mem{Base: op}, out)
	SHLQ(U8(map[bool]uint64{false: 4, true: 3}[c.c64]), out)
	ADDQ(sp, out)
	for u := range c.esz() / 4 {
		a, bc := c.load(Mem{Base: za, Disp: 32 * u}), YMM()
		c.xor(Mem{Base: zb, Disp: 32 * u}, neg, bc)
		s, d := c.add(a, bc), c.sub(a, bc)
		v := c.add(s, c.twiddle(c.minusI(d, neg), Mem{Base: wp}))
		c.pick(VMULPD, VMULPS)(half, v, v)
		c.scatter(v, out, u)
	}
	ADDQ(U32(blk), za)
	SUBQ(U32(blk), zb)
	ADDQ(U32(8), op)
	ADDQ(U32(64), wp)
	DECQ(m)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// scatter stores register u of one coefficient of eight sequences, v, to
// their rows of a spectrum at out (rows specBlock coefficients apart, see
// specAt): two rows of a complex128 register, four of a complex64 one.
func (c consts) scatter(v reg.VecVirtual, out reg.Register, u int) {
	if !c.c64 {
		VMOVUPD(v.AsX(), Mem{Base: out, Disp: 256 * u})
		VEXTRACTF128(U8(1), v, Mem{Base: out, Disp: 256*u + 128})
		return
	}
	row := func(r int) Mem { return Mem{Base: out, Disp: 64 * (4*u + r)} }
	hi := XMM()
	VEXTRACTF128(U8(1), v, hi)
	VMOVLPS(v.AsX(), row(0))
	VMOVHPS(v.AsX(), row(1))
	VMOVLPS(hi, row(2))
	VMOVHPS(hi, row(3))
}

// gather is the inverse of scatter: register u of one coefficient of eight
// sequences, from their rows of a spectrum at in.
func (c consts) gather(in reg.Register, u int) reg.VecVirtual {
	a := YMM()
	if !c.c64 {
		VMOVUPD(Mem{Base: in, Disp: 256 * u}, a.AsX())
		VINSERTF128(U8(1), Mem{Base: in, Disp: 256*u + 128}, a, a)
		return a
	}
	row := func(r int) Mem { return Mem{Base: in, Disp: 64 * (4*u + r)} }
	hi := XMM()
	VMOVSD(row(0), a.AsX())
	VMOVHPS(row(1), a.AsX(), a.AsX())
	VMOVSD(row(2), hi)
	VMOVHPS(row(3), hi, hi)
	VINSERTF128(U8(1), hi, a, a)
	return a
}

// join emits fftJoinAVX2(z, spec []complex128, offs []int, wx []float64,
// m int): the inverse real transform's first step for eight sequences
// (see rfft.inverse), k < m, from spec[offs[k] + 8c] and spec[offs[m-k] +
// 8c] for sequence c, which hold conjugated coefficients. wx holds
// e^{+2πik/n} spread like a twiddle.
func join(c consts) {
	name := c.name("fftJoin")
	TEXT(name, NOSPLIT, fmt.Sprintf("func(z, spec []%s, offs []int, wx %s, m int)", c.typ(), c.twiddleType()))
	Pragma("noescape")
	Doc(name + " packs eight half spectra for the inverse real transforms; see rfft.inverse.")
	zp := Load(Param("z").Base(), GP64())
	sp := Load(Param("spec").Base(), GP64())
	oa := Load(Param("offs").Base(), GP64())
	wp := Load(Param("wx").Base(), GP64())
	m := Load(Param("m"), GP64())
	ob := GP64()
	LEAQ(Mem{Base: oa, Index: m, Scale: 8}, ob) // &offs[m]
	TESTQ(m, m)
	JLE(LabelRef("done"))
	neg := c.load(c.negImag)
	pa, pb := GP64(), GP64()
	shift := U8(map[bool]uint64{false: 4, true: 3}[c.c64])
	Label("loop")
	MOVQ(Mem{Base: oa}, pa)
	SHLQ(shift, pa)
	ADDQ(sp, pa)
	MOVQ(Mem{Base: ob}, pb)
	SHLQ(shift, pb)
	ADDQ(sp, pb)
	for u := range c.esz() / 4 {
		a, bb := c.gather(pa, u), c.gather(pb, u)
		c.xor(neg, a, a) // the true coefficient
		e, d := c.add(a, bb), c.sub(a, bb)
		o := c.twiddle(d, Mem{Base: wp})
		v := c.sub(e, c.minusI(o, neg)) // 2E + i·2O
		c.xor(neg, v, v)
		c.store(v, Mem{Base: zp, Disp: 32 * u})
	}
	ADDQ(U32(8*c.esz()), zp)
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
//
// With c64 z holds complex64 values, widened to float64 before the
// product, so the rounding is the same.
func unpack(size int, c consts, c64 bool) {
	name, ztyp := "fftUnpack"+suffix(size)+"AVX2", "complex128"
	if c64 {
		name, ztyp = "fftUnpack"+suffix(size)+"C64AVX2", "complex64"
	}
	typ := "float64"
	if size == 4 {
		typ = "float32"
	}
	TEXT(name, NOSPLIT, "func(dst []"+typ+", ld int, z []"+ztyp+", cells int, scale float64, bias "+typ+")")
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
		if c64 {
			VCVTPS2PD(Mem{Base: zp, Disp: 16 * u}, v)
			VMULPD(v, scl, v)
		} else {
			VMULPD(Mem{Base: zp, Disp: 32 * u}, scl, v)
		}
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
	ADDQ(U32(map[bool]uint64{false: 128, true: 64}[c64]), zp)
	ADDQ(U32(2*size), d)
	ADDQ(U32(2*size), d4)
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}
