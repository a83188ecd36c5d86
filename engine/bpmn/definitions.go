package bpmn

import "iter"

// Definitions is the root of a BPMN document: everything one deployment resource declares.
type Definitions struct {
	ID              string
	Name            string
	TargetNamespace string
	// Exporter and ExporterVersion name the tool that wrote the file ("Camunda Modeler", "5.22.0").
	Exporter        string
	ExporterVersion string
	// ExecutionPlatform and ExecutionPlatformVersion are the modeler's hint of the engine the
	// file was drawn for ("Camunda Platform" for Camunda 7, "Camunda Cloud" for Camunda 8).
	// They are informative only; the extension elements used are what counts.
	ExecutionPlatform        string
	ExecutionPlatformVersion string
	Line                     int

	Messages       []*Message
	Errors         []*Error
	Signals        []*Signal
	Escalations    []*Escalation
	Collaborations []*Collaboration
	Processes      []*Process

	// Unsupported lists every element in the BPMN model namespace that the parser does not
	// know, in document order, wherever it occurred: an unknown flow element in a process or
	// sub-process, or an unknown child of a known element. Nothing unknown is dropped
	// silently; a deployment should report these by tag, ID and line.
	Unsupported []*UnsupportedElement
}

// Message is a top-level message declaration, referenced by messageRef.
type Message struct {
	ID   string
	Name string
	// CorrelationKey is the Camunda 8 zeebe:subscription correlation key expression.
	CorrelationKey string
	Line           int
}

// Error is a top-level BPMN error declaration, referenced by errorRef.
type Error struct {
	ID        string
	Name      string
	ErrorCode string
	// ErrorMessage is camunda:errorMessage, an optional message expression.
	ErrorMessage string
	Line         int
}

// Signal is a top-level signal declaration. It is recorded so that a deployment can name it
// when it rejects signal events.
type Signal struct {
	ID   string
	Name string
	Line int
}

// Escalation is a top-level escalation declaration. It is recorded so that a deployment can
// name it when it rejects escalation events.
type Escalation struct {
	ID             string
	Name           string
	EscalationCode string
	Line           int
}

// Collaboration groups the pools of a diagram and the message flows between them.
type Collaboration struct {
	ID           string
	Name         string
	Line         int
	Participants []*Participant
	MessageFlows []*MessageFlow
}

// Participant is a pool. ProcessRef names the process it shows; a pool drawn as a black box
// has none.
type Participant struct {
	ID         string
	Name       string
	ProcessRef string
	Line       int
}

// MessageFlow is a message flow between two pools or their elements. It documents the
// collaboration; it carries no execution semantics (messages are correlated by name).
type MessageFlow struct {
	ID         string
	Name       string
	SourceRef  string
	TargetRef  string
	MessageRef string
	Line       int
}

// Process is a BPMN process: a scope of flow elements plus the process-level settings.
type Process struct {
	ID   string
	Name string
	Line int
	// IsExecutable is false when the attribute is absent, as Camunda treats it: such a
	// process is documentation only.
	IsExecutable bool
	// HistoryTimeToLive is camunda:historyTimeToLive as written: a number of days ("30") or
	// an ISO 8601 period ("P30D"); empty when absent.
	HistoryTimeToLive      string
	VersionTag             string // camunda:versionTag
	CandidateStarterGroups string // camunda:candidateStarterGroups, comma-separated
	CandidateStarterUsers  string // camunda:candidateStarterUsers, comma-separated
	Documentation          string

	// LaneSets are the lanes of the pool. Lanes partition the diagram; they have no
	// execution semantics.
	LaneSets []*LaneSet

	// Listeners, Properties: see the fields of the same name on FlowNode.
	Listeners  []*Listener
	Properties []Property

	Scope
}

// LaneSet is a set of lanes partitioning a process or a lane.
type LaneSet struct {
	ID    string
	Name  string
	Line  int
	Lanes []*Lane
}

// Lane names a group of flow nodes (a role or department in the pool).
type Lane struct {
	ID           string
	Name         string
	Line         int
	FlowNodeRefs []string
	// ChildLaneSet holds nested lanes, or is nil.
	ChildLaneSet *LaneSet
}

// Scope is the content of a process or a sub-process: its flow nodes and sequence flows in
// document order. Process and SubProcess both embed it, so one function walks both.
type Scope struct {
	FlowNodes     []*FlowNode
	SequenceFlows []*SequenceFlow
}

// AllFlowNodes yields every flow node of the scope, depth first: each node before the
// contents of its sub-process, in document order.
func (s *Scope) AllFlowNodes() iter.Seq[*FlowNode] {
	return func(yield func(*FlowNode) bool) {
		s.eachNode(yield)
	}
}

func (s *Scope) eachNode(yield func(*FlowNode) bool) bool {
	for _, n := range s.FlowNodes {
		if !yield(n) {
			return false
		}
		if n.SubProcess != nil && !n.SubProcess.eachNode(yield) {
			return false
		}
	}
	return true
}

// AllSequenceFlows yields every sequence flow of the scope and of its nested sub-processes.
func (s *Scope) AllSequenceFlows() iter.Seq[*SequenceFlow] {
	return func(yield func(*SequenceFlow) bool) {
		s.eachFlow(yield)
	}
}

func (s *Scope) eachFlow(yield func(*SequenceFlow) bool) bool {
	for _, f := range s.SequenceFlows {
		if !yield(f) {
			return false
		}
	}
	for _, n := range s.FlowNodes {
		if n.SubProcess != nil && !n.SubProcess.eachFlow(yield) {
			return false
		}
	}
	return true
}

// SequenceFlow connects two flow nodes of the same scope.
type SequenceFlow struct {
	ID        string
	Name      string
	Line      int
	SourceRef string
	TargetRef string
	// Condition is the conditionExpression, or nil when the flow is unconditional.
	Condition     *Expression
	Documentation string
	// Listeners are camunda:executionListener elements (event "take").
	Listeners []*Listener
}

// Expression is the text of a formal expression such as a condition: "${amount > 1000}" in
// Camunda 7, "=amount > 1000" (FEEL) in Camunda 8, or a script when Language is set.
type Expression struct {
	// Text is the element's text content with surrounding white space removed.
	Text string
	// Language is the language attribute (a script language such as "javascript"), or empty
	// for the expression language of the platform.
	Language string
	// Resource is camunda:resource: a script kept in another resource instead of Text.
	Resource string
	Line     int
}

// UnsupportedElement records an element of the BPMN model namespace that the parser does not
// know. See Definitions.Unsupported.
type UnsupportedElement struct {
	// Tag is the element's local name, such as "choreographyTask" or "potentialOwner".
	Tag  string
	ID   string
	Name string
	Line int
	// ParentTag and ParentID identify the element it was found in.
	ParentTag string
	ParentID  string
	// ProcessID is the process it was found in, or empty outside any process.
	ProcessID string
}
