package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

const benchUsage = `Usage: tenantflow bench [flags]

Measures tenantflow on this machine, like pgbench: registers --tenants
tenants (bench_00001…, created when missing, kept for the next run), deploys
a scenario to the --active ones, drives --instances process instances with
--clients concurrent clients, and prints throughput, latency percentiles and
per-tenant fairness (a JSON summary with --json).

Scenarios:
  straight   start → script task → end, in one request
  user-task  start, find the task, complete it (three requests)
  parallel   start → fork into three script tasks → join → end
  timer      start → 1 s timer → end; the job executor fires the timers and
             the report gives their lateness (REST mode only)
  external   start, then workers fetch and lock (10 at a time) and complete

Modes:
  rest       (default) starts --nodes "tenantflow serve" processes on
             loopback over the same storage and drives them over HTTP; reports
             each node's boot time and memory. --url drives running nodes.
  embedded   drives the engine in this process, without HTTP.

Storage comes from the same settings as serve (TENANTFLOW_PRIMARY_URL, …).`

type benchOptions struct {
	*common
	tenants, active, instances, clients, nodes int
	warmup                                     int
	scenario, mode, urls, dsns, placement      string
	jsonOut                                    string
	idle, timerDelay, timeout                  time.Duration
}

// benchReport is the machine-readable summary (--json).
type benchReport struct {
	Scenario      string       `json:"scenario"`
	Mode          string       `json:"mode"`
	Placement     string       `json:"placement"`
	Tenants       int          `json:"tenants"`
	ActiveTenants int          `json:"activeTenants"`
	Nodes         int          `json:"nodes"`
	Clients       int          `json:"clients"`
	Instances     int          `json:"instances"`
	Failed        int64        `json:"failed"`
	FirstError    string       `json:"firstError,omitempty"`
	Seconds       float64      `json:"seconds"`
	PerSecond     float64      `json:"instancesPerSecond"`
	Latency       percentiles  `json:"latencyMs"`
	TimerLateness *percentiles `json:"timerLatenessMs,omitempty"`
	Fairness      fairness     `json:"fairness"`
	SetupSeconds  float64      `json:"setupSeconds"`
	NodeStats     []nodeStats  `json:"nodeStats,omitempty"`
	IdleQueries   *float64     `json:"idleQueriesPerSecond,omitempty"`
	Machine       benchMachine `json:"machine"`
	Command       string       `json:"command"`
	StartedAt     time.Time    `json:"startedAt"`
	Timings       []float64    `json:"-"`
}

type percentiles struct {
	P50, P90, P99, Max float64
}

func (p percentiles) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]float64{"p50": p.P50, "p90": p.P90, "p99": p.P99, "max": p.Max})
}

// fairness is how evenly the active tenants were served: completed
// instances per tenant, and Jain's index (1 = perfectly even).
type fairness struct {
	Min   int64   `json:"min"`
	Max   int64   `json:"max"`
	Jain  float64 `json:"jainIndex"`
	Count int     `json:"tenants"`
}

type nodeStats struct {
	Node        int     `json:"node"`
	BootSeconds float64 `json:"bootSeconds"`
	RSSMiBBoot  float64 `json:"rssMiBAfterBoot"`
	RSSMiBEnd   float64 `json:"rssMiBAfterLoad"`
}

type benchMachine struct {
	CPUs int    `json:"cpus"`
	OS   string `json:"os"`
	Go   string `json:"go"`
}

