package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// ---- scenarios ----

// scenario is one kind of load: a process and how a client drives one
// instance of it.
type scenario struct {
	name string
	// needsExecutor: instances finish through the job executor (timers).
	needsExecutor bool
	bpmn          func(timerDelay time.Duration) string
	// run drives one instance and returns its ID.
	run func(ctx context.Context, t benchTarget, tenant string, client int) (string, error)
	// drain, when set, completes what run left waiting (external tasks).
	drain func(ctx context.Context, t benchTarget, tenants []string, workers int, done func(tenant int)) (int, error)
}

const bpmnHead = `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="https://tenantflow.dev/bench">`

func startOnly(key string) func(context.Context, benchTarget, string, int) (string, error) {
	return func(ctx context.Context, t benchTarget, tenant string, _ int) (string, error) {
		id, _, err := t.start(ctx, tenant, key)
		return id, err
	}
}

var scenarios = map[string]*scenario{
	"straight": {name: "straight",
		bpmn: func(time.Duration) string {
			return bpmnHead + `<process id="bench_straight" isExecutable="true">
  <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
  <scriptTask id="work" scriptFormat="expression" camunda:resultVariable="r"><script>${1 + 1}</script></scriptTask>
  <sequenceFlow id="f2" sourceRef="work" targetRef="e"/><endEvent id="e"/>
</process></definitions>`
		},
		run: func(ctx context.Context, t benchTarget, tenant string, _ int) (string, error) {
			id, ended, err := t.start(ctx, tenant, "bench_straight")
			if err == nil && !ended {
				err = fmt.Errorf("instance %s of tenant %s did not run to its end", id, tenant)
			}
			return id, err
		}},
	"user-task": {name: "user-task",
		bpmn: func(time.Duration) string {
			return bpmnHead + `<process id="bench_user_task" isExecutable="true">
  <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="approve"/>
  <userTask id="approve" name="Approve"/><sequenceFlow id="f2" sourceRef="approve" targetRef="e"/><endEvent id="e"/>
</process></definitions>`
		},
		run: func(ctx context.Context, t benchTarget, tenant string, _ int) (string, error) {
			id, _, err := t.start(ctx, tenant, "bench_user_task")
			if err != nil {
				return "", err
			}
			tasks, err := t.tasks(ctx, tenant, id)
			if err != nil {
				return id, err
			}
			if len(tasks) != 1 {
				return id, fmt.Errorf("instance %s of tenant %s has %d open tasks, want 1", id, tenant, len(tasks))
			}
			return id, t.completeTask(ctx, tenant, tasks[0])
		}},
	"parallel": {name: "parallel",
		bpmn: func(time.Duration) string {
			return bpmnHead + `<process id="bench_parallel" isExecutable="true">
  <startEvent id="s"/><sequenceFlow id="f0" sourceRef="s" targetRef="fork"/>
  <parallelGateway id="fork"/>
  <sequenceFlow id="a1" sourceRef="fork" targetRef="a"/><scriptTask id="a" scriptFormat="expression" camunda:resultVariable="ra"><script>${1}</script></scriptTask><sequenceFlow id="a2" sourceRef="a" targetRef="join"/>
  <sequenceFlow id="b1" sourceRef="fork" targetRef="b"/><scriptTask id="b" scriptFormat="expression" camunda:resultVariable="rb"><script>${2}</script></scriptTask><sequenceFlow id="b2" sourceRef="b" targetRef="join"/>
  <sequenceFlow id="c1" sourceRef="fork" targetRef="c"/><scriptTask id="c" scriptFormat="expression" camunda:resultVariable="rc"><script>${3}</script></scriptTask><sequenceFlow id="c2" sourceRef="c" targetRef="join"/>
  <parallelGateway id="join"/><sequenceFlow id="f9" sourceRef="join" targetRef="e"/><endEvent id="e"/>
</process></definitions>`
		},
		run: func(ctx context.Context, t benchTarget, tenant string, _ int) (string, error) {
			id, ended, err := t.start(ctx, tenant, "bench_parallel")
			if err == nil && !ended {
				err = fmt.Errorf("instance %s of tenant %s did not join and end", id, tenant)
			}
			return id, err
		}},
	"timer": {name: "timer", needsExecutor: true,
		bpmn: func(d time.Duration) string {
			return bpmnHead + fmt.Sprintf(`<process id="bench_timer" isExecutable="true">
  <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
  <intermediateCatchEvent id="wait"><timerEventDefinition><timeDuration>PT%gS</timeDuration></timerEventDefinition></intermediateCatchEvent>
  <sequenceFlow id="f2" sourceRef="wait" targetRef="e"/><endEvent id="e"/>
</process></definitions>`, d.Seconds())
		},
		run: startOnly("bench_timer")},
	"external": {name: "external",
		bpmn: func(time.Duration) string {
			return bpmnHead + `<process id="bench_external" isExecutable="true">
  <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="work"/>
  <serviceTask id="work" camunda:type="external" camunda:topic="bench"/>
  <sequenceFlow id="f2" sourceRef="work" targetRef="e"/><endEvent id="e"/>
</process></definitions>`
		},
		run:   startOnly("bench_external"),
		drain: drainExternal},
}

