package tensor

import (
	"math"
	"math/bits"
	"slices"
	"strconv"
)

// Writing a float64 in its shortest round-tripping form, as
// strconv.AppendFloat(b, v, 'f' or 'e', -1, 64) does, by Giulietti's
// Schubfach method: scale the value and the two ends of its rounding
// interval by a power of ten with one 126-bit multiplication each, then
// choose, among the decimals inside the interval, one with the fewest
// digits and of those the closest to the value (ties to an even last digit).
// The digits are the same as strconv's; only the way of finding them is
// cheaper. Float32 output keeps strconv.

// appendFloat64 appends v formatted as encoding/json formats a float64:
// plain notation from 1e-6 up to 1e21, exponent notation outside, with the
// exponent's leading zero dropped (1e-7, not 1e-07).
func appendFloat64(b []byte, v float64) []byte {
	u := math.Float64bits(v)
	if u&(1<<63-1) == 0 {
		if u != 0 {
			return append(b, '-', '0')
		}
		return append(b, '0')
	}
	if u>>52&0x7ff == 0x7ff {
		// NaN and ±Inf are not JSON; write them as the reference does.
		return strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	// The longest form is 25 bytes (-0.0000012345678901234567); write
	// into room for 32 by index rather than append byte by byte.
	b = slices.Grow(b, 32)
	pos := len(b)
	out := b[pos : pos+32]
	k := 0
	if u>>63 != 0 {
		out[0] = '-'
		k = 1
	}
	d, e := shortest(u & (1<<63 - 1))
	for d%10 == 0 {
		d /= 10
		e++
	}
	n := decimalLen(d)
	if a := math.Abs(v); a < 1e-6 || a >= 1e21 {
		// d.ddde±x: the digits one place right, then the first moved
		// back in front of the point.
		putDigits(out[k+1:k+1+n], d)
		out[k] = out[k+1]
		if n > 1 {
			out[k+1] = '.'
			k += n + 1
		} else {
			k++
		}
		x := e + n - 1
		out[k] = 'e'
		if x < 0 {
			out[k+1] = '-'
			x = -x
		} else {
			out[k+1] = '+'
		}
		k += 2
		switch {
		case x >= 100:
			out[k] = byte('0' + x/100)
			x %= 100
			k++
			fallthrough
		case x >= 10:
			out[k], out[k+1] = digitPairs[2*x], digitPairs[2*x+1]
			k += 2
		default:
			out[k] = byte('0' + x)
			k++
		}
		return b[:pos+k]
	}
	switch point := n + e; {
	case point <= 0: // 0.000ddd
		out[k], out[k+1] = '0', '.'
		k += 2
		for ; point < 0; point++ {
			out[k] = '0'
			k++
		}
		putDigits(out[k:k+n], d)
		k += n
	case point < n: // dd.ddd: the digits one place right, then the
		// integer part moved back in front of the point
		putDigits(out[k+1:k+1+n], d)
		for j := k; j < k+point; j++ {
			out[j] = out[j+1]
		}
		out[k+point] = '.'
		k += n + 1
	default: // ddd000
		putDigits(out[k:k+n], d)
		k += n
		for ; point > n; point-- {
			out[k] = '0'
			k++
		}
	}
	return b[:pos+k]
}

const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// putDigits writes d into dst, which is exactly as long as d has digits:
// eight at a time from the right, in four independent pairs, then the rest.
func putDigits(dst []byte, d uint64) {
	i := len(dst)
	for i >= 8 {
		q := d / 1e8
		putEight(dst[i-8:i], uint32(d-q*1e8))
		d = q
		i -= 8
	}
	for i >= 2 {
		q := d / 100
		r := d - q*100
		dst[i-2], dst[i-1] = digitPairs[2*r], digitPairs[2*r+1]
		d = q
		i -= 2
	}
	if i == 1 {
		dst[0] = byte('0' + d)
	}
}

// putEight writes x < 10^8 as exactly eight digits.
func putEight(dst []byte, x uint32) {
	_ = dst[7]
	hi := x / 10000
	lo := x - hi*10000
	h1, l1 := hi/100, lo/100
	h2, l2 := hi-h1*100, lo-l1*100
	dst[0], dst[1] = digitPairs[2*h1], digitPairs[2*h1+1]
	dst[2], dst[3] = digitPairs[2*h2], digitPairs[2*h2+1]
	dst[4], dst[5] = digitPairs[2*l1], digitPairs[2*l1+1]
	dst[6], dst[7] = digitPairs[2*l2], digitPairs[2*l2+1]
}

// decimalLen returns how many digits d > 0 has.
func decimalLen(d uint64) int {
	// bits.Len64 × log10(2), rounded down, is the length or one less.
	n := (bits.Len64(d) * 1233) >> 12
	if d >= uint64Pow10[n] {
		n++
	}
	return n
}

// shortest returns d and e such that d×10^e, with d as short as possible,
// reads back as the positive finite float64 whose bits are u.
func shortest(u uint64) (d uint64, e int) {
	frac := u & (1<<52 - 1)
	biased := int(u >> 52)
	var c uint64 // v = c × 2^q
	var q int
	if biased != 0 {
		c = frac | 1<<52
		q = biased - 1075
		// An integer below 2^53 is its own shortest form: no other decimal
		// with as few digits is within half a unit of it.
		if 0 < -q && -q < 53 {
			if f := c >> uint(-q); f<<uint(-q) == c {
				return f, 0
			}
		}
	} else {
		c = frac
		q = -1074
	}
	// The rounding interval is [v - half a unit below, v + half a unit
	// above], closed when c is even (round-half-even reads the ends back as
	// v). In units of a quarter of 2^q, v is cb and the ends are cbl and cbr;
	// at a power of two (not subnormal) the unit below is half the one above.
	open := c & 1
	cb := c << 2
	cbr := cb + 2
	var cbl uint64
	var k int
	if frac != 0 || biased <= 1 {
		cbl = cb - 2
		k = floorLog10Pow2(q)
	} else {
		cbl = cb - 1
		k = floorLog10ThreeQuartersPow2(q)
	}
	// Scale by 10^-k: vb, vbl and vbr are 4×v×10^-k and the ends, rounded
	// down with a sticky low bit, so s = vb/4 has 16 or 17 digits.
	h := q + floorLog2Pow10(-k) + 2
	g1, g0 := schubfachG(-k)
	vb := roundOdd(g1, g0, cb<<uint(h))
	vbl := roundOdd(g1, g0, cbl<<uint(h))
	vbr := roundOdd(g1, g0, cbr<<uint(h))
	s := vb >> 2
	// One digit fewer: at most one multiple of ten (at this scale) fits in
	// the interval, which is narrower than ten units.
	sp10 := s / 10 * 10
	tp10 := sp10 + 10
	upin := vbl+open <= sp10<<2
	wpin := tp10<<2+open <= vbr
	if upin != wpin {
		if upin {
			return sp10, k
		}
		return tp10, k
	}
	// Otherwise s or s+1, whichever is inside, or the closer if both are.
	t := s + 1
	uin := vbl+open <= s<<2
	win := t<<2+open <= vbr
	if uin != win {
		if uin {
			return s, k
		}
		return t, k
	}
	mid := (s + t) << 1 // 4 × (s + 1/2)
	if vb < mid || vb == mid && s&1 == 0 {
		return s, k
	}
	return t, k
}

// schubfachG returns g = floor(10^e × 2^r) + 1 for the r that puts
// floor(10^e × 2^r) in [2^125, 2^126), split into its high 63 bits and low
// 63 bits. It is the 128-bit table entry shifted down by two.
func schubfachG(e int) (g1, g0 uint64) {
	t := &pow10[e-pow10Min]
	lo := t[1]>>2 | t[0]<<62
	hi := t[0] >> 2
	lo++
	if lo == 0 {
		hi++
	}
	return hi<<1 | lo>>63, lo & (1<<63 - 1)
}

// roundOdd returns floor(g × cp / 2^127) with its lowest bit set when the
// division is not exact, where g = g1×2^63 + g0.
func roundOdd(g1, g0, cp uint64) uint64 {
	x1, _ := bits.Mul64(g0, cp)
	y1, y0 := bits.Mul64(g1, cp)
	z := y0>>1 + x1
	vbp := y1 + z>>63
	return vbp | (z&(1<<63-1)+(1<<63-1))>>63
}

// floorLog10Pow2 returns floor(q × log10(2)) for |q| ≤ 5456721.
func floorLog10Pow2(q int) int {
	return (q * 661971961083) >> 41
}

// floorLog10ThreeQuartersPow2 returns floor(log10(3/4 × 2^q)) for
// |q| ≤ 5456721.
func floorLog10ThreeQuartersPow2(q int) int {
	return (q*661971961083 - 274743187321) >> 41
}

// floorLog2Pow10 returns floor(e × log2(10)) for |e| ≤ 1838394.
func floorLog2Pow10(e int) int {
	return (e * 913124641741) >> 38
}
