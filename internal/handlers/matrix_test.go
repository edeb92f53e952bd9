package handlers

import (
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// referenceMatrix decodes with encoding/json and checks the shape: the
// independent reference parseMatrix must agree with.
func referenceMatrix(raw []byte) ([][]float64, bool) {
	// Pointers tell a JSON null, which is no number, from a zero.
	var ptrs [][]*float64
	if err := json.Unmarshal(raw, &ptrs); err != nil || len(ptrs) == 0 {
		return nil, false
	}
	m := make([][]float64, len(ptrs))
	for i, row := range ptrs {
		if len(row) == 0 || len(row) != len(ptrs[0]) {
			return nil, false
		}
		for _, v := range row {
			if v == nil {
				return nil, false
			}
			m[i] = append(m[i], *v)
		}
	}
	return m, true
}

func FuzzParseMatrix(f *testing.F) {
	for _, seed := range []string{
		`[[0,1,2],[3,4,5],[6,7,8]]`, `[[1, -1]]`, ` [ [ 1e3 , -2.5E-3 ] ] `, `[[1],[2,3]]`, `[]`, `[[]]`,
		`[1,2]`, `[[1,"2"]]`, `[[null]]`, `[[1e999]]`, `[[-0]]`, `[[true]]`, `[[[1]]]`, `{"a":1}`, `"x"`, `null`,
		`[[0.1,0.2],[0.30000000000000004,5e-324]]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return // parseMatrix only ever sees what encoding/json accepted
		}
		got, err := parseMatrix(raw, "/input", "max_elements", 0)
		want, ok := referenceMatrix(raw)
		if !ok {
			var ae *apiError
			if err == nil || !errors.As(err, &ae) || ae.status != 422 || ae.pointer == "" {
				t.Fatalf("parseMatrix(%s) = %v, want a 422 naming a field", raw, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("parseMatrix(%s) = %v, want %v", raw, err, want)
		}
		if diff := cmp.Diff(want, rows(got)); diff != "" {
			t.Fatalf("parseMatrix(%s) mismatch (-encoding/json +got):\n%s", raw, diff)
		}
	})
}

func TestParseMatrixLimit(t *testing.T) {
	_, err := parseMatrix([]byte(`[[1,2],[3,4],[5,6]]`), "/input", "max_elements", 5)
	var ae *apiError
	if !errors.As(err, &ae) || ae.status != 413 || ae.limit != "max_elements" {
		t.Fatalf("parseMatrix over the limit = %v, want a 413 naming max_elements", err)
	}
	if _, err := parseMatrix([]byte(`[[1,2],[3,4],[5,6]]`), "/input", "max_elements", 6); err != nil {
		t.Fatalf("parseMatrix at the limit = %v", err)
	}
}

func FuzzAppendFloat(f *testing.F) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 19, 0.1, 1e-6, 9.99e-7, 1e20, 1e21, 123456789e30, 5e-324, math.MaxFloat64} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		s := appendFloat(nil, v)
		back, err := strconv.ParseFloat(string(s), 64)
		if err != nil || math.Float64bits(back) != math.Float64bits(v) {
			t.Fatalf("appendFloat(%v) = %s, which reads back as %v (%v)", v, s, back, err)
		}
		if want, _ := json.Marshal(v); string(want) != string(s) {
			t.Fatalf("appendFloat(%v) = %s, encoding/json writes %s", v, s, want)
		}
	})
}
