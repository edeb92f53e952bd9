// Command gemm generates the AVX2/FMA kernels of the engine's GEMM
// convolution path (see gemm.go): a register-tiled microkernel, which can
// pack its panel of the im2col matrix on the way, and a copy for the
// panels that straddle two output rows, and the stride-2 Winograd path's
// batch of products (see products512), for float32 and float64. Run it
// through go generate in the engine package, alone with -run:
//
//	cd internal/engine && go generate -run ./gemm
//
// It writes gemm_amd64.s and gemm_stub_amd64.go, both behind the !purego
// build tag.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The tile is mr rows (output channels) by two YMM registers of columns
// (output pixels): 6×16 for float32, 6×8 for float64. Its twelve
// accumulators, the two registers of B and the broadcast of A take 15 of
// the 16 YMM registers; twelve independent FMA chains cover the FMA
// latency at two FMAs per cycle. These numbers must match gemmMR and
// gemmNR in gemm.go.
const (
	mr   = 6
	cols = 2 // YMM registers per tile row
	// unroll is how many steps of k one turn of the main loop takes, so that
	// the loop's counter and branch are a small part of it.
	unroll = 4
)

// kind describes one element type: its name, size, lanes per YMM register
// and the broadcast, fused multiply-add and blend instructions for it.
type kind struct {
	name      string
	goType    string
	size      int
	lanes     int
	broadcast func(...Op)
	fma       func(...Op)
	blend     func(mask, src2, src1, dst Op)
}

// width is the register width the microkernel is emitted for: its name,
// bytes per register, how to allocate and clear one. gemmAVX2 is emitted
// with avx2; its AVX-512 twin has a tile shape of its own (see
// microkernel512).
type width struct {
	name  string
	bytes int
	reg   func() reg.VecVirtual
	zero  func(reg.VecVirtual)
}

var avx2 = width{name: "AVX2", bytes: 32, reg: YMM, zero: func(r reg.VecVirtual) { VXORPS(r, r, r) }}

// cols is how many registers of this width make a tile row of k.
func (v width) cols(k kind) int { return nr(k) * k.size / v.bytes }

// nr is the tile's width in elements of k: cols YMM registers.
func nr(k kind) int { return cols * k.lanes }

func main() {
	ConstraintExpr("!purego")
	for _, k := range []kind{
		{name: "F32", goType: "float32", size: 4, lanes: 8, broadcast: VBROADCASTSS, fma: VFMADD231PS, blend: VBLENDVPS},
		{name: "F64", goType: "float64", size: 8, lanes: 4, broadcast: VBROADCASTSD, fma: VFMADD231PD, blend: VBLENDVPD},
	} {
		microkernel(k, avx2)
		microkernel512(k)
		products512(k)
		packPanel2(k)
	}
	Generate()
}

