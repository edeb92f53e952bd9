package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/corr2d/corr2d/internal/pgtest"
)

// replicaJobBody is a training job of a few hundred milliseconds on one
// core: long enough to be mid-run when a replica dies, short enough for
// hundreds of them.
func replicaJobBody(seed, steps int) map[string]any {
	const n = 24
	x := make([][]float64, n)
	y := make([][]float64, n)
	for i := range n {
		for j := range n {
			x[i] = append(x[i], float64((i*7+j*3)%5)-2)
		}
		for j := range n - 1 {
			y[i] = append(y[i], x[i][j]-x[i][j+1])
		}
	}
	return map[string]any{"input": x, "target": y, "kernel_size": []int{1, 2}, "lr": 0.05,
		"steps": steps, "loss": "mean", "seed": seed}
}

// replicas are server processes sharing one PostgreSQL database.
type replicas struct {
	url   string
	bin   string
	procs []*process
}

func startReplicas(t *testing.T, bin string, n int, args ...string) *replicas {
	t.Helper()
	rs := &replicas{url: pgtest.New(t), bin: bin}
	for range n {
		rs.add(t, args...)
	}
	return rs
}

func (rs *replicas) add(t *testing.T, args ...string) *process {
	t.Helper()
	p := startProcess(t, rs.bin, t.TempDir(), append([]string{"--database-url", rs.url, "--log-level", "warn"}, args...)...)
	rs.procs = append(rs.procs, p)
	return p
}

// stall is how long the replica tests wait for work that makes no
// progress at all before they call it stuck. A loaded machine makes the
// work slower, never still: every wait below is bounded by progress, not
// by the clock.
const stall = time.Minute

// busy returns a replica that is training now: its step counter moves.
// It fails t when no replica's counter has moved for stall.
func (rs *replicas) busy(t *testing.T) *process {
	t.Helper()
	for since := time.Now(); time.Since(since) < stall; {
		for _, p := range rs.procs {
			before := p.metric(t, "corr2d_job_steps_total")
			time.Sleep(5 * time.Millisecond)
			if p.metric(t, "corr2d_job_steps_total") > before {
				return p
			}
		}
	}
	t.Fatalf("no replica is training, and none has for %v (%d jobs unfinished)", stall, rs.unfinished(t))
	return nil
}

// freezeMidJob stops (SIGSTOP) a replica at a moment when it holds a job
// in the middle of its run, and returns it with the ids of the running
// jobs whose lease it holds, none at its last step. Which jobs it runs
// comes from its corr2d_job_running series, read just before the stop;
// the database then gives their lease holder, and every running job of
// that holder whose step stands still is one it left mid-run. Jobs are
// short, so the moment may not come: after tries attempts it returns a
// replica that is training, frozen, with no jobs. Before each attempt
// reserve is called, to keep enough work queued that a replica is still
// training however long the attempts take on a loaded machine.
func (rs *replicas) freezeMidJob(t *testing.T, steps, tries int, reserve func()) (*process, []string) {
	t.Helper()
	for range tries {
		reserve()
		p := rs.busy(t)
		runningHere := p.labelled(t, "corr2d_job_running", "job_id")
		if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		before := rs.leases(t)
		time.Sleep(200 * time.Millisecond)
		after := rs.leases(t)
		holder := ""
		for _, id := range runningHere {
			if l, ok := before[id]; ok {
				holder = l.holder
			}
		}
		var mid []string
		for id, l := range before {
			if holder != "" && l.holder == holder && l.step < steps && after[id] == l {
				mid = append(mid, id)
			}
		}
		if len(mid) > 0 {
			return p, mid
		}
		// Between two jobs: let it go on and try again.
		if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	reserve()
	p := rs.busy(t)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	return p, nil
}

// connect opens a connection to the replicas' database.
func (rs *replicas) connect(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), rs.url)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// lease is a running job's lease and progress, as the database has them.
type lease struct {
	holder    string
	run, step int
}

