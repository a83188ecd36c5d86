package memstore_test

import (
	"context"
	"testing"

	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/engine/store/memstore"
	"github.com/tenantflow/tenantflow/engine/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, &storetest.Harness{
		Store: memstore.New(),
		Tenant: func(t *testing.T, id string) context.Context {
			return engine.WithTenant(context.Background(), t.Name()+"/"+id)
		},
	})
}
