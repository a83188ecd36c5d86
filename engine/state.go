package engine

import (
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/engine/model"
)

// rowOp is what storage must do with a row at the end of a command.
type rowOp uint8

const (
	rowClean rowOp = iota // loaded, unchanged
	rowNew                // created by this command
	rowDirty              // loaded and changed
	rowGone               // loaded, to delete
	rowVoid               // created and deleted by this command: never written
)

// alive reports whether a row still exists after this command.
func alive(op rowOp) bool { return op != rowGone && op != rowVoid }

// touch marks a loaded row changed; a new row stays new.
func touch(op *rowOp) {
	if *op == rowClean {
		*op = rowDirty
	}
}

// drop marks a row deleted; a row this command created is simply never
// written.
func drop(op *rowOp) {
	if *op == rowNew {
		*op = rowVoid
	} else if *op != rowVoid {
		*op = rowGone
	}
}

// execState is what a token is doing.
type execState string

const (
	execActive  execState = "active"  // moving, or a scope with running children
	execWaiting execState = "waiting" // at a wait state
	execJoining execState = "joining" // waiting at a parallel or inclusive join
	execAsync   execState = "async"   // waiting for an asynchronous continuation job
)

// execution flags.
const (
	flagMIChild        = 1 << iota // one instance of a multi-instance activity
	flagAsyncDone                  // the asyncBefore job has run
	flagArmed                      // boundary events are armed
	flagAsyncAfterDone             // the asyncAfter job has run
)

// miData is the state of a multi-instance body.
type miData struct {
	N         int   `json:"n"`
	Completed int   `json:"c"`
	Next      int   `json:"x"`           // sequential: the next loop counter
	Items     []any `json:"i,omitempty"` // the collection, kept for sequential bodies
}

// execution is a token or a scope. The root execution of an instance has
// the instance's ID and no element.
type execution struct {
	id, instanceID, parentID int64
	el                       *model.Element
	state                    execState
	scope                    bool
	actID                    int64
	flags                    int
	mi                       *miData
	createdAt                int64
	op                       rowOp
	inst                     *instance // not stored
}

func (x *execution) has(f int) bool { return x.flags&f != 0 }

func (x *execution) elementID() string {
	if x.el == nil {
		return ""
	}
	return x.el.ID
}

// deployed is a process definition with its compiled model.
type deployed struct {
	ProcessDefinition
	model *model.Definition
}

// instance is a process instance row plus what the core needs about it.
type instance struct {
	ProcessInstance
	def     *deployed
	root    *execution
	holds   int
	op      rowOp
	loaded  int64 // revision as loaded
	touched bool  // changed by this command: revision moves
	// superExec is the calling activity's execution of a called instance.
	superExec int64
}

// holds bits: which tables an instance has rows in besides executions,
// variables and activity instances.
const (
	holdsTasks = 1 << iota
	holdsExternalTasks
	holdsJobs
	holdsSubscriptions
	holdsIncidents
)

type variableRow struct {
	scopeID, instanceID int64
	name                string
	val                 Value
	rev                 int
	op                  rowOp
}

type taskRow struct {
	Task
	op rowOp
}

type extTaskRow struct {
	ExternalTask
	op rowOp
}

// jobRow is a job with what the engine needs beyond the public Job.
type jobRow struct {
	Job
	executionID  int64
	definitionID int64
	defKey       string
	excStack     string
	data         jobData
	createdAt    int64
	op           rowOp
}

// jobData is the persisted state of a timer job.
type jobData struct {
	// Fired counts how often a cycle fired.
	Fired int `json:"f,omitempty"`
	// Schedule is the evaluated timer definition of a dynamic timer, so a
	// cycle repeats without re-evaluating.
	Schedule string `json:"s,omitempty"`
}

type subRow struct {
	id           int64
	kind         string // message, message-start
	name         string
	instanceID   int64
	executionID  int64
	definitionID int64
	defKey       string
	elementID    string
	createdAt    int64
	op           rowOp
}

type incidentRow struct {
	Incident
	op rowOp
}

type activityRow struct {
	ActivityInstance
	op rowOp
}

