package datasource_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/security"
)

var creationSteps = []string{datasource.StepRegistered, datasource.StepStorageCreated, datasource.StepMigrated, datasource.StepActivated}

// reopen opens a second Sources over the same primary and data directory,
// as a restarted node would.
func reopen(t *testing.T, env *dstest.Env) *datasource.Sources {
	t.Helper()
	cfg := env.Sources.Config
	src, err := datasource.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// assertUsable checks that a tenant is active and its storage migrated and
// writable.
func assertUsable(t *testing.T, src *datasource.Sources, id string) {
	t.Helper()
	tn, err := src.Lifecycle.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if tn.Status != datasource.StatusActive {
		t.Fatalf("tenant %s is %s, want active", id, tn.Status)
	}
	ctx := security.WithTenant(context.Background(), id)
	if err := src.Tenants.InTx(ctx, func(tx *datasource.Tx) error {
		_, err := tx.Exec(`UPDATE tf_id_block SET next_id = next_id WHERE name = 'default'`)
		return err
	}); err != nil {
		t.Fatalf("tenant %s storage: %v", id, err)
	}
	list, err := src.Lifecycle.List(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range list {
		if l.ID == id {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("tenant %s registered %d times", id, n)
	}
}

func TestCreationResumesAfterACrashBetweenAnyTwoSteps(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, nil)
		for i, step := range creationSteps {
			id := fmt.Sprintf("crash%d", i)
			crashed := errors.New("crash after " + step)
			first := reopen(t, env)
			datasource.SetCreateStepHook(first.Lifecycle, func(s string) error {
				if s == step {
					return crashed
				}
				return nil
			})
			if _, err := first.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: id}); !errors.Is(err, crashed) {
				t.Fatalf("step %s: first attempt returned %v", step, err)
			}
			first.Close()
			// A restarted node retries with the same request.
			retry := reopen(t, env)
			if _, err := retry.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: id}); err != nil {
				t.Fatalf("retry after crash at %s: %v", step, err)
			}
			assertUsable(t, retry, id)
		}
	})
}

// TestHelperProcessCreatesTenant is not a test: the kill -9 test runs the
// test binary as a child that creates a tenant and stops dead at a step.
func TestHelperProcessCreatesTenant(t *testing.T) {
	if os.Getenv("TF_HELPER_CREATE") == "" {
		return
	}
	cfg := datasource.Config{PrimaryURL: os.Getenv("TF_PRIMARY"), DataDir: os.Getenv("TF_DATA"), Logger: dstest.Quiet()}
	src, err := datasource.Open(context.Background(), cfg)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	stop := os.Getenv("TF_STOP_AT")
	datasource.SetCreateStepHook(src.Lifecycle, func(s string) error {
		if s == stop {
			fmt.Println("reached", s)
			select {} // wait here for SIGKILL
		}
		return nil
	})
	_, err = src.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: os.Getenv("TF_TENANT")})
	fmt.Println("finished", err)
	os.Exit(3)
}

func TestCreationResumesAfterKill9OfAnotherProcess(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, nil)
		for i, step := range creationSteps {
			id := fmt.Sprintf("killed%d", i)
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessCreatesTenant$", "-test.count=1")
			cmd.Env = append(os.Environ(), "TF_HELPER_CREATE=1", "TF_PRIMARY="+env.URL, "TF_DATA="+env.Dir,
				"TF_STOP_AT="+step, "TF_TENANT="+id)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(out).ReadString('\n')
			if err != nil || strings.TrimSpace(line) != "reached "+step {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("child did not stop at %s: %q %v", step, line, err)
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if _, err := env.Sources.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: id}); err != nil {
				t.Fatalf("retry after kill -9 at %s: %v", step, err)
			}
			assertUsable(t, env.Sources, id)
		}
	})
}

