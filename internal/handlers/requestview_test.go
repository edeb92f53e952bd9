package handlers

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/tensor"
	"github.com/corr2d/corr2d/internal/train"
)

// Jobs stored before views were lean echo their tensors and every
// optimizer field; views show them as new jobs do.
func TestRequestViewOfAnOldJobIsLean(t *testing.T) {
	j := jobs.Job{
		Spec: jobs.Spec{
			Input:     tensor.Dense{Shape: []int{1, 1, 2, 3}},
			Target:    tensor.Dense{Shape: []int{1, 1, 2, 2}},
			Rank:      2,
			DType:     train.Float64,
			Optimizer: train.Optimizer{Name: train.Adam, Betas: [2]float64{0.9, 0.999}, Eps: 1e-8},
			Request: json.RawMessage(`{"input": [[1, 2, 3], [4, 5, 6]], "target": [[1, 2], [3, 4]], "init": [[0.5, 1]],
				"lr": 0.1, "optimizer": {"name": "adam", "momentum": 0, "dampening": 0, "nesterov": false,
				"weight_decay": 0, "betas": [0.9, 0.999], "eps": 1e-8}}`),
		},
		InitWeight: tensor.Dense{Shape: []int{1, 1, 1, 2}, Data: []float64{0.5, 1}},
	}
	var got map[string]any
	if err := json.Unmarshal(requestView(j), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"input":     map[string]any{"shape": []any{2.0, 3.0}, "dtype": "float64"},
		"target":    map[string]any{"shape": []any{2.0, 2.0}, "dtype": "float64"},
		"init":      map[string]any{"shape": []any{1.0, 2.0}, "dtype": "float64"},
		"lr":        0.1,
		"optimizer": map[string]any{"name": "adam", "weight_decay": 0.0, "betas": []any{0.9, 0.999}, "eps": 1e-8},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requestView mismatch (-want +got):\n%s", diff)
	}
}
