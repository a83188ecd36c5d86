package bpmn_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/engine/bpmn"
)

// header opens a definitions element on line 1 with the usual namespaces, so line N of a body
// passed to doc is line N+1 of the document.
const header = `<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="D1" targetNamespace="urn:test">`

func doc(body string) string {
	return header + "\n" + body + "\n</bpmn:definitions>\n"
}

func mustParse(t *testing.T, src string) *bpmn.Definitions {
	t.Helper()
	defs, err := bpmn.ParseBytes([]byte(src), bpmn.Options{})
	if err != nil {
		t.Fatalf("ParseBytes: %v", err)
	}
	return defs
}

func parseErr(t *testing.T, src string, opts bpmn.Options) *bpmn.ParseError {
	t.Helper()
	defs, err := bpmn.ParseBytes([]byte(src), opts)
	if err == nil {
		t.Fatalf("ParseBytes succeeded with %d processes, want an error", len(defs.Processes))
	}
	if defs != nil {
		t.Errorf("ParseBytes returned definitions with its error")
	}
	var pe *bpmn.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T %v is not a *ParseError", err, err)
	}
	if len(pe.Problems) == 0 {
		t.Fatal("ParseError without problems")
	}
	return pe
}

func nodesByID(defs *bpmn.Definitions) map[string]*bpmn.FlowNode {
	m := map[string]*bpmn.FlowNode{}
	for _, pr := range defs.Processes {
		for n := range pr.AllFlowNodes() {
			m[n.ID] = n
		}
	}
	return m
}

// TestNamespacesByURI parses one process written with the usual prefix, another prefix, the
// default namespace, and odd prefixes for the extensions: all must give the same result.
func TestNamespacesByURI(t *testing.T) {
	t.Parallel()
	const (
		model   = "http://www.omg.org/spec/BPMN/20100524/MODEL"
		camunda = "http://camunda.org/schema/1.0/bpmn"
	)
	tests := []struct {
		name string
		src  string
	}{
		{"bpmn prefix", `<bpmn:definitions xmlns:bpmn="` + model + `" xmlns:camunda="` + camunda + `" id="D">
<bpmn:process id="P" isExecutable="true">
<bpmn:startEvent id="S"/>
<bpmn:sequenceFlow id="F" sourceRef="S" targetRef="T"/>
<bpmn:serviceTask id="T" camunda:type="external" camunda:topic="work"/>
</bpmn:process>
</bpmn:definitions>`},
		{"bpmn2 prefix", `<bpmn2:definitions xmlns:bpmn2="` + model + `" xmlns:camunda="` + camunda + `" id="D">
<bpmn2:process id="P" isExecutable="true">
<bpmn2:startEvent id="S"/>
<bpmn2:sequenceFlow id="F" sourceRef="S" targetRef="T"/>
<bpmn2:serviceTask id="T" camunda:type="external" camunda:topic="work"/>
</bpmn2:process>
</bpmn2:definitions>`},
		{"default namespace", `<definitions xmlns="` + model + `" xmlns:c="` + camunda + `" id="D">
<process id="P" isExecutable="true">
<startEvent id="S"/>
<sequenceFlow id="F" sourceRef="S" targetRef="T"/>
<serviceTask id="T" c:type="external" c:topic="work"/>
</process>
</definitions>`},
		{"prefix declared late and rebound", `<x:definitions xmlns:x="` + model + `" id="D">
<x:process id="P" isExecutable="true" xmlns:bpmn="urn:not-bpmn">
<x:startEvent id="S"/>
<bpmn:startEvent id="NotBPMN"/>
<x:sequenceFlow id="F" sourceRef="S" targetRef="T"/>
<x:serviceTask id="T" xmlns:cam="` + camunda + `" cam:type="external" cam:topic="work" camunda:topic="wrong" xmlns:camunda="urn:not-camunda"/>
</x:process>
</x:definitions>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defs := mustParse(t, tt.src)
			if len(defs.Processes) != 1 {
				t.Fatalf("processes = %d, want 1", len(defs.Processes))
			}
			pr := defs.Processes[0]
			eq(t, "IsExecutable", pr.IsExecutable, true)
			if len(pr.FlowNodes) != 2 || len(pr.SequenceFlows) != 1 {
				t.Fatalf("nodes, flows = %d, %d; want 2, 1", len(pr.FlowNodes), len(pr.SequenceFlows))
			}
			eq(t, "S", pr.FlowNodes[0].Kind, bpmn.KindStartEvent)
			eq(t, "S line", pr.FlowNodes[0].Line, 3)
			task := pr.FlowNodes[1]
			eq(t, "T kind", task.Kind, bpmn.KindServiceTask)
			eq(t, "T implementation", *task.Implementation, bpmn.TaskImplementation{Type: "external", Topic: "work"})
			f := pr.SequenceFlows[0]
			eq(t, "F", f.SourceRef+"->"+f.TargetRef, "S->T")
			eq(t, "unsupported", len(defs.Unsupported), 0)
		})
	}
}

func TestNotBPMN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		line      int
	}{
		{"other namespace", `<?xml version="1.0"?>` + "\n" + `<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL/v2"/>`, 2},
		{"undeclared prefix", `<bpmn:definitions id="D"/>`, 1},
		{"other root", `<html><body/></html>`, 1},
		{"empty", ``, 1},
		{"only a comment", "<!-- nothing -->\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pe := parseErr(t, tt.src, bpmn.Options{})
			if !errors.Is(pe, bpmn.ErrNotBPMN) {
				t.Errorf("error %v is not ErrNotBPMN", pe)
			}
			eq(t, "line", pe.Problems[0].Line, tt.line)
		})
	}
}