// drainExternal runs workers that fetch and lock up to 10 tasks of a tenant
// at a time and complete them, going round the tenants, until no tenant has
// a task left.
func drainExternal(ctx context.Context, t benchTarget, tenants []string, workers int, done func(int)) (int, error) {
	var total atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			worker := fmt.Sprintf("bench-worker-%d", w)
			idle := 0
			for i := w; ctx.Err() == nil && idle < len(tenants); i++ {
				ti := i % len(tenants)
				ids, err := t.fetchAndLock(ctx, tenants[ti], worker, "bench", 10)
				if err != nil {
					mu.Lock()
					first = errors.Join(first, err)
					mu.Unlock()
					return
				}
				if len(ids) == 0 {
					idle++
					continue
				}
				idle = 0
				for _, id := range ids {
					if err := t.completeExternal(ctx, tenants[ti], worker, id); err != nil {
						mu.Lock()
						first = errors.Join(first, err)
						mu.Unlock()
						return
					}
					total.Add(1)
					done(ti)
				}
			}
		}()
	}
	wg.Wait()
	return int(total.Load()), first
}

// waitTimers waits until every started timer instance has passed its timer
// and returns each timer's lateness (how long after its due time it fired).
func waitTimers(ctx context.Context, t benchTarget, tenants []string, started []string, delay time.Duration, done func(int)) ([]time.Duration, error) {
	want := map[string]int{}
	mine := map[string]bool{} // this run's instances: earlier runs left history too
	for _, s := range started {
		tenant, _, _ := strings.Cut(s, "/")
		want[tenant]++
		mine[s] = true
	}
	index := map[string]int{}
	for i, tn := range tenants {
		index[tn] = i
	}
	seen := map[string]int{}
	var late []time.Duration
	for {
		pending := 0
		for tenant, n := range want {
			if seen[tenant] >= n {
				continue
			}
			all, err := t.finishedTimers(ctx, tenant, "wait")
			if err != nil {
				return nil, err
			}
			var ds []time.Duration
			for _, f := range all {
				if mine[tenant+"/"+f.instance] {
					ds = append(ds, f.took)
				}
			}
			for range len(ds) - seen[tenant] {
				done(index[tenant])
			}
			if len(ds) >= n {
				for _, d := range ds {
					late = append(late, max(0, d-delay))
				}
			}
			seen[tenant] = len(ds)
			if len(ds) < n {
				pending++
			}
		}
		if pending == 0 {
			return late, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d tenants still have unfired timers: %w", pending, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ---- targets ----

// benchTarget is what the scenarios drive: the engine in this process or
// nodes over REST.
type benchTarget interface {
	start(ctx context.Context, tenant, key string) (id string, ended bool, err error)
	tasks(ctx context.Context, tenant, instanceID string) ([]string, error)
	completeTask(ctx context.Context, tenant, taskID string) error
	fetchAndLock(ctx context.Context, tenant, worker, topic string, max int) ([]string, error)
	completeExternal(ctx context.Context, tenant, worker, id string) error
	// finishedTimers returns how long each finished activity named
	// activityID took (start to end), with its instance.
	finishedTimers(ctx context.Context, tenant, activityID string) ([]finished, error)
}

type finished struct {
	instance string
	took     time.Duration
}

type embeddedTarget struct{ eng *engine.Engine }

func (e *embeddedTarget) start(ctx context.Context, tenant, key string) (string, bool, error) {
	inst, err := e.eng.StartInstance(security.WithTenant(ctx, tenant), &engine.StartParams{DefinitionKey: key, StartUser: benchLogin})
	if err != nil {
		return "", false, err
	}
	return strconv.FormatInt(inst.ID, 10), inst.Ended(), nil
}

func (e *embeddedTarget) tasks(ctx context.Context, tenant, instanceID string) ([]string, error) {
	id, err := strconv.ParseInt(instanceID, 10, 64)
	if err != nil {
		return nil, err
	}
	ts, err := e.eng.Tasks(security.WithTenant(ctx, tenant), &engine.TaskQuery{InstanceID: id})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = strconv.FormatInt(t.ID, 10)
	}
	return out, nil
}

func (e *embeddedTarget) completeTask(ctx context.Context, tenant, taskID string) error {
	id, err := strconv.ParseInt(taskID, 10, 64)
	if err != nil {
		return err
	}
	_, err = e.eng.CompleteTask(security.WithTenant(ctx, tenant), engine.IDRef(id), &engine.CompleteTaskParams{User: benchLogin})
	return err
}

func (e *embeddedTarget) fetchAndLock(ctx context.Context, tenant, worker, topic string, max int) ([]string, error) {
	ts, err := e.eng.FetchAndLock(security.WithTenant(ctx, tenant), &engine.FetchAndLockParams{WorkerID: worker, MaxTasks: max,
		Topics: []engine.TopicRequest{{Name: topic, LockDuration: time.Minute, Variables: []string{}}}})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = strconv.FormatInt(t.ID, 10)
	}
	return out, nil
}

func (e *embeddedTarget) completeExternal(ctx context.Context, tenant, worker, id string) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return err
	}
	return e.eng.CompleteExternalTask(security.WithTenant(ctx, tenant), engine.IDRef(n), &engine.CompleteExternalTaskParams{WorkerID: worker})
}

