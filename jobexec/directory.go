package jobexec

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
)

// directory is what the executor reads and writes outside tenant storage:
// tenant configuration through the registry's cache, and the tenant list
// and wake-up hints in the primary. Production uses the Sources; tests wrap
// it to count the calls.
type directory interface {
	Tenant(ctx context.Context, id string) (*datasource.Tenant, error)
	ListTenants(ctx context.Context, p *datasource.ListTenantsParams) ([]*datasource.Tenant, error)
	DueHints(ctx context.Context, topic datasource.Topic, before time.Time, limit int) ([]datasource.Hint, error)
	SetHint(ctx context.Context, tenant string, topic datasource.Topic, due time.Time) error
	LowerHints(ctx context.Context, hints []datasource.Hint) error
}

type sourcesDirectory struct {
	primary  *datasource.Primary
	registry *datasource.Registry
}

func (d sourcesDirectory) Tenant(ctx context.Context, id string) (*datasource.Tenant, error) {
	return d.registry.Tenant(ctx, id)
}

func (d sourcesDirectory) ListTenants(ctx context.Context, p *datasource.ListTenantsParams) ([]*datasource.Tenant, error) {
	return d.primary.ListTenants(ctx, p)
}

func (d sourcesDirectory) DueHints(ctx context.Context, topic datasource.Topic, before time.Time, limit int) ([]datasource.Hint, error) {
	return d.primary.DueHints(ctx, topic, before, limit)
}

func (d sourcesDirectory) SetHint(ctx context.Context, tenant string, topic datasource.Topic, due time.Time) error {
	return d.primary.SetHint(ctx, tenant, topic, due)
}

func (d sourcesDirectory) LowerHints(ctx context.Context, hints []datasource.Hint) error {
	return d.primary.LowerHints(ctx, hints)
}
