package jobexec

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// Executor runs the jobs of every tenant. Create it with New, then Start and
// Stop it.
type Executor struct {
	cfg   Config
	eng   Engine
	src   *datasource.Sources
	clock clockwork.Clock
	log   *slog.Logger

	mu      sync.Mutex
	tenants map[string]*tenantState
	queue   dueQueue
	seq     uint64
	idle    int // workers without work
	wake    chan struct{}
	stopped bool

	work    chan *tenantState
	workers sync.WaitGroup
	loop    sync.WaitGroup
	stop    chan struct{}

	sched       gocron.Scheduler
	maintained  map[string]bool // tenants with a maintenance job
	sweepAfter  string          // sweep cursor
	lastRefresh time.Time
	unsub       []func()

	stats stats
}

// tenantState is what the executor knows of one tenant.
type tenantState struct {
	id       string
	due      time.Time
	seq      uint64
	index    int // position in the queue; -1 when not queued
	inflight int
	cap      int
	gone     bool          // disabled or dropped: not scheduled again
	pending  bool          // became due while at its batch cap: re-queue when a batch ends
	idle     chan struct{} // closed when inflight drops to 0 after gone
}

// dueQueue orders tenants by due time, then by when they were queued.
type dueQueue []*tenantState

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].seq < q[j].seq
}
func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i]; q[i].index = i; q[j].index = j }
func (q *dueQueue) Push(x any)   { t := x.(*tenantState); t.index = len(*q); *q = append(*q, t) }
func (q *dueQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	t.index = -1
	return t
}

// New returns an executor. It does nothing until Start.
func New(cfg Config) (*Executor, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Executor{
		cfg:        cfg,
		eng:        cfg.Engine,
		src:        cfg.Sources,
		clock:      cfg.Clock,
		log:        cfg.Logger,
		tenants:    map[string]*tenantState{},
		wake:       make(chan struct{}, 1),
		work:       make(chan *tenantState),
		stop:       make(chan struct{}),
		maintained: map[string]bool{},
		stats:      newStats(),
	}, nil
}

// Start subscribes to job signals and lifecycle hooks, schedules the
// periodic duties and starts the workers.
func (x *Executor) Start(ctx context.Context) error {
	sched, err := gocron.NewScheduler(gocron.WithClock(x.clock), gocron.WithLocation(time.UTC))
	if err != nil {
		return fmt.Errorf("jobexec: scheduler: %w", err)
	}
	x.sched = sched
	x.unsub = append(x.unsub,
		x.src.Signals.Subscribe(datasource.TopicJobs, x.onJobSignal),
		x.src.Signals.Subscribe(datasource.TopicTenant, x.onTenantSignal),
	)
	x.src.Lifecycle.OnDisable(x.forgetTenant)
	x.src.Lifecycle.OnDrop(x.forgetTenant)
	every := func(name string, d time.Duration, fn func()) error {
		_, err := sched.NewJob(gocron.DurationJob(d), gocron.NewTask(fn), gocron.WithName("jobexec/"+name))
		return err
	}
	if err := errors.Join(
		every("hints", x.cfg.HintInterval, x.refreshHints),
		every("sweep", time.Second, x.sweep),
		every("reap-pools", x.cfg.ReapInterval, func() { x.src.Tenants.ReapIdle() }),
	); err != nil {
		return fmt.Errorf("jobexec: scheduling duties: %w", err)
	}
	if !x.cfg.DisableMaintenance {
		if err := x.registerKnownTenants(ctx); err != nil {
			return err
		}
	}
	sched.Start()
	for i := 0; i < x.cfg.Workers; i++ {
		x.workers.Add(1)
		go x.worker()
	}
	x.mu.Lock()
	x.idle = x.cfg.Workers
	x.mu.Unlock()
	x.loop.Add(1)
	go x.dispatch()
	x.refreshHints()
	return nil
}

