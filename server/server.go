package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// TenantResolver lets an embedding application decide which tenant a
// request acts in (from a subdomain, a JWT claim, …). It returns the
// requested tenant, or "" to use the caller's only tenant; the server still
// checks that the caller is a member of it.
type TenantResolver interface {
	RequestedTenant(r *http.Request, p *security.Principal) (string, error)
}

// HeaderOrPath is the default TenantResolver: the /engine-rest/engine/{tenant}
// path (Camunda's named engine) wins, then the X-Tenant-ID header.
type HeaderOrPath struct{}

// RequestedTenant implements TenantResolver.
func (HeaderOrPath) RequestedTenant(r *http.Request, _ *security.Principal) (string, error) {
	if t := r.PathValue("engine"); t != "" && t != "default" {
		return t, nil
	}
	return strings.TrimSpace(r.Header.Get("X-Tenant-ID")), nil
}

// Options configure a Server.
type Options struct {
	// Sources is the node's datasource; required.
	Sources *datasource.Sources
	// Engine serves /engine-rest; without it only health and the admin API
	// are served.
	Engine *engine.Engine
	// Authenticator checks credentials. Default: one over Sources'
	// directory.
	Authenticator *security.Authenticator
	// Resolver picks the tenant of a request. Default HeaderOrPath.
	Resolver TenantResolver
	// Logger receives request logs and errors. Default slog.Default().
	Logger *slog.Logger
	// ReadyTimeout bounds the primary ping of /readyz. Default 2s.
	ReadyTimeout time.Duration
	// MaxPageSize caps maxResults of list queries. Default 1,000.
	MaxPageSize int
	// MaxLongPoll caps the asyncResponseTimeout of fetchAndLock: a longer
	// one waits this long and answers with what it has, like a shorter one
	// (workers poll again). Default 5 minutes.
	MaxLongPoll time.Duration
	// Limits bound requests, streams and polls; zero fields take their
	// defaults (see Limits).
	Limits Limits
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is
	// believed: the client address (for login limits and the audit log) is
	// the rightmost address in X-Forwarded-For that is not a trusted proxy.
	// Empty (the default): the socket's peer is the client and
	// X-Forwarded-For is ignored, so a client cannot choose its own address.
	TrustedProxies []netip.Prefix
	// MetricsToken, when set, is a bearer token that may read /metrics on
	// the API's address besides the tenant manager (a scraper needs no
	// account). Serve MetricsHandler on a separate address instead to
	// scrape without credentials.
	MetricsToken string
	// Extra are more stats shown by the admin API and exported as metrics
	// (the job executor's, the shipper's); optional.
	Stats func() map[string]any
	// JobsThrottled tells how many times this node's job executor put a
	// tenant's due jobs off for its jobsPerSecond quota, for the tenant's
	// stats in the admin API; optional.
	JobsThrottled func(tenant string) int64
}

// Server routes tenantflow's HTTP endpoints. It implements http.Handler.
type Server struct {
	opts   Options
	mux    *http.ServeMux
	log    *slog.Logger
	auth   *security.Authenticator
	routes []route

	polls  *longPolls
	audits auditWriter
	quota  *quotas
	// loginProbes bounds how often a tenant admin may hear that a login
	// is not available (logins are global; see userCreate).
	loginProbes *tenantLimiters
	streams     *gate // open event streams
	waiting     *gate // waiting long polls
	metrics     *metrics
	mu          sync.Mutex
	closed      bool
}

// New returns a Server with its routes registered.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Second
	}
	if opts.Resolver == nil {
		opts.Resolver = HeaderOrPath{}
	}
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = 1000
	}
	if opts.MaxLongPoll <= 0 {
		opts.MaxLongPoll = 5 * time.Minute
	}
	opts.Limits = opts.Limits.withDefaults()
	s := &Server{opts: opts, mux: http.NewServeMux(), log: opts.Logger}
	if opts.Sources != nil {
		s.auth = opts.Authenticator
		if s.auth == nil {
			s.auth = security.NewAuthenticator(opts.Sources.Directory(), security.AuthConfig{})
		}
	}
	s.polls = newLongPolls(s)
	s.streams, s.waiting = newGate("event streams"), newGate("waiting fetchAndLock requests")
	s.loginProbes = newTenantLimiters(6*time.Second, 10)
	s.quota = newQuotas(s)
	s.metrics = newMetrics(s)
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.HandleFunc("GET /openapi.yaml", s.openapi)
	s.routes = s.routeTable()
	for i, rt := range s.routes {
		if spec, ok := auditSpecs[rt.method+" "+rt.path]; ok {
			s.routes[i].audit = &spec
			rt = s.routes[i]
		}
		s.register(rt)
	}
	if opts.Sources != nil {
		s.mountConsole()
	}
	return s
}

