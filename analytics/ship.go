package analytics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/tenantsched"
	"github.com/tenantflow/tenantflow/engine"
)

// outcome is what became of one event of a batch.
type outcome uint8

const (
	unanswered outcome = iota // no answer (yet): retried
	acked                     // Elasticsearch stored it
	rejected                  // permanently refused: dead-lettered
	retryable                 // refused for now: retried with backoff
)

type itemResult struct {
	outcome outcome
	reason  string
}

// batchResults collects the indexer's per-item callbacks. After close, a
// late callback (its flush outlived the batch) is ignored.
type batchResults struct {
	mu     sync.Mutex
	items  []itemResult
	closed bool
}

func (b *batchResults) set(i int, r itemResult) {
	b.mu.Lock()
	if !b.closed {
		b.items[i] = r
	}
	b.mu.Unlock()
}

func (b *batchResults) close() []itemResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return append([]itemResult(nil), b.items...)
}

// runTenant ships one batch of a tenant and returns when the tenant should
// run next (zero: when woken again, or when a backoff ends).
func (s *Shipper) runTenant(turn *tenantsched.Turn, t *tenantState) time.Time {
	tctx := turn.Context() // carries the tenant
	call := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(tctx, s.cfg.RequestTimeout)
	}
	if t.fresh || !t.known {
		// A new drain: another node may have moved the position meanwhile.
		ctx, cancel := call()
		st, err := s.out.ConsumerState(ctx, s.cfg.Consumer)
		cancel()
		if err != nil {
			return s.storageFailed(turn, t, "reading the shipping position", err)
		}
		t.position, t.known, t.fresh = st.Position, true, false
		s.mu.Lock()
		t.backlog = st.Backlog
		s.mu.Unlock()
	}
	ctx, cancel := call()
	batch, err := s.out.ReadEvents(ctx, &engine.ReadEventsParams{After: t.position, Limit: s.cfg.BatchSize})
	cancel()
	if err != nil {
		return s.storageFailed(turn, t, "reading events", err)
	}
	if len(batch.Events) == 0 {
		return s.drained(turn, t)
	}
	events := batch.Events
	start := s.clock.Now()
	results, err := s.ship(tctx, t.id, events)
	if err != nil {
		return s.shipFailed(turn, t, events[0], err.Error(), 0)
	}
	// Everything before the first event to retry is settled: acknowledged
	// or dead-lettered. The cursor moves past exactly those.
	k := len(results)
	var letters []engine.DeadLetter
	for i, r := range results {
		if r.outcome == unanswered || r.outcome == retryable {
			k = i
			break
		}
		if r.outcome == rejected {
			letters = append(letters, engine.DeadLetter{Consumer: s.cfg.Consumer, EventID: events[i].ID, Reason: r.reason, At: start})
		}
	}
	if len(letters) > 0 {
		ctx, cancel := call()
		err := s.out.DeadLetterEvents(ctx, s.cfg.Consumer, letters)
		cancel()
		if err != nil {
			return s.storageFailed(turn, t, "recording dead letters", err)
		}
		for _, l := range letters {
			s.log.Warn("Elasticsearch rejected an event; it is dead-lettered", "tenant", t.id, "event", l.EventID, "reason", l.Reason)
		}
	}
	var to engine.Cursor
	switch {
	case k == len(events) && batch.Next != "":
		to = batch.Next
	case k > 0:
		to = events[k-1].Cursor
	}
	if to != "" && to != t.position {
		ctx, cancel := call()
		err := s.out.AdvanceConsumer(ctx, s.cfg.Consumer, to)
		cancel()
		if err != nil {
			// Elasticsearch has the documents; shipping them again
			// overwrites them.
			t.known = false
			return s.storageFailed(turn, t, "recording the shipping position", err)
		}
		t.position = to
	}
	now := s.clock.Now()
	s.settled(t, events[:k], len(letters), now)
	if k < len(events) {
		return s.shipFailed(turn, t, events[k], results[k].reason, k)
	}
	s.recovered(turn, t)
	if len(events) == s.cfg.BatchSize {
		// Probably more: behind the tenants already waiting.
		return now
	}
	return s.drained(turn, t)
}

