package jobexec

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
)

// BenchmarkSchedulingOverheadPerJob runs b.N no-op jobs spread over 1, 10
// and 100 tenants through the executor and the fake engine. The
// "fake-engine-alone" case drives the fake engine in a tight loop of
// acquire and execute batches, without the executor: the difference is the
// executor's own cost per job (dispatch, registry lookup, batch log,
// accounting, next-due lookups).
func BenchmarkSchedulingOverheadPerJob(b *testing.B) {
	for _, tenants := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("executor/%d-tenants", tenants), func(b *testing.B) {
			r := newRig(b, Config{DisableMaintenance: true, SweepRate: -1, HintInterval: time.Hour, TakeoverInterval: time.Hour})
			ids := tenantIDs("t", tenants)
			r.addTenants(0, ids...)
			r.start(nil)
			r.settle()
			now := r.clock.Now()
			b.ResetTimer()
			for i, id := range ids {
				n := b.N / tenants
				if i < b.N%tenants {
					n++
				}
				r.eng.addMany(id, n, now, nil)
			}
			r.x.tenants.Wake(now, ids...)
			r.waitFor("every job ran", func() bool { return r.x.stats.completedN.Load() == int64(b.N) })
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		})
	}
	b.Run("fake-engine-alone", func(b *testing.B) {
		f := newFakeEngine(nil, nil)
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		b.ResetTimer()
		f.addMany("t", b.N, now, nil)
		ctx := tenantCtx("t")
		for {
			jobs, err := f.AcquireJobs(ctx, &engine.AcquireJobsParams{Owner: "n", Now: now, LockFor: time.Minute, Max: 32})
			if err != nil {
				b.Fatal(err)
			}
			if len(jobs) == 0 {
				break
			}
			f.ExecuteJobs(ctx, "n", jobs, now)
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
}

// BenchmarkIdleCostWith10000Tenants simulates one minute per iteration of a
// node with 10,000 registered tenants, 10 of which have a timer every 5
// seconds, and reports the queries it costs (tenant storage, primary and
// registry lookups) per simulated second, and the real time one simulated
// minute takes (mostly the SQLite primary's hint reads and writes).
func BenchmarkIdleCostWith10000Tenants(b *testing.B) {
	r := newRig(b, Config{DisableMaintenance: true})
	ids := tenantIDs("t", 10_000)
	r.addTenants(0, ids...)
	now := r.clock.Now()
	for i := range 10 {
		r.eng.write(ids[i*1000], jobSpec{Due: now.Add(time.Duration(i) * 500 * time.Millisecond), Then: every(5 * time.Second)})
	}
	r.start(nil)
	r.settle()
	eng0, prim0, look0 := r.eng.totalCalls(), r.dir.n(""), r.dir.n("Tenant")
	b.ResetTimer()
	for range b.N {
		r.run(time.Minute, time.Second)
	}
	b.StopTimer()
	total := r.eng.totalCalls() - eng0 + r.dir.n("") - prim0 + r.dir.n("Tenant") - look0
	b.ReportMetric(float64(total)/float64(b.N*60), "queries/sim-s")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/sim-min")
}

// BenchmarkEngineJobsOnPostgres burns down b.N due no-op jobs (async
// continuations whose execution is gone, so each completes without work)
// spread over 1, 10 and 100 tenants in pg-schema storage, through the
// executor and the real engine: the figure to hold beside a job queue's
// no-op burn-down. commits/job is batches (one transaction each) per job.
func BenchmarkEngineJobsOnPostgres(b *testing.B) {
	for _, tenants := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("%d-tenants", tenants), func(b *testing.B) {
			r, _ := newEngineRig(b, dstest.Postgres, Config{DisableMaintenance: true, SweepRate: -1,
				HintInterval: time.Hour, TakeoverInterval: time.Hour, BatchSize: 100})
			ids := tenantIDs("t", tenants)
			for i, id := range ids {
				ctx := r.env.Tenant(b, id)
				if n := share(b.N, tenants, i); n > 0 {
					insertNoisyJobs(b, r.env, ctx, r.clock.Now(), n)
				}
			}
			burnDown(b, r, ids)
		})
	}
}

// share is tenant i's part of total jobs spread over tenants.
func share(total, tenants, i int) int {
	n := total / tenants
	if i < total%tenants {
		n++
	}
	return n
}

// burnDown starts the rig's executor on the b.N due jobs its tenants
// hold, wakes every tenant, and reports how fast the jobs ran and the
// commits (batches) per job.
func burnDown(b *testing.B, r *rig, ids []string) {
	b.ResetTimer()
	r.start(nil)
	for _, id := range ids {
		r.localNotify(datasource.Signal{Topic: datasource.TopicJobs, Tenant: id, DueAt: r.clock.Now()})
	}
	r.waitFor("every job ran", func() bool { return r.x.stats.completedN.Load() == int64(b.N) })
	b.StopTimer()
	st := r.x.Stats()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64(st.Batches)/float64(b.N), "commits/job")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkAsyncContinuationsOnPostgres runs b.N real asynchronous
// continuations through the executor and the engine, spread over 1 and
// 100 tenants in pg-schema storage: each job reads its instance, runs a Go
// handler (which does nothing) and ends the instance, with its history and
// events. The figure a user's async service tasks see, beside the no-op
// burn-down of BenchmarkEngineJobsOnPostgres.
func BenchmarkAsyncContinuationsOnPostgres(b *testing.B) {
	for _, tenants := range []int{1, 100} {
		b.Run(fmt.Sprintf("%d-tenants", tenants), func(b *testing.B) {
			r, eng := newEngineRig(b, dstest.Postgres, Config{DisableMaintenance: true, SweepRate: -1,
				HintInterval: time.Hour, TakeoverInterval: time.Hour, BatchSize: 100})
			eng.RegisterHandler("work", func(context.Context, *engine.ServiceTask) error { return nil })
			ids := tenantIDs("t", tenants)
			for i, id := range ids {
				ctx := r.env.Tenant(b, id)
				deployProcess(b, eng, ctx, "async", asyncProcess)
				for range share(b.N, tenants, i) {
					startInstance(b, eng, ctx, "async")
				}
			}
			burnDown(b, r, ids)
		})
	}
}
