package datasource

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"
)

// Config configures the datasources of one engine node. The zero value is a
// working single-node setup: everything in SQLite under ./data.
type Config struct {
	// PrimaryURL is the primary datasource. Empty means SQLite at
	// <DataDir>/primary.db; a postgres:// URL (or key=value DSN) means
	// PostgreSQL. Always set sslmode for PostgreSQL (lib/pq defaults to
	// "require").
	PrimaryURL string
	// DataDir holds SQLite files: the primary (when PrimaryURL is empty) and
	// one file per sqlite tenant under tenants/. Default "./data".
	DataDir string
	// SchemaPrefix prefixes pg-schema tenants' schema names. Default
	// "tenant_".
	SchemaPrefix string
	// DefaultPlacement is used when a tenant is created without a placement.
	// Default pg-schema when the primary is PostgreSQL, sqlite otherwise.
	DefaultPlacement Placement
	// DefaultLimits fill the limits a tenant does not set.
	// Default: 4 open, 2 idle, 5s acquire timeout, 30s statement timeout.
	DefaultLimits Limits
	// MaxPools caps the tenant pools open at once on this node. When all are
	// busy a new tenant waits (bounded by its context) instead of overshooting
	// the cap. Default 64.
	MaxPools int
	// PoolIdleTimeout closes a tenant's pool after this long unused.
	// Default 5m.
	PoolIdleTimeout time.Duration
	// ServerConnBudget caps, per PostgreSQL server, the connections this node
	// may open across all tenant pools on it (the sum of their MaxOpenConns).
	// Size it as (max_connections − superuser_reserved − other clients) /
	// nodes. Default 40.
	ServerConnBudget int
	// PGSchemaMode chooses how pg-schema tenants get their schema:
	// "set-local" (default: shared pools per server, each transaction scopes
	// search_path with set_config(…, true) and checks the schema exists) or
	// "pool" (one pool per tenant, search_path as a startup parameter,
	// verified on every new connection). See the README's design notes for
	// the measurements behind the default.
	PGSchemaMode string
	// SharedPoolShards splits a server's shared set-local pool by tenant
	// hash, so each server backend works in the schemas of one shard only.
	// Default 4.
	SharedPoolShards int
	// RegistryTTL is how long a cached tenant config or membership is used
	// before it is read again from the primary. A change made on another node
	// is seen within this time. Default 5s.
	RegistryTTL time.Duration
	// MaxStale is how long cached entries keep serving while the primary is
	// unreachable. Default 5m.
	MaxStale time.Duration
	// MasterKey (base64, 32 bytes) encrypts datasource passwords at rest.
	// Needed only for pg-dsn tenants with a password. From
	// TENANTFLOW_MASTER_KEY.
	MasterKey string
	// DrainWait is how long Drop waits after marking a tenant dropping so
	// that every node's background work lets go of it: at least RegistryTTL
	// plus the longest job lock. Default RegistryTTL + 5m with a PostgreSQL
	// primary; none with a SQLite primary, which serves a single node.
	DrainWait time.Duration
	// CircuitFailures is how many consecutive connection failures open a
	// tenant's circuit; CircuitCooldown how long it stays open before one
	// probe is let through. Defaults 5 and 5s.
	CircuitFailures int
	CircuitCooldown time.Duration
	// NodeID names this node in lock owners and notifications; it must be
	// unique among running nodes. Default hostname-pid-random, so two nodes
	// in one process (embedded engines, tests) never take each other's
	// signals or locks for their own.
	NodeID string
	// Clock is the time source; tests inject a fake. Default real time.
	Clock clockwork.Clock
	// Logger receives operational messages. Default slog.Default().
	Logger *slog.Logger
}

const (
	pgSchemaModePool     = "pool"
	pgSchemaModeSetLocal = "set-local"
)