func TestMaliciousTenantIDsAreRejectedAndCreateNothing(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, nil)
		bad := []string{"a;drop", "../x", "PUBLIC", "pg_x", strings.Repeat("a", 200), "tenänt", "a b", "a\x00b",
			"x\"; DROP SCHEMA public CASCADE; --", "", "a", "1abc", "_abc", "public", "sqlite_master", "a/b", `a\b`}
		for _, id := range bad {
			_, err := env.Sources.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: id})
			if !errors.Is(err, datasource.ErrInvalidTenantID) {
				t.Errorf("ID %q: got %v, want ErrInvalidTenantID", id, err)
				continue
			}
			// The message says what rule was broken and what is allowed.
			if !strings.Contains(err.Error(), "lowercase letter") {
				t.Errorf("ID %q: unhelpful message %q", id, err)
			}
		}
		list, err := env.Sources.Lifecycle.List(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 0 {
			t.Fatalf("tenants registered: %v", list)
		}
		if files, _ := filepath.Glob(filepath.Join(env.Dir, "tenants", "*")); len(files) != 0 {
			t.Fatalf("files created: %v", files)
		}
		if kind == dstest.Postgres {
			var n int
			if err := dstest.OpenSQL(t, env.URL).QueryRow(`SELECT COUNT(*) FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\_%'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("%d schemas created", n)
			}
		}
	})
}

func TestCreateIsIdempotentAndRefusesAConflictingPlacement(t *testing.T) {
	t.Parallel()
	env := dstest.Open(t, dstest.Postgres, nil)
	first, err := env.Sources.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: "acme", DisplayName: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := env.Sources.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: "acme", DisplayName: "Acme"})
	if err != nil || again.CreatedAt != first.CreatedAt {
		t.Fatalf("second create: %v %+v", err, again)
	}
	_, err = env.Sources.Lifecycle.Create(context.Background(), &datasource.CreateTenantParams{ID: "acme", Placement: datasource.PlacementSQLite})
	if !errors.Is(err, datasource.ErrConflict) || !strings.Contains(err.Error(), "pg-schema") {
		t.Fatalf("conflicting placement: %v", err)
	}
}

func TestDropStopsTheTenantBeforeRemovingItsStorage(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, &dstest.Options{Config: datasource.Config{DrainWait: time.Minute}})
		ctx := env.Tenant(t, "acme")
		createNotes(t, env.Sources.Tenants, ctx)
		var order []string
		env.Sources.Lifecycle.OnDisable(func(ctx context.Context, id string) error { order = append(order, "disable:"+id); return nil })
		env.Sources.Lifecycle.OnDrop(func(ctx context.Context, id string) error { order = append(order, "drop:"+id); return nil })

		done := make(chan error, 1)
		var res *datasource.DropResult
		go func() {
			var err error
			res, err = env.Sources.Lifecycle.Drop(context.Background(), "acme", datasource.DropOptions{RemoveStorage: true})
			done <- err
		}()
		// Drop waits for the drain period on the injected clock; meanwhile
		// the tenant is not served.
		env.Clock.BlockUntilContext(context.Background(), 1)
		if err := env.Sources.Tenants.InTx(ctx, func(*datasource.Tx) error { return nil }); !errors.Is(err, datasource.ErrTenantDisabled) {
			t.Fatalf("tenant served while dropping: %v", err)
		}
		tn, err := env.Sources.Lifecycle.Get(context.Background(), "acme")
		if err != nil || tn.Status != datasource.StatusDropping {
			t.Fatalf("while draining: %v %+v", err, tn)
		}
		env.Clock.Advance(time.Minute)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(order, ","); got != "disable:acme,drop:acme" {
			t.Fatalf("hooks ran as %s", got)
		}
		if !res.StorageRemoved {
			t.Fatalf("storage not removed: %+v", res)
		}
		if _, err := env.Sources.Lifecycle.Get(context.Background(), "acme"); !errors.Is(err, datasource.ErrUnknownTenant) {
			t.Fatalf("after drop: %v", err)
		}
		if kind == dstest.SQLite {
			if _, err := os.Stat(filepath.Join(env.Dir, "tenants", "acme.db")); !os.IsNotExist(err) {
				t.Fatalf("file still there: %v", err)
			}
		} else {
			var n int
			dstest.OpenSQL(t, env.URL).QueryRow(`SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'tenant_acme'`).Scan(&n)
			if n != 0 {
				t.Fatal("schema still there")
			}
		}
	})
}

func TestMigrateAllReportsEachTenantAndGoesOnPastAFailure(t *testing.T) {
	t.Parallel()
	env := dstest.Open(t, dstest.Postgres, nil)
	for _, id := range []string{"aa", "bb", "cc"} {
		env.Tenant(t, id)
	}
	// Break bb: its schema disappears.
	if _, err := dstest.OpenSQL(t, env.URL).Exec(`DROP SCHEMA tenant_bb CASCADE`); err != nil {
		t.Fatal(err)
	}
	var progress []string
	report, err := env.Sources.Lifecycle.MigrateAll(context.Background(), &datasource.MigrateAllParams{
		Parallel: 2,
		Progress: func(done, total int, r datasource.TenantMigration) {
			progress = append(progress, fmt.Sprintf("%d/%d", done, total))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(report) != 3 || len(progress) != 3 || progress[2] != "3/3" {
		t.Fatalf("report %+v progress %v", report, progress)
	}
	for _, r := range report {
		switch r.Tenant {
		case "bb":
			if r.Err == nil || !errors.Is(r.Err, datasource.ErrSchemaMismatch) {
				t.Fatalf("bb: %+v", r)
			}
		default:
			if r.Err != nil || r.To == 0 {
				t.Fatalf("%s: %+v", r.Tenant, r)
			}
		}
	}
}
