// Package storetest is the conformance suite of store.Store: one set of
// checks that every store — the SQL store on PostgreSQL and on SQLite, the
// memory store — must pass, so that the engine behaves the same on each.
// A store's own tests call Run with a Harness.
//
// The checks drive the store through an engine where a realistic unit of
// work is the point (loading what a command locates, the revisions a
// command's apply checks), and call it directly where the semantics are
// the store's own (job locks, the outbox clock, queries).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/engine/bpmn"
	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/model"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Harness is a store under test.
type Harness struct {
	Store store.Store
	// Sources are the datasources of a SQL store (for the engine's ID
	// blocks and caches); nil for a store that hands out IDs itself.
	Sources *datasource.Sources
	// Tenant creates an empty tenant of the store and returns a context
	// that carries it.
	Tenant func(t *testing.T, id string) context.Context
}

// epoch is where every check's clock starts.
var epoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// env is one check's tenant, engine and clock.
type env struct {
	*engine.Engine
	t     *testing.T
	h     *Harness
	ctx   context.Context
	clock *clockwork.FakeClock
}

func (h *Harness) env(t *testing.T, tenant string) *env {
	t.Helper()
	clock := clockwork.NewFakeClockAt(epoch)
	e, err := engine.New(h.Sources, engine.Options{Store: h.Store, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &env{Engine: e, t: t, h: h, ctx: h.Tenant(t, tenant), clock: clock}
}

func (v *env) deploy(xml string) *engine.ProcessDefinition {
	v.t.Helper()
	d, err := v.Deploy(v.ctx, &engine.DeployParams{Name: "storetest", Resources: []engine.Resource{{Name: "p.bpmn", Content: []byte(xml)}}})
	if err != nil {
		v.t.Fatal(err)
	}
	return d.Definitions[0]
}

func (v *env) start(key string, vars map[string]any) *engine.ProcessInstance {
	v.t.Helper()
	inst, err := v.StartInstance(v.ctx, &engine.StartParams{DefinitionKey: key, Variables: vars})
	if err != nil {
		v.t.Fatal(err)
	}
	return inst
}

func (v *env) task(inst *engine.ProcessInstance) *engine.Task {
	v.t.Helper()
	l, err := v.Tasks(v.ctx, &engine.TaskQuery{InstanceID: inst.ID})
	if err != nil || len(l) == 0 {
		v.t.Fatalf("tasks of %d: %v %v", inst.ID, l, err)
	}
	return l[0]
}

// load reads rows through the store with the engine's compiled
// definitions.
func (v *env) load(p *store.LoadParams, defs ...*core.Deployed) *store.Snapshot {
	v.t.Helper()
	byID := map[int64]*core.Deployed{}
	for _, d := range defs {
		byID[d.ID] = d
	}
	p.Definition = func(id int64) *core.Deployed { return byID[id] }
	snap, err := v.h.Store.Load(v.ctx, p)
	if err != nil {
		v.t.Fatal(err)
	}
	for _, src := range snap.Missing {
		v.t.Fatalf("definition %d is missing although the caller holds it", src.ID)
	}
	return snap
}

// compiled compiles a deployed definition as the engine does.
func (v *env) compiled(def *engine.ProcessDefinition) *core.Deployed {
	v.t.Helper()
	src, err := v.h.Store.Definition(v.ctx, &store.DefinitionParams{ID: def.ID, WithContent: true})
	if err != nil {
		v.t.Fatal(err)
	}
	ms, err := compile(src)
	if err != nil {
		v.t.Fatal(err)
	}
	return &core.Deployed{ProcessDefinition: src.ProcessDefinition, Model: ms}
}

// compile compiles a stored definition's model.
func compile(src *store.DefinitionSource) (*model.Definition, error) {
	defs, err := bpmn.ParseBytes(src.Content, bpmn.Options{})
	if err != nil {
		return nil, err
	}
	ms, err := model.Compile(defs, model.Options{Resource: src.ResourceName})
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Key == src.Key {
			return m, nil
		}
	}
	return nil, fmt.Errorf("resource %q defines no process %q", src.ResourceName, src.Key)
}

// Run runs the conformance suite against the store of h.
func Run(t *testing.T, h *Harness) {
	checks := []struct {
		name string
		run  func(t *testing.T, h *Harness)
	}{
		{"load locates rows and reads their instances whole", loadLocates},
		{"load reads the callers of a called instance, however deep", loadCallers},
		{"load asks for definitions the caller does not hold", loadMissing},
		{"load reads a job of no instance with its definition as stored now", loadStartJob},
		{"a batch of jobs loads each job as Load does", loadJobs},
		{"apply checks revisions and writes nothing on a conflict", applyConflicts},
		{"apply checks the latest versions a unit was planned on", applyLatest},
		{"the outbox numbers events in commit order", outboxClock},
		{"consumers advance forward only and pruning waits for them", outboxConsumers},
		{"jobs are acquired by due time and priority, fenced and taken over", jobLocks},
		{"external tasks are locked by topic, priority and retries", externalLocks},
		{"queries filter, relate, sort and page alike", queries},
		{"variables are read through the scopes", variables},
		{"history cleanup and deployment deletion remove every row", removal},
		{"definitions are suspended and counted", definitions},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, h)
		})
	}
}

const userTaskXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:message id="m" name="poke"/>
  <bpmn:process id="work" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="fork"/>
    <bpmn:parallelGateway id="fork"/>
    <bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="review"/>
    <bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="poked"/>
    <bpmn:userTask id="review" camunda:candidateUsers="${who}" camunda:candidateGroups="staff,${team}"/>
    <bpmn:boundaryEvent id="late" attachedToRef="review" cancelActivity="false">
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:sequenceFlow id="f4" sourceRef="late" targetRef="lateEnd"/>
    <bpmn:endEvent id="lateEnd"/>
    <bpmn:intermediateCatchEvent id="poked"><bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f5" sourceRef="review" targetRef="join"/>
    <bpmn:sequenceFlow id="f6" sourceRef="poked" targetRef="join"/>
    <bpmn:parallelGateway id="join"/>
    <bpmn:sequenceFlow id="f7" sourceRef="join" targetRef="ship"/>
    <bpmn:serviceTask id="ship" camunda:type="external" camunda:topic="ship" camunda:taskPriority="${prio}"/>
    <bpmn:sequenceFlow id="f8" sourceRef="ship" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

var userTaskVars = map[string]any{"who": "ann", "team": "ops", "prio": 5}

func loadLocates(t *testing.T, h *Harness) {
	v := h.env(t, "load")
	def := v.deploy(userTaskXML)
	d := v.compiled(def)
	inst := v.start("work", userTaskVars)
	task := v.task(inst)

	snap := v.load(&store.LoadParams{TaskID: task.ID}, d)
	if snap.Task == nil || snap.Task.ID != task.ID || snap.Task.State != core.TaskCreated {
		t.Fatalf("located task %+v", snap.Task)
	}
	if !containsRow(snap.Tasks, snap.Task) {
		t.Fatal("the located task is not the unit's own row")
	}
	if len(snap.Instances) != 1 || snap.Instances[0].ID != inst.ID || snap.Instances[0].Root == nil {
		t.Fatalf("instances %+v", snap.Instances)
	}
	elements := map[string]int{}
	for _, x := range snap.Executions {
		if x.Inst != snap.Instances[0] {
			t.Fatalf("execution %d does not point at its instance", x.ID)
		}
		elements[x.ElementID()]++
	}
	if elements["review"] != 1 || elements["poked"] != 1 {
		t.Fatalf("executions at %v", elements)
	}
	if len(snap.Jobs) != 1 || snap.Jobs[0].ElementID != "late" || len(snap.Subs) != 1 || snap.Subs[0].Name != "poke" {
		t.Fatalf("jobs %+v subs %+v", snap.Jobs, snap.Subs)
	}
	if !reflect.DeepEqual(snap.Task.CandidateUsers, []string{"ann"}) || !reflect.DeepEqual(snap.Task.CandidateGroups, []string{"staff", "ops"}) {
		t.Fatalf("candidates %v %v", snap.Task.CandidateUsers, snap.Task.CandidateGroups)
	}
	vars := map[string]any{}
	for _, r := range snap.Variables {
		vars[r.Name] = r.Val.V
	}
	if vars["who"] != "ann" || vars["prio"] != int32(5) {
		t.Fatalf("variables %v", vars)
	}

	// A message's waiting subscriptions, and the job by ID.
	snap = v.load(&store.LoadParams{Message: "poke", JobID: snap.Jobs[0].ID}, d)
	if len(snap.Waiting) != 1 || !containsRow(snap.Subs, snap.Waiting[0]) || snap.Job == nil || !containsRow(snap.Jobs, snap.Job) {
		t.Fatalf("waiting %+v job %+v", snap.Waiting, snap.Job)
	}
	// A completed task is found, but its instance is not read for it.
	if _, err := v.CompleteTask(v.ctx, task.Ref(), nil); err != nil {
		t.Fatal(err)
	}
	snap = v.load(&store.LoadParams{TaskID: task.ID}, d)
	if snap.Task == nil || snap.Task.State != core.TaskCompleted || len(snap.Instances) != 0 {
		t.Fatalf("after completion: task %+v, %d instances", snap.Task, len(snap.Instances))
	}
	// Nothing found is no error.
	snap = v.load(&store.LoadParams{TaskID: 999_999, ExternalTaskID: 999_999, JobID: 999_999}, d)
	if snap.Task != nil || snap.ExternalTask != nil || snap.Job != nil {
		t.Fatalf("found rows that do not exist: %+v", snap)
	}
	if _, err := v.h.Store.Load(v.ctx, &store.LoadParams{InstanceIDs: []int64{999_999}, Definition: func(int64) *core.Deployed { return d }}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("loading a missing instance: %v", err)
	}
}

