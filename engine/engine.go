package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantflow/tenantflow/engine/core"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine/bpmn"
	"github.com/tenantflow/tenantflow/engine/store"
	"github.com/tenantflow/tenantflow/engine/store/sqlstore"
	"github.com/tenantflow/tenantflow/idgen"
	"github.com/tenantflow/tenantflow/security"
)

// Options configure an Engine. Zero values take the documented defaults.
type Options struct {
	// Clock is the engine's time: timers, due dates, history. Tests inject a
	// fake. Default: the datasource's clock.
	Clock clockwork.Clock
	// Logger receives operational messages. Default: the datasource's.
	Logger *slog.Logger
	// HandlerTimeout bounds one call of a Go service-task handler.
	// Default 30s.
	HandlerTimeout time.Duration
	// DefaultRetries is how often a failing job runs before an incident.
	// Default 3.
	DefaultRetries int
	// MaxResourceBytes bounds a deployed BPMN resource. Default 10 MiB.
	MaxResourceBytes int64
	// IDBlockSize is the size of the per-tenant ID blocks. Default 1,000.
	IDBlockSize int64
	// MaxCommandRetries bounds the retries of a command that lost a race
	// with another on the same instance. Default 8.
	MaxCommandRetries int
	// MaxSteps bounds the element steps of one command (a token entering,
	// completing or leaving an element is a step). A loop without a wait
	// state, or a parallel multi-instance with more instances than this,
	// fails the command with ErrStepBudget naming the element, and becomes
	// an incident when it runs in a job. Default 10,000.
	MaxSteps int
	// Store keeps the engine's state. Default: each tenant's SQL storage
	// of the datasources passed to New (see New).
	Store store.Store
	// MaxRows bounds the rows one command creates (tokens, variables,
	// history, events, …), with the same effect as MaxSteps. It keeps the
	// memory of one command bounded. Default 100,000.
	MaxRows int
}

func (o Options) withDefaults(src *datasource.Sources) Options {
	if o.Clock == nil && src != nil {
		o.Clock = src.Config.Clock
	}
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Logger == nil && src != nil {
		o.Logger = src.Config.Logger
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = 30 * time.Second
	}
	if o.DefaultRetries <= 0 {
		o.DefaultRetries = DefaultJobRetries
	}
	if o.MaxResourceBytes <= 0 {
		o.MaxResourceBytes = bpmn.DefaultMaxBytes
	}
	if o.MaxCommandRetries <= 0 {
		o.MaxCommandRetries = 8
	}
	if o.MaxSteps <= 0 {
		o.MaxSteps = DefaultMaxSteps
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	return o
}

// Engine is the BPMN engine over tenant-aware storage. Every call works in
// the tenant carried by its context; no call reads or writes another
// tenant's data. An Engine is safe for concurrent use and holds no
// goroutines of its own: background work (timers, async continuations) is
// run by the job executor through ExecuteJobs.
type Engine struct {
	src     *datasource.Sources
	st      store.Store
	signals *datasource.Signals
	ids     idSource
	defs    definitionCache
	opts    Options
	clock   clockwork.Clock
	log     *slog.Logger

	mu       sync.RWMutex
	handlers map[string]Handler

	// groups queues the commits of concurrent commands per tenant.
	groups commitGroups

	// commits counts the transactions commands and job batches committed,
	// so benchmarks can check what an instance costs.
	commits atomic.Int64
}

// New returns an engine over the datasources src: its state in each
// tenant's SQL storage, its IDs from ID blocks there, its definitions in
// src's caches, its commits signalled through src's signals. It starts
// nothing.
//
// With Options.Store set, the state goes to that store instead; a store
// that hands out IDs itself (store.IDSource, as memstore does) needs no
// datasources at all: New(nil, Options{Store: memstore.New()}) is a whole
// engine in memory, for tests and tools.
//
// Errors: a nil src without such a store.
func New(src *datasource.Sources, opts Options) (*Engine, error) {
	ids, _ := opts.Store.(store.IDSource)
	if src == nil && ids == nil {
		return nil, errors.New("engine: nil datasource, and no store that hands out IDs (Options.Store)")
	}
	opts = opts.withDefaults(src)
	e := &Engine{
		src:      src,
		st:       opts.Store,
		opts:     opts,
		clock:    opts.Clock,
		log:      opts.Logger,
		handlers: map[string]Handler{},
	}
	if src != nil {
		e.signals = src.Signals
		e.defs = datasource.NewTenantCache[*core.Deployed](src.Caches, "definition")
		if e.st == nil {
			e.st = sqlstore.New(src.Tenants)
		}
	} else {
		e.defs = newMapCache()
	}
	if ids != nil {
		e.ids = storeIDs{ids}
	} else {
		e.ids = idgen.New(src.Tenants, opts.IDBlockSize)
	}
	return e, nil
}

// idSource hands out row IDs per tenant: ID blocks of the tenant's storage
// (idgen), or a store's own.
type idSource interface {
	// TryNext returns an ID without I/O, when it has one at hand.
	TryNext(tenant string) (int64, bool)
	// Next returns an ID, with I/O when needed.
	Next(ctx context.Context) (int64, error)
	// Forget drops what is held for a tenant.
	Forget(tenant string)
}

// storeIDs takes IDs from a store.
type storeIDs struct{ st store.IDSource }

func (s storeIDs) TryNext(string) (int64, bool)            { return 0, false }
func (s storeIDs) Next(ctx context.Context) (int64, error) { return s.st.NextID(ctx) }
func (s storeIDs) Forget(string)                           {}

// definitionCache keeps compiled definitions per tenant.
type definitionCache interface {
	Get(tenant, key string) (*core.Deployed, bool)
	Set(tenant, key string, d *core.Deployed)
	Delete(tenant, key string)
}

// mapCache is the definition cache of an engine without datasources: a
// map, for an engine whose state lives only as long as the process.
type mapCache struct {
	mu sync.Mutex
	m  map[[2]string]*core.Deployed
}

func newMapCache() *mapCache { return &mapCache{m: map[[2]string]*core.Deployed{}} }

func (c *mapCache) Get(tenant, key string) (*core.Deployed, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.m[[2]string{tenant, key}]
	return d, ok
}

func (c *mapCache) Set(tenant, key string, d *core.Deployed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[[2]string{tenant, key}] = d
}

func (c *mapCache) Delete(tenant, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, [2]string{tenant, key})
}

