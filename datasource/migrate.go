package datasource

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tenantflow/tenantflow/migrations"
)

// versionTable is where goose records applied versions, in each storage.
const versionTable = "tf_schema_version"

// MigrationResult reports what a migration did to one storage.
type MigrationResult struct {
	From, To int64
	Applied  int
}

// migrateDB applies a history to one storage. On PostgreSQL a session-level
// advisory lock whose ID is derived from lockName keeps two nodes from
// migrating the same storage at once, while different tenants (different
// lock IDs) migrate in parallel. db must already point at the storage's
// schema: a missing schema would make goose read another schema's version
// table.
func migrateDB(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS, lockName string) (MigrationResult, error) {
	p, err := newProvider(db, d, fsys, lockName)
	if err != nil {
		return MigrationResult{}, err
	}
	from, err := p.GetDBVersion(ctx)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("read schema version: %w", err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("migrate: %w", err)
	}
	to, err := p.GetDBVersion(ctx)
	if err != nil {
		return MigrationResult{}, fmt.Errorf("read schema version: %w", err)
	}
	return MigrationResult{From: from, To: to, Applied: len(res)}, nil
}

// dbVersion reads the applied version of a storage without migrating it.
func dbVersion(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS) (current, latest int64, err error) {
	p, err := newProvider(db, d, fsys, "")
	if err != nil {
		return 0, 0, err
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, err
	}
	srcs := p.ListSources()
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	return current, latest, nil
}

func newProvider(db *sql.DB, d Dialect, fsys fs.FS, lockName string) (*goose.Provider, error) {
	opts := []goose.ProviderOption{
		goose.WithTableName(versionTable),
		goose.WithDisableGlobalRegistry(true),
	}
	dialect := goose.DialectSQLite3
	if d == Postgres {
		dialect = goose.DialectPostgres
		if lockName != "" {
			locker, err := lock.NewPostgresSessionLocker(
				lock.WithLockID(lockID(lockName)),
				lock.WithLockTimeout(1, 600), // poll every second, up to 10 minutes
			)
			if err != nil {
				return nil, err
			}
			opts = append(opts, goose.WithSessionLocker(locker))
		}
	}
	return goose.NewProvider(dialect, db, fsys, opts...)
}

// lockID derives an advisory lock ID from a storage name.
func lockID(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("tenantflow/migrate/" + name))
	return int64(h.Sum64() &^ (1 << 63))
}

func migrationsFor(d Dialect, tenant bool) fs.FS {
	name := migrations.SQLite
	if d == Postgres {
		name = migrations.Postgres
	}
	if tenant {
		return migrations.Tenant(name)
	}
	return migrations.Primary(name)
}
