package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/engine/expression"
	"github.com/tenantflow/tenantflow/engine/model"
	"github.com/tenantflow/tenantflow/engine/timer"
)

// coreEnv is what the core needs from the engine besides the unit of work:
// definitions, handlers, limits. Pure tests give it an in-memory one.
type coreEnv interface {
	handler(topic string) Handler
	latestDefinition(ctx context.Context, key string) (*deployed, error)
	definitionByID(ctx context.Context, id int64) (*deployed, error)
	handlerTimeout() time.Duration
	defaultRetries() int
	maxSteps() int
}

// stepKind is a unit of the core's work queue.
type stepKind uint8

const (
	stepEnter    stepKind = iota // a token arrives at an element
	stepComplete                 // the token's activity finished normally
	stepLeave                    // the token leaves its element along its outgoing flows
)

type step struct {
	kind stepKind
	x    *execution
	el   *model.Element
}

// core executes BPMN. It decides what changes — tokens move, tasks, jobs
// and subscriptions appear and go, history and events are appended — by
// changing the rows of a unit of work; it never talks to storage. Every
// command runs to quiescence: all tokens wait or end before it returns.
type core struct {
	*uow
	ctx    context.Context
	env    coreEnv
	queue  []step
	head   int          // next step of queue to run
	settle []*execution // scopes whose inclusive joins must be re-checked

	// steps counts the steps run, against the step budget; past half the
	// budget, visits counts the elements entered, so that a command that
	// runs out of budget can name the element it looped through.
	steps  int
	visits map[*model.Element]int
}

func (c *core) push(k stepKind, x *execution, el *model.Element) {
	c.queue = append(c.queue, step{k, x, el})
}

// run drains the queue, re-checking inclusive joins when it runs dry. It
// stops at the first error, and when the command ran out of its step or
// row budget.
func (c *core) run() error {
	for {
		for c.head < len(c.queue) {
			if c.err != nil {
				return c.err
			}
			s := c.queue[c.head]
			c.head++
			if c.head == len(c.queue) {
				c.queue, c.head = c.queue[:0], 0
			}
			if !alive(s.x.op) {
				continue // cancelled meanwhile
			}
			if err := c.count(s); err != nil {
				return err
			}
			var err error
			switch s.kind {
			case stepEnter:
				err = c.enter(s.x, s.el)
			case stepComplete:
				err = c.complete(s.x)
			case stepLeave:
				err = c.leave(s.x)
			}
			if err != nil {
				return err
			}
		}
		if c.err != nil {
			return c.err
		}
		if len(c.settle) == 0 {
			return nil
		}
		scopes := c.settle
		c.settle = nil
		for _, s := range scopes {
			if err := c.settleJoins(s); err != nil {
				return err
			}
		}
		if len(c.queue) == 0 {
			return nil
		}
	}
}

// count charges a step to the command's step budget.
func (c *core) count(s step) error {
	c.steps++
	max := c.env.maxSteps()
	if max <= 0 {
		return nil
	}
	el := s.el
	if el == nil {
		el = s.x.el
	}
	if c.steps > max/2 && el != nil {
		if c.visits == nil {
			c.visits = map[*model.Element]int{}
		}
		c.visits[el]++
	}
	if c.steps <= max {
		return nil
	}
	var top *model.Element
	for e, n := range c.visits {
		if top == nil || n > c.visits[top] || n == c.visits[top] && e.ID < top.ID {
			top = e
		}
	}
	if top == nil {
		top = el
	}
	return fmt.Errorf("%w: %w: the command took more than %d element steps without every token reaching a wait state; "+
		"element %q was passed %d times in the last %d steps: a loop needs a wait state (a user task, timer or message), "+
		"or raise Options.MaxSteps if this much work in one command is intended", ErrInvalid, ErrStepBudget, max,
		top.ID, c.visits[top], c.steps-max/2-1)
}

// ---- instances ----

// startInstance creates an instance of def and starts it at start (the
// none start event when nil).
func (c *core) startInstance(def *deployed, businessKey string, vars map[string]Value, start *model.Element, user string, super *execution) (*instance, error) {
	if def.Suspended {
		return nil, fmt.Errorf("%w: process definition %s:%d is suspended", ErrSuspended, def.Key, def.Version)
	}
	if start == nil {
		start = def.model.Root.Start
		if start == nil {
			return nil, invalid("process %q has no none start event: it starts only by timer or message", def.Key)
		}
	}
	id := c.id()
	inst := &instance{def: def, op: rowNew, touched: true}
	inst.ProcessInstance = ProcessInstance{ID: id, Tenant: c.tenant, DefinitionID: def.ID, DefinitionKey: def.Key,
		BusinessKey: businessKey, State: InstanceActive, StartActivityID: start.ID, StartUserID: user, StartedAt: c.now}
	if super != nil {
		inst.SuperInstanceID = super.instanceID
		inst.superExec = super.id
	}
	root := &execution{id: id, instanceID: id, state: execActive, scope: true, createdAt: c.nowMS, op: rowNew, inst: inst}
	inst.root = root
	c.instances = append(c.instances, inst)
	c.execs = append(c.execs, root)
	c.event(inst, EventProcessStarted, nil, 0, nil)
	if start.Event != nil && start.Event.Initiator != "" && user != "" {
		c.setLocal(root, start.Event.Initiator, Value{TypeString, user})
	}
	for _, name := range sortedKeys(vars) {
		c.setLocal(root, name, vars[name])
	}
	x := c.newExec(root)
	c.push(stepEnter, x, start)
	return inst, nil
}

// completeInstance ends an instance whose last token ended.
func (c *core) completeInstance(inst *instance) error {
	inst.State = InstanceCompleted
	inst.EndedAt = c.now
	inst.touched = true
	touch(&inst.op)
	drop(&inst.root.op)
	c.event(inst, EventProcessCompleted, nil, 0, nil)
	if inst.superExec != 0 {
		return c.calledDone(inst)
	}
	return nil
}

// ---- executions ----

