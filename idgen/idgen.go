package idgen

import (
	"context"
	"fmt"
	"sync"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/security"
)

// DefaultBlockSize is how many IDs one refill takes.
const DefaultBlockSize = 1000

// Generator hands out IDs per tenant.
type Generator struct {
	ds        *datasource.TenantAwareDataSource
	blockSize int64

	mu      sync.Mutex
	tenants map[string]*blocks
}

// blocks are the ID ranges a node holds for one tenant.
type blocks struct {
	mu        sync.Mutex
	ranges    []span // ranges[0] is consumed first
	refilling chan struct{}
}

type span struct{ next, end int64 } // [next, end)

// New returns a generator refilling from ds in blocks of blockSize
// (DefaultBlockSize when ≤ 0).
func New(ds *datasource.TenantAwareDataSource, blockSize int64) *Generator {
	if blockSize <= 0 {
		blockSize = DefaultBlockSize
	}
	return &Generator{ds: ds, blockSize: blockSize, tenants: map[string]*blocks{}}
}

func (g *Generator) blocksOf(tenant string) *blocks {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.tenants[tenant]
	if b == nil {
		b = &blocks{}
		g.tenants[tenant] = b
	}
	return b
}

// Next returns a new ID for the tenant in ctx, refilling when the block is
// used up. Do not call it inside a transaction on the same tenant (see the
// package documentation). Errors: those of the datasource (ErrNoTenant, …).
func (g *Generator) Next(ctx context.Context) (int64, error) {
	tenant, err := security.MustTenant(ctx)
	if err != nil {
		return 0, err
	}
	for {
		if id, ok := g.TryNext(tenant); ok {
			return id, nil
		}
		if err := g.Ensure(ctx, 1); err != nil {
			return 0, err
		}
	}
}

// TryNext returns a new ID from the blocks already held for tenant, without
// any I/O; false when they are used up.
func (g *Generator) TryNext(tenant string) (int64, bool) {
	b := g.blocksOf(tenant)
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.ranges) > 0 {
		r := &b.ranges[0]
		if r.next < r.end {
			id := r.next
			r.next++
			return id, true
		}
		b.ranges = b.ranges[1:]
	}
	return 0, false
}

// Available returns how many IDs are held for tenant without I/O.
func (g *Generator) Available(tenant string) int64 {
	b := g.blocksOf(tenant)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.available()
}

func (b *blocks) available() int64 {
	var n int64
	for _, r := range b.ranges {
		n += r.end - r.next
	}
	return n
}

// Ensure makes at least n IDs available for the tenant in ctx, refilling in
// a transaction of its own when fewer are held. Concurrent callers share one
// refill. Call it outside any transaction on the tenant.
func (g *Generator) Ensure(ctx context.Context, n int64) error {
	tenant, err := security.MustTenant(ctx)
	if err != nil {
		return err
	}
	b := g.blocksOf(tenant)
	for {
		b.mu.Lock()
		if b.available() >= n {
			b.mu.Unlock()
			return nil
		}
		if ch := b.refilling; ch != nil {
			b.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		b.refilling = ch
		need := n - b.available()
		b.mu.Unlock()

		size := g.blockSize
		if need > size {
			size = need
		}
		first, err := g.refill(ctx, size)

		b.mu.Lock()
		b.refilling = nil
		if err == nil {
			b.ranges = append(b.ranges, span{next: first, end: first + size})
		}
		b.mu.Unlock()
		close(ch)
		if err != nil {
			return fmt.Errorf("refill ID block of tenant %s: %w", tenant, err)
		}
	}
}

// refill moves the tenant's counter by size and returns the first ID of the
// block taken.
func (g *Generator) refill(ctx context.Context, size int64) (int64, error) {
	var end int64
	err := g.ds.InTx(ctx, func(tx *datasource.Tx) error {
		return tx.Get(&end, `UPDATE tf_id_block SET next_id = next_id + $1 WHERE name = 'default' RETURNING next_id`, size)
	})
	if err != nil {
		return 0, err
	}
	return end - size, nil
}

// Forget drops the blocks held for a tenant (when it is dropped). The IDs
// in them are never handed out.
func (g *Generator) Forget(tenant string) {
	g.mu.Lock()
	delete(g.tenants, tenant)
	g.mu.Unlock()
}
