package dstest

import (
	"context"
	"database/sql"
	"testing"
	"time"
)

func TestProxyCutsOpenConnections(t *testing.T) {
	RequirePostgres(t)
	p, url := NewProxy(t, AdminURL())
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	p.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.PingContext(ctx); err == nil {
		t.Fatal("a connection survived Stop")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("after Start: %v", err)
	}
}
