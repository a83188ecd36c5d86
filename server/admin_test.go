package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

func TestDeadLettersAreListedPerTenantForTheTenantManager(t *testing.T) {
	t.Parallel()
	a := newAPI(t, dstest.SQLite, "acme", "globex")
	ctx := security.WithTenant(t.Context(), "acme")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := a.eng.DeadLetterEvents(ctx, AnalyticsConsumer, []engine.DeadLetter{
		{EventID: 41, Reason: "mapper_parsing_exception: failed to parse field [data.amount]", At: at},
		{EventID: 42, Reason: "document too large", At: at.Add(time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}

	r := a.do("GET", "/admin/api/tenants/acme/dead-letters", "boss", nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var got []deadLetterDTO
	r.json(t, &got)
	if len(got) != 2 || got[0].EventID != "42" || got[1].EventID != "41" || !strings.Contains(got[1].Reason, "mapper_parsing_exception") {
		t.Fatalf("acme's dead letters, newest first: %+v", got)
	}
	if r := a.do("GET", "/admin/api/tenants/acme/dead-letters?maxResults=1", "boss", nil); !strings.Contains(string(r.body), `"42"`) || strings.Contains(string(r.body), `"41"`) {
		t.Fatalf("maxResults=1: %s", r.body)
	}

	// Another tenant's list is its own, empty and never null.
	if r := a.do("GET", "/admin/api/tenants/globex/dead-letters", "boss", nil); r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("globex: %d %s", r.status, r.body)
	}
	if r := a.do("GET", "/admin/api/tenants/nosuch/dead-letters", "boss", nil); r.status != http.StatusNotFound {
		t.Fatalf("an unknown tenant: %d %s", r.status, r.body)
	}
	// Tenant admins do not reach the admin API, not even for their own tenant.
	if r := a.do("GET", "/admin/api/tenants/acme/dead-letters", "admin_acme", nil); r.status != http.StatusForbidden {
		t.Fatalf("a tenant admin: %d", r.status)
	}
}
