package tenantsched

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/security"
)

// epoch is where every rig's fake clock starts.
var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rig is a scheduler on a fake clock with fake hints, directory and
// signals, whose work records every turn and then does what the test set
// for the tenant. Its helpers wait on the scheduler's changes, never on
// time.
type rig struct {
	t       *testing.T
	clock   *clockwork.FakeClock
	hints   *dstest.Hints
	dir     *fakeDirectory
	sig     *dstest.Signals
	s       *Scheduler
	changes chan struct{}

	mu      sync.Mutex
	turns   []turnRecord
	does    map[string]func(*Turn) // what a tenant's turn does; nothing by default
	running map[string]int         // turns running per tenant
	most    map[string]int         // most turns of a tenant running at once
	probes  []string
	hasWork map[string]time.Time // what the probe answers
}

// turnRecord is one turn as the work saw it.
type turnRecord struct {
	tenant string
	seq    int64
	at     time.Time
}

// newRig builds a started scheduler; mod adjusts its configuration.
func newRig(t *testing.T, mod func(*Config)) *rig {
	t.Helper()
	r := &rig{
		t:       t,
		clock:   clockwork.NewFakeClockAt(epoch),
		hints:   &dstest.Hints{},
		dir:     &fakeDirectory{},
		sig:     &dstest.Signals{},
		changes: make(chan struct{}, 1),
		does:    map[string]func(*Turn){},
		running: map[string]int{},
		most:    map[string]int{},
		hasWork: map[string]time.Time{},
	}
	cfg := Config{
		Topic:     datasource.TopicJobs,
		Work:      r.work,
		Probe:     r.probe,
		Signals:   r.sig,
		Hints:     r.hints,
		Directory: r.dir,
		Clock:     r.clock,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnChange: func() {
			select {
			case r.changes <- struct{}{}:
			default:
			}
		},
		Workers: 2,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	r.settle()
	return r
}

func (r *rig) work(t *Turn) {
	if got, _ := security.TenantFrom(t.Context()); got != t.Tenant() {
		r.t.Errorf("turn of %s carries tenant %q in its context", t.Tenant(), got)
	}
	r.mu.Lock()
	r.turns = append(r.turns, turnRecord{t.Tenant(), t.Seq(), r.clock.Now()})
	r.running[t.Tenant()]++
	r.most[t.Tenant()] = max(r.most[t.Tenant()], r.running[t.Tenant()])
	do := r.does[t.Tenant()]
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running[t.Tenant()]--
		r.mu.Unlock()
	}()
	if do != nil {
		do(t)
	}
}

func (r *rig) probe(ctx context.Context, tenant string) (time.Time, bool, error) {
	if got, _ := security.TenantFrom(ctx); got != tenant {
		r.t.Errorf("probe of %s carries tenant %q in its context", tenant, got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.probes = append(r.probes, tenant)
	due, ok := r.hasWork[tenant]
	return due, ok, nil
}

// do sets what a tenant's turns do.
func (r *rig) do(tenant string, fn func(*Turn)) {
	r.mu.Lock()
	r.does[tenant] = fn
	r.mu.Unlock()
}

// order returns the tenants of the turns so far, in turn order.
func (r *rig) order() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	recs := slices.Clone(r.turns)
	slices.SortFunc(recs, func(a, b turnRecord) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]string, len(recs))
	for i, rec := range recs {
		out[i] = rec.tenant
	}
	return out
}

// wantOrder waits until as many turns as want names ran, and fails the
// test unless they ran in that order (want as fmt prints a []string).
func (r *rig) wantOrder(want, why string) {
	r.t.Helper()
	n := len(strings.Fields(want))
	r.waitFor(fmt.Sprintf("%d turns ran", n), func() bool { return len(r.order()) >= n })
	if got := fmt.Sprint(r.order()); got != want {
		r.t.Fatalf("turns %s, want %s: %s", got, want, why)
	}
}

// turnsOf returns the times of a tenant's turns.
func (r *rig) turnsOf(tenant string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []time.Time
	for _, rec := range r.turns {
		if rec.tenant == tenant {
			out = append(out, rec.at)
		}
	}
	return out
}

func (r *rig) probed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.probes)
}

// waitFor waits until cond holds, re-checking it at every change of the
// scheduler, within a generous real-time bound.
func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	dstest.Await(r.t, r.changes, what, cond)
}

// quiet reports whether the scheduler is quiet.
func (r *rig) quiet() bool {
	q, _ := r.s.Quiet()
	return q
}

// settle waits until nothing runs and nothing is due before the clock
// moves.
func (r *rig) settle() {
	r.t.Helper()
	r.waitFor("the scheduler is quiet", r.quiet)
}

// step settles, moves the clock by d and settles again: what was due by
// then has run when step returns.
func (r *rig) step(d time.Duration) {
	r.t.Helper()
	r.settle()
	r.clock.Advance(d)
	r.settle()
}

// runUntil settles, then moves the clock from one scheduled moment to the
// next until cond holds or the clock reached end.
func (r *rig) runUntil(end time.Time, cond func() bool) {
	r.t.Helper()
	for {
		r.settle()
		if cond() {
			return
		}
		_, next := r.s.Quiet()
		if next.IsZero() || next.After(end) {
			if d := end.Sub(r.clock.Now()); d > 0 {
				r.clock.Advance(d)
				r.settle()
			}
			return
		}
		r.clock.Advance(next.Sub(r.clock.Now()))
	}
}

// countdown returns a function that counts calls down from n and reports
// whether calls are left after this one: how many turns a tenant still
// asks for.
func countdown(n int) func() bool {
	var mu sync.Mutex
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		n--
		return n > 0
	}
}

// gate blocks turns until opened (dstest.Gate, by tenant).
type gate struct{ *dstest.Gate[string] }

func newGate() *gate { return &gate{dstest.NewGate[string]()} }

// wait blocks the turn until the gate opens or the turn's context ends.
func (g *gate) wait(t *Turn) { _ = g.Wait(t.Context(), t.Tenant()) }

// fakeDirectory lists active tenants.
type fakeDirectory struct {
	mu       sync.Mutex
	ids      []string
	listings int
}

func (d *fakeDirectory) add(ids ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids = append(d.ids, ids...)
	slices.Sort(d.ids)
}

func (d *fakeDirectory) ListTenants(_ context.Context, p *datasource.ListTenantsParams) ([]*datasource.Tenant, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.listings++
	var out []*datasource.Tenant
	for _, id := range d.ids {
		if id > p.After && (p.Limit == 0 || len(out) < p.Limit) {
			out = append(out, &datasource.Tenant{ID: id, Status: datasource.StatusActive})
		}
	}
	return out, nil
}

// tenants returns n tenant IDs with a prefix.
func tenants(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// waitNoGoroutine waits until no goroutine's stack mentions marker.
func waitNoGoroutine(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 4<<20)
	for {
		n := runtime.Stack(buf, true)
		if !strings.Contains(string(buf[:n]), marker) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines still run %s:\n%s", marker, buf[:n])
		}
		runtime.Gosched()
	}
}
