package jobexec

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
)

// perTenantFuncs are the executor's functions that run for one tenant:
// none may be on any goroutine's stack once the tenant is disabled.
var perTenantFuncs = []string{
	"jobexec.(*Executor).runTenant",
	"jobexec.(*Executor).executeBatch",
	"jobexec.(*Executor).execute",
	"jobexec.(*Executor).settle",
	"jobexec.(*Executor).renewTenant",
	"jobexec.(*Executor).maintainTenant",
}

// taggedJobs lists the names of x's gocron jobs carrying tag.
func taggedJobs(x *Executor, tag string) []string {
	var out []string
	for _, j := range x.sched.Jobs() {
		if slices.Contains(j.Tags(), tag) {
			out = append(out, j.Name())
		}
	}
	return out
}

// Not parallel: it inspects every goroutine's stack.
func TestDisablingATenantLeavesNothingOfItBehind(t *testing.T) {
	r := newRig(t, Config{MaintenanceSchedule: "0 12 * * *", MaintenanceWindow: time.Hour, SweepRate: -1})
	r.addTenants(0, "acme", "other")
	now := r.clock.Now() // 12:00: the maintenance window is open
	g := newGate()
	running := r.eng.add("acme", jobSpec{Due: now, Run: g.body})
	later := r.eng.add("acme", jobSpec{Due: now.Add(30 * time.Minute)})
	r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "acme", DueAt: now})
	r.start(nil)
	g.Reached(t, 1)
	if jobs := taggedJobs(r.x, tenantTag("acme")); len(jobs) != 1 || jobs[0] != "jobexec/maintenance/acme" {
		t.Fatalf("acme's gocron jobs before: %v", jobs)
	}

	disabled := make(chan error, 1)
	go func() { disabled <- r.env.Sources.Lifecycle.Disable(context.Background(), "acme") }()
	// The hook stops polling the tenant at once, then waits for its batch.
	r.waitFor("the tenant is forgotten", func() bool {
		st := r.x.tenants.Tenant("acme")
		return !st.Known && st.Tombstoned
	})
	select {
	case err := <-disabled:
		t.Fatalf("Disable returned (%v) while the tenant's batch still ran", err)
	default:
	}
	g.Open()
	if err := <-disabled; err != nil {
		t.Fatal(err)
	}
	// The running job finished; nothing of the tenant is left.
	r.eng.view("acme", func(ft *fakeTenant) {
		if ft.completions[running] != 1 || ft.completions[later] != 0 {
			t.Fatalf("completions %v", ft.completions)
		}
	})
	if jobs := taggedJobs(r.x, tenantTag("acme")); len(jobs) != 0 {
		t.Fatalf("gocron still holds %v", jobs)
	}
	st := r.x.tenants.Tenant("acme")
	if st.Known {
		t.Errorf("acme is still scheduled: %+v", st)
	}
	r.x.mu.Lock()
	for b := range r.x.batches {
		if b.tenant == "acme" {
			t.Error("a batch of acme is still registered")
		}
	}
	r.x.mu.Unlock()
	if st.HintSeen {
		t.Error("acme's hint is still remembered")
	}
	waitNoStack(t, perTenantFuncs)
	if st := r.x.Stats(); slices.ContainsFunc(st.Top, func(s TenantStats) bool { return s.Tenant == "acme" }) {
		t.Errorf("acme's figures are still kept: %+v", st.Top)
	}

	// An hour later (its timer and its maintenance slot passed), the
	// tenant was not asked anything; the other tenant was maintained.
	calls := r.eng.calls("acme", "")
	r.run(time.Hour, 5*time.Minute)
	if got := r.eng.calls("acme", ""); got != calls {
		t.Fatalf("the disabled tenant was asked %d more times", got-calls)
	}
	r.eng.view("other", func(ft *fakeTenant) {
		if len(ft.cleanups) != 1 {
			t.Fatalf("the other tenant was maintained %d times", len(ft.cleanups))
		}
	})
	if jobs := taggedJobs(r.x, maintTag); len(jobs) != 0 {
		t.Fatalf("maintenance jobs left after the window: %v", jobs)
	}
}

// waitNoStack waits until no goroutine's stack contains any of funcs.
func waitNoStack(t *testing.T, funcs []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := stacks()
		var found []string
		for _, fn := range funcs {
			if strings.Contains(all, fn) {
				found = append(found, fn)
			}
		}
		if len(found) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines still run %v:\n%s", found, all)
		}
		runtimeGosched()
	}
}

