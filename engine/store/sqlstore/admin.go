package sqlstore

import (
	"context"
	"fmt"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// instanceTables are the tables whose rows belong to an instance, by
// instance_id: removing an instance removes its rows from each, then the
// instance row itself. Every operation that removes instances uses this
// one list.
var instanceTables = []string{"tf_activity", "tf_task", "tf_variable", "tf_variable_update", "tf_incident",
	"tf_execution", "tf_external_task", "tf_job", "tf_subscription"}

// removeInstances deletes instances and every row they hold.
func removeInstances(ctx context.Context, tx *dbtx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	marks, args := inList(ids, 1)
	for _, t := range instanceTables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+t+` WHERE instance_id IN (`+marks+`)`, args...); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM tf_instance WHERE id IN (`+marks+`)`, args...)
	return err
}

// CleanupHistory implements store.Store.
func (s *Store) CleanupHistory(ctx context.Context, p *store.CleanupHistoryParams) (int, error) {
	var ids []int64
	err := s.write(ctx, func(tx *dbtx) error {
		ids = ids[:0]
		if err := tx.SelectContext(ctx, &ids, `SELECT i.id FROM tf_instance i JOIN tf_definition d ON d.id = i.definition_id
			WHERE i.state <> 'active' AND d.history_ttl_ms > 0 AND i.ended_at IS NOT NULL
			AND i.ended_at + d.history_ttl_ms < $1 ORDER BY i.id LIMIT $2`, p.Now.UnixMilli(), p.Limit); err != nil {
			return err
		}
		return removeInstances(ctx, tx, ids)
	})
	return len(ids), err
}

// DeleteDeployment implements store.Store.
func (s *Store) DeleteDeployment(ctx context.Context, p *store.DeleteDeploymentParams) error {
	return s.write(ctx, func(tx *dbtx) error {
		if _, err := deploymentTx(ctx, tx, p.ID); err != nil {
			return err
		}
		var running int
		if err := tx.GetContext(ctx, &running, `SELECT COUNT(*) FROM tf_instance i JOIN tf_definition d ON d.id = i.definition_id
			WHERE d.deployment_id = $1 AND i.state = 'active'`, p.ID); err != nil {
			return err
		}
		if running > 0 && !p.Cascade {
			return fmt.Errorf("%w: deployment %d has %d running instances; delete with cascade to remove them too", core.ErrConflict, p.ID, running)
		}
		if p.Cascade {
			var ids []int64
			if err := tx.SelectContext(ctx, &ids, `SELECT i.id FROM tf_instance i JOIN tf_definition d ON d.id = i.definition_id
				WHERE d.deployment_id = $1`, p.ID); err != nil {
				return err
			}
			if err := removeInstances(ctx, tx, ids); err != nil {
				return err
			}
		}
		for _, q := range []string{
			`DELETE FROM tf_job WHERE definition_id IN (SELECT id FROM tf_definition WHERE deployment_id = $1)`,
			`DELETE FROM tf_subscription WHERE definition_id IN (SELECT id FROM tf_definition WHERE deployment_id = $1)`,
			`DELETE FROM tf_definition WHERE deployment_id = $1`,
			`DELETE FROM tf_resource WHERE deployment_id = $1`,
			`DELETE FROM tf_deployment WHERE id = $1`,
		} {
			if _, err := tx.ExecContext(ctx, q, p.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// SuspendDefinition implements store.Store.
func (s *Store) SuspendDefinition(ctx context.Context, p *store.SuspendDefinitionParams) ([]int64, error) {
	var ids []int64
	err := s.write(ctx, func(tx *dbtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tf_definition SET suspended = $1 WHERE id = $2`, p.Suspended, p.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return core.NotFound("process definition", p.ID)
		}
		return tx.SelectContext(ctx, &ids, `SELECT id FROM tf_instance WHERE definition_id = $1 AND state = 'active'
			AND suspended <> $2 ORDER BY id`, p.ID, p.Suspended)
	})
	return ids, err
}

// DefinitionStatistics implements store.Store.
func (s *Store) DefinitionStatistics(ctx context.Context, definitionID int64) ([]store.ActivityStatistic, error) {
	by := map[string]*store.ActivityStatistic{}
	var order []string
	get := func(el string) *store.ActivityStatistic {
		st := by[el]
		if st == nil {
			st = &store.ActivityStatistic{ElementID: el, Incidents: map[core.IncidentType]int64{}}
			by[el] = st
			order = append(order, el)
		}
		return st
	}
	err := s.read(ctx, func(tx *dbtx) error {
		type row struct {
			ElementID string `db:"element_id"`
			Type      string `db:"type"`
			N         int64  `db:"n"`
		}
		var rows []row
		if err := tx.SelectContext(ctx, &rows, `SELECT element_id, '' AS type, COUNT(*) AS n FROM tf_activity
			WHERE definition_id = $1 AND ended_at IS NULL AND element_type <> 'multiInstanceBody' GROUP BY element_id`, definitionID); err != nil {
			return err
		}
		for _, r := range rows {
			get(r.ElementID).Instances = r.N
		}
		rows = rows[:0]
		if err := tx.SelectContext(ctx, &rows, `SELECT element_id, '' AS type, COUNT(*) AS n FROM tf_job
			WHERE definition_id = $1 AND retries = 0 GROUP BY element_id`, definitionID); err != nil {
			return err
		}
		for _, r := range rows {
			get(r.ElementID).FailedJobs = r.N
		}
		rows = rows[:0]
		if err := tx.SelectContext(ctx, &rows, `SELECT element_id, type, COUNT(*) AS n FROM tf_incident
			WHERE definition_id = $1 AND state = 'open' GROUP BY element_id, type`, definitionID); err != nil {
			return err
		}
		for _, r := range rows {
			get(r.ElementID).Incidents[core.IncidentType(r.Type)] = r.N
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]store.ActivityStatistic, 0, len(by))
	for _, el := range core.SortedKeys(by) {
		out = append(out, *by[el])
	}
	return out, nil
}

// VariableUpdates implements store.Store.
func (s *Store) VariableUpdates(ctx context.Context, instanceID int64) ([]*core.VariableUpdate, error) {
	var out []*core.VariableUpdate
	err := s.statement(ctx, func(tx *dbtx) error {
		out = out[:0]
		var rows []struct {
			varCols
			ID        int64  `db:"id"`
			ElementID string `db:"element_id"`
			TaskID    int64  `db:"task_id"`
			At        int64  `db:"at"`
		}
		if err := tx.SelectContext(ctx, &rows, `SELECT id, instance_id, scope_id, name, type, text_value, long_value,
			double_value, revision, element_id, task_id, at FROM tf_variable_update WHERE instance_id = $1 ORDER BY id`, instanceID); err != nil {
			return err
		}
		for i := range rows {
			r := &rows[i]
			v, err := r.value()
			if err != nil {
				return err
			}
			out = append(out, &core.VariableUpdate{ID: r.ID, InstanceID: r.InstanceID, ScopeID: r.ScopeID, Name: r.Name,
				Value: v, Revision: r.Revision, ElementID: r.ElementID, TaskID: r.TaskID, At: timeOf(r.At)})
		}
		return nil
	})
	return out, err
}
