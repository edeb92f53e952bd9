package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// gradTaps emits gradTapsAVX2<T>(acc, dy, x []T, offs []int). For every tap
// t it adds dy[j]·x[offs[t]+j] into lane (j mod lanes) of the vector
// acc[t*lanes:(t+1)*lanes], for j below len(dy) rounded down to the lane
// count; the caller sums the lanes and does the tail. Taps go four at a
// time, each with two accumulators (for the even and the odd vectors of dy)
// so that eight independent fused multiply-adds cover the FMA latency, and
// each vector of dy is loaded once for four taps.
func gradTaps(k kind) {
	TEXT("gradTapsAVX2"+k.name, NOSPLIT, fmt.Sprintf("func(acc, dy, x []%s, offs []int)", goType(k)))
	Pragma("noescape")
	Doc(fmt.Sprintf("gradTapsAVX2%s adds the whole-register part of a weight-gradient row into per-lane sums; see gradTaps.", k.name))
	accp := Load(Param("acc").Base(), GP64())
	dyp := Load(Param("dy").Base(), GP64())
	n := Load(Param("dy").Len(), GP64())
	xp := Load(Param("x").Base(), GP64())
	op := Load(Param("offs").Base(), GP64())
	taps := Load(Param("offs").Len(), GP64())

	// n becomes the byte length of the whole-register prefix of dy.
	shift := U8(2)
	if k.size == 8 {
		shift = U8(3)
	}
	ANDQ(U32(^uint32(k.lanes-1)), n)
	SHLQ(shift, n)
	j := GP64()
	end := GP64()
	for _, grp := range []int{4, 1} {
		name := fmt.Sprintf("grp%d", grp)
		xs := make([]reg.GPVirtual, grp)
		a := make([]reg.VecVirtual, grp)
		b := make([]reg.VecVirtual, grp)
		for i := range grp {
			xs[i], a[i], b[i] = GP64(), YMM(), YMM()
		}
		d0, d1 := YMM(), YMM()
		Label(name)
		CMPQ(taps, U8(grp))
		JL(LabelRef(name + "done"))
		for i := range grp {
			MOVQ(Mem{Base: op, Disp: 8 * i}, xs[i])
			SHLQ(shift, xs[i])
			ADDQ(xp, xs[i])
			VMOVUPS(Mem{Base: accp, Disp: 32 * i}, a[i])
			VXORPS(b[i], b[i], b[i])
		}
		XORQ(j, j)
		// Two vectors of dy per turn while they last.
		Label(name + "two")
		LEAQ(Mem{Base: j, Disp: 64}, end)
		CMPQ(end, n)
		JG(LabelRef(name + "one"))
		VMOVUPS(Mem{Base: dyp, Index: j, Scale: 1}, d0)
		VMOVUPS(Mem{Base: dyp, Index: j, Scale: 1, Disp: 32}, d1)
		for i := range grp {
			k.fma(Mem{Base: xs[i], Index: j, Scale: 1}, d0, a[i])
			k.fma(Mem{Base: xs[i], Index: j, Scale: 1, Disp: 32}, d1, b[i])
		}
		MOVQ(end, j)
		JMP(LabelRef(name + "two"))
		// At most one vector is left.
		Label(name + "one")
		CMPQ(j, n)
		JGE(LabelRef(name + "store"))
		VMOVUPS(Mem{Base: dyp, Index: j, Scale: 1}, d0)
		for i := range grp {
			k.fma(Mem{Base: xs[i], Index: j, Scale: 1}, d0, a[i])
		}
		Label(name + "store")
		for i := range grp {
			k.add(b[i], a[i], a[i])
			VMOVUPS(a[i], Mem{Base: accp, Disp: 32 * i})
		}
		ADDQ(U32(32*grp), accp)
		ADDQ(U32(8*grp), op)
		SUBQ(U8(grp), taps)
		JMP(LabelRef(name))
		Label(name + "done")
	}
	VZEROUPPER()
	RET()
}