func (e *embeddedTarget) finishedTimers(context.Context, string, string) ([]finished, error) {
	return nil, errors.New("timers need a node's job executor: use --mode rest")
}

// restTarget drives nodes over HTTP, spreading calls round-robin over them.
type restTarget struct {
	urls        []string
	login, pass string
	client      *http.Client
	next        atomic.Uint64
	maxPage     int
}

func newRESTTarget(urls []string, login, pass string, clients int) *restTarget {
	tr := &http.Transport{MaxIdleConns: 4 * clients, MaxIdleConnsPerHost: 2 * clients, IdleConnTimeout: time.Minute}
	return &restTarget{urls: urls, login: login, pass: pass, client: &http.Client{Transport: tr, Timeout: 2 * time.Minute}, maxPage: 1000}
}

func (r *restTarget) call(ctx context.Context, tenant, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	base := r.urls[r.next.Add(1)%uint64(len(r.urls))]
	req, err := http.NewRequestWithContext(ctx, method, base+"/engine-rest"+path, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(r.login, r.pass)
	req.Header.Set("X-Tenant-ID", tenant)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s (tenant %s): %d %s", method, path, tenant, resp.StatusCode, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

type idOnly struct {
	ID string `json:"id"`
}

func (r *restTarget) start(ctx context.Context, tenant, key string) (string, bool, error) {
	var inst struct {
		ID    string `json:"id"`
		Ended bool   `json:"ended"`
	}
	err := r.call(ctx, tenant, "POST", "/process-definition/key/"+key+"/start", map[string]any{}, &inst)
	return inst.ID, inst.Ended, err
}

func (r *restTarget) tasks(ctx context.Context, tenant, instanceID string) ([]string, error) {
	var ts []idOnly
	if err := r.call(ctx, tenant, "GET", "/task?processInstanceId="+instanceID, nil, &ts); err != nil {
		return nil, err
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out, nil
}

func (r *restTarget) completeTask(ctx context.Context, tenant, taskID string) error {
	return r.call(ctx, tenant, "POST", "/task/"+taskID+"/complete", map[string]any{}, nil)
}

func (r *restTarget) fetchAndLock(ctx context.Context, tenant, worker, topic string, max int) ([]string, error) {
	var ts []idOnly
	err := r.call(ctx, tenant, "POST", "/external-task/fetchAndLock", map[string]any{"workerId": worker, "maxTasks": max,
		"topics": []map[string]any{{"topicName": topic, "lockDuration": 60000, "variables": []string{}}}}, &ts)
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out, err
}

func (r *restTarget) completeExternal(ctx context.Context, tenant, worker, id string) error {
	return r.call(ctx, tenant, "POST", "/external-task/"+id+"/complete", map[string]any{"workerId": worker}, nil)
}

func (r *restTarget) finishedTimers(ctx context.Context, tenant, activityID string) ([]finished, error) {
	var out []finished
	for first := 0; ; first += r.maxPage {
		var page []struct {
			Instance string `json:"processInstanceId"`
			Start    string `json:"startTime"`
			End      string `json:"endTime"`
		}
		q := fmt.Sprintf("/history/activity-instance?activityId=%s&finished=true&firstResult=%d&maxResults=%d", activityID, first, r.maxPage)
		if err := r.call(ctx, tenant, "GET", q, nil, &page); err != nil {
			return nil, err
		}
		for _, a := range page {
			s, err1 := engine.ParseTime(a.Start)
			e, err2 := engine.ParseTime(a.End)
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("history of tenant %s: %w", tenant, err)
			}
			out = append(out, finished{a.Instance, e.Sub(s)})
		}
		if len(page) < r.maxPage {
			return out, nil
		}
	}
}

// ---- nodes ----

// benchNode is a "tenantflow serve" process started by the bench.
type benchNode struct {
	cmd  *exec.Cmd
	url  string
	boot time.Duration
	log  *bytes.Buffer
}

// nodeEnv is the environment of a node the bench starts: this process's,
// with the bench's storage settings (flags included) on top.
func nodeEnv(o *common, getenv func(string) string) []string {
	env := os.Environ()
	set := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	set("TENANTFLOW_PRIMARY_URL", o.primaryURL)
	set("TENANTFLOW_DATA_DIR", o.dataDir)
	set("TENANTFLOW_SCHEMA_PREFIX", o.schemaPrefix)
	set("TENANTFLOW_DEFAULT_PLACEMENT", o.placement)
	set("TENANTFLOW_PG_SCHEMA_MODE", o.pgSchemaMode)
	if o.maxPools > 0 {
		set("TENANTFLOW_MAX_POOLS", strconv.Itoa(o.maxPools))
	}
	if o.connBudget > 0 {
		set("TENANTFLOW_SERVER_CONN_BUDGET", strconv.Itoa(o.connBudget))
	}
	for k, d := range map[string]time.Duration{"TENANTFLOW_REGISTRY_TTL": o.registryTTL, "TENANTFLOW_MAX_STALE": o.maxStale, "TENANTFLOW_DRAIN_WAIT": o.drainWait} {
		if d > 0 {
			set(k, d.String())
		}
	}
	set("TENANTFLOW_MASTER_KEY", getenv("TENANTFLOW_MASTER_KEY"))
	admin := getenv("TENANTFLOW_ADMIN_PASSWORD")
	if admin == "" {
		admin = benchPassword + "-admin"
	}
	set("TENANTFLOW_ADMIN_PASSWORD", admin)
	return env
}

// startBenchNode starts this binary's serve command on a free loopback port
// with env and waits until it is ready.
func startBenchNode(ctx context.Context, env []string, i int) (*benchNode, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(exe, "serve")
	cmd.Env = append(slices.Clip(env), "TENANTFLOW_ADDR="+addr, "TENANTFLOW_LOG_LEVEL=warn",
		fmt.Sprintf("TENANTFLOW_NODE_ID=bench-%d-%d", os.Getpid(), i+1))
	n := &benchNode{cmd: cmd, url: "http://" + addr, log: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = &lockedWriter{w: n.log}, &lockedWriter{w: n.log}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		req, _ := http.NewRequestWithContext(ctx, "GET", n.url+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				n.boot = time.Since(t0)
				go func() { <-exited }()
				return n, nil
			}
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("node %d exited before it was ready (%v):\n%s", i+1, err, n.log.String())
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// rssMiB reads the node's resident memory from /proc (Linux), or 0.
func (n *benchNode) rssMiB() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func stopNodes(nodes []*benchNode) {
	for _, n := range nodes {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, n := range nodes {
		deadline := time.Now().Add(30 * time.Second)
		for n.cmd.Process.Signal(syscall.Signal(0)) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		_ = n.cmd.Process.Kill()
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// idleQueries counts the transactions the primary's database commits per
// second while the nodes are idle (PostgreSQL statistics; pg-schema tenants
// live in that database).
func idleQueries(ctx context.Context, primaryURL string, d time.Duration, pr *progress) (float64, error) {
	db, err := sql.Open("postgres", primaryURL)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	count := func() (int64, error) {
		var n int64
		_, _ = db.ExecContext(ctx, `SELECT pg_stat_clear_snapshot()`)
		err := db.QueryRowContext(ctx, `SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
		return n, err
	}
	// Statistics reach pg_stat_database within a second: let the nodes'
	// start-up settle first.
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(2 * time.Second):
	}
	before, err := count()
	if err != nil {
		return 0, err
	}
	pr.start(fmt.Sprintf("measuring idle queries for %s", d), int(d.Seconds()))
	tick := time.NewTicker(time.Second)
	for i := 0; i < int(d.Seconds()); i++ {
		select {
		case <-ctx.Done():
			tick.Stop()
			return 0, ctx.Err()
		case <-tick.C:
			pr.add(1)
		}
	}
	tick.Stop()
	pr.done()
	select { // the last second's statistics
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(1500 * time.Millisecond):
	}
	after, err := count()
	if err != nil {
		return 0, err
	}
	own := int64(4) // this function's own statements
	return float64(after-before-own) / d.Seconds(), nil
}

// ---- progress ----

// progress draws a progress bar on a terminal, or a line per 10% elsewhere.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	total int
	n     atomic.Int64
	began time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) start(label string, total int) {
	p.label, p.total, p.began = label, total, time.Now()
	p.n.Store(0)
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		every := 200 * time.Millisecond
		if !p.tty {
			every = time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		lastDecile := int64(-1)
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				if p.tty {
					p.draw(false)
				} else if d := p.n.Load() * 10 / int64(max(p.total, 1)); d > lastDecile {
					lastDecile = d
					p.draw(true)
				}
			}
		}
	}()
}

func (p *progress) draw(newline bool) {
	n := p.n.Load()
	frac := float64(n) / float64(max(p.total, 1))
	const width = 30
	bar := strings.Repeat("=", int(frac*width)) + strings.Repeat(" ", width-int(frac*width))
	rate := float64(n) / max(time.Since(p.began).Seconds(), 1e-9)
	eta := "—"
	if rate > 0 && n < int64(p.total) {
		eta = time.Duration(float64(int64(p.total)-n) / rate * float64(time.Second)).Round(time.Second).String()
	}
	end := "\r"
	if newline {
		end = "\n"
	}
	fmt.Fprintf(p.w, "%s [%s] %d/%d %.0f/s eta %s   %s", p.label, bar, n, p.total, rate, eta, end)
}

func (p *progress) add(n int) { p.n.Add(int64(n)) }

func (p *progress) done() {
	if p.stop == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.stop = nil
	p.draw(true)
}
