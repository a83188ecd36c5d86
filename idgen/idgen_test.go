package idgen_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/idgen"
	"github.com/tenantflow/tenantflow/security"
)

const perProcess = 50_000 // two processes: 100,000 IDs per tenant

// drawIDs draws n IDs for the tenant in ctx from 8 goroutines.
func drawIDs(ctx context.Context, g *idgen.Generator, n int) ([]int64, error) {
	var mu sync.Mutex
	var out []int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ids := make([]int64, 0, n/8+1)
			for i := w; i < n; i += 8 {
				id, err := g.Next(ctx)
				if err != nil {
					errs <- err
					return
				}
				ids = append(ids, id)
			}
			mu.Lock()
			out = append(out, ids...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	close(errs)
	return out, <-errs
}

// TestHelperProcessDrawsIDs is not a test: the cross-process test runs the
// test binary as a child that draws IDs and prints them.
func TestHelperProcessDrawsIDs(t *testing.T) {
	if os.Getenv("TF_HELPER_IDS") == "" {
		return
	}
	src, err := datasource.Open(context.Background(), datasource.Config{
		PrimaryURL: os.Getenv("TF_PRIMARY"), DataDir: os.Getenv("TF_DATA"), Logger: dstest.Quiet()})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	defer src.Close()
	g := idgen.New(src.Tenants, 500) // small blocks: refills from both processes race
	w := bufio.NewWriter(os.Stdout)
	for _, tenant := range []string{"alpha", "beta"} {
		ids, err := drawIDs(security.WithTenant(context.Background(), tenant), g, perProcess)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		for _, id := range ids {
			fmt.Fprintf(w, "%s %d\n", tenant, id)
		}
	}
	w.Flush()
	os.Exit(0)
}

func TestTwoProcessesNeverDrawTheSameIDForATenant(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, nil)
		env.Tenant(t, "alpha")
		env.Tenant(t, "beta")
		var procs []*exec.Cmd
		var outs []*bufio.Scanner
		for p := 0; p < 2; p++ {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessDrawsIDs$", "-test.count=1")
			cmd.Env = append(os.Environ(), "TF_HELPER_IDS=1", "TF_PRIMARY="+env.URL, "TF_DATA="+env.Dir)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			procs = append(procs, cmd)
			outs = append(outs, bufio.NewScanner(out))
		}
		seen := map[string]map[int64]bool{"alpha": {}, "beta": {}}
		for i, sc := range outs {
			n := 0
			for sc.Scan() {
				var tenant string
				var id int64
				if _, err := fmt.Sscanf(sc.Text(), "%s %d", &tenant, &id); err != nil {
					t.Fatalf("process %d: %q", i, sc.Text())
				}
				if seen[tenant][id] {
					t.Fatalf("tenant %s: ID %d drawn twice", tenant, id)
				}
				seen[tenant][id] = true
				n++
			}
			if err := procs[i].Wait(); err != nil {
				t.Fatalf("process %d: %v", i, err)
			}
			if n != 2*perProcess {
				t.Fatalf("process %d drew %d IDs, want %d", i, n, 2*perProcess)
			}
		}
		for tenant, ids := range seen {
			if len(ids) != 2*perProcess {
				t.Fatalf("tenant %s: %d distinct IDs, want %d", tenant, len(ids), 2*perProcess)
			}
		}
	})
}

func TestBlocksAreNeverSharedBetweenTenants(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, nil)
		a, b := env.Tenant(t, "alpha"), env.Tenant(t, "beta")
		g := idgen.New(env.Sources.Tenants, 10)
		// Alpha draws 25 IDs (three refills of its own counter)...
		for i := 0; i < 25; i++ {
			if _, err := g.Next(a); err != nil {
				t.Fatal(err)
			}
		}
		// ...which leaves beta's counter untouched: its first ID is 1.
		id, err := g.Next(b)
		if err != nil || id != 1 {
			t.Fatalf("beta's first ID: %d %v, want 1", id, err)
		}
		if got := g.Available("beta"); got != 9 {
			t.Fatalf("beta holds %d IDs, want 9", got)
		}
		if _, ok := g.TryNext("gamma"); ok {
			t.Fatal("an unknown tenant got an ID without a refill")
		}
		if _, err := g.Next(context.Background()); err == nil {
			t.Fatal("Next without a tenant succeeded")
		}
	})
}

func TestEnsureThenTryNextNeedsNoIOInsideATransaction(t *testing.T) {
	dstest.ForEachKind(t, func(t *testing.T, kind dstest.Kind) {
		t.Parallel()
		env := dstest.Open(t, kind, nil)
		ctx := env.Tenant(t, "alpha")
		g := idgen.New(env.Sources.Tenants, 5)
		if err := g.Ensure(ctx, 12); err != nil {
			t.Fatal(err)
		}
		// On SQLite the transaction holds the only writer: a refill inside
		// would deadlock. TryNext serves from memory.
		err := env.Sources.Tenants.InTx(ctx, func(tx *datasource.Tx) error {
			for i := 0; i < 12; i++ {
				if _, ok := g.TryNext("alpha"); !ok {
					return fmt.Errorf("ran dry after %d IDs", i)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkNext(b *testing.B) {
	env := dstest.Open(b, dstest.SQLite, nil)
	ctx := env.Tenant(b, "alpha")
	g := idgen.New(env.Sources.Tenants, idgen.DefaultBlockSize)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := g.Next(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
