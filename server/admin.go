package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// The tenant-manager admin API under /admin/api. Secrets (pg-dsn passwords)
// are write-only: they are accepted on create and update and never returned.

// MaxImpersonation is the longest a token may last that the tenant manager
// creates for a tenant member (an impersonation); one without an expiry
// lasts an hour.
const MaxImpersonation = 24 * time.Hour

type tenantDTO struct {
	ID            string            `json:"id"`
	DisplayName   string            `json:"displayName"`
	Status        string            `json:"status"`
	Placement     string            `json:"placement"`
	DSN           string            `json:"dsn,omitempty"`
	Schema        string            `json:"schema,omitempty"`
	PasswordSet   bool              `json:"passwordSet"`
	Limits        limitsDTO         `json:"limits"`
	Quotas        datasource.Quotas `json:"quotas"`
	ConfigVersion int64             `json:"configVersion"`
	CreatedAt     jtime             `json:"createdAt"`
	UpdatedAt     jtime             `json:"updatedAt"`
	Health        *health           `json:"health,omitempty"`
}

type limitsDTO struct {
	MaxOpenConns       int   `json:"maxOpenConns"`
	MaxIdleConns       int   `json:"maxIdleConns"`
	AcquireTimeoutMs   int64 `json:"acquireTimeoutMs"`
	StatementTimeoutMs int64 `json:"statementTimeoutMs"`
}

type health struct {
	Reachable bool    `json:"reachable"`
	LatencyMs float64 `json:"latencyMs"`
	Error     string  `json:"error,omitempty"`
}

func toTenant(t *datasource.Tenant) tenantDTO {
	out := tenantDTO{ID: t.ID, DisplayName: t.DisplayName, Status: string(t.Status), Placement: string(t.Placement),
		Schema: t.Storage.Schema, PasswordSet: t.Storage.Password.IsSet(), ConfigVersion: t.ConfigVersion,
		CreatedAt: jtime(t.CreatedAt), UpdatedAt: jtime(t.UpdatedAt),
		Limits: limitsDTO{t.Limits.MaxOpenConns, t.Limits.MaxIdleConns, t.Limits.AcquireTimeout.Milliseconds(), t.Limits.StatementTimeout.Milliseconds()},
		Quotas: t.Quotas}
	if t.Storage.DSN != "" {
		out.DSN = redactDSN(t.Storage.DSN)
	}
	return out
}

