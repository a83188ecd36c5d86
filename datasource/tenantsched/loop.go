package tenantsched

import (
	"time"

	"github.com/jonboulle/clockwork"
)

// loop is the parking state of one of the scheduler's goroutines (the
// dispatcher, the hint reader, the sweeper), guarded by Scheduler.mu. A
// loop is parked when it waits with its timer armed for the state it last
// looked at; Quiet is built on that.
type loop struct {
	started   bool
	kick      chan struct{}
	gen       uint64 // bumped by every change the loop must look at
	parked    bool
	parkedGen uint64
	at        time.Time // what its timer is armed for while parked (zero: nothing)
}

func newLoop() loop { return loop{kick: make(chan struct{}, 1)} }

// kickLocked tells the loop that something it looks at changed.
func (l *loop) kickLocked() {
	l.gen++
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// quietLocked reports whether the loop waits for its timer, armed for
// what it saw last, and the timer's time has not come.
func (l *loop) quietLocked(now time.Time) bool {
	if !l.started {
		return true
	}
	return l.parked && l.parkedGen == l.gen && (l.at.IsZero() || l.at.After(now))
}

// park arms the loop's timer for at (nothing when zero) and records the
// loop as parked. It reports false when at has already come: the loop
// runs again at once. Called with Scheduler.mu held.
func (l *loop) park(clock clockwork.Clock, timer clockwork.Timer, at time.Time) bool {
	stopTimer(timer)
	if !at.IsZero() && !armAt(clock, timer, at) {
		return false
	}
	l.parked, l.parkedGen, l.at = true, l.gen, at
	return true
}

// spin runs one of the scheduler's goroutines until Stop: step, called
// under s.mu with the clock's time, either returns work to do (run
// without the lock, then step again) or the time the loop next has
// something to do (zero: nothing until kicked), for which it parks.
func (s *Scheduler) spin(l *loop, step func(now time.Time) (work func(), next time.Time)) {
	defer s.loops.Done()
	timer := s.clock.NewTimer(time.Hour)
	stopTimer(timer)
	for {
		s.mu.Lock()
		l.parked = false
		work, next := step(s.clock.Now())
		if work != nil {
			s.mu.Unlock()
			work()
			continue
		}
		armed := l.park(s.clock, timer, next)
		s.mu.Unlock()
		s.notify()
		if !armed {
			continue
		}
		select {
		case <-s.stop:
			stopTimer(timer)
			return
		case <-l.kick:
		case <-timer.Chan():
		}
	}
}

// stopTimer stops a timer and drains a fire it may have left behind, so
// that a stale fire does not wake its loop for nothing.
func stopTimer(timer clockwork.Timer) {
	timer.Stop()
	select {
	case <-timer.Chan():
	default:
	}
}

// armAt arms timer to fire at the given time of clock, and reports false
// when that time has already come. A fake clock may jump while the timer
// is being armed (timers are relative): then it is armed again, so a test
// that advances the clock never leaves a timer firing late.
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
