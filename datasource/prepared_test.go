package datasource_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"

	"github.com/lib/pq"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
)

// preparedOnConn counts the statements the connection keeps prepared with
// the given text.
func preparedOnConn(t *testing.T, c *datasource.Conn, text string) int {
	t.Helper()
	var n int
	if err := c.GetContext(context.Background(), &n, `SELECT count(*) FROM pg_prepared_statements WHERE statement = $1`, text); err != nil {
		t.Fatal(err)
	}
	return n
}

// notesConn is a connection of a PostgreSQL tenant with the note table,
// holding the given bodies as notes 1, 2, …, held until the test ends.
func notesConn(t *testing.T, bodies ...string) (context.Context, *datasource.Conn) {
	t.Helper()
	env := dstest.Open(t, dstest.Postgres, nil)
	ds := env.Sources.Tenants
	ctx := env.Tenant(t, "acme")
	createNotes(t, ds, ctx)
	c, release, err := ds.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	for i, body := range bodies {
		if _, err := c.ExecContext(ctx, `INSERT INTO note (id, body) VALUES ($1, $2)`, i+1, body); err != nil {
			t.Fatal(err)
		}
	}
	return ctx, c
}

// A statement whose text repeats is prepared once per connection, from
// its second run, and keeps running when the server forgot it; a
// statement that fails leaves the connection and its statements usable;
// the connection keeps a bounded number of them.
func TestExecPreparedPreparesRepeatedTextsOncePerConnection(t *testing.T) {
	ctx, c := notesConn(t)
	const insert = `INSERT INTO note (id, body) VALUES ($1, $2)`
	for i := range 3 {
		if _, err := c.ExecPrepared(ctx, insert, i, fmt.Sprint("note ", i)); err != nil {
			t.Fatal(err)
		}
		want := 0
		if i > 0 {
			want = 1
		}
		if n := preparedOnConn(t, c, insert); n != want {
			t.Fatalf("after %d runs the connection holds %d prepared copies, want %d", i+1, n, want)
		}
	}

	// A failing run (a duplicate key) is the caller's error; the
	// statement stays and serves the next run.
	var pqErr *pq.Error
	if _, err := c.ExecPrepared(ctx, insert, 1, "again"); !errors.As(err, &pqErr) || pqErr.Code != "23505" {
		t.Fatalf("a duplicate: %v", err)
	}
	if _, err := c.ExecPrepared(ctx, insert, 3, "note 3"); err != nil {
		t.Fatal(err)
	}

	// DEALLOCATE (as a pooler's reset would) makes the server forget it.
	if _, err := c.ExecContext(ctx, `DEALLOCATE ALL`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecPrepared(ctx, insert, 4, "note 4"); err != nil {
		t.Fatalf("after DEALLOCATE ALL: %v", err)
	}
	if n := preparedOnConn(t, c, insert); n != 1 {
		t.Fatalf("after DEALLOCATE ALL and a run: %d prepared copies, want 1", n)
	}
	var rows int
	if err := c.GetContext(ctx, &rows, `SELECT count(*) FROM note`); err != nil || rows != 5 {
		t.Fatalf("notes: %d, %v; want 5", rows, err)
	}

	// Many texts, each run twice: the connection keeps a bounded number.
	for i := range 100 {
		q := fmt.Sprintf(`UPDATE note SET body = $1 WHERE id = %d`, i)
		for range 2 {
			if _, err := c.ExecPrepared(ctx, q, "x"); err != nil {
				t.Fatal(err)
			}
		}
	}
	var held int
	if err := c.GetContext(ctx, &held, `SELECT count(*) FROM pg_prepared_statements`); err != nil {
		t.Fatal(err)
	}
	if held == 0 || held > 64 {
		t.Fatalf("the connection holds %d prepared statements after 100 texts", held)
	}
}

// Many tenants on a shared pool cycle through more texts than a
// connection keeps prepared. The statements it holds stay while they are in
// use, the rest run unprepared (evicting one for each would prepare and
// close a statement on nearly every run); once the hot ones go cold, new
// texts take their place.
func TestAFullStatementCacheKeepsItsStatementsInUse(t *testing.T) {
	ctx, c := notesConn(t)
	// The statements held, each with when it was prepared: a statement
	// closed and prepared again shows as a new one.
	held := func(what string) map[string]bool {
		t.Helper()
		var texts []string
		if err := c.SelectContext(ctx, &texts, `SELECT `+what+` FROM pg_prepared_statements`); err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, q := range texts {
			out[q] = true
		}
		return out
	}
	const prepared = `statement || ' @ ' || prepare_time`
	run := func(prefix string, texts, rounds int) {
		t.Helper()
		for range rounds {
			for i := range texts {
				if _, err := c.ExecPrepared(ctx, fmt.Sprintf(`UPDATE note SET body = $1 WHERE id = %d /* %s */`, i, prefix), "x"); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	// 100 texts in turn, as a hundred tenants' statements come: the
	// connection keeps the same ones from the second round on.
	run("tenants", 100, 2)
	first := held(prepared)
	if len(first) == 0 || len(first) > 64 {
		t.Fatalf("the connection holds %d statements after two rounds of 100 texts", len(first))
	}
	for round := range 3 {
		run("tenants", 100, 1)
		if now := held(prepared); fmt.Sprint(now) != fmt.Sprint(first) {
			t.Fatalf("round %d: the statements held changed while they were in use: %d of %d still held", round+3, common(first, now), len(first))
		}
	}
	// The load moves to other texts: the old statements go cold and the
	// new texts are prepared in their place.
	run("later", 20, 20)
	now := held(`statement`)
	for i := range 20 {
		if q := fmt.Sprintf(`UPDATE note SET body = $1 WHERE id = %d /* later */`, i); !now[q] {
			t.Fatalf("a text run 20 times after the others went cold is not prepared: %s", q)
		}
	}
}

// common counts the keys of a also in b.
func common(a, b map[string]bool) int {
	n := 0
	for k := range a {
		if b[k] {
			n++
		}
	}
	return n
}

// A query of one row runs prepared like a statement: the same row whether
// prepared or not, values the caller keeps after the connection moved on,
// nil with no row, and a run again after the server forgot the statement.
func TestQueryRowPreparedReturnsTheRowPreparedOrNot(t *testing.T) {
	ctx, c := notesConn(t, "first", "second")
	const query = `SELECT id, body, json_build_object('body', body) AS doc, NULL::text AS nothing FROM note WHERE id = $1`
	var kept [][]driver.Value
	for run := range 4 {
		if run == 3 {
			if _, err := c.ExecContext(ctx, `DEALLOCATE ALL`); err != nil {
				t.Fatal(err)
			}
		}
		row, err := c.QueryRowPrepared(ctx, query, run%2+1)
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		kept = append(kept, row)
	}
	if n := preparedOnConn(t, c, query); n != 1 {
		t.Fatalf("the connection holds %d prepared copies, want 1", n)
	}
	for run, row := range kept {
		body := []string{"first", "second"}[run%2]
		want := fmt.Sprintf(`[%d %s {"body" : "%s"} <nil>]`, run%2+1, body, body)
		if got := fmt.Sprintf("%v", show(row)); got != want {
			t.Errorf("run %d read %s, want %s", run+1, got, want)
		}
	}
	row, err := c.QueryRowPrepared(ctx, query, 99)
	if err != nil || row != nil {
		t.Fatalf("no such row: %v, %v", row, err)
	}
}

// A query of many rows runs prepared too and returns every row, each the
// caller's to keep, whether the statement ran prepared or not.
func TestQueryPreparedReturnsEveryRow(t *testing.T) {
	ctx, c := notesConn(t, "first", "second", "third")
	const query = `SELECT n.id, n.body FROM unnest($1::bigint[]) WITH ORDINALITY AS w(id, ord) JOIN note n ON n.id = w.id ORDER BY w.ord`
	var kept [][][]driver.Value
	for run := range 3 {
		rows, err := c.QueryPrepared(ctx, query, pq.Array([]int64{3, 1, 99, 2}))
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		kept = append(kept, rows)
	}
	if n := preparedOnConn(t, c, query); n != 1 {
		t.Fatalf("the connection holds %d prepared copies, want 1", n)
	}
	for run, rows := range kept {
		var got []any
		for _, r := range rows {
			got = append(got, show(r))
		}
		if want := "[[3 third] [1 first] [2 second]]"; fmt.Sprint(got) != want {
			t.Errorf("run %d read %v, want %s", run+1, got, want)
		}
	}
}

// show renders driver values with bytes as text.
func show(row []driver.Value) []any {
	out := make([]any, len(row))
	for i, v := range row {
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		out[i] = v
	}
	return out
}
