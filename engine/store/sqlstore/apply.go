package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lib/pq"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Apply implements store.Store. On PostgreSQL the units' changes go as
// one statement whenever they fit in one (always, but for huge units),
// with every revision check and guard inside it (tf_assert): with no
// transaction around it, a command commits in one round trip. Otherwise,
// and on SQLite, the statements share a transaction.
func (s *Store) Apply(ctx context.Context, p *store.ApplyParams) error {
	d, err := s.ds.Dialect(ctx)
	if err != nil {
		return storageError(err)
	}
	a := &applier{ctx: ctx, pg: d == datasource.Postgres}
	for _, dep := range p.Deployments {
		a.deployment(dep)
	}
	for _, u := range p.Units {
		if err := a.collect(u); err != nil {
			return err
		}
	}
	for _, g := range p.Latest {
		a.guards = append(a.guards, latestGuard(g))
	}
	a.flushDeletes()
	a.appendEvents()
	if !a.pg {
		return s.write(ctx, a.flushSQLite)
	}
	stmts := a.statements()
	run := func(tx *dbtx) error {
		a.tx = tx
		for _, st := range stmts {
			if err := a.combined(st.parts, st.guards); err != nil {
				return err
			}
		}
		return nil
	}
	if len(stmts) == 1 {
		err = s.statement(ctx, run)
	} else {
		err = s.write(ctx, run)
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "TF001" {
		return &store.StaleDefinitionError{Key: pqErr.Detail}
	}
	return err
}

// latestGuard checks that a version is still the latest of its key, and
// not suspended.
func latestGuard(g store.LatestGuard) guard {
	return guard{
		expr: `EXISTS (SELECT 1 FROM tf_definition WHERE id = $1 AND suspended = FALSE
			AND version = (SELECT MAX(version) FROM tf_definition WHERE def_key = $2))`,
		args: []any{g.DefinitionID, g.Key},
		key:  g.Key,
	}
}

// ---- applying ----

// outboxChunk bounds the rows of one outbox INSERT, so that the first
// one always fits in the statement that enters the gate (maxArgs).
const outboxChunk = 2000

// columnList splits a column constant written over several lines.
func columnList(cols string) []string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// batch collects rows for one multi-row INSERT.
type batch struct {
	table string
	cols  []string
	args  []any
	rows  int

	// clocked batches are outbox rows numbered from SQLite's commit clock
	// (see the outbox migrations): each row gets a leading pos of the
	// clock's new value minus back (row 0), back-1 (row 1), and so on.
	// On PostgreSQL outbox rows take their position from a sequence.
	clocked bool
	back    int
}

func (b *batch) add(vals ...any) {
	b.args = append(b.args, vals...)
	b.rows++
}

// mergeRows bounds the rows one merged INSERT collects.
const mergeRows = 2000

// exec queues the INSERT in the apply step. On PostgreSQL the rows of
// every unit of the step go into one INSERT per table (up to mergeRows),
// so that a batch of a hundred units is a statement of a few dozen
// sub-statements, not a few hundred: PostgreSQL plans the statement
// whenever its text is new, and the plan's cost grows with them. (The
// outbox's rows are merged by appendEvents, which orders them.)
func (b *batch) exec(a *applier) {
	if b.rows == 0 {
		return
	}
	if a.pg && !b.clocked && b.table != "tf_outbox" {
		if m := a.merged[b.table]; m != nil && slices.Equal(m.cols, b.cols) && m.rows+b.rows <= mergeRows {
			m.args = append(m.args, b.args...)
			m.rows += b.rows
			return
		}
		if a.merged == nil {
			a.merged = map[string]*batch{}
		}
		a.merged[b.table] = b
	}
	a.pending = append(a.pending, part{batch: b, want: -1})
}

// sql renders the INSERT with placeholders numbered from first.
func (b *batch) sql(first int) string { return string(b.appendSQL(nil, first)) }

// appendSQL appends the INSERT to q, writing the placeholders' numbers in
// place: a unit's statements hold hundreds of them.
func (b *batch) appendSQL(q []byte, first int) []byte {
	q = append(q, "INSERT INTO "...)
	q = append(q, b.table...)
	q = append(q, " ("...)
	if b.clocked {
		q = append(q, "pos, "...)
	}
	for c, col := range b.cols {
		if c > 0 {
			q = append(q, ", "...)
		}
		q = append(q, col...)
	}
	q = append(q, ") VALUES "...)
	n := first
	for r := 0; r < b.rows; r++ {
		if r > 0 {
			q = append(q, ", "...)
		}
		q = append(q, '(')
		if b.clocked {
			q = append(q, "(SELECT last FROM tf_outbox_clock) - "...)
			q = strconv.AppendInt(q, int64(b.back-r), 10)
			q = append(q, ", "...)
		}
		for c := range b.cols {
			if c > 0 {
				q = append(q, ", "...)
			}
			q = append(q, '$')
			q = strconv.AppendInt(q, int64(n), 10)
			n++
		}
		q = append(q, ')')
	}
	return q
}

// exec queues one statement of the apply step.
func (a *applier) exec(q string, args ...any) {
	a.pending = append(a.pending, part{sql: q, args: args, want: -1})
}

// execOne queues an UPDATE or DELETE that must hit exactly one row, or the
// apply step fails with ErrConflict.
func (a *applier) execOne(what string, q string, args ...any) {
	a.pending = append(a.pending, part{sql: q, args: args, want: 1, what: what})
}

// deleteIDs deletes rows by ID, unchecked. On PostgreSQL the IDs of
// every unit of the step go into one statement per table (see
// flushDeletes).
func deleteIDs(a *applier, table, col string, ids []int64) {
	if len(ids) == 0 {
		return
	}
	if a.pg {
		a.arrayDelete(table, col, "", ids, nil)
		return
	}
	var q strings.Builder
	q.WriteString("DELETE FROM " + table + " WHERE " + col + " IN (")
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("$" + strconv.Itoa(i+1))
		args[i] = id
	}
	q.WriteString(")")
	a.exec(q.String(), args...)
}

