package jobexec

import (
	"context"
	"errors"
	"hash/fnv"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/security"
)

// maintTag tags every per-tenant maintenance job; tenantTag(id) tags one
// tenant's.
const maintTag = "jobexec/maintenance"

func tenantTag(tenant string) string { return "tenant:" + tenant }

// slot is the tenant's fixed offset into the maintenance window, to the
// second, from a hash of its ID.
func (x *Executor) slot(tenant string) time.Duration {
	secs := uint32(x.cfg.MaintenanceWindow / time.Second)
	if secs == 0 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(tenant))
	return time.Duration(h.Sum32()%secs) * time.Second
}

// windowContaining returns the opening of the maintenance window now falls
// in, if any.
func (x *Executor) windowContaining(now time.Time) (time.Time, bool) {
	start := x.maintAt.Next(now.Add(-x.cfg.MaintenanceWindow))
	if start.IsZero() || start.After(now) {
		return time.Time{}, false
	}
	for {
		n := x.maintAt.Next(start)
		if n.IsZero() || n.After(now) {
			return start, true
		}
		start = n
	}
}

// openWindow gives every active tenant a one-time gocron job at its slot in
// the window opening at start (slots already past are skipped). The jobs
// exist only until they ran: outside the window the executor holds no
// per-tenant job, and a tenant created meanwhile is in the next window.
func (x *Executor) openWindow(ctx context.Context, start time.Time) error {
	const page = 1000
	now := x.clock.Now()
	after := ""
	for {
		qctx, cancel := context.WithTimeout(ctx, x.cfg.QueryTimeout)
		ts, err := x.dir.ListTenants(qctx, &datasource.ListTenantsParams{
			Status: []datasource.Status{datasource.StatusActive}, After: after, Limit: page})
		cancel()
		x.stats.primary.Add(1)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if at := start.Add(x.slot(t.ID)); !at.Before(now) {
				x.scheduleMaintenance(t.ID, at)
			}
		}
		if len(ts) < page {
			return nil
		}
		after = ts[len(ts)-1].ID
	}
}

// scheduleMaintenance adds the tenant's one-time maintenance job, unless it
// has one, was just disabled, or the executor is stopping.
func (x *Executor) scheduleMaintenance(tenant string, at time.Time) {
	x.maintMu.Lock()
	defer x.maintMu.Unlock()
	x.mu.Lock()
	now := x.clock.Now()
	ok := x.state == stateRunning
	x.mu.Unlock()
	ok = ok && !x.tenants.Tombstoned(tenant)
	if !ok || x.maintJobs[tenant] != nil {
		return
	}
	when := gocron.OneTimeJobStartImmediately()
	if at.After(now) {
		when = gocron.OneTimeJobStartDateTime(at)
	}
	j, err := x.sched.NewJob(gocron.OneTimeJob(when), gocron.NewTask(x.maintainTenant, tenant),
		gocron.WithName("jobexec/maintenance/"+tenant), gocron.WithTags(tenantTag(tenant), maintTag))
	if err != nil {
		x.log.Warn("could not schedule a tenant's maintenance", "tenant", tenant, "err", err)
		return
	}
	x.maintJobs[tenant] = j
}

// maintainTenant runs one tenant's maintenance with the tenant in its
// context: the engine's history cleanup, then every Config.Maintenance
// duty. ctx is the gocron job's: removing the job (the tenant was
// disabled) or stopping the executor cancels it.
func (x *Executor) maintainTenant(ctx context.Context, tenant string) {
	done := make(chan struct{})
	x.maintMu.Lock()
	j := x.maintJobs[tenant]
	x.maintRunning[tenant] = done
	x.maintMu.Unlock()
	x.dutiesRunning.Add(1)
	defer func() {
		x.maintMu.Lock()
		if x.maintRunning[tenant] == done {
			delete(x.maintRunning, tenant)
		}
		if j != nil && x.maintJobs[tenant] == j {
			delete(x.maintJobs, tenant)
		}
		x.maintMu.Unlock()
		close(done)
		if j != nil {
			// A one-time job stays listed after it ran: remove it.
			_ = x.sched.RemoveJob(j.ID())
		}
		x.stats.maintAttempts.Add(1)
		x.dutiesRunning.Add(-1)
		x.poke()
	}()

	select {
	case x.maintSlots <- struct{}{}:
		defer func() { <-x.maintSlots }()
	default:
		// Every slot is busy: try again in a minute rather than pile up.
		x.maintMu.Lock()
		if x.maintJobs[tenant] == j {
			delete(x.maintJobs, tenant)
		}
		x.maintMu.Unlock()
		x.scheduleMaintenance(tenant, x.clock.Now().Add(time.Minute))
		x.stats.maintDeferred.Add(1)
		return
	}

	tctx := security.WithTenant(ctx, tenant)
	qctx, cancel := context.WithTimeout(tctx, x.cfg.QueryTimeout)
	info, err := x.dir.Tenant(qctx, tenant)
	cancel()
	x.stats.lookups.Add(1)
	if err != nil || !info.Active() {
		return
	}
	mctx, cancel := context.WithTimeout(tctx, x.cfg.MaintenanceTimeout)
	defer cancel()
	var errs []error
	removed, err := x.eng.CleanupHistory(mctx, x.clock.Now())
	x.stats.query(tenant)
	if err != nil {
		errs = append(errs, err)
		x.log.Warn("history cleanup failed", "tenant", tenant, "err", err)
	} else if removed > 0 {
		x.log.Info("history cleaned up", "tenant", tenant, "instances", removed)
	}
	for _, m := range x.cfg.Maintenance {
		if mctx.Err() != nil {
			errs = append(errs, mctx.Err())
			break
		}
		if err := m.Run(mctx, tenant); err != nil {
			errs = append(errs, err)
			x.log.Warn("tenant maintenance failed", "tenant", tenant, "duty", m.Name, "err", err)
		}
	}
	x.stats.maintenance.Add(1)
	if err := errors.Join(errs...); err != nil {
		x.stats.maintErrors.Add(1)
	}
}
