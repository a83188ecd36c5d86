package datasource

import (
	"context"
	"database/sql"
)

// SetCreateStepHook lets tests abort tenant creation after a step, as a
// crash would.
func SetCreateStepHook(l *Lifecycle, f func(step string) error) { l.stepHook = f }

// SetFetchHook makes the registry call f after each load from the primary
// landed in its cache (a background refresh included).
func SetFetchHook(r *Registry, f func()) { r.fetched.Store(&f) }

// OpenPGForTest opens a pool that sends search_path=sent but expects every
// connection to be in schema want, to test the verification.
func OpenPGForTest(dsn, sent, want string) (*sql.DB, error) {
	cfg, err := parsePG(dsn, Secret{})
	if err != nil {
		return nil, err
	}
	c, err := newTestConnector(cfg, sent, want)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func newTestConnector(cfg pqConfig, sent, want string) (*verifyingConnector, error) {
	inner, err := pgConnector(pgTarget{cfg: cfg, schema: sent})
	if err != nil {
		return nil, err
	}
	return &verifyingConnector{inner: inner, schema: want}, nil
}

// PingTenant checks a tenant's pool can serve a transaction.
func PingTenant(ctx context.Context, ds *TenantAwareDataSource) error {
	return ds.InReadTx(ctx, func(*Tx) error { return nil })
}
