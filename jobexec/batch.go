package jobexec

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/tenantsched"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// batch is one acquisition of one tenant, while it runs.
type batch struct {
	tenant string
	turn   *tenantsched.Turn
	ctx    context.Context // carries the tenant; cancelled to cut the batch short
	cancel context.CancelCauseFunc
	// Guarded by Executor.mu:
	jobs      []*engine.Job // acquired and not finished yet
	renewedAt time.Time
}

// panicError is a job that panicked outside the engine's own recovery.
type panicError struct {
	job   int64
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("job %d panicked: %v", e.job, e.value) }

// timeoutError is a job that outran Config.JobTimeout.
type timeoutError struct {
	job int64
	d   time.Duration
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("job %d did not finish within %v (jobexec JobTimeout)", e.job, e.d)
}

func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// runTenant runs one batch of the tenant, as its turn: acquire, execute,
// and when it ran dry, learn when the tenant is next due.
func (x *Executor) runTenant(turn *tenantsched.Turn) {
	x.mu.Lock()
	skip := x.state != stateRunning
	x.mu.Unlock()
	if skip {
		return
	}
	tenant := turn.Tenant()
	ctx := security.WithTenant(x.runCtx, tenant)
	qctx, cancel := context.WithTimeout(ctx, x.cfg.QueryTimeout)
	info, err := x.dir.Tenant(qctx, tenant)
	cancel()
	x.stats.lookups.Add(1)
	switch {
	case errors.Is(err, datasource.ErrUnknownTenant) || (err == nil && !info.Active()):
		// Not served (any more): its lifecycle hook stops the rest.
		return
	case err != nil:
		x.backoff(turn, "reading the tenant's configuration", err)
		return
	}
	turn.SetCap(x.capOf(info))
	size, wait := x.throttle.allowance(tenant, info.Quotas.JobsPerSecond, x.cfg.BatchSize, x.clock.Now())
	if size == 0 {
		// Over its jobsPerSecond quota: the jobs wait, and so does the
		// tenant, whatever wakes it meanwhile.
		x.stats.throttled(tenant)
		turn.Defer(x.clock.Now().Add(wait))
		return
	}

	start := turn.Reading()
	began := time.Now()
	qctx, cancel = context.WithTimeout(ctx, x.cfg.QueryTimeout)
	jobs, err := x.eng.AcquireJobs(qctx, &engine.AcquireJobsParams{Owner: x.cfg.NodeID, Now: start,
		LockFor: x.cfg.LockDuration, Max: size})
	cancel()
	x.stats.query(tenant)
	x.stats.acquireLatency.observe(time.Since(began))
	if err != nil {
		x.stats.acquireErrors.Add(1)
		x.backoff(turn, "acquiring jobs", err)
		return
	}
	turn.Recovered()
	if len(jobs) == 0 {
		x.settle(ctx, turn, start)
		return
	}
	x.throttle.spend(tenant, len(jobs), start)
	full := len(jobs) >= size
	x.stats.acquired(tenant, jobs, start, turn.Seq())
	b := x.beginBatch(turn, jobs, full)
	if b == nil {
		x.release(ctx, tenant, jobs, "the executor is stopping or the tenant was disabled")
		return
	}
	x.executeBatch(b)
	x.endBatch(b)
	if !full {
		x.settle(ctx, turn, time.Time{})
	}
}

// capOf is how many batches the tenant may run at once.
func (x *Executor) capOf(info *datasource.Tenant) int {
	n := x.cfg.MaxInFlightPerTenant
	if n <= 0 {
		n = info.Limits.MaxOpenConns
		if n <= 0 {
			n = x.src.Config.DefaultLimits.MaxOpenConns
		}
		if info.Placement == datasource.PlacementSQLite {
			n = 1
		}
	}
	return n
}

// backoff leaves a tenant whose storage failed alone for a while, longer
// with each failure in a row.
func (x *Executor) backoff(turn *tenantsched.Turn, what string, err error) {
	d, failures := turn.Failed(tenantsched.Failure{Backoff: tenantsched.Backoff{Initial: x.cfg.ErrorBackoff, Max: x.cfg.MaxErrorBackoff}})
	x.log.Warn(what+" failed; leaving the tenant alone for a while", "tenant", turn.Tenant(), "err", err, "retry_in", d, "failures", failures)
}

