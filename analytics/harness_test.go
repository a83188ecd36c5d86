package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/analytics/estest"
	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
)

// epoch is the fake clock's start; its events go to the 2026.01 indices.
var epoch = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

// harness is a shipper over a fake outbox and an Elasticsearch stand-in,
// on a fake clock, with the node around it faked: local signals, the
// primary's hints, the tenant directory and lifecycle hooks. Scenarios use
// only the Outbox contract and commit through out, so the same scenarios
// can run over the real engine by giving them its outbox and a way to
// commit events.
type harness struct {
	t     *testing.T
	clock *clockwork.FakeClock
	out   *fakeOutbox
	es    *estest.Server
	sig   *dstest.Signals
	hints *dstest.Hints
	dir   *fakeDirectory
	life  *fakeLifecycle
	logs  *logBuffer
	cfg   Config
	ship  *Shipper
}

func newHarness(t *testing.T, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{
		t:     t,
		clock: clockwork.NewFakeClockAt(epoch),
		es:    estest.New(t),
		sig:   &dstest.Signals{},
		hints: &dstest.Hints{},
		dir:   &fakeDirectory{},
		life:  &fakeLifecycle{},
		logs:  &logBuffer{},
	}
	h.out = newFakeOutbox(h.clock)
	// What the engine and the datasource do after a commit: a wake-up hint
	// in the primary and a signal, delivered locally at once.
	h.out.notify = func(tenant string) {
		h.hints.Lower(tenant, datasource.TopicEvents, h.clock.Now())
		h.sig.Notify(datasource.Signal{Topic: datasource.TopicEvents, Tenant: tenant})
	}
	h.cfg = Config{
		Outbox: h.out, Signals: h.sig, Hints: h.hints, Directory: h.dir, Lifecycle: h.life,
		URLs:      []string{h.es.URL},
		Clock:     h.clock,
		Logger:    slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		BatchSize: 50,
	}
	if mod != nil {
		mod(&h.cfg)
	}
	h.ship = h.start(h.cfg)
	return h
}

// start creates and starts a shipper, stopped when the test ends.
func (h *harness) start(cfg Config) *Shipper {
	h.t.Helper()
	s, err := New(cfg)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			h.t.Error(err)
		}
	})
	return s
}

// waitFor waits until cond holds and the shipper has settled (nothing
// running, nothing due now), so the figures, logs and hints a test reads
// next are those of a shipper at rest, not of a batch half-way through
// its bookkeeping. Whenever the shipper is quiet and cond does not hold,
// the fake clock jumps to its next scheduled moment, so backoffs, flush
// intervals, hint reads and sweeps pass without real waiting; otherwise it
// waits for the shipper's next change. Once cond holds the clock stays.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	h.waitUntil(h.ship, what, cond, nil)
}

func (h *harness) waitForShipper(s *Shipper, what string, cond func() bool) {
	h.t.Helper()
	h.waitUntil(s, what, cond, nil)
}

// waitForHook waits until a test hook closes ch, moving the clock like
// waitFor meanwhile. It returns at once then, settled or not: the hook may
// be holding a batch.
func (h *harness) waitForHook(what string, ch <-chan struct{}) {
	h.t.Helper()
	h.waitUntil(h.ship, what, nil, ch)
}

func (h *harness) waitUntil(s *Shipper, what string, cond func() bool, hook <-chan struct{}) {
	h.t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		changes, quiet, next := s.quiet()
		var done, move bool
		switch {
		case hook != nil:
			done, move = isClosed(hook), quiet
		case cond():
			// Settling: whatever is due now runs; the clock stays.
			done = quiet && !isClosed(changes)
		default:
			move = quiet
		}
		if done {
			return
		}
		if move {
			if next.IsZero() {
				h.t.Fatalf("waiting until %s: the shipper has nothing scheduled", what)
			}
			advanceIfUnchanged(h.clock, changes, next)
		}
		select {
		case <-changes:
		case <-hook: // nil unless waiting for a hook
		case <-deadline.C:
			h.t.Fatalf("timed out waiting until %s; stats %+v", what, s.Stats())
		}
	}
}

// waitSettled waits, without moving the clock, until cond holds (true) or
// the shipper has nothing left to do before the clock moves (false).
func (h *harness) waitSettled(cond func() bool) bool {
	h.t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	for {
		changes, quiet, _ := h.ship.quiet()
		if cond() {
			return true
		}
		if quiet && !isClosed(changes) {
			return false
		}
		select {
		case <-changes:
		case <-deadline.C:
			h.t.Fatalf("timed out waiting for the shipper to settle; stats %+v", h.ship.Stats())
		}
	}
}

