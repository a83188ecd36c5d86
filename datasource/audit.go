package datasource

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// AuditEntry is one line of the audit log: who did what to which entity,
// when and from where, in Camunda's user operation log vocabulary
// (operation types such as Claim, Complete, Create, Delete; entity types
// such as Task, ProcessInstance, Deployment, User). A change of several
// properties in one operation is several entries with one OperationID.
type AuditEntry struct {
	ID          string
	OperationID string
	// Tenant is the tenant the action concerned; "" for actions on no
	// tenant (creating a user without a membership, migrating all tenants).
	Tenant string
	At     time.Time
	// UserID is the login of whoever acted.
	UserID string
	// ActorKind is "member", "tenant-manager" or "operator" (the command
	// line).
	ActorKind     string
	Address       string
	OperationType string
	EntityType    string
	// Category is Camunda's: TaskWorker, Operator or Admin.
	Category string
	Property string
	OrgValue *string
	NewValue *string
	// EntityID identifies the entity when no Camunda reference below does
	// (a user's login, a tenant ID, a token ID).
	EntityID             string
	DeploymentID         string
	ProcessDefinitionID  string
	ProcessDefinitionKey string
	ProcessInstanceID    string
	TaskID               string
	JobID                string
	ExternalTaskID       string
	// Annotation says more: the reason given for an impersonation, or that
	// the actor used a token another user created for it.
	Annotation string
}

type auditRow struct {
	ID                   string         `db:"id"`
	Seq                  int64          `db:"seq"`
	Tenant               string         `db:"tenant_id"`
	At                   int64          `db:"at"`
	OperationID          string         `db:"operation_id"`
	UserID               string         `db:"user_id"`
	ActorKind            string         `db:"actor_kind"`
	Address              string         `db:"address"`
	OperationType        string         `db:"operation_type"`
	EntityType           string         `db:"entity_type"`
	Category             string         `db:"category"`
	Property             string         `db:"property"`
	OrgValue             sql.NullString `db:"org_value"`
	NewValue             sql.NullString `db:"new_value"`
	EntityID             string         `db:"entity_id"`
	DeploymentID         string         `db:"deployment_id"`
	ProcessDefinitionID  string         `db:"process_definition_id"`
	ProcessDefinitionKey string         `db:"process_definition_key"`
	ProcessInstanceID    string         `db:"process_instance_id"`
	TaskID               string         `db:"task_id"`
	JobID                string         `db:"job_id"`
	ExternalTaskID       string         `db:"external_task_id"`
	Annotation           string         `db:"annotation"`
}

const auditColumns = `id, seq, tenant_id, at, operation_id, user_id, actor_kind, address, operation_type, entity_type,
	category, property, org_value, new_value, entity_id, deployment_id, process_definition_id, process_definition_key,
	process_instance_id, task_id, job_id, external_task_id, annotation`

// auditSeq orders the entries this node writes within one millisecond.
type auditSeq struct {
	mu   sync.Mutex
	last int64
}

func (a *auditSeq) next(now time.Time) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.last = max(a.last+1, now.UnixNano())
	return a.last
}

func nullString(p *string) sql.NullString {
	if p == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *p, Valid: true}
}

