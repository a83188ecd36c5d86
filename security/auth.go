package security

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Errors of authentication and tenant resolution. The HTTP layer maps them:
// ErrUnauthenticated → 401, ErrForbidden and ErrNoMembership → 403,
// ErrTooManyAttempts → 429.
var (
	// ErrUnauthenticated: no credentials, or wrong ones. The message never
	// says which part was wrong.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrTooManyAttempts: too many failed logins for this login from this
	// client, or from this client at all, recently; retry later. The error
	// is a *TooManyAttemptsError, which says when.
	ErrTooManyAttempts = errors.New("too many failed login attempts")
	// ErrNoMembership: the user does not belong to the requested tenant (or
	// to any tenant, or belongs to several and named none).
	ErrNoMembership = errors.New("not a member of the tenant")
	// ErrForbidden: the user's role in the tenant does not allow the
	// operation.
	ErrForbidden = errors.New("forbidden")
	// ErrUnknownAccount is what a Directory returns for a login, user or
	// token that does not exist (or has expired).
	ErrUnknownAccount = errors.New("unknown account")
)

// TooManyAttemptsError is ErrTooManyAttempts with the time after which a
// new attempt will be checked again. Its message never says whether the
// login exists.
type TooManyAttemptsError struct {
	// RetryAfter is how long until the oldest counted failure leaves the
	// window (at least a second).
	RetryAfter time.Duration
	// PerClient is true when the client as a whole is throttled, false when
	// only this login from this client is.
	PerClient bool
}

// Error implements error.
func (e *TooManyAttemptsError) Error() string {
	who := "for this login from this client"
	if e.PerClient {
		who = "from this client"
	}
	return fmt.Sprintf("%v %s: retry in %d s", ErrTooManyAttempts, who, int(e.RetryAfter.Round(time.Second)/time.Second))
}

// Is makes errors.Is(err, ErrTooManyAttempts) true.
func (e *TooManyAttemptsError) Is(target error) bool { return target == ErrTooManyAttempts }

// Account is a user as authentication sees it.
type Account struct {
	UserID        string
	Login         string
	DisplayName   string
	PasswordHash  string
	TenantManager bool
	// AuthEpoch grows when what the user signed in with must stop working
	// (password change, revoked token, sign-out everywhere): credentials
	// verified under an older epoch are checked again.
	AuthEpoch int64
}

// Membership is a user's role in one tenant.
type Membership struct {
	Tenant string
	Role   Role
}

// Token is a stored API token (only its hash is stored).
type Token struct {
	ID     string
	UserID string
	// CreatedBy is the user who created the token, when not its owner
	// (the tenant manager impersonating a member); empty otherwise.
	CreatedBy string
	// ExpiresAt is zero for a token that never expires.
	ExpiresAt time.Time
}

// Directory is where authentication reads accounts, tokens, memberships and
// groups. The datasource package implements it over the primary datasource
// and its TTL cache.
type Directory interface {
	// AccountByLogin returns ErrUnknownAccount when no such login exists.
	AccountByLogin(ctx context.Context, login string) (*Account, error)
	// AccountByID returns ErrUnknownAccount when no such user exists.
	AccountByID(ctx context.Context, userID string) (*Account, error)
	// TokenByHash returns ErrUnknownAccount for an unknown or expired token.
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	// Memberships lists the user's tenants and roles.
	Memberships(ctx context.Context, userID string) ([]Membership, error)
	// Groups lists the user's groups in a tenant.
	Groups(ctx context.Context, tenant, userID string) ([]string, error)
}

