package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
)

// outboxRows counts the tenant's outbox events: the backlog of a consumer
// that never advanced.
func (s *sc) outboxRows() int {
	s.t.Helper()
	st, err := s.ConsumerState(s.ctx, "scenario-counter")
	if err != nil {
		s.t.Fatal(err)
	}
	return int(st.Backlog)
}

// readAll reads every event after a cursor in pages, and returns them with
// the cursor after the last. Events are readable as soon as their commit
// returned, so it fails unless it read exactly want.
func readAll(t *testing.T, e *engine.Engine, ctx context.Context, after engine.Cursor, want, page int) ([]*engine.Event, engine.Cursor) {
	t.Helper()
	var got []*engine.Event
	for {
		b, err := e.ReadEvents(ctx, &engine.ReadEventsParams{After: after, Limit: page})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b.Events...)
		after = b.Next
		if len(b.Events) == 0 {
			break
		}
	}
	if len(got) != want {
		t.Fatalf("read %d events, want %d", len(got), want)
	}
	return got, after
}

// TestOutbox covers the events each change appends, reading them with a
// cursor, and pruning.
func TestOutbox(t *testing.T) {
	type ev struct {
		Type    engine.EventType
		Element string
	}
	runStorageScenarios(t, []scenario{
		{"each change appends its events in the same transaction", func(s *sc) {
			s.deploy("task-user.bpmn", "task-service-handler.bpmn")
			s.RegisterHandler("price", func(context.Context, *engine.ServiceTask) error { return errors.New("down") })
			before := s.outboxRows()
			if _, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "task_service"}); err == nil {
				s.t.Fatal("the start did not fail")
			}
			if n := s.outboxRows(); n != before {
				s.t.Fatalf("a failed start appended %d events", n-before)
			}
			inst := s.start("task_user", map[string]any{"owner": "ann", "reviewers": "bob", "team": "t", "due": "P1D", "form": "f", "urgent": false})
			task := s.task(inst, "review")
			if err := s.SetAssignee(s.ctx, task.Ref(), "bob"); err != nil {
				s.t.Fatal(err)
			}
			if _, err := s.CompleteTask(s.ctx, task.Ref(), &engine.CompleteTaskParams{Variables: map[string]any{"ok": true}}); err != nil {
				s.t.Fatal(err)
			}
			events, _ := readAll(s.t, s.Engine, s.ctx, "", s.outboxRows(), 500)
			var got []ev
			for _, e := range events {
				if e.InstanceID != inst.ID || e.Tenant != s.tenant || e.DefinitionKey != "task_user" {
					s.t.Fatalf("event of another instance or tenant: %+v", e)
				}
				el := e.ElementID
				if e.Type == engine.EventVariableUpdated {
					// Where a variable write is attributed (the scope, or
					// the activity that wrote it) is not what this checks.
					el = ""
				}
				got = append(got, ev{e.Type, el})
			}
			want := []ev{
				{engine.EventProcessStarted, ""},
				{engine.EventVariableUpdated, ""}, {engine.EventVariableUpdated, ""}, {engine.EventVariableUpdated, ""},
				{engine.EventVariableUpdated, ""}, {engine.EventVariableUpdated, ""}, {engine.EventVariableUpdated, ""},
				{engine.EventActivityStarted, "start"}, {engine.EventActivityCompleted, "start"},
				{engine.EventActivityStarted, "review"}, {engine.EventTaskCreated, "review"}, {engine.EventTaskAssigned, "review"},
				// SetAssignee
				{engine.EventTaskAssigned, "review"},
				// CompleteTask
				{engine.EventVariableUpdated, ""}, {engine.EventTaskCompleted, "review"}, {engine.EventActivityCompleted, "review"},
				{engine.EventActivityStarted, "end"}, {engine.EventActivityCompleted, "end"}, {engine.EventProcessCompleted, ""},
			}
			if !reflect.DeepEqual(got, want) {
				s.t.Fatalf("events\n got  %v\n want %v", got, want)
			}
			var assigned map[string]any
			if err := json.Unmarshal(events[12].Data, &assigned); err != nil || assigned["assignee"] != "bob" {
				s.t.Fatalf("assignment data %s %v", events[12].Data, err)
			}
			var variable map[string]any
			if err := json.Unmarshal(events[13].Data, &variable); err != nil || variable["name"] != "ok" || variable["value"] != true {
				s.t.Fatalf("variable data %s %v", events[13].Data, err)
			}
			for i := 1; i < len(events); i++ {
				if events[i].Cursor == events[i-1].Cursor || events[i].Cursor == "" {
					s.t.Fatalf("events %d and %d share the cursor %q", i-1, i, events[i].Cursor)
				}
			}
		}},

		{"incident events", func(s *sc) {
			s.deploy("task-external.bpmn")
			inst := s.start("task_external", nil)
			l, _ := s.FetchAndLock(s.ctx, &engine.FetchAndLockParams{WorkerID: "w", MaxTasks: 1, Topics: []engine.TopicRequest{{Name: "ship", LockDuration: time.Minute}}})
			if err := s.FailExternalTask(s.ctx, l[0].Ref(), &engine.ExternalFailureParams{WorkerID: "w", ErrorMessage: "down"}); err != nil {
				s.t.Fatal(err)
			}
			if err := s.SetExternalTaskRetries(s.ctx, l[0].Ref(), 1); err != nil {
				s.t.Fatal(err)
			}
			events, _ := readAll(s.t, s.Engine, s.ctx, "", s.outboxRows(), 500)
			var types []engine.EventType
			for _, e := range events {
				if e.InstanceID == inst.ID && (e.Type == engine.EventIncidentCreated || e.Type == engine.EventIncidentResolved) {
					types = append(types, e.Type)
				}
			}
			if !reflect.DeepEqual(types, []engine.EventType{engine.EventIncidentCreated, engine.EventIncidentResolved}) {
				s.t.Fatalf("incident events %v", types)
			}
		}},

		{"read in pages from a cursor, filtered", func(s *sc) {
			s.deploy("start-none.bpmn")
			var ids []int64
			for i := 0; i < 4; i++ {
				ids = append(ids, s.start("start_none", nil).ID)
			}
			total := s.outboxRows()
			all, end := readAll(s.t, s.Engine, s.ctx, "", total, 10_000)
			paged, pagedEnd := readAll(s.t, s.Engine, s.ctx, "", total, 3)
			for i := range all {
				if all[i].ID != paged[i].ID {
					s.t.Fatalf("paged read differs at %d", i)
				}
			}
			if end != pagedEnd {
				s.t.Fatalf("cursors %q and %q", end, pagedEnd)
			}
			b, err := s.ReadEvents(s.ctx, &engine.ReadEventsParams{After: end})
			if err != nil || len(b.Events) != 0 || b.Next != end {
				s.t.Fatalf("read past the end: %+v %v", b, err)
			}
			// Instances complete in start order: the process-completed
			// events come in that order.
			var done []int64
			for _, e := range all {
				if e.Type == engine.EventProcessCompleted {
					done = append(done, e.InstanceID)
				}
			}
			if !reflect.DeepEqual(done, ids) {
				s.t.Fatalf("completions %v, want %v", done, ids)
			}
			f, err := s.ReadEvents(s.ctx, &engine.ReadEventsParams{Types: []engine.EventType{engine.EventProcessStarted}, InstanceID: ids[2]})
			if err != nil || len(f.Events) != 1 || f.Events[0].InstanceID != ids[2] || f.Next != end {
				s.t.Fatalf("filtered read: %+v %v", f, err)
			}
			_, err = s.ReadEvents(s.ctx, &engine.ReadEventsParams{After: "x42"})
			wantErr(s.t, err, engine.ErrInvalid, "a cursor this storage did not issue")
		}},

		{"prune finds the newest events old enough among many, minute by minute", func(s *sc) {
			s.deploy("start-none.bpmn")
			per := 0
			for i := range 37 {
				before := s.outboxRows()
				s.start("start_none", nil)
				per = s.outboxRows() - before
				if i < 36 {
					s.clock.Advance(time.Minute)
				}
			}
			// Started at epoch + 0…36 min: older than epoch + 23m30s are 24.
			if n, err := s.PruneOutbox(s.ctx, epoch.Add(23*time.Minute+30*time.Second)); err != nil || n != 24*per {
				s.t.Fatalf("pruned %d (%v), want the %d events of the first 24 instances", n, err, 24*per)
			}
			if n := s.outboxRows(); n != 13*per {
				s.t.Fatalf("%d events left, want %d", n, 13*per)
			}
			if n, err := s.PruneOutbox(s.ctx, epoch.Add(time.Hour)); err != nil || n != 13*per {
				s.t.Fatalf("pruned %d (%v), want the rest", n, err)
			}
		}},

		{"prune removes old events every consumer has passed", func(s *sc) {
			s.deploy("start-none.bpmn")
			s.start("start_none", nil)
			first, c1 := readAll(s.t, s.Engine, s.ctx, "", s.outboxRows(), 500)
			s.clock.Advance(2 * time.Hour)
			s.start("start_none", nil)
			second, end := readAll(s.t, s.Engine, s.ctx, c1, s.outboxRows()-len(first), 500)
			if err := s.AdvanceConsumer(s.ctx, "slow", c1); err != nil {
				s.t.Fatal(err)
			}
			if err := s.AdvanceConsumer(s.ctx, "fast", end); err != nil {
				s.t.Fatal(err)
			}
			if err := s.AdvanceConsumer(s.ctx, "fast", c1); err != nil { // never backwards
				s.t.Fatal(err)
			}
			st, err := s.ConsumerState(s.ctx, "slow")
			if err != nil || st.Position != c1 || st.Backlog != int64(len(second)) {
				s.t.Fatalf("slow consumer %+v %v", st, err)
			}
			if st, _ := s.ConsumerState(s.ctx, "fast"); st.Position != end || st.Backlog != 0 {
				s.t.Fatalf("fast consumer %+v", st)
			}
			// A consumer that has not advanced yet holds back everything.
			if n, err := s.PruneOutbox(s.ctx, epoch.Add(3*time.Hour), "fast", "not-yet"); err != nil || n != 0 {
				s.t.Fatalf("pruned %d (%v) while a consumer named in waitFor had not advanced, want 0", n, err)
			}
			// Older than 3h and passed by both: only the first instance's.
			if n, err := s.PruneOutbox(s.ctx, epoch.Add(3*time.Hour), "fast"); err != nil || n != len(first) {
				s.t.Fatalf("pruned %d (%v), want %d", n, err, len(first))
			}
			if err := s.AdvanceConsumer(s.ctx, "slow", end); err != nil {
				s.t.Fatal(err)
			}
			// Both passed everything, but the second batch is not old enough.
			if n, err := s.PruneOutbox(s.ctx, epoch.Add(time.Hour)); err != nil || n != 0 {
				s.t.Fatalf("pruned %d (%v), want 0", n, err)
			}
			if n, err := s.PruneOutbox(s.ctx, epoch.Add(3*time.Hour)); err != nil || n != len(second) {
				s.t.Fatalf("pruned %d (%v), want %d", n, err, len(second))
			}
			if n := s.outboxRows(); n != 0 {
				s.t.Fatalf("%d events left", n)
			}
		}},
	})
}