// beginBatch registers a batch for renewal, and puts a tenant
// that probably has more due jobs back at the end of the ready queue, so
// every other due tenant gets a turn before its next batch (and another
// worker may take that batch meanwhile, up to the tenant's cap). It
// returns nil when the executor is stopping or the tenant is gone.
func (x *Executor) beginBatch(turn *tenantsched.Turn, jobs []*engine.Job, full bool) *batch {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.state != stateRunning || turn.Forgotten() {
		return nil
	}
	ctx, cancel := context.WithCancelCause(turn.Context())
	b := &batch{tenant: turn.Tenant(), turn: turn, ctx: ctx, cancel: cancel, jobs: jobs, renewedAt: x.clock.Now()}
	x.batches[b] = struct{}{}
	if full {
		turn.Due(x.clock.Now())
	}
	return b
}

func (x *Executor) endBatch(b *batch) {
	x.mu.Lock()
	delete(x.batches, b)
	b.jobs = nil
	x.mu.Unlock()
	b.cancel(nil)
}

// executeBatch runs the batch through the engine. A batch that panicked or
// timed out as a whole is run again job by job, so that only the culprit
// is failed.
func (x *Executor) executeBatch(b *batch) {
	x.mu.Lock()
	jobs := b.jobs
	x.mu.Unlock()
	res, failure := x.execute(b, jobs)
	if failure == nil {
		x.account(b, jobs, res)
		return
	}
	if len(jobs) == 1 {
		x.fail(b, jobs[0], failure)
		return
	}
	x.log.Warn("a job batch failed as a whole; running its jobs one by one to find the culprit",
		"tenant", b.tenant, "jobs", len(jobs), "err", failure)
	for i, j := range jobs {
		if cause := context.Cause(b.ctx); cause != nil {
			x.abandon(b, jobs[i:], cause)
			return
		}
		one := []*engine.Job{j}
		if res, failure := x.execute(b, one); failure != nil {
			x.fail(b, j, failure)
		} else {
			x.account(b, one, res)
		}
		x.mu.Lock()
		b.jobs = jobs[i+1:]
		x.mu.Unlock()
	}
}

// execute calls ExecuteJobs once, turning a panic or a timeout into a
// failure of the whole call (its transaction did not commit).
func (x *Executor) execute(b *batch, jobs []*engine.Job) (res []engine.JobResult, failure error) {
	ctx := b.ctx
	if x.cfg.JobTimeout > 0 {
		d := x.cfg.JobTimeout * time.Duration(len(jobs))
		tctx, cancel := context.WithCancelCause(b.ctx)
		timeout := &timeoutError{job: jobs[0].ID, d: d}
		timer := x.clock.AfterFunc(d, func() { cancel(timeout) })
		defer func() {
			timer.Stop()
			cancel(nil)
		}()
		ctx = tctx
		defer func() {
			if failure == nil && context.Cause(tctx) == timeout && anyNotRun(res) {
				failure = timeout
			}
		}()
	}
	defer func() {
		if r := recover(); r != nil {
			failure = &panicError{job: jobs[0].ID, value: r, stack: debug.Stack()}
		}
	}()
	return x.eng.ExecuteJobs(ctx, x.cfg.NodeID, jobs, x.clock.Now()), nil
}

// account counts the results of an ExecuteJobs call. Jobs the engine did
// not run (the transaction failed or was cancelled) are released, or
// counted lost when the heartbeat found their locks gone.
func (x *Executor) account(b *batch, jobs []*engine.Job, res []engine.JobResult) {
	tenant := b.tenant
	x.stats.query(tenant)
	byID := make(map[int64]*engine.Job, len(jobs))
	for _, j := range jobs {
		byID[j.ID] = j
	}
	whole := batchError(res)
	cause := context.Cause(b.ctx)
	var notRun []*engine.Job
	var txErr error
	for _, r := range res {
		j := byID[r.JobID]
		if j == nil {
			continue
		}
		switch {
		case r.Err == nil:
			x.stats.completed(tenant, 1)
		case errors.Is(r.Err, engine.ErrLockLost):
			x.stats.lost(tenant, 1)
		case whole != nil || isNotRun(r.Err) || (cause != nil && errors.Is(r.Err, cause)):
			notRun = append(notRun, j)
			txErr = r.Err
		default:
			x.stats.failed(tenant, 1, j.Retries <= 1)
		}
	}
	if len(notRun) == 0 {
		return
	}
	x.abandon(b, notRun, cause)
	if cause == nil {
		// The tenant's storage failed under the transaction.
		x.backoff(b.turn, "running a job batch", txErr)
	}
}

// abandon deals with acquired jobs that will not run in this batch: lost
// when their locks were lost, released otherwise.
func (x *Executor) abandon(b *batch, jobs []*engine.Job, cause error) {
	if errors.Is(cause, errLocksLost) {
		x.stats.lost(b.tenant, int64(len(jobs)))
		return
	}
	why := "the batch did not run"
	if cause != nil {
		why = cause.Error()
	}
	x.release(b.ctx, b.tenant, jobs, why)
}

