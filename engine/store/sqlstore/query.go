package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// table is how an entity is stored: its table, the column of each field,
// and how its rows are read.
type table struct {
	name    string
	columns map[store.Field]string
	// scan reads the rows of a SELECT of the table's columns.
	scan func(ctx context.Context, tx *dbtx, where string, args []any) ([]any, error)
}

var tables = map[store.Entity]*table{
	store.Instances: {name: "tf_instance",
		columns: map[store.Field]string{"ID": "id", "DefinitionID": "definition_id", "DefinitionKey": "def_key",
			"BusinessKey": "business_key", "State": "state", "Suspended": "suspended", "SuperInstanceID": "super_instance_id",
			"StartedAt": "started_at", "EndedAt": "ended_at"},
		scan: scanRows(instanceSelect, func(r *instanceCols, tenant string) any { p := r.public(tenant); return &p })},
	store.Tasks: {name: "tf_task",
		columns: map[store.Field]string{"ID": "id", "InstanceID": "instance_id", "ExecutionID": "execution_id",
			"DefinitionID": "definition_id", "DefinitionKey": "def_key", "ElementID": "element_id", "Name": "name",
			"Assignee": "assignee", "CandidateUsers": "candidate_users", "CandidateGroups": "candidate_groups",
			"Priority": "priority", "Due": "due_at", "FollowUp": "follow_up_at", "State": "state", "CreatedAt": "created_at"},
		scan: scanRows(taskSelect, func(r *taskCols, tenant string) any { t := r.public(tenant); return &t })},
	store.ExternalTasks: {name: "tf_external_task",
		columns: map[store.Field]string{"ID": "id", "InstanceID": "instance_id", "DefinitionKey": "def_key",
			"ElementID": "element_id", "Topic": "topic", "WorkerID": "worker_id", "LockExpiresAt": "lock_expires_at",
			"Retries": "retries", "Priority": "priority", "CreatedAt": "created_at"},
		scan: scanRows(extSelect, func(r *extCols, tenant string) any { t := r.public(tenant); return &t })},
	store.Jobs: {name: "tf_job",
		columns: map[store.Field]string{"ID": "id", "InstanceID": "instance_id", "DefinitionKey": "def_key",
			"ElementID": "element_id", "Kind": "kind", "DueAt": "due_at", "Priority": "priority", "Retries": "retries",
			"Suspended": "suspended"},
		scan: scanRows(`SELECT `+jobColumns+` FROM tf_job`, func(r *jobCols, tenant string) any { j := r.row(tenant).Job; return &j })},
	store.Incidents: {name: "tf_incident",
		columns: map[store.Field]string{"ID": "id", "InstanceID": "instance_id", "DefinitionID": "definition_id",
			"DefinitionKey": "def_key", "ElementID": "element_id", "Type": "type", "State": "state", "CreatedAt": "created_at"},
		scan: scanRows(incidentSelect, func(r *incidentCols, tenant string) any { i := r.public(tenant); return &i })},
	store.Activities: {name: "tf_activity",
		columns: map[store.Field]string{"ID": "id", "InstanceID": "instance_id", "ElementID": "element_id",
			"ElementType": "element_type", "Canceled": "canceled", "StartedAt": "started_at", "EndedAt": "ended_at"},
		scan: scanRows(actSelect, func(r *actCols, tenant string) any { a := r.public(tenant); return &a })},
	store.Definitions: {name: "tf_definition",
		columns: map[store.Field]string{"ID": "id", "Key": "def_key", "Name": "name", "DeploymentID": "deployment_id",
			"Version": "version", "Suspended": "suspended", "CreatedAt": "created_at"},
		scan: scanRows(definitionSelect, func(r *definitionCols, tenant string) any { d := r.public(tenant); return &d })},
	store.Deployments: {name: "tf_deployment",
		columns: map[store.Field]string{"ID": "id", "Name": "name", "CreatedAt": "created_at"},
		scan:    scanDeployments},
	store.ProcessVariables: {name: "tf_variable",
		columns: map[store.Field]string{"Name": "name"}},
}

