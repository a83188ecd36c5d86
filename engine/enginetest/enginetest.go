// Package enginetest gives the tests of a program that embeds the engine an
// engine of their own: in memory, over a temporary SQLite directory or over
// a throwaway PostgreSQL database, with a tenant created, a fake clock, and
// everything removed when the test ends. Memory runs a test in moments and
// suits tests of a process's behaviour; SQLite and PostgreSQL add the
// storage a program runs on. Tests then deploy, start, complete and
// assert in the harness's tenant without knowing how tenants are wired:
//
//	func TestOrderIsApproved(t *testing.T) {
//		h := enginetest.New(t, nil)
//		h.RegisterHandler("check-stock", checkStock)
//		h.Deploy(t, orderXML)
//		inst := h.Start(t, "order", map[string]any{"item": "book"})
//		h.CompleteTask(t, inst, "approve", map[string]any{"approved": true})
//		h.AssertPath(t, inst, "received", "checkStock", "approve", "shipped")
//		h.AssertEnded(t, inst)
//	}
//
// Helpers take the test's testing.TB and fail it with a message that says
// what was expected and what the instance did instead (where its tokens
// wait, the path they took). Anything beyond the helpers is the engine
// itself: the Harness embeds it, and Ctx carries its tenant.
//
// PostgreSQL is found through TENANTFLOW_TEST_DATABASE_URL (see package
// datasource/dstest); without it, a PostgreSQL harness skips the test,
// except under CI=true, where it fails.
package enginetest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/engine/store/memstore"
)

// Storage is where a harness keeps its tenant's data.
type Storage = dstest.Kind

// The storages a harness can use.
const (
	// Memory keeps the tenant in memory (engine/store/memstore): no
	// database, and Harness.Sources is nil.
	Memory Storage = "memory"
	// SQLite keeps the tenant in a file of a temporary directory.
	SQLite Storage = dstest.SQLite
	// Postgres keeps the tenant in a schema of a throwaway database.
	Postgres Storage = dstest.Postgres
)

// Storages lists every storage, for tests that run against each.
var Storages = []Storage{Memory, SQLite, Postgres}

// Epoch is when a harness's fake clock starts, unless Options.Now says
// otherwise.
var Epoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// Options adjust New. The zero value is SQLite, tenant "test", the clock at
// Epoch.
type Options struct {
	// Storage defaults to SQLite.
	Storage Storage
	// Tenant is the tenant the harness works in. Default "test".
	Tenant string
	// Now is the fake clock's starting time. Default Epoch.
	Now time.Time
	// Engine configures the engine; its Clock is the harness's fake clock
	// unless set.
	Engine engine.Options
	// Handlers are registered before New returns.
	Handlers map[string]engine.Handler
}

// Harness is one test's engine. It embeds the engine, so every engine
// call is available; pass Ctx as their context.
type Harness struct {
	*engine.Engine
	// Ctx carries the harness's tenant.
	Ctx context.Context
	// Tenant is the ID of the harness's tenant.
	Tenant string
	// Clock is the engine's time. Advance it with Advance or RunDueJobs, or
	// directly.
	Clock *clockwork.FakeClock
	// Sources are the datasources under the engine (to create more tenants,
	// or to look behind the engine's back); nil in Memory.
	Sources *datasource.Sources
	// Storage is where the data lives.
	Storage Storage
}

// New returns an engine over a fresh storage with one tenant, removed when
// the test ends.
func New(t testing.TB, opts *Options) *Harness {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	kind := opts.Storage
	if kind == "" {
		kind = SQLite
	}
	now := opts.Now
	if now.IsZero() {
		now = Epoch
	}
	clock := clockwork.NewFakeClockAt(now)
	tenant := opts.Tenant
	if tenant == "" {
		tenant = "test"
	}
	eo := opts.Engine
	if eo.Clock == nil {
		eo.Clock = clock
	}
	var src *datasource.Sources
	var ctx context.Context
	if kind == Memory {
		eo.Store = memstore.New()
		ctx = engine.WithTenant(context.Background(), tenant)
	} else {
		env := dstest.Open(t, kind, &dstest.Options{Config: datasource.Config{Clock: clock}})
		src, ctx = env.Sources, env.Tenant(t, tenant)
	}
	e, err := engine.New(src, eo)
	if err != nil {
		t.Fatalf("enginetest: %v", err)
	}
	for topic, h := range opts.Handlers {
		e.RegisterHandler(topic, h)
	}
	return &Harness{Engine: e, Ctx: ctx, Tenant: tenant, Clock: clock, Sources: src, Storage: kind}
}

