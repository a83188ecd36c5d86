package jobexec

import (
	"container/heap"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/datasource"
)

// tenantState is what the executor knows of one tenant with work. Tenants
// without known work have no state: idle tenants cost nothing.
type tenantState struct {
	id    string
	where place
	due   time.Time // when in the timer heap
	index int       // position in the timer heap
	turn  uint64    // matches the ready queue entry that is current

	inflight   int       // batches running
	cap        int       // batches it may run at once
	acquiredAt time.Time // when its latest batch was acquired

	failures  int       // storage failures in a row
	notBefore time.Time // backoff: not polled before

	hint      time.Time // the hint this node last wrote for it (zero: none)
	hintKnown bool

	gone bool          // disabled or dropped: never queued again
	idle chan struct{} // closed when the last batch ends after gone
}

// turn is one batch handed to a worker; seq numbers turns in the order
// they were given.
type turn struct {
	t   *tenantState
	seq int64
}

// place says where a tenant waits.
type place uint8

const (
	nowhere  place = iota // not queued (maybe running batches)
	inTimers              // due later
	inReady               // due now, waiting for its turn
	blocked               // due now, at its in-flight cap: queued again when a batch ends
)

// timerHeap orders tenants by due time.
type timerHeap []*tenantState

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(v any) {
	t := v.(*tenantState)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

// readyQueue is a FIFO of due tenants: each gets a turn (one batch) before
// any gets a second. Entries are removed lazily: an entry whose turn is not
// the tenant's current one is skipped.
type readyQueue struct {
	items []readyItem
	head  int
	seq   uint64
	n     int // live entries
}

type readyItem struct {
	t    *tenantState
	turn uint64
}

func (q *readyQueue) push(t *tenantState) {
	q.seq++
	t.turn = q.seq
	q.items = append(q.items, readyItem{t, q.seq})
	q.n++
}

func (q *readyQueue) pop() *tenantState {
	for q.head < len(q.items) {
		it := q.items[q.head]
		q.items[q.head] = readyItem{}
		q.head++
		if q.head > 1024 && q.head*2 > len(q.items) {
			q.items = append(q.items[:0], q.items[q.head:]...)
			q.head = 0
		}
		if it.t.where == inReady && it.t.turn == it.turn {
			q.n--
			return it.t
		}
	}
	return nil
}

// drop forgets the tenant's live entry (it stays in the slice, skipped).
func (q *readyQueue) drop(t *tenantState) {
	t.turn = 0
	q.n--
}

func (q *readyQueue) len() int { return q.n }

// wake makes a tenant due at the given time (an earlier time wins; a
// tenant in backoff is not due before its backoff ends). It is how
// signals, hints, sweeps and settled batches tell the executor about work.
func (x *Executor) wake(tenant string, at time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.wakeIDLocked(tenant, at, x.clock.Now())
}

// wakeIDLocked is wake with the lock held.
func (x *Executor) wakeIDLocked(tenant string, at, now time.Time) {
	if x.state != stateRunning || x.tombstoned(tenant, now) {
		return
	}
	t := x.tenants[tenant]
	if t == nil {
		t = &tenantState{id: tenant, index: -1, cap: 1}
		x.tenants[tenant] = t
	}
	x.wakeLocked(t, at, now, false)
}

// A wake-up from outside (a signal, a hint, the sweep) for a time no later
// than the acquisition of a batch the tenant is running is dropped: that
// batch ends either by queueing the tenant again (it was full) or by asking
// it for its next due job, which finds whatever the wake-up was about. The
// executor's own wake-ups (own) always count.
func (x *Executor) wakeLocked(t *tenantState, at, now time.Time, own bool) {
	if t.gone || x.state != stateRunning || (!own && t.inflight > 0 && !at.After(t.acquiredAt)) {
		return
	}
	if at.Before(t.notBefore) {
		at = t.notBefore
	}
	due := !at.After(now)
	switch t.where {
	case inReady, blocked:
		return
	case inTimers:
		if !at.Before(t.due) {
			return
		}
		if due {
			heap.Remove(&x.timers, t.index)
			t.where = inReady
			x.ready.push(t)
		} else {
			t.due = at
			heap.Fix(&x.timers, t.index)
		}
	case nowhere:
		if due {
			t.where = inReady
			x.ready.push(t)
		} else {
			t.where, t.due = inTimers, at
			heap.Push(&x.timers, t)
		}
	}
	x.kickLocked()
}

// tombstoned reports whether the tenant was disabled on this node less
// than tombTTL ago (lock held).
func (x *Executor) tombstoned(tenant string, now time.Time) bool {
	since, ok := x.tombs[tenant]
	if ok && now.Sub(since) >= tombTTL {
		delete(x.tombs, tenant)
		return false
	}
	return ok
}

// unqueueLocked takes the tenant out of the heap or the ready queue.
func (x *Executor) unqueueLocked(t *tenantState) {
	switch t.where {
	case inTimers:
		heap.Remove(&x.timers, t.index)
	case inReady:
		x.ready.drop(t)
	}
	t.where = nowhere
}

// gcLocked forgets a tenant with nothing queued, running or pending.
func (x *Executor) gcLocked(t *tenantState, now time.Time) {
	if t.where == nowhere && t.inflight == 0 && !now.Before(t.notBefore) && x.tenants[t.id] == t {
		delete(x.tenants, t.id)
	}
}

// kickLocked tells the dispatcher that something changed.
func (x *Executor) kickLocked() {
	x.gen++
	select {
	case x.kick <- struct{}{}:
	default:
	}
}

// backoff leaves a tenant whose storage failed alone for a while, longer
// with each failure in a row.
func (x *Executor) backoff(t *tenantState, what string, err error) {
	x.mu.Lock()
	t.failures++
	d := x.cfg.ErrorBackoff << min(t.failures-1, 16)
	if d > x.cfg.MaxErrorBackoff || d <= 0 {
		d = x.cfg.MaxErrorBackoff
	}
	now := x.clock.Now()
	t.notBefore = now.Add(d)
	failures := t.failures
	x.wakeLocked(t, t.notBefore, now, true)
	x.mu.Unlock()
	x.log.Warn(what+" failed; leaving the tenant alone for a while", "tenant", t.id, "err", err, "retry_in", d, "failures", failures)
}

// recovered resets a tenant's backoff after a storage call succeeded.
func (x *Executor) recovered(t *tenantState) {
	x.mu.Lock()
	t.failures, t.notBefore = 0, time.Time{}
	x.mu.Unlock()
}

// setCap records how many batches the tenant may run at once.
func (x *Executor) setCap(t *tenantState, info *datasource.Tenant) {
	n := x.cfg.MaxInFlightPerTenant
	if n <= 0 {
		n = info.Limits.MaxOpenConns
		if n <= 0 {
			n = x.src.Config.DefaultLimits.MaxOpenConns
		}
		if info.Placement == datasource.PlacementSQLite {
			n = 1
		}
	}
	x.mu.Lock()
	t.cap = max(n, 1)
	x.mu.Unlock()
}

// dispatch hands due tenants to idle workers in turn order, and sleeps
// until the earliest timer or a wake-up.
func (x *Executor) dispatch() {
	defer close(x.dispatchDone)
	timer := x.clock.NewTimer(time.Hour)
	timer.Stop()
	for {
		x.mu.Lock()
		x.parked = false
		now := x.clock.Now()
		for len(x.timers) > 0 && !x.timers[0].due.After(now) {
			t := heap.Pop(&x.timers).(*tenantState)
			t.where = inReady
			x.ready.push(t)
		}
		if x.state == stateRunning {
			x.handOutLocked(now)
		}
		seen := x.gen
		var next time.Time
		if len(x.timers) > 0 {
			next = x.timers[0].due
		}
		timer.Stop()
		armed := next.IsZero() || armAt(x.clock, timer, next)
		if armed && x.gen == seen {
			x.parked, x.parkedGen = true, seen
		}
		x.mu.Unlock()
		x.poke()
		if !armed {
			continue
		}
		select {
		case <-x.stopDispatch:
			timer.Stop()
			return
		case <-x.kick:
		case <-timer.Chan():
		}
	}
}

// handOutLocked gives due tenants to idle workers, one batch per turn.
func (x *Executor) handOutLocked(now time.Time) {
	for x.idle > 0 {
		t := x.ready.pop()
		if t == nil {
			return
		}
		switch {
		case now.Before(t.notBefore):
			// Woken while its last batch was failing: wait out the backoff.
			t.where, t.due = inTimers, t.notBefore
			heap.Push(&x.timers, t)
		case t.inflight >= t.cap:
			t.where = blocked
		default:
			// The batch acquires at now or later: from here on, a wake-up
			// for now or earlier is about jobs it will find.
			t.where = nowhere
			t.acquiredAt = now
			t.inflight++
			x.idle--
			x.turns++
			x.work <- turn{t, x.turns} // buffered for every worker: never blocks
		}
	}
}

// armAt arms timer to fire at the given time of clock, and reports false
// when that time has already come. A fake clock may jump while the timer is
// armed (timers are relative): then it is armed again.
func armAt(clock clockwork.Clock, timer clockwork.Timer, at time.Time) bool {
	for {
		now := clock.Now()
		d := at.Sub(now)
		if d <= 0 {
			return false
		}
		timer.Reset(d)
		if clock.Now().Sub(now) < time.Millisecond {
			return true
		}
	}
}
