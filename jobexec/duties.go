package jobexec

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// duty is one periodic task driven by gocron. A run that finds the previous
// one still running is skipped (the executor's own guard: gocron's
// singleton mode would cost a goroutine per job).
type duty struct {
	running atomic.Bool
	runs    atomic.Int64
	skipped atomic.Int64
}

// dutyTag tags the executor's node-wide gocron jobs.
const dutyTag = "jobexec"

// wrap guards fn as duty name.
func (x *Executor) wrap(name string, fn func(ctx context.Context)) func(ctx context.Context) {
	d := &duty{}
	x.duties[name] = d
	return func(ctx context.Context) {
		if !d.running.CompareAndSwap(false, true) {
			d.skipped.Add(1)
			return
		}
		x.dutiesRunning.Add(1)
		defer func() {
			d.runs.Add(1)
			d.running.Store(false)
			x.dutiesRunning.Add(-1)
			x.poke()
		}()
		fn(ctx)
	}
}

// scheduleDuties registers the node-wide periodic duties with gocron.
func (x *Executor) scheduleDuties() error {
	add := func(name string, def gocron.JobDefinition, fn func(ctx context.Context)) error {
		_, err := x.sched.NewJob(def, gocron.NewTask(x.wrap(name, fn)), gocron.WithName("jobexec/"+name), gocron.WithTags(dutyTag))
		return err
	}
	errs := []error{
		add("hints", gocron.DurationJob(x.cfg.HintInterval), func(ctx context.Context) { x.refreshHints(ctx, readChanged) }),
		add("takeover", gocron.DurationJob(x.cfg.TakeoverInterval), func(ctx context.Context) { x.refreshHints(ctx, readOverdue) }),
		add("renew-locks", gocron.DurationJob(x.cfg.Heartbeat), x.renewLocks),
		add("reap-pools", gocron.DurationJob(x.cfg.ReapInterval), func(context.Context) { x.stats.reaped.Add(int64(x.reap())) }),
	}
	if x.cfg.SweepRate > 0 {
		errs = append(errs, add("sweep", gocron.DurationJob(time.Second), x.sweep))
	}
	if x.maintAt != nil {
		errs = append(errs, add("maintenance-window", gocron.CronJob(x.cfg.MaintenanceSchedule, false), func(ctx context.Context) {
			if err := x.openWindow(ctx, x.clock.Now().UTC()); err != nil {
				x.log.Warn("could not schedule every tenant's maintenance", "err", err)
			}
		}))
	}
	if err := errors.Join(errs...); err != nil {
		return errors.Join(errors.New("jobexec: scheduling the periodic duties"), err)
	}
	return nil
}

// readMode says which hints a read acts on.
type readMode int

const (
	// readAll acts on every hint due within the lookahead (at start).
	readAll readMode = iota
	// readChanged acts on hints that changed since the last read.
	readChanged
	// readSignal is readChanged after a "refresh everything" signal: skipped
	// when a read happened less than HintMinGap ago.
	readSignal
	// readOverdue acts on every overdue hint, changed or not: the takeover
	// of tenants whose hint nobody moved (a crashed node's expired locks).
	readOverdue
)

