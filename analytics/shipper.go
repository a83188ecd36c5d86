package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"
	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/tenantsched"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// Shipper drains every tenant's outbox to Elasticsearch. Create it with
// New, then Start and Stop it. Prune and Stats work whether or not
// shipping is on.
type Shipper struct {
	cfg     Config
	out     Outbox
	clock   clockwork.Clock
	log     *slog.Logger
	enabled bool

	es        *elasticsearch.Client
	bulk      esutil.BulkIndexer
	transport *http.Transport // ours, when Config.Transport was nil
	setup     setup
	// sched decides which tenant ships when and runs its batches (turns)
	// on the workers: the scheduler the job executor shares. Nil with
	// shipping off.
	sched *tenantsched.Scheduler

	mu      sync.Mutex
	tenants map[string]*tenantState
	started bool
	stopped bool

	runCtx context.Context
	cancel context.CancelFunc

	chMu    sync.Mutex
	changed chan struct{} // closed on every change, when someone waits

	stats stats
}

// tenantState is what the shipper knows of one tenant it shipped for:
// its position and its figures. When it is due, how it backs off and
// whether it is still served is the scheduler's.
type tenantState struct {
	id string

	// position is the consumer's position as this node last learnt or
	// set it; known is false until read from storage.
	position engine.Cursor
	known    bool
	// fresh: the next run starts a new drain and re-reads the position,
	// which another node may have moved.
	fresh bool
	// rechecks counts drains that ended with events not yet readable.
	rechecks int

	backlog   int64
	oldest    time.Time // time of the oldest event read and not yet acknowledged
	shipped   int64
	dead      int64
	lastError string
}

// causeElasticsearch is the shared cause of failures in Elasticsearch:
// when one tenant ships again after them, the cluster is probably back
// and every tenant waiting for it retries at once.
const causeElasticsearch = "elasticsearch"

// New returns a shipper. Without URLs it ships nothing and Start does
// nothing, but Prune and DeadLetters still work.
//
// Errors: configuration problems, all of them joined, each saying what to
// change.
func New(cfg Config) (*Shipper, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Shipper{
		cfg:     cfg,
		out:     cfg.Outbox,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		enabled: len(cfg.URLs) > 0,
		tenants: map[string]*tenantState{},
		stats:   newStats(),
	}
	s.runCtx, s.cancel = context.WithCancel(context.Background())
	if !s.enabled {
		return s, nil
	}
	sc := tenantsched.Config{
		Topic:             datasource.TopicEvents,
		Work:              s.runTurn,
		Signals:           cfg.Signals,
		Hints:             cfg.Hints,
		Clock:             cfg.Clock,
		Logger:            cfg.Logger,
		OnChange:          s.notify,
		Workers:           cfg.Workers,
		QueryTimeout:      cfg.RequestTimeout,
		SignalDelay:       cfg.FlushInterval,
		RemoteSignalDelay: cfg.RemoteDelay,
		HintInterval:      cfg.HintInterval,
		HintMinGap:        time.Second,
		RefreshDelay:      cfg.FlushInterval,
		HintDelay:         cfg.RemoteDelay,
		HintLimit:         10_000,
		SweepInterval:     cfg.SweepInterval,
	}
	if cfg.Directory != nil {
		sc.Directory, sc.Probe, sc.SweepRate = cfg.Directory, s.probe, cfg.SweepRate
	}
	sched, err := tenantsched.New(sc)
	if err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	s.sched = sched
	rt := cfg.Transport
	if rt == nil {
		s.transport = http.DefaultTransport.(*http.Transport).Clone()
		rt = s.transport
	}
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: cfg.URLs,
		Username:  cfg.Username,
		Password:  cfg.Password,
		APIKey:    cfg.APIKey,
		Transport: privateBody{rt},
		// The shipper retries with backoff per tenant; the client's
		// immediate retries would hammer a struggling cluster.
		DisableRetry: true,
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: elasticsearch client: %w", err)
	}
	s.es = es
	return s, nil
}

// Enabled reports whether shipping is on (an Elasticsearch URL is
// configured).
func (s *Shipper) Enabled() bool { return s.enabled }

// flushCancel carries the cancel function of a bulk request's context from
// OnFlushStart to OnFlushEnd.
type flushCancel struct{}

// Start subscribes to event signals and lifecycle hooks, starts the
// workers and reads the primary's hints once. With shipping off it does
// nothing.
func (s *Shipper) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started || s.stopped {
		s.mu.Unlock()
		return errors.New("analytics: Start called twice, or after Stop")
	}
	s.started = true
	s.mu.Unlock()
	if !s.enabled {
		s.log.Info("analytics shipping is off: no Elasticsearch URL configured")
		return nil
	}
	bulk, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:     s.es,
		NumWorkers: s.cfg.BulkWorkers,
		// Batches flush explicitly; the indexer's own timer only matters
		// for items added while a flush runs.
		FlushInterval: time.Hour,
		OnFlushStart: func(context.Context) context.Context {
			// The indexer sends with a background context: bind requests
			// to the shipper's life and bound them.
			rctx, cancel := context.WithTimeout(s.runCtx, s.cfg.RequestTimeout)
			return context.WithValue(rctx, flushCancel{}, cancel)
		},
		OnFlushEnd: func(ctx context.Context) {
			if cancel, ok := ctx.Value(flushCancel{}).(context.CancelFunc); ok {
				cancel()
			}
		},
	})
	if err != nil {
		s.mu.Lock()
		s.started = false // nothing runs: Stop has nothing to stop
		s.mu.Unlock()
		return fmt.Errorf("analytics: bulk indexer: %w", err)
	}
	if s.cfg.Lifecycle != nil {
		s.cfg.Lifecycle.OnDisable(s.forgetTenant)
		s.cfg.Lifecycle.OnDrop(s.forgetTenant)
	}
	s.mu.Lock()
	s.bulk = bulk
	s.mu.Unlock()
	if err := s.sched.Start(ctx); err != nil {
		return fmt.Errorf("analytics: %w", err)
	}
	s.notify()
	return nil
}