// Close ends pending long polls (they answer with what they have) so a
// graceful shutdown does not wait for their timeouts.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.polls.closeAll()
}

// Handle registers an additional route.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// ServeHTTP implements http.Handler. A panic in a handler becomes a 500
// with no detail for the client and a log line for the operator.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
			writeJSON(w, http.StatusInternalServerError, apiError{Type: "ProcessEngineException", Message: "internal error"})
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// writeJSON writes v as JSON with the exact content type clients expect.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// scope is whom a route serves.
type scope uint8

const (
	scopeTenant  scope = iota // a tenant member, with the route's role
	scopeManager              // the tenant manager
	scopeAnyone               // any authenticated caller (engine list, version)
)

// route is one endpoint. The table of routes drives registration, the
// OpenAPI check and the role tests.
type route struct {
	method string
	// path is relative to the API root: /engine-rest for tenant routes,
	// /admin/api for the manager's.
	path  string
	scope scope
	role  security.Role
	h     func(w http.ResponseWriter, r *http.Request) error
	// maxBody bounds the request body; 0 means Limits.MaxBodyBytes.
	maxBody int64
	// audit is what a successful call records in the audit log (nil:
	// nothing, a read).
	audit *auditSpec
}

// register mounts a route, for tenant routes also under the named-engine
// prefix /engine-rest/engine/{engine}.
func (s *Server) register(rt route) {
	h := s.wrap(rt)
	switch rt.scope {
	case scopeManager:
		s.mux.Handle(rt.method+" /admin/api"+rt.path, h)
	default:
		s.mux.Handle(rt.method+" /engine-rest"+rt.path, h)
		if rt.scope == scopeTenant {
			s.mux.Handle(rt.method+" /engine-rest/engine/{engine}"+rt.path, h)
		}
	}
}

// statusWriter records the status for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming handlers (server-sent events) flush.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// wrap authenticates, resolves the tenant, checks the role, runs the
// handler, maps its error and logs the request (never a credential).
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		limit := rt.maxBody
		if limit <= 0 {
			limit = s.opts.Limits.MaxBodyBytes
		}
		r.Body = http.MaxBytesReader(sw, r.Body, limit)
		p, err := s.authorize(r, rt)
		if err == nil {
			ctx := withRoute(security.WithPrincipal(r.Context(), p), rt)
			if p.Tenant != "" {
				ctx = security.WithTenant(ctx, p.Tenant)
			}
			var n *auditNote
			if rt.audit != nil {
				n = &auditNote{}
				ctx = context.WithValue(ctx, auditKey{}, n)
			}
			r = r.WithContext(ctx)
			s.tenantCounter(r)
			if p.Tenant != "" {
				err = s.quota.allowRequest(ctx, p.Tenant)
			}
			if err == nil {
				err = rt.h(sw, r)
			}
			if err == nil && n != nil && (sw.status == 0 || sw.status < 300) {
				s.record(r, rt, *rt.audit, n)
			}
		}
		if err != nil {
			status := writeError(sw, err)
			if status >= 500 {
				s.log.Error("request failed", "method", r.Method, "route", rt.path, "err", err)
			}
		}
		if sw.status == 0 {
			sw.WriteHeader(http.StatusNoContent)
		}
		attrs := []any{"method", r.Method, "route", rt.path, "status", sw.status, "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
		if p != nil {
			attrs = append(attrs, "user", p.Login, "tenant", p.Tenant)
		}
		s.metrics.observe(rt, sw.status, time.Since(start))
		s.log.Info("request", attrs...)
	})
}

