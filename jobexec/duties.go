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
		add("renew-locks", gocron.DurationJob(x.cfg.Heartbeat), x.renewLocks),
		add("reap-pools", gocron.DurationJob(x.cfg.ReapInterval), func(context.Context) { x.stats.reaped.Add(int64(x.reap())) }),
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

// probe is the sweep's question to a tenant the scheduler knows nothing
// of: when its next job is due. What it finds is also lowered into the
// tenant's hint, so that other nodes and restarts know it.
func (x *Executor) probe(ctx context.Context, tenant string) (time.Time, bool, error) {
	qctx, cancel := context.WithTimeout(ctx, x.cfg.QueryTimeout)
	due, ok, err := x.eng.NextJobDue(qctx)
	cancel()
	x.stats.queries.Add(1) // not per tenant: the sweep touches every tenant
	if err != nil || !ok {
		return due, ok, err
	}
	hctx, cancel := context.WithTimeout(ctx, x.cfg.QueryTimeout)
	err = x.dir.LowerHints(hctx, []datasource.Hint{{Tenant: tenant, Topic: datasource.TopicJobs, DueAt: due}})
	cancel()
	x.stats.primary.Add(1)
	if err != nil {
		x.log.Debug("could not record a swept tenant's hint", "tenant", tenant, "err", err)
	}
	return due, true, nil
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
	tenant := b.tenant
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
