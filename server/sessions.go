package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/security"
)

// The admin console signs in with the same users as the API and keeps a
// session cookie: HttpOnly, SameSite=Strict, Secure behind TLS. The cookie
// is signed, not stored, so any node can check it; state-changing requests
// made with it must carry the session's CSRF token in X-CSRF-Token.

const (
	sessionCookie = "tenantflow_session"
	sessionTTL    = 8 * time.Hour
	csrfHeader    = "X-CSRF-Token"
)

type sessions struct {
	key []byte
}

// newSessions makes a random signing key: sessions end with the process,
// and a console user behind several nodes needs sticky sessions.
func newSessions() *sessions {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return &sessions{key: key}
}

func (ss *sessions) mac(parts ...string) string {
	m := hmac.New(sha256.New, ss.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// issue returns a cookie value for a user and its CSRF token.
func (ss *sessions) issue(userID string, now time.Time) (value, csrf string) {
	var nonce [12]byte
	_, _ = rand.Read(nonce[:])
	n := base64.RawURLEncoding.EncodeToString(nonce[:])
	exp := strconv.FormatInt(now.Add(sessionTTL).Unix(), 10)
	payload := userID + "." + exp + "." + n
	return payload + "." + ss.mac("session", payload), ss.mac("csrf", payload)
}

// check returns the user ID and CSRF token of a valid cookie value.
func (ss *sessions) check(value string, now time.Time) (userID, csrf string, ok bool) {
	i := strings.LastIndexByte(value, '.')
	if i < 0 {
		return "", "", false
	}
	payload, sig := value[:i], value[i+1:]
	if subtle.ConstantTimeCompare([]byte(sig), []byte(ss.mac("session", payload))) != 1 {
		return "", "", false
	}
	parts := strings.Split(payload, ".")
	if len(parts) != 3 {
		return "", "", false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || now.Unix() > exp {
		return "", "", false
	}
	return parts[0], ss.mac("csrf", payload), true
}

// errSessionEnded is a session cookie that no longer signs anyone in. Its
// 401 carries no WWW-Authenticate challenge: the console asks for the login
// itself, and a Basic challenge would make the browser pop up its own.
var errSessionEnded = fmt.Errorf("%w: the console session has ended; sign in again", security.ErrUnauthenticated)

// sessionPrincipal authenticates a request by its session cookie, checking
// the CSRF token on anything but reads.
func (s *Server) sessionPrincipal(r *http.Request, value string) (*security.Principal, error) {
	userID, csrf, ok := s.session.check(value, time.Now())
	if !ok {
		return nil, errSessionEnded
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(csrf)) != 1 {
			return nil, fmt.Errorf("%w: a change made with the console's session needs its %s header; reload the console", security.ErrForbidden, csrfHeader)
		}
	}
	acct, err := s.opts.Sources.Directory().AccountByID(r.Context(), userID)
	if err != nil {
		return nil, errSessionEnded
	}
	return &security.Principal{UserID: acct.UserID, Login: acct.Login, TenantManager: acct.TenantManager}, nil
}
