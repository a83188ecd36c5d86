// Package jobexec runs the engine's jobs — timers, asynchronous
// continuations, retries — for every tenant, from one bounded worker pool.
//
// The executor owns no table: jobs are rows in each tenant's storage, run
// through the engine (AcquireJobs, ExecuteJobs, FailJob), which owns their
// retry state and incidents.
//
// # Knowing who is due
//
// Asking every tenant for due jobs would cost a query per tenant per poll;
// at 10,000 tenants that is the whole budget of a node. Instead the executor
// keeps, per tenant it knows to have work, the time its next job is due, in
// a min-heap, and polls a tenant only when that time has come:
//
//   - the engine signals new jobs after commit (locally at once, on other
//     nodes through the primary's LISTEN/NOTIFY) with their due time;
//   - the same signals record a wake-up hint per tenant in the primary; the
//     executor reads all due hints in one query every few seconds, and
//     after a listener reconnect (rate-limited: one read, never a query per
//     tenant);
//   - when a tenant runs dry, the executor asks its storage once for the
//     next due time and records it as the tenant's hint;
//   - a slow round-robin sweep (a few tenants per second) asks tenants
//     directly, correcting hints lost in a crash.
//
// Idle tenants cost nothing: the idle cost is the hint read plus the sweep,
// whatever the number of registered tenants.
//
// # Fairness
//
// Workers are shared by all tenants. A tenant is handed one batch at a time
// per slot, and goes back to the end of the queue after each full batch, so
// a tenant with 100,000 due jobs cannot keep a quiet tenant's timer waiting
// behind it. Each tenant may run at most as many batches at once as its
// connection cap (one on SQLite, whose writer is single).
//
// # Locks
//
// Jobs are acquired in batches with a lock owner (the node ID) and expiry,
// and run through ExecuteJobs, which fences each completion by the lock's
// revision: a job taken over after its lock expired fails with ErrLockLost
// instead of completing twice. Long batches renew their locks on a
// heartbeat. A crashed node's locks expire and another node takes the jobs
// (at-least-once). A panic in a job becomes a failed attempt, not a dead
// node.
//
// # Tenant lifecycle
//
// On OnDisable or OnDrop a tenant is no longer polled, its in-flight batches
// finish, and nothing of it remains: no heap entry, no goroutine, no gocron
// job (per-tenant gocron jobs are tagged with the tenant and removed by
// tag; gocron's singleton mode, which leaks a goroutine per removed job, is
// not used).
//
// # Periodic duties
//
// gocron drives the hint reads, the sweep, the reaping of idle pools and the
// per-tenant maintenance: history cleanup and any extra duty registered
// (outbox pruning), nightly by default and spread over a window by a hash of
// the tenant ID so 10,000 tenants do not start in the same second.
package jobexec
