package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Page bounds a list query.
type Page struct {
	// FirstResult skips that many results.
	FirstResult int
	// MaxResults caps the result (0: the default of 100; at most 10,000).
	MaxResults int
	// SortBy is the Go name of a field of the listed entity, e.g.
	// "StartedAt" for instances: each query type documents the fields it
	// sorts by. "" sorts by the query's default field; another name is
	// ErrInvalid, naming the allowed ones. Ties are broken by ID. SortDesc
	// reverses the order.
	SortBy   string
	SortDesc bool
}

// MaxPageSize is the most results one list query returns.
const MaxPageSize = 10_000

// VariableFilter matches a variable by name and comparison, as Camunda's
// processVariables filters do.
type VariableFilter struct {
	Name string
	// Op is eq, neq, gt, gteq, lt, lteq or like.
	Op    string
	Value any
}

var filterOps = map[string]store.Op{"eq": store.Eq, "neq": store.Ne, "gt": store.Gt, "gteq": store.Ge, "lt": store.Lt,
	"lteq": store.Le, "like": store.Like}

// Every list and count is one query of the store: an entity, conditions,
// an order and a page. Each query type of this file only says which
// conditions its fields mean; list and count run it.

// list runs a query and returns its rows as the entity's type.
func list[T any](ctx context.Context, e *Engine, q *store.Query) ([]*T, error) {
	rows, err := e.st.List(ctx, q)
	if err != nil {
		return nil, err
	}
	out := make([]*T, len(rows))
	for i, r := range rows {
		out[i] = r.(*T)
	}
	return out, nil
}

// paged adds a page to a query: sortable lists the fields SortBy may
// name; def is the order without one.
func paged(q *store.Query, p Page, sortable []store.Field, def store.Sort) (*store.Query, error) {
	if p.FirstResult < 0 {
		return nil, invalid("firstResult must not be negative")
	}
	s := def
	if p.SortBy != "" {
		if !slices.Contains(sortable, store.Field(p.SortBy)) {
			names := make([]string, len(sortable))
			for i, f := range sortable {
				names[i] = string(f)
			}
			slices.Sort(names)
			return nil, invalid("cannot sort by %q: use one of %s", p.SortBy, strings.Join(names, ", "))
		}
		s = store.Sort{Field: store.Field(p.SortBy)}
	}
	if p.SortDesc {
		s.Desc = true
	}
	q.Sort = []store.Sort{s}
	q.Limit = p.MaxResults
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, MaxPageSize)
	q.Offset = p.FirstResult
	return q, nil
}

func invalid(format string, args ...any) error { return core.Invalidf(format, args...) }

// conds collects the conditions of a query.
type conds []store.Cond

func (c *conds) eq(f store.Field, v any) { *c = append(*c, store.Where(f, store.Eq, v)) }

// set adds an equality when v is not its type's zero value.
func set[T comparable](c *conds, f store.Field, v T) {
	var zero T
	if v != zero {
		c.eq(f, v)
	}
}

// in adds a membership condition when vs is not empty.
func in[T any](c *conds, f store.Field, vs []T) {
	if len(vs) > 0 {
		*c = append(*c, store.WhereIn(f, vs))
	}
}

func (c *conds) op(f store.Field, op store.Op, v any) { *c = append(*c, store.Where(f, op, v)) }

// states filters a state field: any, the listed ones, or the default.
func states[T any](c *conds, any bool, listed []T, def T) {
	switch {
	case any:
	case len(listed) > 0:
		in(c, "State", listed)
	default:
		c.eq("State", def)
	}
}

