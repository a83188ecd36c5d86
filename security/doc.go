// Package security carries who is calling and for which tenant, and decides
// whether they may.
//
// It is a leaf: it imports no other package of tenantflow. Everything that
// needs storage (users, password hashes, API tokens, memberships) reaches it
// through the small store interfaces declared here, which the datasource
// package implements and cmd/tenantflow wires.
//
// # Tenant in the context
//
// Every request, job and event carries its tenant in the context.Context under
// an unexported key ([WithTenant], [TenantFrom]). The tenant is resolved once at
// the edge (HTTP authentication, the job executor picking a tenant's job) and
// only the tenant-aware datasource reads it back to choose a pool. There is no
// default tenant: code that finds no tenant fails with ErrNoTenant.
//
// # Roles
//
// A user is either the tenant manager, who administers tenants and users but
// belongs to no tenant, or a member of one or more tenants with one role per
// membership: [RoleAdmin] ⊃ [RoleUser] ⊃ [RoleReader].
package security
