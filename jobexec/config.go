package jobexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/robfig/cron/v3"

	"github.com/tenantflow/tenantflow/datasource"
)

// MaintenanceFunc is a per-tenant duty the executor schedules in the
// maintenance window, such as pruning the tenant's shipped outbox rows.
// ctx carries the tenant (security.WithTenant) and is cancelled when the
// tenant is disabled or the executor stops.
type MaintenanceFunc func(ctx context.Context, tenant string) error

// Maintenance is a named MaintenanceFunc; the name appears in logs.
type Maintenance struct {
	Name string
	Run  MaintenanceFunc
}

// Config configures an Executor. Only Engine and Sources are required; every
// other field documents its default, which New fills in.
type Config struct {
	// Engine runs the jobs. Required.
	Engine Engine
	// Sources gives the registry (tenant limits and status), the primary's
	// wake-up hints and tenant list, the change signals, the lifecycle
	// hooks and idle pool reaping. Required.
	Sources *datasource.Sources
	// NodeID is written as the lock owner of every job this executor
	// acquires; it must be unique among running executors. Default: the
	// datasource's node ID.
	NodeID string
	// Clock drives every scheduling decision (due times, backoff, lock
	// expiry, gocron duties). Default: the datasource's clock.
	Clock clockwork.Clock
	// Logger receives operational messages. Default: the datasource's.
	Logger *slog.Logger

	// Workers is how many batches run at once across all tenants. Default
	// 2 × GOMAXPROCS, at least 4: a batch spends most of its time waiting
	// on its tenant's storage, so more workers than cores keep storage
	// busy, while each running batch holds one connection, so far more
	// workers than the node's connection budget would only queue on pools.
	Workers int
	// BatchSize is how many jobs one acquisition locks and one transaction
	// runs. Default 32: large enough that commits are a small part of a
	// job's cost, small enough that a quiet tenant waits at most one round
	// of batches behind a busy one and a failed batch redoes little.
	BatchSize int
	// LockDuration is how long an acquired job stays locked without a
	// renewal; a crashed node's jobs are taken over after it. Default 5m.
	LockDuration time.Duration
	// Heartbeat is how often the locks of running batches are renewed; it
	// must be under half of LockDuration. Default LockDuration / 3.
	Heartbeat time.Duration
	// MaxInFlightPerTenant caps the batches one tenant runs at once (each
	// holds one of its connections). 0, the default, reads the tenant's
	// Limits.MaxOpenConns through the registry (the node's DefaultLimits
	// when the tenant sets none), and 1 for SQLite tenants, whose single
	// writer serialises batches anyway.
	MaxInFlightPerTenant int
	// JobTimeout bounds one ExecuteJobs call of a single job (a batch gets
	// JobTimeout × its size). A job that exceeds it alone is failed with
	// FailJob; a batch that exceeds it is rerun job by job to find the
	// culprit. 0, the default, means no timeout: long jobs keep their locks
	// through the heartbeat.
	JobTimeout time.Duration
	// QueryTimeout bounds each storage call that is not a job's execution
	// (acquisition, next-due lookups, renewals, releases, hint reads), in
	// real time, so a hung connection cannot hold a worker. Default 30s.
	QueryTimeout time.Duration

	// HintInterval is how often the primary's due hints are read (one query
	// for all tenants). Default 2s.
	HintInterval time.Duration
	// HintMinGap is the least time between two hint reads: a burst of
	// "refresh everything" signals (a listener reconnect) causes at most
	// one read. Default 1s.
	HintMinGap time.Duration
	// HintLookahead loads hints due this far ahead, so their timers are
	// armed locally before they are due. Default 1m.
	HintLookahead time.Duration
	// HintLimit caps the hints one read loads (earliest first). Default
	// 1000.
	HintLimit int
	// TakeoverInterval is how often every overdue hint is acted on even if
	// it did not change since the last read: that is how a tenant whose
	// jobs were locked by a crashed node is polled again once the locks
	// expired. Default 1m.
	TakeoverInterval time.Duration
	// SweepRate is how many tenants per second the background sweep asks
	// for their next due job (round robin over the active tenants), to
	// correct hints lost in a crash. Default 4 (10,000 tenants in about 42
	// minutes for under 5 queries per second). Negative disables the sweep.
	SweepRate int
	// ReapInterval is how often idle tenant pools are closed. Default 1m.
	ReapInterval time.Duration
	// ErrorBackoff is how long a tenant whose storage failed is left alone;
	// it doubles with each further failure up to MaxErrorBackoff. Defaults
	// 5s and 2m.
	ErrorBackoff    time.Duration
	MaxErrorBackoff time.Duration
	// RemoteSignalDelay delays polling a tenant woken by another node's
	// signal for work due now, so that the node that wrote the job (woken
	// at once) usually takes it and the others do not race for it. Default
	// 200ms; negative means no delay.
	RemoteSignalDelay time.Duration

	// MaintenanceSchedule is a standard five-field cron spec (UTC; @daily
	// and the like work) of when the maintenance window opens. Default
	// "0 2 * * *", nightly at 02:00 UTC.
	MaintenanceSchedule string
	// MaintenanceWindow spreads the tenants' maintenance over this long
	// after the window opens, each tenant at a fixed offset derived from a
	// hash of its ID, so 10,000 tenants do not start in the same second.
	// It must be shorter than the time between two openings. Default 3h.
	MaintenanceWindow time.Duration
	// MaintenanceTimeout bounds one tenant's maintenance run. Default 30m.
	MaintenanceTimeout time.Duration
	// MaintenanceConcurrency caps the tenants maintained at once; a tenant
	// whose slot finds them all busy is retried a minute later. Default 4.
	MaintenanceConcurrency int
	// Maintenance are per-tenant duties run after the engine's history
	// cleanup in each tenant's maintenance slot. The executor schedules
	// them and owns no table.
	Maintenance []Maintenance
	// DisableMaintenance turns the maintenance window off (tools, tests).
	DisableMaintenance bool

	// TopTenants bounds the per-tenant figures in Stats. Default 10.
	TopTenants int
	// BatchLogSize is how many recent batches Batches returns. Default 1024.
	BatchLogSize int
}

