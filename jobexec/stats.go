package jobexec

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the executor's figures since start, for metrics.
type Stats struct {
	Completed   int64 `json:"completed"`
	Failed      int64 `json:"failed"`
	LockLost    int64 `json:"lockLost"`
	Maintenance int64 `json:"maintenanceRuns"`
	// Queries counts storage and primary queries the executor made itself
	// (acquisitions, next-due lookups, hint reads, sweeps).
	Queries       int64 `json:"queries"`
	AcquireErrors int64 `json:"acquireErrors"`
	// Due is how many tenants are queued; Running how many batches run.
	Due     int `json:"dueTenants"`
	Running int `json:"runningBatches"`
	// AcquireLatency and Lateness are percentiles over recent batches and
	// jobs: lateness is how long after its due time a job started.
	AcquireP50, AcquireP99   time.Duration
	LatenessP50, LatenessP99 time.Duration
	// Top lists the tenants with the most completed jobs (at most
	// Config.TopTenants), so per-tenant labels stay bounded.
	Top []TenantCount `json:"top"`
}

// TenantCount is one tenant's completed jobs.
type TenantCount struct {
	Tenant    string `json:"tenant"`
	Completed int64  `json:"completed"`
}

// Batch is one acquired batch, kept in a short log for diagnosis and tests.
type Batch struct {
	Tenant string
	Size   int
	At     time.Time
}

type stats struct {
	completed, failed, lockLost, maintenance, queries, acquireErrors atomic.Int64
	acquireLatency, lateness                                         *window

	mu       sync.Mutex
	perT     map[string]int64
	batches  []Batch
	batchPos int
}

func newStats() stats {
	return stats{acquireLatency: newWindow(4096), lateness: newWindow(4096), perT: map[string]int64{}}
}

const batchLogSize = 1024

func (s *stats) batch(tenant string, n int, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := Batch{Tenant: tenant, Size: n, At: at}
	if len(s.batches) < batchLogSize {
		s.batches = append(s.batches, b)
		return
	}
	s.batches[s.batchPos] = b
	s.batchPos = (s.batchPos + 1) % batchLogSize
}

func (s *stats) tenantDone(tenant string) {
	s.mu.Lock()
	s.perT[tenant]++
	if len(s.perT) > 100_000 {
		s.perT = map[string]int64{} // bound memory: counts restart
	}
	s.mu.Unlock()
}

// Batches returns the most recent acquired batches, oldest first.
func (x *Executor) Batches() []Batch {
	s := &x.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Batch, 0, len(s.batches))
	out = append(out, s.batches[s.batchPos:]...)
	return append(out, s.batches[:s.batchPos]...)
}

// Stats returns the executor's figures.
func (x *Executor) Stats() Stats {
	s := &x.stats
	out := Stats{Completed: s.completed.Load(), Failed: s.failed.Load(), LockLost: s.lockLost.Load(),
		Maintenance: s.maintenance.Load(), Queries: s.queries.Load(), AcquireErrors: s.acquireErrors.Load()}
	out.AcquireP50, out.AcquireP99 = s.acquireLatency.percentiles()
	out.LatenessP50, out.LatenessP99 = s.lateness.percentiles()
	x.mu.Lock()
	out.Due = len(x.queue)
	for _, t := range x.tenants {
		out.Running += t.inflight
	}
	x.mu.Unlock()
	s.mu.Lock()
	for t, n := range s.perT {
		out.Top = append(out.Top, TenantCount{t, n})
	}
	s.mu.Unlock()
	sort.Slice(out.Top, func(i, j int) bool { return out.Top[i].Completed > out.Top[j].Completed })
	if len(out.Top) > x.cfg.TopTenants {
		out.Top = out.Top[:x.cfg.TopTenants]
	}
	return out
}

// window keeps the last n durations for percentiles.
type window struct {
	mu  sync.Mutex
	buf []time.Duration
	pos int
	n   int
}

func newWindow(n int) *window { return &window{buf: make([]time.Duration, n)} }

func (w *window) observe(d time.Duration) {
	w.mu.Lock()
	w.buf[w.pos] = d
	w.pos = (w.pos + 1) % len(w.buf)
	if w.n < len(w.buf) {
		w.n++
	}
	w.mu.Unlock()
}

func (w *window) percentiles() (p50, p99 time.Duration) {
	w.mu.Lock()
	s := append([]time.Duration(nil), w.buf[:w.n]...)
	w.mu.Unlock()
	if len(s) == 0 {
		return 0, 0
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[(len(s)*99)/100]
}
