package engine_test

import (
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/engine"
)

// TestGateways covers exclusive, parallel, inclusive and event-based
// gateways.
func TestGateways(t *testing.T) {
	exclusive := func(amount int, branch string) func(s *sc) {
		return func(s *sc) {
			s.deploy("gateway-exclusive.bpmn")
			inst := s.start("gateway_exclusive", map[string]any{"amount": amount})
			s.wantPath(inst, "start", "amount", branch, "merge", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
		}
	}
	inclusive := func(vars map[string]any, branches ...string) func(s *sc) {
		return func(s *sc) {
			s.deploy("gateway-inclusive.bpmn")
			inst := s.start("gateway_inclusive", vars)
			s.wantTasks(inst, branches...)
			// Complete the branches one by one: the join fires only with
			// the last of the tokens that were forked.
			for i, b := range branches {
				s.wantUnfinished(inst, branches[i:]...)
				s.complete(inst, b, nil)
			}
			s.wantPath(inst, append(append([]string{"start", "fork"}, branches...), "join", "end")...)
			s.wantEnded(inst, engine.InstanceCompleted)
			if n, _ := s.CountActivities(s.ctx, &engine.ActivityQuery{InstanceID: inst.ID, ElementID: "join"}); n != 1 {
				s.t.Fatalf("the join fired %d times", n)
			}
		}
	}
	runScenarios(t, []scenario{
		{"exclusive: first true condition", exclusive(5000, "large")},
		{"exclusive: second condition", exclusive(500, "medium")},
		{"exclusive: default flow", exclusive(50, "small")},
		{"exclusive: a condition on a missing variable fails the start", func(s *sc) {
			s.deploy("gateway-exclusive.bpmn")
			_, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "gateway_exclusive"})
			wantErr(s.t, err, engine.ErrInvalid, "a condition on a missing variable")
			if !contains(err.Error(), "amount", "toLarge") {
				s.t.Fatalf("the error does not name the variable and the flow: %v", err)
			}
		}},

		{"parallel fork and join", func(s *sc) {
			s.deploy("gateway-parallel.bpmn")
			inst := s.start("gateway_parallel", nil)
			s.wantTasks(inst, "a", "b")
			s.wantOpen(inst, open{Tasks: 2, Executions: 3})
			s.complete(inst, "b", nil)
			s.wantUnfinished(inst, "a")
			s.wantOpen(inst, open{Tasks: 1, Executions: 3}) // one token waits at the join
			s.complete(inst, "a", nil)
			s.wantPath(inst, "start", "fork", "a", "b", "join", "end")
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"inclusive: both conditions hold", inclusive(map[string]any{"insured": true, "gift": true}, "insure", "gift")},
		{"inclusive: a branch not taken", inclusive(map[string]any{"insured": false, "gift": true}, "gift")},
		{"inclusive: no condition holds, the default flow", inclusive(map[string]any{"insured": false, "gift": false}, "plain")},

		{"inclusive join stops waiting for a token that turned away", func(s *sc) {
			s.deploy("gateway-inclusive-waits.bpmn")
			inst := s.start("gateway_inclusive_waits", nil)
			s.wantTasks(inst, "pack", "check")
			s.complete(inst, "pack", nil)
			// The check token can still reach the join: it waits.
			s.wantTasks(inst, "check")
			s.complete(inst, "check", map[string]any{"problem": true})
			// The check token went to the escalation and can no longer
			// reach the join, so the join fires with the packed token.
			s.wantPath(inst, "start", "fork", "pack", "check", "ok", "escalate", "join", "ship")
			s.wantTasks(inst, "escalate", "ship")
			s.complete(inst, "ship", nil)
			s.complete(inst, "escalate", nil)
			s.wantEnded(inst, engine.InstanceCompleted)
		}},

		{"inclusive join waits for a token that can still arrive", func(s *sc) {
			s.deploy("gateway-inclusive-waits.bpmn")
			inst := s.start("gateway_inclusive_waits", nil)
			s.complete(inst, "check", map[string]any{"problem": false})
			s.wantTasks(inst, "pack")
			s.complete(inst, "pack", nil)
			s.wantPath(inst, "start", "fork", "pack", "check", "ok", "join", "ship")
			s.wantTasks(inst, "ship")
			s.complete(inst, "ship", nil)
			s.wantEnded(inst, engine.InstanceCompleted)
			if n, _ := s.CountActivities(s.ctx, &engine.ActivityQuery{InstanceID: inst.ID, ElementID: "join"}); n != 1 {
				s.t.Fatalf("the join fired %d times", n)
			}
		}},

		{"event-based gateway: the message comes first", func(s *sc) {
			s.deploy("gateway-event-based.bpmn")
			inst := s.startBK("gateway_event_based", "q-1", nil)
			s.wantUnfinished(inst, "race")
			s.wantOpen(inst, open{Jobs: 1, Subscriptions: 1, Executions: 2})
			s.advance(23 * time.Hour)
			s.correlate(&engine.CorrelateParams{MessageName: "Answer", BusinessKey: "q-1", Variables: map[string]any{"answer": "yes"}})
			s.wantPath(inst, "start", "race", "answer", "answered")
			s.wantEnded(inst, engine.InstanceCompleted)
			s.wantVars(inst, map[string]any{"answer": "yes"})
			if n := s.advance(2 * time.Hour); n != 0 {
				s.t.Fatalf("the losing timer ran (%d jobs)", n)
			}
		}},

		{"event-based gateway: the timer comes first", func(s *sc) {
			s.deploy("gateway-event-based.bpmn")
			inst := s.startBK("gateway_event_based", "q-1", nil)
			if n := s.advance(24 * time.Hour); n != 1 {
				s.t.Fatalf("%d jobs ran after a day, want 1", n)
			}
			s.wantPath(inst, "start", "race", "timeout", "timedOut")
			s.wantEnded(inst, engine.InstanceCompleted)
			_, err := s.CorrelateMessage(s.ctx, &engine.CorrelateParams{MessageName: "Answer", BusinessKey: "q-1"})
			wantErr(s.t, err, engine.ErrNoCorrelation, "a message after the timer won")
		}},
	})
}
