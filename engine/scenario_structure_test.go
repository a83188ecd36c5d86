package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/engine"
)

// TestStructure covers embedded sub-processes, call activities,
// multi-instance activities and asynchronous continuations.
func TestStructure(t *testing.T) {
	runScenarios(t, []scenario{
		{"embedded sub-process with local input and output", func(s *sc) {
			s.deploy("subprocess.bpmn")
			inst := s.start("subprocess", map[string]any{"amount": 80})
			task := s.task(inst, "inner")
			if task.Assignee != "senior" {
				s.t.Fatalf("assignee %q: the sub-process's local limit was not visible", task.Assignee)
			}
			s.wantUnfinished(inst, "sub", "inner")
			// The input parameter is local to the sub-process.
			s.wantNoVar(inst, "limit")
			acts, _ := s.Activities(s.ctx, &engine.ActivityQuery{InstanceID: inst.ID, Page: engine.Page{SortBy: "StartedAt"}})
			if acts[2].ElementID != "subStart" || acts[2].ParentID != acts[1].ID || acts[1].ElementID != "sub" {
				s.t.Fatalf("the sub-process's children are not its activity instance's children: %+v %+v", acts[1], acts[2])
			}
			s.complete(inst, "inner", nil)
			s.wantPath(inst, "start", "sub", "subStart", "inner", "subEnd", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantVars(inst, map[string]any{"checkedLimit": 160, "amount": 80})
			s.wantNoVar(inst, "limit")
		}},

		{"call activity passes variables both ways and calls the latest version", func(s *sc) {
			s.deploy("call-child-v1.bpmn")
			s.deploy("call-parent.bpmn")
			s.deploy("call-child-v2.bpmn")
			parent := s.start("call_parent", map[string]any{"orderId": "A-1", "amount": 21, "secret": "parent only"})
			s.wantUnfinished(parent, "call")
			children, err := s.Instances(s.ctx, &engine.InstanceQuery{SuperInstanceID: parent.ID})
			if err != nil || len(children) != 1 {
				s.t.Fatalf("called instances %+v %v", children, err)
			}
			child := children[0]
			def, err := s.Definition(s.ctx, engine.IDRef(child.DefinitionID), "")
			if err != nil || def.Version != 2 || child.BusinessKey != "A-1" {
				s.t.Fatalf("called %+v (definition %+v %v), want version 2 with the business key", child, def, err)
			}
			acts, _ := s.Activities(s.ctx, &engine.ActivityQuery{InstanceID: parent.ID, ElementID: "call"})
			if len(acts) != 1 || acts[0].CalledInstanceID != child.ID {
				s.t.Fatalf("call activity instance %+v", acts)
			}
			// In: only the mapped variables, renamed and computed.
			s.wantVars(child, map[string]any{"id": "A-1", "doubled": 42})
			s.wantNoVar(child, "orderId", "amount", "secret")
			s.wantPath(child, "childStart", "childTask")

			s.complete(child, "childTask", map[string]any{"result": "approved", "childOnly": true})
			s.wantPath(child, "childStart", "childTask", "compute", "childEnd")
			s.wantEnded(child, engine.InstanceCompleted)
			// Out: only the mapped variables come back.
			s.wantPath(parent, "start", "call", "after")
			s.wantVars(parent, map[string]any{"childResult": "approved", "childVersion": 2})
			s.wantNoVar(parent, "result", "childOnly", "version")
			s.complete(parent, "after", nil)
			s.wantEnded(parent, engine.InstanceCompleted)
		}},

		{"deleting the caller terminates the called instance", func(s *sc) {
			s.deploy("call-child-v1.bpmn", "call-parent.bpmn")
			parent := s.start("call_parent", map[string]any{"orderId": "A-1", "amount": 1})
			children, _ := s.Instances(s.ctx, &engine.InstanceQuery{SuperInstanceID: parent.ID})
			if err := s.DeleteInstance(s.ctx, parent.Ref(), "order withdrawn"); err != nil {
				s.t.Fatal(err)
			}
			got := s.wantEnded(parent, engine.InstanceTerminated)
			if got.DeleteReason != "order withdrawn" {
				s.t.Fatalf("delete reason %q", got.DeleteReason)
			}
			s.wantEnded(children[0], engine.InstanceTerminated)
			s.wantCanceled(parent, "call")
			s.wantCanceled(children[0], "childTask")
		}},

		{"parallel multi-instance with a completion condition", func(s *sc) {
			s.deploy("mi-parallel-completion.bpmn")
			inst := s.start("mi_parallel", map[string]any{"reviewers": 3})
			tasks := s.wantTasks(inst, "vote", "vote", "vote")
			for i, task := range tasks {
				if want := "reviewer" + string(rune('0'+i)); task.Assignee != want {
					s.t.Fatalf("task %d assignee %q, want %q", i, task.Assignee, want)
				}
			}
			s.wantOpen(inst, open{Tasks: 3, Executions: 5})
			if _, err := s.CompleteTask(s.ctx, tasks[2].Ref(), &engine.CompleteTaskParams{Variables: map[string]any{"votes": 1}}); err != nil {
				s.t.Fatal(err)
			}
			s.wantTasks(inst, "vote", "vote")
			if _, err := s.CompleteTask(s.ctx, tasks[0].Ref(), &engine.CompleteTaskParams{Variables: map[string]any{"votes": 2}}); err != nil {
				s.t.Fatal(err)
			}
			// Two of three completed: the third instance is cancelled and
			// the token moves on.
			s.wantTasks(inst, "tally")
			s.wantPath(inst, "start", "vote#multiInstanceBody", "vote", "vote", "vote", "tally")
			s.wantCanceled(inst, "vote")
			left, _ := s.Task(s.ctx, tasks[1].Ref())
			if left.State != engine.TaskDeleted {
				s.t.Fatalf("the third vote is %s", left.State)
			}
			s.wantNoVar(inst, "nrOfInstances", "nrOfCompletedInstances", "nrOfActiveInstances", "loopCounter")
			s.wantVars(inst, map[string]any{"votes": 2})
			s.wantOpen(inst, open{Tasks: 1, Executions: 2})
			s.complete(inst, "tally", nil)
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"parallel multi-instance with cardinality 0 passes through", func(s *sc) {
			s.deploy("mi-parallel-completion.bpmn")
			inst := s.start("mi_parallel", map[string]any{"reviewers": 0})
			s.wantPath(inst, "start", "vote#multiInstanceBody", "tally")
			s.wantTasks(inst, "tally")
		}},

		{"sequential multi-instance over a collection", func(s *sc) {
			s.deploy("mi-sequential-collection.bpmn")
			inst := s.start("mi_sequential", map[string]any{"approvers": []string{"ann", "bob", "carl"}, "rejected": false})
			for _, who := range []string{"ann", "bob", "carl"} {
				task := s.task(inst, "approve")
				if task.Assignee != who {
					s.t.Fatalf("assignee %q, want %q", task.Assignee, who)
				}
				s.wantOpen(inst, open{Tasks: 1, Executions: 3})
				s.complete(inst, "approve", nil)
			}
			s.wantPath(inst, "start", "approve#multiInstanceBody", "approve", "approve", "approve", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantNoVar(inst, "approver")
		}},

		{"sequential multi-instance ended early by its completion condition", func(s *sc) {
			s.deploy("mi-sequential-collection.bpmn")
			inst := s.start("mi_sequential", map[string]any{"approvers": []string{"ann", "bob", "carl"}, "rejected": false})
			s.complete(inst, "approve", nil)
			s.complete(inst, "approve", map[string]any{"rejected": true})
			s.wantPath(inst, "start", "approve#multiInstanceBody", "approve", "approve", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"parallel multi-instance sub-process over a collection expression", func(s *sc) {
			s.deploy("mi-subprocess.bpmn")
			order := map[string]any{"lines": []map[string]any{{"sku": "apple", "qty": 2, "price": 0.5}, {"sku": "pear", "qty": 3, "price": 2}}}
			inst := s.start("mi_subprocess", map[string]any{"order": order})
			tasks := s.wantTasks(inst, "pick", "pick")
			if tasks[0].Assignee != "apple" || tasks[1].Assignee != "pear" {
				s.t.Fatalf("assignees %q %q", tasks[0].Assignee, tasks[1].Assignee)
			}
			s.wantUnfinished(inst, "lines#multiInstanceBody", "lines", "lines", "pick", "pick")
			for _, task := range tasks {
				if _, err := s.CompleteTask(s.ctx, task.Ref(), nil); err != nil {
					s.t.Fatal(err)
				}
			}
			s.wantPath(inst, "start", "lines#multiInstanceBody", "lines", "lines", "lineStart", "lineStart", "price", "price", "pick", "pick",
				"lineEnd", "lineEnd", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
			ups, _ := s.VariableUpdates(s.ctx, inst.Ref())
			var totals []any
			for _, u := range ups {
				if u.Name == "lineTotal" {
					totals = append(totals, u.Value.V)
				}
			}
			if len(totals) != 2 || totals[0] != 1.0 || totals[1] != 6.0 {
				s.t.Fatalf("line totals %v", totals)
			}
		}},

		{"sequential multi-instance sub-process with a cardinality", func(s *sc) {
			s.deploy("mi-sequential-subprocess.bpmn")
			inst := s.start("mi_sequential_sub", nil)
			for i := 0; i < 3; i++ {
				task := s.task(inst, "play")
				if want := fmt.Sprint("round", i); task.Assignee != want {
					s.t.Fatalf("assignee %q, want %q", task.Assignee, want)
				}
				s.wantUnfinished(inst, "rounds#multiInstanceBody", "rounds", "play")
				s.complete(inst, "play", nil)
			}
			s.wantPath(inst, "start", "rounds#multiInstanceBody",
				"rounds", "roundStart", "play", "roundEnd",
				"rounds", "roundStart", "play", "roundEnd",
				"rounds", "roundStart", "play", "roundEnd", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"interrupting timer on a multi-instance task", func(s *sc) {
			s.deploy("mi-boundary-timer.bpmn")
			inst := s.start("mi_boundary_timer", map[string]any{"signers": []string{"ann", "bob", "carl"}})
			tasks := s.wantTasks(inst, "sign", "sign", "sign")
			if _, err := s.CompleteTask(s.ctx, tasks[1].Ref(), nil); err != nil {
				s.t.Fatal(err)
			}
			s.wantOpen(inst, open{Tasks: 2, Jobs: 1, Executions: 4})
			if n := s.advance(24 * time.Hour); n != 1 {
				s.t.Fatalf("%d jobs ran", n)
			}
			s.wantPath(inst, "start", "sign#multiInstanceBody", "sign", "sign", "sign", "deadline", "remind")
			s.wantCanceled(inst, "sign#multiInstanceBody", "sign", "sign")
			s.wantTasks(inst, "remind")
			s.wantOpen(inst, open{Tasks: 1, Executions: 2})
			s.complete(inst, "remind", nil)
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantNoVar(inst, "nrOfInstances", "nrOfCompletedInstances", "signer")
		}},

		{"asynchronous continuations before and after", func(s *sc) {
			s.deploy("async.bpmn")
			ran := 0
			s.RegisterHandler("enrich", func(_ context.Context, task *engine.ServiceTask) error {
				ran++
				task.Set("enriched", true)
				return nil
			})
			inst := s.start("async", nil)
			// The start commits before the handler runs: the token waits
			// for the asyncBefore job.
			if ran != 0 {
				s.t.Fatal("the handler ran inside the start")
			}
			s.wantPath(inst, "start")
			jobs := s.jobs(&engine.JobQuery{InstanceID: inst.ID})
			if len(jobs) != 1 || jobs[0].Kind != engine.JobAsyncBefore || jobs[0].ElementID != "enrich" {
				s.t.Fatalf("jobs %+v", jobs)
			}
			s.wantOpen(inst, open{Jobs: 1, Executions: 2})
			if r := s.ExecuteJobs(s.ctx, "node", jobs, s.clock.Now()); !errors.Is(r[0].Err, engine.ErrLockLost) {
				s.t.Fatalf("a job the caller did not acquire ran: %+v", r)
			}
			// Run just this job, as the executor would.
			acquired, err := s.AcquireJobs(s.ctx, &engine.AcquireJobsParams{Owner: "node", Now: s.clock.Now(), LockFor: time.Minute, Max: 1})
			if err != nil || len(acquired) != 1 || acquired[0].ID != jobs[0].ID {
				s.t.Fatalf("acquired %+v %v", acquired, err)
			}
			if r := s.ExecuteJobs(s.ctx, "node", acquired, s.clock.Now()); r[0].Err != nil || ran != 1 {
				s.t.Fatalf("job result %+v, handler ran %d times", r, ran)
			}
			// Now it waits after mark, for the asyncAfter job.
			s.wantPath(inst, "start", "enrich", "mark")
			jobs = s.jobs(&engine.JobQuery{InstanceID: inst.ID})
			if len(jobs) != 1 || jobs[0].Kind != engine.JobAsyncAfter || jobs[0].ElementID != "mark" {
				s.t.Fatalf("jobs %+v", jobs)
			}
			s.wantUnfinished(inst)
			if n := s.advance(0); n != 1 {
				s.t.Fatalf("%d jobs ran", n)
			}
			s.wantPath(inst, "start", "enrich", "mark", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantVars(inst, map[string]any{"enriched": true})
		}},
	})
}
