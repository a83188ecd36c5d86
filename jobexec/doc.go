// Package jobexec runs the engine's jobs (timers, asynchronous
// continuations, retries) for every tenant of a node, from one bounded
// worker pool, and schedules each tenant's maintenance.
//
// The executor owns no table. Jobs are rows in each tenant's storage,
// written by the engine in the same transaction as the state change that
// causes them; the executor acquires, runs, fails, renews and releases
// them through the Engine interface, every call with the job's tenant in
// its context (security.WithTenant). The engine owns retries and
// incidents.
//
// # Knowing who is due
//
// Asking every tenant for due jobs would cost a query per tenant per poll:
// at 10,000 tenants that is a node's whole budget. Instead the executor's
// tenantsched.Scheduler (the per-tenant scheduler it shares with the
// analytics shipper; its package documentation has the whole design)
// keeps state only for tenants known to have work, and for each the time
// it is next due, in a min-heap; a tenant is polled only when that time
// has come. Each batch is one turn of the scheduler, and runTenant is its
// work. It learns due times from:
//
//   - the engine's job signals after commit: at once on this node, through
//     the primary's LISTEN/NOTIFY from other nodes (delayed by
//     Config.RemoteSignalDelay for work due now, so the writing node usually
//     takes it);
//   - the primary's wake-up hints (tf_tenant_hint, recorded by the same
//     signals): one query for all tenants every HintInterval, acting on the
//     hints that changed since the last read, and every TakeoverInterval
//     on every overdue hint; a "refresh everything" signal after a
//     listener reconnect triggers at most one extra read per HintMinGap,
//     never a query per tenant;
//   - the tenant itself when a batch ran dry: one NextJobDue call, whose
//     answer (a due time, or the expiry of a lock another node holds) the
//     turn settles with: it is scheduled and written back as the tenant's
//     hint (SetHint), so other nodes and restarts know it too;
//   - a sweep of SweepRate tenants per second, round robin over the active
//     tenant list, asking tenants the executor knows nothing about for
//     their next due job (the probe, which also lowers their hint): this
//     corrects hints lost in a crash.
//
// Idle tenants cost nothing but their turn in the sweep; the idle cost of a
// node is the hint reads plus the sweep, whatever the number of tenants.
//
// # Fairness
//
// Workers are shared by all tenants. Due tenants wait in a FIFO: each gets
// one batch per turn, and a tenant whose batch came back full (it probably
// has more) goes to the back of the queue at once, so another worker may
// take its next batch only after every tenant due before had its turn. A
// tenant with 100,000 due jobs therefore delays a quiet tenant's timer by
// at most one round of batches. A tenant runs at most its in-flight cap of
// batches at once (its MaxOpenConns by default, one on SQLite, set on the
// turn after each registry lookup), so a slow tenant database holds at
// most that many workers; a tenant whose storage fails is left alone for
// an exponential backoff (ErrorBackoff doubling up to MaxErrorBackoff).
// A tenant with a jobsPerSecond quota (datasource.Quotas) acquires at most
// what its token bucket holds (a second's worth at most); with none left
// it gets no turn until one more job is allowed, whatever wakes it.
// All of this is the scheduler's; the executor only says, per batch, what
// it found.
//
// # Locks
//
// Acquisition locks up to BatchSize due jobs in one statement, with this
// node as owner and an expiry LockDuration ahead; the batch runs in one
// transaction (one commit for the batch). Batches running longer than half
// a Heartbeat have their locks renewed each Heartbeat; a batch whose locks
// were all taken over is cut short. ExecuteJobs fences every completion by
// (owner, revision): a job another node took over after its lock expired
// reports engine.ErrLockLost, is counted as lost, and is never counted or
// retried as a success. A crashed node's locks expire and NextJobDue points
// the other nodes at the expiry, when acquisition takes the jobs over
// (at-least-once).
//
// # Failures
//
// A job that fails inside ExecuteJobs was recorded by the engine (retries
// with backoff, an incident at the last retry). A panic that escapes
// ExecuteJobs, or a batch that outruns JobTimeout, rolled the transaction
// back: the batch is rerun job by job and only the culprit is reported
// with FailJob (the panic value in its message). The node survives. Jobs
// the engine did not run (a failed or cancelled transaction) are released.
//
// # Tenant lifecycle
//
// The executor hooks Lifecycle.OnDisable and OnDrop. The hook has the
// scheduler forget the tenant (out of the heap and the queue, a tombstone
// for its wake-ups), removes its gocron jobs by tag, waits for its batches
// and maintenance to finish (bounded by the hook's context, after which
// the scheduler cuts the batches short and their jobs are released), and
// returns when nothing of the tenant is left: no state, goroutine, timer or
// gocron job. Wake-ups of the tenant are ignored for a minute after, unless
// a tenant signal says it changed again. A tenant created after Start
// needs nothing: its first job signal, its hint or the sweep finds it, and
// every poll checks through the registry that the tenant is still active.
//
// # Periodic duties
//
// The scheduler's own loops, on the injected clock, drive the hint reads,
// the takeover read (every overdue hint, changed or not) and the sweep.
// gocron (on the same clock) drives lock renewal, reaping of idle tenant
// pools, and the maintenance window. Each gocron duty skips a run
// while its previous one is still running (its own guard: gocron's
// singleton mode leaks a goroutine per removed job). When the window opens
// (MaintenanceSchedule, nightly by default), every active tenant gets a
// one-time gocron job named after it and tagged "tenant:<id>", at an offset
// within MaintenanceWindow derived from a hash of its ID, so 10,000 tenants
// spread over the window instead of starting in the same second. It runs
// the engine's CleanupHistory and every Config.Maintenance duty with the
// tenant in context, and is removed when it ran.
//
// # Shutdown
//
// Stop stops acquiring, waits for the batches in flight while its context
// allows (still renewing their locks), then cuts the rest short and
// releases their jobs, and stops the scheduler's dispatcher, loops and
// workers, and gocron: no goroutine is left behind.
//
// # Invariants
//
//   - A tenant is polled only when it is due or was woken; idle cost does
//     not grow with the number of registered tenants.
//   - Every engine call carries exactly one tenant, the job's.
//   - A job completes at most once per acquisition: a completion after a
//     takeover is refused by the fence and counted as lost.
//   - After OnDisable returns, nothing of the tenant runs or waits here.
//   - The executor writes nothing but job state (through the engine) and
//     the tenant's hint.
package jobexec
