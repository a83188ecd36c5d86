package datasource

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/tenantflow/tenantflow/security"
)

// TenantResolver answers the current configuration of a tenant. The Registry
// implements it behind its TTL cache.
type TenantResolver interface {
	// Tenant returns the tenant's configuration, ErrUnknownTenant when no
	// such tenant exists, or ErrPrimaryUnavailable.
	Tenant(ctx context.Context, id string) (*Tenant, error)
}

// TenantAwareDataSource routes the tenant in a context to that tenant's own
// storage. Pools open lazily on first use (concurrent first uses open one),
// are capped in number and in connections per PostgreSQL server, are closed
// when idle, and are replaced without a restart when the tenant's
// configuration changes (new work goes to the new pool; the old one drains).
//
// No raw pool is ever handed out: callers get a transaction ([InTx],
// [InReadTx]) or a connection ([Acquire]) and the pool stays open until they
// are done, so a pool is never closed under a caller.
type TenantAwareDataSource struct {
	cfg       Config
	resolver  TenantResolver
	primaryPG *pgTarget // the primary's server, home of pg-schema tenants; nil for a SQLite primary

	// mu guards the maps below. The hot path takes it shared only.
	mu       sync.RWMutex
	pools    map[string]*pool // tenant → current pool
	all      map[*pool]bool   // every open pool, including retired ones still draining
	opening  map[string]*opening
	reserved map[string]int      // server → connections reserved by open pools
	shared   map[string]*sqlx.DB // set-local mode: one pool per server
	freed    chan struct{}       // closed (and replaced) when capacity may have freed up
	closed   bool

	waiters atomic.Int64 // goroutines waiting for capacity
	stats   poolCounters

	txPool sync.Pool // *Tx wrappers, reused so routing allocates nothing
}

// opening is an in-flight pool open that concurrent first users wait on.
type opening struct {
	done chan struct{}
	err  error
}

// poolCounters are node-wide pool statistics.
type poolCounters struct {
	opened   atomic.Int64
	closedN  atomic.Int64
	live     atomic.Int64 // pools whose handles are open right now, counted where they open and close
	maxLive  atomic.Int64 // high-water mark of live
	waitsCap atomic.Int64 // times a caller waited for a free pool slot
}

// pooled counts a pool whose handles just opened.
func (c *poolCounters) pooled() {
	n := c.live.Add(1)
	for {
		m := c.maxLive.Load()
		if n <= m || c.maxLive.CompareAndSwap(m, n) {
			return
		}
	}
}

// pool is one tenant's storage handle.
type pool struct {
	tenant  string
	version int64
	dialect Dialect
	writer  *sqlx.DB // PostgreSQL: the pool; SQLite: the single writer
	reader  *sqlx.DB // SQLite: the read pool; PostgreSQL: same as writer
	wsem    chan struct{}
	rsem    chan struct{}
	server  string // PostgreSQL server key for the budget; "" for SQLite
	reserve int    // connections reserved from the server budget
	schema  string // set-local mode: the schema every transaction switches to ("" in pool mode)
	enter   string // set-local mode: the statement that switches and checks, built once
	shared  bool   // writer belongs to the shared set-local pool; do not close it
	timeout time.Duration

	refs     atomic.Int64
	lastUsed atomic.Int64 // unix nanos by the configured clock
	retired  atomic.Bool
	closeMu  sync.Once

	waits        atomic.Int64
	waitNanos    atomic.Int64
	timeouts     atomic.Int64
	failures     atomic.Int64 // consecutive connection failures, for the circuit
	circuitUntil atomic.Int64 // unix nanos until which the circuit is open
}

// newTenantAwareDataSource builds the router. resolver is usually the
// Registry.
func newTenantAwareDataSource(cfg Config, resolver TenantResolver, primaryPG *pgTarget) *TenantAwareDataSource {
	return &TenantAwareDataSource{
		cfg:       cfg,
		resolver:  resolver,
		primaryPG: primaryPG,
		pools:     map[string]*pool{},
		all:       map[*pool]bool{},
		opening:   map[string]*opening{},
		reserved:  map[string]int{},
		shared:    map[string]*sqlx.DB{},
		freed:     make(chan struct{}),
		txPool:    sync.Pool{New: func() any { return new(Tx) }},
	}
}

