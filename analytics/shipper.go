package analytics

import (
	"container/heap"
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

	mu      sync.Mutex
	tenants map[string]*tenantState
	queue   dueQueue
	// esFailures counts Elasticsearch failures since the tenants waiting
	// for Elasticsearch were last brought forward: while it is zero, none
	// waits beyond now, and a recovery need not look through them all.
	esFailures  int
	seq         uint64
	idle        int // workers without a batch
	busy        int // hint reads and sweeps in progress
	started     bool
	stopped     bool
	nextHints   time.Time
	nextSweep   time.Time
	lastHints   time.Time
	hintsWanted bool      // an All signal asked for a hint read
	wantedAt    time.Time // when the first All signal not yet served came
	sweepAfter  string
	changed     chan struct{} // closed on every change, when someone waits

	wake    chan struct{} // the dispatcher
	bgWake  chan struct{} // the background loop
	work    chan *tenantState
	stop    chan struct{}
	runCtx  context.Context
	cancel  context.CancelFunc
	workers sync.WaitGroup
	loops   sync.WaitGroup
	unsub   []func()

	stats stats
}

// tenantState is what the shipper knows of one tenant.
type tenantState struct {
	id    string
	due   time.Time
	seq   uint64
	index int // position in the queue; -1 when not queued

	running    bool
	pending    bool      // woken while running
	pendingDue time.Time // earliest wake-up asked for while running
	gone       bool      // disabled or dropped
	idleCh     chan struct{}

	// position is the consumer's position as this node last learnt or
	// set it; known is false until read from storage.
	position engine.Cursor
	known    bool
	// fresh: the next run starts a new drain and re-reads the position,
	// which another node may have moved.
	fresh bool
	// rechecks counts drains that ended with events not yet readable.
	rechecks int

	attempts  int       // consecutive failed attempts
	retryAt   time.Time // no attempt before
	esFailing bool      // the last attempt failed in Elasticsearch, not in storage

	backlog   int64
	oldest    time.Time // time of the oldest event read and not yet acknowledged
	shipped   int64
	dead      int64
	lastError string
}

// dueQueue orders tenants by due time, then by when they were queued, so a
// tenant re-queued after a full batch goes behind those already waiting.
type dueQueue []*tenantState

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].seq < q[j].seq
}
func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i]; q[i].index = i; q[j].index = j }
func (q *dueQueue) Push(x any)   { t := x.(*tenantState); t.index = len(*q); *q = append(*q, t) }
func (q *dueQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	t.index = -1
	return t
}

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
		wake:    make(chan struct{}, 1),
		bgWake:  make(chan struct{}, 1),
		work:    make(chan *tenantState),
		stop:    make(chan struct{}),
		stats:   newStats(),
	}
	s.runCtx, s.cancel = context.WithCancel(context.Background())
	if !s.enabled {
		return s, nil
	}
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

// Start subscribes to event signals and lifecycle hooks and starts the
// workers. With shipping off it does nothing.
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
	if s.cfg.Signals != nil {
		s.unsub = append(s.unsub, s.cfg.Signals.Subscribe(datasource.TopicEvents, s.onSignal))
	}
	if s.cfg.Lifecycle != nil {
		s.cfg.Lifecycle.OnDisable(s.forgetTenant)
		s.cfg.Lifecycle.OnDrop(s.forgetTenant)
	}
	s.mu.Lock()
	s.bulk = bulk
	s.idle = s.cfg.Workers
	now := s.clock.Now()
	s.nextHints, s.nextSweep = now, now.Add(s.cfg.SweepInterval)
	s.notifyLocked()
	s.mu.Unlock()
	for i := 0; i < s.cfg.Workers; i++ {
		s.workers.Add(1)
		go s.worker()
	}
	s.loops.Add(2)
	go s.dispatch()
	go s.background()
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
	for _, u := range s.unsub {
		u()
	}
	close(s.stop)
	done := make(chan struct{})
	go func() {
		// A hint read or a sweep may be in a slow call: it is bounded by
		// ctx like the batches, through the cancellation below.
		s.loops.Wait()
		close(s.work) // the dispatcher hands out no more work
		s.workers.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("analytics: batches still running at shutdown were cancelled: %w", ctx.Err())
		s.cancel()
		<-done
	}
	s.cancel()
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer ccancel()
	err = errors.Join(err, s.bulk.Close(cctx), s.es.Close(cctx))
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	s.mu.Lock()
	s.notifyLocked()
	s.mu.Unlock()
	return err
}

// ---- knowing who has events ----

// Wake makes the shipper look at a tenant after delay (earlier wake-ups
// win; a tenant backing off stays backing off). Signals call it; tools and
// tests may too.
func (s *Shipper) Wake(tenant string, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scheduleLocked(tenant, s.clock.Now().Add(delay))
}