func TestADisableThatCannotWaitCutsTheBatchShortAndReleasesItsJobs(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{DisableMaintenance: true, SweepRate: -1})
	r.addTenants(0, "acme")
	now := r.clock.Now()
	g := newGate() // never opened: the job ends when its context is cancelled
	stuck := r.eng.add("acme", jobSpec{Due: now, Run: g.body})
	r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "acme", DueAt: now})
	r.start(nil)
	g.Reached(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	disabled := make(chan error, 1)
	go func() { disabled <- r.env.Sources.Lifecycle.Disable(ctx, "acme") }()
	r.waitFor("the tenant is forgotten", func() bool { return !r.x.tenants.Tenant("acme").Known })
	cancel() // the caller gives up waiting
	err := <-disabled
	if err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Fatalf("Disable: %v", err)
	}
	j, ok := r.eng.job("acme", stuck)
	if !ok || j.LockOwner != "" || r.eng.completed("acme") != 0 {
		t.Fatalf("the cut job %+v (exists %v), completions %d", j, ok, r.eng.completed("acme"))
	}
	if st := r.x.Stats(); st.Released != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestATenantCreatedAfterStartIsServed(t *testing.T) {
	t.Parallel()
	t.Run("by its first job signal", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, Config{DisableMaintenance: true, SweepRate: -1})
		// The datasource's own signals, as the engine sends them.
		r.eng.notify = r.env.Sources.Signals.Notify
		r.start(nil)
		r.settle()
		if _, err := r.env.Sources.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: "late"}); err != nil {
			t.Fatal(err)
		}
		r.eng.write("late", jobSpec{Due: r.clock.Now()})
		r.waitFor("the new tenant's job ran", func() bool { return r.eng.completed("late") == 1 })
	})
	t.Run("by the sweep, its signal and hint lost", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, Config{DisableMaintenance: true, SweepRate: 2})
		r.addTenants(0, tenantIDs("old", 5)...)
		r.start(nil)
		r.step(time.Second) // the first sweep pass lists the tenants
		r.addTenants(0, "zlate")
		r.eng.add("zlate", jobSpec{Due: r.clock.Now().Add(-time.Minute)})
		// The pass goes on at 2 tenants a second; the next pass lists the
		// new tenant (at most a minute after the previous one began).
		r.run(time.Minute+3*time.Second, time.Second)
		if r.eng.completed("zlate") != 1 {
			t.Fatalf("the new tenant's job did not run; sweep checks %d", r.x.Stats().SweepChecks)
		}
	})
}

func TestStopCutsShortWhatDoesNotFinishInTimeAndLeavesNoGoroutine(t *testing.T) {
	r := newRig(t, Config{MaintenanceSchedule: "0 12 * * *", MaintenanceWindow: time.Hour})
	r.addTenants(0, "acme", "other")
	now := r.clock.Now()
	g := newGate() // never opened
	r.eng.addMany("acme", 3, now, func(ctx context.Context, j *engine.Job) error { return g.body(ctx, j) })
	r.eng.write("other", jobSpec{Due: now})
	r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "acme", DueAt: now})
	if err := r.x.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.Reached(t, 1)
	r.waitFor("the other tenant's job ran", func() bool { return r.eng.completed("other") == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- r.x.Stop(ctx) }()
	r.waitFor("the executor is stopping", func() bool {
		r.x.mu.Lock()
		defer r.x.mu.Unlock()
		return r.x.state == stateStopping
	})
	cancel()
	err := <-stopped
	if err == nil || !strings.Contains(err.Error(), "cut short") || !errors.Is(err, context.Canceled) {
		t.Fatalf("Stop: %v", err)
	}
	r.eng.view("acme", func(ft *fakeTenant) {
		if ft.released != 3 || len(ft.completions) != 0 {
			t.Fatalf("released %d, completions %v", ft.released, ft.completions)
		}
	})
	waitNoStack(t, []string{"jobexec.(*Executor)", "tenantsched.(*Scheduler)", "go-co-op/gocron"})
	if err := r.x.Stop(context.Background()); err != nil {
		t.Fatalf("a second Stop: %v", err)
	}
}