// variables adds process-variable filters.
func (c *conds) variables(fs []VariableFilter) error {
	for _, f := range fs {
		op, ok := filterOps[strings.ToLower(f.Op)]
		if !ok {
			return invalid("variable filter %q: unknown operator %q: use eq, neq, gt, gteq, lt, lteq or like", f.Name, f.Op)
		}
		if _, err := core.ValueOf(f.Value); err != nil {
			return err
		}
		value := store.Where(store.Value, op, f.Value)
		if f.Value == nil {
			value = store.Cond{Field: store.Value, Op: store.IsNull}
		}
		*c = append(*c, store.Cond{Related: &store.Related{Entity: store.ProcessVariables,
			Where: []store.Cond{store.Where("Name", store.Eq, f.Name), value}}})
	}
	return nil
}

// ---- instances ----

// InstanceQuery filters instances. Zero fields do not filter; by default
// only running instances are listed (set States for history). It sorts by
// ID, DefinitionKey, DefinitionID, BusinessKey, StartedAt (the default)
// or EndedAt.
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

var instanceSort = []store.Field{"ID", "DefinitionKey", "DefinitionID", "BusinessKey", "StartedAt", "EndedAt"}

func (q *InstanceQuery) query() (*store.Query, error) {
	var c conds
	in(&c, "ID", q.IDs)
	set(&c, "DefinitionID", q.DefinitionID)
	set(&c, "DefinitionKey", q.DefinitionKey)
	in(&c, "DefinitionKey", q.DefinitionKeys)
	set(&c, "BusinessKey", q.BusinessKey)
	if q.BusinessKeyLike != "" {
		c.op("BusinessKey", store.Like, q.BusinessKeyLike)
	}
	states(&c, q.AnyState, q.States, InstanceActive)
	set(&c, "SuperInstanceID", q.SuperInstanceID)
	if q.Suspended != nil {
		c.eq("Suspended", *q.Suspended)
	}
	if q.WithIncidents {
		c = append(c, store.Cond{Related: &store.Related{Entity: store.Incidents, Where: []store.Cond{store.Where("State", store.Eq, "open")}}})
	}
	if !q.StartedAfter.IsZero() {
		c.op("StartedAt", store.Ge, q.StartedAfter)
	}
	if !q.StartedBefore.IsZero() {
		c.op("StartedAt", store.Le, q.StartedBefore)
	}
	if err := c.variables(q.Variables); err != nil {
		return nil, err
	}
	return paged(&store.Query{Entity: store.Instances, Where: c}, q.Page, instanceSort, store.Sort{Field: "StartedAt"})
}

// Instances lists instances of the tenant in ctx.
func (e *Engine) Instances(ctx context.Context, q *InstanceQuery) ([]*ProcessInstance, error) {
	if q == nil {
		q = &InstanceQuery{}
	}
	sq, err := q.query()
	if err != nil {
		return nil, err
	}
	return list[ProcessInstance](ctx, e, sq)
}

// CountInstances counts what Instances would list, ignoring paging.
func (e *Engine) CountInstances(ctx context.Context, q *InstanceQuery) (int64, error) {
	if q == nil {
		q = &InstanceQuery{}
	}
	sq, err := q.query()
	if err != nil {
		return 0, err
	}
	return e.st.Count(ctx, sq)
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
	return e.st.Variables(ctx, &store.VariablesParams{InstanceID: inst.ID})
}

// ---- tasks ----

// TaskQuery filters user tasks. By default only open tasks are listed. It
// sorts by ID, Name, Priority, Assignee, CreatedAt (the default), Due,
// FollowUp, InstanceID or ElementID.
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

var taskSort = []store.Field{"ID", "Name", "Priority", "Assignee", "CreatedAt", "Due", "FollowUp", "InstanceID", "ElementID"}

