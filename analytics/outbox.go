package analytics

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
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

// Signals delivers change signals, local and remote.
// *datasource.Signals implements it.
type Signals interface {
	// Subscribe calls fn for every signal of topic until unsubscribe is
	// called.
	Subscribe(topic datasource.Topic, fn func(datasource.Signal)) (unsubscribe func())
}

// Hints are the primary's per-tenant wake-up hints, recorded by every
// node's signals. *datasource.Primary implements it.
type Hints interface {
	// DueHints returns up to limit hints of topic due before the given
	// time, in one query.
	DueHints(ctx context.Context, topic datasource.Topic, before time.Time, limit int) ([]datasource.Hint, error)
	// SetHint sets a tenant's hint; the zero time clears it.
	SetHint(ctx context.Context, tenant string, topic datasource.Topic, due time.Time) error
}

// Directory lists tenants for the fallback sweep. *datasource.Primary
// implements it.
type Directory interface {
	// ListTenants pages through tenants by ID.
	ListTenants(ctx context.Context, params *datasource.ListTenantsParams) ([]*datasource.Tenant, error)
}

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