const defaultMaintenanceSchedule = "0 2 * * *"

func (c Config) withDefaults() Config {
	if c.Sources != nil {
		if c.NodeID == "" {
			c.NodeID = c.Sources.Config.NodeID
		}
		if c.Clock == nil {
			c.Clock = c.Sources.Config.Clock
		}
		if c.Logger == nil {
			c.Logger = c.Sources.Config.Logger
		}
	}
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Workers == 0 {
		c.Workers = max(2*runtime.GOMAXPROCS(0), 4)
	}
	if c.BatchSize == 0 {
		c.BatchSize = 32
	}
	if c.LockDuration == 0 {
		c.LockDuration = 5 * time.Minute
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = c.LockDuration / 3
	}
	if c.QueryTimeout == 0 {
		c.QueryTimeout = 30 * time.Second
	}
	if c.HintInterval == 0 {
		c.HintInterval = 2 * time.Second
	}
	if c.HintMinGap == 0 {
		c.HintMinGap = time.Second
	}
	if c.HintLookahead == 0 {
		c.HintLookahead = time.Minute
	}
	if c.HintLimit == 0 {
		c.HintLimit = 1000
	}
	if c.TakeoverInterval == 0 {
		c.TakeoverInterval = time.Minute
	}
	if c.SweepRate == 0 {
		c.SweepRate = 4
	}
	if c.ReapInterval == 0 {
		c.ReapInterval = time.Minute
	}
	if c.ErrorBackoff == 0 {
		c.ErrorBackoff = 5 * time.Second
	}
	if c.MaxErrorBackoff == 0 {
		c.MaxErrorBackoff = 2 * time.Minute
	}
	if c.RemoteSignalDelay == 0 {
		c.RemoteSignalDelay = 200 * time.Millisecond
	} else if c.RemoteSignalDelay < 0 {
		c.RemoteSignalDelay = 0
	}
	if c.MaintenanceSchedule == "" {
		c.MaintenanceSchedule = defaultMaintenanceSchedule
	}
	if c.MaintenanceWindow == 0 {
		c.MaintenanceWindow = 3 * time.Hour
	}
	if c.MaintenanceTimeout == 0 {
		c.MaintenanceTimeout = 30 * time.Minute
	}
	if c.MaintenanceConcurrency == 0 {
		c.MaintenanceConcurrency = 4
	}
	if c.TopTenants == 0 {
		c.TopTenants = 10
	}
	if c.BatchLogSize == 0 {
		c.BatchLogSize = 1024
	}
	return c
}