// Stop stops acquiring, lets batches in flight finish (bounded by ctx) and
// stops every goroutine of the executor.
func (x *Executor) Stop(ctx context.Context) error {
	x.mu.Lock()
	if x.stopped {
		x.mu.Unlock()
		return nil
	}
	x.stopped = true
	x.mu.Unlock()
	for _, u := range x.unsub {
		u()
	}
	close(x.stop)
	x.loop.Wait() // the dispatcher hands out no more work
	close(x.work)
	done := make(chan struct{})
	go func() { x.workers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("jobexec: batches still running at shutdown: %w", ctx.Err())
	}
	if x.sched != nil {
		err = errors.Join(err, x.sched.Shutdown())
	}
	return err
}

// ---- knowing who is due ----

// Schedule makes a tenant due at the given time (earlier times win). The
// engine's signals call it; tools and tests may too.
func (x *Executor) Schedule(tenant string, due time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.scheduleLocked(tenant, due)
}

func (x *Executor) scheduleLocked(tenant string, due time.Time) {
	if x.stopped {
		return
	}
	t := x.tenants[tenant]
	if t == nil {
		t = &tenantState{id: tenant, index: -1}
		x.tenants[tenant] = t
	}
	if t.gone {
		return
	}
	if t.index >= 0 {
		if due.Before(t.due) {
			t.due = due
			heap.Fix(&x.queue, t.index)
		}
	} else {
		x.seq++
		t.due, t.seq = due, x.seq
		heap.Push(&x.queue, t)
	}
	x.nudge()
}

// nudge wakes the dispatcher.
func (x *Executor) nudge() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

func (x *Executor) onJobSignal(s datasource.Signal) {
	if s.All {
		go x.refreshHints()
		return
	}
	if s.Tenant == "" {
		return
	}
	due := s.DueAt
	if due.IsZero() {
		due = x.clock.Now()
	}
	x.Schedule(s.Tenant, due)
}

func (x *Executor) onTenantSignal(s datasource.Signal) {
	if s.All || s.Tenant == "" || x.cfg.DisableMaintenance {
		return
	}
	// A tenant created (or enabled) anywhere: give it its maintenance slot
	// and look at it once.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		t, err := x.src.Registry.Tenant(ctx, s.Tenant)
		if err != nil || !t.Active() {
			return
		}
		x.ensureMaintenance(t.ID)
		x.Schedule(t.ID, x.clock.Now())
	}()
}

// refreshHints reads every tenant due within the lookahead from the
// primary, in one query, at most once a second.
func (x *Executor) refreshHints() {
	x.mu.Lock()
	now := x.clock.Now()
	if x.stopped || now.Sub(x.lastRefresh) < time.Second {
		x.mu.Unlock()
		return
	}
	x.lastRefresh = now
	x.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hints, err := x.src.Primary.DueHints(ctx, datasource.TopicJobs, now.Add(x.cfg.HintLookahead), 10_000)
	x.stats.queries.Add(1)
	if err != nil {
		x.log.Warn("reading job hints failed; relying on signals and the sweep", "err", err)
		return
	}
	x.mu.Lock()
	for _, h := range hints {
		x.scheduleLocked(h.Tenant, h.DueAt)
	}
	x.mu.Unlock()
}

// sweep asks a few tenants, round robin, when their next job is due, so a
// lost hint is corrected eventually.
func (x *Executor) sweep() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x.mu.Lock()
	after := x.sweepAfter
	x.mu.Unlock()
	ts, err := x.src.Primary.ListTenants(ctx, &datasource.ListTenantsParams{Status: []datasource.Status{datasource.StatusActive},
		After: after, Limit: x.cfg.SweepRate})
	x.stats.queries.Add(1)
	if err != nil {
		return
	}
	next := ""
	if len(ts) == x.cfg.SweepRate {
		next = ts[len(ts)-1].ID
	}
	x.mu.Lock()
	x.sweepAfter = next
	x.mu.Unlock()
	for _, t := range ts {
		tctx := security.WithTenant(ctx, t.ID)
		due, ok, err := x.eng.NextJobDue(tctx)
		x.stats.queries.Add(1)
		if err != nil || !ok {
			continue
		}
		x.Schedule(t.ID, due)
	}
}