// arrayDeletes are the rows of one table (by one column) an apply step
// deletes on PostgreSQL, in one sub-statement over an array. Fenced ones
// (revs set) must each still be at the revision they were read at.
type arrayDeletes struct {
	table, col, noun string
	ids, revs        []int64
}

// arrayDelete adds rows to the step's delete of table by col: fenced by
// revisions when revs is not nil (noun names the rows in a conflict).
func (a *applier) arrayDelete(table, col, noun string, ids, revs []int64) {
	fenced := revs != nil
	for _, d := range a.deletes {
		if d.table == table && d.col == col && (d.revs != nil) == fenced {
			d.ids, d.revs = append(d.ids, ids...), append(d.revs, revs...)
			return
		}
	}
	a.deletes = append(a.deletes, &arrayDeletes{table: table, col: col, noun: noun,
		ids: slices.Clone(ids), revs: slices.Clone(revs)})
}

// deleteFenced queues the delete of a row that must still be at revision
// rev, or the apply step fails with ErrConflict. On PostgreSQL the rows of
// a table go as one statement for the whole step (arrays of IDs and
// revisions, see flushDeletes), so that a batch of a hundred jobs is one
// sub-statement, planned once whatever the batch's size, not a hundred;
// on SQLite, in-process, each row is a statement.
func (a *applier) deleteFenced(table, noun string, id, rev int64) {
	if !a.pg {
		a.execOne(fmt.Sprintf("%s %d", noun, id), `DELETE FROM `+table+` WHERE id = $1 AND revision = $2`, id, rev)
		return
	}
	a.arrayDelete(table, "id", noun, []int64{id}, []int64{rev})
}

