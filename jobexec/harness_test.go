package jobexec

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// rig is a datasource (SQLite primary, fake clock), a fake engine over it
// and an executor, with helpers that wait on the executor's state instead
// of sleeping.
type rig struct {
	t     testing.TB
	env   *dstest.Env
	clock *clockwork.FakeClock
	eng   *fakeEngine
	x     *Executor
	dir   *countingDir
	db    *sql.DB
	// changes is shared by every executor of the rig.
	changes chan struct{}
	mu      sync.Mutex
	execs   []*Executor
}

func newRig(t testing.TB, cfg Config) *rig {
	t.Helper()
	env := dstest.Open(t, dstest.SQLite, nil)
	r := &rig{t: t, env: env, clock: env.Clock, changes: make(chan struct{}, 1)}
	r.eng = newFakeEngine(env.Clock, r.localNotify)
	r.x, r.dir = r.executor(cfg)
	return r
}

// localNotify does what Signals.Notify does for this node, synchronously:
// the tenant's hint is lowered, then the executors hear the signal. (The
// real Notify writes the hint from a goroutine a moment later, which may
// land after the executor already ran the job and cleared the hint: one
// wasted poll, harmless, but it would make exact call counts flaky.)
func (r *rig) localNotify(sig datasource.Signal) {
	if sig.Tenant != "" {
		if err := r.env.Sources.Primary.LowerHints(context.Background(),
			[]datasource.Hint{{Tenant: sig.Tenant, Topic: sig.Topic, DueAt: sig.DueAt}}); err != nil {
			r.t.Errorf("lower hint: %v", err)
		}
	}
	r.mu.Lock()
	xs := slices.Clone(r.execs)
	r.mu.Unlock()
	for _, x := range xs {
		x.tenants.Signal(sig)
	}
}

// startedRig is a rig with active tenants registered and its executor
// started and quiet.
func startedRig(t testing.TB, cfg Config, tenants ...string) *rig {
	t.Helper()
	r := newRig(t, cfg)
	r.addTenants(0, tenants...)
	r.start(nil)
	r.settle()
	return r
}

// executor builds an executor of the rig (not started).
func (r *rig) executor(cfg Config) (*Executor, *countingDir) {
	r.t.Helper()
	if cfg.Engine == nil {
		cfg.Engine = r.eng
	}
	cfg.Sources = r.env.Sources
	if cfg.Logger == nil {
		cfg.Logger = dstest.Quiet()
	}
	x, err := New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	d := &countingDir{inner: x.dir, calls: map[string]int{}}
	x.dir = d
	x.changes = r.changes
	r.mu.Lock()
	r.execs = append(r.execs, x)
	r.mu.Unlock()
	return x, d
}

// start starts x (the rig's executor when nil) and stops it at cleanup.
func (r *rig) start(x *Executor) {
	r.t.Helper()
	if x == nil {
		x = r.x
	}
	if err := x.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := x.Stop(ctx); err != nil {
			r.t.Errorf("stop: %v", err)
		}
	})
}

// addTenants registers active tenants straight in the primary (no
// storage: the fake engine needs none), with the given connection cap
// (0: the node's default).
func (r *rig) addTenants(maxOpen int, ids ...string) {
	r.t.Helper()
	if r.db == nil {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(r.env.Dir, "primary.db")+"?_pragma=busy_timeout(10000)")
		if err != nil {
			r.t.Fatal(err)
		}
		r.t.Cleanup(func() { db.Close() })
		r.db = db
	}
	now := r.clock.Now().UnixMilli()
	tx, err := r.db.Begin()
	if err != nil {
		r.t.Fatal(err)
	}
	stmt, err := tx.Prepare(`INSERT INTO tf_tenant (id, display_name, status, placement, storage_schema, max_open_conns,
		max_idle_conns, acquire_timeout_ms, created_at, updated_at) VALUES (?, ?, 'active', 'pg-schema', ?, ?, 0, 0, ?, ?)`)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, id := range ids {
		if _, err := stmt.Exec(id, id, "tenant_"+id, maxOpen, now, now); err != nil {
			r.t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		r.t.Fatal(err)
	}
}

// tenantIDs returns n tenant IDs with a prefix.
func tenantIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return ids
}

// waitFor waits until cond holds, re-checking it whenever an executor of
// the rig reports a change, within a generous real-time bound.
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	dstest.Await(r.t, r.changes, what, cond)
}

// quiet reports whether the executor has nothing to do before its clock
// moves: its scheduler is quiet (no batch runs, nothing is due, the
// dispatcher, the hint reader and the sweep wait with their timers armed
// for later), and no duty or maintenance runs.
func (x *Executor) quiet() bool {
	x.mu.Lock()
	running, batches := x.state == stateRunning, len(x.batches)
	x.mu.Unlock()
	quiet, _ := x.tenants.Quiet()
	return running && quiet && batches == 0 && x.dutiesRunning.Load() == 0
}

// settle waits until every executor given (the rig's when none) is quiet.
func (r *rig) settle(xs ...*Executor) {
	r.t.Helper()
	if len(xs) == 0 {
		xs = []*Executor{r.x}
	}
	r.waitFor("the executors are quiet", func() bool {
		for _, x := range xs {
			if !x.quiet() {
				return false
			}
		}
		return true
	})
}

