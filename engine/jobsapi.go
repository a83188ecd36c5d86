package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

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
		return nil, invalid("AcquireJobs needs an owner, a positive Max and LockFor")
	}
	now := p.Now.UnixMilli()
	until := p.Now.Add(p.LockFor).UnixMilli()
	var rows []jobCols
	err := e.ds.InTx(ctx, func(tx *datasource.Tx) error {
		rows = rows[:0]
		if tx.Dialect() == datasource.Postgres {
			return tx.SelectContext(ctx, &rows, `WITH due AS (
				SELECT id FROM tf_job
				WHERE due_at <= $1 AND retries > 0 AND suspended = FALSE AND lock_expires_at <= $1
				ORDER BY priority DESC, due_at
				LIMIT $2
				FOR UPDATE SKIP LOCKED)
			UPDATE tf_job j SET lock_owner = $3, lock_expires_at = $4, revision = j.revision + 1
			FROM due WHERE j.id = due.id
			RETURNING `+prefixed("j.", jobColumns), now, p.Max, p.Owner, until)
		}
		return tx.SelectContext(ctx, &rows, `UPDATE tf_job SET lock_owner = $3, lock_expires_at = $4, revision = revision + 1
			WHERE id IN (SELECT id FROM tf_job
				WHERE due_at <= $1 AND retries > 0 AND suspended = FALSE AND lock_expires_at <= $1
				ORDER BY priority DESC, due_at LIMIT $2)
			RETURNING `+jobColumns, now, p.Max, p.Owner, until)
	})
	if err != nil {
		return nil, err
	}
	tenant, _ := security.TenantFrom(ctx)
	out := make([]*Job, len(rows))
	for i := range rows {
		j := rows[i].row(tenant).Job
		out[i] = &j
	}
	return out, nil
}

func prefixed(prefix, cols string) string {
	parts := columnList(cols)
	for i, c := range parts {
		parts[i] = prefix + c
	}
	return strings.Join(parts, ", ")
}

// errNotRun marks a job of a batch that was not attempted (its ID block ran
// dry); ExecuteJobs runs it again itself.
var errNotRun = errors.New("job not run")

// ExecuteJobs runs a batch of jobs the caller acquired, in one transaction
// with a savepoint per job, so a batch costs one commit. A job whose lock is
// no longer (owner, revision) gets ErrLockLost and changes nothing. A job
// that fails is rolled back to its savepoint and its failure recorded in the
// same transaction (retries decrease with backoff; an incident at zero).
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
	for i, j := range jobs {
		if j.Tenant != "" && j.Tenant != tenant {
			results[i].Err = fmt.Errorf("%w: job %d belongs to tenant %s", ErrWrongTenant, j.ID, j.Tenant)
		}
	}
	now = now.UTC().Truncate(time.Millisecond)
	if err := e.ids.Ensure(ctx, int64(64*len(jobs))); err != nil {
		for i := range results {
			results[i].Err = err
		}
		return results
	}
	var units []*uow
	if len(jobs) > 1 {
		units, err = e.runJobsTogether(ctx, owner, jobs, results, now)
	}
	if len(jobs) == 1 || errors.Is(err, errRunApart) {
		err = e.ds.InTx(ctx, func(tx *datasource.Tx) error {
			units = units[:0]
			return e.runJobsApart(ctx, tx, owner, jobs, results, now, &units)
		})
	}
	if err != nil {
		for i := range results {
			if results[i].Err == nil || errors.Is(results[i].Err, errNotRun) {
				results[i].Err = err
			}
		}
		return results
	}
	e.commits.Add(1)
	var next time.Time
	for _, u := range units {
		e.afterCommit(tenant, u)
		if !u.earliestJob.IsZero() && (next.IsZero() || u.earliestJob.Before(next)) {
			next = u.earliestJob
		}
	}
	var again []*Job
	var idx []int
	for i := range results {
		results[i].NextDue = next
		if errors.Is(results[i].Err, errNotRun) {
			again = append(again, jobs[i])
			idx = append(idx, i)
		}
	}
	if len(again) > 0 {
		// Their ID block ran dry mid-batch: refill (outside the
		// transaction) and run them again.
		if err := e.ids.Ensure(ctx, int64(1000*len(again))); err == nil {
			for k, r := range e.ExecuteJobs(ctx, owner, again, now) {
				results[idx[k]] = r
			}
		}
	}
	return results
}

// errRunApart ends the optimistic pass of a batch: a job in it did not
// simply succeed, so the batch runs again job by job.
var errRunApart = errors.New("engine: run the batch job by job")

