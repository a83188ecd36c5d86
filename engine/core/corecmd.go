package core

import (
	"errors"
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/engine/model"
)

// RunJob performs a job on state that holds its instance.
func (c *Executor) RunJob(j *JobRow) error {
	if j.Kind == JobTimerStart {
		return c.fireTimerStart(j)
	}
	x := c.Exec(j.ExecutionID)
	if x == nil {
		Drop(&j.Op) // its token moved on meanwhile
		return nil
	}
	if x.Inst.Suspended {
		return fmt.Errorf("%w: process instance %d is suspended", ErrSuspended, x.InstanceID)
	}
	el := x.Inst.Def.Model.Element(j.ElementID)
	if el == nil {
		return fmt.Errorf("job %d: element %q no longer exists", j.ID, j.ElementID)
	}
	switch j.Kind {
	case JobAsyncBefore:
		Drop(&j.Op)
		x.Flags |= FlagAsyncDone
		c.push(stepEnter, x, el)
	case JobAsyncAfter:
		Drop(&j.Op)
		x.Flags |= FlagAsyncAfterDone
		c.push(stepLeave, x, nil)
	case JobTimer:
		if err := c.rescheduleOrDrop(j, x, el); err != nil {
			return err
		}
		if err := c.trigger(x, el, nil); err != nil {
			return err
		}
	default:
		return fmt.Errorf("job %d has unknown kind %q", j.ID, j.Kind)
	}
	return c.Run()
}

// rescheduleOrDrop moves a cycle timer of a non-interrupting boundary event
// to its next fire time, or removes the job when it fired for the last time.
func (c *Executor) rescheduleOrDrop(j *JobRow, x *Execution, el *model.Element) error {
	if el.Kind == model.BoundaryEvent && !el.Interrupting && el.Event.Timer.Kind.String() == "timeCycle" {
		sched, err := c.timerSchedule(x, el, &j.Data)
		if err != nil {
			return err
		}
		j.Data.Fired++
		if next, ok := sched.Next(j.DueAt, j.Data.Fired); ok {
			j.DueAt = next
			j.Retries = c.env.DefaultRetries()
			j.LockOwner, j.LockExpiresAt = "", time.Time{}
			Touch(&j.Op)
			c.NoteJob(next)
			return nil
		}
	}
	Drop(&j.Op)
	return nil
}

// fireTimerStart starts an instance from a timer start event and schedules
// the next fire of a cycle.
func (c *Executor) fireTimerStart(j *JobRow) error {
	def, err := c.env.DefinitionByID(j.DefinitionID)
	if errors.As(err, new(*NeedError)) {
		return err
	}
	if err != nil {
		Drop(&j.Op) // its definition is gone
		return nil
	}
	el := def.Model.Element(j.ElementID)
	if el == nil || el.Event == nil || el.Event.Timer == nil {
		Drop(&j.Op)
		return nil
	}
	if _, err := c.StartInstance(def, "", nil, el, "", nil); err != nil {
		return err
	}
	sched, err := c.timerSchedule(nil, el, &j.Data)
	if err != nil {
		return err
	}
	j.Data.Fired++
	if next, ok := sched.Next(j.DueAt, j.Data.Fired); ok && el.Event.Timer.Kind.String() == "timeCycle" {
		j.DueAt = next
		j.LockOwner, j.LockExpiresAt = "", time.Time{}
		Touch(&j.Op)
		c.NoteJob(next)
	} else {
		Drop(&j.Op)
	}
	return c.Run()
}

// Correlate delivers a message to a waiting subscription.
func (c *Executor) Correlate(s *SubRow, vars map[string]Value) error {
	x := c.Exec(s.ExecutionID)
	if x == nil {
		return fmt.Errorf("%w: the token waiting for message %q is gone", ErrConflict, s.Name)
	}
	el := x.Inst.Def.Model.Element(s.ElementID)
	if el == nil {
		return fmt.Errorf("%w: element %q no longer exists", ErrConflict, s.ElementID)
	}
	if el.Kind != model.BoundaryEvent || el.Interrupting {
		// A non-interrupting boundary event keeps listening while its
		// activity runs: every message starts another path.
		Drop(&s.Op)
	}
	if err := c.trigger(x, el, vars); err != nil {
		return err
	}
	return c.Run()
}

