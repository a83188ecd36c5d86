package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// The golden files under testdata/golden/v1 pin the JSON of every response
// shape clients depend on, byte for byte: Camunda field names, IDs as
// strings, date formats, nulls and omitted fields, key order. The folder is
// versioned: a deliberate change of the wire format goes to a new version,
// never into v1 by accident. Regenerate after a deliberate change with
//
//	go test ./server -run TestGolden -update
//
// and review the diff.
var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden/v1 from the current responses")

const goldenDir = "testdata/golden/v1"

// goldens compares response bodies with the golden files, or writes them
// with -update, and knows which files were checked.
type goldens struct {
	t    *testing.T
	seen map[string]bool
}

// normalize hides what neither the fake clock nor the fresh tenant fixes:
// how long a storage ping took, the pool figures of the node, which depend
// on the storage and not on the wire format (as does the storage's size),
// and the schema versions, which move with every migration.
var normalize = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`"latencyMs":[-0-9.e+]+`), `"latencyMs":0`},
	{regexp.MustCompile(`"poolInUse":[0-9]+`), `"poolInUse":0`},
	{regexp.MustCompile(`"poolMax":[0-9]+`), `"poolMax":0`},
	{regexp.MustCompile(`"schemaVersion":[0-9]+`), `"schemaVersion":0`},
	{regexp.MustCompile(`"latestSchemaVersion":[0-9]+`), `"latestSchemaVersion":0`},
	{regexp.MustCompile(`"storageBytes":[0-9]+`), `"storageBytes":0`},
}

// check compares one body with its golden file. JSON bodies are indented
// for the file (json.Indent changes whitespace only, never a token), so
// the files stay readable and any change of a name, value or order shows.
func (g *goldens) check(name string, body []byte) {
	g.t.Helper()
	if g.seen[name] {
		g.t.Fatalf("golden file %s checked twice", name)
	}
	g.seen[name] = true
	for _, n := range normalize {
		body = n.re.ReplaceAll(body, []byte(n.with))
	}
	got := body
	if strings.HasSuffix(name, ".json") {
		var buf bytes.Buffer
		if err := json.Indent(&buf, body, "", "  "); err != nil {
			g.t.Fatalf("%s: the response is not JSON: %v\n%s", name, err, body)
		}
		got = append(bytes.TrimRight(buf.Bytes(), "\n"), '\n')
	}
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			g.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		g.t.Fatalf("%v (run go test ./server -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		g.t.Errorf("%s changed: the JSON clients see differs from the golden file\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// finish fails for golden files no test produced any more (or removes them
// with -update), so the folder never pins a shape nobody checks.
func (g *goldens) finish() {
	g.t.Helper()
	entries, err := os.ReadDir(goldenDir)
	if err != nil {
		g.t.Fatal(err)
	}
	for _, e := range entries {
		if g.seen[e.Name()] {
			continue
		}
		if *update {
			_ = os.Remove(filepath.Join(goldenDir, e.Name()))
			continue
		}
		g.t.Errorf("golden file %s is not produced by any request of TestGoldenRESTResponses", e.Name())
	}
}

// goldenAPI is a server like newAPI's, on the fake clock of dstest (fixed
// at 2026-01-01T12:00:00Z and advanced only by the test) and a fresh
// tenant "acme", so times and IDs repeat run after run.
func goldenAPI(t *testing.T, kind dstest.Kind) (*api, *dstest.Env) {
	t.Helper()
	env := dstest.Open(t, kind, nil)
	eng, err := engine.New(env.Sources, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Sources: env.Sources, Engine: eng, Logger: dstest.Quiet()})
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { srv.Close(); hs.Close() })
	a := &api{t: t, env: env, eng: eng, srv: srv, http: hs, client: &http.Client{Timeout: 60 * time.Second}}
	ctx := context.Background()
	p := env.Sources.Primary
	if _, err := p.CreateUser(ctx, &datasource.CreateUserParams{Login: "boss", Password: password, TenantManager: true}); err != nil {
		t.Fatal(err)
	}
	env.Tenant(t, "acme")
	for _, role := range []security.Role{security.RoleAdmin, security.RoleUser, security.RoleReader} {
		u, err := p.CreateUser(ctx, &datasource.CreateUserParams{Login: string(role) + "_acme", Password: password})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Grant(ctx, u.ID, "acme", role); err != nil {
			t.Fatal(err)
		}
	}
	return a, env
}