// ---- dispatching ----

// dispatch hands due tenants to idle workers, in due order.
func (x *Executor) dispatch() {
	defer x.loop.Done()
	var timer clockwork.Timer
	for {
		x.mu.Lock()
		now := x.clock.Now()
		var hand []*tenantState
		for x.idle > 0 && len(x.queue) > 0 && !x.queue[0].due.After(now) {
			t := heap.Pop(&x.queue).(*tenantState)
			if t.gone {
				continue
			}
			if t.cap == 0 {
				t.cap = x.tenantCap(t.id)
			}
			if t.inflight >= t.cap {
				// Its running batches re-queue it when they finish.
				t.pending = true
				continue
			}
			t.inflight++
			x.idle--
			hand = append(hand, t)
		}
		wait := time.Duration(-1)
		if len(x.queue) > 0 && x.idle > 0 {
			wait = x.queue[0].due.Sub(now)
		}
		x.mu.Unlock()
		for _, t := range hand {
			x.work <- t
		}
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		var fire <-chan time.Time
		if wait > 0 {
			timer = x.clock.NewTimer(wait)
			fire = timer.Chan()
		} else if wait == 0 {
			continue
		}
		select {
		case <-x.stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-x.wake:
		case <-fire:
		}
	}
}

// tenantCap is how many batches a tenant may run at once: its connection
// cap, one on SQLite.
func (x *Executor) tenantCap(id string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t, err := x.src.Registry.Tenant(ctx, id)
	if err != nil {
		return 1
	}
	if t.Placement == datasource.PlacementSQLite {
		return 1
	}
	n := t.Limits.MaxOpenConns
	if n <= 0 {
		n = x.src.Config.DefaultLimits.MaxOpenConns
	}
	return max(n, 1)
}

func (x *Executor) worker() {
	defer x.workers.Done()
	for t := range x.work {
		x.runTenant(t)
		x.mu.Lock()
		t.inflight--
		x.idle++
		if t.gone && t.inflight == 0 && t.idle != nil {
			close(t.idle)
			t.idle = nil
		}
		if t.pending && !t.gone {
			t.pending = false
			x.scheduleLocked(t.id, x.clock.Now())
		}
		x.mu.Unlock()
		x.nudge()
	}
}

// runTenant runs one batch of a tenant's due jobs.
func (x *Executor) runTenant(t *tenantState) {
	ctx := security.WithTenant(context.Background(), t.id)
	tn, err := x.src.Registry.Tenant(ctx, t.id)
	if err != nil || !tn.Active() {
		if errors.Is(err, datasource.ErrUnknownTenant) || err == nil {
			x.mu.Lock()
			delete(x.tenants, t.id)
			x.mu.Unlock()
			return
		}
		x.Schedule(t.id, x.clock.Now().Add(x.cfg.ErrorBackoff))
		return
	}
	start := x.clock.Now()
	jobs, err := x.eng.AcquireJobs(ctx, &engine.AcquireJobsParams{Owner: x.cfg.NodeID, Now: start,
		LockFor: x.cfg.LockDuration, Max: x.cfg.BatchSize})
	x.stats.queries.Add(1)
	x.stats.acquireLatency.observe(x.clock.Since(start))
	if err != nil {
		x.stats.acquireErrors.Add(1)
		x.log.Warn("acquiring jobs failed; retrying the tenant later", "tenant", t.id, "err", err, "retry", x.cfg.ErrorBackoff)
		x.Schedule(t.id, x.clock.Now().Add(x.cfg.ErrorBackoff))
		return
	}
	if len(jobs) == 0 {
		x.settle(ctx, t.id)
		return
	}
	x.stats.batch(t.id, len(jobs), start)
	if len(jobs) == x.cfg.BatchSize {
		// Probably more: back to the end of the queue, so others get a turn
		// and another worker may take the next batch meanwhile.
		x.Schedule(t.id, x.clock.Now())
	}
	for _, j := range jobs {
		x.stats.lateness.observe(start.Sub(j.DueAt))
	}
	results := x.execute(ctx, jobs)
	for _, r := range results {
		switch {
		case r.Err == nil:
			x.stats.completed.Add(1)
			x.stats.tenantDone(t.id)
		case errors.Is(r.Err, engine.ErrLockLost):
			x.stats.lockLost.Add(1)
		default:
			x.stats.failed.Add(1)
		}
	}
	if len(jobs) < x.cfg.BatchSize {
		x.settle(ctx, t.id)
	}
}

