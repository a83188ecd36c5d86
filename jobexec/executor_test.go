package jobexec

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// rig is an engine and an executor over a fresh datasource, on a fake
// clock.
type rig struct {
	env  *dstest.Env
	eng  *engine.Engine
	exec *Executor
	// commits receives a value after every commit that wrote events or
	// jobs, so tests wait on conditions instead of sleeping.
	commits chan struct{}
}

func newRig(t *testing.T, kind dstest.Kind, cfg Config) *rig {
	t.Helper()
	env := dstest.Open(t, kind, nil)
	eng, err := engine.New(env.Sources, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{env: env, eng: eng, commits: make(chan struct{}, 1)}
	poke := func(datasource.Signal) {
		select {
		case r.commits <- struct{}{}:
		default:
		}
	}
	env.Sources.Signals.Subscribe(datasource.TopicEvents, poke)
	env.Sources.Signals.Subscribe(datasource.TopicJobs, poke)
	cfg.Engine, cfg.Sources = eng, env.Sources
	if cfg.HintInterval == 0 {
		cfg.HintInterval = time.Hour // tests drive wake-ups through signals
	}
	x, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.exec = x
	return r
}

func (r *rig) start(t *testing.T) {
	t.Helper()
	if err := r.exec.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := r.exec.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
}

// waitUntil re-checks cond after every commit, up to a generous bound.
func (r *rig) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-r.commits:
		case <-deadline.C:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

func deploy(t *testing.T, eng *engine.Engine, ctx context.Context, key, body string) {
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

func instanceState(t *testing.T, eng *engine.Engine, ctx context.Context, id int64) engine.InstanceState {
	t.Helper()
	p, err := eng.Instance(ctx, engine.IDRef(id))
	if err != nil {
		t.Fatal(err)
	}
	return p.State
}

func TestTimerRunsWhenTheClockReachesItsDueTimeAndNotBefore(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		r := newRig(t, kind, Config{DisableMaintenance: true})
		ctx := r.env.Tenant(t, "acme")
		deploy(t, r.eng, ctx, "timer", timerProcess)
		r.start(t)
		inst, err := r.eng.StartInstance(ctx, &engine.StartParams{DefinitionKey: "timer"})
		if err != nil {
			t.Fatal(err)
		}
		due := r.env.Clock.Now().Add(time.Hour)
		// The executor learnt the due time from the engine's signal...
		r.waitUntil(t, "the tenant is queued at the timer's due time", func() bool {
			r.exec.mu.Lock()
			defer r.exec.mu.Unlock()
			st := r.exec.tenants["acme"]
			return st != nil && st.index >= 0 && st.due.Equal(due.Truncate(time.Millisecond))
		})
		// ...and does not poll before it: the instance still waits, and no
		// acquisition happened.
		if got := instanceState(t, r.eng, ctx, inst.ID); got != engine.InstanceActive {
			t.Fatalf("instance %s before the timer was due", got)
		}
		if len(r.exec.Batches()) != 0 {
			t.Fatalf("batches before the due time: %v", r.exec.Batches())
		}
		r.env.Clock.Advance(time.Hour)
		r.waitUntil(t, "the timer fired", func() bool { return instanceState(t, r.eng, ctx, inst.ID) == engine.InstanceCompleted })
		if b := r.exec.Batches(); len(b) != 1 || b[0].Tenant != "acme" || b[0].Size != 1 {
			t.Fatalf("batches %+v", b)
		}
	})
}

