package jobs_test

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/corr2d/corr2d/internal/jobs"
	"github.com/corr2d/corr2d/internal/jobs/jobstest"
	"github.com/corr2d/corr2d/internal/train"
)

func TestTensorsRoundTripAtTheSmallestExactWidth(t *testing.T) {
	tests := []struct {
		name  string
		shape []int
		data  []float64
		bytes int
	}{
		{"float32 values take 4 bytes each", []int{2, 2}, []float64{1, -0.5, 3, math.Inf(1)}, 4 + 8 + 16},
		{"a value that is not a float32 makes it 8", []int{3}, []float64{1, 0.1, 2}, 4 + 4 + 24},
		{"an empty tensor", []int{0, 3}, []float64{}, 4 + 8},
		{"a scalar", []int{}, []float64{7}, 4 + 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := jobs.EncodeTensor(tt.shape, tt.data)
			if len(b) != tt.bytes {
				t.Errorf("EncodeTensor = %d bytes, want %d", len(b), tt.bytes)
			}
			shape, data, rest, err := jobs.DecodeTensor(b)
			if err != nil || len(rest) != 0 || !cmp.Equal(shape, tt.shape) || !cmp.Equal(data, tt.data) {
				t.Errorf("DecodeTensor = %v %v (%d left), %v", shape, data, len(rest), err)
			}
		})
	}
}

func TestLossChunksSplitAtGapsAndBound(t *testing.T) {
	var pts []jobs.LossPoint
	for i := 1; i <= 5000; i++ {
		pts = append(pts, jobs.LossPoint{Step: i, Loss: float64(i)})
	}
	pts = append(pts, jobs.LossPoint{Step: 6000, Loss: 1})
	chunks := jobs.LossChunks(pts)
	var firsts []int
	for _, c := range chunks {
		firsts = append(firsts, c.First)
	}
	if !cmp.Equal(firsts, []int{1, 4097, 6000}) {
		t.Fatalf("chunks start at %v, want [1 4097 6000]", firsts)
	}
	got, err := jobs.PageLosses(chunks, 4990, 20)
	if err != nil || len(got) != 11 || got[0].Step != 4991 || got[10].Step != 6000 {
		t.Errorf("PageLosses(after 4990, 20) = %v, %v", got, err)
	}
}

// FuzzDecode feeds arbitrary bytes to every decoder of stored values: they
// return an error, never panic or allocate beyond the input's size.
func FuzzDecode(f *testing.F) {
	r, err := jobs.EncodeJob(jobstest.NewJob("01F", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(r.Input)
	f.Add(r.Spec)
	f.Add(jobs.EncodeOptState(train.OptState{Step: 3, Buf: [][]float64{{1, 2}}, Sq: [][]float64{{0.1}}}))
	f.Add([]byte{'T', 1, 8, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if shape, data, _, err := jobs.DecodeTensor(b); err == nil {
			again := jobs.EncodeTensor(shape, data)
			if _, d2, _, err := jobs.DecodeTensor(again); err != nil || len(d2) != len(data) {
				t.Fatalf("re-encoded tensor does not decode: %v", err)
			}
		}
		if s, err := jobs.DecodeOptState(b); err == nil && len(b) > 0 && !bytes.Equal(jobs.EncodeOptState(s), b) && s.Step > 0 {
			if _, err := jobs.DecodeOptState(jobs.EncodeOptState(s)); err != nil {
				t.Fatalf("re-encoded state does not decode: %v", err)
			}
		}
		rec := r
		rec.Spec, rec.Weight = b, b
		_, _ = rec.Job()
		_, _ = (jobs.LossChunk{First: 1, Last: 3, Data: b}).Points()
	})
}