// step advances the clock by d once the executors are quiet, then waits
// until every gocron job due by then ran (including runs a duty schedules
// for the very instant it ran) and the executors are quiet again: what
// happens in the step is over when step returns.
func (r *rig) step(d time.Duration, xs ...*Executor) {
	r.t.Helper()
	if len(xs) == 0 {
		xs = []*Executor{r.x}
	}
	r.settle(xs...)
	r.clock.Advance(d)
	now := r.clock.Now()
	for {
		// Every tenant's maintenance job counts into one counter, each duty
		// into its own: a step is over when each duty ran, and the
		// maintenance counter moved by as many runs as maintenance jobs
		// were due (several tenants' slots can fall in one step).
		type wait struct {
			runs func() int64
			from int64
			due  int64
		}
		var waits []*wait
		byCounter := map[string]*wait{}
		for _, x := range xs {
			for _, j := range x.sched.Jobs() {
				key, counter, duty := fmt.Sprintf("%p/maintenance", x), x.stats.maintAttempts.Load, false
				if name, ok := strings.CutPrefix(j.Name(), "jobexec/"); ok && x.duties[name] != nil {
					key, counter, duty = fmt.Sprintf("%p/%s", x, name), x.duties[name].runs.Load, true
				}
				// The counter is read before the due time: a run that
				// happens in between still counts.
				w := byCounter[key]
				if w == nil {
					w = &wait{runs: counter, from: counter()}
					byCounter[key] = w
				}
				next, err := j.NextRun()
				if err != nil || next.IsZero() || next.After(now) {
					continue
				}
				if w.due == 0 {
					waits = append(waits, w)
				}
				if !duty || w.due == 0 {
					w.due++
				}
			}
		}
		r.waitFor(fmt.Sprintf("the step to %s is over", now.Format(time.TimeOnly)), func() bool {
			for _, w := range waits {
				if w.runs() < w.from+w.due {
					return false
				}
			}
			for _, x := range xs {
				if !x.quiet() {
					return false
				}
			}
			return true
		})
		if len(waits) == 0 {
			return
		}
	}
}

// run steps through d in steps of every.
func (r *rig) run(d, every time.Duration, xs ...*Executor) {
	r.t.Helper()
	for end := r.clock.Now().Add(d); r.clock.Now().Before(end); {
		r.step(min(every, end.Sub(r.clock.Now())), xs...)
	}
}

// countingDir counts the executor's calls to the registry and the primary.
type countingDir struct {
	inner directory
	mu    sync.Mutex
	calls map[string]int
	// afterDueHints, when set, runs after a hint read, before the executor
	// acts on what it read.
	afterDueHints func()
	// beforeTenant, when set, runs before a registry lookup (the first step
	// of a batch).
	beforeTenant func(id string)
}

func (d *countingDir) count(m string) {
	d.mu.Lock()
	d.calls[m]++
	d.mu.Unlock()
}

// n returns the calls of a method ("" sums the primary's, without the
// registry lookups).
func (d *countingDir) n(m string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if m != "" {
		return d.calls[m]
	}
	total := 0
	for k, v := range d.calls {
		if k != "Tenant" {
			total += v
		}
	}
	return total
}

func (d *countingDir) Tenant(ctx context.Context, id string) (*datasource.Tenant, error) {
	d.count("Tenant")
	d.mu.Lock()
	before := d.beforeTenant
	d.mu.Unlock()
	if before != nil {
		before(id)
	}
	return d.inner.Tenant(ctx, id)
}

func (d *countingDir) ListTenants(ctx context.Context, p *datasource.ListTenantsParams) ([]*datasource.Tenant, error) {
	d.count("ListTenants")
	return d.inner.ListTenants(ctx, p)
}

func (d *countingDir) DueHints(ctx context.Context, topic datasource.Topic, before time.Time, limit int) ([]datasource.Hint, error) {
	d.count("DueHints")
	hints, err := d.inner.DueHints(ctx, topic, before, limit)
	d.mu.Lock()
	after := d.afterDueHints
	d.mu.Unlock()
	if after != nil {
		after()
	}
	return hints, err
}

func (d *countingDir) SetHint(ctx context.Context, tenant string, topic datasource.Topic, due time.Time) error {
	d.count("SetHint")
	return d.inner.SetHint(ctx, tenant, topic, due)
}

func (d *countingDir) LowerHints(ctx context.Context, hints []datasource.Hint) error {
	d.count("LowerHints")
	return d.inner.LowerHints(ctx, hints)
}

// gate blocks job bodies until opened (dstest.Gate, by job ID).
type gate struct{ *dstest.Gate[int64] }

func newGate() *gate { return &gate{dstest.NewGate[int64]()} }

// body is a job body that waits for the gate (or its context).
func (g *gate) body(ctx context.Context, j *engine.Job) error { return g.Wait(ctx, j.ID) }

// stacks returns every goroutine's stack.
func stacks() string {
	buf := make([]byte, 1<<22)
	return string(buf[:runtime.Stack(buf, true)])
}

// tenantCtx is a context carrying tenant.
func tenantCtx(tenant string) context.Context {
	return security.WithTenant(context.Background(), tenant)
}

func runtimeGosched() { runtime.Gosched() }
