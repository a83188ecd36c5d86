package dstest

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
)

// This file holds in-process stand-ins for what background services
// (the job executor, the analytics shipper, their scheduler) use of the
// datasource, and the helpers their tests wait with.

// Signals is an in-process stand-in for datasource.Signals, for services
// tested without a datasource: Notify delivers a signal to the subscribers
// of its topic at once, on the caller's goroutine, and nowhere else (no
// other node, no hint). The zero value is ready to use.
type Signals struct {
	mu   sync.Mutex
	subs map[datasource.Topic]map[int]func(datasource.Signal)
	n    int
}

// Subscribe calls fn for every signal of topic until unsubscribe is
// called.
func (s *Signals) Subscribe(topic datasource.Topic, fn func(datasource.Signal)) (unsubscribe func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs == nil {
		s.subs = map[datasource.Topic]map[int]func(datasource.Signal){}
	}
	if s.subs[topic] == nil {
		s.subs[topic] = map[int]func(datasource.Signal){}
	}
	s.n++
	id := s.n
	s.subs[topic][id] = fn
	return func() {
		s.mu.Lock()
		delete(s.subs[topic], id)
		s.mu.Unlock()
	}
}

// Notify delivers sig to the subscribers of its topic.
func (s *Signals) Notify(sig datasource.Signal) {
	s.mu.Lock()
	var fns []func(datasource.Signal)
	for _, fn := range s.subs[sig.Topic] {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(sig)
	}
}

// Subscribers counts the subscriptions to topic.
func (s *Signals) Subscribers(topic datasource.Topic) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs[topic])
}

// Await waits until cond holds, checking it again whenever changes
// delivers (the service under test sends on it, without blocking, after
// every change of its state), and fails the test after a generous
// real-time bound. Conditions on a service's own state are waited for this
// way, never slept on; Probe is for other processes.
func Await(t testing.TB, changes <-chan struct{}, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-changes:
		case <-deadline.C:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// Hints is an in-memory stand-in for the primary's wake-up hints
// (datasource.Primary's DueHints, SetHint and LowerHints), for services
// tested without a datasource. The zero value is ready to use.
type Hints struct {
	mu        sync.Mutex
	due       map[hintKey]time.Time
	reads     int
	writes    int
	afterRead func()
}

type hintKey struct {
	tenant string
	topic  datasource.Topic
}

// DueHints returns up to limit hints of topic due at or before before,
// earliest first (then by tenant). A function set with AfterRead runs
// before it returns.
func (h *Hints) DueHints(_ context.Context, topic datasource.Topic, before time.Time, limit int) ([]datasource.Hint, error) {
	h.mu.Lock()
	h.reads++
	var out []datasource.Hint
	for k, due := range h.due {
		if k.topic == topic && !due.After(before) {
			out = append(out, datasource.Hint{Tenant: k.tenant, Topic: topic, DueAt: due})
		}
	}
	after := h.afterRead
	h.mu.Unlock()
	slices.SortFunc(out, func(a, b datasource.Hint) int {
		return cmp.Or(a.DueAt.Compare(b.DueAt), cmp.Compare(a.Tenant, b.Tenant))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	if after != nil {
		after()
	}
	return out, nil
}

// SetHint sets a tenant's hint; the zero time clears it.
func (h *Hints) SetHint(_ context.Context, tenant string, topic datasource.Topic, due time.Time) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes++
	if due.IsZero() {
		delete(h.due, hintKey{tenant, topic})
		return nil
	}
	if h.due == nil {
		h.due = map[hintKey]time.Time{}
	}
	h.due[hintKey{tenant, topic}] = due
	return nil
}

// LowerHints moves each tenant's hint earlier to the hint's DueAt, as a
// commit's signal does; a hint already earlier stays.
func (h *Hints) LowerHints(_ context.Context, hints []datasource.Hint) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.due == nil {
		h.due = map[hintKey]time.Time{}
	}
	for _, hint := range hints {
		k := hintKey{hint.Tenant, hint.Topic}
		if cur, ok := h.due[k]; !ok || hint.DueAt.Before(cur) {
			h.due[k] = hint.DueAt
		}
	}
	return nil
}

// Lower is LowerHints for one tenant.
func (h *Hints) Lower(tenant string, topic datasource.Topic, due time.Time) {
	_ = h.LowerHints(context.Background(), []datasource.Hint{{Tenant: tenant, Topic: topic, DueAt: due}})
}

// Get returns a tenant's hint, if it has one.
func (h *Hints) Get(tenant string, topic datasource.Topic) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	due, ok := h.due[hintKey{tenant, topic}]
	return due, ok
}

// Reads counts the DueHints calls.
func (h *Hints) Reads() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reads
}

// Writes counts the SetHint calls.
func (h *Hints) Writes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.writes
}

// AfterRead sets a function that runs after each read, before the reader
// gets what it read (nil: none): how a test makes something happen in
// the middle of a read.
func (h *Hints) AfterRead(fn func()) {
	h.mu.Lock()
	h.afterRead = fn
	h.mu.Unlock()
}

// Gate holds the work that reaches it until the test opens it, and tells
// the test what reached it, so that a test decides when work under test
// moves on instead of hoping it is slow enough.
type Gate[T any] struct {
	open    chan struct{}
	reached chan T
	once    sync.Once
}

// NewGate returns a closed gate.
func NewGate[T any]() *Gate[T] {
	return &Gate[T]{open: make(chan struct{}), reached: make(chan T, 1024)}
}

// Wait records that id reached the gate, then blocks until the gate opens
// (nil) or ctx ends (its error).
func (g *Gate[T]) Wait(ctx context.Context, id T) error {
	g.reached <- id
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Open lets everything through, now and later. Calling it again does
// nothing.
func (g *Gate[T]) Open() { g.once.Do(func() { close(g.open) }) }

// Reached waits until n more have reached the gate, and returns what they
// gave, failing the test after a generous real-time bound.
func (g *Gate[T]) Reached(t testing.TB, n int) []T {
	t.Helper()
	var out []T
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for len(out) < n {
		select {
		case id := <-g.reached:
			out = append(out, id)
		case <-deadline.C:
			t.Fatalf("only %d of %d reached the gate", len(out), n)
		}
	}
	return out
}