// fail records a failure the engine did not see (a panic, a timeout).
func (x *Executor) fail(b *batch, j *engine.Job, failure error) {
	tenant := b.tenant
	var p *panicError
	if errors.As(failure, &p) {
		x.stats.panics.Add(1)
		x.log.Error("job panicked", "tenant", tenant, "job", j.ID, "panic", p.value, "stack", string(p.stack))
	} else {
		x.stats.timeouts.Add(1)
		x.log.Warn("job timed out", "tenant", tenant, "job", j.ID, "err", failure)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.ctx), x.cfg.QueryTimeout)
	defer cancel()
	err := x.eng.FailJob(ctx, &engine.FailJobParams{Job: j, Owner: x.cfg.NodeID, Err: failure, Now: x.clock.Now()})
	x.stats.query(tenant)
	switch {
	case err == nil:
		x.stats.failed(tenant, 1, j.Retries <= 1)
	case errors.Is(err, engine.ErrLockLost):
		x.stats.lost(tenant, 1)
	default:
		x.log.Warn("could not record a job's failure; it runs again once its lock expires", "tenant", tenant, "job", j.ID, "err", err)
	}
}

// release unlocks jobs this node will not run, so that they are due again
// at once instead of after their lock expired.
func (x *Executor) release(ctx context.Context, tenant string, jobs []*engine.Job, why string) {
	if len(jobs) == 0 {
		return
	}
	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.cfg.QueryTimeout)
	defer cancel()
	err := x.eng.ReleaseJobs(rctx, x.cfg.NodeID, ids)
	x.stats.query(tenant)
	if err != nil {
		x.log.Warn("could not release jobs; they run again once their locks expire", "tenant", tenant, "jobs", len(ids), "why", why, "err", err)
		return
	}
	x.stats.released.Add(int64(len(ids)))
	x.log.Debug("released jobs", "tenant", tenant, "jobs", len(ids), "why", why)
}

// settle asks the tenant when its next job can be acquired, and settles
// its turn with it: the scheduler schedules it and records it as the
// tenant's hint in the primary for other nodes and for restarts (clearing
// the hint when nothing is pending). emptyAt is the time of an acquisition
// that returned nothing, if that is what settles.
func (x *Executor) settle(ctx context.Context, turn *tenantsched.Turn, emptyAt time.Time) {
	qctx, cancel := context.WithTimeout(ctx, x.cfg.QueryTimeout)
	due, ok, err := x.eng.NextJobDue(qctx)
	cancel()
	x.stats.query(turn.Tenant())
	if err != nil {
		x.backoff(turn, "reading the next due job", err)
		return
	}
	if !ok {
		due = time.Time{}
	}
	if ok && !emptyAt.IsZero() && !due.After(emptyAt) {
		// An acquisition at emptyAt found nothing, yet a job is due by then:
		// a lock expiring at that very instant (acquisition takes over only
		// locks expired before now). Look again a millisecond later, the
		// storage's resolution, rather than at once and forever.
		due = emptyAt.Add(time.Millisecond)
	}
	if err := turn.Settle(due); err != nil {
		x.log.Warn("could not record the tenant's next due time; other nodes find it through their sweeps", "tenant", turn.Tenant(), "err", err)
	}
}

// isNotRun tells errors that mean "the engine did not get to run the job"
// (its transaction failed or was cancelled) from failures it recorded.
func isNotRun(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, datasource.ErrTenantUnavailable) || errors.Is(err, datasource.ErrTenantDisabled) ||
		errors.Is(err, datasource.ErrUnknownTenant) || errors.Is(err, datasource.ErrClosed) ||
		errors.Is(err, datasource.ErrPrimaryUnavailable) || errors.Is(err, security.ErrNoTenant)
}

// batchError returns the error every result of a multi-job call shares: the
// engine reports a failed transaction that way (a recorded failure carries
// each job's own error). Nil otherwise.
func batchError(res []engine.JobResult) error {
	if len(res) < 2 || res[0].Err == nil || errors.Is(res[0].Err, engine.ErrLockLost) {
		return nil
	}
	for _, r := range res[1:] {
		if r.Err != res[0].Err {
			return nil
		}
	}
	return res[0].Err
}

func anyNotRun(res []engine.JobResult) bool {
	if batchError(res) != nil {
		return true
	}
	for _, r := range res {
		if r.Err != nil && isNotRun(r.Err) {
			return true
		}
	}
	return false
}
