package core

import (
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/engine/model"
)

// RowOp is what storage must do with a row at the end of a command.
type RowOp uint8

const (
	RowClean RowOp = iota // loaded, unchanged
	RowNew                // created by this command
	RowDirty              // loaded and changed
	RowGone               // loaded, to delete
	RowVoid               // created and deleted by this command: never written
)

// Alive reports whether a row still exists after this command.
func Alive(op RowOp) bool { return op != RowGone && op != RowVoid }

// Touch marks a loaded row changed; a new row stays new.
func Touch(op *RowOp) {
	if *op == RowClean {
		*op = RowDirty
	}
}

// Drop marks a row deleted; a row this command created is simply never
// written.
func Drop(op *RowOp) {
	if *op == RowNew {
		*op = RowVoid
	} else if *op != RowVoid {
		*op = RowGone
	}
}

// ExecState is what a token is doing.
type ExecState string

const (
	ExecActive  ExecState = "active"  // moving, or a scope with running children
	ExecWaiting ExecState = "waiting" // at a wait state
	ExecJoining ExecState = "joining" // waiting at a parallel or inclusive join
	ExecAsync   ExecState = "async"   // waiting for an asynchronous continuation job
)

// execution flags.
const (
	FlagMIChild        = 1 << iota // one instance of a multi-instance activity
	FlagAsyncDone                  // the asyncBefore job has run
	FlagArmed                      // boundary events are armed
	FlagAsyncAfterDone             // the asyncAfter job has run
)

// MIData is the state of a multi-instance body.
type MIData struct {
	N         int   `json:"n"`
	Completed int   `json:"c"`
	Next      int   `json:"x"`           // sequential: the next loop counter
	Items     []any `json:"i,omitempty"` // the collection, kept for sequential bodies
}

// Execution is a token or a scope. The root Execution of an instance has
// the instance's ID and no element.
type Execution struct {
	ID, InstanceID, ParentID int64
	El                       *model.Element
	State                    ExecState
	Scope                    bool
	ActID                    int64
	Flags                    int
	MI                       *MIData
	CreatedAt                int64
	Op                       RowOp
	Inst                     *Instance // not stored
}

// Has reports whether x carries every flag in f.
func (x *Execution) Has(f int) bool { return x.Flags&f != 0 }

// ElementID is the ID of the element x is at, or "" between elements.
func (x *Execution) ElementID() string {
	if x.El == nil {
		return ""
	}
	return x.El.ID
}

// Deployed is a process definition with its compiled model.
type Deployed struct {
	ProcessDefinition
	Model *model.Definition
}

// Instance is a process Instance row plus what the core needs about it.
type Instance struct {
	ProcessInstance
	Def     *Deployed
	Root    *Execution
	Holds   int
	Op      RowOp
	Loaded  int64 // revision as loaded
	Touched bool  // changed by this command: revision moves
	// SuperExec is the calling activity's execution of a called instance.
	SuperExec int64
}

// holds bits: which tables an instance has rows in besides executions,
// variables and activity instances.
const (
	HoldsTasks = 1 << iota
	HoldsExternalTasks
	HoldsJobs
	HoldsSubscriptions
	HoldsIncidents
)

// VariableRow is one variable of a scope (an execution or the instance),
// with its stored revision and what the unit does to it.
type VariableRow struct {
	ScopeID, InstanceID int64
	Name                string
	Val                 Value
	Rev                 int
	Op                  RowOp
}

// TaskRow is a user task with what the unit does to it.
type TaskRow struct {
	Task
	Op RowOp
}

// ExtTaskRow is an external task with what the unit does to it.
type ExtTaskRow struct {
	ExternalTask
	Op RowOp
}

// JobRow is a job with what the engine needs beyond the public Job.
type JobRow struct {
	Job
	ExecutionID   int64
	DefinitionID  int64
	DefinitionKey string
	ExcStack      string
	Data          JobData
	CreatedAt     int64
	Op            RowOp
}

// JobData is the persisted state of a timer job.
type JobData struct {
	// Fired counts how often a cycle fired.
	Fired int `json:"f,omitempty"`
	// Schedule is the evaluated timer definition of a dynamic timer, so a
	// cycle repeats without re-evaluating.
	Schedule string `json:"s,omitempty"`
}

// SubRow is an event subscription: an instance waiting for a message, or a
// definition started by one (message-start).
type SubRow struct {
	ID            int64
	Kind          string // message, message-start
	Name          string
	InstanceID    int64
	ExecutionID   int64
	DefinitionID  int64
	DefinitionKey string
	ElementID     string
	CreatedAt     int64
	Op            RowOp
}

// IncidentRow is an incident with what the unit does to it.
type IncidentRow struct {
	Incident
	Op RowOp
}

// ActivityRow is an activity instance (its history entry) with what the
// unit does to it.
type ActivityRow struct {
	ActivityInstance
	Op RowOp
}

// Unit is the unit of work of one command: every row it loaded or created,
// across the instances it touched (a call activity touches two), and what it
// appends (history, events). Storage loads it, the core changes it, storage
// applies the net changes in one transaction.
type Unit struct {
	Tenant string
	Now    time.Time
	NowMS  int64
	NewID  func() (int64, error)

	// Err is the first error of something that cannot fail on the spot
	// (an ID block that could not be refilled, the row budget): the core
	// stops at its next step and the command fails with it.
	Err error
	// rows counts the IDs handed out, one per row created; MaxRows bounds
	// them.
	rows, MaxRows int

	Instances []*Instance
	Execs     []*Execution
	Vars      []*VariableRow
	Tasks     []*TaskRow
	ExtTasks  []*ExtTaskRow
	Jobs      []*JobRow
	Subs      []*SubRow
	Incidents []*IncidentRow
	Acts      []*ActivityRow

	VarUpdates []*VariableUpdate
	Events     []*Event

	// slabs hold the rows this unit creates.
	slabs unitSlabs

	// After commit: what to signal.
	EarliestJob    time.Time
	ExternalTopics []string
	DefinitionsNew bool
}

