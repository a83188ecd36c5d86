package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
)

// common holds the flags every command that opens the datasource shares.
type common struct {
	primaryURL, dataDir, schemaPrefix, placement, pgSchemaMode, nodeID string
	logLevel, logFormat                                                string
	maxPools, connBudget                                               int
	registryTTL, maxStale, drainWait                                   time.Duration
}

// envString, envInt and envDuration read a TENANTFLOW_* fallback, recording
// a parse error that names the variable.
type envReader struct {
	get  func(string) string
	errs []error
}

func (e *envReader) str(name, def string) string {
	if v := e.get(name); v != "" {
		return v
	}
	return def
}

func (e *envReader) int(name string, def int) int {
	v := e.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a whole number", name, v))
		return def
	}
	return n
}

func (e *envReader) dur(name string, def time.Duration) time.Duration {
	v := e.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s=%q is not a duration (use e.g. 5s, 2m)", name, v))
		return def
	}
	return d
}

// flags registers the common flags on fs with environment defaults.
func (c *cli) commonFlags(fs *flag.FlagSet) (*common, *envReader) {
	env := &envReader{get: c.getenv}
	o := &common{}
	fs.StringVar(&o.primaryURL, "primary-url", env.str("TENANTFLOW_PRIMARY_URL", ""), "primary datasource: empty for SQLite under the data dir, or postgres://… (env TENANTFLOW_PRIMARY_URL)")
	fs.StringVar(&o.dataDir, "data-dir", env.str("TENANTFLOW_DATA_DIR", "data"), "directory of SQLite files (env TENANTFLOW_DATA_DIR)")
	fs.StringVar(&o.schemaPrefix, "schema-prefix", env.str("TENANTFLOW_SCHEMA_PREFIX", "tenant_"), "prefix of pg-schema tenants' schemas (env TENANTFLOW_SCHEMA_PREFIX)")
	fs.StringVar(&o.placement, "default-placement", env.str("TENANTFLOW_DEFAULT_PLACEMENT", ""), "placement of new tenants: pg-schema, pg-dsn or sqlite (env TENANTFLOW_DEFAULT_PLACEMENT)")
	fs.StringVar(&o.pgSchemaMode, "pg-schema-mode", env.str("TENANTFLOW_PG_SCHEMA_MODE", ""), "how pg-schema tenants reach their schema: set-local or pool (env TENANTFLOW_PG_SCHEMA_MODE)")
	fs.StringVar(&o.nodeID, "node-id", env.str("TENANTFLOW_NODE_ID", ""), "this node's ID in locks and notifications (env TENANTFLOW_NODE_ID; default host-pid)")
	fs.IntVar(&o.maxPools, "max-pools", env.int("TENANTFLOW_MAX_POOLS", 0), "tenant pools open at once (env TENANTFLOW_MAX_POOLS; default 64)")
	fs.IntVar(&o.connBudget, "server-conn-budget", env.int("TENANTFLOW_SERVER_CONN_BUDGET", 0), "connections per PostgreSQL server per node (env TENANTFLOW_SERVER_CONN_BUDGET; default 40)")
	fs.DurationVar(&o.registryTTL, "registry-ttl", env.dur("TENANTFLOW_REGISTRY_TTL", 0), "how long cached tenant configs are used (env TENANTFLOW_REGISTRY_TTL; default 5s)")
	fs.DurationVar(&o.maxStale, "max-stale", env.dur("TENANTFLOW_MAX_STALE", 0), "how long cached entries serve while the primary is down (env TENANTFLOW_MAX_STALE; default 5m)")
	fs.DurationVar(&o.drainWait, "drain-wait", env.dur("TENANTFLOW_DRAIN_WAIT", 0), "how long a drop waits for every node to let go of the tenant (env TENANTFLOW_DRAIN_WAIT; default registry TTL + 5m with a PostgreSQL primary)")
	fs.StringVar(&o.logLevel, "log-level", env.str("TENANTFLOW_LOG_LEVEL", "info"), "debug, info, warn or error (env TENANTFLOW_LOG_LEVEL)")
	fs.StringVar(&o.logFormat, "log-format", env.str("TENANTFLOW_LOG_FORMAT", "text"), "text or json (env TENANTFLOW_LOG_FORMAT)")
	return o, env
}

// parse parses args; --help prints the usage and ends the command.
func (c *cli) parse(fs *flag.FlagSet, args []string, usage string, env *envReader) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(c.stdout, usage)
			fmt.Fprintln(c.stdout, "\nFlags:")
			fs.SetOutput(c.stdout)
			fs.PrintDefaults()
			return errHelpShown
		}
		return fmt.Errorf("%w: %v (see --help)", errUsage, err)
	}
	if env != nil && len(env.errs) > 0 {
		return fmt.Errorf("%w: %w", errUsage, errors.Join(env.errs...))
	}
	return nil
}

func (o *common) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: use debug, info, warn or error", errUsage, o.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(o.logFormat) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: use text or json", errUsage, o.logFormat)
}

// config builds the datasource configuration.
func (o *common) config(getenv func(string) string, logger *slog.Logger) datasource.Config {
	return datasource.Config{
		PrimaryURL:       o.primaryURL,
		DataDir:          o.dataDir,
		SchemaPrefix:     o.schemaPrefix,
		DefaultPlacement: datasource.Placement(o.placement),
		PGSchemaMode:     o.pgSchemaMode,
		NodeID:           o.nodeID,
		MaxPools:         o.maxPools,
		ServerConnBudget: o.connBudget,
		RegistryTTL:      o.registryTTL,
		MaxStale:         o.maxStale,
		DrainWait:        o.drainWait,
		MasterKey:        getenv("TENANTFLOW_MASTER_KEY"),
		Logger:           logger,
	}
}

// open opens the datasource for a command.
func (c *cli) open(ctx context.Context, o *common) (*datasource.Sources, *slog.Logger, error) {
	logger, err := o.logger(c.stderr)
	if err != nil {
		return nil, nil, err
	}
	src, err := datasource.Open(ctx, o.config(c.getenv, logger))
	if err != nil {
		return nil, nil, err
	}
	return src, logger, nil
}
