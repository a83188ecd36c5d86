// Command riverbench burns down no-op jobs with River on this machine's
// PostgreSQL: the reference the job executor's BenchmarkEngineJobsOnPostgres
// is read beside (make bench runs both). It is a module of its own, so River
// is never a dependency of tenantflow.
//
//	go run . -jobs 50000
//
// It creates a throwaway database, migrates River's tables into it, inserts
// the jobs, then starts a client and reports jobs/s from start to the last
// completion; the database is dropped at the end.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"time"

	_ "github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

type noopArgs struct{}

func (noopArgs) Kind() string { return "noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
}

func (noopWorker) Work(context.Context, *river.Job[noopArgs]) error { return nil }

func main() {
	def := os.Getenv("TENANTFLOW_TEST_DATABASE_URL")
	if def == "" {
		def = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	admin := flag.String("url", def, "PostgreSQL URL of a database to create the throwaway database from")
	jobs := flag.Int("jobs", 50_000, "no-op jobs to burn down")
	workers := flag.Int("workers", 100, "River workers")
	flag.Parse()
	if err := run(context.Background(), *admin, *jobs, *workers); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, adminURL string, jobs, workers int) error {
	adminDB, err := sql.Open("postgres", adminURL)
	if err != nil {
		return err
	}
	defer adminDB.Close()
	name := fmt.Sprintf("tf_riverbench_%d", os.Getpid())
	if _, err := adminDB.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		return fmt.Errorf("create the benchmark database: %w", err)
	}
	defer adminDB.ExecContext(context.Background(), `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
	u, err := url.Parse(adminURL)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	db, err := sql.Open("postgres", u.String())
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(workers + 10)

	driver := riverdatabasesql.New(db)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate River: %w", err)
	}
	ws := river.NewWorkers()
	river.AddWorker(ws, noopWorker{})
	client, err := river.NewClient(driver, &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}},
		Workers:           ws,
		PollOnly:          true, // database/sql has no LISTEN
		FetchCooldown:     river.FetchCooldownMin,
		FetchPollInterval: river.FetchPollIntervalMin,
		Logger:            nil,
	})
	if err != nil {
		return err
	}
	for done := 0; done < jobs; {
		n := min(5000, jobs-done)
		params := make([]river.InsertManyParams, n)
		for i := range params {
			params[i] = river.InsertManyParams{Args: noopArgs{}}
		}
		if _, err := client.InsertMany(ctx, params); err != nil {
			return fmt.Errorf("insert jobs: %w", err)
		}
		done += n
	}
	completed, cancel := client.SubscribeConfig(&river.SubscribeConfig{ChanSize: jobs, Kinds: []river.EventKind{river.EventKindJobCompleted}})
	defer cancel()
	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return err
	}
	for range jobs {
		<-completed
	}
	took := time.Since(start)
	if err := client.Stop(ctx); err != nil {
		return err
	}
	fmt.Printf("river burn-down: %d no-op jobs in %.2f s: %.0f jobs/s (%d workers, PostgreSQL via database/sql)\n",
		jobs, took.Seconds(), float64(jobs)/took.Seconds(), workers)
	return nil
}
