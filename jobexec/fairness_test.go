package jobexec

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
)

func TestAQuietTenantsTimerIsInTheFirstTwoBatchesBehindANoisyTenant(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{DisableMaintenance: true, Workers: workers, BatchSize: 100})
			r.addTenants(0, "noisy", "quiet")
			now := r.clock.Now()
			// 50,000 jobs due for a minute, and one timer due now.
			r.eng.addMany("noisy", 50_000, now.Add(-time.Minute), nil)
			r.eng.add("quiet", jobSpec{Due: now})
			r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "noisy", DueAt: now.Add(-time.Minute)})
			r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "quiet", DueAt: now})
			r.start(nil)
			r.waitFor("the quiet timer ran", func() bool { return r.eng.completed("quiet") == 1 })
			r.waitFor("a few batches ran", func() bool { return len(r.x.Batches()) >= 5 })
			batches := r.x.Batches()
			pos := -1
			for i, b := range batches {
				if b.Tenant == "quiet" {
					pos = i
					break
				}
			}
			if pos < 0 || pos > 1 {
				t.Fatalf("the quiet tenant's batch is #%d: %+v", pos+1, batches[:5])
			}
			if workers == 1 && (batches[0].Tenant != "noisy" || batches[0].Size != 100) {
				t.Fatalf("the first batch %+v: the noisy tenant was due first", batches[0])
			}
		})
	}
}

func TestDueTenantsTakeTurnsBatchByBatch(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{DisableMaintenance: true, Workers: 1, BatchSize: 10})
	tenants := []string{"t1", "t2", "t3"}
	r.addTenants(0, tenants...)
	now := r.clock.Now()
	r.start(nil)
	r.settle()
	for _, tn := range tenants {
		r.eng.addMany(tn, 30, now, nil)
	}
	// Woken in this order (each would have found all its jobs at once).
	r.x.tenants.Wake(now, tenants...)
	r.waitFor("every job ran", func() bool {
		return r.eng.completed("t1")+r.eng.completed("t2")+r.eng.completed("t3") == 90
	})
	var got []string
	for _, b := range r.x.Batches()[:9] {
		got = append(got, b.Tenant)
	}
	if fmt.Sprint(got) != "[t1 t2 t3 t1 t2 t3 t1 t2 t3]" {
		t.Fatalf("turns %v", got)
	}
}