// settle learns when the tenant's next job is due, schedules it and records
// it as the tenant's hint (or clears the hint).
func (x *Executor) settle(ctx context.Context, tenant string) {
	due, ok, err := x.eng.NextJobDue(ctx)
	x.stats.queries.Add(1)
	if err != nil {
		x.Schedule(tenant, x.clock.Now().Add(x.cfg.ErrorBackoff))
		return
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if !ok {
		_ = x.src.Primary.SetHint(hctx, tenant, datasource.TopicJobs, time.Time{})
		return
	}
	x.Schedule(tenant, due)
	_ = x.src.Primary.SetHint(hctx, tenant, datasource.TopicJobs, due)
}

// execute runs a batch, renewing its locks while it runs, and turns a panic
// into failed attempts.
func (x *Executor) execute(ctx context.Context, jobs []*engine.Job) (results []engine.JobResult) {
	done := make(chan struct{})
	var hb sync.WaitGroup
	hb.Add(1)
	go func() {
		defer hb.Done()
		x.heartbeat(ctx, jobs, done)
	}()
	defer func() {
		close(done)
		hb.Wait()
	}()
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("job batch panicked: %v\n%s", r, debug.Stack())
			x.log.Error("job batch panicked", "tenant", jobs[0].Tenant, "panic", r)
			results = make([]engine.JobResult, len(jobs))
			for i, j := range jobs {
				results[i] = engine.JobResult{JobID: j.ID, Err: err}
				if ferr := x.eng.FailJob(ctx, &engine.FailJobParams{Job: j, Owner: x.cfg.NodeID, Err: err, Now: x.clock.Now()}); ferr != nil && !errors.Is(ferr, engine.ErrLockLost) {
					x.log.Warn("recording a panicked job failed", "job", j.ID, "err", ferr)
				}
			}
		}
	}()
	return x.eng.ExecuteJobs(ctx, x.cfg.NodeID, jobs, x.clock.Now())
}

// heartbeat renews the batch's locks every third of the lock duration.
func (x *Executor) heartbeat(ctx context.Context, jobs []*engine.Job, done <-chan struct{}) {
	t := x.clock.NewTicker(x.cfg.LockDuration / 3)
	defer t.Stop()
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	for {
		select {
		case <-done:
			return
		case <-t.Chan():
			lost, err := x.eng.RenewJobLocks(ctx, &engine.RenewJobLocksParams{Owner: x.cfg.NodeID, IDs: ids, Until: x.clock.Now().Add(x.cfg.LockDuration)})
			if err == nil && len(lost) > 0 {
				x.log.Warn("job locks lost while running", "tenant", jobs[0].Tenant, "jobs", lost)
			}
		}
	}
}

// ---- tenant lifecycle ----