// validate reports every problem at once, each saying what to change.
func (c Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("jobexec: "+format, args...)) }
	if c.Engine == nil {
		bad("Config.Engine is required (pass the *engine.Engine)")
	}
	if c.Sources == nil {
		bad("Config.Sources is required (pass the *datasource.Sources the engine uses)")
	}
	if c.NodeID == "" {
		bad("Config.NodeID is empty: set it, or pass Sources, whose node ID is the default")
	}
	positive := []struct {
		name string
		v    int64
	}{
		{"Workers", int64(c.Workers)}, {"BatchSize", int64(c.BatchSize)}, {"LockDuration", int64(c.LockDuration)},
		{"Heartbeat", int64(c.Heartbeat)}, {"QueryTimeout", int64(c.QueryTimeout)}, {"HintInterval", int64(c.HintInterval)},
		{"HintMinGap", int64(c.HintMinGap)}, {"HintLookahead", int64(c.HintLookahead)}, {"HintLimit", int64(c.HintLimit)},
		{"TakeoverInterval", int64(c.TakeoverInterval)}, {"ReapInterval", int64(c.ReapInterval)},
		{"ErrorBackoff", int64(c.ErrorBackoff)}, {"MaxErrorBackoff", int64(c.MaxErrorBackoff)},
		{"MaintenanceWindow", int64(c.MaintenanceWindow)}, {"MaintenanceTimeout", int64(c.MaintenanceTimeout)},
		{"MaintenanceConcurrency", int64(c.MaintenanceConcurrency)}, {"TopTenants", int64(c.TopTenants)},
		{"BatchLogSize", int64(c.BatchLogSize)},
	}
	for _, p := range positive {
		if p.v < 0 {
			bad("%s must not be negative (0 means the default)", p.name)
		}
	}
	if c.BatchSize > 10_000 {
		bad("BatchSize %d is too large: one transaction would hold that many jobs; use at most 10000 (32 is the default)", c.BatchSize)
	}
	if c.MaxInFlightPerTenant < 0 {
		bad("MaxInFlightPerTenant must not be negative (0 reads each tenant's MaxOpenConns)")
	}
	if c.JobTimeout < 0 {
		bad("JobTimeout must not be negative (0 means no timeout)")
	}
	if c.LockDuration > 0 && c.Heartbeat > 0 && c.Heartbeat*2 >= c.LockDuration {
		bad("Heartbeat %v must be under half of LockDuration %v, or a renewal can come after the lock expired; leave it 0 for LockDuration/3",
			c.Heartbeat, c.LockDuration)
	}
	if c.MaxErrorBackoff > 0 && c.ErrorBackoff > c.MaxErrorBackoff {
		bad("ErrorBackoff %v exceeds MaxErrorBackoff %v", c.ErrorBackoff, c.MaxErrorBackoff)
	}
	for i, m := range c.Maintenance {
		if m.Name == "" || m.Run == nil {
			bad("Maintenance[%d] needs a Name and a Run function", i)
		}
	}
	if !c.DisableMaintenance && c.MaintenanceSchedule != "" {
		if err := checkWindow(c.MaintenanceSchedule, c.MaintenanceWindow); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// parseSchedule parses a maintenance cron spec the way gocron does for
// five-field specs.
func parseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("jobexec: MaintenanceSchedule %q: %v (use five fields, minute hour day month weekday, e.g. %q)",
			spec, err, defaultMaintenanceSchedule)
	}
	return s, nil
}

// checkWindow verifies that the window closes before the schedule opens it
// again, over the next few openings.
func checkWindow(spec string, window time.Duration) error {
	s, err := parseSchedule(spec)
	if err != nil {
		return err
	}
	t := s.Next(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	for range 16 {
		if t.IsZero() {
			return fmt.Errorf("jobexec: MaintenanceSchedule %q never fires", spec)
		}
		n := s.Next(t)
		if n.IsZero() {
			return nil
		}
		if gap := n.Sub(t); window > gap {
			return fmt.Errorf("jobexec: MaintenanceWindow %v is longer than the %v between two openings of %q: shorten the window or open it less often",
				window, gap, spec)
		}
		t = n
	}
	return nil
}
