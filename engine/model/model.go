package model

import (
	"time"

	"github.com/tenantflow/tenantflow/engine/expression"
	"github.com/tenantflow/tenantflow/engine/timer"
)

// Kind is what an element does when a token reaches it.
type Kind uint8

// The element kinds the engine executes.
const (
	StartEvent Kind = iota + 1
	EndEvent
	IntermediateCatchEvent
	IntermediateThrowEvent
	BoundaryEvent
	Task // task and manualTask: pass through
	UserTask
	ServiceTask // serviceTask, sendTask, businessRuleTask: a topic served by a handler or external workers
	ScriptTask
	ReceiveTask
	ExclusiveGateway
	InclusiveGateway
	ParallelGateway
	EventBasedGateway
	SubProcess
	CallActivity
)

// IsActivity reports whether elements of kind k can carry boundary events
// and multi-instance characteristics.
func (k Kind) IsActivity() bool {
	return k >= Task && k <= ReceiveTask || k == SubProcess || k == CallActivity
}

// IsGateway reports whether k is a gateway.
func (k Kind) IsGateway() bool { return k >= ExclusiveGateway && k <= EventBasedGateway }

// EventKind is the trigger of an event element.
type EventKind uint8

// Event triggers.
const (
	EventNone EventKind = iota
	EventTimer
	EventMessage
	EventError
	EventTerminate
)

// Definition is one executable process, compiled: elements indexed by ID
// and by position, expressions and timers compiled once. A Definition is
// immutable and shared by every instance of it.
type Definition struct {
	// Key is the process ID in the XML, which names the process across
	// versions.
	Key  string
	Name string
	// Elements lists every element, nested ones included; Element.Index is
	// the position in it.
	Elements []*Element
	Flows    []*Flow
	// Root is the process scope.
	Root *Scope
	// TimerStarts and MessageStarts are the process's timer and message start
	// events.
	TimerStarts   []*Element
	MessageStarts []*Element
	// HistoryTimeToLive is how long finished instances are kept; 0 keeps
	// them forever.
	HistoryTimeToLive time.Duration
	VersionTag        string
	// Line is the line of the process element.
	Line int

	byID map[string]*Element
}

// Element returns the element with the given ID, or nil.
func (d *Definition) Element(id string) *Element { return d.byID[id] }

// Scope is the process or an embedded sub-process: the elements directly
// inside it.
type Scope struct {
	// Owner is the sub-process element, or nil for the process.
	Owner *Element
	// Elements are the direct children, in document order.
	Elements []*Element
	// Start is the none start event; nil for a process started only by
	// timers or messages.
	Start *Element
	// Depth is 0 for the process, 1 for a sub-process in it, and so on.
	Depth int
	// InclusiveJoins is true when an inclusive gateway of this scope has
	// several incoming flows: every move of a token in the scope may then
	// decide whether a waiting join can fire.
	InclusiveJoins bool

	// reach[i] is the set of elements of this scope reachable from
	// Elements[i] (itself excluded unless on a cycle), following sequence
	// flows and boundary events. It decides inclusive joins.
	reach []bitset
	local map[*Element]int // element → index in Elements
}

// Reachable reports whether a token at from, an element of this scope, can
// still arrive at to, another element of this scope.
func (s *Scope) Reachable(from, to *Element) bool {
	i, ok := s.local[from]
	j, ok2 := s.local[to]
	if !ok || !ok2 {
		return false
	}
	return s.reach[i].has(j)
}