// flushDeletes queues the deletes collected on PostgreSQL, one part per
// table: a fenced one must delete every row it names.
func (a *applier) flushDeletes() {
	for _, d := range a.deletes {
		if d.revs == nil {
			a.exec(`DELETE FROM `+d.table+` WHERE `+d.col+` = ANY($1::bigint[])`, pq.Array(d.ids))
			continue
		}
		what := fmt.Sprintf("%s %d", d.noun, d.ids[0])
		if len(d.ids) > 1 {
			what = fmt.Sprintf("one of %d rows (%s %d, …)", len(d.ids), d.noun, d.ids[0])
		}
		a.pending = append(a.pending, part{sql: `DELETE FROM ` + d.table +
			` WHERE (id, revision) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))`,
			args: []any{pq.Array(d.ids), pq.Array(d.revs)}, want: int64(len(d.ids)), what: what})
	}
	a.deletes = nil
}

// collect turns a unit's net changes into statements of the apply step:
// new rows inserted, changed rows updated (fenced by revisions), deleted
// rows removed, history appended; its events wait for appendEvents, which
// inserts every unit's events after one entry into the outbox gate (or
// move of the clock). Instances that
// were loaded move their revision, so a command that raced another on the
// same instance fails with ErrConflict.
func (a *applier) collect(u *core.Unit) error {
	for _, inst := range u.Instances {
		inst.Holds = u.ComputeHolds(inst)
	}
	ins := &batch{table: "tf_instance", cols: []string{"id", "definition_id", "def_key", "business_key", "state", "suspended",
		"super_instance_id", "super_execution_id", "start_activity", "end_activity", "start_user", "delete_reason", "holds",
		"started_at", "ended_at", "revision"}}
	for _, i := range u.Instances {
		switch {
		case i.Op == core.RowNew:
			ins.add(i.ID, i.DefinitionID, i.DefinitionKey, i.BusinessKey, string(i.State), i.Suspended, i.SuperInstanceID,
				i.SuperExec, i.StartActivityID, i.EndActivityID, i.StartUserID, i.DeleteReason, i.Holds, msOf(i.StartedAt),
				nullMS(i.EndedAt), 1)
		case i.Loaded != 0:
			a.execOne(fmt.Sprintf("process instance %d", i.ID), `UPDATE tf_instance SET state = $1, suspended = $2,
				end_activity = $3, delete_reason = $4, holds = $5, ended_at = $6, business_key = $7, revision = revision + 1
				WHERE id = $8 AND revision = $9`, string(i.State), i.Suspended, i.EndActivityID, i.DeleteReason, i.Holds,
				nullMS(i.EndedAt), i.BusinessKey, i.ID, i.Loaded)
		}
	}
	ins.exec(a)

	ex := &batch{table: "tf_execution", cols: []string{"id", "instance_id", "parent_id", "element_id", "state", "is_scope",
		"activity_instance_id", "flags", "data", "created_at"}}
	var gone []int64
	for _, x := range u.Execs {
		data := ""
		if x.MI != nil {
			b, _ := json.Marshal(x.MI)
			data = string(b)
		}
		switch x.Op {
		case core.RowNew:
			ex.add(x.ID, x.InstanceID, x.ParentID, x.ElementID(), string(x.State), x.Scope, x.ActID, x.Flags, data, x.CreatedAt)
		case core.RowDirty:
			a.exec(`UPDATE tf_execution SET element_id = $1, state = $2, is_scope = $3, activity_instance_id = $4,
				flags = $5, data = $6 WHERE id = $7`, x.ElementID(), string(x.State), x.Scope, x.ActID, x.Flags, data, x.ID)
		case core.RowGone:
			gone = append(gone, x.ID)
		}
	}
	ex.exec(a)
	deleteIDs(a, "tf_execution", "id", gone)

	if err := a.applyVariables(u); err != nil {
		return err
	}
	a.applyTasks(u)
	a.applyExternalTasks(u)
	a.applyJobs(u)
	a.applySubs(u)
	a.applyIncidents(u)
	a.applyActivities(u)
	a.events = append(a.events, u.Events...)
	return nil
}

