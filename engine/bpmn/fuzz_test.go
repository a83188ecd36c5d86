package bpmn_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tenantflow/tenantflow/engine/bpmn"
)

// FuzzParse feeds arbitrary bytes to the parser with small limits. Whatever the input, Parse
// must return either definitions or a *ParseError with located problems, never panic, stay
// within its limits and give the same answer twice.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(modelerDir, "*.bpmn"))
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, s := range []string{
		doc(`<bpmn:process id="P" isExecutable="true"><bpmn:startEvent id="S"><bpmn:outgoing>F</bpmn:outgoing></bpmn:startEvent>` +
			`<bpmn:sequenceFlow id="F" sourceRef="S" targetRef="E"><bpmn:conditionExpression>${a &gt; 1}</bpmn:conditionExpression></bpmn:sequenceFlow>` +
			`<bpmn:endEvent id="E"><bpmn:terminateEventDefinition/></bpmn:endEvent></bpmn:process>`),
		doc(`<bpmn:process id="P"><bpmn:subProcess id="S" triggeredByEvent="true"><bpmn:startEvent id="T" isInterrupting="false">` +
			`<bpmn:timerEventDefinition><bpmn:timeCycle>R3/PT1M</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent></bpmn:subProcess></bpmn:process>`),
		doc(`<bpmn:process id="P"><bpmn:userTask id="U" camunda:asyncBefore="maybe"><bpmn:extensionElements><camunda:inputOutput>` +
			`<camunda:inputParameter name="x"><camunda:script scriptFormat="js">1</camunda:script></camunda:inputParameter>` +
			`</camunda:inputOutput></bpmn:extensionElements><bpmn:potentialOwner/></bpmn:userTask></bpmn:process>`),
		doc(`<bpmn:process id="P"><bpmn:callActivity id="C"><bpmn:extensionElements><zeebe:calledElement processId="c"/>` +
			`<zeebe:ioMapping><zeebe:input source="=a" target="b"/></zeebe:ioMapping></bpmn:extensionElements>` +
			`<bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements><zeebe:loopCharacteristics inputCollection="=xs"/>` +
			`</bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics></bpmn:callActivity></bpmn:process>`),
		`<!DOCTYPE x [<!ENTITY a "b">]><definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">&a;</definitions>`,
		`<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"><process><subProcess><subProcess/></subProcess></process></definitions>`,
		nested(40),
		"",
	} {
		f.Add([]byte(s))
	}

	opts := bpmn.Options{MaxBytes: 1 << 16, MaxDepth: 32, MaxElements: 2000}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Count(data, []byte("\n")) + 1
		defs, err := bpmn.ParseBytes(data, opts)
		again, err2 := bpmn.ParseBytes(data, opts)
		if !reflect.DeepEqual(defs, again) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("two parses differ: %v / %v", err, err2)
		}
		if err != nil {
			if defs != nil {
				t.Fatal("definitions returned with an error")
			}
			var pe *bpmn.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a *ParseError", err, err)
			}
			if len(pe.Problems) == 0 {
				t.Fatal("ParseError without problems")
			}
			for _, p := range pe.Problems {
				if p.Line < 0 || p.Line > lines || p.Message == "" {
					t.Fatalf("problem %+v out of range (%d lines)", p, lines)
				}
			}
			return
		}
		if defs == nil {
			t.Fatal("no definitions and no error")
		}
		if int64(len(data)) > opts.MaxBytes {
			t.Fatalf("accepted %d bytes over a limit of %d", len(data), opts.MaxBytes)
		}
		inRange := func(what string, line int) {
			if line < 1 || line > lines {
				t.Fatalf("%s line %d out of range (%d lines)", what, line, lines)
			}
		}
		inRange("definitions", defs.Line)
		count := len(defs.Unsupported)
		for _, u := range defs.Unsupported {
			inRange(u.Tag, u.Line)
		}
		for _, pr := range defs.Processes {
			inRange("process", pr.Line)
			for n := range pr.AllFlowNodes() {
				count++
				inRange(string(n.Kind), n.Line)
				if n.Kind.IsSubProcess() != (n.SubProcess != nil) || n.Kind.IsEvent() != (n.Event != nil) {
					t.Fatalf("%s %q: kind-specific part does not match its kind", n.Kind, n.ID)
				}
			}
			for f := range pr.AllSequenceFlows() {
				count++
				inRange("sequenceFlow", f.Line)
			}
		}
		if count > opts.MaxElements {
			t.Fatalf("%d elements kept, over a limit of %d", count, opts.MaxElements)
		}
	})
}
