package datasource

import (
	"errors"

	"github.com/tenantflow/tenantflow/security"
)

// Errors returned across the datasource API. They are sentinels: compare with
// errors.Is, since most are wrapped with the tenant or the object concerned.
var (
	// ErrNoTenant: the context carries no tenant. There is no default tenant
	// and no fallback to the primary datasource. It is the same value as
	// security.ErrNoTenant.
	ErrNoTenant = security.ErrNoTenant
	// ErrUnknownTenant: no tenant with that ID is registered.
	ErrUnknownTenant = errors.New("unknown tenant")
	// ErrTenantDisabled: the tenant exists but is disabled, being created or
	// being dropped, so its storage is not served.
	ErrTenantDisabled = errors.New("tenant is not active")
	// ErrTenantUnavailable: the tenant's storage is failing (its circuit is
	// open, or it cannot be reached) and callers get a fast error instead of a
	// pool timeout. Retrying later may succeed.
	ErrTenantUnavailable = errors.New("tenant storage unavailable")
	// ErrInvalidTenantID: a tenant ID does not match the allowed pattern or is
	// reserved. It wraps a message that says which rule was broken.
	ErrInvalidTenantID = errors.New("invalid tenant ID")
	// ErrNotFound: the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the row already exists, or was changed concurrently.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: a request is malformed; the wrapping error says what to fix.
	ErrInvalid = errors.New("invalid request")
	// ErrSchemaMismatch: a new PostgreSQL connection did not land in the
	// tenant's schema (for example a pooler dropped the search_path startup
	// parameter). The connection is refused so tenants never share a schema.
	ErrSchemaMismatch = errors.New("connection is not in the tenant's schema")
	// ErrClosed: the datasource has been closed.
	ErrClosed = errors.New("datasource closed")
	// ErrPrimaryUnavailable: the primary datasource cannot be reached and no
	// cached answer is fresh enough to serve.
	ErrPrimaryUnavailable = errors.New("primary datasource unavailable")
)
