package engine_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
)

// sortFields lists, per query, the fields Page.SortBy documents. Each is a
// field of the entity the query lists, by its Go name.
var sortFields = []struct {
	entity any
	fields []string
	list   func(v *env, p engine.Page) error
}{
	{engine.ProcessInstance{}, []string{"ID", "DefinitionKey", "DefinitionID", "BusinessKey", "StartedAt", "EndedAt"},
		func(v *env, p engine.Page) error {
			_, err := v.Instances(v.ctx, &engine.InstanceQuery{AnyState: true, Page: p})
			return err
		}},
	{engine.Task{}, []string{"ID", "Name", "Priority", "Assignee", "CreatedAt", "Due", "FollowUp", "InstanceID", "ElementID"},
		func(v *env, p engine.Page) error {
			_, err := v.Tasks(v.ctx, &engine.TaskQuery{AnyState: true, Page: p})
			return err
		}},
	{engine.ExternalTask{}, []string{"ID", "LockExpiresAt", "InstanceID", "DefinitionKey", "Priority", "CreatedAt"},
		func(v *env, p engine.Page) error {
			_, err := v.ExternalTasks(v.ctx, &engine.ExternalTaskQuery{Page: p})
			return err
		}},
	{engine.Job{}, []string{"ID", "DueAt", "Retries", "Priority", "InstanceID"},
		func(v *env, p engine.Page) error {
			_, err := v.Jobs(v.ctx, &engine.JobQuery{Page: p})
			return err
		}},
	{engine.Incident{}, []string{"ID", "CreatedAt", "Type", "ElementID", "InstanceID"},
		func(v *env, p engine.Page) error {
			_, err := v.Incidents(v.ctx, &engine.IncidentQuery{AnyState: true, Page: p})
			return err
		}},
	{engine.ActivityInstance{}, []string{"ID", "StartedAt", "EndedAt", "ElementID", "ElementType"},
		func(v *env, p engine.Page) error {
			_, err := v.Activities(v.ctx, &engine.ActivityQuery{Page: p})
			return err
		}},
	{engine.ProcessDefinition{}, []string{"ID", "Key", "Name", "Version", "DeploymentID", "CreatedAt"},
		func(v *env, p engine.Page) error {
			_, err := v.Definitions(v.ctx, &engine.DefinitionQuery{Page: p})
			return err
		}},
	{engine.Deployment{}, []string{"ID", "Name", "CreatedAt"},
		func(v *env, p engine.Page) error {
			_, err := v.Deployments(v.ctx, "", p)
			return err
		}},
}

// Every query sorts by the Go names of its entity's fields, and refuses
// anything else (a REST name such as "startTime" included) with
// ErrInvalid naming the fields it sorts by.
func TestQueriesSortByTheEntitysFieldNames(t *testing.T) {
	t.Parallel()
	v := newEnv(t, dstest.SQLite)
	v.deploy(t, "task-user.bpmn")
	for _, q := range sortFields {
		typ := reflect.TypeOf(q.entity)
		for _, f := range q.fields {
			if _, ok := typ.FieldByName(f); !ok {
				t.Errorf("%s has no field %s to sort by", typ.Name(), f)
			}
			for _, desc := range []bool{false, true} {
				if err := q.list(v, engine.Page{SortBy: f, SortDesc: desc}); err != nil {
					t.Errorf("%s sorted by %s: %v", typ.Name(), f, err)
				}
			}
		}
		err := q.list(v, engine.Page{SortBy: "startTime"})
		if !errors.Is(err, engine.ErrInvalid) {
			t.Fatalf("%s sorted by a REST name: %v, want ErrInvalid", typ.Name(), err)
		}
		for _, f := range q.fields {
			if !strings.Contains(err.Error(), f) {
				t.Errorf("%s: the error %q does not name %s", typ.Name(), err, f)
			}
		}
	}
}