// microkernel emits gemmAVX2<T>(a, b, c, x []T, offs []int, k, astride,
// rows, ldc int, load bool), which computes the first rows of C = A·B (as
// many as rows says) for one panel of B, one mr×nr tile of C after another down the panels of A:
//
//	c[r*ldc + j] = c0 + Σ_{p<k} a[(r/mr)*astride + p*mr + r%mr]·b[p*nr + j]
//
// for r < rows and j < nr = cols×lanes, where c0 is the old value of the
// element when load is set and zero otherwise. Each panel of A holds mr
// values per step of k and starts astride elements after the last; b
// holds nr values per step. Each element gets one fused multiply-add per
// step, in order of p, so continuing from the old value (load) is the same
// sum as one call over the whole of k. A last tile of fewer than mr rows is
// computed whole (A is padded with zeros there) but only the rows that
// exist touch C.
//
// With offs non-empty (and k = len(offs)) the kernel packs the panel of B
// as it goes: the first tile reads step p from x[offs[p]:][:nr], the nr
// adjacent input cells of the im2col matrix, and stores it to b for the
// tiles after it. Its twelve multiply-adds per step leave the loads time
// to arrive from L2, where a separate copy would wait for them.
//
// The caller guarantees the lengths; the kernel checks nothing.
func microkernel(k kind, v width) {
	TEXT("gemm"+v.name+k.name, NOSPLIT, fmt.Sprintf("func(a, b, c, x []%s, offs []int, k, astride, rows, ldc int, load bool)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("gemm%s%s computes %d×%d tiles of a packed matrix product down one panel of B, packing the panel first if asked; see gemmKernel.", v.name, k.name, mr, nr(k)))
	ap := Load(Param("a").Base(), GP64())
	cp := Load(Param("c").Base(), GP64())
	rows := Load(Param("rows"), GP64())
	ldc := Load(Param("ldc"), GP64())
	shift := U8(2)
	if k.size == 8 {
		shift = U8(3)
	}
	SHLQ(shift, ldc)

	cols := v.cols(k)
	var acc [mr][]reg.VecVirtual
	for r := range acc {
		acc[r] = make([]reg.VecVirtual, cols)
		for c := range acc[r] {
			acc[r][c] = v.reg()
		}
	}
	b := make([]reg.VecVirtual, cols)
	for c := range b {
		b[c] = v.reg()
	}
	bc := v.reg()

	// tile emits one tile's code; with pack, its steps read B from x and
	// store it to b. Labels get the suffix sfx.
	tile := func(sfx string, pack bool) {
		// Rows 0-2 of the tile are addressed from cp, rows 3-5 from c3 =
		// cp + 3·ldc, with ldc in bytes scaled by 1 or 2.
		c3 := GP64()
		LEAQ(Mem{Base: ldc, Index: ldc, Scale: 2}, c3)
		ADDQ(cp, c3)
		row := func(r int) Mem {
			switch r {
			case 0:
				return Mem{Base: cp}
			case 1:
				return Mem{Base: cp, Index: ldc, Scale: 1}
			case 2:
				return Mem{Base: cp, Index: ldc, Scale: 2}
			case 3:
				return Mem{Base: c3}
			case 4:
				return Mem{Base: c3, Index: ldc, Scale: 1}
			default:
				return Mem{Base: c3, Index: ldc, Scale: 2}
			}
		}
		ak := GP64()
		MOVQ(ap, ak)
		bp := Load(Param("b").Base(), GP64())
		n := Load(Param("k"), GP64())
		var xp, op reg.Register
		if pack {
			xp = Load(Param("x").Base(), GP64())
			op = Load(Param("offs").Base(), GP64())
		}
		// Every accumulator starts at zero; with load, the tile's rows
		// that exist then take C's values.
		for r := range acc {
			for _, a := range acc[r] {
				v.zero(a)
			}
		}
		load := Load(Param("load"), GP8())
		CMPB(load, U8(0))
		JE(LabelRef("loop" + sfx))
		for r := range acc {
			if r > 0 {
				CMPQ(rows, U8(r))
				JLE(LabelRef("loop" + sfx))
			}
			for c, a := range acc[r] {
				VMOVUPS(row(r).Offset(v.bytes*c), a)
			}
		}

		// step emits the multiply-adds of step u of the current turn.
		step := func(u int) {
			if pack {
				src := GP64()
				MOVQ(Mem{Base: op, Disp: 8 * u}, src)
				SHLQ(shift, src)
				ADDQ(xp, src)
				for c := range b {
					VMOVUPS(Mem{Base: src, Disp: v.bytes * c}, b[c])
					VMOVUPS(b[c], Mem{Base: bp, Disp: (u*cols + c) * v.bytes})
				}
			} else {
				for c := range b {
					VMOVUPS(Mem{Base: bp, Disp: (u*cols + c) * v.bytes}, b[c])
				}
			}
			for r := range acc {
				k.broadcast(Mem{Base: ak, Disp: (u*mr + r) * k.size}, bc)
				for c := range b {
					k.fma(b[c], bc, acc[r][c])
				}
			}
		}
		advance := func(u int) {
			ADDQ(U32(u*mr*k.size), ak)
			ADDQ(U32(u*cols*v.bytes), bp)
			if pack {
				ADDQ(U32(u*8), op)
			}
		}
		depthLoop(sfx, n, unroll, step, advance)
		Label("store" + sfx)
		for r := range acc {
			if r > 0 {
				CMPQ(rows, U8(r))
				JLE(LabelRef("done"))
			}
			for c, a := range acc[r] {
				VMOVUPS(a, row(r).Offset(v.bytes*c))
			}
		}
		// On to the next tile: mr rows down C, one panel on in A.
		astride := Load(Param("astride"), GP64())
		SHLQ(shift, astride)
		ADDQ(astride, ap)
		LEAQ(Mem{Base: c3, Index: ldc, Scale: 2}, cp)
		ADDQ(ldc, cp)
		SUBQ(U8(mr), rows)
		JLE(LabelRef("done"))
	}

	nOffs := Load(Param("offs").Len(), GP64())
	TESTQ(nOffs, nOffs)
	JE(LabelRef("tile"))
	tile("pack", true)
	Label("tile")
	tile("", false)
	JMP(LabelRef("tile"))
	Label("done")
	VZEROUPPER()
	RET()
}

// packPanel2 emits packPanel2AVX2<T>(dst, x []T, offs []int, second int,
// mask []T), which copies one panel of the im2col matrix whose pixels are
// two runs of adjacent cells, the end of one output row and the start of
// the next: for every tap t and j < nr,
//
//	dst[t*nr + j] = x[offs[t] + j]           where mask[j] ≥ 0 (sign clear)
//	dst[t*nr + j] = x[offs[t] + second + j]  where mask[j] < 0 (sign set)
//
// Both runs are read as whole registers and blended lane by lane, so the
// straddling panel costs two loads per register instead of a copy per run.
// The caller guarantees that every cell read, including the lanes the
// blend drops, lies in x.
func packPanel2(k kind) {
	TEXT("packPanel2AVX2"+k.name, NOSPLIT, fmt.Sprintf("func(dst, x []%s, offs []int, second int, mask []%s)", k.goType, k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("packPanel2AVX2%s copies a panel of %d pixels in two runs for every tap; see packPanel2.", k.name, cols*k.lanes))
	dp := Load(Param("dst").Base(), GP64())
	xp := Load(Param("x").Base(), GP64())
	op := Load(Param("offs").Base(), GP64())
	n := Load(Param("offs").Len(), GP64())
	second := Load(Param("second"), GP64())
	mp := Load(Param("mask").Base(), GP64())

	shift := U8(2)
	if k.size == 8 {
		shift = U8(3)
	}
	SHLQ(shift, second)
	var mask [cols]reg.VecVirtual
	for c := range mask {
		mask[c] = YMM()
		VMOVUPS(Mem{Base: mp, Disp: 32 * c}, mask[c])
	}
	src := GP64()
	v := [cols]reg.VecVirtual{YMM(), YMM()}
	Label("tap")
	TESTQ(n, n)
	JE(LabelRef("done"))
	MOVQ(Mem{Base: op}, src)
	SHLQ(shift, src)
	ADDQ(xp, src)
	for c := range v {
		VMOVUPS(Mem{Base: src, Disp: 32 * c}, v[c])
		k.blend(mask[c], Mem{Base: src, Index: second, Scale: 1, Disp: 32 * c}, v[c], v[c])
		VMOVUPS(v[c], Mem{Base: dp, Disp: 32 * c})
	}
	ADDQ(U8(8), op)
	ADDQ(U32(32*cols), dp)
	DECQ(n)
	JMP(LabelRef("tap"))
	Label("done")
	VZEROUPPER()
	RET()
}

// microkernel512 emits gemmAVX512<T>, gemmAVX2<T>'s twin for AVX-512F
// with the same arguments and the same results bit for bit (see
// microkernel): each row of a tile is one ZMM register of nr elements, and
// a tile takes two panels of A at once, 2·mr rows, where at least mr+1
// rows remain, so that twelve independent accumulators keep both FMA
// units busy while each step loads its row of B once; the rows left
// after the last such tile take one panel's tile. Each multiply-add reads
// its element of A as an embedded broadcast.
// depthLoop emits the loop over the depth k that both microkernels share:
// unroll steps at a time while that many remain, then one at a time, then
// on to the label "store"+sfx, which the caller emits next.
func depthLoop(sfx string, n reg.Register, unroll int, step, advance func(u int)) {
	Label("loop" + sfx)
	CMPQ(n, U8(unroll))
	JL(LabelRef("tail" + sfx))
	for u := range unroll {
		step(u)
	}
	advance(unroll)
	SUBQ(U8(unroll), n)
	JMP(LabelRef("loop" + sfx))

	Label("tail" + sfx)
	TESTQ(n, n)
	JE(LabelRef("store" + sfx))
	step(0)
	advance(1)
	DECQ(n)
	JMP(LabelRef("tail" + sfx))
}

func microkernel512(k kind) {
	TEXT("gemmAVX512"+k.name, NOSPLIT, fmt.Sprintf("func(a, b, c, x []%s, offs []int, k, astride, rows, ldc int, load bool)", k.goType))
	Pragma("noescape")
	Doc(fmt.Sprintf("gemmAVX512%s computes the tiles of gemmAVX2%s two panels of A at a time, with the same results; see gemmKernel.", k.name, k.name))
	ap := Load(Param("a").Base(), GP64())
	cp := Load(Param("c").Base(), GP64())
	rows := Load(Param("rows"), GP64())
	ldc := Load(Param("ldc"), GP64())
	astride := Load(Param("astride"), GP64())
	shift := U8(2)
	fma := VFMADD231PS_BCST
	if k.size == 8 {
		shift = U8(3)
		fma = VFMADD231PD_BCST
	}
	SHLQ(shift, ldc)
	SHLQ(shift, astride)
	var acc [2 * mr]reg.VecVirtual
	for r := range acc {
		acc[r] = ZMM()
	}
	bv := ZMM()

	// tile emits the code of one tile of h rows (mr or 2·mr); with pack,
	// its steps read B from x and store it to b. Labels get the suffix sfx.
	tile := func(sfx string, pack bool, h int) {
		ak := GP64()
		MOVQ(ap, ak)
		bp := Load(Param("b").Base(), GP64())
		n := Load(Param("k"), GP64())
		var xp, op reg.Register
		if pack {
			xp = Load(Param("x").Base(), GP64())
			op = Load(Param("offs").Base(), GP64())
		}
		for r := range h {
			VPXORD(acc[r], acc[r], acc[r])
		}
		// With load, the rows of the tile that exist take C's values.
		load := Load(Param("load"), GP8())
		CMPB(load, U8(0))
		JE(LabelRef("loop" + sfx))
		rp := GP64()
		MOVQ(cp, rp)
		for r := range h {
			if r > 0 {
				CMPQ(rows, U8(r))
				JLE(LabelRef("loop" + sfx))
				ADDQ(ldc, rp)
			}
			VMOVUPS(Mem{Base: rp}, acc[r])
		}

		step := func(u int) {
			if pack {
				src := GP64()
				MOVQ(Mem{Base: op, Disp: 8 * u}, src)
				SHLQ(shift, src)
				ADDQ(xp, src)
				VMOVUPS(Mem{Base: src}, bv)
				VMOVUPS(bv, Mem{Base: bp, Disp: u * 64})
			} else {
				VMOVUPS(Mem{Base: bp, Disp: u * 64}, bv)
			}
			for r := range h {
				m := Mem{Base: ak, Disp: (u*mr + r%mr) * k.size}
				if r >= mr {
					m.Index, m.Scale = astride, 1
				}
				fma(m, bv, acc[r])
			}
		}
		advance := func(u int) {
			ADDQ(U32(u*mr*k.size), ak)
			ADDQ(U32(u*64), bp)
			if pack {
				ADDQ(U32(u*8), op)
			}
		}
		depthLoop(sfx, n, unroll, step, advance)
		Label("store" + sfx)
		sp := GP64()
		MOVQ(cp, sp)
		for r := range h {
			if r > 0 {
				CMPQ(rows, U8(r))
				JLE(LabelRef("done"))
				ADDQ(ldc, sp)
			}
			VMOVUPS(acc[r], Mem{Base: sp})
		}
		// On to the next tile: h rows down C, h/mr panels on in A.
		for range h / mr {
			ADDQ(astride, ap)
		}
		ADDQ(ldc, sp)
		MOVQ(sp, cp)
		SUBQ(U8(h), rows)
		JLE(LabelRef("done"))
	}

	// The first tile packs B when asked; every tile is two panels high
	// while more than one panel's rows remain.
	nOffs := Load(Param("offs").Len(), GP64())
	TESTQ(nOffs, nOffs)
	JE(LabelRef("next"))
	CMPQ(rows, U8(mr))
	JLE(LabelRef("packone"))
	tile("packtwo", true, 2*mr)
	JMP(LabelRef("next"))
	Label("packone")
	tile("packone", true, mr)
	Label("next")
	CMPQ(rows, U8(mr))
	JLE(LabelRef("one"))
	tile("two", false, 2*mr)
	JMP(LabelRef("next"))
	Label("one")
	tile("one", false, mr)
	JMP(LabelRef("next"))
	Label("done")
	VZEROUPPER()
	RET()
}
