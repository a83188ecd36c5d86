package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/security"
)

// requestAllowed reports whether a status means the role check let the
// call through (whatever the call then did with the sample IDs).
func requestAllowed(status int) bool {
	return status != http.StatusUnauthorized && status != http.StatusForbidden
}

// TestEveryRouteEnforcesItsRole is generated from the route table: every
// route is called without credentials, by a reader, a user, an admin of
// the tenant and by the tenant manager, and the outcome must follow the
// route's declared role. A route added to the table is tested here without
// anyone writing a test for it.
func TestEveryRouteEnforcesItsRole(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme")
	vals := map[string]string{"key": "smoke", "name": "x", "userId": "user_acme", "tenant": "acme", "sub": "xml", "tokenId": "t1", "engine": "acme"}
	callers := []struct {
		login string
		role  security.Role
	}{{"reader_acme", security.RoleReader}, {"user_acme", security.RoleUser}, {"admin_acme", security.RoleAdmin}}
	for _, rt := range a.srv.routes {
		rt := rt
		prefix := "/engine-rest"
		if rt.scope == scopeManager {
			prefix = "/admin/api"
		}
		path := prefix + fillPath(rt.path, vals)
		if rt.method == "DELETE" && rt.scope == scopeManager && strings.HasPrefix(rt.path, "/tenants/") && !strings.Contains(rt.path, "members") {
			path += "?confirm=nope" // never really drop the tenant the test uses
		}
		call := func(login string) int {
			if rt.path == "/events" {
				return a.streamStatus(path, login)
			}
			return a.do(rt.method, path, login, map[string]any{}).status
		}
		t.Run(rt.method+" "+path, func(t *testing.T) {
			if got := call(""); got != http.StatusUnauthorized {
				t.Fatalf("without credentials: %d, want 401", got)
			}
			for _, c := range callers {
				got := call(c.login)
				switch rt.scope {
				case scopeManager:
					if got != http.StatusForbidden {
						t.Fatalf("tenant %s %s reached the admin API: %d", c.role, c.login, got)
					}
				case scopeAnyone:
					if !requestAllowed(got) {
						t.Fatalf("%s refused: %d", c.login, got)
					}
				default:
					want := roleRank(c.role) >= roleRank(rt.role)
					if requestAllowed(got) != want {
						t.Fatalf("%s (%s) on a %s route: %d", c.login, c.role, rt.role, got)
					}
				}
			}
			got := call("boss")
			switch rt.scope {
			case scopeManager, scopeAnyone:
				if !requestAllowed(got) {
					t.Fatalf("tenant manager refused: %d", got)
				}
			default:
				if got != http.StatusForbidden {
					t.Fatalf("the tenant manager reached a tenant route: %d", got)
				}
			}
		})
	}
}

// streamStatus opens the event stream and returns the status once headers
// arrive.
func (a *api) streamStatus(path, login string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.http.URL+path, nil)
	if login != "" {
		req.SetBasicAuth(login, password)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
