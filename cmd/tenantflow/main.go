// Command tenantflow runs and administers a tenantflow node: serve the
// engine and its APIs, migrate storage, and manage tenants, users and
// groups. Run "tenantflow help" for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

// cli is the environment a command runs in, so tests run commands
// in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// serveReady, when set, receives the address serve listens on.
	serveReady chan<- string
}

// errUsage marks a mistake in how a command was called (exit code 2).
var errUsage = errors.New("usage")

const overview = `tenantflow — a multi-tenant BPMN 2.0 process engine

Usage: tenantflow <command> [flags]

Commands:
  serve                          serve the engine, REST API and admin console
  migrate [--status]             migrate the primary and every tenant's storage
  tenant create|list|show|update|disable|enable|drop|migrate-status
  user   create|list|passwd|delete|grant|revoke|token
  group  create|list|delete|add|remove
  bench                          measure throughput, latency and fairness (like pgbench)
  version                        print the version

Every flag also reads a TENANTFLOW_* environment variable (see --help of any
command). With no configuration everything runs on SQLite under ./data.
`

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, c *cli) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(c.stdout, overview)
		return 0
	}
	var err error
	switch args[0] {
	case "serve":
		err = c.serve(ctx, args[1:])
	case "migrate":
		err = c.migrate(ctx, args[1:])
	case "tenant":
		err = c.tenant(ctx, args[1:])
	case "user":
		err = c.user(ctx, args[1:])
	case "group":
		err = c.group(ctx, args[1:])
	case "bench":
		err = c.bench(ctx, args[1:])
	case "version":
		fmt.Fprintln(c.stdout, "tenantflow", version)
	default:
		err = fmt.Errorf("%w: unknown command %q; run \"tenantflow help\"", errUsage, args[0])
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelpShown):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(c.stderr, "tenantflow:", err)
		return 2
	default:
		fmt.Fprintln(c.stderr, "tenantflow:", err)
		return 1
	}
}

// errHelpShown ends a command after --help was printed.
var errHelpShown = errors.New("help shown")
