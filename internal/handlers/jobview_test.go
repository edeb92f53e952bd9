package handlers_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/npy"
)

func TestJobViewsShowTensorsByShapeAndServeThemApart(t *testing.T) {
	f := newFixture(t, options{})
	const input = `[[0.1, 1, 0], [1, 1, 0.3]]`
	rec := f.do(t, http.MethodPost, "/train", `{"input": `+input+`, "target": [[0, 1], [0, 1]], "kernel_size": [1, 2],
		"steps": 1000000, "optimizer": {"name": "sgd", "momentum": 0.5}}`)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST /train = %d: %s", rec.Code, rec.Body)
	}
	id := decode[jobView](t, rec).ID
	defer f.do(t, http.MethodPost, "/jobs/"+id+"/cancel", "")
	for _, path := range []string{"/jobs/" + id, "/jobs"} {
		body := f.do(t, http.MethodGet, path, "").Body.String()
		for _, want := range []string{`"input":{"shape":[2,3],"dtype":"float32"}`, `"target":{"shape":[2,2],"dtype":"float32"}`, `"momentum":0.5`} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s = %s, want it to hold %s", path, body, want)
			}
		}
		for _, absent := range []string{"[[0.1", `"betas"`, `"eps"`} {
			if strings.Contains(body, absent) {
				t.Errorf("GET %s = %s, shows %s", path, body, absent)
			}
		}
	}

	rec = f.do(t, http.MethodGet, "/jobs/"+id+"/input", "")
	var got struct {
		Shape []int       `json:"shape"`
		DType string      `json:"dtype"`
		Data  [][]float64 `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET input = %d %s (%v)", rec.Code, rec.Body, err)
	}
	want := [][]float64{{0.1, 1, 0}, {1, 1, 0.3}}
	if diff := cmp.Diff(want, got.Data); diff != "" || got.DType != "float32" || !cmp.Equal(got.Shape, []int{2, 3}) {
		t.Errorf("GET input = %s (-sent +got):\n%s", rec.Body, diff)
	}

	req := httptest.NewRequest(http.MethodGet, "/jobs/"+id+"/target", nil)
	req.Header.Set("Accept", "application/x-npy")
	rec = f.v.Serve(t, f.srv, req)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/x-npy" {
		t.Fatalf("GET target as npy = %d %s", rec.Code, rec.Header())
	}
	arr, err := npy.Read(bytes.NewReader(rec.Body.Bytes()), npy.Limits{MaxElements: 100})
	if err != nil {
		t.Fatal(err)
	}
	if arr.DType != npy.Float32 || !cmp.Equal(arr.Shape, []int{2, 2}) || !cmp.Equal(arr.F32, []float32{0, 1, 0, 1}) {
		t.Errorf("target .npy = %+v, want float32 2x2 [0 1 0 1]", arr)
	}

	req = httptest.NewRequest(http.MethodGet, "/jobs/"+id+"/input", nil)
	req.Header.Set("Accept", "image/png")
	if rec := f.v.Serve(t, f.srv, req); rec.Code != http.StatusNotAcceptable {
		t.Errorf("GET input as png = %d, want 406", rec.Code)
	}
	if rec := f.do(t, http.MethodGet, "/jobs/01J9Z3K4M5N6P7Q8R9S0T1V2W3/input", ""); rec.Code != http.StatusNotFound {
		t.Errorf("GET input of an unknown job = %d, want 404", rec.Code)
	}
}
