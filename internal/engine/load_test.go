package engine_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/corr2d/corr2d/internal/engine"
)

// BenchmarkSmallUnderLoad measures how long small interactive requests
// (128² with 3×3) take while a 4096² request with an 11×11 kernel keeps both
// workers busy, submitted either as background work or as another
// interactive request. It reports the small requests' median and worst
// latency and the big request's time; nothing is asserted, since timings on
// a shared machine say nothing reliable.
//
//	go test -run XXX -bench SmallUnderLoad -benchtime 3x ./internal/engine/
func BenchmarkSmallUnderLoad(b *testing.B) {
	for _, p := range []engine.Priority{engine.Background, engine.Interactive} {
		b.Run("big="+p.String(), func(b *testing.B) { benchSmallUnderLoad(b, p) })
	}
}

func benchSmallUnderLoad(b *testing.B, big engine.Priority) {
	e := newTestEngine(b, engine.Config{Workers: 2})
	r := rand.New(rand.NewPCG(41, 42))
	bx, bk := randTensor[float32](r, [4]int{1, 1, 4096, 4096}), randTensor[float32](r, [4]int{1, 1, 11, 11})
	sx, sk := randTensor[float32](r, [4]int{1, 1, 128, 128}), randTensor[float32](r, [4]int{1, 1, 3, 3})
	ctx := context.Background()
	var lat []time.Duration
	var bigTime time.Duration
	for b.Loop() {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Go(func() {
			t0 := time.Now()
			if _, err := engine.Conv2D(ctx, e, big, bx, bk, nil, engine.Conv{}); err != nil {
				b.Error(err)
			}
			bigTime += time.Since(t0)
			close(stop)
		})
		time.Sleep(time.Millisecond) // let the big request's bands queue first
	small:
		for {
			select {
			case <-stop:
				break small
			default:
			}
			t0 := time.Now()
			if _, err := engine.Conv2D(ctx, e, engine.Interactive, sx, sk, nil, engine.Conv{}); err != nil {
				b.Error(err)
			}
			lat = append(lat, time.Since(t0))
			time.Sleep(2 * time.Millisecond)
		}
		wg.Wait()
	}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/1e6, "small-p50-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/1e6, "small-max-ms")
	b.ReportMetric(float64(bigTime)/1e6/float64(b.N), "big-ms")
	b.ReportMetric(float64(len(lat))/float64(b.N), "small/op")
}
