package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/lib/pq"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Outbox positions are numbers a reader resumes after, and no transaction
// outside the tenant's own event-writing ones can hold its events back. On
// PostgreSQL they come from a sequence and readers stop at the gate's
// horizon (see postgres/00006_outbox_gate.sql); on SQLite, with one writer
// at a time, from a commit clock. A core.Cursor is "c" and the number.

func cursorOf(pos int64) core.Cursor {
	if pos == 0 {
		return ""
	}
	return core.Cursor("c" + strconv.FormatInt(pos, 10))
}

// cursorPos resolves a cursor to a position. A cursor issued before the
// commit clock existed resolves to the last event it had passed: "s<seq>"
// on SQLite, where the sequence became the position, and "p<tx>.<seq>" on
// PostgreSQL, looked up among the events that carry their transaction ID.
func cursorPos(ctx context.Context, tx *dbtx, c core.Cursor) (int64, error) {
	s := string(c)
	if s == "" {
		return 0, nil
	}
	bad := fmt.Errorf("%w: cursor %q is not one this storage issued", core.ErrInvalid, core.Truncate(s, 40))
	switch {
	case strings.HasPrefix(s, "c"), tx.Dialect() == datasource.SQLite && strings.HasPrefix(s, "s"):
		n, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || n < 0 {
			return 0, bad
		}
		return n, nil
	case tx.Dialect() == datasource.Postgres && strings.HasPrefix(s, "p"):
		a, b, ok := strings.Cut(s[1:], ".")
		if !ok {
			return 0, bad
		}
		txid, err1 := strconv.ParseUint(a, 10, 64)
		seq, err2 := strconv.ParseInt(b, 10, 64)
		if err1 != nil || err2 != nil {
			return 0, bad
		}
		var pos int64
		err := tx.GetContext(ctx, &pos, `SELECT COALESCE(MAX(pos), 0) FROM tf_outbox
			WHERE (tx_id, seq) <= ($1::text::xid8, $2)`, strconv.FormatUint(txid, 10), seq)
		return pos, err
	}
	return 0, bad
}

