package security

import (
	"context"
	"errors"
)

// ErrNoTenant is returned by [MustTenant] (and by every storage call made
// through the tenant-aware datasource) when the context carries no tenant.
// It is never answered with a default tenant.
var ErrNoTenant = errors.New("no tenant in context")

// The context keys are unexported struct types, so no other package can set or
// shadow them by accident.
type (
	tenantKey    struct{}
	principalKey struct{}
)

// WithTenant returns a copy of ctx that carries tenant as the current tenant.
// The ID is not validated here; the datasource validates it before it ever
// becomes part of a schema name or a file name.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// TenantFrom returns the tenant carried by ctx and whether there is one. An
// empty tenant counts as none.
func TenantFrom(ctx context.Context) (string, bool) {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t, t != ""
}

// MustTenant returns the tenant carried by ctx, or ErrNoTenant.
func MustTenant(ctx context.Context) (string, error) {
	if t, ok := TenantFrom(ctx); ok {
		return t, nil
	}
	return "", ErrNoTenant
}

// WithPrincipal returns a copy of ctx that carries p as the authenticated
// caller. It does not set the tenant: the tenant is chosen separately (a user
// may belong to several) and set with [WithTenant].
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated caller carried by ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}