// authorize authenticates the caller and checks the route's scope and role.
func (s *Server) authorize(r *http.Request, rt route) (*security.Principal, error) {
	if s.auth == nil {
		return nil, errors.New("server has no authenticator")
	}
	p, err := s.authenticate(r)
	if err != nil {
		return nil, err
	}
	switch rt.scope {
	case scopeManager:
		if !p.TenantManager {
			return p, fmt.Errorf("%w: the admin API is for the tenant manager", security.ErrForbidden)
		}
		return p, nil
	case scopeAnyone:
		return p, nil
	}
	if s.opts.Engine == nil {
		return p, fmt.Errorf("%w: this server has no engine", engine.ErrNotFound)
	}
	want, err := s.opts.Resolver.RequestedTenant(r, p)
	if err != nil {
		return p, fmt.Errorf("%w: %w", security.ErrNoMembership, err)
	}
	tp, err := s.auth.ResolveTenant(r.Context(), p, want)
	if err != nil {
		return p, err
	}
	if !tp.Role.Allows(rt.role) {
		return tp, fmt.Errorf("%w: this call needs the %s role in tenant %s; %s is %s", security.ErrForbidden, rt.role, tp.Tenant, tp.Login, tp.Role)
	}
	return tp, nil
}

// authenticate reads Basic or bearer credentials.
func (s *Server) authenticate(r *http.Request) (*security.Principal, error) {
	h := r.Header.Get("Authorization")
	ip := s.clientIP(r)
	switch {
	case strings.HasPrefix(h, "Basic "):
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len("Basic "):]))
		if err != nil {
			return nil, security.ErrUnauthenticated
		}
		login, password, ok := strings.Cut(string(raw), ":")
		if !ok || login == "" {
			return nil, security.ErrUnauthenticated
		}
		return s.auth.Basic(r.Context(), login, password, ip)
	case strings.HasPrefix(h, "Bearer "):
		return s.auth.Bearer(r.Context(), strings.TrimSpace(h[len("Bearer "):]), ip)
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return s.sessionPrincipal(r, c.Value)
	}
	return nil, security.ErrUnauthenticated
}

// clientIP is the address of the client: the socket's peer, or, when the
// peer is a trusted proxy, the rightmost X-Forwarded-For address that is not
// one. Behind a proxy every client would otherwise share the proxy's
// address (and its login limits).
func (s *Server) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(s.opts.TrustedProxies) == 0 || !s.trusted(host) {
		return host
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		for _, x := range strings.Split(h, ",") {
			if x = strings.TrimSpace(x); x != "" {
				hops = append(hops, x)
			}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return host // a garbled header: do not guess
		}
		if !s.trusted(a.String()) {
			return a.Unmap().String()
		}
		host = a.Unmap().String()
	}
	return host
}

// trusted reports whether addr is one of the trusted proxies.
func (s *Server) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readiness is the /readyz body.
type readiness struct {
	Status  string                    `json:"status"`
	Reason  string                    `json:"reason,omitempty"`
	Primary datasource.RegistryHealth `json:"primary"`
	Pools   struct {
		Open        int   `json:"open"`
		MaxOpenSeen int64 `json:"maxOpenSeen"`
	} `json:"pools"`
}

// readyz answers 200 when the primary answers a ping, 503 with the reason
// otherwise. It never shows a DSN or a secret.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	src := s.opts.Sources
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.ReadyTimeout)
	defer cancel()
	body := readiness{Status: "ready"}
	status := http.StatusOK
	if err := src.Primary.Ping(ctx); err != nil {
		status = http.StatusServiceUnavailable
		body.Status = "unavailable"
		body.Reason = "the primary datasource does not answer"
		s.log.Warn("readiness: primary ping failed", "err", err)
	} else {
		src.Registry.MarkPrimaryHealthy()
	}
	body.Primary = src.Registry.Health()
	st := src.Tenants.Stats()
	body.Pools.Open, body.Pools.MaxOpenSeen = st.Open, st.MaxOpenSeen
	writeJSON(w, status, body)
}