func TestTwoExecutorsNeverCompleteAJobTwiceAcrossLockTakeovers(t *testing.T) {
	t.Parallel()
	const lock = 10 * time.Second
	r := newRig(t, Config{DisableMaintenance: true, NodeID: "node-a", LockDuration: lock, Workers: 4, SweepRate: -1})
	b, _ := r.executor(Config{DisableMaintenance: true, NodeID: "node-b", LockDuration: lock, Workers: 4, SweepRate: -1})
	r.addTenants(8, "shared")
	now := r.clock.Now()
	g := newGate()
	// Every 100th job stalls on node-a until the test lets it go, long
	// after its lock expired: node-a is partitioned (its renewals fail), so
	// node-b takes over the jobs of node-a's batches it can (those no open
	// transaction holds), and node-a's late completions must be refused.
	body := func(ctx context.Context, j *engine.Job) error {
		if j.ID%100 == 0 && j.LockOwner == "node-a" {
			return g.body(ctx, j)
		}
		return nil
	}
	r.eng.addMany("shared", 10_000, now, body)
	r.eng.setRenewDown("shared", "node-a", true)
	r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "shared", DueAt: now})
	// node-a runs until its four workers are stalled; then node-b starts
	// and runs the rest. (Started together, node-b could run every job
	// before node-a's workers each met a stalling one.)
	r.start(nil)
	g.Reached(t, 4)
	r.start(b)
	r.waitFor("every job not held by node-a ran", func() bool {
		held, other := 0, 0
		r.eng.view("shared", func(ft *fakeTenant) {
			for _, j := range ft.jobs {
				if j.LockOwner == "node-a" {
					held++
				} else {
					other++
				}
			}
		})
		return held > 0 && other == 0 && b.quiet()
	})
	heldBefore := r.eng.pending("shared")
	// node-a's locks expire; node-b, which settled on that expiry, takes
	// over what no open transaction holds.
	r.step(lock+time.Second, b)
	if left := r.eng.pending("shared"); left >= heldBefore {
		t.Fatalf("node-b took over nothing: %d jobs left of %d", left, heldBefore)
	}
	g.Open()
	r.waitFor("every job completed", func() bool { return r.eng.pending("shared") == 0 })
	r.settle(r.x, b)
	r.eng.view("shared", func(ft *fakeTenant) {
		if len(ft.completions) != 10_000 {
			t.Fatalf("%d jobs completed, want 10000", len(ft.completions))
		}
		for id, n := range ft.completions {
			if n != 1 {
				t.Fatalf("job %d completed %d times", id, n)
			}
		}
	})
	sa, sb := r.x.Stats(), b.Stats()
	if sa.Completed+sb.Completed != 10_000 {
		t.Fatalf("completions counted: node-a %d + node-b %d", sa.Completed, sb.Completed)
	}
	if sa.LockLost == 0 || sb.Acquired < 5_000 {
		t.Fatalf("node-a lost %d locks, node-b acquired %d jobs: the takeover did not happen", sa.LockLost, sb.Acquired)
	}
	t.Logf("node-a completed %d, lost %d; node-b completed %d", sa.Completed, sa.LockLost, sb.Completed)
}

func TestAJobsPerSecondQuotaPacesItsTenantAndNoOther(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{DisableMaintenance: true, Workers: 2, BatchSize: 100})
	r.addTenants(0, "capped", "free")
	if _, err := r.db.Exec(`UPDATE tf_tenant SET quotas = '{"quotas":{"jobsPerSecond":10}}' WHERE id = 'capped'`); err != nil {
		t.Fatal(err)
	}
	now := r.clock.Now()
	for _, tn := range []string{"capped", "free"} {
		r.eng.addMany(tn, 45, now, nil)
		r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: tn, DueAt: now})
	}
	r.start(nil)
	r.waitFor("the free tenant's jobs ran", func() bool { return r.eng.completed("free") == 45 })
	r.settle()
	// A second's worth at once, then 10 a second: the clock moves only
	// when the executor is quiet, so nothing else may run in between.
	for sec, want := range []int{10, 20, 30, 40, 45} {
		if got := r.eng.completed("capped"); got != want {
			t.Fatalf("after %d s the capped tenant ran %d jobs, want %d", sec, got, want)
		}
		r.step(time.Second)
	}
	if got := r.x.TenantStats("capped").Throttled; got < 4 {
		t.Fatalf("the capped tenant was put off %d times, want at least once a second", got)
	}
	if got := r.x.TenantStats("free").Throttled; got != 0 {
		t.Fatalf("the free tenant was put off %d times", got)
	}
	// Its bucket refilled meanwhile: a second's worth of new jobs runs at
	// once; then wake-ups while it waits for its quota give it no turn.
	r.eng.addMany("capped", 15, r.clock.Now(), nil)
	r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "capped", DueAt: r.clock.Now()})
	r.settle()
	if got := r.eng.completed("capped"); got != 55 {
		t.Fatalf("the capped tenant ran %d jobs, want 55", got)
	}
	turns := r.dir.n("Tenant")
	for range 5 {
		r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "capped", DueAt: r.clock.Now()})
		r.settle()
	}
	if got := r.dir.n("Tenant"); got != turns {
		t.Fatalf("wake-ups during the wait for the quota cost %d turns", got-turns)
	}
	r.step(time.Second)
	if got := r.eng.completed("capped"); got != 60 {
		t.Fatalf("the capped tenant ran %d jobs, want 60", got)
	}
}
