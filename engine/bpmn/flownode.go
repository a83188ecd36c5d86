package bpmn

// Kind is the type of a flow node. Its value is the element's local name in the BPMN model
// namespace, so it reads well in messages ("complexGateway is not supported").
type Kind string

// Flow node kinds the parser recognises. Recognising a kind does not mean the engine runs
// it: complexGateway, transaction and adHocSubProcess are parsed only so that a deployment can
// reject them by name.
const (
	KindStartEvent             Kind = "startEvent"
	KindEndEvent               Kind = "endEvent"
	KindIntermediateCatchEvent Kind = "intermediateCatchEvent"
	KindIntermediateThrowEvent Kind = "intermediateThrowEvent"
	KindBoundaryEvent          Kind = "boundaryEvent"

	KindTask             Kind = "task"
	KindManualTask       Kind = "manualTask"
	KindUserTask         Kind = "userTask"
	KindServiceTask      Kind = "serviceTask"
	KindSendTask         Kind = "sendTask"
	KindReceiveTask      Kind = "receiveTask"
	KindScriptTask       Kind = "scriptTask"
	KindBusinessRuleTask Kind = "businessRuleTask"

	KindExclusiveGateway  Kind = "exclusiveGateway"
	KindInclusiveGateway  Kind = "inclusiveGateway"
	KindParallelGateway   Kind = "parallelGateway"
	KindEventBasedGateway Kind = "eventBasedGateway"
	KindComplexGateway    Kind = "complexGateway"

	KindSubProcess      Kind = "subProcess"
	KindTransaction     Kind = "transaction"
	KindAdHocSubProcess Kind = "adHocSubProcess"
	KindCallActivity    Kind = "callActivity"
)

// kindOf maps element local names to kinds; its keys are exactly the flow nodes the parser
// knows.
var kindOf = map[string]Kind{}

func init() {
	for _, k := range []Kind{
		KindStartEvent, KindEndEvent, KindIntermediateCatchEvent, KindIntermediateThrowEvent,
		KindBoundaryEvent, KindTask, KindManualTask, KindUserTask, KindServiceTask, KindSendTask,
		KindReceiveTask, KindScriptTask, KindBusinessRuleTask, KindExclusiveGateway,
		KindInclusiveGateway, KindParallelGateway, KindEventBasedGateway, KindComplexGateway,
		KindSubProcess, KindTransaction, KindAdHocSubProcess, KindCallActivity,
	} {
		kindOf[string(k)] = k
	}
}

// IsEvent reports whether k is one of the five event kinds.
func (k Kind) IsEvent() bool {
	switch k {
	case KindStartEvent, KindEndEvent, KindIntermediateCatchEvent, KindIntermediateThrowEvent,
		KindBoundaryEvent:
		return true
	}
	return false
}

// IsGateway reports whether k is a gateway kind.
func (k Kind) IsGateway() bool {
	switch k {
	case KindExclusiveGateway, KindInclusiveGateway, KindParallelGateway, KindEventBasedGateway,
		KindComplexGateway:
		return true
	}
	return false
}

// IsActivity reports whether k is a task, a sub-process of any kind or a call activity: the
// nodes that take loop characteristics and boundary events.
func (k Kind) IsActivity() bool {
	_, known := kindOf[string(k)]
	return known && !k.IsEvent() && !k.IsGateway()
}

// IsSubProcess reports whether k contains a nested scope (FlowNode.SubProcess is set).
func (k Kind) IsSubProcess() bool {
	return k == KindSubProcess || k == KindTransaction || k == KindAdHocSubProcess
}

