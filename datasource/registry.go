package datasource

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/jonboulle/clockwork"
	"golang.org/x/sync/singleflight"
)

// Registry reads tenant configs, users and memberships from the primary
// through a TTL cache. A cached answer is used for RegistryTTL after it was
// fetched (judged by the configured clock, so tests control it); a change
// made on another node is therefore seen within the TTL, sooner when its
// signal arrives. Changes made through this node invalidate at once.
//
// While the primary is unreachable, cached answers keep serving for at most
// MaxStale after they were fetched; Health reports that state.
type Registry struct {
	primary  *Primary
	clock    clockwork.Clock
	ttl      time.Duration
	maxStale time.Duration
	logger   *slog.Logger

	tenants *kind[*Tenant]
	members *kind[[]Membership]
	users   *kind[*User] // by login
	userIDs *kind[*User] // by ID
	groups  *kind[[]string]
	// sessions are console sessions by the hash of their secret.
	sessions *kind[*Session]
	sf       singleflight.Group

	// Invalidation by epochs: an entry loaded at epoch e is void when its key
	// (or everything) was invalidated at an epoch after e. This is immune to
	// ristretto applying a Set asynchronously after a Del.
	epoch    atomic.Uint64
	allEpoch atomic.Uint64

	failingSince atomic.Int64 // unix nanos of the first failed read in a row; 0 when healthy
	staleServed  atomic.Int64

	// fetched, set by tests, runs after a load from the primary is in
	// the cache.
	fetched atomic.Pointer[func()]
}

// kind is one cached kind of answer, keyed by a plain ID (no per-lookup
// string building on the hot path).
type kind[V any] struct {
	name  string
	cache *ristretto.Cache[string, *cached[V]]
	inv   sync.Map // key → uint64 epoch of its last invalidation
}

func newKind[V any](name string, items int64) (*kind[V], error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, *cached[V]]{
		NumCounters:        items * 10,
		MaxCost:            items,
		BufferItems:        64,
		IgnoreInternalCost: true, // cost counts items
	})
	if err != nil {
		return nil, err
	}
	return &kind[V]{name: name, cache: c}, nil
}

// cached is one cache entry: a value or a definite "does not exist", the
// time it was fetched and the epoch its load started at.
type cached[V any] struct {
	v         V
	err       error // only "not found" errors are cached
	fetchedAt time.Time
	epoch     uint64
}

func newRegistry(p *Primary, cfg Config) (*Registry, error) {
	r := &Registry{primary: p, clock: cfg.Clock, ttl: cfg.RegistryTTL, maxStale: cfg.MaxStale, logger: cfg.Logger}
	var err error
	if r.tenants, err = newKind[*Tenant]("tenant", 100_000); err != nil {
		return nil, err
	}
	if r.members, err = newKind[[]Membership]("memberships", 100_000); err != nil {
		return nil, err
	}
	if r.users, err = newKind[*User]("user", 100_000); err != nil {
		return nil, err
	}
	if r.userIDs, err = newKind[*User]("user-id", 100_000); err != nil {
		return nil, err
	}
	if r.groups, err = newKind[[]string]("groups", 100_000); err != nil {
		return nil, err
	}
	if r.sessions, err = newKind[*Session]("session", 100_000); err != nil {
		return nil, err
	}
	return r, nil
}

// Tenant returns a tenant's configuration. Errors: ErrUnknownTenant,
// ErrPrimaryUnavailable (nothing cached is fresh enough).
func (r *Registry) Tenant(ctx context.Context, id string) (*Tenant, error) {
	return lookup(ctx, r, r.tenants, id, (*Primary).GetTenant)
}

// Memberships returns a user's tenant memberships.
func (r *Registry) Memberships(ctx context.Context, userID string) ([]Membership, error) {
	return lookup(ctx, r, r.members, userID, (*Primary).MembershipsOfUser)
}

// UserByLogin returns a user by login, for authentication. Errors:
// ErrNotFound.
func (r *Registry) UserByLogin(ctx context.Context, login string) (*User, error) {
	return lookup(ctx, r, r.users, login, (*Primary).UserByLogin)
}

// UserByID returns a user by ID. Errors: ErrNotFound.
func (r *Registry) UserByID(ctx context.Context, id string) (*User, error) {
	return lookup(ctx, r, r.userIDs, id, (*Primary).UserByID)
}

// GroupsOf returns the IDs of the groups a user belongs to in a tenant.
func (r *Registry) GroupsOf(ctx context.Context, tenant, userID string) ([]string, error) {
	// Tenant IDs never contain "/", so the key splits back at the first.
	return lookup(ctx, r, r.groups, tenant+"/"+userID, groupIDsOf)
}

// groupIDsOf loads the group IDs of the "tenant/user" key.
func groupIDsOf(p *Primary, ctx context.Context, key string) ([]string, error) {
	tenant, userID, _ := strings.Cut(key, "/")
	gs, err := p.ListGroups(ctx, tenant, userID)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(gs))
	for i, g := range gs {
		ids[i] = g.ID
	}
	return ids, nil
}

// isAbsence tells the errors that are answers ("no such thing", cached like
// a value) from failures to reach the primary.
func isAbsence(err error) bool {
	return errors.Is(err, ErrUnknownTenant) || errors.Is(err, ErrNotFound)
}

