package engine

// The stride-2 path (wino44.go) computes its four stride-1 4×4 layers by
// F(3×3, 4×4) too, where that pays (see useWino34): each tile is a 3×3
// block of outputs, computed from the 6×6 window of each part channel by
// 36 products, 4 per output against F(2×2, 4×4)'s 6.25 and the parts'
// direct sums' 16 (48 multiply-adds per output and input channel of a 7×7
// kernel, against 75 and 147).
//
// It takes the points of F(4×4, 3×3) (wino43.go): 0, 1, -1, ½, -2 and ∞.
// In the Toom-Cook form the input transform Bᵀ is the transposed
// interpolation on the points alone, so it is F(4×4, 3×3)'s wino43BT as
// it stands, scaling included; the tile and kernel sizes only enter Aᵀ
// (the points' powers up to the tile's, here 3×6) and G (up to the
// kernel's, here 6×4), which carry the scaling of each point between
// them:
//
//	Aᵀ = [[1,1,1,4,1,0], [0,1,-1,2,-2,0], [0,1,1,1,4,1]]
//
// and G in wino34Gx. The routines of F(4×4, 3×3) do not serve as they
// stand: its tiles' windows are 4 columns apart in plain rows, these are
// 6 apart in each of two column phases (see wino44Plan).

// wino34Cells is the number of cells of a tile's window (6×6), and of
// positions ξ of its transforms.
const wino34Cells = 36

// wino34AT is the scaled Aᵀ above, row by row, in the order its terms are
// summed (as wino43Sum takes them).
var wino34AT = [3][]wino44Term{
	{{0, 1}, {1, 1}, {2, 1}, {3, 4}, {4, 1}},
	{{1, 1}, {2, -1}, {3, 2}, {4, -2}},
	{{1, 1}, {2, 1}, {3, 1}, {4, 4}, {5, 1}},
}

// wino34Gx is G·(p0, p1, p2, p3), the factors of the six products of a
// 4-tap kernel, with the scaling of wino43BT and wino34AT taken out:
// G = [[1/2,0,0,0], [1/6,1/6,1/6,1/6], [-1/6,1/6,-1/6,1/6],
// [-4/15,-2/15,-1/15,-1/30], [1/30,-1/15,2/15,-4/15], [0,0,0,1/2]].
// The weights are transformed in float64 and rounded once; it multiplies
// by 1/30 rather than divide, as wino43Gx does. Like wino43Gx and
// wino44Gx it returns its factors as separate values, which stay in
// registers: an array result went through memory, and the transforms
// took twice the time.
func wino34Gx(p0, p1, p2, p3 float64) (g0, g1, g2, g3, g4, g5 float64) {
	const sixth, thirtieth = 1.0 / 6, 1.0 / 30
	return p0 * 0.5,
		(p0 + p1 + p2 + p3) * sixth,
		(-p0 + p1 - p2 + p3) * sixth,
		-(8*p0 + 4*p1 + 2*p2 + p3) * thirtieth,
		(p0 - 2*p1 + 4*p2 - 8*p3) * thirtieth,
		p3 * 0.5
}

// useWino34 says whether method "winograd" computes the stride-2 layer g
// (useWino44) by F(3×3, 4×4) on e: where e's configuration asks for it,
// or, by default, where the CPU has the products microkernel and the cost
// model predicts it faster than F(2×2, 4×4).
func useWino34(e *Engine, g geometry, size uintptr) bool {
	switch e.winoTile {
	case 2:
		return false
	case 3:
		return true
	}
	return wino34Pays(g, size)
}

// wino34Pays says whether F(3×3, 4×4) is predicted faster than
// F(2×2, 4×4) for the stride-2 layer g: only with the products
// microkernel and its AVX-512 transforms, without which the portable
// transforms would lose.
func wino34Pays(g geometry, size uintptr) bool {
	return winoProductsSIMD() && wino44Cost(g, size, 3) < wino44Cost(g, size, 2)
}

// wino34InputGo is the portable input transform of F(3×3, 4×4), and the
// reference for the SIMD one (see wino34Input): for tiles tiles side by
// side of one part channel, element ξ = 6i+j of tile t is
//
//	v[ξ*vx + t] = (Bᵀ·d·B)[i][j]
//
// where d is the tile's window: row r at x[r*ld:], column c at cols[c] in
// it, tile t one element further than tile t-1. Down the columns first
// (each column's six sums stored in v), then along the rows, each sum as
// wino43Sum takes it.
func wino34InputGo[T Float](v, x []T, cols *[6]int, ld, vx, tiles int) {
	for t := range tiles {
		var e [6][6]T // e[i][c] = (Bᵀ·d)[i][c]
		for c := range 6 {
			var d [6]T
			for r := range d {
				d[r] = x[r*ld+cols[c]+t]
			}
			for i, bi := range wino43BT {
				e[i][c] = wino43Sum(bi, &d)
			}
		}
		for i := range e {
			for jj, bj := range wino43BT {
				v[(6*i+jj)*vx+t] = wino43Sum(bj, &e[i])
			}
		}
	}
}

// wino34OutputGo is the portable output transform of F(3×3, 4×4), and the
// reference for the SIMD one (see wino34Output): for tiles tiles side by
// side and n channels, with element ξ = 6i+j of tile t of channel o at
// m[ξ*mx + o*mc + t],
//
//	y[o*yc + r*ldy + 3t + s] = (Aᵀ·M·A)[r][s] + bias[o]
//
// for r < rows and 3t + s < cols (the rest is not stored), down the
// columns first, then along the rows, then the bias.
func wino34OutputGo[T Float](y, m, bias []T, n, mc, mx, ldy, yc, tiles, rows, cols int) {
	for o := range n {
		mo := m[o*mc:]
		for t := range tiles {
			var col [6][6]T // col[j][i] = M[i][j]
			for i := range 6 {
				for jj := range 6 {
					col[jj][i] = mo[(6*i+jj)*mx+t]
				}
			}
			for r, at := range wino34AT[:rows] {
				var row [6]T
				for jj := range 6 {
					row[jj] = wino43Sum(at, &col[jj])
				}
				for s, as := range wino34AT {
					if 3*t+s < cols {
						y[o*yc+r*ldy+3*t+s] = wino43Sum(as, &row) + bias[o]
					}
				}
			}
		}
	}
}
