package jobexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"
	"github.com/robfig/cron/v3"

	"github.com/tenantflow/tenantflow/datasource"
)

// Executor runs the jobs of every tenant on this node. Create it with New,
// then Start it; Stop it before the datasource closes. An Executor is not
// restartable: after Stop, create a new one.
type Executor struct {
	cfg     Config
	eng     Engine
	src     *datasource.Sources
	dir     directory
	reap    func() int
	clock   clockwork.Clock
	log     *slog.Logger
	maintAt cron.Schedule // nil when maintenance is disabled

	mu        sync.Mutex
	state     runState
	tenants   map[string]*tenantState // tenants with known work, running batches or a backoff
	timers    timerHeap               // tenants due later, earliest first
	ready     readyQueue              // tenants due now, in turn order
	idle      int                     // workers without a batch
	batches   map[*batch]struct{}     // batches running, for renewal and cut-short
	tombs     map[string]time.Time    // tenants recently disabled: wake-ups ignored
	seenHints map[string]time.Time    // last hint read per tenant, to act on changes only
	lastRead  time.Time               // last hint read (executor clock)
	// settles numbers the tenants' settles; while hint reads are in flight
	// (readsInFlight), settledInRead keeps each settling tenant's latest
	// number, so a read does not act on a hint older than what the tenant
	// itself just found out (cleared when no read is in flight).
	settles       uint64
	readsInFlight int
	settledInRead map[string]uint64
	sweepBuf      []string  // tenants of the current sweep page not yet checked
	sweepNext     string    // where the next sweep page starts
	sweepPass     time.Time // when the current sweep pass began
	turns         int64     // turns handed out
	gen           uint64    // bumped by every change the dispatcher must see
	parked        bool      // the dispatcher waits with its timer armed for gen parkedGen
	parkedGen     uint64

	kick         chan struct{}
	work         chan turn
	stopDispatch chan struct{}
	dispatchDone chan struct{}
	workers      sync.WaitGroup
	bg           sync.WaitGroup // refreshes triggered by signals
	runCtx       context.Context
	cutShort     context.CancelCauseFunc
	unsub        []func()
	sched        gocron.Scheduler

	refreshPending atomic.Bool
	duties         map[string]*duty
	dutiesRunning  atomic.Int64

	maintMu      sync.Mutex // guards the maintenance maps; taken before mu
	maintJobs    map[string]gocron.Job
	maintRunning map[string]chan struct{}
	maintSlots   chan struct{}

	// ended is closed and replaced whenever a batch ends.
	ended chan struct{}
	// changes receives a value (without blocking) after every change of
	// state worth re-checking a condition for; tests wait on it.
	changes chan struct{}

	stats stats
}

type runState int

const (
	stateNew runState = iota
	stateRunning
	stateStopping
	stateStopped
)

// Errors that end a batch early, as the cause of its context.
var (
	errStopping   = errors.New("jobexec: executor stopping")
	errTenantGone = errors.New("jobexec: tenant no longer served on this node")
	errLocksLost  = errors.New("jobexec: every lock of the batch was lost")
)

// tombTTL is how long wake-ups of a disabled tenant are ignored unless a
// tenant signal says it changed again.
const tombTTL = time.Minute

