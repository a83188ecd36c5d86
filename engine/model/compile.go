package model

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/engine/bpmn"
	"github.com/tenantflow/tenantflow/engine/expression"
	"github.com/tenantflow/tenantflow/engine/timer"
)

// Problem is one reason a process cannot be deployed.
type Problem struct {
	// Resource is the deployment resource (file name) the problem is in.
	Resource string `json:"resource,omitempty"`
	// ElementID is the element concerned, or empty for the document.
	ElementID string `json:"elementId,omitempty"`
	// Line is the line of the element, 0 when unknown.
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// String renders the problem as resource, line, element and message.
func (p Problem) String() string {
	var b strings.Builder
	if p.Resource != "" {
		b.WriteString(p.Resource)
		b.WriteString(": ")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.ElementID != "" {
		fmt.Fprintf(&b, "element %q: ", p.ElementID)
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error lists every problem found in a deployment. A model is checked as a
// whole: all problems are reported at once, each with its element and line.
type Error struct {
	Problems []Problem
}

// ErrInvalidModel is the sentinel for errors.Is on every *Error.
var ErrInvalidModel = errors.New("invalid process model")

// Error gives the one problem, or counts them and lists each.
func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return "cannot deploy: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cannot deploy: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalidModel) true.
func (e *Error) Unwrap() error { return ErrInvalidModel }

// Options adjust compilation.
type Options struct {
	// Location reads timer dates without an offset and cron fields; default
	// UTC.
	Location *time.Location
	// Resource names the file in problems.
	Resource string
}

// compiler collects problems while building one process.
type compiler struct {
	opts     Options
	defs     *bpmn.Definitions
	problems []Problem
	def      *Definition
	messages map[string]string // message ID → name
	errs     map[string]*bpmn.Error
	ids      map[string]int // ID → first line, across the document
}

func (c *compiler) fail(id string, line int, format string, args ...any) {
	c.problems = append(c.problems, Problem{Resource: c.opts.Resource, ElementID: id, Line: line, Message: fmt.Sprintf(format, args...)})
}

// Compile turns parsed BPMN into executable definitions, one per executable
// process. Non-executable processes (isExecutable="false" or absent, as
// Camunda reads it) are documentation and are skipped; a document without
// any executable process is an error. Every problem is returned in one
// *Error.
func Compile(defs *bpmn.Definitions, opts Options) ([]*Definition, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	c := &compiler{opts: opts, defs: defs, messages: map[string]string{}, errs: map[string]*bpmn.Error{}, ids: map[string]int{}}
	for _, m := range defs.Messages {
		name := m.Name
		if name == "" {
			name = m.ID
		}
		c.messages[m.ID] = name
	}
	for _, e := range defs.Errors {
		c.errs[e.ID] = e
	}
	executable := map[string]bool{}
	var out []*Definition
	for _, p := range defs.Processes {
		if !p.IsExecutable {
			continue
		}
		executable[p.ID] = true
		if d := c.process(p); d != nil {
			out = append(out, d)
		}
	}
	for _, u := range defs.Unsupported {
		if u.ProcessID != "" && !executable[u.ProcessID] {
			continue
		}
		id := u.ID
		if id == "" {
			id = u.ParentID
		}
		c.fail(id, u.Line, "%s is not supported by tenantflow (found in %s %q); remove it or replace it with a supported element", u.Tag, u.ParentTag, u.ParentID)
	}
	if len(executable) == 0 {
		c.fail("", defs.Line, "the document has no executable process: set isExecutable=\"true\" on the process to deploy")
	}
	if len(c.problems) > 0 {
		sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
		return nil, &Error{Problems: c.problems}
	}
	return out, nil
}

// pendingFlow remembers a parsed flow until all elements exist.
type pendingFlow struct {
	f     *bpmn.SequenceFlow
	scope *Scope
}

func (c *compiler) process(p *bpmn.Process) *Definition {
	d := &Definition{Key: p.ID, Name: p.Name, Line: p.Line, VersionTag: p.VersionTag, byID: map[string]*Element{}}
	c.def = d
	c.claimID(p.ID, p.Line)
	if p.ID == "" {
		c.fail("", p.Line, "the process has no id: set the id attribute (it is the process key)")
	}
	for _, l := range p.Listeners {
		c.fail(p.ID, l.Line, "camunda:%s runs Java code or scripts, which tenantflow does not execute: remove it", l.Type)
	}
	if p.HistoryTimeToLive != "" {
		ttl, err := parseTTL(p.HistoryTimeToLive)
		if err != nil {
			c.fail(p.ID, p.Line, "camunda:historyTimeToLive %q: %v", p.HistoryTimeToLive, err)
		}
		d.HistoryTimeToLive = ttl
	}
	var flows []pendingFlow
	d.Root = c.scope(&p.Scope, nil, 0, &flows)
	c.flows(flows)
	c.boundaries()
	c.checkScopes(p)
	for _, s := range c.allScopes(d.Root) {
		s.computeReach()
	}
	return d
}

// claimID records an element's ID; a duplicate is a problem, and false.
func (c *compiler) claimID(id string, line int) bool {
	if id == "" {
		return true
	}
	if first, dup := c.ids[id]; dup {
		c.fail(id, line, "duplicate id %q (first used at line %d): every element needs its own id", id, first)
		return false
	}
	c.ids[id] = line
	return true
}

func (c *compiler) allScopes(s *Scope) []*Scope {
	out := []*Scope{s}
	for _, e := range s.Elements {
		if e.Sub != nil {
			out = append(out, c.allScopes(e.Sub)...)
		}
	}
	return out
}

// scope creates the elements of one scope, recursing into sub-processes.
func (c *compiler) scope(bs *bpmn.Scope, owner *Element, depth int, flows *[]pendingFlow) *Scope {
	s := &Scope{Owner: owner, Depth: depth, local: map[*Element]int{}}
	for _, n := range bs.FlowNodes {
		if !c.claimID(n.ID, n.Line) {
			// The first element keeps the ID and its flows; compiling the
			// second would only add problems that follow from this one.
			continue
		}
		if n.ID == "" {
			c.fail("", n.Line, "a %s has no id", n.Kind)
			continue
		}
		e := &Element{Index: len(c.def.Elements), ID: n.ID, Name: n.Name, Line: n.Line, Type: string(n.Kind), Scope: s}
		c.def.Elements = append(c.def.Elements, e)
		c.def.byID[n.ID] = e
		s.local[e] = len(s.Elements)
		s.Elements = append(s.Elements, e)
		c.node(n, e, flows, depth)
	}
	for _, f := range bs.SequenceFlows {
		c.claimID(f.ID, f.Line)
		*flows = append(*flows, pendingFlow{f: f, scope: s})
	}
	return s
}

// expr compiles an expression of an element; empty text gives nil.
func (c *compiler) expr(id string, line int, what, text string) *expression.Expression {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	if strings.HasPrefix(text, "=") {
		// Camunda 8 models write FEEL as "=expr". The simple cases read the
		// same in JUEL once delimited; anything else is reported.
		feel := text[1:]
		x, err := expression.Compile("${" + feel + "}")
		if err != nil {
			c.fail(id, line, "%s: FEEL expression %q is not supported (tenantflow evaluates JUEL expressions such as ${amount > 1000}): %v", what, text, err)
			return nil
		}
		return x
	}
	x, err := expression.Compile(text)
	if err != nil {
		c.fail(id, line, "%s: %v", what, err)
		return nil
	}
	return x
}

// node fills an element from its parsed flow node.
func (c *compiler) node(n *bpmn.FlowNode, e *Element, flows *[]pendingFlow, depth int) {
	for _, l := range n.Listeners {
		c.fail(n.ID, l.Line, "camunda:%s (event %q) runs Java code or scripts, which tenantflow does not execute: remove it", l.Type, l.Event)
	}
	e.AsyncBefore, e.AsyncAfter = n.Async.Before, n.Async.After
	if n.Async.JobPriority != "" {
		if p, err := strconv.Atoi(n.Async.JobPriority); err == nil {
			e.Priority = p
		}
	}
	if n.Async.FailedJobRetryTimeCycle != "" {
		if r, ok := retriesFromCycle(n.Async.FailedJobRetryTimeCycle); ok {
			e.Retries = r
		} else {
			c.fail(n.ID, n.Line, "camunda:failedJobRetryTimeCycle %q: use Rn/duration such as R5/PT5M", n.Async.FailedJobRetryTimeCycle)
		}
	}
	if n.InputOutput != nil {
		e.Inputs = c.params(n, n.InputOutput.Inputs, "input")
		e.Outputs = c.params(n, n.InputOutput.Outputs, "output")
	}
	if z := n.Zeebe; z != nil && z.IOMapping != nil {
		for _, m := range z.IOMapping.Inputs {
			e.Inputs = append(e.Inputs, &Param{Name: m.Target, Value: c.expr(n.ID, m.Line, "zeebe:input "+m.Target, m.Source)})
		}
		for _, m := range z.IOMapping.Outputs {
			e.Outputs = append(e.Outputs, &Param{Name: m.Target, Value: c.expr(n.ID, m.Line, "zeebe:output "+m.Target, m.Source)})
		}
	}
	if n.Loop != nil {
		c.loop(n, e)
	}
	switch n.Kind {
	case bpmn.KindStartEvent, bpmn.KindEndEvent, bpmn.KindIntermediateCatchEvent, bpmn.KindIntermediateThrowEvent, bpmn.KindBoundaryEvent:
		c.event(n, e, depth)
	case bpmn.KindTask, bpmn.KindManualTask:
		e.Kind = Task
	case bpmn.KindUserTask:
		e.Kind = UserTask
		c.userTask(n, e)
	case bpmn.KindServiceTask, bpmn.KindSendTask, bpmn.KindBusinessRuleTask:
		e.Kind = ServiceTask
		c.implementation(n, e, n.Implementation)
	case bpmn.KindScriptTask:
		e.Kind = ScriptTask
		c.script(n, e)
	case bpmn.KindReceiveTask:
		e.Kind = ReceiveTask
		e.Message = c.message(n.ID, n.Line, n.MessageRef)
	case bpmn.KindExclusiveGateway:
		e.Kind = ExclusiveGateway
	case bpmn.KindInclusiveGateway:
		e.Kind = InclusiveGateway
	case bpmn.KindParallelGateway:
		e.Kind = ParallelGateway
	case bpmn.KindEventBasedGateway:
		e.Kind = EventBasedGateway
	case bpmn.KindSubProcess:
		e.Kind = SubProcess
		if n.SubProcess != nil && n.SubProcess.TriggeredByEvent {
			c.fail(n.ID, n.Line, "event sub-processes are not supported: model the event as a boundary event on a sub-process instead")
			return
		}
		if n.SubProcess != nil {
			e.Sub = c.scope(&n.SubProcess.Scope, e, depth+1, flows)
		}
	case bpmn.KindCallActivity:
		e.Kind = CallActivity
		c.callActivity(n, e)
	case bpmn.KindComplexGateway:
		c.fail(n.ID, n.Line, "complexGateway is not supported: use an inclusive gateway")
	case bpmn.KindTransaction:
		c.fail(n.ID, n.Line, "transaction sub-processes are not supported: use an embedded subProcess")
	case bpmn.KindAdHocSubProcess:
		c.fail(n.ID, n.Line, "adHocSubProcess is not supported")
	default:
		c.fail(n.ID, n.Line, "%s is not supported by tenantflow", n.Kind)
	}
}

func (c *compiler) params(n *bpmn.FlowNode, ps []*bpmn.Parameter, what string) []*Param {
	var out []*Param
	for _, p := range ps {
		switch p.Kind {
		case bpmn.ParamText:
			out = append(out, &Param{Name: p.Name, Value: c.expr(n.ID, p.Line, "camunda:"+what+"Parameter "+p.Name, p.Value)})
		default:
			c.fail(n.ID, p.Line, "camunda:%sParameter %q: %s values are not supported; use a text value with an expression", what, p.Name, p.Kind)
		}
	}
	return out
}

func retriesFromCycle(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "R") {
		return 0, false
	}
	n, _, ok := strings.Cut(s[1:], "/")
	if !ok {
		return 0, false
	}
	r, err := strconv.Atoi(n)
	return r, err == nil && r >= 0
}

func (c *compiler) loop(n *bpmn.FlowNode, e *Element) {
	l := n.Loop
	if l.Kind == bpmn.LoopStandard {
		c.fail(n.ID, l.Line, "standardLoopCharacteristics (a while loop) is not supported: use multiInstanceLoopCharacteristics or a gateway loop")
		return
	}
	if !n.Kind.IsActivity() {
		c.fail(n.ID, l.Line, "multi-instance is only possible on activities")
		return
	}
	mi := &MultiInstance{Sequential: l.IsSequential, ElementVariable: l.ElementVariable}
	mi.Cardinality = c.expr(n.ID, l.Line, "loopCardinality", l.LoopCardinality)
	mi.Completion = c.expr(n.ID, l.Line, "completionCondition", l.CompletionCondition)
	coll := strings.TrimSpace(l.Collection)
	if z := l.Zeebe; z != nil {
		if coll == "" {
			coll = z.InputCollection
		}
		if mi.ElementVariable == "" {
			mi.ElementVariable = z.InputElement
		}
		mi.OutputCollection = z.OutputCollection
		mi.OutputElement = c.expr(n.ID, l.Line, "outputElement", z.OutputElement)
	}
	if coll != "" {
		if strings.Contains(coll, "${") || strings.Contains(coll, "#{") || strings.HasPrefix(coll, "=") {
			mi.Collection = c.expr(n.ID, l.Line, "collection", coll)
		} else {
			mi.CollectionVar = coll
		}
	}
	if mi.Cardinality == nil && mi.Collection == nil && mi.CollectionVar == "" && len(c.problems) == 0 {
		c.fail(n.ID, l.Line, "multi-instance needs loopCardinality or camunda:collection")
	}
	if l.Async.Before || l.Async.After {
		c.fail(n.ID, l.Line, "asynchronous continuations on the multi-instance body are not supported; set them on the activity")
	}
	e.Multi = mi
}

func (c *compiler) event(n *bpmn.FlowNode, e *Element, depth int) {
	ev := &EventDef{}
	e.Event = ev
	if n.Event != nil {
		ev.Initiator = n.Event.Initiator
	}
	switch n.Kind {
	case bpmn.KindStartEvent:
		e.Kind = StartEvent
	case bpmn.KindEndEvent:
		e.Kind = EndEvent
	case bpmn.KindIntermediateCatchEvent:
		e.Kind = IntermediateCatchEvent
	case bpmn.KindIntermediateThrowEvent:
		e.Kind = IntermediateThrowEvent
	case bpmn.KindBoundaryEvent:
		e.Kind = BoundaryEvent
		e.Interrupting = n.Event == nil || n.Event.CancelActivity
	}
	var defs []*bpmn.EventDefinition
	if n.Event != nil {
		defs = n.Event.Definitions
	}
	if len(defs) > 1 {
		c.fail(n.ID, n.Line, "events with several event definitions (multiple events) are not supported")
		return
	}
	if len(defs) == 0 {
		switch e.Kind {
		case IntermediateCatchEvent:
			c.fail(n.ID, n.Line, "an intermediate catch event needs a timer or message definition")
		case BoundaryEvent:
			c.fail(n.ID, n.Line, "a boundary event needs a timer, message or error definition")
		}
		return
	}
	d := defs[0]
	allowed := map[Kind][]bpmn.EventKind{
		StartEvent:             {bpmn.EventTimer, bpmn.EventMessage},
		EndEvent:               {bpmn.EventTerminate, bpmn.EventError},
		IntermediateCatchEvent: {bpmn.EventTimer, bpmn.EventMessage},
		IntermediateThrowEvent: {},
		BoundaryEvent:          {bpmn.EventTimer, bpmn.EventMessage, bpmn.EventError},
	}[e.Kind]
	ok := false
	for _, k := range allowed {
		ok = ok || k == d.Kind
	}
	if !ok {
		if e.Kind == IntermediateThrowEvent && d.Kind == bpmn.EventMessage && d.Implementation != nil {
			// A message throw event sends through a worker: it behaves
			// like a send task.
			e.Kind = ServiceTask
			e.Event = nil
			c.implementation(n, e, d.Implementation)
			return
		}
		c.fail(n.ID, d.Line, "%s %s events are not supported (supported here: %s)", d.Kind, n.Kind, kindList(allowed))
		return
	}
	if e.Kind == StartEvent && depth > 0 {
		c.fail(n.ID, d.Line, "a start event inside a sub-process must be a none start event")
		return
	}
	switch d.Kind {
	case bpmn.EventTimer:
		ev.Kind = EventTimer
		ev.Timer = c.timer(n.ID, d)
	case bpmn.EventMessage:
		ev.Kind = EventMessage
		ev.Message = c.message(n.ID, d.Line, d.MessageRef)
	case bpmn.EventError:
		ev.Kind = EventError
		ev.ErrorCodeVariable, ev.ErrorMessageVariable = d.ErrorCodeVariable, d.ErrorMessageVariable
		if d.ErrorRef != "" {
			be, found := c.errs[d.ErrorRef]
			if !found {
				c.fail(n.ID, d.Line, "errorRef %q names no bpmn:error of this document", d.ErrorRef)
				return
			}
			ev.ErrorCode = be.ErrorCode
			if ev.ErrorCode == "" {
				ev.ErrorCode = be.Name
			}
			if ev.ErrorCode == "" {
				ev.ErrorCode = be.ID
			}
			ev.ErrorMessage = be.ErrorMessage
		} else if e.Kind == EndEvent {
			c.fail(n.ID, d.Line, "an error end event needs an errorRef naming the error it throws")
		}
	case bpmn.EventTerminate:
		ev.Kind = EventTerminate
	}
}

func kindList(m []bpmn.EventKind) string {
	if len(m) == 0 {
		return "none"
	}
	var s []string
	for _, k := range m {
		s = append(s, string(k))
	}
	return "none, " + strings.Join(s, ", ")
}

func (c *compiler) timer(id string, d *bpmn.EventDefinition) *TimerDef {
	var kind timer.Kind
	var text string
	n := 0
	for _, t := range []struct {
		k timer.Kind
		s string
	}{{timer.KindDate, d.TimeDate}, {timer.KindDuration, d.TimeDuration}, {timer.KindCycle, d.TimeCycle}} {
		if t.s != "" {
			kind, text = t.k, t.s
			n++
		}
	}
	if n != 1 {
		c.fail(id, d.Line, "a timer needs exactly one of timeDate, timeDuration and timeCycle (found %d)", n)
		return nil
	}
	td := &TimerDef{Kind: kind}
	td.Expr = c.expr(id, d.Line, kind.String(), text)
	if td.Expr == nil {
		return nil
	}
	if td.Expr.IsLiteral() {
		s, err := timer.ParseIn(kind, td.Expr.Source(), c.opts.Location)
		if err != nil {
			c.fail(id, d.Line, "%v", err)
			return nil
		}
		td.Static = s
	}
	return td
}

func (c *compiler) message(id string, line int, ref string) string {
	if ref == "" {
		c.fail(id, line, "a message event or receive task needs a messageRef naming a bpmn:message")
		return ""
	}
	name, ok := c.messages[ref]
	if !ok {
		c.fail(id, line, "messageRef %q names no bpmn:message of this document", ref)
		return ""
	}
	if name == "" {
		c.fail(id, line, "message %q has no name: correlation is by name", ref)
	}
	return name
}

func (c *compiler) userTask(n *bpmn.FlowNode, e *Element) {
	u := n.UserTask
	if u == nil {
		u = &bpmn.UserTask{}
	}
	// Problems name the attribute as the model wrote it: camunda:… or, in a
	// Camunda 8 model, the zeebe: element it came from.
	written := *u
	name := func(camundaName, zeebeName, camundaValue string) string {
		if camundaValue == "" {
			return zeebeName
		}
		return camundaName
	}
	if z := n.Zeebe; z != nil {
		if z.Assignment != nil {
			u.Assignee = firstNonEmpty(u.Assignee, z.Assignment.Assignee)
			u.CandidateUsers = firstNonEmpty(u.CandidateUsers, z.Assignment.CandidateUsers)
			u.CandidateGroups = firstNonEmpty(u.CandidateGroups, z.Assignment.CandidateGroups)
		}
		if z.Form != nil {
			u.FormKey = firstNonEmpty(u.FormKey, z.Form.FormKey, z.Form.FormID)
		}
		if z.TaskSchedule != nil {
			u.DueDate = firstNonEmpty(u.DueDate, z.TaskSchedule.DueDate)
			u.FollowUpDate = firstNonEmpty(u.FollowUpDate, z.TaskSchedule.FollowUpDate)
		}
	}
	e.User = &UserTaskDef{
		Assignee: c.expr(n.ID, n.Line, name("camunda:assignee", "zeebe:assignmentDefinition assignee", written.Assignee), u.Assignee),
		CandidateUsers: c.expr(n.ID, n.Line, name("camunda:candidateUsers", "zeebe:assignmentDefinition candidateUsers",
			written.CandidateUsers), u.CandidateUsers),
		CandidateGroups: c.expr(n.ID, n.Line, name("camunda:candidateGroups", "zeebe:assignmentDefinition candidateGroups",
			written.CandidateGroups), u.CandidateGroups),
		DueDate:      c.expr(n.ID, n.Line, name("camunda:dueDate", "zeebe:taskSchedule dueDate", written.DueDate), u.DueDate),
		FollowUpDate: c.expr(n.ID, n.Line, name("camunda:followUpDate", "zeebe:taskSchedule followUpDate", written.FollowUpDate), u.FollowUpDate),
		Priority:     c.expr(n.ID, n.Line, "camunda:priority", u.Priority),
		FormKey:      c.expr(n.ID, n.Line, name("camunda:formKey", "zeebe:formDefinition", written.FormKey), u.FormKey),
	}
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// implementation binds a service-like task to its topic.
func (c *compiler) implementation(n *bpmn.FlowNode, e *Element, impl *bpmn.TaskImplementation) {
	if z := n.Zeebe; z != nil && z.TaskDefinition != nil {
		e.Topic = strings.TrimSpace(z.TaskDefinition.Type)
		if r := strings.TrimSpace(z.TaskDefinition.Retries); r != "" {
			if v, err := strconv.Atoi(r); err == nil {
				e.Retries = v
			}
		}
	}
	if impl != nil {
		switch {
		case impl.Class != "":
			c.fail(n.ID, n.Line, "camunda:class %q is a Java delegate, which tenantflow cannot run: use camunda:type=\"external\" with camunda:topic, served by a Go handler or an external worker", impl.Class)
		case impl.DelegateExpression != "":
			c.fail(n.ID, n.Line, "camunda:delegateExpression %q binds Java code, which tenantflow cannot run: use camunda:type=\"external\" with camunda:topic", impl.DelegateExpression)
		case impl.Expression != "":
			c.fail(n.ID, n.Line, "camunda:expression %q calls a method, which tenantflow cannot run: use camunda:type=\"external\" with camunda:topic", impl.Expression)
		case impl.DecisionRef != "":
			c.fail(n.ID, n.Line, "DMN decisions (camunda:decisionRef %q) are not supported: use camunda:type=\"external\" with camunda:topic", impl.DecisionRef)
		case impl.Connector != nil:
			c.fail(n.ID, n.Line, "camunda:connector %q is not supported: use camunda:type=\"external\" with camunda:topic", impl.Connector.ID)
		case impl.Type != "" && impl.Type != "external":
			c.fail(n.ID, n.Line, "camunda:type %q is not supported: use camunda:type=\"external\" with camunda:topic", impl.Type)
		case impl.Topic != "":
			e.Topic = strings.TrimSpace(impl.Topic)
		}
		if impl.TaskPriority != "" {
			if p, err := strconv.Atoi(impl.TaskPriority); err == nil {
				e.Priority = p
			}
		}
	}
	if z := n.Zeebe; z != nil && z.CalledDecision != nil {
		c.fail(n.ID, n.Line, "DMN decisions (zeebe:calledDecision) are not supported")
	}
	if e.Topic == "" && (impl == nil || impl.Class == "" && impl.DelegateExpression == "" && impl.Expression == "" && impl.DecisionRef == "" && impl.Connector == nil) {
		c.fail(n.ID, n.Line, "%s has no topic: set camunda:type=\"external\" and camunda:topic=\"…\" (or zeebe:taskDefinition type)", n.Kind)
	}
}

func (c *compiler) script(n *bpmn.FlowNode, e *Element) {
	var body string
	if n.Script != nil {
		body, e.ResultVariable = n.Script.Script, n.Script.ResultVariable
		switch strings.ToLower(strings.TrimSpace(n.Script.ScriptFormat)) {
		case "", "juel", "expression", "expr", "el", "feel":
		default:
			c.fail(n.ID, n.Line, "scriptFormat %q is not supported: a script task evaluates one expression; use scriptFormat=\"juel\" with a script such as ${amount * 2}", n.Script.ScriptFormat)
			return
		}
		if n.Script.Resource != "" {
			c.fail(n.ID, n.Line, "scripts from resources (camunda:resource) are not supported: put the expression in the script element")
			return
		}
	}
	if z := n.Zeebe; z != nil && z.Script != nil {
		body, e.ResultVariable = z.Script.Expression, z.Script.ResultVariable
	}
	body = strings.TrimSpace(body)
	if body == "" {
		c.fail(n.ID, n.Line, "the script task has no script: write one expression, such as ${amount * 2}")
		return
	}
	if !strings.Contains(body, "${") && !strings.Contains(body, "#{") && !strings.HasPrefix(body, "=") {
		body = "${" + body + "}"
	}
	e.Script = c.expr(n.ID, n.Line, "script", body)
}

func (c *compiler) callActivity(n *bpmn.FlowNode, e *Element) {
	call := &CallDef{}
	e.Call = call
	key := ""
	var in, out []*bpmn.VariableMapping
	if ca := n.CallActivity; ca != nil {
		key = ca.CalledElement
		in, out = ca.In, ca.Out
		if b := ca.Binding; b != "" && b != "latest" {
			c.fail(n.ID, n.Line, "camunda:calledElementBinding %q is not supported: tenantflow calls the latest version", b)
		}
		if ca.TenantID != "" {
			c.fail(n.ID, n.Line, "camunda:calledElementTenantId is not supported: a called process always runs in the caller's tenant")
		}
	}
	if z := n.Zeebe; z != nil && z.CalledElement != nil {
		key = firstNonEmpty(key, z.CalledElement.ProcessID)
		if z.CalledElement.PropagateAllParentVariables {
			call.In = append(call.In, &Mapping{All: true})
		}
		if z.CalledElement.PropagateAllChildVariables {
			call.Out = append(call.Out, &Mapping{All: true})
		}
	}
	if strings.TrimSpace(key) == "" {
		c.fail(n.ID, n.Line, "the call activity names no process: set calledElement to the called process's id")
	} else {
		call.Key = c.expr(n.ID, n.Line, "calledElement", key)
	}
	for _, m := range in {
		if m.BusinessKey != "" {
			call.BusinessKey = c.expr(n.ID, m.Line, "camunda:in businessKey", m.BusinessKey)
			continue
		}
		call.In = append(call.In, c.mapping(n.ID, m))
	}
	for _, m := range out {
		call.Out = append(call.Out, c.mapping(n.ID, m))
	}
}

func (c *compiler) mapping(id string, m *bpmn.VariableMapping) *Mapping {
	mp := &Mapping{All: m.All, Source: m.Source, Target: m.Target, Local: m.Local}
	if m.SourceExpression != "" {
		mp.SourceExpr = c.expr(id, m.Line, "sourceExpression", m.SourceExpression)
	}
	if !m.All && m.Target == "" {
		c.fail(id, m.Line, "a variable mapping needs a target (or variables=\"all\")")
	}
	if !m.All && m.Source == "" && m.SourceExpression == "" {
		c.fail(id, m.Line, "a variable mapping needs a source or a sourceExpression")
	}
	if mp.Target == "" {
		mp.Target = mp.Source
	}
	return mp
}

// flows links sequence flows to their elements and checks them.
func (c *compiler) flows(pending []pendingFlow) {
	d := c.def
	for _, p := range pending {
		f := p.f
		fl := &Flow{Index: len(d.Flows), ID: f.ID, Name: f.Name, Line: f.Line}
		for _, l := range f.Listeners {
			c.fail(f.ID, l.Line, "camunda:%s on a sequence flow runs Java code or scripts, which tenantflow does not execute: remove it", l.Type)
		}
		src, dst := d.byID[f.SourceRef], d.byID[f.TargetRef]
		switch {
		case f.SourceRef == "" || src == nil:
			c.fail(f.ID, f.Line, "dangling sequence flow: sourceRef %q names no element of this process", f.SourceRef)
			continue
		case f.TargetRef == "" || dst == nil:
			c.fail(f.ID, f.Line, "dangling sequence flow: targetRef %q names no element of this process", f.TargetRef)
			continue
		case src.Scope != p.scope || dst.Scope != p.scope:
			c.fail(f.ID, f.Line, "sequence flow from %q to %q crosses a sub-process boundary: flows must stay in one scope", src.ID, dst.ID)
			continue
		}
		fl.Source, fl.Target = src, dst
		if f.Condition != nil && f.Condition.Text != "" {
			if f.Condition.Language != "" && !strings.EqualFold(f.Condition.Language, "juel") {
				c.fail(f.ID, f.Condition.Line, "conditions in %q are not supported: write a JUEL expression such as ${amount > 1000}", f.Condition.Language)
			} else {
				switch src.Kind {
				case ParallelGateway, EventBasedGateway, StartEvent, BoundaryEvent, IntermediateCatchEvent, IntermediateThrowEvent:
					c.fail(f.ID, f.Condition.Line, "a condition on a flow leaving a %s is never evaluated: remove it", src.Type)
				default:
					fl.Condition = c.expr(f.ID, f.Condition.Line, "condition", f.Condition.Text)
				}
			}
		}
		d.Flows = append(d.Flows, fl)
		src.Outgoing = append(src.Outgoing, fl)
		dst.Incoming = append(dst.Incoming, fl)
	}
	// Default flows, now that outgoing flows are known.
	c.walkNodes(func(n *bpmn.FlowNode) {
		e := d.byID[n.ID]
		if e == nil || n.Default == "" {
			return
		}
		for _, f := range e.Outgoing {
			if f.ID == n.Default {
				e.Default = f
				if f.Condition != nil {
					c.fail(f.ID, f.Line, "the default flow of %q has a condition; a default flow is taken when no condition holds: remove its condition", e.ID)
				}
				return
			}
		}
		c.fail(n.ID, n.Line, "default flow %q is not an outgoing flow of this element", n.Default)
	})
}

// walkNodes visits every parsed flow node of the current process.
func (c *compiler) walkNodes(fn func(*bpmn.FlowNode)) {
	for _, p := range c.defs.Processes {
		if p.ID != c.def.Key {
			continue
		}
		for n := range p.AllFlowNodes() {
			fn(n)
		}
	}
}

// boundaries attaches boundary events to their activities.
func (c *compiler) boundaries() {
	d := c.def
	c.walkNodes(func(n *bpmn.FlowNode) {
		e := d.byID[n.ID]
		if e == nil || e.Kind != BoundaryEvent || n.Event == nil {
			return
		}
		act := d.byID[n.Event.AttachedToRef]
		switch {
		case act == nil:
			c.fail(n.ID, n.Line, "attachedToRef %q names no activity of this process", n.Event.AttachedToRef)
			return
		case !act.Kind.IsActivity():
			c.fail(n.ID, n.Line, "a boundary event can only be attached to an activity, not to %s %q", act.Type, act.ID)
			return
		case act.Scope != e.Scope:
			c.fail(n.ID, n.Line, "a boundary event must be in the same scope as its activity %q", act.ID)
			return
		}
		if len(e.Incoming) > 0 {
			c.fail(n.ID, n.Line, "a boundary event cannot have incoming sequence flows")
		}
		if e.Event != nil && e.Event.Kind == EventError && !e.Interrupting {
			c.fail(n.ID, n.Line, "an error boundary event always interrupts: remove cancelActivity=\"false\"")
		}
		e.AttachedTo = act
		act.Boundaries = append(act.Boundaries, e)
	})
}

// checkScopes checks starts, ends, gateways and event-based gateways.
func (c *compiler) checkScopes(p *bpmn.Process) {
	d := c.def
	for _, s := range c.allScopes(d.Root) {
		starts := 0
		for _, e := range s.Elements {
			switch e.Kind {
			case StartEvent:
				if len(e.Incoming) > 0 {
					c.fail(e.ID, e.Line, "a start event cannot have incoming sequence flows")
				}
				switch {
				case e.Event == nil || e.Event.Kind == EventNone:
					if s.Start != nil {
						c.fail(e.ID, e.Line, "a scope can have only one none start event (another one is %q)", s.Start.ID)
					}
					s.Start = e
				case e.Event.Kind == EventTimer:
					d.TimerStarts = append(d.TimerStarts, e)
				case e.Event.Kind == EventMessage:
					d.MessageStarts = append(d.MessageStarts, e)
				}
				starts++
			case EndEvent:
				if len(e.Outgoing) > 0 {
					c.fail(e.ID, e.Line, "an end event cannot have outgoing sequence flows")
				}
			case ExclusiveGateway, InclusiveGateway, ParallelGateway, EventBasedGateway:
				if len(e.Outgoing) == 0 {
					c.fail(e.ID, e.Line, "the %s has no outgoing sequence flow: connect it or end the path with an end event", e.Type)
				}
			}
			if e.Kind == InclusiveGateway && len(e.Incoming) > 1 {
				s.InclusiveJoins = true
			}
			if e.Kind == EventBasedGateway {
				for _, f := range e.Outgoing {
					t := f.Target
					if !(t.Kind == IntermediateCatchEvent || t.Kind == ReceiveTask) || len(t.Incoming) != 1 {
						c.fail(e.ID, e.Line, "an event-based gateway must lead only to intermediate catch events or receive tasks with no other incoming flow (%q is not one)", t.ID)
					}
				}
			}
			if e.Kind.IsActivity() || e.Kind.IsGateway() || e.Kind == IntermediateCatchEvent || e.Kind == IntermediateThrowEvent || e.Kind == EndEvent {
				if len(e.Incoming) == 0 && e.Kind != BoundaryEvent {
					c.fail(e.ID, e.Line, "%s %q has no incoming sequence flow, so it can never run: connect it or remove it", e.Type, e.ID)
				}
			}
		}
		if s.Owner == nil && starts == 0 {
			c.fail(p.ID, p.Line, "the process has no start event: add a start event")
		}
		if s.Owner != nil && s.Start == nil {
			c.fail(s.Owner.ID, s.Owner.Line, "the sub-process has no none start event: add a start event inside it")
		}
	}
}

// computeReach fills the scope's reachability sets: a transitive closure
// over sequence flows, where an activity also reaches what its boundary
// events reach.
func (s *Scope) computeReach() {
	n := len(s.Elements)
	s.reach = make([]bitset, n)
	for i := range s.reach {
		s.reach[i] = newBitset(n)
	}
	next := func(e *Element) []*Element {
		var out []*Element
		for _, f := range e.Outgoing {
			out = append(out, f.Target)
		}
		return append(out, e.Boundaries...)
	}
	for i, e := range s.Elements {
		for _, t := range next(e) {
			if j, ok := s.local[t]; ok {
				s.reach[i].set(j)
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for i := range s.Elements {
			for j := range s.Elements {
				if s.reach[i].has(j) && s.reach[i].or(s.reach[j]) {
					changed = true
				}
			}
		}
	}
}

// parseTTL reads camunda:historyTimeToLive: days ("30") or an ISO period.
func parseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return 0, errors.New("must not be negative")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := timer.ParseDuration(s)
	if err != nil {
		return 0, errors.New("use a number of days (30) or an ISO 8601 period (P30D)")
	}
	base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	return d.AddTo(base).Sub(base), nil
}
