// Command asm generates the AVX2/FMA row kernels of the engine's direct
// convolution and of its weight gradient. Run it through go generate in the
// engine package:
//
//	cd internal/engine && go generate
//
// It writes conv_amd64.s and conv_stub_amd64.go, both behind the !purego
// build tag.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// kind describes one element type: its name, size, lanes per YMM register
// and the broadcast and fused multiply-add instructions for it.
type kind struct {
	name      string
	size      int
	lanes     int
	broadcast func(...Op)
	fma       func(...Op)
	add       func(...Op)
}

func main() {
	ConstraintExpr("!purego")
	for _, k := range []kind{
		{name: "F32", size: 4, lanes: 8, broadcast: VBROADCASTSS, fma: VFMADD231PS, add: VADDPS},
		{name: "F64", size: 8, lanes: 4, broadcast: VBROADCASTSD, fma: VFMADD231PD, add: VADDPD},
	} {
		convRow(k)
		gradTaps(k)
		convQuad(k)
		conv3x3(k)
		conv5x5(k)
	}
	Generate()
}

// convRow emits convRowAVX2<T>(d, x []T, offs []int, k []T). For every
// output d[j], j < len(d) rounded down to a multiple of the lane count, it
// computes Σ_t k[t]·x[offs[t]+j] with one fused multiply-add per tap, taps
// in order, starting from zero. Each SIMD lane is one output element, so the
// order of the sum is the reference's; only the rounding differs (one per
// tap instead of two). Outputs go in blocks of 8, 4 and 1 registers: eight
// independent accumulators cover the FMA latency on wide rows, the smaller
// blocks mop up narrow ones. The tail of fewer than one register is left to
// the caller.
func convRow(k kind) {
	TEXT("convRowAVX2"+k.name, NOSPLIT, fmt.Sprintf("func(d, x []%s, offs []int, k []%s)", goType(k), goType(k)))
	Pragma("noescape")
	Doc(fmt.Sprintf("convRowAVX2%s computes the whole-register prefix of a convolution output row; see convRow.", k.name))
	dp := Load(Param("d").Base(), GP64())
	n := Load(Param("d").Len(), GP64())
	xp := Load(Param("x").Base(), GP64())
	op := Load(Param("offs").Base(), GP64())
	taps := Load(Param("offs").Len(), GP64())
	kp := Load(Param("k").Base(), GP64())

	t := GP64()
	off := GP64()
	bc := YMM()
	for _, blk := range []int{8, 4, 1} {
		name := fmt.Sprintf("blk%d", blk)
		acc := make([]reg.VecVirtual, blk)
		for i := range acc {
			acc[i] = YMM()
		}
		Label(name)
		CMPQ(n, U32(blk*k.lanes))
		JL(LabelRef(name + "done"))
		for _, a := range acc {
			VXORPS(a, a, a)
		}
		XORQ(t, t)
		Label(name + "tap")
		MOVQ(Mem{Base: op, Index: t, Scale: 8}, off)
		k.broadcast(Mem{Base: kp, Index: t, Scale: uint8(k.size)}, bc)
		// off*size: the tap's first cell for this block of outputs.
		if k.size == 4 {
			SHLQ(U8(2), off)
		} else {
			SHLQ(U8(3), off)
		}
		ADDQ(xp, off)
		for i, a := range acc {
			k.fma(Mem{Base: off, Disp: 32 * i}, bc, a)
		}
		INCQ(t)
		CMPQ(t, taps)
		JL(LabelRef(name + "tap"))
		for i, a := range acc {
			VMOVUPS(a, Mem{Base: dp, Disp: 32 * i})
		}
		ADDQ(U32(32*blk), dp)
		ADDQ(U32(32*blk), xp)
		SUBQ(U32(blk*k.lanes), n)
		JMP(LabelRef(name))
		Label(name + "done")
	}
	VZEROUPPER()
	RET()
}

func goType(k kind) string {
	if k.size == 4 {
		return "float32"
	}
	return "float64"
}
