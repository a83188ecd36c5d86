package server

import (
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/datasource/dstest"
)

// TestOpenAPIDescribesEveryRoute checks openapi.yaml against the route
// table both ways: every route is documented, and nothing documented is
// missing from the server.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	a := newAPI(t, dstest.SQLite)
	r := a.do("GET", "/openapi.yaml", "", nil)
	if r.status != 200 || !strings.HasPrefix(string(r.body), "openapi: 3.") {
		t.Fatalf("/openapi.yaml: %d", r.status)
	}
	documented := map[string]bool{}
	pathRe := regexp.MustCompile(`^  (/\S*):$`)
	opRe := regexp.MustCompile(`^    (get|post|put|patch|delete):$`)
	cur := ""
	for _, line := range strings.Split(string(r.body), "\n") {
		if m := pathRe.FindStringSubmatch(line); m != nil {
			cur = m[1]
		} else if m := opRe.FindStringSubmatch(line); m != nil && cur != "" {
			documented[strings.ToUpper(m[1])+" "+cur] = true
		}
	}
	served := map[string]bool{"GET /healthz": true, "GET /readyz": true, "GET /metrics": true, "GET /openapi.yaml": true}
	for _, rt := range a.srv.routes {
		prefix := "/engine-rest"
		if rt.scope == scopeManager {
			prefix = "/admin/api"
		}
		served[rt.method+" "+prefix+rt.path] = true
	}
	var missing, extra []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Fatalf("openapi.yaml is out of step with the routes:\n  undocumented: %v\n  documented but not served: %v", missing, extra)
	}
}
