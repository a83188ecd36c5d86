package jobexec

import (
	"context"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
)

// every returns a recurring timer: each run writes the next one, d later.
func every(d time.Duration) func(now time.Time) *jobSpec {
	var next func(now time.Time) *jobSpec
	next = func(now time.Time) *jobSpec { return &jobSpec{Due: now.Add(d), Then: next} }
	return next
}

func TestTenThousandTenantsOfWhichTenHaveWorkCostFewQueries(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{DisableMaintenance: true}) // default rates
	ids := tenantIDs("t", 10_000)
	r.addTenants(0, ids...)
	now := r.clock.Now()
	var active []string
	for i := range 10 {
		id := ids[i*1000+7]
		active = append(active, id)
		due := now.Add(time.Duration(i) * 500 * time.Millisecond)
		r.eng.add(id, jobSpec{Due: due, Then: every(5 * time.Second)})
		r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: id, DueAt: due})
	}
	r.start(nil)
	r.settle()
	eng0, prim0, look0 := r.eng.totalCalls(), r.dir.n(""), r.dir.n("Tenant")
	r.run(time.Minute, time.Second)
	eng, prim, look := r.eng.totalCalls()-eng0, r.dir.n("")-prim0, r.dir.n("Tenant")-look0
	total := eng + prim + look
	t.Logf("one minute: %d tenant storage calls, %d primary queries, %d registry lookups (cached): %.1f/s; sweep checked %d tenants",
		eng, prim, look, float64(total)/60, r.x.Stats().SweepChecks)
	if total > 20*60 {
		t.Fatalf("%d queries in a minute, over the budget of 20/s", total)
	}
	for _, id := range active {
		if n := r.eng.completed(id); n < 12 || n > 13 {
			t.Errorf("tenant %s ran %d timers in a minute, want 12 or 13", id, n)
		}
	}
	st := r.x.Stats()
	if st.LatenessMax > time.Second {
		t.Errorf("timer lateness up to %v", st.LatenessMax)
	}
	if st.SweepChecks < 200 {
		t.Errorf("the sweep checked only %d tenants in a minute", st.SweepChecks)
	}
	// Idle tenants have no state.
	known := r.x.tenants.Stats().Known
	if known > 10 {
		t.Errorf("the executor keeps state for %d tenants", known)
	}
}

func TestAListenerReconnectCausesOneHintReadNotAQueryPerTenant(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{DisableMaintenance: true, SweepRate: -1})
	ids := tenantIDs("t", 10_000)
	r.addTenants(0, ids...)
	r.start(nil)
	r.step(1500 * time.Millisecond)
	// While the listener was down, 20 tenants got jobs: their hints are
	// in the primary, their notifications were lost.
	now := r.clock.Now()
	var hints []datasource.Hint
	var hinted []string
	for i := range 20 {
		id := ids[i*500]
		hinted = append(hinted, id)
		r.eng.add(id, jobSpec{Due: now})
		hints = append(hints, datasource.Hint{Tenant: id, Topic: datasource.TopicJobs, DueAt: now})
	}
	if err := r.env.Sources.Primary.LowerHints(context.Background(), hints); err != nil {
		t.Fatal(err)
	}
	reads, eng0 := r.dir.n("DueHints"), r.eng.totalCalls()
	// The reconnect: "anything may have changed", per topic, in a burst.
	for range 100 {
		r.env.Sources.Signals.Notify(datasource.Signal{Topic: datasource.TopicJobs, All: true})
		r.env.Sources.Signals.Notify(datasource.Signal{Topic: datasource.TopicTenant, All: true})
	}
	r.waitFor("the hinted tenants ran", func() bool {
		for _, id := range hinted {
			if r.eng.completed(id) != 1 {
				return false
			}
		}
		return true
	})
	r.settle()
	if n := r.dir.n("DueHints") - reads; n != 1 {
		t.Fatalf("%d hint reads after the reconnect, want 1", n)
	}
	if n := r.dir.n("ListTenants"); n != 0 {
		t.Fatalf("%d tenant listings", n)
	}
	// Each hinted tenant: acquire, execute, next due. Nobody else.
	if n := r.eng.totalCalls() - eng0; n != 3*len(hinted) {
		t.Fatalf("%d tenant storage calls, want %d", n, 3*len(hinted))
	}
}