func (a *applier) applyVariables(u *core.Unit) error {
	ins := &batch{table: "tf_variable", cols: []string{"scope_id", "name", "instance_id", "type", "text_value", "long_value", "double_value", "revision"}}
	// A variable deleted and set again in one unit is one update: the
	// statements of one apply must not touch a row twice.
	type key struct {
		scope int64
		name  string
	}
	var gone map[key]bool
	for _, v := range u.Vars {
		if v.Op == core.RowGone {
			if gone == nil {
				gone = map[key]bool{}
			}
			gone[key{v.ScopeID, v.Name}] = true
		}
	}
	var reborn map[key]bool
	for _, v := range u.Vars {
		if v.Op == core.RowNew && gone[key{v.ScopeID, v.Name}] {
			if reborn == nil {
				reborn = map[key]bool{}
			}
			reborn[key{v.ScopeID, v.Name}] = true
		}
	}
	for _, v := range u.Vars {
		s, err := v.Val.Columns()
		if err != nil {
			return fmt.Errorf("variable %q: %w", v.Name, err)
		}
		op := v.Op
		switch k := (key{v.ScopeID, v.Name}); {
		case op == core.RowGone && reborn[k]:
			continue
		case op == core.RowNew && reborn[k]:
			op = core.RowDirty
		}
		switch op {
		case core.RowNew:
			ins.add(v.ScopeID, v.Name, v.InstanceID, string(v.Val.Type), s.Text, s.Long, s.Double, v.Rev)
		case core.RowDirty:
			a.exec(`UPDATE tf_variable SET type = $1, text_value = $2, long_value = $3, double_value = $4, revision = $5
				WHERE scope_id = $6 AND name = $7`, string(v.Val.Type), s.Text, s.Long, s.Double, v.Rev, v.ScopeID, v.Name)
		case core.RowGone:
			a.exec(`DELETE FROM tf_variable WHERE scope_id = $1 AND name = $2`, v.ScopeID, v.Name)
		}
	}
	ins.exec(a)
	upd := &batch{table: "tf_variable_update", cols: []string{"id", "instance_id", "scope_id", "name", "type", "text_value",
		"long_value", "double_value", "revision", "element_id", "task_id", "at"}}
	for _, vu := range u.VarUpdates {
		s, err := vu.Value.Columns()
		if err != nil {
			return err
		}
		upd.add(vu.ID, vu.InstanceID, vu.ScopeID, vu.Name, string(vu.Value.Type), s.Text, s.Long, s.Double, vu.Revision, vu.ElementID, vu.TaskID, msOf(vu.At))
	}
	upd.exec(a)
	return nil
}

func (a *applier) applyTasks(u *core.Unit) {
	ins := &batch{table: "tf_task", cols: []string{"id", "instance_id", "execution_id", "definition_id", "def_key", "element_id",
		"name", "assignee", "candidate_users", "candidate_groups", "priority", "form_key", "due_at", "follow_up_at", "state",
		"suspended", "delete_reason", "created_at", "ended_at", "revision"}}
	for _, t := range u.Tasks {
		switch t.Op {
		case core.RowNew:
			ins.add(t.ID, t.InstanceID, t.ExecutionID, t.DefinitionID, t.DefinitionKey, t.ElementID, t.Name, t.Assignee,
				joinList(t.CandidateUsers), joinList(t.CandidateGroups), t.Priority, t.FormKey, nullMS(t.Due), nullMS(t.FollowUp),
				string(t.State), t.Suspended, t.DeleteReason, msOf(t.CreatedAt), nullMS(t.EndedAt), t.Revision)
		case core.RowDirty:
			a.execOne(fmt.Sprintf("task %d", t.ID), `UPDATE tf_task SET assignee = $1, state = $2, delete_reason = $3,
				ended_at = $4, suspended = $5, revision = revision + 1 WHERE id = $6 AND revision = $7`,
				t.Assignee, string(t.State), t.DeleteReason, nullMS(t.EndedAt), t.Suspended, t.ID, t.Revision)
		}
	}
	ins.exec(a)
}

