package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// fakeOutbox is an in-memory outbox with the engine's contract, modelled
// on its PostgreSQL implementation: every transaction gets an increasing
// transaction number when it begins, events are ordered by (transaction,
// sequence), and an event is readable only once every transaction that
// began before its own has ended. So a transaction that began early and
// commits late still sorts before what was read, and is never skipped;
// event IDs come from the test and need not follow that order.
type fakeOutbox struct {
	mu      sync.Mutex
	clock   clockwork.Clock
	tenants map[string]*fakeTenant
	xid     int64
	calls   map[string]int // "Method" and "Method/tenant"
	fail    map[string]error
	// hook runs before every call (outside the lock); an error fails the
	// call before it changes anything.
	hook   func(ctx context.Context, method, tenant string) error
	notify func(tenant string) // after a commit, like the engine's signal
	// advances records AdvanceConsumer calls in order, by tenant.
	advances []string
}

type fakeTenant struct {
	events    []*fakeEvent // committed, in cursor order
	open      map[int64]bool
	seq       int64
	nextID    int64
	positions map[string]fakePos
	dead      map[string]map[int64]engine.DeadLetter
}

type fakeEvent struct {
	pos fakePos
	ev  *engine.Event
}

type fakePos struct{ xid, seq int64 }

func (p fakePos) less(o fakePos) bool { return p.xid < o.xid || p.xid == o.xid && p.seq < o.seq }

func (p fakePos) cursor() engine.Cursor {
	if p == (fakePos{}) {
		return ""
	}
	return engine.Cursor(fmt.Sprintf("f%d.%d", p.xid, p.seq))
}

func parseFakeCursor(c engine.Cursor) (fakePos, error) {
	if c == "" {
		return fakePos{}, nil
	}
	a, b, ok := strings.Cut(strings.TrimPrefix(string(c), "f"), ".")
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || !strings.HasPrefix(string(c), "f") || err1 != nil || err2 != nil {
		return fakePos{}, fmt.Errorf("%w: cursor %q is not one this storage issued", engine.ErrInvalid, c)
	}
	return fakePos{x, y}, nil
}

func newFakeOutbox(clock clockwork.Clock) *fakeOutbox {
	return &fakeOutbox{clock: clock, tenants: map[string]*fakeTenant{}, calls: map[string]int{}, fail: map[string]error{}}
}

func (f *fakeOutbox) tenantLocked(id string) *fakeTenant {
	t := f.tenants[id]
	if t == nil {
		t = &fakeTenant{open: map[int64]bool{}, nextID: 1, positions: map[string]fakePos{}, dead: map[string]map[int64]engine.DeadLetter{}}
		f.tenants[id] = t
	}
	return t
}

// setFail makes every call of a tenant fail with err (nil: heal).
func (f *fakeOutbox) setFail(tenant string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.fail, tenant)
		return
	}
	f.fail[tenant] = err
}

// setHook installs a hook run before every call.
func (f *fakeOutbox) setHook(hook func(ctx context.Context, method, tenant string) error) {
	f.mu.Lock()
	f.hook = hook
	f.mu.Unlock()
}

// enter counts a call and applies the injected failures.
func (f *fakeOutbox) enter(ctx context.Context, method string) (string, error) {
	tenant, err := security.MustTenant(ctx)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	f.calls[method]++
	f.calls[method+"/"+tenant]++
	hook, ferr := f.hook, f.fail[tenant]
	f.mu.Unlock()
	if ferr != nil {
		return "", ferr
	}
	if hook != nil {
		if err := hook(ctx, method, tenant); err != nil {
			return "", err
		}
	}
	return tenant, ctx.Err()
}

func (f *fakeOutbox) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[key]
}

func (f *fakeOutbox) totalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for k, v := range f.calls {
		if !strings.Contains(k, "/") {
			n += v
		}
	}
	return n
}

// ---- writing, as the engine does ----

type fakeTx struct {
	f      *fakeOutbox
	tenant string
	xid    int64
	events []*engine.Event
}

// begin starts a transaction of a tenant.
func (f *fakeOutbox) begin(tenant string) *fakeTx {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.xid++
	f.tenantLocked(tenant).open[f.xid] = true
	return &fakeTx{f: f, tenant: tenant, xid: f.xid}
}

