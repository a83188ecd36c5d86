package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
)

// sseHeartbeat keeps idle event streams (and proxies in between) alive.
const sseHeartbeat = 15 * time.Second

// eventDTO is an engine event as the event stream sends it. Unlike the
// Camunda resources it writes times as RFC 3339 (what JavaScript's Date
// and Elasticsearch read), and leaves out what an event does not have.
type eventDTO struct {
	ID            string          `json:"id"`
	Tenant        string          `json:"tenant"`
	Type          string          `json:"type"`
	Time          time.Time       `json:"time"`
	Cursor        string          `json:"cursor"`
	InstanceID    string          `json:"processInstanceId,omitempty"`
	BusinessKey   string          `json:"businessKey,omitempty"`
	DefinitionID  string          `json:"processDefinitionId,omitempty"`
	DefinitionKey string          `json:"processDefinitionKey,omitempty"`
	ElementID     string          `json:"activityId,omitempty"`
	ElementType   string          `json:"activityType,omitempty"`
	TaskID        string          `json:"taskId,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
}

// toEvent is the one conversion of an engine event for the wire.
func toEvent(e *engine.Event) eventDTO {
	return eventDTO{ID: strconv.FormatInt(e.ID, 10), Tenant: e.Tenant, Type: string(e.Type), Time: e.Time, Cursor: string(e.Cursor),
		InstanceID: id(e.InstanceID), BusinessKey: e.BusinessKey, DefinitionID: id(e.DefinitionID), DefinitionKey: e.DefinitionKey,
		ElementID: e.ElementID, ElementType: e.ElementType, TaskID: id(e.TaskID), Data: e.Data}
}

// events streams the caller's tenant's engine events as Server-Sent Events,
// in commit order. Each event's SSE id is its outbox cursor, so a client
// that reconnects with Last-Event-ID resumes exactly after the last event
// it saw, even when an event committed late. Filters: processDefinitionKey,
// processInstanceId, type (comma-separated event types).
func (s *Server) events(w http.ResponseWriter, r *http.Request) error {
	p := query(r)
	params := &engine.ReadEventsParams{DefinitionKey: p.str("processDefinitionKey"), Limit: 200}
	var err error
	if params.InstanceID, err = p.id("processInstanceId"); err != nil {
		return err
	}
	for _, t := range p.list("type") {
		params.Types = append(params.Types, engine.EventType(t))
	}
	params.After = engine.Cursor(r.Header.Get("Last-Event-ID"))
	if params.After == "" {
		params.After = engine.Cursor(p.str("lastEventId"))
	}
	// A place among the open streams first: a refused flood costs no read.
	tenant := tenantOf(r)
	leave, err := s.streams.enter(tenant, principal(r).UserID, s.opts.Limits.MaxStreamsPerUser, s.maxPerTenant(r.Context(), tenant, true))
	if err != nil {
		s.quota.counts(tenant).streams.Add(1)
		return err
	}
	defer leave()
	// Check the cursor and the tenant before the stream starts, so a bad
	// request is still an HTTP error.
	batch, err := s.opts.Engine.ReadEvents(r.Context(), params)
	if err != nil {
		return err
	}
	lost, stop := s.watchAccess(r)
	defer stop()
	rc := streaming(w)
	// Each write must finish within the write timeout; an idle stream
	// writes a heartbeat well before then.
	deadline := func() { _ = rc.SetWriteDeadline(time.Now().Add(s.opts.Limits.WriteTimeout + sseHeartbeat)) }
	deadline()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()

	wake := make(chan struct{}, 1)
	unsub := s.opts.Sources.Signals.Subscribe(datasource.TopicEvents, func(sig datasource.Signal) {
		if sig.All || sig.Tenant == tenant {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	defer unsub()
	heartbeat := time.NewTicker(sseHeartbeat)
	defer heartbeat.Stop()
	for {
		for _, ev := range batch.Events {
			data, err := json.Marshal(toEvent(ev))
			if err != nil {
				return nil
			}
			if _, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", ev.Cursor, ev.Type, data); err != nil {
				return nil
			}
		}
		if len(batch.Events) > 0 {
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
		params.After = batch.Next
		if len(batch.Events) < params.Limit {
			select {
			case <-r.Context().Done():
				return nil
			case <-s.polls.done():
				return nil
			case <-lost:
				// The caller lost access: end the stream with a last
				// event that says so (the client should not reconnect
				// with the same credentials).
				_, _ = fmt.Fprint(w, "event: access-ended\ndata: {}\n\n")
				_ = rc.Flush()
				return nil
			case <-heartbeat.C:
				deadline()
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return nil
				}
				if err := rc.Flush(); err != nil {
					return nil
				}
			case <-wake:
			}
		}
		batch, err = s.opts.Engine.ReadEvents(r.Context(), params)
		if err != nil {
			s.log.Warn("event stream read failed; ending the stream", "tenant", tenant, "err", err)
			return nil
		}
	}
}
