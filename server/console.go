package server

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

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

// sameOriginJSON refuses a request that another site could have made a
// browser send: a body that is not application/json (an HTML form can
// send only form encodings and text/plain, and anything else across sites
// needs a CORS preflight this server never grants), or a browser's own
// report that the request is cross-site. Without it, a page elsewhere
// could sign a visitor in to the attacker's account (login CSRF).
func sameOriginJSON(r *http.Request) error {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("%w: the console's session endpoints take requests from the console's own pages only", security.ErrForbidden)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return fmt.Errorf("%w: the console's session endpoints take requests from the console's own pages only", security.ErrForbidden)
		}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return fmt.Errorf("%w: send the login as application/json", errUnsupportedMedia)
	}
	return nil
}

// consoleLogin checks a login and password and sets the session cookie.
// The request must come from the console itself (see sameOriginJSON), and
// its body is read only up to Limits.MaxLoginBodyBytes.
func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) {
	if err := sameOriginJSON(r); err != nil {
		writeError(w, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.Limits.MaxLoginBodyBytes)
	var b struct {
		Login    string `json:"login"`
		Password string `json:"password"`
	}
	if err := readJSON(r, &b); err != nil {
		writeError(w, err)
		return
	}
	p, err := s.auth.Basic(r.Context(), b.Login, b.Password, s.clientIP(r))
	if err != nil {
		if errors.Is(err, security.ErrUnauthenticated) {
			writeJSON(w, http.StatusUnauthorized, apiError{Type: "AuthenticationException", Message: "wrong login or password"})
			return
		}
		writeError(w, err)
		return
	}
	acct, err := s.opts.Sources.Directory().AccountByID(r.Context(), p.UserID)
	if err != nil {
		writeError(w, err)
		return
	}
	value, csrf, err := s.issueSession(r.Context(), acct, s.clientIP(r))
	if err != nil {
		writeError(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https", MaxAge: int(sessionTTL.Seconds())})
	info, err := s.sessionInfoOf(r, p, csrf)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// consoleLogout ends the session on the server (on every node) and clears
// the cookie.
func (s *Server) consoleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" && len(c.Value) <= 100 {
		h := sessionHash(c.Value)
		if err := s.opts.Sources.Primary.DeleteSession(r.Context(), h); err != nil {
			writeError(w, err)
			return
		}
		s.opts.Sources.Registry.InvalidateSession(h)
	}
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
	acct, csrf, err := s.checkSession(r.Context(), c.Value)
	if errors.Is(err, errSessionEnded) {
		nobody()
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	info, err := s.sessionInfoOf(r, &security.Principal{UserID: acct.UserID, Login: acct.Login, TenantManager: acct.TenantManager}, csrf)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}