// Tx is a transaction in one tenant's storage. It embeds *sqlx.Tx, so Exec,
// Query, Get and Select are at hand. SQL is written with $n placeholders for
// both dialects. A Tx is valid only inside the function it was passed to.
type Tx struct {
	*sqlx.Tx
	tenant  string
	dialect Dialect
}

// Tenant returns the tenant whose storage this transaction runs in.
func (tx *Tx) Tenant() string { return tx.tenant }

// InTransaction reports true: a Tx is a transaction (see Queryer).
func (tx *Tx) InTransaction() bool { return true }

// Qualifier returns "": a transaction's search_path is the tenant's schema.
func (tx *Tx) Qualifier() string { return "" }

// Dialect returns the SQL dialect of the tenant's storage.
func (tx *Tx) Dialect() Dialect { return tx.dialect }

// InTx runs fn in a read-write transaction in the storage of the tenant
// carried by ctx, commits if fn returns nil and rolls back otherwise (also
// when fn panics, after which the panic continues).
//
// Errors: ErrNoTenant, ErrUnknownTenant, ErrTenantDisabled,
// ErrTenantUnavailable (circuit open or storage unreachable),
// ctx.Err() (the caller's deadline passed while waiting), ErrConflict
// (unique violation or serialization failure), ErrNotFound (sql.ErrNoRows
// returned by fn), or fn's own error.
func (ds *TenantAwareDataSource) InTx(ctx context.Context, fn func(*Tx) error) error {
	return ds.inTx(ctx, false, fn)
}

// InReadTx is InTx for work that only reads, on one snapshot: on SQLite it
// runs on the read pool, concurrently with the single writer; on
// PostgreSQL it is a read-only REPEATABLE READ transaction.
func (ds *TenantAwareDataSource) InReadTx(ctx context.Context, fn func(*Tx) error) error {
	return ds.inTx(ctx, true, fn)
}

func (ds *TenantAwareDataSource) inTx(ctx context.Context, readOnly bool, fn func(*Tx) error) (err error) {
	p, err := ds.checkout(ctx)
	if err != nil {
		return err
	}
	defer ds.checkin(p)

	db, sem := p.writer, p.wsem
	if readOnly {
		db, sem = p.reader, p.rsem
	}
	if err := p.acquireSlot(ctx, sem); err != nil {
		return err
	}
	defer func() { <-sem }()

	var opts *sql.TxOptions
	if readOnly && p.dialect == Postgres {
		// Every statement of a read sees one snapshot, as SQLite's read
		// transactions do: a caller reading a row and then what belongs
		// to it never sees two commits' worth of state.
		opts = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	stx, err := db.BeginTxx(ctx, opts)
	if err != nil {
		return ds.connFailed(ctx, p, err)
	}
	p.failures.Store(0)
	if p.schema != "" {
		// One round trip both scopes search_path to this transaction and
		// checks that the schema exists, so a missing schema is refused
		// exactly like a wrong connection in pool mode.
		var exists bool
		if err := stx.QueryRowxContext(ctx, p.enter).Scan(&exists); err != nil {
			_ = stx.Rollback()
			return ds.connFailed(ctx, p, err)
		}
		if !exists {
			_ = stx.Rollback()
			return fmt.Errorf("%w: expected schema %s, which does not exist", ErrSchemaMismatch, p.schema)
		}
	}
	tx := ds.txPool.Get().(*Tx)
	tx.Tx, tx.tenant, tx.dialect = stx, p.tenant, p.dialect
	defer func() {
		tx.Tx, tx.tenant = nil, ""
		ds.txPool.Put(tx)
	}()

	committed := false
	defer func() {
		if !committed {
			// Rollback needs no context; a cancelled caller still releases
			// its transaction here.
			_ = stx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return interpretError(err)
	}
	committed = true
	if err := stx.Commit(); err != nil {
		return interpretError(err)
	}
	return nil
}

// Conn is one connection to a tenant's storage, for work that needs a
// session (advisory locks, long reads). Release it with the function
// returned by Acquire.
type Conn struct {
	*sqlx.Conn
	tenant    string
	dialect   Dialect
	qualifier string
}

// Tenant returns the tenant this connection belongs to.
func (c *Conn) Tenant() string { return c.tenant }

// Dialect returns the SQL dialect of the connection.
func (c *Conn) Dialect() Dialect { return c.dialect }

// Qualifier returns what names the tenant's tables on this connection: ""
// when its search_path is the tenant's schema, or the quoted schema and a
// dot ("tenant_acme".) on a connection of a shared pool that InStatement
// handed out with no search_path at all, where an unqualified name
// resolves nowhere.
func (c *Conn) Qualifier() string { return c.qualifier }

// InTransaction reports false: each statement on a Conn commits on its own
// unless the caller began a transaction on it (see Queryer).
func (c *Conn) InTransaction() bool { return false }

// Queryer is a Tx, or a Conn outside a transaction: what InStatement hands
// its function.
type Queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row
	QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error)
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
	Tenant() string
	Dialect() Dialect
	// InTransaction tells whether the statements share a transaction, or
	// each commits on its own.
	InTransaction() bool
	// Qualifier is what must precede a table name of the tenant's ("" when
	// the search_path points at the tenant's schema).
	Qualifier() string
}

