package datasource

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/jonboulle/clockwork"
	"github.com/lib/pq"

	"github.com/tenantflow/tenantflow/security"
)

// Primary is the primary datasource: tenants and their storage config,
// users, memberships, groups, API tokens and wake-up hints. Most readers go
// through the Registry's cache instead of calling it directly.
type Primary struct {
	dialect Dialect
	w, r    *sqlx.DB // writer and readers (the same pool on PostgreSQL)
	sealer  *sealer
	clock   clockwork.Clock
	// onChange is told about user, membership and group changes after they
	// commit, so registries on every node drop what they cached.
	onChange func(Signal)
	auditSeq auditSeq
}

// userChanged signals a change of a user's account, memberships or groups.
func (p *Primary) userChanged(id, login string) {
	if p.onChange != nil {
		p.onChange(Signal{Topic: TopicUser, Key: id + ":" + login})
	}
}

// Dialect returns the primary's SQL dialect.
func (p *Primary) Dialect() Dialect { return p.dialect }

// Ping checks that the primary answers.
func (p *Primary) Ping(ctx context.Context) error { return p.r.PingContext(ctx) }

func (p *Primary) now() int64 { return p.clock.Now().UnixMilli() }

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// newID returns a random 128-bit ID in hex, for primary rows.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// ---- tenants ----

type tenantRow struct {
	ID               string         `db:"id"`
	DisplayName      string         `db:"display_name"`
	Status           string         `db:"status"`
	Placement        string         `db:"placement"`
	StorageDSN       string         `db:"storage_dsn"`
	StorageSchema    string         `db:"storage_schema"`
	StorageSecret    string         `db:"storage_secret"`
	MaxOpenConns     int            `db:"max_open_conns"`
	MaxIdleConns     int            `db:"max_idle_conns"`
	AcquireTimeoutMS int64          `db:"acquire_timeout_ms"`
	ConfigVersion    int64          `db:"config_version"`
	Revision         int64          `db:"revision"`
	CreatedAt        int64          `db:"created_at"`
	UpdatedAt        int64          `db:"updated_at"`
	StorageKey       sql.NullString `db:"storage_key"`
	Extra            string         `db:"quotas"`
}

const tenantColumns = `id, display_name, status, placement, storage_dsn, storage_schema, storage_secret,
	max_open_conns, max_idle_conns, acquire_timeout_ms, config_version, revision, created_at, updated_at,
	storage_key, quotas`

// tenantExtra is the JSON of the quotas column: the tenant's quotas and the
// limits added after the first columns.
type tenantExtra struct {
	Quotas             Quotas `json:"quotas"`
	StatementTimeoutMS int64  `json:"statementTimeoutMs,omitempty"`
}

func encodeExtra(t *Tenant) string {
	b, _ := json.Marshal(tenantExtra{Quotas: t.Quotas, StatementTimeoutMS: t.Limits.StatementTimeout.Milliseconds()})
	return string(b)
}

func nullable(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func (p *Primary) tenantFromRow(r *tenantRow) (*Tenant, error) {
	pw, err := p.sealer.open(r.StorageSecret, r.ID)
	if err != nil {
		return nil, fmt.Errorf("tenant %s: %w", r.ID, err)
	}
	var extra tenantExtra
	if r.Extra != "" {
		if err := json.Unmarshal([]byte(r.Extra), &extra); err != nil {
			return nil, fmt.Errorf("tenant %s: quotas: %w", r.ID, err)
		}
	}
	return &Tenant{
		Quotas:      extra.Quotas,
		storageKey:  r.StorageKey.String,
		ID:          r.ID,
		DisplayName: r.DisplayName,
		Status:      Status(r.Status),
		Placement:   Placement(r.Placement),
		Storage:     Storage{DSN: r.StorageDSN, Schema: r.StorageSchema, Password: pw},
		Limits: Limits{MaxOpenConns: r.MaxOpenConns, MaxIdleConns: r.MaxIdleConns,
			AcquireTimeout:   time.Duration(r.AcquireTimeoutMS) * time.Millisecond,
			StatementTimeout: time.Duration(extra.StatementTimeoutMS) * time.Millisecond},
		ConfigVersion: r.ConfigVersion,
		Revision:      r.Revision,
		CreatedAt:     fromMS(r.CreatedAt),
		UpdatedAt:     fromMS(r.UpdatedAt),
	}, nil
}

// insertTenant registers a new tenant row. Errors: ErrConflict if the ID is
// taken.
func (p *Primary) insertTenant(ctx context.Context, t *Tenant) error {
	secret, err := p.sealer.seal(t.Storage.Password, t.ID)
	if err != nil {
		return err
	}
	now := p.now()
	_, err = p.w.ExecContext(ctx, `INSERT INTO tf_tenant (`+tenantColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, 1, $11, $11, $12, $13)`,
		t.ID, t.DisplayName, string(t.Status), string(t.Placement), t.Storage.DSN, t.Storage.Schema, secret,
		t.Limits.MaxOpenConns, t.Limits.MaxIdleConns, t.Limits.AcquireTimeout.Milliseconds(), now,
		nullable(t.storageKey), encodeExtra(t))
	if err != nil {
		return interpretError(err)
	}
	t.ConfigVersion, t.Revision = 1, 1
	t.CreatedAt, t.UpdatedAt = fromMS(now), fromMS(now)
	return nil
}

// GetTenant reads one tenant. Errors: ErrUnknownTenant.
func (p *Primary) GetTenant(ctx context.Context, id string) (*Tenant, error) {
	var r tenantRow
	err := p.r.GetContext(ctx, &r, `SELECT `+tenantColumns+` FROM tf_tenant WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTenant, id)
	}
	if err != nil {
		return nil, err
	}
	return p.tenantFromRow(&r)
}

