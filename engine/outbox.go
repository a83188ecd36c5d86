package engine

import "time"

// ReadEventsParams asks for events of the tenant in the context.
type ReadEventsParams struct {
	// After is the position to read after ("" = from the beginning).
	After Cursor
	// Limit caps the batch (default 500).
	Limit int
	// Types, InstanceID and DefinitionKey filter the result; the returned
	// Next still advances past filtered-out events.
	Types         []EventType
	InstanceID    int64
	DefinitionKey string
}

// EventBatch is what ReadEvents returns.
type EventBatch struct {
	Events []*Event
	// Next is where the following read continues. It is never before After,
	// and an event that commits later than the read always sorts after Next,
	// so nothing is skipped.
	Next Cursor
}

// DeadLetter records an event a consumer could not deliver and gave up on.
type DeadLetter struct {
	Consumer string    `json:"consumer"`
	EventID  int64     `json:"eventId,string"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// ConsumerState is a named outbox consumer's progress in one tenant.
type ConsumerState struct {
	Consumer  string    `json:"consumer"`
	Position  Cursor    `json:"position"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Backlog counts the events after Position.
	Backlog int64 `json:"backlog"`
	// DeadLetters counts the events the consumer dead-lettered.
	DeadLetters int64 `json:"deadLetters"`
}
