package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The tables of F(4×4, 3×3) on the points 0, 1, -1, ½, -2 and ∞, scaled so
// that every coefficient is an integer: wino43BT and wino43AT of the
// engine's wino43.go, in the same order of summation.
var (
	bt43 = [6][]term{
		{{0, 2}, {1, -3}, {2, -4}, {3, 3}, {4, 2}},
		{{2, 1}, {1, -2}, {3, 5}, {4, 2}},
		{{1, 2}, {2, -5}, {3, 1}, {4, 2}},
		{{3, 2}, {1, -2}, {2, -1}, {4, 1}},
		{{1, 1}, {2, -2}, {3, -1}, {4, 2}},
		{{1, 2}, {2, -3}, {3, -4}, {4, 3}, {5, 2}},
	}
	at43 = [4][]term{
		{{0, 1}, {1, 1}, {2, 1}, {3, 8}, {4, 1}},
		{{1, 1}, {2, -1}, {3, 4}, {4, -2}},
		{{1, 1}, {2, 1}, {3, 2}, {4, 4}},
		{{1, 1}, {2, -1}, {3, 1}, {4, -8}, {5, 1}},
	}
)

// consts holds a register of broadcast constants per coefficient magnitude
// that a table multiplies by (every one but 1 and 2).
type consts map[int]reg.VecVirtual

// constants emits the broadcast registers for the coefficients of tables.
func (k kind) constants(vreg func() reg.VecVirtual, tables ...[]term) consts {
	cs := consts{}
	for _, ts := range tables {
		for _, t := range ts {
			c := max(t.c, -t.c)
			if _, ok := cs[c]; ok || c <= 2 {
				continue
			}
			r := vreg()
			if k.size == 4 {
				g := GP32()
				MOVL(U32(math.Float32bits(float32(c))), g)
				VMOVD(g, r.AsX())
				VBROADCASTSS(r.AsX(), r)
			} else {
				g := GP64()
				MOVQ(U64(math.Float64bits(float64(c))), g)
				VMOVQ(g, r.AsX())
				VBROADCASTSD(r.AsX(), r)
			}
			cs[c] = r
		}
	}
	return cs
}

// sum emits dst = Σ c·cell(i) over terms, in order: a coefficient ±1 as
// the cell itself, ±2 as a cell added to itself, one of magnitude 3 or more
// as a product with its constant from cs (see constants), rounded before
// the sum; the first term's coefficient is positive. cell returns a memory
// or register operand; tmp is scratch. cs may be nil for tables of ±1 and
// ±2 only.
func (k kind) sum(terms []term, cell func(int) Op, dst, tmp reg.VecVirtual, cs consts) {
	value := func(t term, into reg.VecVirtual) Op {
		switch t.c {
		case 1, -1:
			return cell(t.i)
		case 2, -2:
			VMOVUPS(cell(t.i), into)
			k.add(into, into, into)
		default:
			k.mul(cell(t.i), cs[max(t.c, -t.c)], into)
		}
		return into
	}
	if v := value(terms[0], dst); v != dst {
		VMOVUPS(v, dst)
	}
	for _, t := range terms[1:] {
		v := value(t, tmp)
		if t.c < 0 {
			k.sub(v, dst, dst)
		} else {
			k.add(v, dst, dst)
		}
	}
}

// flat lists every term of a table, for constants.
func flat(rows ...[]term) []term {
	var all []term
	for _, r := range rows {
		all = append(all, r...)
	}
	return all
}