func (c *core) newExec(parent *execution) *execution {
	x := c.slabs.execs.new()
	*x = execution{id: c.id(), instanceID: parent.instanceID, parentID: parent.id, state: execActive,
		createdAt: c.nowMS, op: rowNew, inst: parent.inst}
	c.execs = appendRow(c.execs, x)
	return x
}

func (c *core) parent(x *execution) *execution {
	if x.parentID == 0 {
		return nil
	}
	return c.exec(x.parentID)
}

// removeExec deletes a token and its local variables.
func (c *core) removeExec(x *execution) {
	drop(&x.op)
	for _, v := range c.vars {
		if v.scopeID == x.id && alive(v.op) && x.id != x.instanceID {
			drop(&v.op)
		}
	}
}

// ---- entering elements ----

func (c *core) enter(x *execution, el *model.Element) error {
	x.el = el
	x.state = execActive
	touch(&x.op)
	if el.Scope.InclusiveJoins {
		// A token that moved may no longer reach a join that waits for
		// it: re-check the scope's joins once the command is at rest.
		if p := c.parent(x); p != nil {
			c.settleLater(p)
		}
	}
	if el.Multi != nil && !x.has(flagMIChild) {
		return c.startMulti(x, el)
	}
	if el.AsyncBefore && !x.has(flagAsyncDone) {
		c.newJob(JobAsyncBefore, x, el, c.now, jobData{})
		x.state = execAsync
		return nil
	}
	x.flags &^= flagAsyncDone | flagAsyncAfterDone
	if (el.Kind == model.ParallelGateway || el.Kind == model.InclusiveGateway) && len(el.Incoming) > 1 {
		return c.join(x, el)
	}
	c.startActivity(x, el)
	if err := c.applyParams(x, el.Inputs, true); err != nil {
		return err
	}
	switch el.Kind {
	case model.StartEvent, model.IntermediateThrowEvent, model.Task:
		c.push(stepComplete, x, nil)
	case model.EndEvent:
		return c.endEvent(x, el)
	case model.IntermediateCatchEvent, model.ReceiveTask:
		if err := c.armEvent(x, el, el); err != nil {
			return err
		}
		x.state = execWaiting
	case model.UserTask:
		if err := c.createTask(x, el); err != nil {
			return err
		}
		x.state = execWaiting
	case model.ServiceTask:
		if h := c.env.handler(el.Topic); h != nil {
			if err := c.runHandler(x, el, h); err != nil {
				return err
			}
			return nil
		}
		c.createExternalTask(x, el)
		x.state = execWaiting
	case model.ScriptTask:
		v, err := el.Script.Eval(c.lookup(x))
		if err != nil {
			return c.exprError(el, "script", err)
		}
		if el.ResultVariable != "" {
			val, err := ValueOf(v)
			if err != nil {
				return fmt.Errorf("script task %q: result: %w", el.ID, err)
			}
			c.setVar(x, el.ResultVariable, val)
		}
		c.push(stepComplete, x, nil)
	case model.ExclusiveGateway:
		return c.exclusive(x, el)
	case model.InclusiveGateway, model.ParallelGateway:
		c.endActivity(x, false)
		return c.fork(x, el)
	case model.EventBasedGateway:
		for _, f := range el.Outgoing {
			if err := c.armEvent(x, f.Target, f.Target); err != nil {
				return err
			}
		}
		x.state = execWaiting
	case model.SubProcess:
		x.scope = true
		x.state = execWaiting
		child := c.newExec(x)
		c.push(stepEnter, child, el.Sub.Start)
	case model.CallActivity:
		if err := c.callActivity(x, el); err != nil {
			return err
		}
	default:
		return fmt.Errorf("element %q of kind %d cannot run", el.ID, el.Kind)
	}
	if x.state == execWaiting && len(el.Boundaries) > 0 && !x.has(flagMIChild) && alive(x.op) {
		return c.armBoundaries(x, el)
	}
	return nil
}

// startActivity opens an activity instance for x at el.
func (c *core) startActivity(x *execution, el *model.Element) {
	parentAct := int64(0)
	if p := c.parent(x); p != nil {
		parentAct = p.actID
	}
	a := c.slabs.acts.new()
	a.op = rowNew
	a.ActivityInstance = ActivityInstance{ID: c.id(), Tenant: c.tenant, InstanceID: x.instanceID, ExecutionID: x.id,
		ParentID: parentAct, DefinitionID: x.inst.DefinitionID, ElementID: el.ID, ElementType: el.Type, Name: el.Name, StartedAt: c.now}
	c.acts = appendRow(c.acts, a)
	x.actID = a.ID
	c.event(x.inst, EventActivityStarted, el, 0, nil)
}

// endActivity closes x's activity instance.
func (c *core) endActivity(x *execution, canceled bool) {
	a := c.activity(x.actID)
	if a == nil || !a.EndedAt.IsZero() {
		return
	}
	a.EndedAt = c.now
	a.Canceled = canceled
	touch(&a.op)
	el := x.inst.def.model.Element(a.ElementID)
	if canceled {
		c.event(x.inst, EventActivityCanceled, el, 0, nil)
	} else {
		c.event(x.inst, EventActivityCompleted, el, 0, nil)
	}
}

// ---- leaving elements ----

// complete finishes x's activity normally and moves on.
func (c *core) complete(x *execution) error {
	el := x.el
	c.disarm(x)
	if err := c.applyParams(x, el.Outputs, false); err != nil {
		return err
	}
	c.endActivity(x, false)
	if el.Kind == model.EndEvent {
		return nil
	}
	if x.has(flagMIChild) {
		return c.multiChildDone(x)
	}
	if el.AsyncAfter && !x.has(flagAsyncAfterDone) {
		c.newJob(JobAsyncAfter, x, el, c.now, jobData{})
		x.state = execAsync
		return nil
	}
	return c.leave(x)
}

