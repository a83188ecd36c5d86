package tenantsched

import (
	"container/heap"
	"time"
)

// Place says where a tenant waits.
type Place uint8

// The places of a tenant.
const (
	// Unqueued: not waiting for a turn (it may be running some).
	Unqueued Place = iota
	// Scheduled: due later, in the timer heap.
	Scheduled
	// Due: due now, waiting in the FIFO for a worker.
	Due
	// AtCap: due now, but running as many turns as it may; queued again
	// when one of them ends.
	AtCap
)

// String names the place.
func (p Place) String() string {
	switch p {
	case Scheduled:
		return "scheduled"
	case Due:
		return "due"
	case AtCap:
		return "at-cap"
	default:
		return "unqueued"
	}
}

// tenant is what the scheduler holds of one tenant with known work, turns
// in flight or a backoff. Tenants without any of these have no state:
// idle tenants cost nothing.
type tenant struct {
	id    string
	where Place
	due   time.Time // while Scheduled
	index int       // position in the timer heap, -1 outside it
	turn  uint64    // the ready-queue entry that is current

	inflight   int       // turns running
	cap        int       // turns it may run at once
	acquiredAt time.Time // when its latest turn began reading its storage

	failures  int       // failures in a row
	notBefore time.Time // backoff: no turn before
	cause     string    // the shared cause of its last failure, if any

	hint      time.Time // the hint this node last wrote for it
	hintKnown bool      // the primary holds hint as far as this node knows

	gone bool          // forgotten: never queued again
	idle chan struct{} // closed when its last turn ends after gone
}

// handout is one turn given to a worker; seq numbers turns in the order
// they were handed out.
type handout struct {
	t   *tenant
	seq int64
}

// timerHeap orders tenants by due time.
type timerHeap []*tenant

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(v any) {
	t := v.(*tenant)
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

// readyQueue is a FIFO of due tenants: each gets a turn before any gets a
// second. Entries are removed lazily: an entry whose number is not the
// tenant's current one is skipped.
type readyQueue struct {
	items []readyItem
	head  int
	seq   uint64
	n     int // live entries
}

type readyItem struct {
	t    *tenant
	turn uint64
}

func (q *readyQueue) push(t *tenant) {
	q.seq++
	t.turn = q.seq
	q.items = append(q.items, readyItem{t, q.seq})
	q.n++
}

func (q *readyQueue) pop() *tenant {
	for q.head < len(q.items) {
		it := q.items[q.head]
		q.items[q.head] = readyItem{}
		q.head++
		if q.head > 1024 && q.head*2 > len(q.items) {
			q.items = append(q.items[:0], q.items[q.head:]...)
			q.head = 0
		}
		if it.t.where == Due && it.t.turn == it.turn {
			q.n--
			return it.t
		}
	}
	return nil
}

// drop forgets the tenant's live entry (it stays in the slice, skipped).
func (q *readyQueue) drop(t *tenant) {
	t.turn = 0
	q.n--
}

func (q *readyQueue) len() int { return q.n }

// wakeIDLocked makes a tenant due at the given time on behalf of
// something outside its turns (a signal, a hint, the sweep, a caller),
// creating its state if needed. It returns the tenant's state, nil when
// the wake-up was ignored (not running, tombstoned).
func (s *Scheduler) wakeIDLocked(id string, at, now time.Time) *tenant {
	if s.state != stateRunning || id == "" || s.tombstonedLocked(id, now) {
		return nil
	}
	t := s.tenants[id]
	if t == nil {
		t = &tenant{id: id, index: -1, cap: s.cfg.DefaultCap}
		s.tenants[id] = t
	}
	s.wakeLocked(t, at, now, false)
	return t
}

// wakeLocked makes a tenant due at the given time: an earlier time wins,
// and a tenant in backoff is not due before its backoff ends.
//
// A wake-up from outside (own false) for a time no later than the moment
// a running turn of the tenant began reading its storage is dropped: that
// turn ends either by queueing the tenant again or by settling, and both
// find whatever the wake-up was about. The tenant's own findings (own)
// always count.
func (s *Scheduler) wakeLocked(t *tenant, at, now time.Time, own bool) {
	if t.gone || s.state != stateRunning || (!own && t.inflight > 0 && !at.After(t.acquiredAt)) {
		return
	}
	if at.Before(t.notBefore) {
		at = t.notBefore
	}
	due := !at.After(now)
	switch t.where {
	case Due, AtCap:
		return
	case Scheduled:
		if !at.Before(t.due) {
			return
		}
		if due {
			heap.Remove(&s.timers, t.index)
			t.where = Due
			s.ready.push(t)
		} else {
			t.due = at
			heap.Fix(&s.timers, t.index)
		}
	case Unqueued:
		if due {
			t.where = Due
			s.ready.push(t)
		} else {
			t.where, t.due = Scheduled, at
			heap.Push(&s.timers, t)
		}
	}
	s.dispatcher.kickLocked()
}

// unqueueLocked takes the tenant out of the heap or the ready queue.
func (s *Scheduler) unqueueLocked(t *tenant) {
	switch t.where {
	case Scheduled:
		heap.Remove(&s.timers, t.index)
	case Due:
		s.ready.drop(t)
	}
	t.where = Unqueued
}

// gcLocked forgets a tenant with nothing queued, running or pending.
func (s *Scheduler) gcLocked(t *tenant, now time.Time) {
	if t.where == Unqueued && t.inflight == 0 && !now.Before(t.notBefore) && s.tenants[t.id] == t {
		delete(s.tenants, t.id)
	}
}

// tombstonedLocked reports whether the tenant was forgotten less than
// TombstoneTTL ago.
func (s *Scheduler) tombstonedLocked(id string, now time.Time) bool {
	since, ok := s.tombs[id]
	if ok && now.Sub(since) >= s.cfg.TombstoneTTL {
		delete(s.tombs, id)
		return false
	}
	return ok
}

// handOutLocked gives due tenants to idle workers, one turn each in FIFO
// order.
func (s *Scheduler) handOutLocked(now time.Time) {
	for s.idle > 0 {
		t := s.ready.pop()
		if t == nil {
			return
		}
		switch {
		case now.Before(t.notBefore):
			// Woken while its last turn was failing: wait out the backoff.
			t.where, t.due = Scheduled, t.notBefore
			heap.Push(&s.timers, t)
		case t.inflight >= t.cap:
			t.where = AtCap
		default:
			// The turn reads at now or later: from here on, an outside
			// wake-up for now or earlier is about work it will find.
			t.where = Unqueued
			t.acquiredAt = now
			t.inflight++
			s.idle--
			s.turns++
			s.work <- handout{t, s.turns} // buffered for every worker: never blocks
		}
	}
}
