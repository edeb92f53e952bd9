package jsonscan_test

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/corr2d/corr2d/internal/jsonscan"
)

// body is a /corr2d request with an h×w input of typical values.
func body(h, w int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := []byte(`{"input": [`)
	for i := range h {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for j := range w {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, r.Float64()*2-1, 'f', -1, 64)
		}
		b = append(b, ']')
	}
	return append(b, `], "kernel": [[1, 0, -1], [2, 0, -2], [1, 0, -1]], "padding": "same", "dtype": "float64"}`...)
}

// BenchmarkObject splits a 20 MB request body into its members: with
// Object, and as the handlers do today, with encoding/json into a struct of
// json.RawMessage fields (which also copies the values); json.Valid is the
// floor of what checking the syntax costs encoding/json.
func BenchmarkObject(b *testing.B) {
	doc := body(1024, 1024)
	b.Run("size=1024x1024/impl=jsonscan.Object", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if err := jsonscan.Object(doc, func(string, []byte) error { return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("size=1024x1024/impl=json.Unmarshal-RawMessage", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			var req struct {
				Input, Kernel, Padding, DType json.RawMessage
			}
			if err := json.Unmarshal(doc, &req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("size=1024x1024/impl=json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if !json.Valid(doc) {
				b.Fatal("invalid")
			}
		}
	})
}
