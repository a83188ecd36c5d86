package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/analytics"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/jobexec"
	"github.com/tenantflow/tenantflow/server"
)

const serveUsage = `Usage: tenantflow serve [flags]

Serves the engine's REST API, the admin console and /healthz, /readyz.
On the first start the tenant-manager account "admin" is created with the
password from TENANTFLOW_ADMIN_PASSWORD or, when unset, a generated one
written to <data-dir>/initial-admin-password (mode 0600).`

func (c *cli) serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	o, env := c.commonFlags(fs)
	addr := fs.String("addr", env.str("TENANTFLOW_ADDR", "127.0.0.1:8080"), "address to listen on (env TENANTFLOW_ADDR)")
	shutdown := fs.Duration("shutdown-timeout", env.dur("TENANTFLOW_SHUTDOWN_TIMEOUT", 20*time.Second), "how long in-flight work may finish on shutdown (env TENANTFLOW_SHUTDOWN_TIMEOUT)")
	jobLock := fs.Duration("job-lock", env.dur("TENANTFLOW_JOB_LOCK", 0), "how long a running job stays locked without a heartbeat; another node takes over a crashed node's jobs after it (env TENANTFLOW_JOB_LOCK; default 5m)")
	esURLs := fs.String("elasticsearch-url", env.str("TENANTFLOW_ELASTICSEARCH_URL", ""), "Elasticsearch node URLs, comma-separated; empty: events stay in each tenant's outbox, not shipped (env TENANTFLOW_ELASTICSEARCH_URL)")
	esUser := fs.String("elasticsearch-username", env.str("TENANTFLOW_ELASTICSEARCH_USERNAME", ""), "Elasticsearch user for HTTP Basic (env TENANTFLOW_ELASTICSEARCH_USERNAME; the password only from TENANTFLOW_ELASTICSEARCH_PASSWORD)")
	esPrefix := fs.String("elasticsearch-index-prefix", env.str("TENANTFLOW_ELASTICSEARCH_INDEX_PREFIX", ""), "prefix of index, alias and template names (env TENANTFLOW_ELASTICSEARCH_INDEX_PREFIX; default tenantflow)")
	lim := serverLimitFlags(fs, env)
	trusted := fs.String("trusted-proxies", env.str("TENANTFLOW_TRUSTED_PROXIES", ""), "reverse proxies (CIDRs or addresses, comma-separated) whose X-Forwarded-For names the client; empty: the socket peer is the client (env TENANTFLOW_TRUSTED_PROXIES)")
	metricsAddr := fs.String("metrics-addr", env.str("TENANTFLOW_METRICS_ADDR", ""), "serve /metrics without credentials on this separate address only the monitoring system reaches; on the API address /metrics needs the tenant manager or the metrics token (env TENANTFLOW_METRICS_ADDR)")
	retention := fs.Duration("outbox-retention", env.dur("TENANTFLOW_OUTBOX_RETENTION", 0), "how long shipped events stay in a tenant's outbox before nightly maintenance removes them (env TENANTFLOW_OUTBOX_RETENTION; default 72h)")
	if err := c.parse(fs, args, serveUsage, env); err != nil {
		return err
	}
	proxies, err := parsePrefixes(*trusted)
	if err != nil {
		return fmt.Errorf("%w: --trusted-proxies: %w", errUsage, err)
	}
	src, logger, err := c.open(ctx, o)
	if err != nil {
		return err
	}
	defer src.Close()

	if err := c.ensureAdmin(ctx, src, o.dataDir); err != nil {
		return err
	}
	eng, err := engine.New(src, engine.Options{})
	if err != nil {
		return err
	}
	ship, err := analytics.New(analytics.Config{Outbox: eng, Sources: src, URLs: splitList(*esURLs),
		Username: *esUser, Password: c.getenv("TENANTFLOW_ELASTICSEARCH_PASSWORD"), APIKey: c.getenv("TENANTFLOW_ELASTICSEARCH_API_KEY"),
		IndexPrefix: *esPrefix, Retention: *retention})
	if err != nil {
		return err
	}
	exec, err := jobexec.New(jobexec.Config{Engine: eng, Sources: src, LockDuration: *jobLock,
		Maintenance: []jobexec.Maintenance{{Name: "outbox-prune", Run: ship.Prune}}})
	if err != nil {
		return err
	}
	if err := ship.Start(ctx); err != nil {
		return err
	}
	if err := exec.Start(ctx); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *shutdown)
		defer cancel()
		if err := exec.Stop(sctx); err != nil {
			logger.Warn("job executor did not stop cleanly", "err", err)
		}
		if err := ship.Stop(sctx); err != nil {
			logger.Warn("analytics shipping did not stop cleanly", "err", err)
		}
	}()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another tenantflow running? set --addr)", *addr, err)
	}
	api := server.New(server.Options{Sources: src, Engine: eng, Logger: logger, Limits: lim.limits, MaxLongPoll: lim.maxLongPoll,
		MaxPageSize: lim.maxResults, TrustedProxies: proxies, MetricsToken: c.getenv("TENANTFLOW_METRICS_TOKEN"),
		Stats: func() map[string]any {
			return map[string]any{"jobs": jobStats(exec.Stats()), "analytics": shipStats(ship.Stats())}
		},
		JobsThrottled: func(tenant string) int64 { return exec.TenantStats(tenant).Throttled }})
	srv := &http.Server{Handler: api}
	api.ConfigureHTTP(srv)
	if *metricsAddr != "" {
		mln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return fmt.Errorf("listen on %s for metrics: %w", *metricsAddr, err)
		}
		msrv := &http.Server{Handler: metricsOnly(api.MetricsHandler()), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = msrv.Serve(mln) }()
		defer msrv.Close()
		logger.Info("metrics served without credentials", "addr", mln.Addr().String())
	}
	primary := "sqlite " + filepath.Join(o.dataDir, "primary.db")
	if o.primaryURL != "" {
		primary = "postgres " + redactURL(o.primaryURL)
	}
	logger.Info("tenantflow serving", "addr", ln.Addr().String(), "primary", primary, "version", version)
	if c.serveReady != nil {
		c.serveReady <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", *shutdown)
	api.Close() // pending long polls and event streams answer now
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *shutdown)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// ensureAdmin creates the tenant-manager account on the first start.
func (c *cli) ensureAdmin(ctx context.Context, src interface {
	EnsureTenantManager(context.Context, string) (bool, string, error)
}, dataDir string) error {
	created, generated, err := src.EnsureTenantManager(ctx, c.getenv("TENANTFLOW_ADMIN_PASSWORD"))
	if err != nil {
		return fmt.Errorf("create the tenant-manager account: %w", err)
	}
	if !created {
		return nil
	}
	if generated == "" {
		fmt.Fprintln(c.stderr, `created the tenant-manager account "admin" with TENANTFLOW_ADMIN_PASSWORD`)
		return nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dataDir, "initial-admin-password")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s already exists but no tenant manager does: remove the file and start again", path)
	}
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, generated); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "created the tenant-manager account \"admin\"; its password is in %s\n", path)
	return nil
}