var (
	_ Queryer = (*Tx)(nil)
	_ Queryer = (*Conn)(nil)
)

// InStatement runs fn with the tenant's storage for work that is one
// statement. On PostgreSQL fn gets a connection with no transaction around
// it, so its statement commits by itself and costs one round trip instead
// of three or four (BEGIN, the schema's scope on a shared pool, the
// statement, COMMIT). On a shared pool the connection's search_path stays
// empty and fn must qualify the tenant's tables with q.Qualifier(): a name
// it forgets resolves nowhere, never to another tenant's table. On SQLite
// fn runs in a transaction, as with InTx; fn can tell by
// q.InTransaction(). fn runs again, on another connection, when the
// connection broke under it (the server closed it), so its statement must
// be safe to send twice. Errors are those of InTx.
func (ds *TenantAwareDataSource) InStatement(ctx context.Context, fn func(q Queryer) error) error {
	p, err := ds.checkout(ctx)
	if err != nil {
		return err
	}
	if p.dialect != Postgres {
		ds.checkin(p)
		return ds.InTx(ctx, func(tx *Tx) error { return fn(tx) })
	}
	defer ds.checkin(p)
	qualifier := ""
	if p.schema != "" {
		qualifier = quoteIdent(p.schema) + "."
	}
	if err := p.acquireSlot(ctx, p.wsem); err != nil {
		return err
	}
	defer func() { <-p.wsem }()
	// A pooled connection the server closed (a restart, a terminated
	// backend) shows only when used: as driver.ErrBadConn, or as a reset
	// or an EOF when the close races the statement. database/sql retries
	// the first kind inside BeginTx, but not on a connection handed out
	// with Conn, so retry here, on a connection the driver now knows is
	// dead: the idle connections of a restarted server are all dead, and
	// each try discards one. The statements given to InStatement are safe
	// to send twice (an apply step inserts fixed IDs and checks
	// revisions, so a second run fails rather than writing again).
	tries := p.writer.Stats().MaxOpenConnections + 1
	for try := 1; ; try++ {
		c, err := p.writer.Connx(ctx)
		if err != nil {
			return ds.connFailed(ctx, p, err)
		}
		err = fn(&Conn{Conn: c, tenant: p.tenant, dialect: p.dialect, qualifier: qualifier})
		c.Close()
		if connectionLost(err) {
			if try < tries && ctx.Err() == nil {
				continue
			}
			return ds.connFailed(ctx, p, err)
		}
		p.failures.Store(0)
		return interpretError(err)
	}
}

// Dialect returns the SQL dialect of the storage of the tenant in ctx.
// Errors are those of InTx.
func (ds *TenantAwareDataSource) Dialect(ctx context.Context) (Dialect, error) {
	p, err := ds.checkout(ctx)
	if err != nil {
		return "", err
	}
	defer ds.checkin(p)
	return p.dialect, nil
}

