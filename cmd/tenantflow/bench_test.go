package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/datasource/dstest"
)

// TestMain lets the test binary stand in for tenantflow: the bench starts
// nodes by running its own executable with "serve".
func TestMain(m *testing.M) {
	if os.Getenv("TENANTFLOW_TEST_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func benchJSON(t *testing.T, env map[string]string, args ...string) (benchReport, string) {
	t.Helper()
	code, out, errs := runCLI(t, env, "", append([]string{"bench", "--json", "-"}, args...)...)
	if code != 0 {
		t.Fatalf("bench %v: exit %d\n%s\n%s", args, code, out, errs)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out[strings.Index(out, "\n{")+1:]), &rep); err != nil {
		t.Fatalf("bench printed no JSON summary: %v\n%s", err, out)
	}
	return rep, out
}

func TestBenchEmbeddedDrivesEveryTenantEvenly(t *testing.T) {
	env := map[string]string{"TENANTFLOW_DATA_DIR": t.TempDir()}
	rep, out := benchJSON(t, env, "--mode", "embedded", "--tenants", "3", "--instances", "30", "--clients", "4", "--scenario", "user-task")
	if rep.Failed != 0 || rep.Instances != 30 || rep.Fairness.Count != 3 || rep.Fairness.Min != 10 || rep.Fairness.Max != 10 {
		t.Fatalf("report: %+v", rep)
	}
	if rep.Latency.P50 <= 0 || rep.Latency.P99 < rep.Latency.P50 || rep.PerSecond <= 0 {
		t.Fatalf("latency and throughput not measured: %+v", rep)
	}
	for _, want := range []string{"latency ms", "fairness", "Jain index 1.000"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the text report lacks %q:\n%s", want, out)
		}
	}
	// A second run reuses the tenants.
	_, _, errs := runCLI(t, env, "", "bench", "--mode", "embedded", "--tenants", "3", "--instances", "3", "--scenario", "external")
	if strings.Contains(errs, "creating") {
		t.Fatalf("the second run created tenants again:\n%s", errs)
	}
}

func TestBenchStartsNodesAndDrivesThemOverREST(t *testing.T) {
	t.Setenv("TENANTFLOW_TEST_AS_MAIN", "1") // the nodes are this binary
	for _, kind := range dstest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			env := map[string]string{"TENANTFLOW_DATA_DIR": t.TempDir(), "TENANTFLOW_DRAIN_WAIT": "1ms"}
			nodes := "1" // SQLite storage serves one node
			if kind == dstest.Postgres {
				env["TENANTFLOW_PRIMARY_URL"] = dstest.CreateDatabase(t)
				nodes = "2"
			}
			rep, _ := benchJSON(t, env, "--tenants", "2", "--instances", "40", "--clients", "4", "--nodes", nodes,
				"--scenario", "timer", "--timer-delay", "100ms")
			if rep.Failed != 0 || rep.Fairness.Min != 20 || rep.Fairness.Max != 20 {
				t.Fatalf("report: %+v", rep)
			}
			if rep.Nodes != len(rep.NodeStats) || nodes == "2" && rep.Nodes != 2 || rep.NodeStats[0].BootSeconds <= 0 || rep.NodeStats[0].RSSMiBBoot <= 0 {
				t.Fatalf("node figures missing: %d nodes, %+v", rep.Nodes, rep.NodeStats)
			}
			if rep.TimerLateness == nil {
				t.Fatal("the timer scenario reported no lateness")
			}
		})
	}
}

func TestBenchRefusesWhatItCannotMeasure(t *testing.T) {
	env := map[string]string{"TENANTFLOW_DATA_DIR": t.TempDir()}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--scenario", "nap"}, "--scenario"},
		{[]string{"--tenants", "2", "--active", "3"}, "--active"},
		{[]string{"--mode", "embedded", "--scenario", "timer"}, "job executor"},
		{[]string{"--placement", "pg-dsn"}, "--dsn"},
	} {
		code, _, errs := runCLI(t, env, "", append([]string{"bench"}, c.args...)...)
		if code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("bench %v: exit %d, %q; want exit 2 naming %s", c.args, code, errs, c.want)
		}
	}
}