// leave takes every outgoing flow whose condition holds (the default flow if
// none does) from a non-gateway element; no outgoing flow ends the token.
func (c *core) leave(x *execution) error {
	el := x.el
	x.flags &^= flagAsyncAfterDone
	if len(el.Outgoing) == 0 {
		return c.endToken(x)
	}
	if el.Default == nil && unconditional(el.Outgoing) {
		c.follow(x, el.Outgoing)
		return nil
	}
	taken := make([]*model.Flow, 0, len(el.Outgoing))
	for _, f := range el.Outgoing {
		if f == el.Default {
			continue
		}
		ok, err := c.condition(x, f)
		if err != nil {
			return err
		}
		if ok {
			taken = append(taken, f)
		}
	}
	if len(taken) == 0 {
		if el.Default == nil {
			return fmt.Errorf("%w: no outgoing sequence flow of %q has a true condition and it has no default flow", ErrInvalid, el.ID)
		}
		taken = append(taken, el.Default)
	}
	c.follow(x, taken)
	return nil
}

// unconditional reports whether no flow has a condition.
func unconditional(flows []*model.Flow) bool {
	for _, f := range flows {
		if f.Condition != nil {
			return false
		}
	}
	return true
}

// follow sends x along the first flow and a new sibling along each other.
func (c *core) follow(x *execution, flows []*model.Flow) {
	parent := c.parent(x)
	for i, f := range flows {
		t := x
		if i > 0 {
			t = c.newExec(parent)
			t.flags = x.flags & flagMIChild
		}
		c.push(stepEnter, t, f.Target)
	}
}

func (c *core) condition(x *execution, f *model.Flow) (bool, error) {
	if f.Condition == nil {
		return true, nil
	}
	ok, err := f.Condition.EvalBool(c.lookup(x))
	if err != nil {
		return false, c.exprError(f.Source, "condition of flow "+f.ID, err)
	}
	return ok, nil
}

// endToken ends a token and completes its scope when it was the last.
func (c *core) endToken(x *execution) error {
	scope := c.parent(x)
	if x.el != nil && x.el.Kind == model.EndEvent && scope != nil && scope.id == x.instanceID {
		x.inst.EndActivityID = x.el.ID
	}
	c.removeExec(x)
	if scope == nil {
		return nil
	}
	return c.scopeMaybeDone(scope)
}

// scopeMaybeDone completes a scope with no tokens left.
func (c *core) scopeMaybeDone(s *execution) error {
	if c.hasChildren(s) {
		c.settleLater(s)
		return nil
	}
	switch {
	case s.id == s.instanceID:
		return c.completeInstance(s.inst)
	case s.mi != nil:
		return nil // multi-instance bodies count their children themselves
	case s.el != nil && s.el.Kind == model.SubProcess:
		s.scope = false
		c.push(stepComplete, s, nil)
	}
	return nil
}

func (c *core) settleLater(s *execution) {
	for _, o := range c.settle {
		if o == s {
			return
		}
	}
	c.settle = append(c.settle, s)
}

// ---- gateways ----

func (c *core) exclusive(x *execution, el *model.Element) error {
	c.endActivity(x, false)
	for _, f := range el.Outgoing {
		if f == el.Default {
			continue
		}
		ok, err := c.condition(x, f)
		if err != nil {
			return err
		}
		if ok {
			c.push(stepEnter, x, f.Target)
			return nil
		}
	}
	if el.Default != nil {
		c.push(stepEnter, x, el.Default.Target)
		return nil
	}
	return fmt.Errorf("%w: exclusive gateway %q: no outgoing flow's condition is true and there is no default flow", ErrInvalid, el.ID)
}

// fork leaves a parallel gateway on every flow, an inclusive one on every
// flow whose condition holds (or the default).
func (c *core) fork(x *execution, el *model.Element) error {
	if el.Kind == model.ParallelGateway {
		c.follow(x, el.Outgoing)
		return nil
	}
	var taken []*model.Flow
	for _, f := range el.Outgoing {
		if f == el.Default {
			continue
		}
		ok, err := c.condition(x, f)
		if err != nil {
			return err
		}
		if ok {
			taken = append(taken, f)
		}
	}
	if len(taken) == 0 {
		if el.Default == nil {
			return fmt.Errorf("%w: inclusive gateway %q: no outgoing flow's condition is true and there is no default flow", ErrInvalid, el.ID)
		}
		taken = append(taken, el.Default)
	}
	c.follow(x, taken)
	return nil
}

// join parks x at a joining gateway and fires it when it can.
func (c *core) join(x *execution, el *model.Element) error {
	x.state = execJoining
	scope := c.parent(x)
	if el.Kind == model.ParallelGateway {
		arrived := c.joiningAt(scope, el)
		if len(arrived) < len(el.Incoming) {
			return nil
		}
		return c.fireJoin(arrived[:len(el.Incoming)], el)
	}
	c.settleLater(scope)
	return nil
}

func (c *core) joiningAt(scope *execution, el *model.Element) []*execution {
	var out []*execution
	for _, t := range c.children(scope) {
		if t.el == el && t.state == execJoining {
			out = append(out, t)
		}
	}
	return out
}

// settleJoins fires the inclusive joins of a scope that no other token can
// still reach.
func (c *core) settleJoins(scope *execution) error {
	if !alive(scope.op) {
		return nil
	}
	kids := c.children(scope)
	for _, t := range kids {
		if t.state != execJoining || t.el.Kind != model.InclusiveGateway || !alive(t.op) {
			continue
		}
		g := t.el
		blocked := false
		for _, o := range kids {
			if !alive(o.op) || o.el == g && o.state == execJoining {
				continue
			}
			if o.el == nil || o.el == g || g.Scope.Reachable(o.el, g) {
				blocked = true
				break
			}
		}
		if !blocked {
			return c.fireJoin(c.joiningAt(scope, g), g)
		}
	}
	return nil
}

// fireJoin merges the arrived tokens into the first and forks it on.
func (c *core) fireJoin(arrived []*execution, el *model.Element) error {
	x := arrived[0]
	for _, o := range arrived[1:] {
		c.removeExec(o)
	}
	x.state = execActive
	c.startActivity(x, el)
	c.endActivity(x, false)
	return c.fork(x, el)
}

// ---- end events and errors ----

