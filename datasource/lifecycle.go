package datasource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Hook is called when a tenant stops being served on this node (disabled or
// being dropped). The lifecycle waits for every hook before it goes on, so a
// hook must stop the tenant's background work and return once nothing of it
// is left running (bounded by ctx).
type Hook func(ctx context.Context, tenant string) error

// Lifecycle creates, lists, disables, enables, reconfigures, migrates and
// drops tenants.
//
// Creation is idempotent and resumable: its steps are recorded in the
// tenant's status (creating → active), every step can run again, and a crash
// at any point (including kill -9) leaves nothing that blocks a retry.
// Dropping marks the tenant dropping, waits until every node has let go of it
// (the registry TTL plus the longest job lock), and only then removes
// storage, if asked to.
type Lifecycle struct {
	cfg      Config
	primary  *Primary
	registry *Registry
	ds       *TenantAwareDataSource
	signals  *Signals
	caches   *Caches

	mu        sync.Mutex
	onDisable []Hook
	onDrop    []Hook
	observed  map[string]Status // last status seen per tenant, for remote changes

	// stepHook, when set (tests only), runs after each completed creation
	// step; an error aborts creation there, as a crash would.
	stepHook func(step string) error
}

// Creation steps, in order. Each is safe to repeat.
const (
	StepRegistered     = "registered"
	StepStorageCreated = "storage-created"
	StepMigrated       = "migrated"
	StepActivated      = "activated"
)

// OnDisable registers a hook run when a tenant is disabled or starts being
// dropped, on this node or (seen through signals or the registry) on
// another.
func (l *Lifecycle) OnDisable(h Hook) {
	l.mu.Lock()
	l.onDisable = append(l.onDisable, h)
	l.mu.Unlock()
}

// OnDrop registers a hook run when a tenant starts being dropped, after the
// OnDisable hooks.
func (l *Lifecycle) OnDrop(h Hook) {
	l.mu.Lock()
	l.onDrop = append(l.onDrop, h)
	l.mu.Unlock()
}

// CreateTenantParams describes a tenant to create.
type CreateTenantParams struct {
	// ID becomes a schema or file name: ^[a-z][a-z0-9_]{1,39}$, not
	// reserved.
	ID          string
	DisplayName string
	// Placement defaults to the configured default placement.
	Placement Placement
	// DSN (pg-dsn only) is the PostgreSQL connection string. A password in a
	// URL DSN is moved to Password.
	DSN string
	// Password (pg-dsn only) is stored encrypted.
	Password Secret
	// Schema (pg-dsn only) is the schema to use at the DSN; default public.
	Schema string
	// Limits default to the node's DefaultLimits.
	Limits Limits
	// Quotas bound what the tenant may do (see Quotas).
	Quotas Quotas
}

func (l *Lifecycle) step(name string) error {
	if l.stepHook != nil {
		return l.stepHook(name)
	}
	return nil
}

// Create creates a tenant: validate, register as creating, create its
// storage, migrate it, activate it. Creating a tenant that already exists
// with the same placement resumes or confirms it; with another placement it
// is ErrConflict.
//
// Errors: ErrInvalidTenantID, ErrInvalid (the message says what to fix),
// ErrConflict, ErrTenantUnavailable (storage unreachable), ErrNoMasterKey.
func (l *Lifecycle) Create(ctx context.Context, params *CreateTenantParams) (*Tenant, error) {
	t, err := l.newTenant(params)
	if err != nil {
		return nil, err
	}
	if t.storageKey, err = l.storageKey(t); err != nil {
		return nil, err
	}
	if err := l.checkStorageFree(ctx, t.storageKey, t.ID); err != nil {
		return nil, err
	}
	if err := l.primary.insertTenant(ctx, t); err != nil {
		if !errors.Is(err, ErrConflict) {
			return nil, err
		}
		existing, gerr := l.primary.GetTenant(ctx, t.ID)
		if errors.Is(gerr, ErrUnknownTenant) {
			return nil, fmt.Errorf("%w: another tenant was registered on the same storage at the same time", ErrConflict)
		}
		if gerr != nil {
			return nil, gerr
		}
		switch {
		case existing.Placement != t.Placement:
			return nil, fmt.Errorf("%w: tenant %s already exists with placement %s", ErrConflict, t.ID, existing.Placement)
		case existing.Status == StatusActive:
			// This node may have cached the tenant while another node was
			// still creating it (its last signal can be lost in a crash).
			l.registry.InvalidateTenant(t.ID)
			return existing, nil
		case existing.Status != StatusCreating:
			return nil, fmt.Errorf("%w: tenant %s already exists and is %s", ErrConflict, t.ID, existing.Status)
		}
		t = existing // resume
	}
	l.changed(t.ID)
	if err := l.step(StepRegistered); err != nil {
		return nil, err
	}
	if err := l.createStorage(ctx, t); err != nil {
		return nil, fmt.Errorf("create storage of tenant %s: %w (run the same create again to resume)", t.ID, err)
	}
	if err := l.step(StepStorageCreated); err != nil {
		return nil, err
	}
	if _, err := l.migrateTenant(ctx, t); err != nil {
		return nil, fmt.Errorf("migrate tenant %s: %w (run the same create again to resume)", t.ID, err)
	}
	if err := l.step(StepMigrated); err != nil {
		return nil, err
	}
	if err := l.primary.setTenantStatus(ctx, t.ID, StatusActive, StatusCreating); err != nil {
		return nil, err
	}
	l.changed(t.ID)
	if err := l.step(StepActivated); err != nil {
		return nil, err
	}
	return l.primary.GetTenant(ctx, t.ID)
}

// newTenant validates params and builds the tenant row to insert.
func (l *Lifecycle) newTenant(p *CreateTenantParams) (*Tenant, error) {
	if err := ValidateTenantID(p.ID); err != nil {
		return nil, err
	}
	placement := p.Placement
	if placement == "" {
		placement = l.cfg.DefaultPlacement
	}
	if _, err := ParsePlacement(string(placement)); err != nil {
		return nil, err
	}
	if err := p.Limits.validate(); err != nil {
		return nil, err
	}
	if err := p.Quotas.validate(); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(p.DisplayName)
	if name == "" {
		name = p.ID
	}
	if len(name) > 200 {
		return nil, fmt.Errorf("%w: display name longer than 200 characters", ErrInvalid)
	}
	t := &Tenant{ID: p.ID, DisplayName: name, Status: StatusCreating, Placement: placement, Limits: p.Limits, Quotas: p.Quotas}
	switch placement {
	case PlacementPGSchema:
		if !l.cfg.primaryIsPostgres() {
			return nil, fmt.Errorf("%w: placement pg-schema needs a PostgreSQL primary; use sqlite or pg-dsn", ErrInvalid)
		}
		if p.DSN != "" || p.Password.IsSet() || p.Schema != "" {
			return nil, fmt.Errorf("%w: placement pg-schema takes no DSN, password or schema (its schema is %s%s)", ErrInvalid, l.cfg.SchemaPrefix, p.ID)
		}
		t.Storage.Schema = l.cfg.SchemaPrefix + p.ID
	case PlacementPGDSN:
		if p.DSN == "" {
			return nil, fmt.Errorf("%w: placement pg-dsn needs a DSN, e.g. postgres://user@host:5432/db?sslmode=require", ErrInvalid)
		}
		dsn, pw, err := splitDSNPassword(p.DSN)
		if err != nil {
			return nil, err
		}
		if p.Password.IsSet() {
			pw = p.Password
		}
		schema := p.Schema
		if schema != "" {
			if err := ValidateSchemaPrefix(schema); err != nil {
				return nil, fmt.Errorf("schema: %w", err)
			}
		}
		t.Storage = Storage{DSN: dsn, Password: pw, Schema: schema}
	case PlacementSQLite:
		if p.DSN != "" || p.Password.IsSet() || p.Schema != "" {
			return nil, fmt.Errorf("%w: placement sqlite takes no DSN, password or schema (its file is %s)", ErrInvalid, l.cfg.sqliteTenantPath(p.ID))
		}
	}
	return t, nil
}

// createStorage makes the tenant's schema or file exist. Idempotent.
func (l *Lifecycle) createStorage(ctx context.Context, t *Tenant) error {
	switch t.Placement {
	case PlacementPGSchema:
		return createSchema(ctx, l.primary.w.DB, t.Storage.Schema)
	case PlacementPGDSN:
		if t.Storage.Schema == "" || t.Storage.Schema == "public" {
			return nil
		}
		cfg, err := parsePG(t.Storage.DSN, t.Storage.Password)
		if err != nil {
			return err
		}
		db, err := openPG(pgTarget{cfg: cfg, schema: "public"}, 1, 0)
		if err != nil {
			return err
		}
		defer db.Close()
		return createSchema(ctx, db.DB, t.Storage.Schema)
	case PlacementSQLite:
		return os.MkdirAll(filepath.Dir(l.cfg.sqliteTenantPath(t.ID)), 0o700)
	}
	return nil
}

func createSchema(ctx context.Context, db *sql.DB, schema string) error {
	_, err := db.ExecContext(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(schema))
	if err != nil && errors.Is(interpretError(err), ErrConflict) {
		// Two nodes raced on CREATE SCHEMA IF NOT EXISTS; the schema exists.
		return nil
	}
	return err
}

// openDirect opens a short-lived handle on a tenant's storage, outside the
// router (which serves active tenants only), for migrations and health.
func (l *Lifecycle) openDirect(ctx context.Context, t *Tenant) (*sql.DB, Dialect, func(), error) {
	switch t.Placement {
	case PlacementSQLite:
		w, r, err := openSQLite(ctx, l.cfg.sqliteTenantPath(t.ID), 1)
		if err != nil {
			return nil, "", nil, err
		}
		return w.DB, SQLite, func() { r.Close(); w.Close() }, nil
	case PlacementPGSchema, PlacementPGDSN:
		spec, err := l.ds.poolSpec(t)
		if err != nil {
			return nil, "", nil, err
		}
		target := *spec.pg
		if t.Placement == PlacementPGSchema {
			// Migration DDL is many small transactions; waiting for each
			// one's WAL flush made creation fsync-bound. It is safe to skip
			// the wait here: the tenant becomes active only through a later
			// synchronous commit on the same server, and flushing that
			// commit's WAL flushes the migration's before it. A crash before
			// that leaves the tenant "creating", which a retry resumes.
			target.cfg = target.cfg.Clone()
			if target.cfg.Runtime == nil {
				target.cfg.Runtime = map[string]string{}
			}
			target.cfg.Runtime["synchronous_commit"] = "off"
		}
		db, err := openPG(target, 2, 1)
		if err != nil {
			return nil, "", nil, err
		}
		return db.DB, Postgres, func() { db.Close() }, nil
	}
	return nil, "", nil, fmt.Errorf("%w: unknown placement %q", ErrInvalid, t.Placement)
}

func (l *Lifecycle) migrateTenant(ctx context.Context, t *Tenant) (MigrationResult, error) {
	db, d, closeFn, err := l.openDirect(ctx, t)
	if err != nil {
		return MigrationResult{}, err
	}
	defer closeFn()
	return migrateDB(ctx, db, d, migrationsFor(d, true), "tenant/"+t.ID)
}

// MigrationStatus reports a tenant storage's applied and latest versions.
func (l *Lifecycle) MigrationStatus(ctx context.Context, id string) (current, latest int64, err error) {
	t, err := l.primary.GetTenant(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	db, d, closeFn, err := l.openDirect(ctx, t)
	if err != nil {
		return 0, 0, err
	}
	defer closeFn()
	return dbVersion(ctx, db, d, migrationsFor(d, true))
}

// changed invalidates a tenant on this node and tells the others.
func (l *Lifecycle) changed(id string) {
	l.registry.InvalidateTenant(id)
	if l.signals != nil {
		l.signals.Notify(Signal{Topic: TopicTenant, Tenant: id})
	}
}

// List lists tenants (see ListTenantsParams).
func (l *Lifecycle) List(ctx context.Context, params *ListTenantsParams) ([]*Tenant, error) {
	return l.primary.ListTenants(ctx, params)
}

// Get reads one tenant straight from the primary. Errors: ErrUnknownTenant.
func (l *Lifecycle) Get(ctx context.Context, id string) (*Tenant, error) {
	return l.primary.GetTenant(ctx, id)
}

// Disable stops serving a tenant: its status becomes disabled, this node's
// OnDisable hooks run (and other nodes', when they see the change), and its
// pools close once in-flight transactions finish. Errors:
// ErrUnknownTenant, ErrConflict (not active).
func (l *Lifecycle) Disable(ctx context.Context, id string) error {
	if err := l.primary.setTenantStatus(ctx, id, StatusDisabled, StatusActive); err != nil {
		return err
	}
	l.changed(id)
	return l.stopServing(ctx, id, false)
}

// Enable serves a disabled tenant again. Errors: ErrUnknownTenant,
// ErrConflict (not disabled).
func (l *Lifecycle) Enable(ctx context.Context, id string) error {
	if err := l.primary.setTenantStatus(ctx, id, StatusActive, StatusDisabled); err != nil {
		return err
	}
	l.setObserved(id, StatusActive)
	l.changed(id)
	return nil
}

// stopServing runs the hooks and closes the tenant's pools on this node.
func (l *Lifecycle) stopServing(ctx context.Context, id string, dropping bool) error {
	l.mu.Lock()
	hooks := append([]Hook(nil), l.onDisable...)
	if dropping {
		hooks = append(hooks, l.onDrop...)
	}
	l.observed[id] = StatusDisabled
	l.mu.Unlock()
	var errs []error
	for _, h := range hooks {
		if err := h(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	if err := l.ds.Evict(ctx, id); err != nil {
		errs = append(errs, fmt.Errorf("close pools of %s: %w", id, err))
	}
	if l.caches != nil {
		l.caches.InvalidateTenant(id)
	}
	return errors.Join(errs...)
}

func (l *Lifecycle) setObserved(id string, s Status) {
	l.mu.Lock()
	l.observed[id] = s
	l.mu.Unlock()
}

// UpdateConfig changes a tenant's display name, credentials or limits
// without a restart: new work uses a pool with the new settings while the
// old pool drains. A change that moves the tenant's data (another server,
// database or schema) requires the tenant to be disabled first. Errors:
// ErrUnknownTenant, ErrInvalid, ErrConflict.
func (l *Lifecycle) UpdateConfig(ctx context.Context, id string, params *UpdateTenantParams) (*Tenant, error) {
	t, err := l.primary.GetTenant(ctx, id)
	if err != nil {
		return nil, err
	}
	storageChanged := params.Password != nil
	if params.Limits != nil {
		if err := params.Limits.validate(); err != nil {
			return nil, err
		}
	}
	if params.Quotas != nil {
		if err := params.Quotas.validate(); err != nil {
			return nil, err
		}
	}
	if params.DSN != nil {
		if t.Placement != PlacementPGDSN {
			return nil, fmt.Errorf("%w: only pg-dsn tenants have a DSN", ErrInvalid)
		}
		dsn, pw, err := splitDSNPassword(*params.DSN)
		if err != nil {
			return nil, err
		}
		params.DSN = &dsn
		if pw.IsSet() && params.Password == nil {
			params.Password = &pw
		}
		moves, err := dsnMovesData(t.Storage.DSN, dsn)
		if err != nil {
			return nil, err
		}
		if moves && t.Status == StatusActive {
			return nil, fmt.Errorf("%w: the new DSN points at another server or database; disable tenant %s first, move its data, then update and enable it", ErrConflict, id)
		}
		moved := *t
		moved.Storage.DSN = dsn
		key, err := l.storageKey(&moved)
		if err != nil {
			return nil, err
		}
		if err := l.checkStorageFree(ctx, key, id); err != nil {
			return nil, err
		}
		params.storageKey = &key
		storageChanged = true
	}
	if params.Password != nil && t.Placement != PlacementPGDSN {
		return nil, fmt.Errorf("%w: only pg-dsn tenants have a password", ErrInvalid)
	}
	if err := l.primary.updateTenant(ctx, id, params, storageChanged); err != nil {
		return nil, err
	}
	l.changed(id)
	return l.primary.GetTenant(ctx, id)
}

// dsnMovesData reports whether two DSNs address different data (server,
// port or database), as opposed to different credentials or options.
func dsnMovesData(a, b string) (bool, error) {
	ca, err := parsePG(a, Secret{})
	if err != nil {
		return false, err
	}
	cb, err := parsePG(b, Secret{})
	if err != nil {
		return false, err
	}
	ta, tb := pgTarget{cfg: ca}, pgTarget{cfg: cb}
	return ta.serverKey() != tb.serverKey() || ca.Database != cb.Database, nil
}

// DropOptions controls Drop.
type DropOptions struct {
	// RemoveStorage deletes the tenant's schema or file. Without it the
	// tenant is unregistered and its data kept (creating a tenant with the
	// same ID and placement later attaches that data again).
	RemoveStorage bool
}

// DropResult reports what Drop did.
type DropResult struct {
	StorageRemoved bool   `json:"storageRemoved"`
	Storage        string `json:"storage"`
	Note           string `json:"note,omitempty"`
}

// Drop removes a tenant: mark it dropping, run the hooks, wait until every
// node has let go of it (DrainWait after it was marked, measured on the
// configured clock, so a resumed drop does not wait twice), close its pools,
// remove its storage if asked, and unregister it. Errors: ErrUnknownTenant,
// ctx.Err() while waiting.
func (l *Lifecycle) Drop(ctx context.Context, id string, opts DropOptions) (*DropResult, error) {
	if err := l.primary.setTenantStatus(ctx, id, StatusDropping, StatusActive, StatusDisabled, StatusCreating, StatusDropping); err != nil {
		return nil, err
	}
	l.changed(id)
	t, err := l.primary.GetTenant(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := l.stopServing(ctx, id, true); err != nil {
		return nil, err
	}
	if wait := t.UpdatedAt.Add(l.cfg.DrainWait).Sub(l.cfg.Clock.Now()); wait > 0 {
		l.cfg.Logger.Info("waiting for every node to let go of the tenant", "tenant", id, "wait", wait.Round(time.Second))
		select {
		case <-l.cfg.Clock.After(wait):
		case <-ctx.Done():
			return nil, fmt.Errorf("drop %s: %w (the tenant stays dropping; run drop again to resume)", id, ctx.Err())
		}
	}
	if err := l.ds.Evict(ctx, id); err != nil {
		return nil, err
	}
	res := &DropResult{Storage: l.describeStorage(t)}
	if opts.RemoveStorage {
		// Never remove what another tenant (registered before storage keys
		// were checked) still keeps its data in.
		key, err := l.storageKey(t)
		if err != nil {
			return nil, err
		}
		if err := l.checkStorageFree(ctx, key, id); err != nil {
			return nil, fmt.Errorf("remove storage of %s: %w (the tenant stays dropping; drop it again without removing storage)", id, err)
		}
		note, err := l.removeStorage(ctx, t)
		if err != nil {
			return nil, fmt.Errorf("remove storage of %s: %w (the tenant stays dropping; run drop again to resume)", id, err)
		}
		res.StorageRemoved, res.Note = note == "", note
	} else {
		res.Note = "storage kept"
	}
	if err := l.primary.deleteTenant(ctx, id); err != nil {
		return nil, err
	}
	l.changed(id)
	l.mu.Lock()
	delete(l.observed, id)
	l.mu.Unlock()
	return res, nil
}

func (l *Lifecycle) describeStorage(t *Tenant) string {
	switch t.Placement {
	case PlacementSQLite:
		return l.cfg.sqliteTenantPath(t.ID)
	case PlacementPGSchema:
		return "schema " + t.Storage.Schema
	default:
		schema := t.Storage.Schema
		if schema == "" {
			schema = "public"
		}
		return "schema " + schema + " at its DSN"
	}
}

// removeStorage deletes a tenant's schema or files. It returns a note when
// it deliberately left something in place.
func (l *Lifecycle) removeStorage(ctx context.Context, t *Tenant) (string, error) {
	switch t.Placement {
	case PlacementSQLite:
		base := l.cfg.sqliteTenantPath(t.ID)
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if err := os.Remove(base + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return "", err
			}
		}
		return "", nil
	case PlacementPGSchema:
		_, err := l.primary.w.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+quoteIdent(t.Storage.Schema)+` CASCADE`)
		return "", err
	case PlacementPGDSN:
		if t.Storage.Schema == "" || t.Storage.Schema == "public" {
			return "the tenant's data is in schema public of its own database, which is not removed automatically: drop that database yourself", nil
		}
		cfg, err := parsePG(t.Storage.DSN, t.Storage.Password)
		if err != nil {
			return "", err
		}
		db, err := openPG(pgTarget{cfg: cfg, schema: "public"}, 1, 0)
		if err != nil {
			return "", err
		}
		defer db.Close()
		_, err = db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+quoteIdent(t.Storage.Schema)+` CASCADE`)
		return "", err
	}
	return "", nil
}

// TenantMigration reports the migration of one tenant by MigrateAll.
type TenantMigration struct {
	Tenant   string        `json:"tenant"`
	From     int64         `json:"from"`
	To       int64         `json:"to"`
	Applied  int           `json:"applied"`
	Duration time.Duration `json:"duration"`
	Err      error         `json:"-"`
	Error    string        `json:"error,omitempty"`
}

// MigrateAllParams controls MigrateAll.
type MigrateAllParams struct {
	// Parallel bounds how many tenants migrate at once. Default 4.
	Parallel int
	// Progress, if set, is called after each tenant (serially).
	Progress func(done, total int, r TenantMigration)
}

// MigrateAll migrates every active or disabled tenant's storage, several at
// once. One tenant's failure does not stop the others: each outcome is in
// the report, which is sorted by tenant.
func (l *Lifecycle) MigrateAll(ctx context.Context, params *MigrateAllParams) ([]TenantMigration, error) {
	if params == nil {
		params = &MigrateAllParams{}
	}
	par := params.Parallel
	if par <= 0 {
		par = 4
	}
	tenants, err := l.primary.ListTenants(ctx, &ListTenantsParams{Status: []Status{StatusActive, StatusDisabled}})
	if err != nil {
		return nil, err
	}
	out := make([]TenantMigration, 0, len(tenants))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, par)
	for _, t := range tenants {
		wg.Add(1)
		go func(t *Tenant) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				mu.Lock()
				out = append(out, TenantMigration{Tenant: t.ID, Err: ctx.Err(), Error: ctx.Err().Error()})
				mu.Unlock()
				return
			}
			defer func() { <-sem }()
			start := time.Now()
			res, err := l.migrateTenant(ctx, t)
			r := TenantMigration{Tenant: t.ID, From: res.From, To: res.To, Applied: res.Applied, Duration: time.Since(start), Err: err}
			if err != nil {
				r.Error = err.Error()
			}
			mu.Lock()
			out = append(out, r)
			if params.Progress != nil {
				params.Progress(len(out), len(tenants), r)
			}
			mu.Unlock()
		}(t)
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Tenant < out[j].Tenant })
	return out, nil
}

// observe reacts to another node's change of a tenant: when the tenant is no
// longer active here, this node's hooks run and its pools close.
func (l *Lifecycle) observe(ctx context.Context, id string) {
	t, err := l.registry.Tenant(ctx, id)
	status := StatusDropping // gone from the primary: treat as dropped
	if err == nil {
		status = t.Status
	} else if !errors.Is(err, ErrUnknownTenant) {
		return
	}
	l.mu.Lock()
	prev, known := l.observed[id]
	l.observed[id] = status
	l.mu.Unlock()
	if status == StatusActive || (known && prev != StatusActive) {
		return
	}
	if err := l.stopServing(ctx, id, status == StatusDropping); err != nil {
		l.cfg.Logger.Warn("stopping a tenant changed on another node", "tenant", id, "err", err)
	}
}
