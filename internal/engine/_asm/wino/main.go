// Command wino generates the AVX2 transforms of the engine's Winograd path
// (see winograd.go): the input transform Bᵀ·d·B of F(2×2, 3×3) for a
// register's width of tiles at once, and the output transform Aᵀ·m·A with
// its bias, for float32 and float64; the same for F(2×2, 4×4) of the
// stride-2 path (wino44.go) and F(4×4, 3×3) (wino43.go, whose input
// transform uses AVX-512) and F(3×3, 4×4) of the stride-2 path (wino34.go,
// on AVX-512). Run it through go generate in the
// engine package, alone with -run:
//
//	cd internal/engine && go generate -run ./wino
//
// It writes wino_amd64.s and wino_stub_amd64.go, both behind the !purego
// build tag.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// kind describes one element type: its name, size and lanes per YMM
// register, the vector add and subtract, and the interleave that puts two
// registers' lanes side by side (unpack low and high within each 128-bit
// half).
type kind struct {
	name, goType string
	size, lanes  int
	add, sub     func(...Op)
	unpackLo     func(...Op)
	unpackHi     func(...Op)
	broadcast    func(...Op)
	mul          func(...Op)
	permt2       func(...Op)
}

func main() {
	ConstraintExpr("!purego")
	for _, k := range []kind{
		{name: "F32", goType: "float32", size: 4, lanes: 8, add: VADDPS, sub: VSUBPS, unpackLo: VUNPCKLPS, unpackHi: VUNPCKHPS, broadcast: VBROADCASTSS, mul: VMULPS, permt2: VPERMT2PS},
		{name: "F64", goType: "float64", size: 8, lanes: 4, add: VADDPD, sub: VSUBPD, unpackLo: VUNPCKLPD, unpackHi: VUNPCKHPD, broadcast: VBROADCASTSD, mul: VMULPD, permt2: VPERMT2PD},
	} {
		input(k)
		output(k)
		input44(k)
		output44(k)
		output44x2(k)
		input44x2(k)
		input43(k)
		input43x2(k)
		output43(k)
		output43x2(k)
		input34(k)
		output34(k)
	}
	Generate()
}

// shift is log2 of the element size, to turn element counts into bytes.
func (k kind) shift() U8 {
	if k.size == 8 {
		return U8(3)
	}
	return U8(2)
}