// CompleteExternal finishes an external task with variables.
func (c *Executor) CompleteExternal(t *ExtTaskRow, vars map[string]Value, localVars map[string]Value) error {
	x := c.Exec(t.ExecutionID)
	if x == nil {
		return fmt.Errorf("%w: external task %d has no waiting token", ErrConflict, t.ID)
	}
	if x.Inst.Suspended {
		return fmt.Errorf("%w: process instance %d is suspended", ErrSuspended, x.InstanceID)
	}
	for _, name := range SortedKeys(vars) {
		c.setVar(x, name, vars[name])
	}
	for _, name := range SortedKeys(localVars) {
		c.SetLocal(x, name, localVars[name])
	}
	Drop(&t.Op)
	c.ResolveIncidentsOf(0, t.ID)
	c.push(stepComplete, x, nil)
	return c.Run()
}

// ExternalBPMNError throws a BPMN error from an external task. When no
// boundary event catches it, the task gets an incident instead (its retries
// set to 0), so an operator sees it.
func (c *Executor) ExternalBPMNError(t *ExtTaskRow, code, message string, vars map[string]Value) error {
	x := c.Exec(t.ExecutionID)
	if x == nil {
		return fmt.Errorf("%w: external task %d has no waiting token", ErrConflict, t.ID)
	}
	for _, name := range SortedKeys(vars) {
		c.setVar(x, name, vars[name])
	}
	caught, err := c.throwError(x, code, message)
	if err != nil {
		return err
	}
	if !caught {
		zero := 0
		t.Retries = &zero
		t.ErrorMessage = fmt.Sprintf("BPMN error %q was not caught by any error boundary event", code)
		t.WorkerID, t.LockExpiresAt = "", time.Time{}
		Touch(&t.Op)
		c.OpenIncident(x, IncidentFailedExternalTask, 0, t.ID, t.ErrorMessage)
		return nil
	}
	return c.Run()
}

// OpenIncident records a failure that needs an operator.
func (c *Executor) OpenIncident(x *Execution, typ IncidentType, jobID, extID int64, message string) {
	inc := &IncidentRow{Op: RowNew}
	inc.Incident = Incident{ID: c.NewRowID(), Tenant: c.Tenant, Type: typ, InstanceID: x.InstanceID, ExecutionID: x.ID,
		DefinitionID: x.Inst.DefinitionID, DefinitionKey: x.Inst.DefinitionKey, ElementID: x.ElementID(),
		JobID: jobID, ExternalTaskID: extID, Message: message, State: "open", CreatedAt: c.Now}
	c.Incidents = append(c.Incidents, inc)
	c.Event(x.Inst, EventIncidentCreated, x.El, 0, map[string]any{"incidentId": fmt.Sprint(inc.ID), "type": typ, "message": message})
}

// ResolveIncidentsOf closes the open incidents of a job or external task.
func (c *Executor) ResolveIncidentsOf(jobID, extID int64) {
	for _, i := range c.Incidents {
		if i.State != "open" || (jobID != 0 && i.JobID != jobID) || (extID != 0 && i.ExternalTaskID != extID) {
			continue
		}
		i.State = "resolved"
		i.EndedAt = c.Now
		Touch(&i.Op)
		inst, err := c.InstanceByID(i.InstanceID)
		if err != nil {
			c.fail(err)
			continue
		}
		var el *model.Element
		if inst.Def != nil {
			el = inst.Def.Model.Element(i.ElementID)
		}
		c.Event(inst, EventIncidentResolved, el, 0, map[string]any{"incidentId": fmt.Sprint(i.ID), "type": i.Type})
	}
}