func (q *TaskQuery) query() (*store.Query, error) {
	var c conds
	set(&c, "ID", q.ID)
	in(&c, "ID", q.IDs)
	set(&c, "InstanceID", q.InstanceID)
	in(&c, "InstanceID", q.InstanceIDs)
	set(&c, "DefinitionKey", q.DefinitionKey)
	set(&c, "DefinitionID", q.DefinitionID)
	set(&c, "ElementID", q.ElementID)
	in(&c, "ElementID", q.ElementIDs)
	set(&c, "Assignee", q.Assignee)
	if q.Unassigned {
		c.eq("Assignee", "")
	}
	if q.Assigned {
		c.op("Assignee", store.Ne, "")
	}
	if q.CandidateUser != "" || len(q.CandidateGroups) > 0 {
		var any []store.Cond
		if q.CandidateUser != "" {
			any = append(any, store.Where("CandidateUsers", store.Has, q.CandidateUser))
		}
		for _, g := range q.CandidateGroups {
			any = append(any, store.Where("CandidateGroups", store.Has, g))
		}
		c = append(c, store.Cond{Any: any})
		if !q.IncludeAssigned {
			c.eq("Assignee", "")
		}
	}
	if q.InvolvedUser != "" {
		c = append(c, store.Cond{Any: []store.Cond{store.Where("Assignee", store.Eq, q.InvolvedUser),
			store.Where("CandidateUsers", store.Has, q.InvolvedUser)}})
	}
	set(&c, "Name", q.Name)
	if q.NameLike != "" {
		c.op("Name", store.Like, q.NameLike)
	}
	if !q.DueBefore.IsZero() {
		c.op("Due", store.Le, q.DueBefore)
	}
	if !q.DueAfter.IsZero() {
		c.op("Due", store.Ge, q.DueAfter)
	}
	states(&c, q.AnyState, q.States, TaskCreated)
	if q.BusinessKey != "" {
		c = append(c, store.Cond{Related: &store.Related{Entity: store.Instances, Where: []store.Cond{store.Where("BusinessKey", store.Eq, q.BusinessKey)}}})
	}
	if err := c.variables(q.ProcessVariables); err != nil {
		return nil, err
	}
	return paged(&store.Query{Entity: store.Tasks, Where: c}, q.Page, taskSort, store.Sort{Field: "CreatedAt"})
}

// Tasks lists user tasks of the tenant in ctx.
func (e *Engine) Tasks(ctx context.Context, q *TaskQuery) ([]*Task, error) {
	if q == nil {
		q = &TaskQuery{}
	}
	sq, err := q.query()
	if err != nil {
		return nil, err
	}
	return list[Task](ctx, e, sq)
}

