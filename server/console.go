package server

import (
	"embed"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/security"
)

// consoleFiles is the admin console, bundled from console/src by the
// Makefile into console/dist (with bpmn-js from npm). On a clean clone dist
// holds only .gitkeep and console/placeholder says how to build the bundle.
//
//go:embed all:console/dist console/placeholder
var consoleFiles embed.FS

// consoleFS is the built console when there is one, else the placeholder.
func consoleFS() fs.FS {
	dir := "console/placeholder"
	if _, err := fs.Stat(consoleFiles, "console/dist/index.html"); err == nil {
		dir = "console/dist"
	}
	sub, err := fs.Sub(consoleFiles, dir)
	if err != nil {
		panic(err) // both directories are embedded: cannot happen
	}
	return sub
}

// consoleCSP forbids every remote script, style or connection: the console
// talks only to this server.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func init() {
	// JavaScript modules must be served as JavaScript, whatever the host's
	// MIME table says.
	_ = mime.AddExtensionType(".js", "text/javascript")
	_ = mime.AddExtensionType(".mjs", "text/javascript")
	_ = mime.AddExtensionType(".css", "text/css")
	_ = mime.AddExtensionType(".svg", "image/svg+xml")
}

// mountConsole serves the console and its session endpoints.
func (s *Server) mountConsole() {
	files := http.FileServerFS(consoleFS())
	s.mux.Handle("GET /console/", http.StripPrefix("/console", consoleHeaders(files)))
	s.mux.Handle("GET /{$}", http.RedirectHandler("/console/", http.StatusFound))
	s.mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	s.mux.HandleFunc("POST /console/api/login", s.consoleLogin)
	s.mux.HandleFunc("POST /console/api/logout", s.consoleLogout)
	s.mux.HandleFunc("GET /console/api/session", s.consoleSession)
}

func consoleHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(path.Base(r.URL.Path), ".") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Security-Policy", consoleCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if strings.HasSuffix(r.URL.Path, "/") || path.Ext(r.URL.Path) == ".html" {
			w.Header().Set("Cache-Control", "no-cache")
		}
		h.ServeHTTP(w, r)
	})
}

// sessionInfo is what the console learns about its user.
type sessionInfo struct {
	SignedIn      bool             `json:"signedIn"`
	Login         string           `json:"login"`
	TenantManager bool             `json:"tenantManager"`
	Tenants       []tenantRoleInfo `json:"tenants"`
	CSRFToken     string           `json:"csrfToken"`
}

type tenantRoleInfo struct {
	Tenant string `json:"tenant"`
	Role   string `json:"role"`
}

func (s *Server) sessionInfoOf(r *http.Request, p *security.Principal, csrf string) (sessionInfo, error) {
	out := sessionInfo{SignedIn: true, Login: p.Login, TenantManager: p.TenantManager, Tenants: []tenantRoleInfo{}, CSRFToken: csrf}
	if !p.TenantManager {
		ms, err := s.opts.Sources.Directory().Memberships(r.Context(), p.UserID)
		if err != nil {
			return out, err
		}
		for _, m := range ms {
			out.Tenants = append(out.Tenants, tenantRoleInfo{m.Tenant, string(m.Role)})
		}
	}
	return out, nil
}

// consoleLogin checks a login and password and sets the session cookie.
func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}
	if err := readJSON(r, &b); err != nil {
		writeError(w, err)
		return
	}
	p, err := s.auth.Basic(r.Context(), b.Login, b.Password, clientIP(r))
	if err != nil {
		if errors.Is(err, security.ErrUnauthenticated) {
			writeJSON(w, http.StatusUnauthorized, apiError{Type: "AuthenticationException", Message: "wrong login or password"})
			return
		}
		writeError(w, err)
		return
	}
	value, csrf := s.session.issue(p.UserID, time.Now())
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https", MaxAge: int(sessionTTL.Seconds())})
	info, err := s.sessionInfoOf(r, p, csrf)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) consoleLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// consoleSession tells the console who is signed in; {"signedIn": false}
// when nobody is (an answer, not an error: the page asks on every load).
func (s *Server) consoleSession(w http.ResponseWriter, r *http.Request) {
	nobody := func() { writeJSON(w, http.StatusOK, sessionInfo{Tenants: []tenantRoleInfo{}}) }
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		nobody()
		return
	}
	userID, csrf, ok := s.session.check(c.Value, time.Now())
	if !ok {
		nobody()
		return
	}
	acct, err := s.opts.Sources.Directory().AccountByID(r.Context(), userID)
	if err != nil {
		nobody()
		return
	}
	info, err := s.sessionInfoOf(r, &security.Principal{UserID: acct.UserID, Login: acct.Login, TenantManager: acct.TenantManager}, csrf)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}
