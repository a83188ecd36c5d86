package datasource

import (
	"bytes"
	"container/list"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"

	"github.com/lib/pq"
)

// A statement PostgreSQL receives as text is parsed and planned every
// time: for the engine's apply statement, a multi-table statement of
// data-modifying CTEs, that is most of the server's work. A named
// prepared statement is parsed once per connection, and after a few runs
// PostgreSQL reuses its generic plan. database/sql keeps prepared
// statements per pool, not per connection handed out with Conn, so the
// tenant pools' connections keep their own: preparingConn, a lib/pq
// connection with a small cache of the statements it prepared.

// pqConn is what database/sql uses of a lib/pq connection.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// Bounds of a connection's statement cache. A text is prepared the second
// time the connection runs it, so that texts run once (a rare command's
// shape) cost no extra round trip and take no place. A full cache makes
// room only by a statement not run for coldAfter runs of the connection:
// many tenants on a shared pool cycle through more texts than it holds,
// and evicting the least recently used one for each of them would prepare
// and close a statement (two more round trips) on nearly every run, where
// running the newcomer unprepared costs none and keeps the hot ones.
const (
	preparedPerConn = 48
	seenPerConn     = 256
	coldAfter       = 4 * preparedPerConn
)

// preparingConn is a lib/pq connection that keeps the statements run
// through execPrepared prepared for its life, least recently used first
// out.
type preparingConn struct {
	pqConn
	stmts map[string]*list.Element // of *preparedStmt
	lru   list.List
	seen  map[string]struct{}
	runs  uint64 // texts run through the cache
}

type preparedStmt struct {
	query string
	stmt  driver.Stmt
	used  uint64 // runs when last run
}

// withStatementCache wraps c when it is a lib/pq connection.
func withStatementCache(c driver.Conn) driver.Conn {
	if pc, ok := c.(pqConn); ok {
		return &preparingConn{pqConn: pc, stmts: map[string]*list.Element{}, seen: map[string]struct{}{}}
	}
	return c
}

// execPrepared runs query with args: on a statement the connection
// prepared before, or, the first time it sees query, as a one-off.
func (c *preparingConn) execPrepared(ctx context.Context, query string, args []any) (driver.Result, error) {
	nv, err := c.namedValues(args)
	if err != nil {
		return nil, err
	}
	var res driver.Result
	err = c.onStatement(ctx, query, func(st driver.Stmt) (err error) {
		if st == nil {
			res, err = c.ExecContext(ctx, query, nv)
		} else {
			res, err = st.(driver.StmtExecContext).ExecContext(ctx, nv)
		}
		return err
	})
	return res, err
}

// queryPrepared runs query with args as execPrepared does and returns
// its rows, each value as the driver gave it, bytes copied out of the
// connection's buffer.
func (c *preparingConn) queryPrepared(ctx context.Context, query string, args []any) ([][]driver.Value, error) {
	nv, err := c.namedValues(args)
	if err != nil {
		return nil, err
	}
	var out [][]driver.Value
	err = c.onStatement(ctx, query, func(st driver.Stmt) error {
		var rows driver.Rows
		var err error
		if st == nil {
			rows, err = c.QueryContext(ctx, query, nv)
		} else {
			rows, err = st.(driver.StmtQueryContext).QueryContext(ctx, nv)
		}
		if err != nil {
			return err
		}
		out = out[:0] // a run again after a stale statement starts over
		for {
			vals := make([]driver.Value, len(rows.Columns()))
			err := rows.Next(vals)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = rows.Close()
				return err
			}
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					vals[i] = bytes.Clone(b)
				}
			}
			out = append(out, vals)
		}
		return rows.Close()
	})
	return out, err
}

// onStatement runs run on query's prepared statement (nil while the
// connection saw query only once: run it unprepared). When the server no
// longer has the statement, or its plan cannot be reused (DISCARD, a
// changed table), it prepares query afresh and runs again.
func (c *preparingConn) onStatement(ctx context.Context, query string, run func(st driver.Stmt) error) error {
	st, err := c.statement(ctx, query)
	if err != nil {
		return err
	}
	if st == nil {
		return run(nil)
	}
	err = run(st.stmt)
	if stalePrepared(err) {
		c.forget(query)
		if st, err = c.prepare(ctx, query); err != nil {
			return err
		}
		err = run(st.stmt)
	}
	return err
}

