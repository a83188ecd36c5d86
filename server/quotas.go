package server

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// Quotas are enforced per tenant on each node: the request rate (a token
// bucket per tenant, golang.org/x/time/rate), open event streams and
// waiting long polls (gates), running instances and storage bytes (checked
// before an instance starts or a deployment is made). A refusal is a 429
// with Retry-After whose message names the quota; every refusal is
// counted per tenant for /metrics and the admin API.

// quotas holds the per-tenant state.
type quotas struct {
	s *Server

	mu      sync.Mutex
	buckets map[string]*bucket
	refused map[string]*refusals

	storageMu sync.Mutex
	storage   map[string]storageSample
}

type bucket struct {
	lim   *rate.Limiter
	rps   float64
	burst int
}

// refusals counts a tenant's refused requests by quota.
type refusals struct {
	rate, streams, polls, instances, storage atomic.Int64
}

type storageSample struct {
	bytes int64
	at    time.Time
}

// storageSampleTTL is how long a storage measurement is trusted.
const storageSampleTTL = time.Minute

func newQuotas(s *Server) *quotas {
	return &quotas{s: s, buckets: map[string]*bucket{}, refused: map[string]*refusals{}, storage: map[string]storageSample{}}
}

// tenantQuotas returns a tenant's quotas from the registry's cache (zero
// when it cannot be read: the request fails on its own further on).
func (q *quotas) tenantQuotas(ctx context.Context, tenant string) datasource.Quotas {
	if q.s.opts.Sources == nil {
		return datasource.Quotas{}
	}
	t, err := q.s.opts.Sources.Registry.Tenant(ctx, tenant)
	if err != nil {
		return datasource.Quotas{}
	}
	return t.Quotas
}

func (q *quotas) counts(tenant string) *refusals {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := q.refused[tenant]
	if c == nil {
		if len(q.refused) > 100_000 {
			clear(q.refused)
		}
		c = &refusals{}
		q.refused[tenant] = c
	}
	return c
}

// allowRequest takes a token of the tenant's request bucket.
func (q *quotas) allowRequest(ctx context.Context, tenant string) error {
	tq := q.tenantQuotas(ctx, tenant)
	rps, burst := tq.RequestsPerSecond, tq.Burst
	if rps <= 0 {
		rps = q.s.opts.Limits.TenantRequestsPerSecond
	}
	if rps <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = max(int(2*rps), 1)
	}
	q.mu.Lock()
	b := q.buckets[tenant]
	if b == nil {
		if len(q.buckets) > 100_000 {
			clear(q.buckets)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(rps), burst), rps: rps, burst: burst}
		q.buckets[tenant] = b
	} else if b.rps != rps || b.burst != burst {
		b.lim.SetLimit(rate.Limit(rps))
		b.lim.SetBurst(burst)
		b.rps, b.burst = rps, burst
	}
	q.mu.Unlock()
	r := b.lim.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		q.counts(tenant).rate.Add(1)
		return limited(d, "tenant %s is over its request rate of %g per second on this node; retry after %d ms", tenant, rps, d.Milliseconds())
	}
	return nil
}

// maxPerTenant is the cap on a tenant's open event streams (or, with
// polls, waiting long polls) on this node: its quota, else the node's
// default.
func (s *Server) maxPerTenant(ctx context.Context, tenant string, streams bool) int {
	tq := s.quota.tenantQuotas(ctx, tenant)
	if streams {
		if tq.MaxStreams > 0 {
			return tq.MaxStreams
		}
		return s.opts.Limits.MaxStreamsPerTenant
	}
	if tq.MaxLongPolls > 0 {
		return tq.MaxLongPolls
	}
	return s.opts.Limits.MaxPollsPerTenant
}