// leases returns the running jobs' leases by job id.
func (rs *replicas) leases(t *testing.T) map[string]lease {
	t.Helper()
	ctx := context.Background()
	conn := rs.connect(t)
	defer func() { _ = conn.Close(ctx) }()
	rows, err := conn.Query(ctx, `SELECT id, coalesce(lease_holder, ''), run, step FROM corr2d_job WHERE status = 'running'`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]lease{}
	for rows.Next() {
		var (
			id string
			l  lease
		)
		if err := rows.Scan(&id, &l.holder, &l.run, &l.step); err != nil {
			t.Fatal(err)
		}
		out[id] = l
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// runs returns the run number of each of the jobs ids.
func (rs *replicas) runs(t *testing.T, ids []string) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn := rs.connect(t)
	defer func() { _ = conn.Close(ctx) }()
	out := map[string]int{}
	for _, id := range ids {
		var run int
		if err := conn.QueryRow(ctx, `SELECT run FROM corr2d_job WHERE id = $1`, id).Scan(&run); err != nil {
			t.Fatal(err)
		}
		out[id] = run
	}
	return out
}

// labelled returns the values of label over a replica's series of name.
func (p *process) labelled(t *testing.T, name, label string) []string {
	t.Helper()
	var out []string
	prefix := name + "{" + label + "=\""
	p.scrape(t, func(line string) bool {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			if v, _, ok := strings.Cut(rest, "\""); ok {
				out = append(out, v)
			}
		}
		return true
	})
	return out
}

// scrape calls each with the lines of a replica's /metrics until it
// returns false.
func (p *process) scrape(t *testing.T, each func(line string) bool) {
	t.Helper()
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() && each(sc.Text()) {
	}
}

// succeeded counts the jobs that succeeded, straight from the database.
func (rs *replicas) succeeded(t *testing.T) int {
	t.Helper()
	return rs.count(t, `SELECT count(*) FROM corr2d_job WHERE status = 'succeeded'`)
}

// unfinished counts the jobs that are queued or running.
func (rs *replicas) unfinished(t *testing.T) int {
	t.Helper()
	return rs.count(t, `SELECT count(*) FROM corr2d_job WHERE status IN ('queued', 'running')`)
}

