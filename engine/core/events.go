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
	ID     int64
	Tenant string
	Type   EventType
	Time   time.Time
	// Cursor is this event's position in commit order; reading After it
	// returns the events that committed after it.
	Cursor        Cursor
	InstanceID    int64
	BusinessKey   string
	DefinitionID  int64
	DefinitionKey string
	ElementID     string
	ElementType   string
	TaskID        int64
	// Data holds type-specific details (variable name and value, assignee,
	// incident message…) as a JSON object.
	Data json.RawMessage
}

// DocumentID is the event's tenant-qualified ID, unique across tenants: use
// it as the document ID wherever events are shipped, so a retry overwrites
// instead of duplicating.
func (e *Event) DocumentID() string { return e.Tenant + ":" + formatID(e.ID) }

// Cursor is an opaque position in a tenant's outbox, in commit order. The
// zero Cursor is the beginning. Cursors compare only by reading: never parse
// them.
type Cursor string
