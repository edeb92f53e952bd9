package jobs

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLossSeriesAreCapped(t *testing.T) {
	now := time.Unix(0, 0)
	c := &lossCollector{
		desc:   prometheus.NewDesc("corr2d_job_loss", "loss", []string{"job_id"}, nil),
		grace:  time.Hour,
		max:    2,
		now:    func() time.Time { return now },
		series: map[string]lossSeries{},
	}
	c.set("a", 1)
	c.set("b", 2)
	c.set("c", 3) // two active jobs fill the cap: c goes unexported
	if n := testutil.CollectAndCount(c); n != 2 {
		t.Fatalf("with 2 active jobs and a cap of 2, %d series, want 2", n)
	}
	c.end("c") // never exported: nothing to end
	c.end("a")
	c.set("d", 4) // takes the place of a, which ended
	got := map[string]bool{}
	for id := range c.series {
		got[id] = true
	}
	if len(got) != 2 || !got["b"] || !got["d"] {
		t.Fatalf("series after d = %v, want b and d", got)
	}
	c.set("b", 5) // a known job updates whatever the cap
	if c.series["b"].loss != 5 {
		t.Fatalf("b's loss = %v, want 5", c.series["b"].loss)
	}
}
