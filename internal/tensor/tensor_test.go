package tensor_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/tensor"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		lim  tensor.Limits
		want tensor.Dense
	}{
		{"a vector", `[1, 2.5, -3e2]`, tensor.Limits{}, tensor.Dense{Shape: []int{3}, Data: []float64{1, 2.5, -300}}},
		{"a matrix", ` [[0,1,2] , [3,4,5]] `, tensor.Limits{}, tensor.Dense{Shape: []int{2, 3}, Data: []float64{0, 1, 2, 3, 4, 5}}},
		{"a 1x1x1x1 tensor", `[[[[7]]]]`, tensor.Limits{MaxRank: 4}, tensor.Dense{Shape: []int{1, 1, 1, 1}, Data: []float64{7}}},
		{"a 2x1x2 tensor", `[[[1,2]],[[3,4]]]`, tensor.Limits{}, tensor.Dense{Shape: []int{2, 1, 2}, Data: []float64{1, 2, 3, 4}}},
		{"negative zero stays negative", `[[-0]]`, tensor.Limits{}, tensor.Dense{Shape: []int{1, 1}, Data: []float64{math.Copysign(0, -1)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tensor.Parse([]byte(tt.raw), tt.lim)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%s) mismatch (-want +got):\n%s", tt.raw, diff)
			}
		})
	}
}

func TestParseNamesTheFault(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		lim     tensor.Limits
		kind    tensor.Kind
		pointer string
	}{
		{"a number", `5`, tensor.Limits{}, tensor.BadShape, ""},
		{"an object", `{"a": 1}`, tensor.Limits{}, tensor.BadShape, ""},
		{"an empty array", `[]`, tensor.Limits{}, tensor.BadShape, ""},
		{"an empty row", `[[1], []]`, tensor.Limits{}, tensor.BadShape, "/1"},
		{"a ragged row", `[[1, 2], [3, 4], [5]]`, tensor.Limits{}, tensor.BadShape, "/2"},
		{"a ragged deep row", `[[[1, 2], [3, 4]], [[5, 6], [7]]]`, tensor.Limits{}, tensor.BadShape, "/1/1"},
		{"an array among numbers", `[[1, [2]]]`, tensor.Limits{}, tensor.BadShape, "/0/1"},
		{"a number among arrays", `[[1, 2], 3]`, tensor.Limits{}, tensor.BadShape, "/1"},
		{"a string", `[[1, "2"]]`, tensor.Limits{}, tensor.BadValue, "/0/1"},
		{"a null", `[[1], [null]]`, tensor.Limits{}, tensor.BadValue, "/1/0"},
		{"a boolean", `[true]`, tensor.Limits{}, tensor.BadValue, "/0"},
		{"an overflow", `[[1e400]]`, tensor.Limits{}, tensor.BadValue, "/0/0"},
		{"too deep", `[[[1]]]`, tensor.Limits{MaxRank: 2}, tensor.BadShape, "/0/0"},
		{"too shallow", `[1, 2]`, tensor.Limits{MinRank: 2}, tensor.BadShape, ""},
		{"too many elements", `[[1, 2], [3, 4]]`, tensor.Limits{MaxElements: 3}, tensor.TooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tensor.Parse([]byte(tt.raw), tt.lim)
			var te *tensor.Error
			if !errors.As(err, &te) || te.Kind != tt.kind || te.Pointer != tt.pointer {
				t.Fatalf("Parse(%s) = %#v, want kind %d at %q", tt.raw, err, tt.kind, tt.pointer)
			}
		})
	}
}

