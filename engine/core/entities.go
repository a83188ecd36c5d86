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
	ID        int64     `json:"id,string"`
	Tenant    string    `json:"tenantId"`
	Name      string    `json:"name"`
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"deploymentTime"`
	// Definitions are the process definitions this deployment created
	// (empty for a duplicate that created none).
	Definitions []*ProcessDefinition `json:"deployedProcessDefinitions,omitempty"`
	// Resources are the names of the deployment's resources.
	Resources []string `json:"resources,omitempty"`
}

// ProcessDefinition is one version of a deployed process.
type ProcessDefinition struct {
	ID                int64         `json:"id,string"`
	Tenant            string        `json:"tenantId"`
	Key               string        `json:"key"`
	Version           int           `json:"version"`
	Name              string        `json:"name"`
	DeploymentID      int64         `json:"deploymentId,string"`
	ResourceName      string        `json:"resource"`
	VersionTag        string        `json:"versionTag,omitempty"`
	HistoryTimeToLive time.Duration `json:"-"`
	Suspended         bool          `json:"suspended"`
	CreatedAt         time.Time     `json:"createdAt"`
	// HasStartForm is true when the none start event has a form key.
	HasStartForm bool `json:"startableInTasklist"`
}

// ProcessInstance is a running or finished instance.
type ProcessInstance struct {
	ID              int64         `json:"id,string"`
	Tenant          string        `json:"tenantId"`
	DefinitionID    int64         `json:"definitionId,string"`
	DefinitionKey   string        `json:"definitionKey"`
	BusinessKey     string        `json:"businessKey"`
	State           InstanceState `json:"state"`
	Suspended       bool          `json:"suspended"`
	SuperInstanceID int64         `json:"superProcessInstanceId,string,omitempty"`
	StartActivityID string        `json:"startActivityId"`
	EndActivityID   string        `json:"endActivityId,omitempty"`
	StartUserID     string        `json:"startUserId,omitempty"`
	DeleteReason    string        `json:"deleteReason,omitempty"`
	StartedAt       time.Time     `json:"startTime"`
	EndedAt         time.Time     `json:"endTime"`
	Revision        int64         `json:"-"`
	// Variables are filled only when asked for (StartParams.ReturnVariables).
	Variables map[string]Value `json:"-"`
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
	ID              int64     `json:"id,string"`
	Tenant          string    `json:"tenantId"`
	InstanceID      int64     `json:"processInstanceId,string"`
	ExecutionID     int64     `json:"executionId,string"`
	DefinitionID    int64     `json:"processDefinitionId,string"`
	DefinitionKey   string    `json:"processDefinitionKey"`
	ElementID       string    `json:"taskDefinitionKey"`
	Name            string    `json:"name"`
	Assignee        string    `json:"assignee"`
	CandidateUsers  []string  `json:"candidateUsers"`
	CandidateGroups []string  `json:"candidateGroups"`
	Priority        int       `json:"priority"`
	FormKey         string    `json:"formKey"`
	Due             time.Time `json:"due"`
	FollowUp        time.Time `json:"followUp"`
	State           TaskState `json:"state"`
	Suspended       bool      `json:"suspended"`
	DeleteReason    string    `json:"deleteReason,omitempty"`
	CreatedAt       time.Time `json:"created"`
	EndedAt         time.Time `json:"endTime"`
	Revision        int64     `json:"-"`
}

// ExternalTask is work for an external worker, served by topic.
type ExternalTask struct {
	ID            int64     `json:"id,string"`
	Tenant        string    `json:"tenantId"`
	InstanceID    int64     `json:"processInstanceId,string"`
	ExecutionID   int64     `json:"executionId,string"`
	DefinitionID  int64     `json:"processDefinitionId,string"`
	DefinitionKey string    `json:"processDefinitionKey"`
	ElementID     string    `json:"activityId"`
	Topic         string    `json:"topicName"`
	BusinessKey   string    `json:"businessKey"`
	WorkerID      string    `json:"workerId"`
	LockExpiresAt time.Time `json:"lockExpirationTime"`
	// Retries is nil until a failure reports retries.
	Retries      *int      `json:"retries"`
	ErrorMessage string    `json:"errorMessage"`
	ErrorDetails string    `json:"-"`
	Priority     int       `json:"priority"`
	Suspended    bool      `json:"suspended"`
	CreatedAt    time.Time `json:"createTime"`
	Revision     int64     `json:"-"`
	// Variables are filled by FetchAndLock when asked for.
	Variables map[string]Value `json:"-"`
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
	ID             int64        `json:"id,string"`
	Tenant         string       `json:"tenantId"`
	Type           IncidentType `json:"incidentType"`
	InstanceID     int64        `json:"processInstanceId,string"`
	ExecutionID    int64        `json:"executionId,string"`
	DefinitionID   int64        `json:"processDefinitionId,string"`
	DefinitionKey  string       `json:"processDefinitionKey"`
	ElementID      string       `json:"activityId"`
	JobID          int64        `json:"jobId,string,omitempty"`
	ExternalTaskID int64        `json:"externalTaskId,string,omitempty"`
	Message        string       `json:"incidentMessage"`
	State          string       `json:"state"`
	CreatedAt      time.Time    `json:"incidentTimestamp"`
	EndedAt        time.Time    `json:"endTime"`
}

// ActivityInstance is one pass of a token through an element, running or
// finished.
type ActivityInstance struct {
	ID               int64     `json:"id,string"`
	Tenant           string    `json:"tenantId"`
	InstanceID       int64     `json:"processInstanceId,string"`
	ExecutionID      int64     `json:"executionId,string"`
	ParentID         int64     `json:"parentActivityInstanceId,string"`
	DefinitionID     int64     `json:"processDefinitionId,string"`
	ElementID        string    `json:"activityId"`
	ElementType      string    `json:"activityType"`
	Name             string    `json:"activityName"`
	TaskID           int64     `json:"taskId,string,omitempty"`
	CalledInstanceID int64     `json:"calledProcessInstanceId,string,omitempty"`
	Canceled         bool      `json:"canceled"`
	StartedAt        time.Time `json:"startTime"`
	EndedAt          time.Time `json:"endTime"`
}

// Variable is a variable's current value in a scope.
type Variable struct {
	Name       string `json:"name"`
	Value      Value  `json:"-"`
	InstanceID int64  `json:"processInstanceId,string"`
	// ScopeID is the instance ID for process variables, or the execution
	// holding a local variable.
	ScopeID  int64 `json:"scopeId,string"`
	Revision int   `json:"-"`
}

// VariableUpdate is one historic change of a variable.
type VariableUpdate struct {
	ID         int64     `json:"id,string"`
	InstanceID int64     `json:"processInstanceId,string"`
	ScopeID    int64     `json:"scopeId,string"`
	Name       string    `json:"name"`
	Value      Value     `json:"-"`
	Revision   int       `json:"revision"`
	ElementID  string    `json:"activityId"`
	TaskID     int64     `json:"taskId,string,omitempty"`
	At         time.Time `json:"time"`
}
