package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// rows3x3 is how many output rows conv3x3 computes at once: its nine
// weights, one accumulator per row and one vector of x fill the sixteen
// YMM registers.
const rows3x3 = 6

// conv3x3 emits conv3x3AVX2<T>(d []T, ldd, n int, x []T, ldx int, k []T):
// rows3x3 output rows at once of a single-channel 3×3 correlation with unit
// stride and dilation, for the first n columns rounded down to a whole
// register. Output row q (at d + q·ldd) reads input rows q, q+1, q+2 (at x +
// m·ldx). The nine weights stay in registers, and each vector of x is
// loaded once for the (up to three) output rows it serves, rather than once
// per tap and row as in convRow. Input rows go in order and, within a row,
// columns, so every output still sums its taps in the reference's order,
// one fused multiply-add each from zero: the results are convRow's, bit for
// bit.
func conv3x3(k kind) {
	TEXT("conv3x3AVX2"+k.name, NOSPLIT, fmt.Sprintf("func(d []%s, ldd, n int, x []%s, ldx int, k []%s)", goType(k), goType(k), goType(k)))
	Pragma("noescape")
	Doc(fmt.Sprintf("conv3x3AVX2%s computes the whole-register prefix of %d output rows of a 3×3 correlation; see conv3x3.", k.name, rows3x3))
	kp := Load(Param("k").Base(), GP64())
	w := make([]reg.VecVirtual, 9)
	for t := range w {
		w[t] = YMM()
		k.broadcast(Mem{Base: kp, Disp: t * k.size}, w[t])
	}
	dcol, lddB, nb, xcol, ldxB := rowsParams(k)

	acc := make([]reg.VecVirtual, rows3x3)
	for q := range acc {
		acc[q] = YMM()
	}
	xv := YMM()
	Label("col")
	CMPQ(nb, U32(k.lanes))
	JL(LabelRef("done"))
	for _, a := range acc {
		VXORPS(a, a, a)
	}
	xr := GP64()
	MOVQ(xcol, xr)
	for m := range rows3x3 + 2 {
		for b := range 3 {
			VMOVUPS(Mem{Base: xr, Disp: b * k.size}, xv)
			// Input row m is kernel row m-q of output row q.
			for q := max(0, m-2); q <= min(rows3x3-1, m); q++ {
				k.fma(xv, w[(m-q)*3+b], acc[q])
			}
		}
		if m < rows3x3+1 {
			ADDQ(ldxB, xr)
		}
	}
	dq := GP64()
	MOVQ(dcol, dq)
	for q, a := range acc {
		VMOVUPS(a, Mem{Base: dq})
		if q < rows3x3-1 {
			ADDQ(lddB, dq)
		}
	}
	ADDQ(U8(32), dcol)
	ADDQ(U8(32), xcol)
	SUBQ(U8(k.lanes), nb)
	JMP(LabelRef("col"))
	Label("done")
	VZEROUPPER()
	RET()
}