func (c *core) endEvent(x *execution, el *model.Element) error {
	c.endActivity(x, false)
	switch el.Event.Kind {
	case model.EventTerminate:
		scope := c.parent(x)
		if scope.id == scope.instanceID {
			x.inst.EndActivityID = el.ID
		}
		for _, o := range c.children(scope) {
			if o != x {
				c.cancel(o)
				c.removeExec(o)
			}
		}
	case model.EventError:
		caught, err := c.throwError(x, el.Event.ErrorCode, el.Event.ErrorMessage)
		if err != nil || caught {
			return err
		}
		// Uncaught: the token simply ends, as a none end event would.
	}
	return c.endToken(x)
}

// throwError looks for an error boundary event catching code on from's
// activity and its enclosing scopes, up through calling instances. If one is
// found, the scope it is attached to is cancelled and continues at the
// boundary event.
func (c *core) throwError(from *execution, code, message string) (bool, error) {
	x := from
	for x != nil {
		if x.el != nil && x.el.Kind.IsActivity() && !x.has(flagMIChild) {
			for _, b := range x.el.Boundaries {
				ev := b.Event
				if ev != nil && ev.Kind == model.EventError && (ev.ErrorCode == "" || ev.ErrorCode == code) {
					vars := map[string]Value{}
					if ev.ErrorCodeVariable != "" {
						vars[ev.ErrorCodeVariable] = Value{TypeString, code}
					}
					if ev.ErrorMessageVariable != "" {
						vars[ev.ErrorMessageVariable] = Value{TypeString, message}
					}
					return true, c.fireBoundary(x, b, vars)
				}
			}
		}
		if x.id == x.instanceID {
			if x.inst.superExec == 0 {
				return false, nil
			}
			parent, err := c.instanceByID(x.inst.SuperInstanceID)
			if err != nil {
				return false, err
			}
			x = c.exec(x.inst.superExec)
			if x == nil {
				return false, fmt.Errorf("instance %d: calling execution is gone", parent.ID)
			}
			continue
		}
		x = c.parent(x)
	}
	return false, nil
}

// ---- cancellation ----

// cancel cancels x's activity and everything under it: inner tokens, its
// task or external task, its jobs and subscriptions, a called instance. x
// itself stays (the caller moves or removes it).
func (c *core) cancel(x *execution) {
	for _, ch := range c.children(x) {
		c.cancel(ch)
		c.removeExec(ch)
	}
	if t := c.taskOf(x); t != nil {
		t.State = TaskDeleted
		t.DeleteReason = "canceled"
		t.EndedAt = c.now
		touch(&t.op)
	}
	if t := c.extTaskOf(x); t != nil {
		drop(&t.op)
	}
	for _, j := range c.jobs {
		if j.executionID == x.id && alive(j.op) {
			drop(&j.op)
		}
	}
	for _, s := range c.subs {
		if s.executionID == x.id && alive(s.op) {
			drop(&s.op)
		}
	}
	for _, i := range c.incidents {
		if i.ExecutionID == x.id && i.State == "open" {
			i.State = "deleted"
			i.EndedAt = c.now
			touch(&i.op)
		}
	}
	if a := c.activity(x.actID); a != nil && a.CalledInstanceID != 0 && a.EndedAt.IsZero() {
		if child, err := c.instanceByID(a.CalledInstanceID); err == nil && child.State == InstanceActive {
			c.terminateInstance(child, "canceled by the calling activity")
		}
	}
	if x.el != nil && x.state != execJoining {
		c.endActivity(x, true)
	}
	x.flags &^= flagArmed
	x.scope, x.mi = false, nil
}

// terminateInstance cancels a whole instance.
func (c *core) terminateInstance(inst *instance, reason string) {
	c.cancel(inst.root)
	inst.State = InstanceTerminated
	inst.DeleteReason = reason
	inst.EndedAt = c.now
	inst.touched = true
	touch(&inst.op)
	drop(&inst.root.op)
	c.event(inst, EventProcessTerminated, nil, 0, nil)
}

// ---- boundary events ----

// armBoundaries creates the timers and subscriptions of x's boundary events.
func (c *core) armBoundaries(x *execution, el *model.Element) error {
	for _, b := range el.Boundaries {
		if b.Event.Kind == model.EventError {
			continue
		}
		if err := c.armEvent(x, b, b); err != nil {
			return err
		}
	}
	x.flags |= flagArmed
	return nil
}

// armEvent makes x wait for event element ev (a catch event, receive task or
// boundary event): a timer job or a message subscription, owned by x.
func (c *core) armEvent(x *execution, ev *model.Element, _ *model.Element) error {
	if ev.Kind == model.ReceiveTask {
		c.subscribe(x, ev, ev.Message)
		return nil
	}
	switch ev.Event.Kind {
	case model.EventTimer:
		due, data, ok, err := c.firstFire(x, ev)
		if err != nil {
			return err
		}
		if ok {
			c.newJob(JobTimer, x, ev, due, data)
		}
	case model.EventMessage:
		c.subscribe(x, ev, ev.Event.Message)
	}
	return nil
}

// disarm removes the timers and subscriptions x holds (its boundary events,
// or an event-based gateway's targets).
func (c *core) disarm(x *execution) {
	for _, j := range c.jobs {
		if j.executionID == x.id && alive(j.op) && j.Kind == JobTimer {
			drop(&j.op)
		}
	}
	for _, s := range c.subs {
		if s.executionID == x.id && alive(s.op) {
			drop(&s.op)
		}
	}
	x.flags &^= flagArmed
}

// trigger reacts to a timer or message aimed at event element ev, owned by
// x: a boundary event fires, an event-based gateway chooses, a catch event
// or receive task completes.
func (c *core) trigger(x *execution, ev *model.Element, vars map[string]Value) error {
	if x.inst.Suspended {
		return fmt.Errorf("%w: process instance %d is suspended", ErrSuspended, x.instanceID)
	}
	for _, name := range sortedKeys(vars) {
		c.setVar(x, name, vars[name])
	}
	switch {
	case ev.Kind == model.BoundaryEvent:
		return c.fireBoundary(x, ev, nil)
	case x.el != nil && x.el.Kind == model.EventBasedGateway:
		c.disarm(x)
		c.endActivity(x, false)
		x.el = ev
		c.startActivity(x, ev)
		c.push(stepComplete, x, nil)
		return nil
	default:
		if x.el != ev {
			return fmt.Errorf("%w: execution %d is not waiting at %q", ErrConflict, x.id, ev.ID)
		}
		c.push(stepComplete, x, nil)
		return nil
	}
}

