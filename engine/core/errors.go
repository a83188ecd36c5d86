package core

import (
	"errors"
	"fmt"
)

// Errors returned by the engine. Compare with errors.Is: most are wrapped
// with details that say which object and what to do. They are the
// engine's own values: storage errors are translated into them where
// storage is called.
var (
	// ErrNotFound: the definition, instance, task, job… does not exist in the
	// tenant of the context.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object was changed concurrently, or is in a state
	// that forbids the operation (a task already completed, a lock held by
	// another worker).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the request is malformed; the message says what to fix.
	ErrInvalid = errors.New("invalid request")
	// ErrWrongTenant: an entity or handle of one tenant was passed to a call
	// made in another tenant's context. Nothing was read or written.
	ErrWrongTenant = errors.New("entity belongs to another tenant")
	// ErrSuspended: the definition or instance is suspended.
	ErrSuspended = errors.New("suspended")
	// ErrNoCorrelation: a message matched no waiting instance or start event.
	ErrNoCorrelation = errors.New("message matched nothing")
	// ErrAmbiguousCorrelation: a message matched more than one target while
	// exactly one was asked for.
	ErrAmbiguousCorrelation = errors.New("message matched more than one target")
)

// BPMNError is returned by a service-task handler to throw a BPMN error,
// caught by an error boundary event with the same code on the task or an
// enclosing scope.
type BPMNError struct {
	Code    string
	Message string
	// Variables are set before the error is thrown.
	Variables map[string]any
}

// Error returns "BPMN error <code>: <message>".
func (e *BPMNError) Error() string {
	if e.Message == "" {
		return "BPMN error " + e.Code
	}
	return fmt.Sprintf("BPMN error %s: %s", e.Code, e.Message)
}

// ErrStepBudget: a command needed more element steps or created more rows
// than Options.MaxSteps or Options.MaxRows allow, almost always a loop
// without a wait state or a multi-instance over a huge collection. The
// error names the element; it also matches ErrInvalid. In a job it opens
// an incident at once, since running it again would loop again.
var ErrStepBudget = errors.New("step budget exceeded")

// The budgets of a command when Options leave them unset.
const (
	DefaultMaxSteps = 10_000
	DefaultMaxRows  = 100_000
)

// NotFound wraps ErrNotFound, naming the kind of thing and its ID.
func NotFound(what string, id any) error { return fmt.Errorf("%w: %s %v", ErrNotFound, what, id) }

// Invalidf wraps ErrInvalid with a formatted reason.
func Invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
