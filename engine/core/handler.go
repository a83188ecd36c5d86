package core

import (
	"context"
	"sort"
)

// Handler serves a service-task topic inside the engine, like a delegate:
// it runs as part of the command that reached the task (or of the job, when
// the task is asynchronous), with a timeout and with no transaction open
// and no row locked, so a slow handler delays its own command only. Read
// variables with task.Variable, write them with task.Set: they commit with
// the command. Return a *BPMNError to throw a BPMN error; any other error
// fails the command (and, in a job, counts as a failed attempt).
//
// Handlers run at least once, not exactly once: a command whose commit
// loses a race with another command on the same instance runs again from
// the new state, and calls its handlers again. Make a handler's outside
// effects idempotent (an idempotency key from task.InstanceID and
// task.ElementID), or use an external task, which a worker completes once.
// Handlers of parallel branches may run concurrently: a Handler must be
// safe for concurrent use.
//
// A topic without a handler becomes an external task for REST workers: one
// binding, two kinds of worker.
type Handler func(ctx context.Context, task *ServiceTask) error

// ServiceTask is what a handler sees of the task it serves.
type ServiceTask struct {
	Tenant        string
	InstanceID    int64
	BusinessKey   string
	DefinitionKey string
	ElementID     string
	Topic         string

	vars interface{ Lookup(string) (any, bool) }
	// out holds what the handler set, in the order it first set each
	// name: handlers set a few variables, so a slice beats a map.
	out []handlerVar
}

type handlerVar struct {
	name  string
	value any
}

// Variable returns a variable visible from the task, as expressions see it
// (integers as int, JSON decoded).
func (t *ServiceTask) Variable(name string) (any, bool) {
	for i := range t.out {
		if t.out[i].name == name {
			return t.out[i].value, true
		}
	}
	return t.vars.Lookup(name)
}

// Set sets a variable (where it exists in the task's scopes, else on the
// instance) when the handler returns successfully or with a BPMN error.
func (t *ServiceTask) Set(name string, value any) {
	for i := range t.out {
		if t.out[i].name == name {
			t.out[i].value = value
			return
		}
	}
	t.out = append(t.out, handlerVar{name, value})
}

// SortedKeys returns a map's keys in order, so commands are deterministic.
func SortedKeys[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
