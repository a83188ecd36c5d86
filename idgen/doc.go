// Package idgen hands out int64 IDs per tenant, unique within the tenant
// across goroutines, processes and restarts.
//
// Each tenant's storage holds a counter (table tf_id_block). A node takes a
// block of IDs (default 1,000) by moving the counter in one short
// transaction of its own on the tenant's datasource, then hands IDs out of
// the block from memory. Blocks are kept per tenant: tenant A's block never
// serves tenant B, and since IDs repeat across tenants by design, anything
// keyed by an ID must also be keyed by its tenant.
//
// # Inside a transaction
//
// A refill needs a connection of its own. Code that already holds a
// transaction on the tenant (the engine, inside InTx) must not refill: on
// SQLite the single writer connection is taken, and on PostgreSQL a full
// pool would deadlock. Such code calls Ensure before the transaction and
// TryNext inside it; if TryNext runs dry, it leaves the transaction, calls
// Ensure for more, and retries.
//
// IDs are not ordered by commit and have gaps (a crash loses the rest of a
// block). APIs render them as strings.
package idgen
