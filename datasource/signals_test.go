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