// withDefaults returns c with every unset field filled in.
func (c Config) withDefaults() Config {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.SchemaPrefix == "" {
		c.SchemaPrefix = "tenant_"
	}
	if c.DefaultPlacement == "" {
		if c.primaryIsPostgres() {
			c.DefaultPlacement = PlacementPGSchema
		} else {
			c.DefaultPlacement = PlacementSQLite
		}
	}
	c.DefaultLimits = c.DefaultLimits.withDefaults(Limits{MaxOpenConns: 4, MaxIdleConns: 2, AcquireTimeout: 5 * time.Second, StatementTimeout: 30 * time.Second})
	if c.MaxPools <= 0 {
		c.MaxPools = 64
	}
	if c.PoolIdleTimeout <= 0 {
		c.PoolIdleTimeout = 5 * time.Minute
	}
	if c.ServerConnBudget <= 0 {
		c.ServerConnBudget = 40
	}
	if c.PGSchemaMode == "" {
		c.PGSchemaMode = pgSchemaModeSetLocal
	}
	if c.SharedPoolShards <= 0 {
		c.SharedPoolShards = 4
	}
	if c.RegistryTTL <= 0 {
		c.RegistryTTL = 5 * time.Second
	}
	if c.MaxStale <= 0 {
		c.MaxStale = 5 * time.Minute
	}
	if c.DrainWait <= 0 {
		if c.primaryIsPostgres() {
			c.DrainWait = c.RegistryTTL + 5*time.Minute
		} else {
			c.DrainWait = time.Nanosecond // a single node: nobody else to wait for
		}
	}
	if c.CircuitFailures <= 0 {
		c.CircuitFailures = 5
	}
	if c.CircuitCooldown <= 0 {
		c.CircuitCooldown = 5 * time.Second
	}
	if c.NodeID == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.NodeID = fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// validate reports configuration a person must fix, all at once.
func (c Config) validate() error {
	var errs []error
	if c.PGSchemaMode != pgSchemaModePool && c.PGSchemaMode != pgSchemaModeSetLocal {
		errs = append(errs, fmt.Errorf("PGSchemaMode %q: use %q or %q", c.PGSchemaMode, pgSchemaModePool, pgSchemaModeSetLocal))
	}
	if _, err := ParsePlacement(string(c.DefaultPlacement)); err != nil {
		errs = append(errs, fmt.Errorf("DefaultPlacement: %w", err))
	}
	if c.DefaultPlacement == PlacementPGSchema && !c.primaryIsPostgres() {
		errs = append(errs, errors.New("DefaultPlacement pg-schema needs a PostgreSQL primary (set PrimaryURL / TENANTFLOW_PRIMARY_URL)"))
	}
	if err := c.DefaultLimits.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := ValidateSchemaPrefix(c.SchemaPrefix); err != nil {
		errs = append(errs, err)
	}
	if c.MaxStale < c.RegistryTTL {
		errs = append(errs, fmt.Errorf("MaxStale (%s) must not be shorter than RegistryTTL (%s)", c.MaxStale, c.RegistryTTL))
	}
	if _, err := newSealer(c.MasterKey); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ValidateSchemaPrefix checks a pg-schema prefix: lowercase letters, digits
// and _, starting with a letter, at most 20 characters.
func ValidateSchemaPrefix(p string) error {
	if len(p) == 0 || len(p) > 20 || p[0] < 'a' || p[0] > 'z' || strings.HasPrefix(p, "pg_") {
		return fmt.Errorf("%w: schema prefix %q: use 1-20 lowercase letters, digits or _, starting with a letter, not pg_", ErrInvalid, p)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return fmt.Errorf("%w: schema prefix %q: character %q is not allowed", ErrInvalid, p, rune(c))
		}
	}
	return nil
}

func (c Config) primaryIsPostgres() bool { return isPostgresDSN(c.PrimaryURL) }

// isPostgresDSN tells a PostgreSQL DSN from an empty (SQLite) primary.
func isPostgresDSN(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") || strings.Contains(s, "host=") || strings.Contains(s, "dbname=")
}

// sqliteTenantPath is the file of a sqlite tenant. The ID is validated
// before it reaches here, so it cannot contain a path separator.
func (c Config) sqliteTenantPath(id string) string {
	return filepath.Join(c.DataDir, "tenants", id+".db")
}

func (c Config) sqlitePrimaryPath() string { return filepath.Join(c.DataDir, "primary.db") }
