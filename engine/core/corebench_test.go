package core

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The three process shapes every benchmark measures: the core alone here,
// durable on PostgreSQL and SQLite in bench_test.go. Each instance's work
// produces the complete set of changes storage would apply (runtime rows,
// history, outbox events with their JSON data).

// benchInstance runs one instance of a shape through the core alone and
// returns it ended.
type benchShape struct {
	name string
	file string
	key  string
	run  func(env *memEnv, def *Deployed, u *Unit, vars map[string]Value) (*Instance, error)
}

var benchShapes = []benchShape{
	{"straight-through", "bench-straight.bpmn", "straight", coreStraight},
	{"user-task", "bench-usertask.bpmn", "usertask", coreUserTask},
	{"fork-join", "bench-forkjoin.bpmn", "forkjoin", coreStraight},
}

// coreStraight starts an instance that runs to its end in one command.
func coreStraight(env *memEnv, def *Deployed, u *Unit, vars map[string]Value) (*Instance, error) {
	c := NewExecutor(u, env)
	inst, err := c.StartInstance(def, "", vars, nil, "", nil)
	if err != nil {
		return nil, err
	}
	if err := c.Run(); err != nil {
		return nil, err
	}
	for _, i := range u.Instances {
		i.Holds = u.ComputeHolds(i)
	}
	return inst, nil
}

// coreUserTask starts an instance, commits in memory (as storage would,
// dropping deleted rows and marking the rest clean), then completes its task
// in a second command.
func coreUserTask(env *memEnv, def *Deployed, u *Unit, vars map[string]Value) (*Instance, error) {
	inst, err := coreStraight(env, def, u, vars)
	if err != nil {
		return nil, err
	}
	commitMem(u)
	u.VarUpdates, u.Events = u.VarUpdates[:0], u.Events[:0]
	task := u.Tasks[0]
	c := NewExecutor(u, env)
	if err := c.CompleteTask(task, nil, false, "demo"); err != nil {
		return nil, err
	}
	if err := c.Run(); err != nil {
		return nil, err
	}
	for _, i := range u.Instances {
		i.Holds = u.ComputeHolds(i)
	}
	return inst, nil
}

// commitMem is what a commit leaves of a unit: live rows, all clean.
func commitMem(u *Unit) {
	u.Execs = keep(u.Execs, func(x *Execution) *RowOp { return &x.Op })
	u.Vars = keep(u.Vars, func(x *VariableRow) *RowOp { return &x.Op })
	u.Tasks = keep(u.Tasks, func(x *TaskRow) *RowOp { return &x.Op })
	u.Acts = keep(u.Acts, func(x *ActivityRow) *RowOp { return &x.Op })
	for _, i := range u.Instances {
		i.Op, i.Touched, i.Loaded = RowClean, false, 1
	}
}

// BenchmarkCore runs each shape through the core without storage, on
// GOMAXPROCS goroutines, each with its own units of work (as commands on
// different instances are).
func BenchmarkCore(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) {
			env := newMemEnv(b, readTestdata(b, s.file))
			env.handlers["work"] = func(_ context.Context, t *ServiceTask) error {
				t.Set("checked", true)
				return nil
			}
			def := env.defs[s.key]
			vars := map[string]Value{"amount": {TypeLong, int64(1200)}}
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var next int64
				newID := func() (int64, error) { next++; return next, nil }
				for pb.Next() {
					u := &Unit{Tenant: "mem", Now: now, NowMS: now.UnixMilli(), NewID: newID}
					inst, err := s.run(env, def, u, vars)
					if err != nil {
						b.Fatal(err)
					}
					if inst.State != InstanceCompleted {
						b.Fatalf("instance ended %s", inst.State)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "instances/s")
		})
	}
}

// readTestdata reads a model of the engine's testdata folder.
func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