// TestLines checks that lines are those of start tags, also when a start tag spans lines or
// follows comments, CDATA and processing instructions on the same line.
func TestLines(t *testing.T) {
	t.Parallel()
	src := `<?xml version="1.0" encoding="UTF-8"?>
<!-- exported by hand -->
<bpmn:definitions
    xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="D">
  <bpmn:process id="P"
      isExecutable="true"><bpmn:startEvent id="S"
        name="Start"/><!-- c --><bpmn:task id="T1"/>

  <?pi x?><bpmn:task
      id="T2"><bpmn:documentation><![CDATA[
      multi
      line]]></bpmn:documentation></bpmn:task>
    <bpmn:sequenceFlow id="F" sourceRef="T1" targetRef="T2">
      <bpmn:conditionExpression>
        ${a &lt; b}
      </bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>`
	defs := mustParse(t, src)
	eq(t, "definitions", defs.Line, 3)
	pr := defs.Processes[0]
	eq(t, "process", pr.Line, 6)
	want := map[string]int{"S": 7, "T1": 8, "T2": 10}
	for n := range pr.AllFlowNodes() {
		eq(t, n.ID+" line", n.Line, want[n.ID])
	}
	t2 := pr.FlowNodes[2]
	eq(t, "T2 documentation", t2.Documentation, "multi\n      line")
	f := pr.SequenceFlows[0]
	eq(t, "F line", f.Line, 14)
	eq(t, "condition line", f.Condition.Line, 15)
	eq(t, "condition text", f.Condition.Text, "${a < b}")
}

