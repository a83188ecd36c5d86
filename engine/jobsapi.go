package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/security"
)

// AcquireJobs locks up to p.Max due jobs of the tenant in ctx for p.Owner,
// in one statement: on PostgreSQL FOR UPDATE SKIP LOCKED lets several nodes
// acquire at once without waiting on each other; on SQLite the single
// writer serialises them. Jobs whose lock expired (a crashed node) are taken
// over. Each acquired job's Revision fences its lock.
func (e *Engine) AcquireJobs(ctx context.Context, p *AcquireJobsParams) ([]*Job, error) {
	if p == nil || p.Owner == "" || p.Max <= 0 || p.LockFor <= 0 {
		return nil, core.Invalidf("AcquireJobs needs an owner, a positive Max and LockFor")
	}
	return e.st.AcquireJobs(ctx, p)
}

// ExecuteJobs runs a batch of jobs the caller acquired. Each job is decided
// on its own unit of work (its instance read in a short read transaction,
// Go handlers run with no transaction open), and then every job's outcome
// commits in one transaction, so a batch costs one commit. A job that fails
// commits its failure instead (retries decrease with backoff; an incident
// at zero, or at once for a job that ran out of its step budget). Every
// job's row is fenced by the revision its lock was acquired at: a job
// another node took over meanwhile gets ErrLockLost and changes nothing.
// When the batch's commit fails (one job raced a command on its instance),
// each job commits on its own, deciding again the ones that conflicted.
// now is the time the jobs run at (tests control it).
func (e *Engine) ExecuteJobs(ctx context.Context, owner string, jobs []*Job, now time.Time) []JobResult {
	results := make([]JobResult, len(jobs))
	for i, j := range jobs {
		results[i].JobID = j.ID
	}
	tenant, err := security.MustTenant(ctx)
	if err != nil {
		for i := range results {
			results[i].Err = err
		}
		return results
	}
	now = now.UTC().Truncate(time.Millisecond)
	pre := e.loadJobs(ctx, tenant, jobs)
	loaders := make([]*loader, len(jobs))
	for i, j := range jobs {
		if j.Tenant != "" && j.Tenant != tenant {
			results[i].Err = fmt.Errorf("%w: job %d belongs to tenant %s", ErrWrongTenant, j.ID, j.Tenant)
			continue
		}
		loaders[i], results[i].Err = e.decideJob(ctx, tenant, owner, j, now, pre[i])
	}
	var batch []*loader
	for _, l := range loaders {
		if l != nil {
			batch = append(batch, l)
		}
	}
	if len(batch) > 0 {
		if err := e.commit(ctx, batch...); err != nil {
			// Commit each job on its own: one conflict must not cost the
			// others their run.
			for i, j := range jobs {
				if loaders[i] == nil {
					continue
				}
				loaders[i], results[i].Err = e.commitJob(ctx, tenant, owner, j, now, loaders[i], results[i].Err)
			}
		}
	}
	var next time.Time
	for _, l := range loaders {
		if l == nil {
			continue
		}
		e.afterCommit(tenant, l.u)
		if due := l.u.EarliestJob; !due.IsZero() && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	for i := range results {
		results[i].NextDue = next
	}
	return results
}

// loadJobs reads the batch's jobs in one exchange where the storage can,
// each as its first unit would; a job with no snapshot (nil) loads its
// own. Definitions come from the cache only: a job whose definition is
// not compiled yet loads its own, which compiles it.
func (e *Engine) loadJobs(ctx context.Context, tenant string, jobs []*Job) []*store.Snapshot {
	out := make([]*store.Snapshot, len(jobs))
	if len(jobs) < 2 {
		return out
	}
	// Only the tenant's own jobs: another tenant's is refused unread.
	var ids []int64
	var at []int
	for i, j := range jobs {
		if j.Tenant == "" || j.Tenant == tenant {
			ids, at = append(ids, j.ID), append(at, i)
		}
	}
	if len(ids) < 2 {
		return out
	}
	snaps, err := e.st.LoadJobs(ctx, &store.LoadJobsParams{IDs: ids, Definition: func(id int64) *core.Deployed {
		return e.cachedDefinition(tenant, id)
	}})
	if err != nil || len(snaps) != len(ids) {
		return out // each job loads its own, and meets the error there
	}
	for k, i := range at {
		out[i] = snaps[k]
	}
	return out
}

// commitJob commits one decided job alone; when its commit conflicts, it
// decides the job again, up to the command retry limit. It returns the
// loader that committed (nil when none did) and the job's result.
func (e *Engine) commitJob(ctx context.Context, tenant, owner string, j *Job, now time.Time, l *loader, jobErr error) (*loader, error) {
	for attempt := 0; ; attempt++ {
		err := e.commit(ctx, l)
		if err == nil {
			return l, jobErr
		}
		if !errors.Is(err, ErrConflict) || attempt >= e.opts.MaxCommandRetries {
			return nil, err
		}
		if err := e.backoff(ctx, attempt); err != nil {
			return nil, err
		}
		if l, jobErr = e.decideJob(ctx, tenant, owner, j, now, nil); l == nil {
			return nil, jobErr
		}
	}
}

// decideJob runs one fenced job on a unit of its own and returns the
// loader to commit: the job's effects, or, when it failed, the failure
// recorded on a fresh unit (then with the job's error). It returns no
// loader when there is nothing to commit (ErrLockLost, or storage failed).
// pre, when not nil, is the job's snapshot read with its batch: the first
// unit starts from it instead of a load.
func (e *Engine) decideJob(ctx context.Context, tenant, owner string, j *Job, now time.Time, pre *store.Snapshot) (*loader, error) {
	n := &needs{}
	var jobErr error
	for rounds := 0; ; rounds++ {
		l, row, err := e.jobUnit(ctx, tenant, owner, j, now, n, pre)
		pre = nil // read once: a second round reads what it needs
		if err != nil {
			return nil, err
		}
		jobErr = runJob(l, row)
		var need *core.NeedError
		if errors.As(jobErr, &need) && rounds < maxNeedRounds {
			if err := e.fill(l, need); err != nil {
				return nil, err
			}
			continue
		}
		if jobErr == nil {
			return l, nil
		}
		break
	}
	fl, row, err := e.jobUnit(ctx, tenant, owner, j, now, n, nil)
	if err != nil {
		return nil, err
	}
	fc := core.NewExecutor(fl.u, engineEnv{e: e, l: fl})
	fc.FailJob(row, jobErr, "", errors.Is(jobErr, ErrStepBudget))
	if fl.u.Err != nil {
		return nil, fl.u.Err
	}
	return fl, jobErr
}

// runJob runs a job on its unit; a panic in the core or a handler is the
// job's error.
func runJob(l *loader, row *core.JobRow) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("job %d panicked: %v\n%s", row.ID, r, debug.Stack())
		}
	}()
	c := core.NewExecutor(l.u, engineEnv{e: l.e, l: l})
	if err := c.RunJob(row); err != nil {
		return err
	}
	return l.u.Err
}