// New checks cfg and returns an executor. It does nothing until Start.
//
// Errors: a configuration problem, each saying what to change.
func New(cfg Config) (*Executor, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	x := &Executor{
		cfg:           cfg,
		eng:           cfg.Engine,
		src:           cfg.Sources,
		dir:           sourcesDirectory{primary: cfg.Sources.Primary, registry: cfg.Sources.Registry},
		reap:          cfg.Sources.Tenants.ReapIdle,
		clock:         cfg.Clock,
		log:           cfg.Logger.With("component", "jobexec", "node", cfg.NodeID),
		tenants:       map[string]*tenantState{},
		batches:       map[*batch]struct{}{},
		tombs:         map[string]time.Time{},
		seenHints:     map[string]time.Time{},
		settledInRead: map[string]uint64{},
		kick:          make(chan struct{}, 1),
		work:          make(chan turn, cfg.Workers),
		stopDispatch:  make(chan struct{}),
		dispatchDone:  make(chan struct{}),
		duties:        map[string]*duty{},
		maintJobs:     map[string]gocron.Job{},
		maintRunning:  map[string]chan struct{}{},
		maintSlots:    make(chan struct{}, cfg.MaintenanceConcurrency),
		ended:         make(chan struct{}),
		changes:       make(chan struct{}, 1),
		stats:         newStats(cfg.BatchLogSize),
	}
	if !cfg.DisableMaintenance {
		s, err := parseSchedule(cfg.MaintenanceSchedule)
		if err != nil {
			return nil, err
		}
		x.maintAt = s
	}
	return x, nil
}

// Start subscribes to job and tenant signals and to the lifecycle hooks,
// schedules the periodic duties, starts the workers, reads the primary's
// hints once, and opens the maintenance window if the node starts inside
// one. It returns once all that is in place.
//
// Errors: Start called twice; the scheduler could not be set up; the first
// reads of the primary failed (ctx bounds them).
func (x *Executor) Start(ctx context.Context) error {
	x.mu.Lock()
	if x.state != stateNew {
		x.mu.Unlock()
		return errors.New("jobexec: Start called on an executor already started; create a new one")
	}
	x.state = stateRunning
	x.runCtx, x.cutShort = context.WithCancelCause(context.Background())
	x.idle = x.cfg.Workers
	x.mu.Unlock()

	sched, err := gocron.NewScheduler(gocron.WithClock(x.clock), gocron.WithLocation(time.UTC),
		gocron.WithStopTimeout(10*time.Second))
	if err != nil {
		x.abortStart()
		return fmt.Errorf("jobexec: scheduler: %w", err)
	}
	x.sched = sched
	if err := x.scheduleDuties(); err != nil {
		x.abortStart()
		return err
	}
	x.unsub = append(x.unsub,
		x.src.Signals.Subscribe(datasource.TopicJobs, x.onJobSignal),
		x.src.Signals.Subscribe(datasource.TopicTenant, x.onTenantSignal),
	)
	x.src.Lifecycle.OnDisable(x.forget)
	x.src.Lifecycle.OnDrop(x.forget)

	for range x.cfg.Workers {
		x.workers.Add(1)
		go x.worker()
	}
	go x.dispatch()
	sched.Start()

	x.refreshHints(ctx, readAll)
	if x.maintAt != nil {
		now := x.clock.Now().UTC()
		if start, ok := x.windowContaining(now); ok {
			if err := x.openWindow(ctx, start); err != nil {
				x.log.Warn("could not schedule the maintenance of the window in progress; the next window will", "err", err)
			}
		}
	}
	return nil
}

// abortStart undoes a Start that failed before anything ran.
func (x *Executor) abortStart() {
	if x.sched != nil {
		_ = x.sched.Shutdown()
	}
	x.mu.Lock()
	x.state = stateStopped
	x.mu.Unlock()
	x.cutShort(errStopping)
	close(x.dispatchDone)
}