// refreshHints reads the primary's due hints, for all tenants in one query,
// and wakes the tenants they name.
func (x *Executor) refreshHints(ctx context.Context, mode readMode) {
	now := x.clock.Now()
	x.mu.Lock()
	if x.state != stateRunning || (mode == readSignal && !x.lastRead.IsZero() && now.Sub(x.lastRead) < x.cfg.HintMinGap) {
		x.mu.Unlock()
		return
	}
	x.lastRead = now
	x.readsInFlight++
	from := x.settles
	x.mu.Unlock()
	before := now.Add(x.cfg.HintLookahead)
	if mode == readOverdue {
		before = now
	}
	qctx, cancel := context.WithTimeout(ctx, x.cfg.QueryTimeout)
	hints, err := x.dir.DueHints(qctx, datasource.TopicJobs, before, x.cfg.HintLimit)
	cancel()
	x.stats.primary.Add(1)
	x.stats.hintReads.Add(1)
	x.mu.Lock()
	defer x.mu.Unlock()
	defer func() {
		if x.readsInFlight--; x.readsInFlight == 0 {
			clear(x.settledInRead)
		}
	}()
	if err != nil {
		x.log.Warn("reading the wake-up hints failed; signals and the sweep still find work", "err", err)
		return
	}
	// A tenant that settled while the hints were read asked its own storage
	// meanwhile: what it found (and recorded in seenHints) is at least as
	// new as its hint, which may be the very hint its batch just cleared.
	// Waking it again would cost an empty acquisition.
	settledSince := func(tenant string) bool {
		n, ok := x.settledInRead[tenant]
		return ok && n > from
	}
	seen := x.seenHints
	if mode != readOverdue {
		x.seenHints = make(map[string]time.Time, len(hints))
		for tenant := range x.settledInRead {
			if due, ok := seen[tenant]; ok && settledSince(tenant) {
				x.seenHints[tenant] = due
			}
		}
	}
	for _, h := range hints {
		if settledSince(h.Tenant) {
			continue
		}
		prev, ok := seen[h.Tenant]
		if mode != readOverdue {
			x.seenHints[h.Tenant] = h.DueAt
		}
		if (mode == readChanged || mode == readSignal) && ok && prev.Equal(h.DueAt) {
			continue
		}
		x.wakeIDLocked(h.Tenant, h.DueAt, now)
	}
}

// requestRefresh reads the hints soon, off the signal's goroutine: one read
// per burst of "refresh everything" signals, never a query per tenant.
func (x *Executor) requestRefresh() {
	if !x.refreshPending.CompareAndSwap(false, true) {
		return
	}
	x.mu.Lock()
	if x.state != stateRunning {
		x.mu.Unlock()
		x.refreshPending.Store(false)
		return
	}
	x.bg.Add(1)
	x.mu.Unlock()
	go func() {
		defer x.bg.Done()
		defer x.poke()
		defer x.refreshPending.Store(false)
		x.refreshHints(x.runCtx, readSignal)
	}()
}

func (x *Executor) onJobSignal(s datasource.Signal) {
	if s.All {
		x.requestRefresh()
		return
	}
	if s.Tenant == "" {
		return
	}
	now := x.clock.Now()
	at := s.DueAt
	if at.Before(now) {
		at = now
	}
	if s.Remote && x.cfg.RemoteSignalDelay > 0 {
		if soonest := now.Add(x.cfg.RemoteSignalDelay); at.Before(soonest) {
			at = soonest
		}
	}
	x.wake(s.Tenant, at)
}

// onTenantSignal ends the tombstone of a tenant that changed again (enabled
// after a disable): its hints and signals count again. Whether it is served
// is checked against the registry before every poll.
func (x *Executor) onTenantSignal(s datasource.Signal) {
	if s.All || s.Tenant == "" {
		return
	}
	x.mu.Lock()
	delete(x.tombs, s.Tenant)
	x.mu.Unlock()
}

// sweep asks a few active tenants that the executor knows nothing about
// when their next job is due, round robin over pages of the tenant list, so
// that a hint lost in a crash is corrected within one pass.
func (x *Executor) sweep(ctx context.Context) {
	ids := x.nextSweep(ctx)
	for _, id := range ids {
		x.mu.Lock()
		t := x.tenants[id]
		known := t != nil && (t.where != nowhere || t.inflight > 0 || x.clock.Now().Before(t.notBefore))
		_, tomb := x.tombs[id]
		running := x.state == stateRunning
		x.mu.Unlock()
		if !running {
			return
		}
		if known || tomb {
			continue
		}
		qctx, cancel := context.WithTimeout(security.WithTenant(ctx, id), x.cfg.QueryTimeout)
		due, ok, err := x.eng.NextJobDue(qctx)
		cancel()
		x.stats.queries.Add(1) // not per tenant: the sweep touches every tenant
		x.stats.sweepChecks.Add(1)
		if err != nil || !ok {
			continue
		}
		x.wake(id, due)
		hctx, cancel := context.WithTimeout(ctx, x.cfg.QueryTimeout)
		err = x.dir.LowerHints(hctx, []datasource.Hint{{Tenant: id, Topic: datasource.TopicJobs, DueAt: due}})
		cancel()
		x.stats.primary.Add(1)
		if err != nil {
			x.log.Debug("could not record a swept tenant's hint", "tenant", id, "err", err)
		}
	}
}