// ListTenantsParams filters ListTenants.
type ListTenantsParams struct {
	// Status keeps only tenants in these statuses; empty means all.
	Status []Status
	// After pages: only IDs greater than After, in ID order.
	After string
	// Limit caps the result; 0 means no cap.
	Limit int
}

// ListTenants lists tenants in ID order.
func (p *Primary) ListTenants(ctx context.Context, params *ListTenantsParams) ([]*Tenant, error) {
	if params == nil {
		params = &ListTenantsParams{}
	}
	q := `SELECT ` + tenantColumns + ` FROM tf_tenant WHERE id > $1`
	args := []any{params.After}
	if len(params.Status) > 0 {
		marks := make([]string, len(params.Status))
		for i, s := range params.Status {
			args = append(args, string(s))
			marks[i] = fmt.Sprintf("$%d", len(args))
		}
		q += ` AND status IN (` + strings.Join(marks, ", ") + `)`
	}
	q += ` ORDER BY id`
	if params.Limit > 0 {
		args = append(args, params.Limit)
		q += fmt.Sprintf(` LIMIT $%d`, len(args))
	}
	var rows []tenantRow
	if err := p.r.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, err
	}
	out := make([]*Tenant, 0, len(rows))
	for i := range rows {
		t, err := p.tenantFromRow(&rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// setTenantStatus moves a tenant from one of the statuses in from to to.
// Errors: ErrUnknownTenant; ErrConflict when the tenant is in another
// status (the error names it).
func (p *Primary) setTenantStatus(ctx context.Context, id string, to Status, from ...Status) error {
	args := []any{string(to), p.now(), id}
	marks := make([]string, len(from))
	for i, s := range from {
		args = append(args, string(s))
		marks[i] = fmt.Sprintf("$%d", len(args))
	}
	res, err := p.w.ExecContext(ctx, `UPDATE tf_tenant SET status = $1, updated_at = $2, revision = revision + 1
		WHERE id = $3 AND status IN (`+strings.Join(marks, ", ")+`)`, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	t, err := p.GetTenant(ctx, id)
	if err != nil {
		return err
	}
	if t.Status == to {
		return nil
	}
	return fmt.Errorf("%w: tenant %s is %s", ErrConflict, id, t.Status)
}

// UpdateTenantParams changes a tenant's configuration. Nil fields are kept.
type UpdateTenantParams struct {
	DisplayName *string
	DSN         *string
	Password    *Secret
	Limits      *Limits
	Quotas      *Quotas
	// storageKey is the new storage key when DSN moves it (set by the
	// lifecycle).
	storageKey *string
}

// updateTenant applies params and bumps the config version when storage or
// limits change, so pools reopen with the new settings.
func (p *Primary) updateTenant(ctx context.Context, id string, params *UpdateTenantParams, storageChanged bool) error {
	t, err := p.GetTenant(ctx, id)
	if err != nil {
		return err
	}
	if params.DisplayName != nil {
		t.DisplayName = *params.DisplayName
	}
	if params.DSN != nil {
		t.Storage.DSN = *params.DSN
	}
	if params.Password != nil {
		t.Storage.Password = *params.Password
	}
	if params.Limits != nil {
		t.Limits = *params.Limits
	}
	if params.Quotas != nil {
		t.Quotas = *params.Quotas
	}
	if params.storageKey != nil {
		t.storageKey = *params.storageKey
	}
	secret, err := p.sealer.seal(t.Storage.Password, t.ID)
	if err != nil {
		return err
	}
	bump := 0
	if storageChanged || params.Limits != nil {
		bump = 1
	}
	res, err := p.w.ExecContext(ctx, `UPDATE tf_tenant SET display_name = $1, storage_dsn = $2, storage_secret = $3,
		max_open_conns = $4, max_idle_conns = $5, acquire_timeout_ms = $6, config_version = config_version + $7,
		revision = revision + 1, updated_at = $8, storage_key = $11, quotas = $12 WHERE id = $9 AND revision = $10`,
		t.DisplayName, t.Storage.DSN, secret, t.Limits.MaxOpenConns, t.Limits.MaxIdleConns,
		t.Limits.AcquireTimeout.Milliseconds(), bump, p.now(), id, t.Revision, nullable(t.storageKey), encodeExtra(t))
	if err != nil {
		return interpretError(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: tenant %s changed concurrently; retry", ErrConflict, id)
	}
	return nil
}

// deleteTenant removes the tenant row (memberships, groups and hints go with
// it).
func (p *Primary) deleteTenant(ctx context.Context, id string) error {
	_, err := p.w.ExecContext(ctx, `DELETE FROM tf_tenant WHERE id = $1`, id)
	return err
}

// ---- users ----

// User is an account in the primary datasource.
type User struct {
	ID            string `json:"id" db:"id"`
	Login         string `json:"login" db:"login"`
	DisplayName   string `json:"displayName" db:"display_name"`
	Email         string `json:"email" db:"email"`
	TenantManager bool   `json:"tenantManager" db:"tenant_manager"`
	PasswordHash  string `json:"-" db:"password_hash"`
	// AuthEpoch grows whenever what the user signed in with must stop
	// working: a password change, a revoked token, a sign-out everywhere.
	AuthEpoch int64     `json:"-" db:"auth_epoch"`
	Revision  int64     `json:"revision" db:"revision"`
	CreatedAt time.Time `json:"createdAt" db:"-"`
	UpdatedAt time.Time `json:"updatedAt" db:"-"`
}

type userRow struct {
	User
	CreatedMS int64 `db:"created_at"`
	UpdatedMS int64 `db:"updated_at"`
}

func (r *userRow) user() *User {
	u := r.User
	u.CreatedAt, u.UpdatedAt = fromMS(r.CreatedMS), fromMS(r.UpdatedMS)
	return &u
}

const userColumns = `id, login, display_name, email, tenant_manager, password_hash, auth_epoch, revision, created_at, updated_at`

// CreateUserParams describes a new user.
type CreateUserParams struct {
	// ID is optional; a random one is chosen when empty.
	ID          string
	Login       string
	Password    string
	DisplayName string
	Email       string
	// TenantManager makes the account the tenant manager: it administers
	// tenants and belongs to none.
	TenantManager bool
}

// ValidateLogin checks a login name: 1-100 characters, no control characters
// or colons (a colon would break HTTP Basic authentication).
func ValidateLogin(login string) error {
	if login == "" || len(login) > 100 {
		return fmt.Errorf("%w: login must be 1-100 characters", ErrInvalid)
	}
	for _, c := range login {
		if c < 0x20 || c == 0x7f || c == ':' {
			return fmt.Errorf("%w: login %q contains %q; use letters, digits and punctuation other than ':'", ErrInvalid, login, c)
		}
	}
	return nil
}

// CreateUser adds a user with a bcrypt-hashed password. Errors: ErrInvalid
// (the message says what to fix), ErrConflict (login taken).
func (p *Primary) CreateUser(ctx context.Context, params *CreateUserParams) (*User, error) {
	if err := ValidateLogin(params.Login); err != nil {
		return nil, err
	}
	hash, err := security.HashPassword(params.Password)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	id := params.ID
	if id == "" {
		id = newID()
	} else if err := ValidateLogin(id); err != nil {
		return nil, fmt.Errorf("user ID: %w", err)
	}
	now := p.now()
	_, err = p.w.ExecContext(ctx, `INSERT INTO tf_user (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6, 0, 1, $7, $7)`,
		id, params.Login, params.DisplayName, params.Email, params.TenantManager, hash, now)
	if err != nil {
		err = interpretError(err)
		if errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("%w: user %q already exists", ErrConflict, params.Login)
		}
		return nil, err
	}
	p.userChanged(id, params.Login)
	return &User{ID: id, Login: params.Login, DisplayName: params.DisplayName, Email: params.Email,
		TenantManager: params.TenantManager, PasswordHash: hash, Revision: 1,
		CreatedAt: fromMS(now), UpdatedAt: fromMS(now)}, nil
}

// UserByLogin reads a user by login. Errors: ErrNotFound.
func (p *Primary) UserByLogin(ctx context.Context, login string) (*User, error) {
	return p.getUser(ctx, `login`, login)
}

// UserByID reads a user by ID. Errors: ErrNotFound.
func (p *Primary) UserByID(ctx context.Context, id string) (*User, error) {
	return p.getUser(ctx, `id`, id)
}

func (p *Primary) getUser(ctx context.Context, col, v string) (*User, error) {
	var r userRow
	err := p.r.GetContext(ctx, &r, `SELECT `+userColumns+` FROM tf_user WHERE `+col+` = $1`, v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: user %q", ErrNotFound, v)
	}
	if err != nil {
		return nil, err
	}
	return r.user(), nil
}

// ListUsersParams filters ListUsers.
type ListUsersParams struct {
	// Tenant keeps only members of this tenant.
	Tenant string
	// Group keeps only members of this group of Tenant.
	Group string
	// IDs keeps only these user IDs.
	IDs []string
}

// ListUsers lists users in login order.
func (p *Primary) ListUsers(ctx context.Context, params *ListUsersParams) ([]*User, error) {
	if params == nil {
		params = &ListUsersParams{}
	}
	q := `SELECT ` + prefixCols("u.", userColumns) + ` FROM tf_user u WHERE 1 = 1`
	var args []any
	if params.Tenant != "" {
		args = append(args, params.Tenant)
		q += fmt.Sprintf(` AND EXISTS (SELECT 1 FROM tf_membership m WHERE m.user_id = u.id AND m.tenant_id = $%d)`, len(args))
		if params.Group != "" {
			args = append(args, params.Group)
			q += fmt.Sprintf(` AND EXISTS (SELECT 1 FROM tf_group_member g WHERE g.user_id = u.id AND g.tenant_id = $%d AND g.group_id = $%d)`, len(args)-1, len(args))
		}
	}
	if len(params.IDs) > 0 {
		marks := make([]string, len(params.IDs))
		for i, id := range params.IDs {
			args = append(args, id)
			marks[i] = fmt.Sprintf("$%d", len(args))
		}
		q += ` AND u.id IN (` + strings.Join(marks, ", ") + `)`
	}
	q += ` ORDER BY u.login`
	var rows []userRow
	if err := p.r.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, err
	}
	out := make([]*User, len(rows))
	for i := range rows {
		out[i] = rows[i].user()
	}
	return out, nil
}

func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// UpdateUserParams changes a user. Nil fields are kept.
type UpdateUserParams struct {
	DisplayName *string
	Email       *string
	Password    *string
}

// UpdateUser changes a user's profile or password. Errors: ErrNotFound,
// ErrInvalid.
func (p *Primary) UpdateUser(ctx context.Context, id string, params *UpdateUserParams) error {
	u, err := p.UserByID(ctx, id)
	if err != nil {
		return err
	}
	if params.DisplayName != nil {
		u.DisplayName = *params.DisplayName
	}
	if params.Email != nil {
		u.Email = *params.Email
	}
	epoch := 0
	if params.Password != nil {
		if u.PasswordHash, err = security.HashPassword(*params.Password); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		// A new password ends every session and cached verification of
		// the old one, on every node.
		epoch = 1
	}
	tx, err := p.w.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err = tx.ExecContext(ctx, `UPDATE tf_user SET display_name = $1, email = $2, password_hash = $3,
		auth_epoch = auth_epoch + $4, revision = revision + 1, updated_at = $5 WHERE id = $6`,
		u.DisplayName, u.Email, u.PasswordHash, epoch, p.now(), id); err != nil {
		return err
	}
	if epoch > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM tf_session WHERE user_id = $1`, id); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	p.userChanged(id, u.Login)
	return nil
}

// EndAccess ends everything a user signed in with: every console session
// and every credential or token verified before, on every node (within the
// registry TTL, at once where signals arrive). The password and tokens
// themselves stay valid for new sign-ins. Errors: ErrNotFound.
func (p *Primary) EndAccess(ctx context.Context, id string) error {
	u, err := p.UserByID(ctx, id)
	if err != nil {
		return err
	}
	if err := p.bumpEpoch(ctx, id); err != nil {
		return err
	}
	if _, err := p.w.ExecContext(ctx, `DELETE FROM tf_session WHERE user_id = $1`, id); err != nil {
		return err
	}
	p.userChanged(id, u.Login)
	return nil
}

func (p *Primary) bumpEpoch(ctx context.Context, id string) error {
	_, err := p.w.ExecContext(ctx, `UPDATE tf_user SET auth_epoch = auth_epoch + 1, revision = revision + 1, updated_at = $1 WHERE id = $2`, p.now(), id)
	return err
}

// DeleteUser removes a user with its memberships and tokens. Errors:
// ErrNotFound.
func (p *Primary) DeleteUser(ctx context.Context, id string) error {
	u, err := p.UserByID(ctx, id)
	if err != nil {
		return err
	}
	if _, err := p.w.ExecContext(ctx, `DELETE FROM tf_user WHERE id = $1`, id); err != nil {
		return err
	}
	p.userChanged(id, u.Login)
	return nil
}

// CountTenantManagers counts tenant-manager accounts (the first start
// creates one when there is none).
func (p *Primary) CountTenantManagers(ctx context.Context) (int, error) {
	var n int
	err := p.r.GetContext(ctx, &n, `SELECT COUNT(*) FROM tf_user WHERE tenant_manager = TRUE`)
	return n, err
}

// ---- memberships ----

// Membership gives a user a role in a tenant.
type Membership struct {
	UserID    string        `json:"userId" db:"user_id"`
	Tenant    string        `json:"tenant" db:"tenant_id"`
	Role      security.Role `json:"role" db:"role"`
	CreatedAt time.Time     `json:"createdAt" db:"-"`
}

// Grant gives a user a role in a tenant, replacing an earlier role. Errors:
// ErrNotFound (user), ErrUnknownTenant, ErrInvalid (role, or the tenant
// manager, who belongs to no tenant).
func (p *Primary) Grant(ctx context.Context, userID, tenant string, role security.Role) error {
	if !role.Valid() {
		_, err := security.ParseRole(string(role))
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	u, err := p.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if u.TenantManager {
		return fmt.Errorf("%w: %s is the tenant manager, which belongs to no tenant; create a separate user for tenant work", ErrInvalid, u.Login)
	}
	if _, err := p.GetTenant(ctx, tenant); err != nil {
		return err
	}
	_, err = p.w.ExecContext(ctx, `INSERT INTO tf_membership (user_id, tenant_id, role, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, tenant_id) DO UPDATE SET role = excluded.role`, userID, tenant, string(role), p.now())
	if err != nil {
		return interpretError(err)
	}
	p.userChanged(userID, u.Login)
	return nil
}

// Revoke removes a user's membership in a tenant (and its group
// memberships there). Errors: ErrNotFound when there was none.
func (p *Primary) Revoke(ctx context.Context, userID, tenant string) error {
	tx, err := p.w.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM tf_group_member WHERE user_id = $1 AND tenant_id = $2`, userID, tenant); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM tf_membership WHERE user_id = $1 AND tenant_id = $2`, userID, tenant)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: user %s is not a member of %s", ErrNotFound, userID, tenant)
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	p.userChanged(userID, "")
	return nil
}

type membershipRow struct {
	Membership
	CreatedMS int64 `db:"created_at"`
}

// MembershipsOfUser lists a user's memberships in tenant order.
func (p *Primary) MembershipsOfUser(ctx context.Context, userID string) ([]Membership, error) {
	return p.memberships(ctx, `user_id = $1 ORDER BY tenant_id`, userID)
}

// MembersOfTenant lists a tenant's memberships.
func (p *Primary) MembersOfTenant(ctx context.Context, tenant string) ([]Membership, error) {
	return p.memberships(ctx, `tenant_id = $1 ORDER BY user_id`, tenant)
}

func (p *Primary) memberships(ctx context.Context, where string, arg string) ([]Membership, error) {
	var rows []membershipRow
	if err := p.r.SelectContext(ctx, &rows, `SELECT user_id, tenant_id, role, created_at FROM tf_membership WHERE `+where, arg); err != nil {
		return nil, err
	}
	out := make([]Membership, len(rows))
	for i, r := range rows {
		out[i] = r.Membership
		out[i].CreatedAt = fromMS(r.CreatedMS)
	}
	return out, nil
}

// ---- groups ----

// Group is a named set of a tenant's users.
type Group struct {
	Tenant string `json:"tenant" db:"tenant_id"`
	ID     string `json:"id" db:"id"`
	Name   string `json:"name" db:"name"`
	Type   string `json:"type" db:"type"`
}

// CreateGroup adds a group to a tenant. Errors: ErrInvalid, ErrConflict,
// ErrUnknownTenant.
func (p *Primary) CreateGroup(ctx context.Context, g *Group) error {
	if err := ValidateLogin(g.ID); err != nil {
		return fmt.Errorf("group ID: %w", err)
	}
	if _, err := p.GetTenant(ctx, g.Tenant); err != nil {
		return err
	}
	_, err := p.w.ExecContext(ctx, `INSERT INTO tf_group (tenant_id, id, name, type, created_at) VALUES ($1, $2, $3, $4, $5)`,
		g.Tenant, g.ID, g.Name, g.Type, p.now())
	if err = interpretError(err); errors.Is(err, ErrConflict) {
		return fmt.Errorf("%w: group %q already exists", ErrConflict, g.ID)
	}
	return err
}

// DeleteGroup removes a group. Errors: ErrNotFound.
func (p *Primary) DeleteGroup(ctx context.Context, tenant, id string) error {
	res, err := p.w.ExecContext(ctx, `DELETE FROM tf_group WHERE tenant_id = $1 AND id = $2`, tenant, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: group %q", ErrNotFound, id)
	}
	p.userChanged("", "") // group lists of every user in the tenant
	return nil
}

// ListGroups lists a tenant's groups; with member set, only the groups that
// user belongs to.
func (p *Primary) ListGroups(ctx context.Context, tenant, member string) ([]Group, error) {
	var out []Group
	var err error
	if member == "" {
		err = p.r.SelectContext(ctx, &out, `SELECT tenant_id, id, name, type FROM tf_group WHERE tenant_id = $1 ORDER BY id`, tenant)
	} else {
		err = p.r.SelectContext(ctx, &out, `SELECT g.tenant_id, g.id, g.name, g.type FROM tf_group g
			JOIN tf_group_member m ON m.tenant_id = g.tenant_id AND m.group_id = g.id
			WHERE g.tenant_id = $1 AND m.user_id = $2 ORDER BY g.id`, tenant, member)
	}
	return out, err
}

// AddGroupMember puts a tenant member into a group. Errors: ErrNotFound
// (group), ErrInvalid (the user is not a member of the tenant).
func (p *Primary) AddGroupMember(ctx context.Context, tenant, group, userID string) error {
	var n int
	if err := p.r.GetContext(ctx, &n, `SELECT COUNT(*) FROM tf_membership WHERE tenant_id = $1 AND user_id = $2`, tenant, userID); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: user %s is not a member of tenant %s; grant a role first", ErrInvalid, userID, tenant)
	}
	if err := p.r.GetContext(ctx, &n, `SELECT COUNT(*) FROM tf_group WHERE tenant_id = $1 AND id = $2`, tenant, group); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: group %q", ErrNotFound, group)
	}
	_, err := p.w.ExecContext(ctx, `INSERT INTO tf_group_member (tenant_id, group_id, user_id) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, tenant, group, userID)
	if err == nil {
		p.userChanged(userID, "")
	}
	return err
}