// AppendAudit writes entries to the audit log in one transaction. Entries
// without an ID, operation ID or time get them.
func (p *Primary) AppendAudit(ctx context.Context, entries ...*AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	op := newID()
	for _, e := range entries {
		if e.ID == "" {
			e.ID = newID()
		}
		if e.OperationID == "" {
			e.OperationID = op
		}
		if e.At.IsZero() {
			e.At = p.clock.Now()
		}
	}
	// One statement of up to auditChunk entries commits in one round
	// trip; more (a change to a user of thousands of tenants) share a
	// transaction.
	if len(entries) <= auditChunk {
		return p.insertAudit(ctx, p.w, entries)
	}
	tx, err := p.w.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for start := 0; start < len(entries); start += auditChunk {
		if err := p.insertAudit(ctx, tx, entries[start:min(start+auditChunk, len(entries))]); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// auditChunk keeps one INSERT of entries under the parameters a statement
// may take (SQLite's 32,766; PostgreSQL's 65,535).
const auditChunk = 1000

// insertAudit inserts entries in one statement.
func (p *Primary) insertAudit(ctx context.Context, db sqlx.ExecerContext, entries []*AuditEntry) error {
	const cols = 23
	var q strings.Builder
	q.WriteString(`INSERT INTO tf_audit (` + auditColumns + `) VALUES `)
	args := make([]any, 0, cols*len(entries))
	for i, e := range entries {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteByte('(')
		for c := range cols {
			if c > 0 {
				q.WriteString(", ")
			}
			q.WriteString("$" + strconv.Itoa(len(args)+c+1))
		}
		q.WriteByte(')')
		args = append(args, e.ID, p.auditSeq.next(e.At), e.Tenant, ms(e.At), e.OperationID, e.UserID, e.ActorKind, e.Address, e.OperationType, e.EntityType,
			e.Category, e.Property, nullString(e.OrgValue), nullString(e.NewValue), e.EntityID, e.DeploymentID, e.ProcessDefinitionID,
			e.ProcessDefinitionKey, e.ProcessInstanceID, e.TaskID, e.JobID, e.ExternalTaskID, e.Annotation)
	}
	_, err := db.ExecContext(ctx, q.String(), args...)
	return err
}

// AuditQuery filters the audit log. Empty fields do not filter, except
// Tenant, which is always applied unless AllTenants is set.
type AuditQuery struct {
	Tenant     string
	AllTenants bool
	// OperationTypes, EntityTypes and Categories keep entries with one of
	// the values.
	OperationTypes       []string
	EntityTypes          []string
	Categories           []string
	UserID               string
	ProcessInstanceID    string
	ProcessDefinitionKey string
	TaskID               string
	// After and Before bound the time (inclusive).
	After, Before time.Time
	// Ascending lists oldest first; the default is newest first.
	Ascending   bool
	FirstResult int
	// MaxResults caps the result; 0 means 100.
	MaxResults int
}

// where builds the filter; every value is a parameter.
func (q *AuditQuery) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	in := func(col string, vs []string) {
		if len(vs) == 0 {
			return
		}
		marks := make([]string, len(vs))
		for i, v := range vs {
			args = append(args, v)
			marks[i] = fmt.Sprintf("$%d", len(args))
		}
		conds = append(conds, col+" IN ("+strings.Join(marks, ", ")+")")
	}
	if !q.AllTenants {
		add("tenant_id = $%d", q.Tenant)
	}
	in("operation_type", q.OperationTypes)
	in("entity_type", q.EntityTypes)
	in("category", q.Categories)
	for _, f := range []struct{ col, v string }{{"user_id", q.UserID}, {"process_instance_id", q.ProcessInstanceID},
		{"process_definition_key", q.ProcessDefinitionKey}, {"task_id", q.TaskID}} {
		if f.v != "" {
			add(f.col+" = $%d", f.v)
		}
	}
	if !q.After.IsZero() {
		add("at >= $%d", ms(q.After))
	}
	if !q.Before.IsZero() {
		add("at <= $%d", ms(q.Before))
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListAudit lists audit entries, newest first unless q.Ascending.
func (p *Primary) ListAudit(ctx context.Context, q *AuditQuery) ([]*AuditEntry, error) {
	where, args := q.where()
	order := " ORDER BY at DESC, seq DESC"
	if q.Ascending {
		order = " ORDER BY at, seq"
	}
	limit := q.MaxResults
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit, max(q.FirstResult, 0))
	var rows []auditRow
	err := p.r.SelectContext(ctx, &rows, `SELECT `+auditColumns+` FROM tf_audit`+where+order+
		fmt.Sprintf(` LIMIT $%d OFFSET $%d`, len(args)-1, len(args)), args...)
	if err != nil {
		return nil, err
	}
	out := make([]*AuditEntry, len(rows))
	for i, r := range rows {
		e := &AuditEntry{ID: r.ID, OperationID: r.OperationID, Tenant: r.Tenant, At: fromMS(r.At), UserID: r.UserID,
			ActorKind: r.ActorKind, Address: r.Address, OperationType: r.OperationType, EntityType: r.EntityType,
			Category: r.Category, Property: r.Property, EntityID: r.EntityID, DeploymentID: r.DeploymentID,
			ProcessDefinitionID: r.ProcessDefinitionID, ProcessDefinitionKey: r.ProcessDefinitionKey,
			ProcessInstanceID: r.ProcessInstanceID, TaskID: r.TaskID, JobID: r.JobID, ExternalTaskID: r.ExternalTaskID,
			Annotation: r.Annotation}
		if r.OrgValue.Valid {
			e.OrgValue = &r.OrgValue.String
		}
		if r.NewValue.Valid {
			e.NewValue = &r.NewValue.String
		}
		out[i] = e
	}
	return out, nil
}

// CountAudit counts the entries ListAudit would page through.
func (p *Primary) CountAudit(ctx context.Context, q *AuditQuery) (int64, error) {
	where, args := q.where()
	var n int64
	err := p.r.GetContext(ctx, &n, `SELECT COUNT(*) FROM tf_audit`+where, args...)
	return n, err
}
