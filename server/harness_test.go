package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// api is a server over a fresh datasource, behind a real HTTP listener.
type api struct {
	t      testing.TB
	env    *dstest.Env
	eng    *engine.Engine
	srv    *Server
	http   *httptest.Server
	client *http.Client
}

// password is every test account's password.
const password = "correct horse"

// newAPI starts a server with tenants, each with an admin, a user and a
// reader account (login <role>_<tenant>), plus the tenant manager "boss".
func newAPI(t testing.TB, kind dstest.Kind, tenants ...string) *api {
	t.Helper()
	return newAPIWith(t, kind, nil, tenants...)
}

// newAPIWith is newAPI with options changed by opts before the server is
// built.
func newAPIWith(t testing.TB, kind dstest.Kind, opts func(*Options), tenants ...string) *api {
	t.Helper()
	env := dstest.Open(t, kind, &dstest.Options{RealClock: true})
	eng, err := engine.New(env.Sources, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Sources: env.Sources, Engine: eng, Logger: dstest.Quiet()}
	if opts != nil {
		opts(&o)
	}
	srv := New(o)
	hs := httptest.NewUnstartedServer(srv)
	srv.ConfigureHTTP(hs.Config)
	hs.Start()
	t.Cleanup(func() { srv.Close(); hs.Close() })
	a := &api{t: t, env: env, eng: eng, srv: srv, http: hs, client: &http.Client{Timeout: 60 * time.Second}}
	ctx := context.Background()
	p := env.Sources.Primary
	if _, err := p.CreateUser(ctx, &datasource.CreateUserParams{Login: "boss", Password: password, TenantManager: true}); err != nil {
		t.Fatal(err)
	}
	for _, tn := range tenants {
		env.Tenant(t, tn)
		for _, role := range []security.Role{security.RoleAdmin, security.RoleUser, security.RoleReader} {
			u, err := p.CreateUser(ctx, &datasource.CreateUserParams{Login: string(role) + "_" + tn, Password: password})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Grant(ctx, u.ID, tn, role); err != nil {
				t.Fatal(err)
			}
		}
	}
	return a
}

// res is an HTTP response, read.
type res struct {
	status int
	header http.Header
	body   []byte
}

func (r res) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("response %d %s is not the expected JSON: %v", r.status, r.body, err)
	}
}

// do sends a request as login (empty: no credentials) with a JSON body.
func (a *api) do(method, path, login string, body any, header ...string) res {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.http.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if login != "" {
		req.SetBasicAuth(login, password)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return res{resp.StatusCode, resp.Header, b}
}

// deploy deploys an engine testdata file through the REST API.
func (a *api) deploy(login, file string) res {
	a.t.Helper()
	return a.deployFile(login, filepath.Join("..", "engine", "testdata", file))
}

// deployFile deploys a file through the REST API, named by its base name
// behind an absolute path, as modelling tools send it.
func (a *api) deployFile(login, path string) res {
	a.t.Helper()
	file := filepath.Base(path)
	content, err := os.ReadFile(path)
	if err != nil {
		a.t.Fatal(err)
	}
	var buf bytes.Buffer
	boundary := "tfboundary"
	w := func(s string) { buf.WriteString(s) }
	w("--" + boundary + "\r\nContent-Disposition: form-data; name=\"deployment-name\"\r\n\r\ntest\r\n")
	w("--" + boundary + "\r\nContent-Disposition: form-data; name=\"data\"; filename=\"/home/modeler/" + file + "\"\r\n")
	w("Content-Type: application/octet-stream\r\n\r\n")
	buf.Write(content)
	w("\r\n--" + boundary + "--\r\n")
	req, _ := http.NewRequest("POST", a.http.URL+"/engine-rest/deployment/create", &buf)
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	req.SetBasicAuth(login, password)
	resp, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return res{resp.StatusCode, resp.Header, b}
}

// fillPath replaces a route's wildcards with sample values.
func fillPath(p string, vals map[string]string) string {
	for {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			return p
		}
		j := strings.IndexByte(p[i:], '}')
		name := p[i+1 : i+j]
		v, ok := vals[name]
		if !ok {
			v = "1"
		}
		p = p[:i] + v + p[i+j+1:]
	}
}

func roleRank(r security.Role) int {
	switch r {
	case security.RoleReader:
		return 1
	case security.RoleUser:
		return 2
	case security.RoleAdmin:
		return 3
	}
	return 0
}

// ServiceTaskAlias keeps test handlers short.
type ServiceTaskAlias = engine.ServiceTask

func runtimeGosched() { runtime.Gosched() }