// Stop stops taking new work, lets batches in flight finish (bounded by
// ctx; then they are cancelled, and their events stay in the outbox), and
// returns once no goroutine of the shipper is left.
func (s *Shipper) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	started := s.started
	s.mu.Unlock()
	if !started || !s.enabled {
		s.cancel()
		return nil
	}
	// A hint read or a sweep may be in a slow call: it is bounded by ctx
	// like the batches.
	var err error
	if serr := s.sched.Stop(ctx); serr != nil {
		err = fmt.Errorf("analytics: batches still running at shutdown were cancelled: %w", serr)
	}
	s.cancel()
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer ccancel()
	err = errors.Join(err, s.bulk.Close(cctx), s.es.Close(cctx))
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	s.notify()
	return err
}

// ---- knowing who has events ----

// Wake makes the shipper look at a tenant after delay (earlier wake-ups
// win; a tenant backing off stays backing off). Signals wake tenants
// through the scheduler; tools and tests may call it too.
func (s *Shipper) Wake(tenant string, delay time.Duration) {
	if s.sched != nil {
		s.sched.Wake(s.clock.Now().Add(delay), tenant)
	}
}

// probe is the sweep's question to a tenant the scheduler knows nothing
// of: has it events to ship?
func (s *Shipper) probe(ctx context.Context, _ string) (time.Time, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	st, err := s.out.ConsumerState(ctx, s.cfg.Consumer)
	if err != nil || st.Backlog == 0 {
		return time.Time{}, false, err
	}
	return s.clock.Now(), true, nil
}

// runTurn ships one batch of a tenant, as its turn, and schedules the
// tenant's next turn when the batch says when.
func (s *Shipper) runTurn(turn *tenantsched.Turn) {
	s.mu.Lock()
	if turn.Forgotten() { // let go of since it was handed out: keep nothing of it
		s.mu.Unlock()
		return
	}
	t := s.tenants[turn.Tenant()]
	if t == nil {
		t = &tenantState{id: turn.Tenant(), fresh: true}
		s.tenants[t.id] = t
	}
	s.mu.Unlock()
	if next := s.runTenant(turn, t); !next.IsZero() {
		turn.Due(next)
	}
}

// ---- tenant lifecycle ----

// forgetTenant lets go of a tenant: it is no longer scheduled, and the call
// returns once its batch in flight has finished (bounded by ctx, after
// which the batch is cancelled). Its events stay in its outbox.
func (s *Shipper) forgetTenant(ctx context.Context, tenant string) error {
	wait := s.sched.Forget(tenant)
	s.mu.Lock()
	delete(s.tenants, tenant)
	s.mu.Unlock()
	if err := wait(ctx); err != nil {
		return fmt.Errorf("analytics: tenant %s had a batch in flight, now cancelled: %w", tenant, err)
	}
	return nil
}

// ---- maintenance and admin ----

// Prune removes the tenant's outbox events that are older than the
// retention and that every registered consumer has passed. With shipping
// on, the shipper counts as a consumer even before its first delivery to
// the tenant succeeded: events Elasticsearch never acknowledged stay, however
// old. Its signature fits a per-tenant maintenance duty of the job
// executor. It works with shipping off.
func (s *Shipper) Prune(ctx context.Context, tenant string) error {
	ctx = security.WithTenant(ctx, tenant)
	var waitFor []string
	if s.enabled {
		waitFor = []string{s.cfg.Consumer}
	}
	n, err := s.out.PruneOutbox(ctx, s.clock.Now().Add(-s.cfg.Retention), waitFor...)
	if err != nil {
		return fmt.Errorf("analytics: prune outbox of %s: %w", tenant, err)
	}
	if n > 0 {
		s.log.Debug("outbox pruned", "tenant", tenant, "events", n)
	}
	s.stats.pruned.Add(int64(n))
	return nil
}

// DeadLetters lists the events of a tenant that Elasticsearch rejected
// permanently, newest first, with reasons.
func (s *Shipper) DeadLetters(ctx context.Context, tenant string, limit int) ([]engine.DeadLetter, error) {
	return s.out.DeadLetters(security.WithTenant(ctx, tenant), s.cfg.Consumer, limit)
}

// ---- changes, for waiting on conditions ----

// notify tells whoever waits on changes that the state moved.
func (s *Shipper) notify() {
	s.chMu.Lock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	s.chMu.Unlock()
}

// changes returns a channel closed at the next change.
func (s *Shipper) changes() <-chan struct{} {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}
