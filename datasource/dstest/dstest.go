// Package dstest gives tests a throwaway tenantflow datasource: a fresh
// PostgreSQL database, or a temporary SQLite directory, with tenants created
// on demand and everything removed when the test ends.
//
// PostgreSQL is found through TENANTFLOW_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). When it
// cannot be reached, tests that need it are skipped — except under CI=true,
// where they fail, so a green CI run always means PostgreSQL was tested.
package dstest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	_ "github.com/lib/pq" // the admin connection

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/security"
)

// Kind is the storage a test runs against.
type Kind string

// The storages.
const (
	Postgres Kind = "postgres"
	SQLite   Kind = "sqlite"
)

// Kinds lists both, for conformance suites that run every test twice.
var Kinds = []Kind{Postgres, SQLite}

// DefaultURL is used when TENANTFLOW_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminURL returns the PostgreSQL server URL tests create databases through.
func AdminURL() string {
	if u := os.Getenv("TENANTFLOW_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultURL
}

var (
	pgOnce sync.Once
	pgErr  error
)

// RequirePostgres skips the test when PostgreSQL is unreachable, or fails it
// when CI=true.
func RequirePostgres(t testing.TB) {
	t.Helper()
	pgOnce.Do(func() {
		db, err := sql.Open("postgres", AdminURL())
		if err != nil {
			pgErr = err
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pgErr = db.PingContext(ctx)
	})
	if pgErr != nil {
		msg := fmt.Sprintf("PostgreSQL unreachable at %s: %v (start it, or set TENANTFLOW_TEST_DATABASE_URL)", redact(AdminURL()), pgErr)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

func redact(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return "(unparsable URL)"
}

// RandomName returns prefix followed by 12 random hex characters: a valid
// database, schema or tenant name that no other test uses.
func RandomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// CreateDatabase creates an empty PostgreSQL database that is dropped (with
// any connections still open to it) when the test ends, and returns its URL.
func CreateDatabase(t testing.TB) string {
	t.Helper()
	RequirePostgres(t)
	admin, err := sql.Open("postgres", AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := RandomName("tft_")
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("postgres", AdminURL())
		if err != nil {
			t.Error(err)
			return
		}
		defer a.Close()
		if _, err := a.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return DatabaseURL(name)
}

// DatabaseURL returns the admin URL pointed at another database.
func DatabaseURL(db string) string {
	u, err := url.Parse(AdminURL())
	if err != nil {
		panic(err)
	}
	u.Path = "/" + db
	return u.String()
}

// Options adjust Open.
type Options struct {
	// Config is the base configuration; PrimaryURL and DataDir are set by
	// Open. A nil Clock becomes a fake clock (see Env.Clock).
	Config datasource.Config
	// RealClock keeps real time instead of a fake clock.
	RealClock bool
}

// Env is one test's datasource.
type Env struct {
	Kind    Kind
	Sources *datasource.Sources
	// Clock is the fake clock driving the registry TTL, unless RealClock.
	Clock *clockwork.FakeClock
	// URL is the PostgreSQL primary URL ("" for SQLite).
	URL string
	// Dir is the data directory (SQLite files).
	Dir string
}

// Open returns a migrated datasource of the given kind, closed and removed
// when the test ends.
func Open(t testing.TB, kind Kind, opts *Options) *Env {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	cfg := opts.Config
	env := &Env{Kind: kind, Dir: t.TempDir()}
	cfg.DataDir = env.Dir
	if kind == Postgres {
		env.URL = CreateDatabase(t)
		cfg.PrimaryURL = env.URL
		if cfg.DefaultPlacement == "" {
			cfg.DefaultPlacement = datasource.PlacementPGSchema
		}
	}
	if cfg.Clock == nil && !opts.RealClock {
		env.Clock = clockwork.NewFakeClockAt(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
		cfg.Clock = env.Clock
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.DrainWait == 0 {
		cfg.DrainWait = time.Nanosecond // tests drop at once; drain waits are tested on their own
	}
	src, err := datasource.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open datasource (%s): %v", kind, err)
	}
	env.Sources = src
	t.Cleanup(func() { src.Close() })
	return env
}

// Tenant creates an active tenant with the default placement of the
// environment and returns a context that carries it.
func (e *Env) Tenant(t testing.TB, id string) context.Context {
	t.Helper()
	if _, err := e.Sources.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: id}); err != nil {
		t.Fatalf("create tenant %s: %v", id, err)
	}
	return security.WithTenant(context.Background(), id)
}

// ForEachKind runs fn as a subtest per storage kind.
func ForEachKind(t *testing.T, fn func(t *testing.T, kind Kind)) {
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) { fn(t, k) })
	}
}

// Quiet returns a logger that discards everything.
func Quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// OpenSQL opens a plain database/sql handle on a PostgreSQL URL for test
// setup and assertions behind the datasource's back; closed at cleanup.
func OpenSQL(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// DatabaseName returns the database name of a PostgreSQL URL.
func DatabaseName(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		panic(err)
	}
	return strings.TrimPrefix(p.Path, "/")
}

// Probe checks a condition on another process (a server restarting, a
// node taking over), which offers no event to wait on, every interval
// until it holds or within has passed. It reports whether the condition
// held and how long that took.
func Probe(within, every time.Duration, check func() bool) (held bool, took time.Duration) {
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if check() {
			return true, time.Since(start)
		}
		if time.Since(start) >= within {
			return false, time.Since(start)
		}
		<-tick.C
	}
}