// NewRowID returns a new ID for a row the command creates. When none can be had,
// or the command created more rows than its budget, it records the error
// (the core stops at its next step) and returns 0: the unit is never
// applied then.
func (u *Unit) NewRowID() int64 {
	if u.Err != nil {
		return 0
	}
	if u.rows++; u.MaxRows > 0 && u.rows > u.MaxRows {
		u.Err = fmt.Errorf("%w: %w: the command created more than %d rows; a model that creates this much in one step "+
			"(a multi-instance over a large collection, a loop without a wait state) needs a wait state or smaller batches, "+
			"or raise Options.MaxRows", ErrInvalid, ErrStepBudget, u.MaxRows)
		return 0
	}
	id, err := u.NewID()
	if err != nil {
		u.Err = fmt.Errorf("new ID: %w", err)
		return 0
	}
	return id
}

// InstanceByID finds an instance of the unit; one the unit does not hold
// is a *NeedError.
func (u *Unit) InstanceByID(id int64) (*Instance, error) {
	for _, i := range u.Instances {
		if i.ID == id {
			return i, nil
		}
	}
	return nil, &NeedError{Instances: []int64{id}}
}

// fail records the first error of something that cannot return one: the
// core stops at its next step and the command fails with it.
func (u *Unit) fail(err error) {
	if u.Err == nil {
		u.Err = err
	}
}

// Exec returns the live execution id of the unit, or nil.
func (u *Unit) Exec(id int64) *Execution {
	for _, x := range u.Execs {
		if x.ID == id && Alive(x.Op) {
			return x
		}
	}
	return nil
}

// Children lists the live child executions of x.
func (u *Unit) Children(x *Execution) []*Execution {
	var out []*Execution
	for _, c := range u.Execs {
		if c.ParentID == x.ID && Alive(c.Op) && c.InstanceID == x.InstanceID {
			out = append(out, c)
		}
	}
	return out
}

// HasChildren reports whether x has a live child execution.
func (u *Unit) HasChildren(x *Execution) bool {
	for _, c := range u.Execs {
		if c.ParentID == x.ID && Alive(c.Op) && c.InstanceID == x.InstanceID {
			return true
		}
	}
	return false
}

// Variable returns the live variable name of scope, or nil; it does not
// look into enclosing scopes.
func (u *Unit) Variable(scope int64, name string) *VariableRow {
	for _, v := range u.Vars {
		if v.ScopeID == scope && v.Name == name && Alive(v.Op) {
			return v
		}
	}
	return nil
}

// Activity returns the activity instance id of the unit, or nil.
func (u *Unit) Activity(id int64) *ActivityRow {
	for _, a := range u.Acts {
		if a.ID == id {
			return a
		}
	}
	return nil
}

// TaskOf returns the open user task of execution x, or nil.
func (u *Unit) TaskOf(x *Execution) *TaskRow {
	for _, t := range u.Tasks {
		if t.ExecutionID == x.ID && Alive(t.Op) && t.State == TaskCreated {
			return t
		}
	}
	return nil
}

// ExtTaskOf returns the live external task of execution x, or nil.
func (u *Unit) ExtTaskOf(x *Execution) *ExtTaskRow {
	for _, t := range u.ExtTasks {
		if t.ExecutionID == x.ID && Alive(t.Op) {
			return t
		}
	}
	return nil
}

// NoteJob records a new job's due time for the after-commit signal.
func (u *Unit) NoteJob(due time.Time) {
	if u.EarliestJob.IsZero() || due.Before(u.EarliestJob) {
		u.EarliestJob = due
	}
}

// NoteTopic records a topic that gained an external task, for the
// after-commit signal to waiting fetchers.
func (u *Unit) NoteTopic(topic string) {
	for _, t := range u.ExternalTopics {
		if t == topic {
			return
		}
	}
	u.ExternalTopics = append(u.ExternalTopics, topic)
}

// ComputeHolds recomputes an instance's holds bits from the unit.
func (u *Unit) ComputeHolds(inst *Instance) int {
	h := 0
	for _, t := range u.Tasks {
		if t.InstanceID == inst.ID && Alive(t.Op) && t.State == TaskCreated {
			h |= HoldsTasks
		}
	}
	for _, t := range u.ExtTasks {
		if t.InstanceID == inst.ID && Alive(t.Op) {
			h |= HoldsExternalTasks
		}
	}
	for _, j := range u.Jobs {
		if j.InstanceID == inst.ID && Alive(j.Op) {
			h |= HoldsJobs
		}
	}
	for _, s := range u.Subs {
		if s.InstanceID == inst.ID && Alive(s.Op) {
			h |= HoldsSubscriptions
		}
	}
	for _, i := range u.Incidents {
		if i.InstanceID == inst.ID && Alive(i.Op) && i.State == "open" {
			h |= HoldsIncidents
		}
	}
	return h
}

// ProcessVariables returns an instance's process-scope variables as they
// stand in the unit.
func (u *Unit) ProcessVariables(instanceID int64) map[string]Value {
	out := map[string]Value{}
	for _, v := range u.Vars {
		if v.InstanceID == instanceID && v.ScopeID == instanceID && Alive(v.Op) {
			out[v.Name] = v.Val
		}
	}
	return out
}
