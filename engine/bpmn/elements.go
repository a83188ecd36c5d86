package bpmn

import (
	"bytes"
	"encoding/xml"
	"fmt"
)

// document reads the prolog, the root element and what follows it. XML allows only
// comments, processing instructions and white space around the root; encoding/xml accepts
// more, so the rest is checked here.
func (p *parser) document() *Definitions {
	var defs *Definitions
	rootSeen := false
	for first := true; ; first = false {
		tok, line, ok := p.next()
		if !ok {
			break
		}
		if t, ok := tok.(xml.CharData); ok && first {
			// Some editors start UTF-8 files with a byte order mark; XML allows it there.
			tok = xml.CharData(bytes.TrimPrefix(t, []byte("\uFEFF")))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			e := elem{name: t.Name, attrs: t.Attr, line: line}
			switch {
			case rootSeen:
				p.fatal(Problem{Line: line, Message: fmt.Sprintf("malformed XML: element <%s> after the root element", t.Name.Local), Err: ErrMalformed})
			case t.Name.Space != nsModel || t.Name.Local != "definitions":
				p.fatal(Problem{
					Line:    line,
					Message: fmt.Sprintf("root element is <%s> in namespace %q; a BPMN 2.0 document has <definitions> in namespace %q", t.Name.Local, t.Name.Space, nsModel),
					Err:     ErrNotBPMN,
				})
			default:
				rootSeen = true
				defs = p.definitions(e)
			}
		case xml.CharData:
			if len(bytes.Trim(t, " \t\r\n")) > 0 {
				p.fatal(Problem{Line: line, Message: "malformed XML: text outside the root element", Err: ErrMalformed})
			}
		}
	}
	if !rootSeen && len(p.problems) == 0 && p.readErr == nil {
		p.problem(Problem{Line: 1, Message: "document has no root element; a BPMN 2.0 document has <definitions>", Err: ErrNotBPMN})
	}
	if defs != nil {
		defs.Unsupported = p.unsupported
	}
	return defs
}

func (p *parser) definitions(e elem) *Definitions {
	d := &Definitions{
		ID:                       e.attr("id"),
		Name:                     e.attr("name"),
		TargetNamespace:          e.attr("targetNamespace"),
		Exporter:                 e.attr("exporter"),
		ExporterVersion:          e.attr("exporterVersion"),
		ExecutionPlatform:        attrNS(e, nsModeler, "executionPlatform"),
		ExecutionPlatformVersion: attrNS(e, nsModeler, "executionPlatformVersion"),
		Line:                     e.line,
	}
	p.children(e, d.ID, func(c elem) bool {
		switch c.name.Local {
		case "process":
			d.Processes = append(d.Processes, p.process(c))
		case "collaboration":
			d.Collaborations = append(d.Collaborations, p.collaboration(c))
		case "message":
			d.Messages = append(d.Messages, p.message(c))
		case "error":
			er := &Error{ID: c.attr("id"), Name: c.attr("name"), ErrorCode: c.attr("errorCode"), ErrorMessage: c.camunda("errorMessage"), Line: c.line}
			p.children(c, er.ID, nil)
			d.Errors = append(d.Errors, er)
		case "signal":
			s := &Signal{ID: c.attr("id"), Name: c.attr("name"), Line: c.line}
			p.children(c, s.ID, nil)
			d.Signals = append(d.Signals, s)
		case "escalation":
			s := &Escalation{ID: c.attr("id"), Name: c.attr("name"), EscalationCode: c.attr("escalationCode"), Line: c.line}
			p.children(c, s.ID, nil)
			d.Escalations = append(d.Escalations, s)
		default:
			return false
		}
		return true
	})
	return d
}

func attrNS(e elem, space, local string) string {
	v, _ := e.lookup(space, local)
	return v
}

func (p *parser) message(e elem) *Message {
	m := &Message{ID: e.attr("id"), Name: e.attr("name"), Line: e.line}
	var x extensions
	p.children(e, m.ID, func(c elem) bool {
		if c.name.Local != "extensionElements" {
			return false
		}
		p.extensionElements(&x, m.ID)
		return true
	})
	m.CorrelationKey = x.correlationKey
	return m
}

