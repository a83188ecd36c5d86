package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/security"
)

// routeKey carries the route a request came in by, so a long-running
// response can check its caller's access again the way the request was
// first checked.
type routeKey struct{}

func withRoute(ctx context.Context, rt route) context.Context {
	return context.WithValue(ctx, routeKey{}, rt)
}

// lostAccess reports whether err means the caller no longer has access
// (as opposed to the directory being unreachable for a moment).
func lostAccess(err error) bool {
	return errors.Is(err, security.ErrUnauthenticated) || errors.Is(err, security.ErrForbidden) ||
		errors.Is(err, security.ErrNoMembership) || errors.Is(err, security.ErrTooManyAttempts) ||
		errors.Is(err, datasource.ErrTenantDisabled) || errors.Is(err, datasource.ErrUnknownTenant)
}

// watchAccess checks, while a response stays open (an event stream, a
// waiting long poll), that its caller still has the access the request was
// let in with: every Limits.AccessRecheck, and at once when a signal says
// the caller's account, memberships or tenant changed on any node. The
// returned channel is closed when access is lost; stop ends the watch.
func (s *Server) watchAccess(r *http.Request) (lost <-chan struct{}, stop func()) {
	out := make(chan struct{})
	rt, ok := r.Context().Value(routeKey{}).(route)
	p := principal(r)
	if !ok || p == nil || s.opts.Sources == nil {
		return out, func() {}
	}
	wake := make(chan struct{}, 1)
	poke := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	sig := s.opts.Sources.Signals
	unsubUser := sig.Subscribe(datasource.TopicUser, func(sg datasource.Signal) {
		id, _, _ := strings.Cut(sg.Key, ":")
		if sg.All || id == "" || id == p.UserID {
			poke()
		}
	})
	unsubTenant := sig.Subscribe(datasource.TopicTenant, func(sg datasource.Signal) {
		if sg.All || sg.Tenant == p.Tenant {
			poke()
		}
	})
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(s.opts.Limits.AccessRecheck)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-r.Context().Done():
				return
			case <-t.C:
			case <-wake:
				// The signal's own invalidation may not have run yet
				// (subscribers run in no particular order): make sure the
				// check reads the change.
				s.opts.Sources.Registry.InvalidateUser(p.UserID, p.Login)
				if p.Tenant != "" {
					s.opts.Sources.Registry.InvalidateTenant(p.Tenant)
				}
			}
			if err := s.recheck(r, rt, p); err != nil && lostAccess(err) {
				s.log.Info("access lost; ending the open response", "route", rt.path, "user", p.Login, "tenant", p.Tenant, "reason", err)
				close(out)
				return
			}
		}
	}()
	var once func()
	once = func() {
		unsubUser()
		unsubTenant()
		close(done)
		<-finished
		once = func() {}
	}
	return out, func() { once() }
}

// recheck authorizes r again as wrap did, and checks that it still acts
// in the same tenant as the same user.
func (s *Server) recheck(r *http.Request, rt route, was *security.Principal) error {
	p, err := s.authorize(r, rt)
	if err != nil {
		return err
	}
	if p.UserID != was.UserID || p.Tenant != was.Tenant {
		return security.ErrForbidden
	}
	if rt.scope == scopeTenant {
		t, err := s.opts.Sources.Registry.Tenant(r.Context(), p.Tenant)
		if err != nil {
			return err
		}
		if !t.Active() {
			return datasource.ErrTenantDisabled
		}
	}
	return nil
}
