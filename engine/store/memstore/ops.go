package memstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// ---- definitions and deployments ----

// Definition implements store.Store.
func (s *Store) Definition(ctx context.Context, p *store.DefinitionParams) (*store.DefinitionSource, error) {
	var src *store.DefinitionSource
	err := s.in(ctx, func(t *tenant) error {
		var err error
		src, err = t.source(p)
		return err
	})
	return src, err
}

func (t *tenant) source(p *store.DefinitionParams) (*store.DefinitionSource, error) {
	var d *store.DefinitionRow
	if p.LatestKey != "" {
		for _, o := range t.definitions {
			if o.Key == p.LatestKey && (d == nil || o.Version > d.Version) {
				d = o
			}
		}
		if d == nil {
			return nil, fmt.Errorf("%w: no process definition with key %q is deployed", core.ErrNotFound, p.LatestKey)
		}
	} else if d = t.definitions[p.ID]; d == nil {
		return nil, core.NotFound("process definition", p.ID)
	}
	src := &store.DefinitionSource{DefinitionRow: *d}
	if p.WithContent {
		dep := t.deployments[d.DeploymentID]
		if dep == nil {
			return nil, fmt.Errorf("resource %q of definition %d: %w", d.ResourceName, d.ID, core.ErrNotFound)
		}
		src.Content = slices.Clone(dep.resources[d.ResourceName].Content)
	}
	return src, nil
}

// Deployment implements store.Store.
func (s *Store) Deployment(ctx context.Context, id int64) (*core.Deployment, error) {
	var d *core.Deployment
	err := s.in(ctx, func(t *tenant) error {
		var err error
		d, err = t.deployment(id)
		return err
	})
	return d, err
}

func (t *tenant) deployment(id int64) (*core.Deployment, error) {
	dep := t.deployments[id]
	if dep == nil {
		return nil, core.NotFound("deployment", id)
	}
	d := dep.Deployment
	d.Resources = core.SortedKeys(dep.resources)
	for _, def := range t.definitions {
		if def.DeploymentID == id {
			pd := def.ProcessDefinition
			d.Definitions = append(d.Definitions, &pd)
		}
	}
	slices.SortFunc(d.Definitions, func(a, b *core.ProcessDefinition) int { return strings.Compare(a.Key, b.Key) })
	return &d, nil
}

// ---- jobs ----

// AcquireJobs implements store.Store.
func (s *Store) AcquireJobs(ctx context.Context, p *store.AcquireJobsParams) ([]*core.Job, error) {
	var out []*core.Job
	err := s.in(ctx, func(t *tenant) error {
		var due []*core.JobRow
		for _, j := range t.jobs {
			if !j.DueAt.After(p.Now) && j.Retries > 0 && !j.Suspended && !j.LockExpiresAt.After(p.Now) {
				due = append(due, j)
			}
		}
		slices.SortFunc(due, func(a, b *core.JobRow) int {
			switch {
			case a.Priority != b.Priority:
				return b.Priority - a.Priority
			case !a.DueAt.Equal(b.DueAt):
				return a.DueAt.Compare(b.DueAt)
			}
			return cmpID(a.ID, b.ID)
		})
		for _, j := range due[:min(len(due), p.Max)] {
			j.LockOwner, j.LockExpiresAt = p.Owner, p.Now.Add(p.LockFor).Truncate(time.Millisecond)
			j.Revision++
			c := j.Job
			out = append(out, &c)
		}
		return nil
	})
	return out, err
}

// RenewJobLocks implements store.Store.
func (s *Store) RenewJobLocks(ctx context.Context, p *store.RenewJobLocksParams) ([]int64, error) {
	var lost []int64
	err := s.in(ctx, func(t *tenant) error {
		for _, id := range p.IDs {
			if j := t.jobs[id]; j != nil && j.LockOwner == p.Owner {
				j.LockExpiresAt = p.Until.Truncate(time.Millisecond)
			} else {
				lost = append(lost, id)
			}
		}
		return nil
	})
	return lost, err
}

