package engine_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/engine/store/memstore"
)

// The scenario tests run every BPMN behaviour through the engine's API and
// assert the path the tokens took (activity instances in start order) and
// the state the instance ends in. BPMN behaviour is the core's: those
// tables run on the memory store, in moments. Tables about storage (the
// outbox, concurrency, tenancy) run on PostgreSQL and SQLite. Each row gets
// its own tenant, engine and fake clock, so rows run in parallel without
// seeing each other's jobs, events or time.

// epoch is where every scenario's clock starts.
var epoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// memory is the kind of world whose state is a memory store.
const memory dstest.Kind = "memory"

// world is one storage shared by the rows of a table test: a datasource,
// or a memory store.
type world struct {
	ds   *dstest.Env
	mem  *memstore.Store
	kind dstest.Kind
	n    atomic.Int64
}

// sc is one scenario: a fresh tenant with an engine whose clock the test
// moves.
type sc struct {
	*env
	t      *testing.T
	kind   dstest.Kind
	clock  *clockwork.FakeClock
	tenant string
	w      *world
}

// scenario is one row of a table test.
type scenario struct {
	name string
	run  func(s *sc)
}

// rowsAtOnce is how many rows of a table test run at once per storage
// kind. Rows mostly wait for commits, so more of them than the machine has
// cores keeps the run short; each row's tenant uses at most a few
// connections.
const rowsAtOnce = 4

// runScenarios runs every row of a BPMN table on the memory store, the
// table in parallel with the other table tests.
func runScenarios(t *testing.T, rows []scenario) {
	t.Parallel()
	runOn(t, []dstest.Kind{memory}, nil, func(t *testing.T, w *world) {
		inParallel(t, rows, rowsAtOnce, func(t *testing.T, r scenario) { r.run(w.scenario(t)) })
	})
}

// runStorageScenarios runs every row on PostgreSQL, SQLite and the memory
// store: tables whose behaviour is the storage's as much as the core's.
func runStorageScenarios(t *testing.T, rows []scenario) {
	t.Parallel()
	runOn(t, append([]dstest.Kind{memory}, dstest.Kinds...), nil, func(t *testing.T, w *world) {
		inParallel(t, rows, rowsAtOnce, func(t *testing.T, r scenario) { r.run(w.scenario(t)) })
	})
}

// forEachKindAtOnce runs fn as a subtest per SQL storage kind, both at
// once, each with a world opened with opts.
func forEachKindAtOnce(t *testing.T, opts *dstest.Options, fn func(t *testing.T, w *world)) {
	t.Helper()
	runOn(t, dstest.Kinds, opts, fn)
}

// runOn runs fn as a subtest per kind, all at once.
func runOn(t *testing.T, kinds []dstest.Kind, opts *dstest.Options, fn func(t *testing.T, w *world)) {
	t.Helper()
	rows := make([]scenario, len(kinds))
	for i, k := range kinds {
		rows[i] = scenario{name: string(k), run: func(*sc) {}}
	}
	inParallel(t, rows, len(rows), func(t *testing.T, r scenario) {
		kind := dstest.Kind(r.name)
		if kind == memory {
			fn(t, &world{mem: memstore.New(), kind: kind})
			return
		}
		fn(t, &world{ds: dstest.Open(t, kind, opts), kind: kind})
	})
}

// inParallel runs fn for every row as a subtest, n at a time. t.Run called
// from several goroutines runs subtests concurrently without counting them
// against -parallel (whose default, the number of cores, suits CPU-bound
// tests, not these, which mostly wait for commits); every call returns
// before inParallel does.
func inParallel(t *testing.T, rows []scenario, n int, fn func(t *testing.T, r scenario)) {
	slots := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, r := range rows {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			t.Run(r.name, func(t *testing.T) { fn(t, r) })
		}()
	}
	wg.Wait()
}

// scenario creates a tenant and an engine over it with its own clock.
func (w *world) scenario(t *testing.T) *sc {
	t.Helper()
	tenant := fmt.Sprintf("s%03d", w.n.Add(1))
	var ctx context.Context
	if w.mem != nil {
		ctx = engine.WithTenant(context.Background(), tenant)
	} else {
		ctx = w.ds.Tenant(t, tenant)
	}
	clock := clockwork.NewFakeClockAt(epoch)
	s := &sc{env: &env{ds: w.ds, ctx: ctx}, t: t, kind: w.kind, clock: clock, tenant: tenant, w: w}
	s.Engine = s.newEngine(engine.Options{Clock: clock})
	return s
}

// newEngine returns another engine over the scenario's storage.
func (s *sc) newEngine(opts engine.Options) *engine.Engine {
	s.t.Helper()
	var src *datasource.Sources
	if s.w.mem != nil {
		opts.Store = s.w.mem
	} else {
		src = s.w.ds.Sources
	}
	e, err := engine.New(src, opts)
	if err != nil {
		s.t.Fatal(err)
	}
	return e
}

func (s *sc) deploy(files ...string) *engine.Deployment {
	s.t.Helper()
	return s.env.deploy(s.t, files...)
}

