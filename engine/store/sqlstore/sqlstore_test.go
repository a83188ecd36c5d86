package sqlstore_test

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/engine/bpmn"
	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/model"
	"github.com/tenantflow/tenantflow/engine/store"
	"github.com/tenantflow/tenantflow/engine/store/sqlstore"
	"github.com/tenantflow/tenantflow/engine/store/storetest"
)

// TestConformance runs the store suite on PostgreSQL and SQLite, each check
// in a tenant of its own.
func TestConformance(t *testing.T) {
	for _, kind := range dstest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ds := dstest.Open(t, kind, nil)
			var n atomic.Int64
			storetest.Run(t, &storetest.Harness{
				Store:   sqlstore.New(ds.Sources.Tenants),
				Sources: ds.Sources,
				Tenant: func(t *testing.T, id string) context.Context {
					return ds.Tenant(t, fmt.Sprintf("%s_%d", id, n.Add(1)))
				},
			})
		})
	}
}

// On PostgreSQL a load by ID is one exchange, on a shared pool
// (set-local) and on a tenant's own pool alike, and reads what the
// general path reads.
func TestLoadByIDIsOneExchangeOnPostgreSQL(t *testing.T) {
	for _, mode := range []string{"set-local", "pool"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			ds := dstest.Open(t, dstest.Postgres, &dstest.Options{Config: datasource.Config{PGSchemaMode: mode}})
			st := sqlstore.New(ds.Sources.Tenants)
			e, err := engine.New(ds.Sources, engine.Options{Store: st})
			if err != nil {
				t.Fatal(err)
			}
			ctx := ds.Tenant(t, "acme")
			task, dep := openReview(t, e, st, ctx, map[string]any{"amount": 12})

			before := st.RoundTrips()
			snap, err := st.Load(ctx, &store.LoadParams{TaskID: task.ID, Definition: func(int64) *core.Deployed { return dep }})
			if err != nil {
				t.Fatal(err)
			}
			if n := st.RoundTrips() - before; n != 1 {
				t.Errorf("the load took %d round trips", n)
			}
			if snap.Task == nil || len(snap.Instances) != 1 || snap.Instances[0].Root == nil || len(snap.Tasks) != 1 ||
				snap.Task != snap.Tasks[0] || len(snap.Variables) != 1 || snap.Variables[0].Val.V != int32(12) {
				t.Fatalf("the load read task %+v, instances %+v, tasks %d, variables %+v", snap.Task, snap.Instances, len(snap.Tasks), snap.Variables)
			}
		})
	}
}

