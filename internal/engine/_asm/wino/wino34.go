package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// at34 is Aᵀ of F(3×3, 4×4) on the points of F(4×4, 3×3), whose Bᵀ (bt43)
// it shares: wino34AT of the engine's wino34.go, in the same order of
// summation.
var at34 = [3][]term{
	{{0, 1}, {1, 1}, {2, 1}, {3, 4}, {4, 1}},
	{{1, 1}, {2, -1}, {3, 2}, {4, -2}},
	{{1, 1}, {2, 1}, {3, 1}, {4, 4}, {5, 1}},
}

// movMasked emits a masked store (or a zeroing load, with zero) of one
// register: the mask's bits are elements, so VMOVUPD for float64.
func (k kind) movMasked(src Op, m reg.OpmaskVirtual, dst Op, zero bool) {
	switch {
	case zero && k.size == 8:
		VMOVUPD_Z(src, m, dst)
	case zero:
		VMOVUPS_Z(src, m, dst)
	case k.size == 8:
		VMOVUPD(src, m, dst)
	default:
		VMOVUPS(src, m, dst)
	}
}

// store emits the store of o to dst under mask m, for which the caller
// sets every bit of the low 16 where it stores the whole register: none
// (skipped), all (a plain store) or some (a masked store, which costs
// several times a plain one). name makes the labels unique.
func (k kind) store(o reg.VecVirtual, m reg.OpmaskVirtual, dst Mem, name string) {
	KORTESTW(m, m)
	JZ(LabelRef(name + "_skip"))
	JC(LabelRef(name + "_whole"))
	k.movMasked(o, m, dst, false)
	JMP(LabelRef(name + "_skip"))
	Label(name + "_whole")
	VMOVUPS(o, dst)
	Label(name + "_skip")
}

// addr is the memory operand of an integer parameter.
func addr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// loadMask emits an opmask register holding the low bits of a parameter.
func loadMask(param Mem) reg.OpmaskVirtual {
	g := GP64()
	MOVQ(param, g)
	m := K()
	KMOVW(g.As32(), m)
	return m
}