// start starts the latest version of key.
func (s *sc) start(key string, vars map[string]any) *engine.ProcessInstance {
	s.t.Helper()
	return s.startBK(key, "", vars)
}

func (s *sc) startBK(key, businessKey string, vars map[string]any) *engine.ProcessInstance {
	s.t.Helper()
	inst, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: key, BusinessKey: businessKey, Variables: vars})
	if err != nil {
		s.t.Fatalf("start %s: %v", key, err)
	}
	return inst
}

// instance re-reads an instance.
func (s *sc) instance(inst *engine.ProcessInstance) *engine.ProcessInstance {
	s.t.Helper()
	got, err := s.Instance(s.ctx, inst.Ref())
	if err != nil {
		s.t.Fatalf("instance %d: %v", inst.ID, err)
	}
	return got
}

// wantState checks the instance's state.
func (s *sc) wantState(inst *engine.ProcessInstance, want engine.InstanceState) *engine.ProcessInstance {
	s.t.Helper()
	got := s.instance(inst)
	if got.State != want {
		s.t.Fatalf("instance %d is %s, want %s (path %v)", inst.ID, got.State, want, s.path(s.t, inst.ID))
	}
	return got
}

// wantPath checks the elements the instance passed, in start order.
func (s *sc) wantPath(inst *engine.ProcessInstance, want ...string) {
	s.t.Helper()
	if got := s.path(s.t, inst.ID); !reflect.DeepEqual(got, want) {
		s.t.Fatalf("path of instance %d:\n got  %v\n want %v", inst.ID, got, want)
	}
}

// wantUnfinished checks which activity instances are still running, in
// start order.
func (s *sc) wantUnfinished(inst *engine.ProcessInstance, want ...string) {
	s.t.Helper()
	acts, err := s.Activities(s.ctx, &engine.ActivityQuery{InstanceID: inst.ID, Unfinished: true, Page: engine.Page{MaxResults: 1000, SortBy: "StartedAt"}})
	if err != nil {
		s.t.Fatal(err)
	}
	var got []string
	for _, a := range acts {
		got = append(got, a.ElementID)
	}
	if !reflect.DeepEqual(got, want) {
		s.t.Fatalf("unfinished activities of instance %d:\n got  %v\n want %v", inst.ID, got, want)
	}
}

// wantCanceled checks which activity instances were cancelled, in start
// order.
func (s *sc) wantCanceled(inst *engine.ProcessInstance, want ...string) {
	s.t.Helper()
	acts, err := s.Activities(s.ctx, &engine.ActivityQuery{InstanceID: inst.ID, Canceled: true, Page: engine.Page{MaxResults: 1000, SortBy: "StartedAt"}})
	if err != nil {
		s.t.Fatal(err)
	}
	var got []string
	for _, a := range acts {
		got = append(got, a.ElementID)
	}
	if !reflect.DeepEqual(got, want) {
		s.t.Fatalf("cancelled activities of instance %d:\n got  %v\n want %v", inst.ID, got, want)
	}
}

// vars returns the instance's process variables.
func (s *sc) vars(inst *engine.ProcessInstance) map[string]engine.Value {
	s.t.Helper()
	v, err := s.Variables(s.ctx, inst.Ref())
	if err != nil {
		s.t.Fatal(err)
	}
	return v
}

// wantVars checks some process variables: each want value is compared with
// the variable inferred the way StartParams.Variables infers it (42 is an
// Integer, "x" a String), or as given when it is an engine.Value.
func (s *sc) wantVars(inst *engine.ProcessInstance, want map[string]any) {
	s.t.Helper()
	got := s.vars(inst)
	for name, w := range want {
		wv, err := engine.ValueOf(w)
		if err != nil {
			s.t.Fatal(err)
		}
		g, ok := got[name]
		if !ok {
			s.t.Fatalf("instance %d has no variable %q (it has %v)", inst.ID, name, got)
		}
		if !g.Equal(wv) {
			s.t.Fatalf("variable %q of instance %d = %s %#v, want %s %#v", name, inst.ID, g.Type, g.V, wv.Type, wv.V)
		}
	}
}

// wantNoVar checks that a process variable does not exist.
func (s *sc) wantNoVar(inst *engine.ProcessInstance, names ...string) {
	s.t.Helper()
	got := s.vars(inst)
	for _, n := range names {
		if v, ok := got[n]; ok {
			s.t.Fatalf("instance %d has variable %q = %v, want none", inst.ID, n, v)
		}
	}
}

// open counts what an instance holds in the runtime tables.
type open struct {
	Tasks, External, Jobs, Subscriptions, Incidents, Executions int
}

