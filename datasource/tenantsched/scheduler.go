package tenantsched

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
)

// Scheduler decides which tenant's work runs when, for one kind of work
// (one signal and hint topic). Create it with New, then Start it; Stop it
// before what its work uses closes. A Scheduler is not restartable.
type Scheduler struct {
	cfg   Config
	clock clockwork.Clock
	log   *slog.Logger

	mu            sync.Mutex
	state         runState
	tenants       map[string]*tenant   // tenants with known work, turns in flight or a backoff
	timers        timerHeap            // tenants due later, earliest first
	ready         readyQueue           // tenants due now, in turn order
	idle          int                  // workers without a turn
	turns         int64                // turns handed out
	running       map[*Turn]struct{}   // turns in flight, to cut them short
	tombs         map[string]time.Time // tenants recently forgotten: wake-ups ignored
	causeFailures map[string]int       // failures per shared cause since its tenants were last brought forward
	ended         chan struct{}        // closed and replaced whenever a turn ends

	// Hints. seen is the last hint read (or settled) per tenant, so a
	// changed read acts on changes only. settles numbers the tenants'
	// settles; while hint reads are in flight (readsInFlight),
	// settledInRead keeps each settling tenant's latest number, so that a
	// read does not act on a hint older than what the tenant itself just
	// found out (cleared when no read is in flight).
	seen          map[string]time.Time
	lastRead      time.Time
	nextChanged   time.Time
	nextOverdue   time.Time
	refreshWanted bool      // a "refresh everything" signal asked for a read
	wantedAt      time.Time // when the first such signal not yet served came
	settles       uint64
	readsInFlight int
	settledInRead map[string]uint64

	// Sweep.
	sweepBuf  []string  // tenants of the current page not yet probed
	sweepNext string    // where the next page starts
	sweepPass time.Time // when the current pass began
	nextSweep time.Time

	dispatcher, hinter, sweeper loop

	work    chan handout
	stop    chan struct{}
	loops   sync.WaitGroup
	workers sync.WaitGroup
	runCtx  context.Context
	cancel  context.CancelFunc
	unsub   []func()

	hintReads, hintWrites, listings, sweepRounds, sweepChecks atomic.Int64
}

type runState int

const (
	stateNew runState = iota
	stateRunning
	stateStopping
	stateStopped
)

// The causes with which turns are cut short (context.Cause of their
// context).
var (
	// ErrStopping: Stop's context ended before the turn did.
	ErrStopping = errors.New("tenantsched: scheduler stopping")
	// ErrForgotten: the tenant was forgotten (disabled or dropped on this
	// node) and the wait for its turns ended before the turn did.
	ErrForgotten = errors.New("tenantsched: tenant no longer served on this node")
)

// CutShortError is what Stop, and the wait that Forget returns, report
// when their context ended before the turns in flight did: those turns'
// contexts were cancelled.
type CutShortError struct {
	// Tenant is the forgotten tenant; empty for Stop.
	Tenant string
	// Turns is how many turns were cut short.
	Turns int
	// Abandoned is how many of them had still not returned after
	// Config.CutGrace: their work ignores its context.
	Abandoned int
	// Err is the context's error.
	Err error
}

// Error says how many turns were cut short, and why.
func (e *CutShortError) Error() string {
	of := "at shutdown"
	if e.Tenant != "" {
		of = "of tenant " + e.Tenant
	}
	msg := fmt.Sprintf("tenantsched: %d turns %s cut short: %v", e.Turns, of, e.Err)
	if e.Abandoned > 0 {
		msg += fmt.Sprintf("; %d still running: their work ignored its cancelled context", e.Abandoned)
	}
	return msg
}

// Unwrap returns the context's error.
func (e *CutShortError) Unwrap() error { return e.Err }

