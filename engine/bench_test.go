package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
)

// The durable benchmarks run the shapes of BenchmarkCore through the whole
// engine on real storage with fsync on, from benchClients goroutines (the
// client count of the pgbench baseline). They report, per shape:
//
//   - instances/s, and allocs/op where one op is one instance;
//   - round-trips/instance: exchanges with the database per instance
//     (statements, and each transaction's BEGIN and COMMIT);
//   - commits/instance: transactions the engine committed per instance; on
//     PostgreSQL also pg-tx/instance, the distinct transaction IDs the
//     server stamped on the instances' outbox rows;
//   - vs-insert: instances/s ÷ the TPS of single-row INSERT transactions
//     through the same datasource measured just before, and on PostgreSQL
//     vs-pgbench: instances/s ÷ the TPS of pgbench -n -c 4 -j 2 -T 30 with a
//     one-INSERT script, measured in the same run.
//
// The disk of the development machine is slow and noisy (single-row insert
// TPS anywhere from 300 to 1,400): compare ratios measured in one run, not
// figures across runs.

const benchClients = 4

type benchEnv struct {
	kind dstest.Kind
	ds   *dstest.Env
	e    *engine.Engine
	ctx  context.Context
}

func openBenchEnv(b *testing.B, kind dstest.Kind) *benchEnv {
	b.Helper()
	// A slow disk can stall commits for seconds: let clients wait for a
	// connection longer than the default before giving up.
	ds := dstest.Open(b, kind, &dstest.Options{Config: datasource.Config{
		DefaultLimits: datasource.Limits{AcquireTimeout: time.Minute}}})
	ctx := ds.Tenant(b, "bench")
	e, err := engine.New(ds.Sources, engine.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e.RegisterHandler("work", func(_ context.Context, t *engine.ServiceTask) error {
		t.Set("checked", true)
		return nil
	})
	for _, name := range []string{"bench-straight.bpmn", "bench-usertask.bpmn", "bench-forkjoin.bpmn"} {
		xml, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Deploy(ctx, &engine.DeployParams{Name: "bench", Resources: []engine.Resource{{Name: name, Content: xml}}}); err != nil {
			b.Fatal(err)
		}
	}
	return &benchEnv{kind: kind, ds: ds, e: e, ctx: ctx}
}

// runBenchClients runs b.N calls of fn spread over n goroutines.
func runBenchClients(b *testing.B, n int, fn func() error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := fn(); err != nil {
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
	if first != nil {
		b.Fatal(first)
	}
}

var benchVars = map[string]any{"amount": int64(1200)}

// shapes drive one instance each through the public API.
var benchShapes = []struct {
	name, key string
	run       func(v *benchEnv) error
}{
	{"straight-through", "straight", func(v *benchEnv) error { return v.straight("straight") }},
	{"user-task", "usertask", func(v *benchEnv) error { return v.userTask() }},
	{"fork-join", "forkjoin", func(v *benchEnv) error { return v.straight("forkjoin") }},
}

func (v *benchEnv) straight(key string) error {
	inst, err := v.e.StartInstance(v.ctx, &engine.StartParams{DefinitionKey: key, Variables: benchVars})
	if err != nil {
		return err
	}
	if inst.State != engine.InstanceCompleted {
		return fmt.Errorf("instance %d is %s after the start", inst.ID, inst.State)
	}
	return nil
}

func (v *benchEnv) userTask() error {
	inst, err := v.e.StartInstance(v.ctx, &engine.StartParams{DefinitionKey: "usertask", Variables: benchVars})
	if err != nil {
		return err
	}
	tasks, err := v.e.Tasks(v.ctx, &engine.TaskQuery{InstanceID: inst.ID})
	if err != nil {
		return err
	}
	if len(tasks) != 1 {
		return fmt.Errorf("instance %d has %d tasks", inst.ID, len(tasks))
	}
	_, err = v.e.CompleteTask(v.ctx, tasks[0].Ref(), &engine.CompleteTaskParams{User: "demo"})
	return err
}

// BenchmarkDurable runs the shapes on SQLite and PostgreSQL (fsync on), with
// the single-row INSERT baselines of the same run, from 4 clients and, on
// PostgreSQL, from 16 (where group commit has more to share) against
// pgbench with as many.
func BenchmarkDurable(b *testing.B) {
	for _, kind := range []dstest.Kind{dstest.SQLite, dstest.Postgres} {
		b.Run(string(kind), func(b *testing.B) {
			if kind == dstest.Postgres {
				dstest.RequirePostgres(b)
			}
			v := openBenchEnv(b, kind)
			clients := []int{benchClients}
			if kind == dstest.Postgres {
				clients = append(clients, 16)
			}
			for _, n := range clients {
				b.Run(fmt.Sprintf("clients-%d", n), func(b *testing.B) { v.durable(b, n) })
			}
		})
	}
}

// durable runs every shape from n clients.
func (v *benchEnv) durable(b *testing.B, n int) {
	var pgbenchTPS float64
	if v.kind == dstest.Postgres {
		var measured *pgbenchResult
		b.Run("pgbench-insert", func(b *testing.B) {
			// One pgbench run is the measurement, whatever b.N the
			// framework asks for.
			if measured == nil {
				r := pgbenchOnce(b, v.ds.URL, n)
				measured = &r
			}
			pgbenchTPS = measured.tps
			b.ReportMetric(measured.tps, "tps")
			b.ReportMetric(0, "ns/op")
		})
	}
	var insertTPS float64
	b.Run("go-insert", func(b *testing.B) {
		insertTPS = v.insertBaseline(b, n)
	})
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			commits0, trips0 := engine.Commits(v.e), engine.RoundTrips(v.e)
			ids0 := v.idCounter(b)
			b.ReportAllocs()
			b.ResetTimer()
			runBenchClients(b, n, func() error { return s.run(v) })
			b.StopTimer()
			rate := float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "instances/s")
			b.ReportMetric(float64(engine.Commits(v.e)-commits0)/float64(b.N), "commits/instance")
			b.ReportMetric(float64(engine.RoundTrips(v.e)-trips0)/float64(b.N), "round-trips/instance")
			b.ReportMetric(float64(v.idCounter(b)-ids0)/float64(b.N), "ids/instance")
			if insertTPS > 0 {
				b.ReportMetric(rate/insertTPS, "vs-insert")
			}
			if v.kind == dstest.Postgres {
				b.ReportMetric(v.pgTxPerInstance(b, s.key), "pg-tx/instance")
				if pgbenchTPS > 0 {
					b.ReportMetric(rate/pgbenchTPS, "vs-pgbench")
				}
			}
		})
	}
}

