package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// AcquireJobs implements store.Store: on PostgreSQL FOR UPDATE SKIP LOCKED
// lets several nodes acquire at once without waiting on each other; on
// SQLite the single writer serialises them. Jobs whose lock expired (a
// crashed node) are taken over.
func (s *Store) AcquireJobs(ctx context.Context, p *store.AcquireJobsParams) ([]*core.Job, error) {
	now := p.Now.UnixMilli()
	until := p.Now.Add(p.LockFor).UnixMilli()
	var rows []jobCols
	var tenant string
	err := s.statement(ctx, func(tx *dbtx) error {
		rows, tenant = rows[:0], tx.Tenant()
		if isPostgres(tx) {
			// A statement the connection keeps prepared, its rows as one
			// JSON column (like a load): one exchange, no parse.
			row, err := tx.queryRowPrepared(ctx, acquireJobsPG, now, p.Max, p.Owner, until)
			if err != nil || len(row) == 0 {
				return err
			}
			_, err = decodeJSONRows(jsonBytes(row[0]), &rows)
			return err
		}
		return tx.SelectContext(ctx, &rows, `UPDATE tf_job SET lock_owner = $3, lock_expires_at = $4, revision = revision + 1
			WHERE id IN (SELECT id FROM tf_job
				WHERE due_at <= $1 AND retries > 0 AND suspended = FALSE AND lock_expires_at <= $1
				ORDER BY priority DESC, due_at LIMIT $2)
			RETURNING `+jobColumns, now, p.Max, p.Owner, until)
	})
	if err != nil {
		return nil, err
	}
	out := make([]*core.Job, len(rows))
	for i := range rows {
		j := rows[i].row(tenant).Job
		out[i] = &j
	}
	return out, nil
}

// acquireJobsPG locks due jobs on PostgreSQL: SKIP LOCKED lets nodes
// acquire side by side without waiting on each other.
var acquireJobsPG = `WITH due AS (
	SELECT id FROM tf_job
	WHERE due_at <= $1 AND retries > 0 AND suspended = FALSE AND lock_expires_at <= $1
	ORDER BY priority DESC, due_at
	LIMIT $2
	FOR UPDATE SKIP LOCKED),
acquired AS (
	UPDATE tf_job j SET lock_owner = $3, lock_expires_at = $4, revision = j.revision + 1
	FROM due WHERE j.id = due.id
	RETURNING ` + prefixed("j.", jobColumns) + `)
SELECT json_agg(x) FROM acquired x`

func prefixed(prefix, cols string) string {
	parts := columnList(cols)
	for i, c := range parts {
		parts[i] = prefix + c
	}
	return strings.Join(parts, ", ")
}

// RenewJobLocks implements store.Store.
func (s *Store) RenewJobLocks(ctx context.Context, p *store.RenewJobLocksParams) ([]int64, error) {
	marks, args := inList(p.IDs, 3)
	var kept []int64
	err := s.statement(ctx, func(tx *dbtx) error {
		kept = kept[:0]
		return tx.SelectContext(ctx, &kept, `UPDATE tf_job SET lock_expires_at = $1 WHERE lock_owner = $2 AND id IN (`+
			marks+`) RETURNING id`, append([]any{p.Until.UnixMilli(), p.Owner}, args...)...)
	})
	if err != nil {
		return nil, err
	}
	held := make(map[int64]bool, len(kept))
	for _, id := range kept {
		held[id] = true
	}
	var lost []int64
	for _, id := range p.IDs {
		if !held[id] {
			lost = append(lost, id)
		}
	}
	return lost, nil
}

// ReleaseJobs implements store.Store.
func (s *Store) ReleaseJobs(ctx context.Context, p *store.ReleaseJobsParams) error {
	marks, args := inList(p.IDs, 2)
	return s.statement(ctx, func(tx *dbtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE tf_job SET lock_owner = '', lock_expires_at = 0, revision = revision + 1
			WHERE lock_owner = $1 AND id IN (`+marks+`)`, append([]any{p.Owner}, args...)...)
		return err
	})
}

// NextJobDue implements store.Store.
func (s *Store) NextJobDue(ctx context.Context) (time.Time, bool, error) {
	var v *int64
	err := s.statement(ctx, func(tx *dbtx) error {
		return tx.GetContext(ctx, &v, `SELECT MIN(CASE WHEN lock_expires_at > due_at THEN lock_expires_at ELSE due_at END)
			FROM tf_job WHERE retries > 0 AND suspended = FALSE`)
	})
	if err != nil || v == nil {
		return time.Time{}, false, err
	}
	return timeOf(*v), true, nil
}

// isPostgres reports whether tx runs on PostgreSQL. The store is the one
// place that asks.
func isPostgres(tx *dbtx) bool { return tx.Dialect() == datasource.Postgres }