// forgetTenant stops serving a tenant: it is no longer scheduled, its
// maintenance job is removed, and the call returns once its batches in
// flight have finished (bounded by ctx).
func (x *Executor) forgetTenant(ctx context.Context, tenant string) error {
	x.mu.Lock()
	t := x.tenants[tenant]
	var wait chan struct{}
	if t != nil {
		t.gone = true
		if t.index >= 0 {
			heap.Remove(&x.queue, t.index)
		}
		if t.inflight > 0 {
			t.idle = make(chan struct{})
			wait = t.idle
		}
	}
	delete(x.tenants, tenant)
	if x.maintained[tenant] {
		delete(x.maintained, tenant)
		if x.sched != nil {
			x.sched.RemoveByTags(tagOf(tenant))
		}
	}
	x.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("jobexec: tenant %s still has batches running: %w", tenant, ctx.Err())
		}
	}
	return nil
}

// ---- maintenance ----

func tagOf(tenant string) string { return "tenant:" + tenant }

// registerKnownTenants gives every active tenant its maintenance job.
func (x *Executor) registerKnownTenants(ctx context.Context) error {
	after := ""
	for {
		ts, err := x.src.Primary.ListTenants(ctx, &datasource.ListTenantsParams{Status: []datasource.Status{datasource.StatusActive}, After: after, Limit: 1000})
		if err != nil {
			return fmt.Errorf("jobexec: listing tenants: %w", err)
		}
		for _, t := range ts {
			x.ensureMaintenance(t.ID)
		}
		if len(ts) < 1000 {
			return nil
		}
		after = ts[len(ts)-1].ID
	}
}

// maintenanceSlot is a tenant's daily start, as minutes after midnight UTC:
// MaintenanceHour plus a stable offset within the window.
func (x *Executor) maintenanceSlot(tenant string) (hour, minute int) {
	h := fnv.New32a()
	h.Write([]byte(tenant))
	window := int(x.cfg.MaintenanceWindow / time.Minute)
	offset := 0
	if window > 0 {
		offset = int(h.Sum32() % uint32(window))
	}
	m := (x.cfg.MaintenanceHour*60 + offset) % (24 * 60)
	return m / 60, m % 60
}

// ensureMaintenance registers the tenant's nightly maintenance job once.
func (x *Executor) ensureMaintenance(tenant string) {
	x.mu.Lock()
	if x.maintained[tenant] || x.stopped || x.sched == nil {
		x.mu.Unlock()
		return
	}
	x.maintained[tenant] = true
	x.mu.Unlock()
	hour, minute := x.maintenanceSlot(tenant)
	_, err := x.sched.NewJob(gocron.CronJob(fmt.Sprintf("%d %d * * *", minute, hour), false),
		gocron.NewTask(x.maintain, tenant),
		gocron.WithName("jobexec/maintenance/"+tenant), gocron.WithTags(tagOf(tenant)))
	if err != nil {
		x.log.Warn("scheduling tenant maintenance failed", "tenant", tenant, "err", err)
	}
}

// maintain runs a tenant's maintenance duties, with the tenant in context.
func (x *Executor) maintain(tenant string) {
	ctx, cancel := context.WithTimeout(security.WithTenant(context.Background(), tenant), 30*time.Minute)
	defer cancel()
	if n, err := x.eng.CleanupHistory(ctx, x.clock.Now()); err != nil {
		x.log.Warn("history cleanup failed", "tenant", tenant, "err", err)
	} else if n > 0 {
		x.log.Info("history cleaned up", "tenant", tenant, "instances", n)
	}
	for _, m := range x.cfg.Maintenance {
		if err := m.Run(ctx, tenant); err != nil {
			x.log.Warn("tenant maintenance failed", "tenant", tenant, "duty", m.Name, "err", err)
		}
	}
	x.stats.maintenance.Add(1)
}

// RunMaintenance runs a tenant's maintenance duties now (tools, tests).
func (x *Executor) RunMaintenance(tenant string) { x.maintain(tenant) }

// scheduledJobs lists gocron's job names and tags (tests inspect them).
func (x *Executor) scheduledJobs() [][]string {
	if x.sched == nil {
		return nil
	}
	var out [][]string
	for _, j := range x.sched.Jobs() {
		out = append(out, append([]string{j.Name()}, j.Tags()...))
	}
	return out
}