// fences are job rows read and locked for a batch, by ID.
type fences map[int64]*jobCols

// runJobsTogether is the fast path of a batch: the jobs' rows are read and
// locked in one statement and every job runs without a savepoint of its
// own. It commits only if every job succeeded; otherwise it rolls back and
// returns errRunApart (handlers of the jobs before the one that failed ran
// once more than their effects: job delivery is at-least-once anyway).
func (e *Engine) runJobsTogether(ctx context.Context, owner string, jobs []*Job, results []JobResult, now time.Time) ([]*uow, error) {
	var units []*uow
	err := e.ds.InTx(ctx, func(tx *datasource.Tx) error {
		units = units[:0]
		pre, err := e.lockJobs(ctx, tx, jobs)
		if err != nil {
			return err
		}
		for i, j := range jobs {
			if results[i].Err != nil {
				return errRunApart
			}
			u, err := e.runJob(ctx, tx, owner, j, now, pre)
			if err != nil {
				return errRunApart
			}
			units = append(units, u)
		}
		return nil
	})
	return units, err
}

// lockJobs reads and locks the rows of jobs in one statement.
func (e *Engine) lockJobs(ctx context.Context, tx *datasource.Tx, jobs []*Job) (fences, error) {
	args := make([]any, len(jobs))
	marks := make([]string, len(jobs))
	for i, j := range jobs {
		args[i] = j.ID
		marks[i] = "$" + strconv.Itoa(i+1)
	}
	q := `SELECT ` + jobColumns + ` FROM tf_job WHERE id IN (` + strings.Join(marks, ", ") + `)`
	if tx.Dialect() == datasource.Postgres {
		q += ` FOR UPDATE`
	}
	var rows []*jobCols
	if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, err
	}
	pre := make(fences, len(rows))
	for _, r := range rows {
		pre[r.ID] = r
	}
	return pre, nil
}

// runJobsApart runs a batch's jobs each in a savepoint of its own, so a
// failing job is recorded as failed and the others commit.
func (e *Engine) runJobsApart(ctx context.Context, tx *datasource.Tx, owner string, jobs []*Job, results []JobResult, now time.Time, units *[]*uow) error {
	for i, j := range jobs {
		if results[i].Err != nil && !errors.Is(results[i].Err, errNotRun) {
			continue
		}
		results[i].Err = nil
		sp := "tf_job_" + strconv.Itoa(i)
		if _, err := tx.ExecContext(ctx, "SAVEPOINT "+sp); err != nil {
			return err
		}
		var u *uow
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			u, err = e.runJob(ctx, tx, owner, j, now, nil)
			if !errors.Is(err, ErrConflict) {
				break
			}
			if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+sp); rerr != nil {
				return rerr
			}
		}
		if err == nil {
			if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+sp); err != nil {
				return err
			}
			*units = append(*units, u)
			continue
		}
		if _, rerr := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT "+sp); rerr != nil {
			return rerr
		}
		switch {
		case errors.Is(err, ErrLockLost):
			results[i].Err = ErrLockLost
		case errors.Is(err, errOutOfIDs):
			results[i].Err = errNotRun
		default:
			fu, ferr := e.recordJobFailure(ctx, tx, owner, j, err, "", now)
			if ferr != nil {
				return ferr
			}
			results[i].Err = err
			if fu != nil {
				*units = append(*units, fu)
			}
		}
		if _, err := tx.ExecContext(ctx, "RELEASE SAVEPOINT "+sp); err != nil {
			return err
		}
	}

	return nil
}

// fenced loads a job row and checks that owner still holds the lock
// acquired at revision.
func (e *Engine) fenced(ctx context.Context, tx *datasource.Tx, owner string, j *Job, pre fences) (*jobCols, error) {
	if pre != nil {
		jc := pre[j.ID]
		if jc == nil {
			return nil, fmt.Errorf("%w: job %d no longer exists", ErrLockLost, j.ID)
		}
		if jc.LockOwner != owner || jc.Revision != j.Revision {
			return nil, fmt.Errorf("%w: job %d is now held by %q at revision %d", ErrLockLost, j.ID, jc.LockOwner, jc.Revision)
		}
		return jc, nil
	}
	q := `SELECT ` + jobColumns + ` FROM tf_job WHERE id = $1`
	if tx.Dialect() == datasource.Postgres {
		q += ` FOR UPDATE`
	}
	var jc jobCols
	if err := tx.GetContext(ctx, &jc, q, j.ID); err != nil {
		if isNoRows(err) {
			return nil, fmt.Errorf("%w: job %d no longer exists", ErrLockLost, j.ID)
		}
		return nil, err
	}
	if jc.LockOwner != owner || jc.Revision != j.Revision {
		return nil, fmt.Errorf("%w: job %d is now held by %q at revision %d", ErrLockLost, j.ID, jc.LockOwner, jc.Revision)
	}
	return &jc, nil
}