// loader reads one key from the primary. Loaders are plain functions of
// the primary, not closures, so a cache hit allocates nothing.
type loader[V any] func(p *Primary, ctx context.Context, key string) (V, error)

func lookup[V any](ctx context.Context, r *Registry, k *kind[V], key string, load loader[V]) (V, error) {
	now := r.clock.Now()
	e, ok := k.cache.Get(key)
	valid := ok && !r.void(k, key, e.epoch)
	start := r.epoch.Load()
	if valid {
		age := now.Sub(e.fetchedAt)
		if age < r.ttl {
			if age >= r.ttl-r.ttl/5 {
				// Refresh ahead, in the background: a key in steady use
				// never makes its callers wait for the primary when its
				// TTL runs out (they would all queue behind one load).
				r.sf.DoChan(k.name+"\x00"+key, fetcher(ctx, r, k, key, load, start))
			}
			return e.v, e.err
		}
	}
	res, err, _ := r.sf.Do(k.name+"\x00"+key, fetcher(ctx, r, k, key, load, start))
	if err == nil {
		ne := res.(*cached[V])
		return ne.v, ne.err
	}
	// The primary failed. Serve what we had, within MaxStale.
	r.failingSince.CompareAndSwap(0, now.UnixNano())
	if valid && now.Sub(e.fetchedAt) < r.maxStale {
		r.staleServed.Add(1)
		return e.v, e.err
	}
	var zero V
	if ctx.Err() != nil {
		return zero, ctx.Err()
	}
	return zero, fmt.Errorf("%w: %w", ErrPrimaryUnavailable, err)
}

// fetcher is the load of a key for singleflight, shared by every caller
// waiting on it: one caller giving up must not fail the others.
func fetcher[V any](ctx context.Context, r *Registry, k *kind[V], key string, load loader[V], start uint64) func() (any, error) {
	return func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		v, err := load(r.primary, lctx, key)
		if err != nil && !isAbsence(err) {
			return nil, err
		}
		ne := &cached[V]{v: v, err: err, fetchedAt: r.clock.Now(), epoch: start}
		// ristretto applies a Set in the background: wait for it, so that
		// the lookups right after a load find what it loaded instead of
		// loading it again (a load is rare, a wait is microseconds).
		k.cache.Set(key, ne, 1)
		k.cache.Wait()
		r.failingSince.Store(0)
		if hook := r.fetched.Load(); hook != nil {
			(*hook)()
		}
		return ne, nil
	}
}

func (r *Registry) void(k interface{ invEpoch(string) (uint64, bool) }, key string, epoch uint64) bool {
	if epoch < r.allEpoch.Load() {
		return true
	}
	if v, ok := k.invEpoch(key); ok && epoch < v {
		return true
	}
	return false
}

func (k *kind[V]) invEpoch(key string) (uint64, bool) {
	v, ok := k.inv.Load(key)
	if !ok {
		return 0, false
	}
	return v.(uint64), true
}

func invalidate[V any](r *Registry, k *kind[V], key string) { k.inv.Store(key, r.epoch.Add(1)) }

// InvalidateTenant drops the cached config of a tenant on this node.
func (r *Registry) InvalidateTenant(id string) { invalidate(r, r.tenants, id) }

// InvalidateUser drops the cached account (by login), memberships and
// groups of a user on this node. Pass the login when known; groups are
// invalidated for every tenant.
func (r *Registry) InvalidateUser(userID, login string) {
	invalidate(r, r.members, userID)
	invalidate(r, r.userIDs, userID)
	if login != "" {
		invalidate(r, r.users, login)
	}
	// Group lists are keyed by tenant and user; rather than track them, void
	// every group list (they are cheap to reload).
	r.groups.cache.Clear()
}

// InvalidateAll drops everything cached on this node.
func (r *Registry) InvalidateAll() { r.allEpoch.Store(r.epoch.Add(1)) }

// RegistryHealth describes the registry's view of the primary.
type RegistryHealth struct {
	// PrimaryReachable is false while reads of the primary fail.
	PrimaryReachable bool `json:"primaryReachable"`
	// FailingSince is when reads started failing.
	FailingSince time.Time `json:"failingSince,omitzero"`
	// ServingStale is true while cached answers older than the TTL are
	// served because the primary is unreachable (at most MaxStale).
	ServingStale bool `json:"servingStale"`
	// StaleServed counts answers served stale since start.
	StaleServed int64 `json:"staleServed"`
}

// Health reports whether the primary is reachable and whether stale
// answers are being served.
func (r *Registry) Health() RegistryHealth {
	h := RegistryHealth{PrimaryReachable: true, StaleServed: r.staleServed.Load()}
	if since := r.failingSince.Load(); since != 0 {
		h.PrimaryReachable = false
		h.FailingSince = time.Unix(0, since).UTC()
		h.ServingStale = r.clock.Now().Sub(h.FailingSince) < r.maxStale
	}
	return h
}

// MarkPrimaryHealthy clears the failing state after a successful probe
// (readiness checks call it after a ping succeeds).
func (r *Registry) MarkPrimaryHealthy() { r.failingSince.Store(0) }

func (r *Registry) close() {
	r.tenants.cache.Close()
	r.members.cache.Close()
	r.users.cache.Close()
	r.userIDs.cache.Close()
	r.groups.cache.Close()
	r.sessions.cache.Close()
}
