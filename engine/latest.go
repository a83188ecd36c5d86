package engine

import (
	"errors"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

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
	d := l.need.latest[key]
	if d == nil {
		var ok bool
		if d, ok = e.defs.Get(l.u.Tenant, latestKey(key)); !ok {
			return nil, &core.NeedError{LatestKeys: []string{key}}
		}
	}
	for _, g := range l.latest {
		if g.Key == key {
			return d, nil // checked once per command
		}
	}
	l.latest = append(l.latest, store.LatestGuard{Key: key, DefinitionID: d.ID})
	return d, nil
}

// errStaleDefinition says a command was planned on a latest version that
// another deployment replaced (or a suspension): it runs again at once,
// reading the definition from storage.
var errStaleDefinition = errors.New("the latest version of the process changed")
