package jobexec

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantflow/tenantflow/engine"
)

// Stats are the executor's figures since Start, for metrics and the admin
// API. Counters only grow; Due, Scheduled, Running and RunningJobs are
// current values.
type Stats struct {
	// Acquired counts jobs locked by acquisitions; Batches the acquisitions
	// that returned jobs.
	Acquired int64 `json:"acquired"`
	Batches  int64 `json:"batches"`
	// Completed, Failed and LockLost count job outcomes: Failed includes
	// panics and timeouts recorded with FailJob; LockLost counts
	// completions refused because another node took the job over.
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
	LockLost  int64 `json:"lockLost"`
	// Incidents counts failures that used a job's last retry.
	Incidents int64 `json:"incidents"`
	// Panics and TimedOut count executor-side failures.
	Panics   int64 `json:"panics"`
	TimedOut int64 `json:"timedOut"`
	// Released counts jobs unlocked without running (shutdown, disabled
	// tenant, failed transaction).
	Released int64 `json:"released"`
	// AcquireErrors counts acquisitions that failed.
	AcquireErrors int64 `json:"acquireErrors"`
	// Throttled counts turns a tenant's jobsPerSecond quota put off: the
	// tenant had due jobs and waited for its quota instead.
	Throttled int64 `json:"throttled"`
	// Queries counts the executor's own calls to tenant storage and the
	// primary (registry lookups, mostly cache hits, are in Lookups).
	Queries int64 `json:"queries"`
	Lookups int64 `json:"lookups"`
	// HintReads counts reads of the primary's hints; SweepChecks the
	// tenants the sweep asked; Renewals the lock renewal calls and
	// RenewLost the locks they found lost; ReapedPools the idle pools
	// closed.
	HintReads   int64 `json:"hintReads"`
	SweepChecks int64 `json:"sweepChecks"`
	Renewals    int64 `json:"renewals"`
	RenewLost   int64 `json:"renewLost"`
	ReapedPools int64 `json:"reapedPools"`
	// MaintenanceRuns counts tenants maintained, MaintenanceErrors the runs
	// with a failed duty, MaintenanceDeferred the slots moved because every
	// maintenance slot was busy.
	MaintenanceRuns     int64 `json:"maintenanceRuns"`
	MaintenanceErrors   int64 `json:"maintenanceErrors"`
	MaintenanceDeferred int64 `json:"maintenanceDeferred"`

	// Due is how many tenants are due now and wait for a worker;
	// Scheduled how many wait for a later due time.
	Due       int `json:"dueTenants"`
	Scheduled int `json:"scheduledTenants"`
	// Running is how many batches run; RunningJobs how many jobs they
	// hold.
	Running     int `json:"runningBatches"`
	RunningJobs int `json:"runningJobs"`

	// AcquireP50/P99/Max: acquisition latency (real time) over recent
	// acquisitions. LatenessP50/P99/Max: how long after its due time a job
	// was acquired (executor clock), over recent jobs.
	AcquireP50  time.Duration `json:"acquireP50"`
	AcquireP99  time.Duration `json:"acquireP99"`
	AcquireMax  time.Duration `json:"acquireMax"`
	LatenessP50 time.Duration `json:"latenessP50"`
	LatenessP99 time.Duration `json:"latenessP99"`
	LatenessMax time.Duration `json:"latenessMax"`

	// Top lists the Config.TopTenants tenants with the most completed jobs,
	// so per-tenant metric labels stay bounded.
	Top []TenantStats `json:"top"`
}

// TenantStats are one tenant's figures.
type TenantStats struct {
	Tenant      string        `json:"tenant"`
	Completed   int64         `json:"completed"`
	Failed      int64         `json:"failed"`
	LockLost    int64         `json:"lockLost"`
	Incidents   int64         `json:"incidents"`
	Queries     int64         `json:"queries"`
	Throttled   int64         `json:"throttled"`
	LatenessMax time.Duration `json:"latenessMax"`
}

// Batch is one acquisition that returned jobs, as kept in the batch log.
type Batch struct {
	// Seq is the batch's turn: turns are given to due tenants in order, and
	// a tenant's acquisition may finish before or after those of turns
	// given at the same moment to other workers. Turns whose acquisition
	// found nothing leave gaps.
	Seq    int64
	Tenant string
	Size   int
	// At is the executor clock's time of the acquisition.
	At time.Time
}

type stats struct {
	acquiredN, batchN, completedN, failedN, lockLostN, incidentsN atomic.Int64
	panics, timeouts, released, acquireErrors, throttledN         atomic.Int64
	queries, lookups, primary                                     atomic.Int64
	renewals, renewLost, reaped                                   atomic.Int64
	maintenance, maintErrors, maintDeferred, maintAttempts        atomic.Int64
	acquireLatency, lateness                                      *window

	mu      sync.Mutex
	perT    map[string]*TenantStats
	log     []Batch
	logPos  int
	logSize int
}

func newStats(logSize int) stats {
	return stats{acquireLatency: newWindow(4096), lateness: newWindow(4096),
		perT: map[string]*TenantStats{}, logSize: logSize}
}

