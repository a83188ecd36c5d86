package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tenantflow/tenantflow/datasource"
)

// The apply step collects its statements (parts) and sends them together.
// On SQLite, which runs in-process, they run in the order collected, those
// without a row count to check as one multi-statement script. On
// PostgreSQL every round trip costs, so the whole unit goes as one
// statement of data-modifying CTEs,
//
//	WITH p0 AS (UPDATE … RETURNING 1), p1 AS (INSERT …), …
//	SELECT (SELECT count(*) FROM p0), <guard>, …
//
// whose single result row carries the row counts the revision checks need
// and the guards' verdicts. The sub-statements of one statement see the
// same snapshot and must not touch the same row twice; a unit touches each
// row once, except that a variable may be deleted and created again under
// the same name, so variable deletions go first, on their own.

// part is one statement of the apply step.
type part struct {
	sql   string // with placeholders $1…; or, for an insert, batch
	args  []any
	batch *batch
	want  int64  // rows it must affect (a revision check), or -1
	what  string // what a failed revision check names
	// clock marks the statement that moves the outbox clock: on
	// PostgreSQL it goes first, as the CTE clk, in the statement that
	// inserts the first events.
	clock bool
}

func (p *part) text(first int) string {
	if p.batch != nil {
		return p.batch.sql(first)
	}
	return string(appendRenumbered(nil, p.sql, first-1))
}

// appendText appends the part's statement with placeholders from first.
func (p *part) appendText(q []byte, first int) []byte {
	if p.batch != nil {
		return p.batch.appendSQL(q, first)
	}
	return appendRenumbered(q, p.sql, first-1)
}

func (p *part) arguments() []any {
	if p.batch != nil {
		return p.batch.args
	}
	return p.args
}

// guard is a condition the unit was planned on, checked when it is applied
// (in the same statement on PostgreSQL): a boolean SQL expression, and the
// error to return (rolling the unit back) when it is false.
type guard struct {
	expr string // with placeholders $1…
	args []any
	fail func() error
	// latest is the process key whose latest version the guard checks.
	latest string
}

// maxArgs keeps one statement under PostgreSQL's 65,535 parameters.
const maxArgs = 30_000

// applier is one apply step: the statements of one or more units of work
// (and what their commands wrote beside them), sent in one transaction.
type applier struct {
	ctx     context.Context
	tx      *datasource.Tx
	pending []part
	guards  []guard
	events  []*Event
}

// apply writes the units of the loaders in tx, with what their commands
// wrote beside them and the guards they were planned on.
func apply(ctx context.Context, tx *datasource.Tx, loaders ...*loader) error {
	a := &applier{ctx: ctx, tx: tx}
	for _, l := range loaders {
		a.pending = append(a.pending, l.pre...)
		a.guards = append(a.guards, l.guards...)
		if err := a.collect(l.u); err != nil {
			return err
		}
	}
	a.appendEvents()
	return a.flush()
}

// flush sends the collected parts and checks the guards.
func (l *applier) flush() error {
	parts, guards := l.pending, l.guards
	l.pending, l.guards = nil, nil
	if l.tx.Dialect() != datasource.Postgres {
		// In-process, a round trip costs nothing, but every statement
		// passed to the driver does (the driver and database/sql's
		// per-call work): parts without a row count to check go as one
		// script, in order.
		for i := 0; i < len(parts); {
			j, args := i, 0
			for j < len(parts) && parts[j].want < 0 && (j == i || args+len(parts[j].arguments()) <= maxArgs) {
				args += len(parts[j].arguments())
				j++
			}
			var err error
			if j-i > 1 {
				err = l.script(parts[i:j], args)
			} else {
				err, j = l.runPart(&parts[i]), i+1
			}
			if err != nil {
				return err
			}
			i = j
		}
		for _, g := range guards {
			var ok bool
			if err := l.tx.GetContext(l.ctx, &ok, `SELECT `+g.expr, g.args...); err != nil {
				return err
			}
			if !ok {
				return g.fail()
			}
		}
		return nil
	}
	// Variable deletions first: a variable deleted and set again in one
	// unit would otherwise collide with itself. The outbox clock and the
	// events lead the rest, so the clock's CTE and the events that read it
	// share the first statement.
	rest := parts[:0:0]
	for i := range parts {
		if strings.HasPrefix(parts[i].sql, "DELETE FROM tf_variable ") {
			if err := l.runPart(&parts[i]); err != nil {
				return err
			}
			continue
		}
		if parts[i].clock || parts[i].batch != nil && parts[i].batch.clocked {
			rest = append(rest, parts[i])
		}
	}
	for i := range parts {
		if !parts[i].clock && (parts[i].batch == nil || !parts[i].batch.clocked) &&
			!strings.HasPrefix(parts[i].sql, "DELETE FROM tf_variable ") {
			rest = append(rest, parts[i])
		}
	}
	for len(rest) > 0 || len(guards) > 0 {
		n, args := 0, 0
		for n < len(rest) && (n == 0 || args+len(rest[n].arguments()) <= maxArgs) {
			args += len(rest[n].arguments())
			n++
		}
		var gs []guard
		if n == len(rest) {
			gs, guards = guards, nil
		}
		if err := l.combined(rest[:n], gs); err != nil {
			return err
		}
		rest = rest[n:]
	}
	return nil
}

