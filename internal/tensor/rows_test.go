package tensor_test

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/corr2d/corr2d/internal/tensor"
)

// bigRows writes an h×w matrix of typical values, one row per element of
// the result, so that a test can spoil single rows.
func bigRows(h, w int) []string {
	r := rand.New(rand.NewPCG(7, 8))
	rows := make([]string, h)
	for i := range rows {
		var b []byte
		b = append(b, '[')
		for j := range w {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, r.Float64()*2-1, 'f', -1, 64)
		}
		rows[i] = string(append(b, ']'))
	}
	return rows
}

// Parse reads the rows of a large document on several goroutines; whatever
// the document, it must say exactly what reading it on one says.
func TestParseLargeDocumentsAgreeWithOneWorker(t *testing.T) {
	rows := bigRows(300, 256)
	join := func(rows []string) string { return "[" + strings.Join(rows, ",") + "]" }
	spoil := func(i int, f func(string) string) string {
		c := slices.Clone(rows)
		c[i] = f(c[i])
		return join(c)
	}
	third := func(rows []string) string { // 3 × 100 × 256
		return "[" + join(rows[:100]) + ", " + join(rows[100:200]) + ",\n" + join(rows[200:]) + "]"
	}
	tests := []struct {
		name string
		doc  string
		lim  tensor.Limits
	}{
		{"a well-formed matrix", join(rows), tensor.Limits{}},
		{"a matrix with spaces", "[ " + strings.Join(rows, " ,\n ") + " ]", tensor.Limits{}},
		{"a rank-3 tensor", third(rows), tensor.Limits{}},
		{"a row with one element more", spoil(150, func(r string) string { return r[:len(r)-1] + ",1]" }), tensor.Limits{}},
		{"a row with one element less", spoil(150, func(r string) string { return r[:strings.LastIndexByte(r, ',')] + "]" }), tensor.Limits{}},
		{"the last row short", spoil(299, func(r string) string { return r[:strings.LastIndexByte(r, ',')] + "]" }), tensor.Limits{}},
		{"a string in a row", spoil(100, func(r string) string { return strings.Replace(r, ",", `,"x",`, 1) }), tensor.Limits{}},
		{"a bracket in a string", spoil(100, func(r string) string { return strings.Replace(r, ",", `,"[1,2]",`, 1) }), tensor.Limits{}},
		{"an overflow in a row", spoil(200, func(r string) string { return strings.Replace(r, ",", ",1e999,", 1) }), tensor.Limits{}},
		{"a leading zero in a row", spoil(200, func(r string) string { return strings.Replace(r, ",", ",01,", 1) }), tensor.Limits{}},
		{"a nested array in a row", spoil(10, func(r string) string { return strings.Replace(r, ",", ",[1],", 1) }), tensor.Limits{}},
		{"a missing comma in a row", spoil(250, func(r string) string { return strings.Replace(r, ",", " ", 1) }), tensor.Limits{}},
		{"a row not closed", spoil(250, func(r string) string { return r[:len(r)-1] + "," }), tensor.Limits{}},
		{"garbage between rows", spoil(120, func(r string) string { return r + "x" }), tensor.Limits{}},
		{"an empty row", spoil(120, func(string) string { return "[]" }), tensor.Limits{}},
		{"a number for a row", spoil(120, func(string) string { return "5" }), tensor.Limits{}},
		{"a truncated document", join(rows)[:len(join(rows))-1000], tensor.Limits{}},
		{"garbage after the document", join(rows) + " x", tensor.Limits{}},
		{"too many elements", join(rows), tensor.Limits{MaxElements: 300*256 - 1}},
		{"exactly enough elements", join(rows), tensor.Limits{MaxElements: 300 * 256}},
		{"too deep", third(rows), tensor.Limits{MaxRank: 2}},
		{"not deep enough", join(rows), tensor.Limits{MinRank: 3}},
	}
	// The workers read every row of a well-formed document but the first.
	for _, doc := range []string{tests[0].doc, tests[1].doc, tests[2].doc} {
		if n := tensor.RowsAhead([]byte(doc), tensor.Limits{}, 2); n != 299 {
			t.Fatalf("RowsAhead read %d rows, want 299", n)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.doc) < tensor.ParallelMin {
				t.Fatalf("the document has %d bytes, too few to be read in parallel", len(tt.doc))
			}
			want, wantErr := tensor.ParseWith([]byte(tt.doc), tt.lim, 1)
			for _, workers := range []int{2, 3, 8} {
				got, err := tensor.ParseWith([]byte(tt.doc), tt.lim, workers)
				if !sameError(err, wantErr) || !sameDense(got, want) {
					t.Fatalf("with %d workers: %v, %v; with one: %v", workers, err, got.Shape, wantErr)
				}
			}
		})
	}
}

func sameError(a, b error) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	ta, tb := a.(*tensor.Error), b.(*tensor.Error) //nolint:errorlint // Parse returns only *tensor.Error
	return *ta == *tb
}