func TestUnsupportedElementsRecorded(t *testing.T) {
	t.Parallel()
	src := doc(`<bpmn:import importType="http://www.w3.org/2001/XMLSchema" location="x.xsd" namespace="urn:x"/>
<bpmn:process id="P" isExecutable="true">
  <bpmn:choreographyTask id="C1" name="Dance"/>
  <bpmn:userTask id="U">
    <bpmn:potentialOwner id="PO"><bpmn:resourceAssignmentExpression/></bpmn:potentialOwner>
  </bpmn:userTask>
  <bpmn:subProcess id="Sub">
    <bpmn:implicitThrowEvent id="I"/>
    <bpmn:startEvent id="SubStart"><bpmn:eventDefinitionRef>Global</bpmn:eventDefinitionRef></bpmn:startEvent>
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="F" sourceRef="U" targetRef="Sub"><bpmn:incoming>x</bpmn:incoming></bpmn:sequenceFlow>
  <bpmn:endEvent id="E"><bpmn:multiInstanceLoopCharacteristics/></bpmn:endEvent>
  <bpmn:textAnnotation id="A"><bpmn:text>note</bpmn:text></bpmn:textAnnotation>
  <bpmn:association id="As" sourceRef="U" targetRef="A"/>
  <bpmn:dataObjectReference id="DOR" dataObjectRef="DO"/>
  <bpmn:dataObject id="DO"/>
  <bpmn:task id="T">
    <bpmn:property id="Prop" name="__targetRef_placeholder"/>
    <bpmn:dataInputAssociation id="DIA"><bpmn:sourceRef>DOR</bpmn:sourceRef><bpmn:targetRef>Prop</bpmn:targetRef></bpmn:dataInputAssociation>
  </bpmn:task>
  <bpmn:group id="G" categoryValueRef="CV"/>
  <other:thing xmlns:other="urn:other" id="O"><bpmn:bogus/></other:thing>
</bpmn:process>
<bpmn:category id="Cat"><bpmn:categoryValue id="CV" value="x"/></bpmn:category>`)
	defs := mustParse(t, src)
	got := map[string]bpmn.UnsupportedElement{}
	for _, u := range defs.Unsupported {
		got[u.Tag] = *u
	}
	want := []bpmn.UnsupportedElement{
		{Tag: "import", Line: 2, ParentTag: "definitions", ParentID: "D1"},
		{Tag: "choreographyTask", ID: "C1", Name: "Dance", Line: 4, ParentTag: "process", ParentID: "P", ProcessID: "P"},
		{Tag: "potentialOwner", ID: "PO", Line: 6, ParentTag: "userTask", ParentID: "U", ProcessID: "P"},
		{Tag: "implicitThrowEvent", ID: "I", Line: 9, ParentTag: "subProcess", ParentID: "Sub", ProcessID: "P"},
		{Tag: "eventDefinitionRef", Line: 10, ParentTag: "startEvent", ParentID: "SubStart", ProcessID: "P"},
		{Tag: "incoming", Line: 12, ParentTag: "sequenceFlow", ParentID: "F", ProcessID: "P"},
		{Tag: "multiInstanceLoopCharacteristics", Line: 13, ParentTag: "endEvent", ParentID: "E", ProcessID: "P"},
	}
	if len(defs.Unsupported) != len(want) {
		for _, u := range defs.Unsupported {
			t.Logf("unsupported: %+v", *u)
		}
		t.Fatalf("unsupported = %d, want %d", len(defs.Unsupported), len(want))
	}
	for _, w := range want {
		eq(t, w.Tag, got[w.Tag], w)
	}
	// Known nodes around the unknown ones are still parsed.
	nodes := nodesByID(defs)
	for _, id := range []string{"U", "Sub", "SubStart", "E", "T"} {
		if nodes[id] == nil {
			t.Errorf("flow node %s missing", id)
		}
	}
	if nodes["C1"] != nil || nodes["I"] != nil {
		t.Error("unknown elements became flow nodes")
	}
}

