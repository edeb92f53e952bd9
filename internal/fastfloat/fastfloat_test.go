package fastfloat_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/corr2d/corr2d/internal/fastfloat"
)

// The float reader and writer are checked against strconv, their
// reference, over edge cases and many random inputs; their tables and
// constants are checked against exact arithmetic.

func TestPow10TableIsExact(t *testing.T) {
	one := big.NewInt(1)
	mask := new(big.Int).Sub(new(big.Int).Lsh(one, 64), one)
	for e := fastfloat.Pow10Min; e <= fastfloat.Pow10Max; e++ {
		// floor(10^e × 2^s) in [2^127, 2^128): 10^e = num/den.
		num, den := big.NewInt(1), big.NewInt(1)
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil)
		if e >= 0 {
			num = p
		} else {
			den = p
		}
		s := 128 - (num.BitLen() - den.BitLen())
		var want *big.Int
		for {
			n, d := new(big.Int).Set(num), new(big.Int).Set(den)
			if s >= 0 {
				n.Lsh(n, uint(s))
			} else {
				d.Lsh(d, uint(-s))
			}
			want = n.Quo(n, d)
			if want.BitLen() > 128 {
				s--
				continue
			}
			if want.BitLen() < 128 {
				s++
				continue
			}
			break
		}
		hi, lo := fastfloat.Pow10(e)
		if hi != new(big.Int).Rsh(want, 64).Uint64() || lo != new(big.Int).And(want, mask).Uint64() {
			t.Fatalf("Pow10(%d) = %#x %#x, want %#x", e, hi, lo, want)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// floorLog10 returns floor(log10(num/den)).
func floorLog10(num, den *big.Int) int {
	k := len(num.String()) - len(den.String())
	ten := big.NewInt(10)
	le := func(k int) bool { // 10^k × den <= num
		p := new(big.Int).Exp(ten, big.NewInt(int64(abs(k))), nil)
		if k >= 0 {
			return new(big.Int).Mul(p, den).Cmp(num) <= 0
		}
		return new(big.Int).Mul(den, big.NewInt(1)).Cmp(new(big.Int).Mul(num, p)) <= 0
	}
	for !le(k) {
		k--
	}
	for le(k + 1) {
		k++
	}
	return k
}

func TestFloorLogsAreExact(t *testing.T) {
	pow2 := func(q int) (num, den *big.Int) {
		if q >= 0 {
			return new(big.Int).Lsh(big.NewInt(1), uint(q)), big.NewInt(1)
		}
		return big.NewInt(1), new(big.Int).Lsh(big.NewInt(1), uint(-q))
	}
	for q := -1200; q <= 1200; q++ {
		num, den := pow2(q)
		if got, want := fastfloat.FloorLog10Pow2(q), floorLog10(num, den); got != want {
			t.Fatalf("FloorLog10Pow2(%d) = %d, want %d", q, got, want)
		}
		num.Mul(num, big.NewInt(3))
		den.Mul(den, big.NewInt(4))
		if got, want := fastfloat.FloorLog10ThreeQuartersPow2(q), floorLog10(num, den); got != want {
			t.Fatalf("FloorLog10ThreeQuartersPow2(%d) = %d, want %d", q, got, want)
		}
	}
	for e := -500; e <= 500; e++ {
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil)
		want := p.BitLen() - 1 // floor(log2 10^e) for e >= 0
		if e < 0 {
			want = -p.BitLen() // 10^|e| is no power of two
		}
		if got := fastfloat.FloorLog2Pow10(e); got != want {
			t.Fatalf("FloorLog2Pow10(%d) = %d, want %d", e, got, want)
		}
	}
}

func TestEightDigits(t *testing.T) {
	check := func(s string) {
		w := binary.LittleEndian.Uint64([]byte(s))
		want := strings.Trim(s, "0123456789") == ""
		if got := fastfloat.EightDigits(w); got != want {
			t.Fatalf("EightDigits(%q) = %v, want %v", s, got, want)
		}
		if want {
			n, _ := strconv.ParseUint(s, 10, 64)
			if got := fastfloat.ParseEight(w); got != n {
				t.Fatalf("ParseEight(%q) = %d, want %d", s, got, n)
			}
		}
	}
	for pos := range 8 {
		for c := range 256 {
			b := []byte("12345678")
			b[pos] = byte(c)
			check(string(b))
			b = []byte("99999999")
			b[pos] = byte(c)
			check(string(b))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		var b [8]byte
		for i := range b {
			if r.IntN(4) == 0 {
				b[i] = byte(r.IntN(256))
			} else {
				b[i] = byte('0' + r.IntN(10))
			}
		}
		check(string(b[:]))
	}
}

// checkReadFloat compares the reader with strconv.ParseFloat on s, a JSON
// number: the same bits, and a range error exactly where strconv has one.
func checkReadFloat(t *testing.T, s string) {
	t.Helper()
	want, err := strconv.ParseFloat(s, 64)
	got, n, syntaxOK, rangeOK := readFloat([]byte(s))
	if !syntaxOK || n != len(s) {
		t.Fatalf("ReadFloat(%q) read %d bytes, syntax ok %v; want all %d", s, n, syntaxOK, len(s))
	}
	if rangeOK != (err == nil) {
		t.Fatalf("ReadFloat(%q) in range = %v, strconv says %v", s, rangeOK, err)
	}
	if rangeOK && math.Float64bits(got) != math.Float64bits(want) {
		t.Fatalf("ReadFloat(%q) = %v (%#x), strconv reads %v (%#x)", s, got, math.Float64bits(got), want, math.Float64bits(want))
	}
}

func TestReadFloatEdgeCases(t *testing.T) {
	for _, s := range []string{
		"0", "-0", "0.0", "-0.0", "0e0", "0E+5", "-0e-5", "0e999999999999", "0.000e-99999",
		"1", "-1", "9", "10", "123456789", "1.5", "0.1", "0.2", "0.3", "1e22", "1e23", "9e22", "12e30",
		"9007199254740991", "9007199254740992", "9007199254740993", "9007199254740994", "9007199254740995",
		"18014398509481985", "18446744073709551615", "18446744073709551616", "99999999999999999999",
		"1234567890123456789", "12345678901234567890", "123456789012345678901234567890",
		"0.1000000000000000055511151231257827", "0.10000000000000000555111512312578271",
		"2.2250738585072011e-308", "2.2250738585072014e-308", "2.225073858507201136057409796709131975934819546351645648e-308",
		"4.9406564584124654e-324", "2.4703282292062327e-324", "2.4703282292062328e-324", "5e-324", "1e-324", "3e-324",
		"1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "1e308", "1e309", "-1e400",
		"1e-400", "1e-99999999999999999999", "1e99999999999999999999", "-1e+99999999999999999999",
		"0.00000000000000000000000000000000000000001", "100000000000000000000000000000000000000000e-41",
		"7.038531e-26", "8.98846567431158e307", "5.0000000000000000000000000000000000001e-324",
		"1.00000000000000011102230246251565404236316680908203125",
		"1.00000000000000011102230246251565404236316680908203124",
		"1.00000000000000011102230246251565404236316680908203126",
		"0.9999999999999999444888487687421760603063276150", "-0.7235694921548763", "0.30000000000000004",
		strings.Repeat("1", 800), "0." + strings.Repeat("0", 400) + "1e400", "1" + strings.Repeat("0", 500) + "e-500",
	} {
		checkReadFloat(t, s)
	}
}

func TestReadFloatMatchesStrconvOnRandomInput(t *testing.T) {
	n := 300000
	if testing.Short() || raceEnabled {
		n = 20000
	}
	r := rand.New(rand.NewPCG(3, 4))
	digits := func(k int, first bool) string {
		var b strings.Builder
		for i := range k {
			d := r.IntN(10)
			if i == 0 && first && d == 0 {
				d = 1 + r.IntN(9)
			}
			b.WriteByte(byte('0' + d))
		}
		return b.String()
	}
	for range n {
		// A float in one of strconv's formats.
		v := math.Float64frombits(r.Uint64())
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			prec := r.IntN(26) - 1
			checkReadFloat(t, strconv.FormatFloat(v, "eg"[r.IntN(2)], prec, 64))
			if a := math.Abs(v); a < 1e30 && a > 1e-30 {
				checkReadFloat(t, strconv.FormatFloat(v, 'f', -1, 64))
			}
		}
		// Typical values, as the encoder writes them.
		checkReadFloat(t, strconv.FormatFloat(r.Float64()*2-1, 'f', -1, 64))
		checkReadFloat(t, strconv.FormatFloat(r.NormFloat64()*1000, 'f', -1, 64))
		// Random digits, often more than 19 of them.
		s := "0"
		if k := r.IntN(25); k > 0 {
			s = digits(k, true)
		}
		if r.IntN(2) == 0 {
			s = "-" + s
		}
		if r.IntN(3) > 0 {
			s += "." + digits(1+r.IntN(30), false)
		}
		if r.IntN(2) == 0 {
			s += "eE"[r.IntN(2):][:1] + []string{"", "+", "-"}[r.IntN(3)] + strconv.Itoa(r.IntN(700))
		}
		checkReadFloat(t, s)
		// Halfway between two neighbouring floats, exactly (which takes up
		// to 767 digits) and cut short; a slow reference, so sampled.
		a := math.Float64frombits(r.Uint64() >> 1)
		if r.IntN(40) == 0 && !math.IsInf(a, 0) && !math.IsNaN(a) {
			lo, hi := new(big.Float).SetFloat64(a), new(big.Float).SetFloat64(math.Nextafter(a, math.Inf(1)))
			if !math.IsInf(math.Nextafter(a, math.Inf(1)), 0) {
				mid := new(big.Float).SetPrec(2000).Add(lo, hi)
				mid.Quo(mid, big.NewFloat(2))
				checkReadFloat(t, mid.Text('e', 40))
				checkReadFloat(t, mid.Text('e', 800))
			}
		}
	}
}

func TestReadFloatRejectsMalformedNumbers(t *testing.T) {
	for _, s := range []string{"-", "-a", "--1", "1.", "1.e5", "1e", "1e+", "1E-", "-.5", "1.x", "1ex"} {
		if _, _, syntaxOK, _ := readFloat([]byte(s)); syntaxOK {
			t.Errorf("ReadFloat(%q) is well formed, want a syntax fault", s)
		}
	}
	// A number ends where its grammar ends; what follows is the caller's.
	for s, want := range map[string]int{"01": 1, "-0.5.5": 4, "1e5e5": 3, "12,": 2, "1 ": 1, "0x1": 1} {
		if _, n, ok, _ := readFloat([]byte(s)); !ok || n != want {
			t.Errorf("ReadFloat(%q) reads %d bytes (ok %v), want %d", s, n, ok, want)
		}
	}
}

func checkAppendFloat64(t *testing.T, v float64) {
	t.Helper()
	got := fastfloat.AppendFloat64(nil, v)
	want := fastfloat.AppendFloat(nil, v, 64)
	if string(got) != string(want) {
		t.Fatalf("AppendFloat64(%v = %#x) = %s, want %s", v, math.Float64bits(v), got, want)
	}
}

func TestAppendFloat64MatchesReference(t *testing.T) {
	for _, v := range []float64{
		0, math.Copysign(0, -1), 1, -1, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 100, 1e15, 1e16, 1e17, 1e20, 1e21, 1e22, 1e23,
		9.999999999999999e20, 1e-6, 9.999999999999999e-7, 1e-7, 5e-324, 1e-323, 2e-323, math.SmallestNonzeroFloat64,
		math.MaxFloat64, 2.2250738585072014e-308, 2.225073858507201e-308, 9007199254740992, 9007199254740993,
		123456789012345680000, 0.30000000000000004, 1.7976931348623157e308, math.NaN(), math.Inf(1), math.Inf(-1),
	} {
		checkAppendFloat64(t, v)
	}
	// Every power of two with its neighbours, and small subnormals.
	for e := -1074; e <= 1023; e++ {
		v := math.Ldexp(1, e)
		checkAppendFloat64(t, v)
		checkAppendFloat64(t, math.Nextafter(v, 0))
		checkAppendFloat64(t, math.Nextafter(v, math.Inf(1)))
	}
	for c := uint64(1); c < 20000; c++ {
		checkAppendFloat64(t, math.Float64frombits(c))
	}
	for e := -325; e <= 308; e++ {
		v, _ := strconv.ParseFloat("1e"+strconv.Itoa(e), 64)
		checkAppendFloat64(t, v)
		checkAppendFloat64(t, math.Nextafter(v, 0))
		checkAppendFloat64(t, math.Nextafter(v, math.Inf(1)))
	}
	n := 1000000
	if testing.Short() || raceEnabled {
		n = 50000
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range n {
		checkAppendFloat64(t, math.Float64frombits(r.Uint64()))
		checkAppendFloat64(t, r.Float64()*2-1)
		checkAppendFloat64(t, float64(r.IntN(1<<20))/float64(int(1)<<r.IntN(20)))
	}
}

// readFloat reads the JSON number s, reporting whether it is well formed
// and within float64.
func readFloat(s []byte) (v float64, n int, syntaxOK, rangeOK bool) {
	v, n, st := fastfloat.ReadNumber(s, 0)
	return v, n, st != fastfloat.Syntax, st == fastfloat.OK
}

// FuzzReadFloat compares the number reader with strconv on JSON numbers.
func FuzzReadFloat(f *testing.F) {
	for _, seed := range []string{"0", "-0", "1.5", "1e22", "1e23", "9007199254740993", "0.1", "2.2250738585072011e-308",
		"4.9e-324", "1.7976931348623159e308", "123456789012345678901234567890", "0.000000000000000000001234", "-0.7235694921548763"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.Trim(s, " \t\r\n") // which json.Valid allows around a number
		if s == "" || s[0] != '-' && (s[0] < '0' || s[0] > '9') || !json.Valid([]byte(s)) {
			return
		}
		checkReadFloat(t, s)
	})
}
