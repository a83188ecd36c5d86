package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/security"
)

// basic is an Authorization header value.
func basic(login, pw string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+pw))
}

// raw sends a request with a raw body and headers, as login (password is
// the test password) or anonymously.
func (a *api) raw(method, path, login string, body io.Reader, header ...string) res {
	a.t.Helper()
	req, err := http.NewRequest(method, a.http.URL+path, body)
	if err != nil {
		a.t.Fatal(err)
	}
	if login != "" {
		req.SetBasicAuth(login, password)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return res{resp.StatusCode, resp.Header, b}
}

func TestLoginsBehindAProxyAreLimitedPerClientNotPerProxy(t *testing.T) {
	a := newAPIWith(t, dstest.SQLite, func(o *Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}, "acme")
	attacker := []string{"X-Forwarded-For", "203.0.113.66"}
	var last res
	for range 11 {
		last = a.raw("GET", "/engine-rest/process-definition/count", "", nil, append(attacker, "Authorization", basic("user_acme", "guess"))...)
	}
	if last.status != http.StatusTooManyRequests {
		t.Fatalf("the 11th guess of one client: %d %s", last.status, last.body)
	}
	if s, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || s < 1 || s > 300 {
		t.Fatalf("429 without a usable Retry-After: %q", last.header.Get("Retry-After"))
	}
	if strings.Contains(string(last.body), "user_acme") {
		t.Fatalf("the 429 names the login: %s", last.body)
	}
	// The real user, another client behind the same proxy, is not locked
	// out, though its login is the one being guessed.
	if r := a.raw("GET", "/engine-rest/process-definition/count", "user_acme", nil, "X-Forwarded-For", "198.51.100.7"); r.status != http.StatusOK {
		t.Fatalf("the real user behind the proxy: %d %s", r.status, r.body)
	}
	// A client cannot pick its own address when the peer is not a proxy:
	// without trusted proxies the header is ignored.
	b := newAPI(t, dstest.SQLite, "acme")
	for i := range 11 {
		b.raw("GET", "/engine-rest/process-definition/count", "", nil, "X-Forwarded-For", fmt.Sprintf("192.0.2.%d", i), "Authorization", basic("user_acme", "guess"))
	}
	if r := b.raw("GET", "/engine-rest/process-definition/count", "", nil, "X-Forwarded-For", "192.0.2.200", "Authorization", basic("user_acme", "guess")); r.status != http.StatusTooManyRequests {
		t.Fatalf("a forged X-Forwarded-For escaped the limit: %d", r.status)
	}
}

func TestConsoleLoginRefusesWhatAnotherSiteCouldSend(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme")
	body := `{"login":"admin_acme","password":"correct horse"}`
	for _, c := range []struct {
		name   string
		header []string
		want   int
	}{
		{"a form's text/plain", []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{"a form's urlencoded", []string{"Content-Type", "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"no content type", nil, http.StatusUnsupportedMediaType},
		{"a cross-site fetch", []string{"Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"another origin", []string{"Content-Type", "application/json", "Origin", "https://evil.example"}, http.StatusForbidden},
	} {
		r := a.raw("POST", "/console/api/login", "", strings.NewReader(body), c.header...)
		if r.status != c.want || len((&http.Response{Header: r.header}).Cookies()) != 0 {
			t.Errorf("%s: %d %s, want %d and no cookie", c.name, r.status, r.body, c.want)
		}
	}
	if r := a.raw("POST", "/console/api/login", "", strings.NewReader(body), "Content-Type", "application/json", "Sec-Fetch-Site", "same-origin"); r.status != http.StatusOK {
		t.Fatalf("the console's own login: %d %s", r.status, r.body)
	}
}

func TestBodiesAreBoundedPerRoute(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme")
	big := `{"login":"` + strings.Repeat("x", 5000) + `","password":"p"}`
	if r := a.raw("POST", "/console/api/login", "", strings.NewReader(big), "Content-Type", "application/json"); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 5 kB login: %d %s", r.status, r.body)
	}
	huge := bytes.Repeat([]byte(" "), 5<<20)
	if r := a.raw("POST", "/engine-rest/task", "reader_acme", bytes.NewReader(huge), "Content-Type", "application/json"); r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 5 MB task query: %d %s", r.status, r.body)
	}
}

func TestASlowBodyIsCutOff(t *testing.T) {
	a := newAPIWith(t, dstest.SQLite, func(o *Options) { o.Limits.ReadTimeout = 300 * time.Millisecond }, "acme")
	conn, err := net.Dial("tcp", a.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /engine-rest/task HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", basic("reader_acme", password))
	// The client sends nothing more. The server must give up on it rather
	// than hold the connection (and a goroutine) for as long as it likes.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server still holds a stalled body after 30 s (read %q)", got)
	}
}

func TestMetricsAreNotPublic(t *testing.T) {
	a := newAPIWith(t, dstest.SQLite, func(o *Options) { o.MetricsToken = "scrape-secret" }, "acme")
	if r := a.do("GET", "/metrics", "", nil); r.status != http.StatusUnauthorized || strings.Contains(string(r.body), "tenantflow_") {
		t.Fatalf("anonymous /metrics: %d", r.status)
	}
	if r := a.do("GET", "/metrics", "admin_acme", nil); r.status != http.StatusForbidden {
		t.Fatalf("a tenant admin's /metrics: %d", r.status)
	}
	if r := a.do("GET", "/metrics", "boss", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), "tenantflow_password_checks_total") {
		t.Fatalf("the tenant manager's /metrics: %d", r.status)
	}
	if r := a.do("GET", "/metrics", "", nil, "Authorization", "Bearer scrape-secret"); r.status != http.StatusOK {
		t.Fatalf("/metrics with the metrics token: %d", r.status)
	}
	if r := a.do("GET", "/metrics", "", nil, "Authorization", "Bearer scrape-guess"); r.status != http.StatusUnauthorized {
		t.Fatalf("/metrics with a wrong token: %d", r.status)
	}
}

func TestFetchAndLockIsCappedInTasksAndWait(t *testing.T) {
	a := newAPIWith(t, dstest.SQLite, func(o *Options) { o.Limits.MaxTasks = 2; o.MaxLongPoll = time.Millisecond }, "acme")
	a.deploy("admin_acme", "smoke.bpmn")
	for range 3 {
		if r := a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_acme", map[string]any{}); r.status != 200 {
			t.Fatalf("start: %d %s", r.status, r.body)
		}
	}
	r := a.do("POST", "/engine-rest/external-task/fetchAndLock", "user_acme", map[string]any{"workerId": "w", "maxTasks": 1_000_000,
		"asyncResponseTimeout": 3_600_000, "topics": []any{map[string]any{"topicName": "work", "lockDuration": 60000}}})
	var got []map[string]any
	r.json(t, &got)
	if r.status != 200 || len(got) != 2 {
		t.Fatalf("maxTasks 1,000,000 locked %d tasks (%d), want the cap of 2", len(got), r.status)
	}
	// An hour's wait is cut to the cap and answers with what there is.
	r = a.do("POST", "/engine-rest/external-task/fetchAndLock", "user_acme", map[string]any{"workerId": "w2", "maxTasks": 5,
		"asyncResponseTimeout": 3_600_000, "topics": []any{map[string]any{"topicName": "nothing", "lockDuration": 60000}}})
	if r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" {
		t.Fatalf("an hour's long poll: %d %s", r.status, r.body)
	}
}

// stream opens the event stream as login and returns its response; the
// caller closes the body.
func (a *api) stream(ctx context.Context, login string) *http.Response {
	a.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.http.URL+"/engine-rest/events", nil)
	req.SetBasicAuth(login, password)
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp
}

