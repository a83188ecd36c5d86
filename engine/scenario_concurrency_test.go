package engine_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
)

// TestConcurrentCompletionsOfOneTask lets 50 goroutines complete the same
// user task at once: exactly one wins, the others get ErrConflict (or
// ErrNotFound), and the instance moved on exactly once. SQLite serialises
// the writers; PostgreSQL really races them.
func TestConcurrentCompletionsOfOneTask(t *testing.T) {
	t.Parallel()
	forEachKindAtOnce(t, nil, func(t *testing.T, w *world) {
		s := w.scenario(t)
		s.deploy("gateway-parallel.bpmn")
		inst := s.start("gateway_parallel", nil)
		task := s.task(inst, "a")

		const n = 50
		var wins, conflicts atomic.Int32
		var unexpected []error
		var mu sync.Mutex
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-gate
				_, err := s.CompleteTask(s.ctx, task.Ref(), &engine.CompleteTaskParams{Variables: map[string]any{"winner": i}})
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, engine.ErrConflict) || errors.Is(err, engine.ErrNotFound):
					conflicts.Add(1)
				default:
					mu.Lock()
					unexpected = append(unexpected, err)
					mu.Unlock()
				}
			}(i)
		}
		close(gate)
		wg.Wait()
		if len(unexpected) > 0 {
			t.Fatalf("unexpected errors: %v", unexpected)
		}
		if wins.Load() != 1 || conflicts.Load() != n-1 {
			t.Fatalf("%d completions succeeded and %d conflicted, want 1 and %d", wins.Load(), conflicts.Load(), n-1)
		}
		// The task completed once; the token waits at the join for b.
		done, err := s.Task(s.ctx, task.Ref())
		if err != nil || done.State != engine.TaskCompleted {
			t.Fatalf("task %+v %v", done, err)
		}
		s.wantPath(inst, "start", "fork", "a", "b")
		s.wantUnfinished(inst, "b")
		s.wantOpen(inst, open{Tasks: 1, Executions: 3})
		ups, _ := s.VariableUpdates(s.ctx, inst.Ref())
		if len(ups) != 1 || ups[0].Name != "winner" {
			t.Fatalf("variable updates %+v, want the winner's only", ups)
		}
		completed := 0
		all, _ := readAll(t, s.Engine, s.ctx, "", s.outboxRows(), 1000)
		for _, e := range all {
			if e.Type == engine.EventTaskCompleted {
				completed++
			}
		}
		if completed != 1 {
			t.Fatalf("%d task-completed events", completed)
		}
		s.complete(inst, "b", nil)
		s.wantPath(inst, "start", "fork", "a", "b", "join", "end")
		s.wantEnded(inst, engine.InstanceCompleted)
	})
}

// TestParallelForkJoinUnderLoad drives 1,000 instances through a parallel
// fork and join with 16 goroutines; the two branches of each instance are
// completed by different goroutines at about the same time. Every instance
// must end with each element passed exactly once and no token left.
//
// Under the race detector the SQLite run drives 400 instances: its single
// writer serialises the commands anyway (PostgreSQL is where they really
// race, and it always drives 1,000), and the instrumented pure-Go driver
// takes about 30ms a command, which would make this one run last minutes.
func TestParallelForkJoinUnderLoad(t *testing.T) {
	const workers = 16
	t.Parallel()
	// Sixteen goroutines queue for one SQLite writer, or four PostgreSQL
	// connections: on a busy machine a wait can pass the default 5s.
	opts := &dstest.Options{Config: datasource.Config{DefaultLimits: datasource.Limits{AcquireTimeout: time.Minute}}}
	forEachKindAtOnce(t, opts, func(t *testing.T, w *world) {
		instances := 1000
		if raceEnabled && w.kind == dstest.SQLite {
			instances = 400
		}
		s := w.scenario(t)
		s.deploy("gateway-parallel.bpmn")

		work := func(n int, fn func(i int) error) {
			t.Helper()
			var next atomic.Int64
			errs := make(chan error, workers)
			var wg sync.WaitGroup
			for g := 0; g < workers; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= n {
							return
						}
						if err := fn(i); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		}

		ids := make([]int64, instances)
		work(instances, func(i int) error {
			inst, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "gateway_parallel"})
			if err != nil {
				return err
			}
			ids[i] = inst.ID
			return nil
		})
		tasks, err := s.Tasks(s.ctx, &engine.TaskQuery{Page: engine.Page{MaxResults: engine.MaxPageSize, SortBy: "ID"}})
		if err != nil || len(tasks) != 2*instances {
			t.Fatalf("%d open tasks (%v), want %d", len(tasks), err, 2*instances)
		}
		// Queue each instance's two tasks next to each other, so two
		// goroutines take them at about the same time.
		byInstance := map[int64][]*engine.Task{}
		for _, task := range tasks {
			byInstance[task.InstanceID] = append(byInstance[task.InstanceID], task)
		}
		queue := make([]*engine.Task, 0, len(tasks))
		for _, id := range ids {
			queue = append(queue, byInstance[id]...)
		}
		work(len(queue), func(i int) error {
			_, err := s.CompleteTask(s.ctx, queue[i].Ref(), nil)
			return err
		})

		// Every instance ended, each element passed once, no token left.
		err = s.ds.Sources.Tenants.InReadTx(s.ctx, func(tx *datasource.Tx) error {
			var left struct {
				Executions int `db:"executions"`
				Tasks      int `db:"tasks"`
				Active     int `db:"active"`
				Completed  int `db:"completed"`
				Unfinished int `db:"unfinished"`
			}
			if err := tx.GetContext(s.ctx, &left, `SELECT
				(SELECT COUNT(*) FROM tf_execution) AS executions,
				(SELECT COUNT(*) FROM tf_task WHERE state = 'created') AS tasks,
				(SELECT COUNT(*) FROM tf_instance WHERE state = 'active') AS active,
				(SELECT COUNT(*) FROM tf_instance WHERE state = 'completed') AS completed,
				(SELECT COUNT(*) FROM tf_activity WHERE ended_at IS NULL) AS unfinished`); err != nil {
				return err
			}
			if left.Executions != 0 || left.Tasks != 0 || left.Active != 0 || left.Completed != instances || left.Unfinished != 0 {
				t.Errorf("after the run: %+v, want every instance completed and nothing left", left)
			}
			var counts []struct {
				InstanceID int64  `db:"instance_id"`
				ElementID  string `db:"element_id"`
				N          int    `db:"n"`
			}
			if err := tx.SelectContext(s.ctx, &counts, `SELECT instance_id, element_id, COUNT(*) AS n FROM tf_activity
				GROUP BY instance_id, element_id`); err != nil {
				return err
			}
			per := map[int64]map[string]int{}
			for _, c := range counts {
				if per[c.InstanceID] == nil {
					per[c.InstanceID] = map[string]int{}
				}
				per[c.InstanceID][c.ElementID] = c.N
			}
			want := map[string]int{"start": 1, "fork": 1, "a": 1, "b": 1, "join": 1, "end": 1}
			for _, id := range ids {
				got := per[id]
				if len(got) != len(want) {
					t.Errorf("instance %d passed %v, want %v", id, got, want)
					continue
				}
				for el, n := range want {
					if got[el] != n {
						t.Errorf("instance %d passed %v, want %v", id, got, want)
						break
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
