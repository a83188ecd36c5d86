//go:build faults

// Fault tests (make test-faults): real node processes under load while a
// node is killed, a tenant's database server stops, the primary goes away,
// or Elasticsearch refuses connections; and two nodes sharing the work
// without a fault. Each prints what was attempted,
// what succeeded and failed, what was lost or duplicated, and how long
// recovery took.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/analytics/estest"
	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

const faultAdminPassword = "fault-admin-password"

// cluster is a set of node processes over one configuration.
type cluster struct {
	t        *testing.T
	env      []string
	mu       sync.RWMutex
	nodes    []*benchNode
	targets  []*restTarget
	restarts int
}

func startCluster(t *testing.T, settings map[string]string, n int) *cluster {
	t.Helper()
	env := append(os.Environ(), "TENANTFLOW_TEST_AS_MAIN=1", "TENANTFLOW_ADMIN_PASSWORD="+faultAdminPassword)
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	c := &cluster{t: t, env: env}
	for i := range n {
		c.nodes = append(c.nodes, nil)
		c.targets = append(c.targets, nil)
		c.start(i)
	}
	t.Cleanup(func() { stopNodes(c.nodes) })
	return c
}

// start (re)starts node i; a restarted node gets a new node ID, as a new
// process would.
func (c *cluster) start(i int) time.Duration {
	c.t.Helper()
	c.restarts++
	n, err := startBenchNode(context.Background(), c.env, i+100*c.restarts)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mu.Lock()
	c.nodes[i] = n
	c.targets[i] = newRESTTarget([]string{n.url}, benchLogin, benchPassword, 16)
	c.mu.Unlock()
	return n.boot
}

func (c *cluster) target(client int) *restTarget {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.targets[client%len(c.targets)]
}

func (c *cluster) kill(i int) {
	c.t.Helper()
	if err := c.nodes[i].cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown at all
		c.t.Fatal(err)
	}
}

