package admit_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/corr2d/corr2d/internal/admit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newBudget(t *testing.T, total int64, wait time.Duration) *admit.Budget {
	t.Helper()
	b, err := admit.New(total, wait, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReservationGrowsShrinksAndReleases(t *testing.T) {
	ctx := context.Background()
	b := newBudget(t, 100, time.Millisecond)
	r := b.Reserve()
	if err := r.Grow(ctx, 60); err != nil {
		t.Fatalf("Grow(60) = %v", err)
	}
	if err := r.Set(ctx, 30); err != nil {
		t.Fatalf("Set(30) = %v", err)
	}
	if got := b.Held(); got != 30 {
		t.Fatalf("Held() after Set(30) = %d, want 30", got)
	}
	other := b.Reserve()
	if err := other.Grow(ctx, 70); err != nil {
		t.Fatalf("Grow(70) beside 30 = %v", err)
	}
	if err := other.Grow(ctx, 1); !errors.Is(err, admit.ErrBusy) {
		t.Fatalf("Grow(1) on a full budget = %v, want ErrBusy", err)
	}
	if got := other.Held(); got != 70 {
		t.Fatalf("Held() after a refused Grow = %d, want 70", got)
	}
	r.Release()
	r.Release()
	other.Release()
	if got := b.Held(); got != 0 {
		t.Fatalf("Held() after Release = %d, want 0", got)
	}
}

func TestReservationOverTheWholeBudgetFailsAtOnce(t *testing.T) {
	b := newBudget(t, 100, time.Hour)
	r := b.Reserve()
	if err := r.Grow(context.Background(), 40); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.Grow(context.Background(), 61); !errors.Is(err, admit.ErrTooLarge) {
		t.Fatalf("Grow(61) beside 40 of 100 = %v, want ErrTooLarge", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a reservation that can never fit waited %v", d)
	}
	r.Release()
}

func TestWaiterIsAdmittedWhenRoomFrees(t *testing.T) {
	b := newBudget(t, 100, 10*time.Second)
	ctx := context.Background()
	first := b.Reserve()
	if err := first.Grow(ctx, 100); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			r := b.Reserve()
			errs[i] = r.Grow(ctx, 25)
			time.Sleep(time.Millisecond)
			r.Release()
		})
	}
	time.Sleep(20 * time.Millisecond)
	first.Release()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("waiter %d: Grow(25) = %v, want admitted once room freed", i, err)
		}
	}
}

func TestWaitEndsWithTheCallersContext(t *testing.T) {
	b := newBudget(t, 10, time.Hour)
	full := b.Reserve()
	if err := full.Grow(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := b.Reserve().Grow(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Grow with an ending context = %v, want its error", err)
	}
	full.Release()
}

func TestAwaitWaitsBehindNoRequest(t *testing.T) {
	ctx := context.Background()
	b := newBudget(t, 100, 50*time.Millisecond)
	job := b.Reserve()
	if err := job.Grow(ctx, 60); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	patient := b.Reserve()
	go func() { got <- patient.Await(ctx, 70) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("Await(70) beside 60 of 100 returned %v before room freed", err)
	default:
	}
	// A request that fits beside the held 60 is not held up by the
	// waiting 70, as it would be behind a queued Grow.
	req := b.Reserve()
	if err := req.Grow(ctx, 30); err != nil {
		t.Fatalf("Grow(30) while Await(70) waits = %v, want admitted", err)
	}
	req.Release()
	job.Release()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("Await(70) after room freed = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Await(70) still waits after the budget emptied")
	}
	if b.Held() != 70 || patient.Held() != 70 {
		t.Errorf("Held() = %d, reservation %d; want 70 and 70", b.Held(), patient.Held())
	}
	patient.Release()
}

func TestAwaitFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		held, n int64
		timeout time.Duration
		want    error
	}{
		{"more than the whole budget fails at once", 0, 101, time.Hour, admit.ErrTooLarge},
		{"more than fits beside its own reservation fails at once", 40, 61, time.Hour, admit.ErrTooLarge},
		{"a wait ends with the caller's context", 0, 100, 20 * time.Millisecond, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBudget(t, 100, time.Millisecond)
			other := b.Reserve()
			if err := other.Grow(context.Background(), 10); err != nil {
				t.Fatal(err)
			}
			defer other.Release()
			r := b.Reserve()
			if err := r.Grow(context.Background(), tc.held); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			err := r.Await(ctx, tc.n)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Await(%d) beside %d = %v, want %v", tc.n, tc.held, err, tc.want)
			}
			if tc.timeout == time.Hour && time.Since(start) > time.Second {
				t.Errorf("Await(%d) that can never fit waited %v", tc.n, time.Since(start))
			}
			if r.Held() != tc.held || b.Held() != tc.held+10 {
				t.Errorf("after a failed Await: reservation %d, budget %d; want %d and %d", r.Held(), b.Held(), tc.held, tc.held+10)
			}
			r.Release()
		})
	}
}

func TestNilBudgetAdmitsEverything(t *testing.T) {
	var b *admit.Budget
	r := b.Reserve()
	if err := r.Grow(context.Background(), 1<<60); err != nil {
		t.Fatalf("Grow on a nil budget = %v", err)
	}
	if err := r.Await(context.Background(), 1<<60); err != nil {
		t.Fatalf("Await on a nil budget = %v", err)
	}
	r.Release()
}

func TestDefaultSize(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if s, ok := m[p]; ok {
				return []byte(s), nil
			}
			return nil, os.ErrNotExist
		}
	}
	meminfo := "MemTotal:        8388608 kB\nMemFree:         1 kB\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"a cgroup v2 limit gives three quarters of it", map[string]string{"/sys/fs/cgroup/memory.max": "4294967296\n", "/proc/meminfo": meminfo}, 3 << 30},
		{"cgroup v2 without a limit falls back to half the machine", map[string]string{"/sys/fs/cgroup/memory.max": "max\n", "/proc/meminfo": meminfo}, 4 << 30},
		{"a cgroup v1 limit gives three quarters of it", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n", "/proc/meminfo": meminfo}, 768 << 20},
		{"cgroup v1's unlimited falls back to half the machine", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n", "/proc/meminfo": meminfo}, 4 << 30},
		{"nothing readable gives zero", map[string]string{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := admit.DefaultSize(files(tc.files)); got != tc.want {
				t.Errorf("DefaultSize() = %d, want %d", got, tc.want)
			}
		})
	}
}