// Element is one flow node.
type Element struct {
	Index int
	ID    string
	Name  string
	Line  int
	Kind  Kind
	// Type is the BPMN element name ("userTask", "sendTask", …) as clients
	// expect to see it.
	Type string
	// Scope is the scope the element is in.
	Scope *Scope

	Incoming []*Flow
	Outgoing []*Flow
	// Default is the default flow of an exclusive or inclusive gateway or an
	// activity, or nil.
	Default *Flow

	AsyncBefore bool
	AsyncAfter  bool

	// Boundaries are the boundary events attached to this activity.
	Boundaries []*Element
	// AttachedTo is the activity a boundary event is attached to.
	AttachedTo *Element
	// Interrupting: a boundary event that cancels its activity.
	Interrupting bool

	// Event is set for events.
	Event *EventDef
	// User is set for user tasks.
	User *UserTaskDef
	// Topic is the topic of a service, send or business rule task.
	Topic string
	// Script is the expression a script task evaluates, and ResultVariable
	// where its result goes ("" = dropped).
	Script         *expression.Expression
	ResultVariable string
	// Message is the message name of a receive task.
	Message string
	// Sub is the scope of an embedded sub-process.
	Sub *Scope
	// Call is set for call activities.
	Call *CallDef
	// Multi is set for multi-instance activities.
	Multi *MultiInstance
	// Inputs and Outputs are camunda:inputOutput parameters.
	Inputs, Outputs []*Param
	// Retries is the job and external-task retry count (0: the engine's
	// default).
	Retries int
	// Priority is the external task or job priority.
	Priority int
}

// EventDef is what triggers an event, or what it throws.
type EventDef struct {
	Kind EventKind
	// Timer is set for timer events.
	Timer *TimerDef
	// Message is the message name of a message event.
	Message string
	// ErrorCode is the code thrown by an error end event or caught by an
	// error boundary event ("" on a boundary catches every error).
	ErrorCode string
	// ErrorMessage is thrown with the error.
	ErrorMessage string
	// ErrorCodeVariable and ErrorMessageVariable receive a caught error.
	ErrorCodeVariable, ErrorMessageVariable string
	// Initiator (start events) receives the starting user's ID.
	Initiator string
}

// TimerDef is a timer event's definition.
type TimerDef struct {
	Kind timer.Kind
	// Expr is the definition as written; a literal is parsed once into
	// Static, anything with ${…} is evaluated per use.
	Expr   *expression.Expression
	Static timer.Schedule
}

// UserTaskDef holds a user task's assignment, all expressions.
type UserTaskDef struct {
	Assignee, CandidateUsers, CandidateGroups *expression.Expression
	DueDate, FollowUpDate, Priority           *expression.Expression
	FormKey                                   *expression.Expression
}

// CallDef is what a call activity calls and how variables pass.
type CallDef struct {
	// Key is the called process key (an expression; usually a literal).
	Key         *expression.Expression
	In, Out     []*Mapping
	BusinessKey *expression.Expression
}

// Mapping is one variable passed into or out of a called process.
type Mapping struct {
	// All passes every variable.
	All bool
	// Source names a variable, or SourceExpr computes the value.
	Source     string
	SourceExpr *expression.Expression
	Target     string
	Local      bool
}

// MultiInstance describes a multi-instance activity.
type MultiInstance struct {
	Sequential bool
	// Cardinality is the number of instances, or nil.
	Cardinality *expression.Expression
	// Collection yields the list to iterate (an expression, or a variable
	// name in CollectionVar), and ElementVariable receives each item.
	Collection      *expression.Expression
	CollectionVar   string
	ElementVariable string
	// Completion ends the activity early when true.
	Completion *expression.Expression
	// OutputCollection and OutputElement (Camunda 8) collect results.
	OutputCollection string
	OutputElement    *expression.Expression
}

// Param is one input or output parameter.
type Param struct {
	Name  string
	Value *expression.Expression // nil means null
}

// Flow is a sequence flow.
type Flow struct {
	Index          int
	ID, Name       string
	Line           int
	Source, Target *Element
	// Condition is nil for an unconditional flow.
	Condition *expression.Expression
}

// bitset is a fixed-size set of small integers.
type bitset []uint64

func newBitset(n int) bitset    { return make(bitset, (n+63)/64) }
func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) or(o bitset) bool {
	changed := false
	for i := range b {
		n := b[i] | o[i]
		if n != b[i] {
			b[i], changed = n, true
		}
	}
	return changed
}
