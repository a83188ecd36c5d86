package datasource_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/security"
)

// createNotes makes a table in the tenant's storage for tests to write rows
// into.
func createNotes(t *testing.T, ds *datasource.TenantAwareDataSource, ctx context.Context) {
	t.Helper()
	err := ds.InTx(ctx, func(tx *datasource.Tx) error {
		_, err := tx.Exec(`CREATE TABLE IF NOT EXISTS note (id BIGINT PRIMARY KEY, body TEXT NOT NULL)`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNoTenantInContextIsAnError(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, nil)
		env.Tenant(t, "acme")
		ds := env.Sources.Tenants
		called := false
		err := ds.InTx(context.Background(), func(*datasource.Tx) error { called = true; return nil })
		if !errors.Is(err, datasource.ErrNoTenant) || called {
			t.Fatalf("InTx without tenant: err %v, fn called %v; want ErrNoTenant and no call", err, called)
		}
		if _, _, err := ds.Acquire(context.Background()); !errors.Is(err, datasource.ErrNoTenant) {
			t.Fatalf("Acquire without tenant: %v", err)
		}
		// An empty tenant is no tenant either.
		if err := ds.InReadTx(security.WithTenant(context.Background(), ""), func(*datasource.Tx) error { return nil }); !errors.Is(err, datasource.ErrNoTenant) {
			t.Fatalf("InReadTx with empty tenant: %v", err)
		}
		if err := ds.InTx(security.WithTenant(context.Background(), "nobody"), func(*datasource.Tx) error { return nil }); !errors.Is(err, datasource.ErrUnknownTenant) {
			t.Fatalf("unknown tenant: %v", err)
		}
	})
}

// assertIsolated writes rows with the same IDs in two tenants and checks
// that each sees only its own.
func assertIsolated(t *testing.T, ds *datasource.TenantAwareDataSource, a, b context.Context) {
	t.Helper()
	createNotes(t, ds, a)
	createNotes(t, ds, b)
	for i := 1; i <= 3; i++ {
		for _, c := range []struct {
			ctx  context.Context
			body string
		}{{a, "A"}, {b, "B"}} {
			body := c.body
			if err := ds.InTx(c.ctx, func(tx *datasource.Tx) error {
				_, err := tx.Exec(`INSERT INTO note (id, body) VALUES ($1, $2)`, i, fmt.Sprintf("%s%d", body, i))
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		ctx  context.Context
		want string
	}{{a, "A1,A2,A3"}, {b, "B1,B2,B3"}} {
		var bodies []string
		if err := ds.InReadTx(c.ctx, func(tx *datasource.Tx) error {
			return tx.Select(&bodies, `SELECT body FROM note ORDER BY id`)
		}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(bodies, ","); got != c.want {
			t.Fatalf("tenant sees %s, want %s", got, c.want)
		}
	}
}

func TestTenantsWithIdenticalRowIDsNeverSeeEachOther(t *testing.T) {
	for _, mode := range []string{"set-local", "pool"} {
		t.Run("pg-schema/"+mode, func(t *testing.T) {
			t.Parallel()
			env := dstest.Open(t, dstest.Postgres, &dstest.Options{Config: datasource.Config{PGSchemaMode: mode}})
			assertIsolated(t, env.Sources.Tenants, env.Tenant(t, "alpha"), env.Tenant(t, "beta"))
		})
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		env := dstest.Open(t, dstest.SQLite, nil)
		assertIsolated(t, env.Sources.Tenants, env.Tenant(t, "alpha"), env.Tenant(t, "beta"))
	})
	t.Run("pg-dsn on a second database", func(t *testing.T) {
		t.Parallel()
		env := dstest.Open(t, dstest.Postgres, nil)
		second := dstest.CreateDatabase(t)
		a := env.Tenant(t, "alpha") // pg-schema in the primary's database
		if _, err := env.Sources.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{
			ID: "beta", Placement: datasource.PlacementPGDSN, DSN: second}); err != nil {
			t.Fatal(err)
		}
		assertIsolated(t, env.Sources.Tenants, a, security.WithTenant(context.Background(), "beta"))
	})
}

func TestDisabledTenantIsNotServed(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, nil)
		ctx := env.Tenant(t, "acme")
		createNotes(t, env.Sources.Tenants, ctx)
		if err := env.Sources.Lifecycle.Disable(context.Background(), "acme"); err != nil {
			t.Fatal(err)
		}
		err := env.Sources.Tenants.InTx(ctx, func(*datasource.Tx) error { return nil })
		if !errors.Is(err, datasource.ErrTenantDisabled) {
			t.Fatalf("disabled tenant: %v", err)
		}
		if err := env.Sources.Lifecycle.Enable(context.Background(), "acme"); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := env.Sources.Tenants.InReadTx(ctx, func(tx *datasource.Tx) error {
			return tx.Get(&n, `SELECT COUNT(*) FROM note`)
		}); err != nil {
			t.Fatalf("enabled again: %v", err)
		}
	})
}