func (s *sc) open(inst *engine.ProcessInstance) open {
	s.t.Helper()
	if s.w.mem != nil {
		f, err := s.w.mem.Footprint(s.ctx, inst.ID)
		if err != nil {
			s.t.Fatal(err)
		}
		return open(f)
	}
	var o open
	err := s.ds.Sources.Tenants.InReadTx(s.ctx, func(tx *datasource.Tx) error {
		for _, q := range []struct {
			dst *int
			sql string
		}{
			{&o.Tasks, `SELECT COUNT(*) FROM tf_task WHERE instance_id = $1 AND state = 'created'`},
			{&o.External, `SELECT COUNT(*) FROM tf_external_task WHERE instance_id = $1`},
			{&o.Jobs, `SELECT COUNT(*) FROM tf_job WHERE instance_id = $1`},
			{&o.Subscriptions, `SELECT COUNT(*) FROM tf_subscription WHERE instance_id = $1`},
			{&o.Incidents, `SELECT COUNT(*) FROM tf_incident WHERE instance_id = $1 AND state = 'open'`},
			{&o.Executions, `SELECT COUNT(*) FROM tf_execution WHERE instance_id = $1`},
		} {
			if err := tx.GetContext(s.ctx, q.dst, q.sql, inst.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.t.Fatal(err)
	}
	return o
}

// wantOpen checks what an instance still holds. Executions are not
// compared when want.Executions is negative.
func (s *sc) wantOpen(inst *engine.ProcessInstance, want open) {
	s.t.Helper()
	got := s.open(inst)
	if want.Executions < 0 {
		got.Executions = want.Executions
	}
	if got != want {
		s.t.Fatalf("instance %d holds %+v, want %+v", inst.ID, got, want)
	}
}

// wantEnded checks that an ended instance left nothing behind at runtime.
func (s *sc) wantEnded(inst *engine.ProcessInstance, state engine.InstanceState) *engine.ProcessInstance {
	s.t.Helper()
	got := s.wantState(inst, state)
	s.wantOpen(inst, open{})
	s.wantUnfinished(inst)
	return got
}

// tasks lists an instance's open user tasks, by element.
func (s *sc) tasks(inst *engine.ProcessInstance) []*engine.Task {
	s.t.Helper()
	l, err := s.Tasks(s.ctx, &engine.TaskQuery{InstanceID: inst.ID, Page: engine.Page{SortBy: "ID"}})
	if err != nil {
		s.t.Fatal(err)
	}
	return l
}

// wantTasks checks the elements of the instance's open tasks, in creation
// order.
func (s *sc) wantTasks(inst *engine.ProcessInstance, elements ...string) []*engine.Task {
	s.t.Helper()
	l := s.tasks(inst)
	var got []string
	for _, t := range l {
		got = append(got, t.ElementID)
	}
	if !reflect.DeepEqual(got, elements) {
		s.t.Fatalf("open tasks of instance %d: %v, want %v", inst.ID, got, elements)
	}
	return l
}

// task returns the one open task of the instance at element.
func (s *sc) task(inst *engine.ProcessInstance, element string) *engine.Task {
	s.t.Helper()
	var found []*engine.Task
	for _, t := range s.tasks(inst) {
		if t.ElementID == element {
			found = append(found, t)
		}
	}
	if len(found) != 1 {
		s.t.Fatalf("instance %d has %d open tasks at %q, want 1 (path %v)", inst.ID, len(found), element, s.path(s.t, inst.ID))
	}
	return found[0]
}

// complete completes the open task at element with variables.
func (s *sc) complete(inst *engine.ProcessInstance, element string, vars map[string]any) {
	s.t.Helper()
	t := s.task(inst, element)
	if _, err := s.CompleteTask(s.ctx, t.Ref(), &engine.CompleteTaskParams{Variables: vars}); err != nil {
		s.t.Fatalf("complete %s: %v", element, err)
	}
}

// advance moves the clock by d and runs every job due then; it returns how
// many ran.
func (s *sc) advance(d time.Duration) int {
	s.t.Helper()
	s.clock.Advance(d)
	n, err := s.RunDueJobs(s.ctx, s.clock.Now())
	if err != nil {
		s.t.Fatalf("run due jobs at %s: %v", s.clock.Now().Sub(epoch), err)
	}
	return n
}

// advanceTo moves the clock to t and runs the jobs due then.
func (s *sc) advanceTo(t time.Time) int {
	s.t.Helper()
	return s.advance(t.Sub(s.clock.Now()))
}

// jobs lists the tenant's jobs of an instance (0: definition-level jobs
// too), by due date.
func (s *sc) jobs(q *engine.JobQuery) []*engine.Job {
	s.t.Helper()
	l, err := s.Jobs(s.ctx, q)
	if err != nil {
		s.t.Fatal(err)
	}
	return l
}

// instances lists the instances of a key in any state, oldest first.
func (s *sc) instances(key string) []*engine.ProcessInstance {
	s.t.Helper()
	l, err := s.Instances(s.ctx, &engine.InstanceQuery{DefinitionKey: key, AnyState: true, Page: engine.Page{SortBy: "ID", MaxResults: 1000}})
	if err != nil {
		s.t.Fatal(err)
	}
	return l
}

// correlate delivers a message and fails the test on an error.
func (s *sc) correlate(p *engine.CorrelateParams) []*engine.CorrelationResult {
	s.t.Helper()
	r, err := s.CorrelateMessage(s.ctx, p)
	if err != nil {
		s.t.Fatalf("correlate %s: %v", p.MessageName, err)
	}
	return r
}

// wantErr checks that err matches target.
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got %v, want %v", what, err, target)
	}
}

// contains reports whether s contains every part.
func contains(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
