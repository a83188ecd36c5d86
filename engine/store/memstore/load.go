package memstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, p *store.LoadParams) (*store.Snapshot, error) {
	snap := &store.Snapshot{}
	err := s.in(ctx, func(t *tenant) error {
		r := &reader{t: t, p: p, snap: snap, seen: map[int64]bool{}}
		return r.load()
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

type reader struct {
	t     *tenant
	p     *store.LoadParams
	snap  *store.Snapshot
	seen  map[int64]bool
	asked map[int64]bool
}

func (r *reader) load() error {
	t, p, snap := r.t, r.p, r.snap
	ids := append([]int64(nil), p.InstanceIDs...)
	if task := t.tasks[p.TaskID]; p.TaskID != 0 && task != nil {
		snap.Task = &core.TaskRow{Task: copyTask(task)}
		if task.State == core.TaskCreated {
			ids = append(ids, task.InstanceID)
		}
	}
	if et := t.extTasks[p.ExternalTaskID]; p.ExternalTaskID != 0 && et != nil {
		snap.ExternalTask = &core.ExtTaskRow{ExternalTask: copyExt(et)}
		ids = append(ids, et.InstanceID)
	}
	if j := t.jobs[p.JobID]; p.JobID != 0 && j != nil {
		c := *j
		c.Op = core.RowClean
		snap.Job = &c
		if j.InstanceID != 0 {
			ids = append(ids, j.InstanceID)
		} else if d := t.definitions[j.DefinitionID]; d != nil {
			pd := d.ProcessDefinition
			snap.JobDefinition = &pd
		}
	}
	if p.Message != "" {
		for _, sub := range sortedByID(t.subs, func(s *core.SubRow) int64 { return s.ID }) {
			switch {
			case sub.Kind == "message" && sub.Name == p.Message && (p.MessageInstanceID == 0 || sub.InstanceID == p.MessageInstanceID):
				c := *sub
				snap.Waiting = append(snap.Waiting, &c)
				ids = append(ids, sub.InstanceID)
			case sub.Kind == "message-start" && sub.Name == p.Message:
				c := *sub
				snap.Starts = append(snap.Starts, &c)
			}
		}
	}
	if len(p.StartEventsOf) > 0 {
		for _, j := range sortedByID(t.jobs, func(j *core.JobRow) int64 { return j.ID }) {
			if j.Kind == core.JobTimerStart && j.InstanceID == 0 && slices.Contains(p.StartEventsOf, j.DefinitionKey) {
				c := *j
				snap.StartJobs = append(snap.StartJobs, &c)
			}
		}
		for _, sub := range sortedByID(t.subs, func(s *core.SubRow) int64 { return s.ID }) {
			if sub.Kind == "message-start" && slices.Contains(p.StartEventsOf, sub.DefinitionKey) {
				c := *sub
				snap.StartSubs = append(snap.StartSubs, &c)
			}
		}
	}
	for _, id := range ids {
		if err := r.instance(id); err != nil {
			return err
		}
	}
	if len(snap.Missing) > 0 {
		*snap = store.Snapshot{Missing: snap.Missing}
		return nil
	}
	snap.Locate()
	return nil
}

func (r *reader) instance(id int64) error {
	if r.seen[id] {
		return nil
	}
	r.seen[id] = true
	t, snap := r.t, r.snap
	rec := t.instances[id]
	if rec == nil {
		return core.NotFound("process instance", id)
	}
	def := r.p.Definition(rec.DefinitionID)
	if def == nil {
		return r.missing(rec.DefinitionID)
	}
	inst := &core.Instance{ProcessInstance: rec.ProcessInstance, Def: def, Holds: rec.holds, Loaded: rec.Revision, SuperExec: rec.superExec}
	snap.Instances = append(snap.Instances, inst)
	if inst.State != core.InstanceActive {
		return nil
	}
	if rec.SuperInstanceID != 0 {
		if err := r.instance(rec.SuperInstanceID); err != nil {
			return err
		}
	}
	for _, e := range sortedByID(t.execs, func(e *execRec) int64 { return e.ID }) {
		if e.InstanceID != id {
			continue
		}
		x := e.Execution
		x.Inst, x.Op = inst, core.RowClean
		if e.MI != nil {
			mi := *e.MI
			x.MI = &mi
		}
		if e.elementID != "" {
			if x.El = def.Model.Element(e.elementID); x.El == nil {
				return fmt.Errorf("instance %d: element %q is not in its definition", id, e.elementID)
			}
		}
		if x.ID == id {
			inst.Root = &x
		}
		snap.Executions = append(snap.Executions, &x)
	}
	if inst.Root == nil {
		return fmt.Errorf("instance %d is active but has no root execution", id)
	}
	for _, v := range sortedVars(t.vars) {
		if v.InstanceID == id {
			c := *v
			snap.Variables = append(snap.Variables, &c)
		}
	}
	for _, a := range sortedByID(t.acts, func(a *core.ActivityInstance) int64 { return a.ID }) {
		if a.InstanceID == id && a.EndedAt.IsZero() {
			snap.Activities = append(snap.Activities, &core.ActivityRow{ActivityInstance: *a})
		}
	}
	for _, x := range sortedByID(t.tasks, func(x *core.Task) int64 { return x.ID }) {
		if x.InstanceID == id && x.State == core.TaskCreated {
			snap.Tasks = append(snap.Tasks, &core.TaskRow{Task: copyTask(x)})
		}
	}
	for _, x := range sortedByID(t.extTasks, func(x *core.ExternalTask) int64 { return x.ID }) {
		if x.InstanceID == id {
			snap.ExtTasks = append(snap.ExtTasks, &core.ExtTaskRow{ExternalTask: copyExt(x)})
		}
	}
	for _, j := range sortedByID(t.jobs, func(j *core.JobRow) int64 { return j.ID }) {
		if j.InstanceID == id {
			c := *j
			snap.Jobs = append(snap.Jobs, &c)
		}
	}
	for _, sub := range sortedByID(t.subs, func(s *core.SubRow) int64 { return s.ID }) {
		if sub.InstanceID == id {
			c := *sub
			snap.Subs = append(snap.Subs, &c)
		}
	}
	for _, i := range sortedByID(t.incidents, func(i *core.Incident) int64 { return i.ID }) {
		if i.InstanceID == id && i.State == "open" {
			snap.Incidents = append(snap.Incidents, &core.IncidentRow{Incident: *i})
		}
	}
	return nil
}

func (r *reader) missing(id int64) error {
	if r.asked == nil {
		r.asked = map[int64]bool{}
	}
	if r.asked[id] {
		return nil
	}
	r.asked[id] = true
	src, err := r.t.source(&store.DefinitionParams{ID: id, WithContent: true})
	if err != nil {
		return err
	}
	r.snap.Missing = append(r.snap.Missing, src)
	return nil
}

// copyTask copies a task with its own candidate lists.
func copyTask(t *core.Task) core.Task {
	c := *t
	c.CandidateUsers = slices.Clone(t.CandidateUsers)
	c.CandidateGroups = slices.Clone(t.CandidateGroups)
	return c
}

// copyExt copies an external task with its own retries.
func copyExt(t *core.ExternalTask) core.ExternalTask {
	c := *t
	if t.Retries != nil {
		n := *t.Retries
		c.Retries = &n
	}
	c.Variables = nil
	return c
}

// sortedByID returns a map's rows in ID order, as the SQL store reads them.
func sortedByID[K comparable, V any](m map[K]V, id func(V) int64) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b V) int {
		switch x, y := id(a), id(b); {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return out
}

func sortedVars(m map[varKey]*core.VariableRow) []*core.VariableRow {
	out := make([]*core.VariableRow, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *core.VariableRow) int {
		if a.ScopeID != b.ScopeID {
			if a.ScopeID < b.ScopeID {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

// LoadJobs implements store.Store: in memory a load costs no exchange,
// so each job is loaded on its own.
func (s *Store) LoadJobs(ctx context.Context, p *store.LoadJobsParams) ([]*store.Snapshot, error) {
	return store.LoadEachJob(ctx, s, p)
}