// createTenants registers n tenants t000… in parallel and returns their IDs.
func createTenants(t *testing.T, env *dstest.Env, n int) []string {
	t.Helper()
	ids := make([]string, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = fmt.Sprintf("t%03d", i)
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := env.Sources.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: id}); err != nil {
				errs <- err
			}
		}(ids[i])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return ids
}

func TestPoolCapHoldsUnderContention(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, &dstest.Options{Config: datasource.Config{
			MaxPools:      8,
			DefaultLimits: datasource.Limits{MaxOpenConns: 1},
		}})
		ids := createTenants(t, env, 200)
		ds := env.Sources.Tenants

		// 50 goroutines, each working through the tenants in its own order,
		// so pools are opened, reused and evicted all the time.
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for g := 0; g < 50; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 16; i++ {
					id := ids[(g*37+i*13)%len(ids)]
					ctx := security.WithTenant(context.Background(), id)
					err := ds.InTx(ctx, func(tx *datasource.Tx) error {
						var one int
						return tx.Get(&one, `SELECT 1`)
					})
					if err != nil {
						errs <- fmt.Errorf("tenant %s: %w", id, err)
						return
					}
				}
			}(g)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			// Includes "database is closed": a pool closed under a caller.
			t.Fatal(err)
		}
		st := ds.Stats()
		if st.MaxOpenSeen > 8 || st.Open > 8 {
			t.Fatalf("pools open: max %d, now %d; cap is 8", st.MaxOpenSeen, st.Open)
		}
		if st.Opened <= 8 {
			t.Fatalf("only %d pools opened: the test did not exercise eviction", st.Opened)
		}
		t.Logf("%s: %d pool opens, %d closes, %d waits for a free slot", kind, st.Opened, st.Closed, st.CapWaits)
	})
}

func TestWaiterForAFullPoolCapGivesUpAtItsDeadline(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, &dstest.Options{Config: datasource.Config{
			MaxPools:      2,
			DefaultLimits: datasource.Limits{MaxOpenConns: 1},
		}})
		ids := createTenants(t, env, 3)
		ds := env.Sources.Tenants

		// Two tenants hold their pools busy.
		inside := make(chan struct{}, 2)
		release := make(chan struct{})
		var wg sync.WaitGroup
		for _, id := range ids[:2] {
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				_ = ds.InTx(security.WithTenant(context.Background(), id), func(*datasource.Tx) error {
					inside <- struct{}{}
					<-release
					return nil
				})
			}(id)
		}
		<-inside
		<-inside

		ctx, cancel := context.WithTimeout(security.WithTenant(context.Background(), ids[2]), 50*time.Millisecond)
		defer cancel()
		err := ds.InTx(ctx, func(*datasource.Tx) error { return nil })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("third tenant while both pools are busy: %v, want context.DeadlineExceeded", err)
		}
		if st := ds.Stats(); st.Open > 2 || st.MaxOpenSeen > 2 {
			t.Fatalf("cap overshot: %+v", st)
		}
		close(release)
		wg.Wait()
		// With the pools free, the third tenant is served (an idle pool is evicted).
		if err := ds.InTx(security.WithTenant(context.Background(), ids[2]), func(*datasource.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSlowTenantDoesNotHoldOtherTenantsCallers(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, &dstest.Options{Config: datasource.Config{
			DefaultLimits: datasource.Limits{MaxOpenConns: 1, AcquireTimeout: 20 * time.Millisecond},
		}})
		slow, quick := env.Tenant(t, "slow"), env.Tenant(t, "quick")
		ds := env.Sources.Tenants
		inside, release := make(chan struct{}), make(chan struct{})
		go func() {
			_ = ds.InTx(slow, func(*datasource.Tx) error { close(inside); <-release; return nil })
		}()
		<-inside
		defer close(release)
		// The slow tenant's next caller gets a clear error after its acquire
		// timeout instead of queueing forever...
		err := ds.InTx(slow, func(*datasource.Tx) error { return nil })
		if !errors.Is(err, datasource.ErrTenantUnavailable) || !strings.Contains(err.Error(), "no connection free") {
			t.Fatalf("slow tenant's second caller: %v", err)
		}
		// ...and the other tenant is served meanwhile.
		if err := ds.InTx(quick, func(*datasource.Tx) error { return nil }); err != nil {
			t.Fatalf("quick tenant: %v", err)
		}
	})
}