func (p *parser) collaboration(e elem) *Collaboration {
	co := &Collaboration{ID: e.attr("id"), Name: e.attr("name"), Line: e.line}
	p.children(e, co.ID, func(c elem) bool {
		switch c.name.Local {
		case "participant":
			pa := &Participant{ID: c.attr("id"), Name: c.attr("name"), ProcessRef: c.attr("processRef"), Line: c.line}
			p.children(c, pa.ID, nil)
			co.Participants = append(co.Participants, pa)
		case "messageFlow":
			mf := &MessageFlow{
				ID:         c.attr("id"),
				Name:       c.attr("name"),
				SourceRef:  c.attr("sourceRef"),
				TargetRef:  c.attr("targetRef"),
				MessageRef: c.attr("messageRef"),
				Line:       c.line,
			}
			p.children(c, mf.ID, nil)
			co.MessageFlows = append(co.MessageFlows, mf)
		default:
			return false
		}
		return true
	})
	return co
}

func (p *parser) process(e elem) *Process {
	pr := &Process{
		ID:                     e.attr("id"),
		Name:                   e.attr("name"),
		Line:                   e.line,
		HistoryTimeToLive:      e.camunda("historyTimeToLive"),
		VersionTag:             e.camunda("versionTag"),
		CandidateStarterGroups: e.camunda("candidateStarterGroups"),
		CandidateStarterUsers:  e.camunda("candidateStarterUsers"),
	}
	pr.IsExecutable = p.bool(e, "", "isExecutable", false, pr.ID)
	p.processID = pr.ID
	defer func() { p.processID = "" }()
	var x extensions
	pr.Documentation = p.children(e, pr.ID, func(c elem) bool {
		switch c.name.Local {
		case "laneSet":
			pr.LaneSets = append(pr.LaneSets, p.laneSet(c))
		case "extensionElements":
			p.extensionElements(&x, pr.ID)
		default:
			return p.scopeChild(&pr.Scope, c)
		}
		return true
	})
	pr.Listeners = x.listeners
	pr.Properties = x.properties
	return pr
}

func (p *parser) laneSet(e elem) *LaneSet {
	ls := &LaneSet{ID: e.attr("id"), Name: e.attr("name"), Line: e.line}
	p.children(e, ls.ID, func(c elem) bool {
		if c.name.Local != "lane" {
			return false
		}
		ln := &Lane{ID: c.attr("id"), Name: c.attr("name"), Line: c.line}
		p.children(c, ln.ID, func(c elem) bool {
			switch c.name.Local {
			case "flowNodeRef":
				ln.FlowNodeRefs = append(ln.FlowNodeRefs, p.text())
			case "childLaneSet":
				ln.ChildLaneSet = p.laneSet(c)
			default:
				return false
			}
			return true
		})
		ls.Lanes = append(ls.Lanes, ln)
		return true
	})
	return ls
}

// scopeChild parses c if it is a flow node or sequence flow and adds it to s. It returns
// false, without consuming c, for anything else.
func (p *parser) scopeChild(s *Scope, c elem) bool {
	if k, ok := kindOf[c.name.Local]; ok {
		s.FlowNodes = append(s.FlowNodes, p.flowNode(c, k))
		return true
	}
	if c.name.Local == "sequenceFlow" {
		s.SequenceFlows = append(s.SequenceFlows, p.sequenceFlow(c))
		return true
	}
	return false
}

func (p *parser) sequenceFlow(e elem) *SequenceFlow {
	f := &SequenceFlow{
		ID:        e.attr("id"),
		Name:      e.attr("name"),
		Line:      e.line,
		SourceRef: e.attr("sourceRef"),
		TargetRef: e.attr("targetRef"),
	}
	var x extensions
	f.Documentation = p.children(e, f.ID, func(c elem) bool {
		switch c.name.Local {
		case "conditionExpression":
			// xsi:type is always tFormalExpression in practice and says nothing more.
			f.Condition = &Expression{Language: c.attr("language"), Resource: c.camunda("resource"), Line: c.line}
			f.Condition.Text = p.text()
		case "extensionElements":
			p.extensionElements(&x, f.ID)
		default:
			return false
		}
		return true
	})
	f.Listeners = x.listeners
	return f
}