// RemoveGroupMember takes a user out of a group. Errors: ErrNotFound.
func (p *Primary) RemoveGroupMember(ctx context.Context, tenant, group, userID string) error {
	res, err := p.w.ExecContext(ctx, `DELETE FROM tf_group_member WHERE tenant_id = $1 AND group_id = $2 AND user_id = $3`, tenant, group, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: user %s is not in group %s", ErrNotFound, userID, group)
	}
	p.userChanged(userID, "")
	return nil
}

// ---- API tokens ----

// APIToken is a bearer token of a user. Only its hash is stored; the token
// itself is returned once, at creation.
type APIToken struct {
	ID         string     `json:"id" db:"id"`
	UserID     string     `json:"userId" db:"user_id"`
	Name       string     `json:"name" db:"name"`
	Hash       string     `json:"-" db:"token_hash"`
	CreatedAt  time.Time  `json:"createdAt" db:"-"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty" db:"-"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty" db:"-"`
	// CreatedBy is the user ID that created the token: the owner, the
	// tenant manager (an impersonation), or empty for the command line.
	CreatedBy string `json:"createdBy" db:"created_by"`
	// Reason is why a token was created for someone else.
	Reason string `json:"reason,omitempty" db:"reason"`
}

// CreateTokenParams describes a new API token.
type CreateTokenParams struct {
	UserID string
	Name   string
	// ExpiresAt, zero for a token that never expires.
	ExpiresAt time.Time
	// CreatedBy and Reason record who made the token for the user and why.
	CreatedBy string
	Reason    string
}