// input34 emits wino34InAVX512<T>(v, x []T, cols []int, ld, vx, mask int),
// the input transform of F(3×3, 4×4) on the stride-2 path (see wino34.go)
// for two groups of lanes tiles side by side of one part channel, on ZMM
// registers, of which only the lanes in mask are loaded and stored:
// element ξ = 6i+j of tile t goes to
//
//	v[ξ*vx + t] = (Bᵀ·d·B)[i][j]
//
// where d's row r is at x[r*ld:] and its column c at cols[c] in the row.
// Down the columns first, each column's six sums stored in v, then along
// the rows in place, as wino34InputGo.
func input34(k kind) {
	TEXT("wino34InAVX512"+k.name, NOSPLIT, fmt.Sprintf("func(v, x []%s, cols []int, ld, vx, mask int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("wino34InAVX512%s transforms up to %d input tiles of one part channel; see wino34Input.", k.name, 2*k.lanes))
	km := loadMask(addr("mask"))
	// Two groups take the transform without masks (whose stores cost
	// several times a plain one); one group takes it masked.
	KORTESTW(km, km)
	JC(LabelRef("whole34"))
	k.input34Body(km)
	Label("whole34")
	k.input34Body(nil)
}

// input34Body emits input34's transform, its loads and stores masked by
// km, or whole where km is nil, and its return.
func (k kind) input34Body(km reg.OpmaskVirtual) {
	load := func(src Op, dst reg.VecVirtual) {
		if km == nil {
			VMOVUPS(src, dst)
			return
		}
		k.movMasked(src, km, dst, true)
	}
	store := func(src reg.VecVirtual, dst Op) {
		if km == nil {
			VMOVUPS(src, dst)
			return
		}
		k.movMasked(src, km, dst, false)
	}
	vp := Load(Param("v").Base(), GP64())
	xp := Load(Param("x").Base(), GP64())
	cp := Load(Param("cols").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	vx := Load(Param("vx"), GP64())
	sh := k.shift()
	SHLQ(sh, ld)
	SHLQ(sh, vx)
	// vx6 is the distance between two rows i of v.
	vx6 := GP64()
	LEAQ(Mem{Base: vx, Index: vx, Scale: 2}, vx6)
	ADDQ(vx6, vx6)
	cs := k.constants(ZMM, flat(bt43[:]...))
	col, col2, col4 := GP64(), GP64(), GP64()
	dst, dst2, dst4 := GP64(), GP64(), GP64()
	for c := range 6 {
		// Column c of the window, then its six sums to v + c·vx, 6·vx
		// apart.
		MOVQ(Mem{Base: cp, Disp: 8 * c}, col)
		SHLQ(sh, col)
		ADDQ(xp, col)
		cells := column6(col, col2, col4, ld)
		var d [6]reg.VecVirtual
		for r := range d {
			d[r] = ZMM()
			load(cells[r], d[r])
		}
		if c == 0 {
			MOVQ(vp, dst)
		} else {
			ADDQ(vx, dst)
		}
		out := column6(dst, dst2, dst4, vx6)
		for i := range bt43 {
			e := ZMM()
			k.sum(bt43[i], func(r int) Op { return d[r] }, e, ZMM(), cs)
			store(e, out[i])
		}
	}
	// Row i of Bᵀ·d times B, in place.
	MOVQ(vp, dst)
	for i := range 6 {
		if i > 0 {
			ADDQ(vx6, dst)
		}
		cells := column6(dst, dst2, dst4, vx)
		var e [6]reg.VecVirtual
		for c := range e {
			e[c] = ZMM()
			load(cells[c], e[c])
		}
		for j := range bt43 {
			o := ZMM()
			k.sum(bt43[j], func(c int) Op { return e[c] }, o, ZMM(), cs)
			store(o, cells[j])
		}
	}
	VZEROUPPER()
	RET()
}

// output34 emits wino34OutAVX512<T>(y, m, bias []T, n, mc, mx, ldy, yc,
// rows int, masks []int), the output transform of F(3×3, 4×4) on the
// stride-2 path for two groups of lanes tiles side by side and n
// channels, on ZMM registers: with element ξ = 6i+j of tile t of channel
// o at m[ξ*mx + o*mc + t], output (r, s) of tile t of channel o goes to
// y[o*yc + r*ldy + 3t + s] for r < rows,
//
//	Y = Aᵀ·M·A + bias[o],
//
// down the columns first (each cell of M loaded once), then along the
// rows, then the bias, as wino34OutputGo. A row's three columns of 2·lanes tiles
// are interleaved into three registers by two rounds of two-source
// permutes and stored under masks[0..2], whose bits are the outputs of
// each register to store.
func output34(k kind) {
	w := 2 * k.lanes // elements of a ZMM register
	// Element e of output register q is column s = (w·q+e)%3 of tile
	// t = (w·q+e)/3: round one takes columns 0 and 1 from y0 and y1,
	// round two keeps those and takes column 2 from y2.
	var one, two [3][]uint64
	for q := range 3 {
		for e := range w {
			p := w*q + e
			t, s := uint64(p/3), p%3
			switch s {
			case 0:
				one[q] = append(one[q], t)
				two[q] = append(two[q], uint64(e))
			case 1:
				one[q] = append(one[q], uint64(w)+t)
				two[q] = append(two[q], uint64(e))
			default:
				one[q] = append(one[q], 0)
				two[q] = append(two[q], uint64(w)+t)
			}
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
	var mems [2][3]Mem
	for q := range 3 {
		mems[0][q] = idx(fmt.Sprintf("wino34one%d", q), one[q])
		mems[1][q] = idx(fmt.Sprintf("wino34two%d", q), two[q])
	}
	TEXT("wino34OutAVX512"+k.name, NOSPLIT, fmt.Sprintf("func(y, m, bias []%s, n, mc, mx, ldy, yc, rows int, masks []int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("wino34OutAVX512%s transforms up to %d output tiles of n channels back; see wino34Output.", k.name, w))
	mk := Load(Param("masks").Base(), GP64())
	var km [3]reg.OpmaskVirtual
	for q := range km {
		km[q] = loadMask(Mem{Base: mk, Disp: 8 * q})
	}
	yp := Load(Param("y").Base(), GP64())
	mp := Load(Param("m").Base(), GP64())
	bp := Load(Param("bias").Base(), GP64())
	n := Load(Param("n"), GP64())
	mx := Load(Param("mx"), GP64())
	ldy := Load(Param("ldy"), GP64())
	sh := k.shift()
	SHLQ(sh, mx)
	SHLQ(sh, ldy)
	// mx6 is the distance between two rows i of M.
	mx6 := GP64()
	LEAQ(Mem{Base: mx, Index: mx, Scale: 2}, mx6)
	ADDQ(mx6, mx6)
	cs := k.constants(ZMM, flat(at34[:]...))
	col, col2, col4, row := GP64(), GP64(), GP64(), GP64()
	Label("chan34")
	TESTQ(n, n)
	JE(LabelRef("done34"))
	// The three rows of Aᵀ·M, column by column, each column of M loaded
	// once: column j's elements are mx6 apart from m + j·mx.
	var s [3][6]reg.VecVirtual
	MOVQ(mp, col)
	for j := range 6 {
		if j > 0 {
			ADDQ(mx, col)
		}
		cells := column6(col, col2, col4, mx6)
		var c [6]reg.VecVirtual
		for i := range c {
			c[i] = ZMM()
			VMOVUPS(cells[i], c[i])
		}
		for r := range at34 {
			s[r][j] = ZMM()
			k.sum(at34[r], func(i int) Op { return c[i] }, s[r][j], ZMM(), cs)
		}
	}
	b := ZMM()
	k.broadcast(Mem{Base: bp}, b)
	MOVQ(yp, row)
	for r := range at34 {
		if r > 0 {
			// Rows past rows are not stored.
			CMPQ(addr("rows"), U8(r))
			JLE(LabelRef("next34"))
			ADDQ(ldy, row)
		}
		var y [3]reg.VecVirtual
		for c := range y {
			y[c] = ZMM()
			k.sum(at34[c], func(j int) Op { return s[r][j] }, y[c], ZMM(), cs)
			k.add(b, y[c], y[c])
		}
		for q := range 3 {
			o, ix := ZMM(), ZMM()
			VMOVUPS(y[0], o)
			VMOVDQU64(mems[0][q], ix)
			k.permt2(y[1], ix, o)
			VMOVDQU64(mems[1][q], ix)
			k.permt2(y[2], ix, o)
			k.store(o, km[q], Mem{Base: row, Disp: 64 * q}, fmt.Sprintf("out34_%d_%d", r, q))
		}
	}
	Label("next34")
	mc := Load(Param("mc"), GP64())
	SHLQ(sh, mc)
	ADDQ(mc, mp)
	yc := Load(Param("yc"), GP64())
	SHLQ(sh, yc)
	ADDQ(yc, yp)
	ADDQ(U8(k.size), bp)
	DECQ(n)
	JMP(LabelRef("chan34"))
	Label("done34")
	VZEROUPPER()
	RET()
}
