package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
)

const tenantUsage = `Usage: tenantflow tenant <create|list|show|update|disable|enable|drop|migrate-status> [flags] [ID]

  create ID [--name N] [--placement P] [--dsn DSN] [--schema S] [--password-env VAR]
         [--max-open-conns N] [--max-idle-conns N] [--acquire-timeout D]
  list [--json]
  show ID
  update ID [--name N] [--dsn DSN] [--password-env VAR] [--max-open-conns N] …
  disable ID | enable ID
  drop ID --yes [--remove-storage]
  migrate-status ID

A pg-dsn password comes from the environment variable named by --password-env,
or from a postgres:// URL DSN; it is stored encrypted (TENANTFLOW_MASTER_KEY)
and never printed.`

func (c *cli) tenant(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(c.stdout, tenantUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: tenant needs a subcommand", errUsage)
		}
		return errHelpShown
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("tenant "+sub, flag.ContinueOnError)
	o, env := c.commonFlags(fs)
	name := fs.String("name", "", "display name")
	placement := fs.String("placement", "", "pg-schema, pg-dsn or sqlite (default: the node's default placement)")
	dsn := fs.String("dsn", "", "PostgreSQL DSN of a pg-dsn tenant")
	schema := fs.String("schema", "", "schema at a pg-dsn tenant's DSN (default public)")
	pwEnv := fs.String("password-env", "", "name of the environment variable holding the pg-dsn password")
	maxOpen := fs.Int("max-open-conns", 0, "the tenant's connection cap")
	maxIdle := fs.Int("max-idle-conns", 0, "idle connections kept")
	acquire := fs.Duration("acquire-timeout", 0, "how long a caller waits for a connection")
	asJSON := fs.Bool("json", false, "print JSON")
	yes := fs.Bool("yes", false, "confirm drop")
	removeStorage := fs.Bool("remove-storage", false, "drop: also delete the tenant's schema or file")
	// Flags may follow the ID: parse around the first positional argument.
	id, rest := splitID(args)
	if err := c.parse(fs, rest, tenantUsage, env); err != nil {
		return err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	needID := sub != "list"
	if needID && id == "" {
		return fmt.Errorf("%w: tenant %s needs a tenant ID", errUsage, sub)
	}
	src, _, err := c.open(ctx, o)
	if err != nil {
		return err
	}
	defer src.Close()
	lc := src.Lifecycle
	limits := datasource.Limits{MaxOpenConns: *maxOpen, MaxIdleConns: *maxIdle, AcquireTimeout: *acquire}
	password := func() (datasource.Secret, error) {
		if *pwEnv == "" {
			return datasource.Secret{}, nil
		}
		v := c.getenv(*pwEnv)
		if v == "" {
			return datasource.Secret{}, fmt.Errorf("%w: --password-env %s: the variable is empty or unset", errUsage, *pwEnv)
		}
		return datasource.NewSecret(v), nil
	}
	switch sub {
	case "create":
		pw, err := password()
		if err != nil {
			return err
		}
		t, err := lc.Create(ctx, &datasource.CreateTenantParams{ID: id, DisplayName: *name, Placement: datasource.Placement(*placement),
			DSN: *dsn, Password: pw, Schema: *schema, Limits: limits})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "tenant %s created (%s, %s)\n", t.ID, t.Placement, storageOf(src, t))
	case "list":
		ts, err := lc.List(ctx, nil)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(c.stdout).Encode(ts)
		}
		tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tPLACEMENT\tSTORAGE\tCREATED")
		for _, t := range ts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.DisplayName, t.Status, t.Placement, storageOf(src, t), t.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "show":
		t, err := lc.Get(ctx, id)
		if err != nil {
			return err
		}
		pw := "not set"
		if t.Storage.Password.IsSet() {
			pw = "set"
		}
		fmt.Fprintf(c.stdout, "id:          %s\nname:        %s\nstatus:      %s\nplacement:   %s\nstorage:     %s\npassword:    %s\nlimits:      %d open, %d idle, %s acquire timeout\nconfig:      version %d\ncreated:     %s\n",
			t.ID, t.DisplayName, t.Status, t.Placement, storageOf(src, t), pw, t.Limits.MaxOpenConns, t.Limits.MaxIdleConns,
			t.Limits.AcquireTimeout, t.ConfigVersion, t.CreatedAt.Format(time.RFC3339))
	case "update":
		p := &datasource.UpdateTenantParams{}
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "name":
				p.DisplayName = name
			case "dsn":
				p.DSN = dsn
			case "max-open-conns", "max-idle-conns", "acquire-timeout":
				p.Limits = &limits
			}
		})
		if *pwEnv != "" {
			pw, err := password()
			if err != nil {
				return err
			}
			p.Password = &pw
		}
		if _, err := lc.UpdateConfig(ctx, id, p); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "tenant %s updated; new work uses the new settings\n", id)
	case "disable":
		if err := lc.Disable(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "tenant %s disabled\n", id)
	case "enable":
		if err := lc.Enable(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "tenant %s enabled\n", id)
	case "drop":
		if !*yes {
			what := "its storage is kept (add --remove-storage to delete it)"
			if *removeStorage {
				what = "its storage is DELETED"
			}
			return fmt.Errorf("%w: dropping tenant %s stops it on every node and unregisters it; %s. Run again with --yes to confirm", errUsage, id, what)
		}
		res, err := lc.Drop(ctx, id, datasource.DropOptions{RemoveStorage: *removeStorage})
		if err != nil {
			return err
		}
		state := "kept"
		if res.StorageRemoved {
			state = "removed"
		}
		fmt.Fprintf(c.stdout, "tenant %s dropped; storage (%s) %s", id, res.Storage, state)
		if res.Note != "" && res.Note != "storage kept" {
			fmt.Fprintf(c.stdout, ": %s", res.Note)
		}
		fmt.Fprintln(c.stdout)
	case "migrate-status":
		cur, latest, err := lc.MigrationStatus(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "tenant %s: schema version %d of %d\n", id, cur, latest)
	default:
		return fmt.Errorf("%w: unknown tenant subcommand %q", errUsage, sub)
	}
	return nil
}

// splitID takes a leading positional argument (the ID) off the arguments,
// so flags may come after it.
func splitID(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func storageOf(src *datasource.Sources, t *datasource.Tenant) string {
	switch t.Placement {
	case datasource.PlacementSQLite:
		return src.Config.DataDir + "/tenants/" + t.ID + ".db"
	case datasource.PlacementPGSchema:
		return "schema " + t.Storage.Schema
	default:
		return "DSN " + redactURL(t.Storage.DSN)
	}
}
