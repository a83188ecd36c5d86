package bpmn

import "strings"

// extensions collects what the parser reads from extensionElements. An element may have
// several extensionElements children; they accumulate. The owner copies the parts that apply
// to it.
type extensions struct {
	listeners      []*Listener
	inputOutput    *InputOutput
	properties     []Property
	retryTimeCycle string
	connector      *Connector
	in, out        []*VariableMapping
	correlationKey string
	zeebe          *Zeebe
	zeebeLoop      *ZeebeLoop
}

// extensionElements reads the extensionElements element just opened, of the element with ID
// ownerID, into x. Elements of
// namespaces other than camunda and zeebe, and camunda or zeebe elements the engine has no use
// for (form fields, field injection, ...), are skipped.
func (p *parser) extensionElements(x *extensions, ownerID string) {
	p.walk(func(c elem) {
		switch c.name.Space {
		case nsCamunda:
			p.camundaExtension(c, x, ownerID)
		case nsZeebe:
			p.zeebeExtension(c, x, ownerID)
		default:
			p.skip()
		}
	}, false)
}

func (p *parser) camundaExtension(c elem, x *extensions, ownerID string) {
	switch c.name.Local {
	case "executionListener", "taskListener":
		l := &Listener{
			Type:               c.name.Local,
			Event:              c.attr("event"),
			Class:              c.attr("class"),
			Expression:         c.attr("expression"),
			DelegateExpression: c.attr("delegateExpression"),
			Line:               c.line,
		}
		p.walk(func(s elem) {
			if s.name.Space != nsCamunda || s.name.Local != "script" {
				p.skip() // camunda:field injection and the like
				return
			}
			l.Script = p.script(s)
		}, false)
		x.listeners = append(x.listeners, l)
	case "inputOutput":
		if x.inputOutput == nil {
			x.inputOutput = &InputOutput{}
		}
		p.walk(func(c elem) {
			if c.name.Space != nsCamunda || (c.name.Local != "inputParameter" && c.name.Local != "outputParameter") {
				p.skip()
				return
			}
			pa := p.parameter(c)
			if c.name.Local == "inputParameter" {
				x.inputOutput.Inputs = append(x.inputOutput.Inputs, pa)
			} else {
				x.inputOutput.Outputs = append(x.inputOutput.Outputs, pa)
			}
		}, false)
	case "properties":
		x.properties = append(x.properties, p.properties(nsCamunda)...)
	case "failedJobRetryTimeCycle":
		x.retryTimeCycle = p.text()
	case "connector":
		co := &Connector{Line: c.line}
		p.walk(func(c elem) {
			if c.name.Space == nsCamunda && c.name.Local == "connectorId" {
				co.ID = p.text()
				return
			}
			p.skip() // the connector's own inputOutput
		}, false)
		x.connector = co
	case "in", "out":
		m := &VariableMapping{
			Source:           c.attr("source"),
			SourceExpression: c.attr("sourceExpression"),
			Target:           c.attr("target"),
			All:              c.attr("variables") == "all",
			Local:            p.bool(c, "", "local", false, ownerID),
			BusinessKey:      c.attr("businessKey"),
			Line:             c.line,
		}
		p.skip()
		if c.name.Local == "in" {
			x.in = append(x.in, m)
		} else {
			x.out = append(x.out, m)
		}
	default:
		p.skip()
	}
}

// script reads a camunda:script element.
func (p *parser) script(s elem) *Expression {
	return &Expression{Language: s.attr("scriptFormat"), Resource: s.attr("resource"), Line: s.line, Text: p.text()}
}

// parameter reads a camunda:inputParameter or outputParameter.
func (p *parser) parameter(c elem) *Parameter {
	pa := &Parameter{Name: c.attr("name"), Kind: ParamText, Line: c.line}
	text := p.walk(func(v elem) {
		if v.name.Space != nsCamunda {
			p.skip()
			return
		}
		switch v.name.Local {
		case "script":
			s := p.script(v)
			pa.Kind, pa.Value, pa.ScriptFormat = ParamScript, s.Text, s.Language
		case "list":
			pa.Kind = ParamList
			p.skip()
		case "map":
			pa.Kind = ParamMap
			p.skip()
		default:
			p.skip()
		}
	}, true)
	if pa.Kind == ParamText {
		pa.Value = strings.TrimSpace(text)
	}
	return pa
}

