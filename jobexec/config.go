package jobexec

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
)

// Engine is what the executor needs of the engine. *engine.Engine
// implements it; every method works in the tenant carried by ctx.
type Engine interface {
	AcquireJobs(ctx context.Context, p *engine.AcquireJobsParams) ([]*engine.Job, error)
	ExecuteJobs(ctx context.Context, owner string, jobs []*engine.Job, now time.Time) []engine.JobResult
	FailJob(ctx context.Context, p *engine.FailJobParams) error
	RenewJobLocks(ctx context.Context, p *engine.RenewJobLocksParams) ([]int64, error)
	ReleaseJobs(ctx context.Context, owner string, ids []int64) error
	NextJobDue(ctx context.Context) (time.Time, bool, error)
	CleanupHistory(ctx context.Context, now time.Time) (int, error)
}

// Maintenance is a per-tenant duty the executor schedules (outbox pruning,
// for instance); ctx carries the tenant.
type Maintenance struct {
	Name string
	Run  func(ctx context.Context, tenant string) error
}

// Config configures an Executor.
type Config struct {
	// Engine runs the jobs; required.
	Engine Engine
	// Sources gives the registry, signals, hints and lifecycle hooks;
	// required.
	Sources *datasource.Sources
	// NodeID owns the locks. Default: the datasource's node ID.
	NodeID string
	// Clock drives scheduling. Default: the datasource's clock.
	Clock clockwork.Clock
	// Logger. Default: the datasource's.
	Logger *slog.Logger
	// Workers is how many batches run at once, across all tenants.
	// Default 2 × GOMAXPROCS, at least 4: batches mostly wait on storage.
	Workers int
	// BatchSize is how many jobs one batch acquires and runs in one
	// transaction. Default 32.
	BatchSize int
	// LockDuration is how long an acquired job stays locked without a
	// heartbeat; a crashed node's jobs are taken over after it. Default 5m.
	LockDuration time.Duration
	// HintInterval is how often the primary's due hints are read (one
	// query). Default 2s.
	HintInterval time.Duration
	// HintLookahead loads hints due this far ahead, so their timers are
	// scheduled locally. Default 1m.
	HintLookahead time.Duration
	// SweepRate is how many tenants per second the background sweep asks
	// for their next due job. Default 2.
	SweepRate int
	// ReapInterval is how often idle tenant pools are closed. Default 1m.
	ReapInterval time.Duration
	// MaintenanceHour and MaintenanceWindow place per-tenant maintenance:
	// each tenant runs daily at MaintenanceHour (UTC) plus an offset within
	// the window derived from its ID. Defaults 2 and 3h.
	MaintenanceHour   int
	MaintenanceWindow time.Duration
	// Maintenance are extra per-tenant duties run with history cleanup.
	Maintenance []Maintenance
	// ErrorBackoff is how long a tenant whose storage failed is left alone.
	// Default 5s.
	ErrorBackoff time.Duration
	// TopTenants bounds the per-tenant figures in Stats. Default 10.
	TopTenants int
	// DisableMaintenance turns off the per-tenant maintenance schedule
	// (tests, tools).
	DisableMaintenance bool
}

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
	if c.Workers <= 0 {
		c.Workers = max(2*runtime.GOMAXPROCS(0), 4)
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 32
	}
	if c.LockDuration <= 0 {
		c.LockDuration = 5 * time.Minute
	}
	if c.HintInterval <= 0 {
		c.HintInterval = 2 * time.Second
	}
	if c.HintLookahead <= 0 {
		c.HintLookahead = time.Minute
	}
	if c.SweepRate <= 0 {
		c.SweepRate = 2
	}
	if c.ReapInterval <= 0 {
		c.ReapInterval = time.Minute
	}
	if c.MaintenanceWindow <= 0 {
		c.MaintenanceWindow = 3 * time.Hour
	}
	if c.MaintenanceHour == 0 {
		c.MaintenanceHour = 2
	}
	if c.ErrorBackoff <= 0 {
		c.ErrorBackoff = 5 * time.Second
	}
	if c.TopTenants <= 0 {
		c.TopTenants = 10
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if c.Engine == nil {
		errs = append(errs, errors.New("jobexec: Config.Engine is required"))
	}
	if c.Sources == nil {
		errs = append(errs, errors.New("jobexec: Config.Sources is required"))
	}
	if c.MaintenanceHour < 0 || c.MaintenanceHour > 23 {
		errs = append(errs, fmt.Errorf("jobexec: MaintenanceHour %d: use 0-23", c.MaintenanceHour))
	}
	if c.MaintenanceWindow > 24*time.Hour {
		errs = append(errs, errors.New("jobexec: MaintenanceWindow must not exceed 24h"))
	}
	return errors.Join(errs...)
}
