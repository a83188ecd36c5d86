// Package memstore keeps the engine's state in memory: a store.Store for
// tests and tools that need the whole engine without a database. It
// behaves as the SQL store does — revision checks, the outbox clock, job
// locks, queries — and the store conformance suite holds it to that; it
// keeps nothing across restarts and is not meant for production.
//
// A Store also hands out row IDs (NextID), so an engine over it needs no
// datasource at all.
package memstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
	"github.com/tenantflow/tenantflow/security"
)

// Store is the memory store, safe for concurrent use. The zero value is
// not usable: use New.
type Store struct {
	mu      sync.Mutex
	tenants map[string]*tenant
}

var _ store.Store = (*Store)(nil)

// New returns an empty memory store.
func New() *Store { return &Store{tenants: map[string]*tenant{}} }

// tenant is one tenant's tables. Rows are kept as copies: nothing a caller
// holds aliases them.
type tenant struct {
	name        string
	nextID      int64
	deployments map[int64]*deployment
	definitions map[int64]*store.DefinitionRow
	instances   map[int64]*instanceRec
	execs       map[int64]*execRec
	vars        map[varKey]*core.VariableRow
	tasks       map[int64]*core.Task
	extTasks    map[int64]*core.ExternalTask
	jobs        map[int64]*core.JobRow
	subs        map[int64]*core.SubRow
	incidents   map[int64]*core.Incident
	acts        map[int64]*core.ActivityInstance
	varUpdates  []*core.VariableUpdate
	outbox      []outboxRec
	clock       int64
	consumers   map[string]consumerRec
	dead        map[string]map[int64]store.DeadLetter
}

type deployment struct {
	core.Deployment
	resources map[string]store.Resource
}

type instanceRec struct {
	core.ProcessInstance
	holds     int
	superExec int64
}

type execRec struct {
	core.Execution
	elementID string
}

type varKey struct {
	scope int64
	name  string
}

type outboxRec struct {
	pos int64
	ev  core.Event
}

type consumerRec struct {
	position core.Cursor
	updated  int64
}

// in runs fn on the tenant of ctx, under the store's lock.
func (s *Store) in(ctx context.Context, fn func(t *tenant) error) error {
	name, err := security.MustTenant(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tenants[name]
	if t == nil {
		t = &tenant{name: name, deployments: map[int64]*deployment{}, definitions: map[int64]*store.DefinitionRow{},
			instances: map[int64]*instanceRec{}, execs: map[int64]*execRec{}, vars: map[varKey]*core.VariableRow{},
			tasks: map[int64]*core.Task{}, extTasks: map[int64]*core.ExternalTask{}, jobs: map[int64]*core.JobRow{},
			subs: map[int64]*core.SubRow{}, incidents: map[int64]*core.Incident{}, acts: map[int64]*core.ActivityInstance{},
			consumers: map[string]consumerRec{}, dead: map[string]map[int64]store.DeadLetter{}}
		s.tenants[name] = t
	}
	return fn(t)
}

// NextID hands out the tenant's next row ID.
func (s *Store) NextID(ctx context.Context) (int64, error) {
	var id int64
	err := s.in(ctx, func(t *tenant) error {
		t.nextID++
		id = t.nextID
		return nil
	})
	return id, err
}

// DropTenant forgets everything of a tenant.
func (s *Store) DropTenant(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tenants, name)
}

func conflict(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{core.ErrConflict}, args...)...)
}

// Footprint counts what an instance holds in the runtime tables: for tests
// and tools that check nothing is left behind.
type Footprint struct {
	Tasks, External, Jobs, Subscriptions, Incidents, Executions int
}

// Footprint returns what an instance of the tenant in ctx holds.
func (s *Store) Footprint(ctx context.Context, instanceID int64) (Footprint, error) {
	var f Footprint
	err := s.in(ctx, func(t *tenant) error {
		for _, x := range t.tasks {
			if x.InstanceID == instanceID && x.State == core.TaskCreated {
				f.Tasks++
			}
		}
		for _, x := range t.extTasks {
			if x.InstanceID == instanceID {
				f.External++
			}
		}
		for _, x := range t.jobs {
			if x.InstanceID == instanceID {
				f.Jobs++
			}
		}
		for _, x := range t.subs {
			if x.InstanceID == instanceID {
				f.Subscriptions++
			}
		}
		for _, x := range t.incidents {
			if x.InstanceID == instanceID && x.State == "open" {
				f.Incidents++
			}
		}
		for _, x := range t.execs {
			if x.InstanceID == instanceID {
				f.Executions++
			}
		}
		return nil
	})
	return f, err
}
