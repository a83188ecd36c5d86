// Package engine runs BPMN 2.0 processes for many tenants, each in its own
// storage: a PostgreSQL schema, a PostgreSQL database, or a SQLite file.
//
// It deploys BPMN documents (as Camunda Modeler and bpmn.io write them),
// starts and moves process instances, keeps their variables, user tasks,
// external tasks, message subscriptions, timers and asynchronous
// continuations, records their history, and appends an analytics event for
// every change to the tenant's outbox. It is the library behind the REST
// server, and a Go program can embed it directly:
//
//	e, src, err := engine.Open(ctx, datasource.Config{DataDir: "data"}, engine.Options{})
//	…
//	src.Lifecycle.Create(ctx, &datasource.CreateTenantParams{ID: "acme"})
//	ctx = engine.WithTenant(ctx, "acme")
//	e.RegisterHandler("check-stock", checkStock)
//	e.DeployXML(ctx, "order.bpmn", orderXML)
//	inst, err := e.StartInstance(ctx, &engine.StartParams{DefinitionKey: "order"})
//
// The package examples show whole processes in a few lines each (a user
// task and the history, message correlation, timers, external tasks), and
// package [github.com/tenantflow/tenantflow/engine/enginetest] gives an
// embedding program's tests an engine over a throwaway storage in one call.
//
// # Tenancy
//
// Every call works in the tenant its context carries ([WithTenant], or
// security.WithTenant, which is the same); a context without one is refused
// with [ErrNoTenant], never served from a default. No call reads or writes
// another tenant's rows, jobs or events.
//
// IDs are unique within a tenant only: two tenants have an instance 1001
// each. Entities therefore carry their tenant, and calls take a [Ref]
// (task.Ref(), inst.Ref(), …) rather than a bare ID. Passing a Ref of tenant
// A to a call made in tenant B's context fails with [ErrWrongTenant], and
// nothing is read: not even B's row with the same ID. [IDRef] builds a Ref
// from an ID that came with a request of the context's tenant.
//
// # The core decides, storage commits
//
// Each command (start, complete a task, correlate, run a job, …) reads the
// instance it touches into a unit of work, in short read-only
// transactions; lets the core — which moves the tokens until every one
// waits or ends, with no storage of its own — decide with no transaction
// open and no row locked, Go handlers included; and applies the net
// changes (runtime rows, history, jobs, outbox events) in one short
// transaction of the tenant's storage. A command therefore commits once,
// whatever it ran through: a process from start to end through Go
// handlers costs one commit. On PostgreSQL the whole apply step is one
// statement. A slow handler costs its own command that time, and nothing
// else: no other command, instance or tenant waits for it.
//
// Rows carry revisions, checked when the changes are applied (optimistic
// concurrency). Of two commands racing on one instance, one wins; the
// other runs again from scratch while a retry can succeed (it re-reads the
// state, and re-runs its handlers), and otherwise fails with
// [ErrConflict]: of concurrent completions of one task exactly one
// succeeds.
//
// A command has a budget ([Options.MaxSteps], [Options.MaxRows]): a loop
// without a wait state, or a multi-instance over a huge collection, fails
// with [ErrStepBudget] naming the element instead of growing without bound.
//
// A start by key uses the latest version of the key as storage has it at
// that moment, including a version another node deployed a millisecond
// earlier: the engine plans on the version it last saw and checks, in the
// same statement that writes the instance, that it is still the latest.
//
// # Service tasks: handlers and external tasks
//
// A service task names a topic (camunda:type="external" camunda:topic, or
// zeebe:taskDefinition type in Camunda 8 models). A topic with a [Handler]
// registered through [Engine.RegisterHandler] runs in-process, as part of
// the command that reached it but with no transaction open, bounded by
// [Options.HandlerTimeout]: what it sets commits with the command, and an
// error fails the command (a [*BPMNError] is thrown as a BPMN error
// instead). A command that loses a race runs again, handlers included:
// handlers run at least once per commit, so make their effects idempotent.
// With camunda:asyncBefore the handler runs later, in a job, with retries.
// A topic without a handler becomes an external task that workers fetch
// with [Engine.FetchAndLock] — in this program, in another one, or over the
// REST API — and finish with [Engine.CompleteExternalTask],
// [Engine.FailExternalTask] or [Engine.ExternalTaskBPMNError]. One binding,
// two kinds of worker: moving a topic between them changes no model.
//
// # Jobs
//
// Timers and asynchronous continuations are jobs in the tenant's storage,
// written in the transaction that creates them. The engine starts no
// goroutine and polls nothing: in a server the job executor (package jobexec)
// acquires due jobs with [Engine.AcquireJobs] and runs them with
// [Engine.ExecuteJobs], woken by the signal each commit sends. Without an
// executor — in tests, tools, or a program that drives time itself —
// [Engine.RunDueJobs] runs every job due at a chosen time, so timer
// behaviour is tested without waiting. A failing job is retried with
// backoff ([Options.DefaultRetries], default 3) and then gets an
// [Incident]; setting its retries resolves it.
//
// # Events and the outbox
//
// Every change appends events ([EventType]: process started and completed,
// activity started and completed, task created, assigned and completed,
// variable updated, incident created and resolved) to the tenant's outbox
// in the same transaction, so an event exists exactly when its change
// committed. [Engine.ReadEvents] returns them after a [Cursor] in commit
// order: it reads only as far as every event's transaction has ended (on
// PostgreSQL it waits, for moments, for the tenant's writers in flight), so
// a reader resuming from a cursor never skips an event whose transaction
// committed late, and no transaction outside the tenant (another tenant's,
// a report in another database of the same server) can hold its events
// back. Positions increase; a command that failed may leave a gap.
// Named consumers keep their position with [Engine.AdvanceConsumer];
// [Engine.PruneOutbox] removes events every consumer has passed.
//
// # Errors
//
// Errors wrap the sentinels of this package ([ErrNotFound], [ErrConflict],
// [ErrInvalid], [ErrWrongTenant], [ErrSuspended], [ErrNoCorrelation],
// [ErrAmbiguousCorrelation], [ErrLockLost]) with a message that names the
// object and what to do; compare with errors.Is. A deployment's problems
// come together in one *model.Error, each with its element ID and line.
//
// # Expressions
//
// Conditions, assignees, due dates, timer definitions and mappings use
// ${…} expressions: the common subset of JUEL that Camunda 7 models use,
// documented in package [github.com/tenantflow/tenantflow/engine/expression].
// Anything outside it is a deployment error naming the element and the
// construct.
package engine