// ReadEvents returns events of the tenant in ctx after p.After, in commit
// order: it reads no further than the horizon, below which every event's
// transaction has ended, so an event whose transaction commits later
// always sorts after the returned Next. A reader resuming from Next never
// skips one, and nothing but the tenant's own event-writing transactions
// (which commit in moments) can hold a read back.
func (s *Store) ReadEvents(ctx context.Context, p *store.ReadEventsParams) (*store.EventBatch, error) {
	limit := p.Limit
	if limit <= 0 || limit > 10_000 {
		limit = 500
	}
	out := &store.EventBatch{Next: p.After}
	err := s.statement(ctx, func(tx *dbtx) error {
		out.Events = out.Events[:0]
		after, err := cursorPos(ctx, tx, p.After)
		if err != nil {
			return err
		}
		upTo, err := horizon(ctx, tx, after)
		if err != nil || upTo <= after {
			return err
		}
		var rows []outboxCols
		if err := tx.SelectContext(ctx, &rows, `SELECT `+outboxFields+` FROM tf_outbox WHERE pos > $1 AND pos <= $2 ORDER BY pos LIMIT $3`,
			after, upTo, limit); err != nil {
			return err
		}
		types := map[core.EventType]bool{}
		for _, t := range p.Types {
			types[t] = true
		}
		for i := range rows {
			r := &rows[i]
			out.Next = cursorOf(r.Pos)
			if len(types) > 0 && !types[core.EventType(r.Type)] || p.InstanceID != 0 && r.InstanceID != p.InstanceID ||
				p.DefinitionKey != "" && r.DefKey != p.DefinitionKey {
				continue
			}
			ev := &core.Event{ID: r.ID, Tenant: tx.Tenant(), Type: core.EventType(r.Type), Time: timeOf(r.At), Cursor: out.Next,
				InstanceID: r.InstanceID, BusinessKey: r.BusinessKey, DefinitionID: r.DefinitionID, DefinitionKey: r.DefKey,
				ElementID: r.ElementID, ElementType: r.ElementType, TaskID: r.TaskID}
			if r.Data != "" {
				ev.Data = json.RawMessage(r.Data)
			}
			out.Events = append(out.Events, ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// gateWait bounds how long a reader waits at the outbox gate.
const gateWait = "5s"

// horizon returns the position up to which every event's transaction has
// ended, or after when no event has been written past it. On PostgreSQL
// that is the position sequence's last value read behind the gate, taken
// only when the sequence has moved past after (an idle reader never holds
// a writer back). A writer that stays inside the gate longer than
// gateWait (engine writers commit in moments; a session holding a
// transaction open does not) holds its tenant's readers no longer: they
// read nothing new until it leaves. On SQLite, where writers take turns
// and number their events from the clock as they go, whatever a reader
// sees is complete: there is no bound.
func horizon(ctx context.Context, tx *dbtx, after int64) (int64, error) {
	if tx.Dialect() == datasource.SQLite {
		return math.MaxInt64, nil
	}
	var last []int64
	if err := tx.SelectContext(ctx, &last, `SELECT last_value FROM tf_outbox_pos_seq WHERE is_called`); err != nil || len(last) == 0 || last[0] <= after {
		return after, err
	}
	var h []struct {
		Last int64 `db:"last_value"`
	}
	err := tx.selectEach(ctx, `SET LOCAL lock_timeout = '`+gateWait+`'; LOCK TABLE tf_outbox_gate IN SHARE MODE; SELECT last_value FROM tf_outbox_pos_seq`, &h)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "55P03" { // lock_not_available
		return after, nil
	}
	if err != nil {
		return after, err
	}
	if len(h) == 0 {
		return after, nil
	}
	return h[0].Last, nil
}

// ConsumerState returns a named consumer's position, backlog and dead
// letters in the tenant of ctx. A consumer that never advanced is at the
// beginning.
func (s *Store) ConsumerState(ctx context.Context, consumer string) (*store.ConsumerState, error) {
	st := &store.ConsumerState{Consumer: consumer}
	err := s.read(ctx, func(tx *dbtx) error {
		var row struct {
			Position  string `db:"position"`
			UpdatedAt int64  `db:"updated_at"`
		}
		err := tx.GetContext(ctx, &row, `SELECT position, updated_at FROM tf_outbox_consumer WHERE name = $1`, consumer)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		st.Position, st.UpdatedAt = core.Cursor(row.Position), timeOf(row.UpdatedAt)
		pos, err := cursorPos(ctx, tx, st.Position)
		if err != nil {
			return err
		}
		if err := tx.GetContext(ctx, &st.Backlog, `SELECT COUNT(*) FROM tf_outbox WHERE pos > $1`, pos); err != nil {
			return err
		}
		return tx.GetContext(ctx, &st.DeadLetters, `SELECT COUNT(*) FROM tf_outbox_dead WHERE consumer = $1`, consumer)
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// AdvanceConsumer records that consumer has processed everything up to
// and including to. Positions only move forward: an older cursor is
// ignored.
func (s *Store) AdvanceConsumer(ctx context.Context, p *store.AdvanceConsumerParams) error {
	consumer, to := p.Consumer, p.To
	return s.write(ctx, func(tx *dbtx) error {
		next, err := cursorPos(ctx, tx, to)
		if err != nil {
			return err
		}
		var cur string
		err = tx.GetContext(ctx, &cur, `SELECT position FROM tf_outbox_consumer WHERE name = $1`, consumer)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if prev, perr := cursorPos(ctx, tx, core.Cursor(cur)); perr == nil && prev >= next {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO tf_outbox_consumer (name, position, updated_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`,
			consumer, string(cursorOf(next)), p.At.UnixMilli())
		return err
	})
}

// DeadLetterEvents records events a consumer gave up on, with reasons.
func (s *Store) DeadLetterEvents(ctx context.Context, consumer string, letters []store.DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *dbtx) error {
		for _, l := range letters {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tf_outbox_dead (consumer, event_id, reason, at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (consumer, event_id) DO UPDATE SET reason = excluded.reason, at = excluded.at`,
				consumer, l.EventID, core.Truncate(l.Reason, 4000), l.At.UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeadLetters lists a consumer's dead letters, newest first.
func (s *Store) DeadLetters(ctx context.Context, consumer string, limit int) ([]store.DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []store.DeadLetter
	err := s.read(ctx, func(tx *dbtx) error {
		var rows []struct {
			EventID int64  `db:"event_id"`
			Reason  string `db:"reason"`
			At      int64  `db:"at"`
		}
		if err := tx.SelectContext(ctx, &rows, `SELECT event_id, reason, at FROM tf_outbox_dead WHERE consumer = $1
			ORDER BY at DESC, event_id LIMIT $2`, consumer, limit); err != nil {
			return err
		}
		out = out[:0]
		for _, r := range rows {
			out = append(out, store.DeadLetter{Consumer: consumer, EventID: r.EventID, Reason: r.Reason, At: timeOf(r.At)})
		}
		return nil
	})
	return out, err
}

// pruneCut finds the last position, up to upper (none when negative),
// whose event is older than before, by a binary search over positions
// (the key): the outbox keeps no index of times, which every event would
// pay for. Events are written in about the order of their times, so the
// events up to the cut are old enough but for a straggler (a command
// decided earlier than one before it, committed later), which the delete's
// own condition on times keeps for a later pruning. 0 means none.
func pruneCut(ctx context.Context, tx *dbtx, before, upper int64) (int64, error) {
	var bounds struct {
		Lo int64 `db:"lo"`
		Hi int64 `db:"hi"`
	}
	if err := tx.GetContext(ctx, &bounds, `SELECT COALESCE(MIN(pos), 0) AS lo, COALESCE(MAX(pos), 0) AS hi FROM tf_outbox`); err != nil {
		return 0, err
	}
	lo, hi := bounds.Lo, bounds.Hi
	if upper >= 0 {
		hi = min(hi, upper)
	}
	var cut int64
	for lo > 0 && lo <= hi {
		mid := lo + (hi-lo)/2
		var next []struct {
			Pos int64 `db:"pos"`
			At  int64 `db:"at"`
		}
		if err := tx.SelectContext(ctx, &next, `SELECT pos, at FROM tf_outbox WHERE pos >= $1 AND pos <= $2 ORDER BY pos LIMIT 1`, mid, hi); err != nil {
			return 0, err
		}
		switch {
		case len(next) == 0: // no event in [mid, hi]
			hi = mid - 1
		case next[0].At < before:
			cut, lo = next[0].Pos, next[0].Pos+1
		default:
			hi = mid - 1
		}
	}
	return cut, nil
}

// PruneOutbox removes events older than olderThan that every consumer has
// passed, and dead letters of events no longer in the outbox. The
// consumers are those that ever advanced in the tenant, and each one named
// in waitFor: a consumer that has not advanced here yet (its first
// delivery is still failing, say) holds back every event. With no
// consumer at all, every event older than olderThan goes. It returns how
// many events it removed.
func (s *Store) PruneOutbox(ctx context.Context, p *store.PruneOutboxParams) (int, error) {
	olderThan, waitFor := p.OlderThan, p.WaitFor
	removed := 0
	err := s.write(ctx, func(tx *dbtx) error {
		var consumers []struct {
			Name     string `db:"name"`
			Position string `db:"position"`
		}
		if err := tx.SelectContext(ctx, &consumers, `SELECT name, position FROM tf_outbox_consumer`); err != nil {
			return err
		}
		min := int64(-1) // no consumer: no bound
		advanced := make(map[string]bool, len(consumers))
		for _, c := range consumers {
			advanced[c.Name] = true
			p, err := cursorPos(ctx, tx, core.Cursor(c.Position))
			if err != nil {
				return err
			}
			if min < 0 || p < min {
				min = p
			}
		}
		for _, name := range waitFor {
			if !advanced[name] {
				min = 0 // before the first event
			}
		}
		cut, err := pruneCut(ctx, tx, olderThan.UnixMilli(), min)
		if err != nil {
			return err
		}
		if cut > 0 {
			res, err := tx.ExecContext(ctx, `DELETE FROM tf_outbox WHERE pos <= $1 AND at < $2`, cut, olderThan.UnixMilli())
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			removed = int(n)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM tf_outbox_dead WHERE at < $1 AND NOT EXISTS (SELECT 1 FROM tf_outbox o WHERE o.id = tf_outbox_dead.event_id)`,
			olderThan.UnixMilli())
		return err
	})
	return removed, err
}
