package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/tenantflow/tenantflow/engine/core"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
)

// Page bounds a list query.
type Page struct {
	// FirstResult skips that many results.
	FirstResult int
	// MaxResults caps the result (0: the default of 100; at most 10,000).
	MaxResults int
	// SortBy names a field of the query's sort table; SortDesc reverses it.
	SortBy   string
	SortDesc bool
}

// MaxPageSize is the most results one list query returns.
const MaxPageSize = 10_000

// where accumulates SQL conditions with $n arguments. Values always travel
// as arguments; only fixed column names reach the SQL text.
type where struct {
	conds []string
	args  []any
}

func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(cond string, vals ...any) {
	for _, v := range vals {
		cond = strings.Replace(cond, "?", w.arg(v), 1)
	}
	w.conds = append(w.conds, cond)
}

func (w *where) in(col string, vals []string) {
	if len(vals) == 0 {
		return
	}
	marks := make([]string, len(vals))
	for i, v := range vals {
		marks[i] = w.arg(v)
	}
	w.conds = append(w.conds, col+" IN ("+strings.Join(marks, ", ")+")")
}

func (w *where) inIDs(col string, ids []int64) {
	if len(ids) == 0 {
		return
	}
	marks := make([]string, len(ids))
	for i, v := range ids {
		marks[i] = w.arg(v)
	}
	w.conds = append(w.conds, col+" IN ("+strings.Join(marks, ", ")+")")
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// tail renders ORDER BY and paging; sortCols maps the allowed SortBy names
// to columns.
func (w *where) tail(p Page, sortCols map[string]string, defaultSort string) (string, error) {
	col := defaultSort
	if p.SortBy != "" {
		c, ok := sortCols[p.SortBy]
		if !ok {
			names := make([]string, 0, len(sortCols))
			for k := range sortCols {
				names = append(names, k)
			}
			return "", core.Invalidf("cannot sort by %q: use one of %s", p.SortBy, strings.Join(sortedStrings(names), ", "))
		}
		col = c
	}
	dir := " ASC"
	if p.SortDesc {
		dir = " DESC"
	}
	max := p.MaxResults
	if max <= 0 {
		max = 100
	}
	if max > MaxPageSize {
		max = MaxPageSize
	}
	if p.FirstResult < 0 {
		return "", core.Invalidf("firstResult must not be negative")
	}
	return " ORDER BY " + col + dir + ", id" + dir + " LIMIT " + w.arg(max) + " OFFSET " + w.arg(p.FirstResult), nil
}

func sortedStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// VariableFilter matches a variable by name and comparison, as Camunda's
// processVariables filters do.
type VariableFilter struct {
	Name string
	// Op is eq, neq, gt, gteq, lt, lteq or like.
	Op    string
	Value any
}

var filterOps = map[string]string{"eq": "=", "neq": "<>", "gt": ">", "gteq": ">=", "lt": "<", "lteq": "<=", "like": "LIKE"}

// varCond renders a variable filter on the process scope of instance
// column instCol.
func (w *where) varCond(instCol string, f VariableFilter) error {
	op, ok := filterOps[strings.ToLower(f.Op)]
	if !ok {
		return core.Invalidf("variable filter %q: unknown operator %q: use eq, neq, gt, gteq, lt, lteq or like", f.Name, f.Op)
	}
	val, err := ValueOf(f.Value)
	if err != nil {
		return err
	}
	s, err := val.Columns()
	if err != nil {
		return err
	}
	var col string
	var arg any
	switch {
	case s.Long != nil:
		// Integers match stored integers and doubles alike.
		col, arg = "COALESCE(v.long_value, v.double_value)", *s.Long
	case s.Double != nil:
		col, arg = "COALESCE(v.double_value, v.long_value)", *s.Double
	case s.Text != nil:
		col, arg = "v.text_value", *s.Text
	default:
		w.add(`EXISTS (SELECT 1 FROM tf_variable v WHERE v.scope_id = `+instCol+` AND v.name = ? AND v.type = 'Null')`, f.Name)
		return nil
	}
	w.add(`EXISTS (SELECT 1 FROM tf_variable v WHERE v.scope_id = `+instCol+` AND v.name = ? AND `+col+` `+op+` ?)`, f.Name, arg)
	return nil
}

// ---- instances ----

// InstanceQuery filters instances. Zero fields do not filter; by default
// only running instances are listed (set States for history).
type InstanceQuery struct {
	IDs             []int64
	DefinitionID    int64
	DefinitionKey   string
	DefinitionKeys  []string
	BusinessKey     string
	BusinessKeyLike string
	States          []InstanceState
	AnyState        bool
	SuperInstanceID int64
	Suspended       *bool
	WithIncidents   bool
	Variables       []VariableFilter
	StartedAfter    time.Time
	StartedBefore   time.Time
	Page
}

var instanceSort = map[string]string{"instanceId": "id", "definitionKey": "def_key", "definitionId": "definition_id",
	"businessKey": "business_key", "startTime": "started_at", "endTime": "ended_at"}

func (q *InstanceQuery) where() (*where, error) {
	w := &where{}
	w.inIDs("id", q.IDs)
	if q.DefinitionID != 0 {
		w.add("definition_id = ?", q.DefinitionID)
	}
	if q.DefinitionKey != "" {
		w.add("def_key = ?", q.DefinitionKey)
	}
	w.in("def_key", q.DefinitionKeys)
	if q.BusinessKey != "" {
		w.add("business_key = ?", q.BusinessKey)
	}
	if q.BusinessKeyLike != "" {
		w.add("business_key LIKE ?", q.BusinessKeyLike)
	}
	switch {
	case q.AnyState:
	case len(q.States) > 0:
		s := make([]string, len(q.States))
		for i, st := range q.States {
			s[i] = string(st)
		}
		w.in("state", s)
	default:
		w.add("state = 'active'")
	}
	if q.SuperInstanceID != 0 {
		w.add("super_instance_id = ?", q.SuperInstanceID)
	}
	if q.Suspended != nil {
		w.add("suspended = ?", *q.Suspended)
	}
	if q.WithIncidents {
		w.add("EXISTS (SELECT 1 FROM tf_incident i WHERE i.instance_id = tf_instance.id AND i.state = 'open')")
	}
	if !q.StartedAfter.IsZero() {
		w.add("started_at >= ?", q.StartedAfter.UnixMilli())
	}
	if !q.StartedBefore.IsZero() {
		w.add("started_at <= ?", q.StartedBefore.UnixMilli())
	}
	for _, f := range q.Variables {
		if err := w.varCond("tf_instance.id", f); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// Instances lists instances of the tenant in ctx.
func (e *Engine) Instances(ctx context.Context, q *InstanceQuery) ([]*ProcessInstance, error) {
	if q == nil {
		q = &InstanceQuery{}
	}
	w, err := q.where()
	if err != nil {
		return nil, err
	}
	tail, err := w.tail(q.Page, instanceSort, "started_at")
	if err != nil {
		return nil, err
	}
	var rows []instanceCols
	var out []*ProcessInstance
	err = e.read(ctx, func(tx *datasource.Tx) error {
		if err := tx.SelectContext(ctx, &rows, instanceSelect+w.sql()+tail, w.args...); err != nil {
			return err
		}
		out = make([]*ProcessInstance, len(rows))
		for i := range rows {
			p := rows[i].public(tx.Tenant())
			out[i] = &p
		}
		return nil
	})
	return out, err
}

// CountInstances counts what Instances would list, ignoring paging.
func (e *Engine) CountInstances(ctx context.Context, q *InstanceQuery) (int64, error) {
	if q == nil {
		q = &InstanceQuery{}
	}
	w, err := q.where()
	if err != nil {
		return 0, err
	}
	return e.count(ctx, "tf_instance", w)
}

func (e *Engine) count(ctx context.Context, table string, w *where) (int64, error) {
	var n int64
	err := e.read(ctx, func(tx *datasource.Tx) error {
		return tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM `+table+w.sql(), w.args...)
	})
	return n, err
}

// Instance returns one instance, running or finished. Errors: ErrNotFound,
// ErrWrongTenant.
func (e *Engine) Instance(ctx context.Context, ref Ref) (*ProcessInstance, error) {
	if err := checkRef(ctx, ref); err != nil {
		return nil, err
	}
	l, err := e.Instances(ctx, &InstanceQuery{IDs: []int64{ref.ID}, AnyState: true})
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, core.NotFound("process instance", ref.ID)
	}
	return l[0], nil
}

// Variables returns an instance's process variables (running or finished).
func (e *Engine) Variables(ctx context.Context, inst Ref) (map[string]Value, error) {
	if err := checkRef(ctx, inst); err != nil {
		return nil, err
	}
	out := map[string]Value{}
	err := e.read(ctx, func(tx *datasource.Tx) error {
		var exists int
		if err := tx.GetContext(ctx, &exists, `SELECT COUNT(*) FROM tf_instance WHERE id = $1`, inst.ID); err != nil {
			return err
		}
		if exists == 0 {
			return core.NotFound("process instance", inst.ID)
		}
		var rows []varCols
		if err := tx.SelectContext(ctx, &rows, `SELECT scope_id, name, instance_id, type, text_value, long_value, double_value,
			revision FROM tf_variable WHERE scope_id = $1 ORDER BY name`, inst.ID); err != nil {
			return err
		}
		for i := range rows {
			v, err := rows[i].value()
			if err != nil {
				return err
			}
			out[rows[i].Name] = v
		}
		return nil
	})
	return out, err
}

// ---- tasks ----

// TaskQuery filters user tasks. By default only open tasks are listed.
type TaskQuery struct {
	ID            int64
	IDs           []int64
	InstanceID    int64
	InstanceIDs   []int64
	DefinitionKey string
	DefinitionID  int64
	ElementID     string
	ElementIDs    []string
	Assignee      string
	Unassigned    bool
	Assigned      bool
	// CandidateUser and CandidateGroups match tasks the user or groups may
	// work on; with IncludeAssigned also those already assigned.
	CandidateUser   string
	CandidateGroups []string
	IncludeAssigned bool
	// InvolvedUser matches the assignee or a candidate user.
	InvolvedUser     string
	Name             string
	NameLike         string
	DueBefore        time.Time
	DueAfter         time.Time
	States           []TaskState
	AnyState         bool
	ProcessVariables []VariableFilter
	BusinessKey      string
	Page
}

var taskSort = map[string]string{"id": "id", "name": "name", "priority": "priority", "assignee": "assignee",
	"created": "created_at", "dueDate": "due_at", "followUpDate": "follow_up_at", "instanceId": "instance_id",
	"processInstanceId": "instance_id", "taskDefinitionKey": "element_id"}

func (q *TaskQuery) where() (*where, error) {
	w := &where{}
	if q.ID != 0 {
		w.add("id = ?", q.ID)
	}
	w.inIDs("id", q.IDs)
	if q.InstanceID != 0 {
		w.add("instance_id = ?", q.InstanceID)
	}
	w.inIDs("instance_id", q.InstanceIDs)
	if q.DefinitionKey != "" {
		w.add("def_key = ?", q.DefinitionKey)
	}
	if q.DefinitionID != 0 {
		w.add("definition_id = ?", q.DefinitionID)
	}
	if q.ElementID != "" {
		w.add("element_id = ?", q.ElementID)
	}
	w.in("element_id", q.ElementIDs)
	if q.Assignee != "" {
		w.add("assignee = ?", q.Assignee)
	}
	if q.Unassigned {
		w.add("assignee = ''")
	}
	if q.Assigned {
		w.add("assignee <> ''")
	}
	if q.CandidateUser != "" || len(q.CandidateGroups) > 0 {
		var ors []string
		if q.CandidateUser != "" {
			ors = append(ors, "candidate_users LIKE "+w.arg("%,"+likeEscape(q.CandidateUser)+",%"))
		}
		for _, g := range q.CandidateGroups {
			ors = append(ors, "candidate_groups LIKE "+w.arg("%,"+likeEscape(g)+",%"))
		}
		cond := "(" + strings.Join(ors, " OR ") + ")"
		if !q.IncludeAssigned {
			cond += " AND assignee = ''"
		}
		w.conds = append(w.conds, cond)
	}
	if q.InvolvedUser != "" {
		w.conds = append(w.conds, "(assignee = "+w.arg(q.InvolvedUser)+" OR candidate_users LIKE "+w.arg("%,"+likeEscape(q.InvolvedUser)+",%")+")")
	}
	if q.Name != "" {
		w.add("name = ?", q.Name)
	}
	if q.NameLike != "" {
		w.add("name LIKE ?", q.NameLike)
	}
	if !q.DueBefore.IsZero() {
		w.add("due_at <= ?", q.DueBefore.UnixMilli())
	}
	if !q.DueAfter.IsZero() {
		w.add("due_at >= ?", q.DueAfter.UnixMilli())
	}
	switch {
	case q.AnyState:
	case len(q.States) > 0:
		s := make([]string, len(q.States))
		for i, st := range q.States {
			s[i] = string(st)
		}
		w.in("state", s)
	default:
		w.add("state = 'created'")
	}
	if q.BusinessKey != "" {
		w.add("EXISTS (SELECT 1 FROM tf_instance i WHERE i.id = tf_task.instance_id AND i.business_key = ?)", q.BusinessKey)
	}
	for _, f := range q.ProcessVariables {
		if err := w.varCond("tf_task.instance_id", f); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// likeEscape keeps a value from acting as a LIKE pattern.
func likeEscape(s string) string {
	return strings.NewReplacer(`%`, `_`, `,`, `_`).Replace(s)
}

// Tasks lists user tasks of the tenant in ctx.
func (e *Engine) Tasks(ctx context.Context, q *TaskQuery) ([]*Task, error) {
	if q == nil {
		q = &TaskQuery{}
	}
	w, err := q.where()
	if err != nil {
		return nil, err
	}
	tail, err := w.tail(q.Page, taskSort, "created_at")
	if err != nil {
		return nil, err
	}
	var out []*Task
	err = e.read(ctx, func(tx *datasource.Tx) error {
		var rows []taskCols
		if err := tx.SelectContext(ctx, &rows, taskSelect+w.sql()+tail, w.args...); err != nil {
			return err
		}
		out = make([]*Task, len(rows))
		for i := range rows {
			t := rows[i].public(tx.Tenant())
			out[i] = &t
		}
		return nil
	})
	return out, err
}

// CountTasks counts what Tasks would list, ignoring paging.
func (e *Engine) CountTasks(ctx context.Context, q *TaskQuery) (int64, error) {
	if q == nil {
		q = &TaskQuery{}
	}
	w, err := q.where()
	if err != nil {
		return 0, err
	}
	return e.count(ctx, "tf_task", w)
}

// Task returns one task (open or finished). Errors: ErrNotFound,
// ErrWrongTenant.
func (e *Engine) Task(ctx context.Context, ref Ref) (*Task, error) {
	if err := checkRef(ctx, ref); err != nil {
		return nil, err
	}
	l, err := e.Tasks(ctx, &TaskQuery{ID: ref.ID, AnyState: true})
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, core.NotFound("task", ref.ID)
	}
	return l[0], nil
}

// ---- external tasks ----

// ExternalTaskQuery filters external tasks.
type ExternalTaskQuery struct {
	ID              int64
	IDs             []int64
	Topic           string
	WorkerID        string
	Locked          bool
	NotLocked       bool
	WithRetriesLeft bool
	NoRetriesLeft   bool
	InstanceID      int64
	ElementID       string
	DefinitionKey   string
	Page
}

var externalSort = map[string]string{"id": "id", "lockExpirationTime": "lock_expires_at", "processInstanceId": "instance_id",
	"processDefinitionKey": "def_key", "taskPriority": "priority", "createTime": "created_at"}

func (q *ExternalTaskQuery) where(now time.Time) *where {
	w := &where{}
	if q.ID != 0 {
		w.add("id = ?", q.ID)
	}
	w.inIDs("id", q.IDs)
	if q.Topic != "" {
		w.add("topic = ?", q.Topic)
	}
	if q.WorkerID != "" {
		w.add("worker_id = ?", q.WorkerID)
	}
	if q.Locked {
		w.add("worker_id <> '' AND lock_expires_at > ?", now.UnixMilli())
	}
	if q.NotLocked {
		w.add("(worker_id = '' OR lock_expires_at <= ?)", now.UnixMilli())
	}
	if q.WithRetriesLeft {
		w.add("(retries IS NULL OR retries > 0)")
	}
	if q.NoRetriesLeft {
		w.add("retries = 0")
	}
	if q.InstanceID != 0 {
		w.add("instance_id = ?", q.InstanceID)
	}
	if q.ElementID != "" {
		w.add("element_id = ?", q.ElementID)
	}
	if q.DefinitionKey != "" {
		w.add("def_key = ?", q.DefinitionKey)
	}
	return w
}

// ExternalTasks lists external tasks of the tenant in ctx.
func (e *Engine) ExternalTasks(ctx context.Context, q *ExternalTaskQuery) ([]*ExternalTask, error) {
	if q == nil {
		q = &ExternalTaskQuery{}
	}
	w := q.where(e.now())
	tail, err := w.tail(q.Page, externalSort, "id")
	if err != nil {
		return nil, err
	}
	var out []*ExternalTask
	err = e.read(ctx, func(tx *datasource.Tx) error {
		var rows []extCols
		if err := tx.SelectContext(ctx, &rows, extSelect+w.sql()+tail, w.args...); err != nil {
			return err
		}
		out = make([]*ExternalTask, len(rows))
		for i := range rows {
			t := rows[i].public(tx.Tenant())
			out[i] = &t
		}
		return nil
	})
	return out, err
}

// CountExternalTasks counts what ExternalTasks would list.
func (e *Engine) CountExternalTasks(ctx context.Context, q *ExternalTaskQuery) (int64, error) {
	if q == nil {
		q = &ExternalTaskQuery{}
	}
	return e.count(ctx, "tf_external_task", q.where(e.now()))
}

// ExternalTask returns one external task. Errors: ErrNotFound,
// ErrWrongTenant.
func (e *Engine) ExternalTask(ctx context.Context, ref Ref) (*ExternalTask, error) {
	if err := checkRef(ctx, ref); err != nil {
		return nil, err
	}
	l, err := e.ExternalTasks(ctx, &ExternalTaskQuery{ID: ref.ID})
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, core.NotFound("external task", ref.ID)
	}
	return l[0], nil
}

// ---- jobs and incidents ----

// JobQuery filters jobs.
type JobQuery struct {
	ID              int64
	IDs             []int64
	InstanceID      int64
	DefinitionKey   string
	ElementID       string
	Kind            JobKind
	WithRetriesLeft bool
	NoRetriesLeft   bool
	// Executable: due, retries left, not suspended.
	Executable bool
	DueBefore  time.Time
	Page
}

var jobSort = map[string]string{"jobId": "id", "jobDueDate": "due_at", "jobRetries": "retries", "jobPriority": "priority",
	"processInstanceId": "instance_id"}

func (q *JobQuery) where(now time.Time) *where {
	w := &where{}
	if q.ID != 0 {
		w.add("id = ?", q.ID)
	}
	w.inIDs("id", q.IDs)
	if q.InstanceID != 0 {
		w.add("instance_id = ?", q.InstanceID)
	}
	if q.DefinitionKey != "" {
		w.add("def_key = ?", q.DefinitionKey)
	}
	if q.ElementID != "" {
		w.add("element_id = ?", q.ElementID)
	}
	if q.Kind != "" {
		w.add("kind = ?", string(q.Kind))
	}
	if q.WithRetriesLeft {
		w.add("retries > 0")
	}
	if q.NoRetriesLeft {
		w.add("retries = 0")
	}
	if q.Executable {
		w.add("retries > 0 AND suspended = FALSE AND due_at <= ?", now.UnixMilli())
	}
	if !q.DueBefore.IsZero() {
		w.add("due_at < ?", q.DueBefore.UnixMilli())
	}
	return w
}

// Jobs lists jobs of the tenant in ctx.
func (e *Engine) Jobs(ctx context.Context, q *JobQuery) ([]*Job, error) {
	if q == nil {
		q = &JobQuery{}
	}
	w := q.where(e.now())
	tail, err := w.tail(q.Page, jobSort, "due_at")
	if err != nil {
		return nil, err
	}
	var out []*Job
	err = e.read(ctx, func(tx *datasource.Tx) error {
		var rows []jobCols
		if err := tx.SelectContext(ctx, &rows, `SELECT `+jobColumns+` FROM tf_job`+w.sql()+tail, w.args...); err != nil {
			return err
		}
		out = make([]*Job, len(rows))
		for i := range rows {
			j := rows[i].row(tx.Tenant()).Job
			out[i] = &j
		}
		return nil
	})
	return out, err
}

// CountJobs counts what Jobs would list.
func (e *Engine) CountJobs(ctx context.Context, q *JobQuery) (int64, error) {
	if q == nil {
		q = &JobQuery{}
	}
	return e.count(ctx, "tf_job", q.where(e.now()))
}

// IncidentQuery filters incidents. By default only open ones.
type IncidentQuery struct {
	ID            int64
	InstanceID    int64
	DefinitionKey string
	DefinitionID  int64
	ElementID     string
	Type          IncidentType
	States        []string
	AnyState      bool
	Page
}

var incidentSort = map[string]string{"incidentId": "id", "incidentTimestamp": "created_at", "incidentType": "type",
	"activityId": "element_id", "processInstanceId": "instance_id"}

func (q *IncidentQuery) where() *where {
	w := &where{}
	if q.ID != 0 {
		w.add("id = ?", q.ID)
	}
	if q.InstanceID != 0 {
		w.add("instance_id = ?", q.InstanceID)
	}
	if q.DefinitionKey != "" {
		w.add("def_key = ?", q.DefinitionKey)
	}
	if q.DefinitionID != 0 {
		w.add("definition_id = ?", q.DefinitionID)
	}
	if q.ElementID != "" {
		w.add("element_id = ?", q.ElementID)
	}
	if q.Type != "" {
		w.add("type = ?", string(q.Type))
	}
	switch {
	case q.AnyState:
	case len(q.States) > 0:
		w.in("state", q.States)
	default:
		w.add("state = 'open'")
	}
	return w
}

// Incidents lists incidents of the tenant in ctx.
func (e *Engine) Incidents(ctx context.Context, q *IncidentQuery) ([]*Incident, error) {
	if q == nil {
		q = &IncidentQuery{}
	}
	w := q.where()
	tail, err := w.tail(q.Page, incidentSort, "created_at")
	if err != nil {
		return nil, err
	}
	var out []*Incident
	err = e.read(ctx, func(tx *datasource.Tx) error {
		var rows []incidentCols
		if err := tx.SelectContext(ctx, &rows, incidentSelect+w.sql()+tail, w.args...); err != nil {
			return err
		}
		out = make([]*Incident, len(rows))
		for i := range rows {
			inc := rows[i].public(tx.Tenant())
			out[i] = &inc
		}
		return nil
	})
	return out, err
}

// CountIncidents counts what Incidents would list.
func (e *Engine) CountIncidents(ctx context.Context, q *IncidentQuery) (int64, error) {
	if q == nil {
		q = &IncidentQuery{}
	}
	return e.count(ctx, "tf_incident", q.where())
}

// ---- history ----

// ActivityQuery filters activity instances (running and finished).
type ActivityQuery struct {
	InstanceID int64
	ElementID  string
	Finished   bool
	Unfinished bool
	Canceled   bool
	Page
}

var activitySort = map[string]string{"activityInstanceId": "id", "startTime": "started_at", "endTime": "ended_at",
	"activityId": "element_id", "activityType": "element_type"}

func (q *ActivityQuery) where() *where {
	w := &where{}
	if q.InstanceID != 0 {
		w.add("instance_id = ?", q.InstanceID)
	}
	if q.ElementID != "" {
		w.add("element_id = ?", q.ElementID)
	}
	if q.Finished {
		w.add("ended_at IS NOT NULL")
	}
	if q.Unfinished {
		w.add("ended_at IS NULL")
	}
	if q.Canceled {
		w.add("canceled = TRUE")
	}
	return w
}

// Activities lists activity instances of the tenant in ctx: the path tokens
// took, and where they are now.
func (e *Engine) Activities(ctx context.Context, q *ActivityQuery) ([]*ActivityInstance, error) {
	if q == nil {
		q = &ActivityQuery{}
	}
	w := q.where()
	tail, err := w.tail(q.Page, activitySort, "started_at")
	if err != nil {
		return nil, err
	}
	var out []*ActivityInstance
	err = e.read(ctx, func(tx *datasource.Tx) error {
		var rows []actCols
		if err := tx.SelectContext(ctx, &rows, actSelect+w.sql()+tail, w.args...); err != nil {
			return err
		}
		out = make([]*ActivityInstance, len(rows))
		for i := range rows {
			a := rows[i].public(tx.Tenant())
			out[i] = &a
		}
		return nil
	})
	return out, err
}

// CountActivities counts what Activities would list.
func (e *Engine) CountActivities(ctx context.Context, q *ActivityQuery) (int64, error) {
	if q == nil {
		q = &ActivityQuery{}
	}
	return e.count(ctx, "tf_activity", q.where())
}

// VariableUpdates returns the history of an instance's variables, oldest
// first.
func (e *Engine) VariableUpdates(ctx context.Context, inst Ref) ([]*VariableUpdate, error) {
	if err := checkRef(ctx, inst); err != nil {
		return nil, err
	}
	var out []*VariableUpdate
	err := e.read(ctx, func(tx *datasource.Tx) error {
		var rows []struct {
			varCols
			ID        int64  `db:"id"`
			ElementID string `db:"element_id"`
			TaskID    int64  `db:"task_id"`
			At        int64  `db:"at"`
		}
		if err := tx.SelectContext(ctx, &rows, `SELECT id, instance_id, scope_id, name, type, text_value, long_value,
			double_value, revision, element_id, task_id, at FROM tf_variable_update WHERE instance_id = $1 ORDER BY id`, inst.ID); err != nil {
			return err
		}
		for i := range rows {
			r := &rows[i]
			v, err := r.value()
			if err != nil {
				return err
			}
			out = append(out, &VariableUpdate{ID: r.ID, InstanceID: r.InstanceID, ScopeID: r.ScopeID, Name: r.Name,
				Value: v, Revision: r.Revision, ElementID: r.ElementID, TaskID: r.TaskID, At: timeOf(r.At)})
		}
		return nil
	})
	return out, err
}

// ---- definitions and deployments ----

// DefinitionQuery filters process definitions.
type DefinitionQuery struct {
	ID            int64
	Key           string
	Keys          []string
	Name          string
	NameLike      string
	DeploymentID  int64
	Version       int
	LatestVersion bool
	Suspended     *bool
	Page
}

var definitionSort = map[string]string{"id": "id", "key": "def_key", "name": "name", "version": "version",
	"deploymentId": "deployment_id", "deployTime": "created_at"}

func (q *DefinitionQuery) where() *where {
	w := &where{}
	if q.ID != 0 {
		w.add("id = ?", q.ID)
	}
	if q.Key != "" {
		w.add("def_key = ?", q.Key)
	}
	w.in("def_key", q.Keys)
	if q.Name != "" {
		w.add("name = ?", q.Name)
	}
	if q.NameLike != "" {
		w.add("name LIKE ?", q.NameLike)
	}
	if q.DeploymentID != 0 {
		w.add("deployment_id = ?", q.DeploymentID)
	}
	if q.Version != 0 {
		w.add("version = ?", q.Version)
	}
	if q.LatestVersion {
		w.add("version = (SELECT MAX(d2.version) FROM tf_definition d2 WHERE d2.def_key = tf_definition.def_key)")
	}
	if q.Suspended != nil {
		w.add("suspended = ?", *q.Suspended)
	}
	return w
}

// Definitions lists process definitions of the tenant in ctx.
func (e *Engine) Definitions(ctx context.Context, q *DefinitionQuery) ([]*ProcessDefinition, error) {
	if q == nil {
		q = &DefinitionQuery{}
	}
	w := q.where()
	tail, err := w.tail(q.Page, definitionSort, "def_key")
	if err != nil {
		return nil, err
	}
	var out []*ProcessDefinition
	err = e.read(ctx, func(tx *datasource.Tx) error {
		var rows []definitionCols
		if err := tx.SelectContext(ctx, &rows, definitionSelect+w.sql()+tail, w.args...); err != nil {
			return err
		}
		out = make([]*ProcessDefinition, len(rows))
		for i := range rows {
			d := rows[i].public(tx.Tenant())
			out[i] = &d
		}
		return nil
	})
	return out, err
}

// CountDefinitions counts what Definitions would list.
func (e *Engine) CountDefinitions(ctx context.Context, q *DefinitionQuery) (int64, error) {
	if q == nil {
		q = &DefinitionQuery{}
	}
	return e.count(ctx, "tf_definition", q.where())
}

// Definition returns one definition; with key set (and ref zero) the latest
// version of that key.
func (e *Engine) Definition(ctx context.Context, ref Ref, key string) (*ProcessDefinition, error) {
	if err := checkRef(ctx, ref); err != nil {
		return nil, err
	}
	q := &DefinitionQuery{ID: ref.ID}
	if ref.ID == 0 {
		q = &DefinitionQuery{Key: key, LatestVersion: true}
	}
	l, err := e.Definitions(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		if ref.ID == 0 {
			return nil, fmt.Errorf("%w: no process definition with key %q", ErrNotFound, key)
		}
		return nil, core.NotFound("process definition", ref.ID)
	}
	return l[0], nil
}

// DefinitionXML returns the BPMN XML a definition was deployed from.
func (e *Engine) DefinitionXML(ctx context.Context, def Ref) ([]byte, error) {
	if err := checkRef(ctx, def); err != nil {
		return nil, err
	}
	var content string
	err := e.read(ctx, func(tx *datasource.Tx) error {
		err := tx.GetContext(ctx, &content, `SELECT r.content FROM tf_resource r JOIN tf_definition d
			ON d.deployment_id = r.deployment_id AND d.resource_name = r.name WHERE d.id = $1`, def.ID)
		if isNoRows(err) {
			return core.NotFound("process definition", def.ID)
		}
		return err
	})
	return []byte(content), err
}

// Deployments lists deployments of the tenant in ctx, newest first.
func (e *Engine) Deployments(ctx context.Context, name string, p Page) ([]*Deployment, error) {
	w := &where{}
	if name != "" {
		w.add("name = ?", name)
	}
	p.SortDesc = p.SortBy == "" || p.SortDesc
	tail, err := w.tail(p, map[string]string{"id": "id", "name": "name", "deploymentTime": "created_at"}, "created_at")
	if err != nil {
		return nil, err
	}
	var out []*Deployment
	err = e.read(ctx, func(tx *datasource.Tx) error {
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, `SELECT id FROM tf_deployment`+w.sql()+tail, w.args...); err != nil {
			return err
		}
		for _, id := range ids {
			d, err := e.deploymentTx(ctx, tx, id)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	return out, err
}

// Deployment returns one deployment with its resources and definitions.
func (e *Engine) Deployment(ctx context.Context, ref Ref) (*Deployment, error) {
	if err := checkRef(ctx, ref); err != nil {
		return nil, err
	}
	var d *Deployment
	err := e.read(ctx, func(tx *datasource.Tx) error {
		var err error
		d, err = e.deploymentTx(ctx, tx, ref.ID)
		return err
	})
	return d, err
}

// DeleteDeployment removes a deployment and its definitions. Without
// cascade it refuses (ErrConflict) while instances of its definitions
// exist; with cascade those instances are deleted first.
func (e *Engine) DeleteDeployment(ctx context.Context, ref Ref, cascade bool) error {
	if err := checkRef(ctx, ref); err != nil {
		return err
	}
	var instances []int64
	var defIDs []int64
	err := e.read(ctx, func(tx *datasource.Tx) error {
		if _, err := e.deploymentTx(ctx, tx, ref.ID); err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &defIDs, `SELECT id FROM tf_definition WHERE deployment_id = $1`, ref.ID); err != nil {
			return err
		}
		return tx.SelectContext(ctx, &instances, `SELECT i.id FROM tf_instance i JOIN tf_definition d ON d.id = i.definition_id
			WHERE d.deployment_id = $1 AND i.state = 'active'`, ref.ID)
	})
	if err != nil {
		return err
	}
	if len(instances) > 0 && !cascade {
		return fmt.Errorf("%w: deployment %d has %d running instances; delete with cascade to remove them too", ErrConflict, ref.ID, len(instances))
	}
	for _, id := range instances {
		if err := e.DeleteInstance(ctx, IDRef(id), "deployment deleted"); err != nil && !isNotFoundOrEnded(err) {
			return err
		}
	}
	return e.write(ctx, func(tx *datasource.Tx) error {
		w := &where{}
		w.inIDs("definition_id", defIDs)
		if len(defIDs) > 0 {
			for _, t := range []string{"tf_job", "tf_subscription"} {
				if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+w.sql(), w.args...); err != nil {
					return err
				}
			}
			if cascade {
				var ids []int64
				if err := tx.SelectContext(ctx, &ids, `SELECT id FROM tf_instance`+w.sql(), w.args...); err != nil {
					return err
				}
				if len(ids) > 0 {
					iw := &where{}
					iw.inIDs("instance_id", ids)
					for _, t := range []string{"tf_activity", "tf_task", "tf_variable", "tf_variable_update", "tf_incident", "tf_execution", "tf_external_task"} {
						if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+iw.sql(), iw.args...); err != nil {
							return err
						}
					}
					if _, err := tx.ExecContext(ctx, `DELETE FROM tf_instance`+w.sql(), w.args...); err != nil {
						return err
					}
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tf_definition WHERE deployment_id = $1`, ref.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM tf_resource WHERE deployment_id = $1`, ref.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM tf_deployment WHERE id = $1`, ref.ID)
		return err
	})
}

func isNotFoundOrEnded(err error) bool {
	return err != nil && (errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict))
}

// ActivityStatistic counts what stands at one element of a definition:
// running activity instances, jobs out of retries and open incidents.
type ActivityStatistic struct {
	ElementID  string
	Instances  int64
	FailedJobs int64
	Incidents  map[IncidentType]int64
}

// DefinitionStatistics returns, per element of a definition with anything
// running or failing there, the counts the console draws on the diagram.
func (e *Engine) DefinitionStatistics(ctx context.Context, def Ref) ([]ActivityStatistic, error) {
	if err := checkRef(ctx, def); err != nil {
		return nil, err
	}
	by := map[string]*ActivityStatistic{}
	get := func(el string) *ActivityStatistic {
		s := by[el]
		if s == nil {
			s = &ActivityStatistic{ElementID: el, Incidents: map[IncidentType]int64{}}
			by[el] = s
		}
		return s
	}
	err := e.read(ctx, func(tx *datasource.Tx) error {
		type row struct {
			ElementID string `db:"element_id"`
			Type      string `db:"type"`
			N         int64  `db:"n"`
		}
		var rows []row
		if err := tx.SelectContext(ctx, &rows, `SELECT element_id, '' AS type, COUNT(*) AS n FROM tf_activity
			WHERE definition_id = $1 AND ended_at IS NULL AND element_type <> 'multiInstanceBody' GROUP BY element_id`, def.ID); err != nil {
			return err
		}
		for _, r := range rows {
			get(r.ElementID).Instances = r.N
		}
		rows = rows[:0]
		if err := tx.SelectContext(ctx, &rows, `SELECT element_id, '' AS type, COUNT(*) AS n FROM tf_job
			WHERE definition_id = $1 AND retries = 0 GROUP BY element_id`, def.ID); err != nil {
			return err
		}
		for _, r := range rows {
			get(r.ElementID).FailedJobs = r.N
		}
		rows = rows[:0]
		if err := tx.SelectContext(ctx, &rows, `SELECT element_id, type, COUNT(*) AS n FROM tf_incident
			WHERE definition_id = $1 AND state = 'open' GROUP BY element_id, type`, def.ID); err != nil {
			return err
		}
		for _, r := range rows {
			get(r.ElementID).Incidents[IncidentType(r.Type)] = r.N
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]ActivityStatistic, 0, len(by))
	for _, k := range core.SortedKeys(by) {
		out = append(out, *by[k])
	}
	return out, nil
}