// fireBoundary runs boundary event b attached to x's activity.
func (c *core) fireBoundary(x *execution, b *model.Element, vars map[string]Value) error {
	if b.Interrupting {
		c.cancel(x)
		c.disarm(x)
		x.el = b
		x.state = execActive
		touch(&x.op)
		for _, name := range sortedKeys(vars) {
			c.setVar(x, name, vars[name])
		}
		c.startActivity(x, b)
		c.push(stepComplete, x, nil)
		return nil
	}
	y := c.newExec(c.parent(x))
	y.el = b
	c.startActivity(y, b)
	c.push(stepComplete, y, nil)
	return nil
}

// ---- timers ----

// timerSchedule resolves a timer definition, evaluating expressions.
func (c *core) timerSchedule(x *execution, ev *model.Element, data *jobData) (timer.Schedule, error) {
	td := ev.Event.Timer
	if td.Static != nil {
		return td.Static, nil
	}
	if data.Schedule == "" {
		s, err := td.Expr.EvalString(c.lookupOrEmpty(x))
		if err != nil {
			return nil, c.exprError(ev, td.Kind.String(), err)
		}
		data.Schedule = s
	}
	sched, err := timer.Parse(td.Kind, data.Schedule)
	if err != nil {
		return nil, fmt.Errorf("%w: timer %q: %v", ErrInvalid, ev.ID, err)
	}
	return sched, nil
}

func (c *core) firstFire(x *execution, ev *model.Element) (time.Time, jobData, bool, error) {
	var data jobData
	sched, err := c.timerSchedule(x, ev, &data)
	if err != nil {
		return time.Time{}, data, false, err
	}
	due, ok := sched.First(c.now)
	return due, data, ok, nil
}

// ---- tasks ----

func (c *core) createTask(x *execution, el *model.Element) error {
	u := el.User
	vars := c.lookup(x)
	t := &taskRow{op: rowNew}
	t.Task = Task{ID: c.id(), Tenant: c.tenant, InstanceID: x.instanceID, ExecutionID: x.id,
		DefinitionID: x.inst.DefinitionID, DefinitionKey: x.inst.DefinitionKey, ElementID: el.ID, Name: el.Name,
		Priority: 50, State: TaskCreated, CreatedAt: c.now, Revision: 1}
	str := func(e *expression.Expression, what string) (string, error) {
		if e == nil {
			return "", nil
		}
		v, err := e.Eval(vars)
		if err != nil {
			return "", c.exprError(el, what, err)
		}
		if v == nil {
			return "", nil
		}
		if tm, ok := v.(time.Time); ok {
			return tm.Format(time.RFC3339Nano), nil
		}
		return fmt.Sprint(v), nil
	}
	var err error
	if t.Assignee, err = str(u.Assignee, "assignee"); err != nil {
		return err
	}
	if t.FormKey, err = str(u.FormKey, "formKey"); err != nil {
		return err
	}
	cu, err := str(u.CandidateUsers, "candidateUsers")
	if err != nil {
		return err
	}
	t.CandidateUsers = splitList(cu)
	cg, err := str(u.CandidateGroups, "candidateGroups")
	if err != nil {
		return err
	}
	t.CandidateGroups = splitList(cg)
	for _, d := range []struct {
		e    *expression.Expression
		what string
		dst  *time.Time
	}{{u.DueDate, "dueDate", &t.Due}, {u.FollowUpDate, "followUpDate", &t.FollowUp}} {
		s, err := str(d.e, d.what)
		if err != nil || s == "" {
			if err != nil {
				return err
			}
			continue
		}
		tm, perr := timer.ParseDate(s)
		if perr != nil {
			if dur, derr := timer.ParseDuration(s); derr == nil {
				tm, perr = dur.AddTo(c.now), nil
			}
		}
		if perr != nil {
			return fmt.Errorf("%w: user task %q: %s %q is neither a date nor a duration", ErrInvalid, el.ID, d.what, s)
		}
		*d.dst = tm
	}
	if u.Priority != nil {
		v, err := u.Priority.Eval(vars)
		if err != nil {
			return c.exprError(el, "priority", err)
		}
		p, err := asInt(v)
		if err != nil {
			return fmt.Errorf("%w: user task %q: priority %v is not a number", ErrInvalid, el.ID, v)
		}
		t.Priority = p
	}
	c.tasks = append(c.tasks, t)
	if a := c.activity(x.actID); a != nil {
		a.TaskID = t.ID
	}
	c.emit(x.inst, EventTaskCreated, el, t.ID, taskJSON(t, ""))
	if t.Assignee != "" {
		c.emit(x.inst, EventTaskAssigned, el, t.ID, taskJSON(t, ""))
	}
	return nil
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// completeTask finishes a user task with variables.
func (c *core) completeTask(t *taskRow, vars map[string]Value, local bool, user string) error {
	x := c.exec(t.ExecutionID)
	if x == nil {
		return fmt.Errorf("%w: task %d has no waiting token", ErrConflict, t.ID)
	}
	if x.inst.Suspended || t.Suspended {
		return fmt.Errorf("%w: task %d", ErrSuspended, t.ID)
	}
	for _, name := range sortedKeys(vars) {
		if local {
			c.setLocal(x, name, vars[name])
		} else {
			c.setVar(x, name, vars[name])
		}
	}
	t.State = TaskCompleted
	t.EndedAt = c.now
	touch(&t.op)
	c.emit(x.inst, EventTaskCompleted, x.el, t.ID, taskJSON(t, user))
	c.push(stepComplete, x, nil)
	return nil
}

// taskJSON is taskData as JSON, written directly (keys in sorted order).
func taskJSON(t *taskRow, completedBy string) []byte {
	d := newJSONObject(48 + len(t.Name) + len(t.Assignee) + len(completedBy))
	if t.Assignee != "" {
		d.str("assignee", t.Assignee)
	}
	if completedBy != "" {
		d.str("completedBy", completedBy)
	}
	d.str("name", t.Name)
	return d.bytes()
}

func taskData(t *taskRow) map[string]any {
	d := map[string]any{"name": t.Name}
	if t.Assignee != "" {
		d["assignee"] = t.Assignee
	}
	return d
}

func (c *core) createExternalTask(x *execution, el *model.Element) {
	t := &extTaskRow{op: rowNew}
	t.ExternalTask = ExternalTask{ID: c.id(), Tenant: c.tenant, InstanceID: x.instanceID, ExecutionID: x.id,
		DefinitionID: x.inst.DefinitionID, DefinitionKey: x.inst.DefinitionKey, ElementID: el.ID, Topic: el.Topic,
		BusinessKey: x.inst.BusinessKey, Priority: el.Priority, CreatedAt: c.now, Revision: 1}
	c.extTasks = append(c.extTasks, t)
	c.noteTopic(el.Topic)
}

// runHandler runs a Go handler for a service task inside the command, like
// a delegate: its variables are set, a *BPMNError is thrown as a BPMN error,
// any other error fails the command (and, in a job, the job).
func (c *core) runHandler(x *execution, el *model.Element, h Handler) (err error) {
	st := &ServiceTask{Tenant: c.tenant, InstanceID: x.instanceID, BusinessKey: x.inst.BusinessKey,
		DefinitionKey: x.inst.DefinitionKey, ElementID: el.ID, Topic: el.Topic, vars: c.lookup(x)}
	ctx, cancel := context.WithTimeout(c.ctx, c.env.handlerTimeout())
	defer cancel()
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("handler for topic %q panicked: %v", el.Topic, r)
			}
		}()
		err = h(ctx, st)
	}()
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("handler for topic %q: %w", el.Topic, ctx.Err())
	}
	for _, o := range st.out {
		v, verr := ValueOf(o.value)
		if verr != nil {
			return fmt.Errorf("handler for topic %q: variable %q: %w", el.Topic, o.name, verr)
		}
		c.setVar(x, o.name, v)
	}
	var be *BPMNError
	if errors.As(err, &be) {
		for _, name := range sortedKeys(be.Variables) {
			v, verr := ValueOf(be.Variables[name])
			if verr != nil {
				return verr
			}
			c.setVar(x, name, v)
		}
		caught, terr := c.throwError(x, be.Code, be.Message)
		if terr != nil {
			return terr
		}
		if !caught {
			return fmt.Errorf("service task %q threw BPMN error %q and no error boundary event catches it", el.ID, be.Code)
		}
		return nil
	}
	if err != nil {
		return err
	}
	c.push(stepComplete, x, nil)
	return nil
}

