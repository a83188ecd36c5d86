package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/engine/expression"
	"github.com/tenantflow/tenantflow/engine/model"
	"github.com/tenantflow/tenantflow/engine/timer"
)

// Env is what the core needs from the engine besides the unit of work:
// definitions it already holds, Go handlers, limits. It does no storage
// I/O for the core: a definition it does not hold is a *NeedError, and the
// engine reads it and runs the command again. Pure tests give it an
// in-memory one.
type Env interface {
	// HasHandler reports whether a Go handler serves topic; a service
	// task of a topic without one becomes an external task.
	HasHandler(topic string) bool
	// RunCalls runs the handler calls the command reached, with no
	// transaction open (concurrently, when there are several): it sets
	// each call's Err, and the values the handler Set stay on its Task.
	RunCalls(calls []*Call)
	// LatestDefinition returns the latest version of a process key;
	// DefinitionByID one version.
	LatestDefinition(key string) (*Deployed, error)
	DefinitionByID(id int64) (*Deployed, error)
	DefaultRetries() int
	MaxSteps() int
}

// Call is a Go handler call a command reached. The core hands the calls
// to Env.RunCalls once every other token of the command is at rest, and
// carries on with their results.
type Call struct {
	// Topic names the handler.
	Topic string
	// Task is what the handler sees, and records what it sets.
	Task *ServiceTask
	// Err is the handler's result: nil, a *BPMNError to throw, or a
	// failure that fails the command.
	Err error

	x  *Execution
	el *model.Element
}

// NeedError says that a command needs rows its unit does not hold: an
// instance (a called instance to cancel), or a definition the engine has
// not read yet. The engine reads them and runs the command again.
type NeedError struct {
	Instances     []int64
	DefinitionIDs []int64
	LatestKeys    []string
}

// Error names what the command needs loaded before it can run again.
func (e *NeedError) Error() string {
	return fmt.Sprintf("the command needs instances %v, definitions %v and the latest versions of %v", e.Instances, e.DefinitionIDs, e.LatestKeys)
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
	x    *Execution
	el   *model.Element
}

// Executor executes BPMN. It decides what changes — tokens move, tasks, jobs
// and subscriptions appear and go, history and events are appended — by
// changing the rows of a unit of work; it never talks to storage. Every
// command runs to quiescence: all tokens wait or end before it returns.
type Executor struct {
	*Unit
	env    Env
	queue  []step
	head   int          // next step of queue to run
	calls  []*Call      // handler calls waiting for the queue to drain
	settle []*Execution // scopes whose inclusive joins must be re-checked

	// steps counts the steps run, against the step budget; past half the
	// budget, visits counts the elements entered, so that a command that
	// runs out of budget can name the element it looped through.
	steps  int
	visits map[*model.Element]int
}

func (c *Executor) push(k stepKind, x *Execution, el *model.Element) {
	c.queue = append(c.queue, step{k, x, el})
}

