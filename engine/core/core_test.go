package core

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/engine/bpmn"
	"github.com/tenantflow/tenantflow/engine/model"
)

// memEnv runs the core over memory: definitions compiled from XML, handlers
// by topic, IDs from a counter. It is the core without storage, for tests
// and the core-only benchmark.
type memEnv struct {
	defs     map[string]*Deployed
	byID     map[int64]*Deployed
	handlers map[string]Handler
	nextID   int64
}

func newMemEnv(t testing.TB, xml string) *memEnv {
	t.Helper()
	defs, err := bpmn.ParseBytes([]byte(xml), bpmn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := model.Compile(defs, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	env := &memEnv{defs: map[string]*Deployed{}, byID: map[int64]*Deployed{}, handlers: map[string]Handler{}}
	for i, m := range ms {
		d := &Deployed{Model: m}
		d.ProcessDefinition = ProcessDefinition{ID: int64(1000 + i), Key: m.Key, Version: 1, Tenant: "mem"}
		env.defs[m.Key], env.byID[d.ID] = d, d
	}
	return env
}

func (e *memEnv) HasHandler(topic string) bool { return e.handlers[topic] != nil }
func (e *memEnv) DefaultRetries() int          { return DefaultJobRetries }
func (e *memEnv) MaxSteps() int                { return DefaultMaxSteps }

// RunCalls runs the handlers one after the other.
func (e *memEnv) RunCalls(calls []*Call) {
	for _, c := range calls {
		c.Err = e.handlers[c.Topic](context.Background(), c.Task)
	}
}

func (e *memEnv) LatestDefinition(key string) (*Deployed, error) {
	if d := e.defs[key]; d != nil {
		return d, nil
	}
	return nil, NotFound("process definition", key)
}
func (e *memEnv) DefinitionByID(id int64) (*Deployed, error) {
	if d := e.byID[id]; d != nil {
		return d, nil
	}
	return nil, NotFound("process definition", id)
}

// memRun is one in-memory "database": a unit of work carried across
// commands, committed by dropping deleted rows and cleaning the rest.
type memRun struct {
	env *memEnv
	u   *Unit
	now time.Time
}

func newMemRun(env *memEnv) *memRun {
	r := &memRun{env: env, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r.u = &Unit{Tenant: "mem", NewID: func() (int64, error) { env.nextID++; return env.nextID, nil }}
	return r
}

func (r *memRun) do(t testing.TB, fn func(c *Executor) error) {
	t.Helper()
	r.u.Now, r.u.NowMS = r.now, r.now.UnixMilli()
	c := NewExecutor(r.u, r.env)
	if err := fn(c); err != nil {
		t.Fatal(err)
	}
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	r.commit()
}

func (r *memRun) commit() {
	u := r.u
	u.Execs = keep(u.Execs, func(x *Execution) *RowOp { return &x.Op })
	u.Vars = keep(u.Vars, func(x *VariableRow) *RowOp { return &x.Op })
	u.Tasks = keep(u.Tasks, func(x *TaskRow) *RowOp { return &x.Op })
	u.ExtTasks = keep(u.ExtTasks, func(x *ExtTaskRow) *RowOp { return &x.Op })
	u.Jobs = keep(u.Jobs, func(x *JobRow) *RowOp { return &x.Op })
	u.Subs = keep(u.Subs, func(x *SubRow) *RowOp { return &x.Op })
	u.Incidents = keep(u.Incidents, func(x *IncidentRow) *RowOp { return &x.Op })
	u.Acts = keep(u.Acts, func(x *ActivityRow) *RowOp { return &x.Op })
	for _, i := range u.Instances {
		i.Op, i.Touched = RowClean, false
	}
}

func keep[T any](rows []T, op func(T) *RowOp) []T {
	out := rows[:0]
	for _, r := range rows {
		if Alive(*op(r)) {
			*op(r) = RowClean
			out = append(out, r)
		}
	}
	return out
}

func (r *memRun) start(t testing.TB, key string, vars map[string]any) *Instance {
	t.Helper()
	var inst *Instance
	tv, err := TypedVars(vars)
	if err != nil {
		t.Fatal(err)
	}
	r.do(t, func(c *Executor) error {
		var err error
		inst, err = c.StartInstance(r.env.defs[key], "", tv, nil, "", nil)
		return err
	})
	return inst
}

// path lists the elements an instance passed through, in order of start.
func (r *memRun) path(inst *Instance) string {
	var ids []string
	acts := append([]*ActivityRow(nil), r.u.Acts...)
	sort.SliceStable(acts, func(i, j int) bool { return acts[i].ID < acts[j].ID })
	for _, a := range acts {
		if a.InstanceID == inst.ID {
			ids = append(ids, a.ElementID)
		}
	}
	return strings.Join(ids, ",")
}

const straightThrough = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:serviceTask id="work" camunda:type="external" camunda:topic="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

func TestCoreRunsAStraightThroughProcessWithAHandler(t *testing.T) {
	env := newMemEnv(t, straightThrough)
	env.handlers["work"] = func(_ context.Context, task *ServiceTask) error {
		n, _ := task.Variable("n")
		task.Set("doubled", n.(int)*2)
		return nil
	}
	r := newMemRun(env)
	inst := r.start(t, "p", map[string]any{"n": 21})
	if inst.State != InstanceCompleted || inst.EndActivityID != "end" {
		t.Fatalf("state %s end %q", inst.State, inst.EndActivityID)
	}
	if got := r.path(inst); got != "start,work,end" {
		t.Fatalf("path %s", got)
	}
	if v := r.u.Variable(inst.ID, "doubled"); v == nil || v.Val.V != int32(42) {
		t.Fatalf("doubled = %+v", v)
	}
	if len(r.u.Execs) != 0 {
		t.Fatalf("tokens left: %d", len(r.u.Execs))
	}
}

func TestCoreCreatesAnExternalTaskWithoutAHandler(t *testing.T) {
	env := newMemEnv(t, straightThrough)
	r := newMemRun(env)
	inst := r.start(t, "p", nil)
	if len(r.u.ExtTasks) != 1 || r.u.ExtTasks[0].Topic != "work" || inst.State != InstanceActive {
		t.Fatalf("external tasks %d, state %s", len(r.u.ExtTasks), inst.State)
	}
	r.do(t, func(c *Executor) error {
		return c.CompleteExternal(r.u.ExtTasks[0], map[string]Value{"ok": {TypeBoolean, true}}, nil)
	})
	if inst.State != InstanceCompleted {
		t.Fatalf("after completing the external task: %s", inst.State)
	}
}

const forkJoin = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fork"/>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="a"/>
    <bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="b"/>
    <bpmn:userTask id="a"/>
    <bpmn:userTask id="b"/>
    <bpmn:sequenceFlow id="f4" sourceRef="a" targetRef="join"/>
    <bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="join"/>
    <bpmn:parallelGateway id="join"/>
    <bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

func TestCoreForksAndJoins(t *testing.T) {
	env := newMemEnv(t, forkJoin)
	r := newMemRun(env)
	inst := r.start(t, "p", nil)
	if len(r.u.Tasks) != 2 {
		t.Fatalf("tasks %d", len(r.u.Tasks))
	}
	for i := 0; i < 2; i++ {
		task := r.u.Tasks[len(r.u.Tasks)-1-i]
		if task.State != TaskCreated {
			continue
		}
		r.do(t, func(c *Executor) error { return c.CompleteTask(task, nil, false, "") })
		if i == 0 && inst.State != InstanceActive {
			t.Fatal("instance ended after one branch")
		}
	}
	if inst.State != InstanceCompleted {
		t.Fatalf("state %s; tokens %d", inst.State, len(r.u.Execs))
	}
	if got := r.path(inst); got != "start,fork,a,b,join,end" {
		t.Fatalf("path %s", got)
	}
}

func BenchmarkCoreStraightThrough(b *testing.B) {
	env := newMemEnv(b, straightThrough)
	env.handlers["work"] = func(context.Context, *ServiceTask) error { return nil }
	def := env.defs["p"]
	vars := map[string]Value{"amount": {TypeLong, int64(1200)}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var next int64
		for pb.Next() {
			u := &Unit{Tenant: "mem", NewID: func() (int64, error) { next++; return next, nil }}
			c := NewExecutor(u, env)
			if _, err := c.StartInstance(def, "", vars, nil, "", nil); err != nil {
				b.Fatal(err)
			}
			if err := c.Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "instances/s")
}

var _ = fmt.Sprint