func (a *applier) applyExternalTasks(u *core.Unit) {
	ins := &batch{table: "tf_external_task", cols: []string{"id", "instance_id", "execution_id", "definition_id", "def_key",
		"element_id", "topic", "business_key", "worker_id", "lock_expires_at", "retries", "error_message", "error_details",
		"priority", "suspended", "created_at", "revision"}}
	for _, t := range u.ExtTasks {
		var retries any
		if t.Retries != nil {
			retries = *t.Retries
		}
		switch t.Op {
		case core.RowNew:
			ins.add(t.ID, t.InstanceID, t.ExecutionID, t.DefinitionID, t.DefinitionKey, t.ElementID, t.Topic, t.BusinessKey,
				t.WorkerID, msOf(t.LockExpiresAt), retries, t.ErrorMessage, t.ErrorDetails, t.Priority, t.Suspended, msOf(t.CreatedAt), t.Revision)
		case core.RowDirty:
			a.execOne(fmt.Sprintf("external task %d", t.ID), `UPDATE tf_external_task SET worker_id = $1,
				lock_expires_at = $2, retries = $3, error_message = $4, error_details = $5, suspended = $6, priority = $7,
				revision = revision + 1 WHERE id = $8 AND revision = $9`, t.WorkerID, msOf(t.LockExpiresAt), retries,
				t.ErrorMessage, t.ErrorDetails, t.Suspended, t.Priority, t.ID, t.Revision)
		case core.RowGone:
			a.deleteFenced("tf_external_task", "external task", t.ID, t.Revision)
		}
	}
	ins.exec(a)
}

func (a *applier) applyJobs(u *core.Unit) {
	ins := &batch{table: "tf_job", cols: columnList(jobColumns)}
	for _, j := range u.Jobs {
		data := ""
		if j.Data != (core.JobData{}) {
			b, _ := json.Marshal(j.Data)
			data = string(b)
		}
		switch j.Op {
		case core.RowNew:
			ins.add(j.ID, string(j.Kind), j.InstanceID, j.ExecutionID, j.DefinitionID, j.DefinitionKey, j.ElementID, msOf(j.DueAt),
				j.Priority, j.Retries, j.LockOwner, msOf(j.LockExpiresAt), j.ErrorMessage, j.ExcStack, data, j.Suspended, j.CreatedAt, j.Revision)
		case core.RowDirty:
			a.execOne(fmt.Sprintf("job %d", j.ID), `UPDATE tf_job SET due_at = $1, retries = $2, lock_owner = $3,
				lock_expires_at = $4, exception_message = $5, exception_stack = $6, data = $7, suspended = $8,
				revision = revision + 1 WHERE id = $9 AND revision = $10`, msOf(j.DueAt), j.Retries, j.LockOwner,
				msOf(j.LockExpiresAt), j.ErrorMessage, j.ExcStack, data, j.Suspended, j.ID, j.Revision)
		case core.RowGone:
			// Fenced like an update: a job another node acquired since it
			// was read (its revision moved) is not deleted under it.
			a.deleteFenced("tf_job", "job", j.ID, j.Revision)
		}
	}
	ins.exec(a)
}

func (a *applier) applySubs(u *core.Unit) {
	ins := &batch{table: "tf_subscription", cols: []string{"id", "kind", "name", "instance_id", "execution_id", "definition_id", "def_key", "element_id", "created_at"}}
	var gone []int64
	for _, s := range u.Subs {
		switch s.Op {
		case core.RowNew:
			ins.add(s.ID, s.Kind, s.Name, s.InstanceID, s.ExecutionID, s.DefinitionID, s.DefinitionKey, s.ElementID, s.CreatedAt)
		case core.RowGone:
			gone = append(gone, s.ID)
		}
	}
	ins.exec(a)
	deleteIDs(a, "tf_subscription", "id", gone)
}

func (a *applier) applyIncidents(u *core.Unit) {
	ins := &batch{table: "tf_incident", cols: []string{"id", "type", "instance_id", "execution_id", "definition_id", "def_key",
		"element_id", "job_id", "external_task_id", "message", "state", "created_at", "ended_at"}}
	for _, i := range u.Incidents {
		switch i.Op {
		case core.RowNew:
			ins.add(i.ID, string(i.Type), i.InstanceID, i.ExecutionID, i.DefinitionID, i.DefinitionKey, i.ElementID, i.JobID,
				i.ExternalTaskID, i.Message, i.State, msOf(i.CreatedAt), nullMS(i.EndedAt))
		case core.RowDirty:
			a.exec(`UPDATE tf_incident SET state = $1, ended_at = $2 WHERE id = $3`, i.State, nullMS(i.EndedAt), i.ID)
		}
	}
	ins.exec(a)
}

