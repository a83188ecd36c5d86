package analytics

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/tenantsched"
	"github.com/tenantflow/tenantflow/engine"
)

// Outbox is what the shipper needs of the engine: the commit-ordered read
// API of each tenant's outbox and the shipper's own consumer state in it.
// Every method works in the tenant carried by ctx (security.WithTenant).
// *engine.Engine implements it.
type Outbox interface {
	// ReadEvents returns events after p.After in commit order; the batch's
	// Next never skips an event that commits later.
	ReadEvents(ctx context.Context, p *engine.ReadEventsParams) (*engine.EventBatch, error)
	// ConsumerState returns a consumer's position ("" before its first
	// advance), backlog and dead-letter count.
	ConsumerState(ctx context.Context, consumer string) (*engine.ConsumerState, error)
	// AdvanceConsumer records progress; positions only move forward.
	AdvanceConsumer(ctx context.Context, consumer string, to engine.Cursor) error
	// DeadLetterEvents records events the consumer gave up on, with reasons.
	DeadLetterEvents(ctx context.Context, consumer string, letters []engine.DeadLetter) error
	// DeadLetters lists a consumer's dead letters, newest first.
	DeadLetters(ctx context.Context, consumer string, limit int) ([]engine.DeadLetter, error)
	// PruneOutbox removes events older than olderThan that every consumer
	// that advanced has passed, holding back every event while a consumer
	// in waitFor has not advanced yet, and returns how many.
	PruneOutbox(ctx context.Context, olderThan time.Time, waitFor ...string) (removed int, err error)
}

var _ Outbox = (*engine.Engine)(nil)

// Signals delivers change signals, local and remote: the shipper's
// scheduler subscribes to events and tenant signals. *datasource.Signals
// implements it.
type Signals = tenantsched.Signals

// Hints are the primary's per-tenant wake-up hints, recorded by every
// node's signals, read and cleared by the shipper's scheduler.
// *datasource.Primary implements it.
type Hints = tenantsched.Hints

// Directory lists tenants for the fallback sweep. *datasource.Primary
// implements it.
type Directory = tenantsched.Directory

// Lifecycle tells the shipper when a tenant stops being served on this
// node. *datasource.Lifecycle implements it.
type Lifecycle interface {
	// OnDisable registers a hook run when a tenant is disabled.
	OnDisable(h datasource.Hook)
	// OnDrop registers a hook run before a tenant's storage is dropped.
	OnDrop(h datasource.Hook)
}

var (
	_ Signals   = (*datasource.Signals)(nil)
	_ Hints     = (*datasource.Primary)(nil)
	_ Directory = (*datasource.Primary)(nil)
	_ Lifecycle = (*datasource.Lifecycle)(nil)
)
