package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/lib/pq"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Load implements store.Store.
func (s *Store) Load(ctx context.Context, p *store.LoadParams) (*store.Snapshot, error) {
	if snap, ok, err := s.loadAtOnce(ctx, p); ok || err != nil {
		return snap, err
	}
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

// loadAtOnce is Load in one statement on PostgreSQL, for the loads that
// name one row by ID (an instance, a task, an external task or a job):
// each table's rows come back as one JSON column of a single row, so the
// load is one exchange and one snapshot, and, its text fixed for each kind
// of ID, a statement the connection keeps prepared (parsed and planned
// once, where a message of statements was planned on every load). ok is
// false when the load needs the general path: the storage is SQLite, the
// load names several rows or rows by a message or a process key, a
// definition must be compiled first, or the instance was called by
// another one.
func (s *Store) loadAtOnce(ctx context.Context, p *store.LoadParams) (snap *store.Snapshot, ok bool, err error) {
	if p.Message != "" || len(p.StartEventsOf) > 0 {
		return nil, false, nil
	}
	d, err := s.ds.Dialect(ctx)
	if err != nil || d != datasource.Postgres {
		return nil, false, storageError(err)
	}
	var (
		query string
		id    int64
	)
	switch {
	case len(p.InstanceIDs)+btoi(p.TaskID != 0)+btoi(p.ExternalTaskID != 0)+btoi(p.JobID != 0) != 1:
		return nil, false, nil
	case p.TaskID != 0:
		query, id = loadByTask, p.TaskID
	case p.ExternalTaskID != 0:
		query, id = loadByExternalTask, p.ExternalTaskID
	case p.JobID != 0:
		query, id = loadByJob, p.JobID
	default:
		query, id = loadByInstance, p.InstanceIDs[0]
	}
	var (
		tenant string
		row    []driver.Value
	)
	err = s.statement(ctx, func(tx *dbtx) error {
		tenant = tx.Tenant()
		var err error
		row, err = tx.queryRowPrepared(ctx, query, id)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return s.snapshotOf(ctx, p, tenant, row)
}

// LoadJobs implements store.Store: on PostgreSQL one prepared statement
// reads every job's rows (loadByJobs, a row per job), each decoded as a
// load by that job's ID; a job that needs the general path gets nil.
// SQLite, in-process, loads each job with Load.
func (s *Store) LoadJobs(ctx context.Context, p *store.LoadJobsParams) ([]*store.Snapshot, error) {
	d, err := s.ds.Dialect(ctx)
	if err != nil {
		return nil, storageError(err)
	}
	if d != datasource.Postgres || len(p.IDs) < 2 {
		return store.LoadEachJob(ctx, s, p)
	}
	var (
		tenant string
		rows   [][]driver.Value
	)
	err = s.statement(ctx, func(tx *dbtx) error {
		tenant = tx.Tenant()
		var err error
		rows, err = tx.queryPrepared(ctx, loadByJobs, pq.Array(p.IDs))
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(rows) != len(p.IDs) {
		return nil, fmt.Errorf("load jobs: %d rows for %d jobs", len(rows), len(p.IDs))
	}
	out := make([]*store.Snapshot, len(p.IDs))
	for i, row := range rows {
		snap, ok, err := s.snapshotOf(ctx, &store.LoadParams{JobID: p.IDs[i], Definition: p.Definition}, tenant, row)
		if ok && err == nil {
			out[i] = snap
		}
	}
	return out, nil
}

// snapshotOf decodes a row of a load by one ID (the ID p names) into a
// snapshot. ok is false when the load needs the general path.
func (s *Store) snapshotOf(ctx context.Context, p *store.LoadParams, tenant string, row []driver.Value) (snap *store.Snapshot, ok bool, err error) {
	var (
		dests []any
		task  []taskCols
		ext   []extCols
		job   []jobCols
		insts []instanceCols
		all   instanceRows
		jdef  []definitionCols
	)
	switch {
	case p.TaskID != 0:
		dests = []any{&task}
	case p.ExternalTaskID != 0:
		dests = []any{&ext}
	case p.JobID != 0:
		dests = []any{&job}
	}
	dests = append(dests, &insts, &all.execs, &all.vars, &all.acts)
	for _, h := range held {
		dests = append(dests, h.dest(&all))
	}
	if p.JobID != 0 {
		dests = append(dests, &jdef)
	}
	if len(row) != len(dests) {
		return nil, false, fmt.Errorf("load: %d columns for %d tables", len(row), len(dests))
	}
	read := 0
	for i, d := range dests {
		n, err := decodeJSONRows(jsonBytes(row[i]), d)
		if err != nil {
			return nil, false, fmt.Errorf("load: %w", err)
		}
		read += n
	}
	s.rowsRead.Add(int64(read))

	snap = &store.Snapshot{}
	rd := &reader{ctx: ctx, p: p, snap: snap, tenant: tenant, seen: map[int64]bool{}}
	ids := append([]int64(nil), p.InstanceIDs...)
	if len(task) == 1 {
		snap.Task = &core.TaskRow{Task: task[0].public(tenant)}
		if snap.Task.State == core.TaskCreated {
			ids = append(ids, task[0].InstanceID)
		}
	}
	if len(ext) == 1 {
		snap.ExternalTask = &core.ExtTaskRow{ExternalTask: ext[0].public(tenant)}
		ids = append(ids, ext[0].InstanceID)
	}
	if len(job) == 1 {
		snap.Job = job[0].row(tenant)
		if job[0].InstanceID != 0 {
			ids = append(ids, job[0].InstanceID)
		}
	}
	if len(jdef) == 1 {
		d := jdef[0].public(tenant)
		snap.JobDefinition = &d
	}
	byID := map[int64]*instanceCols{}
	for i := range insts {
		byID[insts[i].ID] = &insts[i]
	}
	var visit func(id int64, root bool) (bool, error)
	visit = func(id int64, root bool) (bool, error) {
		if rd.seen[id] {
			return true, nil
		}
		rd.seen[id] = true
		ic := byID[id]
		switch {
		case ic == nil && root:
			return false, core.NotFound("process instance", id)
		case ic == nil:
			return false, nil // a caller: read by the general path
		}
		inst, def := rd.add(ic)
		if def == nil {
			return false, nil
		}
		if inst.State != core.InstanceActive {
			return true, nil
		}
		if ic.SuperInst != 0 {
			if ok, err := visit(ic.SuperInst, false); !ok || err != nil {
				return ok, err
			}
		}
		return true, rd.bind(inst, def, all.of(id))
	}
	for _, id := range ids {
		if ok, err := visit(id, true); !ok || err != nil {
			return nil, ok, err
		}
	}
	snap.Locate()
	return snap, true, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The loads by ID: each finds the instance the row belongs to (its root),
// then reads every table's rows of that instance as a JSON column. A row
// of no instance (a timer start event's job, a standalone task) has
// instance ID 0, shared by every such row: its root is NULL, which matches
// nothing, or each load would read all of them. A task that is no longer
// open, like an instance that is not active, brings no instance rows
// worth binding; they are dropped after the read.
var (
	loadByInstance     = loadQuery(`SELECT $1::bigint AS id`, "")
	loadByTask         = loadQuery(`SELECT NULLIF(instance_id, 0) AS id FROM tf_task WHERE id = $1 AND state = 'created'`, taskSelect+` WHERE id = $1`)
	loadByExternalTask = loadQuery(`SELECT NULLIF(instance_id, 0) AS id FROM tf_external_task WHERE id = $1`, extSelect+` WHERE id = $1`)
	loadByJob          = loadQuery(jobRoot, jobFirst, jobDefinition)
	// loadByJobs is loadByJob for every ID of an array, a row per ID in
	// the array's order.
	loadByJobs = loadEachQuery(jobRoot, jobFirst, jobDefinition)
)

const (
	jobRoot       = `SELECT NULLIF(instance_id, 0) AS id FROM tf_job WHERE id = $1`
	jobFirst      = `SELECT ` + jobColumns + ` FROM tf_job WHERE id = $1`
	jobDefinition = definitionSelect + ` WHERE id = (SELECT definition_id FROM tf_job WHERE id = $1 AND instance_id = 0)`
)

// loadQuery renders a load by ID ($1): the row itself when first is a
// query, then the root instance (root: the ID of the instance the row
// belongs to) and its executions, variables, open activities, the held
// tables and the extra queries, each as json_agg of its rows. Every table
// is read by an index on the instance's ID.
func loadQuery(root, first string, extra ...string) string {
	return `WITH r AS (` + root + `) SELECT ` + loadColumns(`(SELECT id FROM r)`, `$1`, first, extra...)
}

// loadEachQuery renders the load of loadQuery for every ID of an array
// ($1), a row per ID in the array's order.
func loadEachQuery(root, first string, extra ...string) string {
	return `SELECT ` + loadColumns(`q.root`, `q.id`, first, extra...) + ` FROM (SELECT w.id, w.ord, (` +
		strings.ReplaceAll(root, `$1`, `w.id`) + `) AS root FROM unnest($1::bigint[]) WITH ORDINALITY AS w(id, ord)) q ORDER BY q.ord`
}

// loadColumns renders the json_agg columns of a load: rootRef names the
// root instance's ID, id the loaded row's (the $1 of first and extra,
// which take no other parameter).
func loadColumns(rootRef, id, first string, extra ...string) string {
	in := ` WHERE instance_id = ` + rootRef
	tables := []string{instanceSelect + ` WHERE id = ` + rootRef, execSelect + in, varSelect + in,
		actSelect + in + ` AND ended_at IS NULL`}
	if first != "" {
		tables = append([]string{strings.ReplaceAll(first, `$1`, id)}, tables...)
	}
	for _, h := range held {
		tables = append(tables, h.sel+in+h.live)
	}
	for _, x := range extra {
		tables = append(tables, strings.ReplaceAll(x, `$1`, id))
	}
	var q strings.Builder
	for i, t := range tables {
		if i > 0 {
			q.WriteString(`, `)
		}
		q.WriteString(`(SELECT json_agg(x) FROM (` + t + `) x)`)
	}
	return q.String()
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
		if err == nil && jc.InstanceID == 0 && jc.DefinitionID != 0 {
			var dc definitionCols
			err := tx.GetContext(ctx, &dc, definitionSelect+` WHERE id = $1`, jc.DefinitionID)
			if err == nil {
				d := dc.public(r.tenant)
				snap.JobDefinition = &d
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
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
	r.snap.Locate()
	return nil
}

// instance reads an instance and everything it holds, and its caller.
func (r *reader) instance(id int64) error {
	if r.seen[id] {
		return nil
	}
	r.seen[id] = true
	ctx, tx := r.ctx, r.tx
	var ic instanceCols
	if err := tx.GetContext(ctx, &ic, instanceSelect+` WHERE id = $1`, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return core.NotFound("process instance", id)
		}
		return err
	}
	inst, def := r.add(&ic)
	if def == nil {
		return r.missing(ic.DefinitionID)
	}
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
	var rows instanceRows
	where := ` WHERE instance_id = $1`
	if err := tx.SelectContext(ctx, &rows.execs, execSelect+where, id); err != nil {
		return err
	}
	if err := tx.SelectContext(ctx, &rows.vars, varSelect+where, id); err != nil {
		return err
	}
	if err := tx.SelectContext(ctx, &rows.acts, actSelect+where+` AND ended_at IS NULL`, id); err != nil {
		return err
	}
	for _, h := range held {
		if inst.Holds&h.bit != 0 {
			if err := tx.SelectContext(ctx, h.dest(&rows), h.sel+where+h.live, id); err != nil {
				return err
			}
		}
	}
	return r.bind(inst, def, &rows)
}

// held lists the tables an instance has rows in only when its holds bit
// says so: the bit, the query, the condition on live rows, and where in
// instanceRows they go.
var held = []struct {
	bit       int
	sel, live string
	dest      func(*instanceRows) any
}{
	{core.HoldsTasks, taskSelect, ` AND state = 'created'`, func(r *instanceRows) any { return &r.tasks }},
	{core.HoldsExternalTasks, extSelect, ``, func(r *instanceRows) any { return &r.exts }},
	{core.HoldsJobs, `SELECT ` + jobColumns + ` FROM tf_job`, ``, func(r *instanceRows) any { return &r.jobs }},
	{core.HoldsSubscriptions, subSelect, ``, func(r *instanceRows) any { return &r.subs }},
	{core.HoldsIncidents, incidentSelect, ` AND state = 'open'`, func(r *instanceRows) any { return &r.incidents }},
}

// instanceRows are the rows of one active instance, as read.
type instanceRows struct {
	execs     []execCols
	vars      []varCols
	acts      []actCols
	tasks     []taskCols
	exts      []extCols
	jobs      []jobCols
	subs      []subCols
	incidents []incidentCols
}

// of returns the rows of one instance among the rows of several.
func (all *instanceRows) of(id int64) *instanceRows {
	return &instanceRows{
		execs:     only(all.execs, id, func(r *execCols) int64 { return r.InstanceID }),
		vars:      only(all.vars, id, func(r *varCols) int64 { return r.InstanceID }),
		acts:      only(all.acts, id, func(r *actCols) int64 { return r.InstanceID }),
		tasks:     only(all.tasks, id, func(r *taskCols) int64 { return r.InstanceID }),
		exts:      only(all.exts, id, func(r *extCols) int64 { return r.InstanceID }),
		jobs:      only(all.jobs, id, func(r *jobCols) int64 { return r.InstanceID }),
		subs:      only(all.subs, id, func(r *subCols) int64 { return r.InstanceID }),
		incidents: only(all.incidents, id, func(r *incidentCols) int64 { return r.InstanceID }),
	}
}

func only[T any](rows []T, id int64, instance func(*T) int64) []T {
	var out []T
	for i := range rows {
		if instance(&rows[i]) == id {
			out = append(out, rows[i])
		}
	}
	return out
}

// add appends the instance of ic to the snapshot, bound to its definition
// when the caller holds it (def is nil otherwise, and nothing is added).
func (r *reader) add(ic *instanceCols) (*core.Instance, *core.Deployed) {
	def := r.p.Definition(ic.DefinitionID)
	if def == nil {
		return nil, nil
	}
	inst := &core.Instance{ProcessInstance: ic.public(r.tenant), Def: def, Holds: ic.Holds, Loaded: ic.Revision, SuperExec: ic.SuperExec}
	r.snap.Instances = append(r.snap.Instances, inst)
	return inst, def
}

// bind adds the rows of an active instance to the snapshot, its executions
// bound to the elements of its definition.
func (r *reader) bind(inst *core.Instance, def *core.Deployed, rows *instanceRows) error {
	snap := r.snap
	for _, e := range rows.execs {
		x := &core.Execution{ID: e.ID, InstanceID: e.InstanceID, ParentID: e.ParentID, State: core.ExecState(e.State), Scope: e.IsScope,
			ActID: e.ActID, Flags: e.Flags, CreatedAt: e.CreatedAt, Inst: inst}
		if e.ElementID != "" {
			if x.El = def.Model.Element(e.ElementID); x.El == nil {
				return fmt.Errorf("instance %d: element %q is not in its definition", inst.ID, e.ElementID)
			}
		}
		if e.Data != "" {
			x.MI = &core.MIData{}
			if err := json.Unmarshal([]byte(e.Data), x.MI); err != nil {
				return fmt.Errorf("execution %d: %w", e.ID, err)
			}
		}
		if x.ID == inst.ID {
			inst.Root = x
		}
		snap.Executions = append(snap.Executions, x)
	}
	if inst.Root == nil {
		return fmt.Errorf("instance %d is active but has no root execution", inst.ID)
	}
	for i := range rows.vars {
		v, err := rows.vars[i].value()
		if err != nil {
			return fmt.Errorf("variable %q: %w", rows.vars[i].Name, err)
		}
		snap.Variables = append(snap.Variables, &core.VariableRow{ScopeID: rows.vars[i].ScopeID, InstanceID: inst.ID,
			Name: rows.vars[i].Name, Val: v, Rev: rows.vars[i].Revision})
	}
	for i := range rows.acts {
		snap.Activities = append(snap.Activities, &core.ActivityRow{ActivityInstance: rows.acts[i].public(r.tenant)})
	}
	for i := range rows.tasks {
		snap.Tasks = append(snap.Tasks, &core.TaskRow{Task: rows.tasks[i].public(r.tenant)})
	}
	for i := range rows.exts {
		snap.ExtTasks = append(snap.ExtTasks, &core.ExtTaskRow{ExternalTask: rows.exts[i].public(r.tenant)})
	}
	for i := range rows.jobs {
		snap.Jobs = append(snap.Jobs, rows.jobs[i].row(r.tenant))
	}
	for i := range rows.subs {
		snap.Subs = append(snap.Subs, rows.subs[i].row())
	}
	for i := range rows.incidents {
		snap.Incidents = append(snap.Incidents, &core.IncidentRow{Incident: rows.incidents[i].public(r.tenant)})
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