func (rs *replicas) count(t *testing.T, query string) int {
	t.Helper()
	ctx := context.Background()
	conn := rs.connect(t)
	defer func() { _ = conn.Close(ctx) }()
	var n int
	if err := conn.QueryRow(ctx, query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitSucceeded waits until n jobs have succeeded. It fails t, with the
// unfinished jobs, once none has succeeded for stall.
func (rs *replicas) waitSucceeded(t *testing.T, n int) {
	t.Helper()
	last, moved := -1, time.Now()
	for {
		got := rs.succeeded(t)
		if got >= n {
			return
		}
		if got != last {
			last, moved = got, time.Now()
		}
		if time.Since(moved) > stall {
			rs.dumpUnfinished(t)
			t.Fatalf("%d of %d jobs succeeded, and none in the last %v", got, n, stall)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metric reads one unlabelled sample from a replica's /metrics.
func (p *process) metric(t *testing.T, name string) float64 {
	t.Helper()
	var (
		f     float64
		found bool
	)
	p.scrape(t, func(line string) bool {
		v, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			return true
		}
		var err error
		if f, err = strconv.ParseFloat(v, 64); err != nil {
			t.Fatal(err)
		}
		found = true
		return false
	})
	if !found {
		t.Fatalf("%s not in /metrics", name)
	}
	return f
}

// TestReplicasShareJobsAndSurviveKill submits 200 jobs across two and three
// replicas on one PostgreSQL (and 50 more whenever fewer than 50 remain
// while it looks for a moment to kill), kills one replica with SIGKILL
// halfway, and checks that every job succeeded once, with the loss history
// of an uninterrupted single-process run.
func TestReplicasShareJobsAndSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several server processes")
	}
	bin := buildBinary(t)
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d replicas", n), func(t *testing.T) {
			const jobs, seeds, steps = 200, 4, 1000
			rs := startReplicas(t, bin, n, "--job-concurrency", "2", "--checkpoint-every", "5ms", "--failover-after", "2s")

			// The reference: each seed's job run whole by one process.
			want := map[int][]lossPoint{}
			for seed := range seeds {
				s := rs.procs[0].server()
				var j job
				s.call(t, http.MethodPost, "/train", replicaJobBody(seed, steps), &j)
				if got := s.waitJob(t, j.ID, finished); got.Status != "succeeded" {
					t.Fatalf("reference job ended %s: %s", got.Status, got.Error)
				}
				want[seed] = s.losses(t, j.ID)
			}

			var ids []string
			submit := func(count int) {
				for range count {
					i := len(ids)
					var j job
					if r := rs.procs[i%n].server().call(t, http.MethodPost, "/train", replicaJobBody(i%seeds, steps), &j); r.status != http.StatusAccepted {
						t.Fatalf("POST /train on replica %d = %d", i%n, r.status)
					}
					ids = append(ids, j.ID)
				}
			}
			submit(jobs)
			rs.waitSucceeded(t, seeds+jobs/2)
			// Kill a replica in the middle of a job: frozen first, so that
			// the database shows which of its jobs it left mid-run. Each
			// try takes a few hundred milliseconds, more on a loaded
			// machine, and the other half of the jobs only seconds, so the
			// tries top the queue up: a kill must land among running jobs.
			victim, midRun := rs.freezeMidJob(t, steps, 20, func() {
				if rs.unfinished(t) < jobs/4 {
					submit(jobs / 4)
				}
			})
			if err := victim.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = victim.wait()
			killedAt := time.Now()
			rs.waitSucceeded(t, seeds+len(ids))
			t.Logf("%d replicas: the rest of the %d jobs finished %v after the kill", n, len(ids), time.Since(killedAt).Round(time.Millisecond))

			var alive []*process
			for _, p := range rs.procs {
				if p != victim {
					alive = append(alive, p)
				}
			}
			failovers := 0.0
			for i, id := range ids {
				s := alive[i%len(alive)].server()
				if j := s.waitJob(t, id, finished); j.Status != "succeeded" {
					t.Errorf("job %d ended %s: %s", i, j.Status, j.Error)
					continue
				}
				if diff := cmp.Diff(want[i%seeds], s.losses(t, id)); diff != "" {
					t.Errorf("job %d: loss history differs from a single-process run (-want +got):\n%s", i, diff)
				}
			}
			for _, p := range alive {
				failovers += p.metric(t, "corr2d_job_failovers_total")
			}
			t.Logf("%d replicas: %v runs resumed after the kill; the victim held %d jobs mid-run", n, failovers, len(midRun))
			// Every job the victim left mid-run was finished by a later run,
			// resumed elsewhere.
			for id, run := range rs.runs(t, midRun) {
				if run < 1 {
					t.Errorf("job %s, left mid-run by the killed replica, succeeded in run %d, want a resumed run (>= 1)", id, run)
				}
			}
			if len(midRun) == 0 {
				// Not seen mid-job in 20 tries: the kill may have landed
				// between two of its jobs, with nothing to resume.
				t.Logf("%d replicas: the killed replica was not seen in the middle of a job", n)
			} else if failovers < 1 {
				t.Errorf("the surviving replicas counted %v failovers, want at least 1", failovers)
			}
		})
	}
}

