package engine

import (
	"context"
	"time"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// The outbox API types are the store's.
type (
	// ReadEventsParams asks for events of the tenant in the context.
	ReadEventsParams = store.ReadEventsParams
	// EventBatch is what ReadEvents returns.
	EventBatch = store.EventBatch
	// DeadLetter records an event a consumer could not deliver and gave
	// up on.
	DeadLetter = store.DeadLetter
	// ConsumerState is a named outbox consumer's progress in one tenant.
	ConsumerState = store.ConsumerState
)

// ReadEvents returns events of the tenant in ctx after p.After, in commit
// order. It reads only as far as every event's transaction has ended, so an
// event whose transaction commits later always sorts after the returned
// Next: a reader resuming from Next never skips one, and nothing but the
// tenant's own event-writing commits (which last moments) can hold a read
// back.
//
// Errors: ErrNoTenant, ErrInvalid (a cursor this storage did not issue).
func (e *Engine) ReadEvents(ctx context.Context, p *ReadEventsParams) (*EventBatch, error) {
	if p == nil {
		p = &ReadEventsParams{}
	}
	q := *p
	if q.Limit <= 0 || q.Limit > 10_000 {
		q.Limit = 500
	}
	return e.st.ReadEvents(ctx, &q)
}

// ConsumerState returns a named consumer's position, backlog and dead
// letters in the tenant of ctx. A consumer that never advanced is at the
// beginning.
func (e *Engine) ConsumerState(ctx context.Context, consumer string) (*ConsumerState, error) {
	return e.st.ConsumerState(ctx, consumer)
}

// AdvanceConsumer records that consumer has processed everything up to
// and including to. Positions only move forward: an older cursor is
// ignored.
func (e *Engine) AdvanceConsumer(ctx context.Context, consumer string, to Cursor) error {
	if consumer == "" {
		return core.Invalidf("a consumer needs a name")
	}
	return e.st.AdvanceConsumer(ctx, &store.AdvanceConsumerParams{Consumer: consumer, To: to, At: e.now()})
}

// DeadLetterEvents records events a consumer gave up on, with reasons.
func (e *Engine) DeadLetterEvents(ctx context.Context, consumer string, letters []DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	now := e.now()
	for i := range letters {
		if letters[i].At.IsZero() {
			letters[i].At = now
		}
	}
	return e.st.DeadLetterEvents(ctx, consumer, letters)
}

// DeadLetters lists a consumer's dead letters, newest first.
func (e *Engine) DeadLetters(ctx context.Context, consumer string, limit int) ([]DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	return e.st.DeadLetters(ctx, consumer, limit)
}

// PruneOutbox removes events older than olderThan that every consumer has
// passed, and dead letters of events no longer in the outbox. The
// consumers are those that ever advanced in the tenant, and each one named
// in waitFor: a consumer that has not advanced here yet (its first
// delivery is still failing, say) holds back every event. With no
// consumer at all, every event older than olderThan goes. It returns how
// many events it removed.
func (e *Engine) PruneOutbox(ctx context.Context, olderThan time.Time, waitFor ...string) (int, error) {
	return e.st.PruneOutbox(ctx, &store.PruneOutboxParams{OlderThan: olderThan, WaitFor: waitFor})
}