// ship sends a batch through the bulk indexer and returns each event's
// outcome, in the batch's order. An error means nothing was sent (the
// indices could not be prepared).
func (s *Shipper) ship(ctx context.Context, tenant string, events []*engine.Event) ([]itemResult, error) {
	res := &batchResults{items: make([]itemResult, len(events))}
	targets := make([]target, len(events))
	docs := make([][]byte, len(events))
	var indices []target
	seen := map[string]bool{}
	for i, e := range events {
		doc, err := encodeDocument(e)
		if err != nil {
			res.items[i] = itemResult{outcome: rejected, reason: err.Error()}
			continue
		}
		docs[i], targets[i] = doc, s.targetOf(e)
		if !seen[targets[i].index] {
			seen[targets[i].index] = true
			indices = append(indices, targets[i])
		}
	}
	for _, tg := range indices {
		ictx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		err := s.ensureIndex(ictx, tg)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	for i, e := range events {
		if docs[i] == nil {
			continue
		}
		err := s.bulk.Add(ctx, esutil.BulkIndexerItem{
			Index:      targets[i].index,
			Action:     "index", // not create: a retry overwrites
			DocumentID: e.DocumentID(),
			Routing:    tenant,
			Body:       bytes.NewReader(docs[i]),
			OnSuccess: func(_ context.Context, it esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem) {
				if r.DocumentID != it.DocumentID {
					res.set(i, misanswered(it, r))
					return
				}
				res.set(i, itemResult{outcome: acked})
			},
			OnFailure: func(_ context.Context, it esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem, err error) {
				if err == nil && r.DocumentID != "" && r.DocumentID != it.DocumentID {
					res.set(i, misanswered(it, r))
					return
				}
				res.set(i, s.classify(it.Index, r, err))
			},
		})
		if err != nil {
			break // the rest stays unanswered and is retried
		}
	}
	ferr := s.bulk.Flush(ctx)
	items := res.close()
	for i := range items {
		if items[i].outcome == unanswered {
			items[i].reason = "no answer from Elasticsearch for the item"
			if ferr != nil {
				items[i].reason = ferr.Error()
			}
		}
	}
	return items, nil
}

// misanswered is the outcome of an item whose answer names another
// document. The indexer pairs answers with items by position, so a
// request body that lost or reordered lines on the way (see privateBody)
// would otherwise acknowledge an event Elasticsearch never received.
func misanswered(it esutil.BulkIndexerItem, r esutil.BulkIndexerResponseItem) itemResult {
	return itemResult{outcome: retryable, reason: fmt.Sprintf(
		"the bulk answer for document %s named document %q: the request was garbled on the way", it.DocumentID, r.DocumentID)}
}

// classify sorts a failed item: transport errors, whole-request errors and
// statuses that can pass (429, 5xx, authorization, a missing index) are
// retried; other refusals (a mapping error, a document too large) are
// permanent.
func (s *Shipper) classify(index string, r esutil.BulkIndexerResponseItem, err error) itemResult {
	if err != nil {
		return itemResult{outcome: retryable, reason: err.Error()}
	}
	reason := fmt.Sprintf("status %d", r.Status)
	if r.Error.Type != "" {
		reason = fmt.Sprintf("%s: %s (status %d)", r.Error.Type, r.Error.Reason, r.Status)
		if r.Error.Cause.Type != "" {
			reason += fmt.Sprintf("; caused by %s: %s", r.Error.Cause.Type, r.Error.Cause.Reason)
		}
	}
	switch {
	case r.Status == http.StatusNotFound:
		s.forgetIndex(index)
		return itemResult{outcome: retryable, reason: reason}
	case r.Status == http.StatusTooManyRequests, r.Status >= 500, r.Status == 0,
		r.Status == http.StatusUnauthorized, r.Status == http.StatusForbidden,
		r.Status == http.StatusRequestTimeout, r.Status == http.StatusConflict:
		return itemResult{outcome: retryable, reason: reason}
	default:
		return itemResult{outcome: rejected, reason: reason}
	}
}

// settled records acknowledged events: counts and commit-to-ack lag.
func (s *Shipper) settled(t *tenantState, events []*engine.Event, dead int, now time.Time) {
	for _, e := range events {
		s.stats.observeLag(now.Sub(e.Time))
	}
	n := int64(len(events) - dead)
	s.stats.shipped.Add(n)
	s.stats.deadLettered.Add(int64(dead))
	s.stats.batches.Add(1)
	s.mu.Lock()
	t.shipped += n
	t.dead += int64(dead)
	t.backlog = max(t.backlog-int64(len(events)), 0)
	t.oldest = time.Time{}
	if len(events) > 0 {
		t.oldest = events[len(events)-1].Time
	}
	s.mu.Unlock()
}

// drained ends a drain: the storage is asked for the backlog after the
// position. Events that committed but cannot be read yet (an older
// transaction is still open) keep the tenant on a recheck schedule;
// otherwise its turn settles with nothing pending (its hint is cleared)
// and it waits for the next signal.
func (s *Shipper) drained(turn *tenantsched.Turn, t *tenantState) time.Time {
	ctx, cancel := context.WithTimeout(turn.Context(), s.cfg.RequestTimeout)
	defer cancel()
	st, err := s.out.ConsumerState(ctx, s.cfg.Consumer)
	if err != nil {
		return s.storageFailed(turn, t, "reading the backlog", err)
	}
	// Positions only move forward, so the stored one is never behind ours.
	t.position = st.Position
	now := s.clock.Now()
	s.mu.Lock()
	t.backlog = st.Backlog
	t.oldest = time.Time{}
	s.mu.Unlock()
	if st.Backlog > 0 {
		t.rechecks++
		d := min(s.cfg.FlushInterval<<min(t.rechecks, 10), s.cfg.HintInterval)
		return now.Add(max(d, s.cfg.FlushInterval))
	}
	t.rechecks = 0
	t.fresh = true
	if err := turn.Settle(time.Time{}); err != nil && turn.Context().Err() == nil {
		s.log.Debug("clearing an events hint failed; it only costs a read", "tenant", t.id, "err", err)
	}
	return time.Time{}
}

// shipFailed backs the tenant off after Elasticsearch refused or failed
// (part of) a batch; the events stay in the outbox.
func (s *Shipper) shipFailed(turn *tenantsched.Turn, t *tenantState, first *engine.Event, reason string, settled int) time.Time {
	s.stats.failedAttempts.Add(1)
	d, n := turn.Failed(tenantsched.Failure{Backoff: s.esBackoff(), Cause: causeElasticsearch})
	s.mu.Lock()
	t.lastError = reason
	if t.oldest.IsZero() || first.Time.Before(t.oldest) {
		t.oldest = first.Time
	}
	s.mu.Unlock()
	if n&(n-1) == 0 { // the first failure, then every power of two
		s.log.Warn("shipping to Elasticsearch failed; the events stay in the outbox and are retried",
			"tenant", t.id, "attempt", n, "retry_in", d, "shipped_before_failure", settled, "reason", reason)
	}
	return time.Time{}
}

// storageFailed backs the tenant off after its own storage failed, or lets
// go of it when it is no longer served.
func (s *Shipper) storageFailed(turn *tenantsched.Turn, t *tenantState, what string, err error) time.Time {
	if turn.Context().Err() != nil {
		return time.Time{} // stopping, or the tenant was let go of
	}
	if errors.Is(err, datasource.ErrTenantDisabled) || errors.Is(err, datasource.ErrUnknownTenant) {
		s.mu.Lock()
		if s.tenants[t.id] == t {
			delete(s.tenants, t.id)
		}
		s.mu.Unlock()
		return time.Time{}
	}
	s.stats.storageErrors.Add(1)
	d, n := turn.Failed(tenantsched.Failure{Backoff: tenantsched.Backoff{Initial: s.cfg.StorageBackoff, Max: s.cfg.StorageBackoff}})
	s.mu.Lock()
	t.lastError = what + ": " + err.Error()
	s.mu.Unlock()
	if n&(n-1) == 0 {
		s.log.Warn("the tenant's storage failed while shipping events; retrying the tenant later",
			"tenant", t.id, "step", what, "attempt", n, "retry_in", d, "err", err)
	}
	return time.Time{}
}

// recovered clears the failure state after a fully successful batch. When
// the tenant had been failing in Elasticsearch, an outage probably ended:
// the scheduler makes the other tenants waiting out an Elasticsearch
// backoff retry now instead of each at the end of its own backoff (up to
// MaxBackoff later). Their failure counts stay, so if it was only this
// tenant's trouble that passed, they back off further.
func (s *Shipper) recovered(turn *tenantsched.Turn, t *tenantState) {
	n, pulled := turn.Recovered()
	s.mu.Lock()
	t.lastError = ""
	s.mu.Unlock()
	if n > 0 {
		s.log.Info("shipping events recovered", "tenant", t.id, "failed_attempts", n, "tenants_retrying_now", pulled)
	}
}

// esBackoff is the wait after failures in Elasticsearch: exponential from
// InitialBackoff, capped at MaxBackoff, with equal jitter so tenants
// failing together do not retry in lockstep.
func (s *Shipper) esBackoff() tenantsched.Backoff {
	return tenantsched.Backoff{Initial: s.cfg.InitialBackoff, Max: s.cfg.MaxBackoff, Jitter: true}
}
