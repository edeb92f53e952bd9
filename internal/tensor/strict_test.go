package tensor_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/corr2d/corr2d/internal/tensor"
)

func TestParseRejectsWhatIsNotJSON(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		offset int // of the fault, -1 if not checked
	}{
		{"empty input", ``, 0},
		{"only white space", " \n\t", 3},
		{"a missing comma", `[1 2]`, 3},
		{"a doubled comma", `[1,,2]`, 3},
		{"a leading comma", `[,1]`, 1},
		{"a trailing comma", `[1,]`, 3},
		{"a trailing comma after spaces", "[1 , \n]", 6},
		{"a trailing comma after a row", `[[1],]`, 5},
		{"a leading zero", `[01]`, 2},
		{"a leading zero after a minus", `[-01]`, 3},
		{"a plus sign", `[+1]`, 1},
		{"a point with no digits after it", `[1.]`, 3},
		{"a point with no digits before it", `[.5]`, 1},
		{"an exponent with no digits", `[1e]`, 3},
		{"an exponent with only a sign", `[1e+]`, 4},
		{"a lone minus", `[-]`, 2},
		{"a double minus", `[--1]`, 2},
		{"two points", `[1.5.2]`, 4},
		{"two exponents", `[1e5e5]`, 4},
		{"hex", `[0x10]`, 2},
		{"an underscore", `[1_000]`, 2},
		{"NaN", `[NaN]`, 1},
		{"Infinity", `[Infinity]`, 1},
		{"minus Infinity", `[-Infinity]`, 2},
		{"an unterminated array", `[1`, 2},
		{"an unterminated row", `[[1,2]`, 6},
		{"an unterminated matrix", `[[1,2],[3,4]`, 12},
		{"an unclosed row after a comma", `[[1,2],`, 7},
		{"garbage after the array", `[1]x`, 3},
		{"a second array", `[1] [2]`, 4},
		{"an extra bracket", `[1]]`, 3},
		{"a NUL after the array", "[1]\x00", 3},
		{"a byte order mark", "\ufeff[1]", 0},
		{"a misspelt literal", `[tru]`, -1},
		{"an unterminated string", `["a]`, -1},
		{"a control character in a string", "[\"\x01\"]", -1},
		{"a bad escape", `["\x"]`, -1},
		{"a malformed object inside", `[{"a":1,}]`, -1},
		{"a ragged matrix with garbage after it", `[[1],[2,3]] x`, 12},
		{"a string then an unterminated row", `[[1,"a"],[`, 10},
		{"an overflow then a missing bracket", `[[1e999]`, 8},
		{"a missing bracket after a long row", `[[1,2,3,4,5,6,7,8,9,10,11,12]`, 29},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if json.Valid([]byte(tt.raw)) {
				t.Fatalf("json.Valid(%q) = true; the case is wrong", tt.raw)
			}
			_, err := tensor.Parse([]byte(tt.raw), tensor.Limits{MaxRank: 4, MaxElements: 1})
			var te *tensor.Error
			if !errors.As(err, &te) || te.Kind != tensor.BadSyntax {
				t.Fatalf("Parse(%q) = %v, want a BadSyntax error", tt.raw, err)
			}
			if tt.offset >= 0 && !strings.Contains(te.Msg, "at byte "+strconv.Itoa(tt.offset)+":") {
				t.Errorf("Parse(%q) = %q, want the fault at byte %d", tt.raw, te.Msg, tt.offset)
			}
		})
	}
}

func TestParseAcceptsAllJSONWhiteSpaceAndNumberForms(t *testing.T) {
	raw := " \t\r\n[ \t\r\n[ 1 , -0.5 , 2E3 , 2e+3 , 2e-3 , 0 , -0 , 0.0e0 ] \n, [1,2,3,4,5,6,7,8] ]\n "
	got, err := tensor.Parse([]byte(raw), tensor.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := tensor.Dense{Shape: []int{2, 8}, Data: []float64{1, -0.5, 2000, 2000, 0.002, 0, negZero(), 0, 1, 2, 3, 4, 5, 6, 7, 8}}
	if !sameDense(want, got) {
		t.Errorf("Parse(%q) = %v, want %v", raw, got, want)
	}
}

func TestParseNestingLimitMatchesEncodingJSON(t *testing.T) {
	for _, depth := range []int{9999, 10000, 10001} {
		raw := []byte(strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth))
		got, err := tensor.Parse(raw, tensor.Limits{})
		if valid := json.Valid(raw); valid != (err == nil) {
			t.Fatalf("Parse(%d nested arrays) = %v, but json.Valid says %v", depth, err, valid)
		}
		if err == nil && len(got.Shape) != depth {
			t.Fatalf("Parse(%d nested arrays) has rank %d", depth, len(got.Shape))
		}
		// A limit on rank is a shape fault, unless the text is not JSON.
		_, err = tensor.Parse(raw, tensor.Limits{MaxRank: 4})
		var te *tensor.Error
		if !errors.As(err, &te) || (te.Kind == tensor.BadSyntax) == json.Valid(raw) {
			t.Fatalf("Parse(%d nested arrays, MaxRank 4) = %v", depth, err)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		n    int
		want tensor.Dense
	}{
		{"a matrix before more members", `[[1,2],[3,4]], "kernel": [[1]]}`, 13, tensor.Dense{Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4}}},
		{"leading white space counts", "  \n[1] x", 6, tensor.Dense{Shape: []int{1}, Data: []float64{1}}},
		{"trailing white space does not", "[1]  ", 3, tensor.Dense{Shape: []int{1}, Data: []float64{1}}},
		{"a number ends the prefix", "[1]2", 3, tensor.Dense{Shape: []int{1}, Data: []float64{1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, n, err := tensor.ParsePrefix([]byte(tt.raw), tensor.Limits{})
			if err != nil || n != tt.n || !sameDense(tt.want, got) {
				t.Fatalf("ParsePrefix(%q) = %v, %d, %v; want %v, %d", tt.raw, got, n, err, tt.want, tt.n)
			}
		})
	}
	faults := []struct {
		raw  string
		kind tensor.Kind
	}{
		{`[[1],[2,3]], garbage`, tensor.BadShape}, // what follows the value is not checked
		{`[[1],[2,3] garbage`, tensor.BadSyntax},  // but the value itself is
		{`[1,`, tensor.BadSyntax},
		{`{"a":1} x`, tensor.BadShape},
		{`{"a":1 x`, tensor.BadSyntax},
	}
	for _, tt := range faults {
		_, _, err := tensor.ParsePrefix([]byte(tt.raw), tensor.Limits{})
		var te *tensor.Error
		if !errors.As(err, &te) || te.Kind != tt.kind {
			t.Errorf("ParsePrefix(%q) = %v, want kind %d", tt.raw, err, tt.kind)
		}
	}
}

// A decode allocates its result and hardly anything else: no copy of the
// input and no intermediate form.
func TestParseAllocatesLittleBeyondTheResult(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures a 20 MB decode")
	}
	raw := matrixJSON(1024, 1024, uniform)
	var got tensor.Dense
	alloc := allocated(func() {
		var err error
		if got, err = tensor.Parse(raw, tensor.Limits{}); err != nil {
			t.Fatal(err)
		}
	})
	data := int64(8 * len(got.Data))
	t.Logf("Parse of %d bytes of JSON allocated %d bytes for %d bytes of data (%.3f×)", len(raw), alloc, data, float64(alloc)/float64(data))
	if alloc > data+data/50+4096 {
		t.Errorf("Parse allocated %d bytes for %d bytes of data", alloc, data)
	}
}