// add appends an event with the given ID (0: the tenant's next one).
func (tx *fakeTx) add(id int64, data string) *engine.Event {
	tx.f.mu.Lock()
	defer tx.f.mu.Unlock()
	t := tx.f.tenantLocked(tx.tenant)
	if id == 0 {
		id = t.nextID
	}
	t.nextID = max(t.nextID, id+1)
	e := &engine.Event{ID: id, Tenant: tx.tenant, Type: engine.EventActivityCompleted, Time: tx.f.clock.Now().UTC().Truncate(time.Millisecond),
		InstanceID: 7, DefinitionKey: "order", ElementID: "task" + strconv.FormatInt(id, 10), ElementType: "userTask"}
	if data != "" {
		e.Data = json.RawMessage(data)
	}
	tx.events = append(tx.events, e)
	return e
}

// commit makes the transaction's events durable and signals them.
func (tx *fakeTx) commit() {
	f := tx.f
	f.mu.Lock()
	t := f.tenantLocked(tx.tenant)
	delete(t.open, tx.xid)
	for _, e := range tx.events {
		t.seq++
		p := fakePos{tx.xid, t.seq}
		e.Cursor = p.cursor()
		t.events = append(t.events, &fakeEvent{pos: p, ev: e})
	}
	sort.Slice(t.events, func(i, j int) bool { return t.events[i].pos.less(t.events[j].pos) })
	notify := f.notify
	f.mu.Unlock()
	if notify != nil && len(tx.events) > 0 {
		notify(tx.tenant)
	}
}

// rollback ends the transaction without its events.
func (tx *fakeTx) rollback() {
	tx.f.mu.Lock()
	delete(tx.f.tenantLocked(tx.tenant).open, tx.xid)
	tx.f.mu.Unlock()
}

// commitEvents commits n events of a tenant in one transaction.
func (f *fakeOutbox) commitEvents(tenant string, n int) []*engine.Event {
	tx := f.begin(tenant)
	for i := 0; i < n; i++ {
		tx.add(0, `{"variable":"amount","value":42}`)
	}
	tx.commit()
	return tx.events
}

// ---- inspection ----

func (f *fakeOutbox) events(tenant string) []*engine.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*engine.Event
	for _, e := range f.tenantLocked(tenant).events {
		out = append(out, e.ev)
	}
	return out
}

func (f *fakeOutbox) position(tenant, consumer string) engine.Cursor {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tenantLocked(tenant).positions[consumer].cursor()
}

// caughtUp reports whether the consumer has passed every committed event
// of the tenant.
func (f *fakeOutbox) caughtUp(tenant, consumer string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenantLocked(tenant)
	if len(t.events) == 0 {
		return true
	}
	return !t.positions[consumer].less(t.events[len(t.events)-1].pos)
}

func (f *fakeOutbox) setPosition(tenant, consumer string, c engine.Cursor) {
	p, err := parseFakeCursor(c)
	if err != nil {
		panic(err)
	}
	f.mu.Lock()
	f.tenantLocked(tenant).positions[consumer] = p
	f.mu.Unlock()
}

// ---- the Outbox contract ----