// properties reads the property children of a camunda:properties or zeebe:properties element.
func (p *parser) properties(space string) []Property {
	var props []Property
	p.walk(func(c elem) {
		if c.name.Space == space && c.name.Local == "property" {
			props = append(props, Property{Name: c.attr("name"), Value: c.attr("value")})
		}
		p.skip()
	}, false)
	return props
}

func (p *parser) zeebeExtension(c elem, x *extensions, ownerID string) {
	z := x.zeebe
	if z == nil {
		z = &Zeebe{}
	}
	switch c.name.Local {
	case "taskDefinition":
		z.TaskDefinition = &ZeebeTaskDefinition{Type: c.attr("type"), Retries: c.attr("retries")}
		p.skip()
	case "assignmentDefinition":
		z.Assignment = &ZeebeAssignment{
			Assignee:        c.attr("assignee"),
			CandidateGroups: c.attr("candidateGroups"),
			CandidateUsers:  c.attr("candidateUsers"),
		}
		p.skip()
	case "formDefinition":
		z.Form = &ZeebeForm{FormKey: c.attr("formKey"), FormID: c.attr("formId")}
		p.skip()
	case "taskSchedule":
		z.TaskSchedule = &ZeebeTaskSchedule{DueDate: c.attr("dueDate"), FollowUpDate: c.attr("followUpDate")}
		p.skip()
	case "calledElement":
		z.CalledElement = &ZeebeCalledElement{
			ProcessID:                   c.attr("processId"),
			PropagateAllChildVariables:  p.bool(c, "", "propagateAllChildVariables", true, ownerID),
			PropagateAllParentVariables: p.bool(c, "", "propagateAllParentVariables", true, ownerID),
		}
		p.skip()
	case "calledDecision":
		z.CalledDecision = &ZeebeCalledDecision{DecisionID: c.attr("decisionId"), ResultVariable: c.attr("resultVariable")}
		p.skip()
	case "script":
		z.Script = &ZeebeScript{Expression: c.attr("expression"), ResultVariable: c.attr("resultVariable")}
		p.skip()
	case "ioMapping":
		if z.IOMapping == nil {
			z.IOMapping = &ZeebeIOMapping{}
		}
		p.walk(func(m elem) {
			mp := ZeebeMapping{Source: m.attr("source"), Target: m.attr("target"), Line: m.line}
			switch {
			case m.name.Space != nsZeebe:
			case m.name.Local == "input":
				z.IOMapping.Inputs = append(z.IOMapping.Inputs, mp)
			case m.name.Local == "output":
				z.IOMapping.Outputs = append(z.IOMapping.Outputs, mp)
			}
			p.skip()
		}, false)
	case "taskHeaders":
		p.walk(func(h elem) {
			if h.name.Space == nsZeebe && h.name.Local == "header" {
				z.TaskHeaders = append(z.TaskHeaders, ZeebeHeader{Key: h.attr("key"), Value: h.attr("value")})
			}
			p.skip()
		}, false)
	case "properties":
		z.Properties = append(z.Properties, p.properties(nsZeebe)...)
	case "loopCharacteristics":
		// Inside multiInstanceLoopCharacteristics; the loop picks it up.
		x.zeebeLoop = &ZeebeLoop{
			InputCollection:  c.attr("inputCollection"),
			InputElement:     c.attr("inputElement"),
			OutputCollection: c.attr("outputCollection"),
			OutputElement:    c.attr("outputElement"),
		}
		p.skip()
		return
	case "subscription":
		// Inside a message declaration.
		x.correlationKey = c.attr("correlationKey")
		p.skip()
		return
	default:
		p.skip()
		return
	}
	x.zeebe = z
}