func TestConnectionOutsideTheTenantSchemaIsRefused(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"set-local", "pool"} {
		t.Run("schema gone behind our back/"+mode, func(t *testing.T) {
			env := dstest.Open(t, dstest.Postgres, &dstest.Options{Config: datasource.Config{PGSchemaMode: mode}})
			ctx := env.Tenant(t, "acme")
			// Another tenant's schema exists, so a connection that lost its
			// schema would otherwise resolve names somewhere.
			env.Tenant(t, "other")
			if _, err := dstest.OpenSQL(t, env.URL).Exec(`DROP SCHEMA tenant_acme CASCADE`); err != nil {
				t.Fatal(err)
			}
			env.Sources.Tenants.Evict(context.Background(), "acme")
			err := env.Sources.Tenants.InTx(ctx, func(*datasource.Tx) error { return nil })
			if !errors.Is(err, datasource.ErrSchemaMismatch) {
				t.Fatalf("got %v, want ErrSchemaMismatch", err)
			}
		})
	}
	env := dstest.Open(t, dstest.Postgres, nil)
	env.Tenant(t, "other")
	t.Run("startup parameter dropped by a pooler", func(t *testing.T) {
		// The connection arrives without the tenant's search_path.
		db, err := datasource.OpenPGForTest(env.URL, "", "tenant_other")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		err = db.Ping()
		if !errors.Is(err, datasource.ErrSchemaMismatch) {
			t.Fatalf("got %v, want ErrSchemaMismatch", err)
		}
		// And the right parameter passes.
		good, err := datasource.OpenPGForTest(env.URL, "tenant_other", "tenant_other")
		if err != nil {
			t.Fatal(err)
		}
		defer good.Close()
		if err := good.Ping(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCredentialChangeMovesNewWorkToANewPoolWithoutRestart(t *testing.T) {
	t.Parallel()
	// Roles are cluster-wide: they are dropped last, after the databases
	// holding their privileges (cleanups run in reverse order).
	admin := dstest.OpenSQL(t, dstest.AdminURL())
	roles := []string{dstest.RandomName("tfr_a_"), dstest.RandomName("tfr_b_")}
	t.Cleanup(func() {
		for _, r := range roles {
			if _, err := admin.Exec(`DROP ROLE IF EXISTS ` + r); err != nil {
				t.Errorf("drop role %s: %v", r, err)
			}
		}
	})
	for _, r := range roles {
		if _, err := admin.Exec(`CREATE ROLE ` + r + ` LOGIN`); err != nil {
			t.Fatal(err)
		}
	}
	env := dstest.Open(t, dstest.Postgres, nil)
	second := dstest.CreateDatabase(t)
	// Both roles may use the second database's public schema.
	secondAdmin := dstest.OpenSQL(t, second)
	for _, stmt := range []string{`GRANT ALL ON SCHEMA public TO ` + roles[0] + `, ` + roles[1],
		`GRANT CONNECT ON DATABASE ` + dstest.DatabaseName(second) + ` TO ` + roles[0] + `, ` + roles[1]} {
		if _, err := secondAdmin.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	dsn := func(role string) string { return strings.Replace(second, "postgres@", role+"@", 1) }
	if _, err := env.Sources.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{
		ID: "acme", Placement: datasource.PlacementPGDSN, DSN: dsn(roles[0])}); err != nil {
		t.Fatal(err)
	}
	ctx := security.WithTenant(context.Background(), "acme")
	ds := env.Sources.Tenants
	whoami := func() string {
		var u string
		if err := ds.InReadTx(ctx, func(tx *datasource.Tx) error { return tx.Get(&u, `SELECT current_user`) }); err != nil {
			t.Fatal(err)
		}
		return u
	}
	if got := whoami(); got != roles[0] {
		t.Fatalf("connected as %s, want %s", got, roles[0])
	}
	// A transaction is in flight on the old pool while the config changes.
	inside, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- ds.InTx(ctx, func(tx *datasource.Tx) error {
			close(inside)
			<-release
			var one int
			return tx.Get(&one, `SELECT 1`)
		})
	}()
	<-inside
	newDSN := dsn(roles[1])
	if _, err := env.Sources.Lifecycle.UpdateConfig(context.Background(), "acme", &datasource.UpdateTenantParams{DSN: &newDSN}); err != nil {
		t.Fatal(err)
	}
	if got := whoami(); got != roles[1] {
		t.Fatalf("after the change new work runs as %s, want %s", got, roles[1])
	}
	closedBefore := ds.Stats().Closed
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the transaction in flight on the old pool failed: %v", err)
	}
	if st := ds.Stats(); st.Closed != closedBefore+1 || st.Open != 1 {
		t.Fatalf("old pool not drained and closed: %+v", st)
	}
}

// A statement outside a transaction on a shared pool reaches the tenant's
// tables only by the qualifier InStatement gives it: an unqualified name
// resolves nowhere, never to another tenant's table; in pool mode the
// search_path serves.
func TestInStatementReachesOnlyTheTenantsTables(t *testing.T) {
	for _, mode := range []string{"set-local", "pool"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			env := dstest.Open(t, dstest.Postgres, &dstest.Options{Config: datasource.Config{PGSchemaMode: mode}})
			ds := env.Sources.Tenants
			alpha, beta := env.Tenant(t, "alpha"), env.Tenant(t, "beta")
			for ctx, n := range map[context.Context]int{alpha: 2, beta: 3} {
				if err := ds.InTx(ctx, func(tx *datasource.Tx) error {
					for i := range n {
						if _, err := tx.Exec(`INSERT INTO tf_deployment (id, created_at) VALUES ($1, 0)`, i+1); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			err := ds.InStatement(alpha, func(q datasource.Queryer) error {
				if q.InTransaction() {
					t.Fatal("a PostgreSQL statement ran in a transaction")
				}
				return q.GetContext(alpha, &n, `SELECT COUNT(*) FROM `+q.Qualifier()+`tf_deployment`)
			})
			if err != nil || n != 2 {
				t.Fatalf("alpha's deployments through InStatement: %d %v", n, err)
			}
			err = ds.InStatement(beta, func(q datasource.Queryer) error {
				return q.GetContext(beta, &n, `SELECT COUNT(*) FROM tf_deployment`)
			})
			switch {
			case mode == "pool" && (err != nil || n != 3):
				t.Fatalf("beta's deployments by its search_path: %d %v", n, err)
			case mode == "set-local" && err == nil:
				t.Fatalf("an unqualified name on a shared pool connection read %d rows", n)
			}
		})
	}
}

// After the server closed every pooled connection (a restart, an operator
// terminating backends), the next statements succeed on fresh connections
// instead of failing with "bad connection".
func TestInStatementReplacesConnectionsTheServerClosed(t *testing.T) {
	for _, mode := range []string{"set-local", "pool"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			env := dstest.Open(t, dstest.Postgres, &dstest.Options{Config: datasource.Config{PGSchemaMode: mode}})
			ds := env.Sources.Tenants
			ctx := env.Tenant(t, "alpha")
			count := func(q datasource.Queryer) error {
				var n int
				return q.GetContext(ctx, &n, `SELECT COUNT(*) FROM `+q.Qualifier()+`tf_deployment`)
			}
			// Two statements at once leave two idle connections behind.
			var inside sync.WaitGroup
			inside.Add(2)
			errs := make(chan error, 2)
			for range 2 {
				go func() {
					errs <- ds.InStatement(ctx, func(q datasource.Queryer) error {
						inside.Done()
						inside.Wait()
						return count(q)
					})
				}()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}

			admin := dstest.OpenSQL(t, env.URL)
			var killed int
			if err := admin.QueryRow(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&killed); err != nil {
				t.Fatal(err)
			}
			if killed < 2 {
				t.Fatalf("terminated %d backends; the test needs the pool's two idle ones", killed)
			}
			for i := range 3 {
				if err := ds.InStatement(ctx, count); err != nil {
					t.Fatalf("statement %d after the server closed the connections: %v", i+1, err)
				}
			}
		})
	}
}
