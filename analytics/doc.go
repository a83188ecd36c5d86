// Package analytics ships every tenant's engine events to Elasticsearch.
//
// The engine writes an event to the tenant's outbox in the same
// transaction as the change it describes. A Shipper drains each tenant's
// outbox in commit order through the engine's outbox API (the Outbox
// interface, which *engine.Engine implements), every call with the tenant
// in its context, and sends the events with the bulk API
// (esutil.BulkIndexer). It owns no table: its progress is a consumer
// position ("analytics" by default) in each tenant's outbox.
//
// # Nothing lost, nothing duplicated
//
// The position moves only past events Elasticsearch acknowledged (or
// refused for good, see below), and only after the acknowledgement: a
// batch is read after the position, indexed, and then AdvanceConsumer
// records the last settled event. When part of a batch fails, the position
// moves past the settled prefix and stops at the first event to retry, so
// no event is ever passed unshipped. A crash between acknowledgement and
// AdvanceConsumer ships the batch again: at least once.
//
// Repeats are harmless because a document's ID is the event's
// tenant-qualified ID (engine.Event.DocumentID, "tenant:id"), written with
// the index action (not create), to an index chosen by the tenant's layout
// and the event's own time, never the time of shipping, with the tenant as
// routing. A retry therefore lands on the same index, shard and ID and
// overwrites the document; the index holds each event exactly once. (A
// rollover alias or a data stream would send a retry to a newer backing
// index and duplicate it; time-named indices do not.)
//
// # Indices
//
// By default every tenant shares the indices <prefix>-events-<period>
// (IndexShared), read through the alias <prefix>-events, with a tenant
// keyword field and routing by tenant, so a tenant's documents share a
// shard and per-tenant queries touch one shard. 10,000 tenants with
// indices of their own would exceed a cluster's shard limits. Tenants that
// need physical separation get <prefix>-events-<tenant>-<period>, read
// through <prefix>-events-<tenant> (IndexPerTenant, per tenant through
// Config.IndexModeFor). One composable index template covers both: routing
// required, dynamic: false, IDs as keywords, time as a date, and the
// tenant-defined data as one flattened field, so no tenant can grow the
// mapping. The template is put once per process, each index created once
// with its alias.
//
// # Knowing who has events
//
// Polling every tenant would cost a query per tenant per poll. The
// shipper's tenantsched.Scheduler (the per-tenant scheduler it shares with
// the job executor; its package documentation has the whole design) keeps
// state only for tenants known to have events, in a min-heap by due time,
// and a tenant is read only when it is due. Each batch is one turn of the
// scheduler. It learns of events from:
//
//   - the engine's event signals after commit: on this node after
//     FlushInterval (so a burst of commits ships as one batch), from other
//     nodes RemoteDelay later (the committing node usually ships first);
//   - the primary's wake-up hints, one query for all tenants every
//     HintInterval (acting on the hints that changed) and every minute
//     (acting on every hint), delayed like remote signals; a "refresh
//     everything" signal (a listener reconnected) asks for one hint read
//     FlushInterval later (a burst of them costs one read, and reads stay
//     a second apart), never a query per tenant; a drained tenant's hint
//     is cleared;
//   - a sweep of SweepRate active tenants every SweepInterval, round
//     robin, asking each tenant the scheduler knows nothing of for its
//     backlog: it finds events whose signal and hint were both lost in a
//     crash.
//
// A drain reads batches until one comes back short, then asks the storage
// for the backlog: events that committed but cannot be read yet (an older
// transaction is still open) keep the tenant on a recheck schedule, so it
// is never forgotten with events behind the position.
//
// # Fairness and failures
//
// Up to Workers batches run at once, for all tenants, and one per tenant
// (its position is per tenant). A tenant gets one batch per turn; after a
// full batch it is queued again behind the tenants already due, so a
// backlog of millions delays another tenant by at most one batch per
// worker once that tenant is due.
//
// Backoff is per tenant, kept by the scheduler. A batch refused for now (a
// transport error, 429, 5xx, a missing index) leaves its events in the
// outbox and the tenant waits InitialBackoff, doubling with each
// consecutive failure up to MaxBackoff, with jitter; a tenant whose own
// storage fails waits StorageBackoff. Other tenants keep shipping
// meanwhile. Failures in Elasticsearch have a shared cause: the first
// tenant whose batch ships after them brings every tenant waiting out an
// Elasticsearch backoff forward, so the backlog drains once the cluster
// answers rather than each tenant at the end of its own backoff. The
// client's own retries are off: they would hammer a struggling cluster.
//
// # Dead letters
//
// An event Elasticsearch refuses permanently (a mapping error, a document
// too large) or that cannot become a document is recorded as a dead letter
// with the reason (DeadLetterEvents), counted, logged, and passed, so one
// bad event cannot block its tenant. DeadLetters lists them.
//
// # Pruning
//
// The outbox is bounded by Prune, a per-tenant maintenance duty (its
// signature fits jobexec's MaintenanceFunc): it removes events older than
// Retention that every registered consumer has passed. It works with
// shipping off.
//
// # Shipping off
//
// Without Config.URLs, shipping is off: New returns a Shipper whose Start
// only logs that, which subscribes to nothing, reads no outbox and talks to
// no cluster; Prune, DeadLetters and Stats still work.
//
// # Life cycle
//
// Start subscribes to event signals and lifecycle hooks, starts the
// workers and reads the hints once. A tenant disabled or dropped
// (Lifecycle hooks, or its storage saying so) is let go of once its batch
// in flight has finished (bounded by the hook's context; then the batch is
// cancelled and its events stay in the outbox); after the hooks, its
// wake-ups are ignored for a minute unless a tenant signal says it changed
// again. Stop takes no new work, lets batches in flight finish (bounded by
// its context; then they are cancelled and their events stay in the
// outbox) and returns once no goroutine of the shipper is left.
//
// # Testing
//
// Scheduling runs on Config.Clock. The scheduler reports when it is quiet
// and what is next, so tests on a fake clock advance it exactly when
// nothing is running; package estest is an in-process Elasticsearch
// stand-in speaking the bulk protocol, with fault injection.
package analytics