// FlowNode is one event, task, gateway, sub-process or call activity. The fields every node
// has come first; the kind-specific parts are pointers that are nil for other kinds, so a
// deployment walks one type and switches on Kind.
//
// Attributes in the camunda namespace sit beside the BPMN attributes they qualify (Async,
// UserTask, Implementation, ...). Camunda 8 extension elements are gathered in Zeebe.
type FlowNode struct {
	Kind Kind
	ID   string
	Name string
	// Line is the line of the element's start tag.
	Line          int
	Documentation string

	// Incoming and Outgoing are the IDs in the node's incoming and outgoing child elements.
	// Modelers write them, but they are redundant: sequence flows' SourceRef and TargetRef are
	// authoritative, and these may be missing or disagree in hand-written files.
	Incoming []string
	Outgoing []string

	// Default is the ID of the default sequence flow (exclusive, inclusive and complex
	// gateways, and activities).
	Default string

	// Async holds the camunda:async* job settings.
	Async Async

	// Loop is the loop characteristics of an activity, or nil.
	Loop *Loop

	// Event is set for the five event kinds.
	Event *Event

	// UserTask is set for userTask.
	UserTask *UserTask

	// Implementation is set for serviceTask, sendTask and businessRuleTask: how the work is
	// done (external task topic, or a Java-only binding that a deployment must reject).
	Implementation *TaskImplementation

	// Script is set for scriptTask.
	Script *ScriptTask

	// MessageRef is the messageRef of a receiveTask or sendTask.
	MessageRef string

	// SubProcess is set for subProcess, transaction and adHocSubProcess.
	SubProcess *SubProcess

	// CallActivity is set for callActivity.
	CallActivity *CallActivity

	// Listeners are the camunda:executionListener and camunda:taskListener elements. They name
	// Java classes, expressions or scripts run by the engine, so a deployment will usually
	// reject them; they are recorded so it can say which one.
	Listeners []*Listener

	// InputOutput is camunda:inputOutput, or nil.
	InputOutput *InputOutput

	// Properties are camunda:properties entries, in order.
	Properties []Property

	// Zeebe holds the Camunda 8 extension elements, or is nil when there are none.
	Zeebe *Zeebe
}

// Async holds the Camunda job settings of a flow node or a multi-instance body.
type Async struct {
	// Before is camunda:asyncBefore (or the older camunda:async): continue in a job before
	// the node starts.
	Before bool
	// After is camunda:asyncAfter: continue in a job after the node completes.
	After bool
	// Exclusive is camunda:exclusive; true unless the attribute says false.
	Exclusive bool
	// JobPriority is camunda:jobPriority as written: a number or an expression.
	JobPriority string
	// FailedJobRetryTimeCycle is the camunda:failedJobRetryTimeCycle extension element, such
	// as "R3/PT5M".
	FailedJobRetryTimeCycle string
}

// LoopKind tells multi-instance and standard loops apart.
type LoopKind string

// Loop kinds.
const (
	LoopMultiInstance LoopKind = "multiInstanceLoopCharacteristics"
	// LoopStandard is a standard (while) loop. It is recorded only so a deployment can reject
	// it by name; its condition is not captured.
	LoopStandard LoopKind = "standardLoopCharacteristics"
)

// Loop is the loop characteristics of an activity.
type Loop struct {
	Kind LoopKind
	Line int
	// IsSequential is false (parallel instances) unless the attribute says true.
	IsSequential bool
	// LoopCardinality is the loopCardinality expression text.
	LoopCardinality string
	// CompletionCondition is the completionCondition expression text.
	CompletionCondition string
	// Collection and ElementVariable are camunda:collection and camunda:elementVariable.
	Collection      string
	ElementVariable string
	// Async holds camunda:asyncBefore/asyncAfter of the multi-instance body.
	Async Async
	// Zeebe is the Camunda 8 zeebe:loopCharacteristics, or nil.
	Zeebe *ZeebeLoop
}

// Event holds what the five event kinds carry beyond a plain flow node.
type Event struct {
	// Definitions are the event definitions in document order. None means a "none" event;
	// more than one is a "multiple" event.
	Definitions []*EventDefinition
	// IsInterrupting applies to start events of event sub-processes; true unless the
	// attribute says false.
	IsInterrupting bool
	// ParallelMultiple applies to catch events with several definitions.
	ParallelMultiple bool
	// AttachedToRef is the activity a boundary event is attached to.
	AttachedToRef string
	// CancelActivity applies to boundary events; true unless the attribute says false.
	CancelActivity bool
	// Initiator is camunda:initiator of a start event: the variable that receives the
	// starting user's ID.
	Initiator string
	// FormKey is camunda:formKey of a start event.
	FormKey string
}

// EventKind is the type of an event definition. Its value is the element's local name without
// the "EventDefinition" suffix.
type EventKind string

// Event definition kinds. The parser recognises all of BPMN's; which ones run is the
// deployment's decision.
const (
	EventTimer       EventKind = "timer"
	EventMessage     EventKind = "message"
	EventError       EventKind = "error"
	EventTerminate   EventKind = "terminate"
	EventSignal      EventKind = "signal"
	EventEscalation  EventKind = "escalation"
	EventCompensate  EventKind = "compensate"
	EventConditional EventKind = "conditional"
	EventLink        EventKind = "link"
	EventCancel      EventKind = "cancel"
)

