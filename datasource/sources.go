package datasource

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Sources is everything the datasource package runs on one node: the
// primary, the registry over it, the tenant-aware router, change signals,
// the tenant lifecycle and the shared per-tenant cache. Open builds it;
// Close stops it.
type Sources struct {
	// Config is the configuration in effect, defaults filled in.
	Config    Config
	Primary   *Primary
	Registry  *Registry
	Tenants   *TenantAwareDataSource
	Signals   *Signals
	Lifecycle *Lifecycle
	Caches    *Caches

	unsubscribe []func()
	closeOnce   sync.Once
	closeErr    error
}

// Open connects to the primary, migrates it, and starts the signals. No
// tenant storage is touched: tenant pools open on first use.
//
// Errors: configuration problems (all of them, joined, each saying what to
// change), an unreachable primary, a failed primary migration.
func Open(ctx context.Context, cfg Config) (*Sources, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	sealer, err := newSealer(cfg.MasterKey)
	if err != nil {
		return nil, err
	}
	p := &Primary{sealer: sealer, clock: cfg.Clock}
	var primaryPG *pgTarget
	var pgDSN string
	if cfg.primaryIsPostgres() {
		pc, err := parsePG(cfg.PrimaryURL, Secret{})
		if err != nil {
			return nil, fmt.Errorf("primary: %w", err)
		}
		primaryPG = &pgTarget{cfg: pc}
		db, err := openPrimaryPG(pc.Clone())
		if err != nil {
			return nil, err
		}
		p.dialect, p.w, p.r = Postgres, db, db
		pgDSN = cfg.PrimaryURL
	} else {
		w, r, err := openSQLite(ctx, cfg.sqlitePrimaryPath(), 4)
		if err != nil {
			return nil, fmt.Errorf("primary: %w", err)
		}
		p.dialect, p.w, p.r = SQLite, w, r
	}
	if err := p.Ping(ctx); err != nil {
		p.close()
		return nil, fmt.Errorf("%w: %v", ErrPrimaryUnavailable, redactErr(err, cfg.PrimaryURL))
	}
	if _, err := migrateDB(ctx, p.w.DB, p.dialect, migrationsFor(p.dialect, false), "primary"); err != nil {
		p.close()
		return nil, fmt.Errorf("primary: %w", err)
	}
	reg, err := newRegistry(p, cfg)
	if err != nil {
		p.close()
		return nil, err
	}
	caches, err := NewCaches(200_000)
	if err != nil {
		p.close()
		return nil, err
	}
	s := &Sources{Config: cfg, Primary: p, Registry: reg, Caches: caches}
	s.Signals = newSignals(cfg.NodeID, cfg.Logger, p, pgDSN)
	s.Tenants = newTenantAwareDataSource(cfg, reg, primaryPG)
	s.Lifecycle = &Lifecycle{cfg: cfg, primary: p, registry: reg, ds: s.Tenants, signals: s.Signals,
		caches: caches, observed: map[string]Status{}}
	p.onChange = s.Signals.Notify

	// Local changes reach the registry through the same signals as remote
	// ones, so both invalidate the same way.
	s.unsubscribe = append(s.unsubscribe,
		s.Signals.Subscribe(TopicTenant, func(sig Signal) {
			if sig.All {
				reg.InvalidateAll()
				return
			}
			reg.InvalidateTenant(sig.Tenant)
			if sig.Remote {
				go s.Lifecycle.observe(context.Background(), sig.Tenant)
			}
		}),
		s.Signals.Subscribe(TopicUser, func(sig Signal) {
			if sig.All {
				reg.InvalidateAll()
				return
			}
			id, login, _ := strings.Cut(sig.Key, ":")
			reg.InvalidateUser(id, login)
		}),
		s.Signals.Subscribe(TopicSession, func(sig Signal) {
			if sig.All {
				reg.InvalidateAll()
				return
			}
			reg.InvalidateSession(sig.Key)
		}),
	)
	s.Signals.start()
	return s, nil
}

// openPrimaryPG opens the primary's pool. Its schema is whatever the DSN's
// search_path gives (public by default), so it is not verified like a
// tenant's.
func openPrimaryPG(cfg pq.Config) (*sqlx.DB, error) {
	c, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: primary: %v", ErrInvalid, err)
	}
	db := sqlx.NewDb(sql.OpenDB(c), "postgres")
	db.SetMaxOpenConns(10)
	db.SetMaxIdleConns(5)
	return db, nil
}

// Close stops the signals and closes every pool and the primary. Calling it
// again does nothing.
func (s *Sources) Close() error {
	s.closeOnce.Do(func() {
		for _, u := range s.unsubscribe {
			u()
		}
		s.Signals.close()
		err := s.Tenants.Close()
		s.Registry.close()
		s.Caches.Close()
		s.closeErr = errors.Join(err, s.Primary.close())
	})
	return s.closeErr
}

// EnsureTenantManager creates the tenant-manager account "admin" when none
// exists. With password empty a random one is generated and returned (the
// caller stores it where only the operator can read it); otherwise password
// is used and "" returned. created reports whether an account was made.
func (s *Sources) EnsureTenantManager(ctx context.Context, password string) (created bool, generated string, err error) {
	n, err := s.Primary.CountTenantManagers(ctx)
	if err != nil || n > 0 {
		return false, "", err
	}
	if password == "" {
		var b [18]byte
		if _, err := rand.Read(b[:]); err != nil {
			return false, "", err
		}
		password = base64.RawURLEncoding.EncodeToString(b[:])
		generated = password
	}
	_, err = s.Primary.CreateUser(ctx, &CreateUserParams{Login: "admin", Password: password,
		DisplayName: "Tenant manager", TenantManager: true})
	if errors.Is(err, ErrConflict) {
		// Another node created it first.
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	return true, generated, nil
}