func (s *Shipper) scheduleLocked(tenant string, due time.Time) {
	if s.stopped || !s.started || tenant == "" {
		return
	}
	t := s.tenants[tenant]
	if t == nil {
		t = &tenantState{id: tenant, index: -1, fresh: true}
		s.tenants[tenant] = t
	}
	if t.gone {
		return
	}
	if due.Before(t.retryAt) {
		due = t.retryAt
	}
	switch {
	case t.running:
		if !t.pending || due.Before(t.pendingDue) {
			t.pendingDue = due
		}
		t.pending = true
		return
	case t.index >= 0:
		if due.Before(t.due) {
			t.due = due
			heap.Fix(&s.queue, t.index)
		}
	default:
		s.seq++
		t.due, t.seq = due, s.seq
		heap.Push(&s.queue, t)
	}
	s.notifyLocked()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// onSignal reacts to an events signal: a local one after FlushInterval,
// a remote one RemoteDelay later, and an All signal (a listener
// reconnected and may have missed signals) with one hint read
// FlushInterval later, so a burst of them costs one read.
func (s *Shipper) onSignal(sig datasource.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sig.All {
		if !s.hintsWanted {
			s.hintsWanted, s.wantedAt = true, s.clock.Now()
		}
		s.notifyLocked()
		select {
		case s.bgWake <- struct{}{}:
		default:
		}
		return
	}
	delay := s.cfg.FlushInterval
	if sig.Remote {
		delay += s.cfg.RemoteDelay
	}
	s.scheduleLocked(sig.Tenant, s.clock.Now().Add(delay))
}

// background reads hints and sweeps, each on its own rate-limited
// schedule.
func (s *Shipper) background() {
	defer s.loops.Done()
	for {
		s.mu.Lock()
		now := s.clock.Now()
		if s.hintsWanted {
			s.hintsWanted = false
			if at := s.wantedHintsLocked(); at.Before(s.nextHints) {
				s.nextHints = at
			}
			s.notifyLocked()
		}
		doHints := s.cfg.Hints != nil && !now.Before(s.nextHints)
		doSweep := s.cfg.Directory != nil && !now.Before(s.nextSweep)
		if doHints || doSweep {
			if doHints {
				s.lastHints = now
				s.nextHints = now.Add(s.cfg.HintInterval)
			}
			if doSweep {
				s.nextSweep = now.Add(s.cfg.SweepInterval)
			}
			s.busy++
			s.notifyLocked()
			s.mu.Unlock()
			if doHints {
				s.readHints()
			}
			if doSweep {
				s.sweep()
			}
			s.mu.Lock()
			s.busy--
			s.notifyLocked()
			s.mu.Unlock()
			continue
		}
		timer, fire := s.armLocked(s.nextBackgroundLocked(), now)
		s.mu.Unlock()
		select {
		case <-s.stop:
		case <-fire:
		case <-s.bgWake:
		}
		if timer != nil {
			timer.Stop()
		}
		select {
		case <-s.stop:
			return
		default:
		}
	}
}

// armLocked returns a timer that fires at the given time (none when it is
// zero). It runs under s.mu with now read under the same hold: the timer's
// duration is then exact even on a fake clock that a test advances while
// holding s.mu, so an advance can never slip between reading the time and
// arming the timer and leave the timer firing late.
func (s *Shipper) armLocked(at, now time.Time) (clockwork.Timer, <-chan time.Time) {
	if at.IsZero() {
		return nil, nil
	}
	t := s.clock.NewTimer(at.Sub(now))
	return t, t.Chan()
}

// wantedHintsLocked is when the hint read an All signal asked for is due:
// FlushInterval after the signal, so a burst of them is served by one
// read, and never closer than a second to the last read.
func (s *Shipper) wantedHintsLocked() time.Time {
	at := s.wantedAt.Add(s.cfg.FlushInterval)
	if last := s.lastHints.Add(time.Second); at.Before(last) {
		at = last
	}
	return at
}

// nextBackgroundLocked is when the background loop next has something to
// do (zero: never).
func (s *Shipper) nextBackgroundLocked() time.Time {
	var next time.Time
	if s.cfg.Hints != nil {
		next = s.nextHints
		if s.hintsWanted {
			if at := s.wantedHintsLocked(); at.Before(next) {
				next = at
			}
		}
	}
	if s.cfg.Directory != nil && (next.IsZero() || s.nextSweep.Before(next)) {
		next = s.nextSweep
	}
	return next
}

// readHints schedules every tenant whose events hint is due, in one query.
// Hints come from every node's commits, so they are delayed like remote
// signals: the committing node usually ships first.
func (s *Shipper) readHints() {
	ctx, cancel := context.WithTimeout(s.runCtx, s.cfg.RequestTimeout)
	defer cancel()
	now := s.clock.Now()
	hints, err := s.cfg.Hints.DueHints(ctx, datasource.TopicEvents, now, 10_000)
	s.stats.hintReads.Add(1)
	if err != nil {
		if s.runCtx.Err() == nil {
			s.log.Warn("reading event hints failed; relying on signals and the sweep", "err", err)
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range hints {
		s.scheduleLocked(h.Tenant, h.DueAt.Add(s.cfg.RemoteDelay))
	}
}

// sweep asks the next few active tenants, round robin, for their backlog,
// so work whose signal and hint were both lost is found eventually.
func (s *Shipper) sweep() {
	ctx, cancel := context.WithTimeout(s.runCtx, s.cfg.RequestTimeout)
	defer cancel()
	s.mu.Lock()
	after := s.sweepAfter
	s.mu.Unlock()
	ts, err := s.cfg.Directory.ListTenants(ctx, &datasource.ListTenantsParams{
		Status: []datasource.Status{datasource.StatusActive}, After: after, Limit: s.cfg.SweepRate})
	s.stats.sweeps.Add(1)
	if err != nil {
		return
	}
	next := ""
	if len(ts) == s.cfg.SweepRate {
		next = ts[len(ts)-1].ID
	}
	s.mu.Lock()
	s.sweepAfter = next
	s.mu.Unlock()
	for _, t := range ts {
		st, err := s.out.ConsumerState(security.WithTenant(ctx, t.ID), s.cfg.Consumer)
		if err != nil || st.Backlog == 0 {
			continue
		}
		s.mu.Lock()
		s.scheduleLocked(t.ID, s.clock.Now())
		s.mu.Unlock()
	}
}

// ---- dispatching ----

// dispatch hands due tenants to idle workers, in due order.
func (s *Shipper) dispatch() {
	defer s.loops.Done()
	for {
		s.mu.Lock()
		if s.stopped { // Stop takes no new work, even work already due
			s.mu.Unlock()
			return
		}
		now := s.clock.Now()
		var hand []*tenantState
		for s.idle > 0 && len(s.queue) > 0 && !s.queue[0].due.After(now) {
			t := heap.Pop(&s.queue).(*tenantState)
			if t.gone {
				continue
			}
			t.running = true
			s.idle--
			hand = append(hand, t)
		}
		if len(hand) > 0 {
			s.notifyLocked()
			s.mu.Unlock()
			// Every tenant handed out has an idle worker waiting for it.
			for _, t := range hand {
				s.work <- t
			}
			continue
		}
		// Nothing due, or no worker free (a finishing worker wakes us).
		var at time.Time
		if s.idle > 0 && len(s.queue) > 0 {
			at = s.queue[0].due
		}
		timer, fire := s.armLocked(at, now)
		s.mu.Unlock()
		select {
		case <-s.stop:
		case <-s.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		select {
		case <-s.stop:
			return
		default:
		}
	}
}

func (s *Shipper) worker() {
	defer s.workers.Done()
	for t := range s.work {
		next := s.runTenant(t)
		s.mu.Lock()
		t.running = false
		s.idle++
		switch {
		case t.gone:
			if t.idleCh != nil {
				close(t.idleCh)
				t.idleCh = nil
			}
		default:
			if t.pending {
				t.pending = false
				if next.IsZero() || t.pendingDue.Before(next) {
					next = t.pendingDue
				}
			}
			if !next.IsZero() {
				s.scheduleLocked(t.id, next)
			}
		}
		s.notifyLocked()
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// ---- tenant lifecycle ----

// forgetTenant lets go of a tenant: it is no longer scheduled, and the call
// returns once its batch in flight has finished (bounded by ctx). Its
// events stay in its outbox.
func (s *Shipper) forgetTenant(ctx context.Context, tenant string) error {
	s.mu.Lock()
	t := s.tenants[tenant]
	var wait chan struct{}
	if t != nil {
		t.gone = true
		if t.index >= 0 {
			heap.Remove(&s.queue, t.index)
		}
		if t.running {
			t.idleCh = make(chan struct{})
			wait = t.idleCh
		}
		delete(s.tenants, tenant)
		s.notifyLocked()
	}
	s.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("analytics: tenant %s still has a batch in flight: %w", tenant, ctx.Err())
		}
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

// notifyLocked tells whoever waits on changes that the state moved.
func (s *Shipper) notifyLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

func (s *Shipper) changesLocked() <-chan struct{} {
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// quiet reports whether nothing is running or due now, and when the next
// scheduled thing (a tenant, a hint read, a sweep) is due. Tests advance a
// fake clock to next, holding s.mu and only while changes is still open:
// the loops arm their timers under s.mu (armLocked), so such an advance
// either precedes the arming (which then sees the new time) or fires the
// timer; a loop whose deadline moved earlier holds a wake-up token, so it
// looks at the clock again either way. Every change of what quiet reports
// closes changes.
func (s *Shipper) quiet() (changes <-chan struct{}, quiet bool, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changes = s.changesLocked()
	if !s.enabled || !s.started || s.stopped {
		return changes, true, time.Time{}
	}
	now := s.clock.Now()
	if s.idle != s.cfg.Workers || s.busy > 0 {
		return changes, false, time.Time{}
	}
	next = s.nextBackgroundLocked()
	if len(s.queue) > 0 {
		if !s.queue[0].due.After(now) {
			return changes, false, time.Time{}
		}
		if next.IsZero() || s.queue[0].due.Before(next) {
			next = s.queue[0].due
		}
	}
	if !next.IsZero() && !next.After(now) {
		return changes, false, time.Time{}
	}
	return changes, true, next
}
