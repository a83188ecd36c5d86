package migrations

import (
	"io/fs"
	"strings"
	"testing"
)

func TestOverridesReplacePortableFiles(t *testing.T) {
	if err := Check(); err != nil {
		t.Fatal(err)
	}
}

func TestHistoriesListTheSameVersionsForBothDialects(t *testing.T) {
	for _, h := range []struct {
		name string
		fs   func(string) fs.FS
	}{{"primary", Primary}, {"tenant", Tenant}} {
		pg, err := fs.Glob(h.fs(Postgres), "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		lite, err := fs.Glob(h.fs(SQLite), "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		if len(pg) == 0 || strings.Join(pg, ",") != strings.Join(lite, ",") {
			t.Fatalf("%s: postgres %v, sqlite %v", h.name, pg, lite)
		}
		for _, name := range pg {
			b, err := fs.ReadFile(h.fs(Postgres), name)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "-- +goose Up") {
				t.Errorf("%s/%s has no goose Up section", h.name, name)
			}
		}
	}
}
