package jobexec

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/tenantsched"
	"github.com/tenantflow/tenantflow/engine"
)

func TestAJobRunsAtItsDueTimeAndIsNotPolledBefore(t *testing.T) {
	t.Parallel()
	// No sweep: it may ask the tenant once more right after its timer ran,
	// as it would any tenant this node has no work of.
	r := startedRig(t, Config{DisableMaintenance: true, SweepRate: -1}, "acme")

	// Due now: acquired and run at once.
	now := r.clock.Now()
	r.eng.write("acme", jobSpec{Due: now})
	r.waitFor("the due job ran", func() bool { return r.eng.completed("acme") == 1 })
	r.settle()
	if b := r.x.Batches(); len(b) != 1 || b[0].Tenant != "acme" || b[0].Size != 1 || !b[0].At.Equal(now) {
		t.Fatalf("batch log %+v", b)
	}

	// Due in an hour: the executor knows it from the signal and does not
	// ask the tenant anything until then (no busy polling), while its
	// duties keep running.
	before := r.eng.calls("acme", "")
	r.eng.write("acme", jobSpec{Due: now.Add(time.Hour)})
	r.run(time.Hour-time.Second, 10*time.Minute)
	if got := r.eng.calls("acme", ""); got != before {
		t.Fatalf("the tenant was asked %d times in the hour before its job was due", got-before)
	}
	if r.eng.completed("acme") != 1 {
		t.Fatal("the job ran early")
	}
	r.step(time.Second)
	r.waitFor("the timer ran", func() bool { return r.eng.completed("acme") == 2 })
	r.settle()
	b := r.x.Batches()
	if len(b) != 2 || !b[1].At.Equal(now.Add(time.Hour)) {
		t.Fatalf("batch log %+v", b)
	}
	// One acquisition, one execution, one next-due lookup.
	if got := r.eng.calls("acme", ""); got != before+3 {
		var per map[string]int
		r.eng.view("acme", func(ft *fakeTenant) { per = maps.Clone(ft.calls) })
		t.Fatalf("running the timer took %d calls, want 3 (every call so far: %v)", got-before, per)
	}
	if st := r.x.Stats(); st.Completed != 2 || st.LatenessMax != 0 || st.Batches != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestAHintReadWhileTheTenantRanItsJobDoesNotWakeItAgain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mode tenantsched.ReadMode
	}{{"changed hints", tenantsched.ReadChanged}, {"takeover of overdue hints", tenantsched.ReadOverdue}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startedRig(t, Config{DisableMaintenance: true}, "acme")
			now := r.clock.Now()
			// A due job whose hint is in the primary.
			r.eng.add("acme", jobSpec{Due: now})
			if err := r.env.Sources.Primary.LowerHints(context.Background(),
				[]datasource.Hint{{Tenant: "acme", Topic: datasource.TopicJobs, DueAt: now}}); err != nil {
				t.Fatal(err)
			}
			before := r.eng.calls("acme", "AcquireJobs")
			// The read sees the hint; before it acts on it, the job's signal
			// makes the node run the job, which clears the hint.
			r.dir.mu.Lock()
			r.dir.afterDueHints = func() {
				r.dir.mu.Lock()
				r.dir.afterDueHints = nil
				r.dir.mu.Unlock()
				r.x.tenants.Wake(now, "acme")
				r.waitFor("the job ran and the tenant settled", func() bool {
					return r.eng.completed("acme") == 1 && r.x.quiet()
				})
			}
			r.dir.mu.Unlock()
			r.x.tenants.ReadHints(context.Background(), tc.mode)
			r.settle()
			if got := r.eng.calls("acme", "AcquireJobs") - before; got != 1 {
				t.Fatalf("the tenant was polled %d times for one job: the stale hint woke it again", got)
			}
			// The next read of the same hints does not act on it either.
			r.x.tenants.ReadHints(context.Background(), tc.mode)
			r.settle()
			if got := r.eng.calls("acme", "AcquireJobs") - before; got != 1 {
				t.Fatalf("the tenant was polled %d times after the next read", got)
			}
		})
	}
}