func (a *applier) applyActivities(u *core.Unit) {
	ins := &batch{table: "tf_activity", cols: []string{"id", "instance_id", "execution_id", "parent_id", "definition_id",
		"element_id", "element_type", "name", "task_id", "called_instance_id", "canceled", "started_at", "ended_at"}}
	for _, r := range u.Acts {
		switch r.Op {
		case core.RowNew:
			ins.add(r.ID, r.InstanceID, r.ExecutionID, r.ParentID, r.DefinitionID, r.ElementID, r.ElementType, r.Name,
				r.TaskID, r.CalledInstanceID, r.Canceled, msOf(r.StartedAt), nullMS(r.EndedAt))
		case core.RowDirty:
			a.exec(`UPDATE tf_activity SET ended_at = $1, canceled = $2, task_id = $3, called_instance_id = $4 WHERE id = $5`,
				nullMS(r.EndedAt), r.Canceled, r.TaskID, r.CalledInstanceID, r.ID)
		}
	}
	ins.exec(a)
}

// appendEvents inserts the events of every unit collected, in order, so
// that they get their outbox positions in commit order (see the outbox
// migrations for why each works): on PostgreSQL the statement first
// enters the outbox gate and each row takes the next value of the
// position sequence; on SQLite the events are numbered from the commit
// clock, moved by their number.
func (a *applier) appendEvents() {
	events := a.events
	if len(events) == 0 {
		return
	}
	if a.pg {
		a.pending = append(a.pending, part{sql: `DELETE FROM tf_outbox_gate WHERE FALSE`, want: -1, gate: true})
	} else {
		a.pending = append(a.pending, part{sql: `UPDATE tf_outbox_clock SET last = last + $1`, args: []any{len(events)}, want: -1, gate: true})
	}
	for start := 0; start < len(events); start += outboxChunk {
		chunk := events[start:min(start+outboxChunk, len(events))]
		ev := &batch{table: "tf_outbox", cols: []string{"id", "type", "at", "instance_id", "business_key", "definition_id",
			"def_key", "element_id", "element_type", "task_id", "data"}, args: make([]any, 0, 11*len(chunk)),
			clocked: !a.pg, back: len(events) - 1 - start}
		for _, e := range chunk {
			ev.add(e.ID, string(e.Type), msOf(e.Time), e.InstanceID, e.BusinessKey, e.DefinitionID, e.DefinitionKey,
				e.ElementID, e.ElementType, e.TaskID, string(e.Data))
		}
		ev.exec(a)
	}
}

// The apply step collects its statements (parts) and sends them together.
// On SQLite, which runs in-process, they run in the order collected, those
// without a row count to check as one multi-statement script. On
// PostgreSQL every round trip costs, so the whole unit goes as one
// statement of data-modifying CTEs,
//
//	WITH p0 AS (UPDATE … RETURNING 1), p1 AS (INSERT …), …
//	SELECT (SELECT count(*) FROM p0), <guard>, …
//
// whose single result row carries the row counts the revision checks need
// and the guards' verdicts. The sub-statements of one statement see the
// same snapshot and must not touch the same row twice; a unit touches each
// row once, except that a variable may be deleted and created again under
// the same name, so variable deletions go first, on their own.

// part is one statement of the apply step.
type part struct {
	sql   string // with placeholders $1…; or, for an insert, batch
	args  []any
	batch *batch
	want  int64  // rows it must affect (a revision check), or -1
	what  string // what a failed revision check names
	// gate marks the statement that orders the events: the outbox gate
	// on PostgreSQL, the clock on SQLite. It goes before them.
	gate bool
}

func (p *part) text(first int) string {
	if p.batch != nil {
		return p.batch.sql(first)
	}
	return string(appendRenumbered(nil, p.sql, first-1))
}