// ---- sub-processes, multi-instance, call activities ----

func (c *core) startMulti(x *execution, el *model.Element) error {
	vars := c.lookup(x)
	var items []any
	n := 0
	mi := el.Multi
	switch {
	case mi.CollectionVar != "":
		v, ok := vars.Lookup(mi.CollectionVar)
		if !ok {
			return fmt.Errorf("%w: multi-instance %q: collection variable %q does not exist", ErrInvalid, el.ID, mi.CollectionVar)
		}
		list, err := asList(v)
		if err != nil {
			return fmt.Errorf("%w: multi-instance %q: collection %q: %v", ErrInvalid, el.ID, mi.CollectionVar, err)
		}
		items, n = list, len(list)
	case mi.Collection != nil:
		list, err := mi.Collection.EvalList(vars)
		if err != nil {
			return c.exprError(el, "collection", err)
		}
		items, n = list, len(list)
	default:
		v, err := mi.Cardinality.EvalInt(vars)
		if err != nil {
			return c.exprError(el, "loopCardinality", err)
		}
		if v < 0 {
			return fmt.Errorf("%w: multi-instance %q: loopCardinality %d is negative", ErrInvalid, el.ID, v)
		}
		n = v
	}
	if max := c.env.maxSteps(); max > 0 && !mi.Sequential && n > max-c.steps {
		return fmt.Errorf("%w: %w: parallel multi-instance %q would start %d instances, more than the %d element steps "+
			"a command may take; split the collection, make the multi-instance sequential, or raise Options.MaxSteps",
			ErrInvalid, ErrStepBudget, el.ID, n, max)
	}
	x.scope = true
	x.state = execWaiting
	x.mi = &miData{N: n}
	touch(&x.op)
	// The body is an activity instance of its own, as Camunda shows it.
	parentAct := int64(0)
	if p := c.parent(x); p != nil {
		parentAct = p.actID
	}
	a := &activityRow{op: rowNew}
	a.ActivityInstance = ActivityInstance{ID: c.id(), Tenant: c.tenant, InstanceID: x.instanceID, ExecutionID: x.id,
		ParentID: parentAct, DefinitionID: x.inst.DefinitionID, ElementID: el.ID + "#multiInstanceBody",
		ElementType: "multiInstanceBody", Name: el.Name, StartedAt: c.now}
	c.acts = append(c.acts, a)
	x.actID = a.ID
	c.setLocal(x, "nrOfInstances", Value{TypeInteger, int32(n)})
	c.setLocal(x, "nrOfCompletedInstances", Value{TypeInteger, int32(0)})
	if n == 0 {
		return c.multiDone(x)
	}
	if len(el.Boundaries) > 0 {
		if err := c.armBoundaries(x, el); err != nil {
			return err
		}
	}
	if mi.Sequential {
		x.mi.Items = items
		c.setLocal(x, "nrOfActiveInstances", Value{TypeInteger, int32(1)})
		return c.multiChild(x, el, 0, items)
	}
	c.setLocal(x, "nrOfActiveInstances", Value{TypeInteger, int32(n)})
	for i := 0; i < n; i++ {
		if err := c.multiChild(x, el, i, items); err != nil {
			return err
		}
	}
	return nil
}