func TestEventStreamsAreCappedPerUserAndTenant(t *testing.T) {
	a := newAPIWith(t, dstest.SQLite, func(o *Options) { o.Limits.MaxStreamsPerUser = 2; o.Limits.MaxStreamsPerTenant = 3 }, "acme")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 {
		resp := a.stream(ctx, "reader_acme")
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("stream: %d", resp.StatusCode)
		}
	}
	resp := a.stream(ctx, "reader_acme")
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a third stream of one user: %d", resp.StatusCode)
	}
	resp = a.stream(ctx, "user_acme")
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("another user's first stream: %d", resp.StatusCode)
	}
	resp = a.stream(ctx, "admin_acme")
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a fourth stream of the tenant: %d", resp.StatusCode)
	}
}

func TestWaitingLongPollsAreCappedPerUser(t *testing.T) {
	a := newAPIWith(t, dstest.SQLite, func(o *Options) { o.Limits.MaxPollsPerUser = 1 }, "acme")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	poll := func(ctx context.Context, worker string) *http.Response {
		b := fmt.Sprintf(`{"workerId":%q,"asyncResponseTimeout":60000,"topics":[{"topicName":"work","lockDuration":1000}]}`, worker)
		req, _ := http.NewRequestWithContext(ctx, "POST", a.http.URL+"/engine-rest/external-task/fetchAndLock", strings.NewReader(b))
		req.SetBasicAuth("user_acme", password)
		req.Header.Set("Content-Type", "application/json")
		resp, err := a.client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				t.Error(err)
			}
			return nil
		}
		return resp
	}
	go func() {
		if resp := poll(ctx, "w1"); resp != nil {
			resp.Body.Close()
		}
	}()
	a.waitForPoller("w1")
	resp := poll(context.Background(), "w2")
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second waiting poll of one user: %d", resp.StatusCode)
	}
}