// input43 emits wino43InAVX512<T>(v, x []T, ld, vx int), the input
// transform of F(4×4, 3×3) (see wino43.go) for lanes tiles side by side of
// one channel, read from plain rows: tile t's window has row r at
// x[r*ld + 4t:], columns 0 to 5. Element ξ = 6i+j of tile t goes to
//
//	v[ξ*vx + t] = (Bᵀ·d·B)[i][j].
//
// Each window row is loaded as four registers and split into its six
// columns (four phases by two-source permutes, the last two by shifting
// the first two one tile along); then along the rows first, each row's
// six sums stored in v, then down the columns, in place, as
// wino43InputGo. YMM registers with AVX-512VL's permutes and shifts.
func input43(k kind) {
	TEXT("wino43InAVX512"+k.name, NOSPLIT, fmt.Sprintf("func(v, x []%s, ld, vx int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("wino43InAVX512%s transforms %d input tiles of one channel; see wino43Input.", k.name, k.lanes))
	k.input43Body(YMM, k.lanes, phaseIndex(k, "wino43idx", k.lanes))
}

// input43x2 emits wino43In2AVX512<T>, input43's transform for twice the
// tiles side by side (two groups), on ZMM registers.
func input43x2(k kind) {
	TEXT("wino43In2AVX512"+k.name, NOSPLIT, fmt.Sprintf("func(v, x []%s, ld, vx int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("wino43In2AVX512%s transforms %d input tiles of one channel; see wino43Input2.", k.name, 2*k.lanes))
	k.input43Body(ZMM, 2*k.lanes, phaseIndex(k, "wino43idx2", 2*k.lanes))
}

// phaseIndex emits the permute indices that gather phase p (columns p,
// p+4, p+8, ...) of two registers of w elements into the first w/2 lanes
// of one, phase after phase, w elements each.
func phaseIndex(k kind, name string, w int) Mem {
	m := GLOBL(name+k.name, RODATA|NOPTR)
	for p := range 4 {
		for j := range w {
			v := 0
			if j < w/2 {
				v = p + 4*j
			}
			if k.size == 4 {
				DATA(4*(p*w+j), U32(v))
			} else {
				DATA(8*(p*w+j), U64(v))
			}
		}
	}
	return m
}

// input43Body emits the input transform of w tiles with registers from
// vreg, idx being phaseIndex's table for w.
func (k kind) input43Body(vreg func() reg.VecVirtual, w int, idx Mem) {
	vp := Load(Param("v").Base(), GP64())
	row := Load(Param("x").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	vx := Load(Param("vx"), GP64())
	sh := k.shift()
	SHLQ(sh, vx)
	SHLQ(sh, ld)
	permi2, align, bcast := VPERMI2PS, VALIGND, VBROADCASTSS
	if k.size == 8 {
		permi2, align, bcast = VPERMI2PD, VALIGNQ, VBROADCASTSD
	}
	cs := k.constants(vreg, flat(bt43[:]...))
	dst := GP64()
	MOVQ(vp, dst)
	for r := range 6 {
		if r > 0 {
			ADDQ(ld, row)
		}
		var l [4]reg.VecVirtual
		for i := range l {
			l[i] = vreg()
			VMOVUPS(Mem{Base: row, Disp: i * w * k.size}, l[i])
		}
		var d [6]reg.VecVirtual
		for p := range 4 {
			a, b := vreg(), vreg()
			at := idx.Offset(p * w * k.size)
			VMOVDQU64(at, a)
			VMOVDQU64(at, b)
			permi2(l[1], l[0], a)
			permi2(l[3], l[2], b)
			d[p] = vreg()
			if w*k.size == 64 {
				VSHUFF64X2(U8(0x44), b, a, d[p])
			} else {
				VPERM2F128(U8(0x20), b, a, d[p])
			}
		}
		for p := 4; p < 6; p++ {
			next := vreg()
			bcast(Mem{Base: row, Disp: (4*w + p - 4) * k.size}, next)
			d[p] = vreg()
			align(U8(1), d[p-4], next, d[p])
		}
		// Row r times B, stored at positions 6r to 6r+5.
		out, tmp := vreg(), vreg()
		for j := range bt43 {
			k.sum(bt43[j], func(c int) Op { return d[c] }, out, tmp, cs)
			VMOVUPS(out, Mem{Base: dst})
			ADDQ(vx, dst)
		}
	}
	// Then Bᵀ times each column j, in place: positions j, 6+j, ..., 30+j.
	vx6 := GP64()
	LEAQ(Mem{Base: vx, Index: vx, Scale: 2}, vx6)
	ADDQ(vx6, vx6)
	col, col2, col4 := GP64(), GP64(), GP64()
	MOVQ(vp, col)
	for j := range 6 {
		if j > 0 {
			ADDQ(vx, col)
		}
		cells := column6(col, col2, col4, vx6)
		var e [6]reg.VecVirtual
		for r := range e {
			e[r] = vreg()
			VMOVUPS(cells[r], e[r])
		}
		out, tmp := vreg(), vreg()
		for i := range bt43 {
			k.sum(bt43[i], func(r int) Op { return e[r] }, out, tmp, cs)
			VMOVUPS(out, cells[i])
		}
	}
	VZEROUPPER()
	RET()
}

// output43 emits wino43OutAVX2<T>(y, m, bias []T, n, mc, mx, ldy, yc int),
// the output transform of F(4×4, 3×3) for lanes tiles side by side and n
// channels: with element ξ = 6i+j of tile t of channel o at
// m[ξ*mx + o*mc + t], output (r, s) of tile t of channel o goes to
// y[o*yc + r*ldy + 4t + s]:
//
//	Y = Aᵀ·M·A + bias[o],
//
// down the columns first, then along the rows, then the bias, as
// wino43OutputGo. Each output row's four columns are interleaved by a 4×4
// transpose within the 128-bit halves, then the halves put in order.
func output43(k kind) {
	TEXT("wino43OutAVX2"+k.name, NOSPLIT, fmt.Sprintf("func(y, m, bias []%s, n, mc, mx, ldy, yc int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("wino43OutAVX2%s transforms %d output tiles of n channels back; see wino43Output.", k.name, k.lanes))
	yp := Load(Param("y").Base(), GP64())
	k.output43Body(YMM, []reg.Register{yp}, func(row reg.Register, y [4]reg.VecVirtual) {
		for i, o := range k.interleave4(y) {
			VMOVUPS(o, Mem{Base: row, Disp: 32 * i})
		}
	})
}

// output43x2 emits wino43Out2AVX512<T>(y, y2, m, bias []T, n, mc, mx, ldy,
// yc, cols2 int), output43's transform for two groups of lanes tiles at
// once, side by side in m (2·lanes tiles): the first group's outputs go
// to y, the first cols2 columns of each row of the second's to y2 (masked
// stores), as two calls of wino43OutputGo would write them. The
// arithmetic is output43's, on ZMM registers; the four columns are
// interleaved by two rounds of two-source permutes.
func output43x2(k kind) {
	w := 2 * k.lanes     // elements of a ZMM register
	var pair [2][]uint64 // round 1: columns 0 and 1 (or 2 and 3) of the low, high half's tiles
	var quad [2][]uint64 // round 2: the pairs of columns 0, 1 and 2, 3 of w/4 tiles
	for h := range 2 {
		for i := range w {
			v := uint64(h*w/2 + i/2)
			if i%2 == 1 {
				v += uint64(w)
			}
			pair[h] = append(pair[h], v)
			t, c := i/4, i%4
			q := uint64(2*(h*w/4+t) + c%2)
			if c >= 2 {
				q += uint64(w)
			}
			quad[h] = append(quad[h], q)
		}
	}
	idx := func(name string, v []uint64) Mem {
		m := GLOBL(name+k.name, RODATA|NOPTR)
		for i, x := range v {
			if k.size == 4 {
				DATA(4*i, U32(x))
			} else {
				DATA(8*i, U64(x))
			}
		}
		return m
	}
	mems := []Mem{idx("wino43pairlo", pair[0]), idx("wino43pairhi", pair[1]), idx("wino43quadlo", quad[0]), idx("wino43quadhi", quad[1])}
	TEXT("wino43Out2AVX512"+k.name, NOSPLIT, fmt.Sprintf("func(y, y2, m, bias []%s, n, mc, mx, ldy, yc, cols2 int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("wino43Out2AVX512%s transforms two groups of %d output tiles of n channels back; see wino43Output2.", k.name, k.lanes))
	// The second group's store masks: the low cols2 bits of two
	// registers' lanes.
	var km [2]reg.OpmaskVirtual
	cols2 := Load(Param("cols2"), GP64())
	ones := GP64()
	XORQ(ones, ones)
	NOTQ(ones)
	BZHIQ(cols2, ones, ones)
	for q := range km {
		if q > 0 {
			SHRQ(U8(w), ones)
		}
		km[q] = K()
		KMOVW(ones.As32(), km[q])
	}
	yp := Load(Param("y").Base(), GP64())
	y2p := Load(Param("y2").Base(), GP64())
	var ix [4]reg.VecVirtual
	for i, m := range mems {
		ix[i] = ZMM()
		VMOVDQU64(m, ix[i])
	}
	row2 := GP64()
	k.output43Body(ZMM, []reg.Register{yp, y2p}, func(row reg.Register, y [4]reg.VecVirtual) {
		// Columns 0, 1 and 2, 3 paired, for the low and the high half of
		// the tiles, then the pairs of each tile side by side.
		var p [2][2]reg.VecVirtual // p[half][0: columns 0, 1; 1: columns 2, 3]
		for h := range 2 {
			for c := range 2 {
				p[h][c] = ZMM()
				VMOVUPS(y[2*c], p[h][c])
				k.permt2(y[2*c+1], ix[h], p[h][c])
			}
		}
		MOVQ(row, row2)
		SUBQ(yp, row2)
		ADDQ(y2p, row2)
		for h, dst := range []reg.Register{row, row2} {
			for q := range 2 {
				o := ZMM()
				VMOVUPS(p[h][0], o)
				k.permt2(p[h][1], ix[2+q], o)
				if h == 0 {
					VMOVUPS(o, Mem{Base: dst, Disp: q * 64})
				} else {
					// The mask's bits are elements: VMOVUPD for float64.
					if k.size == 8 {
						VMOVUPD(o, km[q], Mem{Base: dst, Disp: q * 64})
					} else {
						VMOVUPS(o, km[q], Mem{Base: dst, Disp: q * 64})
					}
				}
			}
		}
	})
}

// output43Body emits the loop over channels of the output transforms with
// registers from vreg: row by row of Aᵀ·M·A, each output row's four
// columns y (before their interleave) handed to store with the row's
// pointer into the first of ys. Every pointer in ys moves on by yc per
// channel.
func (k kind) output43Body(vreg func() reg.VecVirtual, ys []reg.Register, store func(row reg.Register, y [4]reg.VecVirtual)) {
	mp := Load(Param("m").Base(), GP64())
	bp := Load(Param("bias").Base(), GP64())
	n := Load(Param("n"), GP64())
	mc := Load(Param("mc"), GP64())
	mx := Load(Param("mx"), GP64())
	ldy := Load(Param("ldy"), GP64())
	yc := Load(Param("yc"), GP64())
	sh := k.shift()
	SHLQ(sh, mc)
	SHLQ(sh, mx)
	SHLQ(sh, ldy)
	SHLQ(sh, yc)
	// mx6 is the distance between two rows i of M.
	mx6 := GP64()
	LEAQ(Mem{Base: mx, Index: mx, Scale: 2}, mx6)
	ADDQ(mx6, mx6)
	cs := k.constants(vreg, flat(at43[:]...))
	col, col2, col4, row := GP64(), GP64(), GP64(), GP64()
	Label("chan43")
	TESTQ(n, n)
	JE(LabelRef("done43"))
	b := vreg()
	k.broadcast(Mem{Base: bp}, b)
	MOVQ(ys[0], row)
	for r := range at43 {
		// Row r of Aᵀ·M, column by column, from memory: column j's
		// elements are mx6 apart from m + j·mx.
		var s [6]reg.VecVirtual
		MOVQ(mp, col)
		for j := range s {
			if j > 0 {
				ADDQ(mx, col)
			}
			cells := column6(col, col2, col4, mx6)
			s[j] = vreg()
			k.sum(at43[r], func(i int) Op { return cells[i] }, s[j], vreg(), cs)
		}
		var y [4]reg.VecVirtual
		for c := range y {
			y[c] = vreg()
			k.sum(at43[c], func(j int) Op { return s[j] }, y[c], vreg(), cs)
			k.add(b, y[c], y[c])
		}
		if r > 0 {
			ADDQ(ldy, row)
		}
		store(row, y)
	}
	ADDQ(mc, mp)
	for _, y := range ys {
		ADDQ(yc, y)
	}
	ADDQ(U8(k.size), bp)
	DECQ(n)
	JMP(LabelRef("chan43"))
	Label("done43")
	VZEROUPPER()
	RET()
}

// column6 emits the addresses of six cells stride bytes apart from col,
// through col2 and col4 (set here to col + 2·stride and col + 4·stride),
// since an index scales only by 1, 2, 4 or 8.
func column6(col, col2, col4, stride reg.Register) [6]Mem {
	LEAQ(Mem{Base: col, Index: stride, Scale: 2}, col2)
	LEAQ(Mem{Base: col, Index: stride, Scale: 4}, col4)
	return [6]Mem{
		{Base: col}, {Base: col, Index: stride, Scale: 1}, {Base: col2},
		{Base: col2, Index: stride, Scale: 1}, {Base: col4}, {Base: col4, Index: stride, Scale: 1},
	}
}

// interleave4 emits the registers that hold the columns y[0..3] of lanes
// tiles interleaved, tile by tile: column s of tile t at element 4t+s of
// the four registers in order.
func (k kind) interleave4(y [4]reg.VecVirtual) [4]reg.VecVirtual {
	var o [4]reg.VecVirtual
	for i := range o {
		o[i] = YMM()
	}
	if k.size == 8 {
		// Four doubles a register: pairs within the halves, then halves.
		a, b, c, d := YMM(), YMM(), YMM(), YMM()
		VUNPCKLPD(y[1], y[0], a)
		VUNPCKHPD(y[1], y[0], b)
		VUNPCKLPD(y[3], y[2], c)
		VUNPCKHPD(y[3], y[2], d)
		VPERM2F128(U8(0x20), c, a, o[0])
		VPERM2F128(U8(0x20), d, b, o[1])
		VPERM2F128(U8(0x31), c, a, o[2])
		VPERM2F128(U8(0x31), d, b, o[3])
		return o
	}
	a, b, c, d := YMM(), YMM(), YMM(), YMM()
	VUNPCKLPS(y[1], y[0], a)
	VUNPCKHPS(y[1], y[0], b)
	VUNPCKLPS(y[3], y[2], c)
	VUNPCKHPS(y[3], y[2], d)
	e, f, g, h := YMM(), YMM(), YMM(), YMM()
	VUNPCKLPD(c, a, e)
	VUNPCKHPD(c, a, f)
	VUNPCKLPD(d, b, g)
	VUNPCKHPD(d, b, h)
	VPERM2F128(U8(0x20), f, e, o[0])
	VPERM2F128(U8(0x20), h, g, o[1])
	VPERM2F128(U8(0x31), f, e, o[2])
	VPERM2F128(U8(0x31), h, g, o[3])
	return o
}