// Acquire returns a connection to the storage of the tenant carried by ctx
// (the writer, on SQLite) and a release function that must be called once.
// Errors are those of InTx.
func (ds *TenantAwareDataSource) Acquire(ctx context.Context) (*Conn, func(), error) {
	p, err := ds.checkout(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := p.acquireSlot(ctx, p.wsem); err != nil {
		ds.checkin(p)
		return nil, nil, err
	}
	c, err := p.writer.Connx(ctx)
	if err != nil {
		<-p.wsem
		ds.checkin(p)
		return nil, nil, ds.connFailed(ctx, p, err)
	}
	if p.schema != "" {
		// A session, not a transaction: the shared pool's connection is
		// pointed at the tenant for the session and reset on release.
		if _, err := c.ExecContext(ctx, "SET search_path TO "+quoteIdent(p.schema)); err != nil {
			c.Close()
			<-p.wsem
			ds.checkin(p)
			return nil, nil, ds.connFailed(ctx, p, err)
		}
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			if p.schema != "" {
				if _, err := c.ExecContext(context.Background(), `SET search_path TO ""`); err != nil {
					// Never hand a connection still pointed at this tenant
					// back to the shared pool.
					_ = c.Raw(func(any) error { return driver.ErrBadConn })
				}
			}
			c.Close()
			<-p.wsem
			ds.checkin(p)
		})
	}
	return &Conn{Conn: c, tenant: p.tenant, dialect: p.dialect}, release, nil
}

// acquireSlot takes one of the tenant's connection slots, waiting at most the
// tenant's acquire timeout (and never past ctx). Slots make database/sql's
// own pool never block, so the timeout is exact and per tenant.
func (p *pool) acquireSlot(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	start := time.Now()
	p.waits.Add(1)
	t := time.NewTimer(p.timeout)
	defer t.Stop()
	defer func() { p.waitNanos.Add(int64(time.Since(start))) }()
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		p.timeouts.Add(1)
		return fmt.Errorf("%w: tenant %s: no connection free within %s (maxOpenConns %d)",
			ErrTenantUnavailable, p.tenant, p.timeout, cap(sem))
	}
}

// connFailed counts a failure to reach the storage toward the tenant's
// circuit and turns it into ErrTenantUnavailable. A cancelled caller is not
// the storage's fault.
func (ds *TenantAwareDataSource) connFailed(ctx context.Context, p *pool, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, ErrSchemaMismatch) {
		return err
	}
	if p.failures.Add(1) >= int64(ds.cfg.CircuitFailures) {
		p.circuitUntil.Store(ds.cfg.Clock.Now().Add(ds.cfg.CircuitCooldown).UnixNano())
		ds.cfg.Logger.Warn("tenant storage failing; circuit open", "tenant", p.tenant,
			"failures", p.failures.Load(), "cooldown", ds.cfg.CircuitCooldown, "err", err)
	}
	return fmt.Errorf("%w: tenant %s: %w", ErrTenantUnavailable, p.tenant, err)
}

// checkout returns the tenant's pool with a reference held, opening it if
// needed. Every successful checkout is paired with checkin.
func (ds *TenantAwareDataSource) checkout(ctx context.Context) (*pool, error) {
	id, ok := security.TenantFrom(ctx)
	if !ok {
		return nil, ErrNoTenant
	}
	t, err := ds.resolver.Tenant(ctx, id)
	if err != nil {
		return nil, err
	}
	if !t.Active() {
		return nil, fmt.Errorf("%w: tenant %s is %s", ErrTenantDisabled, id, t.Status)
	}

	ds.mu.RLock()
	p := ds.pools[id]
	if p != nil && p.version == t.ConfigVersion {
		p.refs.Add(1)
		ds.mu.RUnlock()
		if until := p.circuitUntil.Load(); until != 0 && ds.cfg.Clock.Now().UnixNano() < until {
			ds.checkin(p)
			return nil, fmt.Errorf("%w: tenant %s: circuit open after %d failures", ErrTenantUnavailable, id, p.failures.Load())
		} else if until != 0 {
			// Cooldown over: let callers probe; the next failure re-opens it.
			p.circuitUntil.Store(0)
			p.failures.Store(int64(ds.cfg.CircuitFailures) - 1)
		}
		return p, nil
	}
	closed := ds.closed
	ds.mu.RUnlock()
	if closed {
		return nil, ErrClosed
	}
	return ds.openPool(ctx, t)
}