func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "(key=value DSN)"
}

// jobStats flattens the executor's figures for metrics and the admin API.
func jobStats(s jobexec.Stats) map[string]any {
	return map[string]any{"completed": s.Completed, "failed": s.Failed, "lockLost": s.LockLost, "queries": s.Queries,
		"throttled": s.Throttled, "dueTenants": s.Due, "runningBatches": s.Running, "latenessP99Seconds": s.LatenessP99.Seconds(),
		"acquireP99Seconds": s.AcquireP99.Seconds()}
}

// shipStats are the analytics figures of /admin/api/node and /metrics; the
// backlog per tenant only for the tenants furthest behind.
func shipStats(s analytics.Stats) map[string]any {
	tenants := map[string]any{}
	for _, t := range s.Tenants {
		tenants[t.Tenant] = map[string]any{"backlog": t.Backlog, "lagSeconds": t.Lag.Seconds(), "deadLettered": t.DeadLettered}
	}
	return map[string]any{"enabled": s.Enabled, "shipped": s.Shipped, "failedAttempts": s.FailedAttempts,
		"deadLettered": s.DeadLettered, "backlog": s.Backlog, "tenantsBackingOff": s.TenantsBackingOff,
		"lagP99Seconds": s.LagP99.Seconds(), "tenants": tenants}
}

// metricsOnly serves h at /metrics and nothing else.
func metricsOnly(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	return mux
}

// parsePrefixes reads comma-separated CIDRs or single addresses.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, x := range splitList(s) {
		if p, err := netip.ParsePrefix(x); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(x)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", x)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// limitFlags are the server's limits as flags.
type limitFlags struct {
	limits      server.Limits
	maxLongPoll time.Duration
	maxResults  int
}