// uow is the unit of work of one command: every row it loaded or created,
// across the instances it touched (a call activity touches two), and what it
// appends (history, events). Storage loads it, the core changes it, storage
// applies the net changes in one transaction.
type uow struct {
	tenant string
	now    time.Time
	nowMS  int64
	newID  func() (int64, error)

	// err is the first error of something that cannot fail on the spot
	// (an ID block that could not be refilled, the row budget): the core
	// stops at its next step and the command fails with it.
	err error
	// rows counts the IDs handed out, one per row created; maxRows bounds
	// them.
	rows, maxRows int

	instances []*instance
	execs     []*execution
	vars      []*variableRow
	tasks     []*taskRow
	extTasks  []*extTaskRow
	jobs      []*jobRow
	subs      []*subRow
	incidents []*incidentRow
	acts      []*activityRow

	varUpdates []*VariableUpdate
	events     []*Event

	// slabs hold the rows this unit creates.
	slabs unitSlabs

	// loadInstance brings another instance's rows into the unit (storage
	// provides it; nil in pure tests, where everything is in memory).
	loadInstance func(id int64) (*instance, error)

	// After commit: what to signal.
	earliestJob    time.Time
	externalTopics []string
	definitionsNew bool
}

// id returns a new ID for a row the command creates. When none can be had,
// or the command created more rows than its budget, it records the error
// (the core stops at its next step) and returns 0: the unit is never
// applied then.
func (u *uow) id() int64 {
	if u.err != nil {
		return 0
	}
	if u.rows++; u.maxRows > 0 && u.rows > u.maxRows {
		u.err = fmt.Errorf("%w: %w: the command created more than %d rows; a model that creates this much in one step "+
			"(a multi-instance over a large collection, a loop without a wait state) needs a wait state or smaller batches, "+
			"or raise Options.MaxRows", ErrInvalid, ErrStepBudget, u.maxRows)
		return 0
	}
	id, err := u.newID()
	if err != nil {
		u.err = fmt.Errorf("new ID: %w", err)
		return 0
	}
	return id
}

// instanceByID finds an instance of the unit, loading it if needed.
func (u *uow) instanceByID(id int64) (*instance, error) {
	for _, i := range u.instances {
		if i.ID == id {
			return i, nil
		}
	}
	if u.loadInstance == nil {
		return nil, notFound("process instance", id)
	}
	return u.loadInstance(id)
}

func (u *uow) exec(id int64) *execution {
	for _, x := range u.execs {
		if x.id == id && alive(x.op) {
			return x
		}
	}
	return nil
}

// children lists the live child executions of x.
func (u *uow) children(x *execution) []*execution {
	var out []*execution
	for _, c := range u.execs {
		if c.parentID == x.id && alive(c.op) && c.instanceID == x.instanceID {
			out = append(out, c)
		}
	}
	return out
}

func (u *uow) hasChildren(x *execution) bool {
	for _, c := range u.execs {
		if c.parentID == x.id && alive(c.op) && c.instanceID == x.instanceID {
			return true
		}
	}
	return false
}

func (u *uow) variable(scope int64, name string) *variableRow {
	for _, v := range u.vars {
		if v.scopeID == scope && v.name == name && alive(v.op) {
			return v
		}
	}
	return nil
}

func (u *uow) activity(id int64) *activityRow {
	for _, a := range u.acts {
		if a.ID == id {
			return a
		}
	}
	return nil
}

func (u *uow) taskOf(x *execution) *taskRow {
	for _, t := range u.tasks {
		if t.ExecutionID == x.id && alive(t.op) && t.State == TaskCreated {
			return t
		}
	}
	return nil
}

func (u *uow) extTaskOf(x *execution) *extTaskRow {
	for _, t := range u.extTasks {
		if t.ExecutionID == x.id && alive(t.op) {
			return t
		}
	}
	return nil
}

// noteJob records a new job's due time for the after-commit signal.
func (u *uow) noteJob(due time.Time) {
	if u.earliestJob.IsZero() || due.Before(u.earliestJob) {
		u.earliestJob = due
	}
}

func (u *uow) noteTopic(topic string) {
	for _, t := range u.externalTopics {
		if t == topic {
			return
		}
	}
	u.externalTopics = append(u.externalTopics, topic)
}

// computeHolds recomputes an instance's holds bits from the unit.
func (u *uow) computeHolds(inst *instance) int {
	h := 0
	for _, t := range u.tasks {
		if t.InstanceID == inst.ID && alive(t.op) && t.State == TaskCreated {
			h |= holdsTasks
		}
	}
	for _, t := range u.extTasks {
		if t.InstanceID == inst.ID && alive(t.op) {
			h |= holdsExternalTasks
		}
	}
	for _, j := range u.jobs {
		if j.InstanceID == inst.ID && alive(j.op) {
			h |= holdsJobs
		}
	}
	for _, s := range u.subs {
		if s.instanceID == inst.ID && alive(s.op) {
			h |= holdsSubscriptions
		}
	}
	for _, i := range u.incidents {
		if i.InstanceID == inst.ID && alive(i.op) && i.State == "open" {
			h |= holdsIncidents
		}
	}
	return h
}
