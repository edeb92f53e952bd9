package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

// rows5x5 is how many output rows conv5x5 computes at once: six rows of
// two registers of sums, two registers of x and one of a weight take
// fifteen of the sixteen YMM registers.
const rows5x5 = 6

// conv5x5 emits conv5x5AVX2<T>(d []T, ldd, n int, x []T, ldx int, k []T):
// rows5x5 output rows at once of a single-channel 5×5 correlation with unit
// stride and dilation, for the first n columns rounded down to a whole
// register. Output row q (at d + q·ldd) reads input rows q … q+4 (at x +
// m·ldx). Each vector of x is loaded once for the (up to five) output rows
// that read it, and each weight broadcast once for the two registers of
// columns it multiplies, rather than once per tap, row and register as in
// convRow; the 25 weights do not fit in registers as the 3×3 kernel's do.
// Input rows go in order and, within a row, columns, so every output sums
// its taps in the reference's order, one fused multiply-add each from
// zero: the results are convRow's, bit for bit. Columns go two registers
// at a time, then one.
func conv5x5(k kind) {
	TEXT("conv5x5AVX2"+k.name, NOSPLIT, fmt.Sprintf("func(d []%s, ldd, n int, x []%s, ldx int, k []%s)", goType(k), goType(k), goType(k)))
	Pragma("noescape")
	Doc(fmt.Sprintf("conv5x5AVX2%s computes the whole-register prefix of %d output rows of a 5×5 correlation; see conv5x5.", k.name, rows5x5))
	kp := Load(Param("k").Base(), GP64())
	dcol, lddB, nb, xcol, ldxB := rowsParams(k)
	for _, vecs := range []int{2, 1} {
		name := fmt.Sprintf("five%d", vecs)
		acc, xv := blockRegs(rows5x5, vecs)
		wv := YMM()
		blockStart(k, name, nb, vecs, acc)
		xr := GP64()
		MOVQ(xcol, xr)
		for m := range rows5x5 + 4 {
			for b := range 5 {
				for v := range xv {
					VMOVUPS(Mem{Base: xr, Disp: b*k.size + 32*v}, xv[v])
				}
				// Input row m is kernel row m-q of output row q.
				for q := max(0, m-4); q <= min(rows5x5-1, m); q++ {
					k.broadcast(Mem{Base: kp, Disp: ((m-q)*5 + b) * k.size}, wv)
					for v := range xv {
						k.fma(xv[v], wv, acc[q][v])
					}
				}
			}
			if m < rows5x5+3 {
				ADDQ(ldxB, xr)
			}
		}
		dq := GP64()
		MOVQ(dcol, dq)
		for q, row := range acc {
			for v, a := range row {
				VMOVUPS(a, Mem{Base: dq, Disp: 32 * v})
			}
			if q < rows5x5-1 {
				ADDQ(lddB, dq)
			}
		}
		ADDQ(U32(32*vecs), dcol)
		ADDQ(U32(32*vecs), xcol)
		SUBQ(U32(vecs*k.lanes), nb)
		JMP(LabelRef(name))
		Label(name + "done")
	}
	VZEROUPPER()
	RET()
}
