package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/security"
)

// snapshot counts a tenant's rows and sums their revisions, read straight
// from its storage.
func snapshot(t *testing.T, a *api, tenant string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	ctx := security.WithTenant(context.Background(), tenant)
	err := a.env.Sources.Tenants.InReadTx(ctx, func(tx *datasource.Tx) error {
		for _, q := range []struct{ name, sql string }{
			{"instances", `SELECT COUNT(*) FROM tf_instance`},
			{"instance revisions", `SELECT COALESCE(SUM(revision), 0) FROM tf_instance`},
			{"tasks", `SELECT COUNT(*) FROM tf_task`},
			{"task revisions", `SELECT COALESCE(SUM(revision), 0) FROM tf_task`},
			{"external tasks", `SELECT COUNT(*) FROM tf_external_task`},
			{"external task revisions", `SELECT COALESCE(SUM(revision), 0) FROM tf_external_task`},
			{"executions", `SELECT COUNT(*) FROM tf_execution`},
			{"variables", `SELECT COUNT(*) FROM tf_variable`},
			{"variable revisions", `SELECT COALESCE(SUM(revision), 0) FROM tf_variable`},
			{"jobs", `SELECT COUNT(*) FROM tf_job`},
			{"deployments", `SELECT COUNT(*) FROM tf_deployment`},
			{"definitions", `SELECT COUNT(*) FROM tf_definition`},
			{"suspended definitions", `SELECT COUNT(*) FROM tf_definition WHERE suspended = TRUE`},
			{"events", `SELECT COUNT(*) FROM tf_outbox`},
		} {
			var n int64
			if err := tx.GetContext(ctx, &n, q.sql); err != nil {
				return err
			}
			out[q.name] = n
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNoRequestOfOneTenantReachesAnother generates requests from the route
// table as tenant alpha's admin, aimed at tenant bravo — bravo in the
// X-Tenant-ID header, in the named-engine path, in tenantIdIn, and bravo's
// IDs (identical to alpha's by construction) — and checks that no response
// carries bravo's data and that bravo's rows are untouched.
func TestNoRequestOfOneTenantReachesAnother(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		a := newAPI(t, kind, "alpha", "bravo")
		// The same history in both tenants gives both the same IDs.
		for _, tn := range []string{"alpha", "bravo"} {
			if r := a.deploy("admin_"+tn, "smoke.bpmn"); r.status != 200 {
				t.Fatalf("deploy %s: %d %s", tn, r.status, r.body)
			}
			for i := 0; i < 5; i++ {
				a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_"+tn, map[string]any{
					"businessKey": fmt.Sprintf("secret-%s-%d", tn, i),
					"variables":   map[string]any{"owner": map[string]any{"value": "secret-" + tn, "type": "String"}}})
			}
		}
		before := snapshot(t, a, "bravo")

		seed := time.Now().UnixNano()
		if v, err := strconv.ParseInt(os.Getenv("TF_ISOLATION_SEED"), 10, 64); err == nil {
			seed = v
		}
		t.Logf("seed %d (set TF_ISOLATION_SEED to replay)", seed)
		rng := rand.New(rand.NewPCG(uint64(seed), 42))
		var routes []route
		for _, rt := range a.srv.routes {
			if rt.scope == scopeTenant && rt.path != "/events" {
				routes = append(routes, rt)
			}
		}
		const requests = 1200
		for i := 0; i < requests; i++ {
			rt := routes[rng.IntN(len(routes))]
			vals := map[string]string{"id": fmt.Sprint(1 + rng.IntN(60)), "key": "smoke", "name": "owner",
				"userId": "user_bravo", "tenant": "bravo", "sub": []string{"xml", "statistics"}[rng.IntN(2)]}
			path := "/engine-rest" + fillPath(rt.path, vals)
			var headers []string
			switch rng.IntN(4) {
			case 0:
				headers = []string{"X-Tenant-ID", "bravo"}
			case 1:
				path = "/engine-rest/engine/bravo" + fillPath(rt.path, vals)
			case 2:
				sep := "?"
				if strings.Contains(path, "?") {
					sep = "&"
				}
				path += sep + "tenantIdIn=bravo"
			}
			// Nothing in the request is data only bravo holds: any of it in
			// a response came out of bravo's storage.
			body := map[string]any{"businessKey": "probe", "workerId": "w", "tenantId": "bravo",
				"topics": []any{map[string]any{"topicName": "work", "lockDuration": 1000}}, "messageName": "m",
				"processInstanceId": vals["id"], "userId": "user_bravo", "retries": 3}
			r := a.do(rt.method, path, "admin_alpha", body, headers...)
			if strings.Contains(string(r.body), "secret-bravo") || strings.Contains(string(r.body), `"tenantId":"bravo"`) {
				t.Fatalf("request %d %s %s %v answered %d with bravo's data: %s", i, rt.method, path, headers, r.status, r.body)
			}
			if (len(headers) > 0 || strings.HasPrefix(path, "/engine-rest/engine/bravo")) && r.status != http.StatusForbidden {
				t.Fatalf("request %d %s %s %v was not refused: %d %s", i, rt.method, path, headers, r.status, r.body)
			}
		}
		after := snapshot(t, a, "bravo")
		for k, v := range before {
			if after[k] != v {
				t.Fatalf("bravo's %s changed from %d to %d", k, v, after[k])
			}
		}
	})
}