// scanRows reads rows of type R selected by sel and converts each.
func scanRows[R any](sel string, conv func(r *R, tenant string) any) func(ctx context.Context, tx *dbtx, where string, args []any) ([]any, error) {
	return func(ctx context.Context, tx *dbtx, where string, args []any) ([]any, error) {
		var rows []R
		if err := tx.SelectContext(ctx, &rows, sel+where, args...); err != nil {
			return nil, err
		}
		out := make([]any, len(rows))
		for i := range rows {
			out[i] = conv(&rows[i], tx.Tenant())
		}
		return out, nil
	}
}

func scanDeployments(ctx context.Context, tx *dbtx, where string, args []any) ([]any, error) {
	var ids []int64
	if err := tx.SelectContext(ctx, &ids, `SELECT id FROM tf_deployment`+where, args...); err != nil {
		return nil, err
	}
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		d, err := deploymentTx(ctx, tx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, q *store.Query) ([]any, error) {
	t, w, err := render(q)
	if err != nil {
		return nil, err
	}
	w.tail(t, q)
	var out []any
	err = s.statement(ctx, func(tx *dbtx) error {
		var err error
		out, err = t.scan(ctx, tx, w.where(), w.args)
		return err
	})
	return out, err
}

// Count implements store.Store.
func (s *Store) Count(ctx context.Context, q *store.Query) (int64, error) {
	t, w, err := render(q)
	if err != nil {
		return 0, err
	}
	var n int64
	err = s.statement(ctx, func(tx *dbtx) error {
		return tx.GetContext(ctx, &n, `SELECT COUNT(*) FROM `+t.name+w.where(), w.args...)
	})
	return n, err
}

func render(q *store.Query) (*table, *where, error) {
	if err := q.Check(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", core.ErrInvalid, err)
	}
	t := tables[q.Entity]
	w := &where{}
	for _, c := range q.Where {
		cond, err := w.cond(q.Entity, t.name, c)
		if err != nil {
			return nil, nil, err
		}
		w.conds = append(w.conds, cond)
	}
	return t, w, nil
}

// where accumulates SQL conditions with $n arguments. Values always travel
// as arguments; only the tables' own column names reach the SQL text.
type where struct {
	conds []string
	args  []any
	order string
}

func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) where() string {
	s := ""
	if len(w.conds) > 0 {
		s = " WHERE " + strings.Join(w.conds, " AND ")
	}
	return s + w.order
}

