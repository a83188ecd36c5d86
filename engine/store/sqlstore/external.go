package sqlstore

import (
	"context"
	"strconv"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// LockExternalTasks implements store.Store. On PostgreSQL the candidate
// rows are locked FOR UPDATE SKIP LOCKED, so workers polling at once take
// different tasks without waiting for each other.
func (s *Store) LockExternalTasks(ctx context.Context, p *store.LockExternalTasksParams) ([]*core.ExternalTask, error) {
	var out []*core.ExternalTask
	err := s.write(ctx, func(tx *dbtx) error {
		out = out[:0]
		now := p.Now
		left := p.MaxTasks
		for _, t := range p.Topics {
			if left == 0 {
				break
			}
			q := extSelect + ` WHERE topic = $1 AND lock_expires_at <= $2 AND suspended = FALSE AND (retries IS NULL OR retries > 0)`
			args := []any{t.Name, now.UnixMilli()}
			if t.BusinessKey != "" {
				args = append(args, t.BusinessKey)
				q += ` AND business_key = $` + strconv.Itoa(len(args))
			}
			if len(t.DefinitionKeys) > 0 {
				marks, keys := inList(t.DefinitionKeys, len(args)+1)
				args = append(args, keys...)
				q += ` AND def_key IN (` + marks + `)`
			}
			if p.UsePriority {
				q += ` ORDER BY priority DESC, id`
			} else {
				q += ` ORDER BY id`
			}
			args = append(args, left)
			q += ` LIMIT $` + strconv.Itoa(len(args))
			if isPostgres(tx) {
				q += ` FOR UPDATE SKIP LOCKED`
			}
			var rows []extCols
			if err := tx.SelectContext(ctx, &rows, q, args...); err != nil {
				return err
			}
			until := now.Add(t.LockDuration).UnixMilli()
			for i := range rows {
				r := &rows[i]
				if _, err := tx.ExecContext(ctx, `UPDATE tf_external_task SET worker_id = $1, lock_expires_at = $2, revision = revision + 1 WHERE id = $3`,
					p.WorkerID, until, r.ID); err != nil {
					return err
				}
				r.WorkerID, r.LockExpiresAt, r.Revision = p.WorkerID, until, r.Revision+1
				et := r.public(tx.Tenant())
				vars, err := scopeVariables(ctx, tx, &store.VariablesParams{InstanceID: r.InstanceID, ExecutionID: r.ExecutionID,
					Names: t.Variables, Local: t.LocalVariables})
				if err != nil {
					return err
				}
				et.Variables = vars
				out = append(out, &et)
			}
			left -= len(rows)
		}
		return nil
	})
	return out, err
}

// Variables implements store.Store.
func (s *Store) Variables(ctx context.Context, p *store.VariablesParams) (map[string]core.Value, error) {
	var out map[string]core.Value
	err := s.read(ctx, func(tx *dbtx) error {
		var exists int
		if err := tx.GetContext(ctx, &exists, `SELECT COUNT(*) FROM tf_instance WHERE id = $1`, p.InstanceID); err != nil {
			return err
		}
		if exists == 0 {
			return core.NotFound("process instance", p.InstanceID)
		}
		var err error
		out, err = scopeVariables(ctx, tx, p)
		return err
	})
	return out, err
}

// scopeVariables reads the variables visible from a scope: the
// execution's own, then its enclosing scopes' up to the instance, inner
// ones winning.
func scopeVariables(ctx context.Context, tx *dbtx, p *store.VariablesParams) (map[string]core.Value, error) {
	if p.Names != nil && len(p.Names) == 0 {
		return map[string]core.Value{}, nil
	}
	depth := map[int64]int{p.InstanceID: 0}
	if p.ExecutionID != 0 && p.ExecutionID != p.InstanceID {
		var execs []struct {
			ID       int64 `db:"id"`
			ParentID int64 `db:"parent_id"`
		}
		if err := tx.SelectContext(ctx, &execs, `SELECT id, parent_id FROM tf_execution WHERE instance_id = $1`, p.InstanceID); err != nil {
			return nil, err
		}
		parent := make(map[int64]int64, len(execs))
		for _, x := range execs {
			parent[x.ID] = x.ParentID
		}
		depth = map[int64]int{}
		d := 0
		for id := p.ExecutionID; id != 0; id = parent[id] {
			depth[id] = d
			d++
			if p.Local || id == p.InstanceID {
				break
			}
		}
	}
	var vars []varCols
	if err := tx.SelectContext(ctx, &vars, varSelect+` WHERE instance_id = $1`, p.InstanceID); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range p.Names {
		want[n] = true
	}
	out := map[string]core.Value{}
	best := map[string]int{}
	for i := range vars {
		v := &vars[i]
		dd, in := depth[v.ScopeID]
		if !in || (p.Names != nil && !want[v.Name]) {
			continue
		}
		if b, seen := best[v.Name]; seen && b <= dd {
			continue
		}
		val, err := v.value()
		if err != nil {
			return nil, err
		}
		out[v.Name], best[v.Name] = val, dd
	}
	return out, nil
}