// TestRecognisedKinds covers the kinds a deployment rejects by name: they must be parsed with
// their kind and line, not reported as unknown.
func TestRecognisedKinds(t *testing.T) {
	t.Parallel()
	src := doc(`<bpmn:process id="P" isExecutable="true">
  <bpmn:complexGateway id="CG" default="F1"/>
  <bpmn:inclusiveGateway id="IG" default="F2"/>
  <bpmn:parallelGateway id="PG"/>
  <bpmn:transaction id="Tx" method="##Compensate"><bpmn:task id="InTx"/></bpmn:transaction>
  <bpmn:adHocSubProcess id="AH"><bpmn:manualTask id="InAH"/><bpmn:completionCondition>${done}</bpmn:completionCondition></bpmn:adHocSubProcess>
  <bpmn:task id="Loop"><bpmn:standardLoopCharacteristics testBefore="true"><bpmn:loopCondition>${again}</bpmn:loopCondition></bpmn:standardLoopCharacteristics></bpmn:task>
  <bpmn:intermediateThrowEvent id="Sig"><bpmn:signalEventDefinition id="SD" signalRef="Signal_1"/></bpmn:intermediateThrowEvent>
  <bpmn:endEvent id="Esc"><bpmn:escalationEventDefinition escalationRef="Esc_1"/></bpmn:endEvent>
  <bpmn:intermediateThrowEvent id="Comp"><bpmn:compensateEventDefinition/></bpmn:intermediateThrowEvent>
  <bpmn:intermediateCatchEvent id="Cond"><bpmn:conditionalEventDefinition><bpmn:condition>${x}</bpmn:condition></bpmn:conditionalEventDefinition></bpmn:intermediateCatchEvent>
  <bpmn:intermediateCatchEvent id="Link"><bpmn:linkEventDefinition name="L"/></bpmn:intermediateCatchEvent>
  <bpmn:boundaryEvent id="Cancel" attachedToRef="Tx"><bpmn:cancelEventDefinition/></bpmn:boundaryEvent>
  <bpmn:startEvent id="Multi" parallelMultiple="true"><bpmn:messageEventDefinition messageRef="M"/><bpmn:timerEventDefinition><bpmn:timeCycle>R/PT1H</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>
</bpmn:process>
<bpmn:signal id="Signal_1" name="alarm"/>
<bpmn:escalation id="Esc_1" name="late" escalationCode="LATE"/>`)
	defs := mustParse(t, src)
	for _, u := range defs.Unsupported {
		t.Errorf("unsupported: %+v", *u)
	}
	nodes := nodesByID(defs)
	kinds := map[string]bpmn.Kind{
		"CG": bpmn.KindComplexGateway, "IG": bpmn.KindInclusiveGateway, "PG": bpmn.KindParallelGateway,
		"Tx": bpmn.KindTransaction, "InTx": bpmn.KindTask, "AH": bpmn.KindAdHocSubProcess, "InAH": bpmn.KindManualTask,
	}
	for id, k := range kinds {
		eq(t, id+" kind", nodes[id].Kind, k)
	}
	eq(t, "CG default", nodes["CG"].Default, "F1")
	eq(t, "IG default", nodes["IG"].Default, "F2")
	eq(t, "Tx line", nodes["Tx"].Line, 6)
	eq(t, "Tx children", len(nodes["Tx"].SubProcess.FlowNodes), 1)
	eq(t, "AH is sub-process", nodes["AH"].Kind.IsSubProcess(), true)
	eq(t, "standard loop", *nodes["Loop"].Loop, bpmn.Loop{Kind: bpmn.LoopStandard, Line: 8})

	defKinds := map[string]bpmn.EventKind{
		"Sig": bpmn.EventSignal, "Esc": bpmn.EventEscalation, "Comp": bpmn.EventCompensate,
		"Cond": bpmn.EventConditional, "Link": bpmn.EventLink, "Cancel": bpmn.EventCancel,
	}
	for id, k := range defKinds {
		defs := nodes[id].Event.Definitions
		if len(defs) != 1 {
			t.Errorf("%s: %d definitions, want 1", id, len(defs))
			continue
		}
		eq(t, id+" definition kind", defs[0].Kind, k)
		eq(t, id+" definition line", defs[0].Line, nodes[id].Line)
	}
	eq(t, "signal ref", nodes["Sig"].Event.Definitions[0].SignalRef, "Signal_1")
	eq(t, "signal definition ID", nodes["Sig"].Event.Definitions[0].ID, "SD")
	eq(t, "escalation ref", nodes["Esc"].Event.Definitions[0].EscalationRef, "Esc_1")
	multi := nodes["Multi"].Event
	eq(t, "multiple definitions", len(multi.Definitions), 2)
	eq(t, "parallel multiple", multi.ParallelMultiple, true)
	eq(t, "time cycle", multi.Definitions[1].TimeCycle, "R/PT1H")
	eqSlice(t, "signals", []bpmn.Signal{*defs.Signals[0]}, []bpmn.Signal{{ID: "Signal_1", Name: "alarm", Line: 17}})
	eqSlice(t, "escalations", []bpmn.Escalation{*defs.Escalations[0]}, []bpmn.Escalation{{ID: "Esc_1", Name: "late", EscalationCode: "LATE", Line: 18}})
}

func TestKindPredicates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind                                   bpmn.Kind
		event, gateway, activity, subProcesses bool
	}{
		{bpmn.KindBoundaryEvent, true, false, false, false},
		{bpmn.KindEventBasedGateway, false, true, false, false},
		{bpmn.KindUserTask, false, false, true, false},
		{bpmn.KindCallActivity, false, false, true, false},
		{bpmn.KindTransaction, false, false, true, true},
		{"", false, false, false, false},
		{"choreographyTask", false, false, false, false},
	}
	for _, tt := range tests {
		eq(t, string(tt.kind)+" IsEvent", tt.kind.IsEvent(), tt.event)
		eq(t, string(tt.kind)+" IsGateway", tt.kind.IsGateway(), tt.gateway)
		eq(t, string(tt.kind)+" IsActivity", tt.kind.IsActivity(), tt.activity)
		eq(t, string(tt.kind)+" IsSubProcess", tt.kind.IsSubProcess(), tt.subProcesses)
	}
}

