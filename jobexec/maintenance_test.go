package jobexec

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/security"
)

func TestMaintenanceRunsPerTenantWithItsTenantInContextSpreadOverTheWindow(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	ran := map[string][]time.Time{}
	var r *rig
	probe := func(ctx context.Context, tenant string) error {
		if got, _ := security.TenantFrom(ctx); got != tenant {
			return fmt.Errorf("context carries %q while maintaining %q", got, tenant)
		}
		mu.Lock()
		ran[tenant] = append(ran[tenant], r.clock.Now())
		mu.Unlock()
		return nil
	}
	r = newRig(t, Config{SweepRate: -1, MaintenanceSchedule: "0 13 * * *", MaintenanceWindow: 3 * time.Hour, MaintenanceConcurrency: 16,
		Maintenance: []Maintenance{{Name: "probe", Run: probe}}})
	ids := tenantIDs("t", 50)
	r.addTenants(0, ids...)
	r.start(nil)
	// 12:00 now; the window opens at 13:00.
	r.step(59 * time.Minute)
	if jobs := taggedJobs(r.x, maintTag); len(jobs) != 0 {
		t.Fatalf("maintenance jobs before the window: %v", jobs)
	}
	r.step(time.Minute)
	open := r.clock.Now()
	if open.Hour() != 13 || open.Minute() != 0 {
		t.Fatalf("the window opened at %v", open)
	}
	// Every tenant has its one-time job, named after it, at its own second
	// within the window.
	slots := map[time.Time]bool{}
	jobs := 0
	for _, j := range r.x.sched.Jobs() {
		next, _ := j.NextRun()
		if j.Name() == "jobexec/maintenance-window" || next.IsZero() {
			continue
		}
		if !slicesContains(j.Tags(), maintTag) {
			continue
		}
		jobs++
		if next.Before(open) || !next.Before(open.Add(3*time.Hour)) {
			t.Fatalf("job %s at %v, outside the window", j.Name(), next)
		}
		slots[next] = true
	}
	if jobs != 50 || len(slots) < 45 {
		t.Fatalf("%d maintenance jobs in %d distinct slots", jobs, len(slots))
	}
	// Through the window in steps of 10 minutes: before the clock moves
	// on, every tenant whose slot has come was maintained (a step can end
	// while gocron is between firing a one-time job and running it).
	for end := open.Add(3 * time.Hour); r.clock.Now().Before(end); {
		r.step(min(10*time.Minute, end.Sub(r.clock.Now())))
		now, due := r.clock.Now(), 0
		for _, id := range ids {
			if !open.Add(r.x.slot(id)).After(now) {
				due++
			}
		}
		r.waitFor("every slot come by "+now.Format(time.TimeOnly)+" was maintained", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(ran) >= due
		})
	}
	if jobs := taggedJobs(r.x, maintTag); len(jobs) != 0 {
		t.Fatalf("maintenance jobs left after the window: %v", jobs)
	}
	steps := map[time.Time]bool{}
	for _, id := range ids {
		r.eng.view(id, func(ft *fakeTenant) {
			if len(ft.cleanups) != 1 || ft.cleanups[0] != id {
				t.Fatalf("tenant %s: history cleanup ran in %v", id, ft.cleanups)
			}
		})
		mu.Lock()
		times := ran[id]
		mu.Unlock()
		if len(times) != 1 {
			t.Fatalf("tenant %s: extra maintenance ran %d times", id, len(times))
		}
		want := open.Add(r.x.slot(id))
		if times[0].Before(want) || times[0].Sub(want) > 10*time.Minute {
			t.Fatalf("tenant %s maintained at %v, its slot is %v", id, times[0], want)
		}
		steps[times[0]] = true
	}
	if len(steps) < 12 {
		t.Fatalf("50 tenants were maintained in only %d of the window's 18 steps", len(steps))
	}
	if st := r.x.Stats(); st.MaintenanceRuns != 50 || st.MaintenanceErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestANodeStartedInsideTheWindowMaintainsTheSlotsStillAhead(t *testing.T) {
	t.Parallel()
	// 12:00 now, inside the window opened at 11:00 (two hours long).
	r := newRig(t, Config{SweepRate: -1, MaintenanceSchedule: "0 11 * * *", MaintenanceWindow: 2 * time.Hour})
	ids := tenantIDs("t", 40)
	r.addTenants(0, ids...)
	r.start(nil)
	ahead := 0
	open := r.clock.Now().Add(-time.Hour)
	for _, id := range ids {
		if !open.Add(r.x.slot(id)).Before(r.clock.Now()) {
			ahead++
		}
	}
	if jobs := taggedJobs(r.x, maintTag); len(jobs) != ahead || ahead == 0 || ahead == len(ids) {
		t.Fatalf("%d maintenance jobs for %d slots still ahead", len(jobs), ahead)
	}
	r.run(time.Hour, 15*time.Minute)
	if st := r.x.Stats(); st.MaintenanceRuns != int64(ahead) {
		t.Fatalf("%d tenants maintained, want %d", st.MaintenanceRuns, ahead)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
