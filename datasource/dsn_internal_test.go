package datasource

import (
	"strings"
	"testing"

	"github.com/lib/pq"
)

func TestADSNPasswordIsAlwaysTakenOutToBeStoredEncrypted(t *testing.T) {
	for _, c := range []struct{ dsn, password string }{
		{"host=db dbname=acme password=s3cret", "s3cret"},
		{"host=db dbname=acme password = s3cret", "s3cret"},
		{"host=db password= 'two words' dbname=acme", "two words"},
		{`host=db password='it\'s' dbname=acme`, "it's"},
		{"postgres://ann:s3cret@db/acme?sslmode=disable", "s3cret"},
		{"postgres://ann@db/acme?sslmode=disable&password=s3cret", "s3cret"},
	} {
		stored, pw, err := splitDSNPassword(c.dsn)
		if err != nil {
			t.Fatalf("%s: %v", c.dsn, err)
		}
		if pw.Reveal() != c.password || strings.Contains(stored, c.password) {
			t.Errorf("%q: stored %q with secret %q, want the password %q apart", c.dsn, stored, pw.Reveal(), c.password)
		}
		// What is stored still means the same connection, less the password.
		cfg, err := pq.NewConfig(stored)
		if err != nil || cfg.Host != "db" || cfg.Password != "" {
			t.Errorf("%q: stored %q parses as %+v, %v", c.dsn, stored, cfg, err)
		}
	}
	if stored, pw, err := splitDSNPassword("host=db dbname=acme"); err != nil || pw.IsSet() || stored != "host=db dbname=acme" {
		t.Fatalf("a DSN without a password changed: %q %v %v", stored, pw.IsSet(), err)
	}
}
