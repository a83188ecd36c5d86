// Package migrations holds the SQL that creates and evolves tenantflow's
// storages, embedded in the binary. It runs nothing itself: the datasource
// package applies it with goose, at start-up for the primary and at tenant
// creation (or `tenantflow migrate`) for each tenant.
//
// # Histories
//
// There are two version histories, each applied independently:
//
//   - primary/: tenants, users, groups, memberships, API tokens and the
//     per-tenant wake-up hints of the primary datasource;
//   - tenant/: everything one tenant owns (ID blocks, the engine's runtime
//     and history tables, jobs, the event outbox), created in each tenant's
//     schema or file.
//
// # One SQL vocabulary
//
// Files are written once in portable SQL: TEXT, BIGINT, INTEGER, BOOLEAN;
// times as Unix milliseconds in BIGINT. Where PostgreSQL and SQLite really
// differ, a file of the same name under <history>/<dialect>/ replaces the
// portable one for that dialect; both dialects always share the same list of
// versions.
//
// # Keep tenants small
//
// PostgreSQL's catalog grows with every table and index of every schema, and
// at thousands of tenants that is what costs memory per backend and time in
// pg_dump. Add a table to tenant/ only when a column on an existing one will
// not do.
package migrations