// New checks cfg and returns a scheduler. It does nothing until Start.
//
// Errors: a configuration problem, each saying what to change.
func New(cfg Config) (*Scheduler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Scheduler{
		cfg:           cfg,
		clock:         cfg.Clock,
		log:           cfg.Logger,
		tenants:       map[string]*tenant{},
		running:       map[*Turn]struct{}{},
		tombs:         map[string]time.Time{},
		causeFailures: map[string]int{},
		ended:         make(chan struct{}),
		seen:          map[string]time.Time{},
		settledInRead: map[string]uint64{},
		dispatcher:    newLoop(),
		hinter:        newLoop(),
		sweeper:       newLoop(),
		work:          make(chan handout, cfg.Workers),
		stop:          make(chan struct{}),
	}
	s.runCtx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start subscribes to the signals, starts the workers, the dispatcher, the
// hint reader and the sweeper, and reads the hints once (bounded by ctx)
// before it returns.
//
// Errors: Start called twice, or after Stop.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateNew {
		s.mu.Unlock()
		return errors.New("tenantsched: Start called twice, or after Stop; create a new scheduler")
	}
	s.state = stateRunning
	s.idle = s.cfg.Workers
	now := s.clock.Now()
	s.nextChanged = now.Add(s.cfg.HintInterval)
	s.nextOverdue = now.Add(s.cfg.OverdueInterval)
	s.nextSweep = now.Add(s.cfg.SweepInterval)
	s.dispatcher.started = true
	s.hinter.started = s.cfg.Hints != nil
	s.sweeper.started = s.cfg.sweeping()
	s.mu.Unlock()

	if sig := s.cfg.Signals; sig != nil {
		s.unsub = append(s.unsub, sig.Subscribe(s.cfg.Topic, s.Signal))
		if s.cfg.Topic != datasource.TopicTenant {
			s.unsub = append(s.unsub, sig.Subscribe(datasource.TopicTenant, s.Signal))
		}
	}
	for range s.cfg.Workers {
		s.workers.Add(1)
		go s.worker()
	}
	s.loops.Add(1)
	go s.spin(&s.dispatcher, s.dispatchStep)
	if s.hinter.started {
		s.loops.Add(1)
		go s.spin(&s.hinter, s.readStep)
	}
	if s.sweeper.started {
		s.loops.Add(1)
		go s.spin(&s.sweeper, s.sweepStep)
	}
	s.ReadHints(ctx, ReadAll)
	return nil
}

// Stop stops handing out turns, reading hints and sweeping, lets the
// turns in flight finish while ctx allows, then cancels the rest (cause
// ErrStopping) and waits up to Config.CutGrace for them. It returns once
// no goroutine of the scheduler is left but those of abandoned turns.
// Calling it again does nothing.
//
// Errors: *CutShortError when ctx ended first.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.state != stateRunning {
		s.mu.Unlock()
		return nil
	}
	s.state = stateStopping
	s.dispatcher.kickLocked()
	s.mu.Unlock()
	s.notify()
	for _, u := range s.unsub {
		u()
	}
	close(s.stop)
	loopsDone := make(chan struct{})
	go func() {
		s.loops.Wait()
		close(loopsDone)
	}()

	var cut *CutShortError
	if err := s.waitTurns(ctx, loopsDone, nil, nil); err != nil {
		n := s.cutShort(nil, ErrStopping)
		s.cancel() // a hint read or a sweep in a slow call
		cut = &CutShortError{Turns: n, Err: err}
		if s.waitTurns(context.Background(), loopsDone, nil, time.After(s.cfg.CutGrace)) != nil {
			cut.Abandoned = s.turnsOf(nil)
		}
	}
	close(s.work)
	if cut == nil || cut.Abandoned == 0 {
		s.workers.Wait()
	}
	s.cancel()
	s.mu.Lock()
	s.state = stateStopped
	s.mu.Unlock()
	s.notify()
	if cut != nil {
		return cut
	}
	return nil
}

// waitTurns waits until no turn (of t only, when t is not nil) runs and
// done (when not nil) is closed, until ctx ends or until timeout fires.
func (s *Scheduler) waitTurns(ctx context.Context, done <-chan struct{}, t *tenant, timeout <-chan time.Time) error {
	for {
		s.mu.Lock()
		busy := s.turnsOfLocked(t) > 0
		ended := s.ended
		s.mu.Unlock()
		if done != nil {
			select {
			case <-done:
				done = nil
			default:
			}
		}
		if !busy && done == nil {
			return nil
		}
		if !busy {
			ended = nil // only done is awaited
		}
		select {
		case <-ended:
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return context.DeadlineExceeded
		}
	}
}

// turnsOf counts the turns handed out and not ended (of t only, when t
// is not nil).
func (s *Scheduler) turnsOf(t *tenant) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.turnsOfLocked(t)
}

func (s *Scheduler) turnsOfLocked(t *tenant) int {
	if t == nil {
		return s.cfg.Workers - s.idle // handed out, running or not yet
	}
	return t.inflight
}

// cutShort cancels the turns in flight (of t only, when t is not nil)
// with cause, and returns how many.
func (s *Scheduler) cutShort(t *tenant, cause error) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for r := range s.running {
		if t == nil || r.t == t {
			r.cancel(cause)
			n++
		}
	}
	return n
}

// Wake tells the scheduler that each tenant may have work due at at (now
// or earlier: due at once). An earlier time than the one a tenant is
// scheduled for wins; a tenant in backoff stays in backoff; a tombstoned
// tenant is ignored. The tenants are woken in order, with no turn handed
// out between them. Because a wake-up from outside usually follows a
// change that also moved the tenant's hint in the primary, the tenant's
// next Settle writes its hint even if unchanged on this node's side.
func (s *Scheduler) Wake(at time.Time, tenants ...string) {
	defer s.notify()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for _, id := range tenants {
		if t := s.wakeIDLocked(id, at, now); t != nil {
			t.hintKnown = false
		}
	}
}