// eventKindOf maps element local names to event definition kinds.
var eventKindOf = map[string]EventKind{}

func init() {
	for _, k := range []EventKind{
		EventTimer, EventMessage, EventError, EventTerminate, EventSignal, EventEscalation,
		EventCompensate, EventConditional, EventLink, EventCancel,
	} {
		eventKindOf[string(k)+"EventDefinition"] = k
	}
}

// EventDefinition is one event definition of an event. Only the fields of its Kind are set.
type EventDefinition struct {
	Kind EventKind
	ID   string
	Line int

	// TimeDate, TimeDuration and TimeCycle are the timer's expressions, trimmed. The schema
	// allows exactly one; all present ones are kept so a deployment can check that.
	TimeDate     string
	TimeDuration string
	TimeCycle    string

	// MessageRef names the Message of a message event.
	MessageRef string

	// ErrorRef names the Error of an error event; empty on a catch event catches all errors.
	ErrorRef string
	// ErrorCodeVariable and ErrorMessageVariable are the camunda: variables that receive
	// the caught error's code and message.
	ErrorCodeVariable    string
	ErrorMessageVariable string

	// SignalRef and EscalationRef name the declaration of a signal or escalation event.
	SignalRef     string
	EscalationRef string

	// Implementation is how a Camunda 7 message throw event sends its message
	// (camunda:type="external" and camunda:topic, or a Java binding), or nil.
	Implementation *TaskImplementation
}

// UserTask holds the Camunda 7 attributes of a user task. Camunda 8 assignment lives in
// FlowNode.Zeebe.
type UserTask struct {
	Assignee        string // camunda:assignee
	CandidateUsers  string // camunda:candidateUsers, comma-separated
	CandidateGroups string // camunda:candidateGroups, comma-separated
	DueDate         string // camunda:dueDate
	FollowUpDate    string // camunda:followUpDate
	FormKey         string // camunda:formKey
	Priority        string // camunda:priority
}

// TaskImplementation is how a service, send or business rule task (or a message throw event)
// does its work in Camunda 7. Type "external" with a Topic is an external task fetched by
// workers; Class, DelegateExpression, Expression, DecisionRef and ConnectorID bind to Java
// code, DMN or connectors, and are recorded so a deployment can reject them by name.
type TaskImplementation struct {
	Type               string // camunda:type, normally "external"
	Topic              string // camunda:topic
	TaskPriority       string // camunda:taskPriority
	Class              string // camunda:class
	DelegateExpression string // camunda:delegateExpression
	Expression         string // camunda:expression
	ResultVariable     string // camunda:resultVariable
	DecisionRef        string // camunda:decisionRef of a business rule task
	// Connector is the camunda:connector extension element, or nil.
	Connector *Connector
}

// Connector is a camunda:connector extension element: a call through a connector plugin.
type Connector struct {
	// ID is the connectorId child's text, such as "http-connector"; empty if it has none.
	ID   string
	Line int
}

// ScriptTask holds a script task's script.
type ScriptTask struct {
	// ScriptFormat is the scriptFormat attribute, such as "javascript" or "groovy".
	ScriptFormat string
	// Script is the script element's text as written.
	Script string
	// ResultVariable is camunda:resultVariable.
	ResultVariable string
	// Resource is camunda:resource: a script kept in another resource.
	Resource string
}

// SubProcess is the nested scope of a subProcess, transaction or adHocSubProcess.
type SubProcess struct {
	// TriggeredByEvent marks an event sub-process, started by its start event.
	TriggeredByEvent bool
	Scope
}

// CallActivity holds what a call activity calls and how variables pass.
type CallActivity struct {
	// CalledElement is the ID of the called process (Camunda 7).
	CalledElement string
	// Binding is camunda:calledElementBinding: "latest" (when empty), "deployment",
	// "version" or "versionTag".
	Binding string
	// Version and VersionTag are camunda:calledElementVersion and
	// camunda:calledElementVersionTag.
	Version    string
	VersionTag string
	// TenantID is camunda:calledElementTenantId. In this engine the tenant comes from the
	// context; a deployment should reject a call that names another one.
	TenantID string
	// In and Out are the camunda:in and camunda:out mappings in document order.
	In  []*VariableMapping
	Out []*VariableMapping
}

// VariableMapping is one camunda:in or camunda:out element of a call activity.
type VariableMapping struct {
	// Source is a variable name, SourceExpression an expression; at most one is set.
	Source           string
	SourceExpression string
	Target           string
	// All is variables="all": pass every variable.
	All bool
	// Local is local="true": use local variables only.
	Local bool
	// BusinessKey is the businessKey expression of a camunda:in element.
	BusinessKey string
	Line        int
}