// ForEachStorage runs fn as a subtest per storage, each with its own
// harness made with opts (whose Storage is ignored).
func ForEachStorage(t *testing.T, opts *Options, fn func(t *testing.T, h *Harness)) {
	t.Helper()
	for _, s := range Storages {
		t.Run(string(s), func(t *testing.T) {
			o := Options{}
			if opts != nil {
				o = *opts
			}
			o.Storage = s
			fn(t, New(t, &o))
		})
	}
}

// OtherTenant creates another tenant in the harness's storage and returns a
// context that carries it, for tests of what one tenant must not see of
// another.
func (h *Harness) OtherTenant(t testing.TB, id string) context.Context {
	t.Helper()
	if h.Sources == nil {
		return engine.WithTenant(context.Background(), id)
	}
	if _, err := h.Sources.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: id}); err != nil {
		t.Fatalf("enginetest: create tenant %s: %v", id, err)
	}
	return engine.WithTenant(context.Background(), id)
}

// Deploy deploys a BPMN document and returns the definition of its first
// process, failing the test with every problem the document has.
func (h *Harness) Deploy(t testing.TB, xml string) *engine.ProcessDefinition {
	t.Helper()
	d, err := h.Engine.Deploy(h.Ctx, &engine.DeployParams{Name: "enginetest",
		Resources: []engine.Resource{{Name: "process.bpmn", Content: []byte(xml)}}})
	if err != nil {
		t.Fatalf("enginetest: deploy: %v", err)
	}
	if len(d.Definitions) == 0 {
		t.Fatalf("enginetest: deploy: the document defines no executable process")
	}
	return d.Definitions[0]
}

// DeployFile deploys a BPMN file, such as testdata/order.bpmn.
func (h *Harness) DeployFile(t testing.TB, path string) *engine.ProcessDefinition {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("enginetest: %v", err)
	}
	return h.Deploy(t, string(b))
}

// Start starts the latest version of key with variables (types inferred,
// see engine.ValueOf) and returns the instance as the start left it.
func (h *Harness) Start(t testing.TB, key string, vars map[string]any) *engine.ProcessInstance {
	t.Helper()
	inst, err := h.StartInstance(h.Ctx, &engine.StartParams{DefinitionKey: key, Variables: vars})
	if err != nil {
		t.Fatalf("enginetest: start %q: %v", key, err)
	}
	return inst
}

// Task returns the open user task of inst at element elementID, failing
// the test when there is none or more than one.
func (h *Harness) Task(t testing.TB, inst *engine.ProcessInstance, elementID string) *engine.Task {
	t.Helper()
	tasks, err := h.Tasks(h.Ctx, &engine.TaskQuery{InstanceID: inst.ID, ElementID: elementID})
	if err != nil {
		t.Fatalf("enginetest: tasks of instance %d: %v", inst.ID, err)
	}
	if len(tasks) != 1 {
		t.Fatalf("enginetest: instance %d (%s) has %d open tasks at %q, want 1; %s",
			inst.ID, inst.DefinitionKey, len(tasks), elementID, h.where(inst))
	}
	return tasks[0]
}

// CompleteTask completes the open user task of inst at elementID with
// variables.
func (h *Harness) CompleteTask(t testing.TB, inst *engine.ProcessInstance, elementID string, vars map[string]any) {
	t.Helper()
	task := h.Task(t, inst, elementID)
	if _, err := h.Engine.CompleteTask(h.Ctx, task.Ref(), &engine.CompleteTaskParams{Variables: vars}); err != nil {
		t.Fatalf("enginetest: complete task %q of instance %d: %v", elementID, inst.ID, err)
	}
}

// Correlate delivers a message to the instance with businessKey waiting for
// it (or starts one at a message start event), with variables.
func (h *Harness) Correlate(t testing.TB, message, businessKey string, vars map[string]any) []*engine.CorrelationResult {
	t.Helper()
	res, err := h.CorrelateMessage(h.Ctx, &engine.CorrelateParams{MessageName: message, BusinessKey: businessKey, Variables: vars})
	if err != nil {
		t.Fatalf("enginetest: correlate %q (business key %q): %v", message, businessKey, err)
	}
	return res
}