func TestAWakeUpBetweenHandOutAndAcquisitionCostsNoSecondPoll(t *testing.T) {
	t.Parallel()
	r := startedRig(t, Config{DisableMaintenance: true, SweepRate: -1}, "acme")
	now := r.clock.Now()
	// A hint read or a signal wakes the tenant for its due job after a
	// worker took the tenant's turn but before the worker acquired.
	r.dir.mu.Lock()
	r.dir.beforeTenant = func(string) {
		r.dir.mu.Lock()
		r.dir.beforeTenant = nil
		r.dir.mu.Unlock()
		r.x.tenants.Wake(now, "acme")
	}
	r.dir.mu.Unlock()
	r.eng.write("acme", jobSpec{Due: now})
	r.waitFor("the job ran", func() bool { return r.eng.completed("acme") == 1 })
	r.settle()
	if got := r.eng.calls("acme", "AcquireJobs"); got != 1 {
		t.Fatalf("the tenant was polled %d times for one job", got)
	}
}

func TestATenantRunsAtMostItsCapOfBatchesAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		maxOpen int // the tenant's MaxOpenConns
		cfgCap  int // Config.MaxInFlightPerTenant
		want    int
	}{
		{"the tenant's MaxOpenConns", 2, 0, 2},
		{"the configured cap", 4, 3, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{DisableMaintenance: true, Workers: 8, BatchSize: 1, MaxInFlightPerTenant: tc.cfgCap})
			r.addTenants(tc.maxOpen, "capped")
			r.addTenants(0, "other")
			g := newGate()
			now := r.clock.Now()
			r.eng.addMany("capped", 10, now, g.body)
			r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "capped", DueAt: now})
			r.start(nil)
			g.Reached(t, tc.want)
			// The capped tenant waits for a slot while workers are free...
			r.waitFor("the tenant is at its cap", func() bool {
				st := r.x.tenants.Tenant("capped")
				return st.Place == tenantsched.AtCap && st.Running == tc.want
			})
			// ...and another tenant gets them.
			r.eng.write("other", jobSpec{Due: now})
			r.waitFor("the other tenant ran", func() bool { return r.eng.completed("other") == 1 })
			g.Open()
			r.waitFor("every job ran", func() bool { return r.eng.completed("capped") == 10 })
			r.eng.view("capped", func(ft *fakeTenant) {
				if ft.maxRunning != tc.want {
					t.Fatalf("%d batches ran at once, cap %d", ft.maxRunning, tc.want)
				}
			})
		})
	}
}

func TestAPanicBecomesAFailJobWithThePanicMessageAndTheNodeLivesOn(t *testing.T) {
	t.Parallel()
	r := startedRig(t, Config{DisableMaintenance: true, BatchSize: 10}, "acme")
	now := r.clock.Now()
	boom := func(context.Context, *engine.Job) error { panic("boom") }
	a := r.eng.add("acme", jobSpec{Due: now})
	p := r.eng.add("acme", jobSpec{Due: now, Run: boom})
	c := r.eng.add("acme", jobSpec{Due: now})
	r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "acme", DueAt: now})
	r.waitFor("the batch was sorted out", func() bool {
		n := 0
		r.eng.view("acme", func(ft *fakeTenant) { n = len(ft.failJobs[p]) })
		return n == 1 && r.eng.completed("acme") == 2
	})
	r.settle()
	r.eng.view("acme", func(ft *fakeTenant) {
		// The panic rolled the batch back; its jobs ran again one by one:
		// the others completed exactly once, the culprit was failed.
		if ft.completions[a] != 1 || ft.completions[c] != 1 || ft.completions[p] != 0 {
			t.Fatalf("completions %v", ft.completions)
		}
		if msg := ft.failJobs[p][0]; !strings.Contains(msg, "boom") {
			t.Fatalf("FailJob message %q", msg)
		}
	})
	j, _ := r.eng.job("acme", p)
	if j.Retries != engine.DefaultJobRetries-1 || j.LockOwner != "" || !strings.Contains(j.ErrorMessage, "boom") {
		t.Fatalf("job after the panic %+v", j)
	}
	if st := r.x.Stats(); st.Panics != 1 || st.Failed != 1 || st.Completed != 2 || st.Incidents != 0 {
		t.Fatalf("stats %+v", st)
	}
	// The node lives on: the retry comes due and panics again, as a retry.
	r.step(10 * time.Second)
	r.waitFor("the retry failed", func() bool {
		j, _ := r.eng.job("acme", p)
		return j.Retries == engine.DefaultJobRetries-2
	})
}