// tail renders ORDER BY and paging.
func (w *where) tail(t *table, q *store.Query) {
	sorts := q.Sort
	if len(sorts) == 0 && store.DefaultSort(q.Entity) != "" {
		sorts = []store.Sort{{Field: store.DefaultSort(q.Entity)}}
	}
	var b strings.Builder
	for i, s := range sorts {
		if i == 0 {
			b.WriteString(" ORDER BY ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(t.columns[s.Field])
		if s.Desc {
			b.WriteString(" DESC")
		}
	}
	if len(sorts) > 0 {
		b.WriteString(", id")
		if sorts[0].Desc {
			b.WriteString(" DESC")
		}
	}
	limit := int64(q.Limit)
	if limit <= 0 && q.Offset > 0 {
		limit = 1<<63 - 1 // SQLite takes an offset only after a limit
	}
	if limit > 0 {
		b.WriteString(" LIMIT " + w.arg(limit))
	}
	if q.Offset > 0 {
		b.WriteString(" OFFSET " + w.arg(q.Offset))
	}
	w.order = b.String()
}

var ops = map[store.Op]string{store.Eq: "=", store.Ne: "<>", store.Lt: "<", store.Le: "<=", store.Gt: ">", store.Ge: ">=",
	store.Like: "LIKE"}

// cond renders one condition on entity e stored in table (or alias) rel.
func (w *where) cond(e store.Entity, rel string, c store.Cond) (string, error) {
	switch {
	case c.Any != nil:
		parts := make([]string, len(c.Any))
		for i, a := range c.Any {
			p, err := w.cond(e, rel, a)
			if err != nil {
				return "", err
			}
			parts[i] = p
		}
		return "(" + strings.Join(parts, " OR ") + ")", nil
	case c.Related != nil:
		return w.related(e, rel, c.Related)
	}
	if e == store.ProcessVariables && c.Field == store.Value {
		return w.variableValue(rel, c)
	}
	if e == store.Definitions && c.Field == store.LatestVersion {
		return rel + ".version = (SELECT MAX(d2.version) FROM tf_definition d2 WHERE d2.def_key = " + rel + ".def_key)", nil
	}
	t := tables[e]
	col := rel + "." + t.columns[c.Field]
	switch c.Op {
	case store.IsNull, store.NotNull:
		null := "IS NULL"
		if c.Op == store.NotNull {
			null = "IS NOT NULL"
		}
		if store.Nullable(e, c.Field) {
			return col + " " + null, nil
		}
		zero := "0"
		if _, text := c.Value.(string); text {
			zero = "''"
		}
		if c.Op == store.IsNull {
			return col + " = " + zero, nil
		}
		return col + " <> " + zero, nil
	case store.In:
		if len(c.Values) == 0 {
			return "FALSE", nil
		}
		marks := make([]string, len(c.Values))
		for i, v := range c.Values {
			marks[i] = w.arg(sqlValue(v))
		}
		return col + " IN (" + strings.Join(marks, ", ") + ")", nil
	case store.Has:
		// Lists are stored as ",a,b,", so ",a," finds a member; the value
		// may not smuggle in a pattern or a separator.
		s, _ := c.Value.(string)
		return col + " LIKE " + w.arg("%,"+strings.NewReplacer(`%`, `_`, `,`, `_`).Replace(s)+",%"), nil
	}
	op, ok := ops[c.Op]
	if !ok {
		return "", fmt.Errorf("%w: unknown comparison %d", core.ErrInvalid, c.Op)
	}
	return col + " " + op + " " + w.arg(sqlValue(c.Value)), nil
}

// related renders a condition on rows of another entity that belong to
// the listed one.
func (w *where) related(e store.Entity, rel string, r *store.Related) (string, error) {
	var link string
	alias := "r" + strconv.Itoa(len(w.args)) // unique per nesting
	switch {
	case e == store.Instances && r.Entity == store.Incidents:
		link = alias + ".instance_id = " + rel + ".id"
	case e == store.Instances && r.Entity == store.ProcessVariables:
		link = alias + ".scope_id = " + rel + ".id"
	case e == store.Tasks && r.Entity == store.Instances:
		link = alias + ".id = " + rel + ".instance_id"
	case e == store.Tasks && r.Entity == store.ProcessVariables:
		link = alias + ".scope_id = " + rel + ".instance_id"
	default:
		return "", fmt.Errorf("%w: %s have no related %s", core.ErrInvalid, e, r.Entity)
	}
	parts := []string{link}
	for _, c := range r.Where {
		p, err := w.cond(r.Entity, alias, c)
		if err != nil {
			return "", err
		}
		parts = append(parts, p)
	}
	return "EXISTS (SELECT 1 FROM " + tables[r.Entity].name + " " + alias + " WHERE " + strings.Join(parts, " AND ") + ")", nil
}

// variableValue compares a variable's value, stored in one of three
// columns by type.
func (w *where) variableValue(rel string, c store.Cond) (string, error) {
	if c.Op == store.IsNull {
		return rel + ".type = 'Null'", nil
	}
	op, ok := ops[c.Op]
	if !ok {
		return "", fmt.Errorf("%w: variables cannot be compared with operator %d", core.ErrInvalid, c.Op)
	}
	val, err := core.ValueOf(c.Value)
	if err != nil {
		return "", err
	}
	s, err := val.Columns()
	if err != nil {
		return "", err
	}
	switch {
	case s.Long != nil:
		// Integers match stored integers and doubles alike.
		return "COALESCE(" + rel + ".long_value, " + rel + ".double_value) " + op + " " + w.arg(*s.Long), nil
	case s.Double != nil:
		return "COALESCE(" + rel + ".double_value, " + rel + ".long_value) " + op + " " + w.arg(*s.Double), nil
	case s.Text != nil:
		return rel + ".text_value " + op + " " + w.arg(*s.Text), nil
	}
	return rel + ".type = 'Null'", nil
}

// sqlValue converts a field value to its column's: times to milliseconds,
// string kinds to strings.
func sqlValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		return store.Millis(x)
	case core.InstanceState:
		return string(x)
	case core.TaskState:
		return string(x)
	case core.JobKind:
		return string(x)
	case core.IncidentType:
		return string(x)
	}
	return v
}