func (c *cli) bench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	o := &benchOptions{}
	var env *envReader
	o.common, env = c.commonFlags(fs)
	fs.IntVar(&o.tenants, "tenants", 10, "tenants registered (bench_00001…); missing ones are created")
	fs.IntVar(&o.active, "active", 0, "tenants that get load (default: all of --tenants)")
	fs.StringVar(&o.scenario, "scenario", "straight", "straight, user-task, parallel, timer or external")
	fs.IntVar(&o.instances, "instances", 2000, "process instances to drive")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients (and workers for external)")
	fs.StringVar(&o.mode, "mode", "rest", "rest (through tenantflow serve processes) or embedded (this process)")
	fs.IntVar(&o.nodes, "nodes", 1, "tenantflow serve processes to start in rest mode")
	fs.StringVar(&o.urls, "url", "", "comma-separated base URLs of running nodes to drive instead of starting them")
	fs.StringVar(&o.placement, "placement", "", "placement of new bench tenants (default: the configured default)")
	fs.StringVar(&o.dsns, "dsn", "", "comma-separated PostgreSQL DSNs for --placement pg-dsn; tenants are spread over them")
	fs.StringVar(&o.jsonOut, "json", "", "write the JSON summary to this file (- for stdout)")
	fs.DurationVar(&o.idle, "idle", 0, "before the load, count the queries/s of idle nodes for this long (PostgreSQL)")
	fs.IntVar(&o.warmup, "warmup", 500, "untimed instances first, one per active tenant up to this many (opens pools, loads definitions)")
	fs.DurationVar(&o.timerDelay, "timer-delay", time.Second, "the timer scenario's delay")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	if err := c.parse(fs, args, benchUsage, env); err != nil {
		return err
	}
	sc, ok := scenarios[o.scenario]
	switch {
	case !ok:
		return fmt.Errorf("%w: --scenario %q: use straight, user-task, parallel, timer or external", errUsage, o.scenario)
	case o.tenants < 1 || o.tenants > 99999:
		return fmt.Errorf("%w: --tenants %d: use 1 to 99999", errUsage, o.tenants)
	case o.active < 0 || o.active > o.tenants:
		return fmt.Errorf("%w: --active %d: use 1 to --tenants (%d)", errUsage, o.active, o.tenants)
	case o.instances < 1 || o.clients < 1 || o.nodes < 1:
		return fmt.Errorf("%w: --instances, --clients and --nodes must be at least 1", errUsage)
	case o.mode != "rest" && o.mode != "embedded":
		return fmt.Errorf("%w: --mode %q: use rest or embedded", errUsage, o.mode)
	case o.mode == "embedded" && sc.needsExecutor:
		return fmt.Errorf("%w: the %s scenario needs the job executor of a node: use --mode rest", errUsage, o.scenario)
	}
	if o.active == 0 {
		o.active = o.tenants
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	rep := &benchReport{Scenario: o.scenario, Mode: o.mode, Tenants: o.tenants, ActiveTenants: o.active, Clients: o.clients,
		Instances: o.instances, StartedAt: time.Now().UTC(), Command: "tenantflow bench " + strings.Join(args, " "),
		Machine: benchMachine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()}}
	progress := newProgress(c.stderr)

	// Setup: tenants, the bench user, the scenario's deployment.
	setupStart := time.Now()
	src, _, err := c.open(ctx, o.common)
	if err != nil {
		return err
	}
	rep.Placement = string(src.Config.DefaultPlacement)
	if o.placement != "" {
		rep.Placement = o.placement
	}
	tenants, err := benchSetup(ctx, src, o, sc, progress)
	if err != nil {
		src.Close()
		return err
	}
	rep.SetupSeconds = time.Since(setupStart).Seconds()

	var tgt benchTarget
	var nodes []*benchNode
	if o.mode == "embedded" {
		eng, err := engine.New(src, engine.Options{})
		if err != nil {
			src.Close()
			return err
		}
		defer src.Close()
		tgt = &embeddedTarget{eng: eng}
	} else {
		// The nodes own the storage now (SQLite allows one node).
		pgPrimary := src.Config.PrimaryURL
		src.Close()
		var urls []string
		if o.urls != "" {
			urls = strings.Split(o.urls, ",")
		} else {
			for i := range o.nodes {
				n, err := startBenchNode(ctx, nodeEnv(o.common, c.getenv), i)
				if err != nil {
					stopNodes(nodes)
					return err
				}
				nodes = append(nodes, n)
				urls = append(urls, n.url)
				rep.NodeStats = append(rep.NodeStats, nodeStats{Node: i + 1, BootSeconds: n.boot.Seconds(), RSSMiBBoot: n.rssMiB()})
			}
			defer stopNodes(nodes)
		}
		rep.Nodes = len(urls)
		if o.idle > 0 {
			if pgPrimary == "" {
				fmt.Fprintln(c.stderr, "--idle counts queries through PostgreSQL's statistics; skipped on SQLite")
			} else {
				qps, err := idleQueries(ctx, pgPrimary, o.idle, progress)
				if err != nil {
					return err
				}
				rep.IdleQueries = &qps
			}
		}
		tgt = newRESTTarget(urls, benchLogin, benchPassword, o.clients)
	}

	if err := driveBench(ctx, tgt, sc, o, tenants, rep, progress); err != nil {
		return err
	}
	for i, n := range nodes {
		rep.NodeStats[i].RSSMiBEnd = n.rssMiB()
	}
	printBenchReport(c.stdout, rep)
	if o.jsonOut != "" {
		out := c.stdout
		if o.jsonOut != "-" {
			f, err := os.Create(o.jsonOut)
			if err != nil {
				return err
			}
			defer f.Close()
			out = f
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d of %d instances failed; first error: %s", rep.Failed, o.instances, rep.FirstError)
	}
	return nil
}

