package engine

import (
	"errors"
	"time"
)

// JobKind says what a job does when it runs.
type JobKind string

// The kinds of jobs the engine writes.
const (
	// JobTimer fires an intermediate or boundary timer event.
	JobTimer JobKind = "timer"
	// JobTimerStart starts an instance from a timer start event.
	JobTimerStart JobKind = "timer-start"
	// JobAsyncBefore continues a token before an activity marked
	// camunda:asyncBefore.
	JobAsyncBefore JobKind = "async-before"
	// JobAsyncAfter continues a token after an activity marked
	// camunda:asyncAfter.
	JobAsyncAfter JobKind = "async-after"
)

// Job is a unit of deferred work in one tenant's storage: a timer due at a
// time, or an asynchronous continuation due at once. Jobs are written in the
// same transaction as the state change that causes them.
type Job struct {
	ID         int64     `json:"id,string"`
	Tenant     string    `json:"tenantId"`
	Kind       JobKind   `json:"kind"`
	InstanceID int64     `json:"processInstanceId,string,omitempty"`
	ElementID  string    `json:"activityId,omitempty"`
	DueAt      time.Time `json:"dueDate"`
	Priority   int       `json:"priority"`
	// Retries left. A job whose retries reach 0 gets an incident and is not
	// acquired again until an operator sets retries.
	Retries int `json:"retries"`
	// LockOwner and LockExpiresAt are set while a node holds the job.
	LockOwner     string    `json:"lockOwner,omitempty"`
	LockExpiresAt time.Time `json:"lockExpirationTime,omitempty"`
	// Revision fences the lock: ExecuteJobs completes a job only if its lock
	// is still the one acquired.
	Revision int64 `json:"-"`
	// ErrorMessage is the last failure, if any.
	ErrorMessage string `json:"exceptionMessage,omitempty"`
	Suspended    bool   `json:"suspended"`
}

// AcquireJobsParams asks for due jobs of the tenant in the context.
type AcquireJobsParams struct {
	// Owner is the acquiring node's ID, written as the lock owner.
	Owner string
	// Now is the acquisition time (jobs due at or before it are taken, and
	// locks expired before it are taken over). Passed in so tests control the
	// clock.
	Now time.Time
	// LockFor is how long the lock lasts unless renewed.
	LockFor time.Duration
	// Max caps the batch.
	Max int
}

// RenewJobLocksParams extends the locks a node holds.
type RenewJobLocksParams struct {
	Owner string
	IDs   []int64
	Until time.Time
}

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

// ErrLockLost is returned for a job whose lock is no longer held by the
// caller: another node took it over after the lock expired. The completion
// was rolled back.
var ErrLockLost = errors.New("job lock lost")

// DefaultJobRetries is how many times a failing job is tried before it gets
// an incident.
const DefaultJobRetries = 3