// jobUnit reads a job and its instance (or, for a job of a definition,
// the definition) into a new unit, with what earlier attempts needed, and
// checks that owner still holds the job's lock as acquired (its revision):
// otherwise ErrLockLost. The commit checks the revision again. pre, when
// not nil, is the job's snapshot already read (with nothing else needed).
func (e *Engine) jobUnit(ctx context.Context, tenant, owner string, j *Job, now time.Time, n *needs, pre *store.Snapshot) (*loader, *core.JobRow, error) {
	c, l := e.newUnit(ctx, tenant, now, n)
	var snap *store.Snapshot
	var err error
	if pre != nil && len(n.instances) == 0 {
		snap = l.use(pre)
	} else {
		snap, err = l.load(&store.LoadParams{JobID: j.ID, InstanceIDs: n.instances})
	}
	if errors.Is(err, ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: job %d: %w", ErrLockLost, j.ID, err) // its instance is gone
	}
	if err != nil {
		return nil, nil, err
	}
	row := snap.Job
	if row == nil {
		return nil, nil, fmt.Errorf("%w: job %d no longer exists", ErrLockLost, j.ID)
	}
	if row.LockOwner != owner || row.Revision != j.Revision {
		return nil, nil, fmt.Errorf("%w: job %d is now held by %q at revision %d", ErrLockLost, j.ID, row.LockOwner, row.Revision)
	}
	if !slices.Contains(c.Jobs, row) {
		c.Jobs = append(c.Jobs, row) // a job of a definition, or of an instance that ended
	}
	if row.InstanceID == 0 {
		// A job of no instance fires for its definition, read in the same
		// load with its current suspension state.
		if _, read := n.byID[row.DefinitionID]; row.DefinitionID != 0 && !read {
			var d *core.Deployed
			if snap.JobDefinition != nil {
				if d, err = e.deployed(ctx, tenant, snap.JobDefinition); err != nil && !errors.Is(err, ErrNotFound) {
					return nil, nil, err
				}
			}
			n.setByID(row.DefinitionID, d) // nil: gone, and the job is dropped
		}
	}
	return l, row, nil
}

