//go:build security

// Security tests (make test-security): the real tenantflow binary, over
// PostgreSQL, attacked over HTTP the ways the security review found
// possible. Each attack prints what was tried and what came of it; the run
// fails if any attack succeeds.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource/dstest"
)

const (
	secAdminPassword = "security-admin-password"
	secPassword      = "member password 1"
)

// target is one running node.
type target struct {
	t       *testing.T
	url     string
	primary string
	client  *http.Client
	log     *bytes.Buffer
}

// startTarget starts the binary named by TENANTFLOW_BINARY (make
// test-security builds it), or this test binary acting as the command.
func startTarget(t *testing.T) *target {
	t.Helper()
	exe := os.Getenv("TENANTFLOW_BINARY")
	env := os.Environ()
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
		env = append(env, "TENANTFLOW_TEST_AS_MAIN=1")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var key [32]byte
	_, _ = rand.Read(key[:])
	primary := dstest.CreateDatabase(t)
	cmd := exec.Command(exe, "serve")
	cmd.Env = append(env, "TENANTFLOW_ADDR="+addr, "TENANTFLOW_LOG_LEVEL=warn",
		"TENANTFLOW_PRIMARY_URL="+primary, "TENANTFLOW_DATA_DIR="+t.TempDir(),
		"TENANTFLOW_ADMIN_PASSWORD="+secAdminPassword, "TENANTFLOW_MASTER_KEY="+base64.StdEncoding.EncodeToString(key[:]),
		// The attacker and the victims are told apart by the address a
		// trusted proxy (this machine) forwards, as behind a real one.
		"TENANTFLOW_TRUSTED_PROXIES=127.0.0.1", "TENANTFLOW_HTTP_READ_TIMEOUT=2s", "TENANTFLOW_DRAIN_WAIT=1ms")
	tg := &target{t: t, url: "http://" + addr, primary: primary, client: &http.Client{Timeout: 60 * time.Second}, log: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: tg.log}, &lockedWriter{w: tg.log}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.After(60 * time.Second)
	for {
		if resp, err := http.Get(tg.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return tg
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("tenantflow exited before it was ready (%v):\n%s", err, tg.log)
		case <-deadline:
			t.Fatalf("tenantflow not ready after 60 s:\n%s", tg.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// call is one request: as login (password secPassword, or the admin's),
// from client address from, with a JSON body.
type call struct {
	method, path, login, password, from string
	body                                any
	raw                                 io.Reader
	header                              []string
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (tg *target) do(c call) answer {
	tg.t.Helper()
	var rd io.Reader = c.raw
	if c.body != nil {
		b, _ := json.Marshal(c.body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(c.method, tg.url+c.path, rd)
	if err != nil {
		tg.t.Fatal(err)
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.login != "" {
		pw := c.password
		if pw == "" {
			pw = secPassword
			if c.login == "admin" {
				pw = secAdminPassword
			}
		}
		req.SetBasicAuth(c.login, pw)
	}
	from := c.from
	if from == "" {
		from = "198.51.100.1"
	}
	req.Header.Set("X-Forwarded-For", from)
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	resp, err := tg.client.Do(req)
	if err != nil {
		tg.t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func (tg *target) must(c call, want int) answer {
	tg.t.Helper()
	a := tg.do(c)
	if a.status != want {
		tg.t.Fatalf("setup %s %s as %q: %d %s, want %d", c.method, c.path, c.login, a.status, a.body, want)
	}
	return a
}

// attack reports one attack: what it is, what was tried, what came of it.
// held is false when the attack succeeded.
type attack struct {
	name, tried, outcome string
	held                 bool
}

var (
	attacksMu sync.Mutex
	attacks   []attack
)

func report(t *testing.T, a attack) {
	t.Helper()
	attacksMu.Lock()
	attacks = append(attacks, a)
	attacksMu.Unlock()
	verdict := "FAILED (the defence held)"
	if !a.held {
		verdict = "SUCCEEDED (a weakness)"
	}
	t.Logf("\n== attack: %s\n   tried:   %s\n   outcome: %s\n   attack %s", a.name, a.tried, a.outcome, verdict)
	if !a.held {
		t.Errorf("attack %q succeeded: %s", a.name, a.outcome)
	}
}

const reviewBPMN = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://tenantflow.dev/sec">
  <bpmn:process id="review" isExecutable="true">
    <bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <bpmn:userTask id="t" name="Review" camunda:candidateUsers="user_acme"/>
    <bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="w"/>
    <bpmn:serviceTask id="w" camunda:type="external" camunda:topic="work"/>
    <bpmn:sequenceFlow id="f3" sourceRef="w" targetRef="e"/><bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>`

// setup creates tenants acme and globex, each with an admin, a user and a
// reader, and deploys the review process to both.
func setup(t *testing.T) *target {
	tg := startTarget(t)
	for _, tn := range []string{"acme", "globex"} {
		tg.must(call{method: "POST", path: "/admin/api/tenants", login: "admin", body: map[string]any{"id": tn}}, http.StatusCreated)
		for _, role := range []string{"admin", "user", "reader"} {
			tg.must(call{method: "POST", path: "/admin/api/users", login: "admin", body: map[string]any{"login": role + "_" + tn,
				"password": secPassword, "tenant": tn, "role": role}}, http.StatusCreated)
		}
		var buf bytes.Buffer
		buf.WriteString("--b\r\nContent-Disposition: form-data; name=\"deployment-name\"\r\n\r\nreview\r\n")
		buf.WriteString("--b\r\nContent-Disposition: form-data; name=\"data\"; filename=\"review.bpmn\"\r\n\r\n" + reviewBPMN + "\r\n--b--\r\n")
		tg.must(call{method: "POST", path: "/engine-rest/deployment/create", login: "admin_" + tn, raw: &buf,
			header: []string{"Content-Type", "multipart/form-data; boundary=b"}}, http.StatusOK)
	}
	return tg
}

// startReview starts an instance in a tenant and returns its task's ID.
func (tg *target) startReview(tenant string) (instance, task string) {
	tg.t.Helper()
	var inst map[string]any
	json.Unmarshal([]byte(tg.must(call{method: "POST", path: "/engine-rest/process-definition/key/review/start", login: "user_" + tenant, body: map[string]any{}}, 200).body), &inst)
	var tasks []map[string]any
	json.Unmarshal([]byte(tg.must(call{method: "GET", path: "/engine-rest/task?processInstanceId=" + inst["id"].(string), login: "reader_" + tenant}, 200).body), &tasks)
	if len(tasks) != 1 {
		tg.t.Fatalf("tasks of a new instance: %v", tasks)
	}
	return inst["id"].(string), tasks[0]["id"].(string)
}

func (tg *target) bcryptRuns() int {
	tg.t.Helper()
	a := tg.must(call{method: "GET", path: "/metrics", login: "admin", from: "192.0.2.250"}, 200)
	for line := range strings.Lines(a.body) {
		if v, ok := strings.CutPrefix(line, "tenantflow_password_checks_total "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	tg.t.Fatal("no tenantflow_password_checks_total in /metrics")
	return 0
}

func TestAttacks(t *testing.T) {
	tg := setup(t)
	t.Cleanup(func() {
		held := 0
		for _, a := range attacks {
			if a.held {
				held++
			}
		}
		t.Logf("\n%d attacks tried; %d failed, %d succeeded", len(attacks), held, len(attacks)-held)
	})

	t.Run("lockout by anyone", func(t *testing.T) {
		codes := map[int]int{}
		for range 60 {
			codes[tg.do(call{method: "GET", path: "/engine-rest/process-definition/count", login: "user_acme", password: "guess", from: "203.0.113.66"}).status]++
		}
		owner := tg.do(call{method: "GET", path: "/engine-rest/process-definition/count", login: "user_acme", from: "198.51.100.7"})
		report(t, attack{name: "lock a user out by failing their login",
			tried:   fmt.Sprintf("60 wrong passwords for user_acme from 203.0.113.66 (answers %v), then the real user from 198.51.100.7", codes),
			outcome: fmt.Sprintf("the real user got %d", owner.status), held: owner.status == 200 && codes[429] > 0})
	})

	t.Run("parallel guess burst", func(t *testing.T) {
		before := tg.bcryptRuns()
		const n = 300
		var wg sync.WaitGroup
		var refused, checked atomic.Int64
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := tg.do(call{method: "GET", path: "/engine-rest/process-definition/count", login: "admin_acme", password: fmt.Sprintf("guess-%d", i), from: "203.0.113.77"})
				if a.status == 429 {
					refused.Add(1)
				} else if a.status == 401 {
					checked.Add(1)
				}
			}()
		}
		wg.Wait()
		runs := tg.bcryptRuns() - before
		report(t, attack{name: "a parallel burst of guesses",
			tried:   fmt.Sprintf("%d different passwords for admin_acme at once from one client", n),
			outcome: fmt.Sprintf("%d were checked (bcrypt ran %d times), %d refused with 429", checked.Load(), runs, refused.Load()),
			held:    runs <= 10 && checked.Load() <= 10})
	})

	t.Run("login enumeration", func(t *testing.T) {
		probe := func(login string, i int) (answer, time.Duration, int) {
			before := tg.bcryptRuns()
			t0 := time.Now()
			a := tg.do(call{method: "GET", path: "/engine-rest/process-definition/count", login: login, password: "wrong", from: fmt.Sprintf("203.0.113.%d", 100+i)})
			return a, time.Since(t0), tg.bcryptRuns() - before
		}
		var known, unknown []time.Duration
		same := true
		for i := range 8 {
			ak, dk, rk := probe("admin_globex", i)
			au, du, ru := probe("nobody_here", i+50)
			known, unknown = append(known, dk), append(unknown, du)
			same = same && ak.status == au.status && ak.body == au.body && rk == ru
		}
		median := func(d []time.Duration) time.Duration {
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			return d[len(d)/2]
		}
		// A tenant admin asks to create logins of other tenants.
		create := func(login string) answer {
			return tg.do(call{method: "POST", path: "/engine-rest/user/create", login: "admin_acme", body: map[string]any{
				"profile": map[string]any{"id": login}, "credentials": map[string]any{"password": "long enough password"}}})
		}
		other, mine := create("admin_globex"), create("user_acme")
		sameCreate := other.status == mine.status && strings.ReplaceAll(other.body, "admin_globex", "X") == strings.ReplaceAll(mine.body, "user_acme", "X")
		report(t, attack{name: "find out which logins exist",
			tried: "wrong passwords for an existing and an unknown login (8 each), and a tenant admin creating another tenant's login",
			outcome: fmt.Sprintf("same answers and bcrypt runs: %v (median %s vs %s); creating another tenant's login answers like this tenant's: %v (%d %s)",
				same, median(known).Round(time.Millisecond), median(unknown).Round(time.Millisecond), sameCreate, other.status, strings.TrimSpace(other.body)),
			held: same && sameCreate && !strings.Contains(other.body, "exist")})
	})

	t.Run("metrics are public", func(t *testing.T) {
		a := tg.do(call{method: "GET", path: "/metrics"})
		b := tg.do(call{method: "GET", path: "/metrics", login: "admin_acme"})
		report(t, attack{name: "read /metrics (busiest tenants, backlogs)", tried: "GET /metrics anonymously and as a tenant admin",
			outcome: fmt.Sprintf("%d and %d", a.status, b.status), held: a.status == 401 && b.status == 403})
	})

	t.Run("revoked member on an open stream", func(t *testing.T) {
		tg.must(call{method: "POST", path: "/admin/api/users", login: "admin", body: map[string]any{"login": "leaver_acme",
			"password": secPassword, "tenant": "acme", "role": "reader"}}, http.StatusCreated)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", tg.url+"/engine-rest/events", nil)
		req.SetBasicAuth("leaver_acme", secPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("stream: %v %v", resp, err)
		}
		defer resp.Body.Close()
		tg.must(call{method: "DELETE", path: "/admin/api/tenants/acme/members/leaver_acme", login: "admin"}, http.StatusNoContent)
		t0 := time.Now()
		ended := false
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			ended = ended || sc.Text() == "event: access-ended"
		}
		report(t, attack{name: "keep reading a tenant's events after being removed",
			tried:   "an event stream open as a reader, whose membership the tenant manager then revokes",
			outcome: fmt.Sprintf("the stream ended with access-ended: %v, %s after the revocation", ended, time.Since(t0).Round(time.Millisecond)),
			held:    ended && ctx.Err() == nil})
	})

	t.Run("stale cookie after logout", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
		req, _ := http.NewRequest("POST", tg.url+"/console/api/login", strings.NewReader(`{"login":"admin_acme","password":"`+secPassword+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("login: %v %v", resp, err)
		}
		var info struct {
			CSRFToken string `json:"csrfToken"`
		}
		json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
		cookie := resp.Cookies()[0]
		out, _ := http.NewRequest("POST", tg.url+"/console/api/logout", nil)
		out.Header.Set("X-CSRF-Token", info.CSRFToken)
		if r, err := c.Do(out); err == nil {
			r.Body.Close()
		}
		a := tg.do(call{method: "GET", path: "/engine-rest/process-definition", header: []string{"Cookie", cookie.Name + "=" + cookie.Value}})
		report(t, attack{name: "replay a console cookie after logout", tried: "sign in, keep a copy of the cookie, sign out, use the copy",
			outcome: fmt.Sprintf("%d", a.status), held: a.status == 401})
	})

	t.Run("oversized and slow bodies", func(t *testing.T) {
		big := tg.do(call{method: "POST", path: "/console/api/login", raw: bytes.NewReader(bytes.Repeat([]byte("x"), 5<<20)), header: []string{"Content-Type", "application/json"}})
		huge := tg.do(call{method: "POST", path: "/engine-rest/task", login: "reader_acme", raw: bytes.NewReader(bytes.Repeat([]byte(" "), 50<<20)), header: []string{"Content-Type", "application/json"}})
		conn, err := net.Dial("tcp", strings.TrimPrefix(tg.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /console/api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n{")
		t0 := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		_, rerr := io.ReadAll(conn)
		ne, timedOut := rerr.(net.Error)
		cut := !(timedOut && ne.Timeout())
		report(t, attack{name: "exhaust the server with bodies",
			tried:   "5 MB to the login, 50 MB to a task query, and a login body that stalls after one byte",
			outcome: fmt.Sprintf("%d, %d; the stalled connection was closed by the server: %v (after %s)", big.status, huge.status, cut, time.Since(t0).Round(100*time.Millisecond)),
			held:    big.status == 413 && huge.status == 413 && cut})
	})

	t.Run("stream and poll floods", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		streams := map[int]int{}
		for range 20 {
			req, _ := http.NewRequestWithContext(ctx, "GET", tg.url+"/engine-rest/events", nil)
			req.SetBasicAuth("reader_globex", secPassword)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			streams[resp.StatusCode]++
			if resp.StatusCode != 200 {
				resp.Body.Close()
			} else {
				defer resp.Body.Close()
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		polls := map[int]int{}
		pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
		defer pcancel()
		for i := range 80 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := fmt.Sprintf(`{"workerId":"w%d","asyncResponseTimeout":10000,"topics":[{"topicName":"none","lockDuration":1000}]}`, i)
				req, _ := http.NewRequestWithContext(pctx, "POST", tg.url+"/engine-rest/external-task/fetchAndLock", strings.NewReader(b))
				req.SetBasicAuth("user_globex", secPassword)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
				}
				resp.Body.Close()
				mu.Lock()
				polls[resp.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		report(t, attack{name: "flood a node with streams and long polls",
			tried:   "20 event streams and 80 waiting fetchAndLock requests of one user",
			outcome: fmt.Sprintf("streams answered %v, polls %v", streams, polls),
			held:    streams[200] == 5 && streams[429] == 15 && polls[429] >= 30})
	})

	t.Run("cross-tenant and cross-user task operations", func(t *testing.T) {
		_, acmeTask := tg.startReview("acme")
		viaHeader := tg.do(call{method: "POST", path: "/engine-rest/task/" + acmeTask + "/complete", login: "user_globex", body: map[string]any{}, header: []string{"X-Tenant-ID", "acme"}})
		viaPath := tg.do(call{method: "POST", path: "/engine-rest/engine/acme/task/" + acmeTask + "/complete", login: "user_globex", body: map[string]any{}})
		forOther := tg.do(call{method: "POST", path: "/engine-rest/task/" + acmeTask + "/claim", login: "reader_acme", body: map[string]any{"userId": "user_acme"}})
		tg.must(call{method: "POST", path: "/admin/api/users", login: "admin", body: map[string]any{"login": "other_acme",
			"password": secPassword, "tenant": "acme", "role": "user"}}, http.StatusCreated)
		claimOther := tg.do(call{method: "POST", path: "/engine-rest/task/" + acmeTask + "/claim", login: "other_acme", body: map[string]any{"userId": "user_acme"}})
		completeUnassigned := tg.do(call{method: "POST", path: "/engine-rest/task/" + acmeTask + "/complete", login: "other_acme", body: map[string]any{}})
		tg.must(call{method: "POST", path: "/engine-rest/task/" + acmeTask + "/claim", login: "user_acme", body: map[string]any{"userId": "user_acme"}}, 204)
		completeTheirs := tg.do(call{method: "POST", path: "/engine-rest/task/" + acmeTask + "/complete", login: "other_acme", body: map[string]any{}})
		state := tg.must(call{method: "GET", path: "/engine-rest/task/" + acmeTask, login: "reader_acme"}, 200)
		report(t, attack{name: "work on another tenant's or another user's task",
			tried: "globex's user completes acme's task (X-Tenant-ID, named engine); a reader and a non-candidate claim it for someone; a non-candidate completes it unassigned; then completes it once another user claimed it",
			outcome: fmt.Sprintf("%d, %d; %d, %d; %d; %d; the task is still open: %v", viaHeader.status, viaPath.status, forOther.status, claimOther.status,
				completeUnassigned.status, completeTheirs.status, strings.Contains(state.body, `"assignee":"user_acme"`)),
			held: viaHeader.status == 403 && viaPath.status == 403 && forOther.status == 403 && claimOther.status == 403 &&
				completeUnassigned.status == 403 && completeTheirs.status == 403})
	})

	t.Run("login CSRF", func(t *testing.T) {
		body := `{"login":"user_acme","password":"` + secPassword + `"}`
		form := tg.do(call{method: "POST", path: "/console/api/login", raw: strings.NewReader(body), header: []string{"Content-Type", "text/plain"}})
		cross := tg.do(call{method: "POST", path: "/console/api/login", raw: strings.NewReader(body), header: []string{"Content-Type", "application/json", "Origin", "https://evil.example"}})
		report(t, attack{name: "sign a visitor in to the attacker's account (login CSRF)",
			tried:   "a cross-site form post (text/plain) and a cross-origin JSON post to the console login",
			outcome: fmt.Sprintf("%d (cookie set: %v), %d (cookie set: %v)", form.status, form.header.Get("Set-Cookie") != "", cross.status, cross.header.Get("Set-Cookie") != ""),
			held:    form.status == 415 && cross.status == 403 && form.header.Get("Set-Cookie") == "" && cross.header.Get("Set-Cookie") == ""})
	})

	t.Run("impersonation", func(t *testing.T) {
		silent := tg.do(call{method: "POST", path: "/admin/api/users/user_acme/tokens", login: "admin", body: map[string]any{"name": "quiet"}})
		long := tg.do(call{method: "POST", path: "/admin/api/users/user_acme/tokens", login: "admin", body: map[string]any{"name": "quiet", "reason": "x", "expiresIn": "8760h"}})
		pw := tg.do(call{method: "PATCH", path: "/admin/api/users/user_acme", login: "admin", body: map[string]any{"password": "taken over now"}})
		report(t, attack{name: "the tenant manager acts as a member unseen",
			tried:   "mint a member's token without a reason, one for a year, and set the member's password without a reason",
			outcome: fmt.Sprintf("%d, %d, %d", silent.status, long.status, pw.status),
			held:    silent.status == 400 && long.status == 400 && pw.status == 400})
	})

	t.Run("DSN secrets and shared storage", func(t *testing.T) {
		db := dstest.DatabaseName(dstest.CreateDatabase(t))
		dsn := "host=127.0.0.1 port=5432 user=postgres dbname=" + db + " sslmode=disable password = 'two words'"
		created := tg.do(call{method: "POST", path: "/admin/api/tenants", login: "admin", body: map[string]any{"id": "dsn_one", "placement": "pg-dsn", "dsn": dsn}})
		twin := tg.do(call{method: "POST", path: "/admin/api/tenants", login: "admin", body: map[string]any{"id": "dsn_two", "placement": "pg-dsn",
			"dsn": "postgres://postgres@localhost/" + db + "?sslmode=disable"}})
		leaked := strings.Contains(created.body, "two words") || strings.Contains(tg.log.String(), "two words")
		pdb := dstest.OpenSQL(t, tg.primary)
		var stored, sealed string
		if err := pdb.QueryRow(`SELECT storage_dsn, storage_secret FROM tf_tenant WHERE id = 'dsn_one'`).Scan(&stored, &sealed); err != nil {
			t.Fatal(err)
		}
		inClear := strings.Contains(stored, "two words") || strings.Contains(sealed, "two words") || sealed == ""
		report(t, attack{name: "read a tenant's database password, or put a second tenant on its storage",
			tried:   "a pg-dsn tenant whose key=value DSN has \"password = 'two words'\"; then a second tenant on the same database",
			outcome: fmt.Sprintf("created %d; password in the answer or the log: %v; in clear in the primary: %v; the second tenant: %d %s", created.status, leaked, inClear, twin.status, strings.TrimSpace(twin.body)),
			held:    created.status == 201 && !leaked && !inClear && twin.status == 409})
	})
}
