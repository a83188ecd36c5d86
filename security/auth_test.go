package security_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/security"
)

// dir is an in-memory Directory that counts lookups.
type dir struct {
	mu          sync.Mutex
	accounts    map[string]*security.Account // by login
	tokens      map[string]*security.Token   // by hash
	memberships map[string][]security.Membership
	groups      map[string][]string
	// arrive, when set, runs in every AccountByLogin before it answers.
	arrive func()
}

func (d *dir) AccountByLogin(_ context.Context, login string) (*security.Account, error) {
	if d.arrive != nil {
		d.arrive()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if a := d.accounts[login]; a != nil {
		c := *a
		return &c, nil
	}
	return nil, security.ErrUnknownAccount
}

func (d *dir) AccountByID(_ context.Context, id string) (*security.Account, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.accounts {
		if a.UserID == id {
			c := *a
			return &c, nil
		}
	}
	return nil, security.ErrUnknownAccount
}

func (d *dir) TokenByHash(_ context.Context, h string) (*security.Token, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t := d.tokens[h]; t != nil {
		return t, nil
	}
	return nil, security.ErrUnknownAccount
}

func (d *dir) Memberships(_ context.Context, id string) ([]security.Membership, error) {
	return d.memberships[id], nil
}

func (d *dir) Groups(_ context.Context, tenant, id string) ([]string, error) {
	return d.groups[tenant+"/"+id], nil
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// fixtureHash is the bcrypt hash of "correct horse", computed once: bcrypt
// is deliberately slow, more so under the race detector.
var fixtureHash = sync.OnceValue(func() string {
	h, err := security.HashPassword("correct horse")
	if err != nil {
		panic(err)
	}
	return h
})

func setup(t *testing.T) (*security.Authenticator, *dir, *clock) {
	t.Helper()
	h := fixtureHash()
	d := &dir{
		accounts: map[string]*security.Account{
			"ann":   {UserID: "u1", Login: "ann", PasswordHash: h},
			"admin": {UserID: "u0", Login: "admin", PasswordHash: h, TenantManager: true},
			"bob":   {UserID: "u2", Login: "bob", PasswordHash: h},
		},
		tokens: map[string]*security.Token{},
		memberships: map[string][]security.Membership{
			"u1": {{Tenant: "acme", Role: security.RoleUser}},
			"u2": {{Tenant: "acme", Role: security.RoleReader}, {Tenant: "globex", Role: security.RoleAdmin}},
		},
		groups: map[string][]string{"acme/u1": {"sales"}},
	}
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return security.NewAuthenticator(d, security.AuthConfig{Now: c.now, CacheTTL: time.Minute, MaxFailuresPerLogin: 3, MaxFailuresPerAddress: 5}), d, c
}

func TestBasicAuthenticatesAndResolvesTheOnlyTenant(t *testing.T) {
	t.Parallel()
	a, _, _ := setup(t)
	ctx := context.Background()
	p, err := a.Basic(ctx, "ann", "correct horse", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	p, err = a.ResolveTenant(ctx, p, "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Tenant != "acme" || p.Role != security.RoleUser || len(p.Groups) != 1 || !p.Can(security.RoleUser) || p.Can(security.RoleAdmin) {
		t.Fatalf("principal %+v", p)
	}
}

func TestWrongOrMissingCredentialsAreRefusedWithoutSayingWhichPart(t *testing.T) {
	t.Parallel()
	a, _, _ := setup(t)
	ctx := context.Background()
	for _, c := range []struct{ login, pw string }{{"ann", "wrong"}, {"nobody", "correct horse"}, {"", ""}, {"ann", ""}} {
		_, err := a.Basic(ctx, c.login, c.pw, "")
		if !errors.Is(err, security.ErrUnauthenticated) || strings.Contains(err.Error(), "password") {
			t.Errorf("%q/%q: %v", c.login, c.pw, err)
		}
	}
}

func TestVerifiedPasswordIsCachedButAChangedHashIsNot(t *testing.T) {
	t.Parallel()
	a, d, c := setup(t)
	ctx := context.Background()
	if _, err := a.Basic(ctx, "ann", "correct horse", ""); err != nil {
		t.Fatal(err)
	}
	// The password changes: the cached verification of the old one is void
	// at once, because the stored hash it was checked against changed.
	h, _ := security.HashPassword("battery staple")
	d.mu.Lock()
	d.accounts["ann"].PasswordHash = h
	d.mu.Unlock()
	if _, err := a.Basic(ctx, "ann", "correct horse", ""); !errors.Is(err, security.ErrUnauthenticated) {
		t.Fatalf("old password after a change: %v", err)
	}
	if _, err := a.Basic(ctx, "ann", "battery staple", ""); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(2 * time.Minute) // past the cache TTL: verified again, still fine
	if _, err := a.Basic(ctx, "ann", "battery staple", ""); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentRequestsWithTheSameCredentialsShareOneBcryptRun(t *testing.T) {
	t.Parallel()
	a, d, _ := setup(t)
	const n = 16
	// Every request passes the directory lookup before any checks the
	// password, as the first requests of a client opening n connections.
	var arrived sync.WaitGroup
	arrived.Add(n)
	d.arrive = func() { arrived.Done(); arrived.Wait() }
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := a.Basic(context.Background(), "ann", "correct horse", "10.0.0.1")
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := a.PasswordChecks(); got != 1 {
		t.Fatalf("bcrypt ran %d times for %d concurrent requests with the same credentials", got, n)
	}
}

func TestAGuesserCannotLockTheRealUserOut(t *testing.T) {
	t.Parallel()
	a, _, c := setup(t)
	ctx := context.Background()
	for range 3 {
		a.Basic(ctx, "ann", "wrong", "10.6.6.6")
	}
	// The guesser is throttled for this login, with a time to retry.
	_, err := a.Basic(ctx, "ann", "guess", "10.6.6.6")
	var tm *security.TooManyAttemptsError
	if !errors.As(err, &tm) || !errors.Is(err, security.ErrTooManyAttempts) || tm.PerClient || tm.RetryAfter != 5*time.Minute {
		t.Fatalf("throttled pair: %v", err)
	}
	// The real user, from anywhere else, signs in as usual.
	if _, err := a.Basic(ctx, "ann", "correct horse", "10.0.0.1"); err != nil {
		t.Fatalf("the real user after someone else's failures: %v", err)
	}
	// Behind the guesser's own address (a shared NAT), a credential already
	// verified still passes: it is proven, not guessed.
	if _, err := a.Basic(ctx, "ann", "correct horse", "10.6.6.6"); err != nil {
		t.Fatalf("a verified credential from a throttled address: %v", err)
	}
	c.t = c.t.Add(time.Minute)
	if _, err := a.Basic(ctx, "ann", "guess", "10.6.6.6"); !errors.As(err, &tm) || tm.RetryAfter != 4*time.Minute {
		t.Fatalf("retry after a minute more: %v", err)
	}
	c.t = c.t.Add(4*time.Minute + time.Second)
	if _, err := a.Basic(ctx, "ann", "wrong again", "10.6.6.6"); !errors.Is(err, security.ErrUnauthenticated) {
		t.Fatalf("after the window the pair is checked again: %v", err)
	}
}

func TestSprayingLoginsFromOneClientTripsTheClientLimit(t *testing.T) {
	t.Parallel()
	a, _, _ := setup(t)
	ctx := context.Background()
	for _, l := range []string{"x1", "x2", "x3", "x4", "x5"} {
		a.Basic(ctx, l, "wrong", "10.6.6.6")
	}
	_, err := a.Basic(ctx, "bob", "correct horse", "10.6.6.6")
	var tm *security.TooManyAttemptsError
	if !errors.As(err, &tm) || !tm.PerClient {
		t.Fatalf("throttled client: %v", err)
	}
	if _, err := a.Basic(ctx, "bob", "correct horse", "10.0.0.9"); err != nil {
		t.Fatalf("another client: %v", err)
	}
}

// burst sends n concurrent attempts that all pass the directory lookup
// before any is checked, as a parallel burst does.
func burst(a *security.Authenticator, d *dir, n int, login string, password func(i int) string) []error {
	var arrived sync.WaitGroup
	arrived.Add(n)
	d.arrive = func() { arrived.Done(); arrived.Wait() }
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = a.Basic(context.Background(), login, password(i), "10.6.6.6")
		}()
	}
	wg.Wait()
	return errs
}

func TestAParallelBurstOfGuessesIsCutAtTheLimit(t *testing.T) {
	t.Parallel()
	a, d, _ := setup(t)
	const n = 100
	errs := burst(a, d, n, "ann", func(i int) string { return fmt.Sprintf("guess-%d", i) })
	throttled := 0
	for _, err := range errs {
		if errors.Is(err, security.ErrTooManyAttempts) {
			throttled++
		}
	}
	// The limit is 3 per login and client: 3 guesses are checked, the other
	// 97 are refused before bcrypt.
	if got := a.PasswordChecks(); got != 3 || throttled != n-3 {
		t.Fatalf("a burst of %d guesses ran bcrypt %d times (%d throttled), want 3", n, got, throttled)
	}
}

func TestUnknownLoginsTakeTheSamePathAsWrongPasswords(t *testing.T) {
	t.Parallel()
	// Concurrent identical requests share one bcrypt run whether the login
	// exists or not, so neither timing nor the bcrypt count tells.
	for _, login := range []string{"ann", "nobody"} {
		a, d, _ := setup(t)
		errs := burst(a, d, 16, login, func(int) string { return "wrong" })
		for _, err := range errs {
			if !errors.Is(err, security.ErrUnauthenticated) {
				t.Fatalf("%s: %v", login, err)
			}
		}
		if got := a.PasswordChecks(); got != 1 {
			t.Fatalf("%s: 16 identical attempts ran bcrypt %d times, want 1", login, got)
		}
	}
}

func TestBearerTokensAndTheirExpiry(t *testing.T) {
	t.Parallel()
	a, d, c := setup(t)
	ctx := context.Background()
	d.tokens[security.HashToken("tf_good")] = &security.Token{ID: "t1", UserID: "u1", ExpiresAt: c.t.Add(time.Hour)}
	p, err := a.Bearer(ctx, "tf_good", "")
	if err != nil || p.Login != "ann" {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := a.Bearer(ctx, "tf_bad", ""); !errors.Is(err, security.ErrUnauthenticated) {
		t.Fatalf("unknown token: %v", err)
	}
	c.t = c.t.Add(2 * time.Hour)
	if _, err := a.Bearer(ctx, "tf_good", ""); !errors.Is(err, security.ErrUnauthenticated) {
		t.Fatalf("expired token: %v", err)
	}
}

func TestTenantResolutionOnlyAmongTheUsersOwnTenants(t *testing.T) {
	t.Parallel()
	a, _, _ := setup(t)
	ctx := context.Background()
	bob, _ := a.Basic(ctx, "bob", "correct horse", "")
	if _, err := a.ResolveTenant(ctx, bob, ""); !errors.Is(err, security.ErrNoMembership) || !strings.Contains(err.Error(), "X-Tenant-ID") {
		t.Fatalf("several tenants, none chosen: %v", err)
	}
	p, err := a.ResolveTenant(ctx, bob, "globex")
	if err != nil || p.Role != security.RoleAdmin {
		t.Fatalf("globex: %+v %v", p, err)
	}
	ann, _ := a.Basic(ctx, "ann", "correct horse", "")
	if _, err := a.ResolveTenant(ctx, ann, "globex"); !errors.Is(err, security.ErrNoMembership) {
		t.Fatalf("another tenant: %v", err)
	}
	admin, _ := a.Basic(ctx, "admin", "correct horse", "")
	if _, err := a.ResolveTenant(ctx, admin, "acme"); !errors.Is(err, security.ErrForbidden) {
		t.Fatalf("tenant manager: %v", err)
	}
}

func TestRoles(t *testing.T) {
	t.Parallel()
	if !security.RoleAdmin.Allows(security.RoleReader) || security.RoleReader.Allows(security.RoleUser) || security.Role("root").Allows(security.RoleReader) {
		t.Fatal("role order")
	}
	if _, err := security.ParseRole("root"); err == nil || !strings.Contains(err.Error(), "admin") {
		t.Fatalf("ParseRole: %v", err)
	}
	var nilP *security.Principal
	if nilP.Can(security.RoleReader) {
		t.Fatal("nil principal can")
	}
}

func BenchmarkWarmBasicAuthAndTenantResolution(b *testing.B) {
	a, _, _ := setup(&testing.T{})
	ctx := context.Background()
	if _, err := a.Basic(ctx, "ann", "correct horse", "10.0.0.1"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := a.Basic(ctx, "ann", "correct horse", "10.0.0.1")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.ResolveTenant(ctx, p, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func TestARevokedTokenStopsWorkingWhenTheUsersEpochMoves(t *testing.T) {
	t.Parallel()
	a, d, _ := setup(t)
	ctx := context.Background()
	d.tokens[security.HashToken("tf_good")] = &security.Token{ID: "t1", UserID: "u1"}
	if _, err := a.Bearer(ctx, "tf_good", ""); err != nil {
		t.Fatal(err)
	}
	// Another node revokes the token: the row goes and the user's epoch
	// moves. This node's cache of the verified token is void at once.
	d.mu.Lock()
	delete(d.tokens, security.HashToken("tf_good"))
	d.accounts["ann"].AuthEpoch++
	d.mu.Unlock()
	if _, err := a.Bearer(ctx, "tf_good", ""); !errors.Is(err, security.ErrUnauthenticated) {
		t.Fatalf("a revoked token within the cache TTL: %v", err)
	}
}
