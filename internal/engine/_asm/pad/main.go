// Command pad generates the AVX-512 routines that split a row into the
// four phases of a column stride of 4 and the six of a column stride of 6
// (see deint4 and deint6 in the engine), for float32 and float64. Run it through go generate in the engine package,
// alone with -run:
//
//	cd internal/engine && go generate -run ./pad
//
// It writes pad_amd64.s and pad_stub_amd64.go, both behind the !purego
// build tag.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"

	"github.com/corr2d/corr2d/internal/engine/_asm/table"
)

// kind describes one element type: its name, size and the permute of two
// tables of it.
type kind struct {
	name, goType string
	size         int
	permt2       func(...Op)
	perm         func(...Op)
}

func main() {
	ConstraintExpr("!purego")
	for _, k := range []kind{
		{name: "F32", goType: "float32", size: 4, permt2: VPERMT2PS, perm: VPERMPS},
		{name: "F64", goType: "float64", size: 8, permt2: VPERMT2PD, perm: VPERMPD},
	} {
		even, odd := evenOdd(k)
		deint4(k, even, odd)
		deint6(k, even, odd)
	}
	Generate()
}

// evenOdd emits the permute indices of the even and odd elements of two
// registers of k, which deint4 and deint6 share.
func evenOdd(k kind) (even, odd Mem) {
	lanes := 64 / k.size
	e, o := make([]uint64, lanes), make([]uint64, lanes)
	for i := range lanes {
		e[i], o[i] = uint64(2*i), uint64(2*i+1)
	}
	return table.Emit("deint4even"+k.name, k.size, e), table.Emit("deint4odd"+k.name, k.size, o)
}

// pairer loads the indices of evenOdd and returns pair(a, b), which
// leaves the even elements of a, b in a new register and the odd ones in
// a.
func pairer(k kind, evenIdx, oddIdx Mem) func(a, b reg.VecVirtual) reg.VecVirtual {
	ev, od := ZMM(), ZMM()
	VMOVDQU64(evenIdx, ev)
	VMOVDQU64(oddIdx, od)
	return func(a, b reg.VecVirtual) reg.VecVirtual {
		e := ZMM()
		VMOVUPS(a, e)
		k.permt2(b, ev, e)
		k.permt2(b, od, a)
		return e
	}
}

