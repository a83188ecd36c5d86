package datasource

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// Dialect names the SQL dialect of a storage. All tenantflow SQL is written
// once with PostgreSQL-style $n placeholders, which SQLite also accepts;
// code switches on the dialect only where the databases really differ (job
// acquisition, schema creation, commit-ordered reads).
type Dialect string

// The two dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

func init() {
	// sqlx knows the "sqlite3" driver name only; modernc registers "sqlite".
	sqlx.BindDriver("sqlite", sqlx.DOLLAR)
}

// sqliteDSN builds the DSN of a SQLite file. The writer takes the write lock
// at BEGIN (immediate) so two writers never deadlock on lock upgrades; the
// readers are query-only. synchronous=FULL keeps every commit durable.
func sqliteDSN(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
		q.Set("_txlock", "deferred")
	}
	return "file:" + path + "?" + q.Encode()
}

// openSQLite opens the writer (one connection) and a read pool of readers
// connections over one SQLite file, creating the file and its directory.
func openSQLite(ctx context.Context, path string, readers int) (writer, reader *sqlx.DB, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("create data directory: %w", err)
	}
	writer, err = sqlx.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return nil, nil, err
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	// The first connection creates the file and switches it to WAL before any
	// query-only reader opens it.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, nil, fmt.Errorf("open %s: %w", path, err)
	}
	reader, err = sqlx.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		writer.Close()
		return nil, nil, err
	}
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	return writer, reader, nil
}

// pgTarget is a parsed PostgreSQL connection config plus the schema its
// connections must land in ("" for the set-local shared pool, whose
// connections must land in no schema at all).
type pgTarget struct {
	cfg    pq.Config
	schema string
}

// serverKey identifies the PostgreSQL server of a target, for the per-server
// connection budget and the notification listener.
func (t pgTarget) serverKey() string {
	host := t.cfg.Host
	if host == "" {
		host = "localhost"
	}
	port := t.cfg.Port
	if port == 0 {
		port = 5432
	}
	return host + ":" + strconv.Itoa(int(port))
}

// parsePG parses a DSN, applying pq's environment defaults.
func parsePG(dsn string, password Secret) (pq.Config, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return pq.Config{}, fmt.Errorf("%w: PostgreSQL DSN does not parse: %s", ErrInvalid, redactErr(err, dsn))
	}
	if password.IsSet() {
		cfg.Password = password.Reveal()
	}
	if cfg.ApplicationName == "" {
		cfg.ApplicationName = "tenantflow"
	}
	// Parameters in the Bind message of an unnamed statement: a statement
	// with parameters is one round trip (Parse, Bind, Execute, Sync sent
	// together) instead of two (lib/pq otherwise waits for the Parse's
	// description before it binds). Values still travel as text, []byte
	// as bytes.
	cfg.BinaryParameters = true
	return cfg, nil
}

// pqConfig is lib/pq's parsed connection config.
type pqConfig = pq.Config

// openPG opens a pool whose every new connection is checked to be in the
// expected schema.
func openPG(t pgTarget, maxOpen, maxIdle int) (*sqlx.DB, error) {
	c, err := pgConnector(t)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(&verifyingConnector{inner: c, schema: t.schema})
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxIdle)
	return sqlx.NewDb(db, "postgres"), nil
}

// pgConnector builds the driver connector that sends the target's schema as
// the search_path startup parameter.
func pgConnector(t pgTarget) (*pq.Connector, error) {
	cfg := t.cfg.Clone()
	if cfg.Runtime == nil {
		cfg.Runtime = map[string]string{}
	}
	// The schema travels as a startup parameter, so a connection is in the
	// right schema from its first statement with no extra round trip. An
	// empty search_path makes unqualified names resolve nowhere, which is
	// what the shared set-local pool wants until SET LOCAL runs.
	if t.schema != "" {
		cfg.Runtime["search_path"] = pq.QuoteIdentifier(t.schema)
	} else {
		cfg.Runtime["search_path"] = `""`
	}
	c, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return c, nil
}

// verifyingConnector refuses any new connection whose current_schema() is
// not the expected one. A pooler (or a misconfiguration) that drops the
// search_path startup parameter must never make tenants share a schema.
type verifyingConnector struct {
	inner  driver.Connector
	schema string
}

func (c *verifyingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	got, err := currentSchema(ctx, conn)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("verify schema: %w", err)
	}
	if got != c.schema {
		conn.Close()
		want := c.schema
		if want == "" {
			want = "(none)"
		}
		if got == "" {
			got = "(none: the schema does not exist or search_path was not applied)"
		}
		return nil, fmt.Errorf("%w: expected schema %s, connection is in %s", ErrSchemaMismatch, want, got)
	}
	return withStatementCache(conn), nil
}

func (c *verifyingConnector) Driver() driver.Driver { return c.inner.Driver() }

// currentSchema runs SELECT current_schema() on a raw driver connection.
func currentSchema(ctx context.Context, conn driver.Conn) (string, error) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return "", errors.New("driver connection cannot query")
	}
	rows, err := q.QueryContext(ctx, "SELECT current_schema()", nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil && err != io.EOF {
		return "", err
	}
	switch v := dest[0].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	default:
		return fmt.Sprint(v), nil
	}
}

// quoteIdent quotes a PostgreSQL identifier. Only validated tenant IDs and
// prefixes ever reach it; quoting is the second line of defence.
func quoteIdent(s string) string { return pq.QuoteIdentifier(s) }

// interpretError maps driver errors to the package's sentinels at the
// boundary, keeping the original for the log.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch pqErr.Code {
		case "23505", "40001", "40P01": // unique violation, serialization failure, deadlock
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	msg := err.Error()
	if strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "constraint failed: UNIQUE") {
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}
