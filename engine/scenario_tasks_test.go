package engine_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/engine"
)

// TestTasks covers user, service (Go handler and external), script,
// receive, send and business rule tasks.
func TestTasks(t *testing.T) {
	runScenarios(t, []scenario{
		{"user task with expressions", func(s *sc) {
			s.deploy("task-user.bpmn")
			due := time.Date(2026, 1, 5, 17, 0, 0, 0, time.UTC)
			inst := s.start("task_user", map[string]any{"owner": "ann", "reviewers": "bob, carl", "team": "emea",
				"due": due, "form": "review-v2", "urgent": true})
			task := s.task(inst, "review")
			want := engine.Task{Name: "Review", Assignee: "ann", CandidateUsers: []string{"bob", "carl"},
				CandidateGroups: []string{"sales", "emea"}, Priority: 90, FormKey: "embedded:app:forms/review-v2.html"}
			got := engine.Task{Name: task.Name, Assignee: task.Assignee, CandidateUsers: task.CandidateUsers,
				CandidateGroups: task.CandidateGroups, Priority: task.Priority, FormKey: task.FormKey}
			if !reflect.DeepEqual(got, want) {
				s.t.Fatalf("task\n got  %+v\n want %+v", got, want)
			}
			if !task.Due.Equal(due) || !task.FollowUp.Equal(epoch.Add(2*time.Hour)) || task.Tenant != s.tenant {
				s.t.Fatalf("due %v, follow-up %v, tenant %q", task.Due, task.FollowUp, task.Tenant)
			}
			for _, q := range []*engine.TaskQuery{{CandidateUser: "bob", IncludeAssigned: true}, {CandidateGroups: []string{"emea"}, IncludeAssigned: true}, {Assignee: "ann"}} {
				if n, err := s.CountTasks(s.ctx, q); err != nil || n != 1 {
					s.t.Fatalf("query %+v: %d %v", q, n, err)
				}
			}
			wantErr(s.t, s.ClaimTask(s.ctx, task.Ref(), "bob"), engine.ErrConflict, "claiming a task someone holds")
			if err := s.UnclaimTask(s.ctx, task.Ref()); err != nil {
				s.t.Fatal(err)
			}
			if err := s.ClaimTask(s.ctx, task.Ref(), "bob"); err != nil {
				s.t.Fatal(err)
			}
			if err := s.SetAssignee(s.ctx, task.Ref(), "carl"); err != nil {
				s.t.Fatal(err)
			}
			if got := s.task(inst, "review"); got.Assignee != "carl" {
				s.t.Fatalf("assignee %q after reassigning", got.Assignee)
			}
			if _, err := s.CompleteTask(s.ctx, task.Ref(), &engine.CompleteTaskParams{Variables: map[string]any{"verdict": "ok"}, User: "carl"}); err != nil {
				s.t.Fatal(err)
			}
			s.wantPath(inst, "start", "review", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantVars(inst, map[string]any{"verdict": "ok"})
			done, err := s.Task(s.ctx, task.Ref())
			if err != nil || done.State != engine.TaskCompleted || done.Assignee != "carl" || done.EndedAt.IsZero() {
				s.t.Fatalf("completed task %+v %v", done, err)
			}
		}},

		{"user task: a missing variable is an error that names it", func(s *sc) {
			s.deploy("task-user.bpmn")
			_, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "task_user", Variables: map[string]any{"owner": "ann", "form": "f"}})
			if !errors.Is(err, engine.ErrInvalid) || !contains(err.Error(), "review", "reviewers") {
				s.t.Fatalf("start: %v", err)
			}
			if n := len(s.instances("task_user")); n != 0 {
				s.t.Fatalf("a failed start left %d instances", n)
			}
		}},

		{"a suspended instance neither completes tasks nor runs jobs", func(s *sc) {
			s.deploy("boundary-timer.bpmn")
			inst := s.start("boundary_timer", nil)
			if err := s.SuspendInstance(s.ctx, inst.Ref(), true); err != nil {
				s.t.Fatal(err)
			}
			task := s.task(inst, "approve")
			_, err := s.CompleteTask(s.ctx, task.Ref(), nil)
			wantErr(s.t, err, engine.ErrSuspended, "completing a suspended instance's task")
			if n := s.advance(2 * time.Hour); n != 0 {
				s.t.Fatalf("a suspended instance's timer ran (%d jobs)", n)
			}
			s.wantUnfinished(inst, "approve")
			if err := s.SuspendInstance(s.ctx, inst.Ref(), false); err != nil {
				s.t.Fatal(err)
			}
			if n := s.advance(0); n != 1 {
				s.t.Fatalf("%d jobs ran after activation", n)
			}
			s.wantPath(inst, "start", "approve", "timeout", "escalate")
		}},

		{"service task with a Go handler", func(s *sc) {
			s.deploy("task-service-handler.bpmn")
			var seen *engine.ServiceTask
			s.RegisterHandler("price", func(_ context.Context, task *engine.ServiceTask) error {
				seen = task
				q, _ := task.Variable("quantity")
				task.Set("price", float64(q.(int))*2.5)
				return nil
			})
			inst := s.startBK("task_service", "o-9", map[string]any{"quantity": 4})
			s.wantPath(inst, "start", "price", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantVars(inst, map[string]any{"price": 10.0, "quantity": 4})
			if seen.Tenant != s.tenant || seen.InstanceID != inst.ID || seen.BusinessKey != "o-9" || seen.ElementID != "price" || seen.Topic != "price" {
				s.t.Fatalf("the handler saw %+v", seen)
			}
			if n, _ := s.CountExternalTasks(s.ctx, nil); n != 0 {
				s.t.Fatalf("a topic with a handler made %d external tasks", n)
			}
		}},

		{"service task: a failing handler fails the start, which leaves nothing", func(s *sc) {
			s.deploy("task-service-handler.bpmn")
			boom := errors.New("price service down")
			s.RegisterHandler("price", func(context.Context, *engine.ServiceTask) error { return boom })
			_, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "task_service"})
			wantErr(s.t, err, boom, "start with a failing handler")
			if n := len(s.instances("task_service")); n != 0 {
				s.t.Fatalf("a failed start left %d instances", n)
			}
			if n, _ := s.CountActivities(s.ctx, nil); n != 0 {
				s.t.Fatalf("a failed start left %d activity instances", n)
			}
		}},

		{"service task: the handler timeout bounds a handler", func(s *sc) {
			s.deploy("task-service-handler.bpmn")
			e := s.newEngine(engine.Options{Clock: s.clock, HandlerTimeout: 20 * time.Millisecond})
			e.RegisterHandler("price", func(ctx context.Context, _ *engine.ServiceTask) error {
				<-ctx.Done()
				return ctx.Err()
			})
			_, err := e.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "task_service"})
			wantErr(s.t, err, context.DeadlineExceeded, "a handler past its timeout")
		}},

		{"external task: fetch and lock, extend, unlock, failure, incident, retries, complete", func(s *sc) {
			s.deploy("task-external.bpmn")
			inst := s.startBK("task_external", "o-1", map[string]any{"address": "Main St 1"})
			s.wantUnfinished(inst, "ship")
			s.wantOpen(inst, open{External: 1, Executions: 2})
			fetch := func(worker string) []*engine.ExternalTask {
				s.t.Helper()
				l, err := s.FetchAndLock(s.ctx, &engine.FetchAndLockParams{WorkerID: worker, MaxTasks: 5,
					Topics: []engine.TopicRequest{{Name: "ship", LockDuration: time.Minute}}})
				if err != nil {
					s.t.Fatal(err)
				}
				return l
			}
			got := fetch("w1")
			if len(got) != 1 || got[0].WorkerID != "w1" || got[0].Priority != 7 || got[0].BusinessKey != "o-1" ||
				got[0].Variables["address"].V != "Main St 1" || !got[0].LockExpiresAt.Equal(epoch.Add(time.Minute)) {
				s.t.Fatalf("fetched %+v", got)
			}
			task := got[0]
			if l := fetch("w2"); len(l) != 0 {
				s.t.Fatalf("a locked task was fetched again: %+v", l)
			}
			wantErr(s.t, s.ExtendExternalTaskLock(s.ctx, task.Ref(), "w2", time.Hour), engine.ErrConflict, "extending another worker's lock")
			wantErr(s.t, s.CompleteExternalTask(s.ctx, task.Ref(), &engine.CompleteExternalTaskParams{WorkerID: "w2"}), engine.ErrConflict, "completing another worker's task")
			if err := s.ExtendExternalTaskLock(s.ctx, task.Ref(), "w1", 5*time.Minute); err != nil {
				s.t.Fatal(err)
			}
			s.clock.Advance(2 * time.Minute)
			if l := fetch("w2"); len(l) != 0 {
				s.t.Fatal("an extended lock expired early")
			}
			if err := s.UnlockExternalTask(s.ctx, task.Ref()); err != nil {
				s.t.Fatal(err)
			}
			if l := fetch("w2"); len(l) != 1 || l[0].WorkerID != "w2" {
				s.t.Fatalf("after unlock: %+v", l)
			}
			// A failure with retries left hides the task until its retry
			// timeout passed.
			if err := s.FailExternalTask(s.ctx, task.Ref(), &engine.ExternalFailureParams{WorkerID: "w2", ErrorMessage: "carrier down",
				Retries: 1, RetryTimeout: 10 * time.Minute}); err != nil {
				s.t.Fatal(err)
			}
			if l := fetch("w3"); len(l) != 0 {
				s.t.Fatal("a failed task was fetched before its retry timeout")
			}
			s.clock.Advance(10 * time.Minute)
			if l := fetch("w3"); len(l) != 1 || l[0].ErrorMessage != "carrier down" || *l[0].Retries != 1 {
				s.t.Fatalf("after the retry timeout: %+v", l)
			}
			// No retries left: an incident, and the task is not fetched.
			if err := s.FailExternalTask(s.ctx, task.Ref(), &engine.ExternalFailureParams{WorkerID: "w3", ErrorMessage: "carrier gone"}); err != nil {
				s.t.Fatal(err)
			}
			s.wantOpen(inst, open{External: 1, Incidents: 1, Executions: 2})
			incs, err := s.Incidents(s.ctx, &engine.IncidentQuery{InstanceID: inst.ID})
			if err != nil || len(incs) != 1 || incs[0].Type != engine.IncidentFailedExternalTask || incs[0].ExternalTaskID != task.ID ||
				incs[0].ElementID != "ship" || incs[0].Message != "carrier gone" {
				s.t.Fatalf("incidents %+v %v", incs, err)
			}
			s.clock.Advance(time.Hour)
			if l := fetch("w4"); len(l) != 0 {
				s.t.Fatal("a task without retries was fetched")
			}
			if err := s.SetExternalTaskRetries(s.ctx, task.Ref(), 2); err != nil {
				s.t.Fatal(err)
			}
			s.wantOpen(inst, open{External: 1, Executions: 2})
			if l := fetch("w4"); len(l) != 1 {
				s.t.Fatalf("after setting retries: %+v", l)
			}
			if err := s.CompleteExternalTask(s.ctx, task.Ref(), &engine.CompleteExternalTaskParams{WorkerID: "w4",
				Variables: map[string]any{"tracking": "TR-1"}}); err != nil {
				s.t.Fatal(err)
			}
			s.wantPath(inst, "start", "ship", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantVars(inst, map[string]any{"tracking": "TR-1", "address": "Main St 1"})
			all, _ := s.Incidents(s.ctx, &engine.IncidentQuery{InstanceID: inst.ID, AnyState: true})
			if len(all) != 1 || all[0].State != "resolved" || all[0].EndedAt.IsZero() {
				s.t.Fatalf("incident history %+v", all)
			}
			wantErr(s.t, s.CompleteExternalTask(s.ctx, task.Ref(), &engine.CompleteExternalTaskParams{WorkerID: "w4"}), engine.ErrNotFound, "completing twice")
		}},

		{"external task: an expired lock is taken over", func(s *sc) {
			s.deploy("task-external.bpmn")
			inst := s.start("task_external", nil)
			l, err := s.FetchAndLock(s.ctx, &engine.FetchAndLockParams{WorkerID: "w1", MaxTasks: 1, Topics: []engine.TopicRequest{{Name: "ship", LockDuration: time.Minute}}})
			if err != nil || len(l) != 1 {
				s.t.Fatalf("%v %v", l, err)
			}
			s.clock.Advance(time.Minute + time.Millisecond)
			l2, err := s.FetchAndLock(s.ctx, &engine.FetchAndLockParams{WorkerID: "w2", MaxTasks: 1, Topics: []engine.TopicRequest{{Name: "ship", LockDuration: time.Minute}}})
			if err != nil || len(l2) != 1 || l2[0].ID != l[0].ID {
				s.t.Fatalf("take-over: %v %v", l2, err)
			}
			wantErr(s.t, s.CompleteExternalTask(s.ctx, l[0].Ref(), &engine.CompleteExternalTaskParams{WorkerID: "w1"}), engine.ErrConflict, "the first worker completing after losing its lock")
			if err := s.CompleteExternalTask(s.ctx, l[0].Ref(), &engine.CompleteExternalTaskParams{WorkerID: "w2"}); err != nil {
				s.t.Fatal(err)
			}
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"external task: BPMN error caught and uncaught", func(s *sc) {
			s.deploy("task-external-error.bpmn")
			caught := s.startBK("task_external_error", "caught", nil)
			uncaught := s.startBK("task_external_error", "uncaught", nil)
			l, err := s.FetchAndLock(s.ctx, &engine.FetchAndLockParams{WorkerID: "w", MaxTasks: 2, Topics: []engine.TopicRequest{{Name: "verify", LockDuration: time.Minute}}})
			if err != nil || len(l) != 2 {
				s.t.Fatalf("%v %v", l, err)
			}
			byKey := map[string]*engine.ExternalTask{l[0].BusinessKey: l[0], l[1].BusinessKey: l[1]}
			if err := s.ExternalTaskBPMNError(s.ctx, byKey["caught"].Ref(), &engine.ExternalBPMNErrorParams{WorkerID: "w", ErrorCode: "REJECTED",
				Variables: map[string]any{"why": "blurred"}}); err != nil {
				s.t.Fatal(err)
			}
			s.wantPath(caught, "start", "verify", "rejected", "rejectedEnd")
			s.wantCanceled(caught, "verify")
			s.wantEnded(caught, engine.InstanceCompleted)
			s.wantVars(caught, map[string]any{"code": "REJECTED", "why": "blurred"})

			if err := s.ExternalTaskBPMNError(s.ctx, byKey["uncaught"].Ref(), &engine.ExternalBPMNErrorParams{WorkerID: "w", ErrorCode: "UNKNOWN"}); err != nil {
				s.t.Fatal(err)
			}
			s.wantState(uncaught, engine.InstanceActive)
			s.wantUnfinished(uncaught, "verify")
			s.wantOpen(uncaught, open{External: 1, Incidents: 1, Executions: 2})
			et, err := s.ExternalTask(s.ctx, byKey["uncaught"].Ref())
			if err != nil || et.Retries == nil || *et.Retries != 0 || !contains(et.ErrorMessage, "UNKNOWN") {
				s.t.Fatalf("external task after an uncaught error: %+v %v", et, err)
			}
		}},

		{"zeebe:taskDefinition binds a topic, served by a handler or a worker", func(s *sc) {
			s.deploy("task-zeebe.bpmn")
			s.RegisterHandler("credit-score", func(_ context.Context, task *engine.ServiceTask) error {
				task.Set("score", 712)
				return nil
			})
			inst := s.start("task_zeebe", nil)
			s.wantPath(inst, "start", "score", "notify")
			l, err := s.FetchAndLock(s.ctx, &engine.FetchAndLockParams{WorkerID: "w", MaxTasks: 1, Topics: []engine.TopicRequest{{Name: "notify-applicant", LockDuration: time.Minute}}})
			if err != nil || len(l) != 1 || l[0].ElementID != "notify" || l[0].Variables["score"].V != int32(712) {
				s.t.Fatalf("%+v %v", l, err)
			}
			if err := s.CompleteExternalTask(s.ctx, l[0].Ref(), &engine.CompleteExternalTaskParams{WorkerID: "w"}); err != nil {
				s.t.Fatal(err)
			}
			s.wantPath(inst, "start", "score", "notify", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"script task", func(s *sc) {
			s.deploy("task-script.bpmn")
			inst := s.start("task_script", map[string]any{"price": 2.5, "quantity": 4, "express": true, "orderId": "A-1"})
			s.wantPath(inst, "start", "total", "label", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantVars(inst, map[string]any{"total": 20.0, "label": "order A-1: 20"})
		}},

		{"receive task correlated by correlation keys", func(s *sc) {
			s.deploy("task-receive.bpmn")
			a := s.start("task_receive", map[string]any{"orderId": "A-1"})
			b := s.start("task_receive", map[string]any{"orderId": "B-2"})
			s.wantOpen(a, open{Subscriptions: 1, Executions: 2})
			_, err := s.CorrelateMessage(s.ctx, &engine.CorrelateParams{MessageName: "Delivered"})
			wantErr(s.t, err, engine.ErrAmbiguousCorrelation, "a message two instances wait for")
			_, err = s.CorrelateMessage(s.ctx, &engine.CorrelateParams{MessageName: "Delivered", CorrelationKeys: map[string]any{"orderId": "C-3"}})
			wantErr(s.t, err, engine.ErrNoCorrelation, "a key nobody has")
			res := s.correlate(&engine.CorrelateParams{MessageName: "Delivered", CorrelationKeys: map[string]any{"orderId": "B-2"}, Variables: map[string]any{"signedBy": "eve"}})
			if len(res) != 1 || res[0].Instance.ID != b.ID || res[0].ElementID != "awaitDelivery" {
				s.t.Fatalf("results %+v", res)
			}
			s.wantPath(b, "start", "awaitDelivery", "end")
			s.wantEnded(b, engine.InstanceCompleted)
			s.wantVars(b, map[string]any{"signedBy": "eve"})
			s.wantUnfinished(a, "awaitDelivery")
			s.wantNoVar(a, "signedBy")
		}},

		{"send and business rule tasks run as service tasks", func(s *sc) {
			s.deploy("task-send-businessrule.bpmn")
			s.RegisterHandler("rate-risk", func(_ context.Context, task *engine.ServiceTask) error {
				task.Set("risk", "low")
				return nil
			})
			inst := s.start("task_send_rule", nil)
			s.wantPath(inst, "start", "rate", "mail")
			s.wantVars(inst, map[string]any{"risk": "low"})
			ext, err := s.ExternalTasks(s.ctx, &engine.ExternalTaskQuery{InstanceID: inst.ID})
			if err != nil || len(ext) != 1 || ext[0].Topic != "send-mail" || ext[0].ElementID != "mail" {
				s.t.Fatalf("external tasks %+v %v", ext, err)
			}
			if _, err := s.FetchAndLock(s.ctx, &engine.FetchAndLockParams{WorkerID: "w", MaxTasks: 1, Topics: []engine.TopicRequest{{Name: "send-mail", LockDuration: time.Minute}}}); err != nil {
				s.t.Fatal(err)
			}
			if err := s.CompleteExternalTask(s.ctx, ext[0].Ref(), &engine.CompleteExternalTaskParams{WorkerID: "w"}); err != nil {
				s.t.Fatal(err)
			}
			s.wantPath(inst, "start", "rate", "mail", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
			acts, _ := s.Activities(s.ctx, &engine.ActivityQuery{InstanceID: inst.ID, Page: engine.Page{SortBy: "StartedAt"}})
			if len(acts) != 4 || acts[1].ElementType != "businessRuleTask" || acts[2].ElementType != "sendTask" {
				s.t.Fatalf("activity types %+v", acts)
			}
		}},
	})
}