// CompleteExternal fetches the external task of inst on topic, as a worker
// would, and completes it with variables.
func (h *Harness) CompleteExternal(t testing.TB, inst *engine.ProcessInstance, topic string, vars map[string]any) {
	t.Helper()
	const worker = "enginetest"
	tasks, err := h.FetchAndLock(h.Ctx, &engine.FetchAndLockParams{WorkerID: worker, MaxTasks: 100,
		Topics: []engine.TopicRequest{{Name: topic, LockDuration: time.Minute, Variables: []string{}}}})
	if err != nil {
		t.Fatalf("enginetest: fetch topic %q: %v", topic, err)
	}
	var mine *engine.ExternalTask
	for _, x := range tasks {
		if x.InstanceID == inst.ID && mine == nil {
			mine = x
			continue
		}
		if err := h.UnlockExternalTask(h.Ctx, x.Ref()); err != nil {
			t.Fatalf("enginetest: unlock external task %d: %v", x.ID, err)
		}
	}
	if mine == nil {
		t.Fatalf("enginetest: instance %d (%s) has no external task on topic %q; %s", inst.ID, inst.DefinitionKey, topic, h.where(inst))
	}
	if err := h.CompleteExternalTask(h.Ctx, mine.Ref(), &engine.CompleteExternalTaskParams{WorkerID: worker, Variables: vars}); err != nil {
		t.Fatalf("enginetest: complete external task %q of instance %d: %v", mine.ElementID, inst.ID, err)
	}
}

// RunDueJobs moves the clock to at (unless it is already later) and runs
// every job due then — timers, asynchronous continuations, retries — until
// none is left, failing the test if one fails. It returns how many ran.
// Tests of failing jobs call the engine's RunDueJobs, which reports the
// failure instead.
func (h *Harness) RunDueJobs(t testing.TB, at time.Time) int {
	t.Helper()
	if d := at.Sub(h.Clock.Now()); d > 0 {
		h.Clock.Advance(d)
	}
	n, err := h.Engine.RunDueJobs(h.Ctx, at)
	if err != nil {
		t.Fatalf("enginetest: jobs due at %s: %v", at.Format(time.RFC3339), err)
	}
	return n
}

// Advance moves the clock on by d and runs the jobs due then (see
// RunDueJobs).
func (h *Harness) Advance(t testing.TB, d time.Duration) int {
	t.Helper()
	return h.RunDueJobs(t, h.Clock.Now().Add(d))
}

// Reload returns the instance as it is now.
func (h *Harness) Reload(t testing.TB, inst *engine.ProcessInstance) *engine.ProcessInstance {
	t.Helper()
	got, err := h.Instance(h.Ctx, inst.Ref())
	if err != nil {
		t.Fatalf("enginetest: instance %d: %v", inst.ID, err)
	}
	return got
}

// Path lists the elements inst passed through, in the order they were
// entered (a token entering an element twice lists it twice).
func (h *Harness) Path(t testing.TB, inst *engine.ProcessInstance) []string {
	t.Helper()
	acts, err := h.Activities(h.Ctx, &engine.ActivityQuery{InstanceID: inst.ID, Page: engine.Page{MaxResults: engine.MaxPageSize}})
	if err != nil {
		t.Fatalf("enginetest: activities of instance %d: %v", inst.ID, err)
	}
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = a.ElementID
	}
	return out
}

// AssertPath fails the test unless the elements inst passed through, in
// the order they were entered, are exactly path.
func (h *Harness) AssertPath(t testing.TB, inst *engine.ProcessInstance, path ...string) {
	t.Helper()
	got := h.Path(t, inst)
	if strings.Join(got, "\x00") == strings.Join(path, "\x00") {
		return
	}
	t.Fatalf("enginetest: instance %d (%s) took the path\n\t%s\nwant\n\t%s\n%s",
		inst.ID, inst.DefinitionKey, strings.Join(got, " → "), strings.Join(path, " → "), firstDifference(got, path))
}

func firstDifference(got, want []string) string {
	for i := 0; i < len(got) || i < len(want); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("it stopped after %d elements, before %q", len(got), want[i])
		case i >= len(want):
			return fmt.Sprintf("it went on after %d elements, to %q", len(want), got[i])
		case got[i] != want[i]:
			return fmt.Sprintf("element %d is %q, want %q", i+1, got[i], want[i])
		}
	}
	return ""
}