// nodeStats reads a node's pool counters through the admin API.
func (c *cluster) poolStats(i int) datasource.Stats {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.nodes[i].url+"/admin/api/node", nil)
	req.SetBasicAuth("admin", faultAdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Pools datasource.Stats `json:"pools"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatal(err)
	}
	return out.Pools
}

// tally counts requests of one kind.
type tally struct {
	attempted, succeeded, failed atomic.Int64
	mu                           sync.Mutex
	failures                     []time.Duration
	statuses                     map[string]int
	firstErr                     error
}

func (t *tally) record(took time.Duration, err error) {
	t.attempted.Add(1)
	if err == nil {
		t.succeeded.Add(1)
		return
	}
	t.failed.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures = append(t.failures, took)
	if t.statuses == nil {
		t.statuses = map[string]int{}
	}
	t.statuses[statusOf(err)]++
	if t.firstErr == nil {
		t.firstErr = err
	}
}

func (t *tally) String() string {
	return fmt.Sprintf("%d attempted, %d succeeded, %d failed", t.attempted.Load(), t.succeeded.Load(), t.failed.Load())
}

// statusOf is the HTTP status in a restTarget error, or "no answer".
func statusOf(err error) string {
	msg := err.Error()
	for _, code := range []string{": 503 ", ": 500 ", ": 401 ", ": 403 ", ": 404 ", ": 409 "} {
		if strings.Contains(msg, code) {
			return strings.Trim(code, ": ")
		}
	}
	return "no answer"
}

// drive runs clients until ctx ends; op returns the tenant index it served.
func drive(ctx context.Context, clients int, op func(client int) error, tallies func(client int) *tally) {
	var wg sync.WaitGroup
	for cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				err := op(cl)
				if ctx.Err() != nil && err != nil {
					return // cut short by the end of the phase, not by the fault
				}
				tallies(cl).record(time.Since(t0), err)
			}
		}()
	}
	wg.Wait()
}

func setupBench(t *testing.T, settings map[string]string, tenants int, sc *scenario, timerDelay time.Duration) (*datasource.Sources, []string) {
	t.Helper()
	o := &benchOptions{common: &common{primaryURL: settings["TENANTFLOW_PRIMARY_URL"], dataDir: settings["TENANTFLOW_DATA_DIR"]},
		tenants: tenants, active: tenants, timerDelay: timerDelay}
	src, err := datasource.Open(context.Background(), datasource.Config{PrimaryURL: o.primaryURL, DataDir: o.dataDir, Logger: dstest.Quiet(),
		DrainWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	ids, err := benchSetup(context.Background(), src, o, sc, newProgress(&strings.Builder{}))
	if err != nil {
		t.Fatal(err)
	}
	return src, ids
}

func report(t *testing.T, fault string, lines ...string) {
	t.Helper()
	t.Logf("\n== %s\n   %s", fault, strings.Join(lines, "\n   "))
}

// A node is killed with SIGKILL while clients start timer instances on two
// nodes, then restarted. Every instance whose start was acknowledged must
// finish exactly once, with its events in the outbox.
func TestFaultNodeKilledDuringLoad(t *testing.T) {
	settings := map[string]string{"TENANTFLOW_PRIMARY_URL": dstest.CreateDatabase(t), "TENANTFLOW_DATA_DIR": t.TempDir(),
		"TENANTFLOW_JOB_LOCK": "3s", "TENANTFLOW_DRAIN_WAIT": "1ms"}
	src, tenants := setupBench(t, settings, 4, scenarios["timer"], time.Second)
	c := startCluster(t, settings, 2)

	var acked sync.Map // tenant/instance → true
	var all, onKilled tally
	ctx, stop := context.WithTimeout(context.Background(), 6*time.Second)
	defer stop()
	killAt := make(chan time.Time, 1)
	var back time.Duration
	go func() {
		time.Sleep(2 * time.Second)
		c.kill(0)
		killAt <- time.Now()
		time.Sleep(1500 * time.Millisecond)
		back = c.start(0)
	}()
	var seq atomic.Int64
	drive(ctx, 8, func(cl int) error {
		tenant := tenants[int(seq.Add(1))%len(tenants)]
		id, _, err := c.target(cl).start(ctx, tenant, "bench_timer")
		if err == nil {
			acked.Store(tenant+"/"+id, true)
		}
		return err
	}, func(cl int) *tally {
		if cl%2 == 0 {
			return &onKilled
		}
		return &all
	})
	killedAt := <-killAt

	// Every acknowledged instance finishes: its timer fires on a node
	// (taken over from the killed one after the lock expires).
	want := byTenant(&acked)
	var lost, dups int
	dstest.Probe(2*time.Minute, 250*time.Millisecond, func() bool {
		lost, dups = c.timersFired(1, want)
		return lost == 0
	})
	allFired := time.Since(killedAt)
	// The outbox has each acknowledged instance's completion, once.
	eng, err := engine.New(src, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Events become readable in commit order once every transaction that
	// started before them ended (the outbox's horizon), so look again
	// until they are all there or the deadline passes.
	var eventsLost, eventDups int
	checkEvents := func() {
		eventsLost, eventDups = 0, 0
		for tenant, ids := range want {
			completed := map[string]int{}
			for _, ev := range outboxEvents(t, eng, tenant, engine.EventProcessCompleted) {
				completed[fmt.Sprint(ev.InstanceID)]++
			}
			for id := range ids {
				switch n := completed[id]; {
				case n == 0:
					eventsLost++
				case n > 1:
					eventDups += n - 1
				}
			}
		}
	}
	_, eventsWait := dstest.Probe(30*time.Second, 250*time.Millisecond, func() bool {
		checkEvents()
		return eventsLost == 0
	})
	total := 0
	for _, ids := range want {
		total += len(ids)
	}
	report(t, "kill -9 of one of two nodes during load, restarted 1.5 s later",
		fmt.Sprintf("requests to the killed node: %s", &onKilled),
		fmt.Sprintf("requests to the other node:  %s", &all),
		fmt.Sprintf("acknowledged instances %d: jobs lost %d, timers fired twice %d, completion events lost %d, duplicated %d", total, lost, dups, eventsLost, eventDups),
		fmt.Sprintf("recovery: restarted node ready in %.2f s; every timer fired %.1f s after the kill (job lock 3 s); every completion event readable %.1f s later",
			back.Seconds(), allFired.Seconds(), eventsWait.Seconds()))
	if lost != 0 || eventsLost != 0 || eventDups != 0 {
		t.Fatalf("lost %d jobs and %d events, duplicated %d events", lost, eventsLost, eventDups)
	}
	if dups != 0 {
		t.Errorf("%d timers fired twice: job delivery is at-least-once, but a killed node's timers should be taken over only after their lock expired", dups)
	}
	if all.failed.Load() != 0 {
		t.Errorf("the surviving node failed requests: %v", all.firstErr)
	}
}

// One tenant's PostgreSQL cluster stops while every tenant is under load:
// the other tenants see no failed request and no pool waits; the tenant's
// own requests fail fast with 503; after the restart it recovers with
// nothing lost.
func TestFaultTenantClusterStops(t *testing.T) {
	primary := dstest.CreateDatabase(t)
	second := dstest.StartCluster(t)
	settings := map[string]string{"TENANTFLOW_PRIMARY_URL": primary, "TENANTFLOW_DATA_DIR": t.TempDir(), "TENANTFLOW_DRAIN_WAIT": "1ms"}
	src, steady := setupBench(t, settings, 3, scenarios["straight"], 0)
	// The victim lives on the second cluster.
	ctx := context.Background()
	if _, err := src.Lifecycle.Create(ctx, &datasource.CreateTenantParams{ID: "victim", Placement: datasource.PlacementPGDSN,
		DSN: second.CreateDatabase("victim")}); err != nil {
		t.Fatal(err)
	}
	u, err := src.Primary.UserByLogin(ctx, benchLogin)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Primary.Grant(ctx, u.ID, "victim", security.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(src, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Deploy(security.WithTenant(ctx, "victim"), &engine.DeployParams{Name: "bench",
		Resources: []engine.Resource{{Name: "straight.bpmn", Content: []byte(scenarios["straight"].bpmn(0))}}}); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, settings, 1)

	// Two clients per steady tenant (fewer than its pool's connections, so
	// no steady request ever queues) and two on the victim.
	const perTenant = 2
	clients := perTenant * (len(steady) + 1)
	tenantOf := func(cl int) string {
		if cl/perTenant < len(steady) {
			return steady[cl/perTenant]
		}
		return "victim"
	}
	var victimAcked sync.Map // instance ID → true
	acked := func(id string) {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			t.Errorf("start answered instance ID %q", id)
		}
		victimAcked.Store(n, true)
	}
	phase := func(d time.Duration) (steadyT, victimT *tally) {
		steadyT, victimT = &tally{}, &tally{}
		ctx, stop := context.WithTimeout(context.Background(), d)
		defer stop()
		drive(ctx, clients, func(cl int) error {
			id, _, err := c.target(0).start(ctx, tenantOf(cl), "bench_straight")
			if err == nil && tenantOf(cl) == "victim" {
				acked(id)
			}
			return err
		}, func(cl int) *tally {
			if tenantOf(cl) == "victim" {
				return victimT
			}
			return steadyT
		})
		return
	}
	steadyStats := func() (waits, timeouts int64) {
		for _, p := range c.poolStats(0).Pools {
			if p.Tenant != "victim" {
				waits += p.Waits
				timeouts += p.Timeouts
			}
		}
		return
	}
	victimPool := func() (p datasource.PoolStats) {
		for _, x := range c.poolStats(0).Pools {
			if x.Tenant == "victim" {
				p = x
			}
		}
		return
	}

	baseSteady, baseVictim := phase(4 * time.Second)
	ackedBefore := len(ids(&victimAcked))
	waits0, timeouts0 := steadyStats()
	vp0 := victimPool()

	second.Stop()
	faultSteady, faultVictim := phase(4 * time.Second)
	waits1, timeouts1 := steadyStats()
	vp1 := victimPool()

	second.Start()
	var lastErr error
	ok, recovered := dstest.Probe(time.Minute, 100*time.Millisecond, func() bool {
		id, _, err := c.target(0).start(ctx, "victim", "bench_straight")
		if err == nil {
			acked(id)
		}
		lastErr = err
		return err == nil
	})
	if !ok {
		t.Fatalf("the victim did not recover within a minute of its server's restart: %v", lastErr)
	}
	// Every acknowledged instance is there. An instance may also be there
	// unacknowledged: a request cut off by a phase's end after its commit.
	vctx := security.WithTenant(ctx, "victim")
	ackedIDs := ids(&victimAcked)
	var found int64
	for chunk := range slices.Chunk(ackedIDs, 1000) {
		n, err := eng.CountInstances(vctx, &engine.InstanceQuery{IDs: chunk, AnyState: true})
		if err != nil {
			t.Fatal(err)
		}
		found += n
	}
	all, err := eng.CountInstances(vctx, &engine.InstanceQuery{AnyState: true})
	if err != nil {
		t.Fatal(err)
	}
	lost := int64(len(ackedIDs)) - found

	slices.Sort(faultVictim.failures)
	p99 := time.Duration(0)
	if len(faultVictim.failures) > 0 {
		p99 = faultVictim.failures[len(faultVictim.failures)*99/100]
	}
	ratio := float64(faultSteady.succeeded.Load()) / float64(max(baseSteady.succeeded.Load(), 1))
	report(t, "one tenant's PostgreSQL cluster stopped for 4 s under load",
		fmt.Sprintf("baseline: steady tenants %s; victim %s", baseSteady, baseVictim),
		fmt.Sprintf("fault:    steady tenants %s (throughput %.2f× the baseline); victim %s, answers %v, failure p99 %s",
			faultSteady, ratio, faultVictim, faultVictim.statuses, p99.Round(time.Microsecond)),
		fmt.Sprintf("counters: steady pools waited %d times and timed out %d times during the fault; the victim's pool waited %d times, timed out %d times",
			waits1-waits0, timeouts1-timeouts0, vp1.Waits-vp0.Waits, vp1.Timeouts-vp0.Timeouts),
		fmt.Sprintf("recovery: the victim answered again %.2f s after its server restarted; instances lost %d of %d acknowledged (%d before the fault); committed but unacknowledged %d",
			recovered.Seconds(), lost, len(ackedIDs), ackedBefore, all-found))
	if faultSteady.failed.Load() != 0 {
		t.Errorf("steady tenants failed %d requests while another tenant's server was down: %v", faultSteady.failed.Load(), faultSteady.firstErr)
	}
	if waits1 != waits0 || timeouts1 != timeouts0 {
		t.Errorf("steady tenants waited for connections during the fault")
	}
	if faultVictim.failed.Load() == 0 || faultVictim.statuses["503"] != int(faultVictim.failed.Load()) {
		t.Errorf("the victim's requests should all fail with 503, got %v", faultVictim.statuses)
	}
	if p99 > time.Second {
		t.Errorf("the victim's failures took up to %s at p99; they should fail fast", p99)
	}
	if vp1.Timeouts != vp0.Timeouts {
		t.Errorf("callers timed out waiting on the dead tenant's pool")
	}
	if lost != 0 {
		t.Errorf("%d acknowledged victim instances are gone after the restart", lost)
	}
}

// The primary datasource is unreachable for a while: tenants already cached
// keep working (up to MaxStale), and a login that needs the primary fails
// with a clear 503.
func TestFaultPrimaryUnreachable(t *testing.T) {
	direct := dstest.CreateDatabase(t)
	proxy, viaProxy := dstest.NewProxy(t, direct)
	settings := map[string]string{"TENANTFLOW_PRIMARY_URL": viaProxy, "TENANTFLOW_DATA_DIR": t.TempDir(), "TENANTFLOW_DRAIN_WAIT": "1ms",
		"TENANTFLOW_REGISTRY_TTL": "1s", "TENANTFLOW_MAX_STALE": "5m"}
	// Tenants on their own databases, reached directly: only the primary
	// goes away.
	src, err := datasource.Open(context.Background(), datasource.Config{PrimaryURL: viaProxy, Logger: dstest.Quiet(), DrainWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	var tenants []string
	for i := range 2 {
		id := benchTenantID(i)
		if _, err := src.Lifecycle.Create(ctx, &datasource.CreateTenantParams{ID: id, Placement: datasource.PlacementPGDSN, DSN: dstest.CreateDatabase(t)}); err != nil {
			t.Fatal(err)
		}
		tenants = append(tenants, id)
	}
	o := &benchOptions{common: &common{primaryURL: viaProxy}, tenants: 2, active: 2}
	if _, err := benchSetup(ctx, src, o, scenarios["straight"], newProgress(&strings.Builder{})); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Primary.CreateUser(ctx, &datasource.CreateUserParams{Login: "newcomer", Password: "newcomer-password"}); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, settings, 1)

	run := func(d time.Duration) *tally {
		out := &tally{}
		ctx, stop := context.WithTimeout(context.Background(), d)
		defer stop()
		var seq atomic.Int64
		drive(ctx, 4, func(cl int) error {
			_, _, err := c.target(cl).start(ctx, tenants[int(seq.Add(1))%len(tenants)], "bench_straight")
			return err
		}, func(int) *tally { return out })
		return out
	}
	base := run(3 * time.Second)
	proxy.Stop()
	down := time.Now()
	during := run(4 * time.Second) // past the registry TTL: served from the stale cache
	newcomer := newRESTTarget([]string{c.nodes[0].url}, "newcomer", "newcomer-password", 1)
	_, _, loginErr := newcomer.start(ctx, tenants[0], "bench_straight")
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	outage := time.Since(down)
	// The newcomer's login needs the primary: once it is back the node
	// answers from the directory (a 403, as the newcomer is no member of
	// the tenant) instead of a 503.
	var lastErr error
	if ok, _ := dstest.Probe(time.Minute, 100*time.Millisecond, func() bool {
		_, _, lastErr = newcomer.start(ctx, tenants[0], "bench_straight")
		return lastErr == nil || !strings.Contains(lastErr.Error(), ": 503 ")
	}); !ok {
		t.Fatalf("a login needing the primary still fails a minute after the primary came back: %v", lastErr)
	}
	recovered := time.Since(down) - outage
	report(t, fmt.Sprintf("the primary datasource unreachable for %.1f s", outage.Seconds()),
		fmt.Sprintf("baseline: %s", base),
		fmt.Sprintf("outage:   cached tenants %s", during),
		fmt.Sprintf("a login the node never saw: %v", loginErr),
		fmt.Sprintf("recovery: the node answered that login from the directory again %.2f s after the primary came back", recovered.Seconds()))
	if during.failed.Load() != 0 {
		t.Errorf("cached tenants failed %d requests while the primary was down: %v", during.failed.Load(), during.firstErr)
	}
	if loginErr == nil || !strings.Contains(loginErr.Error(), ": 503 ") {
		t.Errorf("a login needing the primary should fail with a clear 503, got %v", loginErr)
	}
}

// Elasticsearch refuses every connection for a minute while tenants work:
// requests do not notice, the events wait in the outboxes, and after the
// outage every event arrives in the index exactly once.
func TestFaultElasticsearchUnavailable(t *testing.T) {
	es := estest.New(t)
	settings := map[string]string{"TENANTFLOW_PRIMARY_URL": dstest.CreateDatabase(t), "TENANTFLOW_DATA_DIR": t.TempDir(),
		"TENANTFLOW_DRAIN_WAIT": "1ms", "TENANTFLOW_ELASTICSEARCH_URL": es.URL}
	src, tenants := setupBench(t, settings, 3, scenarios["straight"], 0)
	c := startCluster(t, settings, 1)

	run := func(d time.Duration) *tally {
		out := &tally{}
		ctx, stop := context.WithTimeout(context.Background(), d)
		defer stop()
		var seq atomic.Int64
		drive(ctx, 4, func(cl int) error {
			_, _, err := c.target(cl).start(ctx, tenants[int(seq.Add(1))%len(tenants)], "bench_straight")
			return err
		}, func(int) *tally { return out })
		return out
	}
	base := run(3 * time.Second)
	es.Refuse()
	down := time.Now()
	during := run(5 * time.Second)
	// The rest of the minute without load: the shipper keeps backing off.
	time.Sleep(time.Until(down.Add(time.Minute)))
	st0 := es.Stats()
	es.Accept()
	healed := time.Now()

	eng, err := engine.New(src, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, tenant := range tenants {
		for _, ev := range outboxEvents(t, eng, tenant) {
			want[ev.DocumentID()] = true
		}
	}
	docs := map[string]int{} // document ID → copies across indices
	deadline := time.Now().Add(2 * time.Minute)
	for {
		changed := es.Changed()
		clear(docs)
		for _, d := range es.Docs("tenantflow-events*") {
			docs[d.ID]++
		}
		if len(docs) >= len(want) {
			break
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
		}
		if time.Now().After(deadline) {
			break
		}
	}
	drained := time.Since(healed)
	missing, extra, copies := 0, 0, 0
	for id := range want {
		if docs[id] == 0 {
			missing++
		}
	}
	for id, n := range docs {
		if !want[id] {
			extra++
		}
		copies += n - 1
	}
	st := es.Stats()
	report(t, "Elasticsearch refusing every connection for a minute",
		fmt.Sprintf("baseline: %s", base),
		fmt.Sprintf("outage:   %s (the first 5 s under load); connections refused %d", during, st0.Refused),
		fmt.Sprintf("events in the outboxes %d; documents in the index %d: missing %d, unknown %d, duplicated %d; resent and overwritten in place %d",
			len(want), len(docs), missing, extra, copies, st.Overwrites),
		fmt.Sprintf("recovery: the backlog drained %.1f s after Elasticsearch came back", drained.Seconds()))
	if during.failed.Load() != 0 {
		t.Errorf("requests failed while Elasticsearch was down: %v", during.firstErr)
	}
	if missing != 0 || extra != 0 || copies != 0 {
		t.Fatalf("%d events missing, %d unknown and %d duplicated documents in the index", missing, extra, copies)
	}
	if st0.Refused == 0 {
		t.Error("the shipper never tried Elasticsearch during the outage")
	}
}

// nodeJobs reads how many jobs node i completed, through the admin API.
func (c *cluster) nodeJobs(i int) int64 {
	c.t.Helper()
	req, _ := http.NewRequest("GET", c.nodes[i].url+"/admin/api/node", nil)
	req.SetBasicAuth("admin", faultAdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Jobs struct {
			Completed int64 `json:"completed"`
		} `json:"jobs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		c.t.Fatal(err)
	}
	return out.Jobs.Completed
}