func (c *core) multiChild(body *execution, el *model.Element, i int, items []any) error {
	ch := c.newExec(body)
	ch.flags |= flagMIChild
	c.setLocal(ch, "loopCounter", Value{TypeInteger, int32(i)})
	if el.Multi.ElementVariable != "" && i < len(items) {
		v, err := ValueOf(items[i])
		if err != nil {
			return fmt.Errorf("multi-instance %q: item %d: %w", el.ID, i, err)
		}
		c.setLocal(ch, el.Multi.ElementVariable, v)
	}
	body.mi.Next = i + 1
	c.push(stepEnter, ch, el)
	return nil
}

// multiChildDone counts a finished instance and decides whether the body is
// done.
func (c *core) multiChildDone(ch *execution) error {
	body := c.parent(ch)
	el := body.el
	mi := body.mi
	mi.Completed++
	touch(&body.op)
	c.setLocal(body, "nrOfCompletedInstances", Value{TypeInteger, int32(mi.Completed)})
	active := 0
	for _, o := range c.children(body) {
		if o != ch {
			active++
		}
	}
	c.setLocal(body, "nrOfActiveInstances", Value{TypeInteger, int32(active)})
	done := mi.Completed >= mi.N
	if !done && el.Multi.Completion != nil {
		ok, err := el.Multi.Completion.EvalBool(c.lookup(ch))
		if err != nil {
			return c.exprError(el, "completionCondition", err)
		}
		done = ok
	}
	if el.Multi.OutputCollection != "" && el.Multi.OutputElement != nil {
		if err := c.collectOutput(body, ch, el); err != nil {
			return err
		}
	}
	c.removeExec(ch)
	if done {
		for _, o := range c.children(body) {
			c.cancel(o)
			c.removeExec(o)
		}
		return c.multiDone(body)
	}
	if el.Multi.Sequential && mi.Next < mi.N {
		c.setLocal(body, "nrOfActiveInstances", Value{TypeInteger, int32(1)})
		return c.multiChild(body, el, mi.Next, mi.Items)
	}
	return nil
}

func (c *core) collectOutput(body, ch *execution, el *model.Element) error {
	v, err := el.Multi.OutputElement.Eval(c.lookup(ch))
	if err != nil {
		return c.exprError(el, "outputElement", err)
	}
	cur := c.variable(body.instanceID, el.Multi.OutputCollection)
	var list []any
	if cur != nil {
		list, _ = cur.val.V.([]any)
	}
	list = append(append([]any(nil), list...), v)
	val, err := ValueOf(list)
	if err != nil {
		return err
	}
	c.setVar(body, el.Multi.OutputCollection, val)
	return nil
}

// multiDone completes a multi-instance body and leaves the activity.
func (c *core) multiDone(body *execution) error {
	c.disarm(body)
	c.endActivity(body, false)
	for _, name := range []string{"nrOfInstances", "nrOfCompletedInstances", "nrOfActiveInstances"} {
		if v := c.variable(body.id, name); v != nil {
			drop(&v.op)
		}
	}
	body.scope, body.mi = false, nil
	body.state = execActive
	touch(&body.op)
	return c.leave(body)
}

func asList(v any) ([]any, error) {
	switch l := v.(type) {
	case []any:
		return l, nil
	case nil:
		return nil, errors.New("is null")
	}
	return nil, fmt.Errorf("is a %T, not a list", v)
}

func (c *core) callActivity(x *execution, el *model.Element) error {
	vars := c.lookup(x)
	key, err := el.Call.Key.EvalString(vars)
	if err != nil {
		return c.exprError(el, "calledElement", err)
	}
	def, err := c.env.latestDefinition(c.ctx, key)
	if err != nil {
		return fmt.Errorf("call activity %q: %w", el.ID, err)
	}
	in := map[string]Value{}
	for _, m := range el.Call.In {
		if err := c.mapInto(in, x, m, el); err != nil {
			return err
		}
	}
	bk := ""
	if el.Call.BusinessKey != nil {
		if bk, err = el.Call.BusinessKey.EvalString(vars); err != nil {
			return c.exprError(el, "businessKey", err)
		}
	}
	x.state = execWaiting
	child, err := c.startInstance(def, bk, in, nil, "", x)
	if err != nil {
		return fmt.Errorf("call activity %q: %w", el.ID, err)
	}
	if a := c.activity(x.actID); a != nil {
		a.CalledInstanceID = child.ID
	}
	return nil
}

// mapInto evaluates one variable mapping in x's scope into dst.
func (c *core) mapInto(dst map[string]Value, x *execution, m *model.Mapping, el *model.Element) error {
	if m.All {
		for name, v := range c.visibleVars(x) {
			dst[name] = v
		}
		return nil
	}
	if m.SourceExpr != nil {
		v, err := m.SourceExpr.Eval(c.lookup(x))
		if err != nil {
			return c.exprError(el, "sourceExpression", err)
		}
		val, err := ValueOf(v)
		if err != nil {
			return err
		}
		dst[m.Target] = val
		return nil
	}
	if v, ok := c.findVar(x, m.Source); ok {
		dst[m.Target] = v.val
	} else {
		dst[m.Target] = Null
	}
	return nil
}

