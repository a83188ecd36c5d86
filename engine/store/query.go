package store

import (
	"fmt"
	"time"
)

// A Query lists rows of one entity: the engine's list and count calls are
// all one query, described as data, that every store runs its own way.
type Query struct {
	Entity Entity
	// Where are conditions that must all hold.
	Where []Cond
	// Sort orders the rows; the ID breaks ties, in the same direction as
	// the first key. Empty: the entity's default order.
	Sort []Sort
	// Offset skips rows; Limit caps them (0: no cap).
	Offset, Limit int
}

// Entity names a kind of row a Query lists, and the Go type List returns
// it as.
type Entity string

// The entities a Query lists.
const (
	Instances     Entity = "instances"      // *core.ProcessInstance
	Tasks         Entity = "tasks"          // *core.Task
	ExternalTasks Entity = "external-tasks" // *core.ExternalTask
	Jobs          Entity = "jobs"           // *core.Job
	Incidents     Entity = "incidents"      // *core.Incident
	Activities    Entity = "activities"     // *core.ActivityInstance
	Definitions   Entity = "definitions"    // *core.ProcessDefinition
	Deployments   Entity = "deployments"    // *core.Deployment
	// ProcessVariables are the variables of an instance's own scope; they
	// are only named by a Related condition.
	ProcessVariables Entity = "process-variables"
)

// Field names a field of an entity: the name of the field in its Go type
// (StartedAt, DefinitionKey, …). Fields hold Go values: strings (and
// string kinds such as core.TaskState), int64, int, bool and time.Time.
type Field string

// Fields every store understands beyond the Go types' own.
const (
	// LatestVersion (definitions): the row is the latest version of its
	// key. Use it with Op Eq and true.
	LatestVersion Field = "LatestVersion"
	// Value (process variables): the variable's value. Integers match
	// stored integers and doubles alike; Op IsNull matches a Null value.
	Value Field = "Value"
)

// Op compares a field with a condition's value.
type Op uint8

// The comparisons.
const (
	Eq Op = iota
	Ne
	Lt
	Le
	Gt
	Ge
	// In holds when the field equals one of Values.
	In
	// Like matches a SQL LIKE pattern (% and _).
	Like
	// Has holds when a list field (a task's candidate users or groups)
	// contains Value.
	Has
	// IsNull and NotNull test an optional field (a zero time, a nil
	// pointer).
	IsNull
	NotNull
)

// Cond is one condition of a query.
type Cond struct {
	Field  Field
	Op     Op
	Value  any
	Values []any
	// Any, when set, holds when any of its conditions holds (Field and Op
	// are unused).
	Any []Cond
	// Related, when set, holds when a row of another entity that belongs
	// to this one meets every condition of it (Field and Op are unused):
	// an instance's incidents or process variables, a task's instance or
	// its instance's process variables.
	Related *Related
}

// Related is a condition on the rows of another entity that belong to the
// row being listed.
type Related struct {
	Entity Entity
	Where  []Cond
}

// Sort is one sort key.
type Sort struct {
	Field Field
	Desc  bool
}

// Where builds a condition.
func Where(f Field, op Op, v any) Cond { return Cond{Field: f, Op: op, Value: v} }

// WhereIn builds an In condition.
func WhereIn[T any](f Field, vs []T) Cond {
	c := Cond{Field: f, Op: In, Values: make([]any, len(vs))}
	for i, v := range vs {
		c.Values[i] = v
	}
	return c
}

// Check reports a query that names something the entity does not have,
// so that both stores refuse it the same way.
func (q *Query) Check() error {
	fields, ok := entityFields[q.Entity]
	if !ok {
		return fmt.Errorf("store: unknown entity %q", q.Entity)
	}
	for _, s := range q.Sort {
		if !fields[s.Field] {
			return fmt.Errorf("store: %s cannot be sorted by %q", q.Entity, s.Field)
		}
	}
	return checkConds(q.Entity, q.Where)
}

func checkConds(e Entity, conds []Cond) error {
	for _, c := range conds {
		switch {
		case c.Any != nil:
			if err := checkConds(e, c.Any); err != nil {
				return err
			}
		case c.Related != nil:
			if !related[[2]Entity{e, c.Related.Entity}] {
				return fmt.Errorf("store: %s have no related %s", e, c.Related.Entity)
			}
			if err := checkConds(c.Related.Entity, c.Related.Where); err != nil {
				return err
			}
		case !entityFields[e][c.Field]:
			return fmt.Errorf("store: %s have no field %q", e, c.Field)
		}
	}
	return nil
}

// related lists the Related conditions stores implement: (listed, related).
var related = map[[2]Entity]bool{
	{Instances, Incidents}:        true,
	{Instances, ProcessVariables}: true,
	{Tasks, Instances}:            true,
	{Tasks, ProcessVariables}:     true,
}

// entityFields lists the fields each entity can be filtered and sorted by.
var entityFields = map[Entity]map[Field]bool{
	Instances: fieldSet("ID", "DefinitionID", "DefinitionKey", "BusinessKey", "State", "Suspended", "SuperInstanceID",
		"StartedAt", "EndedAt"),
	Tasks: fieldSet("ID", "InstanceID", "ExecutionID", "DefinitionID", "DefinitionKey", "ElementID", "Name", "Assignee",
		"CandidateUsers", "CandidateGroups", "Priority", "Due", "FollowUp", "State", "CreatedAt"),
	ExternalTasks: fieldSet("ID", "InstanceID", "DefinitionKey", "ElementID", "Topic", "WorkerID", "LockExpiresAt",
		"Retries", "Priority", "CreatedAt"),
	Jobs: fieldSet("ID", "InstanceID", "DefinitionKey", "ElementID", "Kind", "DueAt", "Priority", "Retries", "Suspended"),
	Incidents: fieldSet("ID", "InstanceID", "DefinitionID", "DefinitionKey", "ElementID", "Type", "State",
		"CreatedAt"),
	Activities:       fieldSet("ID", "InstanceID", "ElementID", "ElementType", "Canceled", "StartedAt", "EndedAt"),
	Definitions:      fieldSet("ID", "Key", "Name", "DeploymentID", "Version", "Suspended", "CreatedAt", string(LatestVersion)),
	Deployments:      fieldSet("ID", "Name", "CreatedAt"),
	ProcessVariables: fieldSet("Name", string(Value)),
}

// nullable lists the fields stores keep as NULL when they have no value
// (a zero time, a nil pointer); the others keep 0 or ”. A NULL matches
// only IsNull and sorts after every value.
var nullable = map[Entity]map[Field]bool{
	Instances:     fieldSet("EndedAt"),
	Tasks:         fieldSet("Due", "FollowUp"),
	ExternalTasks: fieldSet("Retries"),
	Activities:    fieldSet("EndedAt"),
}

// Nullable reports whether stores keep a field as NULL when it has no
// value.
func Nullable(e Entity, f Field) bool { return nullable[e][f] }

// defaultSort is each entity's order when a query gives none.
var defaultSort = map[Entity]Field{Instances: "StartedAt", Tasks: "CreatedAt", ExternalTasks: "ID", Jobs: "DueAt",
	Incidents: "CreatedAt", Activities: "StartedAt", Definitions: "Key", Deployments: "CreatedAt"}

// DefaultSort is an entity's order when a query gives none.
func DefaultSort(e Entity) Field { return defaultSort[e] }

func fieldSet(names ...string) map[Field]bool {
	m := make(map[Field]bool, len(names))
	for _, n := range names {
		m[Field(n)] = true
	}
	return m
}

// Millis is how stores keep times: Unix milliseconds, 0 for the zero
// time.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
