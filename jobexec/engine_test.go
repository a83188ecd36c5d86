package jobexec

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/datasource/tenantsched"
	"github.com/tenantflow/tenantflow/engine"
)

// The tests in this file run the executor with the real engine, on
// PostgreSQL and on SQLite: acquisition, execution, failure and the
// signals are the engine's own, not the fake's.

// newEngineRig is a rig whose executor drives a real engine over kind's
// storage.
func newEngineRig(t testing.TB, kind dstest.Kind, cfg Config) (*rig, *engine.Engine) {
	t.Helper()
	env := dstest.Open(t, kind, nil)
	eng, err := engine.New(env.Sources, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, env: env, clock: env.Clock, changes: make(chan struct{}, 1)}
	cfg.Engine = eng
	r.x, r.dir = r.executor(cfg)
	return r, eng
}

func deployProcess(t testing.TB, eng *engine.Engine, ctx context.Context, key, body string) {
	t.Helper()
	xml := `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d">
  <bpmn:process id="` + key + `" isExecutable="true">` + body + `</bpmn:process>
</bpmn:definitions>`
	if _, err := eng.Deploy(ctx, &engine.DeployParams{Resources: []engine.Resource{{Name: key + ".bpmn", Content: []byte(xml)}}}); err != nil {
		t.Fatal(err)
	}
}

const timerProcess = `
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
    <bpmn:endEvent id="end"/>`

const asyncProcess = `
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:serviceTask id="work" camunda:asyncBefore="true" camunda:type="external" camunda:topic="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <bpmn:endEvent id="end"/>`

func startInstance(t testing.TB, eng *engine.Engine, ctx context.Context, key string) int64 {
	t.Helper()
	inst, err := eng.StartInstance(ctx, &engine.StartParams{DefinitionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return inst.ID
}

func instanceState(t *testing.T, eng *engine.Engine, ctx context.Context, id int64) engine.InstanceState {
	t.Helper()
	p, err := eng.Instance(ctx, engine.IDRef(id))
	if err != nil {
		t.Fatal(err)
	}
	return p.State
}

func TestWithTheEngineATimerFiresAtItsDueTimeAndNotBefore(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		r, eng := newEngineRig(t, kind, Config{DisableMaintenance: true})
		ctx := r.env.Tenant(t, "acme")
		deployProcess(t, eng, ctx, "timer", timerProcess)
		r.start(nil)
		id := startInstance(t, eng, ctx, "timer")
		due := r.clock.Now().Add(time.Hour)
		r.waitFor("the executor knows the timer's due time", func() bool {
			st := r.x.tenants.Tenant("acme")
			return st.Place == tenantsched.Scheduled && !st.Due.After(due) && st.Due.After(due.Add(-time.Second))
		})
		r.run(time.Hour-time.Second, 10*time.Minute)
		if got := instanceState(t, eng, ctx, id); got != engine.InstanceActive {
			t.Fatalf("the instance is %s a second before its timer was due", got)
		}
		if b := r.x.Batches(); len(b) != 0 {
			t.Fatalf("batches before the due time: %+v", b)
		}
		r.step(time.Second)
		r.waitFor("the timer fired", func() bool { return instanceState(t, eng, ctx, id) == engine.InstanceCompleted })
		if b := r.x.Batches(); len(b) != 1 || b[0].Tenant != "acme" || b[0].Size != 1 {
			t.Fatalf("batch log %+v", b)
		}
	})
}

func TestWithTheEngineAQuietTenantsTimerRunsBeforeANoisyTenantsBacklog(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		r, eng := newEngineRig(t, kind, Config{DisableMaintenance: true, Workers: 2, BatchSize: 100})
		noisy, quiet := r.env.Tenant(t, "noisy"), r.env.Tenant(t, "quiet")
		deployProcess(t, eng, quiet, "timer", timerProcess)
		id := startInstance(t, eng, quiet, "timer")
		// 50,000 due jobs in the noisy tenant, written straight into its
		// storage (their executions do not exist: each runs as a no-op).
		insertNoisyJobs(t, r.env, noisy, r.clock.Now().Add(-time.Minute), 50_000)
		r.clock.Advance(time.Hour)
		r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "noisy", DueAt: r.clock.Now().Add(-time.Hour)})
		r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "quiet", DueAt: r.clock.Now()})
		r.start(nil)
		r.waitFor("the quiet tenant's timer fired", func() bool { return instanceState(t, eng, quiet, id) == engine.InstanceCompleted })
		batches := r.x.Batches()
		pos := -1
		for i, b := range batches {
			if b.Tenant == "quiet" {
				pos = i
				break
			}
		}
		if pos < 0 || pos > 1 {
			t.Fatalf("the quiet tenant's batch is #%d of %+v", pos+1, batches[:min(len(batches), 5)])
		}
	})
}

// insertNoisyJobs writes n async jobs due at due into a tenant's storage.
func insertNoisyJobs(t testing.TB, env *dstest.Env, ctx context.Context, due time.Time, n int) {
	t.Helper()
	err := env.Sources.Tenants.InTx(ctx, func(tx *datasource.Tx) error {
		q := `INSERT INTO tf_job (id, kind, instance_id, execution_id, definition_id, def_key, element_id, due_at, retries, created_at, revision)
			SELECT 1000000 + g, 'async-before', 0, 0, 1, 'noise', 'noise', $1, 3, $1, 1 FROM generate_series(1, $2) AS g`
		if tx.Dialect() == datasource.SQLite {
			q = `WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < $2)
			INSERT INTO tf_job (id, kind, instance_id, execution_id, definition_id, def_key, element_id, due_at, retries, created_at, revision)
			SELECT 1000000 + x, 'async-before', 0, 0, 1, 'noise', 'noise', $1, 3, $1, 1 FROM g`
		}
		_, err := tx.Exec(q, due.UnixMilli(), n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWithTheEngineAPanickingHandlerIsARetryNotADeadNode(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		r, eng := newEngineRig(t, kind, Config{DisableMaintenance: true})
		ctx := r.env.Tenant(t, "acme")
		eng.RegisterHandler("work", func(context.Context, *engine.ServiceTask) error { panic("boom") })
		deployProcess(t, eng, ctx, "async", asyncProcess)
		r.start(nil)
		startInstance(t, eng, ctx, "async")
		retriesLeft := func() int {
			jobs, err := eng.Jobs(ctx, &engine.JobQuery{})
			if err != nil || len(jobs) != 1 {
				return -1
			}
			if !strings.Contains(jobs[0].ErrorMessage, "boom") {
				return -1
			}
			return jobs[0].Retries
		}
		r.waitFor("the job failed once with the panic's message", func() bool { return retriesLeft() == engine.DefaultJobRetries-1 })
		// The node lives on: after the engine's backoffs the job runs
		// again, until its retries are spent and an incident opens.
		r.run(10*time.Minute, time.Minute)
		r.waitFor("the retries are spent", func() bool { return retriesLeft() == 0 })
		if st := r.x.Stats(); st.Failed != engine.DefaultJobRetries || st.Incidents != 1 || st.Completed != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestWithTheEngineATenantCreatedAfterStartIsServed(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		r, eng := newEngineRig(t, kind, Config{DisableMaintenance: true})
		r.start(nil)
		ctx := r.env.Tenant(t, "late")
		eng.RegisterHandler("work", func(context.Context, *engine.ServiceTask) error { return nil })
		deployProcess(t, eng, ctx, "async", asyncProcess)
		id := startInstance(t, eng, ctx, "async")
		r.waitFor("the async continuation ran", func() bool { return instanceState(t, eng, ctx, id) == engine.InstanceCompleted })
	})
}
