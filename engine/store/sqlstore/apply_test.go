package sqlstore

import "testing"

func TestAppendRenumberedShiftsEveryPlaceholder(t *testing.T) {
	for _, c := range []struct {
		sql    string
		offset int
		want   string
	}{
		{`UPDATE t SET a = $1 WHERE id = $2 AND rev = $10`, 0, `UPDATE t SET a = $1 WHERE id = $2 AND rev = $10`},
		{`UPDATE t SET a = $1 WHERE id = $2 AND rev = $10`, 99, `UPDATE t SET a = $100 WHERE id = $101 AND rev = $109`},
		{`SELECT $ , $x, $9`, 1, `SELECT $ , $x, $10`},
		{`$1`, 7, `$8`},
	} {
		if got := string(appendRenumbered([]byte("> "), c.sql, c.offset)); got != "> "+c.want {
			t.Errorf("renumber(%q, %d) = %q, want %q", c.sql, c.offset, got, "> "+c.want)
		}
	}
}

func TestBatchSQLNumbersRowsFromFirst(t *testing.T) {
	b := &batch{table: "t", cols: []string{"a", "b"}}
	b.add(1, 2)
	b.add(3, 4)
	if got, want := b.sql(5), "INSERT INTO t (a, b) VALUES ($5, $6), ($7, $8)"; got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}
