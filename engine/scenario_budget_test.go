package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tenantflow/tenantflow/engine"
)

// TestStepBudget covers commands that would never come to rest: each
// fails within its budget with an error that names the element, and
// leaves nothing behind.
func TestStepBudget(t *testing.T) {
	runScenarios(t, []scenario{
		{"a gateway loop without a wait state fails the start, naming the loop", func(s *sc) {
			s.deploy("budget-loop.bpmn")
			events := s.outboxRows()
			_, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "budget_loop", Variables: map[string]any{"count": 0}})
			wantErr(s.t, err, engine.ErrStepBudget, "a loop without a wait state")
			wantErr(s.t, err, engine.ErrInvalid, "a loop without a wait state")
			if !strings.Contains(err.Error(), `"bump"`) && !strings.Contains(err.Error(), `"again"`) {
				s.t.Fatalf("the error does not name an element of the loop: %v", err)
			}
			if n := len(s.instances("budget_loop")); n != 0 || s.outboxRows() != events {
				s.t.Fatalf("the failed start left %d instances and %d events", n, s.outboxRows()-events)
			}
		}},
		{"a parallel multi-instance of a billion fails at once, naming the activity", func(s *sc) {
			s.deploy("budget-loop.bpmn")
			_, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "budget_mi", Variables: map[string]any{"n": 1_000_000_000}})
			wantErr(s.t, err, engine.ErrStepBudget, "a multi-instance of a billion")
			if !strings.Contains(err.Error(), `"m_vote"`) || !strings.Contains(err.Error(), "1000000000") {
				s.t.Fatalf("the error does not name the activity and its cardinality: %v", err)
			}
			inst := s.start("budget_mi", map[string]any{"n": 3})
			s.wantTasks(inst, "m_vote", "m_vote", "m_vote")
		}},
		{"a loop in a job opens an incident at once", func(s *sc) {
			s.deploy("budget-loop.bpmn")
			inst := s.start("budget_loop_async", map[string]any{"count": 0})
			s.clock.Advance(0)
			n, err := s.RunDueJobs(s.ctx, s.clock.Now())
			wantErr(s.t, err, engine.ErrStepBudget, "the job's loop")
			if n != 1 {
				s.t.Fatalf("%d jobs ran, want the one, once: a budget failure is not retried", n)
			}
			incs, err := s.Incidents(s.ctx, &engine.IncidentQuery{InstanceID: inst.ID})
			if err != nil || len(incs) != 1 || !strings.Contains(incs[0].Message, "step") {
				s.t.Fatalf("incidents %+v %v, want one about the step budget", incs, err)
			}
			jobs := s.jobs(&engine.JobQuery{InstanceID: inst.ID})
			if len(jobs) != 1 || jobs[0].Retries != 0 {
				s.t.Fatalf("jobs %+v, want the job with no retries left", jobs)
			}
			if got := s.instance(inst); got.State != engine.InstanceActive {
				s.t.Fatalf("the instance is %s, want active: the failed job changed nothing", got.State)
			}
		}},
	})
}

// TestBudgetIsAnOption lets an engine allow a longer loop than the
// default: the same model completes.
func TestBudgetIsAnOption(t *testing.T) {
	t.Parallel()
	forEachKindAtOnce(t, nil, func(t *testing.T, w *world) {
		s := w.scenario(t)
		s.deploy("task-script.bpmn")
		small := s.newEngine(engine.Options{MaxSteps: 3})
		_, err := small.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "task_script",
			Variables: map[string]any{"price": 2, "quantity": 3, "express": false, "orderId": "o"}})
		wantErr(t, err, engine.ErrStepBudget, "four elements with a budget of three steps")
		inst := s.start("task_script", map[string]any{"price": 2, "quantity": 3, "express": false, "orderId": "o"})
		s.wantEnded(inst, engine.InstanceCompleted)
	})
}

