package memstore

import (
	"context"
	"slices"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Apply implements store.Store: every check first, then every write, so
// that a failed apply writes nothing, as the SQL store's transaction.
func (s *Store) Apply(ctx context.Context, p *store.ApplyParams) error {
	return s.in(ctx, func(t *tenant) error {
		if err := t.check(p); err != nil {
			return err
		}
		for _, d := range p.Deployments {
			t.deploy(d)
		}
		var events []*core.Event
		for _, u := range p.Units {
			t.write(u)
			events = append(events, u.Events...)
		}
		for _, e := range events {
			t.clock++
			ev := *e
			ev.Cursor = cursorOf(t.clock)
			t.outbox = append(t.outbox, outboxRec{pos: t.clock, ev: ev})
		}
		return nil
	})
}

// check runs the apply's revision checks, unique keys and guards.
func (t *tenant) check(p *store.ApplyParams) error {
	for _, d := range p.Deployments {
		if t.deployments[d.Deployment.ID] != nil {
			return conflict("deployment %d exists", d.Deployment.ID)
		}
		for _, nd := range d.Definitions {
			for _, od := range t.definitions {
				if od.ID == nd.ID || od.Key == nd.Key && od.Version == nd.Version {
					return conflict("version %d of process %q exists", nd.Version, nd.Key)
				}
			}
		}
	}
	newVars := map[varKey]bool{}
	for _, u := range p.Units {
		for _, i := range u.Instances {
			cur := t.instances[i.ID]
			switch {
			case i.Op == core.RowNew && cur != nil:
				return conflict("process instance %d exists", i.ID)
			case i.Op != core.RowNew && i.Loaded != 0 && (cur == nil || cur.Revision != i.Loaded):
				return conflict("process instance %d was changed concurrently", i.ID)
			}
		}
		for _, x := range u.Tasks {
			if x.Op == core.RowDirty && (t.tasks[x.ID] == nil || t.tasks[x.ID].Revision != x.Revision) {
				return conflict("task %d was changed concurrently", x.ID)
			}
		}
		for _, x := range u.ExtTasks {
			if (x.Op == core.RowDirty || x.Op == core.RowGone) && (t.extTasks[x.ID] == nil || t.extTasks[x.ID].Revision != x.Revision) {
				return conflict("external task %d was changed concurrently", x.ID)
			}
		}
		for _, j := range u.Jobs {
			if (j.Op == core.RowDirty || j.Op == core.RowGone) && (t.jobs[j.ID] == nil || t.jobs[j.ID].Revision != j.Revision) {
				return conflict("job %d was changed concurrently", j.ID)
			}
		}
		for _, v := range u.Vars {
			k := varKey{v.ScopeID, v.Name}
			if v.Op == core.RowNew {
				if cur := t.vars[k]; cur != nil && !deletedIn(u, k) || newVars[k] {
					return conflict("variable %q of scope %d exists", v.Name, v.ScopeID)
				}
				newVars[k] = true
			}
		}
	}
	for _, g := range p.Latest {
		d := t.definitions[g.DefinitionID]
		if d == nil || d.Suspended || t.latestVersion(g.Key) != d.Version {
			return &store.StaleDefinitionError{Key: g.Key}
		}
	}
	return nil
}

func deletedIn(u *core.Unit, k varKey) bool {
	for _, v := range u.Vars {
		if v.Op == core.RowGone && v.ScopeID == k.scope && v.Name == k.name {
			return true
		}
	}
	return false
}

func (t *tenant) latestVersion(key string) int {
	v := 0
	for _, d := range t.definitions {
		if d.Key == key && d.Version > v {
			v = d.Version
		}
	}
	return v
}

func (t *tenant) deploy(d *store.NewDeployment) {
	dep := &deployment{Deployment: d.Deployment, resources: map[string]store.Resource{}}
	dep.Definitions, dep.Resources = nil, nil
	for _, r := range d.Resources {
		dep.resources[r.Name] = store.Resource{Name: r.Name, Content: slices.Clone(r.Content), Hash: r.Hash}
	}
	t.deployments[dep.ID] = dep
	for _, nd := range d.Definitions {
		c := *nd
		t.definitions[c.ID] = &c
	}
}

// write writes a unit's net changes, as the SQL store's apply step does.
func (t *tenant) write(u *core.Unit) {
	for _, i := range u.Instances {
		i.Holds = u.ComputeHolds(i)
		switch {
		case i.Op == core.RowNew:
			rec := &instanceRec{ProcessInstance: i.ProcessInstance, holds: i.Holds, superExec: i.SuperExec}
			rec.Revision, rec.Variables = 1, nil
			t.instances[i.ID] = rec
		case i.Loaded != 0:
			rec := t.instances[i.ID]
			rec.State, rec.Suspended, rec.EndActivityID, rec.DeleteReason = i.State, i.Suspended, i.EndActivityID, i.DeleteReason
			rec.holds, rec.EndedAt, rec.BusinessKey = i.Holds, i.EndedAt, i.BusinessKey
			rec.Revision++
		}
	}
	for _, x := range u.Execs {
		switch x.Op {
		case core.RowNew, core.RowDirty:
			rec := &execRec{Execution: *x, elementID: x.ElementID()}
			rec.El, rec.Inst, rec.Op = nil, nil, core.RowClean
			if x.MI != nil {
				mi := *x.MI
				rec.MI = &mi
			}
			t.execs[x.ID] = rec
		case core.RowGone:
			delete(t.execs, x.ID)
		}
	}
	for _, v := range u.Vars {
		if v.Op == core.RowGone {
			delete(t.vars, varKey{v.ScopeID, v.Name})
		}
	}
	for _, v := range u.Vars {
		if v.Op == core.RowNew || v.Op == core.RowDirty {
			c := *v
			c.Op = core.RowClean
			t.vars[varKey{v.ScopeID, v.Name}] = &c
		}
	}
	for _, vu := range u.VarUpdates {
		c := *vu
		t.varUpdates = append(t.varUpdates, &c)
	}
	for _, x := range u.Tasks {
		switch x.Op {
		case core.RowNew:
			c := copyTask(&x.Task)
			t.tasks[x.ID] = &c
		case core.RowDirty:
			c := copyTask(&x.Task)
			c.Revision++
			t.tasks[x.ID] = &c
		}
	}
	for _, x := range u.ExtTasks {
		switch x.Op {
		case core.RowNew:
			c := copyExt(&x.ExternalTask)
			t.extTasks[x.ID] = &c
		case core.RowDirty:
			c := copyExt(&x.ExternalTask)
			c.Revision++
			t.extTasks[x.ID] = &c
		case core.RowGone:
			delete(t.extTasks, x.ID)
		}
	}
	for _, j := range u.Jobs {
		switch j.Op {
		case core.RowNew, core.RowDirty:
			c := *j
			if j.Op == core.RowDirty {
				c.Revision++
			}
			c.Op = core.RowClean
			t.jobs[j.ID] = &c
		case core.RowGone:
			delete(t.jobs, j.ID)
		}
	}
	for _, s := range u.Subs {
		switch s.Op {
		case core.RowNew:
			c := *s
			c.Op = core.RowClean
			t.subs[s.ID] = &c
		case core.RowGone:
			delete(t.subs, s.ID)
		}
	}
	for _, i := range u.Incidents {
		if i.Op == core.RowNew || i.Op == core.RowDirty {
			c := i.Incident
			t.incidents[i.ID] = &c
		}
	}
	for _, a := range u.Acts {
		if a.Op == core.RowNew || a.Op == core.RowDirty {
			c := a.ActivityInstance
			t.acts[a.ID] = &c
		}
	}
}
