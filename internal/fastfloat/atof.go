// Package fastfloat reads JSON numbers into float64 and writes float64 as
// encoding/json does, bit for bit as strconv would, only faster: the tensor
// codec spends most of its time here.
package fastfloat

//go:generate go run gen_pow10.go

import (
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
	"unsafe"
)

// Reading a JSON number into a float64, bit for bit as strconv.ParseFloat
// reads it, in three tiers from cheapest to most general:
//
//  1. Clinger's exact case: a significand of at most 2^53 and a power of ten
//     that float64 holds exactly (10^0..10^22). Both operands are exact, so
//     one IEEE multiplication or division rounds the true product correctly.
//  2. Eisel and Lemire's method: multiply the significand by a 128-bit
//     truncation of the power of ten and keep the result when the bits that
//     decide the rounding cannot be disturbed by the truncation. Most of what
//     shortest-form writers emit (16 and 17 significant digits, which exceed
//     2^53) lands here.
//  3. strconv.ParseFloat for the rest: more than 19 significant digits that
//     the two neighbouring significands cannot settle, subnormals, overflow,
//     and exact halfway cases.

// Status says how reading a number went.
type Status uint8

const (
	OK     Status = iota
	Syntax        // not the JSON number grammar; the index is of the offending byte
	Range         // well formed but beyond float64: ±Inf
)

// exactPow10 are the powers of ten that float64 represents exactly.
var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// uint64Pow10 are the powers of ten that fit a uint64.
var uint64Pow10 = [...]uint64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// ReadNumber reads the JSON number that starts at b[i], which is '-' or a
// digit, and returns its value and the index just past it. The number's end
// is where its grammar ends; the caller checks what follows.
//
// Fraction digits are taken eight at a time while eight are there. (A
// branch-free count of the leading digits of each word, tried too, was
// slower: it puts every load behind the previous count, where the branchy
// loop lets the processor run ahead.)
func ReadNumber(b []byte, i int) (float64, int, Status) {
	start := i
	neg := b[i] == '-'
	if neg {
		i++
		if i == len(b) {
			return 0, i, Syntax
		}
	}
	// The significand accumulates every digit, wrapping if there are more
	// than 19 of them; nd counts them (leading zeros after the point
	// included), and such a number is read again with care below.
	var m uint64
	nd := 0
	switch c := b[i]; {
	case c == '0':
		i++
	case c >= '1' && c <= '9':
		intStart := i
		i, m = addDigits(b, i, 0)
		nd = i - intStart
	default:
		return 0, i, Syntax
	}
	exp := 0
	if i < len(b) && b[i] == '.' {
		i++
		fracStart := i
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			if !EightDigits(w) {
				break
			}
			m = m*100000000 + parseEight(w)
			i += 8
		}
		i, m = addDigits(b, i, m)
		if i == fracStart {
			return 0, i, Syntax
		}
		exp = fracStart - i
		nd += i - fracStart
	}
	mantEnd := i
	expPart := 0
	if i < len(b) && b[i]|0x20 == 'e' {
		var ok bool
		if i, expPart, ok = readExponent(b, i+1); !ok {
			return 0, i, Syntax
		}
	}
	exp += expPart
	truncated := false
	if nd > 19 {
		m, exp, truncated = significand(b[start:mantEnd], expPart)
	}
	if f, ok := fastFloat(m, exp, truncated); ok {
		if neg {
			f = -f
		}
		return f, i, OK
	}
	return parseFloat(b, start, i)
}

// addDigits appends the decimal digits from b[i] on to m, and returns the
// index past them with the new m, which wraps past 19 digits.
func addDigits(b []byte, i int, m uint64) (int, uint64) {
	for i < len(b) {
		d := b[i] - '0'
		if d > 9 {
			break
		}
		m = m*10 + uint64(d)
		i++
	}
	return i, m
}

// readExponent reads the exponent that starts at b[i], just after the 'e',
// and returns the index past it and its value; ok is false if it has no
// digits. Past any float64 exponent the value is 0 or Inf whatever follows,
// so the exponent stops growing there rather than overflow.
func readExponent(b []byte, i int) (end, exp int, ok bool) {
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	expStart := i
	for i < len(b) {
		d := b[i] - '0'
		if d > 9 {
			break
		}
		if exp < 1_000_000 {
			exp = exp*10 + int(d)
		}
		i++
	}
	if neg {
		exp = -exp
	}
	return i, exp, i > expStart
}

// parseFloat reads b[start:end], a checked JSON number, with strconv.
func parseFloat(b []byte, start, end int) (float64, int, Status) {
	// unsafe.String lends the bytes to ParseFloat as a string without a
	// copy. That is safe because ParseFloat does not keep its argument (its
	// errors hold a copy) and b is not modified during the call.
	f, err := strconv.ParseFloat(unsafe.String(&b[start], end-start), 64)
	if err != nil || math.IsInf(f, 0) {
		return f, end, Range
	}
	return f, end, OK
}

