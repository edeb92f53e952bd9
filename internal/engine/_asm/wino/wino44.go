package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/corr2d/corr2d/internal/engine/_asm/table"
)

// term is one term of a transform's sum: coefficient c times cell i. The
// tables are wino44BT and wino44AT of the engine's wino44.go, in the same
// order of summation, which the portable transforms follow too.
type term struct{ i, c int }

var (
	bt = [5][]term{
		{{3, 1}, {0, 2}, {1, -1}, {2, -2}},
		{{3, 1}, {1, -2}, {2, -1}},
		{{3, 1}, {1, 2}, {2, -3}},
		{{3, 1}, {1, -1}},
		{{4, 1}, {1, 2}, {2, -1}, {3, -2}},
	}
	at = [2][]term{
		{{0, 1}, {1, 1}, {2, 1}, {3, 1}},
		{{1, 1}, {2, -1}, {3, 2}, {4, 1}},
	}
)

// input44 emits wino44InAVX2<T>(v, x []T, cols []int, ld, vx int), the
// input transform of the stride-2 Winograd path (F(2×2, 4×4), see
// wino44.go) for lanes tiles side by side of one part channel: element
// ξ = 5i+j of tile t goes to
//
//	v[ξ*vx + t] = (Bᵀ·d·B)[i][j]
//
// where d's row r is at x[r*ld:] and its column c at cols[c] in the row.
// Down the columns first, then along the rows, as wino44InputGo.
func input44(k kind) {
	TEXT("wino44InAVX2"+k.name, NOSPLIT, fmt.Sprintf("func(v, x []%s, cols []int, ld, vx int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("wino44InAVX2%s transforms %d input tiles of one part channel; see wino44Input.", k.name, k.lanes))
	k.inputBody(YMM)
}

// input44x2 emits wino44In2AVX512<T>, input44's transform for twice the
// tiles side by side (two groups), on ZMM registers.
func input44x2(k kind) {
	TEXT("wino44In2AVX512"+k.name, NOSPLIT, fmt.Sprintf("func(v, x []%s, cols []int, ld, vx int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("wino44In2AVX512%s transforms %d input tiles of one part channel; see wino44Input2.", k.name, 2*k.lanes))
	k.inputBody(ZMM)
}

// inputBody emits the input transform with registers from vreg.
func (k kind) inputBody(vreg func() reg.VecVirtual) {
	dst := Load(Param("v").Base(), GP64())
	vx := Load(Param("vx"), GP64())
	ld := Load(Param("ld"), GP64())
	cp := Load(Param("cols").Base(), GP64())
	sh := k.shift()
	SHLQ(sh, vx)
	SHLQ(sh, ld)
	var rows, cols [5]reg.Register
	rows[0] = Load(Param("x").Base(), GP64())
	for r := 1; r < 5; r++ {
		rows[r] = GP64()
		LEAQ(Mem{Base: rows[r-1], Index: ld, Scale: 1}, rows[r])
	}
	for c := range cols {
		cols[c] = GP64()
		MOVQ(Mem{Base: cp, Disp: 8 * c}, cols[c])
		SHLQ(sh, cols[c])
	}
	cs := k.constants(vreg, bt[:]...)
	var row [5]reg.VecVirtual
	for c := range row {
		row[c] = vreg()
	}
	out, tmp := vreg(), vreg()
	for i := range bt {
		// Row i of Bᵀ·d, column by column, from memory.
		for c := range row {
			cell := func(r int) Op { return Mem{Base: rows[r], Index: cols[c], Scale: 1} }
			k.sum(bt[i], cell, row[c], tmp, cs)
		}
		// Then times B, element by element, stored vx apart.
		for j := range bt {
			k.sum(bt[j], func(c int) Op { return row[c] }, out, tmp, cs)
			VMOVUPS(out, Mem{Base: dst})
			if i < 4 || j < 4 {
				ADDQ(vx, dst)
			}
		}
	}
	VZEROUPPER()
	RET()
}

// output44 emits wino44OutAVX2<T>(y, m, bias []T, n, mc, mx, ldy, yc int),
// the output transform of the stride-2 Winograd path for lanes tiles side
// by side and n channels: with element ξ = 5i+j of tile t of channel o at
// m[ξ*mx + o*mc + t], output (r, s) of tile t of channel o goes to
// y[o*yc + r*ldy + 2t + s]:
//
//	Y = Aᵀ·M·A + bias[o],
//
// down the columns first, then along the rows, then the bias, as
// wino44OutputGo.
func output44(k kind) {
	TEXT("wino44OutAVX2"+k.name, NOSPLIT, fmt.Sprintf("func(y, m, bias []%s, n, mc, mx, ldy, yc int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("wino44OutAVX2%s transforms %d output tiles of n channels back; see wino44Output.", k.name, k.lanes))
	yp := Load(Param("y").Base(), GP64())
	k.outputBody(YMM, []reg.Register{yp}, func(row reg.Register, ldy reg.Register, r int, y0, y1 reg.VecVirtual) {
		// Interleave column 0 (y0) and column 1 (y1) of every tile:
		// unpack within the 128-bit halves, then put the halves in order.
		lo, hi := YMM(), YMM()
		k.unpackLo(y1, y0, lo)
		k.unpackHi(y1, y0, hi)
		VPERM2F128(U8(0x20), hi, lo, y0)
		VPERM2F128(U8(0x31), hi, lo, y1)
		VMOVUPS(y0, Mem{Base: row})
		VMOVUPS(y1, Mem{Base: row, Disp: 32})
	})
}

// output44x2 emits wino44Out2AVX512<T>(y, y2, m, bias []T, n, mc, mx, ldy,
// yc int), output44's transform for two groups of lanes tiles at once, side
// by side in m (2·lanes tiles): the first group's outputs go to y, the
// second's to y2, as two calls of wino44OutputGo would write them. The
// arithmetic is output44's, on ZMM registers.
func output44x2(k kind) {
	lo, hi := make([]uint64, 2*k.lanes), make([]uint64, 2*k.lanes)
	for t := range k.lanes {
		// Tile t's two columns: lane t of y0 and lane t of y1 (index
		// 2·lanes + t), for the first group, lanes + t for the second.
		lo[2*t], lo[2*t+1] = uint64(t), uint64(2*k.lanes+t)
		hi[2*t], hi[2*t+1] = uint64(k.lanes+t), uint64(3*k.lanes+t)
	}
	loIdx := table.Emit("wino44lo"+k.name, k.size, lo)
	hiIdx := table.Emit("wino44hi"+k.name, k.size, hi)
	TEXT("wino44Out2AVX512"+k.name, NOSPLIT, fmt.Sprintf("func(y, y2, m, bias []%s, n, mc, mx, ldy, yc int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("wino44Out2AVX512%s transforms two groups of %d output tiles of n channels back; see wino44Output2.", k.name, k.lanes))
	yp := Load(Param("y").Base(), GP64())
	y2p := Load(Param("y2").Base(), GP64())
	li, hii := ZMM(), ZMM()
	VMOVDQU64(loIdx, li)
	VMOVDQU64(hiIdx, hii)
	k.outputBody(ZMM, []reg.Register{yp, y2p}, func(row reg.Register, ldy reg.Register, r int, y0, y1 reg.VecVirtual) {
		a, b := ZMM(), ZMM()
		VMOVUPS(y0, a)
		VMOVUPS(y0, b)
		k.permt2(y1, li, a)
		k.permt2(y1, hii, b)
		VMOVUPS(a, Mem{Base: row})
		row2 := GP64()
		MOVQ(y2p, row2)
		if r > 0 {
			ADDQ(ldy, row2)
		}
		VMOVUPS(b, Mem{Base: row2})
	})
}

// outputBody emits the loop over channels of the output transforms with
// registers from vreg: both rows of Aᵀ·M column by column, then each
// output row, handed to store with its row pointer (into the first of ys)
// and the row's two output columns y0, y1. Every pointer in ys moves on by
// yc per channel.
func (k kind) outputBody(vreg func() reg.VecVirtual, ys []reg.Register, store func(row, ldy reg.Register, r int, y0, y1 reg.VecVirtual)) {
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
	// mx5 is the distance between two rows i of M.
	mx5 := GP64()
	LEAQ(Mem{Base: mx, Index: mx, Scale: 4}, mx5)
	var s [2][5]reg.VecVirtual
	col, col2, row := GP64(), GP64(), GP64()
	Label("chan44")
	TESTQ(n, n)
	JE(LabelRef("done44"))
	// Both rows of Aᵀ·M, column by column, each element of M loaded once:
	// column j's elements are mx5 apart from m + j·mx.
	MOVQ(mp, col)
	for j := range 5 {
		if j > 0 {
			ADDQ(mx, col)
		}
		LEAQ(Mem{Base: col, Index: mx5, Scale: 2}, col2)
		cells := [5]Mem{
			{Base: col}, {Base: col, Index: mx5, Scale: 1}, {Base: col2},
			{Base: col2, Index: mx5, Scale: 1}, {Base: col, Index: mx5, Scale: 4},
		}
		var m [5]reg.VecVirtual
		for i := range m {
			m[i] = vreg()
			VMOVUPS(cells[i], m[i])
		}
		for r := range at {
			s[r][j] = vreg()
			k.sum(at[r], func(i int) Op { return m[i] }, s[r][j], vreg(), nil)
		}
	}
	b := vreg()
	k.broadcast(Mem{Base: bp}, b)
	MOVQ(ys[0], row)
	for r := range at {
		y0, y1 := vreg(), vreg()
		cell := func(j int) Op { return s[r][j] }
		k.sum(at[0], cell, y0, vreg(), nil)
		k.sum(at[1], cell, y1, vreg(), nil)
		k.add(b, y0, y0)
		k.add(b, y1, y1)
		if r > 0 {
			ADDQ(ldy, row)
		}
		store(row, ldy, r, y0, y1)
	}
	ADDQ(mc, mp)
	for _, y := range ys {
		ADDQ(yc, y)
	}
	ADDQ(U8(k.size), bp)
	DECQ(n)
	JMP(LabelRef("chan44"))
	Label("done44")
	VZEROUPPER()
	RET()
}