// RegisterHandler serves a service-task topic in-process with h, for every
// tenant. Tasks of a topic with a handler never become external tasks.
// Registering nil removes the handler.
func (e *Engine) RegisterHandler(topic string, h Handler) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if h == nil {
		delete(e.handlers, topic)
		return
	}
	e.handlers[topic] = h
}

func (e *Engine) handler(topic string) Handler {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.handlers[topic]
}

// ForgetTenant drops what the engine holds in memory for a tenant (ID
// blocks; cached definitions go with the tenant's cache generation). Call it
// when a tenant is dropped.
func (e *Engine) ForgetTenant(tenant string) { e.ids.Forget(tenant) }

// engineEnv is the core's view of the engine during one command:
// definitions the command read or the per-tenant cache holds, Go handlers
// and limits. It reads nothing itself: what it lacks is a *core.NeedError,
// which command reads before the next attempt.
type engineEnv struct {
	e *Engine
	l *loader
}

func (v engineEnv) HasHandler(topic string) bool { return v.e.handler(topic) != nil }
func (v engineEnv) DefaultRetries() int          { return v.e.opts.DefaultRetries }
func (v engineEnv) MaxSteps() int                { return v.e.opts.MaxSteps }
func (v engineEnv) LatestDefinition(key string) (*core.Deployed, error) {
	return v.e.latest(v.l, key)
}
func (v engineEnv) DefinitionByID(id int64) (*core.Deployed, error) {
	if d, ok := v.l.need.byID[id]; ok {
		if d == nil {
			return nil, core.NotFound("process definition", id)
		}
		return d, nil
	}
	return nil, &core.NeedError{DefinitionIDs: []int64{id}}
}

// RunCalls runs the handler calls a command reached, each bounded by
// Options.HandlerTimeout, concurrently when there are several. No
// transaction is open: the command reads before and writes after.
func (v engineEnv) RunCalls(calls []*core.Call) {
	if len(calls) == 1 {
		v.e.runCall(v.l.ctx, calls[0])
		return
	}
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.e.runCall(v.l.ctx, c)
		}()
	}
	wg.Wait()
}

// runCall runs one handler call; a panic or a timeout is the call's error.
func (e *Engine) runCall(ctx context.Context, c *core.Call) {
	h := e.handler(c.Topic)
	if h == nil {
		c.Err = fmt.Errorf("no handler serves topic %q any more", c.Topic)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, e.opts.HandlerTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			c.Err = fmt.Errorf("handler for topic %q panicked: %v", c.Topic, r)
		}
	}()
	c.Err = h(ctx, c.Task)
	if c.Err == nil && ctx.Err() != nil {
		c.Err = fmt.Errorf("handler for topic %q: %w", c.Topic, ctx.Err())
	}
}

// needs is what a command's earlier attempts found they lacked: instances
// to read with the ones the command reads itself, and definitions read for
// it. They carry over from attempt to attempt.
type needs struct {
	instances []int64
	latest    map[string]*core.Deployed
	byID      map[int64]*core.Deployed // nil: read, and gone
}

// setByID records a definition read for the command (nil: it is gone).
func (n *needs) setByID(id int64, d *core.Deployed) {
	if n.byID == nil {
		n.byID = map[int64]*core.Deployed{}
	}
	n.byID[id] = d
}