// minSweepPass is the shortest time between the starts of two sweep
// passes over the tenant list.
const minSweepPass = time.Minute

// nextSweep returns the next SweepRate tenants, reading a page of the
// tenant list when the current one is used up.
func (x *Executor) nextSweep(ctx context.Context) []string {
	x.mu.Lock()
	if len(x.sweepBuf) == 0 {
		after := x.sweepNext
		now := x.clock.Now()
		if after == "" {
			// A new pass: not sooner than minSweepPass after the last one
			// began, so few tenants are not asked every second.
			if !x.sweepPass.IsZero() && now.Sub(x.sweepPass) < minSweepPass {
				x.mu.Unlock()
				return nil
			}
			x.sweepPass = now
		}
		x.mu.Unlock()
		page := max(x.cfg.SweepRate*60, 100)
		qctx, cancel := context.WithTimeout(ctx, x.cfg.QueryTimeout)
		ts, err := x.dir.ListTenants(qctx, &datasource.ListTenantsParams{
			Status: []datasource.Status{datasource.StatusActive}, After: after, Limit: page})
		cancel()
		x.stats.primary.Add(1)
		if err != nil {
			x.log.Warn("listing tenants for the sweep failed", "err", err)
			return nil
		}
		x.mu.Lock()
		x.sweepBuf = x.sweepBuf[:0]
		for _, t := range ts {
			x.sweepBuf = append(x.sweepBuf, t.ID)
		}
		x.sweepNext = ""
		if len(ts) == page {
			x.sweepNext = ts[len(ts)-1].ID
		}
	}
	n := min(x.cfg.SweepRate, len(x.sweepBuf))
	ids := append([]string(nil), x.sweepBuf[:n]...)
	x.sweepBuf = x.sweepBuf[n:]
	x.mu.Unlock()
	return ids
}

// renewLocks extends the locks of batches running for more than half a
// heartbeat, one call per batch, a few tenants at once.
func (x *Executor) renewLocks(ctx context.Context) {
	now := x.clock.Now()
	type renewal struct {
		b   *batch
		ids []int64
	}
	var due []renewal
	x.mu.Lock()
	for b := range x.batches {
		if len(b.jobs) == 0 || now.Sub(b.renewedAt) < x.cfg.Heartbeat/2 {
			continue
		}
		ids := make([]int64, len(b.jobs))
		for i, j := range b.jobs {
			ids[i] = j.ID
		}
		due = append(due, renewal{b, ids})
	}
	x.mu.Unlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, r := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			x.renewTenant(ctx, r.b, r.ids, now)
		}()
	}
	wg.Wait()
}

// renewTenant renews one batch's locks; when every one was lost (another
// node took the jobs after they expired), the batch is cut short: its
// completions would be refused anyway.
func (x *Executor) renewTenant(ctx context.Context, b *batch, ids []int64, now time.Time) {
	tenant := b.tenant.id
	qctx, cancel := context.WithTimeout(security.WithTenant(ctx, tenant), x.cfg.QueryTimeout)
	defer cancel()
	lost, err := x.eng.RenewJobLocks(qctx, &engine.RenewJobLocksParams{Owner: x.cfg.NodeID, IDs: ids, Until: now.Add(x.cfg.LockDuration)})
	x.stats.query(tenant)
	x.stats.renewals.Add(1)
	if err != nil {
		x.log.Warn("renewing job locks failed; the jobs may be taken over when their locks expire", "tenant", tenant, "jobs", len(ids), "err", err)
		return
	}
	x.mu.Lock()
	_, running := x.batches[b]
	if running {
		b.renewedAt = now
	}
	x.mu.Unlock()
	if len(lost) == 0 {
		return
	}
	x.stats.renewLost.Add(int64(len(lost)))
	x.log.Warn("job locks lost while running: another node took the jobs after their locks expired", "tenant", tenant, "jobs", lost)
	if running && len(lost) == len(ids) {
		b.cancel(errLocksLost)
	}
}