// CountTasks counts what Tasks would list, ignoring paging.
func (e *Engine) CountTasks(ctx context.Context, q *TaskQuery) (int64, error) {
	if q == nil {
		q = &TaskQuery{}
	}
	sq, err := q.query()
	if err != nil {
		return 0, err
	}
	return e.st.Count(ctx, sq)
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

// ExternalTaskQuery filters external tasks. It sorts by ID (the default),
// LockExpiresAt, InstanceID, DefinitionKey, Priority or CreatedAt.
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

var externalSort = []store.Field{"ID", "LockExpiresAt", "InstanceID", "DefinitionKey", "Priority", "CreatedAt"}

func (q *ExternalTaskQuery) query(now time.Time) (*store.Query, error) {
	var c conds
	set(&c, "ID", q.ID)
	in(&c, "ID", q.IDs)
	set(&c, "Topic", q.Topic)
	set(&c, "WorkerID", q.WorkerID)
	if q.Locked {
		c.op("WorkerID", store.Ne, "")
		c.op("LockExpiresAt", store.Gt, now)
	}
	if q.NotLocked {
		c = append(c, store.Cond{Any: []store.Cond{store.Where("WorkerID", store.Eq, ""), store.Where("LockExpiresAt", store.Le, now)}})
	}
	if q.WithRetriesLeft {
		c = append(c, store.Cond{Any: []store.Cond{{Field: "Retries", Op: store.IsNull}, store.Where("Retries", store.Gt, 0)}})
	}
	if q.NoRetriesLeft {
		c.eq("Retries", 0)
	}
	set(&c, "InstanceID", q.InstanceID)
	set(&c, "ElementID", q.ElementID)
	set(&c, "DefinitionKey", q.DefinitionKey)
	return paged(&store.Query{Entity: store.ExternalTasks, Where: c}, q.Page, externalSort, store.Sort{Field: "ID"})
}

// ExternalTasks lists external tasks of the tenant in ctx.
func (e *Engine) ExternalTasks(ctx context.Context, q *ExternalTaskQuery) ([]*ExternalTask, error) {
	if q == nil {
		q = &ExternalTaskQuery{}
	}
	sq, err := q.query(e.now())
	if err != nil {
		return nil, err
	}
	return list[ExternalTask](ctx, e, sq)
}

// CountExternalTasks counts what ExternalTasks would list.
func (e *Engine) CountExternalTasks(ctx context.Context, q *ExternalTaskQuery) (int64, error) {
	if q == nil {
		q = &ExternalTaskQuery{}
	}
	sq, err := q.query(e.now())
	if err != nil {
		return 0, err
	}
	return e.st.Count(ctx, sq)
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

// JobQuery filters jobs. It sorts by ID, DueAt (the default), Retries,
// Priority or InstanceID.
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

var jobSort = []store.Field{"ID", "DueAt", "Retries", "Priority", "InstanceID"}

func (q *JobQuery) query(now time.Time) (*store.Query, error) {
	var c conds
	set(&c, "ID", q.ID)
	in(&c, "ID", q.IDs)
	set(&c, "InstanceID", q.InstanceID)
	set(&c, "DefinitionKey", q.DefinitionKey)
	set(&c, "ElementID", q.ElementID)
	set(&c, "Kind", q.Kind)
	if q.WithRetriesLeft {
		c.op("Retries", store.Gt, 0)
	}
	if q.NoRetriesLeft {
		c.eq("Retries", 0)
	}
	if q.Executable {
		c.op("Retries", store.Gt, 0)
		c.eq("Suspended", false)
		c.op("DueAt", store.Le, now)
	}
	if !q.DueBefore.IsZero() {
		c.op("DueAt", store.Lt, q.DueBefore)
	}
	return paged(&store.Query{Entity: store.Jobs, Where: c}, q.Page, jobSort, store.Sort{Field: "DueAt"})
}

// Jobs lists jobs of the tenant in ctx.
func (e *Engine) Jobs(ctx context.Context, q *JobQuery) ([]*Job, error) {
	if q == nil {
		q = &JobQuery{}
	}
	sq, err := q.query(e.now())
	if err != nil {
		return nil, err
	}
	return list[Job](ctx, e, sq)
}

// CountJobs counts what Jobs would list.
func (e *Engine) CountJobs(ctx context.Context, q *JobQuery) (int64, error) {
	if q == nil {
		q = &JobQuery{}
	}
	sq, err := q.query(e.now())
	if err != nil {
		return 0, err
	}
	return e.st.Count(ctx, sq)
}

// IncidentQuery filters incidents. By default only open ones. It sorts by
// ID, CreatedAt (the default), Type, ElementID or InstanceID.
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

var incidentSort = []store.Field{"ID", "CreatedAt", "Type", "ElementID", "InstanceID"}

func (q *IncidentQuery) query() (*store.Query, error) {
	var c conds
	set(&c, "ID", q.ID)
	set(&c, "InstanceID", q.InstanceID)
	set(&c, "DefinitionKey", q.DefinitionKey)
	set(&c, "DefinitionID", q.DefinitionID)
	set(&c, "ElementID", q.ElementID)
	set(&c, "Type", q.Type)
	states(&c, q.AnyState, q.States, "open")
	return paged(&store.Query{Entity: store.Incidents, Where: c}, q.Page, incidentSort, store.Sort{Field: "CreatedAt"})
}

// Incidents lists incidents of the tenant in ctx.
func (e *Engine) Incidents(ctx context.Context, q *IncidentQuery) ([]*Incident, error) {
	if q == nil {
		q = &IncidentQuery{}
	}
	sq, err := q.query()
	if err != nil {
		return nil, err
	}
	return list[Incident](ctx, e, sq)
}

// CountIncidents counts what Incidents would list.
func (e *Engine) CountIncidents(ctx context.Context, q *IncidentQuery) (int64, error) {
	if q == nil {
		q = &IncidentQuery{}
	}
	sq, err := q.query()
	if err != nil {
		return 0, err
	}
	return e.st.Count(ctx, sq)
}

// ---- history ----

// ActivityQuery filters activity instances (running and finished). It
// sorts by ID, StartedAt (the default), EndedAt, ElementID or ElementType.
type ActivityQuery struct {
	InstanceID int64
	ElementID  string
	Finished   bool
	Unfinished bool
	Canceled   bool
	Page
}

var activitySort = []store.Field{"ID", "StartedAt", "EndedAt", "ElementID", "ElementType"}

func (q *ActivityQuery) query() (*store.Query, error) {
	var c conds
	set(&c, "InstanceID", q.InstanceID)
	set(&c, "ElementID", q.ElementID)
	if q.Finished {
		c = append(c, store.Cond{Field: "EndedAt", Op: store.NotNull})
	}
	if q.Unfinished {
		c = append(c, store.Cond{Field: "EndedAt", Op: store.IsNull})
	}
	if q.Canceled {
		c.eq("Canceled", true)
	}
	return paged(&store.Query{Entity: store.Activities, Where: c}, q.Page, activitySort, store.Sort{Field: "StartedAt"})
}

// Activities lists activity instances of the tenant in ctx: the path tokens
// took, and where they are now.
func (e *Engine) Activities(ctx context.Context, q *ActivityQuery) ([]*ActivityInstance, error) {
	if q == nil {
		q = &ActivityQuery{}
	}
	sq, err := q.query()
	if err != nil {
		return nil, err
	}
	return list[ActivityInstance](ctx, e, sq)
}

// CountActivities counts what Activities would list.
func (e *Engine) CountActivities(ctx context.Context, q *ActivityQuery) (int64, error) {
	if q == nil {
		q = &ActivityQuery{}
	}
	sq, err := q.query()
	if err != nil {
		return 0, err
	}
	return e.st.Count(ctx, sq)
}

// VariableUpdates returns the history of an instance's variables, oldest
// first.
func (e *Engine) VariableUpdates(ctx context.Context, inst Ref) ([]*VariableUpdate, error) {
	if err := checkRef(ctx, inst); err != nil {
		return nil, err
	}
	return e.st.VariableUpdates(ctx, inst.ID)
}

// ---- definitions and deployments ----

// DefinitionQuery filters process definitions. It sorts by ID, Key (the
// default), Name, Version, DeploymentID or CreatedAt.
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

var definitionSort = []store.Field{"ID", "Key", "Name", "Version", "DeploymentID", "CreatedAt"}

func (q *DefinitionQuery) query() (*store.Query, error) {
	var c conds
	set(&c, "ID", q.ID)
	set(&c, "Key", q.Key)
	in(&c, "Key", q.Keys)
	set(&c, "Name", q.Name)
	if q.NameLike != "" {
		c.op("Name", store.Like, q.NameLike)
	}
	set(&c, "DeploymentID", q.DeploymentID)
	set(&c, "Version", q.Version)
	if q.LatestVersion {
		c.eq(store.LatestVersion, true)
	}
	if q.Suspended != nil {
		c.eq("Suspended", *q.Suspended)
	}
	return paged(&store.Query{Entity: store.Definitions, Where: c}, q.Page, definitionSort, store.Sort{Field: "Key"})
}

// Definitions lists process definitions of the tenant in ctx.
func (e *Engine) Definitions(ctx context.Context, q *DefinitionQuery) ([]*ProcessDefinition, error) {
	if q == nil {
		q = &DefinitionQuery{}
	}
	sq, err := q.query()
	if err != nil {
		return nil, err
	}
	return list[ProcessDefinition](ctx, e, sq)
}

// CountDefinitions counts what Definitions would list.
func (e *Engine) CountDefinitions(ctx context.Context, q *DefinitionQuery) (int64, error) {
	if q == nil {
		q = &DefinitionQuery{}
	}
	sq, err := q.query()
	if err != nil {
		return 0, err
	}
	return e.st.Count(ctx, sq)
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
	src, err := e.st.Definition(ctx, &store.DefinitionParams{ID: def.ID, WithContent: true})
	if err != nil {
		return nil, err
	}
	return src.Content, nil
}

// Deployments lists deployments of the tenant in ctx, newest first. The
// page sorts by ID, Name or CreatedAt (the default, descending).
func (e *Engine) Deployments(ctx context.Context, name string, p Page) ([]*Deployment, error) {
	var c conds
	set(&c, "Name", name)
	p.SortDesc = p.SortBy == "" || p.SortDesc
	q, err := paged(&store.Query{Entity: store.Deployments, Where: c}, p,
		[]store.Field{"ID", "Name", "CreatedAt"}, store.Sort{Field: "CreatedAt"})
	if err != nil {
		return nil, err
	}
	return list[Deployment](ctx, e, q)
}

// Deployment returns one deployment with its resources and definitions.
func (e *Engine) Deployment(ctx context.Context, ref Ref) (*Deployment, error) {
	if err := checkRef(ctx, ref); err != nil {
		return nil, err
	}
	return e.st.Deployment(ctx, ref.ID)
}

// DeleteDeployment removes a deployment and its definitions. Without
// cascade it refuses (ErrConflict) while instances of its definitions
// exist; with cascade those instances are deleted first.
func (e *Engine) DeleteDeployment(ctx context.Context, ref Ref, cascade bool) error {
	if err := checkRef(ctx, ref); err != nil {
		return err
	}
	d, err := e.st.Deployment(ctx, ref.ID)
	if err != nil {
		return err
	}
	var running []*ProcessInstance
	if len(d.Definitions) > 0 {
		ids := make([]int64, len(d.Definitions))
		for i, def := range d.Definitions {
			ids[i] = def.ID
		}
		running, err = list[ProcessInstance](ctx, e, &store.Query{Entity: store.Instances,
			Where: []store.Cond{store.WhereIn("DefinitionID", ids), store.Where("State", store.Eq, InstanceActive)}})
		if err != nil {
			return err
		}
	}
	if len(running) > 0 && !cascade {
		return fmt.Errorf("%w: deployment %d has %d running instances; delete with cascade to remove them too", ErrConflict, ref.ID, len(running))
	}
	// Running instances end as deleted instances do (their called
	// instances too), before their rows go.
	for _, inst := range running {
		if err := e.DeleteInstance(ctx, inst.Ref(), "deployment deleted"); err != nil && !isNotFoundOrEnded(err) {
			return err
		}
	}
	return e.st.DeleteDeployment(ctx, &store.DeleteDeploymentParams{ID: ref.ID, Cascade: cascade})
}

func isNotFoundOrEnded(err error) bool {
	return err != nil && (errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict))
}

// ActivityStatistic counts what stands at one element of a definition:
// running activity instances, jobs out of retries and open incidents.
type ActivityStatistic = store.ActivityStatistic

// DefinitionStatistics returns, per element of a definition with anything
// running or failing there, the counts the console draws on the diagram.
func (e *Engine) DefinitionStatistics(ctx context.Context, def Ref) ([]ActivityStatistic, error) {
	if err := checkRef(ctx, def); err != nil {
		return nil, err
	}
	return e.st.DefinitionStatistics(ctx, def.ID)
}
