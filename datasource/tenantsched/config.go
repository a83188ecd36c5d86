package tenantsched

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
)

// Hints are the primary's per-tenant wake-up hints of one topic.
// *datasource.Primary implements it.
type Hints interface {
	// DueHints returns up to limit hints of topic due at or before the
	// given time, earliest first, in one query.
	DueHints(ctx context.Context, topic datasource.Topic, before time.Time, limit int) ([]datasource.Hint, error)
	// SetHint sets a tenant's hint; the zero time clears it.
	SetHint(ctx context.Context, tenant string, topic datasource.Topic, due time.Time) error
}

// Directory lists tenants for the sweep. *datasource.Primary implements
// it.
type Directory interface {
	// ListTenants pages through tenants in ID order.
	ListTenants(ctx context.Context, params *datasource.ListTenantsParams) ([]*datasource.Tenant, error)
}

// Signals delivers change signals, local and remote. *datasource.Signals
// implements it.
type Signals interface {
	// Subscribe calls fn for every signal of topic until unsubscribe is
	// called; fn must not block.
	Subscribe(topic datasource.Topic, fn func(datasource.Signal)) (unsubscribe func())
}

// WorkFunc runs one turn of a tenant: typically one batch of whatever the
// user schedules. It reports what it found through the Turn (Due, Settle,
// Failed, Recovered) and returns when the turn is over.
type WorkFunc func(t *Turn)

// ProbeFunc asks a tenant the scheduler holds nothing of when it next has
// work (ok false: none known). ctx carries the tenant
// (security.WithTenant). The sweep calls it.
type ProbeFunc func(ctx context.Context, tenant string) (due time.Time, ok bool, err error)

// Config configures a Scheduler. Topic and Work are required; every other
// field documents its default, which New fills in. Zero durations that
// have no default mean "none".
type Config struct {
	// Topic is the signal topic that wakes tenants and the topic of the
	// hints read and written. Required.
	Topic datasource.Topic
	// Work runs one turn of a tenant. Required.
	Work WorkFunc
	// Probe is the sweep's question to a tenant. Nil: no sweep.
	Probe ProbeFunc

	// Signals wakes tenants (Topic) and ends tombstones
	// (datasource.TopicTenant). Nil: no signals; Wake and Signal still
	// work.
	Signals Signals
	// Hints are read for tenants with work and written when a tenant
	// settles. Nil: no hint reads or writes.
	Hints Hints
	// Directory lists the active tenants for the sweep. Nil: no sweep.
	Directory Directory

	// Clock drives every decision: due times, backoff, hint reads, the
	// sweep, tombstones. Default: the real clock.
	Clock clockwork.Clock
	// Logger receives operational messages. Default: slog.Default().
	Logger *slog.Logger
	// OnChange, when set, is called after every change of the scheduler's
	// state (a wake-up, a turn handed out or ended, a loop parked), without
	// the scheduler's lock held. It must not block; tests use it to wait on
	// conditions instead of sleeping.
	OnChange func()

	// Workers is how many turns run at once across all tenants. Default 4.
	Workers int
	// QueryTimeout bounds each of the scheduler's own calls to the primary
	// (hint reads and writes, tenant listings). Default 30s.
	QueryTimeout time.Duration
	// CutGrace bounds, in real time, how long turns whose context was
	// cancelled (by Stop or a Forget whose wait ended) get to return before
	// they are reported abandoned. Default 5s.
	CutGrace time.Duration
	// DefaultCap is how many turns of one tenant may run at once until its
	// work sets another cap (Turn.SetCap). Default 1.
	DefaultCap int

	// SignalDelay delays a tenant woken by a signal, so that a burst of
	// commits is served by one turn. Default none.
	SignalDelay time.Duration
	// RemoteSignalDelay further delays a tenant woken by another node's
	// signal, so that the node that committed, woken at once, usually takes
	// the work. Default none.
	RemoteSignalDelay time.Duration

	// HintInterval is how often the hints that changed since the last read
	// are read and acted on (one query for all tenants). Default 2s.
	HintInterval time.Duration
	// OverdueInterval is how often every overdue hint is acted on, changed
	// or not: how a tenant nobody moved the hint of (a crashed node's work)
	// is looked at again. Default 1m.
	OverdueInterval time.Duration
	// HintMinGap is the least time between two hint reads that a "refresh
	// everything" signal asks for: a burst of them costs one read. Default
	// 1s.
	HintMinGap time.Duration
	// RefreshDelay delays the hint read a "refresh everything" signal asks
	// for. Default none.
	RefreshDelay time.Duration
	// HintLookahead loads hints due this far ahead, so their tenants'
	// timers are armed here before they are due. Default none.
	HintLookahead time.Duration
	// HintDelay delays tenants woken by a hint past the hint's time, like
	// remote signals (hints come from every node). Default none.
	HintDelay time.Duration
	// HintLimit caps the hints one read loads (earliest first). Default
	// 1000.
	HintLimit int

	// SweepInterval paces the sweep: every interval the next SweepRate
	// active tenants, round robin, are probed. Default 1s.
	SweepInterval time.Duration
	// SweepRate is how many tenants one sweep round probes. 0 or less: no
	// sweep.
	SweepRate int
	// SweepPage is how many tenants one listing reads. Default
	// max(60 × SweepRate, 100).
	SweepPage int
	// SweepPassMin is the least time between the starts of two passes over
	// the tenant list, so that few tenants are not probed every round.
	// Default none.
	SweepPassMin time.Duration

	// TombstoneTTL is how long wake-ups of a forgotten tenant are ignored
	// unless a tenant signal says it changed again. Default 1m.
	TombstoneTTL time.Duration
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = 30 * time.Second
	}
	if c.CutGrace == 0 {
		c.CutGrace = 5 * time.Second
	}
	if c.DefaultCap == 0 {
		c.DefaultCap = 1
	}
	if c.HintInterval == 0 {
		c.HintInterval = 2 * time.Second
	}
	if c.OverdueInterval == 0 {
		c.OverdueInterval = time.Minute
	}
	if c.HintMinGap == 0 {
		c.HintMinGap = time.Second
	}
	if c.HintLimit == 0 {
		c.HintLimit = 1000
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Second
	}
	if c.SweepPage == 0 {
		c.SweepPage = max(60*c.SweepRate, 100)
	}
	if c.TombstoneTTL == 0 {
		c.TombstoneTTL = time.Minute
	}
	return c
}

