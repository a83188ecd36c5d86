package tenantsched

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
)

// sweepStep runs a sweep round every SweepInterval.
func (s *Scheduler) sweepStep(now time.Time) (func(), time.Time) {
	switch {
	case s.state != stateRunning:
		return nil, time.Time{}
	case now.Before(s.nextSweep):
		return nil, s.nextSweep
	}
	s.nextSweep = now.Add(s.cfg.SweepInterval)
	return func() { s.sweep(s.runCtx) }, time.Time{}
}

// sweep probes the next SweepRate active tenants the scheduler knows
// nothing of (round robin over pages of the tenant list) and wakes those
// with work, so that work whose signal and hint were both lost is found
// within one pass.
func (s *Scheduler) sweep(ctx context.Context) {
	s.sweepRounds.Add(1)
	for _, id := range s.nextSweepIDs(ctx) {
		s.mu.Lock()
		t := s.tenants[id]
		known := t != nil && (t.where != Unqueued || t.inflight > 0 || s.clock.Now().Before(t.notBefore))
		tomb := s.tombstonedLocked(id, s.clock.Now())
		running := s.state == stateRunning
		s.mu.Unlock()
		if !running {
			return
		}
		if known || tomb {
			continue
		}
		due, ok, err := s.cfg.Probe(withTenant(ctx, id), id)
		s.sweepChecks.Add(1)
		if err != nil || !ok {
			continue
		}
		s.Wake(due, id)
	}
}

// nextSweepIDs returns the next SweepRate tenants, reading a page of the
// tenant list when the current one is used up.
func (s *Scheduler) nextSweepIDs(ctx context.Context) []string {
	s.mu.Lock()
	if len(s.sweepBuf) == 0 {
		after := s.sweepNext
		now := s.clock.Now()
		if after == "" {
			// A new pass: not sooner than SweepPassMin after the last one
			// began, so that few tenants are not probed every round.
			if !s.sweepPass.IsZero() && now.Sub(s.sweepPass) < s.cfg.SweepPassMin {
				s.mu.Unlock()
				return nil
			}
			s.sweepPass = now
		}
		s.mu.Unlock()
		qctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
		ts, err := s.cfg.Directory.ListTenants(qctx, &datasource.ListTenantsParams{
			Status: []datasource.Status{datasource.StatusActive}, After: after, Limit: s.cfg.SweepPage})
		cancel()
		s.listings.Add(1)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("listing tenants for the sweep failed", "topic", s.cfg.Topic, "err", err)
			}
			return nil
		}
		s.mu.Lock()
		s.sweepBuf = s.sweepBuf[:0]
		for _, t := range ts {
			s.sweepBuf = append(s.sweepBuf, t.ID)
		}
		s.sweepNext = ""
		if len(ts) == s.cfg.SweepPage {
			s.sweepNext = ts[len(ts)-1].ID
		}
	}
	n := min(s.cfg.SweepRate, len(s.sweepBuf))
	ids := append([]string(nil), s.sweepBuf[:n]...)
	s.sweepBuf = s.sweepBuf[n:]
	s.mu.Unlock()
	return ids
}