func TestSubProcessesAndWalking(t *testing.T) {
	t.Parallel()
	src := doc(`<bpmn:process id="P" isExecutable="true">
  <bpmn:startEvent id="S"/>
  <bpmn:subProcess id="Outer">
    <bpmn:startEvent id="OS"/>
    <bpmn:subProcess id="Inner"><bpmn:task id="IT"/><bpmn:sequenceFlow id="IF" sourceRef="IT" targetRef="IT"/></bpmn:subProcess>
    <bpmn:sequenceFlow id="OF" sourceRef="OS" targetRef="Inner"/>
    <bpmn:laneSet id="SubLanes"><bpmn:lane id="SubLane"/></bpmn:laneSet>
  </bpmn:subProcess>
  <bpmn:subProcess id="Events" triggeredByEvent="true">
    <bpmn:startEvent id="ES" isInterrupting="false"><bpmn:timerEventDefinition><bpmn:timeDate>2030-01-01T00:00:00Z</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:startEvent>
  </bpmn:subProcess>
  <bpmn:sequenceFlow id="F" sourceRef="S" targetRef="Outer"/>
</bpmn:process>`)
	defs := mustParse(t, src)
	pr := defs.Processes[0]
	var ids []string
	for n := range pr.AllFlowNodes() {
		ids = append(ids, n.ID)
	}
	eqSlice(t, "walk order", ids, []string{"S", "Outer", "OS", "Inner", "IT", "Events", "ES"})
	var flows []string
	for f := range pr.AllSequenceFlows() {
		flows = append(flows, f.ID)
	}
	eqSlice(t, "flows", flows, []string{"F", "OF", "IF"})
	// Stopping early stops the walk.
	var first []string
	for n := range pr.AllFlowNodes() {
		first = append(first, n.ID)
		if n.ID == "Inner" {
			break
		}
	}
	eqSlice(t, "early stop", first, []string{"S", "Outer", "OS", "Inner"})
	for f := range pr.AllSequenceFlows() {
		if f.ID == "OF" {
			break
		}
	}

	nodes := nodesByID(defs)
	eq(t, "Outer triggered", nodes["Outer"].SubProcess.TriggeredByEvent, false)
	eq(t, "Events triggered", nodes["Events"].SubProcess.TriggeredByEvent, true)
	es := nodes["ES"].Event
	eq(t, "ES interrupting", es.IsInterrupting, false)
	eq(t, "ES time date", es.Definitions[0].TimeDate, "2030-01-01T00:00:00Z")
	eq(t, "inner flows", len(nodes["Inner"].SubProcess.SequenceFlows), 1)
	eq(t, "unsupported", len(defs.Unsupported), 0)
}

