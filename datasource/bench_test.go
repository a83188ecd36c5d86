package datasource_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/security"
)

// benchTenants is how many tenants the scale benchmarks create
// (TENANTFLOW_BENCH_TENANTS, default 1,000).
func benchTenants() int {
	if n, err := strconv.Atoi(os.Getenv("TENANTFLOW_BENCH_TENANTS")); err == nil && n > 0 {
		return n
	}
	return 1000
}

// rssMB reads this process's resident set size.
func rssMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(sc.Text())[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// createMany creates n tenants with parallel creators.
func createMany(tb testing.TB, src *datasource.Sources, n, parallel int, prefix string) []string {
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ids[i] = fmt.Sprintf("%s%05d", prefix, i)
				if _, err := src.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: ids[i]}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	return ids
}

// BenchmarkCreateTenants creates 1,000 tenants (4 creators at once), then
// opens a pool for each with one transaction, and reports both rates and
// the process's RSS.
func BenchmarkCreateTenants(b *testing.B) {
	for _, kind := range dstest.Kinds {
		b.Run(string(kind), func(b *testing.B) {
			n := benchTenants()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				env := dstest.Open(b, kind, &dstest.Options{RealClock: true, Config: datasource.Config{
					DefaultLimits: datasource.Limits{MaxOpenConns: 1, MaxIdleConns: 1}}})
				b.StartTimer()
				start := time.Now()
				ids := createMany(b, env.Sources, n, 4, "t")
				created := time.Since(start)
				start = time.Now()
				for _, id := range ids {
					ctx := security.WithTenant(context.Background(), id)
					if err := env.Sources.Tenants.InReadTx(ctx, func(tx *datasource.Tx) error {
						var one int
						return tx.Get(&one, `SELECT 1`)
					}); err != nil {
						b.Fatal(err)
					}
				}
				opened := time.Since(start)
				b.ReportMetric(float64(n)/created.Seconds(), "tenants-created/s")
				b.ReportMetric(float64(n)/opened.Seconds(), "pools-opened/s")
				b.ReportMetric(rssMB(), "RSS-MB")
				b.ReportMetric(float64(env.Sources.Tenants.Stats().MaxOpenSeen), "max-pools-open")
			}
		})
	}
}

var (
	modeFixture     sync.Once
	modeFixtureURL  string
	modeFixtureIDs  []string
	modeFixtureErr  error
	modeFixtureDrop func()
)

// BenchmarkPGSchemaMode compares the two ways of reaching pg-schema
// tenants at 1,000 tenants: "pool" (one pool per tenant, search_path as a
// startup parameter, verified per connection) and "set-local" (one pool per
// server, SET LOCAL search_path in every transaction). Each transaction
// reads one row of the tenant's own table. "hot" cycles over 20 tenants
// (fewer than the pool cap), "all" over every tenant (far more than the
// cap: pools are opened and closed continuously). It also reports how many
// server connections each mode ended with.
func BenchmarkPGSchemaMode(b *testing.B) {
	dstest.RequirePostgres(b)
	modeFixture.Do(func() {
		db, err := sql.Open("postgres", dstest.AdminURL())
		if err != nil {
			modeFixtureErr = err
			return
		}
		defer db.Close()
		name := dstest.RandomName("tfbench_")
		if _, err := db.Exec(`CREATE DATABASE ` + name); err != nil {
			modeFixtureErr = err
			return
		}
		modeFixtureURL = dstest.DatabaseURL(name)
		modeFixtureDrop = func() {
			a, _ := sql.Open("postgres", dstest.AdminURL())
			defer a.Close()
			a.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
		}
		src, err := datasource.Open(context.Background(), datasource.Config{PrimaryURL: modeFixtureURL, DataDir: b.TempDir(), Logger: dstest.Quiet()})
		if err != nil {
			modeFixtureErr = err
			return
		}
		defer src.Close()
		modeFixtureIDs = createMany(b, src, benchTenants(), 4, "m")
	})
	if modeFixtureErr != nil {
		b.Fatal(modeFixtureErr)
	}
	for _, mode := range []string{"pool", "set-local"} {
		for _, set := range []struct {
			name string
			n    int
		}{{"hot20", 20}, {"all", len(modeFixtureIDs)}} {
			b.Run(mode+"/"+set.name, func(b *testing.B) {
				src, err := datasource.Open(context.Background(), datasource.Config{PrimaryURL: modeFixtureURL,
					DataDir: b.TempDir(), PGSchemaMode: mode, Logger: dstest.Quiet(),
					DefaultLimits: datasource.Limits{MaxOpenConns: 2, MaxIdleConns: 1}})
				if err != nil {
					b.Fatal(err)
				}
				defer src.Close()
				ctxs := make([]context.Context, set.n)
				for i := range ctxs {
					ctxs[i] = security.WithTenant(context.Background(), modeFixtureIDs[i])
				}
				var k atomic.Int64
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						ctx := ctxs[int(k.Add(1))%len(ctxs)]
						if err := src.Tenants.InReadTx(ctx, func(tx *datasource.Tx) error {
							var v int64
							return tx.Get(&v, `SELECT next_id FROM tf_id_block WHERE name = 'default'`)
						}); err != nil {
							b.Fatal(err)
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
				st := src.Tenants.Stats()
				b.ReportMetric(float64(st.Opened), "pools-opened")
				// How much catalog cache a backend of this mode built up:
				// ask one of the connections that served the run.
				conn, release, err := src.Tenants.Acquire(ctxs[0])
				if err != nil {
					b.Fatal(err)
				}
				var cacheBytes int64
				if err := conn.QueryRowxContext(context.Background(), `SELECT COALESCE(SUM(total_bytes), 0) FROM pg_backend_memory_contexts
					WHERE name IN ('CacheMemoryContext', 'CatCache', 'RelCache')`).Scan(&cacheBytes); err != nil {
					b.Fatal(err)
				}
				release()
				b.ReportMetric(float64(cacheBytes)/(1<<20), "backend-cache-MB")
			})
		}
	}
}

// TestMain drops the benchmark fixture database once every benchmark of the
// process ran (it is shared by the -cpu rounds).
func TestMain(m *testing.M) {
	code := m.Run()
	if modeFixtureDrop != nil {
		modeFixtureDrop()
	}
	os.Exit(code)
}