// calledDone continues the calling activity of a finished instance.
func (c *core) calledDone(child *instance) error {
	parent, err := c.instanceByID(child.SuperInstanceID)
	if err != nil {
		return err
	}
	px := c.exec(child.superExec)
	if px == nil || parent.State != InstanceActive {
		return nil // the caller was cancelled meanwhile
	}
	out := map[string]Value{}
	for _, m := range px.el.Call.Out {
		if err := c.mapInto(out, child.root, m, px.el); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(out) {
		c.setVar(px, name, out[name])
	}
	parent.touched = true
	c.push(stepComplete, px, nil)
	return nil
}

// ---- jobs and subscriptions ----

func (c *core) newJob(kind JobKind, x *execution, el *model.Element, due time.Time, data jobData) *jobRow {
	retries := el.Retries
	if retries == 0 {
		retries = c.env.defaultRetries()
	}
	j := &jobRow{op: rowNew, data: data, createdAt: c.nowMS}
	j.Job = Job{ID: c.id(), Tenant: c.tenant, Kind: kind, ElementID: el.ID, DueAt: due, Priority: el.Priority, Retries: retries, Revision: 1}
	if x != nil {
		j.InstanceID, j.executionID = x.instanceID, x.id
		j.definitionID, j.defKey = x.inst.DefinitionID, x.inst.DefinitionKey
	}
	c.jobs = append(c.jobs, j)
	c.noteJob(due)
	return j
}

func (c *core) subscribe(x *execution, el *model.Element, name string) {
	c.subs = append(c.subs, &subRow{id: c.id(), kind: "message", name: name, instanceID: x.instanceID, executionID: x.id,
		definitionID: x.inst.DefinitionID, defKey: x.inst.DefinitionKey, elementID: el.ID, createdAt: c.nowMS, op: rowNew})
}

// ---- variables ----

// lookup returns the variables visible from x, for expressions.
func (c *core) lookup(x *execution) expression.Variables { return varScope{c, x} }

// lookupOrEmpty is lookup for contexts without a token (timer starts).
func (c *core) lookupOrEmpty(x *execution) expression.Variables {
	if x == nil {
		return expression.Map{}
	}
	return c.lookup(x)
}

type varScope struct {
	c *core
	x *execution
}

// Lookup walks from the token up through its scopes to the instance.
func (s varScope) Lookup(name string) (any, bool) {
	v, ok := s.c.findVar(s.x, name)
	if !ok {
		return nil, false
	}
	return v.val.exprValue(), true
}

func (c *core) findVar(x *execution, name string) (*variableRow, bool) {
	for e := x; e != nil; e = c.parent(e) {
		if v := c.variable(e.id, name); v != nil {
			return v, true
		}
		if e.id == e.instanceID {
			break
		}
	}
	return nil, false
}

// visibleVars returns every variable visible from x, inner scopes winning.
func (c *core) visibleVars(x *execution) map[string]Value {
	out := map[string]Value{}
	var chain []int64
	for e := x; e != nil; e = c.parent(e) {
		chain = append(chain, e.id)
		if e.id == e.instanceID {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, v := range c.vars {
			if v.scopeID == chain[i] && alive(v.op) {
				out[v.name] = v.val
			}
		}
	}
	return out
}

// setVar sets a variable where it already lives in x's scope chain, or on
// the instance when it is new (Camunda's setVariable).
func (c *core) setVar(x *execution, name string, val Value) {
	if v, ok := c.findVar(x, name); ok {
		c.writeVar(v, val, x)
		return
	}
	c.setLocal(x.inst.root, name, val)
}

// setLocal sets a variable on scope x itself.
func (c *core) setLocal(x *execution, name string, val Value) {
	if v := c.variable(x.id, name); v != nil {
		c.writeVar(v, val, x)
		return
	}
	v := c.slabs.vars.new()
	*v = variableRow{scopeID: x.id, instanceID: x.instanceID, name: name, val: val, rev: 1, op: rowNew}
	c.vars = appendRow(c.vars, v)
	c.recordVar(v, x)
}

func (c *core) writeVar(v *variableRow, val Value, x *execution) {
	if v.val.Equal(val) {
		return
	}
	v.val = val
	v.rev++
	touch(&v.op)
	c.recordVar(v, x)
}

// recordVar appends history and an event for a variable write.
func (c *core) recordVar(v *variableRow, x *execution) {
	if strings.HasPrefix(v.name, "nrOf") || v.name == "loopCounter" {
		return // the engine's own bookkeeping
	}
	el := ""
	if x.el != nil {
		el = x.el.ID
	}
	vu := c.slabs.varUpdates.new()
	*vu = VariableUpdate{ID: c.id(), InstanceID: v.instanceID, ScopeID: v.scopeID,
		Name: v.name, Value: v.val, Revision: v.rev, ElementID: el, At: c.now}
	c.varUpdates = appendRow(c.varUpdates, vu)
	// Keys in sorted order: the same bytes as json.Marshal of the map.
	d := newJSONObject(64 + len(v.name))
	d.str("name", v.name)
	d.intString("scopeId", v.scopeID)
	d.str("type", string(v.val.Type))
	d.value("value", v.val.V)
	c.emit(x.inst, EventVariableUpdated, x.el, 0, d.bytes())
}

// applyParams evaluates camunda:inputOutput parameters: inputs become local
// variables of x, outputs are set in its scope chain.
func (c *core) applyParams(x *execution, ps []*model.Param, input bool) error {
	for _, p := range ps {
		val := Null
		if p.Value != nil {
			v, err := p.Value.Eval(c.lookup(x))
			if err != nil {
				return c.exprError(x.el, "parameter "+p.Name, err)
			}
			if val, err = ValueOf(v); err != nil {
				return err
			}
		}
		if input {
			c.setLocal(x, p.Name, val)
		} else {
			c.setVar(c.parentOrRoot(x), p.Name, val)
		}
	}
	return nil
}

func (c *core) parentOrRoot(x *execution) *execution {
	if p := c.parent(x); p != nil {
		return p
	}
	return x
}

// ---- events ----

// event appends an analytics event in the same unit as the change.
func (c *core) event(inst *instance, t EventType, el *model.Element, taskID int64, data map[string]any) {
	var b []byte
	if data != nil {
		b, _ = json.Marshal(data)
	}
	c.emit(inst, t, el, taskID, b)
}

// emit appends an event whose data is already JSON (or nil).
func (c *core) emit(inst *instance, t EventType, el *model.Element, taskID int64, data []byte) {
	ev := c.slabs.events.new()
	*ev = Event{ID: c.id(), Tenant: c.tenant, Type: t, Time: c.now, InstanceID: inst.ID, BusinessKey: inst.BusinessKey,
		DefinitionID: inst.DefinitionID, DefinitionKey: inst.DefinitionKey, TaskID: taskID, Data: data}
	if el != nil {
		ev.ElementID, ev.ElementType = el.ID, el.Type
	}
	c.events = appendRow(c.events, ev)
}

// exprError wraps an expression failure with the element it belongs to.
func (c *core) exprError(el *model.Element, what string, err error) error {
	id := ""
	if el != nil {
		id = el.ID
	}
	return fmt.Errorf("%w: element %q: %s: %v", ErrInvalid, id, what, err)
}
