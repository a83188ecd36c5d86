package datasource_test

import (
	"context"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
)

// await returns the first signal on ch that matches, or fails after a
// generous bound (signals cross a real PostgreSQL connection).
func await(t *testing.T, ch <-chan datasource.Signal, match func(datasource.Signal) bool) datasource.Signal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		select {
		case s := <-ch:
			if match(s) {
				return s
			}
		case <-ctx.Done():
			t.Fatal("the signal never arrived")
		}
	}
}

func TestSignalsReachThisNodeAtOnceAndOtherNodesThroughPostgreSQL(t *testing.T) {
	t.Parallel()
	dstest.RequirePostgres(t)
	proxy, url := dstest.NewProxy(t, dstest.CreateDatabase(t))
	open := func() *datasource.Sources {
		src, err := datasource.Open(context.Background(), datasource.Config{PrimaryURL: url, DataDir: t.TempDir(), Logger: dstest.Quiet()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { src.Close() })
		return src
	}
	a, b := open(), open()
	local := make(chan datasource.Signal, 16)
	remote := make(chan datasource.Signal, 16)
	a.Signals.Subscribe(datasource.TopicJobs, func(s datasource.Signal) { local <- s })
	b.Signals.Subscribe(datasource.TopicJobs, func(s datasource.Signal) { remote <- s })

	due := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a.Signals.Notify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: "acme", DueAt: due})
	// Delivered to this node's subscribers before Notify returned.
	select {
	case s := <-local:
		if s.Tenant != "acme" || s.Remote {
			t.Fatalf("local signal %+v", s)
		}
	default:
		t.Fatal("local subscriber not called synchronously")
	}
	s := await(t, remote, func(s datasource.Signal) bool { return s.Tenant == "acme" })
	if !s.Remote || !s.DueAt.Equal(due) {
		t.Fatalf("remote signal %+v", s)
	}

	// Cut every connection: after the listener reconnects, subscribers hear
	// that anything may have changed, since notifications may have been
	// lost meanwhile.
	proxy.Stop()
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	await(t, remote, func(s datasource.Signal) bool { return s.All })
}

// A wake-up hint only ever moves earlier, and one already as early is not
// written again: while a tenant's events keep coming and nobody has taken
// them yet, every burst of commits signals them, and must not cost the
// primary a write each time.
func TestLowerHintsMovesAHintEarlierAndNeverRewritesOneAsEarly(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		ds := dstest.Open(t, kind, nil)
		ds.Tenant(t, "acme")
		p := ds.Sources.Primary
		ctx := context.Background()
		at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		lower := func(tenant string, due time.Time) {
			t.Helper()
			if err := p.LowerHints(ctx, []datasource.Hint{{Tenant: tenant, Topic: datasource.TopicEvents, DueAt: due}}); err != nil {
				t.Fatal(err)
			}
		}
		hint := func() time.Time {
			t.Helper()
			hs, err := p.DueHints(ctx, datasource.TopicEvents, at.Add(time.Hour), 10)
			if err != nil || len(hs) != 1 || hs[0].Tenant != "acme" {
				t.Fatalf("hints %+v %v", hs, err)
			}
			return hs[0].DueAt
		}
		version := func() string { return "" }
		if kind == dstest.Postgres {
			db := dstest.OpenSQL(t, ds.URL)
			version = func() string {
				t.Helper()
				var v string
				if err := db.QueryRow(`SELECT xmin::text FROM tf_tenant_hint WHERE tenant_id = 'acme'`).Scan(&v); err != nil {
					t.Fatal(err)
				}
				return v
			}
		}

		lower("acme", at.Add(time.Minute))
		lower("gone", at) // no such tenant: ignored
		if got := hint(); !got.Equal(at.Add(time.Minute)) {
			t.Fatalf("first hint %v", got)
		}
		written := version()
		lower("acme", at.Add(2*time.Minute))
		lower("acme", at.Add(time.Minute))
		if got := hint(); !got.Equal(at.Add(time.Minute)) {
			t.Fatalf("a later hint moved the hint to %v", got)
		}
		if v := version(); v != written {
			t.Fatalf("a hint as early was written again (row version %s, was %s)", v, written)
		}
		lower("acme", at)
		if got := hint(); !got.Equal(at) {
			t.Fatalf("an earlier hint left the hint at %v", got)
		}
	})
}
