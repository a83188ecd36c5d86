package analytics

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/tenantflow/tenantflow/analytics/estest"
)

// BenchmarkShip measures how many events per second the shipper moves
// from in-memory outboxes to the Elasticsearch stand-in, with the default
// batch size and workers and a real clock, for one tenant with a deep
// backlog and for 100 tenants with a batch each. The stand-in answers at
// memory speed, so the figure is the shipper's and the client's own cost:
// an upper bound for a real cluster. It fails when an event is missing
// from the stand-in or an attempt failed. Warnings go to stderr.
func BenchmarkShip(b *testing.B) {
	const events = 20_000 // per iteration, spread over the tenants
	for _, tenants := range []int{1, 100} {
		b.Run(fmt.Sprintf("tenants=%d", tenants), func(b *testing.B) {
			clock := clockwork.NewRealClock()
			out := newFakeOutbox(clock)
			es := estest.New(b)
			s, err := New(Config{Outbox: out, URLs: []string{es.URL}, Clock: clock,
				Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := s.Stop(ctx); err != nil {
					b.Error(err)
				}
			})
			names := make([]string, tenants)
			for i := range names {
				names[i] = fmt.Sprintf("bench%03d", i)
			}
			caughtUp := func() bool {
				for _, tn := range names {
					if !out.caughtUp(tn, s.cfg.Consumer) {
						return false
					}
				}
				return true
			}
			for b.Loop() {
				b.StopTimer()
				for _, tn := range names {
					out.commitEvents(tn, events/tenants)
				}
				b.StartTimer()
				for _, tn := range names {
					s.Wake(tn, 0)
				}
				for {
					changes, _, _ := s.quiet()
					if caughtUp() {
						break
					}
					<-changes
				}
			}
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.StopTimer()
			if got, want := es.Count("_all"), events*b.N; got != want {
				b.Errorf("%d documents in the stand-in, want %d", got, want)
			}
			st := s.Stats()
			// From an event's commit to Elasticsearch's acknowledgement, for
			// events committed as one burst.
			b.ReportMetric(float64(st.LagP50.Microseconds())/1000, "lag-p50-ms")
			b.ReportMetric(float64(st.LagP99.Microseconds())/1000, "lag-p99-ms")
			if st.FailedAttempts != 0 || st.DeadLettered != 0 {
				b.Errorf("failures while benchmarking: %+v", st)
			}
		})
	}
}
