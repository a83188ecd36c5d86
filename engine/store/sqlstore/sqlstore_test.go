package sqlstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine/store/sqlstore"
	"github.com/tenantflow/tenantflow/engine/store/storetest"
)

// TestConformance runs the store suite on PostgreSQL and SQLite, each check
// in a tenant of its own.
func TestConformance(t *testing.T) {
	for _, kind := range dstest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ds := dstest.Open(t, kind, nil)
			var n atomic.Int64
			storetest.Run(t, &storetest.Harness{
				Store:   sqlstore.New(ds.Sources.Tenants),
				Sources: ds.Sources,
				Tenant: func(t *testing.T, id string) context.Context {
					return ds.Tenant(t, fmt.Sprintf("%s_%d", id, n.Add(1)))
				},
			})
		})
	}
}
