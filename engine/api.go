package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"

	"github.com/tenantflow/tenantflow/security"
)

// checkRef refuses a Ref of another tenant than the context's.
func checkRef(ctx context.Context, r Ref) error {
	tenant, err := security.MustTenant(ctx)
	if err != nil {
		return err
	}
	if r.Tenant != "" && r.Tenant != tenant {
		return fmt.Errorf("%w: object %d belongs to tenant %s, the call is made in tenant %s", ErrWrongTenant, r.ID, r.Tenant, tenant)
	}
	return nil
}

// mergeVars combines untyped (inferred) and typed variables; typed win.
func mergeVars(untyped map[string]any, typed map[string]Value) (map[string]Value, error) {
	out, err := core.TypedVars(untyped)
	if err != nil {
		return nil, err
	}
	if len(typed) > 0 && out == nil {
		out = make(map[string]Value, len(typed))
	}
	for k, v := range typed {
		if err := core.ValidateVarName(k); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// StartParams describes an instance to start.
type StartParams struct {
	// DefinitionKey starts the latest version of a key; Definition starts
	// one version. Exactly one must be set.
	DefinitionKey string
	Definition    Ref
	BusinessKey   string
	// Variables are typed by inference (see ValueOf); TypedVariables carry
	// their type explicitly. Both go to the process scope.
	Variables      map[string]any
	TypedVariables map[string]Value
	// StartUser is recorded and given to a start event's initiator
	// variable.
	StartUser string
	// ReturnVariables fills ProcessInstance.Variables with the variables at
	// the end of the start transaction.
	ReturnVariables bool
}

// StartInstance starts a process instance and runs it until every token
// waits or ends, in one transaction.
//
// Errors: ErrNoTenant, ErrWrongTenant, ErrNotFound (definition), ErrInvalid
// (variables, an expression that fails), ErrSuspended, or the error of a
// service-task handler.
func (e *Engine) StartInstance(ctx context.Context, p *StartParams) (*ProcessInstance, error) {
	if p == nil || (p.DefinitionKey == "") == (p.Definition.ID == 0) {
		return nil, core.Invalidf("set exactly one of DefinitionKey and Definition")
	}
	if err := checkRef(ctx, p.Definition); err != nil {
		return nil, err
	}
	vars, err := mergeVars(p.Variables, p.TypedVariables)
	if err != nil {
		return nil, err
	}
	var out ProcessInstance
	_, err = e.command(ctx, func(c *core.Executor, l *loader) error {
		var def *core.Deployed
		var err error
		if p.DefinitionKey != "" {
			def, err = e.latest(l, p.DefinitionKey)
		} else {
			def, err = e.definitionByID(ctx, l.u.Tenant, p.Definition.ID)
		}
		if err != nil {
			return final(err)
		}
		inst, err := c.StartInstance(def, p.BusinessKey, vars, nil, p.StartUser, nil)
		if err != nil {
			return final(err)
		}
		if err := c.Run(); err != nil {
			return err
		}
		out = inst.ProcessInstance
		if p.ReturnVariables {
			out.Variables = c.ProcessVariables(inst.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// CompleteTaskParams describes the completion of a user task.
type CompleteTaskParams struct {
	Variables      map[string]any
	TypedVariables map[string]Value
	// Local sets the variables on the task's own scope instead of where
	// they live (or on the instance).
	Local bool
	// User is recorded as who completed the task.
	User string
	// ReturnVariables makes CompleteTask return the instance's variables
	// after the completion.
	ReturnVariables bool
}

// CompleteTask completes a user task and moves its token on, in one
// transaction. Of concurrent completions of one task exactly one succeeds;
// the others get ErrConflict.
//
// Errors: ErrNoTenant, ErrWrongTenant, ErrNotFound, ErrConflict (already
// completed or deleted), ErrSuspended, ErrInvalid.
func (e *Engine) CompleteTask(ctx context.Context, task Ref, p *CompleteTaskParams) (map[string]Value, error) {
	if err := checkRef(ctx, task); err != nil {
		return nil, err
	}
	if p == nil {
		p = &CompleteTaskParams{}
	}
	vars, err := mergeVars(p.Variables, p.TypedVariables)
	if err != nil {
		return nil, err
	}
	var result map[string]Value
	_, err = e.command(ctx, func(c *core.Executor, l *loader) error {
		t, err := e.openTask(l, task.ID)
		if err != nil {
			return err
		}
		if err := c.CompleteTask(t, vars, p.Local, p.User); err != nil {
			return err
		}
		if err := c.Run(); err != nil {
			return err
		}
		if p.ReturnVariables {
			result = c.ProcessVariables(t.InstanceID)
		}
		return nil
	})
	return result, err
}

// openTask loads a task's instance and returns the task, open.
func (e *Engine) openTask(l *loader, id int64) (*core.TaskRow, error) {
	snap, err := l.load(&store.LoadParams{TaskID: id})
	if err != nil {
		return nil, err
	}
	t := snap.Task
	if t == nil {
		return nil, final(core.NotFound("task", id))
	}
	if t.State != TaskCreated {
		return nil, final(fmt.Errorf("%w: task %d is %s", ErrConflict, id, t.State))
	}
	if !slices.Contains(l.u.Tasks, t) {
		// Completed since the unit read its instance: a retry reports it.
		return nil, fmt.Errorf("%w: task %d changed concurrently", ErrConflict, id)
	}
	return t, nil
}

// ClaimTask makes user the task's assignee. Claiming a task assigned to
// someone else is ErrConflict (use SetAssignee to reassign).
func (e *Engine) ClaimTask(ctx context.Context, task Ref, user string) error {
	if user == "" {
		return core.Invalidf("claim needs a user ID")
	}
	return e.assign(ctx, task, user, true)
}

// UnclaimTask removes the task's assignee.
func (e *Engine) UnclaimTask(ctx context.Context, task Ref) error {
	return e.assign(ctx, task, "", false)
}

// SetAssignee assigns the task to user ("" unassigns), whoever held it.
func (e *Engine) SetAssignee(ctx context.Context, task Ref, user string) error {
	return e.assign(ctx, task, user, false)
}

func (e *Engine) assign(ctx context.Context, task Ref, user string, claim bool) error {
	if err := checkRef(ctx, task); err != nil {
		return err
	}
	_, err := e.command(ctx, func(c *core.Executor, l *loader) error {
		t, err := e.openTask(l, task.ID)
		if err != nil {
			return err
		}
		if claim && t.Assignee != "" && t.Assignee != user {
			return final(fmt.Errorf("%w: task %d is already claimed by %s", ErrConflict, t.ID, t.Assignee))
		}
		if t.Assignee == user {
			return nil
		}
		c.AssignTask(t, user)
		return nil
	})
	return err
}

// CorrelateParams describes a message to correlate.
type CorrelateParams struct {
	MessageName string
	// BusinessKey, if set, matches only instances with that business key
	// (and is the business key of an instance the message starts).
	BusinessKey string
	// CorrelationKeys match only instances whose process variables have
	// these values.
	CorrelationKeys map[string]any
	// Instance, if set, matches only that instance.
	Instance Ref
	// Variables are set on the matched instance (or the started one).
	Variables      map[string]any
	TypedVariables map[string]Value
	// All correlates to every match instead of requiring exactly one.
	All bool
}

// CorrelationResult is one delivery of a message.
type CorrelationResult struct {
	// Type is "Execution" for a waiting instance, "ProcessDefinition" for
	// a message start event.
	Type     string
	Instance *ProcessInstance
	// ElementID is the element the message reached: the waiting event or
	// task, or the message start event.
	ElementID string
	// Definition is the definition a message start event started (0 for
	// an Execution).
	Definition int64
}

// CorrelateMessage delivers a message by name to the instances waiting for
// it (intermediate catch events, receive tasks, boundary events, event-based
// gateways) that match the business key and correlation keys; when none
// waits, to a message start event, starting an instance.
//
// Errors: ErrNoCorrelation (nothing matched), ErrAmbiguousCorrelation (more
// than one match without All), ErrNoTenant, ErrWrongTenant, ErrInvalid.
func (e *Engine) CorrelateMessage(ctx context.Context, p *CorrelateParams) ([]*CorrelationResult, error) {
	if p == nil || p.MessageName == "" {
		return nil, core.Invalidf("a message needs a name")
	}
	if err := checkRef(ctx, p.Instance); err != nil {
		return nil, err
	}
	vars, err := mergeVars(p.Variables, p.TypedVariables)
	if err != nil {
		return nil, err
	}
	keys, err := core.TypedVars(p.CorrelationKeys)
	if err != nil {
		return nil, err
	}
	var results []*CorrelationResult
	_, err = e.command(ctx, func(c *core.Executor, l *loader) error {
		results = nil
		snap, err := l.load(&store.LoadParams{Message: p.MessageName, MessageInstanceID: p.Instance.ID})
		if err != nil {
			return err
		}
		var matched []*core.SubRow
		for _, s := range snap.Waiting {
			inst, err := c.InstanceByID(s.InstanceID)
			if err != nil {
				return err
			}
			if !core.Alive(s.Op) || p.BusinessKey != "" && inst.BusinessKey != p.BusinessKey || !matchesKeys(c, inst, keys) {
				continue
			}
			matched = append(matched, s)
		}
		if len(matched) == 0 && p.Instance.ID == 0 {
			starts := snap.Starts
			if len(starts) > 1 && !p.All {
				return final(fmt.Errorf("%w: message %q starts %d processes", ErrAmbiguousCorrelation, p.MessageName, len(starts)))
			}
			for _, s := range starts {
				def, err := e.definitionByID(ctx, l.u.Tenant, s.DefinitionID)
				if err != nil {
					return err
				}
				inst, err := c.StartInstance(def, p.BusinessKey, vars, def.Model.Element(s.ElementID), "", nil)
				if err != nil {
					return final(err)
				}
				pi := inst.ProcessInstance
				results = append(results, &CorrelationResult{Type: "ProcessDefinition", Instance: &pi, ElementID: s.ElementID, Definition: def.ID})
			}
			if len(results) == 0 {
				return final(fmt.Errorf("%w: no instance waits for message %q with the given keys, and no process starts with it", ErrNoCorrelation, p.MessageName))
			}
			return c.Run()
		}
		if len(matched) == 0 {
			return final(fmt.Errorf("%w: instance %d does not wait for message %q", ErrNoCorrelation, p.Instance.ID, p.MessageName))
		}
		if len(matched) > 1 && !p.All {
			return final(fmt.Errorf("%w: %d instances wait for message %q; narrow with a business key or correlation keys, or correlate all", ErrAmbiguousCorrelation, len(matched), p.MessageName))
		}
		for _, s := range matched {
			inst, _ := c.InstanceByID(s.InstanceID)
			if err := c.Correlate(s, vars); err != nil {
				return err
			}
			pi := inst.ProcessInstance
			results = append(results, &CorrelationResult{Type: "Execution", Instance: &pi, ElementID: s.ElementID})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// matchesKeys reports whether an instance's process variables have every
// correlation key's value.
func matchesKeys(c *core.Executor, inst *core.Instance, keys map[string]Value) bool {
	for name, want := range keys {
		v := c.Variable(inst.ID, name)
		if v == nil || !looseEqual(v.Val, want) {
			return false
		}
	}
	return true
}

// looseEqual compares values across integer types (a key given as an int
// matches a Long variable).
func looseEqual(a, b Value) bool {
	if a.Equal(b) {
		return true
	}
	an, aok := number(a.V)
	bn, bok := number(b.V)
	return aok && bok && an == bn
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// DeleteInstance terminates a running instance: tokens, tasks, jobs and
// called instances go; history keeps it as terminated with the reason.
func (e *Engine) DeleteInstance(ctx context.Context, inst Ref, reason string) error {
	if err := checkRef(ctx, inst); err != nil {
		return err
	}
	_, err := e.command(ctx, func(c *core.Executor, l *loader) error {
		i, err := l.instance(inst.ID)
		if err != nil {
			return final(err)
		}
		if i.State != InstanceActive {
			return final(fmt.Errorf("%w: process instance %d has already ended", ErrConflict, inst.ID))
		}
		if reason == "" {
			reason = "deleted"
		}
		c.TerminateInstance(i, reason)
		return nil
	})
	return err
}

// ModifyVariablesParams changes an instance's process variables.
type ModifyVariablesParams struct {
	Set       map[string]any
	SetTyped  map[string]Value
	Deletions []string
}

// ModifyVariables sets and deletes process variables of a running
// instance, in one transaction.
func (e *Engine) ModifyVariables(ctx context.Context, inst Ref, p *ModifyVariablesParams) error {
	if err := checkRef(ctx, inst); err != nil {
		return err
	}
	vars, err := mergeVars(p.Set, p.SetTyped)
	if err != nil {
		return err
	}
	_, err = e.command(ctx, func(c *core.Executor, l *loader) error {
		i, err := l.instance(inst.ID)
		if err != nil {
			return final(err)
		}
		if i.State != InstanceActive {
			return final(fmt.Errorf("%w: process instance %d has ended; its variables are history", ErrConflict, inst.ID))
		}
		c.ModifyVariables(i, vars, p.Deletions)
		return nil
	})
	return err
}

// SuspendInstance suspends (or activates) a running instance: its tasks
// cannot complete, its jobs and external tasks are not fetched.
func (e *Engine) SuspendInstance(ctx context.Context, inst Ref, suspended bool) error {
	if err := checkRef(ctx, inst); err != nil {
		return err
	}
	_, err := e.command(ctx, func(c *core.Executor, l *loader) error {
		i, err := l.instance(inst.ID)
		if err != nil {
			return final(err)
		}
		if i.State != InstanceActive {
			return final(fmt.Errorf("%w: process instance %d has ended", ErrConflict, inst.ID))
		}
		c.SuspendInstance(i, suspended)
		return nil
	})
	return err
}

// SuspendDefinition suspends (or activates) a definition: no new instance
// starts from it. With instances set, its running instances are suspended
// (or activated) too.
func (e *Engine) SuspendDefinition(ctx context.Context, def Ref, suspended, instances bool) error {
	if err := checkRef(ctx, def); err != nil {
		return err
	}
	ids, err := e.st.SuspendDefinition(ctx, &store.SuspendDefinitionParams{ID: def.ID, Suspended: suspended})
	if err != nil || !instances {
		return err
	}
	for _, id := range ids {
		if err := e.SuspendInstance(ctx, IDRef(id), suspended); err != nil {
			return err
		}
	}
	return nil
}

// now returns the engine's current time, as commands see it.
func (e *Engine) now() time.Time { return e.clock.Now().UTC().Truncate(time.Millisecond) }