// TestFailoverWithinConfiguredTime runs a long job on one replica and
// measures how soon a second one carries it on, after a SIGKILL and after
// a graceful stop.
func TestFailoverWithinConfiguredTime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several server processes")
	}
	bin := buildBinary(t)
	const after = 2 * time.Second
	for _, tc := range []struct {
		name  string
		stop  func(p *process) error
		limit time.Duration
	}{
		// The lease lapses within after of the kill, and the survivors look
		// for lapsed leases every after/4; a second covers the hand-over.
		{"kill -9", func(p *process) error { return p.cmd.Process.Kill() }, after + after/4 + time.Second},
		// A graceful stop hands its jobs over at once.
		{"graceful stop", func(p *process) error { return p.cmd.Process.Signal(os.Interrupt) }, time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := startReplicas(t, bin, 1, "--checkpoint-every", "5ms", "--failover-after", after.String())
			a := rs.procs[0]
			var j job
			a.server().call(t, http.MethodPost, "/train", replicaJobBody(1, 1_000_000), &j)
			a.server().waitJob(t, j.ID, func(j job) bool { return j.Step >= 50 })
			b := rs.add(t, "--failover-after", after.String(), "--checkpoint-every", "5ms")
			sb := b.server()

			// Replica b has carried the job on once its own step counter
			// moves. The job's step in the database is no sign of it: a
			// checkpoint that replica a sent just before a kill can still
			// commit after it.
			trained := b.metric(t, "corr2d_job_steps_total")
			if err := tc.stop(a); err != nil {
				t.Fatal(err)
			}
			_ = a.wait()
			stopped := time.Now()
			for b.metric(t, "corr2d_job_steps_total") == trained {
				if time.Since(stopped) > time.Minute {
					t.Fatal("replica b has not trained the job a minute after replica a stopped")
				}
				time.Sleep(5 * time.Millisecond)
			}
			took := time.Since(stopped)
			resumed := sb.waitJob(t, j.ID, func(job) bool { return true })
			t.Logf("%s: replica b carried on, at step %d, after %v (limit %v; it had trained %v steps before the stop)", tc.name, resumed.Step, took.Round(time.Millisecond), tc.limit, trained)
			if took > tc.limit {
				t.Errorf("failover took %v, want at most %v", took, tc.limit)
			}
			if resumed.Status != "running" {
				t.Errorf("job is %s after failover", resumed.Status)
			}
			history := sb.losses(t, j.ID)
			for i, pt := range history {
				if pt.Step != i+1 {
					t.Fatalf("loss history has step %d at position %d: a gap or a duplicate", pt.Step, i)
				}
			}
			sb.call(t, http.MethodPost, "/jobs/"+j.ID+"/cancel", nil, nil)
		})
	}
}

// TestCancelReachesAnotherReplica cancels through one replica a job that
// another runs, and checks that it stops within a second: long before the
// lease renewal (every 7.5 s here) would notice.
func TestCancelReachesAnotherReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("runs several server processes")
	}
	bin := buildBinary(t)
	rs := startReplicas(t, bin, 1, "--failover-after", "30s")
	a := rs.procs[0]
	var j job
	a.server().call(t, http.MethodPost, "/train", replicaJobBody(2, 1_000_000), &j)
	a.server().waitJob(t, j.ID, func(j job) bool { return j.Step >= 10 })
	b := rs.add(t, "--failover-after", "30s")

	canceledAt := time.Now()
	var got job
	b.server().call(t, http.MethodPost, "/jobs/"+j.ID+"/cancel", nil, &got)
	if got.Status != "canceled" {
		t.Fatalf("cancel answered status %q", got.Status)
	}
	// Replica a's step counter stands still once the run has stopped.
	for {
		before := a.metric(t, "corr2d_job_steps_total")
		time.Sleep(100 * time.Millisecond)
		if a.metric(t, "corr2d_job_steps_total") == before {
			break
		}
		if time.Since(canceledAt) > 5*time.Second {
			t.Fatal("replica a still trains 5 s after the cancel")
		}
	}
	took := time.Since(canceledAt) - 100*time.Millisecond
	t.Logf("the run on replica a stopped within %v of the cancel on replica b", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the cancel took %v to reach the other replica, want at most 1s", took)
	}
}

// dumpUnfinished logs the jobs that have not ended, with their queue rows.
func (rs *replicas) dumpUnfinished(t *testing.T) {
	ctx := context.Background()
	conn := rs.connect(t)
	defer func() { _ = conn.Close(ctx) }()
	rows, err := conn.Query(ctx, `SELECT j.id, j.status, j.run, coalesce(j.lease_holder, ''), coalesce(j.lease_until::text, ''),
		coalesce(r.state::text, ''), coalesce(r.args::text, ''), coalesce(r.attempted_by::text, '')
		FROM corr2d_job j LEFT JOIN river_job r ON r.args->>'job_id' = j.id WHERE j.status IN ('queued', 'running')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, b, d, e, f, g, h string
		var c int
		if err := rows.Scan(&a, &b, &c, &d, &e, &f, &g, &h); err != nil {
			t.Fatal(err)
		}
		t.Logf("unfinished: %s %s run %d lease %s until %s; queue %s %s by %s", a, b, c, d, e, f, g, h)
	}
}