func (p *parser) flowNode(e elem, kind Kind) *FlowNode {
	n := &FlowNode{Kind: kind, ID: e.attr("id"), Name: e.attr("name"), Line: e.line, Default: e.attr("default")}
	n.Async = p.async(e, n.ID)
	switch {
	case kind.IsEvent():
		n.Event = &Event{
			IsInterrupting:   p.bool(e, "", "isInterrupting", true, n.ID),
			ParallelMultiple: p.bool(e, "", "parallelMultiple", false, n.ID),
			AttachedToRef:    e.attr("attachedToRef"),
			CancelActivity:   p.bool(e, "", "cancelActivity", true, n.ID),
			Initiator:        e.camunda("initiator"),
			FormKey:          e.camunda("formKey"),
		}
	case kind == KindUserTask:
		n.UserTask = &UserTask{
			Assignee:        e.camunda("assignee"),
			CandidateUsers:  e.camunda("candidateUsers"),
			CandidateGroups: e.camunda("candidateGroups"),
			DueDate:         e.camunda("dueDate"),
			FollowUpDate:    e.camunda("followUpDate"),
			FormKey:         e.camunda("formKey"),
			Priority:        e.camunda("priority"),
		}
	case kind == KindServiceTask || kind == KindSendTask || kind == KindBusinessRuleTask:
		n.Implementation = implementation(e)
	case kind == KindScriptTask:
		n.Script = &ScriptTask{
			ScriptFormat:   e.attr("scriptFormat"),
			ResultVariable: e.camunda("resultVariable"),
			Resource:       e.camunda("resource"),
		}
	case kind == KindCallActivity:
		n.CallActivity = &CallActivity{
			CalledElement: e.attr("calledElement"),
			Binding:       e.camunda("calledElementBinding"),
			Version:       e.camunda("calledElementVersion"),
			VersionTag:    e.camunda("calledElementVersionTag"),
			TenantID:      e.camunda("calledElementTenantId"),
		}
	case kind.IsSubProcess():
		n.SubProcess = &SubProcess{TriggeredByEvent: p.bool(e, "", "triggeredByEvent", false, n.ID)}
	}
	if kind == KindReceiveTask || kind == KindSendTask {
		n.MessageRef = e.attr("messageRef")
	}

	var x extensions
	n.Documentation = p.children(e, n.ID, func(c elem) bool {
		switch c.name.Local {
		case "incoming":
			n.Incoming = append(n.Incoming, p.text())
		case "outgoing":
			n.Outgoing = append(n.Outgoing, p.text())
		case "extensionElements":
			p.extensionElements(&x, n.ID)
		case string(LoopMultiInstance), string(LoopStandard):
			if !kind.IsActivity() {
				return false
			}
			n.Loop = p.loop(c, n.ID)
		case "completionCondition":
			if kind != KindAdHocSubProcess {
				return false
			}
			p.skip() // the ad-hoc sub-process is recorded for rejection only
		case "script":
			if n.Script == nil {
				return false
			}
			// Kept as written: white space can matter in a script.
			n.Script.Script = p.walk(nil, true)
		default:
			if ek, ok := eventKindOf[c.name.Local]; ok && n.Event != nil {
				n.Event.Definitions = append(n.Event.Definitions, p.eventDefinition(c, ek, n.ID))
				return true
			}
			if n.SubProcess != nil {
				return p.scopeChild(&n.SubProcess.Scope, c)
			}
			return false
		}
		return true
	})

	n.Listeners = x.listeners
	n.InputOutput = x.inputOutput
	n.Properties = x.properties
	n.Async.FailedJobRetryTimeCycle = x.retryTimeCycle
	n.Zeebe = x.zeebe
	if x.connector != nil {
		// A connector on any other kind is kept too, so a deployment can reject it.
		if n.Implementation == nil {
			n.Implementation = &TaskImplementation{}
		}
		n.Implementation.Connector = x.connector
	}
	if n.CallActivity != nil {
		n.CallActivity.In = x.in
		n.CallActivity.Out = x.out
	}
	return n
}

