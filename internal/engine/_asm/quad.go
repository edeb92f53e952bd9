package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// convQuad emits convQuadAVX2<T>(d []T, ldd, n int, x []T, ldx int, w []T,
// kw int): four output rows at once of a single-channel correlation with
// unit stride and dilation, for the first n columns rounded down to a
// whole register. Output row q (at d + q·ldd) reads input rows q … q+kh-1
// (at x + m·ldx); input row m serves all four output rows at once, with
// kernel row m-q, so each vector of x is loaded once for four rows instead
// of once per row. w holds the weights interleaved as w[(m·kw + b)·4 + q] =
// k[m-q][b], zero where m-q is outside the kernel, for m < kh+3, kh ≥ 3.
// The first and last three input rows skip the output rows they hold no
// kernel row of; within the others, adding 0·x leaves a sum unchanged, so
// every output still sums its taps in order, one fused multiply-add each,
// starting from zero. Columns go three
// registers at a time (twelve accumulators, three for x, one broadcast:
// all sixteen YMM registers), then one.
func convQuad(k kind) {
	TEXT("convQuadAVX2"+k.name, NOSPLIT, fmt.Sprintf("func(d []%s, ldd, n int, x []%s, ldx int, w []%s, kw int)", goType(k), goType(k), goType(k)))
	Pragma("noescape")
	Doc(fmt.Sprintf("convQuadAVX2%s computes the whole-register prefix of four output rows; see convQuad.", k.name))
	dcol, lddB, nb, xcol, ldxB := rowsParams(k)

	for _, vecs := range []int{3, 1} {
		name := fmt.Sprintf("quad%d", vecs)
		acc, xv := blockRegs(4, vecs)
		bc := YMM()
		blockStart(k, name, nb, vecs, acc)
		wp := Load(Param("w").Base(), GP64())
		left := Load(Param("w").Len(), GP64()) // weights left
		// tail: the weights of the last three input rows, 12·kw.
		tail := Load(Param("kw"), GP64())
		SHLQ(U8(2), tail)
		LEAQ(Mem{Base: tail, Index: tail, Scale: 2}, tail)
		xr := GP64()
		MOVQ(xcol, xr)
		// pass emits one input row's taps for the output rows rs, the
		// only ones whose kernel rows it holds.
		pass := func(label string, rs []int) {
			xb := GP64()
			MOVQ(xr, xb)
			bcnt := Load(Param("kw"), GP64())
			Label(label)
			for v := range vecs {
				VMOVUPS(Mem{Base: xb, Disp: 32 * v}, xv[v])
			}
			for _, q := range rs {
				k.broadcast(Mem{Base: wp, Disp: q * k.size}, bc)
				for v := range vecs {
					k.fma(xv[v], bc, acc[q][v])
				}
			}
			ADDQ(U8(k.size), xb)
			ADDQ(U8(4*k.size), wp)
			SUBQ(U8(4), left)
			DECQ(bcnt)
			JNZ(LabelRef(label))
			ADDQ(ldxB, xr)
		}
		// Input rows 0-2 hold no kernel row of the output rows below
		// them, and the last three none of those above: their zero
		// weights are skipped.
		pass(name+"h0", []int{0})
		pass(name+"h1", []int{0, 1})
		pass(name+"h2", []int{0, 1, 2})
		Label(name + "m")
		CMPQ(left, tail)
		JLE(LabelRef(name + "t"))
		pass(name+"b", []int{0, 1, 2, 3})
		JMP(LabelRef(name + "m"))
		Label(name + "t")
		pass(name+"t0", []int{1, 2, 3})
		pass(name+"t1", []int{2, 3})
		pass(name+"t2", []int{3})

		dq := GP64()
		MOVQ(dcol, dq)
		for q := range 4 {
			for v := range vecs {
				VMOVUPS(acc[q][v], Mem{Base: dq, Disp: 32 * v})
			}
			ADDQ(lddB, dq)
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

// rowsParams loads the parameters that the many-row kernels share: the
// first output and input rows d and x, their row strides ldd and ldx in
// bytes, and the column count n.
func rowsParams(k kind) (d, lddB, n, x, ldxB reg.Register) {
	shift := U8(2)
	if k.size == 8 {
		shift = U8(3)
	}
	d = Load(Param("d").Base(), GP64())
	lddB = Load(Param("ldd"), GP64())
	SHLQ(shift, lddB)
	n = Load(Param("n"), GP64())
	x = Load(Param("x").Base(), GP64())
	ldxB = Load(Param("ldx"), GP64())
	SHLQ(shift, ldxB)
	return d, lddB, n, x, ldxB
}

// blockRegs allocates the registers of a block of output columns: vecs
// registers of sums for each of rows output rows, and vecs for x.
func blockRegs(rows, vecs int) (acc [][]reg.VecVirtual, xv []reg.VecVirtual) {
	acc = make([][]reg.VecVirtual, rows)
	for q := range acc {
		for range vecs {
			acc[q] = append(acc[q], YMM())
		}
	}
	xv = make([]reg.VecVirtual, vecs)
	for v := range xv {
		xv[v] = YMM()
	}
	return acc, xv
}

// blockStart emits the head of the loop over blocks of vecs registers of
// columns, labelled name: on to name+"done" when fewer than a block's
// columns are left of nb, else clear the sums acc.
func blockStart(k kind, name string, nb reg.Register, vecs int, acc [][]reg.VecVirtual) {
	Label(name)
	CMPQ(nb, U32(vecs*k.lanes))
	JL(LabelRef(name + "done"))
	for _, row := range acc {
		for _, a := range row {
			VXORPS(a, a, a)
		}
	}
}