// chainXML is three processes, each calling the next; the last waits in a
// user task.
const chainXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="top" isExecutable="true">
    <bpmn:startEvent id="s1"/><bpmn:sequenceFlow id="a1" sourceRef="s1" targetRef="c1"/>
    <bpmn:callActivity id="c1" calledElement="middle"/><bpmn:sequenceFlow id="a2" sourceRef="c1" targetRef="e1"/>
    <bpmn:endEvent id="e1"/>
  </bpmn:process>
  <bpmn:process id="middle" isExecutable="true">
    <bpmn:startEvent id="s2"/><bpmn:sequenceFlow id="b1" sourceRef="s2" targetRef="c2"/>
    <bpmn:callActivity id="c2" calledElement="bottom"/><bpmn:sequenceFlow id="b2" sourceRef="c2" targetRef="e2"/>
    <bpmn:endEvent id="e2"/>
  </bpmn:process>
  <bpmn:process id="bottom" isExecutable="true">
    <bpmn:startEvent id="s3"/><bpmn:sequenceFlow id="d1" sourceRef="s3" targetRef="work"/>
    <bpmn:userTask id="work"/><bpmn:sequenceFlow id="d2" sourceRef="work" targetRef="e3"/>
    <bpmn:endEvent id="e3"/>
  </bpmn:process>
