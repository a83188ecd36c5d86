package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
)

// Options configure a Server.
type Options struct {
	// Sources is the node's datasource; required.
	Sources *datasource.Sources
	// Logger receives request logs and errors. Default slog.Default().
	Logger *slog.Logger
	// ReadyTimeout bounds the primary ping of /readyz. Default 2s.
	ReadyTimeout time.Duration
}

// Server routes tenantflow's HTTP endpoints. It implements http.Handler.
type Server struct {
	opts Options
	mux  *http.ServeMux
	log  *slog.Logger
}

// New returns a Server with its routes registered.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Second
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), log: opts.Logger}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	return s
}

// Handle registers an additional route (used by the API packages built on
// the server).
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
			writeJSON(w, http.StatusInternalServerError, map[string]string{"type": "InternalError", "message": "internal error"})
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
