// Package sqlstore keeps the engine's state in each tenant's SQL storage,
// PostgreSQL or SQLite, through the tenant-aware datasource: it implements
// store.Store over the tenant tables of migrations/tenant. It is the only
// part of the engine that speaks SQL, and the only one that knows which
// dialect a tenant's storage speaks: what differs between the two (the
// apply step's statements, job acquisition, outbox positions) sits behind
// the dialect type of dialect.go.
//
// # Round trips
//
// Every read is one short read-only transaction; Apply is one short
// read-write transaction. On PostgreSQL a load by ID is one prepared
// statement whose single row carries each table's rows as JSON, and an
// apply step is one statement of data-modifying CTEs whose result row
// carries the revision checks and guards: a command that completes a task
// costs two exchanges. On SQLite, in-process, the statements go as one
// script.
package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jmoiron/sqlx"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Store is the SQL store. It holds no state of its own beyond the
// datasource and a count: safe for concurrent use.
type Store struct {
	ds *datasource.TenantAwareDataSource
	// roundTrips counts the exchanges with the database: each statement,
	// and the BEGIN and COMMIT of each transaction.
	roundTrips atomic.Int64
	// rowsRead counts the rows the loads by ID read.
	rowsRead atomic.Int64
}

// RoundTrips returns how many exchanges with the databases the store made
// so far (statements, and the BEGIN and COMMIT of each transaction), for
// benchmarks that report what a command costs.
func (s *Store) RoundTrips() int64 { return s.roundTrips.Load() }

// RowsRead returns how many rows the loads by ID read so far on
// PostgreSQL: what a command costs beyond its round trips.
func (s *Store) RowsRead() int64 { return s.rowsRead.Load() }

// dbtx is what the store's statements go through: a transaction, or a
// connection whose one statement commits by itself. It counts them, and
// on a connection of a shared pool (see datasource.InStatement) it
// qualifies the tenant's tables: every name the store's SQL gives them
// starts with "tf_", and nothing else in it does.
type dbtx struct {
	datasource.Queryer
	n         *atomic.Int64
	qualifier string
}

func (q *dbtx) sql(query string) string {
	q.n.Add(1)
	if q.qualifier == "" {
		return query
	}
	return strings.ReplaceAll(query, "tf_", q.qualifier+"tf_")
}

func (q *dbtx) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	return q.Queryer.GetContext(ctx, dest, q.sql(query), args...)
}

func (q *dbtx) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	return q.Queryer.SelectContext(ctx, dest, q.sql(query), args...)
}

func (q *dbtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.Queryer.ExecContext(ctx, q.sql(query), args...)
}

func (q *dbtx) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	return q.Queryer.QueryRowxContext(ctx, q.sql(query), args...)
}

// execPrepared runs a statement whose text repeats while its values
// change (the apply step's): outside a transaction on PostgreSQL, as a
// statement the connection keeps prepared (see datasource.Conn.ExecPrepared);
// elsewhere as ExecContext.
func (q *dbtx) execPrepared(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if c, ok := q.Queryer.(*datasource.Conn); ok && c.Dialect() == datasource.Postgres {
		return c.ExecPrepared(ctx, q.sql(query), args...)
	}
	return q.ExecContext(ctx, query, args...)
}

// selectEach sends statements as one message of the simple protocol (so
// with no arguments: one exchange, however many statements) and scans the
// result of each statement that returns rows into the next of dests.
func (q *dbtx) selectEach(ctx context.Context, statements string, dests ...any) error {
	rows, err := q.Queryer.QueryxContext(ctx, q.sql(statements))
	if err != nil {
		return err
	}
	defer rows.Close()
	for i, d := range dests {
		if i > 0 && !rows.NextResultSet() {
			if err := rows.Err(); err != nil {
				return err
			}
			return fmt.Errorf("statement %d of %d returned no rows to scan", i+1, len(dests))
		}
		if err := sqlx.StructScan(rows, d); err != nil {
			return err
		}
	}
	return rows.Close()
}

// with counts a transaction's BEGIN and COMMIT and wraps q.
func (s *Store) with(q datasource.Queryer, fn func(tx *dbtx) error) error {
	if q.InTransaction() {
		s.roundTrips.Add(2)
	}
	return fn(&dbtx{Queryer: q, n: &s.roundTrips, qualifier: q.Qualifier()})
}

var _ store.Store = (*Store)(nil)

// New returns a store over the tenants' storage of ds.
func New(ds *datasource.TenantAwareDataSource) *Store { return &Store{ds: ds} }

// read runs fn in a read-only transaction of the tenant in ctx.
func (s *Store) read(ctx context.Context, fn func(tx *dbtx) error) error {
	return storageError(s.ds.InReadTx(ctx, func(tx *datasource.Tx) error { return s.with(tx, fn) }))
}

// write runs fn in a read-write transaction of the tenant in ctx.
func (s *Store) write(ctx context.Context, fn func(tx *dbtx) error) error {
	return storageError(s.ds.InTx(ctx, func(tx *datasource.Tx) error { return s.with(tx, fn) }))
}

// statement runs fn, which sends one statement, with no transaction around
// it where the storage allows (see datasource.InStatement).
func (s *Store) statement(ctx context.Context, fn func(tx *dbtx) error) error {
	return storageError(s.ds.InStatement(ctx, func(q datasource.Queryer) error { return s.with(q, fn) }))
}

// storageError translates the datasource's errors into the engine's own,
// keeping the datasource's error (and message) underneath: a unique
// violation is core.ErrConflict, a missing row core.ErrNotFound.
func storageError(err error) error {
	var kind error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, datasource.ErrConflict):
		kind = core.ErrConflict
	case errors.Is(err, datasource.ErrNotFound):
		kind = core.ErrNotFound
	case errors.Is(err, datasource.ErrInvalid):
		kind = core.ErrInvalid
	default:
		return err
	}
	if errors.Is(err, kind) {
		return err
	}
	return translated{err, kind}
}

// translated is a datasource error that also matches the engine's error
// of the same meaning.
type translated struct{ err, kind error }

func (t translated) Error() string   { return t.err.Error() }
func (t translated) Unwrap() []error { return []error{t.err, t.kind} }

// queryRowPrepared runs a one-row query whose text repeats while its
// values change, as execPrepared runs a statement, and returns the row's
// values (nil with no row). It needs a connection with no transaction
// around it: the statement storage's, on PostgreSQL.
func (q *dbtx) queryRowPrepared(ctx context.Context, query string, args ...any) ([]driver.Value, error) {
	c, ok := q.Queryer.(*datasource.Conn)
	if !ok {
		return nil, fmt.Errorf("sqlstore: a prepared one-row query needs a connection outside a transaction")
	}
	return c.QueryRowPrepared(ctx, q.sql(query), args...)
}

// queryPrepared is queryRowPrepared for a query of many rows.
func (q *dbtx) queryPrepared(ctx context.Context, query string, args ...any) ([][]driver.Value, error) {
	c, ok := q.Queryer.(*datasource.Conn)
	if !ok {
		return nil, fmt.Errorf("sqlstore: a prepared query needs a connection outside a transaction")
	}
	return c.QueryPrepared(ctx, q.sql(query), args...)
}