// deint4 emits deint4AVX512: for k < n, a multiple of a ZMM register's
// lanes, d_p[k] = x[4k+p] for each phase p < 4. Four registers of x (four
// lanes' worth of each phase) split into their even and odd elements, and
// those again: even of even is phase 0, odd of even phase 2, even of odd
// phase 1, odd of odd phase 3.
func deint4(k kind, evenIdx, oddIdx Mem) {
	lanes := 64 / k.size
	TEXT("deint4AVX512"+k.name, NOSPLIT, fmt.Sprintf("func(d0, d1, d2, d3, x []%s, n int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("deint4AVX512%s splits x into the four phases of a column stride of 4, %d cells of each at a time; see deint4.", k.name, lanes))
	var d [4]reg.Register
	for p, name := range []string{"d0", "d1", "d2", "d3"} {
		d[p] = Load(Param(name).Base(), GP64())
	}
	xp := Load(Param("x").Base(), GP64())
	n := Load(Param("n"), GP64())
	pair := pairer(k, evenIdx, oddIdx)
	Label("loop" + k.name)
	CMPQ(n, U32(lanes))
	JL(LabelRef("done" + k.name))
	var r [4]reg.VecVirtual
	for i := range r {
		r[i] = ZMM()
		VMOVUPS(Mem{Base: xp, Disp: 64 * i}, r[i])
	}
	e0, e1 := pair(r[0], r[1]), pair(r[2], r[3]) // odd ones in r[0], r[2]
	p0, p1 := pair(e0, e1), pair(r[0], r[2])     // phases 2 and 3 in e0, r[0]
	for p, v := range []reg.VecVirtual{p0, p1, e0, r[0]} {
		VMOVUPS(v, Mem{Base: d[p]})
		ADDQ(U32(64), d[p])
	}
	ADDQ(U32(256), xp)
	SUBQ(U32(lanes), n)
	JMP(LabelRef("loop" + k.name))
	Label("done" + k.name)
	VZEROUPPER()
	RET()
}

// deint6 emits deint6AVX512: for k < n, a multiple of a ZMM register's
// lanes L, d[p*wq+k] = x[6k+p] for each phase p < 6. Six registers of x
// split into their even elements E (x[2j], j < 3L) and odd ones O
// (x[2j+1]) as in deint4; phase 2q is then E[3i+q] and phase 2q+1
// O[3i+q]. Each of those takes the lanes whose 3i+q lies in E's (or O's)
// first two registers by one two-table permute, and the rest from the
// third register by a permute merged under a mask.
func deint6(k kind, evenIdx, oddIdx Mem) {
	lanes := 64 / k.size
	low, high, masks := thirds(k)
	TEXT("deint6AVX512"+k.name, NOSPLIT, fmt.Sprintf("func(d, x []%s, wq, n int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("deint6AVX512%s splits x into the six phases of a column stride of 6, phase p at d[p*wq:], %d cells of each at a time; see deint6.", k.name, lanes))
	dp := Load(Param("d").Base(), GP64())
	xp := Load(Param("x").Base(), GP64())
	wq := Load(Param("wq"), GP64())
	n := Load(Param("n"), GP64())
	SHLQ(k.shift(), wq) // in bytes
	pair := pairer(k, evenIdx, oddIdx)
	var lo, hi [3]reg.VecVirtual
	var km [3]reg.Register
	for q := range 3 {
		lo[q], hi[q] = ZMM(), ZMM()
		VMOVDQU64(low[q], lo[q])
		VMOVDQU64(high[q], hi[q])
		km[q] = K()
		g := GP32()
		MOVL(U32(masks[q]), g)
		KMOVW(g, km[q])
	}
	Label("loop6" + k.name)
	CMPQ(n, U32(lanes))
	JL(LabelRef("done6" + k.name))
	var r [6]reg.VecVirtual
	for i := range r {
		r[i] = ZMM()
		VMOVUPS(Mem{Base: xp, Disp: 64 * i}, r[i])
	}
	e := [3]reg.VecVirtual{pair(r[0], r[1]), pair(r[2], r[3]), pair(r[4], r[5])}
	o := [3]reg.VecVirtual{r[0], r[2], r[4]}
	row := GP64()
	MOVQ(dp, row)
	for p := range 6 {
		s := e
		if p%2 == 1 {
			s = o
		}
		q := p / 2
		v := ZMM()
		VMOVUPS(s[0], v)
		k.permt2(s[1], lo[q], v)
		k.perm(s[2], hi[q], km[q], v)
		VMOVUPS(v, Mem{Base: row})
		if p < 5 {
			ADDQ(wq, row)
		}
	}
	ADDQ(U32(64), dp)
	ADDQ(U32(384), xp)
	SUBQ(U32(lanes), n)
	JMP(LabelRef("loop6" + k.name))
	Label("done6" + k.name)
	VZEROUPPER()
	RET()
}

// thirds emits, for q < 3, the permute indices that take element 3i+q
// of three registers of k into lane i: low[q] from the first two
// registers, for the lanes where 3i+q lies in them, and high[q] from the
// third for the others, the lanes set in masks[q].
func thirds(k kind) (low, high [3]Mem, masks [3]uint64) {
	lanes := 64 / k.size
	for q := range 3 {
		a, b := make([]uint64, lanes), make([]uint64, lanes)
		for i := range lanes {
			if j := 3*i + q; j < 2*lanes {
				a[i] = uint64(j)
			} else {
				b[i] = uint64(j - 2*lanes)
				masks[q] |= 1 << i
			}
		}
		low[q] = table.Emit(fmt.Sprintf("deint6low%d%s", q, k.name), k.size, a)
		high[q] = table.Emit(fmt.Sprintf("deint6high%d%s", q, k.name), k.size, b)
	}
	return low, high, masks
}

// shift is log2 of the element size, to turn element counts into bytes.
func (k kind) shift() U8 {
	if k.size == 8 {
		return U8(3)
	}
	return U8(2)
}