// Listener is a camunda:executionListener or camunda:taskListener element.
type Listener struct {
	// Type is "executionListener" or "taskListener".
	Type string
	// Event is the event attribute, such as "start", "end", "take", "create" or "complete".
	Event              string
	Class              string
	Expression         string
	DelegateExpression string
	// Script is the listener's camunda:script child (Language is its scriptFormat), or nil.
	Script *Expression
	Line   int
}

// InputOutput is camunda:inputOutput: local variables set when a node starts and variables
// written back when it ends.
type InputOutput struct {
	Inputs  []*Parameter
	Outputs []*Parameter
}

// ParameterKind tells how a camunda:inputParameter or outputParameter gives its value.
type ParameterKind string

// Parameter kinds.
const (
	// ParamText is a text value, usually an expression such as "${amount * 2}"; an empty
	// text means null.
	ParamText ParameterKind = "text"
	// ParamScript is a camunda:script value; Value holds the script text.
	ParamScript ParameterKind = "script"
	// ParamList and ParamMap are camunda:list and camunda:map values; their entries are not
	// captured.
	ParamList ParameterKind = "list"
	ParamMap  ParameterKind = "map"
)

// Parameter is one camunda:inputParameter or camunda:outputParameter.
type Parameter struct {
	Name string
	Kind ParameterKind
	// Value is the text (trimmed) or the script text.
	Value string
	// ScriptFormat is the script's language when Kind is ParamScript.
	ScriptFormat string
	Line         int
}

// Property is one camunda:property or zeebe:property entry.
type Property struct {
	Name  string
	Value string
}

// Zeebe holds the Camunda 8 extension elements of a flow node. Each pointer is nil when the
// element is absent. Values are kept as written; in Camunda 8 a leading "=" marks a FEEL
// expression.
type Zeebe struct {
	TaskDefinition *ZeebeTaskDefinition
	Assignment     *ZeebeAssignment
	Form           *ZeebeForm
	TaskSchedule   *ZeebeTaskSchedule
	CalledElement  *ZeebeCalledElement
	CalledDecision *ZeebeCalledDecision
	Script         *ZeebeScript
	IOMapping      *ZeebeIOMapping
	TaskHeaders    []ZeebeHeader
	Properties     []Property
}

// ZeebeTaskDefinition is zeebe:taskDefinition: the job type workers subscribe to.
type ZeebeTaskDefinition struct {
	Type    string
	Retries string
}

// ZeebeAssignment is zeebe:assignmentDefinition of a user task.
type ZeebeAssignment struct {
	Assignee        string
	CandidateGroups string
	CandidateUsers  string
}

// ZeebeForm is zeebe:formDefinition of a user task or start event.
type ZeebeForm struct {
	FormKey string
	FormID  string
}

// ZeebeTaskSchedule is zeebe:taskSchedule of a user task.
type ZeebeTaskSchedule struct {
	DueDate      string
	FollowUpDate string
}

// ZeebeCalledElement is zeebe:calledElement of a call activity.
type ZeebeCalledElement struct {
	ProcessID string
	// PropagateAllChildVariables and PropagateAllParentVariables default to true.
	PropagateAllChildVariables  bool
	PropagateAllParentVariables bool
}

// ZeebeCalledDecision is zeebe:calledDecision of a business rule task (a DMN decision).
type ZeebeCalledDecision struct {
	DecisionID     string
	ResultVariable string
}

// ZeebeScript is zeebe:script of a script task: a FEEL expression.
type ZeebeScript struct {
	Expression     string
	ResultVariable string
}

// ZeebeIOMapping is zeebe:ioMapping: input and output variable mappings.
type ZeebeIOMapping struct {
	Inputs  []ZeebeMapping
	Outputs []ZeebeMapping
}

// ZeebeMapping is one zeebe:input or zeebe:output.
type ZeebeMapping struct {
	Source string
	Target string
	Line   int
}

// ZeebeHeader is one zeebe:header of zeebe:taskHeaders: static data handed to the worker.
type ZeebeHeader struct {
	Key   string
	Value string
}

// ZeebeLoop is zeebe:loopCharacteristics of a multi-instance activity.
type ZeebeLoop struct {
	InputCollection  string
	InputElement     string
	OutputCollection string
	OutputElement    string
}