func TestAJobThatOutrunsItsTimeoutIsFailedAlone(t *testing.T) {
	t.Parallel()
	r := startedRig(t, Config{DisableMaintenance: true, BatchSize: 3, JobTimeout: 10 * time.Second}, "acme")
	now := r.clock.Now()
	g := newGate() // never opened: the slow job returns when cancelled
	a := r.eng.add("acme", jobSpec{Due: now})
	slow := r.eng.add("acme", jobSpec{Due: now, Run: g.body})
	c := r.eng.add("acme", jobSpec{Due: now})
	r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "acme", DueAt: now})
	g.Reached(t, 1)
	r.clock.Advance(30 * time.Second) // the batch's timeout: 3 jobs × 10s
	g.Reached(t, 1)                   // run again alone
	r.clock.Advance(10 * time.Second)
	r.waitFor("the slow job failed", func() bool {
		j, _ := r.eng.job("acme", slow)
		return j.Retries == engine.DefaultJobRetries-1 && r.eng.completed("acme") == 2
	})
	r.eng.view("acme", func(ft *fakeTenant) {
		if ft.completions[a] != 1 || ft.completions[c] != 1 || len(ft.failJobs[slow]) != 1 ||
			!strings.Contains(ft.failJobs[slow][0], "did not finish within 10s") {
			t.Fatalf("completions %v, failures %v", ft.completions, ft.failJobs)
		}
	})
	r.settle()
	if st := r.x.Stats(); st.TimedOut != 1 || st.Failed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTheHeartbeatKeepsALongJobsLockAgainstAnotherNode(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{DisableMaintenance: true, NodeID: "node-a", LockDuration: 30 * time.Second})
	b, _ := r.executor(Config{DisableMaintenance: true, NodeID: "node-b", LockDuration: 30 * time.Second})
	r.addTenants(0, "acme")
	now := r.clock.Now()
	g := newGate()
	id := r.eng.add("acme", jobSpec{Due: now, Run: func(ctx context.Context, j *engine.Job) error {
		if j.LockOwner == "node-a" {
			return g.body(ctx, j)
		}
		return errors.New("node-b must never run this job")
	}})
	r.start(nil)
	r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "acme", DueAt: now})
	g.Reached(t, 1)
	r.start(b)
	// Two minutes, four lock durations: node-b polls at every expiry it
	// learns of, and finds the lock renewed each time.
	r.run(2*time.Minute, 5*time.Second, b)
	g.Open()
	r.waitFor("the job completed", func() bool { return r.eng.completed("acme") == 1 })
	r.settle(r.x, b)
	if st := r.x.Stats(); st.Renewals < 8 || st.RenewLost != 0 || st.LockLost != 0 || st.Completed != 1 {
		t.Fatalf("node-a stats %+v", st)
	}
	if st := b.Stats(); st.Acquired != 0 {
		t.Fatalf("node-b acquired %d jobs", st.Acquired)
	}
	if n := r.eng.calls("acme", "AcquireJobs"); n < 3 {
		t.Fatalf("node-b tried to take the job over only %d times", n-1)
	}
	r.eng.view("acme", func(ft *fakeTenant) {
		if ft.completions[id] != 1 || ft.failures != 0 {
			t.Fatalf("completions %v, failures %d", ft.completions, ft.failures)
		}
	})
}

func TestACrashedNodesJobsAreTakenOverWhenTheirLocksExpire(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{DisableMaintenance: true, SweepRate: -1})
	r.addTenants(0, "acme")
	now := r.clock.Now()
	var ids []int64
	for range 3 {
		ids = append(ids, r.eng.add("acme", jobSpec{Due: now.Add(-time.Minute)}))
	}
	// A node acquired them and died: its locks run four more minutes, and
	// the hint it left says "due a minute ago".
	r.eng.view("acme", func(ft *fakeTenant) {
		for _, id := range ids {
			j := ft.jobs[id]
			j.LockOwner, j.LockExpiresAt = "dead-node", now.Add(4*time.Minute)
			j.Revision++
		}
	})
	r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "acme", DueAt: now.Add(-time.Minute)})
	r.start(nil)
	r.settle()
	// Polled once (nothing acquirable), then scheduled at the expiry.
	if n := r.eng.calls("acme", "AcquireJobs"); n != 1 {
		t.Fatalf("%d acquisitions before the locks expired", n)
	}
	r.run(4*time.Minute, 30*time.Second)
	if r.eng.completed("acme") != 0 {
		t.Fatal("jobs taken over before their locks expired")
	}
	// Acquisition takes over locks that expired before its time, while
	// NextJobDue names the expiry itself: the poll at the expiry finds
	// nothing and the next one, a millisecond later, takes the jobs.
	r.step(time.Millisecond)
	r.waitFor("the jobs were taken over", func() bool { return r.eng.completed("acme") == 3 })
	if n := r.eng.calls("acme", "AcquireJobs"); n != 3 {
		t.Fatalf("%d acquisitions, want 3 (before, at the expiry, just after)", n)
	}
	if b := r.x.Batches(); len(b) != 1 || b[0].Size != 3 || !b[0].At.Equal(now.Add(4*time.Minute+time.Millisecond)) {
		t.Fatalf("batch log %+v", b)
	}
}

