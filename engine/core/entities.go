package core

import "time"

// InstanceState is where a process instance is in its life.
type InstanceState string

// Instance states.
const (
	InstanceActive     InstanceState = "active"
	InstanceCompleted  InstanceState = "completed"
	InstanceTerminated InstanceState = "terminated" // deleted, or ended by a terminate end event in a called process's parent
)

// Deployment is a set of resources deployed together.
type Deployment struct {
	ID        int64
	Tenant    string
	Name      string
	Source    string
	CreatedAt time.Time
	// Definitions are the process definitions this deployment created
	// (empty for a duplicate that created none).
	Definitions []*ProcessDefinition
	// Resources are the names of the deployment's resources.
	Resources []string
}

// ProcessDefinition is one version of a deployed process.
type ProcessDefinition struct {
	ID                int64
	Tenant            string
	Key               string
	Version           int
	Name              string
	DeploymentID      int64
	ResourceName      string
	VersionTag        string
	HistoryTimeToLive time.Duration
	Suspended         bool
	CreatedAt         time.Time
	// HasStartForm is true when the none start event has a form key.
	HasStartForm bool
}

// ProcessInstance is a running or finished instance.
type ProcessInstance struct {
	ID              int64
	Tenant          string
	DefinitionID    int64
	DefinitionKey   string
	BusinessKey     string
	State           InstanceState
	Suspended       bool
	SuperInstanceID int64
	StartActivityID string
	EndActivityID   string
	StartUserID     string
	DeleteReason    string
	StartedAt       time.Time
	EndedAt         time.Time
	Revision        int64
	// Variables are filled only when asked for (StartParams.ReturnVariables).
	Variables map[string]Value
}

// Ended reports whether the instance has finished.
func (p *ProcessInstance) Ended() bool { return p.State != InstanceActive }

// TaskState is where a user task is.
type TaskState string

// Task states.
const (
	TaskCreated   TaskState = "created"
	TaskCompleted TaskState = "completed"
	TaskDeleted   TaskState = "deleted"
)

// Task is a user task.
type Task struct {
	ID              int64
	Tenant          string
	InstanceID      int64
	ExecutionID     int64
	DefinitionID    int64
	DefinitionKey   string
	ElementID       string
	Name            string
	Assignee        string
	CandidateUsers  []string
	CandidateGroups []string
	Priority        int
	FormKey         string
	Due             time.Time
	FollowUp        time.Time
	State           TaskState
	Suspended       bool
	DeleteReason    string
	CreatedAt       time.Time
	EndedAt         time.Time
	Revision        int64
}

// ExternalTask is work for an external worker, served by topic.
type ExternalTask struct {
	ID            int64
	Tenant        string
	InstanceID    int64
	ExecutionID   int64
	DefinitionID  int64
	DefinitionKey string
	ElementID     string
	Topic         string
	BusinessKey   string
	WorkerID      string
	LockExpiresAt time.Time
	// Retries is nil until a failure reports retries.
	Retries      *int
	ErrorMessage string
	ErrorDetails string
	Priority     int
	Suspended    bool
	CreatedAt    time.Time
	Revision     int64
	// Variables are filled by FetchAndLock when asked for.
	Variables map[string]Value
}

// IncidentType says what failed.
type IncidentType string

// Incident types.
const (
	IncidentFailedJob          IncidentType = "failedJob"
	IncidentFailedExternalTask IncidentType = "failedExternalTask"
)

// Incident is a failure that needs an operator: a job or external task
// whose retries ran out. Setting retries resolves it.
type Incident struct {
	ID             int64
	Tenant         string
	Type           IncidentType
	InstanceID     int64
	ExecutionID    int64
	DefinitionID   int64
	DefinitionKey  string
	ElementID      string
	JobID          int64
	ExternalTaskID int64
	Message        string
	State          string
	CreatedAt      time.Time
	EndedAt        time.Time
}

// ActivityInstance is one pass of a token through an element, running or
// finished.
type ActivityInstance struct {
	ID               int64
	Tenant           string
	InstanceID       int64
	ExecutionID      int64
	ParentID         int64
	DefinitionID     int64
	ElementID        string
	ElementType      string
	Name             string
	TaskID           int64
	CalledInstanceID int64
	Canceled         bool
	StartedAt        time.Time
	EndedAt          time.Time
}

// Variable is a variable's current value in a scope.
type Variable struct {
	Name       string
	Value      Value
	InstanceID int64
	// ScopeID is the instance ID for process variables, or the execution
	// holding a local variable.
	ScopeID  int64
	Revision int
}

// VariableUpdate is one historic change of a variable.
type VariableUpdate struct {
	ID         int64
	InstanceID int64
	ScopeID    int64
	Name       string
	Value      Value
	Revision   int
	ElementID  string
	TaskID     int64
	At         time.Time
}
