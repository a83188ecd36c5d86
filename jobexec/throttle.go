package jobexec

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// throttle holds the jobsPerSecond quota of each tenant that has one, on
// this node: a token bucket per tenant (golang.org/x/time/rate) read on
// the executor's clock, with a burst of one second's worth. A turn asks
// how many jobs it may acquire, acquires at most that many, and then
// spends what it acquired. Two turns of one tenant at once may both be
// allowed the same tokens; the second then leaves the bucket in debt, so
// the tenant's next turns wait for it: the rate holds over time.
type throttle struct {
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newThrottle() *throttle { return &throttle{buckets: map[string]*rate.Limiter{}} }

// allowance returns how many jobs of the tenant may be acquired at now, at
// most batch; with none, wait is how long until one may. A tenant without
// a quota (perSecond 0) may always acquire a whole batch.
func (t *throttle) allowance(tenant string, perSecond float64, batch int, now time.Time) (n int, wait time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if perSecond <= 0 {
		delete(t.buckets, tenant)
		return batch, 0
	}
	burst := max(1, int(math.Ceil(perSecond)))
	b := t.buckets[tenant]
	if b == nil {
		if len(t.buckets) >= 100_000 { // dropped tenants' buckets: start again full
			clear(t.buckets)
		}
		b = rate.NewLimiter(rate.Limit(perSecond), burst)
		t.buckets[tenant] = b
	} else if b.Limit() != rate.Limit(perSecond) || b.Burst() != burst {
		b.SetLimitAt(now, rate.Limit(perSecond))
		b.SetBurstAt(now, burst)
	}
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return min(batch, int(tokens)), 0
	}
	return 0, time.Duration(math.Ceil((1 - tokens) / perSecond * float64(time.Second)))
}

// spend takes n acquired jobs from the tenant's bucket (none without a
// quota), into debt if another turn spent the tokens first.
func (t *throttle) spend(tenant string, n int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if b := t.buckets[tenant]; b != nil && n > 0 {
		b.ReserveN(now, min(n, b.Burst()))
	}
}

// forget drops a tenant's bucket.
func (t *throttle) forget(tenant string) {
	t.mu.Lock()
	delete(t.buckets, tenant)
	t.mu.Unlock()
}
