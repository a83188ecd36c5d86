package engine_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
)

// tenantTables are the tables of a tenant's storage.
var tenantTables = []string{"tf_activity", "tf_definition", "tf_deployment", "tf_execution", "tf_external_task", "tf_id_block",
	"tf_incident", "tf_instance", "tf_job", "tf_outbox", "tf_outbox_consumer", "tf_outbox_dead", "tf_resource", "tf_subscription",
	"tf_task", "tf_variable", "tf_variable_update"}

// dump reads every row of every table of the tenant in ctx, as text, so
// two dumps compare row by row (counts, revisions, locks, everything).
func dump(t *testing.T, src *datasource.Sources, ctx context.Context) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := src.Tenants.InReadTx(ctx, func(tx *datasource.Tx) error {
		for _, table := range tenantTables {
			rows, err := tx.QueryContext(ctx, `SELECT * FROM `+table)
			if err != nil {
				return err
			}
			lines, err := rowsText(rows)
			if err != nil {
				return err
			}
			out[table] = lines
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func rowsText(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var lines []string
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		var b strings.Builder
		for i, v := range vals {
			fmt.Fprintf(&b, "%s=%s ", cols[i], v)
		}
		lines = append(lines, b.String())
	}
	sort.Strings(lines)
	return lines, rows.Err()
}

// revisions reads, behind the datasource's back, the row counts and
// revisions of a pg-schema tenant's runtime tables.
func revisions(t *testing.T, db *sql.DB, schema string) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"tf_instance", "tf_task", "tf_external_task", "tf_job"} {
		var n int
		var sum sql.NullInt64
		if err := db.QueryRow(`SELECT COUNT(*), SUM(revision) FROM `+schema+`.`+table).Scan(&n, &sum); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %d rows, revisions %d; ", table, n, sum.Int64)
	}
	for _, table := range []string{"tf_execution", "tf_variable", "tf_subscription", "tf_activity", "tf_outbox", "tf_incident"} {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM ` + schema + `.` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s: %d rows; ", table, n)
	}
	return b.String()
}

// TestTenantIsolation deploys the same process in two fresh tenants and
// starts the same instances in both, so every ID is the same in both; then
// it works in tenant A and checks that tenant B did not change at all.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	forEachKindAtOnce(t, nil, func(t *testing.T, w *world) {
		ds, kind := w.ds, w.kind
		ctxA, ctxB := ds.Tenant(t, "ta"), ds.Tenant(t, "tb")
		clock := clockwork.NewFakeClockAt(epoch)
		e, err := engine.New(ds.Sources, engine.Options{Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join("testdata", "tenancy.bpmn"))
		if err != nil {
			t.Fatal(err)
		}
		type side struct {
			ctx   context.Context
			insts []*engine.ProcessInstance
			tasks []*engine.Task
			ext   []*engine.ExternalTask
			jobs  []*engine.Job
		}
		var sides [2]*side
		for i, ctx := range []context.Context{ctxA, ctxB} {
			s := &side{ctx: ctx}
			if _, err := e.Deploy(ctx, &engine.DeployParams{Name: "same", Resources: []engine.Resource{{Name: "tenancy.bpmn", Content: b}}}); err != nil {
				t.Fatal(err)
			}
			for n := 0; n < 3; n++ {
				inst, err := e.StartInstance(ctx, &engine.StartParams{DefinitionKey: "tenancy", BusinessKey: fmt.Sprint("order-", n),
					Variables: map[string]any{"n": n}})
				if err != nil {
					t.Fatal(err)
				}
				s.insts = append(s.insts, inst)
			}
			if s.tasks, err = e.Tasks(ctx, &engine.TaskQuery{Page: engine.Page{SortBy: "ID"}}); err != nil {
				t.Fatal(err)
			}
			if s.ext, err = e.ExternalTasks(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if s.jobs, err = e.Jobs(ctx, &engine.JobQuery{Page: engine.Page{SortBy: "ID"}}); err != nil {
				t.Fatal(err)
			}
			sides[i] = s
		}
		a, bb := sides[0], sides[1]
		for n := range a.insts {
			if a.insts[n].ID != bb.insts[n].ID || a.tasks[n].ID != bb.tasks[n].ID || a.ext[n].ID != bb.ext[n].ID || a.jobs[n].ID != bb.jobs[n].ID {
				t.Fatalf("IDs differ between the tenants: instance %d/%d, task %d/%d", a.insts[n].ID, bb.insts[n].ID, a.tasks[n].ID, bb.tasks[n].ID)
			}
			if a.insts[n].Tenant != "ta" || bb.insts[n].Tenant != "tb" || a.tasks[n].Tenant != "ta" {
				t.Fatalf("entities carry the wrong tenant: %q %q %q", a.insts[n].Tenant, bb.insts[n].Tenant, a.tasks[n].Tenant)
			}
		}
		before := dump(t, ds.Sources, ctxB)
		revB := map[int64]int64{}
		for _, inst := range bb.insts {
			got, err := e.Instance(ctxB, inst.Ref())
			if err != nil {
				t.Fatal(err)
			}
			revB[inst.ID] = got.Revision
		}
		var db *sql.DB
		var revBefore string
		if kind == dstest.Postgres {
			db = dstest.OpenSQL(t, ds.URL)
			revBefore = revisions(t, db, "tenant_tb")
		}

		// Work in tenant A: queries, a completion, a correlation, an
		// external task, timers, variables, suspension, a deletion.
		ctx := ctxA
		if n, err := e.CountInstances(ctx, nil); err != nil || n != 3 {
			t.Fatalf("A sees %d instances (%v)", n, err)
		}
		if _, err := e.CompleteTask(ctx, a.tasks[0].Ref(), &engine.CompleteTaskParams{Variables: map[string]any{"done": true}}); err != nil {
			t.Fatal(err)
		}
		res, err := e.CorrelateMessage(ctx, &engine.CorrelateParams{MessageName: "Ping", BusinessKey: "order-0"})
		if err != nil || len(res) != 1 || res[0].Instance.ID != a.insts[0].ID || res[0].Instance.Tenant != "ta" {
			t.Fatalf("correlation in A: %+v %v", res, err)
		}
		locked, err := e.FetchAndLock(ctx, &engine.FetchAndLockParams{WorkerID: "w", MaxTasks: 10, Topics: []engine.TopicRequest{{Name: "work", LockDuration: time.Minute}}})
		if err != nil || len(locked) != 3 {
			t.Fatalf("A fetched %d external tasks (%v)", len(locked), err)
		}
		for _, x := range locked {
			if x.Tenant != "ta" {
				t.Fatalf("fetched a task of %q", x.Tenant)
			}
			if err := e.CompleteExternalTask(ctx, x.Ref(), &engine.CompleteExternalTaskParams{WorkerID: "w"}); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(time.Hour)
		if n, err := e.RunDueJobs(ctx, clock.Now()); err != nil || n != 3 {
			t.Fatalf("A ran %d jobs (%v)", n, err)
		}
		if err := e.ModifyVariables(ctx, a.insts[1].Ref(), &engine.ModifyVariablesParams{Set: map[string]any{"n": 100}}); err != nil {
			t.Fatal(err)
		}
		if err := e.SuspendInstance(ctx, a.insts[1].Ref(), true); err != nil {
			t.Fatal(err)
		}
		if err := e.DeleteInstance(ctx, a.insts[2].Ref(), "gone"); err != nil {
			t.Fatal(err)
		}
		evs, err := e.ReadEvents(ctx, &engine.ReadEventsParams{Limit: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs.Events {
			if ev.Tenant != "ta" {
				t.Fatalf("A read an event of %q", ev.Tenant)
			}
		}
		if got, err := e.Instance(ctx, a.insts[0].Ref()); err != nil || got.State != engine.InstanceCompleted {
			t.Fatalf("A's first instance %+v %v", got, err)
		}

		// Entities of A passed in B's context are refused.
		for what, err := range map[string]error{
			"complete":  func() error { _, err := e.CompleteTask(ctxB, a.tasks[1].Ref(), nil); return err }(),
			"claim":     e.ClaimTask(ctxB, a.tasks[1].Ref(), "x"),
			"instance":  func() error { _, err := e.Instance(ctxB, a.insts[0].Ref()); return err }(),
			"variables": func() error { _, err := e.Variables(ctxB, a.insts[0].Ref()); return err }(),
			"delete":    e.DeleteInstance(ctxB, a.insts[0].Ref(), ""),
			"correlate": func() error {
				_, err := e.CorrelateMessage(ctxB, &engine.CorrelateParams{MessageName: "Ping", Instance: a.insts[1].Ref()})
				return err
			}(),
			"external":    e.CompleteExternalTask(ctxB, a.ext[0].Ref(), &engine.CompleteExternalTaskParams{WorkerID: "w"}),
			"job retries": e.SetJobRetries(ctxB, a.jobs[0].Ref(), 5),
			"execute job": e.ExecuteJobs(ctxB, "node", []*engine.Job{a.jobs[0]}, clock.Now())[0].Err,
			"task":        func() error { _, err := e.Task(ctxB, a.tasks[1].Ref()); return err }(),
		} {
			wantErr(t, err, engine.ErrWrongTenant, what+" with an entity of A in B's context")
		}

		// B is exactly as it was.
		after := dump(t, ds.Sources, ctxB)
		for _, table := range tenantTables {
			if !reflect.DeepEqual(before[table], after[table]) {
				t.Fatalf("tenant B's %s changed:\n before %v\n after  %v", table, before[table], after[table])
			}
		}
		if db != nil {
			if got := revisions(t, db, "tenant_tb"); got != revBefore {
				t.Fatalf("tenant B's rows, read directly:\n before %s\n after  %s", revBefore, got)
			}
		}
		for _, inst := range bb.insts {
			got, err := e.Instance(ctxB, inst.Ref())
			if err != nil || got.State != engine.InstanceActive || got.Suspended || got.Revision != revB[inst.ID] {
				t.Fatalf("B's instance %+v %v", got, err)
			}
		}
		if n, _ := e.CountTasks(ctxB, nil); n != 3 {
			t.Fatalf("B has %d open tasks, want 3", n)
		}
	})
}

// TestNewVersionIsSeenByOtherEngines deploys a new version through one
// engine and starts it at once through another: two engines over the same
// datasource, and two nodes (two datasources over the same primary).
func TestNewVersionIsSeenByOtherEngines(t *testing.T) {
	t.Parallel()
	forEachKindAtOnce(t, nil, func(t *testing.T, w *world) {
		ds, kind := w.ds, w.kind
		ctx := ds.Tenant(t, "acme")
		e1, err := engine.New(ds.Sources, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e2, err := engine.New(ds.Sources, engine.Options{})
		if err != nil {
			t.Fatal(err)
		}
		engines := []*engine.Engine{e2}
		if kind == dstest.Postgres {
			// A second node: its own datasource over the same primary.
			node2, err := datasource.Open(context.Background(), datasource.Config{PrimaryURL: ds.URL, DataDir: t.TempDir(),
				Clock: ds.Clock, Logger: dstest.Quiet()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { node2.Close() })
			e3, err := engine.New(node2, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			engines = append(engines, e3)
		}
		deploy := func(file string) {
			t.Helper()
			b, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e1.Deploy(ctx, &engine.DeployParams{Resources: []engine.Resource{{Name: "child.bpmn", Content: b}}}); err != nil {
				t.Fatal(err)
			}
		}
		for version, file := range []string{"call-child-v1.bpmn", "call-child-v2.bpmn"} {
			deploy(file)
			for _, other := range engines {
				inst, err := other.StartInstance(ctx, &engine.StartParams{DefinitionKey: "call_child"})
				if err != nil {
					t.Fatal(err)
				}
				def, err := other.Definition(ctx, engine.IDRef(inst.DefinitionID), "")
				if err != nil || def.Version != version+1 {
					t.Fatalf("another engine started version %d (%v), want %d", def.Version, err, version+1)
				}
				tasks, err := other.Tasks(ctx, &engine.TaskQuery{InstanceID: inst.ID})
				if err != nil || len(tasks) != 1 {
					t.Fatalf("%v %v", tasks, err)
				}
				// The engine that deployed completes it: the compiled model
				// is the same on every engine.
				if _, err := e1.CompleteTask(ctx, tasks[0].Ref(), nil); err != nil {
					t.Fatal(err)
				}
				vars, err := e1.Variables(ctx, inst.Ref())
				if err != nil || vars["version"].V != int32(version+1) {
					t.Fatalf("the instance ran version %v (%v), want %d", vars["version"], err, version+1)
				}
			}
		}
	})
}
