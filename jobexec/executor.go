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
	"github.com/tenantflow/tenantflow/datasource/tenantsched"
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
	// tenants decides which tenant is due and runs its batches (turns) on
	// the workers: the scheduler analytics shares.
	tenants *tenantsched.Scheduler

	mu      sync.Mutex
	state   runState
	batches map[*batch]struct{} // batches running, for renewal and stats

	runCtx   context.Context
	cutShort context.CancelCauseFunc
	sched    gocron.Scheduler

	duties        map[string]*duty
	dutiesRunning atomic.Int64

	maintMu      sync.Mutex // guards the maintenance maps; taken before mu
	maintJobs    map[string]gocron.Job
	maintRunning map[string]chan struct{}
	maintSlots   chan struct{}

	// changes receives a value (without blocking) after every change of
	// state worth re-checking a condition for; tests wait on it.
	changes chan struct{}

	stats    stats
	throttle *throttle // the tenants' jobsPerSecond quotas
}

type runState int

const (
	stateNew runState = iota
	stateRunning
	stateStopping
	stateStopped
)

// Errors that end a batch early, as the cause of its context (besides the
// scheduler's tenantsched.ErrStopping and tenantsched.ErrForgotten).
var (
	errStopping  = errors.New("jobexec: executor stopping")
	errLocksLost = errors.New("jobexec: every lock of the batch was lost")
)

// tombTTL is how long wake-ups of a disabled tenant are ignored unless a
// tenant signal says it changed again.
const tombTTL = time.Minute

// minSweepPass is the shortest time between the starts of two sweep
// passes over the tenant list.
const minSweepPass = time.Minute

// New checks cfg and returns an executor. It does nothing until Start.
//
// Errors: a configuration problem, each saying what to change.
func New(cfg Config) (*Executor, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	x := &Executor{
		cfg:          cfg,
		eng:          cfg.Engine,
		src:          cfg.Sources,
		dir:          sourcesDirectory{primary: cfg.Sources.Primary, registry: cfg.Sources.Registry},
		reap:         cfg.Sources.Tenants.ReapIdle,
		clock:        cfg.Clock,
		log:          cfg.Logger.With("component", "jobexec", "node", cfg.NodeID),
		batches:      map[*batch]struct{}{},
		duties:       map[string]*duty{},
		maintJobs:    map[string]gocron.Job{},
		maintRunning: map[string]chan struct{}{},
		maintSlots:   make(chan struct{}, cfg.MaintenanceConcurrency),
		changes:      make(chan struct{}, 1),
		stats:        newStats(cfg.BatchLogSize),
		throttle:     newThrottle(),
	}
	sc := tenantsched.Config{
		Topic:             datasource.TopicJobs,
		Work:              x.runTenant,
		Signals:           cfg.Sources.Signals,
		Hints:             primaryOf{x},
		Clock:             cfg.Clock,
		Logger:            x.log,
		OnChange:          x.poke,
		Workers:           cfg.Workers,
		QueryTimeout:      cfg.QueryTimeout,
		RemoteSignalDelay: cfg.RemoteSignalDelay,
		HintInterval:      cfg.HintInterval,
		OverdueInterval:   cfg.TakeoverInterval,
		HintMinGap:        cfg.HintMinGap,
		HintLookahead:     cfg.HintLookahead,
		HintLimit:         cfg.HintLimit,
		TombstoneTTL:      tombTTL,
	}
	if cfg.SweepRate > 0 {
		sc.Probe, sc.Directory = x.probe, primaryOf{x}
		sc.SweepRate, sc.SweepPassMin = cfg.SweepRate, minSweepPass
	}
	ts, err := tenantsched.New(sc)
	if err != nil {
		return nil, fmt.Errorf("jobexec: %w", err)
	}
	x.tenants = ts
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
// Errors: Start called twice; the scheduler could not be set up.
func (x *Executor) Start(ctx context.Context) error {
	x.mu.Lock()
	if x.state != stateNew {
		x.mu.Unlock()
		return errors.New("jobexec: Start called on an executor already started; create a new one")
	}
	x.state = stateRunning
	x.runCtx, x.cutShort = context.WithCancelCause(context.Background())
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
	x.src.Lifecycle.OnDisable(x.forget)
	x.src.Lifecycle.OnDrop(x.forget)
	if err := x.tenants.Start(ctx); err != nil {
		x.abortStart()
		return fmt.Errorf("jobexec: %w", err)
	}
	sched.Start()

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

	var errs []error
	if err := x.tenants.Stop(ctx); err != nil {
		errs = append(errs, cutShortError("", err))
	}
	if err := x.sched.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("jobexec: stopping the scheduler: %w", err))
	}
	x.cutShort(errStopping)
	x.mu.Lock()
	x.state = stateStopped
	x.mu.Unlock()
	x.poke()
	return errors.Join(errs...)
}

// cutShortError says what the scheduler's cutting short of a tenant's
// batches (every tenant's, when tenant is empty) means for their jobs.
func cutShortError(tenant string, err error) error {
	whose := "at shutdown"
	if tenant != "" {
		whose = "of tenant " + tenant
	}
	var cut *tenantsched.CutShortError
	if errors.As(err, &cut) && cut.Abandoned > 0 {
		return fmt.Errorf("jobexec: batches %s were cut short; a job ignored its cancelled context and its worker is left running: %w", whose, err)
	}
	return fmt.Errorf("jobexec: batches %s still running were cut short and their jobs released: %w", whose, err)
}

// forget is the OnDisable and OnDrop hook: the tenant is no longer polled,
// its maintenance job is removed, and the call returns once its batches
// and maintenance finished, or, when ctx ends first, once they were cut
// short and their jobs released.
func (x *Executor) forget(ctx context.Context, tenant string) error {
	x.maintMu.Lock()
	x.mu.Lock()
	state := x.state
	x.mu.Unlock()
	if state != stateRunning && state != stateStopping {
		x.maintMu.Unlock()
		return nil
	}
	// Tombstoned under maintMu: scheduleMaintenance checks the tombstone
	// under it, so no maintenance job is added after the removal below.
	wait := x.tenants.Forget(tenant)
	if x.sched != nil {
		x.sched.RemoveByTags(tenantTag(tenant))
	}
	delete(x.maintJobs, tenant)
	maint := x.maintRunning[tenant]
	x.maintMu.Unlock()
	x.poke()

	var errs []error
	if err := wait(ctx); err != nil {
		errs = append(errs, cutShortError(tenant, err))
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
	x.throttle.forget(tenant)
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

// primaryOf gives the scheduler the executor's directory (read at each
// call, so that tests may wrap it after New), counting the primary's
// queries.
type primaryOf struct{ x *Executor }

func (p primaryOf) DueHints(ctx context.Context, topic datasource.Topic, before time.Time, limit int) ([]datasource.Hint, error) {
	p.x.stats.primary.Add(1)
	return p.x.dir.DueHints(ctx, topic, before, limit)
}

func (p primaryOf) SetHint(ctx context.Context, tenant string, topic datasource.Topic, due time.Time) error {
	p.x.stats.primary.Add(1)
	return p.x.dir.SetHint(ctx, tenant, topic, due)
}

func (p primaryOf) ListTenants(ctx context.Context, params *datasource.ListTenantsParams) ([]*datasource.Tenant, error) {
	p.x.stats.primary.Add(1)
	return p.x.dir.ListTenants(ctx, params)
}