func TestCamunda7Extensions(t *testing.T) {
	t.Parallel()
	src := doc(`<bpmn:process id="P" isExecutable="true" camunda:candidateStarterUsers="ann">
  <bpmn:extensionElements>
    <camunda:executionListener class="org.example.ProcessStart" event="start"/>
    <camunda:properties><camunda:property name="team" value="blue"/></camunda:properties>
  </bpmn:extensionElements>
  <bpmn:userTask id="U" camunda:async="true" camunda:exclusive="false" camunda:jobPriority="${prio}">
    <bpmn:extensionElements>
      <camunda:taskListener event="create"><camunda:script scriptFormat="javascript">task.setVariable('x', 1)</camunda:script></camunda:taskListener>
      <camunda:executionListener delegateExpression="${audit}" event="end"><camunda:field name="f" stringValue="v"/></camunda:executionListener>
      <camunda:inputOutput>
        <camunda:inputParameter name="plain">  ${a}  </camunda:inputParameter>
        <camunda:inputParameter name="empty"/>
        <camunda:inputParameter name="scripted"><camunda:script scriptFormat="groovy">a + b</camunda:script></camunda:inputParameter>
        <camunda:inputParameter name="listed"><camunda:list><camunda:value>1</camunda:value></camunda:list></camunda:inputParameter>
        <camunda:outputParameter name="mapped"><camunda:map><camunda:entry key="k">v</camunda:entry></camunda:map></camunda:outputParameter>
      </camunda:inputOutput>
      <camunda:formData><camunda:formField id="ff" type="string"/></camunda:formData>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:serviceTask id="Java" camunda:class="org.example.Delegate" camunda:asyncAfter="true"/>
  <bpmn:serviceTask id="Expr" camunda:expression="${svc.run()}" camunda:resultVariable="r"/>
  <bpmn:serviceTask id="Conn">
    <bpmn:extensionElements><camunda:connector><camunda:inputOutput/><camunda:connectorId>http-connector</camunda:connectorId></camunda:connector></bpmn:extensionElements>
  </bpmn:serviceTask>
  <bpmn:businessRuleTask id="Rule" camunda:decisionRef="approve" camunda:resultVariable="decision"/>
  <bpmn:scriptTask id="Script" scriptFormat="javascript" camunda:resultVariable="sum">
    <bpmn:script><![CDATA[
var a = 1;
a < 2;
]]></bpmn:script>
  </bpmn:scriptTask>
  <bpmn:scriptTask id="External" scriptFormat="groovy" camunda:resource="deployment://calc.groovy"/>
  <bpmn:receiveTask id="Receive" messageRef="M"/>
  <bpmn:callActivity id="Call" calledElement="child" camunda:calledElementBinding="version" camunda:calledElementVersion="3" camunda:calledElementVersionTag="v3" camunda:calledElementTenantId="other">
    <bpmn:extensionElements>
      <camunda:in businessKey="#{execution.processBusinessKey}"/>
      <camunda:in variables="all"/>
      <camunda:in source="a" target="b" local="true"/>
      <camunda:out sourceExpression="${x + 1}" target="y"/>
    </bpmn:extensionElements>
    <bpmn:multiInstanceLoopCharacteristics camunda:asyncBefore="true">
      <bpmn:extensionElements><camunda:failedJobRetryTimeCycle>R5/PT1M</camunda:failedJobRetryTimeCycle></bpmn:extensionElements>
      <bpmn:loopCardinality>${3}</bpmn:loopCardinality>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:callActivity>
  <bpmn:boundaryEvent id="Caught" attachedToRef="Call" cancelActivity="false">
    <bpmn:errorEventDefinition id="ED" errorRef="Err" camunda:errorCodeVariable="code" camunda:errorMessageVariable="msg"/>
  </bpmn:boundaryEvent>
  <bpmn:endEvent id="Throw"><bpmn:messageEventDefinition messageRef="M" camunda:type="external" camunda:topic="notify"/></bpmn:endEvent>
  <bpmn:intermediateThrowEvent id="ThrowConn"><bpmn:messageEventDefinition><bpmn:extensionElements><camunda:connector><camunda:connectorId>mail-send</camunda:connectorId></camunda:connector></bpmn:extensionElements></bpmn:messageEventDefinition></bpmn:intermediateThrowEvent>
  <bpmn:endEvent id="Term"><bpmn:terminateEventDefinition/></bpmn:endEvent>
  <bpmn:sequenceFlow id="F" sourceRef="U" targetRef="Java">
    <bpmn:extensionElements><camunda:executionListener expression="${log.take()}" event="take"/></bpmn:extensionElements>
    <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" language="javascript" camunda:resource="cond.js"/>
  </bpmn:sequenceFlow>
</bpmn:process>
<bpmn:message id="M" name="Notify"/>
<bpmn:error id="Err" name="Failure" errorCode="FAIL" camunda:errorMessage="${reason}"/>`)
	defs := mustParse(t, src)
	b := []byte(src)
	eq(t, "unsupported", len(defs.Unsupported), 0)
	pr := defs.Processes[0]
	eq(t, "CandidateStarterUsers", pr.CandidateStarterUsers, "ann")
	if len(pr.Listeners) != 1 {
		t.Fatalf("process listeners = %d, want 1", len(pr.Listeners))
	}
	eq(t, "process listener", *pr.Listeners[0], bpmn.Listener{Type: "executionListener", Event: "start", Class: "org.example.ProcessStart", Line: 4})
	eqSlice(t, "process properties", pr.Properties, []bpmn.Property{{Name: "team", Value: "blue"}})

	nodes := nodesByID(defs)
	u := nodes["U"]
	eq(t, "U async", u.Async, bpmn.Async{Before: true, Exclusive: false, JobPriority: "${prio}"})
	if len(u.Listeners) != 2 {
		t.Fatalf("U listeners = %d, want 2", len(u.Listeners))
	}
	eq(t, "task listener", u.Listeners[0].Type, "taskListener")
	eq(t, "task listener script", *u.Listeners[0].Script, bpmn.Expression{Text: "task.setVariable('x', 1)", Language: "javascript", Line: 9})
	eq(t, "execution listener", *u.Listeners[1], bpmn.Listener{Type: "executionListener", Event: "end", DelegateExpression: "${audit}", Line: 10})
	io := u.InputOutput
	wantIn := []bpmn.Parameter{
		{Name: "plain", Kind: bpmn.ParamText, Value: "${a}", Line: 12},
		{Name: "empty", Kind: bpmn.ParamText, Line: 13},
		{Name: "scripted", Kind: bpmn.ParamScript, Value: "a + b", ScriptFormat: "groovy", Line: 14},
		{Name: "listed", Kind: bpmn.ParamList, Line: 15},
	}
	if len(io.Inputs) != len(wantIn) || len(io.Outputs) != 1 {
		t.Fatalf("inputOutput = %d in, %d out", len(io.Inputs), len(io.Outputs))
	}
	for i, w := range wantIn {
		eq(t, w.Name, *io.Inputs[i], w)
	}
	eq(t, "mapped", *io.Outputs[0], bpmn.Parameter{Name: "mapped", Kind: bpmn.ParamMap, Line: 16})

	eq(t, "Java", *nodes["Java"].Implementation, bpmn.TaskImplementation{Class: "org.example.Delegate"})
	eq(t, "Java async", nodes["Java"].Async, bpmn.Async{After: true, Exclusive: true})
	eq(t, "Expr", *nodes["Expr"].Implementation, bpmn.TaskImplementation{Expression: "${svc.run()}", ResultVariable: "r"})
	eq(t, "Conn", *nodes["Conn"].Implementation.Connector, bpmn.Connector{ID: "http-connector", Line: lineOf(t, b, "<camunda:connector><camunda:inputOutput/>")})
	eq(t, "Rule", *nodes["Rule"].Implementation, bpmn.TaskImplementation{DecisionRef: "approve", ResultVariable: "decision"})
	eq(t, "Script", *nodes["Script"].Script, bpmn.ScriptTask{ScriptFormat: "javascript", ResultVariable: "sum", Script: "\nvar a = 1;\na < 2;\n"})
	eq(t, "External", *nodes["External"].Script, bpmn.ScriptTask{ScriptFormat: "groovy", Resource: "deployment://calc.groovy"})
	eq(t, "Receive", nodes["Receive"].MessageRef, "M")

	call := nodes["Call"]
	ca := call.CallActivity
	eqSlice(t, "call", []string{ca.CalledElement, ca.Binding, ca.Version, ca.VersionTag, ca.TenantID},
		[]string{"child", "version", "3", "v3", "other"})
	if len(ca.In) != 3 || len(ca.Out) != 1 {
		t.Fatalf("call in, out = %d, %d; want 3, 1", len(ca.In), len(ca.Out))
	}
	eq(t, "in business key", *ca.In[0], bpmn.VariableMapping{BusinessKey: "#{execution.processBusinessKey}", Line: lineOf(t, b, "<camunda:in businessKey")})
	eq(t, "in all", *ca.In[1], bpmn.VariableMapping{All: true, Line: lineOf(t, b, `<camunda:in variables="all"`)})
	eq(t, "in local", *ca.In[2], bpmn.VariableMapping{Source: "a", Target: "b", Local: true, Line: lineOf(t, b, `<camunda:in source="a"`)})
	eq(t, "out", *ca.Out[0], bpmn.VariableMapping{SourceExpression: "${x + 1}", Target: "y", Line: lineOf(t, b, "<camunda:out sourceExpression")})
	eq(t, "call loop", *call.Loop, bpmn.Loop{
		Kind: bpmn.LoopMultiInstance, Line: lineOf(t, b, "<bpmn:multiInstanceLoopCharacteristics"), LoopCardinality: "${3}",
		Async: bpmn.Async{Before: true, Exclusive: true, FailedJobRetryTimeCycle: "R5/PT1M"},
	})

	caught := nodes["Caught"].Event
	eq(t, "cancelActivity", caught.CancelActivity, false)
	eq(t, "error definition", *caught.Definitions[0], bpmn.EventDefinition{
		Kind: bpmn.EventError, ID: "ED", Line: lineOf(t, b, `id="ED"`), ErrorRef: "Err", ErrorCodeVariable: "code", ErrorMessageVariable: "msg",
	})
	eq(t, "message throw", *nodes["Throw"].Event.Definitions[0].Implementation, bpmn.TaskImplementation{Type: "external", Topic: "notify"})
	eq(t, "message throw connector", nodes["ThrowConn"].Event.Definitions[0].Implementation.Connector.ID, "mail-send")
	eq(t, "terminate", nodes["Term"].Event.Definitions[0].Kind, bpmn.EventTerminate)

	f := pr.SequenceFlows[0]
	eq(t, "flow listener", *f.Listeners[0], bpmn.Listener{Type: "executionListener", Event: "take", Expression: "${log.take()}", Line: lineOf(t, b, "${log.take()}")})
	eq(t, "flow condition", *f.Condition, bpmn.Expression{Language: "javascript", Resource: "cond.js", Line: lineOf(t, b, "cond.js")})
	eq(t, "error declaration", *defs.Errors[0], bpmn.Error{ID: "Err", Name: "Failure", ErrorCode: "FAIL", ErrorMessage: "${reason}", Line: lineOf(t, b, `<bpmn:error id="Err"`)})
}

