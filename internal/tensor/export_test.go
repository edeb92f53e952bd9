package tensor

import "github.com/corr2d/corr2d/internal/fastfloat"

// Hooks for the black-box tests into the kernels and their references.

// AppendJSONReference is the plain recursive writer AppendJSON must match.
func AppendJSONReference(b []byte, t Dense, bits int) []byte {
	if len(t.Shape) == 0 {
		return fastfloat.AppendFloat(b, t.Data[0], bits)
	}
	return appendNested(b, t.Shape, t.Data, bits)
}

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
