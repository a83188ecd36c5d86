package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// loader reads the rows a command needs into its unit of work, through the
// store: each read is short, and no transaction stays open while the core
// decides or a Go handler runs. Rows carry revisions that the apply step
// checks, so a command that read state another commit changed meanwhile
// fails its commit and runs again.
type loader struct {
	ctx context.Context
	e   *Engine
	u   *core.Unit

	// deployments are written beside the unit, and latest are the latest
	// versions it was planned on (guards of the apply step).
	deployments []*store.NewDeployment
	latest      []store.LatestGuard
	// need is what earlier attempts of the command found they lacked.
	need *needs
}

// preload reads the instances earlier attempts of the command needed.
func (l *loader) preload() error {
	if len(l.need.instances) == 0 {
		return nil
	}
	_, err := l.load(&store.LoadParams{InstanceIDs: l.need.instances})
	return err
}

// load reads what p names and adds the rows of instances the unit does
// not hold yet. Definitions the engine has not compiled come back from the
// store as sources: they are compiled and the load is made again.
func (l *loader) load(p *store.LoadParams) (*store.Snapshot, error) {
	p.Definition = l.definition
	for round := 0; ; round++ {
		snap, err := l.e.st.Load(l.ctx, p)
		if err != nil {
			return nil, err
		}
		if len(snap.Missing) == 0 {
			l.merge(snap)
			return snap, nil
		}
		if round > 0 {
			return nil, fmt.Errorf("engine: definitions %d stay missing after compiling them", snap.Missing[0].ID)
		}
		for _, src := range snap.Missing {
			d, err := l.e.compileSource(src)
			if err != nil {
				return nil, err
			}
			l.need.setByID(d.ID, d)
		}
	}
}

// use takes a snapshot read for this unit beforehand (with every
// definition it names at hand) as load would have.
func (l *loader) use(snap *store.Snapshot) *store.Snapshot {
	l.merge(snap)
	return snap
}

// definition is the compiled definition of an ID for a load: read for this
// command, or cached. Only the model counts for an instance being read (a
// loaded instance runs whatever the suspension state of its definition),
// and the model of a definition ID never changes.
func (l *loader) definition(id int64) *core.Deployed {
	if d := l.need.byID[id]; d != nil {
		return d
	}
	return l.e.cachedDefinition(l.u.Tenant, id)
}

// cachedDefinition is the compiled definition of an ID in the tenant's
// cache, nil when it is not there.
func (e *Engine) cachedDefinition(tenant string, id int64) *core.Deployed {
	d, _ := e.defs.Get(tenant, definitionKey(id))
	return d
}

// merge adds the snapshot's rows of instances the unit does not hold, and
// points the located rows at the unit's own.
func (l *loader) merge(snap *store.Snapshot) {
	u := l.u
	fresh := map[int64]bool{}
	for _, i := range snap.Instances {
		if !l.holds(i.ID) {
			fresh[i.ID] = true
			u.Instances = append(u.Instances, i)
		}
	}
	if len(fresh) == 0 {
		l.relocate(snap)
		return
	}
	u.Execs = appendFresh(u.Execs, snap.Executions, fresh, func(r *core.Execution) int64 { return r.InstanceID })
	u.Vars = appendFresh(u.Vars, snap.Variables, fresh, func(r *core.VariableRow) int64 { return r.InstanceID })
	u.Tasks = appendFresh(u.Tasks, snap.Tasks, fresh, func(r *core.TaskRow) int64 { return r.InstanceID })
	u.ExtTasks = appendFresh(u.ExtTasks, snap.ExtTasks, fresh, func(r *core.ExtTaskRow) int64 { return r.InstanceID })
	u.Jobs = appendFresh(u.Jobs, snap.Jobs, fresh, func(r *core.JobRow) int64 { return r.InstanceID })
	u.Subs = appendFresh(u.Subs, snap.Subs, fresh, func(r *core.SubRow) int64 { return r.InstanceID })
	u.Incidents = appendFresh(u.Incidents, snap.Incidents, fresh, func(r *core.IncidentRow) int64 { return r.InstanceID })
	u.Acts = appendFresh(u.Acts, snap.Activities, fresh, func(r *core.ActivityRow) int64 { return r.InstanceID })
	l.relocate(snap)
}

// relocate points the snapshot's located rows at the unit's rows with the
// same IDs, so that a command changes the rows that will be applied.
func (l *loader) relocate(snap *store.Snapshot) {
	u := l.u
	if t := snap.Task; t != nil {
		snap.Task = find(u.Tasks, t, func(r *core.TaskRow) int64 { return r.ID })
	}
	if t := snap.ExternalTask; t != nil {
		snap.ExternalTask = find(u.ExtTasks, t, func(r *core.ExtTaskRow) int64 { return r.ID })
	}
	if j := snap.Job; j != nil {
		snap.Job = find(u.Jobs, j, func(r *core.JobRow) int64 { return r.ID })
	}
	for i, w := range snap.Waiting {
		snap.Waiting[i] = find(u.Subs, w, func(r *core.SubRow) int64 { return r.ID })
	}
}

func appendFresh[T any](dst, src []*T, fresh map[int64]bool, instance func(*T) int64) []*T {
	for _, r := range src {
		if fresh[instance(r)] {
			dst = append(dst, r)
		}
	}
	return dst
}

// find returns the row of rows with r's ID, or r.
func find[T any](rows []*T, r *T, id func(*T) int64) *T {
	for _, o := range rows {
		if id(o) == id(r) {
			return o
		}
	}
	return r
}

// holds reports whether the unit holds instance id.
func (l *loader) holds(id int64) bool {
	for _, i := range l.u.Instances {
		if i.ID == id {
			return true
		}
	}
	return false
}

// instance reads an instance (any state) into the unit and returns it.
// Errors: ErrNotFound.
func (l *loader) instance(id int64) (*core.Instance, error) {
	if _, err := l.load(&store.LoadParams{InstanceIDs: []int64{id}}); err != nil {
		return nil, err
	}
	return l.u.InstanceByID(id)
}

// commit applies units of the loaders in one transaction.
func (e *Engine) commit(ctx context.Context, loaders ...*loader) error {
	p := &store.ApplyParams{Units: make([]*core.Unit, len(loaders))}
	for i, l := range loaders {
		p.Units[i] = l.u
		p.Deployments = append(p.Deployments, l.deployments...)
		p.Latest = append(p.Latest, l.latest...)
	}
	err := e.st.Apply(ctx, p)
	var stale *store.StaleDefinitionError
	if errors.As(err, &stale) {
		e.defs.Delete(loaders[0].u.Tenant, latestKey(stale.Key))
		return errStaleDefinition
	}
	if err == nil {
		e.commits.Add(1)
	}
	return err
}
