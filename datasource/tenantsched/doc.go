// Package tenantsched decides, for one kind of per-tenant background
// work, which tenant runs when: the job executor (jobexec, topic jobs) and
// the analytics shipper (analytics, topic events) each run one Scheduler.
// It schedules tenants, not jobs or events: due times, turns, caps,
// backoff, tombstones, and the signals, hints and sweep that tell it who
// is due. What a turn does is the user's WorkFunc; what the sweep asks a
// tenant is the user's ProbeFunc.
//
// # Why here
//
// Both users sit above the engine, and analytics must not import jobexec,
// so the shared piece needs a home both may import. It lives under
// datasource because everything it works from is datasource's: tenant
// lifecycle (Forget is what the OnDisable and OnDrop hooks call), change
// signals, the primary's wake-up hints and tenant list, the tenant in the
// context. Living under datasource also puts it under datasource's
// arrows, checked by arch-check: it cannot import the engine, so it
// cannot learn what a job or an event is.
//
// # Knowing who is due
//
// Asking every tenant whether it has work would cost a query per tenant
// per poll: at 10,000 tenants that is a node's whole budget. A Scheduler
// holds state only for tenants known to have work (or turns in flight, or
// a backoff): the time each is next due, in a min-heap. It learns due
// times from:
//
//   - signals of its topic (Config.Signals), for one tenant: due at the
//     signal's DueAt, but no sooner than SignalDelay from now (a burst of
//     commits is served by one turn), plus RemoteSignalDelay for another
//     node's signal (the node that committed usually takes the work);
//   - the primary's wake-up hints (Config.Hints), one query for all
//     tenants: every HintInterval the hints that changed since the last
//     read, every OverdueInterval every overdue hint changed or not (the
//     work of a crashed node, whose hint nobody moves), once at Start all
//     of them; a "refresh everything" signal (a listener reconnected and
//     may have missed signals) asks for one read, RefreshDelay later and at
//     least HintMinGap after the last, so a burst of them costs one read,
//     never a query per tenant;
//   - the tenant's own turns: Turn.Due when the work found more (a full
//     batch), and Turn.Settle when it ran dry, with the tenant's next due
//     time, which also becomes its hint in the primary for other nodes and
//     restarts (written only when this node does not know the primary
//     holds it already: any wake-up from outside, or a read that saw
//     another value, means a commit may have moved it);
//   - a sweep (Config.Probe and Directory): every SweepInterval, the next
//     SweepRate active tenants, round robin over pages of the tenant list,
//     that the scheduler knows nothing of are asked; a new pass begins at
//     most every SweepPassMin. It finds work whose signal and hint were
//     both lost.
//
// Idle tenants cost nothing but their turn in the sweep: the idle cost of
// a node is the hint reads plus the sweep, whatever the number of
// tenants.
//
// # Turns and fairness
//
// Workers (Config.Workers) are shared by all tenants. A tenant whose due
// time came waits in a FIFO; each gets one turn before any gets a second.
// A tenant whose work says it has more (Turn.Due now, after a full batch)
// goes to the back of the FIFO at once, behind every tenant already due,
// so a tenant with a backlog of millions delays another by at most one
// round of turns. A tenant runs at most its cap of turns at once
// (Turn.SetCap; Config.DefaultCap, 1, until set): a tenant at its cap
// waits aside (AtCap) without holding a worker and is queued again when
// one of its turns ends, so a slow tenant holds at most its cap of
// workers.
//
// # Wake-ups and races
//
// A wake-up only ever brings a due time earlier. Two races would each cost
// an empty turn, and are closed:
//
//   - A wake-up from outside that arrives while a turn of the tenant runs,
//     for a time no later than the moment that turn began reading the
//     tenant's storage (the hand-out, or Turn.Reading), is dropped: the
//     turn ends by Due or Settle, and both find whatever the wake-up was
//     about. The tenant's own findings always count.
//   - A hint read that was in flight while a tenant settled does not act
//     on that tenant's hint: it may be the very hint the turn just
//     cleared. Settles are numbered; a read skips tenants that settled
//     after it began.
//
// # Backoff
//
// A turn whose work failed calls Turn.Failed with a Backoff (exponential
// from Initial to Max, with or without jitter): the tenant gets no turn
// before it ends, whatever wakes it, and one at once when it does.
// Turn.Recovered ends it. A failure may name a shared Cause (an
// Elasticsearch cluster, say): the first tenant to recover from a failure
// of that cause makes every tenant still waiting out one due at once, so
// that after an outage the backlog drains at once rather than each tenant
// at the end of its own backoff; their failure counts stay. The tenants
// are looked through only when such a failure happened since they were
// last brought forward, not once per recovering tenant.
//
// # Tombstones
//
// Forget lets go of a tenant that is no longer served on this node: it
// leaves the queues, its state and last seen hint are dropped, and its
// turns in flight run on; the function Forget returns waits for them, and
// when its context ends first it cancels them (cause ErrForgotten) and
// reports a *CutShortError. For TombstoneTTL after, wake-ups of the tenant
// from signals, hints, the sweep or callers are ignored, unless a
// datasource.TopicTenant signal says it changed again (enabled after a
// disable). A turn can ask whether its tenant was forgotten
// (Turn.Forgotten) to start nothing new.
//
// # Start and Stop
//
// Start subscribes to the signals, starts the workers, the dispatcher,
// the hint reader and the sweeper, and reads the hints once. Stop hands
// out no more turns, stops reading and sweeping, lets the turns in flight
// finish while its context allows, then cancels them (cause ErrStopping)
// and waits up to CutGrace, in real time, for them to return; it returns
// once no goroutine of the scheduler is left but an abandoned turn's.
//
// # Testing
//
// Every decision runs on Config.Clock. The dispatcher, the hint reader and
// the sweeper arm their timers so that a fake clock advanced at any moment
// fires them (a timer armed while the clock jumped is armed again), and
// Quiet reports when none of them has anything to do before the clock
// moves, and when the next one fires. Config.OnChange reports every change
// of state. A test on a fake clock therefore waits for Quiet, advances the
// clock to the next moment, and waits again: no sleeping.
//
// # Invariants
//
//   - A tenant gets a turn only when it is due or was woken; idle cost
//     does not grow with the number of registered tenants.
//   - No tenant runs more turns at once than its cap.
//   - A tenant in backoff gets no turn before the backoff ends, unless a
//     recovery from the same shared cause brings it forward.
//   - Once the wait Forget returned, no turn of the tenant runs, and none
//     starts for TombstoneTTL unless a tenant signal revives it.
//   - Every turn's context and every probe's context carry exactly one
//     tenant, the one it is for.
package tenantsched
