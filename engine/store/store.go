package store

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/engine/core"
)

// Store keeps the engine's state for many tenants. Every method works in
// the storage of the tenant its context carries; a context without one is
// refused. Methods return the engine's errors (core.ErrNotFound,
// core.ErrConflict, core.ErrInvalid, …), never a driver's, each wrapped
// with what was wrong.
//
// Reads are short: a method reads in one read-only transaction (or none)
// and returns; Apply is the one method that writes a command's decision,
// in one short transaction with revision checks.
type Store interface {
	// Load reads instances with everything they hold, and what a command
	// locates them by (a task, an external task, a job, a message's
	// subscriptions). See LoadParams. When an instance's definition is one
	// the caller does not hold (LoadParams.Definition returns nil), Load
	// returns only Snapshot.Missing: the caller compiles those and loads
	// again.
	Load(ctx context.Context, p *LoadParams) (*Snapshot, error)
	// LoadJobs reads, for each job ID, what Load reads for a LoadParams
	// naming that job alone, in one exchange where the storage can: the
	// job executor's batch. A job that no longer exists gets a snapshot
	// without Job, as from Load; a nil snapshot means the job needs a Load
	// of its own (its instance is gone or was called by another, a
	// definition is missing, the storage failed: that Load says which).
	LoadJobs(ctx context.Context, p *LoadJobsParams) ([]*Snapshot, error)
	// Apply writes units of work — the net changes commands decided — and
	// the deployments beside them, in one transaction. Rows carry the
	// revisions they were read at: a row another commit changed meanwhile
	// fails the whole apply with core.ErrConflict, and a latest version a
	// unit was planned on that is no longer the latest with a
	// *StaleDefinitionError. Nothing is written then.
	Apply(ctx context.Context, p *ApplyParams) error

	// Definition reads one process definition, by ID or the latest version
	// of a key, with its BPMN resource when asked. Errors: core.ErrNotFound.
	Definition(ctx context.Context, p *DefinitionParams) (*DefinitionSource, error)
	// Deployment reads one deployment with its resource names and
	// definitions. Errors: core.ErrNotFound.
	Deployment(ctx context.Context, id int64) (*core.Deployment, error)

	// AcquireJobs locks up to Max due jobs for an owner, in one statement
	// (see AcquireJobsParams). Each acquired job's Revision fences its lock.
	AcquireJobs(ctx context.Context, p *AcquireJobsParams) ([]*core.Job, error)
	// RenewJobLocks extends the locks an owner holds and returns the IDs it
	// no longer holds.
	RenewJobLocks(ctx context.Context, p *RenewJobLocksParams) ([]int64, error)
	// ReleaseJobs unlocks jobs an owner holds; they are due again at once.
	ReleaseJobs(ctx context.Context, p *ReleaseJobsParams) error
	// NextJobDue returns when the tenant's next job can be acquired: the
	// earliest due time of a job with retries left, or the expiry of its
	// lock if later; ok is false when there is none.
	NextJobDue(ctx context.Context) (due time.Time, ok bool, err error)

	// LockExternalTasks locks up to MaxTasks fetchable external tasks of
	// the topics for a worker and returns them with the variables asked
	// for.
	LockExternalTasks(ctx context.Context, p *LockExternalTasksParams) ([]*core.ExternalTask, error)

	// ReadEvents returns outbox events after a cursor, in commit order.
	// Errors: core.ErrInvalid for a cursor this storage did not issue.
	ReadEvents(ctx context.Context, p *ReadEventsParams) (*EventBatch, error)
	// ConsumerState returns a named consumer's position and backlog.
	ConsumerState(ctx context.Context, consumer string) (*ConsumerState, error)
	// AdvanceConsumer moves a consumer's position forward (never back).
	AdvanceConsumer(ctx context.Context, p *AdvanceConsumerParams) error
	// DeadLetterEvents records events a consumer gave up on.
	DeadLetterEvents(ctx context.Context, consumer string, letters []DeadLetter) error
	// DeadLetters lists a consumer's dead letters, newest first.
	DeadLetters(ctx context.Context, consumer string, limit int) ([]DeadLetter, error)
	// PruneOutbox removes old events every consumer has passed.
	PruneOutbox(ctx context.Context, p *PruneOutboxParams) (int, error)

	// List returns the rows a query selects, as the entity's Go type (see
	// Entity); Count counts them, ignoring Offset and Limit. Errors:
	// core.ErrInvalid for a query naming a field the entity does not have.
	List(ctx context.Context, q *Query) ([]any, error)
	Count(ctx context.Context, q *Query) (int64, error)

	// Variables returns variables visible from a scope (see
	// VariablesParams). Errors: core.ErrNotFound when the instance does not
	// exist.
	Variables(ctx context.Context, p *VariablesParams) (map[string]core.Value, error)
	// VariableUpdates returns an instance's variable history, oldest first.
	VariableUpdates(ctx context.Context, instanceID int64) ([]*core.VariableUpdate, error)
	// DefinitionStatistics counts, per element of a definition, what is
	// running or failing there.
	DefinitionStatistics(ctx context.Context, definitionID int64) ([]ActivityStatistic, error)

	// SuspendDefinition suspends or activates a definition and returns its
	// running instances whose state differs (to suspend one by one).
	// Errors: core.ErrNotFound.
	SuspendDefinition(ctx context.Context, p *SuspendDefinitionParams) ([]int64, error)
	// DeleteDeployment removes a deployment, its definitions and their
	// start events, and with Cascade every instance of its definitions.
	DeleteDeployment(ctx context.Context, p *DeleteDeploymentParams) error
	// CleanupHistory removes up to Limit finished instances whose history
	// time to live has passed, with every row they hold, and returns how
	// many it removed.
	CleanupHistory(ctx context.Context, p *CleanupHistoryParams) (int, error)
}