// checkin releases a reference taken by checkout.
func (ds *TenantAwareDataSource) checkin(p *pool) {
	p.lastUsed.Store(ds.cfg.Clock.Now().UnixNano())
	if p.refs.Add(-1) == 0 {
		if p.retired.Load() {
			ds.closePool(p)
		}
		if ds.waiters.Load() > 0 {
			ds.mu.Lock()
			ds.broadcastLocked()
			ds.mu.Unlock()
		}
	}
}

// broadcastLocked wakes every goroutine waiting for capacity.
func (ds *TenantAwareDataSource) broadcastLocked() {
	close(ds.freed)
	ds.freed = make(chan struct{})
}

// openPool is the slow path: open (or wait for another goroutine opening)
// the tenant's pool for config t, within the caps.
func (ds *TenantAwareDataSource) openPool(ctx context.Context, t *Tenant) (*pool, error) {
	spec, err := ds.poolSpec(t)
	if err != nil {
		return nil, err
	}
	for {
		ds.mu.Lock()
		if ds.closed {
			ds.mu.Unlock()
			return nil, ErrClosed
		}
		if p := ds.pools[t.ID]; p != nil && p.version == t.ConfigVersion {
			p.refs.Add(1)
			ds.mu.Unlock()
			return p, nil
		}
		if op := ds.opening[t.ID]; op != nil {
			ds.mu.Unlock()
			select {
			case <-op.done:
				if op.err != nil {
					return nil, op.err
				}
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if victims, ok := ds.makeRoomLocked(spec); ok {
			op := &opening{done: make(chan struct{})}
			ds.opening[t.ID] = op
			ds.reserved[spec.server] += spec.reserve
			ds.stats.opened.Add(1)
			ds.mu.Unlock()
			for _, v := range victims {
				ds.closePool(v)
			}
			// Opening must not fail because the first caller gave up: other
			// callers may be waiting on it.
			p, err := ds.dial(context.WithoutCancel(ctx), t, spec)
			ds.mu.Lock()
			delete(ds.opening, t.ID)
			if err != nil {
				ds.reserved[spec.server] -= spec.reserve
				ds.stats.opened.Add(-1)
				op.err = err
				close(op.done)
				ds.broadcastLocked()
				ds.mu.Unlock()
				return nil, err
			}
			if old := ds.pools[t.ID]; old != nil {
				// Configuration changed: new work goes to the new pool, the
				// old one closes when its last user leaves.
				old.retired.Store(true)
				delete(ds.pools, t.ID)
				if old.refs.Load() == 0 {
					defer ds.closePool(old)
				}
			}
			ds.pools[t.ID] = p
			ds.all[p] = true
			p.refs.Add(1)
			close(op.done)
			ds.mu.Unlock()
			return p, nil
		}
		// Every pool is busy: wait for one to free up, bounded by ctx.
		ch := ds.freed
		ds.waiters.Add(1)
		ds.stats.waitsCap.Add(1)
		ds.mu.Unlock()
		select {
		case <-ch:
			ds.waiters.Add(-1)
		case <-ctx.Done():
			ds.waiters.Add(-1)
			return nil, ctx.Err()
		}
	}
}

// poolSpec is what a pool for a tenant config will need.
type poolSpec struct {
	server  string
	reserve int
	pg      *pgTarget
}

func (ds *TenantAwareDataSource) poolSpec(t *Tenant) (poolSpec, error) {
	limits := t.Limits.withDefaults(ds.cfg.DefaultLimits)
	switch t.Placement {
	case PlacementSQLite:
		return poolSpec{}, nil
	case PlacementPGSchema:
		if ds.primaryPG == nil {
			return poolSpec{}, fmt.Errorf("%w: tenant %s is placed pg-schema but the primary is not PostgreSQL", ErrInvalid, t.ID)
		}
		tgt := pgTarget{cfg: ds.primaryPG.cfg, schema: t.Storage.Schema}
		if ds.cfg.PGSchemaMode == pgSchemaModeSetLocal {
			return poolSpec{server: tgt.serverKey(), pg: &tgt}, nil
		}
		return poolSpec{server: tgt.serverKey(), reserve: limits.MaxOpenConns, pg: &tgt}, nil
	case PlacementPGDSN:
		cfg, err := parsePG(t.Storage.DSN, t.Storage.Password)
		if err != nil {
			return poolSpec{}, err
		}
		schema := t.Storage.Schema
		if schema == "" {
			schema = "public"
		}
		tgt := pgTarget{cfg: cfg, schema: schema}
		return poolSpec{server: tgt.serverKey(), reserve: limits.MaxOpenConns, pg: &tgt}, nil
	}
	return poolSpec{}, fmt.Errorf("%w: tenant %s has unknown placement %q", ErrInvalid, t.ID, t.Placement)
}

// makeRoomLocked checks the pool cap and the server's connection budget,
// choosing least-recently-used idle pools to close when needed. It reports
// false when there is no room even after closing every idle pool.
func (ds *TenantAwareDataSource) makeRoomLocked(spec poolSpec) ([]*pool, bool) {
	needPools := len(ds.all) + len(ds.opening) + 1 - ds.cfg.MaxPools
	needConns := 0
	if spec.server != "" {
		needConns = ds.reserved[spec.server] + spec.reserve - ds.cfg.ServerConnBudget
		if spec.reserve > ds.cfg.ServerConnBudget {
			needConns = 0 // a single tenant larger than the budget still gets its pool when alone
			if ds.reserved[spec.server] > 0 {
				needConns = ds.reserved[spec.server]
			}
		}
	}
	if needPools <= 0 && needConns <= 0 {
		return nil, true
	}
	var victims []*pool
	for needPools > 0 || needConns > 0 {
		var lru *pool
		for p := range ds.all {
			if p.refs.Load() != 0 || p.retired.Load() {
				continue
			}
			if needPools <= 0 && p.server != spec.server {
				continue // only pools on the crowded server help
			}
			if lru == nil || p.lastUsed.Load() < lru.lastUsed.Load() {
				lru = p
			}
		}
		if lru == nil {
			// Put back what was taken: nothing is closed unless the new
			// pool can really open.
			for _, v := range victims {
				ds.all[v] = true
				ds.pools[v.tenant] = v
				ds.reserved[v.server] += v.reserve
			}
			return nil, false
		}
		delete(ds.all, lru)
		if ds.pools[lru.tenant] == lru {
			delete(ds.pools, lru.tenant)
		}
		ds.reserved[lru.server] -= lru.reserve
		victims = append(victims, lru)
		needPools--
		if lru.server == spec.server {
			needConns -= lru.reserve
		}
	}
	return victims, true
}

// dial opens the storage handles of a pool. Nothing is sent to PostgreSQL
// until the first transaction; SQLite files are opened (and created) here.
func (ds *TenantAwareDataSource) dial(ctx context.Context, t *Tenant, spec poolSpec) (*pool, error) {
	limits := t.Limits.withDefaults(ds.cfg.DefaultLimits)
	p := &pool{
		tenant:  t.ID,
		version: t.ConfigVersion,
		server:  spec.server,
		reserve: spec.reserve,
		timeout: limits.AcquireTimeout,
	}
	p.lastUsed.Store(ds.cfg.Clock.Now().UnixNano())
	defer func() {
		if p.writer != nil {
			ds.stats.pooled()
		}
	}()
	switch {
	case t.Placement == PlacementSQLite:
		w, r, err := openSQLite(ctx, ds.cfg.sqliteTenantPath(t.ID), limits.MaxOpenConns)
		if err != nil {
			return nil, fmt.Errorf("%w: tenant %s: %w", ErrTenantUnavailable, t.ID, err)
		}
		p.dialect, p.writer, p.reader = SQLite, w, r
		p.wsem = make(chan struct{}, 1)
		p.rsem = make(chan struct{}, limits.MaxOpenConns)
	case ds.cfg.PGSchemaMode == pgSchemaModeSetLocal && t.Placement == PlacementPGSchema:
		db, err := ds.sharedPool(t.ID, spec)
		if err != nil {
			return nil, err
		}
		p.dialect, p.writer, p.reader, p.shared = Postgres, db, db, true
		p.schema = spec.pg.schema
		// Built once from a validated, quoted schema name and sent without
		// parameters: the simple protocol costs one round trip, where a
		// parameterised statement costs an extra parse/bind exchange.
		lit := pq.QuoteLiteral(quoteIdent(p.schema))
		// The statement timeout is the tenant's own, scoped to the
		// transaction like the search path: the pool is shared.
		timeout := pq.QuoteLiteral(strconv.FormatInt(limits.StatementTimeout.Milliseconds(), 10))
		p.enter = `SELECT set_config('search_path', ` + lit + `, true) IS NOT NULL AND set_config('statement_timeout', ` + timeout +
			`, true) IS NOT NULL AND to_regnamespace(` + lit + `) IS NOT NULL`
		p.wsem = make(chan struct{}, limits.MaxOpenConns)
		p.rsem = p.wsem
	default:
		target := *spec.pg
		target.cfg = target.cfg.Clone()
		if target.cfg.Runtime == nil {
			target.cfg.Runtime = map[string]string{}
		}
		// Sent at connection start: every statement of the tenant's own
		// pool is bounded, whatever the session does.
		target.cfg.Runtime["statement_timeout"] = strconv.FormatInt(limits.StatementTimeout.Milliseconds(), 10)
		db, err := openPG(target, limits.MaxOpenConns, limits.MaxIdleConns)
		if err != nil {
			return nil, err
		}
		db.SetConnMaxIdleTime(ds.cfg.PoolIdleTimeout)
		p.dialect, p.writer, p.reader = Postgres, db, db
		p.wsem = make(chan struct{}, limits.MaxOpenConns)
		p.rsem = p.wsem
	}
	return p, nil
}

// sharedPool returns the set-local pool of a tenant's shard of a server,
// opening it once. Tenants are spread over SharedPoolShards pools by a hash
// of their ID, so each server backend only ever works in the schemas of one
// shard: PostgreSQL's per-backend catalog caches grow with the schemas a
// backend touched, and at thousands of tenants an unsharded pool would make
// every backend touch them all.
func (ds *TenantAwareDataSource) sharedPool(tenant string, spec poolSpec) (*sqlx.DB, error) {
	shards := ds.cfg.SharedPoolShards
	h := fnv.New32a()
	h.Write([]byte(tenant))
	key := spec.server + "#" + strconv.Itoa(int(h.Sum32())%shards)
	ds.mu.Lock()
	defer ds.mu.Unlock()
	if db := ds.shared[key]; db != nil {
		return db, nil
	}
	conns := max(ds.cfg.ServerConnBudget/shards, 1)
	db, err := openPG(pgTarget{cfg: spec.pg.cfg}, conns, max(conns/2, 1))
	if err != nil {
		return nil, err
	}
	ds.shared[key] = db
	return db, nil
}

// closePool closes a pool's handles once. The pool must have no users.
func (ds *TenantAwareDataSource) closePool(p *pool) {
	p.closeMu.Do(func() {
		ds.mu.Lock()
		if ds.all[p] {
			delete(ds.all, p)
			ds.reserved[p.server] -= p.reserve
		}
		if ds.pools[p.tenant] == p {
			delete(ds.pools, p.tenant)
		}
		ds.broadcastLocked()
		ds.mu.Unlock()
		if !p.shared {
			if p.reader != p.writer {
				p.reader.Close()
			}
			p.writer.Close()
		}
		ds.stats.live.Add(-1)
		ds.stats.closedN.Add(1)
	})
}

// ReapIdle closes pools unused for longer than the idle timeout, and returns
// how many it closed. The job executor schedules it.
func (ds *TenantAwareDataSource) ReapIdle() int {
	cutoff := ds.cfg.Clock.Now().Add(-ds.cfg.PoolIdleTimeout).UnixNano()
	ds.mu.Lock()
	var idle []*pool
	for p := range ds.all {
		if p.refs.Load() == 0 && p.lastUsed.Load() < cutoff {
			delete(ds.all, p)
			if ds.pools[p.tenant] == p {
				delete(ds.pools, p.tenant)
			}
			ds.reserved[p.server] -= p.reserve
			idle = append(idle, p)
		}
	}
	ds.mu.Unlock()
	for _, p := range idle {
		ds.closePool(p)
	}
	return len(idle)
}

// Evict closes the tenant's pools as soon as their users leave, so the next
// use reopens with fresh configuration. It waits, bounded by ctx, until no
// pool of the tenant is open — the lifecycle calls it before removing
// storage.
func (ds *TenantAwareDataSource) Evict(ctx context.Context, tenant string) error {
	for {
		ds.mu.Lock()
		var mine []*pool
		for p := range ds.all {
			if p.tenant == tenant {
				mine = append(mine, p)
			}
		}
		if p := ds.pools[tenant]; p != nil {
			delete(ds.pools, tenant)
		}
		ch := ds.freed
		ds.mu.Unlock()
		if len(mine) == 0 {
			return nil
		}
		busy := false
		for _, p := range mine {
			p.retired.Store(true)
			if p.refs.Load() == 0 {
				ds.closePool(p)
			} else {
				busy = true
			}
		}
		if !busy {
			return nil
		}
		ds.waiters.Add(1)
		select {
		case <-ch:
			ds.waiters.Add(-1)
		case <-ctx.Done():
			ds.waiters.Add(-1)
			return ctx.Err()
		}
	}
}

// Close closes every pool. Callers still inside a transaction finish first
// with their connection; new calls get ErrClosed.
func (ds *TenantAwareDataSource) Close() error {
	ds.mu.Lock()
	ds.closed = true
	pools := make([]*pool, 0, len(ds.all))
	for p := range ds.all {
		pools = append(pools, p)
	}
	shared := ds.shared
	ds.shared = map[string]*sqlx.DB{}
	ds.mu.Unlock()
	for _, p := range pools {
		p.retired.Store(true)
		if p.refs.Load() == 0 {
			ds.closePool(p)
		}
	}
	for _, db := range shared {
		db.Close()
	}
	return nil
}

// PoolStats describes one tenant's pool.
type PoolStats struct {
	Tenant       string        `json:"tenant"`
	Dialect      Dialect       `json:"dialect"`
	MaxOpen      int           `json:"maxOpen"`
	InUse        int           `json:"inUse"`
	Idle         int           `json:"idle"`
	Waits        int64         `json:"waits"`
	WaitDuration time.Duration `json:"waitDuration"`
	Timeouts     int64         `json:"timeouts"`
	CircuitOpen  bool          `json:"circuitOpen"`
}

// Stats describes the node's pools.
type Stats struct {
	// Open is the number of pools open now, including retired ones that
	// still drain.
	Open int `json:"open"`
	// MaxOpenSeen is the most pools ever open at once, counted where their
	// handles open and close.
	MaxOpenSeen int64 `json:"maxOpenSeen"`
	// Opened and Closed count pool opens and closes since start.
	Opened int64 `json:"opened"`
	Closed int64 `json:"closed"`
	// CapWaits counts callers that waited for a free pool slot.
	CapWaits int64 `json:"capWaits"`
	// Reserved is the connections reserved per PostgreSQL server.
	Reserved map[string]int `json:"reserved"`
	// Pools has one entry per open pool.
	Pools []PoolStats `json:"pools"`
}

// Stats returns a snapshot of the node's pools, for metrics and the admin
// API.
func (ds *TenantAwareDataSource) Stats() Stats {
	ds.mu.RLock()
	s := Stats{
		Open:        len(ds.all),
		MaxOpenSeen: ds.stats.maxLive.Load(),
		Opened:      ds.stats.opened.Load(),
		Closed:      ds.stats.closedN.Load(),
		CapWaits:    ds.stats.waitsCap.Load(),
		Reserved:    map[string]int{},
	}
	for k, v := range ds.reserved {
		if k != "" {
			s.Reserved[k] = v
		}
	}
	now := ds.cfg.Clock.Now().UnixNano()
	for p := range ds.all {
		st := PoolStats{Tenant: p.tenant, Dialect: p.dialect, MaxOpen: cap(p.wsem),
			InUse: len(p.wsem), Waits: p.waits.Load(), WaitDuration: time.Duration(p.waitNanos.Load()),
			Timeouts: p.timeouts.Load(), CircuitOpen: p.circuitUntil.Load() > now}
		if p.reader != p.writer {
			st.MaxOpen += cap(p.rsem)
			st.InUse += len(p.rsem)
		}
		if !p.shared {
			st.Idle = dbIdle(p.writer.DB)
			if p.reader != p.writer {
				st.Idle += dbIdle(p.reader.DB)
			}
		}
		s.Pools = append(s.Pools, st)
	}
	ds.mu.RUnlock()
	return s
}

func dbIdle(db *sql.DB) int { return db.Stats().Idle }

// connectionLost reports whether err says the connection broke, rather than
// that the statement failed.
func connectionLost(err error) bool {
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
