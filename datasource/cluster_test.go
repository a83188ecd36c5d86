package datasource_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/security"
)

// Tenants spread over two PostgreSQL servers: when one server stops, its
// tenant fails fast and the others carry on; when it is back, the tenant
// recovers with its data.
func TestTenantsOnTwoClustersWhenOneStops(t *testing.T) {
	dstest.RequirePostgres(t)
	env := dstest.Open(t, dstest.Postgres, &dstest.Options{RealClock: true})
	second := dstest.StartCluster(t)
	ctx := context.Background()
	if _, err := env.Sources.Lifecycle.Create(ctx, &datasource.CreateTenantParams{ID: "far", Placement: datasource.PlacementPGDSN,
		DSN: second.CreateDatabase("far")}); err != nil {
		t.Fatal(err)
	}
	near := env.Tenant(t, "near")
	far := security.WithTenant(ctx, "far")
	write := func(ctx context.Context, v string) error {
		return env.Sources.Tenants.InTx(ctx, func(tx *datasource.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO tf_id_block (name, next_id) VALUES ($1, 1)`, v)
			return err
		})
	}
	count := func(ctx context.Context) (n int, err error) {
		err = env.Sources.Tenants.InReadTx(ctx, func(tx *datasource.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM tf_id_block WHERE name LIKE 'probe-%'`)
		})
		return n, err
	}
	for _, c := range []context.Context{near, far} {
		if err := write(c, "probe-before"); err != nil {
			t.Fatal(err)
		}
	}

	second.Stop()
	// The far tenant fails, then fails fast once its circuit opens; the
	// near tenant does not notice.
	var slowest time.Duration
	for i := range 20 {
		start := time.Now()
		err := write(far, "probe-during")
		if !errors.Is(err, datasource.ErrTenantUnavailable) {
			t.Fatalf("write %d to the stopped cluster: %v, want ErrTenantUnavailable", i, err)
		}
		if i >= 5 {
			slowest = max(slowest, time.Since(start))
		}
		if err := write(near, "probe-"+string(rune('a'+i))); err != nil {
			t.Fatalf("the other server's tenant failed while one server was down: %v", err)
		}
	}
	if slowest > time.Second {
		t.Errorf("with its server down the tenant's calls still took up to %s; the circuit should answer at once", slowest)
	}

	second.Start()
	var lastErr error
	if ok, _ := dstest.Probe(time.Minute, 100*time.Millisecond, func() bool {
		lastErr = write(far, "probe-after")
		return lastErr == nil
	}); !ok {
		t.Fatalf("the tenant did not recover after its server came back: %v", lastErr)
	}
	if n, err := count(far); err != nil || n != 2 {
		t.Fatalf("after the restart the far tenant has %d probes (%v), want the one before and the one after", n, err)
	}
}
