package datasource

import (
	"context"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/security"
)

// staticResolver answers one tenant config without I/O.
type staticResolver struct{ t *Tenant }

func (r staticResolver) Tenant(context.Context, string) (*Tenant, error) { return r.t, nil }

// BenchmarkInTxRouting measures what InTx adds to a transaction for a
// tenant whose pool is open: reading the tenant from the context, the
// registry lookup, finding the pool, reference counting, the connection
// slot and the pooled Tx wrapper. The transaction itself is not included
// (see BenchmarkInTx for whole transactions). Target: ≤ 1 µs, 0 allocs.
func BenchmarkInTxRouting(b *testing.B) {
	dir := b.TempDir()
	cfg := Config{DataDir: dir, Clock: clockwork.NewRealClock()}.withDefaults()
	t := &Tenant{ID: "acme", Status: StatusActive, Placement: PlacementSQLite, ConfigVersion: 1}
	ds := newTenantAwareDataSource(cfg, staticResolver{t}, nil)
	defer ds.Close()
	ctx := security.WithTenant(context.Background(), "acme")
	if err := ds.InTx(ctx, func(*Tx) error { return nil }); err != nil {
		b.Fatal(err)
	}
	b.Run("registry-cached", func(b *testing.B) {
		reg := benchRegistry(b, t)
		ds.resolver = reg
		benchRoute(b, ds, ctx)
	})
}

func benchRoute(b *testing.B, ds *TenantAwareDataSource, ctx context.Context) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p, err := ds.checkout(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.acquireSlot(ctx, p.rsem); err != nil {
				b.Fatal(err)
			}
			tx := ds.txPool.Get().(*Tx)
			tx.tenant, tx.dialect = p.tenant, p.dialect
			ds.txPool.Put(tx)
			<-p.rsem
			ds.checkin(p)
		}
	})
}

// benchRegistry is a registry whose cache already holds t.
func benchRegistry(b *testing.B, t *Tenant) *Registry {
	cfg := Config{RegistryTTL: time.Hour, MaxStale: time.Hour, Clock: clockwork.NewRealClock()}.withDefaults()
	r, err := newRegistry(nil, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.close)
	r.tenants.cache.Set(t.ID, &cached[*Tenant]{v: t, fetchedAt: time.Now()}, 1)
	r.tenants.cache.Wait()
	return r
}