// postgresEngine is an engine over the SQL store on PostgreSQL, with the
// tenant acme.
func postgresEngine(t *testing.T) (*dstest.Env, *sqlstore.Store, *engine.Engine, context.Context) {
	t.Helper()
	ds := dstest.Open(t, dstest.Postgres, nil)
	st := sqlstore.New(ds.Sources.Tenants)
	e, err := engine.New(ds.Sources, engine.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	return ds, st, e, ds.Tenant(t, "acme")
}

// openReview starts the review process with vars and returns its open
// task and the compiled definition a load binds to.
func openReview(t *testing.T, e *engine.Engine, st *sqlstore.Store, ctx context.Context, vars map[string]any) (*engine.Task, *core.Deployed) {
	t.Helper()
	d, err := e.DeployXML(ctx, "review.bpmn", reviewXML)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := e.StartInstance(ctx, &engine.StartParams{DefinitionKey: "review", Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := e.Tasks(ctx, &engine.TaskQuery{InstanceID: inst.ID})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks %v %v", tasks, err)
	}
	src, err := st.Definition(ctx, &store.DefinitionParams{ID: d.Definitions[0].ID, WithContent: true})
	if err != nil {
		t.Fatal(err)
	}
	defs, err := bpmn.ParseBytes(src.Content, bpmn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := model.Compile(defs, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tasks[0], &core.Deployed{ProcessDefinition: src.ProcessDefinition, Model: ms[0]}
}

// The load by ID reads rows as JSON: every value comes back as it was
// stored, as the general path reads it (text with quotes, escapes and
// characters beyond ASCII, the extremes of a long, a double's NaN and
// infinities, booleans, nulls).
func TestLoadByIDReadsEveryValueAsTheGeneralPathDoes(t *testing.T) {
	_, st, e, ctx := postgresEngine(t)
	vars := map[string]any{
		"text":    "quote \" backslash \\ newline \n tab \t é 😀 \u0001 {\"json\": [1]}",
		"max":     int64(math.MaxInt64),
		"min":     int64(math.MinInt64),
		"small":   1e-300,
		"nan":     math.NaN(),
		"ninf":    math.Inf(-1),
		"pinf":    math.Inf(1),
		"yes":     true,
		"no":      false,
		"nothing": nil,
		"object":  map[string]any{"a": []any{1, "b"}},
	}
	task, dep := openReview(t, e, st, ctx, vars)
	def := func(int64) *core.Deployed { return dep }
	atOnce, err := st.Load(ctx, &store.LoadParams{TaskID: task.ID, Definition: def})
	if err != nil {
		t.Fatal(err)
	}
	// Two IDs of the same instance take the general path.
	general, err := st.Load(ctx, &store.LoadParams{InstanceIDs: []int64{task.InstanceID, task.InstanceID}, Definition: def})
	if err != nil {
		t.Fatal(err)
	}
	show := func(snap *store.Snapshot) map[string]string {
		out := map[string]string{}
		for _, v := range snap.Variables {
			out[v.Name] = fmt.Sprintf("%s %#v rev %d", v.Val.Type, v.Val.V, v.Rev)
		}
		return out
	}
	got, want := show(atOnce), show(general)
	if len(want) != len(vars) || len(got) != len(want) {
		t.Fatalf("the load by ID read %d variables, the general path %d, of %d", len(got), len(want), len(vars))
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("variable %s: the load by ID read %s, the general path %s", name, got[name], w)
		}
	}
	if fmt.Sprintf("%+v", atOnce.Task.Task) != fmt.Sprintf("%+v", general.Tasks[0].Task) {
		t.Errorf("the task: %+v, the general path %+v", atOnce.Task.Task, general.Tasks[0].Task)
	}
}

// A job of no instance (a timer start event's, a batch's) shares
// instance ID 0 with every other such job: its load reads the job, not
// all of them. Firing a timer start event must not cost more as other
// instance-less jobs pile up.
func TestLoadingAJobOfNoInstanceReadsOnlyThatJob(t *testing.T) {
	ds := dstest.Open(t, dstest.Postgres, nil)
	st := sqlstore.New(ds.Sources.Tenants)
	ctx := ds.Tenant(t, "acme")
	err := ds.Sources.Tenants.InTx(ctx, func(tx *datasource.Tx) error {
		_, err := tx.Exec(`INSERT INTO tf_job (id, kind, instance_id, execution_id, definition_id, def_key, element_id, due_at, retries, created_at, revision)
			SELECT 1000 + g, 'timer-start', 0, 0, 1, 'report', 'start', 0, 3, 0, 1 FROM generate_series(1, 500) AS g`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	before := st.RowsRead()
	snap, err := st.Load(ctx, &store.LoadParams{JobID: 1001, Definition: func(int64) *core.Deployed { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Job == nil || snap.Job.ID != 1001 || len(snap.Instances) != 0 || len(snap.Jobs) != 0 {
		t.Fatalf("the load read job %+v, instances %d, jobs %d", snap.Job, len(snap.Instances), len(snap.Jobs))
	}
	if n := st.RowsRead() - before; n != 1 {
		t.Errorf("loading one job read %d rows, want 1", n)
	}
}

// The job executor's batch is read in one exchange: a job per row, each
// as its own load would read it, and instance-less jobs still read only
// themselves. The engine executes a batch on that one read.
func TestABatchOfJobsIsReadInOneExchange(t *testing.T) {
	_, st, e, ctx := postgresEngine(t)
	const asyncXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="later" isExecutable="true">
    <bpmn:startEvent id="start" camunda:asyncAfter="true"/>
    <bpmn:sequenceFlow id="f" sourceRef="start" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>`
	if _, err := e.DeployXML(ctx, "later.bpmn", asyncXML); err != nil {
		t.Fatal(err)
	}
	const n = 20
	for range n {
		if _, err := e.StartInstance(ctx, &engine.StartParams{DefinitionKey: "later"}); err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := e.AcquireJobs(ctx, &engine.AcquireJobsParams{Owner: "node", Now: time.Now(), LockFor: time.Minute, Max: 100})
	if err != nil || len(jobs) != n {
		t.Fatalf("acquired %d jobs: %v", len(jobs), err)
	}
	trips := st.RoundTrips()
	for _, r := range e.ExecuteJobs(ctx, "node", jobs, time.Now()) {
		if r.Err != nil {
			t.Fatalf("job %d: %v", r.JobID, r.Err)
		}
	}
	// One read of the batch, one apply of its outcomes.
	if got := st.RoundTrips() - trips; got != 2 {
		t.Errorf("a batch of %d jobs took %d round trips, want 2", n, got)
	}
	if running, err := e.CountInstances(ctx, nil); err != nil || running != 0 {
		t.Fatalf("%d instances still run after their jobs: %v", running, err)
	}
	// Every unit's rows were written, though the step merged them into one
	// INSERT per table and one DELETE per table: each instance's history
	// ends at its end event, and no execution is left.
	ends, err := e.CountActivities(ctx, &engine.ActivityQuery{ElementID: "end"})
	if err != nil || ends != n {
		t.Fatalf("%d instances reached their end event in the history, want %d: %v", ends, n, err)
	}
}

// A writer that took an outbox position and has not committed holds
// readers at the gate: a reader never returns events past a position whose
// transaction may still commit, or it would skip that event once the
// writer commits. Writers never wait for each other: the engine commits
// an instance while the writer is open.
func TestOutboxReadersWaitAtTheGateForWritersInside(t *testing.T) {
	ds, _, e, ctx := postgresEngine(t)
	if _, err := e.DeployXML(ctx, "review.bpmn", reviewXML); err != nil {
		t.Fatal(err)
	}
	before, err := e.ReadEvents(ctx, &engine.ReadEventsParams{Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}

	// The writer does what an apply step does: enter the gate, then insert
	// an event, which takes its position; and it stays open.
	inside, release, wrote := make(chan int64), make(chan struct{}), make(chan error, 1)
	go func() {
		wrote <- ds.Sources.Tenants.InTx(ctx, func(tx *datasource.Tx) error {
			var pos int64
			if _, err := tx.Exec(`DELETE FROM tf_outbox_gate WHERE FALSE`); err != nil {
				return err
			}
			if err := tx.Get(&pos, `INSERT INTO tf_outbox (id, type, at) VALUES (1, 'late-writer', 0) RETURNING pos`); err != nil {
				return err
			}
			inside <- pos
			<-release
			return nil
		})
	}()
	var late int64
	select {
	case late = <-inside:
	case err := <-wrote:
		t.Fatalf("the writer failed: %v", err)
	}
	inst, err := e.StartInstance(ctx, &engine.StartParams{DefinitionKey: "review"})
	if err != nil {
		close(release)
		t.Fatalf("a command could not commit while another writer was inside the gate: %v", err)
	}

	read := make(chan *engine.EventBatch, 1)
	failed := make(chan error, 1)
	go func() {
		b, err := e.ReadEvents(ctx, &engine.ReadEventsParams{After: before.Next, Limit: 10_000})
		if err != nil {
			failed <- err
			return
		}
		read <- b
	}()
	// Wait until the reader waits at the gate (or, wrongly, returns).
	deadline := time.Now().Add(30 * time.Second)
	for waiting := 0; waiting == 0; {
		select {
		case b := <-read:
			close(release)
			t.Fatalf("with a writer inside the gate, the reader returned %d events at once", len(b.Events))
		case err := <-failed:
			close(release)
			t.Fatal(err)
		default:
		}
		err := ds.Sources.Tenants.InReadTx(ctx, func(tx *datasource.Tx) error {
			return tx.Get(&waiting, `SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
				WHERE c.relname = 'tf_outbox_gate' AND NOT l.granted`)
		})
		if err != nil || time.Now().After(deadline) {
			close(release)
			t.Fatalf("the reader never waited at the gate (%v)", err)
		}
	}
	close(release)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	var b *engine.EventBatch
	select {
	case b = <-read:
	case err := <-failed:
		t.Fatal(err)
	}
	if len(b.Events) < 2 || b.Events[0].Type != "late-writer" || b.Events[0].Cursor != engine.Cursor(fmt.Sprintf("c%d", late)) {
		t.Fatalf("the reader got %+v first, want the late writer's event at c%d", b.Events[0], late)
	}
	for _, ev := range b.Events[1:] {
		if ev.InstanceID != inst.ID {
			t.Fatalf("unexpected event %+v", ev)
		}
	}
	if last := b.Events[len(b.Events)-1]; last.Type != engine.EventTaskCreated {
		t.Fatalf("the reader stopped at %+v, before the instance's last event", last)
	}
}

// A writer that stays inside the gate (a session holding its transaction
// open) holds its tenant's readers only for the gate's wait: then they
// read nothing new, and find the events once it left.
func TestOutboxReadersStopWaitingForAWriterThatStaysInside(t *testing.T) {
	ds, _, e, ctx := postgresEngine(t)
	if _, err := e.DeployXML(ctx, "review.bpmn", reviewXML); err != nil {
		t.Fatal(err)
	}
	if _, err := e.StartInstance(ctx, &engine.StartParams{DefinitionKey: "review"}); err != nil {
		t.Fatal(err)
	}
	inside, release, wrote := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		wrote <- ds.Sources.Tenants.InTx(ctx, func(tx *datasource.Tx) error {
			if _, err := tx.Exec(`DELETE FROM tf_outbox_gate WHERE FALSE`); err != nil {
				return err
			}
			close(inside)
			<-release
			return nil
		})
	}()
	select {
	case <-inside:
	case err := <-wrote:
		t.Fatalf("the writer failed: %v", err)
	}
	// Past 30 s the read is cancelled: a reader that waits for as long as
	// the writer stays fails here instead of hanging the test.
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	b, err := e.ReadEvents(rctx, &engine.ReadEventsParams{Limit: 10_000})
	cancel()
	close(release)
	if err != nil {
		t.Fatalf("a reader held at the gate: %v", err)
	}
	if len(b.Events) != 0 || b.Next != "" {
		t.Fatalf("with a writer inside the gate, the reader got %d events, next %q", len(b.Events), b.Next)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	b, err = e.ReadEvents(ctx, &engine.ReadEventsParams{Limit: 10_000})
	if err != nil || len(b.Events) == 0 || b.Events[len(b.Events)-1].Type != engine.EventTaskCreated {
		t.Fatalf("once the writer left: %d events, %v", len(b.Events), err)
	}
}

const reviewXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="review" isExecutable="true">
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="check"/>
    <bpmn:userTask id="check"/><bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="e"/>
    <bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>`
