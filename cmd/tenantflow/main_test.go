package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
)

// runCLI runs a command line in-process and returns exit code and output.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	code := run(context.Background(), args, c)
	return code, out.String(), errb.String()
}

func TestTenantRoundTripThroughTheCLI(t *testing.T) {
	for _, kind := range dstest.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			env := map[string]string{"TENANTFLOW_DATA_DIR": t.TempDir(), "TENANTFLOW_DRAIN_WAIT": "1ms"}
			if kind == dstest.Postgres {
				env["TENANTFLOW_PRIMARY_URL"] = dstest.CreateDatabase(t)
			}
			if code, out, errs := runCLI(t, env, "", "tenant", "create", "acme", "--name", "Acme Inc"); code != 0 || !strings.Contains(out, "tenant acme created") {
				t.Fatalf("create: %d %q %q", code, out, errs)
			}
			code, out, _ := runCLI(t, env, "", "tenant", "list")
			if code != 0 || !strings.Contains(out, "acme") || !strings.Contains(out, "Acme Inc") || !strings.Contains(out, "active") {
				t.Fatalf("list: %d %q", code, out)
			}
			for _, step := range [][]string{{"disable", "disabled"}, {"enable", "enabled"}} {
				if code, out, errs := runCLI(t, env, "", "tenant", step[0], "acme"); code != 0 || !strings.Contains(out, step[1]) {
					t.Fatalf("%s: %d %q %q", step[0], code, out, errs)
				}
			}
			// Dropping without --yes refuses and changes nothing.
			code, _, errs := runCLI(t, env, "", "tenant", "drop", "acme")
			if code != 2 || !strings.Contains(errs, "--yes") {
				t.Fatalf("drop without --yes: %d %q", code, errs)
			}
			if _, out, _ := runCLI(t, env, "", "tenant", "show", "acme"); !strings.Contains(out, "active") {
				t.Fatalf("tenant changed by a refused drop: %q", out)
			}
			if code, out, errs := runCLI(t, env, "", "tenant", "drop", "acme", "--yes", "--remove-storage"); code != 0 || !strings.Contains(out, "removed") {
				t.Fatalf("drop: %d %q %q", code, out, errs)
			}
			if _, out, _ := runCLI(t, env, "", "tenant", "list"); strings.Contains(out, "acme") {
				t.Fatalf("dropped tenant still listed: %q", out)
			}
		})
	}
}

func TestBadTenantIDsAreExplained(t *testing.T) {
	env := map[string]string{"TENANTFLOW_DATA_DIR": t.TempDir()}
	code, _, errs := runCLI(t, env, "", "tenant", "create", "../x")
	if code != 1 || !strings.Contains(errs, `"../x"`) || !strings.Contains(errs, "must start with a lowercase letter") {
		t.Fatalf("%d %q", code, errs)
	}
	if code, _, errs := runCLI(t, env, "", "tenat"); code != 2 || !strings.Contains(errs, "tenantflow help") {
		t.Fatalf("unknown command: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, map[string]string{"TENANTFLOW_MAX_POOLS": "many"}, "", "tenant", "list"); code != 2 || !strings.Contains(errs, "TENANTFLOW_MAX_POOLS") {
		t.Fatalf("bad env: %d %q", code, errs)
	}
}

func TestUsersGrantsAndTokensWithoutEchoingSecrets(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"TENANTFLOW_DATA_DIR": dir, "PW": "s3cret-passw0rd"}
	runCLI(t, env, "", "tenant", "create", "acme")
	var all strings.Builder
	for _, cmd := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"user", "create", "ann", "--password-env", "PW"}},
		{"piped-passw0rd\n", []string{"user", "create", "bob"}},
		{"", []string{"user", "grant", "ann", "acme", "admin"}},
		{"", []string{"group", "create", "acme", "sales"}},
		{"", []string{"group", "add", "acme", "sales", "ann"}},
	} {
		code, out, errs := runCLI(t, env, cmd.stdin, cmd.args...)
		if code != 0 {
			t.Fatalf("%v: %d %q %q", cmd.args, code, out, errs)
		}
		all.WriteString(out + errs)
	}
	code, tok, errs := runCLI(t, env, "", "user", "token", "create", "ann", "--name", "ci")
	if code != 0 || !strings.HasPrefix(tok, "tf_") {
		t.Fatalf("token: %d %q %q", code, tok, errs)
	}
	src, err := datasource.Open(context.Background(), datasource.Config{DataDir: dir, Logger: dstest.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Primary.TokenByHash(context.Background(), datasource.HashToken(strings.TrimSpace(tok))); err != nil {
		t.Fatalf("printed token is not stored: %v", err)
	}
	if u, err := src.Primary.UserByLogin(context.Background(), "bob"); err != nil || u.PasswordHash == "" {
		t.Fatalf("piped password: %v", err)
	}
	for _, secret := range []string{"s3cret-passw0rd", "piped-passw0rd"} {
		if strings.Contains(all.String(), secret) {
			t.Fatalf("output shows a password: %q", all.String())
		}
	}
	if code, _, errs := runCLI(t, env, "", "user", "grant", "ann", "acme", "root"); code != 2 || !strings.Contains(errs, "admin") {
		t.Fatalf("bad role: %d %q", code, errs)
	}
}

// startServe runs serve in-process and returns its address and a stop
// function that waits for it to end.
func startServe(t *testing.T, env map[string]string) (string, *bytes.Buffer, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	var errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &errb, getenv: func(k string) string { return env[k] }, serveReady: ready}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, c) }()
	select {
	case addr := <-ready:
		return addr, &errb, func() int { cancel(); return <-done }
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d: %s", code, errb.String())
	}
	return "", nil, nil
}

func TestFirstServeCreatesTheAdminPasswordFileOnce(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"TENANTFLOW_DATA_DIR": dir}
	addr, logs, stop := startServe(t, env)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d: %s", code, logs)
	}
	file := filepath.Join(dir, "initial-admin-password")
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", st, err)
	}
	pw, _ := os.ReadFile(file)
	if !strings.Contains(logs.String(), file) || strings.Contains(logs.String(), strings.TrimSpace(string(pw))) {
		t.Fatalf("logs must name the file and not the password: %q", logs)
	}
	_, logs2, stop2 := startServe(t, env)
	stop2()
	again, _ := os.ReadFile(file)
	if string(again) != string(pw) || strings.Contains(logs2.String(), "created the tenant-manager") {
		t.Fatal("second start changed the admin password file or created another account")
	}
}

func TestReadyzIs503WhenThePrimaryIsUnreachable(t *testing.T) {
	dstest.RequirePostgres(t)
	proxy, url := dstest.NewProxy(t, dstest.CreateDatabase(t))
	env := map[string]string{"TENANTFLOW_DATA_DIR": t.TempDir(), "TENANTFLOW_PRIMARY_URL": url, "TENANTFLOW_ADMIN_PASSWORD": "correct horse battery"}
	addr, _, stop := startServe(t, env)
	defer stop()
	proxy.Stop()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusServiceUnavailable || body["reason"] == nil {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	if strings.Contains(body["reason"].(string), "postgres://") {
		t.Fatalf("reason shows the DSN: %v", body)
	}
}