</bpmn:definitions>`

func loadCallers(t *testing.T, h *Harness) {
	v := h.env(t, "callers")
	d, err := v.Deploy(v.ctx, &engine.DeployParams{Name: "chain", Resources: []engine.Resource{{Name: "chain.bpmn", Content: []byte(chainXML)}}})
	if err != nil {
		t.Fatal(err)
	}
	var defs []*core.Deployed
	for _, def := range d.Definitions {
		defs = append(defs, v.compiled(def))
	}
	top := v.start("top", nil)
	bottom, err := v.Instances(v.ctx, &engine.InstanceQuery{DefinitionKey: "bottom"})
	if err != nil || len(bottom) != 1 {
		t.Fatalf("called instances %v %v", bottom, err)
	}
	task := v.task(bottom[0])
	for _, p := range []*store.LoadParams{{TaskID: task.ID}, {InstanceIDs: []int64{bottom[0].ID}}} {
		snap := v.load(p, defs...)
		keys := map[string]*core.Instance{}
		for _, i := range snap.Instances {
			if i.Root == nil {
				t.Fatalf("instance %d (%s) has no root execution", i.ID, i.DefinitionKey)
			}
			keys[i.DefinitionKey] = i
		}
		if len(snap.Instances) != 3 || keys["top"] == nil || keys["top"].ID != top.ID || keys["middle"] == nil || keys["bottom"] == nil {
			t.Fatalf("load %+v read instances %v", p, keys)
		}
		at := map[string]bool{}
		for _, x := range snap.Executions {
			at[x.ElementID()] = true
		}
		if !at["c1"] || !at["c2"] || !at["work"] {
			t.Fatalf("load %+v read executions at %v", p, at)
		}
	}
}

func containsRow[T any](rows []*T, r *T) bool {
	for _, o := range rows {
		if o == r {
			return true
		}
	}
	return false
}

func loadMissing(t *testing.T, h *Harness) {
	v := h.env(t, "missing")
	def := v.deploy(userTaskXML)
	inst := v.start("work", userTaskVars)
	snap, err := h.Store.Load(v.ctx, &store.LoadParams{InstanceIDs: []int64{inst.ID}, Definition: func(int64) *core.Deployed { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Missing) != 1 || snap.Missing[0].ID != def.ID || !strings.Contains(string(snap.Missing[0].Content), `id="work"`) ||
		len(snap.Instances)+len(snap.Executions) != 0 {
		t.Fatalf("missing %+v, instances %d", snap.Missing, len(snap.Instances))
	}
}

func applyConflicts(t *testing.T, h *Harness) {
	v := h.env(t, "conflict")
	def := v.deploy(userTaskXML)
	d := v.compiled(def)
	inst := v.start("work", userTaskVars)
	task := v.task(inst)
	stale := v.load(&store.LoadParams{TaskID: task.ID}, d)
	events := v.backlog()
	if err := v.ClaimTask(v.ctx, task.Ref(), "ann"); err != nil {
		t.Fatal(err)
	}
	// A unit planned on the state before the claim: its instance, its
	// task and its job all moved or not, the apply must fail as a whole.
	u := unitOf(stale)
	stale.Task.Assignee = "bob"
	core.Touch(&stale.Task.Op)
	u.Events = []*core.Event{{ID: 777_777, Type: core.EventTaskAssigned, Time: epoch}}
	err := h.Store.Apply(v.ctx, &store.ApplyParams{Units: []*core.Unit{u}})
	if !errors.Is(err, core.ErrConflict) {
		t.Fatalf("applying a unit read before another commit: %v", err)
	}
	if got := v.task(inst); got.Assignee != "ann" || v.backlog() != events+1 {
		t.Fatalf("a failed apply wrote: assignee %q, %d new events", got.Assignee, v.backlog()-events-1)
	}

	// A job acquired since it was read is not deleted under its owner.
	fresh := v.load(&store.LoadParams{TaskID: task.ID}, d)
	acquired, err := h.Store.AcquireJobs(v.ctx, &store.AcquireJobsParams{Owner: "node", Now: epoch.Add(2 * time.Hour), LockFor: time.Minute, Max: 5})
	if err != nil || len(acquired) != 1 {
		t.Fatalf("acquired %v %v", acquired, err)
	}
	u = &core.Unit{Jobs: fresh.Jobs}
	core.Drop(&fresh.Jobs[0].Op)
	if err := h.Store.Apply(v.ctx, &store.ApplyParams{Units: []*core.Unit{u}}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("deleting a job another node acquired since: %v", err)
	}

	// Deletes of many units are checked row by row: one job acquired since
	// fails them all, and none is deleted.
	var units []*core.Unit
	for range 3 {
		other := v.start("work", userTaskVars)
		snap := v.load(&store.LoadParams{TaskID: v.task(other).ID}, d)
		core.Drop(&snap.Jobs[0].Op)
		units = append(units, &core.Unit{Jobs: snap.Jobs})
	}
	before, err := v.CountJobs(v.ctx, &engine.JobQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if taken, err := h.Store.AcquireJobs(v.ctx, &store.AcquireJobsParams{Owner: "node", Now: epoch.Add(2 * time.Hour), LockFor: time.Minute, Max: 1}); err != nil || len(taken) != 1 {
		t.Fatalf("acquired %v %v", taken, err)
	}
	if err := h.Store.Apply(v.ctx, &store.ApplyParams{Units: units}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("deleting three jobs, one acquired since: %v", err)
	}
	if after, err := v.CountJobs(v.ctx, &engine.JobQuery{}); err != nil || after != before {
		t.Fatalf("a failed apply deleted %d jobs (%v)", before-after, err)
	}
}

// unitOf makes a unit of a snapshot's rows, as a command's loader does.
func unitOf(s *store.Snapshot) *core.Unit {
	return &core.Unit{Instances: s.Instances, Execs: s.Executions, Vars: s.Variables, Tasks: s.Tasks, ExtTasks: s.ExtTasks,
		Jobs: s.Jobs, Subs: s.Subs, Incidents: s.Incidents, Acts: s.Activities}
}

func (v *env) backlog() int64 {
	v.t.Helper()
	st, err := v.ConsumerState(v.ctx, "storetest")
	if err != nil {
		v.t.Fatal(err)
	}
	return st.Backlog
}

const straightXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="straight" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

func applyLatest(t *testing.T, h *Harness) {
	v := h.env(t, "latest")
	v1 := v.deploy(straightXML)
	if err := h.Store.Apply(v.ctx, &store.ApplyParams{Latest: []store.LatestGuard{{Key: "straight", DefinitionID: v1.ID}}}); err != nil {
		t.Fatalf("the latest version: %v", err)
	}
	v.deploy(strings.Replace(straightXML, `id="end"/>`, `id="end" name="v2"/>`, 1))
	var stale *store.StaleDefinitionError
	if err := h.Store.Apply(v.ctx, &store.ApplyParams{Latest: []store.LatestGuard{{Key: "straight", DefinitionID: v1.ID}}}); !errors.As(err, &stale) || stale.Key != "straight" {
		t.Fatalf("a replaced version: %v", err)
	}
}

func outboxClock(t *testing.T, h *Harness) {
	v := h.env(t, "clock")
	v.deploy(straightXML)
	for range 3 {
		v.start("straight", nil)
	}
	b, err := v.ReadEvents(v.ctx, &engine.ReadEventsParams{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) == 0 || int64(len(b.Events)) != v.backlog() {
		t.Fatalf("read %d events, backlog %d", len(b.Events), v.backlog())
	}
	for i, e := range b.Events {
		if e.Cursor != core.Cursor(fmt.Sprintf("c%d", i+1)) || e.Tenant == "" {
			t.Fatalf("event %d has cursor %q (tenant %q): positions of one writer's events are numbered from 1, one after another", i, e.Cursor, e.Tenant)
		}
	}
	if b.Next != b.Events[len(b.Events)-1].Cursor {
		t.Fatalf("next %q", b.Next)
	}
	// Reading in pages, with filters, still advances past what it skips.
	page, err := v.ReadEvents(v.ctx, &engine.ReadEventsParams{After: "c2", Limit: 3, Types: []engine.EventType{engine.EventProcessCompleted}})
	if err != nil || page.Next != "c5" {
		t.Fatalf("a filtered page: %+v %v", page, err)
	}
	for _, e := range page.Events {
		if e.Type != engine.EventProcessCompleted {
			t.Fatalf("filter let %s through", e.Type)
		}
	}
	if _, err := v.ReadEvents(v.ctx, &engine.ReadEventsParams{After: "x1"}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("a foreign cursor: %v", err)
	}
}

func outboxConsumers(t *testing.T, h *Harness) {
	v := h.env(t, "consumers")
	v.deploy(straightXML)
	v.start("straight", nil)
	total := v.backlog()
	if err := v.AdvanceConsumer(v.ctx, "a", "c2"); err != nil {
		t.Fatal(err)
	}
	if err := v.AdvanceConsumer(v.ctx, "a", "c1"); err != nil {
		t.Fatal(err)
	}
	st, err := v.ConsumerState(v.ctx, "a")
	if err != nil || st.Position != "c2" || st.Backlog != total-2 {
		t.Fatalf("consumer %+v %v", st, err)
	}
	if err := v.DeadLetterEvents(v.ctx, "a", []engine.DeadLetter{{EventID: 1, Reason: "refused"}}); err != nil {
		t.Fatal(err)
	}
	dl, err := v.DeadLetters(v.ctx, "a", 10)
	if err != nil || len(dl) != 1 || dl[0].Reason != "refused" || dl[0].At.IsZero() {
		t.Fatalf("dead letters %+v %v", dl, err)
	}
	later := epoch.Add(time.Hour)
	if n, err := v.PruneOutbox(v.ctx, later, "b"); err != nil || n != 0 {
		t.Fatalf("pruned %d (%v) while consumer b never advanced", n, err)
	}
	if n, err := v.PruneOutbox(v.ctx, later); err != nil || n != 2 {
		t.Fatalf("pruned %d (%v), want the 2 events consumer a passed", n, err)
	}
	if v.backlog() != total-2 {
		t.Fatalf("backlog %d after pruning", v.backlog())
	}
}

func jobLocks(t *testing.T, h *Harness) {
	v := h.env(t, "jobs")
	v.deploy(userTaskXML)
	for range 3 {
		v.start("work", userTaskVars)
	}
	st := h.Store
	due, ok, err := st.NextJobDue(v.ctx)
	if err != nil || !ok || !due.Equal(epoch.Add(time.Hour)) {
		t.Fatalf("next due %v %v %v", due, ok, err)
	}
	if l, err := st.AcquireJobs(v.ctx, &store.AcquireJobsParams{Owner: "a", Now: epoch.Add(59 * time.Minute), LockFor: time.Minute, Max: 10}); err != nil || len(l) != 0 {
		t.Fatalf("acquired before due: %v %v", l, err)
	}
	at := epoch.Add(time.Hour)
	a, err := st.AcquireJobs(v.ctx, &store.AcquireJobsParams{Owner: "a", Now: at, LockFor: time.Minute, Max: 2})
	if err != nil || len(a) != 2 || a[0].LockOwner != "a" || !a[0].LockExpiresAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("acquired %+v %v", a, err)
	}
	b, err := st.AcquireJobs(v.ctx, &store.AcquireJobsParams{Owner: "b", Now: at, LockFor: time.Minute, Max: 10})
	if err != nil || len(b) != 1 || b[0].ID == a[0].ID || b[0].ID == a[1].ID {
		t.Fatalf("the second node acquired %+v %v", b, err)
	}
	if due, ok, _ := st.NextJobDue(v.ctx); !ok || !due.Equal(at.Add(time.Minute)) {
		t.Fatalf("next due while all are locked: %v", due)
	}
	lost, err := st.RenewJobLocks(v.ctx, &store.RenewJobLocksParams{Owner: "a", IDs: []int64{a[0].ID, b[0].ID}, Until: at.Add(5 * time.Minute)})
	if err != nil || !reflect.DeepEqual(lost, []int64{b[0].ID}) {
		t.Fatalf("renewing: lost %v %v", lost, err)
	}
	// b's lock expires: a takes it over; a's renewed lock holds.
	over, err := st.AcquireJobs(v.ctx, &store.AcquireJobsParams{Owner: "a", Now: at.Add(2 * time.Minute), LockFor: time.Minute, Max: 10})
	if err != nil || len(over) != 2 {
		t.Fatalf("took over %+v %v", over, err)
	}
	for _, j := range over {
		if j.ID == a[0].ID {
			t.Fatalf("a job whose lock was renewed was acquired again")
		}
		if j.Revision <= b[0].Revision && j.ID == b[0].ID {
			t.Fatalf("a taken-over job kept its revision: %d", j.Revision)
		}
	}
	if err := st.ReleaseJobs(v.ctx, &store.ReleaseJobsParams{Owner: "a", IDs: []int64{a[0].ID}}); err != nil {
		t.Fatal(err)
	}
	if l, err := st.AcquireJobs(v.ctx, &store.AcquireJobsParams{Owner: "c", Now: at.Add(2 * time.Minute), LockFor: time.Minute, Max: 10}); err != nil || len(l) != 1 || l[0].ID != a[0].ID {
		t.Fatalf("after release: %+v %v", l, err)
	}
}

// externalXML has a process per priority, each an external task.
func externalXML(prio int) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="ext%d" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ship"/>
    <bpmn:serviceTask id="ship" camunda:type="external" camunda:topic="ship" camunda:taskPriority="%d"/>
    <bpmn:sequenceFlow id="f2" sourceRef="ship" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`, prio, prio)
}

