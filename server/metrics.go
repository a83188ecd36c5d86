package server

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tenantflow/tenantflow/security"
)

// metrics exports the server's figures at /metrics from a registry of its
// own (no global). Histograms carry no tenant label; per-tenant figures are
// exported only for the busiest tenants, so label cardinality stays bounded
// whatever the number of tenants.
type metrics struct {
	s        *Server
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec

	handler http.Handler

	mu       sync.Mutex
	perT     map[string]float64
	topLimit int
}

func newMetrics(s *Server) *metrics {
	m := &metrics{s: s, reg: prometheus.NewRegistry(), perT: map[string]float64{}, topLimit: 10}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tenantflow_http_requests_total",
		Help: "HTTP requests by route and status code."}, []string{"route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "tenantflow_http_request_duration_seconds",
		Help: "HTTP request latency by route.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route"})
	m.reg.MustRegister(m.requests, m.duration, m, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	s.mux.Handle("GET /metrics", s.metricsGuard(m.handler))
	return m
}

// MetricsHandler serves the metrics without authentication, for a listen
// address of the operator's own (TENANTFLOW_METRICS_ADDR) that only the
// monitoring system reaches.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler }

// metricsGuard lets only the tenant manager (any credential the API takes)
// or the bearer Options.MetricsToken read /metrics on the API's address:
// the figures name the busiest tenants and their backlogs.
func (s *Server) metricsGuard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok := s.opts.MetricsToken; tok != "" {
			if got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok &&
				subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(tok)) == 1 {
				h.ServeHTTP(w, r)
				return
			}
		}
		if s.auth == nil {
			writeError(w, security.ErrUnauthenticated)
			return
		}
		p, err := s.authenticate(r)
		if err == nil && !p.TenantManager {
			err = fmt.Errorf("%w: /metrics is for the tenant manager or the metrics token", security.ErrForbidden)
		}
		if err != nil {
			writeError(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (m *metrics) observe(rt route, status int, d time.Duration) {
	m.requests.WithLabelValues(rt.method+" "+rt.path, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(rt.method + " " + rt.path).Observe(d.Seconds())
}

// countTenant counts a request of a tenant for the top-N export.
func (m *metrics) countTenant(tenant string) {
	m.mu.Lock()
	m.perT[tenant]++
	if len(m.perT) > 100_000 {
		m.perT = map[string]float64{}
	}
	m.mu.Unlock()
}

var (
	descPools      = prometheus.NewDesc("tenantflow_pools_open", "Tenant pools open on this node.", nil, nil)
	descPoolsMax   = prometheus.NewDesc("tenantflow_pools_max_open", "Most tenant pools open at once since start.", nil, nil)
	descPrimary    = prometheus.NewDesc("tenantflow_primary_reachable", "1 while the primary datasource answers.", nil, nil)
	descStale      = prometheus.NewDesc("tenantflow_registry_serving_stale", "1 while cached tenant data serves past its TTL.", nil, nil)
	descTenantReqs = prometheus.NewDesc("tenantflow_tenant_requests_total", "Requests of the busiest tenants (top 10 only).", []string{"tenant"}, nil)
	descExtra      = prometheus.NewDesc("tenantflow_component", "Figures of the job executor and the shipper.", []string{"name"}, nil)
	descRefused    = prometheus.NewDesc("tenantflow_quota_refusals_total", "Requests refused by a tenant's quota or a per-tenant limit, for the 10 tenants refused most (quota: rate, streams, polls, instances, storage).", []string{"tenant", "quota"}, nil)
	descOpen       = prometheus.NewDesc("tenantflow_open_streams", "Event streams (kind=stream) and waiting fetchAndLock requests (kind=poll) open on this node.", []string{"kind"}, nil)
	descAudit      = prometheus.NewDesc("tenantflow_audit_write_failures_total", "Audit entries that could not be written (the change itself succeeded; see the log).", nil, nil)
	descBcrypt     = prometheus.NewDesc("tenantflow_password_checks_total", "bcrypt runs: once per valid credential and cache TTL, at most once per failed login.", nil, nil)
)

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPools, descPoolsMax, descPrimary, descStale, descTenantReqs, descExtra, descBcrypt, descRefused, descOpen, descAudit} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	src := m.s.opts.Sources
	if src != nil {
		st := src.Tenants.Stats()
		ch <- prometheus.MustNewConstMetric(descPools, prometheus.GaugeValue, float64(st.Open))
		ch <- prometheus.MustNewConstMetric(descPoolsMax, prometheus.GaugeValue, float64(st.MaxOpenSeen))
		h := src.Registry.Health()
		ch <- prometheus.MustNewConstMetric(descPrimary, prometheus.GaugeValue, b2f(h.PrimaryReachable))
		ch <- prometheus.MustNewConstMetric(descStale, prometheus.GaugeValue, b2f(h.ServingStale))
	}
	if m.s.auth != nil {
		ch <- prometheus.MustNewConstMetric(descBcrypt, prometheus.CounterValue, float64(m.s.auth.PasswordChecks()))
	}
	for _, x := range m.s.quota.topRefused(m.topLimit) {
		for q, n := range map[string]int64{"rate": x.f.RateRefused, "streams": x.f.StreamsRefused, "polls": x.f.PollsRefused,
			"instances": x.f.InstancesRefused, "storage": x.f.StorageRefused} {
			ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(n), x.tenant, q)
		}
	}
	ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(m.s.streams.total()), "stream")
	ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(m.s.waiting.total()), "poll")
	ch <- prometheus.MustNewConstMetric(descAudit, prometheus.CounterValue, float64(m.s.audits.failed.Load()))
	m.mu.Lock()
	type kv struct {
		t string
		n float64
	}
	var all []kv
	for t, n := range m.perT {
		all = append(all, kv{t, n})
	}
	m.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n })
	for i, x := range all {
		if i >= m.topLimit {
			break
		}
		ch <- prometheus.MustNewConstMetric(descTenantReqs, prometheus.CounterValue, x.n, x.t)
	}
	if m.s.opts.Stats != nil {
		for name, v := range flatten("", m.s.opts.Stats()) {
			ch <- prometheus.MustNewConstMetric(descExtra, prometheus.GaugeValue, v, name)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// flatten turns nested numeric stats into name → value.
func flatten(prefix string, v any) map[string]float64 {
	out := map[string]float64{}
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			name := k
			if prefix != "" {
				name = prefix + "." + k
			}
			for kk, f := range flatten(name, vv) {
				out[kk] = f
			}
		}
	case int:
		out[prefix] = float64(x)
	case int64:
		out[prefix] = float64(x)
	case float64:
		out[prefix] = x
	case time.Duration:
		out[prefix] = x.Seconds()
	}
	return out
}

// tenantCounter counts requests per tenant for the top-N export.
func (s *Server) tenantCounter(r *http.Request) {
	if t, ok := security.TenantFrom(r.Context()); ok {
		s.metrics.countTenant(t)
	}
}