// FailJob records a failed attempt of a job: retries decrease and the job
// is retried after a backoff; at zero retries an incident opens. A final
// failure (one a retry would repeat, like a step budget) opens the incident
// at once.
func (c *Executor) FailJob(j *JobRow, cause error, stack string, final bool) {
	j.Retries--
	if j.Retries < 0 || final {
		j.Retries = 0
	}
	j.ErrorMessage = Truncate(cause.Error(), 4000)
	j.ExcStack = Truncate(stack, 16000)
	j.LockOwner, j.LockExpiresAt = "", time.Time{}
	attempt := c.env.DefaultRetries() - j.Retries
	if attempt < 1 {
		attempt = 1
	}
	j.DueAt = c.Now.Add(retryBackoff(attempt))
	Touch(&j.Op)
	if j.Retries == 0 {
		if x := c.Exec(j.ExecutionID); x != nil {
			c.OpenIncident(x, IncidentFailedJob, j.ID, 0, j.ErrorMessage)
		}
		return
	}
	c.NoteJob(j.DueAt)
}

// retryBackoff is the wait before attempt n+1 of a failing job: 10s, 40s,
// 160s, … capped at an hour.
func retryBackoff(attempt int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < attempt && d < time.Hour; i++ {
		d *= 4
	}
	if d > time.Hour {
		d = time.Hour
	}
	return d
}

// FailExternal records a worker's failure report.
func (c *Executor) FailExternal(t *ExtTaskRow, message, details string, retries int, retryAfter time.Duration) {
	if retries < 0 {
		retries = 0
	}
	t.Retries = &retries
	t.ErrorMessage = Truncate(message, 4000)
	t.ErrorDetails = Truncate(details, 64000)
	t.WorkerID = ""
	t.LockExpiresAt = time.Time{}
	if retries > 0 && retryAfter > 0 {
		// Not fetchable until the retry timeout passed: a lock by nobody.
		t.LockExpiresAt = c.Now.Add(retryAfter)
	}
	Touch(&t.Op)
	if retries == 0 {
		if x := c.Exec(t.ExecutionID); x != nil {
			c.OpenIncident(x, IncidentFailedExternalTask, 0, t.ID, t.ErrorMessage)
		}
	}
}

// AssignTask makes user ("" for nobody) the assignee of an open task.
func (c *Executor) AssignTask(t *TaskRow, user string) {
	t.Assignee = user
	Touch(&t.Op)
	if x := c.Exec(t.ExecutionID); x != nil {
		c.Event(x.Inst, EventTaskAssigned, x.El, t.ID, taskData(t))
	}
}

// ModifyVariables sets and deletes process variables of a running
// instance.
func (c *Executor) ModifyVariables(inst *Instance, set map[string]Value, deletions []string) {
	inst.Touched = true
	for _, name := range SortedKeys(set) {
		c.SetLocal(inst.Root, name, set[name])
	}
	for _, name := range deletions {
		if v := c.Variable(inst.ID, name); v != nil {
			Drop(&v.Op)
		}
	}
}

// SuspendInstance suspends (or activates) a running instance with its
// tasks, external tasks and jobs.
func (c *Executor) SuspendInstance(inst *Instance, suspended bool) {
	inst.Suspended = suspended
	inst.Touched = true
	for _, t := range c.Tasks {
		if t.InstanceID == inst.ID && Alive(t.Op) && t.Suspended != suspended {
			t.Suspended = suspended
			Touch(&t.Op)
		}
	}
	for _, t := range c.ExtTasks {
		if t.InstanceID == inst.ID && Alive(t.Op) && t.Suspended != suspended {
			t.Suspended = suspended
			Touch(&t.Op)
		}
	}
	for _, j := range c.Jobs {
		if j.InstanceID == inst.ID && Alive(j.Op) && j.Suspended != suspended {
			j.Suspended = suspended
			Touch(&j.Op)
		}
	}
}
