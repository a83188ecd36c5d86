package enginetest_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/engine/enginetest"
)

const orderXML = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://example.com">
  <bpmn:message id="m" name="paid"/>
  <bpmn:process id="order" isExecutable="true">
    <bpmn:startEvent id="received"/>
    <bpmn:sequenceFlow id="f1" sourceRef="received" targetRef="checkStock"/>
    <bpmn:serviceTask id="checkStock" camunda:type="external" camunda:topic="check-stock"/>
    <bpmn:sequenceFlow id="f2" sourceRef="checkStock" targetRef="approve"/>
    <bpmn:userTask id="approve"/>
    <bpmn:sequenceFlow id="f3" sourceRef="approve" targetRef="payment"/>
    <bpmn:intermediateCatchEvent id="payment"><bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f4" sourceRef="payment" targetRef="cooling"/>
    <bpmn:intermediateCatchEvent id="cooling">
      <bpmn:timerEventDefinition><bpmn:timeDuration>P14D</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f5" sourceRef="cooling" targetRef="ship"/>
    <bpmn:serviceTask id="ship" camunda:type="external" camunda:topic="ship"/>
    <bpmn:sequenceFlow id="f6" sourceRef="ship" targetRef="shipped"/>
    <bpmn:endEvent id="shipped"/>
  </bpmn:process>
