package engine

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// TopicRequest asks for tasks of one topic.
type TopicRequest = store.TopicRequest

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
	return e.st.LockExternalTasks(ctx, &store.LockExternalTasksParams{WorkerID: p.WorkerID, MaxTasks: p.MaxTasks,
		UsePriority: p.UsePriority, Topics: p.Topics, Now: e.now()})
}

// externalTask loads an external task's instance and returns the task.
func (e *Engine) externalTask(l *loader, id int64) (*core.ExtTaskRow, error) {
	snap, err := l.load(&store.LoadParams{ExternalTaskID: id})
	if err != nil {
		return nil, err
	}
	if snap.ExternalTask == nil {
		return nil, final(core.NotFound("external task", id))
	}
	if !slices.Contains(l.u.ExtTasks, snap.ExternalTask) {
		// Completed since the unit read its instance: a retry reports it.
		return nil, fmt.Errorf("%w: external task %d changed concurrently", ErrConflict, id)
	}
	return snap.ExternalTask, nil
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