// deployResources deploys several files as one deployment through the REST
// API, with a deployment source.
func (a *api) deployResources(login, name, source string, files ...string) res {
	a.t.Helper()
	var buf bytes.Buffer
	const boundary = "tfgolden"
	part := func(disposition, body string) {
		buf.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; " + disposition + "\r\n\r\n" + body + "\r\n")
	}
	part(`name="deployment-name"`, name)
	part(`name="deployment-source"`, source)
	for _, f := range files {
		content, err := os.ReadFile(f)
		if err != nil {
			a.t.Fatal(err)
		}
		base := filepath.Base(f)
		part(`name="`+base+`"; filename="`+base+`"`, string(content))
	}
	buf.WriteString("--" + boundary + "--\r\n")
	req, _ := http.NewRequest("POST", a.http.URL+"/engine-rest/deployment/create", &buf)
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	req.SetBasicAuth(login, password)
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return res{resp.StatusCode, resp.Header, b.Bytes()}
}

// sseEvents reads the tenant's event stream from the beginning until n
// events arrived and returns them as sent (comments left out).
func (a *api) sseEvents(path, login string, n int) []byte {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.http.URL+path, nil)
	req.SetBasicAuth(login, password)
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		a.t.Fatalf("event stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for got := 0; got < n && sc.Scan(); {
		line := sc.Text()
		if strings.HasPrefix(line, ":") {
			continue // keep-alive
		}
		out.WriteString(line + "\n")
		if line == "" {
			got++
		}
	}
	if err := sc.Err(); err != nil {
		a.t.Fatalf("event stream: %v", err)
	}
	return out.Bytes()
}

// TestGoldenRESTResponses drives one tenant through every kind of object
// the REST API returns (deployments, definitions, instances running,
// suspended, completed and deleted, user and external tasks, jobs,
// incidents, message correlations, history, variables of every type, the
// event stream, the admin API's views of engine data) and pins each
// response shape with a golden file. Both storages must give the same
// bytes.
func TestGoldenRESTResponses(t *testing.T) {
	t.Parallel()
	for _, kind := range []dstest.Kind{dstest.SQLite, dstest.Postgres} {
		t.Run(string(kind), func(t *testing.T) { goldenRESTResponses(t, kind) })
	}
}

