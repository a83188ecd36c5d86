package security

import (
	"fmt"
)

// Role is what a user may do inside one tenant. Roles are ordered: an admin may
// do everything a user may, and a user everything a reader may.
type Role string

// The roles of a tenant membership.
const (
	// RoleReader may read definitions, instances, tasks, history and events.
	RoleReader Role = "reader"
	// RoleUser may also start instances, work tasks, correlate messages and
	// serve external tasks.
	RoleUser Role = "user"
	// RoleAdmin may also deploy, delete, suspend, resolve incidents and manage
	// the tenant's identities.
	RoleAdmin Role = "admin"
)

// rank orders the roles; an unknown role ranks below every known one.
func (r Role) rank() int {
	switch r {
	case RoleReader:
		return 1
	case RoleUser:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Allows reports whether a member with role r may do what needs role need.
func (r Role) Allows(need Role) bool { return r.Valid() && r.rank() >= need.rank() }

// ParseRole turns a role name into a Role, with an error that lists the valid
// names.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("unknown role %q: use %q, %q or %q", s, RoleAdmin, RoleUser, RoleReader)
	}
	return r, nil
}

// Principal is the authenticated caller.
type Principal struct {
	// UserID is the stable ID of the user in the primary datasource.
	UserID string
	// Login is the name the user signs in with.
	Login string
	// TenantManager marks the account that administers tenants. It belongs to
	// no tenant and reaches only the admin API.
	TenantManager bool
	// Tenant is the tenant this request acts in, chosen among the user's own
	// memberships; empty for the tenant manager.
	Tenant string
	// Role is the user's role in Tenant.
	Role Role
	// Groups are the user's groups in Tenant; candidate groups of user tasks
	// resolve against them.
	Groups []string
	// ImpersonatedBy is the user ID of whoever created the API token this
	// request came with, when that is not the user (the tenant manager
	// acting as a member, an audited and time-limited act); empty otherwise.
	ImpersonatedBy string
}

// Can reports whether the principal may do what needs role need in its
// current tenant. The tenant manager has no role inside tenants.
func (p *Principal) Can(need Role) bool {
	return p != nil && !p.TenantManager && p.Tenant != "" && p.Role.Allows(need)
}
