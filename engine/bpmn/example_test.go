package bpmn_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tenantflow/tenantflow/engine/bpmn"
)

func ExampleParse() {
	const src = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Definitions_1">
  <bpmn:process id="hello" isExecutable="true">
    <bpmn:startEvent id="Start"/>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="Start" targetRef="Greet"/>
    <bpmn:serviceTask id="Greet" camunda:type="external" camunda:topic="greet"/>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Greet" targetRef="End"/>
    <bpmn:endEvent id="End"/>
  </bpmn:process>
</bpmn:definitions>`
	defs, err := bpmn.Parse(strings.NewReader(src), bpmn.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range defs.Processes {
		for n := range p.AllFlowNodes() {
			fmt.Printf("line %d: %s %s\n", n.Line, n.Kind, n.ID)
		}
	}
	// Output:
	// line 5: startEvent Start
	// line 7: serviceTask Greet
	// line 9: endEvent End
}

func ExampleParseError() {
	const src = `<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <bpmn:process id="P" isExecutable="yes">
    <bpmn:task id="T">
  </bpmn:process>
</bpmn:definitions>`
	_, err := bpmn.ParseBytes([]byte(src), bpmn.Options{})
	var pe *bpmn.ParseError
	if errors.As(err, &pe) {
		for _, p := range pe.Problems {
			fmt.Println(p)
		}
	}
	fmt.Println(errors.Is(err, bpmn.ErrMalformed))
	// Output:
	// line 2: element "P": <process> attribute isExecutable="yes" is not a boolean; write true or false
	// line 4: malformed XML: element <task> closed by </process>
	// true
}