// jobUnit prepares a unit of work holding a fenced job (and its instance).
func (e *Engine) jobUnit(ctx context.Context, tx *datasource.Tx, owner string, j *Job, now time.Time, pre fences) (*core, *loader, *jobRow, error) {
	jc, err := e.fenced(ctx, tx, owner, j, pre)
	if err != nil {
		return nil, nil, nil, err
	}
	tenant := tx.Tenant()
	u := &uow{tenant: tenant, now: now, nowMS: now.UnixMilli(), newID: func() (int64, bool) { return e.ids.TryNext(tenant) }}
	l := &loader{ctx: ctx, e: e, tx: tx, u: u}
	u.loadInstance = l.load
	c := &core{uow: u, ctx: ctx, env: txEnv{e: e, tx: tx, ctx: ctx}}
	var row *jobRow
	if jc.InstanceID != 0 {
		if _, err := l.load(jc.InstanceID); err != nil {
			return nil, nil, nil, err
		}
		for _, r := range u.jobs {
			if r.ID == j.ID {
				row = r
			}
		}
	}
	if row == nil {
		row = jc.row(tenant)
		u.jobs = append(u.jobs, row)
	}
	return c, l, row, nil
}

// runJob performs one fenced job inside the batch transaction.
func (e *Engine) runJob(ctx context.Context, tx *datasource.Tx, owner string, j *Job, now time.Time, pre fences) (u *uow, err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == errOutOfIDs {
				err = errOutOfIDs
				return
			}
			err = fmt.Errorf("job %d panicked: %v\n%s", j.ID, r, debug.Stack())
		}
	}()
	c, l, row, err := e.jobUnit(ctx, tx, owner, j, now, pre)
	if err != nil {
		return nil, err
	}
	if err := c.runJob(row); err != nil {
		return nil, err
	}
	if err := l.apply(); err != nil {
		return nil, err
	}
	return c.uow, nil
}

// recordJobFailure writes a failed attempt (retries, backoff, incident) in
// the caller's transaction.
func (e *Engine) recordJobFailure(ctx context.Context, tx *datasource.Tx, owner string, j *Job, cause error, stack string, now time.Time) (*uow, error) {
	c, l, row, err := e.jobUnit(ctx, tx, owner, j, now, nil)
	if errors.Is(err, ErrLockLost) || errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if stack == "" {
		stack = cause.Error()
	}
	c.failJob(row, cause, stack)
	if err := l.apply(); err != nil {
		return nil, err
	}
	return c.uow, nil
}

// FailJob records a failure that happened outside ExecuteJobs (a panic or
// timeout in the executor): retries decrease with backoff, an incident opens
// at zero. Fenced like ExecuteJobs: ErrLockLost when the caller no longer
// holds the job.
func (e *Engine) FailJob(ctx context.Context, p *FailJobParams) error {
	if p == nil || p.Job == nil || p.Err == nil {
		return invalid("FailJob needs a job and an error")
	}
	tenant, err := security.MustTenant(ctx)
	if err != nil {
		return err
	}
	if p.Job.Tenant != "" && p.Job.Tenant != tenant {
		return fmt.Errorf("%w: job %d belongs to tenant %s", ErrWrongTenant, p.Job.ID, p.Job.Tenant)
	}
	var u *uow
	err = e.ds.InTx(ctx, func(tx *datasource.Tx) error {
		var err error
		u, err = e.recordJobFailure(ctx, tx, p.Owner, p.Job, p.Err, "", p.Now.UTC().Truncate(time.Millisecond))
		if err == nil && u == nil {
			return ErrLockLost
		}
		return err
	})
	if err != nil {
		return err
	}
	e.afterCommit(tenant, u)
	return nil
}