// appendText appends the part's statement with placeholders from first.
func (p *part) appendText(q []byte, first int) []byte {
	if p.batch != nil {
		return p.batch.appendSQL(q, first)
	}
	return appendRenumbered(q, p.sql, first-1)
}

// events tells whether the part inserts outbox rows.
func (p *part) events() bool { return p.batch != nil && p.batch.table == "tf_outbox" }

func (p *part) arguments() []any {
	if p.batch != nil {
		return p.batch.args
	}
	return p.args
}

// guard is a condition the unit was planned on, checked when it is applied
// (in the same statement on PostgreSQL): a boolean SQL expression, and the
// error to return (rolling the unit back) when it is false.
type guard struct {
	expr string // with placeholders $1…
	args []any
	key  string // the process key of a latest-version guard
}

// maxArgs keeps one statement under PostgreSQL's 65,535 parameters.
const maxArgs = 30_000

// applier is one apply step: the statements of one or more units of work
// (and what their commands wrote beside them), sent in one transaction.
type applier struct {
	ctx     context.Context
	tx      *dbtx
	pg      bool
	pending []part
	guards  []guard
	events  []*core.Event
	// PostgreSQL: the INSERT of each table and the deletes, shared by
	// the step's units; the deletes are queued last.
	merged  map[string]*batch
	deletes []*arrayDeletes
}

// flushSQLite sends the collected parts in the transaction tx: in
// process, a round trip costs nothing, but every statement passed to the
// driver does (the driver and database/sql's per-call work), so parts
// without a row count to check go as one script, in order; the guards
// follow.
func (l *applier) flushSQLite(tx *dbtx) error {
	l.tx = tx
	parts, guards := l.pending, l.guards
	for i := 0; i < len(parts); {
		j, args := i, 0
		for j < len(parts) && parts[j].want < 0 && (j == i || args+len(parts[j].arguments()) <= maxArgs) {
			args += len(parts[j].arguments())
			j++
		}
		var err error
		if j-i > 1 {
			err = l.script(parts[i:j], args)
		} else {
			err, j = l.runPart(&parts[i]), i+1
		}
		if err != nil {
			return err
		}
		i = j
	}
	for _, g := range guards {
		var ok bool
		if err := l.tx.GetContext(l.ctx, &ok, `SELECT `+g.expr, g.args...); err != nil {
			return err
		}
		if !ok {
			return &store.StaleDefinitionError{Key: g.key}
		}
	}
	return nil
}

// statement is one PostgreSQL statement of an apply step: parts as
// data-modifying CTEs, and guards checked in it.
type statement struct {
	parts  []part
	guards []guard
}

// statements splits the collected parts into PostgreSQL statements below
// maxArgs parameters each, the guards in the last. The outbox gate and the
// events lead, so that the first statement enters the gate before any
// event takes its position.
func (l *applier) statements() []statement {
	rest := make([]part, 0, len(l.pending))
	for _, p := range l.pending {
		if p.gate || p.events() {
			rest = append(rest, p)
		}
	}
	for _, p := range l.pending {
		if !p.gate && !p.events() {
			rest = append(rest, p)
		}
	}
	guards := l.guards
	var out []statement
	for len(rest) > 0 || len(guards) > 0 {
		n, args := 0, 0
		for n < len(rest) && (n == 0 || args+len(rest[n].arguments()) <= maxArgs) {
			args += len(rest[n].arguments())
			n++
		}
		st := statement{parts: rest[:n]}
		if n == len(rest) {
			st.guards, guards = guards, nil
		}
		out = append(out, st)
		rest = rest[n:]
	}
	return out
}