// serverLimitFlags registers the server's limits; zero means the default
// documented in server.Limits (and in the README).
func serverLimitFlags(fs *flag.FlagSet, env *envReader) *limitFlags {
	l := &limitFlags{}
	fs.DurationVar(&l.limits.ReadTimeout, "http-read-timeout", env.dur("TENANTFLOW_HTTP_READ_TIMEOUT", 0), "longest time to read a whole request, body included (env TENANTFLOW_HTTP_READ_TIMEOUT; default 1m)")
	fs.DurationVar(&l.limits.WriteTimeout, "http-write-timeout", env.dur("TENANTFLOW_HTTP_WRITE_TIMEOUT", 0), "longest time to answer an ordinary request; streams and long polls set their own (env TENANTFLOW_HTTP_WRITE_TIMEOUT; default 2m)")
	fs.DurationVar(&l.limits.IdleTimeout, "http-idle-timeout", env.dur("TENANTFLOW_HTTP_IDLE_TIMEOUT", 0), "how long an idle keep-alive connection stays open (env TENANTFLOW_HTTP_IDLE_TIMEOUT; default 2m)")
	fs.Int64Var(&l.limits.MaxBodyBytes, "max-body-bytes", int64(env.int("TENANTFLOW_MAX_BODY_BYTES", 0)), "largest JSON request body (env TENANTFLOW_MAX_BODY_BYTES; default 4 MiB)")
	fs.Int64Var(&l.limits.MaxDeploymentBytes, "max-deployment-bytes", int64(env.int("TENANTFLOW_MAX_DEPLOYMENT_BYTES", 0)), "largest deployment (env TENANTFLOW_MAX_DEPLOYMENT_BYTES; default 32 MiB)")
	fs.IntVar(&l.limits.MaxTasks, "max-tasks", env.int("TENANTFLOW_MAX_TASKS", 0), "most external tasks one fetchAndLock locks (env TENANTFLOW_MAX_TASKS; default 100)")
	fs.IntVar(&l.maxResults, "max-results", env.int("TENANTFLOW_MAX_RESULTS", 0), "most rows one list query returns (env TENANTFLOW_MAX_RESULTS; default 1000)")
	fs.DurationVar(&l.maxLongPoll, "max-long-poll", env.dur("TENANTFLOW_MAX_LONG_POLL", 0), "longest fetchAndLock wait (env TENANTFLOW_MAX_LONG_POLL; default 5m)")
	fs.IntVar(&l.limits.MaxStreamsPerUser, "max-streams-per-user", env.int("TENANTFLOW_MAX_STREAMS_PER_USER", 0), "event streams one user may hold open on a node (env TENANTFLOW_MAX_STREAMS_PER_USER; default 5)")
	fs.IntVar(&l.limits.MaxStreamsPerTenant, "max-streams-per-tenant", env.int("TENANTFLOW_MAX_STREAMS_PER_TENANT", 0), "event streams one tenant may hold open on a node, unless its quota says otherwise (env TENANTFLOW_MAX_STREAMS_PER_TENANT; default 50)")
	fs.IntVar(&l.limits.MaxPollsPerUser, "max-polls-per-user", env.int("TENANTFLOW_MAX_POLLS_PER_USER", 0), "waiting fetchAndLock requests per user on a node (env TENANTFLOW_MAX_POLLS_PER_USER; default 50)")
	fs.IntVar(&l.limits.MaxPollsPerTenant, "max-polls-per-tenant", env.int("TENANTFLOW_MAX_POLLS_PER_TENANT", 0), "waiting fetchAndLock requests per tenant on a node, unless its quota says otherwise (env TENANTFLOW_MAX_POLLS_PER_TENANT; default 200)")
	fs.Float64Var(&l.limits.TenantRequestsPerSecond, "tenant-rps", envFloat(env, "TENANTFLOW_TENANT_RPS"), "every tenant's API requests per second on a node unless its quota says otherwise, burst twice that (env TENANTFLOW_TENANT_RPS; default 0: only tenants' own quotas)")
	fs.DurationVar(&l.limits.AccessRecheck, "access-recheck", env.dur("TENANTFLOW_ACCESS_RECHECK", 0), "how often open event streams and long polls check their caller's access again (env TENANTFLOW_ACCESS_RECHECK; default 5s)")
	return l
}

// envFloat reads a decimal TENANTFLOW_* setting, 0 when unset.
func envFloat(env *envReader, name string) float64 {
	v := env.get(name)
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		env.errs = append(env.errs, fmt.Errorf("%s=%q is not a non-negative number", name, v))
		return 0
	}
	return f
}

// splitList splits a comma-separated setting, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
