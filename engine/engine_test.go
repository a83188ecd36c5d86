package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
)

// env is one test's engine over a fresh datasource of a kind, with a tenant.
type env struct {
	*engine.Engine
	ds  *dstest.Env
	ctx context.Context
}

func newEnv(t *testing.T, kind dstest.Kind) *env {
	t.Helper()
	ds := dstest.Open(t, kind, nil)
	ctx := ds.Tenant(t, "acme")
	e, err := engine.New(ds.Sources, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{Engine: e, ds: ds, ctx: ctx}
}

// deploy deploys testdata files.
func (v *env) deploy(t *testing.T, files ...string) *engine.Deployment {
	t.Helper()
	var res []engine.Resource
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		res = append(res, engine.Resource{Name: f, Content: b})
	}
	d, err := v.Deploy(v.ctx, &engine.DeployParams{Name: "test", Resources: res})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// path lists the elements an instance passed, in start order.
func (v *env) path(t *testing.T, id int64) []string {
	t.Helper()
	acts, err := v.Activities(v.ctx, &engine.ActivityQuery{InstanceID: id, Page: engine.Page{MaxResults: 1000, SortBy: "StartedAt"}})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range acts {
		out = append(out, a.ElementID)
	}
	return out
}

func TestSmokeStraightThroughAndUserTask(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		v := newEnv(t, kind)
		v.RegisterHandler("work", func(_ context.Context, task *engine.ServiceTask) error {
			n, _ := task.Variable("n")
			task.Set("doubled", n.(int)*2)
			return nil
		})
		v.deploy(t, "smoke.bpmn")
		inst, err := v.StartInstance(v.ctx, &engine.StartParams{DefinitionKey: "smoke", BusinessKey: "order-1", Variables: map[string]any{"n": 21}})
		if err != nil {
			t.Fatal(err)
		}
		if inst.State != engine.InstanceActive {
			t.Fatalf("state %s", inst.State)
		}
		tasks, err := v.Tasks(v.ctx, &engine.TaskQuery{InstanceID: inst.ID})
		if err != nil || len(tasks) != 1 || tasks[0].ElementID != "approve" || tasks[0].Assignee != "demo" {
			t.Fatalf("tasks %+v %v", tasks, err)
		}
		if _, err := v.CompleteTask(v.ctx, tasks[0].Ref(), &engine.CompleteTaskParams{Variables: map[string]any{"approved": true}}); err != nil {
			t.Fatal(err)
		}
		got, err := v.Instance(v.ctx, inst.Ref())
		if err != nil || got.State != engine.InstanceCompleted {
			t.Fatalf("after completion: %+v %v", got, err)
		}
		vars, err := v.Variables(v.ctx, inst.Ref())
		if err != nil || vars["doubled"].V != int32(42) || vars["approved"].V != true {
			t.Fatalf("vars %+v %v", vars, err)
		}
		if p := v.path(t, inst.ID); len(p) != 4 || p[0] != "start" || p[3] != "end" {
			t.Fatalf("path %v", p)
		}
		// Events are readable as soon as their commit returned.
		batch, err := v.ReadEvents(v.ctx, &engine.ReadEventsParams{})
		if err != nil || len(batch.Events) == 0 || batch.Events[0].Type != engine.EventProcessStarted {
			t.Fatalf("events %v %v", batch, err)
		}
		// The completed task cannot complete again.
		if _, err := v.CompleteTask(v.ctx, tasks[0].Ref(), nil); !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("second completion: %v", err)
		}
		_ = time.Second
	})
}