// TestOutboxLateCommitIsNotSkipped holds one command open (a Go handler
// blocks inside it) while a second, younger one commits. A reader sees the
// younger command's events at once, and when the older one commits, a
// reader resuming from its cursor gets the older one's events: none
// skipped, none twice.
func TestOutboxLateCommitIsNotSkipped(t *testing.T) {
	t.Parallel()
	runOn(t, append([]dstest.Kind{memory}, dstest.Kinds...), nil, func(t *testing.T, w *world) {
		s := w.scenario(t)
		s.deploy("outbox-late-commit.bpmn", "start-none.bpmn")
		entered, release := make(chan struct{}), make(chan struct{})
		s.RegisterHandler("slow", func(context.Context, *engine.ServiceTask) error {
			close(entered)
			<-release
			return nil
		})
		late := s.start("outbox_late_commit", nil)
		task := s.task(late, "approve")
		before := s.outboxRows()
		_, cursor := readAll(t, s.Engine, s.ctx, "", before, 500)

		done := make(chan error)
		go func() {
			_, err := s.CompleteTask(s.ctx, task.Ref(), nil)
			done <- err
		}()
		<-entered
		early := s.start("start_none", nil)
		seenEarly, cursor := readAll(t, s.Engine, s.ctx, cursor, s.outboxRows()-before, 500)
		for _, e := range seenEarly {
			if e.InstanceID != early.ID {
				t.Fatalf("while the older command was open, the reader saw %+v", e)
			}
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		seenLate, _ := readAll(t, s.Engine, s.ctx, cursor, s.outboxRows()-before-len(seenEarly), 500)
		for _, e := range seenLate {
			if e.InstanceID != late.ID {
				t.Fatalf("after the older command committed, the reader saw %+v", e)
			}
		}
		if seenLate[len(seenLate)-1].Type != engine.EventProcessCompleted {
			t.Fatalf("last event %+v", seenLate[len(seenLate)-1])
		}
	})
}

// TestOutboxIgnoresTransactionsOutsideTheTenant holds a transaction open in
// another database of the same PostgreSQL server, as a report or pg_dump
// would, and one in another tenant's schema: the tenant's new events are
// readable while both are still open.
func TestOutboxIgnoresTransactionsOutsideTheTenant(t *testing.T) {
	t.Parallel()
	dstest.RequirePostgres(t)
	s := (&world{ds: dstest.Open(t, dstest.Postgres, nil), kind: dstest.Postgres}).scenario(t)
	other := s.ds.Tenant(t, "neighbour")
	s.deploy("start-none.bpmn")

	foreign := dstest.OpenSQL(t, dstest.CreateDatabase(t))
	ftx, err := foreign.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer ftx.Rollback()
	if _, err := ftx.Exec(`SELECT txid_current()`); err != nil { // an xid, as every writer has
		t.Fatal(err)
	}
	hold := make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.ds.Sources.Tenants.InTx(other, func(tx *datasource.Tx) error {
			if _, err := tx.Exec(`SELECT txid_current()`); err != nil {
				return err
			}
			<-hold
			return nil
		})
	}()
	defer func() {
		close(hold)
		if err := <-held; err != nil {
			t.Error(err)
		}
	}()

	inst := s.start("start_none", nil)
	b, err := s.ReadEvents(s.ctx, &engine.ReadEventsParams{InstanceID: inst.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) == 0 || b.Events[len(b.Events)-1].Type != engine.EventProcessCompleted {
		t.Fatalf("with foreign transactions open, the reader got %d events of the committed instance, want all", len(b.Events))
	}
}

// TestOutboxConcurrentWritersAndReader runs commands from several
// goroutines while a reader follows the outbox from its cursor: the reader
// gets every committed event exactly once, in strictly increasing cursor
// order.
func TestOutboxConcurrentWritersAndReader(t *testing.T) {
	t.Parallel()
	runOn(t, append([]dstest.Kind{memory}, dstest.Kinds...), nil, func(t *testing.T, w *world) {
		s := w.scenario(t)
		s.deploy("start-none.bpmn")
		const writers, each = 6, 15
		stop := make(chan struct{})
		type read struct {
			events []*engine.Event
			err    error
		}
		got := make(chan read)
		go func() {
			var r read
			var after engine.Cursor
			for {
				select {
				case <-stop:
					got <- r
					return
				default:
				}
				b, err := s.ReadEvents(s.ctx, &engine.ReadEventsParams{After: after, Limit: 7})
				if err != nil {
					r.err = err
					got <- r
					return
				}
				r.events = append(r.events, b.Events...)
				after = b.Next
			}
		}()
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					if _, err := s.StartInstance(s.ctx, &engine.StartParams{DefinitionKey: "start_none"}); err != nil {
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
		close(stop)
		r := <-got
		if r.err != nil {
			t.Fatal(r.err)
		}
		rest, _ := readAll(t, s.Engine, s.ctx, lastCursor(r.events), s.outboxRows()-len(r.events), 500)
		all := append(r.events, rest...)
		seen := map[int64]bool{}
		for i, e := range all {
			if seen[e.ID] {
				t.Fatalf("event %d read twice", e.ID)
			}
			seen[e.ID] = true
			if i > 0 && cursorNumber(t, e.Cursor) <= cursorNumber(t, all[i-1].Cursor) {
				t.Fatalf("cursor %q follows %q", e.Cursor, all[i-1].Cursor)
			}
		}
		if len(all) != s.outboxRows() {
			t.Fatalf("read %d events, the outbox holds %d", len(all), s.outboxRows())
		}
	})
}

func lastCursor(events []*engine.Event) engine.Cursor {
	if len(events) == 0 {
		return ""
	}
	return events[len(events)-1].Cursor
}

// cursorNumber reads a cursor's position. Cursors are opaque to clients;
// this test checks the engine's own ordering promise.
func cursorNumber(t *testing.T, c engine.Cursor) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimPrefix(string(c), "c"), 10, 64)
	if err != nil {
		t.Fatalf("cursor %q: %v", c, err)
	}
	return n
}