// RenewJobLocks extends the locks owner holds on the jobs; it returns the
// IDs whose lock owner no longer holds (taken over or gone).
func (e *Engine) RenewJobLocks(ctx context.Context, p *RenewJobLocksParams) ([]int64, error) {
	if p == nil || len(p.IDs) == 0 {
		return nil, nil
	}
	args := []any{p.Until.UnixMilli(), p.Owner}
	marks := make([]string, len(p.IDs))
	for i, id := range p.IDs {
		args = append(args, id)
		marks[i] = "$" + strconv.Itoa(len(args))
	}
	var kept []int64
	err := e.ds.InTx(ctx, func(tx *datasource.Tx) error {
		kept = kept[:0]
		return tx.SelectContext(ctx, &kept, `UPDATE tf_job SET lock_expires_at = $1 WHERE lock_owner = $2 AND id IN (`+
			strings.Join(marks, ", ")+`) RETURNING id`, args...)
	})
	if err != nil {
		return nil, err
	}
	held := map[int64]bool{}
	for _, id := range kept {
		held[id] = true
	}
	var lost []int64
	for _, id := range p.IDs {
		if !held[id] {
			lost = append(lost, id)
		}
	}
	return lost, nil
}

// ReleaseJobs unlocks jobs owner holds without running them (shutdown, a
// disabled tenant); they are due again at once.
func (e *Engine) ReleaseJobs(ctx context.Context, owner string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{owner}
	marks := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		marks[i] = "$" + strconv.Itoa(len(args))
	}
	err := e.ds.InTx(ctx, func(tx *datasource.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE tf_job SET lock_owner = '', lock_expires_at = 0, revision = revision + 1
			WHERE lock_owner = $1 AND id IN (`+strings.Join(marks, ", ")+`)`, args...)
		return err
	})
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
	var v *int64
	err = e.read(ctx, func(tx *datasource.Tx) error {
		return tx.GetContext(ctx, &v, `SELECT MIN(CASE WHEN lock_expires_at > due_at THEN lock_expires_at ELSE due_at END)
			FROM tf_job WHERE retries > 0 AND suspended = FALSE`)
	})
	if err != nil || v == nil {
		return time.Time{}, false, err
	}
	return timeOf(*v), true, nil
}

// SetJobRetries sets a job's retries; more than zero resolves its incident
// and makes it due at once.
func (e *Engine) SetJobRetries(ctx context.Context, job Ref, retries int) error {
	if err := job.check(ctx); err != nil {
		return err
	}
	if retries < 0 {
		return invalid("retries must not be negative")
	}
	_, err := e.command(ctx, func(c *core, l *loader) error {
		var jc jobCols
		if err := l.tx.GetContext(ctx, &jc, `SELECT `+jobColumns+` FROM tf_job WHERE id = $1`, job.ID); err != nil {
			if isNoRows(err) {
				return final(notFound("job", job.ID))
			}
			return err
		}
		var row *jobRow
		if jc.InstanceID != 0 {
			if _, err := l.load(jc.InstanceID); err != nil {
				return err
			}
			for _, r := range c.jobs {
				if r.ID == job.ID {
					row = r
				}
			}
		}
		if row == nil {
			row = jc.row(c.tenant)
			c.jobs = append(c.jobs, row)
		}
		row.Retries = retries
		if retries > 0 {
			row.DueAt = c.now
			row.LockOwner, row.LockExpiresAt = "", time.Time{}
			c.noteJob(c.now)
			c.resolveIncidentsOf(row.ID, 0)
		}
		touch(&row.op)
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
// historyTimeToLive, with their tasks, activity instances, variables and
// incidents, in batches. It returns how many instances it removed. The job
// executor schedules it per tenant.
func (e *Engine) CleanupHistory(ctx context.Context, now time.Time) (int, error) {
	removed := 0
	for {
		var ids []int64
		err := e.ds.InTx(ctx, func(tx *datasource.Tx) error {
			ids = ids[:0]
			if err := tx.SelectContext(ctx, &ids, `SELECT i.id FROM tf_instance i JOIN tf_definition d ON d.id = i.definition_id
				WHERE i.state <> 'active' AND d.history_ttl_ms > 0 AND i.ended_at IS NOT NULL
				AND i.ended_at + d.history_ttl_ms < $1 ORDER BY i.id LIMIT 500`, now.UnixMilli()); err != nil {
				return err
			}
			if len(ids) == 0 {
				return nil
			}
			marks := make([]string, len(ids))
			args := make([]any, len(ids))
			for i, id := range ids {
				marks[i], args[i] = "$"+strconv.Itoa(i+1), id
			}
			in := strings.Join(marks, ", ")
			for _, t := range []string{"tf_activity", "tf_task", "tf_variable", "tf_variable_update", "tf_incident", "tf_execution"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE instance_id IN (`+in+`)`, args...); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `DELETE FROM tf_instance WHERE id IN (`+in+`)`, args...)
			return err
		})
		if err != nil {
			return removed, err
		}
		removed += len(ids)
		if len(ids) < 500 {
			return removed, nil
		}
	}
}
