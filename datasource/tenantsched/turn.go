package tenantsched

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/security"
)

// Turn is one run of a tenant's work, handed to Config.Work. Its methods
// tell the scheduler what the work found; they are safe to call from any
// goroutine while the turn runs, and do nothing harmful after.
type Turn struct {
	s      *Scheduler
	t      *tenant
	seq    int64
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// withTenant puts the tenant in a context, as every call for a tenant
// needs.
func withTenant(ctx context.Context, tenant string) context.Context {
	return security.WithTenant(ctx, tenant)
}

// Tenant is the tenant whose turn it is.
func (t *Turn) Tenant() string { return t.t.id }

// Seq numbers the turn: turns are handed out in increasing order.
func (t *Turn) Seq() int64 { return t.seq }

// Context carries the tenant (security.WithTenant) and is cancelled when
// the turn is cut short: Stop's context, or the wait of the tenant's
// Forget, ended before the turn did. context.Cause tells which
// (ErrStopping, ErrForgotten).
func (t *Turn) Context() context.Context { return t.ctx }

// Forgotten reports whether the tenant was forgotten since the turn
// began: the work should start nothing new and return.
func (t *Turn) Forgotten() bool {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	return t.t.gone
}

// Reading records that the turn reads the tenant's storage now, and
// returns now. A wake-up from outside for this moment or earlier is about
// work this read finds, so it is dropped while the turn runs. The
// hand-out counts as the turn's first read; call Reading again right
// before a read that comes later (after a configuration lookup, say).
func (t *Turn) Reading() time.Time {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	t.t.acquiredAt = now
	return now
}

// SetCap sets how many turns of the tenant may run at once (at least 1),
// from the next hand-out on.
func (t *Turn) SetCap(n int) {
	s := t.s
	s.mu.Lock()
	defer s.mu.Unlock()
	t.t.cap = max(n, 1)
}

// Due makes the tenant due again at at: the work found more due then
// (now, after a full batch: the tenant goes to the back of the queue,
// behind every tenant already due). With a cap above one, another worker
// may take that next turn while this one still runs.
func (t *Turn) Due(at time.Time) {
	s := t.s
	defer s.notify()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wakeLocked(t.t, at, s.clock.Now(), true)
}

// Settle records what the tenant's storage says after the turn ran dry:
// its next work is due at due (zero: none known). The tenant is scheduled
// for it, and due becomes the tenant's hint in the primary, for other
// nodes and for restarts; the write is skipped when this node knows the
// primary already holds that hint. A hint read in flight meanwhile does
// not act on the hint from before. Nothing happens once the tenant was
// forgotten or the scheduler stops.
//
// Errors: the hint could not be written (the tenant is scheduled anyway;
// other nodes find the work through their sweeps).
func (t *Turn) Settle(due time.Time) error {
	s := t.s
	defer s.notify()
	s.mu.Lock()
	st := t.t
	if st.gone || s.state != stateRunning {
		s.mu.Unlock()
		return nil
	}
	if !due.IsZero() {
		s.wakeLocked(st, due, s.clock.Now(), true)
		s.seen[st.id] = due
	} else {
		delete(s.seen, st.id)
	}
	write := s.cfg.Hints != nil && (!st.hintKnown || !st.hint.Equal(due))
	st.hint, st.hintKnown = due, true
	if !write {
		s.settledLocked(st.id)
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), s.cfg.QueryTimeout)
	defer cancel()
	s.hintWrites.Add(1)
	err := s.cfg.Hints.SetHint(ctx, st.id, s.cfg.Topic, due)
	s.mu.Lock()
	if err != nil {
		st.hintKnown = false
	}
	s.settledLocked(st.id)
	s.mu.Unlock()
	return err
}

// Defer gives the tenant no turn before until, whatever wakes it, and one
// then: its work may not run sooner (a quota says so). Unlike Failed it
// counts no failure and names no cause.
func (t *Turn) Defer(until time.Time) {
	s := t.s
	defer s.notify()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := t.t
	if until.After(st.notBefore) {
		st.notBefore = until
	}
	s.wakeLocked(st, until, s.clock.Now(), true)
}

// Failed backs the tenant off after its work failed: it gets no turn
// before the returned wait is over, and then one at once. failures counts
// its failures in a row, this one included.
func (t *Turn) Failed(f Failure) (retryIn time.Duration, failures int) {
	s := t.s
	defer s.notify()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := t.t
	st.failures++
	retryIn = f.Backoff.Delay(st.failures)
	now := s.clock.Now()
	st.notBefore = now.Add(retryIn)
	st.cause = f.Cause
	if f.Cause != "" {
		s.causeFailures[f.Cause]++
	}
	s.wakeLocked(st, st.notBefore, now, true)
	return retryIn, st.failures
}

// Recovered ends the tenant's backoff after its work succeeded, and
// returns how many failures in a row it had. When its last failure had a
// shared cause, that resource is probably back: every other tenant
// waiting out a failure of the same cause is due at once (their failure
// counts stay, so a tenant whose own trouble persists backs off further),
// and broughtForward counts them. The tenants are looked through only
// when a failure of that cause happened since they were last brought
// forward, not once per recovering tenant.
func (t *Turn) Recovered() (failures, broughtForward int) {
	s := t.s
	defer s.notify()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := t.t
	failures, cause := st.failures, st.cause
	st.failures, st.notBefore, st.cause = 0, time.Time{}, ""
	if cause == "" || s.causeFailures[cause] == 0 {
		return failures, 0
	}
	s.causeFailures[cause] = 0
	now := s.clock.Now()
	for _, u := range s.tenants {
		if u.cause != cause || !u.notBefore.After(now) {
			continue
		}
		u.notBefore = now
		if u.where == Scheduled {
			s.unqueueLocked(u)
			s.wakeLocked(u, now, now, true)
		}
		broughtForward++
	}
	return failures, broughtForward
}