func externalLocks(t *testing.T, h *Harness) {
	v := h.env(t, "external")
	for i := range 3 {
		v.deploy(externalXML(i))
		v.start(fmt.Sprintf("ext%d", i), map[string]any{"prio": i, "other": "x"})
	}
	st := h.Store
	now := epoch
	l, err := st.LockExternalTasks(v.ctx, &store.LockExternalTasksParams{WorkerID: "w", MaxTasks: 2, UsePriority: true, Now: now,
		Topics: []store.TopicRequest{{Name: "ship", LockDuration: time.Minute, Variables: []string{"prio"}}}})
	if err != nil || len(l) != 2 || l[0].Priority != 2 || l[1].Priority != 1 || l[0].WorkerID != "w" {
		t.Fatalf("locked %+v %v", l, err)
	}
	if len(l[0].Variables) != 1 || l[0].Variables["prio"].V != int32(2) {
		t.Fatalf("variables %v", l[0].Variables)
	}
	rest, err := st.LockExternalTasks(v.ctx, &store.LockExternalTasksParams{WorkerID: "x", MaxTasks: 5, Now: now,
		Topics: []store.TopicRequest{{Name: "ship", LockDuration: time.Minute}, {Name: "other", LockDuration: time.Minute}}})
	if err != nil || len(rest) != 1 || rest[0].Priority != 0 {
		t.Fatalf("the rest %+v %v", rest, err)
	}
	// No retries left: not fetched, even after the lock expired.
	if err := v.FailExternalTask(v.ctx, rest[0].Ref(), &engine.ExternalFailureParams{WorkerID: "x", ErrorMessage: "down"}); err != nil {
		t.Fatal(err)
	}
	later, err := st.LockExternalTasks(v.ctx, &store.LockExternalTasksParams{WorkerID: "y", MaxTasks: 5, Now: now.Add(time.Hour),
		Topics: []store.TopicRequest{{Name: "ship", LockDuration: time.Minute}}})
	if err != nil || len(later) != 2 {
		t.Fatalf("after the locks expired: %+v %v", later, err)
	}
}