// Signal handles a signal as Config.Signals delivers it (which calls it;
// call it directly to deliver signals another way). A signal of
// Config.Topic for a tenant wakes it at its DueAt, but no sooner than
// SignalDelay from now (plus RemoteSignalDelay for another node's); one
// for all tenants (a listener reconnected) asks for one hint read, at
// least HintMinGap after the last, RefreshDelay from now, so that a burst
// of them costs one read, never a query per tenant. A
// datasource.TopicTenant signal for a tenant ends its tombstone: it
// changed again (enabled after a disable).
func (s *Scheduler) Signal(sig datasource.Signal) {
	switch {
	case sig.Topic == s.cfg.Topic && sig.All:
		s.requestRefresh()
	case sig.Topic == s.cfg.Topic && sig.Tenant != "":
		now := s.clock.Now()
		at := now.Add(s.cfg.SignalDelay)
		if sig.DueAt.After(at) {
			at = sig.DueAt
		}
		if sig.Remote {
			if soonest := now.Add(s.cfg.SignalDelay + s.cfg.RemoteSignalDelay); at.Before(soonest) {
				at = soonest
			}
		}
		s.Wake(at, sig.Tenant)
	case sig.Topic == datasource.TopicTenant && !sig.All && sig.Tenant != "":
		s.mu.Lock()
		delete(s.tombs, sig.Tenant)
		s.mu.Unlock()
	}
}

// Forget stops scheduling a tenant that is no longer served on this node
// (the OnDisable and OnDrop hooks call it): it is taken out of the queues,
// its state and last seen hint are dropped, and wake-ups of it are ignored
// for Config.TombstoneTTL unless a tenant signal says it changed again.
// Its turns in flight go on: the returned function waits for them; when
// its ctx ends first, it cancels them (cause ErrForgotten), waits up to
// Config.CutGrace, and returns a *CutShortError.
func (s *Scheduler) Forget(tenant string) (wait func(ctx context.Context) error) {
	noWait := func(context.Context) error { return nil }
	defer s.notify()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateRunning && s.state != stateStopping {
		return noWait
	}
	s.tombs[tenant] = s.clock.Now()
	delete(s.seen, tenant)
	t := s.tenants[tenant]
	if t == nil {
		return noWait
	}
	t.gone = true
	s.unqueueLocked(t)
	delete(s.tenants, tenant)
	s.dispatcher.kickLocked()
	if t.inflight == 0 {
		return noWait
	}
	t.idle = make(chan struct{})
	idle := t.idle
	return func(ctx context.Context) error {
		select {
		case <-idle:
			return nil
		case <-ctx.Done():
		}
		cut := &CutShortError{Tenant: tenant, Turns: s.cutShort(t, ErrForgotten), Err: ctx.Err()}
		select {
		case <-idle:
		case <-time.After(s.cfg.CutGrace):
			cut.Abandoned = s.turnsOf(t)
		}
		return cut
	}
}

// Tombstoned reports whether the tenant was forgotten less than
// Config.TombstoneTTL ago and no tenant signal said it changed since.
func (s *Scheduler) Tombstoned(tenant string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tombstonedLocked(tenant, s.clock.Now())
}

// TenantStatus is what the scheduler holds of one tenant.
type TenantStatus struct {
	// Known is true when the scheduler holds state for the tenant: it is
	// queued, running or backing off. The fields up to RetryAt are zero
	// otherwise.
	Known bool
	// Place is where it waits.
	Place Place
	// Due is when it is due, while Scheduled.
	Due time.Time
	// Running counts its turns in flight; Cap is how many it may run at
	// once.
	Running, Cap int
	// Failures counts its failures in a row.
	Failures int
	// RetryAt is when its backoff ends, while it backs off.
	RetryAt time.Time
	// Hint is the hint last read or settled for it, when HintSeen.
	Hint     time.Time
	HintSeen bool
	// Tombstoned is true while wake-ups of it are ignored.
	Tombstoned bool
}

// Tenant returns what the scheduler holds of a tenant.
func (s *Scheduler) Tenant(id string) TenantStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	var st TenantStatus
	if t := s.tenants[id]; t != nil {
		st = TenantStatus{Known: true, Place: t.where, Running: t.inflight, Cap: t.cap, Failures: t.failures}
		if t.where == Scheduled {
			st.Due = t.due
		}
		if t.notBefore.After(now) {
			st.RetryAt = t.notBefore
		}
	}
	st.Hint, st.HintSeen = s.seen[id]
	st.Tombstoned = s.tombstonedLocked(id, now)
	return st
}