// ReleaseJobs implements store.Store.
func (s *Store) ReleaseJobs(ctx context.Context, p *store.ReleaseJobsParams) error {
	return s.in(ctx, func(t *tenant) error {
		for _, id := range p.IDs {
			if j := t.jobs[id]; j != nil && j.LockOwner == p.Owner {
				j.LockOwner, j.LockExpiresAt = "", time.Time{}
				j.Revision++
			}
		}
		return nil
	})
}

// NextJobDue implements store.Store.
func (s *Store) NextJobDue(ctx context.Context) (time.Time, bool, error) {
	var next time.Time
	err := s.in(ctx, func(t *tenant) error {
		for _, j := range t.jobs {
			if j.Retries <= 0 || j.Suspended {
				continue
			}
			at := j.DueAt
			if j.LockExpiresAt.After(at) {
				at = j.LockExpiresAt
			}
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		return nil
	})
	return next, !next.IsZero(), err
}

// ---- external tasks and variables ----

// LockExternalTasks implements store.Store.
func (s *Store) LockExternalTasks(ctx context.Context, p *store.LockExternalTasksParams) ([]*core.ExternalTask, error) {
	var out []*core.ExternalTask
	err := s.in(ctx, func(t *tenant) error {
		left := p.MaxTasks
		for _, tr := range p.Topics {
			if left == 0 {
				break
			}
			var cands []*core.ExternalTask
			for _, x := range t.extTasks {
				if x.Topic == tr.Name && !x.LockExpiresAt.After(p.Now) && !x.Suspended && (x.Retries == nil || *x.Retries > 0) &&
					(tr.BusinessKey == "" || x.BusinessKey == tr.BusinessKey) &&
					(len(tr.DefinitionKeys) == 0 || slices.Contains(tr.DefinitionKeys, x.DefinitionKey)) {
					cands = append(cands, x)
				}
			}
			slices.SortFunc(cands, func(a, b *core.ExternalTask) int {
				if p.UsePriority && a.Priority != b.Priority {
					return b.Priority - a.Priority
				}
				return cmpID(a.ID, b.ID)
			})
			cands = cands[:min(len(cands), left)]
			for _, x := range cands {
				x.WorkerID, x.LockExpiresAt = p.WorkerID, p.Now.Add(tr.LockDuration).Truncate(time.Millisecond)
				x.Revision++
				c := copyExt(x)
				c.Variables = t.scopeVariables(&store.VariablesParams{InstanceID: x.InstanceID, ExecutionID: x.ExecutionID,
					Names: tr.Variables, Local: tr.LocalVariables})
				out = append(out, &c)
			}
			left -= len(cands)
		}
		return nil
	})
	return out, err
}

// Variables implements store.Store.
func (s *Store) Variables(ctx context.Context, p *store.VariablesParams) (map[string]core.Value, error) {
	var out map[string]core.Value
	err := s.in(ctx, func(t *tenant) error {
		if t.instances[p.InstanceID] == nil {
			return core.NotFound("process instance", p.InstanceID)
		}
		out = t.scopeVariables(p)
		return nil
	})
	return out, err
}

func (t *tenant) scopeVariables(p *store.VariablesParams) map[string]core.Value {
	out := map[string]core.Value{}
	if p.Names != nil && len(p.Names) == 0 {
		return out
	}
	depth := map[int64]int{p.InstanceID: 0}
	if p.ExecutionID != 0 && p.ExecutionID != p.InstanceID {
		depth = map[int64]int{}
		d := 0
		for id := p.ExecutionID; id != 0; {
			depth[id] = d
			d++
			if p.Local || id == p.InstanceID {
				break
			}
			x := t.execs[id]
			if x == nil {
				break
			}
			id = x.ParentID
		}
	}
	best := map[string]int{}
	for _, v := range t.vars {
		dd, in := depth[v.ScopeID]
		if v.InstanceID != p.InstanceID || !in || p.Names != nil && !slices.Contains(p.Names, v.Name) {
			continue
		}
		if b, seen := best[v.Name]; seen && b <= dd {
			continue
		}
		out[v.Name], best[v.Name] = v.Val, dd
	}
	return out
}

// VariableUpdates implements store.Store.
func (s *Store) VariableUpdates(ctx context.Context, instanceID int64) ([]*core.VariableUpdate, error) {
	var out []*core.VariableUpdate
	err := s.in(ctx, func(t *tenant) error {
		for _, vu := range t.varUpdates {
			if vu.InstanceID == instanceID {
				c := *vu
				out = append(out, &c)
			}
		}
		slices.SortFunc(out, func(a, b *core.VariableUpdate) int { return cmpID(a.ID, b.ID) })
		return nil
	})
	return out, err
}

// ---- the outbox ----

func cursorOf(pos int64) core.Cursor {
	if pos == 0 {
		return ""
	}
	return core.Cursor("c" + strconv.FormatInt(pos, 10))
}

func cursorPos(c core.Cursor) (int64, error) {
	s := string(c)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "c"), 10, 64)
	if !strings.HasPrefix(s, "c") || err != nil || n < 0 {
		return 0, fmt.Errorf("%w: cursor %q is not one this storage issued", core.ErrInvalid, core.Truncate(s, 40))
	}
	return n, nil
}

