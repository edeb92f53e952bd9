package fastfloat

import (
	"encoding/binary"
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

// MaxFloat64Len is the room PutFloat64 needs: the longest number is 25
// bytes (-0.0000012345678901234567), and the digits are stored eight bytes
// at a time, the last store ending up to seven bytes past the number.
const MaxFloat64Len = 32

// AppendFloat64 appends v formatted as encoding/json formats a float64:
// plain notation from 1e-6 up to 1e21, exponent notation outside, with the
// exponent's leading zero dropped (1e-7, not 1e-07).
func AppendFloat64(b []byte, v float64) []byte {
	b = slices.Grow(b, MaxFloat64Len)
	n := PutFloat64(b[len(b):len(b)+MaxFloat64Len], v)
	return b[:len(b)+n]
}

// PutFloat64 writes v as AppendFloat64 does at the start of dst, which has
// room for MaxFloat64Len bytes, and returns the length of the number. It
// may write past the number, within that room.
func PutFloat64(dst []byte, v float64) int {
	out := dst[:MaxFloat64Len]
	u := math.Float64bits(v)
	if u&(1<<63-1) == 0 {
		if u != 0 {
			out[0], out[1] = '-', '0'
			return 2
		}
		out[0] = '0'
		return 1
	}
	if u>>52&0x7ff == 0x7ff {
		// NaN and ±Inf are not JSON; write them as the reference does.
		return copy(out, strconv.AppendFloat(out[:0:0], v, 'f', -1, 64))
	}
	// The sign is random in typical data: rather than branch on it, write
	// a minus and start the number after it or over it.
	out[0] = '-'
	k := int(u >> 63)
	d, e := shortest(u & (1<<63 - 1))
	for d%10 == 0 {
		d /= 10
		e++
	}
	n := decimalLen(d)
	point := n + e // the decimal point's place, counted from the first digit
	switch a := math.Abs(v); {
	case a < 1e-6 || a >= 1e21: // d.ddde±x
		return k + putExponent(out[k:], d, n, point-1)
	case point <= 1 && point < n: // 0.000ddd or d.ddd
		// Values on either side of one are as common as each other, so
		// both are written alike: "0." and up to five zeros stored at
		// once, the digits after them, or from the dot on for d.ddd, whose
		// first digit then replaces the zero and the dot is put back.
		binary.LittleEndian.PutUint64(out[k:], 0x3030303030302e30)
		at := k + 1 + max(0, 1-point)
		putDigits(out[at:], d, n)
		first := out[k+1] // the first digit for d.ddd, the dot for 0.ddd
		if point != 1 {
			first = '0'
		}
		out[k], out[k+1] = first, '.'
		return at + n
	case point < n: // dd.ddd: the digits one place right, then the
		// integer part moved back in front of the point
		putDigits(out[k+1:], d, n)
		for j := k; j < k+point; j++ {
			out[j] = out[j+1]
		}
		out[k+point] = '.'
		return k + n + 1
	default: // ddd000
		putDigits(out[k:], d, n)
		for k += n; point > n; point-- {
			out[k] = '0'
			k++
		}
		return k
	}
}

// putExponent writes the n digits of d as d.ddde±x, with exponent x, into
// out, and returns the length.
func putExponent(out []byte, d uint64, n, x int) int {
	// The digits one place right, then the first moved back in front of
	// the point.
	putDigits(out[1:], d, n)
	out[0] = out[1]
	k := 1
	if n > 1 {
		out[1] = '.'
		k = n + 1
	}
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
	return k
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

// putDigits writes the n decimal digits of d (n is decimalLen(d), at most
// 20) at the start of dst, with eight-byte stores: the leading group of
// up to eight digits first, its unused bytes spilling past it, then the
// full groups of eight, which overwrite the spill. dst must have room for
// the number and for eight bytes from its first digit.
func putDigits(dst []byte, d uint64, n int) {
	if uint(n-16) <= 1 {
		// 16 or 17 digits, what most values need and which one it is is
		// anyone's guess: the first digit, a zero that the next group
		// overwrites if there are 16, then two groups of eight.
		hi := d / 1e16
		mid := d / 1e8
		k := n - 16
		dst[0] = byte('0' + hi)
		binary.LittleEndian.PutUint64(dst[k:], eightDigitsText(uint32(mid-hi*1e8)))
		binary.LittleEndian.PutUint64(dst[k+8:], eightDigitsText(uint32(d-mid*1e8)))
		return
	}
	switch {
	case n <= 8:
		binary.LittleEndian.PutUint64(dst, eightDigitsText(uint32(d))>>(8*(8-n)))
	case n <= 16:
		hi := d / 1e8
		binary.LittleEndian.PutUint64(dst, eightDigitsText(uint32(hi))>>(8*(16-n)))
		binary.LittleEndian.PutUint64(dst[n-8:], eightDigitsText(uint32(d-hi*1e8)))
	default:
		hi := d / 1e16
		mid := d / 1e8
		binary.LittleEndian.PutUint64(dst, eightDigitsText(uint32(hi))>>(8*(24-n)))
		binary.LittleEndian.PutUint64(dst[n-16:], eightDigitsText(uint32(mid-hi*1e8)))
		binary.LittleEndian.PutUint64(dst[n-8:], eightDigitsText(uint32(d-mid*1e8)))
	}
}

// eightDigitsText returns x < 10^8 as eight ASCII digits, leading zeros
// included, the first digit in the lowest byte (so that a little-endian
// store writes them in order). The divisions are done on all the parts of
// a word at once: x splits into two halves of four digits in the 32-bit
// lanes, each half into two pairs in 16-bit lanes, each pair into two
// digits in bytes. A quotient by 100 of a lane below 10^4 is the lane
// times 10486, shifted right by 20 (exact below 43699), and one by 10 of a
// lane below 100 is the lane times 103, shifted right by 10 (exact below
// 179); the products fit their lanes, and the masks drop what a shift
// brings in from the lane above.
func eightDigitsText(x uint32) uint64 {
	hi := x / 10000
	v := uint64(hi) | uint64(x-hi*10000)<<32
	q := (v * 10486 >> 20) & 0x0000007f0000007f
	v = q | (v-q*100)<<16
	q = (v * 103 >> 10) & 0x000f000f000f000f
	v = q | (v-q*10)<<8
	return v | 0x3030303030303030
}

// decimalLen returns how many digits d > 0 has.
func decimalLen(d uint64) int {
	// bits.Len64 × log10(2), rounded down, is the length or one less.
	n := (bits.Len64(d) * 1233) >> 12
	return n + int(bit(d >= uint64Pow10[n]))
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
		// with as few digits is within half a unit of it. v is one if the
		// fraction bits below the point are zero; the test needs no branch
		// on the magnitude, which typical data would keep guessing at: a
		// shift by -q of 53 or more (or negative, as a uint) makes the
		// mask cover all of c.
		if sh := uint(-q); c&(1<<sh-1) == 0 {
			return c >> sh, 0
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
	// One digit fewer, s10 or s10+1 tens, if exactly one of them is in the
	// interval (at most one multiple of ten fits, the interval being
	// narrower than ten units); otherwise s or s+1, whichever is inside,
	// or the closer if both are, the even one if they are equally close.
	// Which it is depends on the value's last bits, which no branch
	// predictor can guess, so the choice is made with arithmetic.
	s10 := s / 10
	upin := bit(vbl+open <= s10*40)
	wpin := bit((s10+1)*40+open <= vbr)
	uin := bit(vbl+open <= s<<2)
	win := bit((s+1)<<2+open <= vbr)
	mid := s<<2 | 2 // 4 × (s + 1/2)
	closer := bit(vb < mid) | bit(vb == mid)&^s
	takeS := uin & (win ^ 1 | closer) & 1
	short := upin ^ wpin
	mask := -short
	d = (s+1-takeS)&^mask | (s10+1-upin)&mask
	return d, k + int(short)
}

// bit is 1 for true and 0 for false.
func bit(b bool) uint64 {
	var x uint64
	if b {
		x = 1
	}
	return x
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

// AppendFloat appends v, as a float of the given bits (32 or 64), in its
// shortest form with strconv, in encoding/json's notation: exponent
// notation only for very large or small magnitudes. It is the reference
// for AppendFloat64, and the writer of float32 values.
func AppendFloat(b []byte, v float64, bits int) []byte {
	if a := math.Abs(v); a != 0 && (bits == 64 && (a < 1e-6 || a >= 1e21) || bits == 32 && (float32(a) < 1e-6 || float32(a) >= 1e21)) {
		n := len(b)
		b = strconv.AppendFloat(b, v, 'e', -1, bits)
		// Shorten e-07 to e-7, as encoding/json does.
		if m := len(b); m-n >= 4 && b[m-4] == 'e' && b[m-3] == '-' && b[m-2] == '0' {
			b[m-2] = b[m-1]
			b = b[:m-1]
		}
		return b
	}
	return strconv.AppendFloat(b, v, 'f', -1, bits)
}