// AssertEnded fails the test unless inst has ended (completed, or
// terminated).
func (h *Harness) AssertEnded(t testing.TB, inst *engine.ProcessInstance) {
	t.Helper()
	got := h.Reload(t, inst)
	if got.Ended() {
		return
	}
	t.Fatalf("enginetest: instance %d (%s) is %s, want it ended; %s", inst.ID, inst.DefinitionKey, got.State, h.where(inst))
}

// AssertWaitingAt fails the test unless inst is active with its tokens
// waiting at exactly the elements elementIDs (in any order; an element
// with two tokens is listed twice).
func (h *Harness) AssertWaitingAt(t testing.TB, inst *engine.ProcessInstance, elementIDs ...string) {
	t.Helper()
	got := h.Reload(t, inst)
	waiting := h.waiting(t, inst)
	if got.State == engine.InstanceActive && sameSet(waiting, elementIDs) {
		return
	}
	t.Fatalf("enginetest: instance %d (%s) is %s waiting at [%s], want active waiting at [%s]",
		inst.ID, inst.DefinitionKey, got.State, strings.Join(waiting, ", "), strings.Join(elementIDs, ", "))
}

// AssertVariable fails the test unless inst's process variable name holds
// want (compared as typed values, see engine.ValueOf: 42 is an Integer).
func (h *Harness) AssertVariable(t testing.TB, inst *engine.ProcessInstance, name string, want any) {
	t.Helper()
	vars, err := h.Variables(h.Ctx, inst.Ref())
	if err != nil {
		t.Fatalf("enginetest: variables of instance %d: %v", inst.ID, err)
	}
	w, err := engine.ValueOf(want)
	if err != nil {
		t.Fatalf("enginetest: want %v: %v", want, err)
	}
	got, ok := vars[name]
	switch {
	case !ok:
		t.Fatalf("enginetest: instance %d (%s) has no variable %q; it has %s", inst.ID, inst.DefinitionKey, name, names(vars))
	case !got.Equal(w):
		t.Fatalf("enginetest: variable %q of instance %d (%s) is %v (%s), want %v (%s)", name, inst.ID, inst.DefinitionKey, got.V, got.Type, w.V, w.Type)
	}
}

// waiting lists the elements of inst's unfinished activity instances that
// have no unfinished child: where its tokens are.
func (h *Harness) waiting(t testing.TB, inst *engine.ProcessInstance) []string {
	t.Helper()
	acts, err := h.Activities(h.Ctx, &engine.ActivityQuery{InstanceID: inst.ID, Unfinished: true, Page: engine.Page{MaxResults: engine.MaxPageSize}})
	if err != nil {
		t.Fatalf("enginetest: activities of instance %d: %v", inst.ID, err)
	}
	parents := map[int64]bool{}
	for _, a := range acts {
		parents[a.ParentID] = true
	}
	var out []string
	for _, a := range acts {
		if !parents[a.ID] {
			out = append(out, a.ElementID)
		}
	}
	return out
}

// where describes an instance for a failure message: its state, where it
// waits, the path it took.
func (h *Harness) where(inst *engine.ProcessInstance) string {
	got, err := h.Instance(h.Ctx, inst.Ref())
	if err != nil {
		return err.Error()
	}
	acts, err := h.Activities(h.Ctx, &engine.ActivityQuery{InstanceID: inst.ID, Page: engine.Page{MaxResults: engine.MaxPageSize}})
	if err != nil {
		return err.Error()
	}
	var path, open []string
	for _, a := range acts {
		path = append(path, a.ElementID)
		if a.EndedAt.IsZero() {
			open = append(open, a.ElementID)
		}
	}
	s := "it is " + string(got.State)
	if len(open) > 0 {
		s += " at [" + strings.Join(open, ", ") + "]"
	}
	return s + " after the path " + strings.Join(path, " → ")
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		count[s]--
		if count[s] < 0 {
			return false
		}
	}
	return true
}

func names(vars map[string]engine.Value) string {
	if len(vars) == 0 {
		return "none"
	}
	l := make([]string, 0, len(vars))
	for n := range vars {
		l = append(l, n)
	}
	slices.Sort(l)
	return strings.Join(l, ", ")
}
