package engine_test

import (
	"testing"

	"github.com/tenantflow/tenantflow/engine"
)

// TestMessageCorrelation covers how a message finds its target: by name,
// business key, correlation keys and instance; none or several matches are
// errors unless every match is asked for.
func TestMessageCorrelation(t *testing.T) {
	runScenarios(t, []scenario{
		{"by name, business key, correlation keys and instance", func(s *sc) {
			s.deploy("catch-message.bpmn")
			a1 := s.startBK("catch_message", "order-a", map[string]any{"customer": "c1", "region": "eu"})
			a2 := s.startBK("catch_message", "order-a", map[string]any{"customer": "c2", "region": "eu"})
			b := s.startBK("catch_message", "order-b", map[string]any{"customer": "c1", "region": "us"})

			_, err := s.CorrelateMessage(s.ctx, &engine.CorrelateParams{MessageName: "PaymentReceived"})
			wantErr(s.t, err, engine.ErrAmbiguousCorrelation, "by name alone, three waiting")
			_, err = s.CorrelateMessage(s.ctx, &engine.CorrelateParams{MessageName: "PaymentReceived", BusinessKey: "order-a"})
			wantErr(s.t, err, engine.ErrAmbiguousCorrelation, "by a business key two share")
			_, err = s.CorrelateMessage(s.ctx, &engine.CorrelateParams{MessageName: "PaymentReceived", BusinessKey: "order-b", CorrelationKeys: map[string]any{"region": "eu"}})
			wantErr(s.t, err, engine.ErrNoCorrelation, "business key and a key that contradict")
			_, err = s.CorrelateMessage(s.ctx, &engine.CorrelateParams{MessageName: "NoSuchMessage"})
			wantErr(s.t, err, engine.ErrNoCorrelation, "a message nobody waits for")
			for _, i := range []*engine.ProcessInstance{a1, a2, b} {
				s.wantUnfinished(i, "paid") // failed correlations changed nothing
			}

			res := s.correlate(&engine.CorrelateParams{MessageName: "PaymentReceived", BusinessKey: "order-a", CorrelationKeys: map[string]any{"customer": "c2"}})
			if len(res) != 1 || res[0].Instance.ID != a2.ID {
				s.t.Fatalf("business key and key: %+v", res)
			}
			s.wantEnded(a2, engine.InstanceCompleted)

			res = s.correlate(&engine.CorrelateParams{MessageName: "PaymentReceived", CorrelationKeys: map[string]any{"customer": "c1", "region": "us"}})
			if len(res) != 1 || res[0].Instance.ID != b.ID {
				s.t.Fatalf("two keys: %+v", res)
			}
			s.wantEnded(b, engine.InstanceCompleted)

			res = s.correlate(&engine.CorrelateParams{MessageName: "PaymentReceived", Instance: a1.Ref()})
			if len(res) != 1 || res[0].Instance.ID != a1.ID {
				s.t.Fatalf("by instance: %+v", res)
			}
			s.wantPath(a1, "start", "paid", "end")
			s.wantEnded(a1, engine.InstanceCompleted)
			_, err = s.CorrelateMessage(s.ctx, &engine.CorrelateParams{MessageName: "PaymentReceived", Instance: a1.Ref()})
			wantErr(s.t, err, engine.ErrNoCorrelation, "an instance that no longer waits")
		}},

		{"all matches", func(s *sc) {
			s.deploy("catch-message.bpmn")
			var insts []*engine.ProcessInstance
			for i := 0; i < 3; i++ {
				insts = append(insts, s.startBK("catch_message", "batch", nil))
			}
			other := s.startBK("catch_message", "other", nil)
			res := s.correlate(&engine.CorrelateParams{MessageName: "PaymentReceived", BusinessKey: "batch", All: true, Variables: map[string]any{"batch": true}})
			if len(res) != 3 {
				s.t.Fatalf("%d results, want 3", len(res))
			}
			for _, i := range insts {
				s.wantEnded(i, engine.InstanceCompleted)
				s.wantVars(i, map[string]any{"batch": true})
			}
			s.wantUnfinished(other, "paid")
		}},

		{"integer keys match stored integers of any width", func(s *sc) {
			s.deploy("task-receive.bpmn")
			inst := s.start("task_receive", map[string]any{"orderId": int64(1) << 40})
			res := s.correlate(&engine.CorrelateParams{MessageName: "Delivered", CorrelationKeys: map[string]any{"orderId": int64(1) << 40}})
			if len(res) != 1 || res[0].Instance.ID != inst.ID {
				s.t.Fatalf("%+v", res)
			}
			s.wantEnded(inst, engine.InstanceCompleted)
		}},
	})
}