// The bench user is a member (admin) of every active bench tenant.
const (
	benchLogin    = "bench"
	benchPassword = "tenantflow-bench"
)

func benchTenantID(i int) string { return fmt.Sprintf("bench_%05d", i+1) }

// benchSetup makes sure the tenants, the bench user and the deployments
// exist; it returns the active tenants.
func benchSetup(ctx context.Context, src *datasource.Sources, o *benchOptions, sc *scenario, pr *progress) ([]string, error) {
	var dsns []string
	if o.dsns != "" {
		dsns = strings.Split(o.dsns, ",")
	}
	if o.placement == string(datasource.PlacementPGDSN) && len(dsns) == 0 {
		return nil, fmt.Errorf("%w: --placement pg-dsn needs --dsn", errUsage)
	}
	existing := map[string]bool{}
	list, err := src.Lifecycle.List(ctx, &datasource.ListTenantsParams{Status: []datasource.Status{datasource.StatusActive}})
	if err != nil {
		return nil, err
	}
	for _, t := range list {
		existing[t.ID] = true
	}
	var missing []int
	for i := range o.tenants {
		if !existing[benchTenantID(i)] {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		pr.start(fmt.Sprintf("creating %d tenants", len(missing)), len(missing))
		err := parallel(ctx, min(4, len(missing)), len(missing), func(k int) error {
			i := missing[k]
			p := &datasource.CreateTenantParams{ID: benchTenantID(i), DisplayName: "bench", Placement: datasource.Placement(o.placement)}
			if len(dsns) > 0 {
				p.DSN = dsns[i%len(dsns)]
				p.Schema = p.ID
			}
			_, err := src.Lifecycle.Create(ctx, p)
			pr.add(1)
			return err
		})
		pr.done()
		if err != nil {
			return nil, err
		}
	}
	u, err := src.Primary.UserByLogin(ctx, benchLogin)
	if errors.Is(err, datasource.ErrNotFound) {
		u, err = src.Primary.CreateUser(ctx, &datasource.CreateUserParams{Login: benchLogin, Password: benchPassword, DisplayName: "tenantflow bench"})
	}
	if err != nil {
		return nil, err
	}
	pw := benchPassword
	if err := src.Primary.UpdateUser(ctx, u.ID, &datasource.UpdateUserParams{Password: &pw}); err != nil {
		return nil, err
	}
	eng, err := engine.New(src, engine.Options{})
	if err != nil {
		return nil, err
	}
	active := make([]string, o.active)
	pr.start(fmt.Sprintf("deploying %s to %d tenants", sc.name, o.active), o.active)
	err = parallel(ctx, 4, o.active, func(i int) error {
		id := benchTenantID(i)
		active[i] = id
		if err := src.Primary.Grant(ctx, u.ID, id, security.RoleAdmin); err != nil {
			return err
		}
		tctx := security.WithTenant(ctx, id)
		_, err := eng.Deploy(tctx, &engine.DeployParams{Name: "bench", Source: "tenantflow bench", ChangedOnly: true,
			Resources: []engine.Resource{{Name: sc.name + ".bpmn", Content: []byte(sc.bpmn(o.timerDelay))}}})
		pr.add(1)
		return err
	})
	pr.done()
	return active, err
}

// parallel runs fn(0…n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, workers, n int, fn func(int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// driveBench runs the load and fills the report.
func driveBench(ctx context.Context, tgt benchTarget, sc *scenario, o *benchOptions, tenants []string, rep *benchReport, pr *progress) error {
	var (
		next     atomic.Int64
		failed   atomic.Int64
		mu       sync.Mutex
		firstErr error
		lat      []time.Duration
		wg       sync.WaitGroup
		counts   = make([]atomic.Int64, len(tenants))
	)
	fail := func(err error) {
		failed.Add(1)
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	if o.warmup > 0 && sc.drain == nil && !sc.needsExecutor {
		// Untimed: the first request to a tenant opens its pool and loads
		// its definition; the figures are for the steady state.
		n := min(o.warmup, len(tenants))
		pr.start(fmt.Sprintf("warming up %d tenants", n), n)
		err := parallel(ctx, o.clients, n, func(i int) error {
			_, err := sc.run(ctx, tgt, tenants[i], i)
			pr.add(1)
			return err
		})
		pr.done()
		if err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	label := fmt.Sprintf("%s: %d instances, %d clients, %d active tenants", sc.name, o.instances, o.clients, len(tenants))
	pr.start(label, o.instances)
	start := time.Now()
	started := make([]string, 0, o.instances) // instance IDs, for the timer scenario
	var startedMu sync.Mutex
	for cl := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.instances {
					break
				}
				ti := i % len(tenants)
				t0 := time.Now()
				id, err := sc.run(ctx, tgt, tenants[ti], cl)
				if err != nil {
					fail(err)
					pr.add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
				switch {
				case sc.needsExecutor:
					startedMu.Lock()
					started = append(started, tenants[ti]+"/"+id)
					startedMu.Unlock()
				case sc.drain == nil:
					counts[ti].Add(1)
				}
				pr.add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if sc.drain != nil && ctx.Err() == nil {
		pr.done()
		pr.start(fmt.Sprintf("%s: workers completing %d tasks", sc.name, o.instances-int(failed.Load())), o.instances-int(failed.Load()))
		if _, err := sc.drain(ctx, tgt, tenants, o.clients, func(tenant int) { counts[tenant].Add(1); pr.add(1) }); err != nil {
			fail(err)
		}
	}
	if sc.needsExecutor && ctx.Err() == nil {
		pr.done()
		pr.start(fmt.Sprintf("%s: waiting for %d timers", sc.name, len(started)), len(started))
		late, err := waitTimers(ctx, tgt, tenants, started, o.timerDelay, func(tenant int) { counts[tenant].Add(1); pr.add(1) })
		if err != nil {
			fail(err)
		} else {
			p := percentilesOf(late)
			rep.TimerLateness = &p
		}
	}
	elapsed := time.Since(start)
	pr.done()
	rep.Seconds = elapsed.Seconds()
	rep.Failed = failed.Load()
	if firstErr != nil {
		rep.FirstError = firstErr.Error()
	}
	rep.PerSecond = float64(int64(o.instances)-rep.Failed) / elapsed.Seconds()
	rep.Latency = percentilesOf(lat)
	per := make([]int64, len(counts))
	for i := range counts {
		per[i] = counts[i].Load()
	}
	rep.Fairness = fairnessOf(per)
	return ctx.Err()
}

func percentilesOf(ds []time.Duration) percentiles {
	if len(ds) == 0 {
		return percentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000
	}
	return percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: at(1)}
}

func fairnessOf(per []int64) fairness {
	f := fairness{Count: len(per)}
	if len(per) == 0 {
		return f
	}
	f.Min, f.Max = per[0], per[0]
	var sum, sq float64
	for _, n := range per {
		f.Min, f.Max = min(f.Min, n), max(f.Max, n)
		sum += float64(n)
		sq += float64(n) * float64(n)
	}
	if sq > 0 {
		f.Jain = sum * sum / (float64(len(per)) * sq)
	}
	return f
}

func printBenchReport(w io.Writer, r *benchReport) {
	where := fmt.Sprintf("%d node(s)", r.Nodes)
	if r.Mode == "embedded" {
		where = "in-process engine"
	}
	fmt.Fprintf(w, "scenario %s, mode %s, placement %s: %d tenants registered, %d active, %s, %d clients\n",
		r.Scenario, r.Mode, cmpStr(r.Placement, "default"), r.Tenants, r.ActiveTenants, where, r.Clients)
	fmt.Fprintf(w, "  instances     %d in %.2f s: %.1f/s (%d failed)\n", r.Instances, r.Seconds, r.PerSecond, r.Failed)
	fmt.Fprintf(w, "  latency ms    p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	if r.TimerLateness != nil {
		l := r.TimerLateness
		fmt.Fprintf(w, "  timer late ms p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", l.P50, l.P90, l.P99, l.Max)
	}
	fmt.Fprintf(w, "  fairness      per tenant min %d  max %d  Jain index %.3f\n", r.Fairness.Min, r.Fairness.Max, r.Fairness.Jain)
	for _, n := range r.NodeStats {
		fmt.Fprintf(w, "  node %d        boot %.2f s, RSS %.0f MiB after boot, %.0f MiB after load\n", n.Node, n.BootSeconds, n.RSSMiBBoot, n.RSSMiBEnd)
	}
	if r.IdleQueries != nil {
		fmt.Fprintf(w, "  idle          %.1f queries/s in total\n", *r.IdleQueries)
	}
	fmt.Fprintf(w, "  setup         %.1f s\n", r.SetupSeconds)
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error   %s\n", r.FirstError)
	}
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
