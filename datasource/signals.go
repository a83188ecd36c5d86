package datasource

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/lib/pq"
)

// Topic names a kind of change that other components may want to react to.
type Topic string

// The topics signalled by tenantflow.
const (
	// TopicTenant: a tenant's configuration or status changed.
	TopicTenant Topic = "tenant"
	// TopicUser: a user's account, memberships or groups changed (Key is the
	// user ID).
	TopicUser Topic = "user"
	// TopicJobs: a tenant has new jobs; DueAt is when the earliest is due.
	TopicJobs Topic = "jobs"
	// TopicEvents: a tenant appended events to its outbox.
	TopicEvents Topic = "events"
	// TopicDefinitions: a tenant deployed or deleted process definitions.
	TopicDefinitions Topic = "definitions"
	// TopicExternalTasks: a tenant has new external tasks (Key is the
	// topic name, empty for several).
	TopicExternalTasks Topic = "external-tasks"
	// TopicSession: a console session ended (Key is its hash).
	TopicSession Topic = "session"
)

// notifyChannel is the PostgreSQL channel all nodes listen on.
const notifyChannel = "tenantflow"

// Signal tells that something changed for a tenant. A signal is a hint that
// makes a poller look early; it is never the only path to work, since
// signals can be lost (a crash between commit and notify, a listener
// reconnecting).
type Signal struct {
	Topic  Topic     `json:"t"`
	Tenant string    `json:"n,omitempty"`
	Key    string    `json:"k,omitempty"`
	DueAt  time.Time `json:"d,omitempty"`
	// All means "anything of this topic may have changed, for any tenant":
	// sent after the notification listener reconnected, when notifications
	// may have been missed. React with one rate-limited refresh, not with a
	// query per tenant.
	All bool `json:"a,omitempty"`
	// Remote is true for signals that came from another node.
	Remote bool `json:"-"`
	// Origin is the node that sent the signal.
	Origin string `json:"o,omitempty"`
}

// Signals fans out change signals: to subscribers in this process at once,
// and to other nodes through PostgreSQL LISTEN/NOTIFY on the primary (one
// listener connection per node). Outgoing notifications and wake-up hints
// are coalesced per tenant and topic and flushed together, so a burst of
// commits costs one round trip.
type Signals struct {
	node    string
	logger  *slog.Logger
	primary *Primary // hints and notifications go through it

	mu     sync.RWMutex
	subs   map[Topic]map[int]func(Signal)
	nextID int

	pgDSN     string
	listening chan struct{} // closed once LISTEN ran (or failed)
	pending   chan Signal
	stop      chan struct{}
	done      sync.WaitGroup
}

func newSignals(node string, logger *slog.Logger, primary *Primary, pgDSN string) *Signals {
	return &Signals{
		node:      node,
		logger:    logger,
		primary:   primary,
		subs:      map[Topic]map[int]func(Signal){},
		pgDSN:     pgDSN,
		listening: make(chan struct{}),
		pending:   make(chan Signal, 4096),
		stop:      make(chan struct{}),
	}
}

// Subscribe calls fn for every signal of topic, local or remote, until the
// returned function is called. fn runs on the notifier's goroutine: it must
// not block (hand the signal to a channel with a non-blocking send, or set a
// flag).
func (s *Signals) Subscribe(topic Topic, fn func(Signal)) (unsubscribe func()) {
	s.mu.Lock()
	id := s.nextID
	s.nextID++
	if s.subs[topic] == nil {
		s.subs[topic] = map[int]func(Signal){}
	}
	s.subs[topic][id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.subs[topic], id)
		s.mu.Unlock()
	}
}

// Notify delivers sig to this node's subscribers at once and queues it for
// the other nodes (and, for jobs and events with a due time, for the
// primary's wake-up hints). Call it after the change committed.
func (s *Signals) Notify(sig Signal) {
	sig.Origin = s.node
	s.deliver(sig)
	select {
	case s.pending <- sig:
	default:
		// The queue is full: other nodes will catch up through their sweeps.
		s.logger.Warn("signal queue full; dropping a cross-node hint", "topic", sig.Topic, "tenant", sig.Tenant)
	}
}

