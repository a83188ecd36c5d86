package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
)

const versionedXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="versioned" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="VERSION"/>
    <bpmn:userTask id="VERSION"/>
  </bpmn:process>
</bpmn:definitions>`

// A start by key plans on the latest version this node saw, without asking
// storage; a version deployed, or a suspension made, through another node
// must still take effect at the very next start here.
func TestStartByKeyUsesAVersionDeployedThroughAnotherNodeAtOnce(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, nil)
		ctx := env.Tenant(t, "acme")
		// A second node: its own datasources (and caches) over the same
		// storage.
		cfg := env.Sources.Config
		cfg.NodeID = ""
		other, err := datasource.Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
		deployer, err := engine.New(env.Sources, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		starter, err := engine.New(other, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		deploy := func(task string) *engine.ProcessDefinition {
			t.Helper()
			xml := []byte(strings.ReplaceAll(versionedXML, "VERSION", task))
			d, err := deployer.Deploy(ctx, &engine.DeployParams{Resources: []engine.Resource{{Name: "v.bpmn", Content: xml}}})
			if err != nil {
				t.Fatal(err)
			}
			return d.Definitions[0]
		}
		start := func() (*engine.ProcessInstance, error) {
			return starter.StartInstance(ctx, &engine.StartParams{DefinitionKey: "versioned"})
		}

		v1 := deploy("one")
		for range 2 { // the second start plans on the cached version
			inst, err := start()
			if err != nil || inst.DefinitionID != v1.ID {
				t.Fatalf("start on v1: %+v %v", inst, err)
			}
			other.Caches.Wait()
		}
		v2 := deploy("two")
		inst, err := start()
		if err != nil || inst.DefinitionID != v2.ID {
			t.Fatalf("start after v2 was deployed through the other node: definition %d, want %d (%v)", inst.DefinitionID, v2.ID, err)
		}
		tasks, err := starter.Tasks(ctx, &engine.TaskQuery{InstanceID: inst.ID})
		if err != nil || len(tasks) != 1 || tasks[0].ElementID != "two" {
			t.Fatalf("tasks of the v2 instance: %+v %v", tasks, err)
		}
		other.Caches.Wait()
		if err := deployer.SuspendDefinition(ctx, v2.Ref(), true, false); err != nil {
			t.Fatal(err)
		}
		if _, err := start(); !errors.Is(err, engine.ErrSuspended) {
			t.Fatalf("start of a definition suspended through the other node: %v, want ErrSuspended", err)
		}
		if err := deployer.SuspendDefinition(ctx, v2.Ref(), false, false); err != nil {
			t.Fatal(err)
		}
		if inst, err := start(); err != nil || inst.DefinitionID != v2.ID {
			t.Fatalf("start after activation: %+v %v", inst, err)
		}
	})
}
