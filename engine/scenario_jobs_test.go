package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/engine"
)

// TestJobs covers job failures, retries with backoff, incidents and their
// resolution, and lock take-over.
func TestJobs(t *testing.T) {
	runScenarios(t, []scenario{
		{"a failing async handler: retries with backoff, an incident at zero, resolved by setting retries", func(s *sc) {
			s.deploy("async-failure.bpmn")
			failing := true
			calls := 0
			s.RegisterHandler("book", func(_ context.Context, task *engine.ServiceTask) error {
				calls++
				if failing {
					task.Set("half", "written") // rolled back with the attempt
					return errors.New("booking system unavailable")
				}
				task.Set("booked", true)
				return nil
			})
			inst := s.start("async_failure", nil)
			job := s.jobs(&engine.JobQuery{InstanceID: inst.ID})[0]
			if job.Retries != engine.DefaultJobRetries || job.Kind != engine.JobAsyncBefore {
				s.t.Fatalf("job %+v", job)
			}
			run := func() (int, error) {
				s.t.Helper()
				return s.RunDueJobs(s.ctx, s.clock.Now())
			}
			// Attempt 1 fails: 2 retries left, due again after 10s.
			if n, err := run(); n != 1 || err == nil || !contains(err.Error(), "booking system unavailable") {
				s.t.Fatalf("first attempt: %d jobs, %v", n, err)
			}
			backoffs := []time.Duration{10 * time.Second, 40 * time.Second}
			for i, backoff := range backoffs {
				job = s.jobs(&engine.JobQuery{ID: job.ID})[0]
				if job.Retries != engine.DefaultJobRetries-1-i || !job.DueAt.Equal(s.clock.Now().Add(backoff)) ||
					job.ErrorMessage != "booking system unavailable" || job.LockOwner != "" {
					s.t.Fatalf("after attempt %d: %+v, want %d retries due in %v", i+1, job, engine.DefaultJobRetries-1-i, backoff)
				}
				s.wantOpen(inst, open{Jobs: 1, Executions: 2})
				s.clock.Advance(backoff - time.Millisecond)
				if n, _ := run(); n != 0 {
					s.t.Fatalf("the job ran %d times before its backoff passed", n)
				}
				s.clock.Advance(time.Millisecond)
				if n, err := run(); n != 1 || err == nil {
					s.t.Fatalf("attempt %d: %d jobs, %v", i+2, n, err)
				}
			}
			// Out of retries: an incident, and the job is not run again.
			job = s.jobs(&engine.JobQuery{ID: job.ID})[0]
			if job.Retries != 0 {
				s.t.Fatalf("job %+v, want 0 retries", job)
			}
			s.wantOpen(inst, open{Jobs: 1, Incidents: 1, Executions: 2})
			incs, _ := s.Incidents(s.ctx, &engine.IncidentQuery{InstanceID: inst.ID})
			if len(incs) != 1 || incs[0].Type != engine.IncidentFailedJob || incs[0].JobID != job.ID || incs[0].ElementID != "book" ||
				incs[0].Message != "booking system unavailable" {
				s.t.Fatalf("incidents %+v", incs)
			}
			if n, _ := s.CountInstances(s.ctx, &engine.InstanceQuery{WithIncidents: true}); n != 1 {
				s.t.Fatalf("%d instances with incidents", n)
			}
			if n := s.advance(24 * time.Hour); n != 0 {
				s.t.Fatalf("a job without retries ran (%d)", n)
			}
			if calls != 3 {
				s.t.Fatalf("the handler ran %d times, want 3", calls)
			}
			s.wantPath(inst, "start")
			s.wantNoVar(inst, "half")

			// The operator fixes the cause and sets retries.
			failing = false
			if err := s.SetJobRetries(s.ctx, job.Ref(), 1); err != nil {
				s.t.Fatal(err)
			}
			s.wantOpen(inst, open{Jobs: 1, Executions: 2})
			if n := s.advance(0); n != 1 {
				s.t.Fatalf("%d jobs ran after the retries were set", n)
			}
			s.wantPath(inst, "start", "book", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantVars(inst, map[string]any{"booked": true})
			all, _ := s.Incidents(s.ctx, &engine.IncidentQuery{InstanceID: inst.ID, AnyState: true})
			if len(all) != 1 || all[0].State != "resolved" {
				s.t.Fatalf("incident history %+v", all)
			}
		}},

		{"an expired job lock is taken over; the first owner's completion is refused", func(s *sc) {
			s.deploy("async.bpmn")
			s.RegisterHandler("enrich", func(context.Context, *engine.ServiceTask) error { return nil })
			inst := s.start("async", nil)
			now := s.clock.Now()
			first, err := s.AcquireJobs(s.ctx, &engine.AcquireJobsParams{Owner: "node-1", Now: now, LockFor: 5 * time.Minute, Max: 10})
			if err != nil || len(first) != 1 {
				s.t.Fatalf("%+v %v", first, err)
			}
			if l, _ := s.AcquireJobs(s.ctx, &engine.AcquireJobsParams{Owner: "node-2", Now: now.Add(time.Minute), LockFor: 5 * time.Minute, Max: 10}); len(l) != 0 {
				s.t.Fatal("a locked job was acquired again")
			}
			due, ok, err := s.NextJobDue(s.ctx)
			if err != nil || !ok || !due.Equal(now.Add(5*time.Minute)) {
				s.t.Fatalf("next due %v %v %v, want the lock's expiry", due, ok, err)
			}
			second, err := s.AcquireJobs(s.ctx, &engine.AcquireJobsParams{Owner: "node-2", Now: due, LockFor: 5 * time.Minute, Max: 10})
			if err != nil || len(second) != 1 || second[0].ID != first[0].ID {
				s.t.Fatalf("take-over at %v: %+v %v", due, second, err)
			}
			if r := s.ExecuteJobs(s.ctx, "node-1", first, due); !errors.Is(r[0].Err, engine.ErrLockLost) {
				s.t.Fatalf("the first owner ran a job it lost: %+v", r)
			}
			s.wantPath(inst, "start")
			if r := s.ExecuteJobs(s.ctx, "node-2", second, due); r[0].Err != nil {
				s.t.Fatalf("%+v", r)
			}
			s.wantPath(inst, "start", "enrich", "mark")
		}},

		{"a batch with a failing job and a lost lock: the other jobs commit, each failure is its job's own", func(s *sc) {
			s.deploy("async.bpmn")
			s.RegisterHandler("enrich", func(_ context.Context, task *engine.ServiceTask) error {
				if v, _ := task.Variable("fail"); v == true {
					return errors.New("enrichment refused")
				}
				return nil
			})
			ok1, bad, lost, ok2 := s.start("async", map[string]any{"fail": false}), s.start("async", map[string]any{"fail": true}),
				s.start("async", map[string]any{"fail": false}), s.start("async", map[string]any{"fail": false})
			jobs, err := s.AcquireJobs(s.ctx, &engine.AcquireJobsParams{Owner: "node", Now: s.clock.Now(), LockFor: time.Minute, Max: 10})
			if err != nil || len(jobs) != 4 {
				s.t.Fatalf("acquired %d jobs: %v", len(jobs), err)
			}
			byInstance := map[int64]*engine.Job{}
			for _, j := range jobs {
				byInstance[j.InstanceID] = j
			}
			stale := *byInstance[lost.ID]
			stale.Revision-- // as if another node had taken it over since
			batch := []*engine.Job{byInstance[ok1.ID], byInstance[bad.ID], &stale, byInstance[ok2.ID]}
			r := s.ExecuteJobs(s.ctx, "node", batch, s.clock.Now())
			if r[0].Err != nil || r[3].Err != nil {
				s.t.Fatalf("the healthy jobs failed: %+v", r)
			}
			if r[1].Err == nil || !contains(r[1].Err.Error(), "enrichment refused") {
				s.t.Fatalf("the failing job: %v", r[1].Err)
			}
			if !errors.Is(r[2].Err, engine.ErrLockLost) {
				s.t.Fatalf("the job with a stale lock: %v", r[2].Err)
			}
			s.wantPath(ok1, "start", "enrich", "mark")
			s.wantPath(ok2, "start", "enrich", "mark")
			s.wantPath(bad, "start")
			s.wantPath(lost, "start")
			if j := s.jobs(&engine.JobQuery{InstanceID: bad.ID})[0]; j.Retries != engine.DefaultJobRetries-1 {
				s.t.Fatalf("the failing job's retries: %d", j.Retries)
			}
			if j := s.jobs(&engine.JobQuery{InstanceID: lost.ID})[0]; j.Retries != engine.DefaultJobRetries || j.LockOwner != "node" {
				s.t.Fatalf("the stale job was touched: %+v", j)
			}
		}},

		{"a failure reported by the executor counts as an attempt", func(s *sc) {
			s.deploy("async.bpmn")
			inst := s.start("async", nil)
			jobs, _ := s.AcquireJobs(s.ctx, &engine.AcquireJobsParams{Owner: "node", Now: s.clock.Now(), LockFor: time.Minute, Max: 1})
			if err := s.FailJob(s.ctx, &engine.FailJobParams{Job: jobs[0], Owner: "other", Err: errors.New("x"), Now: s.clock.Now()}); !errors.Is(err, engine.ErrLockLost) {
				s.t.Fatalf("a failure from a node without the lock: %v", err)
			}
			if err := s.FailJob(s.ctx, &engine.FailJobParams{Job: jobs[0], Owner: "node", Err: errors.New("executor panicked"), Now: s.clock.Now()}); err != nil {
				s.t.Fatal(err)
			}
			job := s.jobs(&engine.JobQuery{InstanceID: inst.ID})[0]
			if job.Retries != engine.DefaultJobRetries-1 || job.ErrorMessage != "executor panicked" || job.LockOwner != "" {
				s.t.Fatalf("job %+v", job)
			}
		}},
	})
}

// TestHistory covers the history queries and its cleanup.
func TestHistory(t *testing.T) {
	runScenarios(t, []scenario{
		{"activity instances, tasks, variable updates and incidents are queryable", func(s *sc) {
			s.deploy("boundary-timer.bpmn", "task-external.bpmn")
			inst := s.start("boundary_timer", map[string]any{"n": 1})
			if err := s.ModifyVariables(s.ctx, inst.Ref(), &engine.ModifyVariablesParams{Set: map[string]any{"n": 2}}); err != nil {
				s.t.Fatal(err)
			}
			s.advance(time.Hour) // the timer interrupts approve
			s.complete(inst, "escalate", map[string]any{"n": 3})

			acts, _ := s.Activities(s.ctx, &engine.ActivityQuery{InstanceID: inst.ID, Finished: true, Page: engine.Page{SortBy: "StartedAt"}})
			if len(acts) != 5 {
				s.t.Fatalf("%d finished activity instances", len(acts))
			}
			for _, a := range acts {
				if a.EndedAt.IsZero() || a.StartedAt.After(a.EndedAt) || a.Tenant != s.tenant || a.InstanceID != inst.ID {
					s.t.Fatalf("activity instance %+v", a)
				}
			}
			if acts[1].ElementID != "approve" || !acts[1].Canceled || acts[1].TaskID == 0 || !acts[1].EndedAt.Equal(epoch.Add(time.Hour)) {
				s.t.Fatalf("approve: %+v", acts[1])
			}
			tasks, _ := s.Tasks(s.ctx, &engine.TaskQuery{InstanceID: inst.ID, AnyState: true, Page: engine.Page{SortBy: "ID"}})
			if len(tasks) != 2 || tasks[0].State != engine.TaskDeleted || tasks[0].DeleteReason == "" || tasks[1].State != engine.TaskCompleted {
				s.t.Fatalf("task history %+v", tasks)
			}
			ups, _ := s.VariableUpdates(s.ctx, inst.Ref())
			var ns []any
			for _, u := range ups {
				if u.Name == "n" {
					ns = append(ns, u.Value.V, u.Revision)
				}
			}
			if len(ns) != 6 || ns[0] != int32(1) || ns[1] != 1 || ns[2] != int32(2) || ns[3] != 2 || ns[4] != int32(3) || ns[5] != 3 {
				s.t.Fatalf("updates of n (value, revision): %v", ns)
			}

			ext := s.start("task_external", nil)
			l, _ := s.FetchAndLock(s.ctx, &engine.FetchAndLockParams{WorkerID: "w", MaxTasks: 1, Topics: []engine.TopicRequest{{Name: "ship", LockDuration: time.Minute}}})
			if err := s.FailExternalTask(s.ctx, l[0].Ref(), &engine.ExternalFailureParams{WorkerID: "w", ErrorMessage: "down"}); err != nil {
				s.t.Fatal(err)
			}
			if err := s.SetExternalTaskRetries(s.ctx, l[0].Ref(), 1); err != nil {
				s.t.Fatal(err)
			}
			incs, _ := s.Incidents(s.ctx, &engine.IncidentQuery{InstanceID: ext.ID, AnyState: true})
			if len(incs) != 1 || incs[0].State != "resolved" || incs[0].EndedAt.IsZero() || incs[0].Tenant != s.tenant {
				s.t.Fatalf("incident history %+v", incs)
			}
			if n, _ := s.CountIncidents(s.ctx, nil); n != 0 {
				s.t.Fatalf("%d open incidents", n)
			}
			finished, _ := s.Instances(s.ctx, &engine.InstanceQuery{States: []engine.InstanceState{engine.InstanceCompleted}})
			if len(finished) != 1 || finished[0].ID != inst.ID {
				s.t.Fatalf("finished instances %+v", finished)
			}
		}},

		{"cleanup removes finished instances older than their time to live", func(s *sc) {
			s.deploy("history-ttl.bpmn", "start-none.bpmn")
			old := s.start("history_ttl", map[string]any{"x": 1})
			s.complete(old, "work", nil)
			running := s.start("history_ttl", map[string]any{"x": 2})
			forever := s.start("start_none", nil) // no time to live: kept
			s.clock.Advance(24 * time.Hour)
			if n, err := s.CleanupHistory(s.ctx, s.clock.Now()); err != nil || n != 0 {
				s.t.Fatalf("cleanup at exactly the time to live removed %d (%v)", n, err)
			}
			s.clock.Advance(time.Millisecond)
			if n, err := s.CleanupHistory(s.ctx, s.clock.Now()); err != nil || n != 1 {
				s.t.Fatalf("cleanup removed %d (%v), want 1", n, err)
			}
			_, err := s.Instance(s.ctx, old.Ref())
			wantErr(s.t, err, engine.ErrNotFound, "a cleaned-up instance")
			if n, _ := s.CountActivities(s.ctx, &engine.ActivityQuery{InstanceID: old.ID}); n != 0 {
				s.t.Fatalf("%d activity instances left", n)
			}
			if l, _ := s.Tasks(s.ctx, &engine.TaskQuery{InstanceID: old.ID, AnyState: true}); len(l) != 0 {
				s.t.Fatalf("%d tasks left", len(l))
			}
			if l, _ := s.VariableUpdates(s.ctx, old.Ref()); len(l) != 0 {
				s.t.Fatalf("%d variable updates left", len(l))
			}
			s.wantOpen(old, open{})
			s.wantState(running, engine.InstanceActive)
			s.wantVars(running, map[string]any{"x": 2})
			s.wantState(forever, engine.InstanceCompleted)
			s.wantPath(forever, "start", "plain", "manual", "end")
		}},
	})
}