func (s *Signals) deliver(sig Signal) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, fn := range s.subs[sig.Topic] {
		fn(sig)
	}
}

// start runs the flusher and, with a PostgreSQL primary, the listener. It
// returns once the listener is registered (bounded by a few seconds), so a
// node that finished opening hears the signals other nodes send after that.
func (s *Signals) start() {
	s.done.Add(1)
	go s.flushLoop()
	if s.pgDSN == "" {
		close(s.listening)
		return
	}
	s.done.Add(1)
	go s.listen()
	select {
	case <-s.listening:
	case <-time.After(5 * time.Second):
		s.logger.Warn("not yet listening for other nodes' signals; relying on sweeps until the listener connects")
	}
}

// close stops the goroutines after a last flush.
func (s *Signals) close() {
	close(s.stop)
	s.done.Wait()
}

// flushLoop coalesces queued signals and sends them in one batch.
func (s *Signals) flushLoop() {
	defer s.done.Done()
	for {
		var first Signal
		select {
		case first = <-s.pending:
		case <-s.stop:
			s.flush(s.drain(nil))
			return
		}
		// Let a burst accumulate briefly: one round trip for many commits.
		t := time.NewTimer(2 * time.Millisecond)
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
		}
		s.flush(s.drain([]Signal{first}))
	}
}

func (s *Signals) drain(batch []Signal) []Signal {
	for {
		select {
		case sig := <-s.pending:
			batch = append(batch, sig)
		default:
			return batch
		}
	}
}

type signalKey struct {
	topic       Topic
	tenant, key string
	all         bool
}

func (s *Signals) flush(batch []Signal) {
	if len(batch) == 0 {
		return
	}
	merged := map[signalKey]Signal{}
	for _, sig := range batch {
		k := signalKey{sig.Topic, sig.Tenant, sig.Key, sig.All}
		if prev, ok := merged[k]; ok && (sig.DueAt.IsZero() || (!prev.DueAt.IsZero() && prev.DueAt.Before(sig.DueAt))) {
			sig.DueAt = prev.DueAt
		}
		merged[k] = sig
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var hints []Hint
	var payloads []string
	for _, sig := range merged {
		if (sig.Topic == TopicJobs || sig.Topic == TopicEvents) && sig.Tenant != "" {
			due := sig.DueAt
			if due.IsZero() {
				due = s.primary.clock.Now()
			}
			hints = append(hints, Hint{Tenant: sig.Tenant, Topic: sig.Topic, DueAt: due})
		}
		if s.pgDSN != "" {
			b, _ := json.Marshal(sig)
			payloads = append(payloads, string(b))
		}
	}
	// One commit, which need not wait for the disk, per burst.
	if err := s.primary.signal(ctx, hints, payloads); err != nil {
		s.logger.Warn("could not record wake-up hints or notify other nodes; sweeps and other nodes' polls will find the work",
			"err", err, "hints", len(hints), "notifications", len(payloads))
	}
}

// listen receives other nodes' signals. After a reconnect it delivers an
// All signal per topic, since notifications may have been missed.
func (s *Signals) listen() {
	defer s.done.Done()
	l := pq.NewListener(s.pgDSN, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		if err != nil {
			s.logger.Warn("notification listener", "event", ev.String(), "err", err)
		}
	})
	defer l.Close()
	if err := l.Listen(notifyChannel); err != nil {
		s.logger.Warn("cannot listen for other nodes' signals; relying on sweeps", "err", err)
	}
	close(s.listening)
	ping := time.NewTicker(90 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-s.stop:
			return
		case n := <-l.Notify:
			if n == nil {
				s.refreshAll()
				continue
			}
			var sig Signal
			if err := json.Unmarshal([]byte(n.Extra), &sig); err != nil || sig.Origin == s.node {
				continue
			}
			sig.Remote = true
			s.deliver(sig)
		case <-ping.C:
			go func() { _ = l.Ping() }()
		}
	}
}

func (s *Signals) refreshAll() {
	for _, t := range []Topic{TopicTenant, TopicUser, TopicJobs, TopicEvents, TopicDefinitions, TopicExternalTasks, TopicSession} {
		s.deliver(Signal{Topic: t, All: true, Remote: true})
	}
}