func TestCamunda8Extensions(t *testing.T) {
	t.Parallel()
	src := doc(`<bpmn:process id="P" isExecutable="true">
  <bpmn:businessRuleTask id="Rule">
    <bpmn:extensionElements>
      <zeebe:calledDecision decisionId="approve" resultVariable="decision"/>
      <zeebe:properties><zeebe:property name="owner" value="risk"/></zeebe:properties>
      <zeebe:unknownFutureThing foo="bar"/>
    </bpmn:extensionElements>
  </bpmn:businessRuleTask>
  <bpmn:callActivity id="Call"><bpmn:extensionElements><zeebe:calledElement processId="child"/></bpmn:extensionElements></bpmn:callActivity>
  <bpmn:userTask id="U"><bpmn:extensionElements><zeebe:formDefinition formKey="camunda-forms:bpmn:Form_1"/><zeebe:taskSchedule followUpDate="=later"/></bpmn:extensionElements></bpmn:userTask>
</bpmn:process>
<bpmn:message id="M" name="paid"><bpmn:extensionElements><zeebe:subscription correlationKey="=orderId"/></bpmn:extensionElements></bpmn:message>`)
	defs := mustParse(t, src)
	nodes := nodesByID(defs)
	rule := nodes["Rule"].Zeebe
	eq(t, "called decision", *rule.CalledDecision, bpmn.ZeebeCalledDecision{DecisionID: "approve", ResultVariable: "decision"})
	eqSlice(t, "properties", rule.Properties, []bpmn.Property{{Name: "owner", Value: "risk"}})
	eq(t, "called element defaults", *nodes["Call"].Zeebe.CalledElement, bpmn.ZeebeCalledElement{
		ProcessID: "child", PropagateAllChildVariables: true, PropagateAllParentVariables: true,
	})
	eq(t, "form key", nodes["U"].Zeebe.Form.FormKey, "camunda-forms:bpmn:Form_1")
	eq(t, "follow up", nodes["U"].Zeebe.TaskSchedule.FollowUpDate, "=later")
	eq(t, "correlation key", defs.Messages[0].CorrelationKey, "=orderId")
}