// validate reports every problem at once, each saying what to change.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("tenantsched: "+format, args...)) }
	if c.Topic == "" {
		bad("Config.Topic is required (the signal and hint topic, such as datasource.TopicJobs)")
	}
	if c.Work == nil {
		bad("Config.Work is required (the function that runs a tenant's turn)")
	}
	for _, p := range []struct {
		name string
		v    int64
	}{
		{"Workers", int64(c.Workers)}, {"QueryTimeout", int64(c.QueryTimeout)}, {"CutGrace", int64(c.CutGrace)},
		{"DefaultCap", int64(c.DefaultCap)}, {"HintInterval", int64(c.HintInterval)},
		{"OverdueInterval", int64(c.OverdueInterval)}, {"HintMinGap", int64(c.HintMinGap)},
		{"HintLimit", int64(c.HintLimit)}, {"SweepInterval", int64(c.SweepInterval)}, {"SweepPage", int64(c.SweepPage)},
		{"TombstoneTTL", int64(c.TombstoneTTL)},
	} {
		if p.v <= 0 {
			bad("%s must be positive (0 means the default)", p.name)
		}
	}
	for _, p := range []struct {
		name string
		v    time.Duration
	}{
		{"SignalDelay", c.SignalDelay}, {"RemoteSignalDelay", c.RemoteSignalDelay}, {"RefreshDelay", c.RefreshDelay},
		{"HintLookahead", c.HintLookahead}, {"HintDelay", c.HintDelay}, {"SweepPassMin", c.SweepPassMin},
	} {
		if p.v < 0 {
			bad("%s must not be negative (0 means none)", p.name)
		}
	}
	if c.SweepRate > 0 && c.SweepPage < c.SweepRate {
		bad("SweepPage %d is smaller than SweepRate %d: one listing must cover a round", c.SweepPage, c.SweepRate)
	}
	return errors.Join(errs...)
}

// sweeping reports whether the configuration asks for a sweep.
func (c Config) sweeping() bool { return c.Probe != nil && c.Directory != nil && c.SweepRate > 0 }

// Backoff is how long a tenant whose work failed is left alone: Initial
// after the first failure in a row, doubling with each further one up to
// Max.
type Backoff struct {
	// Initial is the wait after the first failure in a row.
	Initial time.Duration
	// Max caps the wait. Equal to Initial, the wait is constant.
	Max time.Duration
	// Jitter picks each wait at random between half of it and all of it
	// (equal jitter), so that tenants failing together do not retry in
	// lockstep.
	Jitter bool
}

// Delay is the wait after the nth failure in a row (n ≥ 1).
func (b Backoff) Delay(n int) time.Duration {
	d := b.Max
	if b.Initial <= 0 {
		return max(d, 0)
	}
	if shift := max(n, 1) - 1; shift < 62-bits.Len64(uint64(b.Initial)) {
		if e := b.Initial << shift; e < b.Max {
			d = e
		}
	}
	if !b.Jitter {
		return d
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// Failure describes a failed turn to Turn.Failed.
type Failure struct {
	// Backoff is how long the tenant waits before its next turn.
	Backoff Backoff
	// Cause names a resource every tenant shares (an Elasticsearch
	// cluster, say) when that is what failed; empty when the failure is
	// the tenant's own (its storage). When a tenant whose last failure had
	// a cause succeeds again (Turn.Recovered), every tenant still waiting
	// out a failure of the same cause is due at once: the outage is
	// probably over.
	Cause string
}