func queries(t *testing.T, h *Harness) {
	v := h.env(t, "queries")
	v.deploy(userTaskXML)
	a := v.start("work", map[string]any{"who": "ann", "team": "ops", "prio": 1, "amount": 10})
	v.clock.Advance(time.Minute)
	b := v.start("work", map[string]any{"who": "bob", "team": "dev", "prio": 2, "amount": 20.5})
	v.clock.Advance(time.Minute)
	c := v.start("work", map[string]any{"who": "cy", "team": "ops", "prio": 3, "amount": "n/a"})
	list := func(q *store.Query) []any {
		t.Helper()
		rows, err := h.Store.List(v.ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		n, err := h.Store.Count(v.ctx, &store.Query{Entity: q.Entity, Where: q.Where})
		if err != nil {
			t.Fatal(err)
		}
		if q.Limit == 0 && q.Offset == 0 && n != int64(len(rows)) {
			t.Fatalf("count %d, list %d", n, len(rows))
		}
		return rows
	}
	ids := func(rows []any) []int64 {
		out := []int64{}
		for _, r := range rows {
			out = append(out, reflect.ValueOf(r).Elem().FieldByName("ID").Int())
		}
		return out
	}
	inst := func(conds ...store.Cond) []int64 {
		t.Helper()
		return ids(list(&store.Query{Entity: store.Instances, Where: conds, Sort: []store.Sort{{Field: "StartedAt"}}}))
	}
	same := func(what string, got []int64, want ...int64) {
		t.Helper()
		if !reflect.DeepEqual(got, append([]int64{}, want...)) {
			t.Fatalf("%s: got %v, want %v", what, got, want)
		}
	}
	same("all, by start", inst(), a.ID, b.ID, c.ID)
	same("in", inst(store.WhereIn("ID", []int64{c.ID, a.ID})), a.ID, c.ID)
	same("newer", inst(store.Where("StartedAt", store.Gt, epoch)), b.ID, c.ID)
	same("variable >", inst(store.Cond{Related: &store.Related{Entity: store.ProcessVariables,
		Where: []store.Cond{store.Where("Name", store.Eq, "amount"), store.Where(store.Value, store.Gt, 15)}}}), b.ID)
	same("variable =", inst(store.Cond{Related: &store.Related{Entity: store.ProcessVariables,
		Where: []store.Cond{store.Where("Name", store.Eq, "amount"), store.Where(store.Value, store.Eq, "n/a")}}}), c.ID)
	same("variable like", inst(store.Cond{Related: &store.Related{Entity: store.ProcessVariables,
		Where: []store.Cond{store.Where("Name", store.Eq, "who"), store.Where(store.Value, store.Like, "b%")}}}), b.ID)
	same("not ended", inst(store.Cond{Field: "EndedAt", Op: store.IsNull}), a.ID, b.ID, c.ID)
	same("any", inst(store.Cond{Any: []store.Cond{store.Where("ID", store.Eq, a.ID), store.Where("ID", store.Eq, c.ID)}}), a.ID, c.ID)
	same("descending, paged", ids(list(&store.Query{Entity: store.Instances, Sort: []store.Sort{{Field: "StartedAt", Desc: true}}, Offset: 1, Limit: 1})), b.ID)

	task := func(conds ...store.Cond) []int64 {
		t.Helper()
		out := []int64{}
		for _, r := range list(&store.Query{Entity: store.Tasks, Where: conds, Sort: []store.Sort{{Field: "CreatedAt"}}}) {
			out = append(out, r.(*core.Task).InstanceID)
		}
		return out
	}
	same("candidate user", task(store.Where("CandidateUsers", store.Has, "bob")), b.ID)
	same("candidate group", task(store.Where("CandidateGroups", store.Has, "ops")), a.ID, c.ID)
	same("a group is no pattern", task(store.Where("CandidateGroups", store.Has, "%")))
	same("task's instance", task(store.Cond{Related: &store.Related{Entity: store.Instances, Where: []store.Cond{store.Where("ID", store.Eq, c.ID)}}}), c.ID)
	same("task's process variable", task(store.Cond{Related: &store.Related{Entity: store.ProcessVariables,
		Where: []store.Cond{store.Where("Name", store.Eq, "team"), store.Where(store.Value, store.Eq, "dev")}}}), b.ID)
	same("no due date", task(store.Cond{Field: "Due", Op: store.IsNull}), a.ID, b.ID, c.ID)

	defs := list(&store.Query{Entity: store.Definitions, Where: []store.Cond{store.Where(store.LatestVersion, store.Eq, true)}})
	if len(defs) != 1 || defs[0].(*core.ProcessDefinition).Key != "work" {
		t.Fatalf("latest definitions %v", defs)
	}
	deps := list(&store.Query{Entity: store.Deployments})
	if len(deps) != 1 || len(deps[0].(*core.Deployment).Definitions) != 1 || deps[0].(*core.Deployment).Resources[0] != "p.bpmn" {
		t.Fatalf("deployments %+v", deps)
	}
	jobs := list(&store.Query{Entity: store.Jobs, Where: []store.Cond{store.Where("DefinitionKey", store.Eq, "work")}, Sort: []store.Sort{{Field: "DueAt"}}})
	if len(jobs) != 3 {
		t.Fatalf("jobs of the key %d", len(jobs))
	}
	if _, err := h.Store.List(v.ctx, &store.Query{Entity: store.Tasks, Where: []store.Cond{store.Where("NoSuchField", store.Eq, 1)}}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("an unknown field: %v", err)
	}
}

func variables(t *testing.T, h *Harness) {
	v := h.env(t, "variables")
	v.deploy(userTaskXML)
	inst := v.start("work", userTaskVars)
	vars, err := h.Store.Variables(v.ctx, &store.VariablesParams{InstanceID: inst.ID})
	if err != nil || len(vars) != 3 || vars["team"].V != "ops" {
		t.Fatalf("process variables %v %v", vars, err)
	}
	vars, err = h.Store.Variables(v.ctx, &store.VariablesParams{InstanceID: inst.ID, Names: []string{"who"}})
	if err != nil || len(vars) != 1 {
		t.Fatalf("one name %v %v", vars, err)
	}
	if _, err := h.Store.Variables(v.ctx, &store.VariablesParams{InstanceID: 999_999}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a missing instance: %v", err)
	}
	if err := v.ModifyVariables(v.ctx, inst.Ref(), &engine.ModifyVariablesParams{Set: map[string]any{"team": "dev"}, Deletions: []string{"who"}}); err != nil {
		t.Fatal(err)
	}
	ups, err := h.Store.VariableUpdates(v.ctx, inst.ID)
	if err != nil || len(ups) != 4 || ups[3].Name != "team" || ups[3].Value.V != "dev" || ups[3].Revision != 2 {
		t.Fatalf("history %+v %v", ups, err)
	}
}

const ttlXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="ttl" isExecutable="true" camunda:historyTimeToLive="P1D">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

func removal(t *testing.T, h *Harness) {
	v := h.env(t, "removal")
	v.deploy(ttlXML)
	done := v.start("ttl", map[string]any{"x": 1})
	if n, err := h.Store.CleanupHistory(v.ctx, &store.CleanupHistoryParams{Now: epoch.Add(23 * time.Hour), Limit: 10}); err != nil || n != 0 {
		t.Fatalf("cleaned %d (%v) before the time to live", n, err)
	}
	if n, err := h.Store.CleanupHistory(v.ctx, &store.CleanupHistoryParams{Now: epoch.Add(25 * time.Hour), Limit: 10}); err != nil || n != 1 {
		t.Fatalf("cleaned %d (%v), want the ended instance", n, err)
	}
	if _, err := v.Instance(v.ctx, done.Ref()); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("the cleaned instance: %v", err)
	}
	if acts, _ := v.Activities(v.ctx, &engine.ActivityQuery{InstanceID: done.ID}); len(acts) != 0 {
		t.Fatalf("%d activity instances left", len(acts))
	}

	dep := v.deploy(userTaskXML)
	running := v.start("work", userTaskVars)
	err := h.Store.DeleteDeployment(v.ctx, &store.DeleteDeploymentParams{ID: dep.DeploymentID})
	if !errors.Is(err, core.ErrConflict) {
		t.Fatalf("deleting a deployment with a running instance: %v", err)
	}
	if err := h.Store.DeleteDeployment(v.ctx, &store.DeleteDeploymentParams{ID: dep.DeploymentID, Cascade: true}); err != nil {
		t.Fatal(err)
	}
	for _, q := range []*store.Query{{Entity: store.Instances, Where: []store.Cond{store.Where("ID", store.Eq, running.ID)}},
		{Entity: store.Tasks, Where: []store.Cond{store.Where("InstanceID", store.Eq, running.ID)}},
		{Entity: store.Jobs, Where: []store.Cond{store.Where("InstanceID", store.Eq, running.ID)}},
		{Entity: store.Definitions, Where: []store.Cond{store.Where("ID", store.Eq, dep.ID)}}} {
		if n, err := h.Store.Count(v.ctx, q); err != nil || n != 0 {
			t.Fatalf("%s left after the cascade: %d %v", q.Entity, n, err)
		}
	}
	if _, err := h.Store.Deployment(v.ctx, dep.DeploymentID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("the deleted deployment: %v", err)
	}
}

const timerStartXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:process id="nightly" isExecutable="true">
    <bpmn:startEvent id="start">
      <bpmn:timerEventDefinition><bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R/PT24H</bpmn:timeCycle></bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f" sourceRef="start" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`

func loadStartJob(t *testing.T, h *Harness) {
	v := h.env(t, "startjob")
	def := v.deploy(timerStartXML)
	jobs, err := v.Jobs(v.ctx, &engine.JobQuery{})
	if err != nil || len(jobs) != 1 || jobs[0].InstanceID != 0 {
		t.Fatalf("the timer start job: %+v %v", jobs, err)
	}
	for _, suspended := range []bool{false, true} {
		if suspended {
			if _, err := h.Store.SuspendDefinition(v.ctx, &store.SuspendDefinitionParams{ID: def.ID, Suspended: true}); err != nil {
				t.Fatal(err)
			}
		}
		snap := v.load(&store.LoadParams{JobID: jobs[0].ID})
		if snap.Job == nil || snap.Job.ID != jobs[0].ID || len(snap.Instances) != 0 {
			t.Fatalf("the job %+v, instances %d", snap.Job, len(snap.Instances))
		}
		if d := snap.JobDefinition; d == nil || d.ID != def.ID || d.Key != "nightly" || d.Suspended != suspended {
			t.Fatalf("the job's definition %+v, want %d suspended %v", d, def.ID, suspended)
		}
	}
}

