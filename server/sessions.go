package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/security"
)

// The admin console signs in with the same users as the API and keeps a
// session cookie: HttpOnly, SameSite=Strict, Secure behind TLS. The cookie
// holds a random secret; the server keeps the session (under a hash of the
// secret) in the primary, so any node can check it and a logout, a
// password change or the user's deletion ends it on every node (within the
// registry TTL, at once where signals arrive). State-changing requests made
// with it must carry the session's CSRF token in X-CSRF-Token, derived
// from the secret (so it needs no storage of its own).

const (
	sessionCookie = "tenantflow_session"
	sessionTTL    = 8 * time.Hour
	csrfHeader    = "X-CSRF-Token"
)

// sessionHash is the stored form of a session secret.
func sessionHash(secret string) string {
	sum := sha256.Sum256([]byte("tenantflow-session\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// sessionCSRF is the CSRF token of a session secret.
func sessionCSRF(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("csrf"))
	return hex.EncodeToString(m.Sum(nil))
}

// issueSession stores a new session for acct and returns its cookie value
// and CSRF token.
func (s *Server) issueSession(ctx context.Context, acct *security.Account, address string) (value, csrf string, err error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	err = s.opts.Sources.Primary.CreateSession(ctx, &datasource.Session{IDHash: sessionHash(secret), UserID: acct.UserID,
		AuthEpoch: acct.AuthEpoch, ExpiresAt: time.Now().Add(sessionTTL), Address: address})
	if err != nil {
		return "", "", err
	}
	return secret, sessionCSRF(secret), nil
}

// checkSession returns the account and CSRF token of a live session, or
// errSessionEnded (expired, logged out, or the user's password changed or
// the user is gone), or a directory failure.
func (s *Server) checkSession(ctx context.Context, value string) (*security.Account, string, error) {
	if value == "" || len(value) > 100 {
		return nil, "", errSessionEnded
	}
	sess, err := s.opts.Sources.Registry.Session(ctx, sessionHash(value))
	if errors.Is(err, datasource.ErrNotFound) {
		return nil, "", errSessionEnded
	}
	if err != nil {
		return nil, "", err
	}
	if !time.Now().Before(sess.ExpiresAt) {
		return nil, "", errSessionEnded
	}
	acct, err := s.opts.Sources.Directory().AccountByID(ctx, sess.UserID)
	if errors.Is(err, security.ErrUnknownAccount) {
		return nil, "", errSessionEnded
	}
	if err != nil {
		return nil, "", err
	}
	if acct.AuthEpoch != sess.AuthEpoch {
		return nil, "", errSessionEnded
	}
	return acct, sessionCSRF(value), nil
}

// errSessionEnded is a session cookie that no longer signs anyone in. Its
// 401 carries no WWW-Authenticate challenge: the console asks for the login
// itself, and a Basic challenge would make the browser pop up its own.
var errSessionEnded = fmt.Errorf("%w: the console session has ended; sign in again", security.ErrUnauthenticated)

// sessionPrincipal authenticates a request by its session cookie, checking
// the CSRF token on anything but reads.
func (s *Server) sessionPrincipal(r *http.Request, value string) (*security.Principal, error) {
	acct, csrf, err := s.checkSession(r.Context(), value)
	if err != nil {
		return nil, err
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(csrf)) != 1 {
			return nil, fmt.Errorf("%w: a change made with the console's session needs its %s header; reload the console", security.ErrForbidden, csrfHeader)
		}
	}
	return &security.Principal{UserID: acct.UserID, Login: acct.Login, TenantManager: acct.TenantManager}, nil
}