// input emits winoInAVX2<T>(v, x []T, n, vc, vx, ld, wq, plane int), which
// transforms the 4×4 input tiles of lanes tiles side by side, for n
// channels. The tiles are read from x in polyphase order (see padded, with
// column stride 2): tile t's column 2t+j is phase j%2, position t+j/2 of a
// row, the phases wq elements apart, the rows ld apart, the channels plane
// apart. Element ξ = 4i+j of tile t of channel c goes to
//
//	v[ξ*vx + c*vc + t] = (Bᵀ·d·B)[i][j],  Bᵀ = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]].
//
// Each sum is of two terms rounded once, so the transform is exact up to
// one rounding per stage, as the portable winoInputGo computes it.
func input(k kind) {
	TEXT("winoInAVX2"+k.name, NOSPLIT, fmt.Sprintf("func(v, x []%s, n, vc, vx, ld, wq, plane int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("winoInAVX2%s transforms %d input tiles of n channels; see winoInput.", k.name, k.lanes))
	vp := Load(Param("v").Base(), GP64())
	n := Load(Param("n"), GP64())
	vc := Load(Param("vc"), GP64())
	wq := Load(Param("wq"), GP64())
	plane := Load(Param("plane"), GP64())
	vx := Load(Param("vx"), GP64())
	sh := k.shift()
	SHLQ(sh, vc)
	SHLQ(sh, vx)
	SHLQ(sh, wq)
	SHLQ(sh, plane)
	// One pointer per row of the tiles; a row's odd phase is wq further.
	var rows [4]reg.Register
	rows[0] = Load(Param("x").Base(), GP64())
	ld := Load(Param("ld"), GP64())
	SHLQ(sh, ld)
	for i := 1; i < 4; i++ {
		rows[i] = GP64()
		LEAQ(Mem{Base: rows[i-1], Index: ld, Scale: 1}, rows[i])
	}
	at := func(i, j int) Mem {
		m := Mem{Base: rows[i], Disp: (j / 2) * k.size}
		if j%2 == 1 {
			m.Index, m.Scale = wq, 1
		}
		return m
	}

	var t [4][4]reg.VecVirtual
	for i := range t {
		for j := range t[i] {
			t[i][j] = YMM()
		}
	}
	Label("chan")
	TESTQ(n, n)
	JE(LabelRef("done"))
	// Down the columns: t0 = d0-d2, t1 = d1+d2, t2 = d2-d1, t3 = d1-d3.
	for j := range 4 {
		VMOVUPS(at(0, j), t[0][j])
		k.sub(at(2, j), t[0][j], t[0][j])
		VMOVUPS(at(1, j), t[1][j])
		k.add(at(2, j), t[1][j], t[1][j])
		VMOVUPS(at(2, j), t[2][j])
		k.sub(at(1, j), t[2][j], t[2][j])
		VMOVUPS(at(1, j), t[3][j])
		k.sub(at(3, j), t[3][j], t[3][j])
	}
	// Along the rows likewise, storing v0 and v3 first so that their
	// registers can hold v1 while t1 and t2 are still needed. Row i's
	// four elements go to v from dst = v + 4i·vx on, vx apart.
	dst, dst2 := GP64(), GP64()
	MOVQ(vp, dst)
	for i := range 4 {
		r := t[i]
		if i > 0 {
			LEAQ(Mem{Base: dst, Index: vx, Scale: 4}, dst)
		}
		LEAQ(Mem{Base: dst, Index: vx, Scale: 2}, dst2)
		k.sub(r[2], r[0], r[0])
		VMOVUPS(r[0], Mem{Base: dst})
		k.sub(r[3], r[1], r[3])
		VMOVUPS(r[3], Mem{Base: dst2, Index: vx, Scale: 1})
		k.add(r[2], r[1], r[0])
		VMOVUPS(r[0], Mem{Base: dst, Index: vx, Scale: 1})
		k.sub(r[1], r[2], r[2])
		VMOVUPS(r[2], Mem{Base: dst2})
	}
	ADDQ(vc, vp)
	for i := range rows {
		ADDQ(plane, rows[i])
	}
	DECQ(n)
	JMP(LabelRef("chan"))
	Label("done")
	VZEROUPPER()
	RET()
}

// output emits winoOutAVX2<T>(y, m, bias []T, n, mc, mx, ldy, yc int),
// which transforms lanes tiles' 4×4 products back into their 2×2 outputs,
// for n channels, and adds each channel's bias: element ξ = 4i+j of tile t
// of channel o is m[ξ*mx + o*mc + t], and output (r, s) of tile t of
// channel o goes to y[o*yc + r*ldy + 2t + s], the tiles' outputs side by
// side:
//
//	Y = Aᵀ·M·A + bias[o],  Aᵀ = [[1,1,1,0],[0,1,-1,-1]],
//
// each sum of three terms taken from left to right, as winoOutputGo does.
func output(k kind) {
	TEXT("winoOutAVX2"+k.name, NOSPLIT, fmt.Sprintf("func(y, m, bias []%s, n, mc, mx, ldy, yc int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("winoOutAVX2%s transforms %d output tiles of n channels back; see winoOutput.", k.name, k.lanes))
	yp := Load(Param("y").Base(), GP64())
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
	// mx4 is the distance between two rows i of M.
	mx4 := GP64()
	MOVQ(mx, mx4)
	SHLQ(U8(2), mx4)

	var s [2][4]reg.VecVirtual
	for i := range s {
		for j := range s[i] {
			s[i][j] = YMM()
		}
	}
	b := YMM()
	col, col2 := GP64(), GP64()
	Label("chan")
	TESTQ(n, n)
	JE(LabelRef("done"))
	// Down the columns: s0 = m0+m1+m2, s1 = m1-m2-m3, column j's
	// elements mx4 apart from m + j·mx.
	MOVQ(mp, col)
	for j := range 4 {
		if j > 0 {
			ADDQ(mx, col)
		}
		LEAQ(Mem{Base: col, Index: mx4, Scale: 2}, col2)
		m0, m1 := Mem{Base: col}, Mem{Base: col, Index: mx4, Scale: 1}
		m2, m3 := Mem{Base: col2}, Mem{Base: col2, Index: mx4, Scale: 1}
		VMOVUPS(m0, s[0][j])
		k.add(m1, s[0][j], s[0][j])
		k.add(m2, s[0][j], s[0][j])
		VMOVUPS(m1, s[1][j])
		k.sub(m2, s[1][j], s[1][j])
		k.sub(m3, s[1][j], s[1][j])
	}
	k.broadcast(Mem{Base: bp}, b)
	row := GP64()
	MOVQ(yp, row)
	for i := range 2 {
		r := s[i]
		k.add(r[1], r[0], r[0])
		k.add(r[2], r[0], r[0])
		k.sub(r[2], r[1], r[1])
		k.sub(r[3], r[1], r[1])
		k.add(b, r[0], r[0])
		k.add(b, r[1], r[1])
		// Interleave column 0 (r0) and column 1 (r1) of every tile:
		// unpack within the 128-bit halves, then put the halves in order.
		lo, hi := r[2], r[3]
		k.unpackLo(r[1], r[0], lo)
		k.unpackHi(r[1], r[0], hi)
		VPERM2F128(U8(0x20), hi, lo, r[0])
		VPERM2F128(U8(0x31), hi, lo, r[1])
		if i > 0 {
			ADDQ(ldy, row)
		}
		VMOVUPS(r[0], Mem{Base: row})
		VMOVUPS(r[1], Mem{Base: row, Disp: 32})
	}
	ADDQ(mc, mp)
	ADDQ(yc, yp)
	ADDQ(U8(k.size), bp)
	DECQ(n)
	JMP(LabelRef("chan"))
	Label("done")
	VZEROUPPER()
	RET()
}
