package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/engine"
)

// TestEvents covers start, end, intermediate and boundary events.
func TestEvents(t *testing.T) {
	runScenarios(t, []scenario{
		{"none start, plain task, none end", func(s *sc) {
			s.deploy("start-none.bpmn")
			inst := s.start("start_none", nil)
			s.wantPath(inst, "start", "plain", "manual", "end")
			got := s.wantEnded(inst, engine.InstanceCompleted)
			if got.StartActivityID != "start" || got.EndActivityID != "end" || got.EndedAt.IsZero() {
				s.t.Fatalf("instance %+v", got)
			}
		}},

		{"timer start: date", func(s *sc) {
			s.deploy("start-timer-date.bpmn")
			due := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
			jobs := s.jobs(&engine.JobQuery{DefinitionKey: "start_timer_date"})
			if len(jobs) != 1 || jobs[0].Kind != engine.JobTimerStart || !jobs[0].DueAt.Equal(due) {
				s.t.Fatalf("jobs after deploy: %+v", jobs)
			}
			if n := s.advanceTo(due.Add(-time.Second)); n != 0 {
				s.t.Fatalf("%d jobs ran before the date", n)
			}
			if n := s.advanceTo(due); n != 1 {
				s.t.Fatalf("%d jobs ran at the date, want 1", n)
			}
			insts := s.instances("start_timer_date")
			if len(insts) != 1 || insts[0].StartActivityID != "timerStart" || !insts[0].StartedAt.Equal(due) {
				s.t.Fatalf("instances %+v", insts)
			}
			s.wantPath(insts[0], "timerStart", "work")
			s.wantTasks(insts[0], "work")
			if jobs := s.jobs(&engine.JobQuery{DefinitionKey: "start_timer_date"}); len(jobs) != 0 {
				s.t.Fatalf("a date timer is left after firing: %+v", jobs)
			}
			if n := s.advance(48 * time.Hour); n != 0 || len(s.instances("start_timer_date")) != 1 {
				s.t.Fatalf("the date timer fired again (%d jobs)", n)
			}
		}},

		{"timer start: duration", func(s *sc) {
			s.deploy("start-timer-duration.bpmn")
			if n := s.advance(59 * time.Minute); n != 0 {
				s.t.Fatalf("%d jobs ran early", n)
			}
			if n := s.advance(time.Minute); n != 1 {
				s.t.Fatalf("%d jobs ran after an hour, want 1", n)
			}
			s.advance(24 * time.Hour)
			insts := s.instances("start_timer_duration")
			if len(insts) != 1 || !insts[0].StartedAt.Equal(epoch.Add(time.Hour)) {
				s.t.Fatalf("instances %+v", insts)
			}
			s.wantPath(insts[0], "timerStart", "work")
		}},

		{"timer start: cycle R3/PT10M", func(s *sc) {
			s.deploy("start-timer-cycle.bpmn")
			var starts []time.Duration
			for i := 0; i < 6; i++ {
				if s.advance(10*time.Minute) == 1 {
					starts = append(starts, s.clock.Now().Sub(epoch))
				}
			}
			want := []time.Duration{10 * time.Minute, 20 * time.Minute, 30 * time.Minute}
			if len(starts) != 3 || starts[0] != want[0] || starts[1] != want[1] || starts[2] != want[2] {
				s.t.Fatalf("the cycle fired at %v, want %v", starts, want)
			}
			insts := s.instances("start_timer_cycle")
			if len(insts) != 3 {
				s.t.Fatalf("%d instances, want 3", len(insts))
			}
			for _, i := range insts {
				s.wantPath(i, "timerStart", "work")
				s.wantState(i, engine.InstanceActive)
			}
			if jobs := s.jobs(&engine.JobQuery{DefinitionKey: "start_timer_cycle"}); len(jobs) != 0 {
				s.t.Fatalf("the cycle's job is left after three fires: %+v", jobs)
			}
		}},

		{"timer start: cron", func(s *sc) {
			s.deploy("start-timer-cron.bpmn")
			day1 := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
			if n := s.advanceTo(day1.Add(-time.Minute)); n != 0 {
				s.t.Fatalf("%d jobs ran before 09:00", n)
			}
			if n := s.advanceTo(day1); n != 1 {
				s.t.Fatalf("%d jobs ran at 09:00, want 1", n)
			}
			jobs := s.jobs(&engine.JobQuery{DefinitionKey: "start_timer_cron"})
			if len(jobs) != 1 || !jobs[0].DueAt.Equal(day1.Add(24*time.Hour)) {
				s.t.Fatalf("next cron job %+v, want one due the next day at 09:00", jobs)
			}
			if n := s.advanceTo(day1.Add(24 * time.Hour)); n != 1 {
				s.t.Fatalf("%d jobs ran the next day, want 1", n)
			}
			insts := s.instances("start_timer_cron")
			if len(insts) != 2 || !insts[0].StartedAt.Equal(day1) || !insts[1].StartedAt.Equal(day1.Add(24*time.Hour)) {
				s.t.Fatalf("instances %+v", insts)
			}
		}},

		{"message start", func(s *sc) {
			s.deploy("start-message.bpmn")
			_, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "start_message"})
			wantErr(s.t, err, engine.ErrInvalid, "a plain start of a message-started process")
			res := s.correlate(&engine.CorrelateParams{MessageName: "OrderPlaced", BusinessKey: "order-7", Variables: map[string]any{"amount": 70}})
			if len(res) != 1 || res[0].Type != "ProcessDefinition" || res[0].ElementID != "msgStart" {
				s.t.Fatalf("results %+v", res)
			}
			inst := res[0].Instance
			got := s.wantState(inst, engine.InstanceActive)
			if got.BusinessKey != "order-7" || got.StartActivityID != "msgStart" {
				s.t.Fatalf("instance %+v", got)
			}
			s.wantPath(inst, "msgStart", "handle")
			s.wantVars(inst, map[string]any{"amount": 70})
			s.wantOpen(inst, open{Tasks: 1, Executions: 2})
			// A second message starts a second instance.
			s.correlate(&engine.CorrelateParams{MessageName: "OrderPlaced", BusinessKey: "order-8"})
			if n := len(s.instances("start_message")); n != 2 {
				s.t.Fatalf("%d instances, want 2", n)
			}
			_, err = s.CorrelateMessage(s.ctx, &engine.CorrelateParams{MessageName: "OrderShipped"})
			wantErr(s.t, err, engine.ErrNoCorrelation, "an unknown message")
		}},

		{"terminate end at the top level", func(s *sc) {
			s.deploy("end-terminate.bpmn")
			inst := s.start("end_terminate", nil)
			s.wantTasks(inst, "wait", "decide")
			s.complete(inst, "decide", nil)
			s.wantPath(inst, "start", "fork", "wait", "decide", "terminate")
			got := s.wantEnded(inst, engine.InstanceCompleted)
			if got.EndActivityID != "terminate" {
				s.t.Fatalf("end activity %q", got.EndActivityID)
			}
			s.wantCanceled(inst, "wait")
			all, _ := s.Tasks(s.ctx, &engine.TaskQuery{InstanceID: inst.ID, AnyState: true, ElementID: "wait"})
			if len(all) != 1 || all[0].State != engine.TaskDeleted {
				s.t.Fatalf("the other branch's task: %+v", all)
			}
		}},

		{"terminate end inside a sub-process", func(s *sc) {
			s.deploy("end-terminate-subprocess.bpmn")
			inst := s.start("end_terminate_sub", nil)
			s.wantTasks(inst, "outer", "inner", "decide")
			s.complete(inst, "decide", nil)
			// Only the sub-process ended; it completed normally and the
			// instance went on after it, the outer branch untouched.
			s.wantPath(inst, "start", "fork", "outer", "sub", "subStart", "subFork", "inner", "decide", "subTerminate", "after")
			s.wantCanceled(inst, "inner")
			s.wantUnfinished(inst, "outer", "after")
			s.wantTasks(inst, "outer", "after")
			s.wantState(inst, engine.InstanceActive)
			s.complete(inst, "after", nil)
			s.complete(inst, "outer", nil)
			got := s.wantEnded(inst, engine.InstanceCompleted)
			if got.EndActivityID != "outerEnd" {
				s.t.Fatalf("end activity %q", got.EndActivityID)
			}
		}},

		{"error end nothing catches", func(s *sc) {
			s.deploy("end-error-uncaught.bpmn")
			inst := s.start("end_error_uncaught", nil)
			s.wantPath(inst, "start", "errorEnd")
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"error end caught on the enclosing sub-process", func(s *sc) {
			s.deploy("end-error-subprocess.bpmn")
			inst := s.start("end_error_sub", map[string]any{"valid": false})
			s.wantTasks(inst, "inner", "check")
			s.complete(inst, "check", nil)
			s.wantPath(inst, "start", "sub", "subStart", "subFork", "inner", "check", "checkOk", "errorEnd", "caught", "fix")
			s.wantCanceled(inst, "sub", "inner")
			s.wantUnfinished(inst, "fix")
			s.wantVars(inst, map[string]any{"code": "INVALID", "message": "the order is invalid"})
			s.wantOpen(inst, open{Tasks: 1, Executions: 2})
			s.complete(inst, "fix", nil)
			got := s.wantEnded(inst, engine.InstanceCompleted)
			if got.EndActivityID != "fixed" {
				s.t.Fatalf("end activity %q", got.EndActivityID)
			}
		}},

		{"error end not thrown: the sub-process completes", func(s *sc) {
			s.deploy("end-error-subprocess.bpmn")
			inst := s.start("end_error_sub", map[string]any{"valid": true})
			s.complete(inst, "check", nil)
			s.complete(inst, "inner", nil)
			s.wantPath(inst, "start", "sub", "subStart", "subFork", "inner", "check", "checkOk", "okEnd", "innerEnd", "done")
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"intermediate timer catch", func(s *sc) {
			s.deploy("catch-timer.bpmn")
			inst := s.start("catch_timer", map[string]any{"delay": "PT30M"})
			s.wantOpen(inst, open{Jobs: 1, Executions: 2})
			jobs := s.jobs(&engine.JobQuery{InstanceID: inst.ID})
			if len(jobs) != 1 || jobs[0].Kind != engine.JobTimer || jobs[0].ElementID != "wait" || !jobs[0].DueAt.Equal(epoch.Add(30*time.Minute)) {
				s.t.Fatalf("timer job %+v", jobs)
			}
			if n := s.advance(29 * time.Minute); n != 0 {
				s.t.Fatalf("%d jobs ran early", n)
			}
			s.wantUnfinished(inst, "wait")
			if n := s.advance(time.Minute); n != 1 {
				s.t.Fatalf("%d jobs ran at 30 minutes, want 1", n)
			}
			s.wantPath(inst, "start", "wait", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"intermediate message catch", func(s *sc) {
			s.deploy("catch-message.bpmn")
			inst := s.startBK("catch_message", "order-1", nil)
			other := s.startBK("catch_message", "order-2", nil)
			s.wantOpen(inst, open{Subscriptions: 1, Executions: 2})
			res := s.correlate(&engine.CorrelateParams{MessageName: "PaymentReceived", BusinessKey: "order-1", Variables: map[string]any{"paid": 12.5}})
			if len(res) != 1 || res[0].Type != "Execution" || res[0].Instance.ID != inst.ID || res[0].ElementID != "paid" {
				s.t.Fatalf("results %+v", res)
			}
			s.wantPath(inst, "start", "paid", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantVars(inst, map[string]any{"paid": 12.5})
			s.wantUnfinished(other, "paid")
			s.wantOpen(other, open{Subscriptions: 1, Executions: 2})
		}},

		{"interrupting timer boundary fires", func(s *sc) {
			s.deploy("boundary-timer.bpmn")
			inst := s.start("boundary_timer", nil)
			s.wantOpen(inst, open{Tasks: 1, Jobs: 1, Executions: 2})
			if n := s.advance(time.Hour); n != 1 {
				s.t.Fatalf("%d jobs ran, want 1", n)
			}
			s.wantPath(inst, "start", "approve", "timeout", "escalate")
			s.wantCanceled(inst, "approve")
			s.wantTasks(inst, "escalate")
			s.wantOpen(inst, open{Tasks: 1, Executions: 2})
			s.complete(inst, "escalate", nil)
			got := s.wantEnded(inst, engine.InstanceCompleted)
			if got.EndActivityID != "escalated" {
				s.t.Fatalf("end activity %q", got.EndActivityID)
			}
		}},

		{"interrupting timer boundary: task done first", func(s *sc) {
			s.deploy("boundary-timer.bpmn")
			inst := s.start("boundary_timer", nil)
			s.advance(59 * time.Minute)
			s.complete(inst, "approve", nil)
			s.wantEnded(inst, engine.InstanceCompleted)
			if n := s.advance(time.Hour); n != 0 {
				s.t.Fatalf("the timer of a completed task ran (%d jobs)", n)
			}
			s.wantPath(inst, "start", "approve", "approved")
		}},

		{"non-interrupting timer cycle fires twice, then the task is completed", func(s *sc) {
			s.deploy("boundary-timer-noninterrupting.bpmn")
			inst := s.start("boundary_timer_ni", map[string]any{"reminders": 0})
			for i := 1; i <= 2; i++ {
				if n := s.advance(time.Hour); n != 1 {
					s.t.Fatalf("hour %d: %d jobs ran, want 1", i, n)
				}
				s.wantVars(inst, map[string]any{"reminders": i})
				s.wantUnfinished(inst, "work")
				s.wantOpen(inst, open{Tasks: 1, Jobs: 1, Executions: 2})
			}
			jobs := s.jobs(&engine.JobQuery{InstanceID: inst.ID})
			if len(jobs) != 1 || !jobs[0].DueAt.Equal(epoch.Add(3*time.Hour)) {
				s.t.Fatalf("the cycle's next fire: %+v", jobs)
			}
			s.complete(inst, "work", nil)
			s.wantPath(inst, "start", "work", "reminder", "count", "reminded", "reminder", "count", "reminded", "done")
			s.wantCanceled(inst)
			s.wantEnded(inst, engine.InstanceCompleted)
			if n := s.advance(3 * time.Hour); n != 0 {
				s.t.Fatalf("the reminder ran after the task completed (%d jobs)", n)
			}
			s.wantVars(inst, map[string]any{"reminders": 2})
		}},

		{"error boundary on a service task with a Go handler", func(s *sc) {
			s.deploy("boundary-error.bpmn")
			s.RegisterHandler("charge", func(_ context.Context, task *engine.ServiceTask) error {
				if amount, _ := task.Variable("amount"); amount.(int) > 100 {
					return &engine.BPMNError{Code: "DECLINED", Message: "limit exceeded", Variables: map[string]any{"limit": 100}}
				}
				task.Set("charged", true)
				return nil
			})
			ok := s.start("boundary_error", map[string]any{"amount": 50})
			s.wantPath(ok, "start", "charge", "charged")
			s.wantEnded(ok, engine.InstanceCompleted)
			s.wantVars(ok, map[string]any{"charged": true})

			declined := s.start("boundary_error", map[string]any{"amount": 500})
			s.wantPath(declined, "start", "charge", "declined", "notify")
			s.wantCanceled(declined, "charge")
			s.wantVars(declined, map[string]any{"code": "DECLINED", "reason": "limit exceeded", "limit": 100})
			s.wantNoVar(declined, "charged")
			s.wantTasks(declined, "notify")
		}},

		{"uncaught BPMN error from a Go handler fails the command", func(s *sc) {
			s.deploy("boundary-error.bpmn")
			s.RegisterHandler("charge", func(context.Context, *engine.ServiceTask) error {
				return &engine.BPMNError{Code: "OTHER"}
			})
			_, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "boundary_error", Variables: map[string]any{"amount": 1}})
			if err == nil || !contains(err.Error(), "OTHER", "charge") {
				s.t.Fatalf("start: %v", err)
			}
			if n := len(s.instances("boundary_error")); n != 0 {
				s.t.Fatalf("a failed start left %d instances", n)
			}
		}},

		{"error end in a called process caught on the call activity", func(s *sc) {
			s.deploy("call-error-child.bpmn", "call-error-parent.bpmn")
			ok := s.start("call_error_parent", map[string]any{"stock": 5, "quantity": 3})
			short := s.start("call_error_parent", map[string]any{"stock": 1, "quantity": 3})
			children := map[int64]*engine.ProcessInstance{}
			for _, p := range []*engine.ProcessInstance{ok, short} {
				l, _ := s.Instances(s.ctx, &engine.InstanceQuery{SuperInstanceID: p.ID})
				if len(l) != 1 {
					s.t.Fatalf("instance %d called %d instances", p.ID, len(l))
				}
				children[p.ID] = l[0]
				s.complete(l[0], "check", nil)
			}
			s.wantPath(children[ok.ID], "childStart", "check", "enough", "childEnd")
			s.wantEnded(children[ok.ID], engine.InstanceCompleted)
			s.wantPath(ok, "start", "call", "done")
			s.wantEnded(ok, engine.InstanceCompleted)

			s.wantPath(children[short.ID], "childStart", "check", "enough", "shortEnd")
			s.wantEnded(children[short.ID], engine.InstanceTerminated)
			s.wantPath(short, "start", "call", "failed", "handle")
			s.wantCanceled(short, "call")
			s.wantVars(short, map[string]any{"code": "OUT_OF_STOCK"})
			s.wantTasks(short, "handle")
		}},

		{"interrupting timer on a sub-process cancels what runs inside", func(s *sc) {
			s.deploy("boundary-timer-subprocess.bpmn")
			inst := s.start("boundary_timer_sub", nil)
			s.wantOpen(inst, open{Tasks: 1, External: 1, Jobs: 1, Executions: 4})
			if n := s.advance(48 * time.Hour); n != 1 {
				s.t.Fatalf("%d jobs ran", n)
			}
			s.wantPath(inst, "start", "sub", "subStart", "fork", "pick", "pack", "late", "apologise")
			s.wantCanceled(inst, "sub", "pick", "pack")
			s.wantOpen(inst, open{Tasks: 1, Executions: 2})
			if n, _ := s.CountExternalTasks(s.ctx, nil); n != 0 {
				s.t.Fatalf("%d external tasks left", n)
			}
			s.complete(inst, "apologise", nil)
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"non-interrupting message boundary", func(s *sc) {
			s.deploy("boundary-message-noninterrupting.bpmn")
			inst := s.startBK("boundary_message_ni", "o-1", nil)
			for i := 0; i < 2; i++ {
				s.correlate(&engine.CorrelateParams{MessageName: "AddressChanged", BusinessKey: "o-1"})
			}
			s.wantTasks(inst, "pack", "relabel", "relabel")
			s.wantOpen(inst, open{Tasks: 3, Subscriptions: 1, Executions: 4})
			s.complete(inst, "pack", nil)
			_, err := s.CorrelateMessage(s.ctx, &engine.CorrelateParams{MessageName: "AddressChanged", BusinessKey: "o-1"})
			wantErr(s.t, err, engine.ErrNoCorrelation, "a message after the task completed")
			for _, task := range s.tasks(inst) {
				if _, err := s.CompleteTask(s.ctx, task.Ref(), nil); err != nil {
					s.t.Fatal(err)
				}
			}
			s.wantPath(inst, "start", "pack", "addressChanged", "relabel", "addressChanged", "relabel", "packed", "relabelled", "relabelled")
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"timer start: a new version replaces the previous version's timer", func(s *sc) {
			s.deploy("start-timer-cycle.bpmn")
			s.advance(10 * time.Minute)
			s.deploy("start-timer-cycle.bpmn") // version 2: its cycle starts now
			jobs := s.jobs(&engine.JobQuery{DefinitionKey: "start_timer_cycle"})
			if len(jobs) != 1 || !jobs[0].DueAt.Equal(s.clock.Now().Add(10*time.Minute)) {
				s.t.Fatalf("timer jobs after the redeployment: %+v", jobs)
			}
			s.advance(10 * time.Minute)
			insts := s.instances("start_timer_cycle")
			if len(insts) != 2 || insts[0].DefinitionID == insts[1].DefinitionID {
				s.t.Fatalf("instances %+v: want one of each version", insts)
			}
		}},

		{"interrupting message boundary", func(s *sc) {
			s.deploy("boundary-message.bpmn")
			inst := s.startBK("boundary_message", "o-1", nil)
			s.wantOpen(inst, open{Tasks: 1, Subscriptions: 1, Executions: 2})
			s.correlate(&engine.CorrelateParams{MessageName: "OrderCancelled", BusinessKey: "o-1", Variables: map[string]any{"reason": "customer"}})
			s.wantPath(inst, "start", "pack", "cancelled", "cancelEnd")
			s.wantCanceled(inst, "pack")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantVars(inst, map[string]any{"reason": "customer"})
			// Completing the task first removes the subscription.
			done := s.startBK("boundary_message", "o-2", nil)
			s.complete(done, "pack", nil)
			s.wantEnded(done, engine.InstanceCompleted)
			_, err := s.CorrelateMessage(s.ctx, &engine.CorrelateParams{MessageName: "OrderCancelled", BusinessKey: "o-2"})
			wantErr(s.t, err, engine.ErrNoCorrelation, "a message to a completed task's boundary")
		}},
	})
}
