package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/datasource/dstest"
)

// consoleLogin signs in through the console's login endpoint and returns the
// session cookie and CSRF token.
func (a *api) consoleLogin(login string, header ...string) (*http.Cookie, string) {
	a.t.Helper()
	r := a.do("POST", "/console/api/login", "", map[string]string{"login": login, "password": password}, header...)
	if r.status != http.StatusOK {
		a.t.Fatalf("console login as %s: %d %s", login, r.status, r.body)
	}
	var info sessionInfo
	r.json(a.t, &info)
	cookies := (&http.Response{Header: r.header}).Cookies()
	if len(cookies) != 1 || cookies[0].Name != sessionCookie {
		a.t.Fatalf("login set cookies %v, want the one session cookie", cookies)
	}
	if !info.SignedIn || info.CSRFToken == "" {
		a.t.Fatalf("login answered %+v", info)
	}
	return cookies[0], info.CSRFToken
}

func TestConsoleSession(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme")
	cookie := func(c *http.Cookie) string { return c.Name + "=" + c.Value }

	t.Run("the session cookie is HttpOnly, SameSite=Strict, and Secure behind TLS", func(t *testing.T) {
		c, _ := a.consoleLogin("admin_acme")
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure {
			t.Fatalf("cookie over plain HTTP: %+v", c)
		}
		c, _ = a.consoleLogin("admin_acme", "X-Forwarded-Proto", "https")
		if !c.Secure {
			t.Fatal("a cookie behind a TLS proxy must be Secure")
		}
	})

	t.Run("nobody signed in is an answer, not an error", func(t *testing.T) {
		r := a.do("GET", "/console/api/session", "", nil)
		var info sessionInfo
		r.json(t, &info)
		if r.status != http.StatusOK || info.SignedIn {
			t.Fatalf("session without cookie: %d %s", r.status, r.body)
		}
		r = a.do("GET", "/console/api/session", "", nil, "Cookie", sessionCookie+"=forged.value")
		r.json(t, &info)
		if info.SignedIn {
			t.Fatalf("a forged cookie signed in: %s", r.body)
		}
	})

	t.Run("a wrong password is refused without saying which part was wrong", func(t *testing.T) {
		r := a.do("POST", "/console/api/login", "", map[string]string{"login": "admin_acme", "password": "nope"})
		if r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "wrong login or password") {
			t.Fatalf("wrong password: %d %s", r.status, r.body)
		}
		if len((&http.Response{Header: r.header}).Cookies()) != 0 {
			t.Fatal("a failed login set a cookie")
		}
	})

	t.Run("state changes need the CSRF token; reads do not", func(t *testing.T) {
		c, csrf := a.consoleLogin("admin_acme")
		r := a.do("GET", "/console/api/session", "", nil, "Cookie", cookie(c))
		var info sessionInfo
		r.json(t, &info)
		if !info.SignedIn || info.Login != "admin_acme" || len(info.Tenants) != 1 || info.Tenants[0].Role != "admin" {
			t.Fatalf("session: %s", r.body)
		}
		if r := a.do("GET", "/engine-rest/process-definition", "", nil, "Cookie", cookie(c)); r.status != http.StatusOK {
			t.Fatalf("read with the session cookie: %d %s", r.status, r.body)
		}
		body := map[string]any{"id": "g1"}
		if r := a.do("POST", "/engine-rest/group/create", "", body, "Cookie", cookie(c)); r.status != http.StatusForbidden {
			t.Fatalf("a change without the CSRF token: %d %s", r.status, r.body)
		}
		if r := a.do("POST", "/engine-rest/group/create", "", body, "Cookie", cookie(c), csrfHeader, csrf+"x"); r.status != http.StatusForbidden {
			t.Fatalf("a change with a wrong CSRF token: %d %s", r.status, r.body)
		}
		if r := a.do("POST", "/engine-rest/group/create", "", body, "Cookie", cookie(c), csrfHeader, csrf); r.status/100 != 2 {
			t.Fatalf("a change with the CSRF token: %d %s", r.status, r.body)
		}
	})

	t.Run("a tenant admin's session cannot reach the tenant-manager API", func(t *testing.T) {
		c, csrf := a.consoleLogin("admin_acme")
		if r := a.do("GET", "/admin/api/tenants", "", nil, "Cookie", cookie(c), csrfHeader, csrf); r.status != http.StatusForbidden {
			t.Fatalf("admin API with a tenant admin's session: %d %s", r.status, r.body)
		}
	})

	t.Run("an ended session is a 401 without a Basic challenge", func(t *testing.T) {
		r := a.do("GET", "/engine-rest/process-definition", "", nil, "Cookie", sessionCookie+"=expired.session")
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != "" {
			t.Fatalf("ended session: %d, WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
		}
	})

	t.Run("logout clears the cookie", func(t *testing.T) {
		c, csrf := a.consoleLogin("boss")
		r := a.do("POST", "/console/api/logout", "", nil, "Cookie", cookie(c), csrfHeader, csrf)
		cs := (&http.Response{Header: r.header}).Cookies()
		if r.status != http.StatusNoContent || len(cs) != 1 || cs[0].MaxAge >= 0 {
			t.Fatalf("logout: %d %v", r.status, cs)
		}
	})
}

func TestConsoleFiles(t *testing.T) {
	a := newAPI(t, dstest.SQLite)
	r := a.do("GET", "/console/", "", nil)
	if r.status != http.StatusOK || !strings.Contains(r.header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("/console/: %d, CSP %q", r.status, r.header.Get("Content-Security-Policy"))
	}
	if !strings.Contains(string(r.body), "tenantflow console") {
		t.Fatalf("/console/ is neither the console nor its placeholder: %s", r.body)
	}
	if r := a.do("GET", "/console/.gitkeep", "", nil); r.status != http.StatusNotFound {
		t.Fatalf("dot files are served: %d", r.status)
	}
	if r := a.do("GET", "/console", "", nil); r.status != http.StatusOK {
		t.Fatalf("/console does not lead to the console: %d", r.status)
	}
}
