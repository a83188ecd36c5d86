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

// ErrLockLost is returned for a job whose lock is no longer held by the
// caller: another node took it over after the lock expired. The completion
// was rolled back.
var ErrLockLost = errors.New("job lock lost")

// DefaultJobRetries is how many times a failing job is tried before it gets
// an incident.
const DefaultJobRetries = 3
