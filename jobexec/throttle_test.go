package jobexec

import (
	"testing"
	"time"
)

func TestThrottleKeepsTheRateWhenTwoTurnsSpendTheSameTokens(t *testing.T) {
	t.Parallel()
	th := newThrottle()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Two turns of one tenant are both allowed the full second's worth...
	for range 2 {
		if n, _ := th.allowance("a", 10, 100, t0); n != 10 {
			t.Fatalf("allowed %d, want 10 (a second's worth)", n)
		}
	}
	th.spend("a", 10, t0)
	th.spend("a", 10, t0)
	// ...so the tenant owes ten and waits for them too: 1.1 s until one job.
	n, wait := th.allowance("a", 10, 100, t0)
	if n != 0 || wait != 1100*time.Millisecond {
		t.Fatalf("allowed %d, wait %v; want 0 and 1.1s", n, wait)
	}
	if n, _ := th.allowance("a", 10, 100, t0.Add(wait)); n != 1 {
		t.Fatalf("after the wait: allowed %d, want 1", n)
	}
	// Another tenant, and the same one once its quota is lifted, run whole batches.
	if n, _ := th.allowance("b", 0, 100, t0); n != 100 {
		t.Fatalf("no quota: allowed %d, want the batch", n)
	}
	if n, _ := th.allowance("a", 0, 100, t0); n != 100 {
		t.Fatalf("quota lifted: allowed %d, want the batch", n)
	}
}

func TestThrottleBelowOneJobASecond(t *testing.T) {
	t.Parallel()
	th := newThrottle()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if n, _ := th.allowance("slow", 0.5, 100, t0); n != 1 {
		t.Fatalf("allowed %d, want 1", n)
	}
	th.spend("slow", 1, t0)
	if n, wait := th.allowance("slow", 0.5, 100, t0); n != 0 || wait != 2*time.Second {
		t.Fatalf("allowed %d, wait %v; want 0 and 2s", n, wait)
	}
}