// async reads the camunda job attributes shared by flow nodes and multi-instance bodies.
func (p *parser) async(e elem, id string) Async {
	return Async{
		// camunda:async is the older spelling of asyncBefore.
		Before:      p.bool(e, nsCamunda, "asyncBefore", false, id) || p.bool(e, nsCamunda, "async", false, id),
		After:       p.bool(e, nsCamunda, "asyncAfter", false, id),
		Exclusive:   p.bool(e, nsCamunda, "exclusive", true, id),
		JobPriority: e.camunda("jobPriority"),
	}
}

// implementation reads the camunda attributes that say how a task does its work.
func implementation(e elem) *TaskImplementation {
	return &TaskImplementation{
		Type:               e.camunda("type"),
		Topic:              e.camunda("topic"),
		TaskPriority:       e.camunda("taskPriority"),
		Class:              e.camunda("class"),
		DelegateExpression: e.camunda("delegateExpression"),
		Expression:         e.camunda("expression"),
		ResultVariable:     e.camunda("resultVariable"),
		DecisionRef:        e.camunda("decisionRef"),
	}
}

func (p *parser) loop(e elem, ownerID string) *Loop {
	l := &Loop{Kind: LoopKind(e.name.Local), Line: e.line}
	if l.Kind == LoopStandard {
		// Recorded for rejection only; its condition is of no use.
		p.skip()
		return l
	}
	l.IsSequential = p.bool(e, "", "isSequential", false, ownerID)
	l.Collection = e.camunda("collection")
	l.ElementVariable = e.camunda("elementVariable")
	l.Async = p.async(e, ownerID)
	var x extensions
	p.children(e, ownerID, func(c elem) bool {
		switch c.name.Local {
		case "loopCardinality":
			l.LoopCardinality = p.text()
		case "completionCondition":
			l.CompletionCondition = p.text()
		case "extensionElements":
			p.extensionElements(&x, ownerID)
		default:
			return false
		}
		return true
	})
	l.Async.FailedJobRetryTimeCycle = x.retryTimeCycle
	l.Zeebe = x.zeebeLoop
	return l
}

func (p *parser) eventDefinition(e elem, kind EventKind, ownerID string) *EventDefinition {
	d := &EventDefinition{Kind: kind, ID: e.attr("id"), Line: e.line}
	parentID := d.ID
	if parentID == "" {
		parentID = ownerID
	}
	var x extensions
	handle := func(c elem) bool {
		if c.name.Local != "extensionElements" {
			return false
		}
		p.extensionElements(&x, ownerID)
		return true
	}
	switch kind {
	case EventTimer:
		p.children(e, parentID, func(c elem) bool {
			switch c.name.Local {
			case "timeDate":
				d.TimeDate = p.text()
			case "timeDuration":
				d.TimeDuration = p.text()
			case "timeCycle":
				d.TimeCycle = p.text()
			default:
				return handle(c)
			}
			return true
		})
	case EventMessage:
		d.MessageRef = e.attr("messageRef")
		if impl := implementation(e); *impl != (TaskImplementation{}) {
			d.Implementation = impl
		}
		p.children(e, parentID, handle)
		if x.connector != nil {
			if d.Implementation == nil {
				d.Implementation = &TaskImplementation{}
			}
			d.Implementation.Connector = x.connector
		}
	case EventError:
		d.ErrorRef = e.attr("errorRef")
		d.ErrorCodeVariable = e.camunda("errorCodeVariable")
		d.ErrorMessageVariable = e.camunda("errorMessageVariable")
		p.children(e, parentID, handle)
	case EventTerminate:
		p.children(e, parentID, handle)
	default:
		// Kinds recorded only for rejection: their content is not read.
		d.SignalRef = e.attr("signalRef")
		d.EscalationRef = e.attr("escalationRef")
		p.skip()
	}
	return d
}