func goldenRESTResponses(t *testing.T, kind dstest.Kind) {
	a, env := goldenAPI(t, kind)
	g := &goldens{t: t, seen: map[string]bool{}}
	step := func() { env.Clock.Advance(time.Second) }
	ok := func(r res, what string) res {
		t.Helper()
		if r.status < 200 || r.status > 299 {
			t.Fatalf("%s: %d %s", what, r.status, r.body)
		}
		return r
	}
	get := func(login, path string) res {
		t.Helper()
		return ok(a.do("GET", path, login, nil), "GET "+path)
	}
	post := func(login, path string, body any) res {
		t.Helper()
		return ok(a.do("POST", path, login, body), "POST "+path)
	}
	str := func(r res, field string) string {
		t.Helper()
		var m map[string]any
		r.json(t, &m)
		s, _ := m[field].(string)
		if s == "" {
			t.Fatalf("no %s in %s", field, r.body)
		}
		return s
	}
	const admin, user, reader = "admin_acme", "user_acme", "reader_acme"
	ctx := security.WithTenant(context.Background(), "acme")
	a.eng.RegisterHandler("book", func(context.Context, *engine.ServiceTask) error {
		return errors.New("the booking service answered 503")
	})

	// Deployments and definitions.
	step()
	dep := ok(a.deployResources(admin, "orders", "golden-test", "testdata/golden/order.bpmn",
		"../engine/testdata/async-failure.bpmn", "../engine/testdata/start-message.bpmn", "../engine/testdata/catch-timer.bpmn"), "deploy")
	g.check("deployment-create.json", dep.body)
	depID := str(dep, "id")
	g.check("deployment-list.json", get(reader, "/engine-rest/deployment").body)
	g.check("deployment-get.json", get(reader, "/engine-rest/deployment/"+depID).body)
	g.check("deployment-count.json", get(reader, "/engine-rest/deployment/count").body)
	g.check("process-definition-list.json", get(reader, "/engine-rest/process-definition?sortBy=key&sortOrder=asc").body)
	g.check("process-definition-count.json", get(reader, "/engine-rest/process-definition/count").body)
	orderDef := get(reader, "/engine-rest/process-definition/key/order")
	g.check("process-definition-get-by-key.json", orderDef.body)
	orderDefID := str(orderDef, "id")
	g.check("process-definition-get.json", get(reader, "/engine-rest/process-definition/"+orderDefID).body)
	g.check("process-definition-xml.json", get(reader, "/engine-rest/process-definition/"+orderDefID+"/xml").body)

	// Instances: one with a variable of every type, one without anything.
	step()
	first := post(user, "/engine-rest/process-definition/key/order/start", map[string]any{
		"businessKey": "order-1", "withVariablesInReturn": true,
		"variables": map[string]any{
			"owner":    map[string]any{"value": "demo", "type": "String"},
			"quantity": map[string]any{"value": 3, "type": "Integer"},
			"serial":   map[string]any{"value": 9007199254740993, "type": "Long"},
			"amount":   map[string]any{"value": 125.5, "type": "Double"},
			"express":  map[string]any{"value": true, "type": "Boolean"},
			"ordered":  map[string]any{"value": "2026-01-01T13:00:00.000+0100", "type": "Date"},
			"address":  map[string]any{"value": `{"city":"Lyon","lines":["1 rue <A&B>"]}`, "type": "Json"},
			"coupon":   map[string]any{"value": nil, "type": "Null"},
			"note":     map[string]any{"value": "ünïcødé \"quoted\" <tag>"},
		}})
	g.check("process-instance-start-with-variables.json", first.body)
	inst1 := str(first, "id")
	step()
	second := post(user, "/engine-rest/process-definition/"+orderDefID+"/start", map[string]any{})
	g.check("process-instance-start.json", second.body)
	inst2 := str(second, "id")
	step()
	inst3 := str(post(user, "/engine-rest/process-definition/key/order/start", map[string]any{"businessKey": "order-3"}), "id")
	step()
	inst4 := str(post(user, "/engine-rest/process-definition/key/order/start", map[string]any{"businessKey": "order-4"}), "id")

	// External tasks: fetched with variables, failed with retries left,
	// failed for good (an incident).
	step()
	fetched := post(user, "/engine-rest/external-task/fetchAndLock", map[string]any{"workerId": "w1", "maxTasks": 1,
		"topics": []any{map[string]any{"topicName": "reserve", "lockDuration": 60000, "variables": []string{"owner", "amount", "ordered", "address", "coupon"}}}})
	g.check("external-task-fetch-and-lock.json", fetched.body)
	var fetchedTasks []map[string]any
	fetched.json(t, &fetchedTasks)
	if len(fetchedTasks) != 1 || fetchedTasks[0]["processInstanceId"] != inst1 {
		t.Fatalf("fetched %s", fetched.body)
	}
	externalOf := func(inst string) string {
		t.Helper()
		var l []map[string]any
		get(reader, "/engine-rest/external-task?processInstanceId="+inst).json(t, &l)
		if len(l) != 1 {
			t.Fatalf("external tasks of %s: %v", inst, l)
		}
		return l[0]["id"].(string)
	}
	step()
	ok(a.do("POST", "/engine-rest/external-task/"+fetchedTasks[0]["id"].(string)+"/complete", user,
		map[string]any{"workerId": "w1", "variables": map[string]any{"reserved": map[string]any{"value": true, "type": "Boolean"}}}), "complete")
	ext2 := externalOf(inst2)
	step()
	ok(a.do("POST", "/engine-rest/external-task/"+ext2+"/lock", user, map[string]any{"workerId": "w2", "lockDuration": 300000}), "lock")
	step()
	ok(a.do("POST", "/engine-rest/external-task/"+ext2+"/failure", user, map[string]any{"workerId": "w2",
		"errorMessage": "out of stock", "errorDetails": "warehouse 3 is empty", "retries": 2, "retryTimeout": 0}), "failure")
	ext3 := externalOf(inst3)
	step()
	ok(a.do("POST", "/engine-rest/external-task/"+ext3+"/lock", user, map[string]any{"workerId": "w3", "lockDuration": 300000}), "lock")
	step()
	ok(a.do("POST", "/engine-rest/external-task/"+ext3+"/failure", user, map[string]any{"workerId": "w3",
		"errorMessage": "warehouse offline", "retries": 0}), "failure")
	g.check("external-task-list.json", get(reader, "/engine-rest/external-task").body)
	g.check("external-task-get.json", get(reader, "/engine-rest/external-task/"+ext2).body)
	g.check("external-task-count.json", get(reader, "/engine-rest/external-task/count").body)

	// A job that fails until it has an incident, and a timer waiting.
	step()
	failing := str(post(user, "/engine-rest/process-definition/key/async_failure/start", map[string]any{"businessKey": "booking-1"}), "id")
	for range 3 {
		env.Clock.Advance(time.Hour)
		if _, err := a.eng.RunDueJobs(ctx, env.Clock.Now()); err == nil {
			t.Fatal("the booking job did not fail")
		}
	}
	step()
	post(user, "/engine-rest/process-definition/key/catch_timer/start", map[string]any{"businessKey": "timer-1",
		"variables": map[string]any{"delay": map[string]any{"value": "PT1H", "type": "String"}}})
	jobs := get(reader, "/engine-rest/job?sortBy=jobDueDate&sortOrder=asc")
	g.check("job-list.json", jobs.body)
	var jobList []map[string]any
	jobs.json(t, &jobList)
	if len(jobList) != 2 {
		t.Fatalf("jobs %s", jobs.body)
	}
	for _, j := range jobList {
		if j["exceptionMessage"] != nil {
			if j["processInstanceId"] != failing {
				t.Fatalf("the failed job is not the booking's: %v", j)
			}
			g.check("job-get-failed.json", get(reader, "/engine-rest/job/"+j["id"].(string)).body)
		} else {
			g.check("job-get-timer.json", get(reader, "/engine-rest/job/"+j["id"].(string)).body)
		}
	}
	g.check("job-count.json", get(reader, "/engine-rest/job/count").body)

	// Incidents, and the definition statistics they show in.
	incidents := get(reader, "/engine-rest/incident?sortBy=incidentTimestamp&sortOrder=asc")
	g.check("incident-list.json", incidents.body)
	var incidentList []map[string]any
	incidents.json(t, &incidentList)
	if len(incidentList) != 2 {
		t.Fatalf("incidents %s", incidents.body)
	}
	g.check("incident-get.json", get(reader, "/engine-rest/incident/"+incidentList[0]["id"].(string)).body)
	g.check("incident-count.json", get(reader, "/engine-rest/incident/count").body)
	var asyncDef map[string]any
	get(reader, "/engine-rest/process-definition/key/async_failure").json(t, &asyncDef)
	g.check("process-definition-statistics-incident.json", get(reader, "/engine-rest/process-definition/"+asyncDef["id"].(string)+"/statistics").body)
	g.check("process-definition-statistics.json", get(reader, "/engine-rest/process-definition/"+orderDefID+"/statistics").body)
	g.check("process-instance-activity-instances-incident.json", get(reader, "/engine-rest/process-instance/"+inst3+"/activity-instances").body)

	// User tasks: one with every field (assignee, dates, form, priority),
	// one with none (started by a message).
	step()
	g.check("message-correlate-start.json", post(user, "/engine-rest/message", map[string]any{"messageName": "OrderPlaced",
		"businessKey": "order-5", "resultEnabled": true}).body)
	tasks := get(reader, "/engine-rest/task?sortBy=created&sortOrder=asc")
	g.check("task-list.json", tasks.body)
	var taskList []map[string]any
	tasks.json(t, &taskList)
	if len(taskList) != 2 || taskList[0]["processInstanceId"] != inst1 {
		t.Fatalf("tasks %s", tasks.body)
	}
	task1 := taskList[0]["id"].(string)
	g.check("task-get.json", get(reader, "/engine-rest/task/"+task1).body)
	g.check("task-count.json", get(reader, "/engine-rest/task/count").body)
	g.check("task-list-post.json", post(reader, "/engine-rest/task", map[string]any{"processInstanceBusinessKey": "order-1",
		"sorting": []any{map[string]any{"sortBy": "priority", "sortOrder": "desc"}}}).body)
	g.check("process-instance-activity-instances.json", get(reader, "/engine-rest/process-instance/"+inst1+"/activity-instances").body)
	step()
	g.check("task-complete-with-variables.json", post(admin, "/engine-rest/task/"+task1+"/complete", map[string]any{
		"variables":             map[string]any{"approved": map[string]any{"value": true, "type": "Boolean"}},
		"withVariablesInReturn": true}).body)

	// Variables of a running instance.
	g.check("process-instance-variables.json", get(reader, "/engine-rest/process-instance/"+inst1+"/variables").body)
	g.check("process-instance-variable-date.json", get(reader, "/engine-rest/process-instance/"+inst1+"/variables/ordered").body)
	g.check("process-instance-variable-json.json", get(reader, "/engine-rest/process-instance/"+inst1+"/variables/address").body)

	// A message to a waiting instance ends it; another instance is
	// suspended, one deleted.
	step()
	g.check("message-correlate-execution.json", post(user, "/engine-rest/message", map[string]any{"messageName": "PaymentReceived",
		"businessKey": "order-1", "resultEnabled": true, "variablesInResultEnabled": true}).body)
	step()
	ok(a.do("PUT", "/engine-rest/process-instance/"+inst2+"/suspended", admin, map[string]any{"suspended": true}), "suspend")
	step()
	ok(a.do("DELETE", "/engine-rest/process-instance/"+inst4, admin, nil), "delete")

	// Runtime instances.
	g.check("process-instance-list.json", get(reader, "/engine-rest/process-instance?sortBy=instanceId&sortOrder=asc").body)
	g.check("process-instance-list-post.json", post(reader, "/engine-rest/process-instance", map[string]any{
		"processDefinitionKey": "order", "sorting": []any{map[string]any{"sortBy": "businessKey", "sortOrder": "desc"}}}).body)
	g.check("process-instance-count.json", get(reader, "/engine-rest/process-instance/count").body)
	g.check("process-instance-get.json", get(reader, "/engine-rest/process-instance/"+inst2).body)

	// History.
	g.check("history-process-instance-list.json", get(reader, "/engine-rest/history/process-instance?sortBy=instanceId&sortOrder=asc").body)
	g.check("history-process-instance-count.json", get(reader, "/engine-rest/history/process-instance/count").body)
	g.check("history-process-instance-get.json", get(reader, "/engine-rest/history/process-instance/"+inst1).body)
	g.check("history-process-instance-get-deleted.json", get(reader, "/engine-rest/history/process-instance/"+inst4).body)
	g.check("history-activity-instance-list.json", get(reader, "/engine-rest/history/activity-instance?processInstanceId="+inst1+"&sortBy=startTime").body)
	g.check("history-activity-instance-count.json", get(reader, "/engine-rest/history/activity-instance/count").body)
	g.check("history-task-list.json", get(reader, "/engine-rest/history/task?sortBy=taskId").body)
	g.check("history-task-count.json", get(reader, "/engine-rest/history/task/count").body)
	g.check("history-variable-instance-list.json", get(reader, "/engine-rest/history/variable-instance?processInstanceId="+inst1).body)

	// The event stream: every event of the tenant, in commit order.
	var all int
	var after engine.Cursor
	for {
		b, err := a.eng.ReadEvents(ctx, &engine.ReadEventsParams{After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		all += len(b.Events)
		if len(b.Events) == 0 {
			break
		}
		after = b.Next
	}
	g.check("events.sse", a.sseEvents("/engine-rest/events", reader, all))
	g.check("events-filtered.sse", a.sseEvents("/engine-rest/events?processInstanceId="+inst3+"&type=process-started,incident-created", reader, 2))

	// The admin API's views of engine data.
	if err := a.eng.DeadLetterEvents(ctx, AnalyticsConsumer, []engine.DeadLetter{
		{EventID: 41, Reason: "mapper_parsing_exception: failed to parse field [data.amount]", At: env.Clock.Now()},
		{EventID: 42, Reason: "document too large", At: env.Clock.Now().Add(time.Minute)},
	}); err != nil {
		t.Fatal(err)
	}
	g.check("admin-dead-letters.json", get("boss", "/admin/api/tenants/acme/dead-letters").body)
	g.check("admin-tenant-stats.json", get("boss", "/admin/api/tenants/acme/stats").body)

	// Errors of list queries: an unknown sort key names the allowed ones.
	for _, c := range sortErrorCases {
		r := a.do(c.method, c.path, reader, c.body)
		if r.status != http.StatusBadRequest {
			t.Fatalf("%s %s: %d %s", c.method, c.path, r.status, r.body)
		}
		g.check(c.golden, r.body)
	}
	g.finish()
}

// sortErrorCases asks every sortable list for a key it does not know.
var sortErrorCases = []struct {
	method, path string
	body         any
	golden       string
}{
	{"GET", "/engine-rest/deployment?sortBy=nope", nil, "error-sort-deployment.json"},
	{"GET", "/engine-rest/process-definition?sortBy=nope", nil, "error-sort-process-definition.json"},
	{"GET", "/engine-rest/process-instance?sortBy=nope", nil, "error-sort-process-instance.json"},
	{"POST", "/engine-rest/process-instance", map[string]any{"sortBy": "nope", "sortOrder": "asc"}, "error-sort-process-instance-post.json"},
	{"GET", "/engine-rest/task?sortBy=nope", nil, "error-sort-task.json"},
	{"POST", "/engine-rest/task", map[string]any{"sorting": []any{map[string]any{"sortBy": "nope", "sortOrder": "desc"}}}, "error-sort-task-post.json"},
	{"GET", "/engine-rest/external-task?sortBy=nope", nil, "error-sort-external-task.json"},
	{"GET", "/engine-rest/job?sortBy=nope", nil, "error-sort-job.json"},
	{"GET", "/engine-rest/incident?sortBy=nope", nil, "error-sort-incident.json"},
	{"GET", "/engine-rest/history/process-instance?sortBy=nope", nil, "error-sort-history-process-instance.json"},
	{"GET", "/engine-rest/history/activity-instance?sortBy=nope", nil, "error-sort-history-activity-instance.json"},
	{"GET", "/engine-rest/history/task?sortBy=nope", nil, "error-sort-history-task.json"},
}

// camundaSortKeys lists, per sortable list, every sortBy value clients may
// send: the Camunda names each list has always accepted.
var camundaSortKeys = map[string][]string{
	"/engine-rest/deployment":                {"id", "name", "deploymentTime"},
	"/engine-rest/process-definition":        {"id", "key", "name", "version", "deploymentId", "deployTime", "category", "tenantId"},
	"/engine-rest/process-instance":          {"instanceId", "definitionKey", "definitionId", "businessKey", "startTime", "endTime"},
	"/engine-rest/task":                      {"id", "name", "priority", "assignee", "created", "dueDate", "followUpDate", "instanceId", "processInstanceId", "taskDefinitionKey"},
	"/engine-rest/external-task":             {"id", "lockExpirationTime", "processInstanceId", "processDefinitionKey", "taskPriority", "createTime"},
	"/engine-rest/job":                       {"jobId", "jobDueDate", "jobRetries", "jobPriority", "processInstanceId"},
	"/engine-rest/incident":                  {"incidentId", "incidentTimestamp", "incidentType", "activityId", "processInstanceId"},
	"/engine-rest/history/process-instance":  {"instanceId", "definitionKey", "definitionId", "businessKey", "startTime", "endTime"},
	"/engine-rest/history/activity-instance": {"activityInstanceId", "startTime", "endTime", "activityId", "activityType"},
	"/engine-rest/history/task":              {"id", "name", "priority", "assignee", "created", "dueDate", "followUpDate", "instanceId", "processInstanceId", "taskDefinitionKey", "startTime", "taskId"},
}

// TestListsSortByEveryCamundaSortKey checks that every list accepts each
// sortBy value it has always accepted (as a query parameter, and in the
// JSON bodies of the POST queries), and that the order follows the key.
func TestListsSortByEveryCamundaSortKey(t *testing.T) {
	t.Parallel()
	a := newAPI(t, dstest.SQLite, "acme")
	if r := a.deploy("admin_acme", "smoke.bpmn"); r.status != 200 {
		t.Fatalf("deploy: %d %s", r.status, r.body)
	}
	for _, bk := range []string{"b", "c", "a"} {
		if r := a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_acme", map[string]any{"businessKey": bk}); r.status != 200 {
			t.Fatalf("start: %d %s", r.status, r.body)
		}
	}
	paths := make([]string, 0, len(camundaSortKeys))
	for p := range camundaSortKeys {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		for _, key := range camundaSortKeys[p] {
			if r := a.do("GET", p+"?sortBy="+key+"&sortOrder=desc", "reader_acme", nil); r.status != http.StatusOK {
				t.Errorf("GET %s sortBy=%s: %d %s", p, key, r.status, r.body)
			}
		}
	}
	for _, p := range []string{"/engine-rest/process-instance", "/engine-rest/task"} {
		for _, key := range camundaSortKeys[p] {
			body := map[string]any{"sorting": []any{map[string]any{"sortBy": key, "sortOrder": "desc"}}}
			if r := a.do("POST", p, "reader_acme", body); r.status != http.StatusOK {
				t.Errorf("POST %s sortBy=%s: %d %s", p, key, r.status, r.body)
			}
		}
	}
	businessKeys := func(r res) string {
		t.Helper()
		var l []struct {
			BusinessKey string `json:"businessKey"`
		}
		r.json(t, &l)
		var out []string
		for _, x := range l {
			out = append(out, x.BusinessKey)
		}
		return fmt.Sprint(out)
	}
	if got := businessKeys(a.do("GET", "/engine-rest/process-instance?sortBy=businessKey&sortOrder=desc", "reader_acme", nil)); got != "[c b a]" {
		t.Errorf("instances by businessKey desc: %s", got)
	}
	if got := businessKeys(a.do("POST", "/engine-rest/process-instance", "reader_acme", map[string]any{"sortBy": "businessKey", "sortOrder": "asc"})); got != "[a b c]" {
		t.Errorf("instances by businessKey asc (POST): %s", got)
	}
	if got := businessKeys(a.do("GET", "/engine-rest/history/process-instance?sortBy=startTime&sortOrder=desc", "reader_acme", nil)); got != "[a c b]" {
		t.Errorf("history instances by startTime desc: %s", got)
	}
}