// IDSource is implemented by stores that hand out row IDs themselves (the
// memory store). The engine takes IDs from ID blocks in each tenant's
// storage otherwise (package idgen).
type IDSource interface {
	// NextID returns a new ID, unique within the tenant of ctx.
	NextID(ctx context.Context) (int64, error)
}

// LoadJobsParams names the jobs LoadJobs reads.
type LoadJobsParams struct {
	IDs []int64
	// Definition is as in LoadParams.
	Definition func(id int64) *core.Deployed
}

// LoadEachJob is LoadJobs for a storage that reads no batches: a Load per
// job, nil where it failed (the caller's own Load reports why).
func LoadEachJob(ctx context.Context, st Store, p *LoadJobsParams) ([]*Snapshot, error) {
	out := make([]*Snapshot, len(p.IDs))
	for i, id := range p.IDs {
		snap, err := st.Load(ctx, &LoadParams{JobID: id, Definition: p.Definition})
		if err == nil && len(snap.Missing) == 0 {
			out[i] = snap
		}
	}
	return out, nil
}

// LoadParams says what a command reads. Every instance named or located
// is read whole (executions, variables, open activity instances, open
// tasks, external tasks, jobs, subscriptions, open incidents), and so is
// the instance that called it, up the chain of callers.
type LoadParams struct {
	// InstanceIDs are instances to read.
	InstanceIDs []int64
	// TaskID, ExternalTaskID and JobID locate one row each: the row is
	// returned (Snapshot.Task, ExternalTask, Job) whatever its state, and
	// its instance read when it is active.
	TaskID         int64
	ExternalTaskID int64
	JobID          int64
	// Message reads the subscriptions waiting for a message of that name
	// (of MessageInstanceID only, when set) with their instances, and the
	// message start events of that name.
	Message           string
	MessageInstanceID int64
	// StartEventsOf reads the timer start jobs and message start
	// subscriptions of these process keys (a deployment replaces them).
	StartEventsOf []string
	// Definition returns the compiled definition of an ID the caller holds,
	// or nil. Executions are bound to its elements.
	Definition func(id int64) *core.Deployed
}