// nextRetry returns the earliest time a tenant backing off may retry.
func (h *harness) nextRetry() time.Time {
	h.t.Helper()
	h.ship.mu.Lock()
	defer h.ship.mu.Unlock()
	var first time.Time
	for _, t := range h.ship.tenants {
		if at := h.ship.sched.Tenant(t.id).RetryAt; !at.IsZero() && (first.IsZero() || at.Before(first)) {
			first = at
		}
	}
	if first.IsZero() {
		h.t.Fatal("no tenant is backing off")
	}
	return first
}

// quiet reports whether nothing is running or due now, and when the next
// scheduled thing (a tenant, a hint read, a sweep) is due; changes is
// closed at the shipper's next change, so it is taken first. While quiet,
// nothing of the shipper runs until the clock moves: every loop of its
// scheduler waits with its timer armed (re-armed when the clock jumps
// while it arms it), so an advance to next fires them.
func (s *Shipper) quiet() (changes <-chan struct{}, quiet bool, next time.Time) {
	changes = s.changes()
	s.mu.Lock()
	off := !s.enabled || !s.started || s.stopped
	s.mu.Unlock()
	if off {
		return changes, true, time.Time{}
	}
	quiet, next = s.sched.Quiet()
	return changes, quiet, next
}

// advanceIfUnchanged moves the clock to next unless the shipper changed
// since it reported changes.
func advanceIfUnchanged(clock *clockwork.FakeClock, changes <-chan struct{}, next time.Time) {
	if isClosed(changes) {
		return
	}
	if d := next.Sub(clock.Now()); d > 0 {
		clock.Advance(d)
	}
}

// advance moves the fake clock, as time passing outside the shipper's
// control would.
func (h *harness) advance(d time.Duration) { h.clock.Advance(d) }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// hinted reports whether the tenant has an events hint in the primary.
func (h *harness) hinted(tenant string) bool {
	_, ok := h.hints.Get(tenant, datasource.TopicEvents)
	return ok
}

// caughtUp reports whether every given tenant's cursor passed all its
// committed events.
func (h *harness) caughtUp(tenants ...string) bool {
	for _, t := range tenants {
		if !h.out.caughtUp(t, h.cfg.consumerName()) {
			return false
		}
	}
	return true
}

func (c Config) consumerName() string {
	if c.Consumer == "" {
		return "analytics"
	}
	return c.Consumer
}

// docsOf returns a tenant's documents in Elasticsearch, by document ID,
// failing the test when an ID is stored twice (in two indices).
func (h *harness) docsOf(tenant string) map[string]estest.Doc {
	h.t.Helper()
	out := map[string]estest.Doc{}
	for _, d := range h.es.Docs("_all") {
		var src struct {
			Tenant string `json:"tenant"`
		}
		if err := json.Unmarshal(d.Source, &src); err != nil {
			h.t.Fatalf("document %s/%s: %v", d.Index, d.ID, err)
		}
		if src.Tenant != tenant && !strings.HasPrefix(d.ID, tenant+":") {
			continue
		}
		if prev, dup := out[d.ID]; dup {
			h.t.Fatalf("document %s stored twice: in %s and %s", d.ID, prev.Index, d.Index)
		}
		out[d.ID] = d
	}
	return out
}

// assertShippedOnce checks that every committed event of the tenant is in
// Elasticsearch exactly once, in index (a concrete name), with the
// tenant's field and routing, and nothing else of the tenant is.
func (h *harness) assertShippedOnce(tenant, index string, except ...int64) {
	h.t.Helper()
	docs := h.docsOf(tenant)
	skip := map[int64]bool{}
	for _, id := range except {
		skip[id] = true
	}
	want := 0
	for _, e := range h.out.events(tenant) {
		if skip[e.ID] {
			if _, ok := docs[e.DocumentID()]; ok {
				h.t.Errorf("event %s should not be in Elasticsearch", e.DocumentID())
			}
			continue
		}
		want++
		d, ok := docs[e.DocumentID()]
		if !ok {
			h.t.Errorf("event %s is not in Elasticsearch", e.DocumentID())
			continue
		}
		var src document
		if err := json.Unmarshal(d.Source, &src); err != nil {
			h.t.Fatal(err)
		}
		if src.Tenant != tenant || src.EventID != fmt.Sprint(e.ID) || d.Routing != tenant || d.Index != index {
			h.t.Errorf("event %s stored as tenant %q id %q routing %q in %s; want tenant %q routing %q in %s",
				e.DocumentID(), src.Tenant, src.EventID, d.Routing, d.Index, tenant, tenant, index)
		}
	}
	if len(docs) != want {
		h.t.Errorf("tenant %s has %d documents in Elasticsearch, want %d", tenant, len(docs), want)
	}
}

// tenantNames returns n tenant IDs.
func tenantNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("t%02d", i)
	}
	return out
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) lines(substrs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.buf.String(), "\n") {
		ok := line != ""
		for _, s := range substrs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

func tenantStats(s Stats, tenant string) (TenantStats, bool) {
	for _, ts := range s.Tenants {
		if ts.Tenant == tenant {
			return ts, true
		}
	}
	return TenantStats{}, false
}
