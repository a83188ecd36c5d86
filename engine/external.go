package engine

import (
	"context"
	"fmt"
	"github.com/tenantflow/tenantflow/engine/core"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
)

// TopicRequest asks for tasks of one topic.
type TopicRequest struct {
	Name         string
	LockDuration time.Duration
	// Variables limits the variables returned (nil: all, empty: none).
	Variables []string
	// LocalVariables returns only the task's local variables.
	LocalVariables bool
	// BusinessKey and DefinitionKeys narrow the tasks fetched.
	BusinessKey    string
	DefinitionKeys []string
}

// FetchAndLockParams asks for external tasks.
type FetchAndLockParams struct {
	WorkerID string
	MaxTasks int
	// UsePriority fetches higher-priority tasks first.
	UsePriority bool
	Topics      []TopicRequest
}

// FetchAndLock locks up to MaxTasks unlocked (or expired) external tasks of
// the requested topics for the worker and returns them with their
// variables. It never waits: long polling is the caller's (see the REST
// server), woken by TopicExternalTasks signals.
func (e *Engine) FetchAndLock(ctx context.Context, p *FetchAndLockParams) ([]*ExternalTask, error) {
	if p == nil || p.WorkerID == "" {
		return nil, core.Invalidf("fetchAndLock needs a workerId")
	}
	if len(p.Topics) == 0 || p.MaxTasks <= 0 {
		return nil, nil
	}
	for _, t := range p.Topics {
		if t.Name == "" {
			return nil, core.Invalidf("a topic request needs a topicName")
		}
		if t.LockDuration <= 0 {
			return nil, core.Invalidf("topic %q: lockDuration must be positive", t.Name)
		}
	}
	var out []*ExternalTask
	err := e.write(ctx, func(tx *datasource.Tx) error {
		out = out[:0]
		now := e.now()
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
				marks := make([]string, len(t.DefinitionKeys))
				for i, k := range t.DefinitionKeys {
					args = append(args, k)
					marks[i] = "$" + strconv.Itoa(len(args))
				}
				q += ` AND def_key IN (` + strings.Join(marks, ", ") + `)`
			}
			if p.UsePriority {
				q += ` ORDER BY priority DESC, id`
			} else {
				q += ` ORDER BY id`
			}
			args = append(args, left)
			q += ` LIMIT $` + strconv.Itoa(len(args))
			if tx.Dialect() == datasource.Postgres {
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
				vars, err := e.taskVariables(ctx, tx, r.InstanceID, r.ExecutionID, t.Variables, t.LocalVariables)
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

// taskVariables reads the variables visible from an execution: its own
// scope chain (local variables of enclosing scopes win) up to the instance.
// names filters (nil: all).
func (e *Engine) taskVariables(ctx context.Context, tx *datasource.Tx, instanceID, executionID int64, names []string, local bool) (map[string]Value, error) {
	if names != nil && len(names) == 0 {
		return map[string]Value{}, nil
	}
	var execs []struct {
		ID       int64 `db:"id"`
		ParentID int64 `db:"parent_id"`
	}
	if err := tx.SelectContext(ctx, &execs, `SELECT id, parent_id FROM tf_execution WHERE instance_id = $1`, instanceID); err != nil {
		return nil, err
	}
	parent := map[int64]int64{}
	for _, x := range execs {
		parent[x.ID] = x.ParentID
	}
	depth := map[int64]int{}
	d := 0
	for id := executionID; id != 0; id = parent[id] {
		depth[id] = d
		d++
		if local || id == instanceID {
			break
		}
	}
	var vars []varCols
	if err := tx.SelectContext(ctx, &vars, `SELECT scope_id, name, instance_id, type, text_value, long_value, double_value, revision
		FROM tf_variable WHERE instance_id = $1`, instanceID); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]Value{}
	best := map[string]int{}
	for i := range vars {
		v := &vars[i]
		dd, in := depth[v.ScopeID]
		if !in || (names != nil && !want[v.Name]) {
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

// externalTask loads an external task's instance and returns the task.
func (e *Engine) externalTask(l *loader, id int64) (*core.ExtTaskRow, error) {
	var instanceID int64
	if err := l.read(func(tx *datasource.Tx) error {
		return tx.GetContext(l.ctx, &instanceID, `SELECT instance_id FROM tf_external_task WHERE id = $1`, id)
	}); err != nil {
		if isNoRows(err) {
			return nil, final(core.NotFound("external task", id))
		}
		return nil, err
	}
	if _, err := l.load(instanceID); err != nil {
		return nil, err
	}
	for _, t := range l.u.ExtTasks {
		if t.ID == id && core.Alive(t.Op) {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%w: external task %d changed concurrently", ErrConflict, id)
}

// lockedBy checks that the worker holds the task's lock.
func lockedBy(t *core.ExtTaskRow, worker string) error {
	if t.WorkerID != worker {
		holder := t.WorkerID
		if holder == "" {
			holder = "no worker"
		}
		return final(fmt.Errorf("%w: external task %d cannot be handled by worker %q: it is locked by %s", ErrConflict, t.ID, worker, holder))
	}
	return nil
}

// CompleteExternalTaskParams completes an external task.
type CompleteExternalTaskParams struct {
	WorkerID            string
	Variables           map[string]any
	TypedVariables      map[string]Value
	LocalTypedVariables map[string]Value
}

// CompleteExternalTask completes a task locked by the worker and moves its
// token on. Errors: ErrNotFound, ErrConflict (locked by another worker),
// ErrWrongTenant, ErrSuspended.
func (e *Engine) CompleteExternalTask(ctx context.Context, task Ref, p *CompleteExternalTaskParams) error {
	if err := checkRef(ctx, task); err != nil {
		return err
	}
	vars, err := mergeVars(p.Variables, p.TypedVariables)
	if err != nil {
		return err
	}
	_, err = e.command(ctx, func(c *core.Executor, l *loader) error {
		t, err := e.externalTask(l, task.ID)
		if err != nil {
			return err
		}
		if err := lockedBy(t, p.WorkerID); err != nil {
			return err
		}
		return c.CompleteExternal(t, vars, p.LocalTypedVariables)
	})
	return err
}

// ExternalFailureParams reports a worker's failure.
type ExternalFailureParams struct {
	WorkerID     string
	ErrorMessage string
	ErrorDetails string
	// Retries left; 0 opens an incident.
	Retries int
	// RetryTimeout delays the next fetch.
	RetryTimeout time.Duration
}

// FailExternalTask records a failure of a task locked by the worker.
func (e *Engine) FailExternalTask(ctx context.Context, task Ref, p *ExternalFailureParams) error {
	if err := checkRef(ctx, task); err != nil {
		return err
	}
	_, err := e.command(ctx, func(c *core.Executor, l *loader) error {
		t, err := e.externalTask(l, task.ID)
		if err != nil {
			return err
		}
		if err := lockedBy(t, p.WorkerID); err != nil {
			return err
		}
		c.FailExternal(t, p.ErrorMessage, p.ErrorDetails, p.Retries, p.RetryTimeout)
		return nil
	})
	return err
}

// ExternalBPMNErrorParams throws a BPMN error from an external task.
type ExternalBPMNErrorParams struct {
	WorkerID       string
	ErrorCode      string
	ErrorMessage   string
	Variables      map[string]any
	TypedVariables map[string]Value
}

// ExternalTaskBPMNError throws a BPMN error from a task locked by the
// worker: an error boundary event on the task or an enclosing scope catches
// it; when none does, the task gets an incident.
func (e *Engine) ExternalTaskBPMNError(ctx context.Context, task Ref, p *ExternalBPMNErrorParams) error {
	if err := checkRef(ctx, task); err != nil {
		return err
	}
	if p.ErrorCode == "" {
		return core.Invalidf("a BPMN error needs an errorCode")
	}
	vars, err := mergeVars(p.Variables, p.TypedVariables)
	if err != nil {
		return err
	}
	_, err = e.command(ctx, func(c *core.Executor, l *loader) error {
		t, err := e.externalTask(l, task.ID)
		if err != nil {
			return err
		}
		if err := lockedBy(t, p.WorkerID); err != nil {
			return err
		}
		return c.ExternalBPMNError(t, p.ErrorCode, p.ErrorMessage, vars)
	})
	return err
}

// ExtendExternalTaskLock extends the lock of a task the worker holds.
func (e *Engine) ExtendExternalTaskLock(ctx context.Context, task Ref, worker string, d time.Duration) error {
	if d <= 0 {
		return core.Invalidf("newDuration must be positive")
	}
	return e.relock(ctx, task, func(c *core.Executor, t *core.ExtTaskRow) error {
		if err := lockedBy(t, worker); err != nil {
			return err
		}
		if !t.LockExpiresAt.After(c.Now) {
			return final(fmt.Errorf("%w: the lock of external task %d has expired", ErrConflict, t.ID))
		}
		t.LockExpiresAt = c.Now.Add(d)
		return nil
	})
}

// LockExternalTask locks an unlocked task for a worker.
func (e *Engine) LockExternalTask(ctx context.Context, task Ref, worker string, d time.Duration) error {
	if worker == "" || d <= 0 {
		return core.Invalidf("lock needs a workerId and a positive lockDuration")
	}
	return e.relock(ctx, task, func(c *core.Executor, t *core.ExtTaskRow) error {
		if t.WorkerID != "" && t.WorkerID != worker && t.LockExpiresAt.After(c.Now) {
			return final(fmt.Errorf("%w: external task %d is locked by %s", ErrConflict, t.ID, t.WorkerID))
		}
		t.WorkerID, t.LockExpiresAt = worker, c.Now.Add(d)
		return nil
	})
}

// UnlockExternalTask releases a task's lock, whoever holds it.
func (e *Engine) UnlockExternalTask(ctx context.Context, task Ref) error {
	return e.relock(ctx, task, func(c *core.Executor, t *core.ExtTaskRow) error {
		t.WorkerID, t.LockExpiresAt = "", time.Time{}
		return nil
	})
}

// SetExternalTaskRetries sets a task's retries; more than zero resolves its
// incident and makes it fetchable again.
func (e *Engine) SetExternalTaskRetries(ctx context.Context, task Ref, retries int) error {
	if retries < 0 {
		return core.Invalidf("retries must not be negative")
	}
	return e.relock(ctx, task, func(c *core.Executor, t *core.ExtTaskRow) error {
		t.Retries = &retries
		if retries > 0 {
			t.LockExpiresAt = time.Time{}
			c.ResolveIncidentsOf(0, t.ID)
		} else if x := c.Exec(t.ExecutionID); x != nil {
			c.OpenIncident(x, IncidentFailedExternalTask, 0, t.ID, "retries set to 0")
		}
		return nil
	})
}

func (e *Engine) relock(ctx context.Context, task Ref, fn func(c *core.Executor, t *core.ExtTaskRow) error) error {
	if err := checkRef(ctx, task); err != nil {
		return err
	}
	_, err := e.command(ctx, func(c *core.Executor, l *loader) error {
		t, err := e.externalTask(l, task.ID)
		if err != nil {
			return err
		}
		if err := fn(c, t); err != nil {
			return err
		}
		core.Touch(&t.Op)
		return nil
	})
	return err
}
