package datasource

import (
	"context"
	"errors"

	"github.com/tenantflow/tenantflow/security"
)

// Directory is the security.Directory over the primary datasource: accounts
// and memberships come through the registry's TTL cache; tokens are read
// from the primary (the authenticator caches what it verified).
type Directory struct {
	reg     *Registry
	primary *Primary
}

var _ security.Directory = (*Directory)(nil)

// Directory returns the security.Directory of these sources.
func (s *Sources) Directory() *Directory { return &Directory{reg: s.Registry, primary: s.Primary} }

func account(u *User, err error) (*security.Account, error) {
	if errors.Is(err, ErrNotFound) {
		return nil, security.ErrUnknownAccount
	}
	if err != nil {
		return nil, err
	}
	return &security.Account{UserID: u.ID, Login: u.Login, DisplayName: u.DisplayName, PasswordHash: u.PasswordHash,
		TenantManager: u.TenantManager, AuthEpoch: u.AuthEpoch}, nil
}

// AccountByLogin implements security.Directory.
func (d *Directory) AccountByLogin(ctx context.Context, login string) (*security.Account, error) {
	return account(d.reg.UserByLogin(ctx, login))
}

// AccountByID implements security.Directory.
func (d *Directory) AccountByID(ctx context.Context, id string) (*security.Account, error) {
	return account(d.reg.UserByID(ctx, id))
}

// TokenByHash implements security.Directory.
func (d *Directory) TokenByHash(ctx context.Context, hash string) (*security.Token, error) {
	t, err := d.primary.TokenByHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return nil, security.ErrUnknownAccount
	}
	if err != nil {
		return nil, err
	}
	out := &security.Token{ID: t.ID, UserID: t.UserID, CreatedBy: t.CreatedBy}
	if t.ExpiresAt != nil {
		out.ExpiresAt = *t.ExpiresAt
	}
	return out, nil
}

// Memberships implements security.Directory.
func (d *Directory) Memberships(ctx context.Context, userID string) ([]security.Membership, error) {
	ms, err := d.reg.Memberships(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]security.Membership, len(ms))
	for i, m := range ms {
		out[i] = security.Membership{Tenant: m.Tenant, Role: m.Role}
	}
	return out, nil
}

// Groups implements security.Directory.
func (d *Directory) Groups(ctx context.Context, tenant, userID string) ([]string, error) {
	return d.reg.GroupsOf(ctx, tenant, userID)
}
