package datasource

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/lib/pq"
)

// Placement says where a tenant's data lives.
type Placement string

// The placements a tenant can choose.
const (
	// PlacementPGSchema keeps the tenant in a schema named <prefix><id> of the
	// primary's PostgreSQL database.
	PlacementPGSchema Placement = "pg-schema"
	// PlacementPGDSN keeps the tenant at its own DSN, on any PostgreSQL
	// server.
	PlacementPGDSN Placement = "pg-dsn"
	// PlacementSQLite keeps the tenant in its own SQLite file under the data
	// directory. Single node only.
	PlacementSQLite Placement = "sqlite"
)

// ParsePlacement checks a placement name.
func ParsePlacement(s string) (Placement, error) {
	switch p := Placement(s); p {
	case PlacementPGSchema, PlacementPGDSN, PlacementSQLite:
		return p, nil
	}
	return "", fmt.Errorf("%w: unknown placement %q: use %q, %q or %q", ErrInvalid, s,
		PlacementPGSchema, PlacementPGDSN, PlacementSQLite)
}

// Status is where a tenant is in its lifecycle.
type Status string

// Tenant statuses. Only an active tenant's storage is served.
const (
	// StatusCreating: creation started and has not finished; a retry of
	// Create resumes it.
	StatusCreating Status = "creating"
	// StatusActive: served.
	StatusActive Status = "active"
	// StatusDisabled: registered, storage kept, not served.
	StatusDisabled Status = "disabled"
	// StatusDropping: being removed; a retry of Drop resumes it.
	StatusDropping Status = "dropping"
)

// Limits bound what one tenant may take from its storage.
type Limits struct {
	// MaxOpenConns caps the tenant's open connections (PostgreSQL) or its
	// read connections (SQLite, which always has one writer). Default 4.
	MaxOpenConns int `json:"maxOpenConns"`
	// MaxIdleConns caps idle connections kept open. Default 2.
	MaxIdleConns int `json:"maxIdleConns"`
	// AcquireTimeout bounds how long a caller waits for one of the tenant's
	// connections, so one slow tenant cannot hold callers of others.
	// Default 5s.
	AcquireTimeout time.Duration `json:"acquireTimeout"`
	// StatementTimeout bounds every SQL statement in the tenant's
	// PostgreSQL storage (statement_timeout), so one runaway query cannot
	// hold a connection. SQLite statements end with their request's
	// context instead. Default 30s.
	StatementTimeout time.Duration `json:"statementTimeout"`
}

// withDefaults fills zero fields from d.
func (l Limits) withDefaults(d Limits) Limits {
	if l.MaxOpenConns <= 0 {
		l.MaxOpenConns = d.MaxOpenConns
	}
	if l.MaxIdleConns <= 0 {
		l.MaxIdleConns = d.MaxIdleConns
	}
	if l.MaxIdleConns > l.MaxOpenConns {
		l.MaxIdleConns = l.MaxOpenConns
	}
	if l.AcquireTimeout <= 0 {
		l.AcquireTimeout = d.AcquireTimeout
	}
	if l.StatementTimeout <= 0 {
		l.StatementTimeout = d.StatementTimeout
	}
	return l
}

func (l Limits) validate() error {
	switch {
	case l.MaxOpenConns < 0 || l.MaxOpenConns > 1000:
		return fmt.Errorf("%w: maxOpenConns %d out of range 1..1000", ErrInvalid, l.MaxOpenConns)
	case l.MaxIdleConns < 0:
		return fmt.Errorf("%w: maxIdleConns must not be negative", ErrInvalid)
	case l.AcquireTimeout < 0:
		return fmt.Errorf("%w: acquireTimeout must not be negative", ErrInvalid)
	case l.StatementTimeout < 0:
		return fmt.Errorf("%w: statementTimeout must not be negative", ErrInvalid)
	}
	return nil
}