// ReadEvents implements store.Store.
func (s *Store) ReadEvents(ctx context.Context, p *store.ReadEventsParams) (*store.EventBatch, error) {
	out := &store.EventBatch{Next: p.After}
	err := s.in(ctx, func(t *tenant) error {
		after, err := cursorPos(p.After)
		if err != nil {
			return err
		}
		n := 0
		for _, r := range t.outbox {
			if r.pos <= after {
				continue
			}
			if n == p.Limit {
				break
			}
			n++
			out.Next = cursorOf(r.pos)
			if len(p.Types) > 0 && !slices.Contains(p.Types, r.ev.Type) || p.InstanceID != 0 && r.ev.InstanceID != p.InstanceID ||
				p.DefinitionKey != "" && r.ev.DefinitionKey != p.DefinitionKey {
				continue
			}
			ev := r.ev
			ev.Tenant = t.name
			out.Events = append(out.Events, &ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ConsumerState implements store.Store.
func (s *Store) ConsumerState(ctx context.Context, consumer string) (*store.ConsumerState, error) {
	st := &store.ConsumerState{Consumer: consumer}
	err := s.in(ctx, func(t *tenant) error {
		c := t.consumers[consumer]
		st.Position = c.position
		if c.updated != 0 {
			st.UpdatedAt = time.UnixMilli(c.updated).UTC()
		}
		pos, err := cursorPos(c.position)
		if err != nil {
			return err
		}
		for _, r := range t.outbox {
			if r.pos > pos {
				st.Backlog++
			}
		}
		st.DeadLetters = int64(len(t.dead[consumer]))
		return nil
	})
	return st, err
}

// AdvanceConsumer implements store.Store.
func (s *Store) AdvanceConsumer(ctx context.Context, p *store.AdvanceConsumerParams) error {
	return s.in(ctx, func(t *tenant) error {
		next, err := cursorPos(p.To)
		if err != nil {
			return err
		}
		cur := t.consumers[p.Consumer]
		if prev, _ := cursorPos(cur.position); cur.updated != 0 && prev >= next {
			return nil
		}
		t.consumers[p.Consumer] = consumerRec{position: cursorOf(next), updated: p.At.UnixMilli()}
		return nil
	})
}

// DeadLetterEvents implements store.Store.
func (s *Store) DeadLetterEvents(ctx context.Context, consumer string, letters []store.DeadLetter) error {
	return s.in(ctx, func(t *tenant) error {
		if t.dead[consumer] == nil {
			t.dead[consumer] = map[int64]store.DeadLetter{}
		}
		for _, l := range letters {
			l.Consumer, l.Reason, l.At = consumer, core.Truncate(l.Reason, 4000), l.At.Truncate(time.Millisecond)
			t.dead[consumer][l.EventID] = l
		}
		return nil
	})
}

// DeadLetters implements store.Store.
func (s *Store) DeadLetters(ctx context.Context, consumer string, limit int) ([]store.DeadLetter, error) {
	var out []store.DeadLetter
	err := s.in(ctx, func(t *tenant) error {
		for _, l := range t.dead[consumer] {
			out = append(out, l)
		}
		slices.SortFunc(out, func(a, b store.DeadLetter) int {
			if c := b.At.Compare(a.At); c != 0 {
				return c
			}
			return cmpID(a.EventID, b.EventID)
		})
		out = out[:min(len(out), limit)]
		return nil
	})
	return out, err
}

// PruneOutbox implements store.Store.
func (s *Store) PruneOutbox(ctx context.Context, p *store.PruneOutboxParams) (int, error) {
	removed := 0
	err := s.in(ctx, func(t *tenant) error {
		bound := int64(-1) // no consumer: no bound
		for _, c := range t.consumers {
			pos, err := cursorPos(c.position)
			if err != nil {
				return err
			}
			if bound < 0 || pos < bound {
				bound = pos
			}
		}
		for _, name := range p.WaitFor {
			if _, ok := t.consumers[name]; !ok {
				bound = 0
			}
		}
		kept := t.outbox[:0]
		for _, r := range t.outbox {
			if r.ev.Time.Before(p.OlderThan) && (bound < 0 || r.pos <= bound) {
				removed++
				continue
			}
			kept = append(kept, r)
		}
		t.outbox = kept
		for consumer, letters := range t.dead {
			for id, l := range letters {
				if l.At.Before(p.OlderThan) && !t.inOutbox(id) {
					delete(letters, id)
				}
			}
			if len(letters) == 0 {
				delete(t.dead, consumer)
			}
		}
		return nil
	})
	return removed, err
}

func (t *tenant) inOutbox(eventID int64) bool {
	for _, r := range t.outbox {
		if r.ev.ID == eventID {
			return true
		}
	}
	return false
}

// ---- administration ----

// removeInstances deletes instances and every row they hold.
func (t *tenant) removeInstances(ids []int64) {
	gone := map[int64]bool{}
	for _, id := range ids {
		gone[id] = true
		delete(t.instances, id)
	}
	deleteWhere(t.execs, func(x *execRec) bool { return gone[x.InstanceID] })
	deleteWhere(t.vars, func(x *core.VariableRow) bool { return gone[x.InstanceID] })
	deleteWhere(t.tasks, func(x *core.Task) bool { return gone[x.InstanceID] })
	deleteWhere(t.extTasks, func(x *core.ExternalTask) bool { return gone[x.InstanceID] })
	deleteWhere(t.jobs, func(x *core.JobRow) bool { return gone[x.InstanceID] })
	deleteWhere(t.subs, func(x *core.SubRow) bool { return gone[x.InstanceID] })
	deleteWhere(t.incidents, func(x *core.Incident) bool { return gone[x.InstanceID] })
	deleteWhere(t.acts, func(x *core.ActivityInstance) bool { return gone[x.InstanceID] })
	t.varUpdates = slices.DeleteFunc(t.varUpdates, func(x *core.VariableUpdate) bool { return gone[x.InstanceID] })
}

func deleteWhere[K comparable, V any](m map[K]V, drop func(V) bool) {
	for k, v := range m {
		if drop(v) {
			delete(m, k)
		}
	}
}

// CleanupHistory implements store.Store.
func (s *Store) CleanupHistory(ctx context.Context, p *store.CleanupHistoryParams) (int, error) {
	var ids []int64
	err := s.in(ctx, func(t *tenant) error {
		for _, i := range sortedByID(t.instances, func(i *instanceRec) int64 { return i.ID }) {
			d := t.definitions[i.DefinitionID]
			if i.State != core.InstanceActive && d != nil && d.HistoryTimeToLive > 0 && !i.EndedAt.IsZero() &&
				i.EndedAt.Add(d.HistoryTimeToLive).Before(p.Now) && len(ids) < p.Limit {
				ids = append(ids, i.ID)
			}
		}
		t.removeInstances(ids)
		return nil
	})
	return len(ids), err
}

// DeleteDeployment implements store.Store.
func (s *Store) DeleteDeployment(ctx context.Context, p *store.DeleteDeploymentParams) error {
	return s.in(ctx, func(t *tenant) error {
		if t.deployments[p.ID] == nil {
			return core.NotFound("deployment", p.ID)
		}
		defs := map[int64]bool{}
		for _, d := range t.definitions {
			if d.DeploymentID == p.ID {
				defs[d.ID] = true
			}
		}
		var ids []int64
		running := 0
		for _, i := range t.instances {
			if defs[i.DefinitionID] {
				ids = append(ids, i.ID)
				if i.State == core.InstanceActive {
					running++
				}
			}
		}
		if running > 0 && !p.Cascade {
			return fmt.Errorf("%w: deployment %d has %d running instances; delete with cascade to remove them too", core.ErrConflict, p.ID, running)
		}
		if p.Cascade {
			t.removeInstances(ids)
		}
		deleteWhere(t.jobs, func(j *core.JobRow) bool { return defs[j.DefinitionID] })
		deleteWhere(t.subs, func(s *core.SubRow) bool { return defs[s.DefinitionID] })
		deleteWhere(t.definitions, func(d *store.DefinitionRow) bool { return defs[d.ID] })
		delete(t.deployments, p.ID)
		return nil
	})
}

// SuspendDefinition implements store.Store.
func (s *Store) SuspendDefinition(ctx context.Context, p *store.SuspendDefinitionParams) ([]int64, error) {
	var ids []int64
	err := s.in(ctx, func(t *tenant) error {
		d := t.definitions[p.ID]
		if d == nil {
			return core.NotFound("process definition", p.ID)
		}
		d.Suspended = p.Suspended
		for _, i := range sortedByID(t.instances, func(i *instanceRec) int64 { return i.ID }) {
			if i.DefinitionID == p.ID && i.State == core.InstanceActive && i.Suspended != p.Suspended {
				ids = append(ids, i.ID)
			}
		}
		return nil
	})
	return ids, err
}

// DefinitionStatistics implements store.Store.
func (s *Store) DefinitionStatistics(ctx context.Context, definitionID int64) ([]store.ActivityStatistic, error) {
	by := map[string]*store.ActivityStatistic{}
	get := func(el string) *store.ActivityStatistic {
		st := by[el]
		if st == nil {
			st = &store.ActivityStatistic{ElementID: el, Incidents: map[core.IncidentType]int64{}}
			by[el] = st
		}
		return st
	}
	err := s.in(ctx, func(t *tenant) error {
		for _, a := range t.acts {
			if a.DefinitionID == definitionID && a.EndedAt.IsZero() && a.ElementType != "multiInstanceBody" {
				get(a.ElementID).Instances++
			}
		}
		for _, j := range t.jobs {
			if j.DefinitionID == definitionID && j.Retries == 0 {
				get(j.ElementID).FailedJobs++
			}
		}
		for _, i := range t.incidents {
			if i.DefinitionID == definitionID && i.State == "open" {
				get(i.ElementID).Incidents[i.Type]++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]store.ActivityStatistic, 0, len(by))
	for _, el := range core.SortedKeys(by) {
		out = append(out, *by[el])
	}
	return out, nil
}

func cmpID(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
