package analytics

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the shipper's figures for metrics and the admin console.
type Stats struct {
	// Enabled is false when no Elasticsearch URL is configured.
	Enabled bool `json:"enabled"`
	// Shipped counts events Elasticsearch acknowledged and the cursor
	// passed.
	Shipped int64 `json:"shipped"`
	// Batches counts batches whose cursor moved.
	Batches int64 `json:"batches"`
	// FailedAttempts counts batches that left events to retry (transport
	// errors, 429, 5xx).
	FailedAttempts int64 `json:"failedAttempts"`
	// DeadLettered counts events Elasticsearch refused permanently.
	DeadLettered int64 `json:"deadLettered"`
	// StorageErrors counts failed calls to tenants' outboxes.
	StorageErrors int64 `json:"storageErrors"`
	// BulkRequests counts bulk requests sent.
	BulkRequests uint64 `json:"bulkRequests"`
	// HintReads counts reads of the primary's hints.
	HintReads int64 `json:"hintReads"`
	// Sweeps counts rounds of the fallback sweep.
	Sweeps int64 `json:"sweeps"`
	// Pruned counts outbox events removed by Prune.
	Pruned int64 `json:"pruned"`
	// Backlog sums the known backlogs: as of each tenant's last look at
	// its storage, less what shipped since.
	Backlog int64 `json:"backlog"`
	// TenantsBackingOff counts tenants waiting after a failure.
	TenantsBackingOff int `json:"tenantsBackingOff"`
	// LagP50 is the median commit-to-acknowledgement lag of the last
	// 4,096 shipped events (event time to the end of its batch).
	LagP50 time.Duration `json:"lagP50"`
	// LagP99 is the 99th percentile of the same lags.
	LagP99 time.Duration `json:"lagP99"`
	// Tenants are the TopTenants tenants furthest behind: by backlog,
	// then lag.
	Tenants []TenantStats `json:"tenants"`
}

// TenantStats is one tenant's shipping state.
type TenantStats struct {
	// Tenant is the tenant's ID.
	Tenant string `json:"tenant"`
	// Backlog is the tenant's unshipped events, as of its last look at
	// its storage, less what shipped since.
	Backlog int64 `json:"backlog"`
	// Lag is the age of the oldest event read but not yet acknowledged
	// (zero when caught up).
	Lag time.Duration `json:"lag"`
	// Shipped counts the tenant's events acknowledged on this node.
	Shipped int64 `json:"shipped"`
	// DeadLettered counts the tenant's events refused permanently.
	DeadLettered int64 `json:"deadLettered"`
	// Attempts counts consecutive failed attempts.
	Attempts int `json:"attempts"`
	// RetryAt is when the next attempt may run, while backing off.
	RetryAt time.Time `json:"retryAt,omitzero"`
	// LastError says why the last attempt failed.
	LastError string `json:"lastError,omitempty"`
}

const lagWindow = 4096

type stats struct {
	shipped, batches, failedAttempts, deadLettered atomic.Int64
	storageErrors, hintReads, sweeps, pruned       atomic.Int64

	lagMu sync.Mutex
	lags  []time.Duration // ring of the last lagWindow samples
	next  int
}

func newStats() stats { return stats{lags: make([]time.Duration, 0, lagWindow)} }

func (st *stats) observeLag(d time.Duration) {
	d = max(d, 0)
	st.lagMu.Lock()
	if len(st.lags) < lagWindow {
		st.lags = append(st.lags, d)
	} else {
		st.lags[st.next] = d
		st.next = (st.next + 1) % lagWindow
	}
	st.lagMu.Unlock()
}

func (st *stats) lagQuantiles() (p50, p99 time.Duration) {
	st.lagMu.Lock()
	l := slices.Clone(st.lags)
	st.lagMu.Unlock()
	if len(l) == 0 {
		return 0, 0
	}
	slices.Sort(l)
	q := func(p float64) time.Duration { return l[min(int(p*float64(len(l))), len(l)-1)] }
	return q(0.50), q(0.99)
}

// Stats returns a snapshot of the shipper's figures.
func (s *Shipper) Stats() Stats {
	out := Stats{
		Enabled:        s.enabled,
		Shipped:        s.stats.shipped.Load(),
		Batches:        s.stats.batches.Load(),
		FailedAttempts: s.stats.failedAttempts.Load(),
		DeadLettered:   s.stats.deadLettered.Load(),
		StorageErrors:  s.stats.storageErrors.Load(),
		HintReads:      s.stats.hintReads.Load(),
		Sweeps:         s.stats.sweeps.Load(),
		Pruned:         s.stats.pruned.Load(),
	}
	out.LagP50, out.LagP99 = s.stats.lagQuantiles()
	s.mu.Lock()
	if s.bulk != nil {
		out.BulkRequests = s.bulk.Stats().NumRequests
	}
	now := s.clock.Now()
	all := make([]TenantStats, 0, len(s.tenants))
	for _, t := range s.tenants {
		ts := TenantStats{Tenant: t.id, Backlog: t.backlog, Shipped: t.shipped, DeadLettered: t.dead,
			LastError: t.lastError}
		if !t.oldest.IsZero() {
			ts.Lag = max(now.Sub(t.oldest), 0)
		}
		if s.sched != nil {
			st := s.sched.Tenant(t.id)
			ts.Attempts, ts.RetryAt = st.Failures, st.RetryAt
			if !st.RetryAt.IsZero() {
				out.TenantsBackingOff++
			}
		}
		out.Backlog += t.backlog
		all = append(all, ts)
	}
	s.mu.Unlock()
	sort.Slice(all, func(i, j int) bool {
		if all[i].Backlog != all[j].Backlog {
			return all[i].Backlog > all[j].Backlog
		}
		if all[i].Lag != all[j].Lag {
			return all[i].Lag > all[j].Lag
		}
		return all[i].Tenant < all[j].Tenant
	})
	if len(all) > s.cfg.TopTenants {
		all = all[:s.cfg.TopTenants]
	}
	out.Tenants = all
	return out
}
