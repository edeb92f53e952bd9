package jsonscan_test

import (
	"bytes"
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

// BenchmarkObject checks a 20 MB request body held in memory and splits
// it into its members: with Stream.Object over FromBytes, and with
// encoding/json into a struct of json.RawMessage fields (which also copies
// the values); json.Valid is the floor of what checking the syntax costs
// encoding/json.
func BenchmarkObject(b *testing.B) {
	doc := body(1024, 1024)
	b.Run("size=1024x1024/impl=Stream.Object-FromBytes", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if fault, _ := jsonscan.FromBytes(doc).Object(func(string) jsonscan.Action { return jsonscan.Action{} }); fault != nil {
				b.Fatal(fault)
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

// BenchmarkStream walks the same 20 MB body with Stream.Object through a
// 1 MiB window, as the handlers do: the tensor is checked by the walker
// (a member nobody reads), the other members are captured.
func BenchmarkStream(b *testing.B) {
	doc := body(1024, 1024)
	b.Run("size=1024x1024/impl=Stream.Object", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			s := jsonscan.NewStream(bytes.NewReader(doc), 1<<20)
			var capture []byte
			fault, _ := s.Object(func(key string) jsonscan.Action {
				if key == "input" {
					return jsonscan.Action{}
				}
				capture = capture[:0]
				return jsonscan.Action{Capture: &capture}
			})
			if fault != nil || s.Err() != nil {
				b.Fatal(fault, s.Err())
			}
		}
	})
}
