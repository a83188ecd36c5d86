package tenantsched

import (
	"context"
	"time"
)

// ReadMode says which hints a read acts on.
type ReadMode int

// The read modes.
const (
	// ReadAll acts on every hint due within the lookahead (at Start).
	ReadAll ReadMode = iota
	// ReadChanged acts on the hints that changed since the last read.
	ReadChanged
	// ReadOverdue acts on every overdue hint, changed or not: how a tenant
	// whose hint nobody moved (a crashed node's work) is looked at again.
	ReadOverdue
)

// String names the mode.
func (m ReadMode) String() string {
	switch m {
	case ReadChanged:
		return "changed"
	case ReadOverdue:
		return "overdue"
	default:
		return "all"
	}
}

// ReadHints reads the primary's hints of Config.Topic, for all tenants in
// one query, and wakes the tenants they name (HintDelay past each hint).
// The hint reader calls it every HintInterval (ReadChanged) and
// OverdueInterval (ReadOverdue), and Start once (ReadAll); call it to read
// at once. A failed read is logged: signals and the sweep still find the
// work.
func (s *Scheduler) ReadHints(ctx context.Context, mode ReadMode) {
	if s.cfg.Hints == nil {
		return
	}
	now := s.clock.Now()
	s.mu.Lock()
	if s.state != stateRunning {
		s.mu.Unlock()
		return
	}
	s.lastRead = now
	if mode == ReadOverdue {
		s.nextOverdue = now.Add(s.cfg.OverdueInterval)
	} else {
		s.nextChanged = now.Add(s.cfg.HintInterval)
		if s.refreshWanted && !s.wantedAt.After(now) {
			s.refreshWanted = false // this read serves it
		}
	}
	s.hinter.kickLocked()
	s.readsInFlight++
	from := s.settles
	s.mu.Unlock()
	before := now.Add(s.cfg.HintLookahead)
	if mode == ReadOverdue {
		before = now
	}
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
	hints, err := s.cfg.Hints.DueHints(qctx, s.cfg.Topic, before, s.cfg.HintLimit)
	cancel()
	s.hintReads.Add(1)
	defer s.notify()
	s.mu.Lock()
	defer s.mu.Unlock()
	defer func() {
		if s.readsInFlight--; s.readsInFlight == 0 {
			clear(s.settledInRead)
		}
	}()
	if err != nil {
		if ctx.Err() == nil && s.runCtx.Err() == nil {
			s.log.Warn("reading the wake-up hints failed; signals and the sweep still find the work", "topic", s.cfg.Topic, "err", err)
		}
		return
	}
	// A tenant that settled while the hints were read asked its own storage
	// meanwhile: what it found (and recorded in seen) is at least as new as
	// its hint, which may be the very hint its turn just cleared. Waking it
	// again would cost an empty turn.
	settledSince := func(tenant string) bool {
		n, ok := s.settledInRead[tenant]
		return ok && n > from
	}
	seen := s.seen
	if mode != ReadOverdue {
		s.seen = make(map[string]time.Time, len(hints))
		for tenant := range s.settledInRead {
			if due, ok := seen[tenant]; ok && settledSince(tenant) {
				s.seen[tenant] = due
			}
		}
	}
	for _, h := range hints {
		if settledSince(h.Tenant) {
			continue
		}
		if t := s.tenants[h.Tenant]; t != nil && t.hintKnown && !t.hint.Equal(h.DueAt) {
			// Someone moved the hint since this node wrote it (a commit
			// lowered it): the tenant's next settle writes it again.
			t.hintKnown = false
		}
		prev, ok := seen[h.Tenant]
		if mode != ReadOverdue {
			s.seen[h.Tenant] = h.DueAt
		}
		if mode == ReadChanged && ok && prev.Equal(h.DueAt) {
			continue
		}
		s.wakeIDLocked(h.Tenant, h.DueAt.Add(s.cfg.HintDelay), now)
	}
}

// settledLocked records that a tenant settled, once its hint in the
// primary says what it found: a hint read in flight meanwhile may have
// seen the hint from before and must not act on it.
func (s *Scheduler) settledLocked(tenant string) {
	s.settles++
	if s.readsInFlight > 0 {
		s.settledInRead[tenant] = s.settles
	}
}

// requestRefresh asks the hint reader for one read soon: a "refresh
// everything" signal came (a listener reconnected and may have missed
// signals).
func (s *Scheduler) requestRefresh() {
	defer s.notify()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != stateRunning || s.cfg.Hints == nil {
		return
	}
	if !s.refreshWanted {
		s.refreshWanted, s.wantedAt = true, s.clock.Now()
	}
	s.hinter.kickLocked()
}

// refreshAtLocked is when the read a "refresh everything" signal asked
// for is due: RefreshDelay after the signal, and not closer than
// HintMinGap to the last read.
func (s *Scheduler) refreshAtLocked() time.Time {
	at := s.wantedAt.Add(s.cfg.RefreshDelay)
	if last := s.lastRead.Add(s.cfg.HintMinGap); !s.lastRead.IsZero() && at.Before(last) {
		at = last
	}
	return at
}

// readStep reads the hints when a read is due: changed hints every
// HintInterval, overdue ones every OverdueInterval, and the reads that
// "refresh everything" signals ask for. Otherwise it returns when the next
// read is due.
func (s *Scheduler) readStep(now time.Time) (func(), time.Time) {
	if s.state != stateRunning {
		return nil, time.Time{}
	}
	var modes []ReadMode
	if !now.Before(s.nextChanged) || (s.refreshWanted && !now.Before(s.refreshAtLocked())) {
		modes = append(modes, ReadChanged)
	}
	if !now.Before(s.nextOverdue) {
		modes = append(modes, ReadOverdue)
	}
	if len(modes) > 0 {
		return func() {
			for _, m := range modes {
				s.ReadHints(s.runCtx, m)
			}
		}, time.Time{}
	}
	next := s.nextChanged
	if s.nextOverdue.Before(next) {
		next = s.nextOverdue
	}
	if s.refreshWanted {
		if at := s.refreshAtLocked(); at.Before(next) {
			next = at
		}
	}
	return nil, next
}