// FailJob records a failure that happened outside ExecuteJobs (a panic or
// timeout in the executor): retries decrease with backoff, an incident opens
// at zero. Fenced like ExecuteJobs: ErrLockLost when the caller no longer
// holds the job.
func (e *Engine) FailJob(ctx context.Context, p *FailJobParams) error {
	if p == nil || p.Job == nil || p.Err == nil {
		return core.Invalidf("FailJob needs a job and an error")
	}
	tenant, err := security.MustTenant(ctx)
	if err != nil {
		return err
	}
	if p.Job.Tenant != "" && p.Job.Tenant != tenant {
		return fmt.Errorf("%w: job %d belongs to tenant %s", ErrWrongTenant, p.Job.ID, p.Job.Tenant)
	}
	now := p.Now.UTC().Truncate(time.Millisecond)
	for attempt := 0; ; attempt++ {
		l, row, err := e.jobUnit(ctx, tenant, p.Owner, p.Job, now, &needs{}, nil)
		if err != nil {
			return err
		}
		c := core.NewExecutor(l.u, engineEnv{e: e, l: l})
		c.FailJob(row, p.Err, "", false)
		if l.u.Err != nil {
			return l.u.Err
		}
		err = e.commit(ctx, l)
		if err == nil {
			e.afterCommit(tenant, l.u)
			return nil
		}
		if !errors.Is(err, ErrConflict) || attempt >= e.opts.MaxCommandRetries {
			return err
		}
	}
}

// RenewJobLocks extends the locks owner holds on the jobs; it returns the
// IDs whose lock owner no longer holds (taken over or gone).
func (e *Engine) RenewJobLocks(ctx context.Context, p *RenewJobLocksParams) ([]int64, error) {
	if p == nil || len(p.IDs) == 0 {
		return nil, nil
	}
	return e.st.RenewJobLocks(ctx, p)
}

// ReleaseJobs unlocks jobs owner holds without running them (shutdown, a
// disabled tenant); they are due again at once.
func (e *Engine) ReleaseJobs(ctx context.Context, owner string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := e.st.ReleaseJobs(ctx, &store.ReleaseJobsParams{Owner: owner, IDs: ids})
	if err == nil {
		if tenant, ok := security.TenantFrom(ctx); ok && e.signals != nil {
			e.signals.Notify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: tenant, DueAt: e.now()})
		}
	}
	return err
}

// NextJobDue returns when the tenant's next job can be acquired: the
// earliest due time of a job with retries left, or the expiry of its lock
// if that is later. ok is false when the tenant has no such job.
func (e *Engine) NextJobDue(ctx context.Context) (due time.Time, ok bool, err error) {
	return e.st.NextJobDue(ctx)
}

// SetJobRetries sets a job's retries; more than zero resolves its incident
// and makes it due at once.
func (e *Engine) SetJobRetries(ctx context.Context, job Ref, retries int) error {
	if err := checkRef(ctx, job); err != nil {
		return err
	}
	if retries < 0 {
		return core.Invalidf("retries must not be negative")
	}
	_, err := e.command(ctx, func(c *core.Executor, l *loader) error {
		snap, err := l.load(&store.LoadParams{JobID: job.ID})
		if err != nil {
			return err
		}
		row := snap.Job
		if row == nil {
			return final(core.NotFound("job", job.ID))
		}
		if !slices.Contains(c.Jobs, row) {
			c.Jobs = append(c.Jobs, row)
		}
		row.Retries = retries
		if retries > 0 {
			row.DueAt = c.Now
			row.LockOwner, row.LockExpiresAt = "", time.Time{}
			c.NoteJob(c.Now)
			c.ResolveIncidentsOf(row.ID, 0)
		}
		core.Touch(&row.Op)
		return nil
	})
	return err
}

// RunDueJobs runs every job of the tenant in ctx that is due at now, as the
// job executor would, until none is left, and returns how many ran. It is
// for tests and tools: timer behaviour can be tested at a chosen time
// without an executor and without sleeping. Jobs that fail are rescheduled
// after now and not run again here; the first failure is returned.
func (e *Engine) RunDueJobs(ctx context.Context, now time.Time) (int, error) {
	const owner = "run-due-jobs"
	ran := 0
	var first error
	for round := 0; round < 10_000; round++ {
		jobs, err := e.AcquireJobs(ctx, &AcquireJobsParams{Owner: owner, Now: now, LockFor: 5 * time.Minute, Max: 100})
		if err != nil {
			return ran, err
		}
		if len(jobs) == 0 {
			return ran, first
		}
		for _, r := range e.ExecuteJobs(ctx, owner, jobs, now) {
			ran++
			if r.Err != nil && first == nil {
				first = fmt.Errorf("job %d: %w", r.JobID, r.Err)
			}
		}
	}
	return ran, errors.New("RunDueJobs: jobs keep becoming due (a timer cycle shorter than zero?)")
}

// CleanupHistory removes finished instances older than their definition's
// historyTimeToLive, with every row they hold, in batches. It returns how
// many instances it removed. The job executor schedules it per tenant.
func (e *Engine) CleanupHistory(ctx context.Context, now time.Time) (int, error) {
	const batch = 500
	removed := 0
	for {
		n, err := e.st.CleanupHistory(ctx, &store.CleanupHistoryParams{Now: now, Limit: batch})
		removed += n
		if err != nil || n < batch {
			return removed, err
		}
	}
}