// script runs parts as one multi-statement script (SQLite), numbering
// their placeholders across the script.
func (l *applier) script(parts []part, nargs int) error {
	q := make([]byte, 0, 256*len(parts)+8*nargs)
	args := make([]any, 0, nargs)
	for i := range parts {
		q = parts[i].appendText(q, len(args)+1)
		q = append(q, ";\n"...)
		args = append(args, parts[i].arguments()...)
	}
	if _, err := l.tx.ExecContext(l.ctx, string(q), args...); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

// runPart runs one part as a statement of its own.
func (l *applier) runPart(p *part) error {
	res, err := l.tx.execPrepared(l.ctx, p.text(1), p.arguments()...)
	if err != nil {
		if p.batch != nil {
			return fmt.Errorf("insert into %s: %w", p.batch.table, err)
		}
		return err
	}
	if p.want >= 0 {
		if n, _ := res.RowsAffected(); n != p.want {
			return fmt.Errorf("%w: %s was changed concurrently", core.ErrConflict, p.what)
		}
	}
	return nil
}

// combined runs parts and guards as one PostgreSQL statement.
func (l *applier) combined(parts []part, guards []guard) error {
	// A statement on its own commits whatever it changed: alone it may go
	// only when its check is all or nothing (one row, or none to check).
	if len(parts) == 1 && len(guards) == 0 && parts[0].want <= 1 {
		return l.runPart(&parts[0])
	}
	n, size := 0, 64
	for i := range parts {
		n += len(parts[i].arguments())
		size += 32 + len(parts[i].sql) + 8*len(parts[i].arguments())
		if b := parts[i].batch; b != nil {
			size += 16 * len(b.cols)
		}
	}
	for _, g := range guards {
		n += len(g.args)
		size += len(g.expr) + 40
	}
	q := make([]byte, 0, size)
	args := make([]any, 0, n)
	var checks []int
	for i := range parts {
		p := &parts[i]
		if i == 0 {
			q = append(q, "WITH "...)
		} else {
			q = append(q, ", "...)
		}
		q = append(q, 'p')
		q = strconv.AppendInt(q, int64(i), 10)
		q = append(q, " AS ("...)
		q = p.appendText(q, len(args)+1)
		if p.want >= 0 {
			q = append(q, " RETURNING 1"...)
			checks = append(checks, i)
		}
		q = append(q, ')')
		args = append(args, p.arguments()...)
	}
	// The checks fail the statement itself (tf_assert), so that nothing of
	// it stays when one fails, with or without a transaction around it.
	q = append(q, " SELECT "...)
	cols := 0
	for _, i := range checks {
		if cols > 0 {
			q = append(q, ", "...)
		}
		q = append(q, "tf_assert((SELECT count(*) FROM p"...)
		q = strconv.AppendInt(q, int64(i), 10)
		q = append(q, ") = "...)
		q = strconv.AppendInt(q, parts[i].want, 10)
		q = append(q, ", $"...)
		args = append(args, parts[i].what)
		q = strconv.AppendInt(q, int64(len(args)), 10)
		q = append(q, ", FALSE)"...)
		cols++
	}
	for _, g := range guards {
		if cols > 0 {
			q = append(q, ", "...)
		}
		q = append(q, "tf_assert(("...)
		q = appendRenumbered(q, g.expr, len(args))
		args = append(args, g.args...)
		q = append(q, "), $"...)
		args = append(args, g.key)
		q = strconv.AppendInt(q, int64(len(args)), 10)
		q = append(q, ", TRUE)"...)
		cols++
	}
	if cols == 0 {
		q = append(q, '1')
	}
	// A check that failed raised: the row itself says nothing.
	_, err := l.tx.execPrepared(l.ctx, string(q), args...)
	return err
}

// appendRenumbered appends an engine statement to q with its $n
// placeholders shifted by offset. Engine SQL holds no string literal with a
// $ sign, so every $ followed by digits is a placeholder.
func appendRenumbered(q []byte, sql string, offset int) []byte {
	if offset == 0 {
		return append(q, sql...)
	}
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		if c != '$' || i+1 >= len(sql) || sql[i+1] < '0' || sql[i+1] > '9' {
			q = append(q, c)
			continue
		}
		j := i + 1
		n := 0
		for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
			n = n*10 + int(sql[j]-'0')
			j++
		}
		q = append(q, '$')
		q = strconv.AppendInt(q, int64(n+offset), 10)
		i = j - 1
	}
	return q
}