// HashToken is the stored form of an API token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// AuthConfig configures an Authenticator.
type AuthConfig struct {
	// CacheTTL is how long a verified password (or token) is trusted
	// without running bcrypt (or reading the token) again. A password change
	// or revoked token is seen after at most this long; the account's stored
	// hash is compared on every request, so a password changed through this
	// node's directory cache is seen when that cache refreshes. Default 1m.
	CacheTTL time.Duration
	// MaxFailuresPerLogin bounds the failed logins of one login from one
	// client (address) per FailureWindow; MaxFailuresPerAddress bounds a
	// client's failed logins whatever the login. Attempts are counted when
	// they start, before bcrypt runs, so a parallel burst is cut at the
	// limit too. A login is never locked for every client: a guesser
	// elsewhere cannot lock the real user out. Defaults 10 and 50 per 5
	// minutes.
	MaxFailuresPerLogin   int
	MaxFailuresPerAddress int
	FailureWindow         time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

func (c AuthConfig) withDefaults() AuthConfig {
	if c.CacheTTL <= 0 {
		c.CacheTTL = time.Minute
	}
	if c.MaxFailuresPerLogin <= 0 {
		c.MaxFailuresPerLogin = 10
	}
	if c.MaxFailuresPerAddress <= 0 {
		c.MaxFailuresPerAddress = 50
	}
	if c.FailureWindow <= 0 {
		c.FailureWindow = 5 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Authenticator checks HTTP Basic credentials and bearer tokens against a
// Directory and resolves the caller's tenant. bcrypt runs only when a
// login/password pair was not verified within CacheTTL: verified pairs are
// remembered under an HMAC with a per-process key, never in clear.
type Authenticator struct {
	dir Directory
	cfg AuthConfig
	key [32]byte

	macs sync.Pool // hash.Hash (HMAC-SHA256 under key), reused: no allocation per request

	// checks lets concurrent requests with the same credentials share one
	// bcrypt run; checked counts the runs.
	checks  singleflight.Group
	checked atomic.Int64

	mu       sync.Mutex
	verified map[[32]byte]verifiedEntry
	failures map[string][]time.Time // pair or client key → recent failures, oldest first
	pending  map[string]int         // pair or client key → attempts being checked now
}

type verifiedEntry struct {
	userID   string
	epoch    int64  // the account's auth epoch when verified; a change voids the entry
	pwHash   string // the account's hash when verified; a change voids the entry
	tokenID  string
	by       string // who created the token, when not its owner
	expires  time.Time
	tokenEnd time.Time
}

// NewAuthenticator returns an Authenticator over dir.
func NewAuthenticator(dir Directory, cfg AuthConfig) *Authenticator {
	a := &Authenticator{dir: dir, cfg: cfg.withDefaults(), verified: map[[32]byte]verifiedEntry{},
		failures: map[string][]time.Time{}, pending: map[string]int{}}
	if _, err := rand.Read(a.key[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	a.macs.New = func() any { return hmac.New(sha256.New, a.key[:]) }
	return a
}

// mac is the HMAC of a credential, the key of the verified cache: the
// credential itself is never kept.
func (a *Authenticator) mac(kind, s1, s2 string) [32]byte {
	m := a.macs.Get().(hash.Hash)
	m.Reset()
	var sep = [1]byte{0}
	io.WriteString(m, kind)
	m.Write(sep[:])
	io.WriteString(m, s1)
	m.Write(sep[:])
	io.WriteString(m, s2)
	var out [32]byte
	m.Sum(out[:0])
	a.macs.Put(m)
	return out
}

// Basic authenticates a login and password from address (the client IP,
// for rate limiting). The principal has no tenant yet (see ResolveTenant).
//
// A credential verified within CacheTTL passes without bcrypt and without
// the failure limits: it is proven, and a guesser's failures must not lock
// its owner out. Any other attempt is counted against the login-and-client
// pair and against the client before bcrypt runs. An unknown login costs
// the same work as a wrong password, on the same path, so neither timing
// nor the limits tell which logins exist.
//
// Errors: ErrUnauthenticated, *TooManyAttemptsError, or a directory
// failure.
func (a *Authenticator) Basic(ctx context.Context, login, password, address string) (*Principal, error) {
	if login == "" || password == "" {
		return nil, ErrUnauthenticated
	}
	acct, err := a.dir.AccountByLogin(ctx, login)
	known := err == nil
	if err != nil && !errors.Is(err, ErrUnknownAccount) {
		return nil, err
	}
	hash := dummyHash
	if known {
		hash = acct.PasswordHash
	}
	k := a.mac("basic", login, password)
	now := a.cfg.Now()
	if known {
		a.mu.Lock()
		e, ok := a.verified[k]
		a.mu.Unlock()
		if ok && !now.After(e.expires) && e.pwHash == acct.PasswordHash && e.userID == acct.UserID && e.epoch == acct.AuthEpoch {
			return &Principal{UserID: acct.UserID, Login: acct.Login, TenantManager: acct.TenantManager}, nil
		}
	}
	// A client that opens many connections at once, or all of them when
	// the entry expires, pays for one bcrypt run and one counted attempt,
	// not one per request.
	_, err, _ = a.checks.Do(string(k[:])+hash, func() (any, error) {
		done, err := a.reserve(login, address)
		if err != nil {
			return nil, err
		}
		a.checked.Add(1)
		if err := CheckPassword(hash, password); err != nil || !known {
			done(false)
			return nil, ErrUnauthenticated
		}
		done(true)
		a.mu.Lock()
		a.verified[k] = verifiedEntry{userID: acct.UserID, pwHash: acct.PasswordHash, epoch: acct.AuthEpoch, expires: now.Add(a.cfg.CacheTTL)}
		a.sweepLocked(now)
		a.mu.Unlock()
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return &Principal{UserID: acct.UserID, Login: acct.Login, TenantManager: acct.TenantManager}, nil
}

// PasswordChecks returns how many times bcrypt ran: once per valid
// credential and CacheTTL however many requests carry it, and at most once
// per attempt with a wrong password or an unknown login.
func (a *Authenticator) PasswordChecks() int64 { return a.checked.Load() }

// dummyHash is a bcrypt hash of a random string, compared against when a
// login does not exist.
var dummyHash = func() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h, err := HashPassword(hex.EncodeToString(b[:]))
	if err != nil {
		panic(err)
	}
	return h
}()

// Bearer authenticates an API token from address. A token verified within
// CacheTTL passes at once; any other is counted against the client's
// failure limit before it is looked up.
//
// Errors: ErrUnauthenticated, *TooManyAttemptsError, or a directory
// failure.
func (a *Authenticator) Bearer(ctx context.Context, token, address string) (*Principal, error) {
	if token == "" {
		return nil, ErrUnauthenticated
	}
	k := a.mac("bearer", token, "")
	now := a.cfg.Now()
	a.mu.Lock()
	e, ok := a.verified[k]
	a.mu.Unlock()
	if ok && now.Before(e.expires) && (e.tokenEnd.IsZero() || now.Before(e.tokenEnd)) {
		acct, err := a.dir.AccountByID(ctx, e.userID)
		if err != nil && !errors.Is(err, ErrUnknownAccount) {
			return nil, err
		}
		if err == nil && acct.AuthEpoch == e.epoch {
			return &Principal{UserID: acct.UserID, Login: acct.Login, TenantManager: acct.TenantManager, ImpersonatedBy: e.by}, nil
		}
		// The user's epoch moved (a token was revoked) or the user is
		// gone: look the token up again.
	}
	done, err := a.reserve("", address)
	if err != nil {
		return nil, err
	}
	t, err := a.dir.TokenByHash(ctx, HashToken(token))
	if errors.Is(err, ErrUnknownAccount) || (err == nil && !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
		done(false)
		a.forget(k)
		return nil, ErrUnauthenticated
	}
	done(true)
	if err != nil {
		return nil, err
	}
	acct, err := a.dir.AccountByID(ctx, t.UserID)
	if errors.Is(err, ErrUnknownAccount) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	by := t.CreatedBy
	if by == t.UserID {
		by = ""
	}
	a.verified[k] = verifiedEntry{userID: t.UserID, epoch: acct.AuthEpoch, tokenID: t.ID, by: by, expires: now.Add(a.cfg.CacheTTL), tokenEnd: t.ExpiresAt}
	a.sweepLocked(now)
	a.mu.Unlock()
	return &Principal{UserID: acct.UserID, Login: acct.Login, TenantManager: acct.TenantManager, ImpersonatedBy: by}, nil
}

// forget drops one verified entry.
func (a *Authenticator) forget(k [32]byte) {
	a.mu.Lock()
	delete(a.verified, k)
	a.mu.Unlock()
}

// ResolveTenant chooses the tenant a request acts in: requested, which must
// be one of the user's own tenants, or, when requested is empty, the user's
// only tenant. It returns a copy of p with Tenant, Role and Groups set.
//
// Errors: ErrNoMembership (not a member of requested, no tenant at all, or
// several and none requested — the message lists how to choose), and
// ErrForbidden for the tenant manager, who belongs to no tenant.
func (a *Authenticator) ResolveTenant(ctx context.Context, p *Principal, requested string) (*Principal, error) {
	if p.TenantManager {
		return nil, fmt.Errorf("%w: the tenant manager administers tenants and acts in none; use a tenant member's account", ErrForbidden)
	}
	ms, err := a.dir.Memberships(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	var m *Membership
	switch {
	case requested != "":
		for i := range ms {
			if ms[i].Tenant == requested {
				m = &ms[i]
			}
		}
		if m == nil {
			return nil, fmt.Errorf("%w: %s is not a member of tenant %q", ErrNoMembership, p.Login, requested)
		}
	case len(ms) == 1:
		m = &ms[0]
	case len(ms) == 0:
		return nil, fmt.Errorf("%w: %s belongs to no tenant", ErrNoMembership, p.Login)
	default:
		names := make([]string, len(ms))
		for i, x := range ms {
			names[i] = x.Tenant
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%w: %s belongs to several tenants (%v): choose one with the X-Tenant-ID header or /engine-rest/engine/{tenant}/…", ErrNoMembership, p.Login, names)
	}
	groups, err := a.dir.Groups(ctx, m.Tenant, p.UserID)
	if err != nil {
		return nil, err
	}
	out := *p
	out.Tenant, out.Role, out.Groups = m.Tenant, m.Role, groups
	return &out, nil
}

// limitKeys are the failure-limit keys of an attempt: the login-and-client
// pair (when there is a login) and the client (when it is known).
func limitKeys(login, address string) (pair, client string) {
	if login != "" {
		pair = "p:" + address + "\x00" + login
	}
	if address != "" {
		client = "a:" + address
	}
	return pair, client
}

// reserve counts an attempt before it is checked: it refuses when the
// pair's or the client's recent failures plus the attempts being checked
// now reach the limit, and otherwise holds a place until done reports the
// outcome (a failure is then recorded; a success only frees the place).
func (a *Authenticator) reserve(login, address string) (done func(ok bool), err error) {
	pair, client := limitKeys(login, address)
	now := a.cfg.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if pair != "" {
		if n := a.recentLocked(pair, now) + a.pending[pair]; n >= a.cfg.MaxFailuresPerLogin {
			return nil, &TooManyAttemptsError{RetryAfter: a.retryAfterLocked(pair, now)}
		}
	}
	if client != "" {
		if n := a.recentLocked(client, now) + a.pending[client]; n >= a.cfg.MaxFailuresPerAddress {
			return nil, &TooManyAttemptsError{RetryAfter: a.retryAfterLocked(client, now), PerClient: true}
		}
	}
	for _, key := range []string{pair, client} {
		if key != "" {
			a.pending[key]++
		}
	}
	var once sync.Once
	return func(ok bool) {
		once.Do(func() {
			now := a.cfg.Now()
			a.mu.Lock()
			defer a.mu.Unlock()
			for _, key := range []string{pair, client} {
				if key == "" {
					continue
				}
				if a.pending[key]--; a.pending[key] <= 0 {
					delete(a.pending, key)
				}
				if !ok {
					a.failures[key] = append(a.failures[key], now)
				}
			}
			if !ok {
				a.boundLocked(now)
			}
		})
	}, nil
}

// retryAfterLocked is how long until the oldest counted failure of key
// leaves the window; attempts still being checked count as a full window.
func (a *Authenticator) retryAfterLocked(key string, now time.Time) time.Duration {
	d := a.cfg.FailureWindow
	if l := a.failures[key]; len(l) > 0 {
		d = l[0].Add(a.cfg.FailureWindow).Sub(now)
	}
	return max(d, time.Second)
}

func (a *Authenticator) recentLocked(key string, now time.Time) int {
	l := a.failures[key]
	cut := 0
	for cut < len(l) && now.Sub(l[cut]) > a.cfg.FailureWindow {
		cut++
	}
	if cut > 0 {
		l = l[cut:]
		if len(l) == 0 {
			delete(a.failures, key)
		} else {
			a.failures[key] = l
		}
	}
	return len(l)
}

// boundLocked bounds memory under a spray of random logins or addresses:
// past 100,000 keys, histories whose last failure is older than half the
// window are forgotten.
func (a *Authenticator) boundLocked(now time.Time) {
	if len(a.failures) <= 100_000 {
		return
	}
	for k, l := range a.failures {
		if now.Sub(l[len(l)-1]) > a.cfg.FailureWindow/2 {
			delete(a.failures, k)
		}
	}
}

// sweepLocked drops expired verified entries now and then.
func (a *Authenticator) sweepLocked(now time.Time) {
	if len(a.verified) < 10_000 {
		return
	}
	for k, e := range a.verified {
		if now.After(e.expires) {
			delete(a.verified, k)
		}
	}
}

// Forget drops everything cached about a user's verified credentials (call
// it after a password change or token revocation on this node).
func (a *Authenticator) Forget(userID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, e := range a.verified {
		if e.userID == userID {
			delete(a.verified, k)
		}
	}
}
