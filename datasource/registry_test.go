package datasource_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/security"
)

func hasMembership(t *testing.T, src *datasource.Sources, userID, tenant string) bool {
	t.Helper()
	ms, err := src.Registry.Memberships(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Tenant == tenant {
			return true
		}
	}
	return false
}

func TestMembershipRevokedOnOneNodeIsGoneOnAnotherAfterTheTTL(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		nodeA := dstest.Open(t, kind, &dstest.Options{Config: datasource.Config{Clock: clock, RegistryTTL: 5 * time.Second}})
		cfg := nodeA.Sources.Config
		nodeB, err := datasource.Open(context.Background(), cfg) // same primary, its own registry
		if err != nil {
			t.Fatal(err)
		}
		defer nodeB.Close()
		nodeA.Tenant(t, "acme")
		u, err := nodeA.Sources.Primary.CreateUser(context.Background(), &datasource.CreateUserParams{Login: "ann", Password: "correct horse"})
		if err != nil {
			t.Fatal(err)
		}
		if err := nodeA.Sources.Primary.Grant(context.Background(), u.ID, "acme", security.RoleUser); err != nil {
			t.Fatal(err)
		}
		if !hasMembership(t, nodeB, u.ID, "acme") {
			t.Fatal("node B does not see the membership")
		}
		if err := nodeA.Sources.Primary.Revoke(context.Background(), u.ID, "acme"); err != nil {
			t.Fatal(err)
		}
		// Node A invalidated at once.
		if hasMembership(t, nodeA.Sources, u.ID, "acme") {
			t.Fatal("node A still sees the revoked membership")
		}
		if kind == dstest.SQLite {
			// No cross-node notifications on SQLite: B serves its cache
			// until the TTL has passed.
			if !hasMembership(t, nodeB, u.ID, "acme") {
				t.Fatal("node B dropped its cache before the TTL")
			}
		}
		clock.Advance(5*time.Second + time.Millisecond)
		if hasMembership(t, nodeB, u.ID, "acme") {
			t.Fatal("node B still sees the revoked membership after the TTL")
		}
	})
}

func TestCachedTenantsKeepServingWhileThePrimaryIsDownUpToMaxStale(t *testing.T) {
	t.Parallel()
	dstest.RequirePostgres(t)
	proxy, viaProxy := dstest.NewProxy(t, dstest.CreateDatabase(t))
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	src, err := datasource.Open(context.Background(), datasource.Config{PrimaryURL: viaProxy, DataDir: t.TempDir(),
		Clock: clock, RegistryTTL: 5 * time.Second, MaxStale: time.Minute, Logger: dstest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	// SQLite tenants: their storage stays reachable while the primary is not.
	for _, id := range []string{"cached", "uncached"} {
		if _, err := src.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: id, Placement: datasource.PlacementSQLite}); err != nil {
			t.Fatal(err)
		}
	}
	cached := security.WithTenant(context.Background(), "cached")
	ping := func(ctx context.Context) error {
		return src.Tenants.InReadTx(ctx, func(*datasource.Tx) error { return nil })
	}
	if err := ping(cached); err != nil {
		t.Fatal(err)
	}
	src.Registry.InvalidateTenant("uncached")

	proxy.Stop()
	clock.Advance(30 * time.Second) // past the TTL, within MaxStale
	if err := ping(cached); err != nil {
		t.Fatalf("cached tenant within MaxStale: %v", err)
	}
	if h := src.Registry.Health(); h.PrimaryReachable || !h.ServingStale {
		t.Fatalf("health while down: %+v", h)
	}
	if err := ping(security.WithTenant(context.Background(), "uncached")); !errors.Is(err, datasource.ErrPrimaryUnavailable) {
		t.Fatalf("uncached tenant while the primary is down: %v", err)
	}
	clock.Advance(31 * time.Second) // past MaxStale
	if err := ping(cached); !errors.Is(err, datasource.ErrPrimaryUnavailable) {
		t.Fatalf("cached tenant past MaxStale: %v", err)
	}

	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	if err := ping(cached); err != nil {
		t.Fatalf("after the primary came back: %v", err)
	}
	if h := src.Registry.Health(); !h.PrimaryReachable {
		t.Fatalf("health after recovery: %+v", h)
	}
}