// checkGrowth refuses a new instance (instance true) or deployment while
// the tenant is at its running-instance or storage quota.
func (q *quotas) checkGrowth(r *http.Request, instance bool) error {
	tenant := tenantOf(r)
	tq := q.tenantQuotas(r.Context(), tenant)
	if instance && tq.MaxRunningInstances > 0 {
		n, err := q.s.opts.Engine.CountInstances(r.Context(), &engine.InstanceQuery{})
		if err != nil {
			return err
		}
		if n >= tq.MaxRunningInstances {
			q.counts(tenant).instances.Add(1)
			return limited(time.Minute, "tenant %s has %d running process instances, its quota; finish or delete some first", tenant, n)
		}
	}
	if tq.MaxStorageBytes > 0 {
		n, err := q.storageBytes(r.Context(), tenant)
		if err != nil {
			return err
		}
		if n > tq.MaxStorageBytes {
			q.counts(tenant).storage.Add(1)
			return limited(storageSampleTTL, "tenant %s stores %d bytes, more than its quota of %d; remove history or data first", tenant, n, tq.MaxStorageBytes)
		}
	}
	return nil
}

// storageBytes measures the tenant's storage, at most once a minute.
func (q *quotas) storageBytes(ctx context.Context, tenant string) (int64, error) {
	q.storageMu.Lock()
	smp, ok := q.storage[tenant]
	q.storageMu.Unlock()
	if ok && time.Since(smp.at) < storageSampleTTL {
		return smp.bytes, nil
	}
	n, err := q.s.opts.Sources.Tenants.StorageBytes(security.WithTenant(ctx, tenant))
	if err != nil {
		return 0, err
	}
	q.storageMu.Lock()
	if len(q.storage) > 100_000 {
		clear(q.storage)
	}
	q.storage[tenant] = storageSample{n, time.Now()}
	q.storageMu.Unlock()
	return n, nil
}

// quotaFigures are a tenant's refusals, for the admin API.
type quotaFigures struct {
	RateRefused      int64 `json:"rateRefused"`
	StreamsRefused   int64 `json:"streamsRefused"`
	PollsRefused     int64 `json:"pollsRefused"`
	InstancesRefused int64 `json:"instancesRefused"`
	StorageRefused   int64 `json:"storageRefused"`
	// JobsThrottled counts the job executor's turns the jobsPerSecond
	// quota put off (the jobs ran later, none was refused).
	JobsThrottled int64 `json:"jobsThrottled"`
	OpenStreams   int   `json:"openStreams"`
	WaitingPolls  int   `json:"waitingPolls"`
}

func (q *quotas) figures(tenant string) quotaFigures {
	c := q.counts(tenant)
	f := quotaFigures{RateRefused: c.rate.Load(), StreamsRefused: c.streams.Load(), PollsRefused: c.polls.Load(),
		InstancesRefused: c.instances.Load(), StorageRefused: c.storage.Load(),
		OpenStreams: q.s.streams.open(tenant), WaitingPolls: q.s.waiting.open(tenant)}
	if q.s.opts.JobsThrottled != nil {
		f.JobsThrottled = q.s.opts.JobsThrottled(tenant)
	}
	return f
}

// topRefused lists the tenants with the most refusals, at most n, for
// /metrics (bounded label cardinality).
func (q *quotas) topRefused(n int) []struct {
	tenant string
	f      quotaFigures
} {
	q.mu.Lock()
	ids := make([]string, 0, len(q.refused))
	for t := range q.refused {
		ids = append(ids, t)
	}
	q.mu.Unlock()
	type row = struct {
		tenant string
		f      quotaFigures
	}
	rows := make([]row, 0, len(ids))
	for _, t := range ids {
		rows = append(rows, row{t, q.figures(t)})
	}
	total := func(f quotaFigures) int64 {
		return f.RateRefused + f.StreamsRefused + f.PollsRefused + f.InstancesRefused + f.StorageRefused
	}
	sort.Slice(rows, func(i, j int) bool { return total(rows[i].f) > total(rows[j].f) })
	if len(rows) > n {
		rows = rows[:n]
	}
	return rows
}