</bpmn:definitions>`

func checkStock(_ context.Context, t *engine.ServiceTask) error {
	item, _ := t.Variable("item")
	t.Set("inStock", item == "book")
	return nil
}

// The helpers drive a process through every kind of wait state, on both
// storages, without the test touching tenants or clocks.
func TestHelpersDriveAProcessToItsEnd(t *testing.T) {
	enginetest.ForEachStorage(t, &enginetest.Options{Handlers: map[string]engine.Handler{"check-stock": checkStock}},
		func(t *testing.T, h *enginetest.Harness) {
			def := h.Deploy(t, orderXML)
			if def.Key != "order" || def.Tenant != h.Tenant {
				t.Fatalf("definition %+v", def)
			}
			inst := h.Start(t, "order", map[string]any{"item": "book"})
			h.AssertWaitingAt(t, inst, "approve")
			h.AssertVariable(t, inst, "inStock", true)

			h.CompleteTask(t, inst, "approve", map[string]any{"approved": true})
			h.AssertWaitingAt(t, inst, "payment")
			h.Correlate(t, "paid", "", map[string]any{"amount": 12.5})
			h.AssertWaitingAt(t, inst, "cooling")

			if n := h.Advance(t, 13*24*time.Hour); n != 0 {
				t.Fatalf("%d jobs ran after 13 days", n)
			}
			if n := h.RunDueJobs(t, enginetest.Epoch.Add(14*24*time.Hour)); n != 1 {
				t.Fatalf("%d jobs ran after 14 days, want the timer", n)
			}
			if !h.Clock.Now().Equal(enginetest.Epoch.Add(14 * 24 * time.Hour)) {
				t.Fatalf("clock at %s", h.Clock.Now())
			}
			h.AssertWaitingAt(t, inst, "ship")
			h.CompleteExternal(t, inst, "ship", map[string]any{"tracking": "T-1"})

			h.AssertPath(t, inst, "received", "checkStock", "approve", "payment", "cooling", "ship", "shipped")
			h.AssertEnded(t, inst)
			h.AssertVariable(t, inst, "tracking", "T-1")
			h.AssertVariable(t, inst, "amount", 12.5)
			if got := h.Reload(t, inst); got.EndActivityID != "shipped" {
				t.Fatalf("ended at %q", got.EndActivityID)
			}
		})
}

// Another tenant of the same storage sees nothing of the harness's tenant.
func TestOtherTenantIsSeparate(t *testing.T) {
	enginetest.ForEachStorage(t, &enginetest.Options{Tenant: "shop"}, func(t *testing.T, h *enginetest.Harness) {
		otherTenantIsSeparate(t, h)
	})
}

func otherTenantIsSeparate(t *testing.T, h *enginetest.Harness) {
	h.Deploy(t, orderXML)
	other := h.OtherTenant(t, "rival")
	if _, err := h.StartInstance(other, &engine.StartParams{DefinitionKey: "order"}); err == nil {
		t.Fatal("the other tenant started a process only the harness's tenant deployed")
	}
	inst := h.Start(t, "order", map[string]any{"item": "pen"})
	if _, err := h.Instance(other, inst.Ref()); err == nil {
		t.Fatal("the other tenant read the harness tenant's instance")
	}
}

// fakeTB records what a helper reports instead of failing the real test.
// Fatal stops the helper's goroutine, as testing.T's does.
type fakeTB struct {
	testing.TB // the real test: Cleanup, TempDir, Name…
	mu         sync.Mutex
	msgs       []string
	failed     bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fail()   { f.mu.Lock(); f.failed = true; f.mu.Unlock() }
func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}
func (f *fakeTB) FailNow() { f.Fail(); runtime.Goexit() }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
	f.mu.Unlock()
	f.Fail()
}
func (f *fakeTB) Error(args ...any)                 { f.Errorf("%s", fmt.Sprint(args...)) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.Errorf(format, args...); f.FailNow() }
func (f *fakeTB) Fatal(args ...any)                 { f.Error(args...); f.FailNow() }

// failure runs fn against a fake testing.TB and returns what it reported;
// it fails the real test if fn passed.
func failure(t *testing.T, fn func(tb testing.TB)) string {
	t.Helper()
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	if !f.Failed() {
		t.Fatal("the helper passed; want it to fail")
	}
	return strings.Join(f.msgs, "\n")
}

func wantAll(t *testing.T, msg string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("message\n%s\ndoes not say %q", msg, p)
		}
	}
}

// A failing assertion says what was expected, and what the instance did:
// its state, where it waits, the path it took.
func TestFailingAssertionsSayWhatHappened(t *testing.T) {
	h := enginetest.New(t, &enginetest.Options{Handlers: map[string]engine.Handler{"check-stock": checkStock}})
	h.Deploy(t, orderXML)
	inst := h.Start(t, "order", map[string]any{"item": "book"})

	msg := failure(t, func(tb testing.TB) { h.AssertEnded(tb, inst) })
	wantAll(t, msg, "(order) is active, want it ended", "at [approve]", "received → checkStock → approve")

	msg = failure(t, func(tb testing.TB) { h.AssertPath(tb, inst, "received", "approve") })
	wantAll(t, msg, "took the path", "received → checkStock → approve", "want\n\treceived → approve",
		`element 2 is "checkStock", want "approve"`)

	msg = failure(t, func(tb testing.TB) { h.AssertPath(tb, inst, "received", "checkStock", "approve", "payment") })
	wantAll(t, msg, `it stopped after 3 elements, before "payment"`)

	msg = failure(t, func(tb testing.TB) { h.AssertWaitingAt(tb, inst, "payment") })
	wantAll(t, msg, "is active waiting at [approve], want active waiting at [payment]")

	msg = failure(t, func(tb testing.TB) { h.CompleteTask(tb, inst, "ship", nil) })
	wantAll(t, msg, `has 0 open tasks at "ship", want 1`, "it is active at [approve]")

	msg = failure(t, func(tb testing.TB) { h.AssertVariable(tb, inst, "inStock", "yes") })
	wantAll(t, msg, `variable "inStock"`, "is true (Boolean), want yes (String)")

	msg = failure(t, func(tb testing.TB) { h.AssertVariable(tb, inst, "colour", "red") })
	wantAll(t, msg, `has no variable "colour"; it has inStock, item`)

	msg = failure(t, func(tb testing.TB) { h.CompleteExternal(tb, inst, "ship", nil) })
	wantAll(t, msg, `no external task on topic "ship"`)

	msg = failure(t, func(tb testing.TB) { h.Start(tb, "missing", nil) })
	wantAll(t, msg, `start "missing"`, "not found")

	msg = failure(t, func(tb testing.TB) { h.Deploy(tb, `<definitions/>`) })
	wantAll(t, msg, "deploy")
}
