package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// Tile of winoProducts: wideRows rows by two ZMM registers of columns,
// sixteen accumulators that keep both FMA units busy, with two loads of B
// and eight broadcasts of A per sixteen multiply-adds, so that the loads
// never hold the multiply-adds back. These must match wino44Rows and
// wino44Cols in the engine's wino44.go.
const wideRows = 8

// products512 emits winoProductsAVX512<T>(a, b, c []T, k, batch, as, bs,
// cs int), the batch of small products of the stride-2 Winograd path: for
// each i < batch, with A_i = a[i*as:], B_i = b[i*bs:] and C_i = c[i*cs:],
//
//	C_i[r*nc + j] = Σ_{p<k} A_i[p*wideRows + r]·B_i[p*nc + j]
//
// for r < wideRows and j < nc (two ZMM registers of elements), each element
// one fused multiply-add per step from zero, in order of p. One call
// covers every product of a block of channels and a panel of tiles.
func products512(k kind) {
	TEXT("winoProductsAVX512"+k.name, NOSPLIT, fmt.Sprintf("func(a, b, c []%s, k, batch, as, bs, cs int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("winoProductsAVX512%s computes a batch of %d-row products of k steps; see winoProducts.", k.name, wideRows))
	ap := Load(Param("a").Base(), GP64())
	bp := Load(Param("b").Base(), GP64())
	cp := Load(Param("c").Base(), GP64())
	batch := Load(Param("batch"), GP64())
	as, bs, cs := Load(Param("as"), GP64()), Load(Param("bs"), GP64()), Load(Param("cs"), GP64())
	shift := U8(2)
	fma, bcast := VFMADD231PS, VBROADCASTSS
	if k.size == 8 {
		shift = U8(3)
		fma, bcast = VFMADD231PD, VBROADCASTSD
	}
	SHLQ(shift, as)
	SHLQ(shift, bs)
	SHLQ(shift, cs)
	var acc [wideRows][2]reg.VecVirtual
	for r := range acc {
		acc[r] = [2]reg.VecVirtual{ZMM(), ZMM()}
	}
	Label("product")
	TESTQ(batch, batch)
	JE(LabelRef("done"))
	for r := range acc {
		for _, z := range acc[r] {
			VPXORD(z, z, z)
		}
	}
	ak, bk := GP64(), GP64()
	MOVQ(ap, ak)
	MOVQ(bp, bk)
	n := Load(Param("k"), GP64())
	step := func(u int) {
		b0, b1 := ZMM(), ZMM()
		VMOVUPS(Mem{Base: bk, Disp: u * 128}, b0)
		VMOVUPS(Mem{Base: bk, Disp: u*128 + 64}, b1)
		for r := range acc {
			av := ZMM()
			bcast(Mem{Base: ak, Disp: (u*wideRows + r) * k.size}, av)
			fma(b0, av, acc[r][0])
			fma(b1, av, acc[r][1])
		}
	}
	advance := func(u int) {
		ADDQ(U32(u*wideRows*k.size), ak)
		ADDQ(U32(u*128), bk)
	}
	depthLoop("", n, 2, step, advance)
	Label("store")
	for r := range acc {
		VMOVUPS(acc[r][0], Mem{Base: cp, Disp: r * 128})
		VMOVUPS(acc[r][1], Mem{Base: cp, Disp: r*128 + 64})
	}
	ADDQ(as, ap)
	ADDQ(bs, bp)
	ADDQ(cs, cp)
	DECQ(batch)
	JMP(LabelRef("product"))
	Label("done")
	VZEROUPPER()
	RET()
}
