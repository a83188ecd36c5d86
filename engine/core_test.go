package engine

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
	defs     map[string]*deployed
	byID     map[int64]*deployed
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
	env := &memEnv{defs: map[string]*deployed{}, byID: map[int64]*deployed{}, handlers: map[string]Handler{}}
	for i, m := range ms {
		d := &deployed{model: m}
		d.ProcessDefinition = ProcessDefinition{ID: int64(1000 + i), Key: m.Key, Version: 1, Tenant: "mem"}
		env.defs[m.Key], env.byID[d.ID] = d, d
	}
	return env
}

func (e *memEnv) handler(topic string) Handler  { return e.handlers[topic] }
func (e *memEnv) handlerTimeout() time.Duration { return time.Minute }
func (e *memEnv) defaultRetries() int           { return DefaultJobRetries }
func (e *memEnv) maxSteps() int                 { return DefaultMaxSteps }
func (e *memEnv) latestDefinition(_ context.Context, key string) (*deployed, error) {
	if d := e.defs[key]; d != nil {
		return d, nil
	}
	return nil, notFound("process definition", key)
}
func (e *memEnv) definitionByID(_ context.Context, id int64) (*deployed, error) {
	if d := e.byID[id]; d != nil {
		return d, nil
	}
	return nil, notFound("process definition", id)
}

// memRun is one in-memory "database": a unit of work carried across
// commands, committed by dropping deleted rows and cleaning the rest.
type memRun struct {
	env *memEnv
	u   *uow
	now time.Time
}

func newMemRun(env *memEnv) *memRun {
	r := &memRun{env: env, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r.u = &uow{tenant: "mem", newID: func() (int64, error) { env.nextID++; return env.nextID, nil }}
	return r
}

func (r *memRun) do(t testing.TB, fn func(c *core) error) {
	t.Helper()
	r.u.now, r.u.nowMS = r.now, r.now.UnixMilli()
	c := &core{uow: r.u, ctx: context.Background(), env: r.env}
	if err := fn(c); err != nil {
		t.Fatal(err)
	}
	if err := c.run(); err != nil {
		t.Fatal(err)
	}
	r.commit()
}

func (r *memRun) commit() {
	u := r.u
	u.execs = keep(u.execs, func(x *execution) *rowOp { return &x.op })
	u.vars = keep(u.vars, func(x *variableRow) *rowOp { return &x.op })
	u.tasks = keep(u.tasks, func(x *taskRow) *rowOp { return &x.op })
	u.extTasks = keep(u.extTasks, func(x *extTaskRow) *rowOp { return &x.op })
	u.jobs = keep(u.jobs, func(x *jobRow) *rowOp { return &x.op })
	u.subs = keep(u.subs, func(x *subRow) *rowOp { return &x.op })
	u.incidents = keep(u.incidents, func(x *incidentRow) *rowOp { return &x.op })
	u.acts = keep(u.acts, func(x *activityRow) *rowOp { return &x.op })
	for _, i := range u.instances {
		i.op, i.touched = rowClean, false
	}
}

func keep[T any](rows []T, op func(T) *rowOp) []T {
	out := rows[:0]
	for _, r := range rows {
		if alive(*op(r)) {
			*op(r) = rowClean
			out = append(out, r)
		}
	}
	return out
}

func (r *memRun) start(t testing.TB, key string, vars map[string]any) *instance {
	t.Helper()
	var inst *instance
	tv, err := typedVars(vars)
	if err != nil {
		t.Fatal(err)
	}
	r.do(t, func(c *core) error {
		var err error
		inst, err = c.startInstance(r.env.defs[key], "", tv, nil, "", nil)
		return err
	})
	return inst
}

// path lists the elements an instance passed through, in order of start.
func (r *memRun) path(inst *instance) string {
	var ids []string
	acts := append([]*activityRow(nil), r.u.acts...)
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
	if v := r.u.variable(inst.ID, "doubled"); v == nil || v.val.V != int32(42) {
		t.Fatalf("doubled = %+v", v)
	}
	if len(r.u.execs) != 0 {
		t.Fatalf("tokens left: %d", len(r.u.execs))
	}
}

func TestCoreCreatesAnExternalTaskWithoutAHandler(t *testing.T) {
	env := newMemEnv(t, straightThrough)
	r := newMemRun(env)
	inst := r.start(t, "p", nil)
	if len(r.u.extTasks) != 1 || r.u.extTasks[0].Topic != "work" || inst.State != InstanceActive {
		t.Fatalf("external tasks %d, state %s", len(r.u.extTasks), inst.State)
	}
	r.do(t, func(c *core) error {
		return c.completeExternal(r.u.extTasks[0], map[string]Value{"ok": {TypeBoolean, true}}, nil)
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
	if len(r.u.tasks) != 2 {
		t.Fatalf("tasks %d", len(r.u.tasks))
	}
	for i := 0; i < 2; i++ {
		task := r.u.tasks[len(r.u.tasks)-1-i]
		if task.State != TaskCreated {
			continue
		}
		r.do(t, func(c *core) error { return c.completeTask(task, nil, false, "") })
		if i == 0 && inst.State != InstanceActive {
			t.Fatal("instance ended after one branch")
		}
	}
	if inst.State != InstanceCompleted {
		t.Fatalf("state %s; tokens %d", inst.State, len(r.u.execs))
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
			u := &uow{tenant: "mem", newID: func() (int64, error) { next++; return next, nil }}
			c := &core{uow: u, ctx: context.Background(), env: env}
			if _, err := c.startInstance(def, "", vars, nil, "", nil); err != nil {
				b.Fatal(err)
			}
			if err := c.run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "instances/s")
}

var _ = fmt.Sprint
