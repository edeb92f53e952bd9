package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/zap"

	"github.com/corr2d/corr2d/internal/engine"
)

// BenchmarkCorr2dJSON measures a whole JSON /corr2d exchange on a 1024×1024
// float64 input with a 3×3 kernel: through the handler, and through the same
// steps done with encoding/json, in one run so that the ratio is fair.
// Bytes/s count the request and answer bodies.
func BenchmarkCorr2dJSON(b *testing.B) {
	const n = 1024
	r := rand.New(rand.NewPCG(1, 2))
	x := make([][]float64, n)
	for i := range x {
		x[i] = make([]float64, n)
		for j := range x[i] {
			x[i][j] = r.Float64()*2 - 1
		}
	}
	k := [][]float64{{1, 0, -1}, {2, 0, -2}, {1, 0, -1}}
	body, err := json.Marshal(map[string]any{"input": x, "kernel": k})
	if err != nil {
		b.Fatal(err)
	}
	f := newFixture(b, options{log: zap.NewNop()})

	b.Run("impl=handler", func(b *testing.B) {
		b.ReportAllocs()
		var answer int
		for b.Loop() {
			req := httptest.NewRequest(http.MethodPost, "/corr2d", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			f.srv.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
			answer = rec.Body.Len()
		}
		b.SetBytes(int64(len(body) + answer))
	})

	b.Run("impl=encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		var answer int
		for b.Loop() {
			var req struct {
				Input, Kernel [][]float64
			}
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				b.Fatal(err)
			}
			xt := engine.Tensor[float64]{Shape: [4]int{1, 1, len(req.Input), len(req.Input[0])}}
			for _, row := range req.Input {
				xt.Data = append(xt.Data, row...)
			}
			kt := engine.Tensor[float64]{Shape: [4]int{1, 1, len(req.Kernel), len(req.Kernel[0])}}
			for _, row := range req.Kernel {
				kt.Data = append(kt.Data, row...)
			}
			out, err := engine.Conv2D(context.Background(), f.eng, engine.Interactive, xt, kt, nil, engine.Conv{})
			if err != nil {
				b.Fatal(err)
			}
			rows := make([][]float64, out.Shape[2])
			for i := range rows {
				rows[i] = out.Data[i*out.Shape[3] : (i+1)*out.Shape[3]]
			}
			resp, err := json.Marshal(map[string]any{"output": rows, "shape": out.Shape[2:], "dtype": "float64"})
			if err != nil {
				b.Fatal(err)
			}
			answer = len(resp)
		}
		b.SetBytes(int64(len(body) + answer))
	})
}