// insertBaseline measures single-row INSERT transactions through the
// tenant's datasource from benchClients goroutines and returns their TPS.
func (v *benchEnv) insertBaseline(b *testing.B, clients int) float64 {
	ds := v.ds.Sources.Tenants
	ddl := `CREATE TABLE IF NOT EXISTS bench_insert (id INTEGER PRIMARY KEY AUTOINCREMENT, at BIGINT NOT NULL, payload TEXT NOT NULL)`
	if v.kind == dstest.Postgres {
		ddl = `CREATE TABLE IF NOT EXISTS bench_insert (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, payload TEXT NOT NULL)`
	}
	if err := ds.InTx(v.ctx, func(tx *datasource.Tx) error { _, err := tx.Exec(ddl); return err }); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	runBenchClients(b, clients, func() error {
		return ds.InTx(v.ctx, func(tx *datasource.Tx) error {
			_, err := tx.ExecContext(v.ctx, `INSERT INTO bench_insert (at, payload) VALUES ($1, $2)`, time.Now().UnixMilli(), "x")
			return err
		})
	})
	tps := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(tps, "tps")
	return tps
}

// idCounter reads the tenant's ID counter.
func (v *benchEnv) idCounter(b *testing.B) int64 {
	var n int64
	err := v.ds.Sources.Tenants.InReadTx(v.ctx, func(tx *datasource.Tx) error {
		return tx.Get(&n, `SELECT next_id FROM tf_id_block WHERE name = 'default'`)
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// pgTxPerInstance counts, over every instance of key so far, the distinct
// transactions PostgreSQL stamped on their outbox rows.
func (v *benchEnv) pgTxPerInstance(b *testing.B, key string) float64 {
	var r struct {
		Tx   int64 `db:"tx"`
		Inst int64 `db:"inst"`
	}
	err := v.ds.Sources.Tenants.InReadTx(v.ctx, func(tx *datasource.Tx) error {
		return tx.Get(&r, `SELECT COUNT(DISTINCT xmin::text) AS tx, COUNT(DISTINCT instance_id) AS inst FROM tf_outbox WHERE def_key = $1`, key)
	})
	if err != nil {
		b.Fatal(err)
	}
	if r.Inst == 0 {
		return 0
	}
	return float64(r.Tx) / float64(r.Inst)
}

// ---- pgbench, and pg_test_fsync once per process ----

type pgbenchResult struct {
	tps float64
	err error
}

var pgTestFsyncOnce sync.Once

// pgbenchOnce runs pgbench -n -c <clients> -j 2 -T <TENANTFLOW_PGBENCH_SECONDS,
// default 30> with a one-INSERT script against the benchmark's database,
// just before the engine's figures it is compared with, and pg_test_fsync
// the first time. Without pgbench the benchmark fails under CI=true and
// reports no baseline otherwise.
func pgbenchOnce(b *testing.B, url string, clients int) pgbenchResult {
	b.Helper()
	r := runPgbench(b, url, clients)
	pgTestFsyncOnce.Do(func() { runPgTestFsync(b) })
	if r.err != nil {
		if os.Getenv("CI") == "true" {
			b.Fatal(r.err)
		}
		b.Log(r.err)
	}
	return r
}

// benchPGTool finds a PostgreSQL client program on PATH or in the usual
// Debian location.
func benchPGTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%s not found on PATH or under /usr/lib/postgresql/*/bin: install the PostgreSQL client programs (Debian: postgresql-client) to measure the baseline", name)
}

var benchTPSLine = regexp.MustCompile(`tps = ([0-9.]+)`)

func runPgbench(b *testing.B, url string, clients int) pgbenchResult {
	bin, err := benchPGTool("pgbench")
	if err != nil {
		return pgbenchResult{err: err}
	}
	db := dstest.OpenSQL(b, url)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS pgbench_insert (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, payload TEXT NOT NULL)`); err != nil {
		return pgbenchResult{err: err}
	}
	script := filepath.Join(b.TempDir(), "insert.sql")
	if err := os.WriteFile(script, []byte("INSERT INTO pgbench_insert (at, payload) VALUES (1, 'x');\n"), 0o600); err != nil {
		return pgbenchResult{err: err}
	}
	secs := 30
	if s, err := strconv.Atoi(os.Getenv("TENANTFLOW_PGBENCH_SECONDS")); err == nil && s > 0 {
		secs = s
	}
	args := []string{"-n", "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(secs), "-f", script, url}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return pgbenchResult{err: fmt.Errorf("pgbench: %v\n%s", err, out)}
	}
	m := benchTPSLine.FindSubmatch(out)
	if m == nil {
		return pgbenchResult{err: fmt.Errorf("pgbench printed no tps:\n%s", out)}
	}
	tps, _ := strconv.ParseFloat(string(m[1]), 64)
	b.Logf("pgbench %s: %.0f tps", strings.Join(args[:len(args)-1], " "), tps)
	return pgbenchResult{tps: tps}
}

// runPgTestFsync logs pg_test_fsync's figures (one second per test) for the
// disk the benchmarks ran on; the temporary directory is on the same disk
// as PostgreSQL's data here.
func runPgTestFsync(b *testing.B) {
	bin, err := benchPGTool("pg_test_fsync")
	if err != nil {
		b.Log(err)
		return
	}
	out, err := exec.Command(bin, "-s", "1", "-f", filepath.Join(b.TempDir(), "fsync.out")).CombinedOutput()
	if err != nil {
		b.Logf("pg_test_fsync: %v\n%s", err, out)
		return
	}
	var keep bytes.Buffer
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "ops/sec") || strings.HasPrefix(line, "Compare") || strings.HasPrefix(line, "Non-sync") {
			keep.WriteString(line + "\n")
		}
	}
	b.Logf("pg_test_fsync -s 1:\n%s", keep.String())
}

// BenchmarkStepBudgetMemory runs, b.N times each, the commands the step
// budget stops (a gateway loop without a wait state, a parallel
// multi-instance of a billion) and reports by how much the process's
// peak resident memory rose above where it stood before them (the goal:
// under 100 MB), and the steps' cost in time per failed command.
//
//	go test -run '^$' -bench StepBudgetMemory -benchtime 20x -cpu 2 ./engine/
func BenchmarkStepBudgetMemory(b *testing.B) {
	v := openBenchEnv(b, dstest.SQLite)
	xml, err := os.ReadFile(filepath.Join("testdata", "budget-loop.bpmn"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := v.e.Deploy(v.ctx, &engine.DeployParams{Name: "budget", Resources: []engine.Resource{{Name: "budget-loop.bpmn", Content: xml}}}); err != nil {
		b.Fatal(err)
	}
	// Reset the peak to what is resident now (Linux: clear_refs 5).
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak resident size: %v", err)
	}
	before := procStatusMB(b, "VmRSS:")
	b.ResetTimer()
	for range b.N {
		_, err := v.e.StartInstance(v.ctx, &engine.StartParams{DefinitionKey: "budget_loop", Variables: map[string]any{"count": 0}})
		if !errors.Is(err, engine.ErrStepBudget) {
			b.Fatalf("the loop: %v", err)
		}
		_, err = v.e.StartInstance(v.ctx, &engine.StartParams{DefinitionKey: "budget_mi", Variables: map[string]any{"n": 1_000_000_000}})
		if !errors.Is(err, engine.ErrStepBudget) {
			b.Fatalf("the multi-instance: %v", err)
		}
	}
	b.StopTimer()
	b.ReportMetric(procStatusMB(b, "VmHWM:")-before, "peak-RSS-growth-MB")
}

// procStatusMB reads a size field of /proc/self/status in MB.
func procStatusMB(b *testing.B, field string) float64 {
	b.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
