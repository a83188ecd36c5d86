package core

import (
	"encoding/json"
	"time"
)

// EventType names an analytics event.
type EventType string

// The events the engine appends to each tenant's outbox, in the same
// transaction as the change they describe.
const (
	EventProcessStarted    EventType = "process-started"
	EventProcessCompleted  EventType = "process-completed"
	EventProcessTerminated EventType = "process-terminated"
	EventActivityStarted   EventType = "activity-started"
	EventActivityCompleted EventType = "activity-completed"
	EventActivityCanceled  EventType = "activity-canceled"
	EventTaskCreated       EventType = "task-created"
	EventTaskAssigned      EventType = "task-assigned"
	EventTaskCompleted     EventType = "task-completed"
	EventIncidentCreated   EventType = "incident-created"
	EventIncidentResolved  EventType = "incident-resolved"
	EventVariableUpdated   EventType = "variable-updated"
)

// Event is one entry of a tenant's outbox.
type Event struct {
	// ID is unique within the tenant (not across tenants: use DocumentID for
	// a globally unique key).
	ID     int64     `json:"id,string"`
	Tenant string    `json:"tenant"`
	Type   EventType `json:"type"`
	Time   time.Time `json:"time"`
	// Cursor is this event's position in commit order; reading After it
	// returns the events that committed after it.
	Cursor        Cursor `json:"cursor"`
	InstanceID    int64  `json:"processInstanceId,string,omitempty"`
	BusinessKey   string `json:"businessKey,omitempty"`
	DefinitionID  int64  `json:"processDefinitionId,string,omitempty"`
	DefinitionKey string `json:"processDefinitionKey,omitempty"`
	ElementID     string `json:"activityId,omitempty"`
	ElementType   string `json:"activityType,omitempty"`
	TaskID        int64  `json:"taskId,string,omitempty"`
	// Data holds type-specific details (variable name and value, assignee,
	// incident message…) as a JSON object.
	Data json.RawMessage `json:"data,omitempty"`
}

// DocumentID is the event's tenant-qualified ID, unique across tenants: use
// it as the document ID wherever events are shipped, so a retry overwrites
// instead of duplicating.
func (e *Event) DocumentID() string { return e.Tenant + ":" + formatID(e.ID) }

// Cursor is an opaque position in a tenant's outbox, in commit order. The
// zero Cursor is the beginning. Cursors compare only by reading: never parse
// them.
type Cursor string