// reference decodes with encoding/json and checks the shape: the
// independent reference Parse must agree with.
func reference(raw []byte) (tensor.Dense, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return tensor.Dense{}, false
	}
	var shape []int
	for x := v; ; {
		a, ok := x.([]any)
		if !ok {
			break
		}
		if len(a) == 0 {
			return tensor.Dense{}, false
		}
		shape = append(shape, len(a))
		x = a[0]
	}
	if len(shape) == 0 {
		return tensor.Dense{}, false
	}
	var data []float64
	var walk func(x any, depth int) bool
	walk = func(x any, depth int) bool {
		if depth == len(shape) {
			f, ok := x.(float64)
			data = append(data, f)
			return ok
		}
		a, ok := x.([]any)
		if !ok || len(a) != shape[depth] {
			return false
		}
		for _, e := range a {
			if !walk(e, depth+1) {
				return false
			}
		}
		return true
	}
	if !walk(v, 0) {
		return tensor.Dense{}, false
	}
	return tensor.Dense{Shape: shape, Data: data}, true
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`[[0,1,2],[3,4,5],[6,7,8]]`, `[[1, -1]]`, ` [ [ 1e3 , -2.5E-3 ] ] `, `[[1],[2,3]]`, `[]`, `[[]]`,
		`[1,2]`, `[[1,"2"]]`, `[[null]]`, `[[1e999]]`, `[[-0]]`, `[[true]]`, `[[[1]]]`, `{"a":1}`, `"x"`, `null`,
		`[[[1,2]],[[3,4]]]`, `[[[[0.5]]]]`, `[[0.1,0.2],[0.30000000000000004,5e-324]]`,
		`[1 2]`, `[1,,2]`, `[1,]`, `[01]`, `[+1]`, `[1.]`, `[.5]`, `[1e]`, `[[1,2]`, `[1]x`, `[1]]`, ``, ` `,
		`[-0.7235694921548763, 12.345678901234567, 1e-7, 123456789012345678901234567890]`,
		`[[1],[2,3]] x`, `[{"a":[1,}]`, `["\u00e9\ud800", "\"]`, "[1,\n2\t,\r3 ]",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := tensor.Parse(raw, tensor.Limits{})
		var te *tensor.Error
		if err != nil && !errors.As(err, &te) {
			t.Fatalf("Parse(%q) = %#v, want a *tensor.Error", raw, err)
		}
		if !json.Valid(raw) {
			if err == nil || te.Kind != tensor.BadSyntax {
				t.Fatalf("Parse(%q) = %v, %v; encoding/json rejects it, want a BadSyntax error", raw, got, err)
			}
			if strings.HasSuffix(te.Msg, ": malformed JSON") {
				t.Fatalf("Parse(%q) = %v: the grammar did not say what is wrong", raw, err)
			}
			// A valid value may still start it: ParsePrefix reads just that.
			if d, n, err := tensor.ParsePrefix(raw, tensor.Limits{}); err == nil {
				if again, err := tensor.Parse(raw[:n], tensor.Limits{}); err != nil || !sameDense(d, again) {
					t.Fatalf("ParsePrefix(%q) = %v, %d but Parse(%q) = %v, %v", raw, d, n, raw[:n], again, err)
				}
			}
			return
		}
		if err != nil && te.Kind == tensor.BadSyntax {
			t.Fatalf("Parse(%q) = %v, but it is valid JSON", raw, err)
		}
		want, ok := reference(raw)
		if !ok {
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", raw, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("Parse(%q) = %v, want %v", raw, err, want)
		}
		if !sameDense(want, got) {
			t.Fatalf("Parse(%q) = %v, encoding/json reads %v", raw, got, want)
		}
		// The value ends where encoding/json says; anything may follow.
		trimmed := bytes.TrimRight(raw, " \t\r\n")
		d, n, err := tensor.ParsePrefix(append(trimmed[:len(trimmed):len(trimmed)], `,]x`...), tensor.Limits{})
		if err != nil || n != len(trimmed) || !sameDense(want, d) {
			t.Fatalf("ParsePrefix(%q + ...) = %v, %d, %v; want %v, %d", trimmed, d, n, err, want, len(trimmed))
		}
		back := tensor.AppendJSON(nil, got, 64)
		again, err := tensor.Parse(back, tensor.Limits{})
		if err != nil || !sameDense(got, again) {
			t.Fatalf("AppendJSON(%v) = %s, which parses back as %v, %v", got, back, again, err)
		}
	})
}

// sameDense compares shapes and the bits of the data, so that -0 differs
// from 0.
func sameDense(a, b tensor.Dense) bool {
	if !slices.Equal(a.Shape, b.Shape) || len(a.Data) != len(b.Data) {
		return false
	}
	for i := range a.Data {
		if math.Float64bits(a.Data[i]) != math.Float64bits(b.Data[i]) {
			return false
		}
	}
	return true
}

func FuzzAppendJSON(f *testing.F) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 19, 0.1, 1e-6, 9.99e-7, 1e20, 1e21, 123456789e30, 5e-324, math.MaxFloat64, 1.0000001} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return
		}
		one := func(v float64, bits int) string {
			return string(tensor.AppendJSON(nil, tensor.Dense{Shape: []int{1}, Data: []float64{v}}, bits))
		}
		if want, _ := json.Marshal([]float64{v}); one(v, 64) != string(want) {
			t.Fatalf("AppendJSON(%v, 64) = %s, encoding/json writes %s", v, one(v, 64), want)
		}
		f32 := float32(v)
		if math.IsInf(float64(f32), 0) {
			return
		}
		s := one(float64(f32), 32)
		back, err := strconv.ParseFloat(s[1:len(s)-1], 32)
		if err != nil || float32(back) != f32 {
			t.Fatalf("AppendJSON(%v, 32) = %s, which reads back as %v (%v)", f32, s, back, err)
		}
		if want, _ := json.Marshal([]float32{f32}); s != string(want) {
			t.Fatalf("AppendJSON(%v, 32) = %s, encoding/json writes %s", f32, s, want)
		}
	})
}