// script runs parts as one multi-statement script (SQLite), numbering
// their placeholders across the script.
func (l *applier) script(parts []part, nargs int) error {
	q := make([]byte, 0, 256*len(parts)+8*nargs)
	args := make([]any, 0, nargs)
	for i := range parts {
		q = parts[i].appendText(q, len(args)+1)
		q = append(q, ";\n"...)
		args = append(args, parts[i].arguments()...)
	}
	if _, err := l.tx.ExecContext(l.ctx, string(q), args...); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	return nil
}

// runPart runs one part as a statement of its own.
func (l *applier) runPart(p *part) error {
	res, err := l.tx.ExecContext(l.ctx, p.text(1), p.arguments()...)
	if err != nil {
		if p.batch != nil {
			return fmt.Errorf("insert into %s: %w", p.batch.table, err)
		}
		return err
	}
	if p.want >= 0 {
		if n, _ := res.RowsAffected(); n != p.want {
			return fmt.Errorf("%w: %s was changed concurrently", ErrConflict, p.what)
		}
	}
	return nil
}

// combined runs parts and guards as one PostgreSQL statement.
func (l *applier) combined(parts []part, guards []guard) error {
	if len(parts) == 1 && len(guards) == 0 {
		return l.runPart(&parts[0])
	}
	n, size := 0, 64
	for i := range parts {
		n += len(parts[i].arguments())
		size += 32 + len(parts[i].sql) + 8*len(parts[i].arguments())
		if b := parts[i].batch; b != nil {
			size += 16 * len(b.cols)
		}
	}
	for _, g := range guards {
		n += len(g.args)
		size += len(g.expr) + 8
	}
	q := make([]byte, 0, size)
	args := make([]any, 0, n)
	var checks []int
	clockRel := "tf_outbox_clock" // moved by an earlier statement
	for i := range parts {
		if parts[i].clock {
			clockRel = "clk"
		}
	}
	for i := range parts {
		p := &parts[i]
		if i == 0 {
			q = append(q, "WITH "...)
		} else {
			q = append(q, ", "...)
		}
		if p.clock {
			q = append(q, "clk"...)
		} else {
			q = append(q, 'p')
			q = strconv.AppendInt(q, int64(i), 10)
		}
		if p.batch != nil && p.batch.clocked {
			p.batch.clockRel = clockRel
		}
		q = append(q, " AS ("...)
		q = p.appendText(q, len(args)+1)
		if p.want >= 0 {
			q = append(q, " RETURNING 1"...)
			checks = append(checks, i)
		}
		q = append(q, ')')
		args = append(args, p.arguments()...)
	}
	q = append(q, " SELECT "...)
	cols := 0
	for _, i := range checks {
		if cols > 0 {
			q = append(q, ", "...)
		}
		q = append(q, "(SELECT count(*) FROM p"...)
		q = strconv.AppendInt(q, int64(i), 10)
		q = append(q, ')')
		cols++
	}
	for _, g := range guards {
		if cols > 0 {
			q = append(q, ", "...)
		}
		q = append(q, '(')
		q = appendRenumbered(q, g.expr, len(args))
		q = append(q, ')')
		args = append(args, g.args...)
		cols++
	}
	if cols == 0 {
		q = append(q, '1')
	}

	counts := make([]int64, len(checks))
	oks := make([]bool, len(guards))
	dest := make([]any, 0, cols+1)
	for i := range counts {
		dest = append(dest, &counts[i])
	}
	for i := range oks {
		dest = append(dest, &oks[i])
	}
	if len(dest) == 0 {
		var one int
		dest = append(dest, &one)
	}
	if err := l.tx.QueryRowxContext(l.ctx, string(q), args...).Scan(dest...); err != nil {
		return err
	}
	for k, i := range checks {
		if counts[k] != parts[i].want {
			return fmt.Errorf("%w: %s was changed concurrently", ErrConflict, parts[i].what)
		}
	}
	for i, ok := range oks {
		if !ok {
			return guards[i].fail()
		}
	}
	return nil
}

// appendRenumbered appends an engine statement to q with its $n
// placeholders shifted by offset. Engine SQL holds no string literal with a
// $ sign, so every $ followed by digits is a placeholder.
func appendRenumbered(q []byte, sql string, offset int) []byte {
	if offset == 0 {
		return append(q, sql...)
	}
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		if c != '$' || i+1 >= len(sql) || sql[i+1] < '0' || sql[i+1] > '9' {
			q = append(q, c)
			continue
		}
		j := i + 1
		n := 0
		for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
			n = n*10 + int(sql[j]-'0')
			j++
		}
		q = append(q, '$')
		q = strconv.AppendInt(q, int64(n+offset), 10)
		i = j - 1
	}
	return q
}

// errStaleDefinition says a start was planned on a cached "latest version"
// that another deployment replaced (or a suspension): the command runs
// again at once, reading the definition from storage.
var errStaleDefinition = errors.New("the latest version of the process changed")