// Snapshot is what Load read: rows for a unit of work, and the rows a
// command located. Rows of instances are those of active instances;
// located rows are returned in any state.
type Snapshot struct {
	Instances  []*core.Instance
	Executions []*core.Execution
	Variables  []*core.VariableRow
	Tasks      []*core.TaskRow
	ExtTasks   []*core.ExtTaskRow
	Jobs       []*core.JobRow
	Subs       []*core.SubRow
	Incidents  []*core.IncidentRow
	Activities []*core.ActivityRow

	// Task, ExternalTask and Job are the located rows (nil: not found).
	// When their instance was read, they are the unit's own rows.
	Task         *core.TaskRow
	ExternalTask *core.ExtTaskRow
	Job          *core.JobRow
	// JobDefinition is, for a located Job of no instance (a timer start
	// event's), its definition as stored now, suspension included; nil
	// when that definition is gone.
	JobDefinition *core.ProcessDefinition
	// Waiting are the subscriptions of LoadParams.Message, in ID order;
	// Starts its message start subscriptions.
	Waiting []*core.SubRow
	Starts  []*core.SubRow
	// StartJobs and StartSubs are the start events of
	// LoadParams.StartEventsOf.
	StartJobs []*core.JobRow
	StartSubs []*core.SubRow

	// Missing are definitions of read instances the caller did not hold:
	// when set, nothing else is.
	Missing []*DefinitionSource
}

// ApplyParams is what Apply writes.
type ApplyParams struct {
	Units []*core.Unit
	// Deployments are written beside the units.
	Deployments []*NewDeployment
	// Latest are the latest versions the units were planned on: each must
	// still be the latest version of its key, and not suspended.
	Latest []LatestGuard
}

// NewDeployment is a deployment to write: its row, resources and
// definitions.
type NewDeployment struct {
	Deployment  core.Deployment
	Resources   []Resource
	Definitions []*DefinitionRow
}

// Resource is one stored file of a deployment.
type Resource struct {
	Name    string
	Content []byte
	Hash    string
}

// DefinitionRow is a process definition as stored: the public definition
// and what only storage needs.
type DefinitionRow struct {
	core.ProcessDefinition
	// Hash is the SHA-256 of the resource it came from.
	Hash string
}

// LatestGuard is a latest version a unit was planned on.
type LatestGuard struct {
	Key          string
	DefinitionID int64
}

// StaleDefinitionError fails an Apply whose LatestGuard no longer holds:
// another deployment (or a suspension) replaced the version.
type StaleDefinitionError struct{ Key string }

// Error names the process key whose latest version changed.
func (e *StaleDefinitionError) Error() string {
	return "the latest version of process " + e.Key + " changed"
}

// DefinitionParams names a definition: by ID, or the latest version of a
// key.
type DefinitionParams struct {
	ID        int64
	LatestKey string
	// WithContent also reads the BPMN resource.
	WithContent bool
}