func TestARemovedMembersOpenStreamEnds(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp := a.stream(ctx, "reader_acme")
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	if r := a.do("DELETE", "/admin/api/tenants/acme/members/reader_acme", "boss", nil); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	sc := bufio.NewScanner(resp.Body)
	ended := false
	for sc.Scan() {
		if sc.Text() == "event: access-ended" {
			ended = true
		}
	}
	if ctx.Err() != nil || !ended {
		t.Fatalf("the stream of a removed member stayed open (ended %v, %v)", ended, ctx.Err())
	}
	// A new stream is refused outright.
	resp = a.stream(context.Background(), "reader_acme")
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a removed member's new stream: %d", resp.StatusCode)
	}
}

func TestAStaleCookieSignsNobodyIn(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme")
	cookie := func(c *http.Cookie) string { return c.Name + "=" + c.Value }
	read := func(c *http.Cookie) int {
		return a.do("GET", "/engine-rest/process-definition", "", nil, "Cookie", cookie(c)).status
	}
	t.Run("after logout", func(t *testing.T) {
		c, csrf := a.consoleLogin("admin_acme")
		if got := read(c); got != http.StatusOK {
			t.Fatalf("with the session: %d", got)
		}
		a.do("POST", "/console/api/logout", "", nil, "Cookie", cookie(c), csrfHeader, csrf)
		// A copy of the cookie kept by someone else is worth nothing now.
		if got := read(c); got != http.StatusUnauthorized {
			t.Fatalf("a cookie replayed after logout: %d", got)
		}
	})
	t.Run("after a password change", func(t *testing.T) {
		c, _ := a.consoleLogin("user_acme")
		pw := "another horse"
		if r := a.do("PATCH", "/admin/api/users/user_acme", "boss", map[string]any{"password": pw, "reason": "forgotten"}); r.status != http.StatusNoContent {
			t.Fatalf("password change: %d %s", r.status, r.body)
		}
		if got := read(c); got != http.StatusUnauthorized {
			t.Fatalf("a session from before the password change: %d", got)
		}
	})
	t.Run("after the user is deleted", func(t *testing.T) {
		c, _ := a.consoleLogin("reader_acme")
		if r := a.do("DELETE", "/admin/api/users/reader_acme", "boss", nil); r.status != http.StatusNoContent {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
		if got := read(c); got != http.StatusUnauthorized {
			t.Fatalf("a deleted user's session: %d", got)
		}
	})
}

const candidateTaskBPMN = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://tenantflow.dev/test">
  <bpmn:process id="review" isExecutable="true">
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <bpmn:userTask id="t" name="Review" camunda:candidateUsers="user_acme" camunda:candidateGroups="clerks"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>`

func TestUsersWorkOnTasksOnlyAsThemselves(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme")
	ctx := context.Background()
	p := a.env.Sources.Primary
	for _, login := range []string{"clerk_acme", "outsider_acme"} {
		u, err := p.CreateUser(ctx, &datasource.CreateUserParams{Login: login, Password: password})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Grant(ctx, u.ID, "acme", security.RoleUser); err != nil {
			t.Fatal(err)
		}
	}
	if r := a.do("POST", "/engine-rest/group/create", "admin_acme", map[string]any{"id": "clerks"}); r.status/100 != 2 {
		t.Fatalf("group: %d %s", r.status, r.body)
	}
	if r := a.do("PUT", "/engine-rest/group/clerks/members/clerk_acme", "admin_acme", nil); r.status/100 != 2 {
		t.Fatalf("group member: %d %s", r.status, r.body)
	}
	file := t.TempDir() + "/review.bpmn"
	if err := os.WriteFile(file, []byte(candidateTaskBPMN), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := a.deployFile("admin_acme", file); r.status != 200 {
		t.Fatalf("deploy: %d %s", r.status, r.body)
	}
	newTask := func() string {
		t.Helper()
		var inst map[string]any
		a.do("POST", "/engine-rest/process-definition/key/review/start", "user_acme", map[string]any{}).json(t, &inst)
		var tasks []map[string]any
		a.do("GET", "/engine-rest/task?processInstanceId="+inst["id"].(string), "reader_acme", nil).json(t, &tasks)
		if len(tasks) != 1 {
			t.Fatalf("tasks: %v", tasks)
		}
		return tasks[0]["id"].(string)
	}
	expect := func(what string, r res, want int) {
		t.Helper()
		if r.status != want {
			t.Fatalf("%s: %d %s, want %d", what, r.status, r.body, want)
		}
	}
	task := newTask()
	expect("claiming for someone else", a.do("POST", "/engine-rest/task/"+task+"/claim", "user_acme", map[string]any{"userId": "clerk_acme"}), http.StatusForbidden)
	expect("completing an unassigned task one is no candidate for", a.do("POST", "/engine-rest/task/"+task+"/complete", "outsider_acme", map[string]any{}), http.StatusForbidden)
	expect("claiming for oneself", a.do("POST", "/engine-rest/task/"+task+"/claim", "user_acme", map[string]any{"userId": "user_acme"}), http.StatusNoContent)
	expect("completing someone else's task", a.do("POST", "/engine-rest/task/"+task+"/complete", "clerk_acme", map[string]any{}), http.StatusForbidden)
	expect("unclaiming someone else's task", a.do("POST", "/engine-rest/task/"+task+"/unclaim", "clerk_acme", nil), http.StatusForbidden)
	expect("taking someone else's task", a.do("POST", "/engine-rest/task/"+task+"/assignee", "clerk_acme", map[string]any{"userId": "clerk_acme"}), http.StatusForbidden)
	expect("completing one's own task", a.do("POST", "/engine-rest/task/"+task+"/complete", "user_acme", map[string]any{}), http.StatusNoContent)

	task = newTask()
	expect("a candidate group's member completing an unassigned task", a.do("POST", "/engine-rest/task/"+task+"/complete", "clerk_acme", map[string]any{}), http.StatusNoContent)

	task = newTask()
	expect("an admin assigning to someone", a.do("POST", "/engine-rest/task/"+task+"/claim", "admin_acme", map[string]any{"userId": "outsider_acme"}), http.StatusNoContent)
	expect("an admin completing someone else's task", a.do("POST", "/engine-rest/task/"+task+"/complete", "admin_acme", map[string]any{}), http.StatusNoContent)
}

func TestTenantAdminsCannotLearnWhichLoginsOtherTenantsUse(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme", "globex")
	create := func(login string) res {
		return a.do("POST", "/engine-rest/user/create", "admin_acme", map[string]any{"profile": map[string]any{"id": login},
			"credentials": map[string]any{"password": "long enough password"}})
	}
	elsewhere, here := create("admin_globex"), create("user_acme")
	same := func(r res, login string) string { return strings.ReplaceAll(string(r.body), login, "LOGIN") }
	if elsewhere.status != http.StatusBadRequest || same(elsewhere, "admin_globex") != same(here, "user_acme") ||
		strings.Contains(string(elsewhere.body), "exist") {
		t.Fatalf("a login of another tenant: %d %s; of this tenant: %d %s", elsewhere.status, elsewhere.body, here.status, here.body)
	}
	// Probing is slow: a burst of unavailable logins is cut off after ten,
	// and then a tenant earns one answer every six seconds. Each probe
	// hashes a password, so on a slow machine the bucket refills during
	// the burst: count the answers against what the elapsed time allows.
	start, answered, limited := time.Now(), 1, 0 // the probe above was answered
	for range 20 {
		switch r := create("admin_globex"); { // the same taken login again and again
		case r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") != "":
			limited++
		case r.status == http.StatusBadRequest:
			answered++
		default:
			t.Fatalf("a probe: %d %s", r.status, r.body)
		}
	}
	if allowed := 10 + int(time.Since(start)/(6*time.Second)) + 1; limited == 0 || answered > allowed {
		t.Fatalf("21 probes in %v: %d answered (at most %d allowed), %d refused", time.Since(start), answered, allowed, limited)
	}
}

func TestImpersonationIsExplicitTimeLimitedAndAudited(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme")
	if r := a.do("POST", "/admin/api/users/user_acme/tokens", "boss", map[string]any{"name": "support"}); r.status != http.StatusBadRequest {
		t.Fatalf("a token for a member without a reason: %d %s", r.status, r.body)
	}
	if r := a.do("POST", "/admin/api/users/user_acme/tokens", "boss", map[string]any{"name": "support", "reason": "ticket 42", "expiresIn": "720h"}); r.status != http.StatusBadRequest {
		t.Fatalf("a month-long impersonation: %d %s", r.status, r.body)
	}
	if r := a.do("PATCH", "/admin/api/users/user_acme", "boss", map[string]any{"password": "taken over"}); r.status != http.StatusBadRequest {
		t.Fatalf("a member's password set without a reason: %d %s", r.status, r.body)
	}
	r := a.do("POST", "/admin/api/users/user_acme/tokens", "boss", map[string]any{"name": "support", "reason": "ticket 42"})
	var tok struct {
		Token     string `json:"token"`
		TokenInfo struct {
			ExpiresAt time.Time `json:"expiresAt"`
			CreatedBy string    `json:"createdBy"`
		} `json:"tokenInfo"`
	}
	r.json(t, &tok)
	if r.status != http.StatusCreated || tok.TokenInfo.ExpiresAt.IsZero() || time.Until(tok.TokenInfo.ExpiresAt) > time.Hour {
		t.Fatalf("an impersonation token: %d %s", r.status, r.body)
	}
	a.deploy("admin_acme", "smoke.bpmn")
	if r := a.do("POST", "/engine-rest/process-instance/1/variables", "", map[string]any{}, "Authorization", "Bearer "+tok.Token); r.status == http.StatusUnauthorized {
		t.Fatalf("the token: %d", r.status)
	}
	var inst map[string]any
	a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_acme", map[string]any{}).json(t, &inst)
	if r := a.do("PUT", "/engine-rest/process-instance/"+inst["id"].(string)+"/variables/x", "", map[string]any{"value": 1, "type": "Integer"},
		"Authorization", "Bearer "+tok.Token); r.status != http.StatusNoContent {
		t.Fatalf("a change with the token: %d %s", r.status, r.body)
	}
	var log []userOperationDTO
	a.do("GET", "/engine-rest/history/user-operation?sortBy=timestamp&sortOrder=asc", "admin_acme", nil).json(t, &log)
	var minted, acted bool
	for _, e := range log {
		if e.EntityType == "Token" && e.OperationType == "Create" && e.UserID == "boss" && e.ActorKind == "tenant-manager" &&
			e.Annotation != nil && *e.Annotation == "ticket 42" && e.EntityID != nil && *e.EntityID == "user_acme" {
			minted = true
		}
		if e.OperationType == "SetVariable" && e.UserID == "user_acme" && e.Annotation != nil && strings.Contains(*e.Annotation, "boss") {
			acted = true
		}
	}
	if !minted || !acted {
		t.Fatalf("acme's audit log does not show the impersonation (minted %v, acted %v): %+v", minted, acted, log)
	}
}

func TestTheAuditLogSaysWhoDidWhatWhenAndFromWhere(t *testing.T) {
	a := newAPI(t, dstest.SQLite, "acme", "globex")
	a.deploy("admin_acme", "smoke.bpmn")
	file := t.TempDir() + "/review.bpmn"
	if err := os.WriteFile(file, []byte(candidateTaskBPMN), 0o600); err != nil {
		t.Fatal(err)
	}
	a.deployFile("admin_acme", file)
	var inst map[string]any
	a.do("POST", "/engine-rest/process-definition/key/review/start", "user_acme", map[string]any{}).json(t, &inst)
	var tasks []map[string]any
	a.do("GET", "/engine-rest/task?processInstanceId="+inst["id"].(string), "reader_acme", nil).json(t, &tasks)
	task := tasks[0]["id"].(string)
	a.do("POST", "/engine-rest/task/"+task+"/claim", "user_acme", map[string]any{"userId": "user_acme"})
	a.do("POST", "/engine-rest/task/"+task+"/complete", "user_acme", map[string]any{})
	a.do("PUT", "/admin/api/tenants/acme/members/reader_globex", "boss", map[string]any{"role": "reader"})

	if r := a.do("GET", "/engine-rest/history/user-operation", "reader_acme", nil); r.status != http.StatusForbidden {
		t.Fatalf("a reader reads the audit log: %d", r.status)
	}
	var log []userOperationDTO
	r := a.do("GET", "/engine-rest/history/user-operation?sortBy=timestamp&sortOrder=asc", "admin_acme", nil)
	r.json(t, &log)
	var ops []string
	for _, e := range log {
		if e.TenantID == nil || *e.TenantID != "acme" || e.Address == "" || time.Since(time.Time(e.Timestamp)) > time.Hour {
			t.Fatalf("entry without its tenant, address or time: %+v", e)
		}
		ops = append(ops, e.UserID+" "+e.OperationType+" "+e.EntityType)
		if e.OperationType == "Claim" && (e.TaskID == nil || *e.TaskID != task || e.NewValue == nil || *e.NewValue != "user_acme" ||
			e.ProcessInstanceID != nil && *e.ProcessInstanceID != inst["id"]) {
			t.Fatalf("claim entry: %+v", e)
		}
	}
	want := []string{"admin_acme Create Deployment", "admin_acme Create Deployment", "user_acme Claim Task", "user_acme Complete Task", "boss Create TenantMembership"}
	if strings.Join(ops, "; ") != strings.Join(want, "; ") {
		t.Fatalf("acme's audit log:\n got %v\nwant %v", ops, want)
	}
	var n countBody
	a.do("GET", "/engine-rest/history/user-operation/count?operationType=Claim", "admin_acme", nil).json(t, &n)
	if n.Count != 1 {
		t.Fatalf("count of claims: %d", n.Count)
	}
	// Another tenant sees nothing of it; the tenant manager sees it all.
	a.do("GET", "/engine-rest/history/user-operation", "admin_globex", nil).json(t, &log)
	if len(log) != 0 {
		t.Fatalf("globex sees acme's log: %+v", log)
	}
	a.do("GET", "/admin/api/audit?tenant=acme", "boss", nil).json(t, &log)
	if len(log) != len(want) {
		t.Fatalf("the tenant manager's view of acme: %d entries", len(log))
	}
}

func TestEveryAuditedRouteExistsAndEveryChangeIsAudited(t *testing.T) {
	a := newAPI(t, dstest.SQLite)
	routes := map[string]bool{}
	for _, rt := range a.srv.routes {
		key := rt.method + " " + rt.path
		routes[key] = true
		// Reads record nothing; every change records something, except
		// the work of external-task workers (their own history is the
		// engine's) and the message and start calls that create history.
		change := rt.method != "GET" && !strings.HasPrefix(rt.path, "/external-task/") && rt.path != "/message" &&
			!strings.HasSuffix(rt.path, "/start") && !strings.HasSuffix(rt.path, "/count") &&
			rt.path != "/task" && rt.path != "/process-instance" && rt.path != "/external-task"
		if change && rt.audit == nil {
			t.Errorf("%s changes something but records nothing in the audit log", key)
		}
	}
	for key := range auditSpecs {
		if !routes[key] {
			t.Errorf("auditSpecs names %s, which is no route", key)
		}
	}
}

// setQuotas sets a tenant's quotas as the tenant manager.
func (a *api) setQuotas(tenant string, q map[string]any) {
	a.t.Helper()
	if r := a.do("PATCH", "/admin/api/tenants/"+tenant, "boss", map[string]any{"quotas": q}); r.status != http.StatusOK {
		a.t.Fatalf("quotas of %s: %d %s", tenant, r.status, r.body)
	}
}

func TestATenantOverItsQuotasIsRefusedAndOthersAreNot(t *testing.T) {
	// The job executor's figure, as serve wires it (jobexec tests the pacing).
	throttled := map[string]int64{"acme": 3}
	a := newAPIWith(t, dstest.SQLite, func(o *Options) {
		o.JobsThrottled = func(tenant string) int64 { return throttled[tenant] }
	}, "acme", "globex")
	a.deploy("admin_acme", "smoke.bpmn")
	a.deploy("admin_globex", "smoke.bpmn")

	t.Run("request rate", func(t *testing.T) {
		// One request per 100 s, two at once: the third in a row is over.
		a.setQuotas("acme", map[string]any{"requestsPerSecond": 0.01, "burst": 2})
		var last res
		for range 3 {
			last = a.do("GET", "/engine-rest/process-definition/count", "reader_acme", nil)
		}
		if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" || !strings.Contains(string(last.body), "request rate") {
			t.Fatalf("acme over its rate: %d %s", last.status, last.body)
		}
		for range 5 {
			if r := a.do("GET", "/engine-rest/process-definition/count", "reader_globex", nil); r.status != http.StatusOK {
				t.Fatalf("globex while acme is over its rate: %d", r.status)
			}
		}
		r := a.do("GET", "/metrics", "boss", nil)
		if !strings.Contains(string(r.body), `tenantflow_quota_refusals_total{quota="rate",tenant="acme"} 1`) {
			t.Fatalf("/metrics does not count acme's refusal:\n%s", r.body)
		}
		a.setQuotas("acme", map[string]any{})
	})

	t.Run("running instances", func(t *testing.T) {
		a.setQuotas("acme", map[string]any{"maxRunningInstances": 1})
		if r := a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_acme", map[string]any{}); r.status != http.StatusOK {
			t.Fatalf("the first instance: %d %s", r.status, r.body)
		}
		if r := a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_acme", map[string]any{}); r.status != http.StatusTooManyRequests ||
			!strings.Contains(string(r.body), "running process instances") {
			t.Fatalf("an instance over the quota: %d %s", r.status, r.body)
		}
		if r := a.do("POST", "/engine-rest/process-definition/key/smoke/start", "user_globex", map[string]any{}); r.status != http.StatusOK {
			t.Fatalf("globex's instance: %d %s", r.status, r.body)
		}
		a.setQuotas("acme", map[string]any{})
	})

	t.Run("storage", func(t *testing.T) {
		a.setQuotas("acme", map[string]any{"maxStorageBytes": 1})
		if r := a.deploy("admin_acme", "smoke.bpmn"); r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "bytes") {
			t.Fatalf("a deployment over the storage quota: %d %s", r.status, r.body)
		}
		var st tenantStats
		a.do("GET", "/admin/api/tenants/acme/stats", "boss", nil).json(t, &st)
		if st.StorageBytes <= 0 || st.Quota.StorageRefused != 1 || st.Quotas.MaxStorageBytes != 1 {
			t.Fatalf("acme's stats: %+v", st)
		}
		a.setQuotas("acme", map[string]any{})
	})

	t.Run("jobs per second", func(t *testing.T) {
		if r := a.do("PATCH", "/admin/api/tenants/acme", "boss", map[string]any{"quotas": map[string]any{"jobsPerSecond": -1}}); r.status != http.StatusBadRequest {
			t.Fatalf("a negative jobsPerSecond: %d %s", r.status, r.body)
		}
		a.setQuotas("acme", map[string]any{"jobsPerSecond": 2.5})
		var st tenantStats
		a.do("GET", "/admin/api/tenants/acme/stats", "boss", nil).json(t, &st)
		if st.Quotas.JobsPerSecond != 2.5 || st.Quota.JobsThrottled != 3 {
			t.Fatalf("acme's stats: %+v", st)
		}
		var other tenantStats
		a.do("GET", "/admin/api/tenants/globex/stats", "boss", nil).json(t, &other)
		if other.Quotas.JobsPerSecond != 0 || other.Quota.JobsThrottled != 0 {
			t.Fatalf("globex's stats: %+v", other)
		}
		a.setQuotas("acme", map[string]any{})
	})

	t.Run("streams", func(t *testing.T) {
		a.setQuotas("acme", map[string]any{"maxStreams": 1})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		first := a.stream(ctx, "reader_acme")
		defer first.Body.Close()
		second := a.stream(ctx, "user_acme")
		second.Body.Close()
		if first.StatusCode != 200 || second.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("streams under a quota of 1: %d, %d", first.StatusCode, second.StatusCode)
		}
	})
}