// Two nodes over one primary and the same tenant storage share the timers
// of 10,000 instances started through both: every timer fires exactly once
// (the history records each firing), both nodes run some of them, and a
// tenant disabled through one node is refused by the other within the
// registry TTL.
func TestTwoNodesShareJobsAndTenantChanges(t *testing.T) {
	settings := map[string]string{"TENANTFLOW_PRIMARY_URL": dstest.CreateDatabase(t), "TENANTFLOW_DATA_DIR": t.TempDir(),
		"TENANTFLOW_DRAIN_WAIT": "1ms", "TENANTFLOW_REGISTRY_TTL": "1s"}
	_, tenants := setupBench(t, settings, 4, scenarios["timer"], time.Second)
	c := startCluster(t, settings, 2)

	const total = 10_000
	var started tally
	var acked sync.Map // tenant/instance → true
	var seq atomic.Int64
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	t0 := time.Now()
	drive(ctx, 8, func(cl int) error {
		i := seq.Add(1)
		if i > total {
			stop()
			return ctx.Err()
		}
		tenant := tenants[int(i)%len(tenants)]
		// Not ctx: a start already counted must finish when the others stop.
		id, _, err := c.target(cl).start(context.Background(), tenant, "bench_timer") // clients alternate between the nodes
		if err == nil {
			acked.Store(tenant+"/"+id, true)
		}
		return err
	}, func(int) *tally { return &started })
	startTook := time.Since(t0)

	want := byTenant(&acked)
	var pending, twice int
	dstest.Probe(3*time.Minute, 500*time.Millisecond, func() bool {
		pending, twice = c.timersFired(0, want)
		return pending == 0
	})
	allFired := time.Since(t0)
	ran0, ran1 := c.nodeJobs(0), c.nodeJobs(1)

	// A tenant disabled through node 0 is refused by node 1 once its
	// registry entry expires.
	victim := tenants[0]
	req, _ := http.NewRequest("POST", c.nodes[0].url+"/admin/api/tenants/"+victim+"/disable", nil)
	req.SetBasicAuth("admin", faultAdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("disable through node 0: %d", resp.StatusCode)
	}
	var lastErr error
	refused, refusedAfter := dstest.Probe(30*time.Second, 50*time.Millisecond, func() bool {
		_, _, lastErr = c.target(1).start(context.Background(), victim, "bench_timer")
		return lastErr != nil && strings.Contains(lastErr.Error(), ": 403 ")
	})
	if !refused {
		t.Fatalf("node 1 still serves a tenant disabled through node 0 after 30 s: %v", lastErr)
	}
	n := 0
	for _, ids := range want {
		n += len(ids)
	}
	report(t, "two nodes sharing 10,000 timer instances over 4 tenants",
		fmt.Sprintf("starts through both nodes: %s in %.1f s", &started, startTook.Seconds()),
		fmt.Sprintf("timers: %d acknowledged, %d not fired, %d fired twice; all fired %.1f s after the first start", n, pending, twice, allFired.Seconds()),
		fmt.Sprintf("jobs completed by node 0: %d, by node 1: %d", ran0, ran1),
		fmt.Sprintf("a tenant disabled through node 0 was refused by node 1 %.2f s later (its tenant signal; the registry TTL of 1 s bounds it)", refusedAfter.Seconds()))
	if started.failed.Load() != 0 || n != total {
		t.Fatalf("%d of %d starts failed: %v", started.failed.Load(), total, started.firstErr)
	}
	if pending != 0 || twice != 0 {
		t.Fatalf("%d timers never fired and %d fired twice", pending, twice)
	}
	if ran0 == 0 || ran1 == 0 {
		t.Errorf("the nodes did not share the jobs: %d and %d", ran0, ran1)
	}
}

