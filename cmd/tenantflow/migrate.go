package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/tenantflow/tenantflow/datasource"
)

const migrateUsage = `Usage: tenantflow migrate [--parallel N] [--status]

Migrates the primary datasource, then every active or disabled tenant's
storage, N at a time. One tenant's failure does not stop the others; the exit
code is 1 if any failed. --status prints each tenant's version instead.`

func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	o, env := c.commonFlags(fs)
	parallel := fs.Int("parallel", env.int("TENANTFLOW_MIGRATE_PARALLEL", 4), "tenants migrated at once")
	status := fs.Bool("status", false, "print each tenant's schema version instead of migrating")
	if err := c.parse(fs, args, migrateUsage, env); err != nil {
		return err
	}
	src, _, err := c.open(ctx, o) // opening migrates the primary
	if err != nil {
		return err
	}
	defer src.Close()
	if *status {
		ts, err := src.Lifecycle.List(ctx, &datasource.ListTenantsParams{Status: []datasource.Status{datasource.StatusActive, datasource.StatusDisabled}})
		if err != nil {
			return err
		}
		for _, t := range ts {
			cur, latest, err := src.Lifecycle.MigrationStatus(ctx, t.ID)
			if err != nil {
				fmt.Fprintf(c.stdout, "%-24s error: %v\n", t.ID, err)
				continue
			}
			mark := ""
			if cur < latest {
				mark = "  (behind: run tenantflow migrate)"
			}
			fmt.Fprintf(c.stdout, "%-24s %d of %d%s\n", t.ID, cur, latest, mark)
		}
		return nil
	}
	fmt.Fprintln(c.stdout, "primary migrated")
	report, err := src.Lifecycle.MigrateAll(ctx, &datasource.MigrateAllParams{Parallel: *parallel,
		Progress: func(done, total int, r datasource.TenantMigration) {
			if r.Err != nil {
				fmt.Fprintf(c.stdout, "[%d/%d] %s FAILED: %v\n", done, total, r.Tenant, r.Err)
				return
			}
			fmt.Fprintf(c.stdout, "[%d/%d] %s %d → %d (%d applied, %s)\n", done, total, r.Tenant, r.From, r.To, r.Applied, r.Duration.Round(1e6))
		}})
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range report {
		if r.Err != nil {
			failed++
		}
	}
	fmt.Fprintf(c.stdout, "%d tenants migrated, %d failed\n", len(report)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("%d tenant(s) failed to migrate; fix them and run migrate again (the others are done)", failed)
	}
	return nil
}
