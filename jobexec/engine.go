package jobexec

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/engine"
)

// Engine is what the executor needs of the engine: the job contract of
// engine/jobs.go. *engine.Engine implements it. Every method works in the
// tenant carried by ctx (security.WithTenant); the executor never calls one
// without it.
type Engine interface {
	// AcquireJobs locks up to p.Max due jobs (DueAt <= p.Now, retries left,
	// not suspended, unlocked or with an expired lock) for p.Owner until
	// p.Now+p.LockFor, in one statement, bumping each job's Revision.
	AcquireJobs(ctx context.Context, p *engine.AcquireJobsParams) ([]*engine.Job, error)
	// ExecuteJobs runs a batch in one transaction. A job whose lock is no
	// longer (owner, revision) gets engine.ErrLockLost and changes nothing;
	// any other per-job error was recorded by the engine (retry or incident).
	ExecuteJobs(ctx context.Context, owner string, jobs []*engine.Job, now time.Time) []engine.JobResult
	// FailJob records a failure that happened outside ExecuteJobs (a panic,
	// a timeout), fenced like ExecuteJobs.
	FailJob(ctx context.Context, p *engine.FailJobParams) error
	// RenewJobLocks extends the owner's locks and returns the IDs it no
	// longer holds.
	RenewJobLocks(ctx context.Context, p *engine.RenewJobLocksParams) (lost []int64, err error)
	// ReleaseJobs unlocks jobs the owner holds without running them.
	ReleaseJobs(ctx context.Context, owner string, ids []int64) error
	// NextJobDue is the earliest time a job of the tenant can be acquired
	// (its due time, or its lock's expiry when that is later).
	NextJobDue(ctx context.Context) (due time.Time, ok bool, err error)
	// CleanupHistory removes finished history past its time to live.
	CleanupHistory(ctx context.Context, now time.Time) (removed int, err error)
}