func TestQuietTenantIsServedInTheFirstBatchesDespiteANoisyOne(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		r := newRig(t, kind, Config{DisableMaintenance: true, Workers: 2, BatchSize: 100})
		noisy, quiet := r.env.Tenant(t, "noisy"), r.env.Tenant(t, "quiet")
		deploy(t, r.eng, quiet, "timer", timerProcess)
		inst, err := r.eng.StartInstance(quiet, &engine.StartParams{DefinitionKey: "timer"})
		if err != nil {
			t.Fatal(err)
		}
		// 50,000 due jobs in the noisy tenant, written straight into its
		// storage (their executions are gone, so each runs as a no-op).
		insertNoisyJobs(t, r, noisy, 50_000)
		r.env.Clock.Advance(time.Hour)
		r.exec.Schedule("noisy", r.env.Clock.Now().Add(-time.Minute)) // due first
		r.exec.Schedule("quiet", r.env.Clock.Now())
		r.start(t)
		r.waitUntil(t, "the quiet tenant's timer fired", func() bool { return instanceState(t, r.eng, quiet, inst.ID) == engine.InstanceCompleted })
		batches := r.exec.Batches()
		pos := -1
		for i, b := range batches {
			if b.Tenant == "quiet" {
				pos = i
				break
			}
		}
		if pos < 0 || pos > 1 {
			t.Fatalf("quiet tenant's batch is #%d of %+v", pos+1, batches[:min(len(batches), 5)])
		}
	})
}

// insertNoisyJobs writes n due async jobs into a tenant's storage.
func insertNoisyJobs(t *testing.T, r *rig, ctx context.Context, n int) {
	t.Helper()
	now := r.env.Clock.Now().UnixMilli()
	err := r.env.Sources.Tenants.InTx(ctx, func(tx *datasource.Tx) error {
		q := `INSERT INTO tf_job (id, kind, instance_id, execution_id, definition_id, def_key, element_id, due_at, retries, created_at, revision)
			SELECT 1000000 + g, 'async-before', 0, 0, 1, 'noise', 'noise', $1, 3, $1, 1 FROM generate_series(1, $2) AS g`
		if tx.Dialect() == datasource.SQLite {
			q = `WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < $2)
			INSERT INTO tf_job (id, kind, instance_id, execution_id, definition_id, def_key, element_id, due_at, retries, created_at, revision)
			SELECT 1000000 + x, 'async-before', 0, 0, 1, 'noise', 'noise', $1, 3, $1, 1 FROM g`
		}
		_, err := tx.Exec(q, now, n)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAPanickingHandlerIsAFailedAttemptNotADeadNode(t *testing.T) {
	r := newRig(t, dstest.SQLite, Config{DisableMaintenance: true})
	ctx := r.env.Tenant(t, "acme")
	r.eng.RegisterHandler("work", func(context.Context, *engine.ServiceTask) error { panic("boom") })
	deploy(t, r.eng, ctx, "async", asyncProcess)
	r.start(t)
	if _, err := r.eng.StartInstance(ctx, &engine.StartParams{DefinitionKey: "async"}); err != nil {
		t.Fatal(err)
	}
	var job *engine.Job
	r.waitUntil(t, "the job failed once", func() bool {
		jobs, err := r.eng.Jobs(ctx, &engine.JobQuery{})
		if err != nil || len(jobs) != 1 {
			return false
		}
		job = jobs[0]
		return job.Retries == engine.DefaultJobRetries-1
	})
	if !strings.Contains(job.ErrorMessage, "boom") {
		t.Fatalf("failure message %q", job.ErrorMessage)
	}
	if st := r.exec.Stats(); st.Failed == 0 {
		t.Fatalf("stats %+v", st)
	}
	// The node is alive: after the backoff the job is retried.
	r.env.Clock.Advance(time.Minute)
	r.waitUntil(t, "the retry ran", func() bool {
		jobs, _ := r.eng.Jobs(ctx, &engine.JobQuery{})
		return len(jobs) == 1 && jobs[0].Retries == engine.DefaultJobRetries-2
	})
}

func TestATenantCreatedAfterStartIsServedWithoutRestart(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		r := newRig(t, kind, Config{})
		r.start(t)
		ctx := r.env.Tenant(t, "late")
		deploy(t, r.eng, ctx, "async", asyncProcess)
		r.eng.RegisterHandler("work", func(context.Context, *engine.ServiceTask) error { return nil })
		inst, err := r.eng.StartInstance(ctx, &engine.StartParams{DefinitionKey: "async"})
		if err != nil {
			t.Fatal(err)
		}
		r.waitUntil(t, "the async continuation ran", func() bool { return instanceState(t, r.eng, ctx, inst.ID) == engine.InstanceCompleted })
		r.waitUntil(t, "the tenant has its maintenance job", func() bool { return hasTag(r.exec.scheduledJobs(), tagOf("late")) })
	})
}

func hasTag(jobs [][]string, tag string) bool {
	for _, j := range jobs {
		for _, s := range j[1:] {
			if s == tag {
				return true
			}
		}
	}
	return false
}

func TestDisablingATenantLeavesNothingOfItBehind(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		r := newRig(t, kind, Config{})
		ctx := r.env.Tenant(t, "acme")
		deploy(t, r.eng, ctx, "timer", timerProcess)
		r.start(t)
		if _, err := r.eng.StartInstance(ctx, &engine.StartParams{DefinitionKey: "timer"}); err != nil {
			t.Fatal(err)
		}
		r.waitUntil(t, "the tenant is known", func() bool {
			r.exec.mu.Lock()
			defer r.exec.mu.Unlock()
			return r.exec.tenants["acme"] != nil && r.exec.maintained["acme"]
		})
		if err := r.env.Sources.Lifecycle.Disable(context.Background(), "acme"); err != nil {
			t.Fatal(err)
		}
		r.exec.mu.Lock()
		_, known := r.exec.tenants["acme"]
		queued := len(r.exec.queue)
		r.exec.mu.Unlock()
		if known || queued != 0 {
			t.Fatalf("tenant still scheduled: known %v, queue %d", known, queued)
		}
		if hasTag(r.exec.scheduledJobs(), tagOf("acme")) {
			t.Fatalf("gocron still holds the tenant's job: %v", r.exec.scheduledJobs())
		}
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		for _, fn := range []string{"jobexec.(*Executor).runTenant", "jobexec.(*Executor).maintain", "jobexec.(*Executor).heartbeat"} {
			if strings.Contains(stacks, fn) {
				t.Fatalf("a goroutine still runs %s after the tenant was disabled", fn)
			}
		}
		// Advancing past the timer does not run the disabled tenant's job.
		r.env.Clock.Advance(2 * time.Hour)
		if b := r.exec.Batches(); len(b) != 0 {
			t.Fatalf("batches after disable: %+v", b)
		}
	})
}