func TestTenantCacheKeepsTenantsApartAndInvalidatesPerTenant(t *testing.T) {
	caches, err := datasource.NewCaches(1000)
	if err != nil {
		t.Fatal(err)
	}
	defer caches.Close()
	defs := datasource.NewTenantCache[string](caches, "definition")
	exprs := datasource.NewTenantCache[int](caches, "expression")
	defs.Set("a", "42", "A's definition 42")
	defs.Set("b", "42", "B's definition 42")
	exprs.Set("a", "42", 7)
	caches.Wait()
	if v, ok := defs.Get("a", "42"); !ok || v != "A's definition 42" {
		t.Fatalf("a/42: %q %v", v, ok)
	}
	if v, ok := defs.Get("b", "42"); !ok || v != "B's definition 42" {
		t.Fatalf("b/42: %q %v", v, ok)
	}
	if _, ok := defs.Get("c", "42"); ok {
		t.Fatal("tenant c sees an entry it never set")
	}
	if v, ok := exprs.Get("a", "42"); !ok || v != 7 {
		t.Fatalf("namespaces mixed: %v %v", v, ok)
	}
	caches.InvalidateTenant("a")
	if _, ok := defs.Get("a", "42"); ok {
		t.Fatal("a/42 survived the invalidation of tenant a")
	}
	if _, ok := exprs.Get("a", "42"); ok {
		t.Fatal("a's expression survived the invalidation of tenant a")
	}
	if _, ok := defs.Get("b", "42"); !ok {
		t.Fatal("invalidating a dropped b's entry")
	}
}

func BenchmarkTenantCacheGet(b *testing.B) {
	caches, _ := datasource.NewCaches(1000)
	defer caches.Close()
	c := datasource.NewTenantCache[*int](caches, "x")
	v := 1
	c.Set("acme", "definition:12345", &v)
	caches.Wait()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get("acme", "definition:12345"); !ok {
			b.Fatal("miss")
		}
	}
}

// A key in steady use is refreshed in the background shortly before its TTL
// runs out, so callers never queue behind a load from the primary; the
// change still shows within the TTL.
func TestRegistryRefreshesAKeyInUseBeforeItsTTL(t *testing.T) {
	t.Parallel()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	nodeA := dstest.Open(t, dstest.SQLite, &dstest.Options{Config: datasource.Config{Clock: clock, RegistryTTL: 5 * time.Second}})
	nodeB, err := datasource.Open(context.Background(), nodeA.Sources.Config) // no notifications between them on SQLite
	if err != nil {
		t.Fatal(err)
	}
	defer nodeB.Close()
	nodeA.Tenant(t, "acme")
	ctx := context.Background()
	u, err := nodeA.Sources.Primary.CreateUser(ctx, &datasource.CreateUserParams{Login: "ann", Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	if err := nodeA.Sources.Primary.Grant(ctx, u.ID, "acme", security.RoleUser); err != nil {
		t.Fatal(err)
	}
	if !hasMembership(t, nodeB, u.ID, "acme") {
		t.Fatal("node B does not see the membership")
	}
	if err := nodeA.Sources.Primary.Revoke(ctx, u.ID, "acme"); err != nil {
		t.Fatal(err)
	}
	refreshed := make(chan struct{}, 1)
	datasource.SetFetchHook(nodeB.Registry, func() {
		select {
		case refreshed <- struct{}{}:
		default:
		}
	})
	clock.Advance(4500 * time.Millisecond) // 90% of the TTL
	if !hasMembership(t, nodeB, u.ID, "acme") {
		t.Fatal("a lookup inside the TTL waited for the primary instead of answering from the cache")
	}
	// That lookup started a refresh; it lands without waiting for the TTL
	// (the fake clock stays before it).
	deadline := time.After(10 * time.Second)
	for hasMembership(t, nodeB, u.ID, "acme") {
		select {
		case <-refreshed: // a load landed: look again
		case <-deadline:
			t.Fatal("node B did not refresh the membership ahead of its TTL")
		}
	}
}