// DefinitionSource is a stored definition with the resource it was
// compiled from.
type DefinitionSource struct {
	DefinitionRow
	Content []byte
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

// ReleaseJobsParams unlocks jobs a node holds.
type ReleaseJobsParams struct {
	Owner string
	IDs   []int64
}

// TopicRequest asks for tasks of one topic.
type TopicRequest struct {
	Name         string
	LockDuration time.Duration
	// Variables limits the variables returned (nil: all, empty: none).
	Variables []string
	// LocalVariables returns only the task's local variables.
	LocalVariables bool
	// BusinessKey and DefinitionKeys narrow the tasks fetched.
	BusinessKey    string
	DefinitionKeys []string
}

// LockExternalTasksParams asks for external tasks to lock.
type LockExternalTasksParams struct {
	WorkerID string
	MaxTasks int
	// UsePriority fetches higher-priority tasks first.
	UsePriority bool
	Topics      []TopicRequest
	// Now is the time of the lock (tasks whose lock expired before it are
	// taken).
	Now time.Time
}

// ReadEventsParams asks for events of the tenant in the context.
type ReadEventsParams struct {
	// After is the position to read after ("" = from the beginning).
	After core.Cursor
	// Limit caps the batch (default 500).
	Limit int
	// Types, InstanceID and DefinitionKey filter the result; the returned
	// Next still advances past filtered-out events.
	Types         []core.EventType
	InstanceID    int64
	DefinitionKey string
}

// EventBatch is what ReadEvents returns.
type EventBatch struct {
	Events []*core.Event
	// Next is where the following read continues. It is never before After,
	// and an event that commits later than the read always sorts after Next,
	// so nothing is skipped.
	Next core.Cursor
}

// DeadLetter records an event a consumer could not deliver and gave up on.
type DeadLetter struct {
	Consumer string
	EventID  int64
	Reason   string
	At       time.Time
}

// ConsumerState is a named outbox consumer's progress in one tenant.
type ConsumerState struct {
	Consumer  string
	Position  core.Cursor
	UpdatedAt time.Time
	// Backlog counts the events after Position.
	Backlog int64
	// DeadLetters counts the events the consumer dead-lettered.
	DeadLetters int64
}

// AdvanceConsumerParams moves a consumer's position.
type AdvanceConsumerParams struct {
	Consumer string
	To       core.Cursor
	At       time.Time
}

// PruneOutboxParams says which events PruneOutbox removes: those older
// than OlderThan that every consumer that ever advanced in the tenant, and
// every consumer named in WaitFor, has passed. A consumer of WaitFor that
// never advanced holds back every event; with no consumer at all, every
// event older than OlderThan goes.
type PruneOutboxParams struct {
	OlderThan time.Time
	WaitFor   []string
}

// VariablesParams names a scope: the variables visible from an execution
// (its own, then its enclosing scopes', up to the instance: inner ones
// win), or the process variables of an instance when ExecutionID is 0.
type VariablesParams struct {
	InstanceID  int64
	ExecutionID int64
	// Names filters (nil: all; empty: none).
	Names []string
	// Local returns only the execution's own variables.
	Local bool
}

// ActivityStatistic counts what stands at one element of a definition:
// running activity instances, jobs out of retries and open incidents.
type ActivityStatistic struct {
	ElementID  string
	Instances  int64
	FailedJobs int64
	Incidents  map[core.IncidentType]int64
}

// SuspendDefinitionParams suspends or activates a definition.
type SuspendDefinitionParams struct {
	ID        int64
	Suspended bool
}

// DeleteDeploymentParams deletes a deployment.
type DeleteDeploymentParams struct {
	ID int64
	// Cascade deletes the instances of its definitions, running or not;
	// without it, running instances make the delete fail with
	// core.ErrConflict.
	Cascade bool
}

// CleanupHistoryParams bounds one round of history cleanup.
type CleanupHistoryParams struct {
	Now   time.Time
	Limit int
}

// Locate points the located rows (Task, ExternalTask, Job, Waiting) at
// the snapshot's rows of their instances, when those were read, so that a
// change to one is a change to the other. Stores call it at the end of Load.
func (snap *Snapshot) Locate() {
	if x := snap.Task; x != nil {
		for _, u := range snap.Tasks {
			if u.ID == x.ID {
				snap.Task = u
			}
		}
	}
	if x := snap.ExternalTask; x != nil {
		for _, u := range snap.ExtTasks {
			if u.ID == x.ID {
				snap.ExternalTask = u
			}
		}
	}
	if x := snap.Job; x != nil {
		for _, u := range snap.Jobs {
			if u.ID == x.ID {
				snap.Job = u
			}
		}
	}
	for i, w := range snap.Waiting {
		for _, u := range snap.Subs {
			if u.ID == w.ID {
				snap.Waiting[i] = u
			}
		}
	}
}
