package engine

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/tenantflow/tenantflow/engine/bpmn"
	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/model"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Compiled definitions are cached per tenant, by their immutable ID
// (definitionKey); the latest version of each key by latestKey, beside
// them. Only the suspended flag of a definition can change: it is re-read
// whenever it matters (a start by ID, a timer start), never taken from the
// cache.

func definitionKey(id int64) string { return strconv.FormatInt(id, 10) }

// latestKey is the cache key of "the latest version of a process key".
func latestKey(key string) string { return "latest:" + key }

// definitionByID returns a definition with its current suspension state:
// the row is read, the model comes from the cache (or is compiled).
// Errors: ErrNotFound.
func (e *Engine) definitionByID(ctx context.Context, tenant string, id int64) (*core.Deployed, error) {
	return e.definition(ctx, tenant, &store.DefinitionParams{ID: id})
}

// readLatest reads the latest version of a key, and caches it unless it is
// suspended.
func (e *Engine) readLatest(ctx context.Context, tenant, key string) (*core.Deployed, error) {
	d, err := e.definition(ctx, tenant, &store.DefinitionParams{LatestKey: key})
	if err != nil {
		return nil, err
	}
	if !d.Suspended {
		e.defs.Set(tenant, latestKey(key), d)
	}
	return d, nil
}

// definition reads a definition's row and pairs it with its compiled
// model, compiling the resource on a cache miss.
func (e *Engine) definition(ctx context.Context, tenant string, p *store.DefinitionParams) (*core.Deployed, error) {
	src, err := e.st.Definition(ctx, p)
	if err != nil {
		return nil, err
	}
	return e.deployed(ctx, tenant, &src.ProcessDefinition)
}

// deployed pairs a definition's row, as just read, with its compiled
// model: from the cache, or read with its resource and compiled on a miss.
// The row's suspension state is the one returned.
func (e *Engine) deployed(ctx context.Context, tenant string, row *core.ProcessDefinition) (*core.Deployed, error) {
	d, ok := e.defs.Get(tenant, definitionKey(row.ID))
	if !ok {
		src, err := e.st.Definition(ctx, &store.DefinitionParams{ID: row.ID, WithContent: true})
		if err != nil {
			return nil, err
		}
		if d, err = e.compileSource(src); err != nil {
			return nil, err
		}
	}
	if d.Suspended != row.Suspended {
		c := *d
		c.Suspended = row.Suspended
		d = &c
	}
	return d, nil
}

// compileSource compiles a stored definition and caches it.
func (e *Engine) compileSource(src *store.DefinitionSource) (*core.Deployed, error) {
	ms, err := e.compile(src.ResourceName, src.Content)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Key == src.Key {
			d := &core.Deployed{ProcessDefinition: src.ProcessDefinition, Model: m}
			e.defs.Set(src.Tenant, definitionKey(src.ID), d)
			return d, nil
		}
	}
	return nil, fmt.Errorf("resource %q no longer defines process %q", src.ResourceName, src.Key)
}

// compile parses and compiles a BPMN resource; every problem comes in one
// *model.Error with element IDs and lines.
func (e *Engine) compile(name string, content []byte) ([]*model.Definition, error) {
	defs, err := bpmn.ParseBytes(content, bpmn.Options{MaxBytes: e.opts.MaxResourceBytes})
	if err != nil {
		var pe *bpmn.ParseError
		if errors.As(err, &pe) {
			me := &model.Error{}
			for _, p := range pe.Problems {
				me.Problems = append(me.Problems, model.Problem{Resource: name, ElementID: p.ElementID, Line: p.Line, Message: p.Message})
			}
			return nil, me
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
	}
	return model.Compile(defs, model.Options{Resource: name})
}
