package engine

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine/store"
	"github.com/tenantflow/tenantflow/engine/store/memstore"
)

// gatedStore holds its first maxLanes Applies until released, so that
// every lane is busy and commands queue behind them.
type gatedStore struct {
	*memstore.Store
	mu      sync.Mutex
	held    int
	entered chan struct{} // a value per held Apply
	release chan struct{}
	applies chan int // units per Apply
}

func (g *gatedStore) Apply(ctx context.Context, p *store.ApplyParams) error {
	g.mu.Lock()
	hold := g.held < maxLanes
	g.held++
	g.mu.Unlock()
	if hold {
		g.entered <- struct{}{}
		<-g.release
	}
	g.applies <- len(p.Units)
	return g.Store.Apply(ctx, p)
}

const groupXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:userTask id="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

// TestGroupCommitIsolatesAConflict queues two completions behind held
// commits (one in every lane) and makes one of them stale before a lane
// reaches them: the two go as one apply step, which fails, and then one by
// one, so the fresh one commits and the stale one runs again and commits
// too.
func TestGroupCommitIsolatesAConflict(t *testing.T) {
	mem := memstore.New()
	g := &gatedStore{Store: mem, entered: make(chan struct{}, maxLanes), release: make(chan struct{}), applies: make(chan int, 100)}
	ctx := WithTenant(context.Background(), "acme")
	setup, err := New(nil, Options{Store: mem})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.DeployXML(ctx, "p.bpmn", groupXML); err != nil {
		t.Fatal(err)
	}
	var insts []*ProcessInstance
	for range maxLanes + 2 {
		inst, err := setup.StartInstance(ctx, &StartParams{DefinitionKey: "p"})
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, inst)
	}
	task := func(inst *ProcessInstance) Ref {
		l, err := setup.Tasks(ctx, &TaskQuery{InstanceID: inst.ID})
		if err != nil || len(l) != 1 {
			t.Fatalf("tasks %v %v", l, err)
		}
		return l[0].Ref()
	}
	held, x, y := insts[:maxLanes], insts[maxLanes], insts[maxLanes+1]
	tx, ty := task(x), task(y)

	e, err := New(nil, Options{Store: g})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, maxLanes+2)
	for _, inst := range held {
		go func() {
			errs <- e.ModifyVariables(ctx, inst.Ref(), &ModifyVariablesParams{Set: map[string]any{"lead": true}})
		}()
		<-g.entered
	}
	go func() { _, err := e.CompleteTask(ctx, tx, nil); errs <- err }()
	go func() { _, err := e.CompleteTask(ctx, ty, nil); errs <- err }()
	queued, _ := dstest.Probe(10*time.Second, time.Millisecond, func() bool {
		e.groups.mu.Lock()
		defer e.groups.mu.Unlock()
		q := e.groups.queues["acme"]
		return q != nil && len(q.waiting) == 2
	})
	if !queued {
		t.Fatal("the two completions never queued behind the held commit")
	}
	// Another node changes the second completion's instance meanwhile.
	if err := setup.ModifyVariables(ctx, y.Ref(), &ModifyVariablesParams{Set: map[string]any{"other": "node"}}); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	for range maxLanes + 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(g.applies)
	var steps []int
	for n := range g.applies {
		steps = append(steps, n)
	}
	// The held commits, the two as one step that failed, then each alone;
	// the stale one conflicted there, ran again and committed.
	var twos int
	for _, n := range steps {
		if n == 2 {
			twos++
		}
	}
	if len(steps) != maxLanes+4 || twos != 1 {
		t.Fatalf("apply steps of %v units, want %d single ones and one of 2", steps, maxLanes+3)
	}
	for _, inst := range []*ProcessInstance{x, y} {
		got, err := setup.Instance(ctx, inst.Ref())
		if err != nil || got.State != InstanceCompleted {
			t.Fatalf("instance %d: %+v %v", inst.ID, got, err)
		}
	}
	vars, err := setup.Variables(ctx, y.Ref())
	if err != nil || vars["other"].V != "node" {
		t.Fatalf("the other node's change was lost: %v %v", vars, err)
	}
}
