package engine

import (
	"fmt"
	"time"

	"github.com/tenantflow/tenantflow/engine/model"
)

// runJob performs a job on state that holds its instance.
func (c *core) runJob(j *jobRow) error {
	if j.Kind == JobTimerStart {
		return c.fireTimerStart(j)
	}
	x := c.exec(j.executionID)
	if x == nil {
		drop(&j.op) // its token moved on meanwhile
		return nil
	}
	if x.inst.Suspended {
		return fmt.Errorf("%w: process instance %d is suspended", ErrSuspended, x.instanceID)
	}
	el := x.inst.def.model.Element(j.ElementID)
	if el == nil {
		return fmt.Errorf("job %d: element %q no longer exists", j.ID, j.ElementID)
	}
	switch j.Kind {
	case JobAsyncBefore:
		drop(&j.op)
		x.flags |= flagAsyncDone
		c.push(stepEnter, x, el)
	case JobAsyncAfter:
		drop(&j.op)
		x.flags |= flagAsyncAfterDone
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
	return c.run()
}

// rescheduleOrDrop moves a cycle timer of a non-interrupting boundary event
// to its next fire time, or removes the job when it fired for the last time.
func (c *core) rescheduleOrDrop(j *jobRow, x *execution, el *model.Element) error {
	if el.Kind == model.BoundaryEvent && !el.Interrupting && el.Event.Timer.Kind.String() == "timeCycle" {
		sched, err := c.timerSchedule(x, el, &j.data)
		if err != nil {
			return err
		}
		j.data.Fired++
		if next, ok := sched.Next(j.DueAt, j.data.Fired); ok {
			j.DueAt = next
			j.Retries = c.env.defaultRetries()
			j.LockOwner, j.LockExpiresAt = "", time.Time{}
			touch(&j.op)
			c.noteJob(next)
			return nil
		}
	}
	drop(&j.op)
	return nil
}

// fireTimerStart starts an instance from a timer start event and schedules
// the next fire of a cycle.
func (c *core) fireTimerStart(j *jobRow) error {
	def := c.jobDefinition(j)
	if def == nil {
		drop(&j.op)
		return nil
	}
	el := def.model.Element(j.ElementID)
	if el == nil || el.Event == nil || el.Event.Timer == nil {
		drop(&j.op)
		return nil
	}
	if _, err := c.startInstance(def, "", nil, el, "", nil); err != nil {
		return err
	}
	sched, err := c.timerSchedule(nil, el, &j.data)
	if err != nil {
		return err
	}
	j.data.Fired++
	if next, ok := sched.Next(j.DueAt, j.data.Fired); ok && el.Event.Timer.Kind.String() == "timeCycle" {
		j.DueAt = next
		j.LockOwner, j.LockExpiresAt = "", time.Time{}
		touch(&j.op)
		c.noteJob(next)
	} else {
		drop(&j.op)
	}
	return c.run()
}

// jobDefinition finds the definition a definition-level job belongs to.
func (c *core) jobDefinition(j *jobRow) *deployed {
	d, err := c.env.definitionByID(c.ctx, j.definitionID)
	if err != nil {
		return nil
	}
	return d
}

// correlate delivers a message to a waiting subscription.
func (c *core) correlate(s *subRow, vars map[string]Value) error {
	x := c.exec(s.executionID)
	if x == nil {
		return fmt.Errorf("%w: the token waiting for message %q is gone", ErrConflict, s.name)
	}
	el := x.inst.def.model.Element(s.elementID)
	if el == nil {
		return fmt.Errorf("%w: element %q no longer exists", ErrConflict, s.elementID)
	}
	if el.Kind != model.BoundaryEvent || el.Interrupting {
		// A non-interrupting boundary event keeps listening while its
		// activity runs: every message starts another path.
		drop(&s.op)
	}
	if err := c.trigger(x, el, vars); err != nil {
		return err
	}
	return c.run()
}

// completeExternal finishes an external task with variables.
func (c *core) completeExternal(t *extTaskRow, vars map[string]Value, localVars map[string]Value) error {
	x := c.exec(t.ExecutionID)
	if x == nil {
		return fmt.Errorf("%w: external task %d has no waiting token", ErrConflict, t.ID)
	}
	if x.inst.Suspended {
		return fmt.Errorf("%w: process instance %d is suspended", ErrSuspended, x.instanceID)
	}
	for _, name := range sortedKeys(vars) {
		c.setVar(x, name, vars[name])
	}
	for _, name := range sortedKeys(localVars) {
		c.setLocal(x, name, localVars[name])
	}
	drop(&t.op)
	c.resolveIncidentsOf(0, t.ID)
	c.push(stepComplete, x, nil)
	return c.run()
}

// externalBPMNError throws a BPMN error from an external task. When no
// boundary event catches it, the task gets an incident instead (its retries
// set to 0), so an operator sees it.
func (c *core) externalBPMNError(t *extTaskRow, code, message string, vars map[string]Value) error {
	x := c.exec(t.ExecutionID)
	if x == nil {
		return fmt.Errorf("%w: external task %d has no waiting token", ErrConflict, t.ID)
	}
	for _, name := range sortedKeys(vars) {
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
		touch(&t.op)
		c.openIncident(x, IncidentFailedExternalTask, 0, t.ID, t.ErrorMessage)
		return nil
	}
	return c.run()
}

// openIncident records a failure that needs an operator.
func (c *core) openIncident(x *execution, typ IncidentType, jobID, extID int64, message string) {
	inc := &incidentRow{op: rowNew}
	inc.Incident = Incident{ID: c.id(), Tenant: c.tenant, Type: typ, InstanceID: x.instanceID, ExecutionID: x.id,
		DefinitionID: x.inst.DefinitionID, DefinitionKey: x.inst.DefinitionKey, ElementID: x.elementID(),
		JobID: jobID, ExternalTaskID: extID, Message: message, State: "open", CreatedAt: c.now}
	c.incidents = append(c.incidents, inc)
	c.event(x.inst, EventIncidentCreated, x.el, 0, map[string]any{"incidentId": fmt.Sprint(inc.ID), "type": typ, "message": message})
}

// resolveIncidentsOf closes the open incidents of a job or external task.
func (c *core) resolveIncidentsOf(jobID, extID int64) {
	for _, i := range c.incidents {
		if i.State != "open" || (jobID != 0 && i.JobID != jobID) || (extID != 0 && i.ExternalTaskID != extID) {
			continue
		}
		i.State = "resolved"
		i.EndedAt = c.now
		touch(&i.op)
		inst, err := c.instanceByID(i.InstanceID)
		if err != nil {
			continue
		}
		var el *model.Element
		if inst.def != nil {
			el = inst.def.model.Element(i.ElementID)
		}
		c.event(inst, EventIncidentResolved, el, 0, map[string]any{"incidentId": fmt.Sprint(i.ID), "type": i.Type})
	}
}

// failJob records a failed attempt of a job: retries decrease and the job
// is retried after a backoff; at zero retries an incident opens. A final
// failure (one a retry would repeat, like a step budget) opens the incident
// at once.
func (c *core) failJob(j *jobRow, cause error, stack string, final bool) {
	j.Retries--
	if j.Retries < 0 || final {
		j.Retries = 0
	}
	j.ErrorMessage = truncate(cause.Error(), 4000)
	j.excStack = truncate(stack, 16000)
	j.LockOwner, j.LockExpiresAt = "", time.Time{}
	attempt := c.env.defaultRetries() - j.Retries
	if attempt < 1 {
		attempt = 1
	}
	j.DueAt = c.now.Add(retryBackoff(attempt))
	touch(&j.op)
	if j.Retries == 0 {
		if x := c.exec(j.executionID); x != nil {
			c.openIncident(x, IncidentFailedJob, j.ID, 0, j.ErrorMessage)
		}
		return
	}
	c.noteJob(j.DueAt)
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

// failExternal records a worker's failure report.
func (c *core) failExternal(t *extTaskRow, message, details string, retries int, retryAfter time.Duration) {
	if retries < 0 {
		retries = 0
	}
	t.Retries = &retries
	t.ErrorMessage = truncate(message, 4000)
	t.ErrorDetails = truncate(details, 64000)
	t.WorkerID = ""
	t.LockExpiresAt = time.Time{}
	if retries > 0 && retryAfter > 0 {
		// Not fetchable until the retry timeout passed: a lock by nobody.
		t.LockExpiresAt = c.now.Add(retryAfter)
	}
	touch(&t.op)
	if retries == 0 {
		if x := c.exec(t.ExecutionID); x != nil {
			c.openIncident(x, IncidentFailedExternalTask, 0, t.ID, t.ErrorMessage)
		}
	}
}
