package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource/dstest"
)

// camundaDate is how Camunda clients parse dates: milliseconds and a
// numeric offset, never Z.
var camundaDate = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4}$`)

func TestWireDetailsClientsDependOn(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme")
	if r := a.deploy("admin_acme", "smoke.bpmn"); r.status != 200 {
		t.Fatalf("deploy: %d %s", r.status, r.body)
	}
	// Start with lowercase type names, null valueInfo members, an empty
	// business key and variables:null elsewhere.
	r := a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_acme", map[string]any{
		"businessKey": "", "withVariablesInReturn": true,
		"variables": map[string]any{
			"n":     map[string]any{"value": 21, "type": "integer", "valueInfo": map[string]any{"objectTypeName": nil}},
			"when":  map[string]any{"value": "2026-01-02T15:04:05.000+0100", "type": "date"},
			"order": map[string]any{"value": `{"total": 12.5}`, "type": "Json"},
			"note":  map[string]any{"value": nil, "type": "Null"},
		}})
	if r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want exactly application/json", ct)
	}
	var inst struct {
		ID        string                     `json:"id"`
		Variables map[string]json.RawMessage `json:"variables"`
	}
	r.json(t, &inst)
	var n variable
	json.Unmarshal(inst.Variables["n"], &n)
	if n.Type != "Integer" || n.Value != float64(21) {
		t.Fatalf("variable n answered as %+v, want capitalised Integer 21", n)
	}
	var when variable
	json.Unmarshal(inst.Variables["when"], &when)
	if when.Type != "Date" || !camundaDate.MatchString(when.Value.(string)) {
		t.Fatalf("date variable %+v", when)
	}
	// Dates in entities use the same format.
	var tasks []map[string]any
	a.do("POST", "/engine-rest/external-task/fetchAndLock", "user_acme", map[string]any{"workerId": "w", "maxTasks": 1,
		"topics": []any{map[string]any{"topicName": "work", "lockDuration": 60000}}}).json(t, &tasks)
	if len(tasks) != 1 || !camundaDate.MatchString(tasks[0]["lockExpirationTime"].(string)) {
		t.Fatalf("fetched %+v", tasks)
	}
	if r := a.do("POST", "/engine-rest/external-task/"+tasks[0]["id"].(string)+"/complete", "user_acme",
		map[string]any{"workerId": "w", "variables": nil}); r.status != 204 {
		t.Fatalf("complete with variables:null: %d %s", r.status, r.body)
	}
	// Errors are {type, message} with Camunda's status codes.
	r = a.do("GET", "/engine-rest/process-instance/999999", "user_acme", nil)
	var e apiError
	r.json(t, &e)
	if r.status != 404 || e.Type == "" || e.Message == "" {
		t.Fatalf("missing instance: %d %+v", r.status, e)
	}
	r = a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_acme", map[string]any{
		"variables": map[string]any{"x": map[string]any{"value": "abc", "type": "Integer"}}})
	if r.status != 400 {
		t.Fatalf("bad variable: %d %s", r.status, r.body)
	}
	// Empty credentials are a 401, not a 500.
	r = a.do("GET", "/engine-rest/task", "", nil, "Authorization", "Basic Og==")
	if r.status != 401 || r.header.Get("WWW-Authenticate") != `Basic realm="tenantflow"` {
		t.Fatalf("Basic Og==: %d %v", r.status, r.header)
	}
	// Internal detail never leaks into an error message.
	if strings.Contains(string(r.body), "sql") {
		t.Fatalf("error shows internals: %s", r.body)
	}
}

func TestFetchAndLockLongPollsUntilATaskIsCreated(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		a := newAPI(t, kind, "acme")
		a.deploy("admin_acme", "smoke.bpmn")
		fetch := func(worker string, timeoutMs int) chan res {
			out := make(chan res, 1)
			go func() {
				out <- a.do("POST", "/engine-rest/external-task/fetchAndLock", "user_acme", map[string]any{"workerId": worker, "maxTasks": 1,
					"asyncResponseTimeout": timeoutMs, "topics": []any{map[string]any{"topicName": "work", "lockDuration": 60000}}})
			}()
			return out
		}
		// Nothing to fetch: the request waits. It is released as soon as a
		// task of its topic is created — long before its 60 s timeout.
		pending := fetch("w1", 60_000)
		a.waitForPoller("w1")
		start := time.Now()
		a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_acme", map[string]any{})
		r := <-pending
		var tasks []map[string]any
		r.json(t, &tasks)
		if len(tasks) != 1 || tasks[0]["workerId"] != "w1" {
			t.Fatalf("long poll answered %s", r.body)
		}
		if waited := time.Since(start); waited > 30*time.Second {
			t.Fatalf("the task was delivered only after %s", waited)
		}
		// A new request of the same worker ends its pending one with [].
		first := fetch("w2", 60_000)
		a.waitForPoller("w2")
		second := fetch("w2", 100)
		r = <-first
		if r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
			t.Fatalf("replaced request answered %d %s", r.status, r.body)
		}
		<-second
	})
}

// waitForPoller blocks until the worker's fetchAndLock is registered as
// waiting.
func (a *api) waitForPoller(worker string) {
	a.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		a.srv.polls.mu.Lock()
		n := 0
		for k := range a.srv.polls.waiting {
			if k.worker == worker {
				n++
			}
		}
		a.srv.polls.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("worker %s never started waiting", worker)
		}
		// Registration happens inside the request goroutine; yield to it.
		runtimeGosched()
	}
}

func TestEventStreamDeliversTheTenantsEventsInOrderAndResumes(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme", "globex")
	a.deploy("admin_acme", "smoke.bpmn")
	a.deploy("admin_globex", "smoke.bpmn")
	a.eng.RegisterHandler("work", func(context.Context, *ServiceTaskAlias) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan [3]string, 64) // id, type, data
	open := func(lastID string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", a.http.URL+"/engine-rest/events", nil)
		req.SetBasicAuth("reader_acme", password)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := a.client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			var cur [3]string
			for sc.Scan() {
				line := sc.Text()
				switch {
				case strings.HasPrefix(line, "id: "):
					cur[0] = line[4:]
				case strings.HasPrefix(line, "event: "):
					cur[1] = line[7:]
				case strings.HasPrefix(line, "data: "):
					cur[2] = line[6:]
				case line == "" && cur[1] != "":
					events <- cur
					cur = [3]string{}
				}
			}
		}()
	}
	open("")
	// Another tenant's instance: never seen on acme's stream.
	a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_globex", map[string]any{"businessKey": "globex-secret"})
	a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_acme", map[string]any{"businessKey": "acme-1"})
	var seen [][3]string
	timeout := time.After(20 * time.Second)
	for len(seen) == 0 || seen[len(seen)-1][1] != "task-created" {
		select {
		case ev := <-events:
			if strings.Contains(ev[2], "globex") {
				t.Fatalf("acme's stream carried another tenant's event: %s", ev[2])
			}
			seen = append(seen, ev)
		case <-timeout:
			t.Fatalf("events so far: %v", seen)
		}
	}
	if seen[0][1] != "process-started" {
		t.Fatalf("first event %s", seen[0][1])
	}
	// Reconnect from the last event seen: complete the task, and the new
	// stream continues with exactly what followed.
	cancel()
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var tasks []map[string]any
	a.do("GET", "/engine-rest/task?processInstanceBusinessKey=acme-1", "user_acme", nil).json(t, &tasks)
	a.do("POST", "/engine-rest/task/"+tasks[0]["id"].(string)+"/complete", "admin_acme", map[string]any{})
	open(seen[len(seen)-1][0])
	var after []string
	timeout = time.After(20 * time.Second)
	for len(after) == 0 || after[len(after)-1] != "process-completed" {
		select {
		case ev := <-events:
			after = append(after, ev[1])
		case <-timeout:
			t.Fatalf("after reconnect: %v", after)
		}
	}
	if after[0] == "process-started" || after[0] == "task-created" {
		t.Fatalf("the resumed stream repeated earlier events: %v", after)
	}
	_ = sync.Mutex{}
}

// /metrics shows how often bcrypt ran: once for a credential used many
// times within the cache TTL, once more for each failed login.
func TestMetricsCountBcryptRunsNotRequests(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme")
	checks := func() string {
		r := a.do("GET", "/metrics", "boss", nil)
		for line := range strings.Lines(string(r.body)) {
			if v, ok := strings.CutPrefix(line, "tenantflow_password_checks_total "); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("/metrics has no tenantflow_password_checks_total:\n%s", r.body)
		return ""
	}
	count := func() {
		t.Helper()
		if r := a.do("GET", "/engine-rest/process-definition/count", "user_acme", nil); r.status != 200 {
			t.Fatalf("count: %d %s", r.status, r.body)
		}
	}
	count() // verified once here
	before := checks()
	for range 5 {
		count()
	}
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte("user_acme:wrong"))
	if r := a.do("GET", "/engine-rest/process-definition/count", "", nil, "Authorization", wrong); r.status != http.StatusUnauthorized {
		t.Fatalf("a wrong password: %d", r.status)
	}
	after := checks()
	b, _ := strconv.Atoi(before)
	n, _ := strconv.Atoi(after)
	if n-b != 1 {
		t.Fatalf("bcrypt ran %d times for 5 requests with a verified credential and 1 wrong password, want 1", n-b)
	}
}