func TestOneTenantsFailingStorageAffectsThatTenantAlone(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{DisableMaintenance: true, SweepRate: -1})
	r.addTenants(0, "down", "up")
	now := r.clock.Now()
	var every5s func(now time.Time) *jobSpec
	every5s = func(now time.Time) *jobSpec { return &jobSpec{Due: now.Add(5 * time.Second), Then: every5s} }
	r.eng.setDown("down", fmt.Errorf("%w: connection refused", datasource.ErrTenantUnavailable))
	r.eng.write("down", jobSpec{Due: now})
	r.eng.write("up", jobSpec{Due: now, Then: every5s})
	r.start(nil)
	r.run(time.Minute, time.Second)
	// The healthy tenant's timer kept firing on time...
	if n := r.eng.completed("up"); n != 13 {
		t.Fatalf("the healthy tenant ran %d timers in a minute, want 13", n)
	}
	if st := r.x.Stats(); st.LatenessMax > time.Second {
		t.Fatalf("lateness %v", st.LatenessMax)
	}
	// ...while the failing one was left alone between attempts: 5s, 10s,
	// 20s, 40s of backoff.
	if n := r.eng.calls("down", ""); n > 5 {
		t.Fatalf("the failing tenant was asked %d times in a minute", n)
	}
	r.eng.setDown("down", nil)
	r.run(2*time.Minute, 10*time.Second)
	if n := r.eng.completed("down"); n != 1 {
		t.Fatalf("the recovered tenant's job ran %d times", n)
	}
}

func TestStopReleasesJobsAcquiredButNotRun(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{DisableMaintenance: true})
	r.addTenants(0, "acme")
	acquired := make(chan struct{})
	proceed := make(chan struct{})
	r.eng.afterAcquire = func(string, []*engine.Job) {
		close(acquired)
		<-proceed
	}
	r.eng.addMany("acme", 5, r.clock.Now(), nil)
	r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "acme", DueAt: r.clock.Now()})
	if err := r.x.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-acquired
	stopped := make(chan error)
	go func() { stopped <- r.x.Stop(context.Background()) }()
	r.waitFor("the executor is stopping", func() bool {
		r.x.mu.Lock()
		defer r.x.mu.Unlock()
		return r.x.state == stateStopping
	})
	close(proceed)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	r.eng.view("acme", func(ft *fakeTenant) {
		if ft.released != 5 || len(ft.completions) != 0 {
			t.Fatalf("released %d, completed %v", ft.released, ft.completions)
		}
		for _, j := range ft.jobs {
			if j.LockOwner != "" {
				t.Fatalf("job %d still locked by %q", j.ID, j.LockOwner)
			}
		}
	})
	if st := r.x.Stats(); st.Released != 5 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNewRejectsAConfigurationWithActionableErrors(t *testing.T) {
	t.Parallel()
	_, err := New(Config{})
	if err == nil || !strings.Contains(err.Error(), "Config.Engine is required") || !strings.Contains(err.Error(), "Config.Sources is required") {
		t.Fatalf("empty config: %v", err)
	}
	r := newRig(t, Config{DisableMaintenance: true})
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{LockDuration: time.Minute, Heartbeat: 40 * time.Second}, "must be under half of LockDuration"},
		{Config{BatchSize: 50_000}, "BatchSize 50000 is too large"},
		{Config{Workers: -1}, "Workers must not be negative"},
		{Config{MaintenanceSchedule: "every night"}, `MaintenanceSchedule "every night"`},
		{Config{MaintenanceSchedule: "0 * * * *"}, "is longer than the 1h0m0s between two openings"},
		{Config{Maintenance: []Maintenance{{Name: "prune"}}}, "Maintenance[0] needs a Name and a Run function"},
		{Config{ErrorBackoff: time.Hour}, "exceeds MaxErrorBackoff"},
	} {
		tc.cfg.Engine, tc.cfg.Sources = r.eng, r.env.Sources
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
	x, err := New(Config{Engine: r.eng, Sources: r.env.Sources})
	if err != nil {
		t.Fatal(err)
	}
	if c := x.cfg; c.Workers < 4 || c.BatchSize != 32 || c.LockDuration != 5*time.Minute || c.Heartbeat != 100*time.Second ||
		c.NodeID != r.env.Sources.Config.NodeID || c.MaintenanceSchedule != "0 2 * * *" {
		t.Fatalf("defaults %+v", c)
	}
}
