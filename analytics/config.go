package analytics

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
)

// IndexMode says where a tenant's documents go.
type IndexMode string

// The index modes.
const (
	// IndexShared puts every tenant in the shared indices
	// <prefix>-events-<period>, read through the alias <prefix>-events,
	// with a tenant keyword field and routing by tenant. The default:
	// 10,000 per-tenant indices would exceed Elasticsearch's shard limits.
	IndexShared IndexMode = "shared"
	// IndexPerTenant gives a tenant its own indices
	// <prefix>-events-<tenant>-<period>, read through the alias
	// <prefix>-events-<tenant>, for tenants that need physical separation.
	IndexPerTenant IndexMode = "per-tenant"
)

// Period is the time span of one concrete index. The index an event goes
// to is a function of the event's own time, so a retry always writes to the
// same index and overwrites instead of duplicating (a rollover or a data
// stream would send a retried document to a newer backing index).
type Period string

// The periods.
const (
	// PeriodMonth: one index per calendar month (UTC), suffix 2006.01.
	PeriodMonth Period = "month"
	// PeriodDay: one index per day (UTC), suffix 2006.01.02.
	PeriodDay Period = "day"
	// PeriodNone: a single concrete index named like the alias, never
	// split by time; old documents can then only be removed by query.
	PeriodNone Period = "none"
)