// statement returns query's prepared statement, preparing it the second
// time query is seen, or nil while it was seen only once.
func (c *preparingConn) statement(ctx context.Context, query string) (*preparedStmt, error) {
	c.runs++
	if e, ok := c.stmts[query]; ok {
		c.lru.MoveToFront(e)
		st := e.Value.(*preparedStmt)
		st.used = c.runs
		return st, nil
	}
	if _, ok := c.seen[query]; !ok {
		if len(c.seen) >= seenPerConn {
			clear(c.seen)
		}
		c.seen[query] = struct{}{}
		return nil, nil
	}
	if c.lru.Len() >= preparedPerConn && c.runs-c.lru.Back().Value.(*preparedStmt).used <= coldAfter {
		return nil, nil // full of statements in use: this one runs unprepared
	}
	delete(c.seen, query)
	return c.prepare(ctx, query)
}

// prepare prepares query on the connection and caches it.
func (c *preparingConn) prepare(ctx context.Context, query string) (*preparedStmt, error) {
	s, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st := &preparedStmt{query: query, stmt: s, used: c.runs}
	c.stmts[query] = c.lru.PushFront(st)
	if c.lru.Len() > preparedPerConn {
		old := c.lru.Back().Value.(*preparedStmt)
		c.forget(old.query)
	}
	return st, nil
}

// forget closes query's statement on the server and drops it.
func (c *preparingConn) forget(query string) {
	e, ok := c.stmts[query]
	if !ok {
		return
	}
	c.lru.Remove(e)
	delete(c.stmts, query)
	// A close that fails leaves the statement on the server until the
	// connection ends; a broken connection shows on its next use.
	_ = e.Value.(*preparedStmt).stmt.Close()
}

// namedValues converts args as database/sql would for this driver.
func (c *preparingConn) namedValues(args []any) ([]driver.NamedValue, error) {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		err := c.CheckNamedValue(&nv[i])
		if errors.Is(err, driver.ErrSkip) {
			nv[i].Value, err = driver.DefaultParameterConverter.ConvertValue(a)
		}
		if err != nil {
			return nil, err
		}
	}
	return nv, nil
}

// stalePrepared reports whether err says a prepared statement cannot run
// as prepared: it does not exist (26000) or its cached plan no longer
// fits (0A000, "cached plan must not change result type").
func stalePrepared(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "26000" || pqErr.Code == "0A000")
}

// ExecPrepared runs one statement on the connection, as a statement the
// connection keeps prepared when it runs the same text again (on
// PostgreSQL: no parse, and a reused plan). Meant for statements whose
// text repeats while their values change; values are parameters, never
// text. Statements are cached by their whole text, so on a shared pool a
// schema-qualified text is one tenant's alone; an unqualified one is
// planned again by PostgreSQL when the connection's search_path changed
// since it was prepared, so it never reaches the tables of the tenant it
// was first run for. Elsewhere it is ExecContext.
func (c *Conn) ExecPrepared(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res driver.Result
	cached, err := c.onStatementCache(func(pc *preparingConn) (err error) {
		res, err = pc.execPrepared(ctx, query, args)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !cached {
		return c.Conn.ExecContext(ctx, query, args...)
	}
	return res, nil
}

// onStatementCache runs fn on the connection's statement cache; cached
// is false, and fn not run, on a connection that has none (not lib/pq's).
func (c *Conn) onStatementCache(fn func(pc *preparingConn) error) (cached bool, err error) {
	err = c.Conn.Raw(func(dc any) error {
		pc, ok := dc.(*preparingConn)
		if !ok {
			return nil
		}
		cached = true
		return fn(pc)
	})
	return cached, err
}

// QueryPrepared runs a query the way ExecPrepared runs a statement, and
// returns its rows, each value as the driver gives it (on PostgreSQL:
// int64, float64, bool, string for text and []byte for json and other
// types; nil for NULL).
func (c *Conn) QueryPrepared(ctx context.Context, query string, args ...any) ([][]driver.Value, error) {
	var out [][]driver.Value
	cached, err := c.onStatementCache(func(pc *preparingConn) (err error) {
		out, err = pc.queryPrepared(ctx, query, args)
		return err
	})
	if cached || err != nil {
		return out, err
	}
	rows, err := c.Conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]driver.Value, len(vals))
		for i, v := range vals {
			row[i] = v
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, rows.Close()
}

// QueryRowPrepared is QueryPrepared for a query of one row: its values,
// or nil when the query returned no row.
func (c *Conn) QueryRowPrepared(ctx context.Context, query string, args ...any) ([]driver.Value, error) {
	rows, err := c.QueryPrepared(ctx, query, args...)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}
