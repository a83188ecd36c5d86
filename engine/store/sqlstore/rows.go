package sqlstore

import (
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/engine/core"
)

// This file maps the tenant tables' rows to the engine's types, and back.
// Times are stored as Unix milliseconds.

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

func (r *instanceCols) public(tenant string) core.ProcessInstance {
	return core.ProcessInstance{ID: r.ID, Tenant: tenant, DefinitionID: r.DefinitionID, DefinitionKey: r.DefKey,
		BusinessKey: r.BusinessKey, State: core.InstanceState(r.State), Suspended: r.Suspended, SuperInstanceID: r.SuperInst,
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

const execSelect = `SELECT id, instance_id, parent_id, element_id, state, is_scope, activity_instance_id, flags,
	data, created_at FROM tf_execution`

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

const varSelect = `SELECT scope_id, name, instance_id, type, text_value, long_value, double_value, revision
	FROM tf_variable`

func (v *varCols) value() (core.Value, error) {
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

func (r *taskCols) public(tenant string) core.Task {
	return core.Task{ID: r.ID, Tenant: tenant, InstanceID: r.InstanceID, ExecutionID: r.ExecutionID, DefinitionID: r.DefinitionID,
		DefinitionKey: r.DefKey, ElementID: r.ElementID, Name: r.Name, Assignee: r.Assignee,
		CandidateUsers: unjoinList(r.CandidateUsers), CandidateGroups: unjoinList(r.CandidateGroups), Priority: r.Priority,
		FormKey: r.FormKey, Due: timeOfNull(r.DueAt), FollowUp: timeOfNull(r.FollowUpAt), State: core.TaskState(r.State),
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

func (r *extCols) public(tenant string) core.ExternalTask {
	t := core.ExternalTask{ID: r.ID, Tenant: tenant, InstanceID: r.InstanceID, ExecutionID: r.ExecutionID,
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
	j := &core.JobRow{ExecutionID: r.ExecutionID, DefinitionID: r.DefinitionID, DefinitionKey: r.DefKey, ExcStack: r.ExcStack, CreatedAt: r.CreatedAt}
	j.Job = core.Job{ID: r.ID, Tenant: tenant, Kind: core.JobKind(r.Kind), InstanceID: r.InstanceID, ElementID: r.ElementID,
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
		DefinitionID: r.DefinitionID, DefinitionKey: r.DefKey, ElementID: r.ElementID, CreatedAt: r.CreatedAt}
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

func (r *incidentCols) public(tenant string) core.Incident {
	return core.Incident{ID: r.ID, Tenant: tenant, Type: core.IncidentType(r.Type), InstanceID: r.InstanceID, ExecutionID: r.ExecutionID,
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

func (r *actCols) public(tenant string) core.ActivityInstance {
	return core.ActivityInstance{ID: r.ID, Tenant: tenant, InstanceID: r.InstanceID, ExecutionID: r.ExecutionID, ParentID: r.ParentID,
		DefinitionID: r.DefinitionID, ElementID: r.ElementID, ElementType: r.ElementType, Name: r.Name, TaskID: r.TaskID,
		CalledInstanceID: r.CalledID, Canceled: r.Canceled, StartedAt: timeOf(r.StartedAt), EndedAt: timeOfNull(r.EndedAt)}
}

type definitionCols struct {
	ID           int64  `db:"id"`
	Key          string `db:"def_key"`
	Version      int    `db:"version"`
	Name         string `db:"name"`
	DeploymentID int64  `db:"deployment_id"`
	ResourceName string `db:"resource_name"`
	Hash         string `db:"hash"`
	VersionTag   string `db:"version_tag"`
	HistoryTTL   int64  `db:"history_ttl_ms"`
	Suspended    bool   `db:"suspended"`
	CreatedAt    int64  `db:"created_at"`
}

const definitionSelect = `SELECT id, def_key, version, name, deployment_id, resource_name, hash, version_tag,
	history_ttl_ms, suspended, created_at FROM tf_definition`

func (r *definitionCols) public(tenant string) core.ProcessDefinition {
	return core.ProcessDefinition{ID: r.ID, Tenant: tenant, Key: r.Key, Version: r.Version, Name: r.Name, DeploymentID: r.DeploymentID,
		ResourceName: r.ResourceName, VersionTag: r.VersionTag, HistoryTimeToLive: time.Duration(r.HistoryTTL) * time.Millisecond,
		Suspended: r.Suspended, CreatedAt: timeOf(r.CreatedAt)}
}

type outboxCols struct {
	Pos          int64  `db:"pos"`
	ID           int64  `db:"id"`
	Type         string `db:"type"`
	At           int64  `db:"at"`
	InstanceID   int64  `db:"instance_id"`
	BusinessKey  string `db:"business_key"`
	DefinitionID int64  `db:"definition_id"`
	DefKey       string `db:"def_key"`
	ElementID    string `db:"element_id"`
	ElementType  string `db:"element_type"`
	TaskID       int64  `db:"task_id"`
	Data         string `db:"data"`
}

const outboxFields = `pos, id, type, at, instance_id, business_key, definition_id, def_key, element_id, element_type, task_id, data`
