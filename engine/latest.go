package engine

import (
	"context"
	"github.com/tenantflow/tenantflow/engine/core"
	"strconv"

	"github.com/tenantflow/tenantflow/datasource"
)

// latestKey is the cache key of "the latest version of a process key" in
// the definition cache, beside the compiled definitions keyed by their ID.
func latestKey(key string) string { return "latest:" + key }

// latest resolves the latest version of key for a command: the version
// the command read, or the one this node last resolved, from the cache,
// without a query; neither is a *core.NeedError, and the command reads it
// (readLatest). Either way it guards the unit: when it is applied — in the
// same statement as the unit's inserts on PostgreSQL — the version must
// still be the latest of its key and not suspended. A deployment or
// suspension committed through any node before then fails the guard; the
// command then runs again, reading the definition from storage. A start
// therefore never uses a version older than one committed before it, and
// usually costs no round trip of its own.
func (e *Engine) latest(l *loader, key string) (*core.Deployed, error) {
	tenant := l.u.Tenant
	d := l.need.latest[key]
	if d == nil {
		var ok bool
		if d, ok = e.defs.Get(tenant, latestKey(key)); !ok {
			return nil, &core.NeedError{LatestKeys: []string{key}}
		}
	}
	for _, g := range l.guards {
		if g.latest == key {
			return d, nil // checked once per command
		}
	}
	l.guards = append(l.guards, guard{
		latest: key,
		expr: `EXISTS (SELECT 1 FROM tf_definition WHERE id = $1 AND suspended = FALSE
			AND version = (SELECT MAX(version) FROM tf_definition WHERE def_key = $2))`,
		args: []any{d.ID, key},
		fail: func() error {
			e.defs.Delete(tenant, latestKey(key))
			return errStaleDefinition
		},
	})
	return d, nil
}

// readLatest reads the latest version of key from storage, and caches it
// unless it is suspended.
func (e *Engine) readLatest(l *loader, key string) (*core.Deployed, error) {
	var d *core.Deployed
	err := l.read(func(tx *datasource.Tx) error {
		var err error
		d, err = e.latestTx(l.ctx, tx, key)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !d.Suspended {
		e.defs.Set(l.u.Tenant, latestKey(key), d)
	}
	return d, nil
}

// definitionForLoad returns the compiled definition of a loaded instance.
// Only its model is used (a loaded instance runs whatever the suspension
// state of its definition), and the model of a definition ID never changes,
// so a cached one is used without a query.
func (e *Engine) definitionForLoad(ctx context.Context, tx *datasource.Tx, id int64) (*core.Deployed, error) {
	if d, ok := e.defs.Get(tx.Tenant(), strconv.FormatInt(id, 10)); ok {
		return d, nil
	}
	return e.definitionByIDTx(ctx, tx, id)
}
