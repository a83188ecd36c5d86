package engine

import (
	"time"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/security"
)

// The engine's domain types live in package core, the part of the engine
// that decides without storage; they are the same types here, so a program
// embedding the engine needs no other import. They carry no JSON tags and
// no wire names: whoever serialises them (the REST server, the analytics
// shipper) owns that format and pins it with golden files.

// ActivityInstance is one pass of a token through an element, running or finished.
type ActivityInstance = core.ActivityInstance

// BPMNError is returned by a service-task handler to throw a BPMN error.
type BPMNError = core.BPMNError

// Cursor is an opaque position in a tenant's outbox, in commit order.
type Cursor = core.Cursor

// Deployment is a set of resources deployed together.
type Deployment = core.Deployment

// Event is one entry of a tenant's outbox.
type Event = core.Event

// EventType names an analytics event.
type EventType = core.EventType

// ExternalTask is work for an external worker, served by topic.
type ExternalTask = core.ExternalTask

// Handler serves a service-task topic inside the engine (see core.Handler).
type Handler = core.Handler

// Incident is a failure that needs an operator.
type Incident = core.Incident

// IncidentType says what failed.
type IncidentType = core.IncidentType

// InstanceState is where a process instance is in its life.
type InstanceState = core.InstanceState

// Job is a unit of deferred work in one tenant's storage.
type Job = core.Job

// JobKind says what a job does when it runs.
type JobKind = core.JobKind

// ProcessDefinition is one version of a deployed process.
type ProcessDefinition = core.ProcessDefinition

// ProcessInstance is a running or finished instance.
type ProcessInstance = core.ProcessInstance

// Ref names an object of one tenant (see core.Ref).
type Ref = core.Ref

// ServiceTask is what a handler sees of the task it serves.
type ServiceTask = core.ServiceTask

// Task is a user task.
type Task = core.Task

// TaskState is where a user task is.
type TaskState = core.TaskState

// Value is a typed variable value.
type Value = core.Value

// ValueType is the type of a process variable.
type ValueType = core.ValueType

// Variable is a variable's current value in a scope.
type Variable = core.Variable

// VariableUpdate is one historic change of a variable.
type VariableUpdate = core.VariableUpdate

// Vars is a set of untyped variables, typed by inference.
type Vars = core.Vars

// The values of EventType.
const (
	EventProcessStarted    = core.EventProcessStarted
	EventProcessCompleted  = core.EventProcessCompleted
	EventProcessTerminated = core.EventProcessTerminated
	EventActivityStarted   = core.EventActivityStarted
	EventActivityCompleted = core.EventActivityCompleted
	EventActivityCanceled  = core.EventActivityCanceled
	EventTaskCreated       = core.EventTaskCreated
	EventTaskAssigned      = core.EventTaskAssigned
	EventTaskCompleted     = core.EventTaskCompleted
	EventIncidentCreated   = core.EventIncidentCreated
	EventIncidentResolved  = core.EventIncidentResolved
	EventVariableUpdated   = core.EventVariableUpdated
)

// The values of IncidentType.
const (
	IncidentFailedJob          = core.IncidentFailedJob
	IncidentFailedExternalTask = core.IncidentFailedExternalTask
)

// The values of InstanceState.
const (
	InstanceActive     = core.InstanceActive
	InstanceCompleted  = core.InstanceCompleted
	InstanceTerminated = core.InstanceTerminated
)

// The values of JobKind.
const (
	JobTimer       = core.JobTimer
	JobTimerStart  = core.JobTimerStart
	JobAsyncBefore = core.JobAsyncBefore
	JobAsyncAfter  = core.JobAsyncAfter
)

// The values of TaskState.
const (
	TaskCreated   = core.TaskCreated
	TaskCompleted = core.TaskCompleted
	TaskDeleted   = core.TaskDeleted
)

// The values of ValueType.
const (
	TypeString  = core.TypeString
	TypeInteger = core.TypeInteger
	TypeLong    = core.TypeLong
	TypeDouble  = core.TypeDouble
	TypeBoolean = core.TypeBoolean
	TypeDate    = core.TypeDate
	TypeJSON    = core.TypeJSON
	TypeNull    = core.TypeNull
)

// Errors returned by the engine; compare with errors.Is. See package core
// for what each means.
var (
	ErrNotFound             = core.ErrNotFound
	ErrConflict             = core.ErrConflict
	ErrInvalid              = core.ErrInvalid
	ErrWrongTenant          = core.ErrWrongTenant
	ErrSuspended            = core.ErrSuspended
	ErrNoCorrelation        = core.ErrNoCorrelation
	ErrAmbiguousCorrelation = core.ErrAmbiguousCorrelation
	ErrStepBudget           = core.ErrStepBudget
	ErrLockLost             = core.ErrLockLost
	// ErrNoTenant: the context carries no tenant.
	ErrNoTenant = security.ErrNoTenant
)

// Null is the null value.
var Null = core.Null

// Limits and formats, as package core defines them.
const (
	DefaultJobRetries = core.DefaultJobRetries
	DefaultMaxSteps   = core.DefaultMaxSteps
	DefaultMaxRows    = core.DefaultMaxRows
	TimeLayout        = core.TimeLayout
)

// IDRef is a Ref to an ID in the tenant of the context it is used in.
func IDRef(id int64) Ref { return core.IDRef(id) }

// ValueOf types a Go value by inference (see core.ValueOf).
func ValueOf(v any) (Value, error) { return core.ValueOf(v) }

// Typed converts v to a value of type t (see core.Typed).
func Typed(t ValueType, v any) (Value, error) { return core.Typed(t, v) }

// ParseValueType accepts a type name in any case (see core.ParseValueType).
func ParseValueType(s string) (ValueType, error) { return core.ParseValueType(s) }

// ParseTime parses a date as Camunda clients send it (see core.ParseTime).
func ParseTime(s string) (time.Time, error) { return core.ParseTime(s) }