func TestInvalidBooleans(t *testing.T) {
	t.Parallel()
	src := doc(`<bpmn:process id="P" isExecutable="yes">
  <bpmn:task id="T" camunda:asyncBefore="TRUE"/>
  <bpmn:task id="Fine" camunda:asyncBefore="1" camunda:asyncAfter="0" camunda:exclusive=""/>
  <bpmn:callActivity id="C"><bpmn:extensionElements><zeebe:calledElement processId="x" propagateAllChildVariables="nope"/></bpmn:extensionElements></bpmn:callActivity>
</bpmn:process>`)
	pe := parseErr(t, src, bpmn.Options{})
	if !errors.Is(pe, bpmn.ErrInvalidAttribute) {
		t.Errorf("%v is not ErrInvalidAttribute", pe)
	}
	want := []struct {
		id   string
		line int
		attr string
	}{
		{"P", 2, `isExecutable="yes"`},
		{"T", 3, `camunda:asyncBefore="TRUE"`},
		{"C", 5, `propagateAllChildVariables="nope"`},
	}
	if len(pe.Problems) != len(want) {
		t.Fatalf("problems = %v, want %d", pe.Problems, len(want))
	}
	for i, w := range want {
		p := pe.Problems[i]
		eq(t, "problem element", p.ElementID, w.id)
		eq(t, "problem line", p.Line, w.line)
		if !strings.Contains(p.Message, w.attr) {
			t.Errorf("problem %q does not name %s", p.Message, w.attr)
		}
	}
	msg := pe.Error()
	if !strings.HasPrefix(msg, "bpmn: 3 problems:\n\tline 2: element \"P\": <process> attribute isExecutable=\"yes\" is not a boolean") {
		t.Errorf("Error() = %q", msg)
	}
}