// fill reads what a *core.NeedError names.
func (e *Engine) fill(l *loader, n *core.NeedError) error {
	l.need.instances = append(l.need.instances, n.Instances...)
	for _, id := range n.DefinitionIDs {
		d, err := e.definitionByID(l.ctx, l.u.Tenant, id)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		l.need.setByID(id, d)
	}
	for _, key := range n.LatestKeys {
		d, err := e.readLatest(l.ctx, l.u.Tenant, key)
		if err != nil {
			return err
		}
		if l.need.latest == nil {
			l.need.latest = map[string]*core.Deployed{}
		}
		l.need.latest[key] = d
	}
	return nil
}

// maxNeedRounds bounds the attempts a command makes to read what it lacks.
const maxNeedRounds = 16

// newUnit returns a command's unit of work at now, with its loader and
// core. IDs come from the tenant's ID blocks; a block that runs dry is
// refilled on the spot in a short transaction of its own, which is safe
// because no transaction is open while a command decides.
func (e *Engine) newUnit(ctx context.Context, tenant string, now time.Time, n *needs) (*core.Executor, *loader) {
	u := &core.Unit{Tenant: tenant, Now: now, NowMS: now.UnixMilli(), MaxRows: e.opts.MaxRows,
		NewID: func() (int64, error) {
			if id, ok := e.ids.TryNext(tenant); ok {
				return id, nil
			}
			return e.ids.Next(ctx)
		}}
	l := &loader{ctx: ctx, e: e, u: u, need: n}
	return core.NewExecutor(u, engineEnv{e: e, l: l}), l
}

// command runs fn — which reads what it needs through the loader, each
// read a short read-only transaction, and decides through the core, Go
// handlers included — with no transaction open, then applies the unit in
// one short transaction with revision checks, commits, and signals what the
// commit created. A command that lacked something (*core.NeedError) reads
// it and runs again. A command that lost a race (ErrConflict: another
// commit changed what it read) runs again from scratch, re-reading state
// and re-running its handlers; handlers are therefore called at least once
// per committed command, not exactly once.
func (e *Engine) command(ctx context.Context, fn func(c *core.Executor, l *loader) error) (*core.Unit, error) {
	tenant, err := security.MustTenant(ctx)
	if err != nil {
		return nil, err
	}
	n := &needs{}
	for attempt, rounds := 0, 0; ; {
		c, l := e.newUnit(ctx, tenant, e.now(), n)
		err := l.preload()
		if err == nil {
			err = fn(c, l)
		}
		if err == nil {
			err = c.Unit.Err
		}
		var need *core.NeedError
		if errors.As(err, &need) && rounds < maxNeedRounds {
			rounds++
			if err := e.fill(l, need); err != nil {
				return nil, err
			}
			continue
		}
		if err == nil {
			err = e.commitGrouped(ctx, l)
		}
		switch {
		case err == nil:
			e.afterCommit(tenant, c.Unit)
			return c.Unit, nil
		case errors.Is(err, errStaleDefinition) && attempt < e.opts.MaxCommandRetries:
			attempt++
			continue // planned on a replaced version: plan again, reading it
		case errors.Is(err, ErrConflict) && attempt < e.opts.MaxCommandRetries && retryable(err):
			if err := e.backoff(ctx, attempt); err != nil {
				return nil, err
			}
			attempt++
			continue
		}
		return nil, err
	}
}

// backoff waits a little before a command's next attempt, longer with each
// attempt, so commands racing on one instance spread out.
func (e *Engine) backoff(ctx context.Context, attempt int) error {
	t := time.NewTimer(time.Duration(rand.IntN(5*(attempt+1))+1) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errFinal marks a conflict that a retry cannot fix (a task already
// completed): the command reports it instead of retrying.
type errFinal struct{ error }

func (e errFinal) Unwrap() error { return e.error }

func retryable(err error) bool {
	var f errFinal
	return !errors.As(err, &f)
}

func final(err error) error { return errFinal{err} }

// afterCommit tells the tenant's listeners what the commit created.
func (e *Engine) afterCommit(tenant string, u *core.Unit) {
	if e.signals == nil {
		return
	}
	if !u.EarliestJob.IsZero() {
		e.signals.Notify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: tenant, DueAt: u.EarliestJob})
	}
	if len(u.Events) > 0 {
		e.signals.Notify(datasource.Signal{Topic: datasource.TopicEvents, Tenant: tenant})
	}
	for _, t := range u.ExternalTopics {
		e.signals.Notify(datasource.Signal{Topic: datasource.TopicExternalTasks, Tenant: tenant, Key: t})
	}
	if u.DefinitionsNew {
		e.signals.Notify(datasource.Signal{Topic: datasource.TopicDefinitions, Tenant: tenant})
	}
}
