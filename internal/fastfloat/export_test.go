package fastfloat

// Hooks for the black-box tests into the tables and digit kernels.

// Pow10 returns the table entry for 10^e.
func Pow10(e int) (hi, lo uint64) { return pow10[e-pow10Min][0], pow10[e-pow10Min][1] }

// Pow10Min and Pow10Max are the table's range.
const Pow10Min, Pow10Max = pow10Min, pow10Max

var (
	FloorLog10Pow2              = floorLog10Pow2
	FloorLog10ThreeQuartersPow2 = floorLog10ThreeQuartersPow2
	FloorLog2Pow10              = floorLog2Pow10
	ParseEight                  = parseEight
)