// TestHandlersRunWithNothingHeld blocks a Go handler and checks that the
// tenant goes on: another command commits and its events are readable,
// on SQLite too, whose single writer a handler inside a transaction would
// hold.
func TestHandlersRunWithNothingHeld(t *testing.T) {
	t.Parallel()
	forEachKindAtOnce(t, nil, func(t *testing.T, w *world) {
		s := w.scenario(t)
		s.deploy("task-service-handler.bpmn", "start-none.bpmn")
		entered, release := make(chan struct{}), make(chan struct{})
		s.RegisterHandler("price", func(_ context.Context, task *engine.ServiceTask) error {
			close(entered)
			<-release
			task.Set("price", 42)
			return nil
		})
		done := make(chan error, 1)
		go func() {
			_, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "task_service"})
			done <- err
		}()
		<-entered
		other := s.start("start_none", nil)
		b, err := s.ReadEvents(s.ctx, &engine.ReadEventsParams{InstanceID: other.ID})
		if err != nil || len(b.Events) == 0 {
			t.Fatalf("while a handler ran, the other instance's events: %v %v", b, err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		inst := s.instances("task_service")[0]
		s.wantEnded(inst, engine.InstanceCompleted)
	})
}

// TestHandlersRunAgainWhenTheirCommandLosesARace changes an instance while
// a handler of a command on it runs: the command's commit fails its
// revision check, and the command runs again from the new state, handler
// included: handlers are called at least once.
func TestHandlersRunAgainWhenTheirCommandLosesARace(t *testing.T) {
	t.Parallel()
	forEachKindAtOnce(t, nil, func(t *testing.T, w *world) {
		s := w.scenario(t)
		s.deploy("outbox-late-commit.bpmn")
		var calls atomic.Int32
		entered, release := make(chan struct{}), make(chan struct{})
		s.RegisterHandler("slow", func(_ context.Context, task *engine.ServiceTask) error {
			if calls.Add(1) == 1 {
				close(entered)
				<-release
			}
			note, _ := task.Variable("note")
			task.Set("seen", note)
			return nil
		})
		inst := s.start("outbox_late_commit", nil)
		task := s.task(inst, "approve")
		done := make(chan error, 1)
		go func() {
			_, err := s.CompleteTask(s.ctx, task.Ref(), nil)
			done <- err
		}()
		<-entered
		if err := s.ModifyVariables(s.ctx, inst.Ref(), &engine.ModifyVariablesParams{Set: map[string]any{"note": "changed"}}); err != nil {
			t.Fatal(err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := calls.Load(); n != 2 {
			t.Fatalf("the handler ran %d times, want 2: once on the old state, once on the new", n)
		}
		s.wantEnded(inst, engine.InstanceCompleted)
		vars, err := s.Variables(s.ctx, inst.Ref())
		if err != nil || vars["seen"].V != "changed" {
			t.Fatalf("variables %v %v: the committed run must be the one that saw the change", vars, err)
		}
	})
}

// TestHandlersOfParallelBranchesRunAtOnce serves two parallel branches of
// one command with handlers that each wait for the other to have started:
// the command completes only if they run concurrently.
func TestHandlersOfParallelBranchesRunAtOnce(t *testing.T) {
	t.Parallel()
	forEachKindAtOnce(t, nil, func(t *testing.T, w *world) {
		s := w.scenario(t)
		s.deploy("parallel-handlers.bpmn")
		left, right := make(chan struct{}), make(chan struct{})
		meet := func(mine, other chan struct{}, name string) engine.Handler {
			return func(ctx context.Context, task *engine.ServiceTask) error {
				close(mine)
				select {
				case <-other:
				case <-ctx.Done():
					return fmt.Errorf("%s: the other branch's handler never started: %w", name, ctx.Err())
				}
				task.Set(name, true)
				return nil
			}
		}
		s.RegisterHandler("left", meet(left, right, "left"))
		s.RegisterHandler("right", meet(right, left, "right"))
		inst := s.start("parallel_handlers", nil)
		s.wantEnded(inst, engine.InstanceCompleted)
		s.wantPath(inst, "start", "fork", "left", "right", "join", "end")
		vars, err := s.Variables(s.ctx, inst.Ref())
		if err != nil || vars["left"].V != true || vars["right"].V != true {
			t.Fatalf("variables %v %v", vars, err)
		}
	})
}