func TestMaintenanceRunsPerTenantWithItsTenantInContextSpreadOverTheWindow(t *testing.T) {
	var seen []string
	r := newRig(t, dstest.SQLite, Config{Maintenance: []Maintenance{{Name: "probe", Run: func(ctx context.Context, tenant string) error {
		if got, _ := security.TenantFrom(ctx); got != tenant {
			return fmt.Errorf("context carries %q while maintaining %q", got, tenant)
		}
		seen = append(seen, tenant)
		return nil
	}}}})
	for i := 0; i < 50; i++ {
		r.env.Tenant(t, fmt.Sprintf("t%02d", i))
	}
	slots := map[[2]int]bool{}
	for i := 0; i < 50; i++ {
		h, m := r.exec.maintenanceSlot(fmt.Sprintf("t%02d", i))
		if h < 2 || h > 4 {
			t.Fatalf("slot %02d:%02d outside the 02:00-05:00 window", h, m)
		}
		slots[[2]int{h, m}] = true
	}
	if len(slots) < 35 {
		t.Fatalf("50 tenants share only %d slots", len(slots))
	}
	r.exec.RunMaintenance("t07")
	if len(seen) != 1 || seen[0] != "t07" {
		t.Fatalf("maintenance saw %v", seen)
	}
	if errors.Is(nil, context.Canceled) {
		t.Fatal("unreachable")
	}
}