// Stats are the scheduler's figures: current values, then counters since
// Start.
type Stats struct {
	// Due counts tenants due now that wait for a worker or for one of
	// their turns to end; Scheduled those due later.
	Due, Scheduled int
	// Running counts turns in flight.
	Running int
	// Known counts tenants the scheduler holds state for; BackingOff
	// those of them waiting out a failure.
	Known, BackingOff int
	// HintReads and HintWrites count the calls to Config.Hints; Listings
	// the sweep's calls to Config.Directory.
	HintReads, HintWrites, Listings int64
	// SweepRounds counts rounds of the sweep, SweepChecks the tenants it
	// probed.
	SweepRounds, SweepChecks int64
}

// Stats returns the scheduler's figures.
func (s *Scheduler) Stats() Stats {
	out := Stats{
		HintReads: s.hintReads.Load(), HintWrites: s.hintWrites.Load(), Listings: s.listings.Load(),
		SweepRounds: s.sweepRounds.Load(), SweepChecks: s.sweepChecks.Load(),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	out.Due, out.Scheduled, out.Running, out.Known = s.ready.len(), len(s.timers), len(s.running), len(s.tenants)
	for _, t := range s.tenants {
		if t.where == AtCap {
			out.Due++
		}
		if t.notBefore.After(now) {
			out.BackingOff++
		}
	}
	return out
}

// Quiet reports whether the scheduler has nothing to do before its clock
// moves: no turn runs, no tenant is due now, and its loops wait with their
// timers armed for what they saw last; next is the earliest time one of
// them fires (zero: none). A scheduler that is not running is quiet. Tests
// on a fake clock advance it to next only when quiet; Config.OnChange
// tells when to look again.
func (s *Scheduler) Quiet() (quiet bool, next time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateRunning {
		return true, time.Time{}
	}
	if s.idle != s.cfg.Workers || len(s.running) > 0 || s.ready.len() > 0 {
		return false, time.Time{}
	}
	now := s.clock.Now()
	for _, l := range []*loop{&s.dispatcher, &s.hinter, &s.sweeper} {
		if !l.quietLocked(now) {
			return false, time.Time{}
		}
		if l.started && !l.at.IsZero() && (next.IsZero() || l.at.Before(next)) {
			next = l.at
		}
	}
	return true, next
}

// notify tells Config.OnChange that the state changed. Never called with
// s.mu held.
func (s *Scheduler) notify() {
	if s.cfg.OnChange != nil {
		s.cfg.OnChange()
	}
}

// dispatchStep hands due tenants to idle workers in turn order, and
// returns when the next tenant is due.
func (s *Scheduler) dispatchStep(now time.Time) (func(), time.Time) {
	for len(s.timers) > 0 && !s.timers[0].due.After(now) {
		t := heap.Pop(&s.timers).(*tenant)
		t.where = Due
		s.ready.push(t)
	}
	if s.state == stateRunning {
		s.handOutLocked(now)
	}
	if len(s.timers) == 0 {
		return nil, time.Time{}
	}
	return nil, s.timers[0].due
}

// worker runs the turns handed to it.
func (s *Scheduler) worker() {
	defer s.workers.Done()
	for h := range s.work {
		s.runTurn(h)
		s.turnEnded(h.t)
	}
}

// runTurn runs one turn, unless the scheduler stopped or the tenant was
// forgotten since it was handed out.
func (s *Scheduler) runTurn(h handout) {
	s.mu.Lock()
	if s.state != stateRunning || h.t.gone {
		s.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancelCause(withTenant(s.runCtx, h.t.id))
	turn := &Turn{s: s, t: h.t, seq: h.seq, ctx: ctx, cancel: cancel}
	s.running[turn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, turn)
		s.mu.Unlock()
		cancel(nil)
	}()
	s.cfg.Work(turn)
}

// turnEnded gives the worker back, and queues again a tenant that became
// due while it was at its cap.
func (s *Scheduler) turnEnded(t *tenant) {
	defer s.notify()
	s.mu.Lock()
	defer s.mu.Unlock()
	t.inflight--
	s.idle++
	close(s.ended)
	s.ended = make(chan struct{})
	now := s.clock.Now()
	switch {
	case t.gone:
		if t.inflight == 0 && t.idle != nil {
			close(t.idle)
			t.idle = nil
		}
	case t.where == AtCap:
		t.where = Unqueued
		s.wakeLocked(t, time.Time{}, now, true)
	default:
		s.gcLocked(t, now)
	}
	s.dispatcher.kickLocked()
}
