package engine

import (
	"context"
	"testing"
	"time"
)

// The three process shapes every benchmark measures: the core alone here,
// durable on PostgreSQL and SQLite in bench_test.go. Each instance's work
// produces the complete set of changes storage would apply (runtime rows,
// history, outbox events with their JSON data).

// BenchStraightThrough is start → service task served by a Go handler → end.
const BenchStraightThrough = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d">
  <bpmn:process id="straight" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:serviceTask id="work" camunda:type="external" camunda:topic="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

// BenchUserTask is start → user task → end; an instance is two commands,
// the start and the completion.
const BenchUserTask = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="usertask" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
    <bpmn:userTask id="approve" name="Approve"/>
    <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

// BenchForkJoin is start → parallel fork → two service tasks served by Go
// handlers → parallel join → end, straight through.
const BenchForkJoin = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d">
  <bpmn:process id="forkjoin" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fork"/>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="a"/>
    <bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="b"/>
    <bpmn:serviceTask id="a" camunda:type="external" camunda:topic="work"/>
    <bpmn:serviceTask id="b" camunda:type="external" camunda:topic="work"/>
    <bpmn:sequenceFlow id="f4" sourceRef="a" targetRef="join"/>
    <bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="join"/>
    <bpmn:parallelGateway id="join"/>
    <bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

// benchInstance runs one instance of a shape through the core alone and
// returns it ended.
type benchShape struct {
	name string
	xml  string
	key  string
	run  func(env *memEnv, def *deployed, u *uow, vars map[string]Value) (*instance, error)
}

var benchShapes = []benchShape{
	{"straight-through", BenchStraightThrough, "straight", coreStraight},
	{"user-task", BenchUserTask, "usertask", coreUserTask},
	{"fork-join", BenchForkJoin, "forkjoin", coreStraight},
}

// coreStraight starts an instance that runs to its end in one command.
func coreStraight(env *memEnv, def *deployed, u *uow, vars map[string]Value) (*instance, error) {
	c := &core{uow: u, ctx: context.Background(), env: env}
	inst, err := c.startInstance(def, "", vars, nil, "", nil)
	if err != nil {
		return nil, err
	}
	if err := c.run(); err != nil {
		return nil, err
	}
	for _, i := range u.instances {
		i.holds = u.computeHolds(i)
	}
	return inst, nil
}

// coreUserTask starts an instance, commits in memory (as storage would,
// dropping deleted rows and marking the rest clean), then completes its task
// in a second command.
func coreUserTask(env *memEnv, def *deployed, u *uow, vars map[string]Value) (*instance, error) {
	inst, err := coreStraight(env, def, u, vars)
	if err != nil {
		return nil, err
	}
	commitMem(u)
	u.varUpdates, u.events = u.varUpdates[:0], u.events[:0]
	task := u.tasks[0]
	c := &core{uow: u, ctx: context.Background(), env: env}
	if err := c.completeTask(task, nil, false, "demo"); err != nil {
		return nil, err
	}
	if err := c.run(); err != nil {
		return nil, err
	}
	for _, i := range u.instances {
		i.holds = u.computeHolds(i)
	}
	return inst, nil
}

// commitMem is what a commit leaves of a unit: live rows, all clean.
func commitMem(u *uow) {
	u.execs = keep(u.execs, func(x *execution) *rowOp { return &x.op })
	u.vars = keep(u.vars, func(x *variableRow) *rowOp { return &x.op })
	u.tasks = keep(u.tasks, func(x *taskRow) *rowOp { return &x.op })
	u.acts = keep(u.acts, func(x *activityRow) *rowOp { return &x.op })
	for _, i := range u.instances {
		i.op, i.touched, i.loaded = rowClean, false, 1
	}
}

// BenchmarkCore runs each shape through the core without storage, on
// GOMAXPROCS goroutines, each with its own units of work (as commands on
// different instances are).
func BenchmarkCore(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			env := newMemEnv(b, s.xml)
			env.handlers["work"] = func(_ context.Context, t *ServiceTask) error {
				t.Set("checked", true)
				return nil
			}
			def := env.defs[s.key]
			vars := map[string]Value{"amount": {TypeLong, int64(1200)}}
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var next int64
				newID := func() (int64, error) { next++; return next, nil }
				for pb.Next() {
					u := &uow{tenant: "mem", now: now, nowMS: now.UnixMilli(), newID: newID}
					inst, err := s.run(env, def, u, vars)
					if err != nil {
						b.Fatal(err)
					}
					if inst.State != InstanceCompleted {
						b.Fatalf("instance ended %s", inst.State)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "instances/s")
		})
	}
}
