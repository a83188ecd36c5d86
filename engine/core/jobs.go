package core

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
	ID         int64
	Tenant     string
	Kind       JobKind
	InstanceID int64
	ElementID  string
	DueAt      time.Time
	Priority   int
	// Retries left. A job whose retries reach 0 gets an incident and is not
	// acquired again until an operator sets retries.
	Retries int
	// LockOwner and LockExpiresAt are set while a node holds the job.
	LockOwner     string
	LockExpiresAt time.Time
	// Revision fences the lock: ExecuteJobs completes a job only if its lock
	// is still the one acquired.
	Revision int64
	// ErrorMessage is the last failure, if any.
	ErrorMessage string
	Suspended    bool
}

// ErrLockLost is returned for a job whose lock is no longer held by the
// caller: another node took it over after the lock expired. The completion
// was rolled back.
var ErrLockLost = errors.New("job lock lost")

// DefaultJobRetries is how many times a failing job is tried before it gets
// an incident.
const DefaultJobRetries = 3