// Quotas bound what one tenant may do, whatever its users ask. Zero fields
// take the node's defaults (server.Limits) or, where noted, mean no limit.
// They change without a restart, like Limits.
type Quotas struct {
	// RequestsPerSecond is the tenant's sustained API request rate on each
	// node, Burst how many may arrive at once; more get 429 with
	// Retry-After. 0: the node's default.
	RequestsPerSecond float64 `json:"requestsPerSecond,omitempty"`
	Burst             int     `json:"burst,omitempty"`
	// MaxStreams and MaxLongPolls cap the tenant's open event streams and
	// waiting fetchAndLock requests on each node. 0: the node's default.
	MaxStreams   int `json:"maxStreams,omitempty"`
	MaxLongPolls int `json:"maxLongPolls,omitempty"`
	// MaxRunningInstances refuses new process instances while the tenant
	// has this many running. 0: no limit.
	MaxRunningInstances int64 `json:"maxRunningInstances,omitempty"`
	// MaxStorageBytes refuses new instances and deployments while the
	// tenant's storage measures more than this. 0: no limit.
	MaxStorageBytes int64 `json:"maxStorageBytes,omitempty"`
	// JobsPerSecond caps the jobs (timers, async continuations, retries)
	// the job executor runs for the tenant on each node, with a burst of
	// one second's worth: due jobs past it wait for their turn, they are
	// not refused. 0: no limit (every due tenant still gets its turn).
	JobsPerSecond float64 `json:"jobsPerSecond,omitempty"`
}

func (q Quotas) validate() error {
	if q.RequestsPerSecond < 0 || q.Burst < 0 || q.MaxStreams < 0 || q.MaxLongPolls < 0 || q.MaxRunningInstances < 0 || q.MaxStorageBytes < 0 || q.JobsPerSecond < 0 {
		return fmt.Errorf("%w: quotas must not be negative (0 means the default)", ErrInvalid)
	}
	return nil
}

// Storage is the placement-specific part of a tenant's configuration.
type Storage struct {
	// DSN is the PostgreSQL connection string of a pg-dsn tenant, without its
	// password. URL (postgres://…) or key=value form.
	DSN string `json:"dsn,omitempty"`
	// Password of a pg-dsn tenant. Encrypted at rest; never returned by an
	// API or printed (see Secret).
	Password Secret `json:"-"`
	// Schema is the PostgreSQL schema holding the tenant: <prefix><id> for
	// pg-schema, optional for pg-dsn (default "public").
	Schema string `json:"schema,omitempty"`
}

// Tenant is a registered tenant and its storage configuration.
type Tenant struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"displayName"`
	Status      Status    `json:"status"`
	Placement   Placement `json:"placement"`
	Storage     Storage   `json:"storage"`
	Limits      Limits    `json:"limits"`
	Quotas      Quotas    `json:"quotas"`
	// ConfigVersion increases whenever Storage or Limits change. A pool opened
	// for an older version is drained and replaced.
	ConfigVersion int64 `json:"configVersion"`
	// Revision increases on every change of the row.
	Revision  int64     `json:"revision"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`

	storageKey string // see Lifecycle.storageKey
}

// Active reports whether the tenant's storage is served.
func (t *Tenant) Active() bool { return t.Status == StatusActive }

// splitDSNPassword removes the password from a PostgreSQL DSN so that it can
// be stored encrypted and apart: a URL DSN loses its password component and
// its password query parameter, a key=value DSN its password pair (however
// it is spaced or quoted).
func splitDSNPassword(dsn string) (string, Secret, error) {
	if _, err := pq.NewConfig(dsn); err != nil {
		return "", Secret{}, fmt.Errorf("%w: DSN does not parse: %v", ErrInvalid, redactErr(err, dsn))
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", Secret{}, fmt.Errorf("%w: DSN is not a valid URL", ErrInvalid)
		}
		var pw Secret
		if u.User != nil {
			if p, ok := u.User.Password(); ok {
				pw = NewSecret(p)
				u.User = url.User(u.User.Username())
			}
		}
		q := u.Query()
		if q.Has("password") {
			pw = NewSecret(q.Get("password"))
			q.Del("password")
			u.RawQuery = q.Encode()
		}
		return u.String(), pw, nil
	}
	pairs, err := parseKeyValueDSN(dsn)
	if err != nil {
		return "", Secret{}, err
	}
	var pw Secret
	kept := pairs[:0]
	found := false
	for _, p := range pairs {
		if p.key == "password" {
			pw, found = NewSecret(p.value), true
			continue
		}
		kept = append(kept, p)
	}
	if !found {
		return dsn, Secret{}, nil
	}
	return formatKeyValueDSN(kept), pw, nil
}

// redactErr keeps a DSN's secrets out of a driver error message.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "***")
		}
	}
	if pairs, perr := parseKeyValueDSN(dsn); perr == nil {
		for _, p := range pairs {
			if p.key == "password" && p.value != "" {
				msg = strings.ReplaceAll(msg, p.value, "***")
			}
		}
	}
	return msg
}