func loadJobs(t *testing.T, h *Harness) {
	v := h.env(t, "loadjobs")
	def := v.deploy(userTaskXML)
	start := v.deploy(timerStartXML)
	for range 3 {
		v.start("work", userTaskVars)
	}
	jobs, err := v.Jobs(v.ctx, &engine.JobQuery{})
	if err != nil || len(jobs) != 4 {
		t.Fatalf("jobs %+v %v", jobs, err)
	}
	// In an order of their own, with one that does not exist.
	ids := []int64{jobs[2].ID, 999_999, jobs[0].ID, jobs[3].ID, jobs[1].ID}
	held := map[int64]*core.Deployed{def.ID: v.compiled(def), start.ID: v.compiled(start)}
	snaps, err := h.Store.LoadJobs(v.ctx, &store.LoadJobsParams{IDs: ids, Definition: func(id int64) *core.Deployed { return held[id] }})
	if err != nil || len(snaps) != len(ids) {
		t.Fatalf("%d snapshots for %d jobs: %v", len(snaps), len(ids), err)
	}
	for i, id := range ids {
		want := v.load(&store.LoadParams{JobID: id}, held[def.ID], held[start.ID])
		if snaps[i] == nil {
			t.Fatalf("job %d: no snapshot", id)
		}
		if !reflect.DeepEqual(snaps[i], want) {
			t.Fatalf("job %d: the batch read\n%+v\nLoad reads\n%+v", id, snaps[i], want)
		}
	}
	// A definition the caller does not hold: that job loads on its own.
	snaps, err = h.Store.LoadJobs(v.ctx, &store.LoadJobsParams{IDs: ids, Definition: func(id int64) *core.Deployed {
		if id == def.ID {
			return nil
		}
		return held[id]
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		ofInstance := id != 999_999 && id != startJobOf(jobs)
		if (snaps[i] == nil) != ofInstance {
			t.Fatalf("job %d (of an instance: %v): snapshot %+v", id, ofInstance, snaps[i])
		}
	}
}

// startJobOf is the ID of the job of no instance among jobs.
func startJobOf(jobs []*engine.Job) int64 {
	for _, j := range jobs {
		if j.InstanceID == 0 {
			return j.ID
		}
	}
	return 0
}

func definitions(t *testing.T, h *Harness) {
	v := h.env(t, "definitions")
	def := v.deploy(userTaskXML)
	a := v.start("work", userTaskVars)
	b := v.start("work", userTaskVars)
	ids, err := h.Store.SuspendDefinition(v.ctx, &store.SuspendDefinitionParams{ID: def.ID, Suspended: true})
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if err != nil || !reflect.DeepEqual(ids, []int64{a.ID, b.ID}) {
		t.Fatalf("instances to suspend %v %v", ids, err)
	}
	src, err := h.Store.Definition(v.ctx, &store.DefinitionParams{LatestKey: "work"})
	if err != nil || !src.Suspended || src.ID != def.ID || src.Hash == "" || src.Content != nil {
		t.Fatalf("the suspended definition %+v %v", src, err)
	}
	if _, err := h.Store.SuspendDefinition(v.ctx, &store.SuspendDefinitionParams{ID: 999_999}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a missing definition: %v", err)
	}
	stats, err := h.Store.DefinitionStatistics(v.ctx, def.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, s := range stats {
		got[s.ElementID] = s.Instances
	}
	if got["review"] != 2 || got["poked"] != 2 {
		t.Fatalf("statistics %+v", stats)
	}
}