// Stop stops acquiring, lets the batches in flight finish while ctx allows
// (their locks are still renewed), then cuts the rest short and releases
// their jobs, and stops every goroutine and gocron job of the executor.
// Calling it again does nothing.
//
// Errors: ctx ended before every batch finished (their unfinished jobs were
// released; a job that ignores its context may still be running).
func (x *Executor) Stop(ctx context.Context) error {
	x.mu.Lock()
	if x.state != stateRunning {
		x.mu.Unlock()
		return nil
	}
	x.state = stateStopping
	x.mu.Unlock()
	x.poke()
	for _, u := range x.unsub {
		u()
	}
	close(x.stopDispatch)
	<-x.dispatchDone

	var errs []error
	if err := x.waitBatches(ctx, nil); err != nil {
		n := x.cutBatches(nil, errStopping)
		errs = append(errs, fmt.Errorf("jobexec: %d batches still running at shutdown were cut short and their jobs released: %w", n, err))
		if werr := x.waitBatches(context.Background(), graceTimer()); werr != nil {
			errs = append(errs, errors.New("jobexec: a job ignored its cancelled context; its worker is left running"))
		}
	}
	close(x.work)
	if len(errs) == 0 {
		x.workers.Wait()
	}
	if err := x.sched.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("jobexec: stopping the scheduler: %w", err))
	}
	x.cutShort(errStopping)
	x.bg.Wait()
	x.mu.Lock()
	x.state = stateStopped
	x.mu.Unlock()
	x.poke()
	return errors.Join(errs...)
}

// releaseGrace bounds, in real time, how long cancelled batches get to
// release their jobs once a deadline passed.
const releaseGrace = 5 * time.Second

func graceTimer() <-chan time.Time { return time.After(releaseGrace) }

// waitBatches waits until no batch runs, until ctx ends or until timeout
// fires.
func (x *Executor) waitBatches(ctx context.Context, timeout <-chan time.Time) error {
	for {
		x.mu.Lock()
		busy := x.cfg.Workers - x.idle
		ended := x.ended
		x.mu.Unlock()
		if busy == 0 {
			return nil
		}
		select {
		case <-ended:
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			return context.DeadlineExceeded
		}
	}
}

// cutBatches cancels the running batches (of tenant t only, when t is not
// nil) with cause, and returns how many.
func (x *Executor) cutBatches(t *tenantState, cause error) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for b := range x.batches {
		if t == nil || b.tenant == t {
			b.cancel(cause)
			n++
		}
	}
	return n
}

// forget is the OnDisable and OnDrop hook: the tenant is no longer polled,
// its maintenance job is removed, and the call returns once its batches
// and maintenance finished, or, when ctx ends first, once they were cut
// short and their jobs released.
func (x *Executor) forget(ctx context.Context, tenant string) error {
	x.maintMu.Lock()
	x.mu.Lock()
	if x.state != stateRunning && x.state != stateStopping {
		x.mu.Unlock()
		x.maintMu.Unlock()
		return nil
	}
	now := x.clock.Now()
	x.tombs[tenant] = now
	t := x.tenants[tenant]
	var idle chan struct{}
	if t != nil {
		t.gone = true
		x.unqueueLocked(t)
		delete(x.tenants, tenant)
		if t.inflight > 0 {
			t.idle = make(chan struct{})
			idle = t.idle
		}
	}
	delete(x.seenHints, tenant)
	x.kickLocked()
	x.mu.Unlock()
	if x.sched != nil {
		x.sched.RemoveByTags(tenantTag(tenant))
	}
	delete(x.maintJobs, tenant)
	maint := x.maintRunning[tenant]
	x.maintMu.Unlock()

	var errs []error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			n := x.cutBatches(t, errTenantGone)
			select {
			case <-idle:
				errs = append(errs, fmt.Errorf("jobexec: tenant %s: %d batches cut short, their jobs released: %w", tenant, n, ctx.Err()))
			case <-graceTimer():
				errs = append(errs, fmt.Errorf("jobexec: tenant %s: a job ignored its cancelled context and still runs", tenant))
			}
		}
	}
	if maint != nil {
		// Removing the gocron job cancelled its context.
		select {
		case <-maint:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("jobexec: tenant %s: maintenance still running: %w", tenant, ctx.Err()))
		}
	}
	x.stats.forget(tenant) // after its batches: they count until they end
	x.poke()
	return errors.Join(errs...)
}

// poke tells a waiting test that something changed.
func (x *Executor) poke() {
	select {
	case x.changes <- struct{}{}:
	default:
	}
}