// Config configures a Shipper. Zero values take the documented defaults.
type Config struct {
	// Outbox is the engine (its outbox API); required, even with shipping
	// off, for Prune.
	Outbox Outbox

	// Sources, when set, supplies Signals, Hints, Directory and Lifecycle
	// (each unless set explicitly), and Clock and Logger.
	Sources *datasource.Sources
	// Signals wakes the shipper for tenants with new events (TopicEvents,
	// local and remote). Nil: no signals; hints and the sweep find the work.
	Signals Signals
	// Hints are read for tenants with unshipped events (those that changed
	// every HintInterval, all of them every minute), and cleared when a
	// tenant is drained. Nil: no hints.
	Hints Hints
	// Directory lists active tenants for the fallback sweep. Nil: no sweep.
	Directory Directory
	// Lifecycle tells when a tenant is disabled or dropped; the shipper then
	// lets go of it. Nil: tenants are let go of when their storage says
	// they are gone.
	Lifecycle Lifecycle

	// URLs are the Elasticsearch nodes (http or https). None: shipping is
	// off; the outbox stays readable through the engine and Prune still
	// bounds it.
	URLs []string
	// Username and Password authenticate with HTTP Basic.
	Username string
	// Password goes with Username.
	Password string
	// APIKey (base64, as Elasticsearch issues it) authenticates instead
	// of Username and Password.
	APIKey string
	// Transport carries the client's HTTP requests. Default: a clone of
	// http.DefaultTransport, whose idle connections Stop closes.
	Transport http.RoundTripper

	// IndexPrefix starts every index, alias and template name: lower case
	// letters, digits, '_', '.' and '-', starting with a letter or digit.
	// Default "tenantflow".
	IndexPrefix string
	// IndexMode is the default layout. Default IndexShared.
	IndexMode IndexMode
	// IndexModeFor, when set, chooses the layout per tenant (consulted for
	// every batch); return "" for IndexMode.
	IndexModeFor func(tenant string) IndexMode
	// Period splits indices by the events' time. Default PeriodMonth.
	Period Period
	// IndexSettings are the index settings of the template. Default
	// {"number_of_shards": 1}.
	IndexSettings map[string]any

	// Consumer is the shipper's outbox consumer name. Default "analytics".
	Consumer string
	// BatchSize is how many events one batch reads and ships. Default 500
	// (at most 10,000).
	BatchSize int
	// FlushInterval is how long a tenant woken by a signal waits before
	// it is read, so a burst of commits ships as one batch; likewise the
	// hint read an All signal asks for. Default 100ms.
	FlushInterval time.Duration
	// Workers is how many tenant batches are shipped at once. Default 4.
	Workers int
	// BulkWorkers is the number of bulk requests the indexer sends at
	// once; batches of concurrent tenants share requests. Default 2.
	BulkWorkers int
	// RequestTimeout bounds one request to Elasticsearch. Default 30s.
	RequestTimeout time.Duration
	// InitialBackoff is the per-tenant wait after a first failed attempt;
	// it doubles with every further failure (with jitter). Default 500ms.
	InitialBackoff time.Duration
	// MaxBackoff caps that wait. Default 1m.
	MaxBackoff time.Duration
	// StorageBackoff is how long a tenant whose storage failed is left
	// alone. Default 5s.
	StorageBackoff time.Duration

	// HintInterval is how often the primary's hints that changed are read
	// and acted on (one query). Default 2s.
	HintInterval time.Duration
	// RemoteDelay delays wake-ups that came from other nodes (remote
	// signals, hints), so the node that committed, woken locally, usually
	// ships first and this one finds nothing new. Default 1s.
	RemoteDelay time.Duration
	// SweepInterval paces the fallback sweep: every interval, the next
	// SweepRate active tenants (round robin) that the shipper knows nothing
	// of are asked for their backlog. Default 1s.
	SweepInterval time.Duration
	// SweepRate is how many tenants one sweep round asks. Default 2.
	SweepRate int

	// Retention is how old a shipped event must be before Prune removes it.
	// Default 72h.
	Retention time.Duration
	// TopTenants bounds the per-tenant figures in Stats. Default 10.
	TopTenants int

	// Clock drives scheduling and backoff. Default: the Sources' clock, or
	// the real clock.
	Clock clockwork.Clock
	// Logger. Default: the Sources' logger, or slog.Default().
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Sources != nil {
		if c.Signals == nil {
			c.Signals = c.Sources.Signals
		}
		if c.Hints == nil {
			c.Hints = c.Sources.Primary
		}
		if c.Directory == nil {
			c.Directory = c.Sources.Primary
		}
		if c.Lifecycle == nil {
			c.Lifecycle = c.Sources.Lifecycle
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
	if c.IndexPrefix == "" {
		c.IndexPrefix = "tenantflow"
	}
	if c.IndexMode == "" {
		c.IndexMode = IndexShared
	}
	if c.Period == "" {
		c.Period = PeriodMonth
	}
	if c.IndexSettings == nil {
		c.IndexSettings = map[string]any{"number_of_shards": 1}
	}
	if c.Consumer == "" {
		c.Consumer = "analytics"
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 500
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 100 * time.Millisecond
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.BulkWorkers <= 0 {
		c.BulkWorkers = 2
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = time.Minute
	}
	if c.StorageBackoff <= 0 {
		c.StorageBackoff = 5 * time.Second
	}
	if c.HintInterval <= 0 {
		c.HintInterval = 2 * time.Second
	}
	if c.RemoteDelay <= 0 {
		c.RemoteDelay = time.Second
	}
	if c.SweepInterval <= 0 {
		c.SweepInterval = time.Second
	}
	if c.SweepRate <= 0 {
		c.SweepRate = 2
	}
	if c.Retention <= 0 {
		c.Retention = 72 * time.Hour
	}
	if c.TopTenants <= 0 {
		c.TopTenants = 10
	}
	return c
}

var prefixPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,99}$`)

// validate reports every problem at once, each saying what to change. It
// runs on a configuration with defaults filled in.
func (c Config) validate() error {
	var errs []error
	if c.Outbox == nil {
		errs = append(errs, errors.New("analytics: Config.Outbox is required (the engine)"))
	}
	for _, u := range c.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("analytics: Elasticsearch URL %q: use http(s)://host:port", redactURL(u)))
		} else if p.User != nil {
			errs = append(errs, fmt.Errorf("analytics: Elasticsearch URL %q: put credentials in Username/Password or APIKey, not in the URL", redactURL(u)))
		}
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		errs = append(errs, errors.New("analytics: set either APIKey or Username/Password, not both"))
	}
	if (c.Username == "") != (c.Password == "") {
		errs = append(errs, errors.New("analytics: Username and Password go together"))
	}
	if !prefixPattern.MatchString(c.IndexPrefix) {
		errs = append(errs, fmt.Errorf("analytics: IndexPrefix %q: use lower case letters, digits, '_', '.', '-', starting with a letter or digit (at most 100)", c.IndexPrefix))
	}
	if c.IndexMode != IndexShared && c.IndexMode != IndexPerTenant {
		errs = append(errs, fmt.Errorf("analytics: IndexMode %q: use %q or %q", c.IndexMode, IndexShared, IndexPerTenant))
	}
	if c.Period != PeriodMonth && c.Period != PeriodDay && c.Period != PeriodNone {
		errs = append(errs, fmt.Errorf("analytics: Period %q: use %q, %q or %q", c.Period, PeriodMonth, PeriodDay, PeriodNone))
	}
	if c.BatchSize > 10_000 {
		errs = append(errs, fmt.Errorf("analytics: BatchSize %d: at most 10000 (the outbox reads no more at once)", c.BatchSize))
	}
	if c.InitialBackoff > c.MaxBackoff {
		errs = append(errs, fmt.Errorf("analytics: InitialBackoff %s exceeds MaxBackoff %s", c.InitialBackoff, c.MaxBackoff))
	}
	if len(c.Consumer) > 100 {
		errs = append(errs, errors.New("analytics: Consumer: at most 100 characters"))
	}
	return errors.Join(errs...)
}

// redactURL hides a password in a URL for error messages.
func redactURL(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return "(unparsable URL)"
}
