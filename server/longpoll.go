package server

import (
	"net/http"
	"sync"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
)

// longPolls tracks the fetchAndLock requests that wait for tasks.
type longPolls struct {
	s       *Server
	mu      sync.Mutex
	waiting map[pollKey]*poller
	closed  bool
	closing chan struct{} // closed on shutdown: streams end too
}

// pollKey identifies a worker of a tenant: a new request of the same worker
// ends its pending one, as Camunda does.
type pollKey struct{ tenant, worker string }

type poller struct {
	topics   map[string]bool
	wake     chan struct{} // a task of one of the topics may exist
	replaced chan struct{} // a newer request of the worker arrived
}

func newLongPolls(s *Server) *longPolls {
	lp := &longPolls{s: s, waiting: map[pollKey]*poller{}, closing: make(chan struct{})}
	if s.opts.Sources != nil {
		s.opts.Sources.Signals.Subscribe(datasource.TopicExternalTasks, lp.signal)
	}
	return lp
}

// signal wakes the tenant's pollers waiting for the signalled topic (all of
// them for a signal without a topic, or an "everything changed" one).
func (lp *longPolls) signal(sig datasource.Signal) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	for k, p := range lp.waiting {
		if !sig.All && k.tenant != sig.Tenant {
			continue
		}
		if sig.All || sig.Key == "" || p.topics[sig.Key] {
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
	}
}

// fetch locks tasks, waiting up to timeout for some to exist. A waiting
// request holds a place among its user's and tenant's waiting polls, and
// ends early (with nothing) when its caller loses access.
func (lp *longPolls) fetch(w http.ResponseWriter, r *http.Request, p *engine.FetchAndLockParams, topics []string, timeout time.Duration) ([]*engine.ExternalTask, error) {
	e := lp.s.opts.Engine
	ctx := r.Context()
	tasks, err := e.FetchAndLock(ctx, p)
	if err != nil || len(tasks) > 0 || timeout <= 0 {
		return tasks, err
	}
	tenant := tenantOf(r)
	leave, err := lp.s.waiting.enter(tenant, principal(r).UserID, lp.s.opts.Limits.MaxPollsPerUser, lp.s.maxPerTenant(r.Context(), tenant, false))
	if err != nil {
		lp.s.quota.counts(tenant).polls.Add(1)
		return nil, err
	}
	defer leave()
	rc := streaming(w)
	_ = rc.SetWriteDeadline(time.Now().Add(timeout + lp.s.opts.Limits.WriteTimeout))
	lost, stop := lp.s.watchAccess(r)
	defer stop()
	key := pollKey{tenant, p.WorkerID}
	me := &poller{topics: map[string]bool{}, wake: make(chan struct{}, 1), replaced: make(chan struct{})}
	for _, t := range topics {
		me.topics[t] = true
	}
	lp.mu.Lock()
	if lp.closed {
		lp.mu.Unlock()
		return nil, nil
	}
	if old := lp.waiting[key]; old != nil {
		close(old.replaced)
	}
	lp.waiting[key] = me
	lp.mu.Unlock()
	defer func() {
		lp.mu.Lock()
		if lp.waiting[key] == me {
			delete(lp.waiting, key)
		}
		lp.mu.Unlock()
	}()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// A task created between the first fetch and registering would have
	// signalled no one: look once more now that the poller is registered.
	select {
	case me.wake <- struct{}{}:
	default:
	}
	for {
		select {
		case <-me.wake:
			tasks, err := e.FetchAndLock(ctx, p)
			if err != nil || len(tasks) > 0 {
				return tasks, err
			}
		case <-me.replaced:
			return nil, nil
		case <-deadline.C:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		case <-lost:
			return nil, nil
		}
	}
}

// closeAll ends every pending poll (server shutdown).
func (lp *longPolls) closeAll() {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if !lp.closed {
		close(lp.closing)
	}
	lp.closed = true
	for k, p := range lp.waiting {
		close(p.replaced)
		delete(lp.waiting, k)
	}
}

// done is closed when the server shuts down.
func (lp *longPolls) done() <-chan struct{} { return lp.closing }
