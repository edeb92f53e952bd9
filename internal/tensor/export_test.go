package tensor

// Hooks for the black-box tests into the kernels and their references.

// ReadFloat reads the JSON number s as Parse does, reporting whether it is
// well formed and within float64.
func ReadFloat(s []byte) (v float64, n int, syntaxOK, rangeOK bool) {
	v, n, st := readNumber(s, 0)
	return v, n, st != numSyntax, st == numOK
}

// AppendFloat64 is the fast float64 writer.
func AppendFloat64(b []byte, v float64) []byte { return appendFloat64(b, v) }

// AppendFloatReference is the strconv-based writer it must match.
func AppendFloatReference(b []byte, v float64, bits int) []byte { return appendFloat(b, v, bits) }

// AppendJSONReference is the plain recursive writer AppendJSON must match.
func AppendJSONReference(b []byte, t Dense, bits int) []byte {
	if len(t.Shape) == 0 {
		return appendFloat(b, t.Data[0], bits)
	}
	return appendNested(b, t.Shape, t.Data, bits)
}

// Pow10 returns the table entry for 10^e and the table's range.
func Pow10(e int) (hi, lo uint64) { return pow10[e-pow10Min][0], pow10[e-pow10Min][1] }

const Pow10Min, Pow10Max = pow10Min, pow10Max

var (
	FloorLog10Pow2              = floorLog10Pow2
	FloorLog10ThreeQuartersPow2 = floorLog10ThreeQuartersPow2
	FloorLog2Pow10              = floorLog2Pow10
	EightDigits                 = eightDigits
	ParseEight                  = parseEight
)

const ChunkElems = chunkElems

// ParseWith is Parse with a given number of workers for the rows.
func ParseWith(raw []byte, lim Limits, workers int) (Dense, error) {
	d, _, err := parse(raw, lim, true, workers)
	if err != nil {
		return Dense{}, err
	}
	return d, nil
}

const ParallelMin = parallelMin

// RowsAhead returns how many rows Parse would read ahead on workers.
func RowsAhead(raw []byte, lim Limits, workers int) int {
	p := parser{b: raw, lim: lim, max: 1 << 62}
	p.readRowsAhead(workers)
	if p.ahead == nil {
		return 0
	}
	n := 0
	for _, e := range p.ahead.ends {
		if e >= 0 {
			n++
		}
	}
	return n
}
