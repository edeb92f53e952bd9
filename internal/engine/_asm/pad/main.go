// Command pad generates the AVX-512 routine that splits a row into the
// four phases of a column stride of 4 (see deint4 in the engine), for
// float32 and float64. Run it through go generate in the engine package,
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
}

func main() {
	ConstraintExpr("!purego")
	for _, k := range []kind{
		{name: "F32", goType: "float32", size: 4, permt2: VPERMT2PS},
		{name: "F64", goType: "float64", size: 8, permt2: VPERMT2PD},
	} {
		deint4(k)
	}
	Generate()
}

// deint4 emits deint4AVX512: for k < n, a multiple of a ZMM register's
// lanes, d_p[k] = x[4k+p] for each phase p < 4. Four registers of x (four
// lanes' worth of each phase) split into their even and odd elements, and
// those again: even of even is phase 0, odd of even phase 2, even of odd
// phase 1, odd of odd phase 3.
func deint4(k kind) {
	lanes := 64 / k.size
	even, odd := make([]uint64, lanes), make([]uint64, lanes)
	for i := range lanes {
		even[i], odd[i] = uint64(2*i), uint64(2*i+1)
	}
	evenIdx := table.Emit("deint4even"+k.name, k.size, even)
	oddIdx := table.Emit("deint4odd"+k.name, k.size, odd)
	TEXT("deint4AVX512"+k.name, NOSPLIT, fmt.Sprintf("func(d0, d1, d2, d3, x []%s, n int)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("deint4AVX512%s splits x into the four phases of a column stride of 4, %d cells of each at a time; see deint4.", k.name, lanes))
	var d [4]reg.Register
	for p, name := range []string{"d0", "d1", "d2", "d3"} {
		d[p] = Load(Param(name).Base(), GP64())
	}
	xp := Load(Param("x").Base(), GP64())
	n := Load(Param("n"), GP64())
	ev, od := ZMM(), ZMM()
	VMOVDQU64(evenIdx, ev)
	VMOVDQU64(oddIdx, od)
	Label("loop" + k.name)
	CMPQ(n, U32(lanes))
	JL(LabelRef("done" + k.name))
	var r [4]reg.VecVirtual
	for i := range r {
		r[i] = ZMM()
		VMOVUPS(Mem{Base: xp, Disp: 64 * i}, r[i])
	}
	// pair(a, b) leaves the even elements of a, b in a new register and
	// the odd ones in a.
	pair := func(a, b reg.VecVirtual) reg.VecVirtual {
		e := ZMM()
		VMOVUPS(a, e)
		k.permt2(b, ev, e)
		k.permt2(b, od, a)
		return e
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
