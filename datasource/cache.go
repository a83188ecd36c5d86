package datasource

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
)

// Caches is one shared ristretto cache for everything cached per tenant
// (parsed definitions, compiled expressions, …). Keys always contain the
// tenant and the tenant's current generation, kept in an atomic map outside
// the cache, so InvalidateTenant voids everything of a tenant in one call
// and no key of tenant A can ever answer a lookup of tenant B, even though
// IDs repeat across tenants.
type Caches struct {
	c    *ristretto.Cache[uint64, *cacheEntry]
	gens sync.Map // tenant → *atomic.Uint64
}

type cacheEntry struct {
	ns, tenant, key string
	gen             uint64
	v               any
}

// NewCaches creates a shared cache holding up to maxItems entries.
func NewCaches(maxItems int64) (*Caches, error) {
	c, err := ristretto.NewCache(&ristretto.Config[uint64, *cacheEntry]{
		NumCounters:        maxItems * 10,
		MaxCost:            maxItems,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	return &Caches{c: c}, nil
}

func (c *Caches) gen(tenant string) *atomic.Uint64 {
	if g, ok := c.gens.Load(tenant); ok {
		return g.(*atomic.Uint64)
	}
	g, _ := c.gens.LoadOrStore(tenant, new(atomic.Uint64))
	return g.(*atomic.Uint64)
}

// InvalidateTenant voids every entry of the tenant in every TenantCache.
func (c *Caches) InvalidateTenant(tenant string) { c.gen(tenant).Add(1) }

// Close releases the cache.
func (c *Caches) Close() { c.c.Close() }

// Wait blocks until buffered writes are applied (ristretto applies Set
// asynchronously); tests use it before a read that must see a write.
func (c *Caches) Wait() { c.c.Wait() }

// TenantCache is a typed view of Caches under one namespace.
type TenantCache[V any] struct {
	caches *Caches
	ns     string
}

// NewTenantCache returns a typed view named ns (for example "definition").
func NewTenantCache[V any](c *Caches, ns string) *TenantCache[V] {
	return &TenantCache[V]{caches: c, ns: ns}
}

// hash returns ristretto's two hashes of (ns, tenant, generation, key)
// without allocating.
func hash(ns, tenant string, gen uint64, key string) (uint64, uint64) {
	var d xxhash.Digest
	d.Reset()
	var sep [9]byte
	_, _ = d.WriteString(ns)
	_, _ = d.Write(sep[:1])
	_, _ = d.WriteString(tenant)
	binary.LittleEndian.PutUint64(sep[1:], gen)
	_, _ = d.Write(sep[:])
	_, _ = d.WriteString(key)
	// The entry stores its full key and is compared on every hit, so a
	// collision can only cost a miss; the second hash just makes that rare.
	f := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		f = (f ^ uint64(key[i])) * 1099511628211
	}
	for i := 0; i < len(tenant); i++ {
		f = (f ^ uint64(tenant[i])) * 1099511628211
	}
	return d.Sum64(), f ^ gen
}

// Get returns the value cached for key in the tenant's current generation.
func (t *TenantCache[V]) Get(tenant, key string) (V, bool) {
	var zero V
	gen := t.caches.gen(tenant).Load()
	k, _ := hash(t.ns, tenant, gen, key)
	e, ok := t.caches.c.Get(k)
	if !ok || e.gen != gen || e.tenant != tenant || e.key != key || e.ns != t.ns {
		return zero, false
	}
	v, ok := e.v.(V)
	return v, ok
}

// Set caches v for key in the tenant's current generation. Like every
// ristretto write it is applied asynchronously and may be dropped under
// contention: a cache, never a store.
func (t *TenantCache[V]) Set(tenant, key string, v V) {
	gen := t.caches.gen(tenant).Load()
	k, _ := hash(t.ns, tenant, gen, key)
	t.caches.c.Set(k, &cacheEntry{ns: t.ns, tenant: tenant, key: key, gen: gen, v: v}, 1)
}

// Delete removes key from the tenant's current generation.
func (t *TenantCache[V]) Delete(tenant, key string) {
	gen := t.caches.gen(tenant).Load()
	k, _ := hash(t.ns, tenant, gen, key)
	t.caches.c.Del(k)
}