func (f *fakeOutbox) ReadEvents(ctx context.Context, p *engine.ReadEventsParams) (*engine.EventBatch, error) {
	tenant, err := f.enter(ctx, "ReadEvents")
	if err != nil {
		return nil, err
	}
	after, err := parseFakeCursor(p.After)
	if err != nil {
		return nil, err
	}
	limit := p.Limit
	if limit <= 0 || limit > 10_000 {
		limit = 500
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenantLocked(tenant)
	xmin := int64(1<<63 - 1)
	for x := range t.open {
		xmin = min(xmin, x)
	}
	out := &engine.EventBatch{Next: p.After}
	for _, e := range t.events {
		if len(out.Events) == limit || e.pos.xid >= xmin {
			break
		}
		if !after.less(e.pos) {
			continue
		}
		cp := *e.ev
		out.Events = append(out.Events, &cp)
		out.Next = e.pos.cursor()
	}
	return out, nil
}

func (f *fakeOutbox) ConsumerState(ctx context.Context, consumer string) (*engine.ConsumerState, error) {
	tenant, err := f.enter(ctx, "ConsumerState")
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenantLocked(tenant)
	pos := t.positions[consumer]
	st := &engine.ConsumerState{Consumer: consumer, Position: pos.cursor(), DeadLetters: int64(len(t.dead[consumer]))}
	for _, e := range t.events {
		if pos.less(e.pos) {
			st.Backlog++
		}
	}
	return st, nil
}

func (f *fakeOutbox) AdvanceConsumer(ctx context.Context, consumer string, to engine.Cursor) error {
	tenant, err := f.enter(ctx, "AdvanceConsumer")
	if err != nil {
		return err
	}
	if consumer == "" {
		return fmt.Errorf("%w: a consumer needs a name", engine.ErrInvalid)
	}
	next, err := parseFakeCursor(to)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenantLocked(tenant)
	if prev := t.positions[consumer]; prev.less(next) {
		t.positions[consumer] = next
	}
	f.advances = append(f.advances, tenant)
	return nil
}

func (f *fakeOutbox) DeadLetterEvents(ctx context.Context, consumer string, letters []engine.DeadLetter) error {
	tenant, err := f.enter(ctx, "DeadLetterEvents")
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenantLocked(tenant)
	if t.dead[consumer] == nil {
		t.dead[consumer] = map[int64]engine.DeadLetter{}
	}
	for _, l := range letters {
		if l.At.IsZero() {
			l.At = f.clock.Now()
		}
		l.Consumer = consumer
		t.dead[consumer][l.EventID] = l
	}
	return nil
}

func (f *fakeOutbox) DeadLetters(ctx context.Context, consumer string, limit int) ([]engine.DeadLetter, error) {
	tenant, err := f.enter(ctx, "DeadLetters")
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []engine.DeadLetter
	for _, l := range f.tenantLocked(tenant).dead[consumer] {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].At.Equal(out[j].At) {
			return out[i].At.After(out[j].At)
		}
		return out[i].EventID < out[j].EventID
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeOutbox) PruneOutbox(ctx context.Context, olderThan time.Time, waitFor ...string) (int, error) {
	tenant, err := f.enter(ctx, "PruneOutbox")
	if err != nil {
		return 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tenantLocked(tenant)
	var least *fakePos
	for _, p := range t.positions {
		if least == nil || p.less(*least) {
			pp := p
			least = &pp
		}
	}
	for _, c := range waitFor {
		if _, ok := t.positions[c]; !ok {
			least = &fakePos{}
		}
	}
	kept := t.events[:0]
	removed := 0
	for _, e := range t.events {
		if e.ev.Time.Before(olderThan) && (least == nil || !least.less(e.pos)) {
			removed++
			continue
		}
		kept = append(kept, e)
	}
	t.events = kept
	return removed, nil
}

// ---- the rest of the node: signals, hints, tenants, lifecycle ----

// fakeDirectory lists active tenants.
type fakeDirectory struct {
	mu      sync.Mutex
	tenants []string
	lists   int
}

func (d *fakeDirectory) add(ids ...string) {
	d.mu.Lock()
	d.tenants = append(d.tenants, ids...)
	sort.Strings(d.tenants)
	d.mu.Unlock()
}

func (d *fakeDirectory) ListTenants(_ context.Context, p *datasource.ListTenantsParams) ([]*datasource.Tenant, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lists++
	var out []*datasource.Tenant
	for _, id := range d.tenants {
		if id <= p.After {
			continue
		}
		if p.Limit > 0 && len(out) == p.Limit {
			break
		}
		out = append(out, &datasource.Tenant{ID: id, Status: datasource.StatusActive})
	}
	return out, nil
}

// fakeLifecycle runs the registered hooks when a test disables a tenant.
type fakeLifecycle struct {
	mu    sync.Mutex
	hooks []datasource.Hook
}

func (l *fakeLifecycle) OnDisable(h datasource.Hook) {
	l.mu.Lock()
	l.hooks = append(l.hooks, h)
	l.mu.Unlock()
}
func (l *fakeLifecycle) OnDrop(h datasource.Hook) { l.OnDisable(h) }

func (l *fakeLifecycle) disable(ctx context.Context, tenant string) error {
	l.mu.Lock()
	hooks := append([]datasource.Hook(nil), l.hooks...)
	l.mu.Unlock()
	var errs []error
	for _, h := range hooks {
		errs = append(errs, h(ctx, tenant))
	}
	return errors.Join(errs...)
}