// Run drains the queue, re-checking inclusive joins when it runs dry. It
// stops at the first error, and when the command ran out of its step or
// row budget.
func (c *Executor) Run() error {
	for {
		for c.head < len(c.queue) {
			if c.Err != nil {
				return c.Err
			}
			s := c.queue[c.head]
			c.head++
			if c.head == len(c.queue) {
				c.queue, c.head = c.queue[:0], 0
			}
			if !Alive(s.x.Op) {
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
		if c.Err != nil {
			return c.Err
		}
		if len(c.settle) == 0 {
			if len(c.calls) == 0 {
				return nil
			}
			if err := c.runCalls(); err != nil {
				return err
			}
			continue
		}
		scopes := c.settle
		c.settle = nil
		for _, s := range scopes {
			if err := c.settleJoins(s); err != nil {
				return err
			}
		}
	}
}

// count charges a step to the command's step budget.
// NewExecutor returns an executor that decides on unit u.
func NewExecutor(u *Unit, env Env) *Executor {
	return &Executor{Unit: u, env: env}
}

func (c *Executor) count(s step) error {
	c.steps++
	max := c.env.MaxSteps()
	if max <= 0 {
		return nil
	}
	el := s.el
	if el == nil {
		el = s.x.El
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

// StartInstance creates an instance of def and starts it at start (the
// none start event when nil).
func (c *Executor) StartInstance(def *Deployed, businessKey string, vars map[string]Value, start *model.Element, user string, super *Execution) (*Instance, error) {
	if def.Suspended {
		return nil, fmt.Errorf("%w: process definition %s:%d is suspended", ErrSuspended, def.Key, def.Version)
	}
	if start == nil {
		start = def.Model.Root.Start
		if start == nil {
			return nil, Invalidf("process %q has no none start event: it starts only by timer or message", def.Key)
		}
	}
	id := c.NewRowID()
	inst := &Instance{Def: def, Op: RowNew, Touched: true}
	inst.ProcessInstance = ProcessInstance{ID: id, Tenant: c.Tenant, DefinitionID: def.ID, DefinitionKey: def.Key,
		BusinessKey: businessKey, State: InstanceActive, StartActivityID: start.ID, StartUserID: user, StartedAt: c.Now}
	if super != nil {
		inst.SuperInstanceID = super.InstanceID
		inst.SuperExec = super.ID
	}
	root := &Execution{ID: id, InstanceID: id, State: ExecActive, Scope: true, CreatedAt: c.NowMS, Op: RowNew, Inst: inst}
	inst.Root = root
	c.Instances = append(c.Instances, inst)
	c.Execs = append(c.Execs, root)
	c.Event(inst, EventProcessStarted, nil, 0, nil)
	if start.Event != nil && start.Event.Initiator != "" && user != "" {
		c.SetLocal(root, start.Event.Initiator, Value{TypeString, user})
	}
	for _, name := range SortedKeys(vars) {
		c.SetLocal(root, name, vars[name])
	}
	x := c.newExec(root)
	c.push(stepEnter, x, start)
	return inst, nil
}

// completeInstance ends an instance whose last token ended.
func (c *Executor) completeInstance(inst *Instance) error {
	inst.State = InstanceCompleted
	inst.EndedAt = c.Now
	inst.Touched = true
	Touch(&inst.Op)
	Drop(&inst.Root.Op)
	c.Event(inst, EventProcessCompleted, nil, 0, nil)
	if inst.SuperExec != 0 {
		return c.calledDone(inst)
	}
	return nil
}

// ---- executions ----

func (c *Executor) newExec(parent *Execution) *Execution {
	x := c.slabs.execs.new()
	*x = Execution{ID: c.NewRowID(), InstanceID: parent.InstanceID, ParentID: parent.ID, State: ExecActive,
		CreatedAt: c.NowMS, Op: RowNew, Inst: parent.Inst}
	c.Execs = appendRow(c.Execs, x)
	return x
}

func (c *Executor) parent(x *Execution) *Execution {
	if x.ParentID == 0 {
		return nil
	}
	return c.Exec(x.ParentID)
}

// removeExec deletes a token and its local variables.
func (c *Executor) removeExec(x *Execution) {
	Drop(&x.Op)
	for _, v := range c.Vars {
		if v.ScopeID == x.ID && Alive(v.Op) && x.ID != x.InstanceID {
			Drop(&v.Op)
		}
	}
}

// ---- entering elements ----

func (c *Executor) enter(x *Execution, el *model.Element) error {
	x.El = el
	x.State = ExecActive
	Touch(&x.Op)
	if el.Scope.InclusiveJoins {
		// A token that moved may no longer reach a join that waits for
		// it: re-check the scope's joins once the command is at rest.
		if p := c.parent(x); p != nil {
			c.settleLater(p)
		}
	}
	if el.Multi != nil && !x.Has(FlagMIChild) {
		return c.startMulti(x, el)
	}
	if el.AsyncBefore && !x.Has(FlagAsyncDone) {
		c.NewJob(JobAsyncBefore, x, el, c.Now, JobData{})
		x.State = ExecAsync
		return nil
	}
	x.Flags &^= FlagAsyncDone | FlagAsyncAfterDone
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
		x.State = ExecWaiting
	case model.UserTask:
		if err := c.createTask(x, el); err != nil {
			return err
		}
		x.State = ExecWaiting
	case model.ServiceTask:
		if c.env.HasHandler(el.Topic) {
			c.calls = append(c.calls, &Call{Topic: el.Topic, x: x, el: el,
				Task: &ServiceTask{Tenant: c.Tenant, InstanceID: x.InstanceID, BusinessKey: x.Inst.BusinessKey,
					DefinitionKey: x.Inst.DefinitionKey, ElementID: el.ID, Topic: el.Topic, vars: c.lookup(x)}})
			return nil
		}
		c.createExternalTask(x, el)
		x.State = ExecWaiting
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
		x.State = ExecWaiting
	case model.SubProcess:
		x.Scope = true
		x.State = ExecWaiting
		child := c.newExec(x)
		c.push(stepEnter, child, el.Sub.Start)
	case model.CallActivity:
		if err := c.callActivity(x, el); err != nil {
			return err
		}
	default:
		return fmt.Errorf("element %q of kind %d cannot run", el.ID, el.Kind)
	}
	if x.State == ExecWaiting && len(el.Boundaries) > 0 && !x.Has(FlagMIChild) && Alive(x.Op) {
		return c.armBoundaries(x, el)
	}
	return nil
}

// startActivity opens an activity instance for x at el.
func (c *Executor) startActivity(x *Execution, el *model.Element) {
	parentAct := int64(0)
	if p := c.parent(x); p != nil {
		parentAct = p.ActID
	}
	a := c.slabs.acts.new()
	a.Op = RowNew
	a.ActivityInstance = ActivityInstance{ID: c.NewRowID(), Tenant: c.Tenant, InstanceID: x.InstanceID, ExecutionID: x.ID,
		ParentID: parentAct, DefinitionID: x.Inst.DefinitionID, ElementID: el.ID, ElementType: el.Type, Name: el.Name, StartedAt: c.Now}
	c.Acts = appendRow(c.Acts, a)
	x.ActID = a.ID
	c.Event(x.Inst, EventActivityStarted, el, 0, nil)
}

// endActivity closes x's activity instance.
func (c *Executor) endActivity(x *Execution, canceled bool) {
	a := c.Activity(x.ActID)
	if a == nil || !a.EndedAt.IsZero() {
		return
	}
	a.EndedAt = c.Now
	a.Canceled = canceled
	Touch(&a.Op)
	el := x.Inst.Def.Model.Element(a.ElementID)
	if canceled {
		c.Event(x.Inst, EventActivityCanceled, el, 0, nil)
	} else {
		c.Event(x.Inst, EventActivityCompleted, el, 0, nil)
	}
}

// ---- leaving elements ----

// complete finishes x's activity normally and moves on.
func (c *Executor) complete(x *Execution) error {
	el := x.El
	c.disarm(x)
	if err := c.applyParams(x, el.Outputs, false); err != nil {
		return err
	}
	c.endActivity(x, false)
	if el.Kind == model.EndEvent {
		return nil
	}
	if x.Has(FlagMIChild) {
		return c.multiChildDone(x)
	}
	if el.AsyncAfter && !x.Has(FlagAsyncAfterDone) {
		c.NewJob(JobAsyncAfter, x, el, c.Now, JobData{})
		x.State = ExecAsync
		return nil
	}
	return c.leave(x)
}

// leave takes every outgoing flow whose condition holds (the default flow if
// none does) from a non-gateway element; no outgoing flow ends the token.
func (c *Executor) leave(x *Execution) error {
	el := x.El
	x.Flags &^= FlagAsyncAfterDone
	if len(el.Outgoing) == 0 {
		return c.endToken(x)
	}
	if el.Default == nil && unconditional(el.Outgoing) {
		c.follow(x, el.Outgoing)
		return nil
	}
	taken, err := c.chosen(x, el, "element")
	if err != nil {
		return err
	}
	c.follow(x, taken)
	return nil
}

// chosen returns el's outgoing flows whose conditions hold, or its default
// flow when none does; what names the kind of el in the error when there
// is neither.
func (c *Executor) chosen(x *Execution, el *model.Element, what string) ([]*model.Flow, error) {
	taken := make([]*model.Flow, 0, len(el.Outgoing))
	for _, f := range el.Outgoing {
		if f == el.Default {
			continue
		}
		ok, err := c.condition(x, f)
		if err != nil {
			return nil, err
		}
		if ok {
			taken = append(taken, f)
		}
	}
	if len(taken) == 0 {
		if el.Default == nil {
			return nil, fmt.Errorf("%w: %s %q: no outgoing sequence flow has a true condition and there is no default flow", ErrInvalid, what, el.ID)
		}
		taken = append(taken, el.Default)
	}
	return taken, nil
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
func (c *Executor) follow(x *Execution, flows []*model.Flow) {
	parent := c.parent(x)
	for i, f := range flows {
		t := x
		if i > 0 {
			t = c.newExec(parent)
			t.Flags = x.Flags & FlagMIChild
		}
		c.push(stepEnter, t, f.Target)
	}
}

func (c *Executor) condition(x *Execution, f *model.Flow) (bool, error) {
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
func (c *Executor) endToken(x *Execution) error {
	scope := c.parent(x)
	if x.El != nil && x.El.Kind == model.EndEvent && scope != nil && scope.ID == x.InstanceID {
		x.Inst.EndActivityID = x.El.ID
	}
	c.removeExec(x)
	if scope == nil {
		return nil
	}
	return c.scopeMaybeDone(scope)
}

// scopeMaybeDone completes a scope with no tokens left.
func (c *Executor) scopeMaybeDone(s *Execution) error {
	if c.HasChildren(s) {
		c.settleLater(s)
		return nil
	}
	switch {
	case s.ID == s.InstanceID:
		return c.completeInstance(s.Inst)
	case s.MI != nil:
		return nil // multi-instance bodies count their children themselves
	case s.El != nil && s.El.Kind == model.SubProcess:
		s.Scope = false
		c.push(stepComplete, s, nil)
	}
	return nil
}

func (c *Executor) settleLater(s *Execution) {
	for _, o := range c.settle {
		if o == s {
			return
		}
	}
	c.settle = append(c.settle, s)
}

// ---- gateways ----

func (c *Executor) exclusive(x *Execution, el *model.Element) error {
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
func (c *Executor) fork(x *Execution, el *model.Element) error {
	if el.Kind == model.ParallelGateway {
		c.follow(x, el.Outgoing)
		return nil
	}
	taken, err := c.chosen(x, el, "inclusive gateway")
	if err != nil {
		return err
	}
	c.follow(x, taken)
	return nil
}

// join parks x at a joining gateway and fires it when it can.
func (c *Executor) join(x *Execution, el *model.Element) error {
	x.State = ExecJoining
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

func (c *Executor) joiningAt(scope *Execution, el *model.Element) []*Execution {
	var out []*Execution
	for _, t := range c.Children(scope) {
		if t.El == el && t.State == ExecJoining {
			out = append(out, t)
		}
	}
	return out
}

// settleJoins fires the inclusive joins of a scope that no other token can
// still reach.
func (c *Executor) settleJoins(scope *Execution) error {
	if !Alive(scope.Op) {
		return nil
	}
	kids := c.Children(scope)
	for _, t := range kids {
		if t.State != ExecJoining || t.El.Kind != model.InclusiveGateway || !Alive(t.Op) {
			continue
		}
		g := t.El
		blocked := false
		for _, o := range kids {
			if !Alive(o.Op) || o.El == g && o.State == ExecJoining {
				continue
			}
			if o.El == nil || o.El == g || g.Scope.Reachable(o.El, g) {
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
func (c *Executor) fireJoin(arrived []*Execution, el *model.Element) error {
	x := arrived[0]
	for _, o := range arrived[1:] {
		c.removeExec(o)
	}
	x.State = ExecActive
	c.startActivity(x, el)
	c.endActivity(x, false)
	return c.fork(x, el)
}

// ---- end events and errors ----

func (c *Executor) endEvent(x *Execution, el *model.Element) error {
	c.endActivity(x, false)
	switch el.Event.Kind {
	case model.EventTerminate:
		scope := c.parent(x)
		if scope.ID == scope.InstanceID {
			x.Inst.EndActivityID = el.ID
		}
		for _, o := range c.Children(scope) {
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
func (c *Executor) throwError(from *Execution, code, message string) (bool, error) {
	x := from
	for x != nil {
		if x.El != nil && x.El.Kind.IsActivity() && !x.Has(FlagMIChild) {
			for _, b := range x.El.Boundaries {
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
		if x.ID == x.InstanceID {
			if x.Inst.SuperExec == 0 {
				return false, nil
			}
			parent, err := c.InstanceByID(x.Inst.SuperInstanceID)
			if err != nil {
				return false, err
			}
			x = c.Exec(x.Inst.SuperExec)
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
func (c *Executor) cancel(x *Execution) {
	for _, ch := range c.Children(x) {
		c.cancel(ch)
		c.removeExec(ch)
	}
	if t := c.TaskOf(x); t != nil {
		t.State = TaskDeleted
		t.DeleteReason = "canceled"
		t.EndedAt = c.Now
		Touch(&t.Op)
	}
	if t := c.ExtTaskOf(x); t != nil {
		Drop(&t.Op)
	}
	for _, j := range c.Jobs {
		if j.ExecutionID == x.ID && Alive(j.Op) {
			Drop(&j.Op)
		}
	}
	for _, s := range c.Subs {
		if s.ExecutionID == x.ID && Alive(s.Op) {
			Drop(&s.Op)
		}
	}
	for _, i := range c.Incidents {
		if i.ExecutionID == x.ID && i.State == "open" {
			i.State = "deleted"
			i.EndedAt = c.Now
			Touch(&i.Op)
		}
	}
	if a := c.Activity(x.ActID); a != nil && a.CalledInstanceID != 0 && a.EndedAt.IsZero() {
		child, err := c.InstanceByID(a.CalledInstanceID)
		if err != nil {
			c.fail(err)
		} else if child.State == InstanceActive {
			c.TerminateInstance(child, "canceled by the calling activity")
		}
	}
	if x.El != nil && x.State != ExecJoining {
		c.endActivity(x, true)
	}
	x.Flags &^= FlagArmed
	x.Scope, x.MI = false, nil
}

// TerminateInstance cancels a whole instance.
func (c *Executor) TerminateInstance(inst *Instance, reason string) {
	c.cancel(inst.Root)
	inst.State = InstanceTerminated
	inst.DeleteReason = reason
	inst.EndedAt = c.Now
	inst.Touched = true
	Touch(&inst.Op)
	Drop(&inst.Root.Op)
	c.Event(inst, EventProcessTerminated, nil, 0, nil)
}

// ---- boundary events ----

// armBoundaries creates the timers and subscriptions of x's boundary events.
func (c *Executor) armBoundaries(x *Execution, el *model.Element) error {
	for _, b := range el.Boundaries {
		if b.Event.Kind == model.EventError {
			continue
		}
		if err := c.armEvent(x, b, b); err != nil {
			return err
		}
	}
	x.Flags |= FlagArmed
	return nil
}

// armEvent makes x wait for event element ev (a catch event, receive task or
// boundary event): a timer job or a message subscription, owned by x.
func (c *Executor) armEvent(x *Execution, ev *model.Element, _ *model.Element) error {
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
			c.NewJob(JobTimer, x, ev, due, data)
		}
	case model.EventMessage:
		c.subscribe(x, ev, ev.Event.Message)
	}
	return nil
}

// disarm removes the timers and subscriptions x holds (its boundary events,
// or an event-based gateway's targets).
func (c *Executor) disarm(x *Execution) {
	for _, j := range c.Jobs {
		if j.ExecutionID == x.ID && Alive(j.Op) && j.Kind == JobTimer {
			Drop(&j.Op)
		}
	}
	for _, s := range c.Subs {
		if s.ExecutionID == x.ID && Alive(s.Op) {
			Drop(&s.Op)
		}
	}
	x.Flags &^= FlagArmed
}

// trigger reacts to a timer or message aimed at event element ev, owned by
// x: a boundary event fires, an event-based gateway chooses, a catch event
// or receive task completes.
func (c *Executor) trigger(x *Execution, ev *model.Element, vars map[string]Value) error {
	if x.Inst.Suspended {
		return fmt.Errorf("%w: process instance %d is suspended", ErrSuspended, x.InstanceID)
	}
	for _, name := range SortedKeys(vars) {
		c.setVar(x, name, vars[name])
	}
	switch {
	case ev.Kind == model.BoundaryEvent:
		return c.fireBoundary(x, ev, nil)
	case x.El != nil && x.El.Kind == model.EventBasedGateway:
		c.disarm(x)
		c.endActivity(x, false)
		x.El = ev
		c.startActivity(x, ev)
		c.push(stepComplete, x, nil)
		return nil
	default:
		if x.El != ev {
			return fmt.Errorf("%w: execution %d is not waiting at %q", ErrConflict, x.ID, ev.ID)
		}
		c.push(stepComplete, x, nil)
		return nil
	}
}

// fireBoundary runs boundary event b attached to x's activity.
func (c *Executor) fireBoundary(x *Execution, b *model.Element, vars map[string]Value) error {
	if b.Interrupting {
		c.cancel(x)
		c.disarm(x)
		x.El = b
		x.State = ExecActive
		Touch(&x.Op)
		for _, name := range SortedKeys(vars) {
			c.setVar(x, name, vars[name])
		}
		c.startActivity(x, b)
		c.push(stepComplete, x, nil)
		return nil
	}
	y := c.newExec(c.parent(x))
	y.El = b
	c.startActivity(y, b)
	c.push(stepComplete, y, nil)
	return nil
}

// ---- timers ----

// timerSchedule resolves a timer definition, evaluating expressions.
func (c *Executor) timerSchedule(x *Execution, ev *model.Element, data *JobData) (timer.Schedule, error) {
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

func (c *Executor) firstFire(x *Execution, ev *model.Element) (time.Time, JobData, bool, error) {
	var data JobData
	sched, err := c.timerSchedule(x, ev, &data)
	if err != nil {
		return time.Time{}, data, false, err
	}
	due, ok := sched.First(c.Now)
	return due, data, ok, nil
}

// ---- tasks ----

func (c *Executor) createTask(x *Execution, el *model.Element) error {
	u := el.User
	vars := c.lookup(x)
	t := &TaskRow{Op: RowNew}
	t.Task = Task{ID: c.NewRowID(), Tenant: c.Tenant, InstanceID: x.InstanceID, ExecutionID: x.ID,
		DefinitionID: x.Inst.DefinitionID, DefinitionKey: x.Inst.DefinitionKey, ElementID: el.ID, Name: el.Name,
		Priority: 50, State: TaskCreated, CreatedAt: c.Now, Revision: 1}
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
				tm, perr = dur.AddTo(c.Now), nil
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
	c.Tasks = append(c.Tasks, t)
	if a := c.Activity(x.ActID); a != nil {
		a.TaskID = t.ID
	}
	c.emit(x.Inst, EventTaskCreated, el, t.ID, taskJSON(t, ""))
	if t.Assignee != "" {
		c.emit(x.Inst, EventTaskAssigned, el, t.ID, taskJSON(t, ""))
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

// CompleteTask finishes a user task with variables.
func (c *Executor) CompleteTask(t *TaskRow, vars map[string]Value, local bool, user string) error {
	x := c.Exec(t.ExecutionID)
	if x == nil {
		return fmt.Errorf("%w: task %d has no waiting token", ErrConflict, t.ID)
	}
	if x.Inst.Suspended || t.Suspended {
		return fmt.Errorf("%w: task %d", ErrSuspended, t.ID)
	}
	for _, name := range SortedKeys(vars) {
		if local {
			c.SetLocal(x, name, vars[name])
		} else {
			c.setVar(x, name, vars[name])
		}
	}
	t.State = TaskCompleted
	t.EndedAt = c.Now
	Touch(&t.Op)
	c.emit(x.Inst, EventTaskCompleted, x.El, t.ID, taskJSON(t, user))
	c.push(stepComplete, x, nil)
	return nil
}

// taskJSON is taskData as JSON, written directly (keys in sorted order).
func taskJSON(t *TaskRow, completedBy string) []byte {
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

func taskData(t *TaskRow) map[string]any {
	d := map[string]any{"name": t.Name}
	if t.Assignee != "" {
		d["assignee"] = t.Assignee
	}
	return d
}

func (c *Executor) createExternalTask(x *Execution, el *model.Element) {
	t := &ExtTaskRow{Op: RowNew}
	t.ExternalTask = ExternalTask{ID: c.NewRowID(), Tenant: c.Tenant, InstanceID: x.InstanceID, ExecutionID: x.ID,
		DefinitionID: x.Inst.DefinitionID, DefinitionKey: x.Inst.DefinitionKey, ElementID: el.ID, Topic: el.Topic,
		BusinessKey: x.Inst.BusinessKey, Priority: el.Priority, CreatedAt: c.Now, Revision: 1}
	c.ExtTasks = append(c.ExtTasks, t)
	c.NoteTopic(el.Topic)
}

// runCalls hands the waiting handler calls to the environment and carries
// on with their results, in the order the calls were reached.
func (c *Executor) runCalls() error {
	calls := c.calls
	c.calls = nil
	live := calls[:0]
	for _, call := range calls {
		// A token cancelled while its call waited needs no handler.
		if Alive(call.x.Op) && call.x.El == call.el {
			live = append(live, call)
		}
	}
	if len(live) == 0 {
		return nil
	}
	c.env.RunCalls(live)
	for _, call := range live {
		if err := c.finishCall(call); err != nil {
			return err
		}
	}
	return nil
}

// finishCall takes a handler's result, like a delegate's: the variables it
// set are set, a *BPMNError is thrown as a BPMN error, any other error
// fails the command (and, in a job, the job).
func (c *Executor) finishCall(call *Call) error {
	x, el, err := call.x, call.el, call.Err
	for _, o := range call.Task.out {
		v, verr := ValueOf(o.value)
		if verr != nil {
			return fmt.Errorf("handler for topic %q: variable %q: %w", el.Topic, o.name, verr)
		}
		c.setVar(x, o.name, v)
	}
	var be *BPMNError
	if errors.As(err, &be) {
		for _, name := range SortedKeys(be.Variables) {
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

func (c *Executor) startMulti(x *Execution, el *model.Element) error {
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
	if max := c.env.MaxSteps(); max > 0 && !mi.Sequential && n > max-c.steps {
		return fmt.Errorf("%w: %w: parallel multi-instance %q would start %d instances, more than the %d element steps "+
			"a command may take; split the collection, make the multi-instance sequential, or raise Options.MaxSteps",
			ErrInvalid, ErrStepBudget, el.ID, n, max)
	}
	x.Scope = true
	x.State = ExecWaiting
	x.MI = &MIData{N: n}
	Touch(&x.Op)
	// The body is an activity instance of its own, as Camunda shows it.
	parentAct := int64(0)
	if p := c.parent(x); p != nil {
		parentAct = p.ActID
	}
	a := &ActivityRow{Op: RowNew}
	a.ActivityInstance = ActivityInstance{ID: c.NewRowID(), Tenant: c.Tenant, InstanceID: x.InstanceID, ExecutionID: x.ID,
		ParentID: parentAct, DefinitionID: x.Inst.DefinitionID, ElementID: el.ID + "#multiInstanceBody",
		ElementType: "multiInstanceBody", Name: el.Name, StartedAt: c.Now}
	c.Acts = append(c.Acts, a)
	x.ActID = a.ID
	c.SetLocal(x, "nrOfInstances", Value{TypeInteger, int32(n)})
	c.SetLocal(x, "nrOfCompletedInstances", Value{TypeInteger, int32(0)})
	if n == 0 {
		return c.multiDone(x)
	}
	if len(el.Boundaries) > 0 {
		if err := c.armBoundaries(x, el); err != nil {
			return err
		}
	}
	if mi.Sequential {
		x.MI.Items = items
		c.SetLocal(x, "nrOfActiveInstances", Value{TypeInteger, int32(1)})
		return c.multiChild(x, el, 0, items)
	}
	c.SetLocal(x, "nrOfActiveInstances", Value{TypeInteger, int32(n)})
	for i := 0; i < n; i++ {
		if err := c.multiChild(x, el, i, items); err != nil {
			return err
		}
	}
	return nil
}

func (c *Executor) multiChild(body *Execution, el *model.Element, i int, items []any) error {
	ch := c.newExec(body)
	ch.Flags |= FlagMIChild
	c.SetLocal(ch, "loopCounter", Value{TypeInteger, int32(i)})
	if el.Multi.ElementVariable != "" && i < len(items) {
		v, err := ValueOf(items[i])
		if err != nil {
			return fmt.Errorf("multi-instance %q: item %d: %w", el.ID, i, err)
		}
		c.SetLocal(ch, el.Multi.ElementVariable, v)
	}
	body.MI.Next = i + 1
	c.push(stepEnter, ch, el)
	return nil
}

// multiChildDone counts a finished instance and decides whether the body is
// done.
func (c *Executor) multiChildDone(ch *Execution) error {
	body := c.parent(ch)
	el := body.El
	mi := body.MI
	mi.Completed++
	Touch(&body.Op)
	c.SetLocal(body, "nrOfCompletedInstances", Value{TypeInteger, int32(mi.Completed)})
	active := 0
	for _, o := range c.Children(body) {
		if o != ch {
			active++
		}
	}
	c.SetLocal(body, "nrOfActiveInstances", Value{TypeInteger, int32(active)})
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
		for _, o := range c.Children(body) {
			c.cancel(o)
			c.removeExec(o)
		}
		return c.multiDone(body)
	}
	if el.Multi.Sequential && mi.Next < mi.N {
		c.SetLocal(body, "nrOfActiveInstances", Value{TypeInteger, int32(1)})
		return c.multiChild(body, el, mi.Next, mi.Items)
	}
	return nil
}

func (c *Executor) collectOutput(body, ch *Execution, el *model.Element) error {
	v, err := el.Multi.OutputElement.Eval(c.lookup(ch))
	if err != nil {
		return c.exprError(el, "outputElement", err)
	}
	cur := c.Variable(body.InstanceID, el.Multi.OutputCollection)
	var list []any
	if cur != nil {
		list, _ = cur.Val.V.([]any)
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
func (c *Executor) multiDone(body *Execution) error {
	c.disarm(body)
	c.endActivity(body, false)
	for _, name := range []string{"nrOfInstances", "nrOfCompletedInstances", "nrOfActiveInstances"} {
		if v := c.Variable(body.ID, name); v != nil {
			Drop(&v.Op)
		}
	}
	body.Scope, body.MI = false, nil
	body.State = ExecActive
	Touch(&body.Op)
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

func (c *Executor) callActivity(x *Execution, el *model.Element) error {
	vars := c.lookup(x)
	key, err := el.Call.Key.EvalString(vars)
	if err != nil {
		return c.exprError(el, "calledElement", err)
	}
	def, err := c.env.LatestDefinition(key)
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
	x.State = ExecWaiting
	child, err := c.StartInstance(def, bk, in, nil, "", x)
	if err != nil {
		return fmt.Errorf("call activity %q: %w", el.ID, err)
	}
	if a := c.Activity(x.ActID); a != nil {
		a.CalledInstanceID = child.ID
	}
	return nil
}

// mapInto evaluates one variable mapping in x's scope into dst.
func (c *Executor) mapInto(dst map[string]Value, x *Execution, m *model.Mapping, el *model.Element) error {
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
		dst[m.Target] = v.Val
	} else {
		dst[m.Target] = Null
	}
	return nil
}

// calledDone continues the calling activity of a finished instance.
func (c *Executor) calledDone(child *Instance) error {
	parent, err := c.InstanceByID(child.SuperInstanceID)
	if err != nil {
		return err
	}
	px := c.Exec(child.SuperExec)
	if px == nil || parent.State != InstanceActive {
		return nil // the caller was cancelled meanwhile
	}
	out := map[string]Value{}
	for _, m := range px.El.Call.Out {
		if err := c.mapInto(out, child.Root, m, px.El); err != nil {
			return err
		}
	}
	for _, name := range SortedKeys(out) {
		c.setVar(px, name, out[name])
	}
	parent.Touched = true
	c.push(stepComplete, px, nil)
	return nil
}

// ---- jobs and subscriptions ----

// NewJob builds a job of kind for execution x at element el, due at due,
// with the element's retries (or the engine's default) and the unit's IDs.
func (c *Executor) NewJob(kind JobKind, x *Execution, el *model.Element, due time.Time, data JobData) *JobRow {
	retries := el.Retries
	if retries == 0 {
		retries = c.env.DefaultRetries()
	}
	j := &JobRow{Op: RowNew, Data: data, CreatedAt: c.NowMS}
	j.Job = Job{ID: c.NewRowID(), Tenant: c.Tenant, Kind: kind, ElementID: el.ID, DueAt: due, Priority: el.Priority, Retries: retries, Revision: 1}
	if x != nil {
		j.InstanceID, j.ExecutionID = x.InstanceID, x.ID
		j.DefinitionID, j.DefinitionKey = x.Inst.DefinitionID, x.Inst.DefinitionKey
	}
	c.Jobs = append(c.Jobs, j)
	c.NoteJob(due)
	return j
}

func (c *Executor) subscribe(x *Execution, el *model.Element, name string) {
	c.Subs = append(c.Subs, &SubRow{ID: c.NewRowID(), Kind: "message", Name: name, InstanceID: x.InstanceID, ExecutionID: x.ID,
		DefinitionID: x.Inst.DefinitionID, DefinitionKey: x.Inst.DefinitionKey, ElementID: el.ID, CreatedAt: c.NowMS, Op: RowNew})
}

// ---- variables ----

// lookup returns the variables visible from x, for expressions.
func (c *Executor) lookup(x *Execution) expression.Variables { return varScope{c, x} }

// lookupOrEmpty is lookup for contexts without a token (timer starts).
func (c *Executor) lookupOrEmpty(x *Execution) expression.Variables {
	if x == nil {
		return expression.Map{}
	}
	return c.lookup(x)
}

type varScope struct {
	c *Executor
	x *Execution
}

// Lookup walks from the token up through its scopes to the instance.
func (s varScope) Lookup(name string) (any, bool) {
	v, ok := s.c.findVar(s.x, name)
	if !ok {
		return nil, false
	}
	return v.Val.exprValue(), true
}

func (c *Executor) findVar(x *Execution, name string) (*VariableRow, bool) {
	for e := x; e != nil; e = c.parent(e) {
		if v := c.Variable(e.ID, name); v != nil {
			return v, true
		}
		if e.ID == e.InstanceID {
			break
		}
	}
	return nil, false
}

// visibleVars returns every variable visible from x, inner scopes winning.
func (c *Executor) visibleVars(x *Execution) map[string]Value {
	out := map[string]Value{}
	var chain []int64
	for e := x; e != nil; e = c.parent(e) {
		chain = append(chain, e.ID)
		if e.ID == e.InstanceID {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		for _, v := range c.Vars {
			if v.ScopeID == chain[i] && Alive(v.Op) {
				out[v.Name] = v.Val
			}
		}
	}
	return out
}

// setVar sets a variable where it already lives in x's scope chain, or on
// the instance when it is new (Camunda's setVariable).
func (c *Executor) setVar(x *Execution, name string, val Value) {
	if v, ok := c.findVar(x, name); ok {
		c.writeVar(v, val, x)
		return
	}
	c.SetLocal(x.Inst.Root, name, val)
}

// SetLocal sets a variable on scope x itself.
func (c *Executor) SetLocal(x *Execution, name string, val Value) {
	if v := c.Variable(x.ID, name); v != nil {
		c.writeVar(v, val, x)
		return
	}
	v := c.slabs.vars.new()
	*v = VariableRow{ScopeID: x.ID, InstanceID: x.InstanceID, Name: name, Val: val, Rev: 1, Op: RowNew}
	c.Vars = appendRow(c.Vars, v)
	c.recordVar(v, x)
}

func (c *Executor) writeVar(v *VariableRow, val Value, x *Execution) {
	if v.Val.Equal(val) {
		return
	}
	v.Val = val
	v.Rev++
	Touch(&v.Op)
	c.recordVar(v, x)
}

// recordVar appends history and an event for a variable write.
func (c *Executor) recordVar(v *VariableRow, x *Execution) {
	if strings.HasPrefix(v.Name, "nrOf") || v.Name == "loopCounter" {
		return // the engine's own bookkeeping
	}
	el := ""
	if x.El != nil {
		el = x.El.ID
	}
	vu := c.slabs.varUpdates.new()
	*vu = VariableUpdate{ID: c.NewRowID(), InstanceID: v.InstanceID, ScopeID: v.ScopeID,
		Name: v.Name, Value: v.Val, Revision: v.Rev, ElementID: el, At: c.Now}
	c.VarUpdates = appendRow(c.VarUpdates, vu)
	// Keys in sorted order: the same bytes as json.Marshal of the map.
	d := newJSONObject(64 + len(v.Name))
	d.str("name", v.Name)
	d.intString("scopeId", v.ScopeID)
	d.str("type", string(v.Val.Type))
	d.value("value", v.Val.V)
	c.emit(x.Inst, EventVariableUpdated, x.El, 0, d.bytes())
}

// applyParams evaluates camunda:inputOutput parameters: inputs become local
// variables of x, outputs are set in its scope chain.
func (c *Executor) applyParams(x *Execution, ps []*model.Param, input bool) error {
	for _, p := range ps {
		val := Null
		if p.Value != nil {
			v, err := p.Value.Eval(c.lookup(x))
			if err != nil {
				return c.exprError(x.El, "parameter "+p.Name, err)
			}
			if val, err = ValueOf(v); err != nil {
				return err
			}
		}
		if input {
			c.SetLocal(x, p.Name, val)
		} else {
			c.setVar(c.parentOrRoot(x), p.Name, val)
		}
	}
	return nil
}

func (c *Executor) parentOrRoot(x *Execution) *Execution {
	if p := c.parent(x); p != nil {
		return p
	}
	return x
}

// ---- events ----

// Event appends an analytics Event in the same unit as the change.
func (c *Executor) Event(inst *Instance, t EventType, el *model.Element, taskID int64, data map[string]any) {
	var b []byte
	if data != nil {
		b, _ = json.Marshal(data)
	}
	c.emit(inst, t, el, taskID, b)
}

// emit appends an event whose data is already JSON (or nil).
func (c *Executor) emit(inst *Instance, t EventType, el *model.Element, taskID int64, data []byte) {
	ev := c.slabs.events.new()
	*ev = Event{ID: c.NewRowID(), Tenant: c.Tenant, Type: t, Time: c.Now, InstanceID: inst.ID, BusinessKey: inst.BusinessKey,
		DefinitionID: inst.DefinitionID, DefinitionKey: inst.DefinitionKey, TaskID: taskID, Data: data}
	if el != nil {
		ev.ElementID, ev.ElementType = el.ID, el.Type
	}
	c.Events = appendRow(c.Events, ev)
}

// exprError wraps an expression failure with the element it belongs to.
func (c *Executor) exprError(el *model.Element, what string, err error) error {
	id := ""
	if el != nil {
		id = el.ID
	}
	return fmt.Errorf("%w: element %q: %s: %v", ErrInvalid, id, what, err)
}
