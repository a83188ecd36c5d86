package datasource_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/security"
)

func TestTwoTenantsCannotBeRegisteredOnOneStorage(t *testing.T) {
	t.Parallel()
	env := dstest.Open(t, dstest.Postgres, nil)
	ctx := context.Background()
	second := dstest.CreateDatabase(t)
	lc := env.Sources.Lifecycle
	if _, err := lc.Create(ctx, &datasource.CreateTenantParams{ID: "alpha", Placement: datasource.PlacementPGDSN, DSN: second}); err != nil {
		t.Fatal(err)
	}
	// The same database spelled differently: another loopback name, the
	// default port written out, the default schema named.
	same := strings.Replace(strings.Replace(second, "127.0.0.1", "localhost", 1), "localhost:5432", "localhost:5432", 1)
	for _, p := range []*datasource.CreateTenantParams{
		{ID: "beta", Placement: datasource.PlacementPGDSN, DSN: second},
		{ID: "beta", Placement: datasource.PlacementPGDSN, DSN: same, Schema: "public"},
	} {
		if _, err := lc.Create(ctx, p); !errors.Is(err, datasource.ErrConflict) || !strings.Contains(err.Error(), "alpha") {
			t.Fatalf("a second tenant on alpha's storage (%s): %v", p.DSN, err)
		}
	}
	// Nor on a pg-schema tenant's schema, or on the primary's own tables.
	env.Tenant(t, "gamma")
	if _, err := lc.Create(ctx, &datasource.CreateTenantParams{ID: "delta", Placement: datasource.PlacementPGDSN, DSN: env.URL, Schema: "tenant_gamma"}); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("a pg-dsn tenant on gamma's schema: %v", err)
	}
	if _, err := lc.Create(ctx, &datasource.CreateTenantParams{ID: "delta", Placement: datasource.PlacementPGDSN, DSN: env.URL}); !errors.Is(err, datasource.ErrConflict) {
		t.Fatalf("a pg-dsn tenant on the primary's schema: %v", err)
	}
	// Another schema of the same database is another storage.
	if _, err := lc.Create(ctx, &datasource.CreateTenantParams{ID: "beta", Placement: datasource.PlacementPGDSN, DSN: second, Schema: "beta"}); err != nil {
		t.Fatalf("another schema of the same database: %v", err)
	}
	// Moving beta onto alpha's storage is refused too.
	if err := lc.Disable(ctx, "beta"); err != nil {
		t.Fatal(err)
	}
	if _, err := lc.UpdateConfig(ctx, "beta", &datasource.UpdateTenantParams{DSN: &same}); err == nil {
		// same DSN, schema beta: still its own storage
	} else {
		t.Fatalf("updating beta's DSN to the same database: %v", err)
	}
}

func TestAStatementRunsNoLongerThanTheTenantsTimeout(t *testing.T) {
	for _, mode := range []string{"set-local", "pool"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			env := dstest.Open(t, dstest.Postgres, &dstest.Options{Config: datasource.Config{PGSchemaMode: mode}})
			ctx := context.Background()
			if _, err := env.Sources.Lifecycle.Create(ctx, &datasource.CreateTenantParams{ID: "acme",
				Limits: datasource.Limits{StatementTimeout: 50 * time.Millisecond}}); err != nil {
				t.Fatal(err)
			}
			tctx := security.WithTenant(ctx, "acme")
			err := env.Sources.Tenants.InTx(tctx, func(tx *datasource.Tx) error {
				_, err := tx.ExecContext(tctx, `SELECT pg_sleep(30)`)
				return err
			})
			if err == nil || !strings.Contains(err.Error(), "statement timeout") {
				t.Fatalf("a 30 s statement under a 50 ms timeout: %v", err)
			}
		})
	}
}

func TestStorageBytesMeasuresTheTenantsOwnStorage(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, nil)
		ctx := env.Tenant(t, "acme")
		env.Tenant(t, "globex")
		n, err := env.Sources.Tenants.StorageBytes(ctx)
		if err != nil || n <= 0 {
			t.Fatalf("acme's storage: %d, %v", n, err)
		}
		// Another tenant's growth is not acme's.
		gctx := security.WithTenant(context.Background(), "globex")
		if err := env.Sources.Tenants.InTx(gctx, func(tx *datasource.Tx) error {
			_, err := tx.ExecContext(gctx, `CREATE TABLE bulk (v TEXT)`)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(gctx, `INSERT INTO bulk (v) VALUES ($1)`, strings.Repeat("x", 1<<20))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		again, err := env.Sources.Tenants.StorageBytes(ctx)
		if err != nil || again != n {
			t.Fatalf("acme's storage moved with globex's data: %d → %d (%v)", n, again, err)
		}
	})
}