// ids returns the keys of a set of instance IDs.
func ids(set *sync.Map) []int64 {
	var out []int64
	set.Range(func(k, _ any) bool {
		out = append(out, k.(int64))
		return true
	})
	return out
}

// byTenant turns a set of "tenant/instance" keys into instance sets per tenant.
func byTenant(acked *sync.Map) map[string]map[string]bool {
	want := map[string]map[string]bool{}
	acked.Range(func(k, _ any) bool {
		tenant, id, _ := strings.Cut(k.(string), "/")
		if want[tenant] == nil {
			want[tenant] = map[string]bool{}
		}
		want[tenant][id] = true
		return true
	})
	return want
}

// timersFired counts, among the wanted instances, those whose timer has not
// fired yet and the extra firings (a timer fired twice), from the history
// as node i reports it.
func (c *cluster) timersFired(i int, want map[string]map[string]bool) (pending, twice int) {
	c.t.Helper()
	for tenant, ids := range want {
		fired, err := c.target(i).finishedTimers(context.Background(), tenant, "wait")
		if err != nil {
			c.t.Fatal(err)
		}
		seen := map[string]int{}
		for _, f := range fired {
			if ids[f.instance] {
				seen[f.instance]++
			}
		}
		for id := range ids {
			switch n := seen[id]; {
			case n == 0:
				pending++
			case n > 1:
				twice += n - 1
			}
		}
	}
	return pending, twice
}

// outboxEvents reads a tenant's whole outbox (of the given types; none: all).
func outboxEvents(t *testing.T, eng *engine.Engine, tenant string, types ...engine.EventType) []*engine.Event {
	t.Helper()
	var all []*engine.Event
	var after engine.Cursor
	for {
		b, err := eng.ReadEvents(security.WithTenant(context.Background(), tenant), &engine.ReadEventsParams{After: after, Limit: 5000, Types: types})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b.Events...)
		if b.Next == after { // a filtered read may return no event yet move on
			return all
		}
		after = b.Next
	}
}
