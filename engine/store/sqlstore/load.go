package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, p *store.LoadParams) (*store.Snapshot, error) {
	snap := &store.Snapshot{}
	err := s.read(ctx, func(tx *dbtx) error {
		snap = &store.Snapshot{}
		r := &reader{ctx: ctx, tx: tx, p: p, snap: snap, tenant: tx.Tenant(), seen: map[int64]bool{}}
		return r.load()
	})
	if err != nil {
		return nil, err
	}
	return snap, nil
}

// reader is one Load.
type reader struct {
	ctx    context.Context
	tx     *dbtx
	p      *store.LoadParams
	snap   *store.Snapshot
	tenant string
	seen   map[int64]bool // instances read (or being read)
	asked  map[int64]bool // definitions already reported missing
}

func (r *reader) load() error {
	ctx, tx, p, snap := r.ctx, r.tx, r.p, r.snap
	ids := append([]int64(nil), p.InstanceIDs...)
	if p.TaskID != 0 {
		var tc taskCols
		err := tx.GetContext(ctx, &tc, taskSelect+` WHERE id = $1`, p.TaskID)
		if err == nil {
			snap.Task = &core.TaskRow{Task: tc.public(r.tenant)}
			if snap.Task.State == core.TaskCreated {
				ids = append(ids, tc.InstanceID)
			}
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	if p.ExternalTaskID != 0 {
		var ec extCols
		err := tx.GetContext(ctx, &ec, extSelect+` WHERE id = $1`, p.ExternalTaskID)
		if err == nil {
			snap.ExternalTask = &core.ExtTaskRow{ExternalTask: ec.public(r.tenant)}
			ids = append(ids, ec.InstanceID)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	if p.JobID != 0 {
		var jc jobCols
		err := tx.GetContext(ctx, &jc, `SELECT `+jobColumns+` FROM tf_job WHERE id = $1`, p.JobID)
		if err == nil {
			snap.Job = jc.row(r.tenant)
			if jc.InstanceID != 0 {
				ids = append(ids, jc.InstanceID)
			}
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	if p.Message != "" {
		q := subSelect + ` WHERE kind = 'message' AND name = $1`
		args := []any{p.Message}
		if p.MessageInstanceID != 0 {
			q += ` AND instance_id = $2`
			args = append(args, p.MessageInstanceID)
		}
		var rows []subCols
		if err := tx.SelectContext(ctx, &rows, q+` ORDER BY id`, args...); err != nil {
			return err
		}
		for i := range rows {
			snap.Waiting = append(snap.Waiting, rows[i].row())
			ids = append(ids, rows[i].InstanceID)
		}
		rows = rows[:0]
		if err := tx.SelectContext(ctx, &rows, subSelect+` WHERE kind = 'message-start' AND name = $1 ORDER BY id`, p.Message); err != nil {
			return err
		}
		for i := range rows {
			snap.Starts = append(snap.Starts, rows[i].row())
		}
	}
	if len(p.StartEventsOf) > 0 {
		marks, args := inList(p.StartEventsOf, 1)
		var jobs []jobCols
		if err := tx.SelectContext(ctx, &jobs, `SELECT `+jobColumns+` FROM tf_job WHERE kind = 'timer-start' AND instance_id = 0
			AND def_key IN (`+marks+`) ORDER BY id`, args...); err != nil {
			return err
		}
		for i := range jobs {
			snap.StartJobs = append(snap.StartJobs, jobs[i].row(r.tenant))
		}
		var subs []subCols
		if err := tx.SelectContext(ctx, &subs, subSelect+` WHERE kind = 'message-start' AND def_key IN (`+marks+`) ORDER BY id`, args...); err != nil {
			return err
		}
		for i := range subs {
			snap.StartSubs = append(snap.StartSubs, subs[i].row())
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
	r.locate()
	return nil
}

// locate points the located rows at the unit's own rows of their
// instances, when those were read.
func (r *reader) locate() {
	snap := r.snap
	if t := snap.Task; t != nil {
		for _, u := range snap.Tasks {
			if u.ID == t.ID {
				snap.Task = u
			}
		}
	}
	if t := snap.ExternalTask; t != nil {
		for _, u := range snap.ExtTasks {
			if u.ID == t.ID {
				snap.ExternalTask = u
			}
		}
	}
	if j := snap.Job; j != nil {
		for _, u := range snap.Jobs {
			if u.ID == j.ID {
				snap.Job = u
			}
		}
	}
	for i, w := range snap.Waiting {
		for _, u := range snap.Subs {
			if u.ID == w.ID {
				snap.Waiting[i] = u
			}
		}
	}
}

// instance reads an instance and everything it holds, and its caller.
func (r *reader) instance(id int64) error {
	if r.seen[id] {
		return nil
	}
	r.seen[id] = true
	ctx, tx, snap := r.ctx, r.tx, r.snap
	var ic instanceCols
	if err := tx.GetContext(ctx, &ic, instanceSelect+` WHERE id = $1`, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return core.NotFound("process instance", id)
		}
		return err
	}
	def := r.p.Definition(ic.DefinitionID)
	if def == nil {
		return r.missing(ic.DefinitionID)
	}
	inst := &core.Instance{ProcessInstance: ic.public(r.tenant), Def: def, Holds: ic.Holds, Loaded: ic.Revision, SuperExec: ic.SuperExec}
	snap.Instances = append(snap.Instances, inst)
	if inst.State != core.InstanceActive {
		return nil
	}
	// A called instance's caller comes along: its end continues the
	// caller, and an error it throws may be caught there.
	if ic.SuperInst != 0 {
		if err := r.instance(ic.SuperInst); err != nil {
			return err
		}
	}

	var execs []execCols
	if err := tx.SelectContext(ctx, &execs, `SELECT id, instance_id, parent_id, element_id, state, is_scope,
		activity_instance_id, flags, data, created_at FROM tf_execution WHERE instance_id = $1`, id); err != nil {
		return err
	}
	for _, e := range execs {
		x := &core.Execution{ID: e.ID, InstanceID: e.InstanceID, ParentID: e.ParentID, State: core.ExecState(e.State), Scope: e.IsScope,
			ActID: e.ActID, Flags: e.Flags, CreatedAt: e.CreatedAt, Inst: inst}
		if e.ElementID != "" {
			if x.El = def.Model.Element(e.ElementID); x.El == nil {
				return fmt.Errorf("instance %d: element %q is not in its definition", id, e.ElementID)
			}
		}
		if e.Data != "" {
			x.MI = &core.MIData{}
			if err := json.Unmarshal([]byte(e.Data), x.MI); err != nil {
				return fmt.Errorf("execution %d: %w", e.ID, err)
			}
		}
		if x.ID == id {
			inst.Root = x
		}
		snap.Executions = append(snap.Executions, x)
	}
	if inst.Root == nil {
		return fmt.Errorf("instance %d is active but has no root execution", id)
	}

	var vars []varCols
	if err := tx.SelectContext(ctx, &vars, `SELECT scope_id, name, instance_id, type, text_value, long_value,
		double_value, revision FROM tf_variable WHERE instance_id = $1`, id); err != nil {
		return err
	}
	for i := range vars {
		v, err := vars[i].value()
		if err != nil {
			return fmt.Errorf("variable %q: %w", vars[i].Name, err)
		}
		snap.Variables = append(snap.Variables, &core.VariableRow{ScopeID: vars[i].ScopeID, InstanceID: id, Name: vars[i].Name, Val: v, Rev: vars[i].Revision})
	}

	var acts []actCols
	if err := tx.SelectContext(ctx, &acts, actSelect+` WHERE instance_id = $1 AND ended_at IS NULL`, id); err != nil {
		return err
	}
	for i := range acts {
		snap.Activities = append(snap.Activities, &core.ActivityRow{ActivityInstance: acts[i].public(r.tenant)})
	}

	if inst.Holds&core.HoldsTasks != 0 {
		var rows []taskCols
		if err := tx.SelectContext(ctx, &rows, taskSelect+` WHERE instance_id = $1 AND state = 'created'`, id); err != nil {
			return err
		}
		for i := range rows {
			snap.Tasks = append(snap.Tasks, &core.TaskRow{Task: rows[i].public(r.tenant)})
		}
	}
	if inst.Holds&core.HoldsExternalTasks != 0 {
		var rows []extCols
		if err := tx.SelectContext(ctx, &rows, extSelect+` WHERE instance_id = $1`, id); err != nil {
			return err
		}
		for i := range rows {
			snap.ExtTasks = append(snap.ExtTasks, &core.ExtTaskRow{ExternalTask: rows[i].public(r.tenant)})
		}
	}
	if inst.Holds&core.HoldsJobs != 0 {
		var rows []jobCols
		if err := tx.SelectContext(ctx, &rows, `SELECT `+jobColumns+` FROM tf_job WHERE instance_id = $1`, id); err != nil {
			return err
		}
		for i := range rows {
			snap.Jobs = append(snap.Jobs, rows[i].row(r.tenant))
		}
	}
	if inst.Holds&core.HoldsSubscriptions != 0 {
		var rows []subCols
		if err := tx.SelectContext(ctx, &rows, subSelect+` WHERE instance_id = $1`, id); err != nil {
			return err
		}
		for i := range rows {
			snap.Subs = append(snap.Subs, rows[i].row())
		}
	}
	if inst.Holds&core.HoldsIncidents != 0 {
		var rows []incidentCols
		if err := tx.SelectContext(ctx, &rows, incidentSelect+` WHERE instance_id = $1 AND state = 'open'`, id); err != nil {
			return err
		}
		for i := range rows {
			snap.Incidents = append(snap.Incidents, &core.IncidentRow{Incident: rows[i].public(r.tenant)})
		}
	}
	return nil
}

// missing reports a definition the caller must compile before the load can
// bind executions to its elements.
func (r *reader) missing(id int64) error {
	if r.asked == nil {
		r.asked = map[int64]bool{}
	}
	if r.asked[id] {
		return nil
	}
	r.asked[id] = true
	src, err := definitionSource(r.ctx, r.tx, &store.DefinitionParams{ID: id, WithContent: true})
	if err != nil {
		return err
	}
	r.snap.Missing = append(r.snap.Missing, src)
	return nil
}

// inList renders n placeholders from first, for values.
func inList[T any](values []T, first int) (string, []any) {
	marks := make([]string, len(values))
	args := make([]any, len(values))
	for i, v := range values {
		marks[i] = "$" + strconv.Itoa(first+i)
		args[i] = v
	}
	return strings.Join(marks, ", "), args
}
