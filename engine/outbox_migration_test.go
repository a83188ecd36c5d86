package engine_test

import (
	"context"
	"database/sql"
	"net/url"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/migrations"
)

// TestOutboxCursorsOfTheTransactionIDVersionStillResolve takes a
// PostgreSQL tenant back to the outbox that ordered events by transaction
// ID, writes events and a consumer position the old way, and migrates
// forward: the stored position, and a cursor a client kept, continue
// exactly after the events they had passed, and new events follow.
func TestOutboxCursorsOfTheTransactionIDVersionStillResolve(t *testing.T) {
	t.Parallel()
	dstest.RequirePostgres(t)
	s := (&world{ds: dstest.Open(t, dstest.Postgres, nil), kind: dstest.Postgres}).scenario(t)
	tn, err := s.ds.Sources.Lifecycle.Get(context.Background(), s.tenant)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(s.ds.URL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", tn.Storage.Schema)
	u.RawQuery = q.Encode()
	db := dstest.OpenSQL(t, u.String())
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.Tenant(migrations.Postgres),
		goose.WithTableName("tf_schema_version"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.DownTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// Three transactions of the old kind, one event each.
	for i := int64(1); i <= 3; i++ {
		if _, err := db.Exec(`INSERT INTO tf_outbox (id, type, at) VALUES ($1, 'process-started', 0)`, i); err != nil {
			t.Fatal(err)
		}
	}
	var legacy []string
	if err := selectStrings(db, &legacy, `SELECT 'p' || tx_id::text || '.' || seq FROM tf_outbox ORDER BY tx_id, seq`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO tf_outbox_consumer (name, position, updated_at) VALUES ('shipper', $1, 0)`, legacy[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	// No pooled connection may keep a plan of the old table.
	if err := s.ds.Sources.Tenants.Evict(ctx, s.tenant); err != nil {
		t.Fatal(err)
	}

	st, err := s.ConsumerState(s.ctx, "shipper")
	if err != nil || st.Backlog != 2 {
		t.Fatalf("the migrated consumer position %+v (%v), want 2 events after it", st, err)
	}
	b, err := s.ReadEvents(s.ctx, &engine.ReadEventsParams{After: engine.Cursor(legacy[1])})
	if err != nil || len(b.Events) != 1 || b.Events[0].ID != 3 {
		t.Fatalf("after the client's old cursor %q: %+v %v, want event 3 alone", legacy[1], b, err)
	}
	s.deploy("start-none.bpmn")
	inst := s.start("start_none", nil)
	b, err = s.ReadEvents(s.ctx, &engine.ReadEventsParams{After: st.Position})
	if err != nil || len(b.Events) < 3 || b.Events[0].ID != 2 || b.Events[1].ID != 3 || b.Events[2].InstanceID != inst.ID {
		t.Fatalf("after the migrated position: %+v %v, want events 2, 3, then the new instance's", b, err)
	}
}

func selectStrings(db *sql.DB, dst *[]string, q string) error {
	rows, err := db.Query(q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return err
		}
		*dst = append(*dst, v)
	}
	return rows.Err()
}