// tenant returns the tenant's figures (mu held).
func (s *stats) tenant(id string) *TenantStats {
	t := s.perT[id]
	if t == nil {
		t = &TenantStats{Tenant: id}
		s.perT[id] = t
	}
	return t
}

func (s *stats) query(tenant string) {
	s.queries.Add(1)
	s.mu.Lock()
	s.tenant(tenant).Queries++
	s.mu.Unlock()
}

func (s *stats) throttled(tenant string) {
	s.throttledN.Add(1)
	s.mu.Lock()
	s.tenant(tenant).Throttled++
	s.mu.Unlock()
}

func (s *stats) acquired(tenant string, jobs []*engine.Job, at time.Time, seq int64) {
	s.acquiredN.Add(int64(len(jobs)))
	s.batchN.Add(1)
	var worst time.Duration
	for _, j := range jobs {
		late := max(at.Sub(j.DueAt), 0)
		s.lateness.observe(late)
		worst = max(worst, late)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenant(tenant)
	t.LatenessMax = max(t.LatenessMax, worst)
	b := Batch{Seq: seq, Tenant: tenant, Size: len(jobs), At: at}
	if len(s.log) < s.logSize {
		s.log = append(s.log, b)
		return
	}
	s.log[s.logPos] = b
	s.logPos = (s.logPos + 1) % s.logSize
}

func (s *stats) completed(tenant string, n int64) {
	s.completedN.Add(n)
	s.mu.Lock()
	s.tenant(tenant).Completed += n
	s.mu.Unlock()
}

func (s *stats) failed(tenant string, n int64, incident bool) {
	s.failedN.Add(n)
	if incident {
		s.incidentsN.Add(n)
	}
	s.mu.Lock()
	t := s.tenant(tenant)
	t.Failed += n
	if incident {
		t.Incidents += n
	}
	s.mu.Unlock()
}

func (s *stats) lost(tenant string, n int64) {
	s.lockLostN.Add(n)
	s.mu.Lock()
	s.tenant(tenant).LockLost += n
	s.mu.Unlock()
}

// forget drops a disabled tenant's figures: nothing of it is kept.
func (s *stats) forget(tenant string) {
	s.mu.Lock()
	delete(s.perT, tenant)
	s.mu.Unlock()
}

// Batches returns the batch log in turn order: the most recent
// Config.BatchLogSize acquisitions that returned jobs.
func (x *Executor) Batches() []Batch {
	s := &x.stats
	s.mu.Lock()
	out := slices.Clone(s.log)
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Batch) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// TenantStats returns one tenant's figures on this node since Start (or
// since it was last disabled), zero when it had no turn.
func (x *Executor) TenantStats(tenant string) TenantStats {
	s := &x.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.perT[tenant]; t != nil {
		return *t
	}
	return TenantStats{Tenant: tenant}
}

// Stats returns the executor's figures.
func (x *Executor) Stats() Stats {
	s := &x.stats
	out := Stats{
		Acquired: s.acquiredN.Load(), Batches: s.batchN.Load(), Completed: s.completedN.Load(),
		Failed: s.failedN.Load(), LockLost: s.lockLostN.Load(), Incidents: s.incidentsN.Load(),
		Panics: s.panics.Load(), TimedOut: s.timeouts.Load(), Released: s.released.Load(),
		AcquireErrors: s.acquireErrors.Load(), Throttled: s.throttledN.Load(), Queries: s.queries.Load() + s.primary.Load(), Lookups: s.lookups.Load(),
		Renewals:  s.renewals.Load(),
		RenewLost: s.renewLost.Load(), ReapedPools: s.reaped.Load(), MaintenanceRuns: s.maintenance.Load(),
		MaintenanceErrors: s.maintErrors.Load(), MaintenanceDeferred: s.maintDeferred.Load(),
	}
	out.AcquireP50, out.AcquireP99, out.AcquireMax = s.acquireLatency.percentiles()
	out.LatenessP50, out.LatenessP99, out.LatenessMax = s.lateness.percentiles()
	ts := x.tenants.Stats()
	out.Due, out.Scheduled = ts.Due, ts.Scheduled
	out.HintReads, out.SweepChecks = ts.HintReads, ts.SweepChecks
	x.mu.Lock()
	out.Running = len(x.batches)
	for b := range x.batches {
		out.RunningJobs += len(b.jobs)
	}
	x.mu.Unlock()
	s.mu.Lock()
	top := make([]TenantStats, 0, len(s.perT))
	for _, t := range s.perT {
		top = append(top, *t)
	}
	s.mu.Unlock()
	slices.SortFunc(top, func(a, b TenantStats) int {
		if a.Completed != b.Completed {
			if a.Completed > b.Completed {
				return -1
			}
			return 1
		}
		if a.Tenant < b.Tenant {
			return -1
		}
		return 1
	})
	out.Top = top[:min(len(top), x.cfg.TopTenants)]
	return out
}

// window keeps the last observations for percentiles.
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

func (w *window) percentiles() (p50, p99, maxD time.Duration) {
	w.mu.Lock()
	s := slices.Clone(w.buf[:w.n])
	w.mu.Unlock()
	if len(s) == 0 {
		return 0, 0, 0
	}
	slices.Sort(s)
	return s[len(s)/2], s[(len(s)*99)/100], s[len(s)-1]
}
