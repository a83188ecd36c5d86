package server

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// errLimited marks a request refused by a limit or a tenant's quota: the
// caller gets a 429 with Retry-After and a message that names the limit.
var errLimited = errors.New("limit reached")

// limitError is errLimited with when to retry.
type limitError struct {
	msg        string
	retryAfter time.Duration
}

func (e *limitError) Error() string        { return e.msg }
func (e *limitError) Is(target error) bool { return target == errLimited }

// limited returns a limitError whose message says what was limited.
func limited(retryAfter time.Duration, format string, args ...any) error {
	return &limitError{msg: fmt.Sprintf(format, args...), retryAfter: retryAfter}
}

// Limits bound what one request, caller or tenant may take from a node.
// Zero fields take the defaults documented on each; every one is a flag and
// a TENANTFLOW_* variable of `tenantflow serve`.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included, so a body
	// sent a byte at a time is cut off. Event streams and long polls lift
	// it once their request is read. Default 1m.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of an ordinary response. Event streams and long polls set
	// their own deadlines. Default 2m.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long. Default
	// 2m.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers. Default 64 KiB.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a JSON request body. Default 4 MiB.
	MaxBodyBytes int64
	// MaxLoginBodyBytes bounds the console's login and logout requests,
	// which are read before anything is known about the caller. Default
	// 4 KiB.
	MaxLoginBodyBytes int64
	// MaxDeploymentBytes bounds a multipart deployment. Default 32 MiB.
	MaxDeploymentBytes int64
	// MaxTasks caps the maxTasks of one fetchAndLock: a worker asking for
	// more gets at most this many. Default 100.
	MaxTasks int
	// MaxStreamsPerUser and MaxStreamsPerTenant cap the event streams open
	// at once on this node; MaxPollsPerUser and MaxPollsPerTenant cap the
	// fetchAndLock requests waiting at once. A tenant's own quota replaces
	// the per-tenant default. Defaults 5, 50, 50 and 200.
	MaxStreamsPerUser   int
	MaxStreamsPerTenant int
	MaxPollsPerUser     int
	MaxPollsPerTenant   int
	// TenantRequestsPerSecond is every tenant's API request rate on this
	// node unless its quota says otherwise (burst twice that); more get 429
	// with Retry-After. Default 0: no node-wide rate, only tenants' own
	// quotas.
	TenantRequestsPerSecond float64
	// AccessRecheck is how often an open event stream or a waiting long
	// poll checks again that its caller still has access (a removed
	// member, a deleted user, a revoked token or an ended session); a change
	// made through any node's signals is checked at once. Default 5s, the
	// registry's TTL.
	AccessRecheck time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt64 := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.ReadHeaderTimeout, 10*time.Second)
	def(&l.ReadTimeout, time.Minute)
	def(&l.WriteTimeout, 2*time.Minute)
	def(&l.IdleTimeout, 2*time.Minute)
	def(&l.AccessRecheck, 5*time.Second)
	defInt(&l.MaxHeaderBytes, 64<<10)
	defInt64(&l.MaxBodyBytes, 4<<20)
	defInt64(&l.MaxLoginBodyBytes, 4<<10)
	defInt64(&l.MaxDeploymentBytes, 32<<20)
	defInt(&l.MaxTasks, 100)
	defInt(&l.MaxStreamsPerUser, 5)
	defInt(&l.MaxStreamsPerTenant, 50)
	defInt(&l.MaxPollsPerUser, 50)
	defInt(&l.MaxPollsPerTenant, 200)
	return l
}

// ConfigureHTTP applies the server's timeouts and header limit to the
// http.Server that serves it. Without it a client can hold a connection
// open forever with a slow body.
func (s *Server) ConfigureHTTP(hs *http.Server) {
	l := s.opts.Limits
	hs.ReadHeaderTimeout = l.ReadHeaderTimeout
	hs.ReadTimeout = l.ReadTimeout
	hs.WriteTimeout = l.WriteTimeout
	hs.IdleTimeout = l.IdleTimeout
	hs.MaxHeaderBytes = l.MaxHeaderBytes
}

// streaming lifts the request-wide deadlines of the http.Server for a
// response that stays open (an event stream, a long poll): its request has
// been read, and it sets its own write deadlines.
func streaming(w http.ResponseWriter) *http.ResponseController {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	return rc
}

// gate counts what is open at once per user and per tenant (event streams,
// waiting long polls) and refuses beyond the caps.
type gate struct {
	what      string
	mu        sync.Mutex
	perUser   map[string]int
	perTenant map[string]int
	refused   atomic.Int64
}

func newGate(what string) *gate {
	return &gate{what: what, perUser: map[string]int{}, perTenant: map[string]int{}}
}

// enter takes a place for user in tenant, or refuses with a 429 that names
// the cap. leave gives the place back; call it once.
func (g *gate) enter(tenant, user string, maxUser, maxTenant int) (leave func(), err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.perUser[user] >= maxUser {
		g.refused.Add(1)
		return nil, limited(5*time.Second, "%s already has %d %s open on this node, the most allowed per user; close one first", user, maxUser, g.what)
	}
	if g.perTenant[tenant] >= maxTenant {
		g.refused.Add(1)
		return nil, limited(5*time.Second, "tenant %s already has %d %s open on this node, the most allowed per tenant; retry later", tenant, maxTenant, g.what)
	}
	g.perUser[user]++
	g.perTenant[tenant]++
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.perUser[user]--; g.perUser[user] <= 0 {
				delete(g.perUser, user)
			}
			if g.perTenant[tenant]--; g.perTenant[tenant] <= 0 {
				delete(g.perTenant, tenant)
			}
		})
	}, nil
}

// tenantLimiters are token buckets per tenant, created on first use and
// forgotten when idle (bounded whatever the number of tenants).
type tenantLimiters struct {
	every time.Duration
	burst int
	mu    sync.Mutex
	m     map[string]*rate.Limiter
}

func newTenantLimiters(every time.Duration, burst int) *tenantLimiters {
	return &tenantLimiters{every: every, burst: burst, m: map[string]*rate.Limiter{}}
}

// allow takes a token of tenant's bucket.
func (l *tenantLimiters) allow(tenant string) bool {
	l.mu.Lock()
	lim := l.m[tenant]
	if lim == nil {
		if len(l.m) > 10_000 {
			clear(l.m)
		}
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.m[tenant] = lim
	}
	l.mu.Unlock()
	return lim.Allow()
}

// open returns how many places tenant holds now.
func (g *gate) open(tenant string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.perTenant[tenant]
}

// total returns how many places are held on this node.
func (g *gate) total() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, v := range g.perTenant {
		n += v
	}
	return n
}