// significand reads a number's digits (s is the number up to its exponent,
// already checked) when there are more than 19 of them: it keeps the first
// 19 significant digits and says whether any digit dropped was not zero.
func significand(s []byte, expPart int) (m uint64, exp int, truncated bool) {
	exp = expPart
	sig := 0
	frac := false
	for _, c := range s {
		switch c {
		case '-':
			continue
		case '.':
			frac = true
			continue
		}
		d := uint64(c - '0')
		if frac {
			exp--
		}
		switch {
		case sig == 0 && d == 0:
			// A leading zero only places the point.
		case sig < 19:
			m = m*10 + d
			sig++
		default:
			exp++ // the digit is dropped, its place kept
			if d != 0 {
				truncated = true
			}
		}
	}
	return m, exp, truncated
}

// fastFloat returns m×10^exp correctly rounded, if the first two tiers can
// decide it. With truncated, the true significand lies strictly between m
// and m+1, and the answer stands only if both round to the same float64.
func fastFloat(m uint64, exp int, truncated bool) (float64, bool) {
	if m == 0 {
		return 0, !truncated
	}
	if !truncated && m <= 1<<53 {
		switch {
		case 0 <= exp && exp <= 22:
			return float64(m) * exactPow10[exp], true
		case -22 <= exp && exp < 0:
			return float64(m) / exactPow10[-exp], true
		case 22 < exp && exp <= 22+15:
			// Move the excess of the power into the significand while it
			// stays exact: 12e30 is 12e8 × 1e22.
			if p := uint64Pow10[exp-22]; m <= (1<<53)/p {
				return float64(m*p) * 1e22, true
			}
		}
	}
	f, ok := eiselLemire(m, exp)
	if !ok || !truncated {
		return f, ok
	}
	g, ok := eiselLemire(m+1, exp)
	return f, ok && f == g
}

// eiselLemire returns m×10^exp (m > 0) correctly rounded to a normal
// float64, or false when it cannot tell: the result would be subnormal or
// infinite, or the truncated power of ten leaves the rounding in doubt.
func eiselLemire(m uint64, exp int) (float64, bool) {
	if exp < pow10Min || exp > pow10Max {
		return 0, false
	}
	// With m normalised into [2^63, 2^64) and 10^exp = T × 2^(lg+1-128)
	// where T is the table's 128-bit significand and lg = floor(log2 10^exp),
	// the product's top 64 bits hi carry the float's significand and the
	// value is hi × 2^(lg+1-clz).
	clz := bits.LeadingZeros64(m)
	m <<= uint(clz)
	t := &pow10[exp-pow10Min]
	hi, lo := bits.Mul64(m, t[0])
	// The low word of T adds less than m to (hi, lo). It matters only when
	// it could carry into the nine bits below a 54-bit significand that are
	// all ones.
	if hi&0x1ff == 0x1ff && lo+m < lo {
		carry, low := bits.Mul64(m, t[1])
		var c uint64
		lo, c = bits.Add64(lo, carry, 0)
		hi += c
		// T itself is truncated: the true product is below (hi, lo, low) + m.
		if hi&0x1ff == 0x1ff && lo == math.MaxUint64 && low+m < low {
			return 0, false
		}
	}
	top := hi >> 63 // 1 if the product's leading bit is bit 63 of hi
	mant := hi >> (top + 9)
	// The biased exponent of the float whose significand's leading bit is the
	// product's leading bit: 2^(63+lg+1-clz), less one if that bit is 62.
	lg := (217706 * exp) >> 16 // floor(exp × log2 10) over the table's range
	biased := lg + 64 - clz + 1023 - int(1^top)
	// A product exactly halfway between two floats, as far as these bits
	// can tell, might round either way once the truncation is undone.
	if lo == 0 && hi&0x1ff == 0 && mant&3 == 1 {
		return 0, false
	}
	mant = (mant + mant&1) >> 1 // round the 54 bits to 53, half up; ties were excluded
	if mant>>53 != 0 {
		mant >>= 1
		biased++
	}
	if biased <= 0 || biased >= 0x7ff {
		return 0, false
	}
	return math.Float64frombits(uint64(biased)<<52 | mant&(1<<52-1)), true
}

// EightDigits reports whether all eight bytes of w (read little-endian from
// the text) are ASCII digits: the high nibble of each is 3, and stays 3 when
// 6 is added (which carries out of the low nibble for ':' to '?'). A carry
// from one byte into the next only happens when a byte is already not a
// digit.
func EightDigits(w uint64) bool {
	const hiNibbles = 0xf0f0f0f0f0f0f0f0
	return w&hiNibbles|(w+0x0606060606060606)&hiNibbles>>4 == 0x3333333333333333
}

// parseEight returns the value of the eight digits in w, the first digit in
// the lowest byte.
func parseEight(w uint64) uint64 {
	return combineDigits(w - 0x3030303030303030)
}

// combineDigits returns the value of eight digit values (0 to 9), one a
// byte, the first in the lowest byte, by combining neighbours pairwise:
// digits into two-digit numbers, those into four-digit ones, and those into
// one of eight.
func combineDigits(w uint64) uint64 {
	w = (w*10 + w>>8) & 0x00ff00ff00ff00ff
	w = (w*100 + w>>16) & 0x0000ffff0000ffff
	return (w*10000 + w>>32) & 0xffffffff
}