// redactDSN hides anything secret left in a DSN (the password is stored
// apart, but a DSN may carry other credentials in its query).
func redactDSN(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "(key=value DSN)"
	}
	q := u.Query()
	for _, k := range []string{"password", "sslpassword", "sslkey"} {
		if q.Has(k) {
			q.Set(k, "***")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// ping measures whether a tenant's storage answers.
func (s *Server) ping(ctx context.Context, tenant string) *health {
	ctx, cancel := context.WithTimeout(security.WithTenant(ctx, tenant), 3*time.Second)
	defer cancel()
	start := time.Now()
	err := s.opts.Sources.Tenants.InReadTx(ctx, func(tx *datasource.Tx) error {
		var one int
		return tx.GetContext(ctx, &one, `SELECT 1`)
	})
	h := &health{Reachable: err == nil, LatencyMs: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		h.Error = "unreachable"
		if errors.Is(err, datasource.ErrTenantDisabled) {
			h.Error = "not active"
		}
	}
	return h
}

func (s *Server) adminTenantList(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.opts.Sources.Lifecycle.List(r.Context(), nil)
	if err != nil {
		return err
	}
	out := make([]tenantDTO, len(ts))
	withHealth := query(r).boolean("health")
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, t := range ts {
		out[i] = toTenant(t)
		if withHealth && t.Active() {
			wg.Add(1)
			go func(i int, id string) {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				out[i].Health = s.ping(r.Context(), id)
			}(i, t.ID)
		}
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, out)
	return nil
}

type tenantBody struct {
	ID          string             `json:"id"`
	DisplayName *string            `json:"displayName"`
	Placement   string             `json:"placement"`
	DSN         *string            `json:"dsn"`
	Password    *string            `json:"password"`
	Schema      string             `json:"schema"`
	Limits      *limitsDTO         `json:"limits"`
	Quotas      *datasource.Quotas `json:"quotas"`
}

func (b *tenantBody) limits() datasource.Limits {
	if b.Limits == nil {
		return datasource.Limits{}
	}
	return datasource.Limits{MaxOpenConns: b.Limits.MaxOpenConns, MaxIdleConns: b.Limits.MaxIdleConns,
		AcquireTimeout:   time.Duration(b.Limits.AcquireTimeoutMs) * time.Millisecond,
		StatementTimeout: time.Duration(b.Limits.StatementTimeoutMs) * time.Millisecond}
}

func (s *Server) adminTenantCreate(w http.ResponseWriter, r *http.Request) error {
	var b tenantBody
	if err := readJSON(r, &b); err != nil {
		return err
	}
	p := &datasource.CreateTenantParams{ID: b.ID, Placement: datasource.Placement(b.Placement), Schema: b.Schema, Limits: b.limits()}
	if b.Quotas != nil {
		p.Quotas = *b.Quotas
	}
	if b.DisplayName != nil {
		p.DisplayName = *b.DisplayName
	}
	if b.DSN != nil {
		p.DSN = *b.DSN
	}
	if b.Password != nil {
		p.Password = datasource.NewSecret(*b.Password)
	}
	t, err := s.opts.Sources.Lifecycle.Create(r.Context(), p)
	if err != nil {
		return adminConflict(err)
	}
	n := note(r)
	n.tenants, n.entityID = []string{t.ID}, t.ID
	n.prop("placement", nil, sp(string(t.Placement)))
	writeJSON(w, http.StatusCreated, toTenant(t))
	return nil
}

func (s *Server) adminTenantGet(w http.ResponseWriter, r *http.Request) error {
	t, err := s.opts.Sources.Lifecycle.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := toTenant(t)
	if t.Active() {
		out.Health = s.ping(r.Context(), t.ID)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) adminTenantUpdate(w http.ResponseWriter, r *http.Request) error {
	var b tenantBody
	if err := readJSON(r, &b); err != nil {
		return err
	}
	p := &datasource.UpdateTenantParams{DisplayName: b.DisplayName, DSN: b.DSN}
	if b.Password != nil {
		sec := datasource.NewSecret(*b.Password)
		p.Password = &sec
	}
	if b.Limits != nil {
		l := b.limits()
		p.Limits = &l
	}
	p.Quotas = b.Quotas
	t, err := s.opts.Sources.Lifecycle.UpdateConfig(r.Context(), r.PathValue("id"), p)
	if err != nil {
		return adminConflict(err)
	}
	n := note(r)
	if b.DisplayName != nil {
		n.prop("displayName", nil, b.DisplayName)
	}
	if b.DSN != nil {
		n.prop("dsn", nil, sp(redactDSN(t.Storage.DSN)))
	}
	if b.Password != nil {
		n.prop("password", nil, nil) // never the secret itself
	}
	if b.Limits != nil {
		n.prop("limits", nil, nil)
	}
	if b.Quotas != nil {
		n.prop("quotas", nil, nil)
	}
	writeJSON(w, http.StatusOK, toTenant(t))
	return nil
}

func (s *Server) adminTenantDisable(w http.ResponseWriter, r *http.Request) error {
	if err := s.opts.Sources.Lifecycle.Disable(r.Context(), r.PathValue("id")); err != nil {
		return adminConflict(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) adminTenantEnable(w http.ResponseWriter, r *http.Request) error {
	if err := s.opts.Sources.Lifecycle.Enable(r.Context(), r.PathValue("id")); err != nil {
		return adminConflict(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// adminTenantDrop drops a tenant; the caller must repeat the tenant ID in
// ?confirm= (the console's typed confirmation), and removeStorage=true
// deletes its data.
func (s *Server) adminTenantDrop(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	p := query(r)
	if p.str("confirm") != id {
		return badRequest("to drop tenant %s, repeat its ID in ?confirm=%s", id, id)
	}
	res, err := s.opts.Sources.Lifecycle.Drop(r.Context(), id, datasource.DropOptions{RemoveStorage: p.boolean("removeStorage")})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

type tenantStats struct {
	Tenant        string  `json:"tenant"`
	Instances     int64   `json:"runningInstances"`
	Tasks         int64   `json:"openTasks"`
	DueJobs       int64   `json:"dueJobs"`
	Incidents     int64   `json:"openIncidents"`
	OutboxBacklog int64   `json:"outboxBacklog"`
	DeadLetters   int64   `json:"deadLetters"`
	PoolInUse     int     `json:"poolInUse"`
	PoolMax       int     `json:"poolMax"`
	SchemaVersion int64   `json:"schemaVersion"`
	LatestVersion int64   `json:"latestSchemaVersion"`
	Health        *health `json:"health"`
	// StorageBytes is the tenant's measured storage (sampled at most once
	// a minute); Quota the refusals by its quotas and what it holds open
	// on this node.
	StorageBytes int64             `json:"storageBytes"`
	Quotas       datasource.Quotas `json:"quotas"`
	Quota        quotaFigures      `json:"quota"`
}

// AnalyticsConsumer is the outbox consumer whose backlog the admin API
// shows.
const AnalyticsConsumer = "analytics"

// deadLetterDTO is an event an outbox consumer gave up on, as the admin
// API lists it.
type deadLetterDTO struct {
	Consumer string    `json:"consumer"`
	EventID  string    `json:"eventId"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// toDeadLetter is the one conversion of a dead letter for the wire.
func toDeadLetter(l engine.DeadLetter) deadLetterDTO {
	return deadLetterDTO{Consumer: l.Consumer, EventID: strconv.FormatInt(l.EventID, 10), Reason: l.Reason, At: l.At}
}

// adminDeadLetters lists the events analytics shipping gave up on in a
// tenant (an item Elasticsearch rejected for good), newest first, with the
// reason it gave. maxResults bounds the list (default 100).
func (s *Server) adminDeadLetters(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if _, err := s.opts.Sources.Lifecycle.Get(r.Context(), id); err != nil {
		return err
	}
	limit, err := query(r).int("maxResults", 100)
	if err != nil {
		return err
	}
	limit = min(max(limit, 1), s.opts.MaxPageSize)
	letters := []deadLetterDTO{}
	if s.opts.Engine != nil {
		got, err := s.opts.Engine.DeadLetters(security.WithTenant(r.Context(), id), AnalyticsConsumer, limit)
		if err != nil {
			return err
		}
		for _, l := range got {
			letters = append(letters, toDeadLetter(l))
		}
	}
	writeJSON(w, http.StatusOK, letters)
	return nil
}

func (s *Server) adminTenantStats(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	t, err := s.opts.Sources.Lifecycle.Get(r.Context(), id)
	if err != nil {
		return err
	}
	out := tenantStats{Tenant: id, Quotas: t.Quotas, Quota: s.quota.figures(id)}
	out.SchemaVersion, out.LatestVersion, _ = s.opts.Sources.Lifecycle.MigrationStatus(r.Context(), id)
	if !t.Active() || s.opts.Engine == nil {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	out.Health = s.ping(r.Context(), id)
	ctx := security.WithTenant(r.Context(), id)
	e := s.opts.Engine
	var errs []error
	var n int64
	if n, err = e.CountInstances(ctx, nil); err == nil {
		out.Instances = n
	}
	errs = append(errs, err)
	if n, err = e.CountTasks(ctx, nil); err == nil {
		out.Tasks = n
	}
	errs = append(errs, err)
	if n, err = e.CountJobs(ctx, &engine.JobQuery{Executable: true}); err == nil {
		out.DueJobs = n
	}
	errs = append(errs, err)
	if n, err = e.CountIncidents(ctx, nil); err == nil {
		out.Incidents = n
	}
	errs = append(errs, err)
	if st, err := e.ConsumerState(ctx, AnalyticsConsumer); err == nil {
		out.OutboxBacklog, out.DeadLetters = st.Backlog, st.DeadLetters
	}
	if n, err := s.quota.storageBytes(r.Context(), id); err == nil {
		out.StorageBytes = n
	}
	for _, ps := range s.opts.Sources.Tenants.Stats().Pools {
		if ps.Tenant == id {
			out.PoolInUse, out.PoolMax = ps.InUse, ps.MaxOpen
		}
	}
	if err := errors.Join(errs...); err != nil && out.Health != nil && !out.Health.Reachable {
		// The storage is down: the health says so; counts stay zero.
		writeJSON(w, http.StatusOK, out)
		return nil
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type memberDTO struct {
	UserID string `json:"userId"`
	Login  string `json:"login"`
	Role   string `json:"role"`
}

func (s *Server) adminMembers(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.opts.Sources.Primary.MembersOfTenant(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := []memberDTO{}
	for _, m := range ms {
		u, err := s.opts.Sources.Primary.UserByID(r.Context(), m.UserID)
		if err != nil {
			continue
		}
		out = append(out, memberDTO{UserID: u.ID, Login: u.Login, Role: string(m.Role)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// userRef resolves a path {userId} that may be an ID or a login.
func (s *Server) userRef(r *http.Request, v string) (*datasource.User, error) {
	if u, err := s.opts.Sources.Primary.UserByID(r.Context(), v); err == nil {
		return u, nil
	}
	u, err := s.opts.Sources.Primary.UserByLogin(r.Context(), v)
	if err != nil {
		return nil, fmt.Errorf("%w: user %q", engine.ErrNotFound, v)
	}
	return u, nil
}

func (s *Server) adminGrant(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Role string `json:"role"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	role, err := security.ParseRole(b.Role)
	if err != nil {
		return badRequest("%v", err)
	}
	u, err := s.userRef(r, r.PathValue("userId"))
	if err != nil {
		return err
	}
	if err := s.opts.Sources.Primary.Grant(r.Context(), u.ID, r.PathValue("id"), role); err != nil {
		return err
	}
	note(r).entityID = u.Login
	note(r).prop("role", nil, sp(string(role)))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) adminRevoke(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userRef(r, r.PathValue("userId"))
	if err != nil {
		return err
	}
	if err := s.opts.Sources.Primary.Revoke(r.Context(), u.ID, r.PathValue("id")); err != nil {
		return err
	}
	note(r).entityID = u.Login
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type adminUserDTO struct {
	ID            string      `json:"id"`
	Login         string      `json:"login"`
	DisplayName   string      `json:"displayName"`
	Email         string      `json:"email"`
	TenantManager bool        `json:"tenantManager"`
	Memberships   []memberDTO `json:"memberships"`
	CreatedAt     jtime       `json:"createdAt"`
}

func (s *Server) adminUser(ctx context.Context, u *datasource.User) (adminUserDTO, error) {
	out := adminUserDTO{ID: u.ID, Login: u.Login, DisplayName: u.DisplayName, Email: u.Email, TenantManager: u.TenantManager,
		Memberships: []memberDTO{}, CreatedAt: jtime(u.CreatedAt)}
	ms, err := s.opts.Sources.Primary.MembershipsOfUser(ctx, u.ID)
	if err != nil {
		return out, err
	}
	for _, m := range ms {
		out.Memberships = append(out.Memberships, memberDTO{UserID: u.ID, Login: m.Tenant, Role: string(m.Role)})
	}
	return out, nil
}

func (s *Server) adminUserList(w http.ResponseWriter, r *http.Request) error {
	us, err := s.opts.Sources.Primary.ListUsers(r.Context(), &datasource.ListUsersParams{Tenant: query(r).str("tenant")})
	if err != nil {
		return err
	}
	out := []adminUserDTO{}
	for _, u := range us {
		a, err := s.adminUser(r.Context(), u)
		if err != nil {
			return err
		}
		out = append(out, a)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) adminUserCreate(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Login         string `json:"login"`
		Password      string `json:"password"`
		DisplayName   string `json:"displayName"`
		Email         string `json:"email"`
		TenantManager bool   `json:"tenantManager"`
		Tenant        string `json:"tenant"`
		Role          string `json:"role"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	var role security.Role
	if b.Tenant != "" {
		var err error
		if role, err = security.ParseRole(b.Role); err != nil {
			return badRequest("%v", err)
		}
	}
	u, err := s.opts.Sources.Primary.CreateUser(r.Context(), &datasource.CreateUserParams{Login: b.Login, Password: b.Password,
		DisplayName: b.DisplayName, Email: b.Email, TenantManager: b.TenantManager})
	if err != nil {
		return err
	}
	n := note(r)
	n.entityID, n.tenants = u.Login, []string{""}
	if b.Tenant != "" {
		if err := s.opts.Sources.Primary.Grant(r.Context(), u.ID, b.Tenant, role); err != nil {
			return err
		}
		n.tenants = []string{b.Tenant}
		n.prop("role", nil, sp(string(role)))
	}
	a, err := s.adminUser(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) adminUserGet(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userRef(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	a, err := s.adminUser(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}

func (s *Server) adminUserUpdate(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userRef(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	var b datasource.UpdateUserParams
	var raw struct {
		DisplayName *string `json:"displayName"`
		Email       *string `json:"email"`
		Password    *string `json:"password"`
		Reason      string  `json:"reason"`
	}
	if err := readJSON(r, &raw); err != nil {
		return err
	}
	n := note(r)
	n.tenants, n.entityID = s.memberTenants(r.Context(), u.ID), u.Login
	if raw.Password != nil && n.tenants[0] != "" && strings.TrimSpace(raw.Reason) == "" {
		// Setting a member's password lets the tenant manager sign in as
		// the member: say why; it goes to each of the member's tenants'
		// audit logs, and the member's sessions end.
		return badRequest("setting the password of a member of %s needs a reason (it is recorded in the tenants' audit logs)", strings.Join(n.tenants, ", "))
	}
	n.annotation = strings.TrimSpace(raw.Reason)
	for _, f := range []struct {
		name string
		v    *string
	}{{"displayName", raw.DisplayName}, {"email", raw.Email}} {
		if f.v != nil {
			n.prop(f.name, nil, f.v)
		}
	}
	if raw.Password != nil {
		n.prop("password", nil, nil)
	}
	b.DisplayName, b.Email, b.Password = raw.DisplayName, raw.Email, raw.Password
	if err := s.opts.Sources.Primary.UpdateUser(r.Context(), u.ID, &b); err != nil {
		return err
	}
	if raw.Password != nil {
		s.auth.Forget(u.ID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) adminUserDelete(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userRef(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if p := principal(r); p != nil && p.UserID == u.ID {
		return badRequest("the tenant manager cannot delete its own account")
	}
	n := note(r)
	n.tenants, n.entityID = s.memberTenants(r.Context(), u.ID), u.Login
	if err := s.opts.Sources.Primary.DeleteUser(r.Context(), u.ID); err != nil {
		return err
	}
	s.auth.Forget(u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) adminTokenList(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userRef(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	ts, err := s.opts.Sources.Primary.ListTokens(r.Context(), u.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ts)
	return nil
}

func (s *Server) adminTokenCreate(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userRef(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	var b struct {
		Name      string `json:"name"`
		ExpiresIn string `json:"expiresIn"`
		Reason    string `json:"reason"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	n := note(r)
	n.tenants, n.entityID = s.memberTenants(r.Context(), u.ID), u.Login
	// A token for a tenant member lets whoever holds it act as the member:
	// made by the tenant manager it is an impersonation, allowed only
	// with a reason, for at most MaxImpersonation, and recorded in each of
	// the member's tenants (as is every change made with it).
	impersonation := n.tenants[0] != ""
	if impersonation && strings.TrimSpace(b.Reason) == "" {
		return badRequest("a token for %s, a member of %s, lets the tenant manager act as that member: give a reason (it is recorded in the tenants' audit logs)", u.Login, strings.Join(n.tenants, ", "))
	}
	var exp time.Time
	if b.ExpiresIn != "" {
		d, err := time.ParseDuration(b.ExpiresIn)
		if err != nil || d <= 0 {
			return badRequest("expiresIn %q: use a positive duration such as 720h", b.ExpiresIn)
		}
		if impersonation && d > MaxImpersonation {
			return badRequest("expiresIn %q: a token the tenant manager makes for a tenant member lasts at most %s", b.ExpiresIn, MaxImpersonation)
		}
		exp = time.Now().Add(d)
	} else if impersonation {
		exp = time.Now().Add(time.Hour)
	}
	tok, t, err := s.opts.Sources.Primary.CreateTokenWith(r.Context(), &datasource.CreateTokenParams{UserID: u.ID, Name: b.Name,
		ExpiresAt: exp, CreatedBy: principal(r).UserID, Reason: strings.TrimSpace(b.Reason)})
	if err != nil {
		return err
	}
	n.annotation = strings.TrimSpace(b.Reason)
	if !exp.IsZero() {
		n.prop("expiresAt", nil, sp(exp.UTC().Format(time.RFC3339)))
	}
	// The token is shown this once; only its hash is stored.
	writeJSON(w, http.StatusCreated, map[string]any{"token": tok, "tokenInfo": t})
	return nil
}

func (s *Server) adminTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	u, err := s.userRef(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	n := note(r)
	n.tenants, n.entityID = s.memberTenants(r.Context(), u.ID), u.Login
	if err := s.opts.Sources.Primary.RevokeToken(r.Context(), u.ID, r.PathValue("tokenId")); err != nil {
		return err
	}
	s.auth.Forget(u.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) adminMigrationStatus(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.opts.Sources.Lifecycle.List(r.Context(), &datasource.ListTenantsParams{Status: []datasource.Status{datasource.StatusActive, datasource.StatusDisabled}})
	if err != nil {
		return err
	}
	type st struct {
		Tenant  string `json:"tenant"`
		Current int64  `json:"current"`
		Latest  int64  `json:"latest"`
		Error   string `json:"error,omitempty"`
	}
	out := []st{}
	for _, t := range ts {
		cur, latest, err := s.opts.Sources.Lifecycle.MigrationStatus(r.Context(), t.ID)
		x := st{Tenant: t.ID, Current: cur, Latest: latest}
		if err != nil {
			x.Error = "storage unreachable"
		}
		out = append(out, x)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// adminMigrateAll migrates every tenant and streams one JSON line per
// tenant as it finishes (the console shows them as progress), then a
// summary line.
func (s *Server) adminMigrateAll(w http.ResponseWriter, r *http.Request) error {
	// Migrating thousands of tenants takes longer than any write timeout:
	// the progress stream sets none.
	rc := streaming(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := newLineEncoder(w)
	note(r).tenants = []string{""}
	report, err := s.opts.Sources.Lifecycle.MigrateAll(r.Context(), &datasource.MigrateAllParams{Parallel: 4,
		Progress: func(done, total int, m datasource.TenantMigration) {
			_ = enc.line(map[string]any{"done": done, "total": total, "tenant": m.Tenant, "from": m.From, "to": m.To, "error": m.Error})
			_ = rc.Flush()
		}})
	failed := 0
	for _, m := range report {
		if m.Err != nil {
			failed++
		}
	}
	summary := map[string]any{"finished": true, "tenants": len(report), "failed": failed}
	if err != nil {
		summary["error"] = "migration could not start"
	}
	return enc.line(summary)
}

func (s *Server) adminNode(w http.ResponseWriter, r *http.Request) error {
	out := map[string]any{
		"nodeId":           s.opts.Sources.Config.NodeID,
		"defaultPlacement": s.opts.Sources.Config.DefaultPlacement,
		"primary":          s.opts.Sources.Registry.Health(),
		"pools":            s.opts.Sources.Tenants.Stats(),
		"version":          CamundaVersion,
		"executor":         nil,
	}
	if s.opts.Stats != nil {
		for k, v := range s.opts.Stats() {
			out[k] = v
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
