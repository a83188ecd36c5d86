package datasource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Session is a console session kept on the server. Only a hash of its
// secret is stored; it is valid until ExpiresAt while its user's auth epoch
// is still AuthEpoch.
type Session struct {
	IDHash    string    `db:"id_hash"`
	UserID    string    `db:"user_id"`
	AuthEpoch int64     `db:"auth_epoch"`
	CreatedAt time.Time `db:"-"`
	ExpiresAt time.Time `db:"-"`
	Address   string    `db:"address"`
}

type sessionRow struct {
	Session
	CreatedMS int64 `db:"created_at"`
	ExpiresMS int64 `db:"expires_at"`
}

// CreateSession stores a new session. Expired sessions of the user are
// removed on the way.
func (p *Primary) CreateSession(ctx context.Context, s *Session) error {
	now := p.now()
	if _, err := p.w.ExecContext(ctx, `DELETE FROM tf_session WHERE user_id = $1 AND expires_at < $2`, s.UserID, now); err != nil {
		return err
	}
	_, err := p.w.ExecContext(ctx, `INSERT INTO tf_session (id_hash, user_id, auth_epoch, created_at, expires_at, address)
		VALUES ($1, $2, $3, $4, $5, $6)`, s.IDHash, s.UserID, s.AuthEpoch, now, ms(s.ExpiresAt), s.Address)
	if err != nil {
		return interpretError(err)
	}
	s.CreatedAt = fromMS(now)
	return nil
}

// SessionByHash reads a session. Errors: ErrNotFound.
func (p *Primary) SessionByHash(ctx context.Context, hash string) (*Session, error) {
	var r sessionRow
	err := p.r.GetContext(ctx, &r, `SELECT id_hash, user_id, auth_epoch, created_at, expires_at, address FROM tf_session WHERE id_hash = $1`, hash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: session", ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	out := r.Session
	out.CreatedAt, out.ExpiresAt = fromMS(r.CreatedMS), fromMS(r.ExpiresMS)
	return &out, nil
}

// DeleteSession ends one session on every node: at once on this one and
// where signals arrive, within the registry TTL elsewhere.
func (p *Primary) DeleteSession(ctx context.Context, hash string) error {
	if _, err := p.w.ExecContext(ctx, `DELETE FROM tf_session WHERE id_hash = $1`, hash); err != nil {
		return err
	}
	if p.onChange != nil {
		p.onChange(Signal{Topic: TopicSession, Key: hash})
	}
	return nil
}

// Session returns a console session through the registry's cache.
// Errors: ErrNotFound, ErrPrimaryUnavailable.
func (r *Registry) Session(ctx context.Context, hash string) (*Session, error) {
	return lookup(ctx, r, r.sessions, hash, (*Primary).SessionByHash)
}

// InvalidateSession drops a cached session on this node.
func (r *Registry) InvalidateSession(hash string) { invalidate(r, r.sessions, hash) }