// tokenPrefix marks tenantflow tokens so secret scanners can find leaked
// ones.
const tokenPrefix = "tf_"

// HashToken returns the stored form of a bearer token (see
// security.HashToken).
func HashToken(token string) string { return security.HashToken(token) }

// CreateToken creates an API token for a user and returns the token in
// clear, once. A zero expiresAt means the token never expires. Errors:
// ErrNotFound (user), ErrInvalid.
func (p *Primary) CreateToken(ctx context.Context, userID, name string, expiresAt time.Time) (string, *APIToken, error) {
	return p.CreateTokenWith(ctx, &CreateTokenParams{UserID: userID, Name: name, ExpiresAt: expiresAt})
}

// CreateTokenWith is CreateToken with who created the token and why.
func (p *Primary) CreateTokenWith(ctx context.Context, params *CreateTokenParams) (string, *APIToken, error) {
	userID, name, expiresAt := params.UserID, params.Name, params.ExpiresAt
	if strings.TrimSpace(name) == "" || len(name) > 100 {
		return "", nil, fmt.Errorf("%w: token name must be 1-100 characters", ErrInvalid)
	}
	if !expiresAt.IsZero() && !expiresAt.After(p.clock.Now()) {
		return "", nil, fmt.Errorf("%w: token expiry %s is in the past", ErrInvalid, expiresAt.Format(time.RFC3339))
	}
	if _, err := p.UserByID(ctx, userID); err != nil {
		return "", nil, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, err
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	t := &APIToken{ID: newID(), UserID: userID, Name: name, Hash: HashToken(token), CreatedAt: fromMS(p.now()),
		CreatedBy: params.CreatedBy, Reason: params.Reason}
	var exp sql.NullInt64
	if !expiresAt.IsZero() {
		exp = sql.NullInt64{Int64: ms(expiresAt), Valid: true}
		e := fromMS(exp.Int64)
		t.ExpiresAt = &e
	}
	_, err := p.w.ExecContext(ctx, `INSERT INTO tf_api_token (id, user_id, name, token_hash, created_at, expires_at, created_by, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, t.ID, userID, name, t.Hash, ms(t.CreatedAt), exp, t.CreatedBy, t.Reason)
	if err != nil {
		return "", nil, err
	}
	return token, t, nil
}

type tokenRow struct {
	APIToken
	CreatedMS  int64         `db:"created_at"`
	ExpiresMS  sql.NullInt64 `db:"expires_at"`
	LastUsedMS sql.NullInt64 `db:"last_used_at"`
}

func (r *tokenRow) token() *APIToken {
	t := r.APIToken
	t.CreatedAt = fromMS(r.CreatedMS)
	if r.ExpiresMS.Valid {
		e := fromMS(r.ExpiresMS.Int64)
		t.ExpiresAt = &e
	}
	if r.LastUsedMS.Valid {
		l := fromMS(r.LastUsedMS.Int64)
		t.LastUsedAt = &l
	}
	return &t
}

const tokenColumns = `id, user_id, name, token_hash, created_at, expires_at, last_used_at, created_by, reason`

// TokenByHash finds a token by its hash. Expired tokens are not found.
// Errors: ErrNotFound.
func (p *Primary) TokenByHash(ctx context.Context, hash string) (*APIToken, error) {
	var r tokenRow
	err := p.r.GetContext(ctx, &r, `SELECT `+tokenColumns+` FROM tf_api_token
		WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2)`, hash, p.now())
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: token", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return r.token(), nil
}

// ListTokens lists a user's tokens, newest first (hashes are not exposed).
func (p *Primary) ListTokens(ctx context.Context, userID string) ([]*APIToken, error) {
	var rows []tokenRow
	if err := p.r.SelectContext(ctx, &rows, `SELECT `+tokenColumns+` FROM tf_api_token WHERE user_id = $1 ORDER BY created_at DESC, id`, userID); err != nil {
		return nil, err
	}
	out := make([]*APIToken, len(rows))
	for i := range rows {
		out[i] = rows[i].token()
	}
	return out, nil
}

// RevokeToken deletes one of a user's tokens; nodes that verified it stop
// taking it when their registry sees the user's new auth epoch. Errors:
// ErrNotFound.
func (p *Primary) RevokeToken(ctx context.Context, userID, tokenID string) error {
	res, err := p.w.ExecContext(ctx, `DELETE FROM tf_api_token WHERE id = $1 AND user_id = $2`, tokenID, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: token %s", ErrNotFound, tokenID)
	}
	if err := p.bumpEpoch(ctx, userID); err != nil {
		return err
	}
	p.userChanged(userID, "")
	return nil
}

// TouchToken records that a token was used, at most once a minute per token
// so authentication does not write on every request.
func (p *Primary) TouchToken(ctx context.Context, tokenID string) error {
	now := p.now()
	_, err := p.w.ExecContext(ctx, `UPDATE tf_api_token SET last_used_at = $1 WHERE id = $2
		AND (last_used_at IS NULL OR last_used_at < $3)`, now, tokenID, now-60_000)
	return err
}

// ---- wake-up hints ----

// Hint says when a tenant next has work of a topic.
type Hint struct {
	Tenant string
	Topic  Topic
	DueAt  time.Time
}

// LowerHints records that the tenants have work due no later than each
// hint's DueAt: an existing later hint moves earlier, an earlier one stays.
// Hints of tenants that no longer exist are ignored.
func (p *Primary) LowerHints(ctx context.Context, hints []Hint) error {
	return p.signal(ctx, hints, nil)
}

// signal lowers hints as LowerHints does and sends payloads on the nodes'
// notification channel (PostgreSQL only), in one transaction that need not
// wait for the disk: wake-up hints and notifications are only hints, and a
// crash that loses the last ones costs a sweep's delay, where waiting for
// the disk would put another flush beside every burst of the commits they
// signal. A hint already as early is not written again: while work stays
// due (events keep coming, nobody has taken them yet), signalling it costs
// a read, not a write. On PostgreSQL it is one statement.
func (p *Primary) signal(ctx context.Context, hints []Hint, payloads []string) error {
	if len(hints) == 0 && len(payloads) == 0 {
		return nil
	}
	if p.dialect == Postgres {
		tenants, topics, dues := make([]string, len(hints)), make([]string, len(hints)), make([]int64, len(hints))
		for i, h := range hints {
			tenants[i], topics[i], dues[i] = h.Tenant, string(h.Topic), ms(h.DueAt)
		}
		_, err := p.w.ExecContext(ctx, `WITH async AS (SELECT set_config('synchronous_commit', 'off', true)),
			lowered AS (INSERT INTO tf_tenant_hint (tenant_id, topic, due_at)
				SELECT h.tenant_id, h.topic, h.due_at FROM unnest($1::text[], $2::text[], $3::bigint[]) AS h (tenant_id, topic, due_at)
				WHERE EXISTS (SELECT 1 FROM tf_tenant WHERE id = h.tenant_id)
					AND NOT EXISTS (SELECT 1 FROM tf_tenant_hint x WHERE x.tenant_id = h.tenant_id AND x.topic = h.topic AND x.due_at <= h.due_at)
				ON CONFLICT (tenant_id, topic) DO UPDATE SET due_at = LEAST(tf_tenant_hint.due_at, excluded.due_at)
				RETURNING 1)
			SELECT (SELECT count(*) FROM async), (SELECT count(*) FROM lowered),
				(SELECT count(pg_notify($4, n)) FROM unnest($5::text[]) AS n)`,
			pq.Array(tenants), pq.Array(topics), pq.Array(dues), notifyChannel, pq.Array(payloads))
		return err
	}
	tx, err := p.w.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, h := range hints {
		_, err := tx.ExecContext(ctx, `INSERT INTO tf_tenant_hint (tenant_id, topic, due_at)
			SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM tf_tenant WHERE id = $1)
				AND NOT EXISTS (SELECT 1 FROM tf_tenant_hint WHERE tenant_id = $1 AND topic = $2 AND due_at <= $3)
			ON CONFLICT (tenant_id, topic) DO UPDATE SET due_at = MIN(tf_tenant_hint.due_at, excluded.due_at)`,
			h.Tenant, string(h.Topic), ms(h.DueAt))
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// SetHint replaces a tenant's hint for a topic with due, or removes it when
// due is zero (nothing pending). The caller learnt due from the tenant's own
// storage; a concurrent LowerHints may be overwritten, which the sweeps
// correct.
func (p *Primary) SetHint(ctx context.Context, tenant string, topic Topic, due time.Time) error {
	if due.IsZero() {
		_, err := p.w.ExecContext(ctx, `DELETE FROM tf_tenant_hint WHERE tenant_id = $1 AND topic = $2`, tenant, string(topic))
		return err
	}
	_, err := p.w.ExecContext(ctx, `INSERT INTO tf_tenant_hint (tenant_id, topic, due_at)
		SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM tf_tenant WHERE id = $1)
		ON CONFLICT (tenant_id, topic) DO UPDATE SET due_at = excluded.due_at`, tenant, string(topic), ms(due))
	return err
}

// DueHints lists the active tenants whose hint for topic is due at or
// before before, earliest first, at most limit.
func (p *Primary) DueHints(ctx context.Context, topic Topic, before time.Time, limit int) ([]Hint, error) {
	var rows []struct {
		Tenant string `db:"tenant_id"`
		DueAt  int64  `db:"due_at"`
	}
	err := p.r.SelectContext(ctx, &rows, `SELECT h.tenant_id, h.due_at FROM tf_tenant_hint h
		JOIN tf_tenant t ON t.id = h.tenant_id AND t.status = 'active'
		WHERE h.topic = $1 AND h.due_at <= $2 ORDER BY h.due_at LIMIT $3`, string(topic), ms(before), limit)
	if err != nil {
		return nil, err
	}
	out := make([]Hint, len(rows))
	for i, r := range rows {
		out[i] = Hint{Tenant: r.Tenant, Topic: topic, DueAt: fromMS(r.DueAt)}
	}
	return out, nil
}

// NextHint returns the earliest hint of a topic among active tenants, or
// zero when none.
func (p *Primary) NextHint(ctx context.Context, topic Topic) (time.Time, error) {
	var v sql.NullInt64
	err := p.r.GetContext(ctx, &v, `SELECT MIN(h.due_at) FROM tf_tenant_hint h
		JOIN tf_tenant t ON t.id = h.tenant_id AND t.status = 'active' WHERE h.topic = $1`, string(topic))
	if err != nil || !v.Valid {
		return time.Time{}, err
	}
	return fromMS(v.Int64), nil
}

// close closes the primary's pools.
func (p *Primary) close() error {
	err := p.w.Close()
	if p.r != p.w {
		err = errors.Join(err, p.r.Close())
	}
	return err
}
