package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/tenantflow/tenantflow/engine/core"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
)

// This file moves units of work between the core and a tenant's storage:
// load brings an instance's rows in, apply writes the net changes. It is the
// only place that knows the runtime tables' columns.

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

func timeOf(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func timeOfNull(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return timeOf(ms.Int64)
}

// ---- loading ----

type instanceCols struct {
	ID           int64         `db:"id"`
	DefinitionID int64         `db:"definition_id"`
	DefKey       string        `db:"def_key"`
	BusinessKey  string        `db:"business_key"`
	State        string        `db:"state"`
	Suspended    bool          `db:"suspended"`
	SuperInst    int64         `db:"super_instance_id"`
	SuperExec    int64         `db:"super_execution_id"`
	StartAct     string        `db:"start_activity"`
	EndAct       string        `db:"end_activity"`
	StartUser    string        `db:"start_user"`
	DeleteReason string        `db:"delete_reason"`
	Holds        int           `db:"holds"`
	StartedAt    int64         `db:"started_at"`
	EndedAt      sql.NullInt64 `db:"ended_at"`
	Revision     int64         `db:"revision"`
}

const instanceSelect = `SELECT id, definition_id, def_key, business_key, state, suspended, super_instance_id,
	super_execution_id, start_activity, end_activity, start_user, delete_reason, holds, started_at, ended_at, revision
	FROM tf_instance`

func (r *instanceCols) public(tenant string) ProcessInstance {
	return ProcessInstance{ID: r.ID, Tenant: tenant, DefinitionID: r.DefinitionID, DefinitionKey: r.DefKey,
		BusinessKey: r.BusinessKey, State: InstanceState(r.State), Suspended: r.Suspended, SuperInstanceID: r.SuperInst,
		StartActivityID: r.StartAct, EndActivityID: r.EndAct, StartUserID: r.StartUser, DeleteReason: r.DeleteReason,
		StartedAt: timeOf(r.StartedAt), EndedAt: timeOfNull(r.EndedAt), Revision: r.Revision}
}

type execCols struct {
	ID         int64  `db:"id"`
	InstanceID int64  `db:"instance_id"`
	ParentID   int64  `db:"parent_id"`
	ElementID  string `db:"element_id"`
	State      string `db:"state"`
	IsScope    bool   `db:"is_scope"`
	ActID      int64  `db:"activity_instance_id"`
	Flags      int    `db:"flags"`
	Data       string `db:"data"`
	CreatedAt  int64  `db:"created_at"`
}

type varCols struct {
	ScopeID    int64           `db:"scope_id"`
	Name       string          `db:"name"`
	InstanceID int64           `db:"instance_id"`
	Type       string          `db:"type"`
	Text       sql.NullString  `db:"text_value"`
	Long       sql.NullInt64   `db:"long_value"`
	Double     sql.NullFloat64 `db:"double_value"`
	Revision   int             `db:"revision"`
}

func (v *varCols) value() (Value, error) {
	var t *string
	var l *int64
	var d *float64
	if v.Text.Valid {
		t = &v.Text.String
	}
	if v.Long.Valid {
		l = &v.Long.Int64
	}
	if v.Double.Valid {
		d = &v.Double.Float64
	}
	return core.DecodeValue(v.Type, t, l, d)
}

type taskCols struct {
	ID              int64         `db:"id"`
	InstanceID      int64         `db:"instance_id"`
	ExecutionID     int64         `db:"execution_id"`
	DefinitionID    int64         `db:"definition_id"`
	DefKey          string        `db:"def_key"`
	ElementID       string        `db:"element_id"`
	Name            string        `db:"name"`
	Assignee        string        `db:"assignee"`
	CandidateUsers  string        `db:"candidate_users"`
	CandidateGroups string        `db:"candidate_groups"`
	Priority        int           `db:"priority"`
	FormKey         string        `db:"form_key"`
	DueAt           sql.NullInt64 `db:"due_at"`
	FollowUpAt      sql.NullInt64 `db:"follow_up_at"`
	State           string        `db:"state"`
	Suspended       bool          `db:"suspended"`
	DeleteReason    string        `db:"delete_reason"`
	CreatedAt       int64         `db:"created_at"`
	EndedAt         sql.NullInt64 `db:"ended_at"`
	Revision        int64         `db:"revision"`
}

const taskSelect = `SELECT id, instance_id, execution_id, definition_id, def_key, element_id, name, assignee,
	candidate_users, candidate_groups, priority, form_key, due_at, follow_up_at, state, suspended, delete_reason,
	created_at, ended_at, revision FROM tf_task`

func (r *taskCols) public(tenant string) Task {
	return Task{ID: r.ID, Tenant: tenant, InstanceID: r.InstanceID, ExecutionID: r.ExecutionID, DefinitionID: r.DefinitionID,
		DefinitionKey: r.DefKey, ElementID: r.ElementID, Name: r.Name, Assignee: r.Assignee,
		CandidateUsers: unjoinList(r.CandidateUsers), CandidateGroups: unjoinList(r.CandidateGroups), Priority: r.Priority,
		FormKey: r.FormKey, Due: timeOfNull(r.DueAt), FollowUp: timeOfNull(r.FollowUpAt), State: TaskState(r.State),
		Suspended: r.Suspended, DeleteReason: r.DeleteReason, CreatedAt: timeOf(r.CreatedAt), EndedAt: timeOfNull(r.EndedAt),
		Revision: r.Revision}
}

// joinList stores a list as ",a,b," so that LIKE '%,a,%' finds a member.
func joinList(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return "," + strings.Join(l, ",") + ","
}

func unjoinList(s string) []string {
	s = strings.Trim(s, ",")
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

type extCols struct {
	ID            int64         `db:"id"`
	InstanceID    int64         `db:"instance_id"`
	ExecutionID   int64         `db:"execution_id"`
	DefinitionID  int64         `db:"definition_id"`
	DefKey        string        `db:"def_key"`
	ElementID     string        `db:"element_id"`
	Topic         string        `db:"topic"`
	BusinessKey   string        `db:"business_key"`
	WorkerID      string        `db:"worker_id"`
	LockExpiresAt int64         `db:"lock_expires_at"`
	Retries       sql.NullInt64 `db:"retries"`
	ErrorMessage  string        `db:"error_message"`
	ErrorDetails  string        `db:"error_details"`
	Priority      int           `db:"priority"`
	Suspended     bool          `db:"suspended"`
	CreatedAt     int64         `db:"created_at"`
	Revision      int64         `db:"revision"`
}

const extSelect = `SELECT id, instance_id, execution_id, definition_id, def_key, element_id, topic, business_key,
	worker_id, lock_expires_at, retries, error_message, error_details, priority, suspended, created_at, revision
	FROM tf_external_task`

func (r *extCols) public(tenant string) ExternalTask {
	t := ExternalTask{ID: r.ID, Tenant: tenant, InstanceID: r.InstanceID, ExecutionID: r.ExecutionID,
		DefinitionID: r.DefinitionID, DefinitionKey: r.DefKey, ElementID: r.ElementID, Topic: r.Topic,
		BusinessKey: r.BusinessKey, WorkerID: r.WorkerID, LockExpiresAt: timeOf(r.LockExpiresAt),
		ErrorMessage: r.ErrorMessage, ErrorDetails: r.ErrorDetails, Priority: r.Priority, Suspended: r.Suspended,
		CreatedAt: timeOf(r.CreatedAt), Revision: r.Revision}
	if r.Retries.Valid {
		n := int(r.Retries.Int64)
		t.Retries = &n
	}
	return t
}

type jobCols struct {
	ID           int64  `db:"id"`
	Kind         string `db:"kind"`
	InstanceID   int64  `db:"instance_id"`
	ExecutionID  int64  `db:"execution_id"`
	DefinitionID int64  `db:"definition_id"`
	DefKey       string `db:"def_key"`
	ElementID    string `db:"element_id"`
	DueAt        int64  `db:"due_at"`
	Priority     int    `db:"priority"`
	Retries      int    `db:"retries"`
	LockOwner    string `db:"lock_owner"`
	LockExpires  int64  `db:"lock_expires_at"`
	ExcMessage   string `db:"exception_message"`
	ExcStack     string `db:"exception_stack"`
	Data         string `db:"data"`
	Suspended    bool   `db:"suspended"`
	CreatedAt    int64  `db:"created_at"`
	Revision     int64  `db:"revision"`
}

const jobColumns = `id, kind, instance_id, execution_id, definition_id, def_key, element_id, due_at, priority, retries,
	lock_owner, lock_expires_at, exception_message, exception_stack, data, suspended, created_at, revision`

func (r *jobCols) row(tenant string) *core.JobRow {
	j := &core.JobRow{ExecutionID: r.ExecutionID, DefinitionID: r.DefinitionID, DefKey: r.DefKey, ExcStack: r.ExcStack, CreatedAt: r.CreatedAt}
	j.Job = Job{ID: r.ID, Tenant: tenant, Kind: JobKind(r.Kind), InstanceID: r.InstanceID, ElementID: r.ElementID,
		DueAt: timeOf(r.DueAt), Priority: r.Priority, Retries: r.Retries, LockOwner: r.LockOwner,
		LockExpiresAt: timeOf(r.LockExpires), Revision: r.Revision, ErrorMessage: r.ExcMessage, Suspended: r.Suspended}
	if r.Data != "" {
		_ = json.Unmarshal([]byte(r.Data), &j.Data)
	}
	return j
}

type subCols struct {
	ID           int64  `db:"id"`
	Kind         string `db:"kind"`
	Name         string `db:"name"`
	InstanceID   int64  `db:"instance_id"`
	ExecutionID  int64  `db:"execution_id"`
	DefinitionID int64  `db:"definition_id"`
	DefKey       string `db:"def_key"`
	ElementID    string `db:"element_id"`
	CreatedAt    int64  `db:"created_at"`
}

const subSelect = `SELECT id, kind, name, instance_id, execution_id, definition_id, def_key, element_id, created_at FROM tf_subscription`

func (r *subCols) row() *core.SubRow {
	return &core.SubRow{ID: r.ID, Kind: r.Kind, Name: r.Name, InstanceID: r.InstanceID, ExecutionID: r.ExecutionID,
		DefinitionID: r.DefinitionID, DefKey: r.DefKey, ElementID: r.ElementID, CreatedAt: r.CreatedAt}
}

type incidentCols struct {
	ID           int64         `db:"id"`
	Type         string        `db:"type"`
	InstanceID   int64         `db:"instance_id"`
	ExecutionID  int64         `db:"execution_id"`
	DefinitionID int64         `db:"definition_id"`
	DefKey       string        `db:"def_key"`
	ElementID    string        `db:"element_id"`
	JobID        int64         `db:"job_id"`
	ExtID        int64         `db:"external_task_id"`
	Message      string        `db:"message"`
	State        string        `db:"state"`
	CreatedAt    int64         `db:"created_at"`
	EndedAt      sql.NullInt64 `db:"ended_at"`
}

const incidentSelect = `SELECT id, type, instance_id, execution_id, definition_id, def_key, element_id, job_id,
	external_task_id, message, state, created_at, ended_at FROM tf_incident`

func (r *incidentCols) public(tenant string) Incident {
	return Incident{ID: r.ID, Tenant: tenant, Type: IncidentType(r.Type), InstanceID: r.InstanceID, ExecutionID: r.ExecutionID,
		DefinitionID: r.DefinitionID, DefinitionKey: r.DefKey, ElementID: r.ElementID, JobID: r.JobID, ExternalTaskID: r.ExtID,
		Message: r.Message, State: r.State, CreatedAt: timeOf(r.CreatedAt), EndedAt: timeOfNull(r.EndedAt)}
}

type actCols struct {
	ID           int64         `db:"id"`
	InstanceID   int64         `db:"instance_id"`
	ExecutionID  int64         `db:"execution_id"`
	ParentID     int64         `db:"parent_id"`
	DefinitionID int64         `db:"definition_id"`
	ElementID    string        `db:"element_id"`
	ElementType  string        `db:"element_type"`
	Name         string        `db:"name"`
	TaskID       int64         `db:"task_id"`
	CalledID     int64         `db:"called_instance_id"`
	Canceled     bool          `db:"canceled"`
	StartedAt    int64         `db:"started_at"`
	EndedAt      sql.NullInt64 `db:"ended_at"`
}

const actSelect = `SELECT id, instance_id, execution_id, parent_id, definition_id, element_id, element_type, name,
	task_id, called_instance_id, canceled, started_at, ended_at FROM tf_activity`

func (r *actCols) public(tenant string) ActivityInstance {
	return ActivityInstance{ID: r.ID, Tenant: tenant, InstanceID: r.InstanceID, ExecutionID: r.ExecutionID, ParentID: r.ParentID,
		DefinitionID: r.DefinitionID, ElementID: r.ElementID, ElementType: r.ElementType, Name: r.Name, TaskID: r.TaskID,
		CalledInstanceID: r.CalledID, Canceled: r.Canceled, StartedAt: timeOf(r.StartedAt), EndedAt: timeOfNull(r.EndedAt)}
}

// loader reads the rows a command needs into its unit of work. Each read
// is a short read-only transaction of its own: no transaction stays open
// while the core decides or a Go handler runs, and no row is locked. Rows
// carry revisions that apply checks, so a command that read state another
// commit changed meanwhile fails its commit and runs again.
type loader struct {
	ctx context.Context
	e   *Engine
	u   *core.Unit

	// pre are statements a command writes beside its unit (a deployment's
	// rows), and guards conditions it was planned on; apply sends both.
	pre    []part
	guards []guard
	// need is what earlier attempts of the command found they lacked.
	need *needs
}

// preload reads the instances earlier attempts of the command needed.
func (l *loader) preload() error {
	for _, id := range l.need.instances {
		if _, err := l.load(id); err != nil {
			return err
		}
	}
	return nil
}

// write queues a statement the command writes beside its unit.
func (l *loader) write(q string, args ...any) {
	l.pre = append(l.pre, part{sql: q, args: args, want: -1})
}

// insert queues a multi-row INSERT the command writes beside its unit.
func (l *loader) insert(b *batch) {
	if b.rows > 0 {
		l.pre = append(l.pre, part{batch: b, want: -1})
	}
}

// read runs fn in a short read-only transaction of the tenant.
func (l *loader) read(fn func(tx *datasource.Tx) error) error { return l.e.read(l.ctx, fn) }

// load reads an active instance and everything it holds, in one read
// transaction.
func (l *loader) load(id int64) (*core.Instance, error) {
	for _, i := range l.u.Instances {
		if i.ID == id {
			return i, nil
		}
	}
	var inst *core.Instance
	err := l.read(func(tx *datasource.Tx) error {
		var err error
		inst, err = l.loadTx(tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return inst, nil
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

func (l *loader) loadTx(tx *datasource.Tx, id int64) (*core.Instance, error) {
	ctx, u := l.ctx, l.u
	for _, i := range u.Instances {
		if i.ID == id {
			return i, nil
		}
	}
	var ic instanceCols
	if err := tx.GetContext(ctx, &ic, instanceSelect+` WHERE id = $1`, id); err != nil {
		if err == sql.ErrNoRows {
			return nil, core.NotFound("process instance", id)
		}
		return nil, err
	}
	def, err := l.e.definitionForLoad(ctx, tx, ic.DefinitionID)
	if err != nil {
		return nil, err
	}
	inst := &core.Instance{ProcessInstance: ic.public(u.Tenant), Def: def, Holds: ic.Holds, Loaded: ic.Revision, SuperExec: ic.SuperExec}
	u.Instances = append(u.Instances, inst)
	if inst.State != InstanceActive {
		return inst, nil
	}
	// A called instance's caller comes along: its end continues the
	// caller, and an error it throws may be caught there.
	if ic.SuperInst != 0 && !l.holds(ic.SuperInst) {
		if _, err := l.loadTx(tx, ic.SuperInst); err != nil {
			return nil, err
		}
	}

	var execs []execCols
	if err := tx.SelectContext(ctx, &execs, `SELECT id, instance_id, parent_id, element_id, state, is_scope,
		activity_instance_id, flags, data, created_at FROM tf_execution WHERE instance_id = $1`, id); err != nil {
		return nil, err
	}
	for _, r := range execs {
		x := &core.Execution{ID: r.ID, InstanceID: r.InstanceID, ParentID: r.ParentID, State: core.ExecState(r.State), Scope: r.IsScope,
			ActID: r.ActID, Flags: r.Flags, CreatedAt: r.CreatedAt, Inst: inst}
		if r.ElementID != "" {
			if x.El = def.Model.Element(r.ElementID); x.El == nil {
				return nil, fmt.Errorf("instance %d: element %q is not in its definition", id, r.ElementID)
			}
		}
		if r.Data != "" {
			x.MI = &core.MIData{}
			if err := json.Unmarshal([]byte(r.Data), x.MI); err != nil {
				return nil, fmt.Errorf("execution %d: %w", r.ID, err)
			}
		}
		if x.ID == id {
			inst.Root = x
		}
		u.Execs = append(u.Execs, x)
	}
	if inst.Root == nil {
		return nil, fmt.Errorf("instance %d is active but has no root execution", id)
	}

	var vars []varCols
	if err := tx.SelectContext(ctx, &vars, `SELECT scope_id, name, instance_id, type, text_value, long_value,
		double_value, revision FROM tf_variable WHERE instance_id = $1`, id); err != nil {
		return nil, err
	}
	for i := range vars {
		v, err := vars[i].value()
		if err != nil {
			return nil, fmt.Errorf("variable %q: %w", vars[i].Name, err)
		}
		u.Vars = append(u.Vars, &core.VariableRow{ScopeID: vars[i].ScopeID, InstanceID: id, Name: vars[i].Name, Val: v, Rev: vars[i].Revision})
	}

	var acts []actCols
	if err := tx.SelectContext(ctx, &acts, actSelect+` WHERE instance_id = $1 AND ended_at IS NULL`, id); err != nil {
		return nil, err
	}
	for i := range acts {
		u.Acts = append(u.Acts, &core.ActivityRow{ActivityInstance: acts[i].public(u.Tenant)})
	}

	if inst.Holds&core.HoldsTasks != 0 {
		var rows []taskCols
		if err := tx.SelectContext(ctx, &rows, taskSelect+` WHERE instance_id = $1 AND state = 'created'`, id); err != nil {
			return nil, err
		}
		for i := range rows {
			u.Tasks = append(u.Tasks, &core.TaskRow{Task: rows[i].public(u.Tenant)})
		}
	}
	if inst.Holds&core.HoldsExternalTasks != 0 {
		var rows []extCols
		if err := tx.SelectContext(ctx, &rows, extSelect+` WHERE instance_id = $1`, id); err != nil {
			return nil, err
		}
		for i := range rows {
			u.ExtTasks = append(u.ExtTasks, &core.ExtTaskRow{ExternalTask: rows[i].public(u.Tenant)})
		}
	}
	if inst.Holds&core.HoldsJobs != 0 {
		var rows []jobCols
		if err := tx.SelectContext(ctx, &rows, `SELECT `+jobColumns+` FROM tf_job WHERE instance_id = $1`, id); err != nil {
			return nil, err
		}
		for i := range rows {
			u.Jobs = append(u.Jobs, rows[i].row(u.Tenant))
		}
	}
	if inst.Holds&core.HoldsSubscriptions != 0 {
		var rows []subCols
		if err := tx.SelectContext(ctx, &rows, subSelect+` WHERE instance_id = $1`, id); err != nil {
			return nil, err
		}
		for i := range rows {
			u.Subs = append(u.Subs, rows[i].row())
		}
	}
	if inst.Holds&core.HoldsIncidents != 0 {
		var rows []incidentCols
		if err := tx.SelectContext(ctx, &rows, incidentSelect+` WHERE instance_id = $1 AND state = 'open'`, id); err != nil {
			return nil, err
		}
		for i := range rows {
			u.Incidents = append(u.Incidents, &core.IncidentRow{Incident: rows[i].public(u.Tenant)})
		}
	}
	return inst, nil
}

// ---- applying ----

// outboxChunk bounds the rows of one outbox INSERT, so that the first
// one always fits in the statement that moves the clock (maxArgs).
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

	// clocked batches are outbox rows numbered from the tenant's commit
	// clock (see the outbox migration): each row gets a leading pos of
	// the clock's new value minus back (row 0), back-1 (row 1), and so on.
	// clockRel is where the statement finds that value: the clock CTE of
	// the same statement, or the clock table itself in a later statement.
	clocked  bool
	back     int
	clockRel string
}

func (b *batch) add(vals ...any) {
	b.args = append(b.args, vals...)
	b.rows++
}

// exec queues the INSERT in the apply step.
func (b *batch) exec(a *applier) {
	if b.rows > 0 {
		a.pending = append(a.pending, part{batch: b, want: -1})
	}
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
			q = append(q, "(SELECT last FROM "...)
			q = append(q, b.clockRel...)
			q = append(q, ") - "...)
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

func deleteIDs(a *applier, table, col string, ids []int64) {
	if len(ids) == 0 {
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

// collect turns a unit's net changes into statements of the apply step:
// new rows inserted, changed rows updated (fenced by revisions), deleted
// rows removed, history appended; its events wait for flush, which numbers
// every unit's events from one move of the outbox clock. Instances that
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
	for _, v := range u.Vars {
		s, err := v.Val.Columns()
		if err != nil {
			return fmt.Errorf("variable %q: %w", v.Name, err)
		}
		switch v.Op {
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
			a.execOne(fmt.Sprintf("external task %d", t.ID), `DELETE FROM tf_external_task WHERE id = $1 AND revision = $2`, t.ID, t.Revision)
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
			ins.add(j.ID, string(j.Kind), j.InstanceID, j.ExecutionID, j.DefinitionID, j.DefKey, j.ElementID, msOf(j.DueAt),
				j.Priority, j.Retries, j.LockOwner, msOf(j.LockExpiresAt), j.ErrorMessage, j.ExcStack, data, j.Suspended, j.CreatedAt, j.Revision)
		case core.RowDirty:
			a.execOne(fmt.Sprintf("job %d", j.ID), `UPDATE tf_job SET due_at = $1, retries = $2, lock_owner = $3,
				lock_expires_at = $4, exception_message = $5, exception_stack = $6, data = $7, suspended = $8,
				revision = revision + 1 WHERE id = $9 AND revision = $10`, msOf(j.DueAt), j.Retries, j.LockOwner,
				msOf(j.LockExpiresAt), j.ErrorMessage, j.ExcStack, data, j.Suspended, j.ID, j.Revision)
		case core.RowGone:
			// Fenced like an update: a job another node acquired since it
			// was read (its revision moved) is not deleted under it.
			a.execOne(fmt.Sprintf("job %d", j.ID), `DELETE FROM tf_job WHERE id = $1 AND revision = $2`, j.ID, j.Revision)
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
			ins.add(s.ID, s.Kind, s.Name, s.InstanceID, s.ExecutionID, s.DefinitionID, s.DefKey, s.ElementID, s.CreatedAt)
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

// appendEvents moves the commit clock by the number of events of every
// unit collected and inserts them numbered from it (see the outbox
// migration for why).
func (a *applier) appendEvents() {
	events := a.events
	if len(events) == 0 {
		return
	}
	clock := part{sql: `UPDATE tf_outbox_clock SET last = last + $1`, args: []any{len(events)}, want: -1, clock: true}
	if a.tx.Dialect() == datasource.Postgres {
		clock.sql += ` RETURNING last`
	}
	a.pending = append(a.pending, clock)
	for start := 0; start < len(events); start += outboxChunk {
		chunk := events[start:min(start+outboxChunk, len(events))]
		ev := &batch{table: "tf_outbox", cols: []string{"id", "type", "at", "instance_id", "business_key", "definition_id",
			"def_key", "element_id", "element_type", "task_id", "data"}, args: make([]any, 0, 11*len(chunk)),
			clocked: true, back: len(events) - 1 - start, clockRel: "tf_outbox_clock"}
		for _, e := range chunk {
			ev.add(e.ID, string(e.Type), msOf(e.Time), e.InstanceID, e.BusinessKey, e.DefinitionID, e.DefinitionKey,
				e.ElementID, e.ElementType, e.TaskID, string(e.Data))
		}
		ev.exec(a)
	}
}
