package engine

import (
	"time"

	"github.com/tenantflow/tenantflow/engine/store"
)

// AcquireJobsParams asks for due jobs of the tenant in the context.
type AcquireJobsParams = store.AcquireJobsParams

// RenewJobLocksParams extends the locks a node holds.
type RenewJobLocksParams = store.RenewJobLocksParams

// FailJobParams reports that a job failed on the executor side (a panic, a
// timeout, a lost tenant), as opposed to a failure inside ExecuteJobs, which
// the engine records itself.
type FailJobParams struct {
	Job   *Job
	Owner string
	Err   error
	// Now is when it failed; the retry is scheduled from it.
	Now time.Time
}

// JobResult is the outcome of one job of an ExecuteJobs batch.
type JobResult struct {
	JobID int64
	// Err is nil when the job completed. ErrLockLost means another node took
	// the job after this node's lock expired and nothing was changed. Any
	// other error has already been recorded by the engine as a failure
	// (retries decreased with backoff, or an incident).
	Err error
	// NextDue, when set, is the earliest due time of jobs the batch created
	// in the tenant.
	NextDue time.Time
}
