package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/tenantflow/tenantflow/analytics/estest"
	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
)

const sharedIndex = "tenantflow-events-2026.01"

func TestTwentyTenantsAreShippedExactlyOnceToTheSharedIndex(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tenants := tenantNames(20)
	for round := 0; round < 3; round++ {
		for i, tn := range tenants {
			h.out.commitEvents(tn, 5+i+round*7) // several batches for the later tenants
		}
	}
	h.waitFor("all tenants shipped", func() bool { return h.caughtUp(tenants...) })
	for _, tn := range tenants {
		h.assertShippedOnce(tn, sharedIndex)
	}
	if got := h.es.Indices(); len(got) != 1 || got[0] != sharedIndex {
		t.Errorf("indices %v, want only %s", got, sharedIndex)
	}
	if got := h.es.Aliases(sharedIndex); len(got) != 1 || got[0] != "tenantflow-events" {
		t.Errorf("aliases of %s: %v, want tenantflow-events", sharedIndex, got)
	}
	st := h.es.Stats()
	if st.Overwrites != 0 || st.ItemFailures != 0 {
		t.Errorf("stand-in saw %d overwrites and %d item failures without faults", st.Overwrites, st.ItemFailures)
	}
	// The shared alias answers per-tenant searches through the real client.
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{h.es.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for i, tn := range []string{"t00", "t19"} {
		res, err := es.Count(es.Count.WithIndex("tenantflow-events"),
			es.Count.WithBody(strings.NewReader(`{"query":{"term":{"tenant":"`+tn+`"}}}`)))
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Count int }
		_ = json.NewDecoder(res.Body).Decode(&body)
		res.Body.Close()
		if want := len(h.out.events(tn)); body.Count != want {
			t.Errorf("count of tenant %s (%d): %d, want %d", tn, i, body.Count, want)
		}
	}
	stats := h.ship.Stats()
	total := 0
	for _, tn := range tenants {
		total += len(h.out.events(tn))
	}
	if stats.Shipped != int64(total) || stats.DeadLettered != 0 || stats.FailedAttempts != 0 || stats.Backlog != 0 {
		t.Errorf("stats %+v; want %d shipped, nothing failed, no backlog", stats, total)
	}
	// Idle tenants cost nothing: no tenant was read more than its batches
	// need plus the end-of-drain check.
	if n := h.out.count("ReadEvents/t00"); n > 6 {
		t.Errorf("tenant t00 was read %d times for 3 small commits", n)
	}
}

func TestTheTemplateMapsIDsAsKeywordsTimeAsDateAndDataFlattened(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.out.commitEvents("acme", 1)
	h.waitFor("shipped", func() bool { return h.caughtUp("acme") })
	raw, ok := h.es.Template("tenantflow-events")
	if !ok {
		t.Fatal("no index template tenantflow-events")
	}
	var tpl struct {
		Patterns []string `json:"index_patterns"`
		Template struct {
			Mappings struct {
				Dynamic    any                       `json:"dynamic"`
				Routing    map[string]any            `json:"_routing"`
				Properties map[string]map[string]any `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(raw, &tpl); err != nil {
		t.Fatal(err)
	}
	m := tpl.Template.Mappings
	if m.Dynamic != false || m.Routing["required"] != true {
		t.Errorf("dynamic %v, routing %v; want dynamic false and routing required", m.Dynamic, m.Routing)
	}
	for field, typ := range map[string]string{"tenant": "keyword", "eventId": "keyword", "type": "keyword",
		"processInstanceId": "keyword", "processDefinitionKey": "keyword", "activityId": "keyword",
		"time": "date", "data": "flattened"} {
		if got := m.Properties[field]["type"]; got != typ {
			t.Errorf("field %s mapped as %v, want %s", field, got, typ)
		}
	}
	if h.es.Mapping(sharedIndex) == nil {
		t.Error("the index did not get the template's mapping")
	}
}

func TestPerTenantIndicesForTenantsThatNeedSeparation(t *testing.T) {
	t.Parallel()
	separate := map[string]bool{"t01": true, "t07": true}
	h := newHarness(t, func(c *Config) {
		c.IndexModeFor = func(tenant string) IndexMode {
			if separate[tenant] {
				return IndexPerTenant
			}
			return ""
		}
	})
	tenants := tenantNames(10)
	for _, tn := range tenants {
		h.out.commitEvents(tn, 12)
	}
	h.waitFor("all tenants shipped", func() bool { return h.caughtUp(tenants...) })
	for _, tn := range tenants {
		index := sharedIndex
		if separate[tn] {
			index = "tenantflow-events-" + tn + "-2026.01"
		}
		h.assertShippedOnce(tn, index)
	}
	if got := h.es.Count("tenantflow-events-t01"); got != 12 {
		t.Errorf("alias tenantflow-events-t01 counts %d documents, want 12", got)
	}
	if got := h.es.Count("tenantflow-events"); got != 8*12 {
		t.Errorf("the shared alias counts %d documents, want only the shared tenants' %d", got, 8*12)
	}
}

func TestPerTenantModeForEveryTenant(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.IndexMode = IndexPerTenant; c.Period = PeriodNone })
	h.out.commitEvents("acme", 3)
	h.out.commitEvents("globex", 4)
	h.waitFor("shipped", func() bool { return h.caughtUp("acme", "globex") })
	h.assertShippedOnce("acme", "tenantflow-events-acme")
	h.assertShippedOnce("globex", "tenantflow-events-globex")
}

// outage is a way for Elasticsearch to fail for a while.
type outage struct {
	name  string
	start func(h *harness) (heal func())
}

var outages = []outage{
	{"connection refused", func(h *harness) func() { h.es.Refuse(); return h.es.Accept }},
	{"503 on every request", func(h *harness) func() {
		h.es.FailRequests(1_000_000, http.StatusServiceUnavailable)
		return h.es.ClearFaults
	}},
	{"429 on bulk requests", func(h *harness) func() {
		h.es.FailBulkRequests(1_000_000, http.StatusTooManyRequests)
		return h.es.ClearFaults
	}},
	{"partial bulk failure", func(h *harness) func() {
		// Every third item is refused as overloaded; the rest is stored.
		n := 0
		return h.es.FailItems(estest.ItemFault{Status: http.StatusTooManyRequests, Match: func(estest.Item) bool {
			n++
			return n%3 == 0
		}})
	}},
}

func TestEverythingArrivesOnceAfterAnOutage(t *testing.T) {
	t.Parallel()
	for _, o := range outages {
		t.Run(o.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil)
			tenants := tenantNames(5)
			// Some events ship before the outage, so the client has live
			// connections and the template exists.
			for _, tn := range tenants {
				h.out.commitEvents(tn, 3)
			}
			h.waitFor("first events shipped", func() bool { return h.caughtUp(tenants...) })
			heal := o.start(h)
			for _, tn := range tenants {
				h.out.commitEvents(tn, 60) // more than a batch
			}
			h.waitFor("every tenant failed twice", func() bool {
				st := h.ship.Stats()
				for _, tn := range tenants {
					ts, _ := tenantStats(st, tn)
					if ts.Attempts < 2 {
						return false
					}
				}
				return true
			})
			if h.caughtUp(tenants...) {
				t.Fatal("caught up during the outage")
			}
			heal()
			h.waitFor("everything shipped after the outage", func() bool { return h.caughtUp(tenants...) })
			for _, tn := range tenants {
				h.assertShippedOnce(tn, sharedIndex)
			}
			st := h.ship.Stats()
			if st.FailedAttempts < int64(2*len(tenants)) || st.TenantsBackingOff != 0 {
				t.Errorf("stats after recovery %+v", st)
			}
			if got := h.logs.lines("shipping to Elasticsearch failed", "tenant=t03"); len(got) == 0 {
				t.Error("no log line for tenant t03's failures")
			}
			if got := h.logs.lines("shipping events recovered", "tenant=t03"); len(got) != 1 {
				t.Errorf("recovery log lines for t03: %q", got)
			}
		})
	}
}

func TestBackoffIsPerTenant(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	remove := h.es.FailItems(estest.ItemFault{Status: http.StatusTooManyRequests, Match: func(it estest.Item) bool {
		return it.Routing == "sick"
	}})
	sickEvents := h.out.commitEvents("sick", 10)
	h.waitFor("the sick tenant failed 3 times", func() bool {
		ts, _ := tenantStats(h.ship.Stats(), "sick")
		return ts.Attempts >= 3
	})
	// While it backs off, a healthy tenant keeps shipping, commit after
	// commit.
	for i := 0; i < 5; i++ {
		h.out.commitEvents("healthy", 7)
		h.waitFor("the healthy tenant shipped", func() bool { return h.caughtUp("healthy") })
	}
	h.assertShippedOnce("healthy", sharedIndex)
	st := h.ship.Stats()
	sick, _ := tenantStats(st, "sick")
	if sick.Attempts < 3 || sick.RetryAt.IsZero() || !strings.Contains(sick.LastError, "es_rejected_execution_exception") ||
		sick.Backlog != 10 || sick.Lag <= 0 {
		t.Errorf("sick tenant's figures %+v", sick)
	}
	if healthy, _ := tenantStats(st, "healthy"); healthy.Attempts != 0 || healthy.Shipped != 35 {
		t.Errorf("healthy tenant's figures %+v", healthy)
	}
	if h.out.position("sick", "analytics") != "" {
		t.Error("the sick tenant's cursor moved although nothing of it was acknowledged")
	}
	attempts := h.out.count("ReadEvents/sick")
	remove()
	h.waitFor("the sick tenant recovered", func() bool { return h.caughtUp("sick") })
	h.assertShippedOnce("sick", sharedIndex)
	if h.out.count("ReadEvents/sick") < attempts {
		t.Error("no retry after the fault was removed")
	}
	if len(sickEvents) != 10 {
		t.Fatal("setup")
	}
}

func TestBackoffGrowsExponentiallyToTheCap(t *testing.T) {
	t.Parallel()
	initial, maxB := 500*time.Millisecond, time.Minute
	s := &Shipper{cfg: Config{InitialBackoff: initial, MaxBackoff: maxB}}
	for n, want := range map[int]time.Duration{1: initial, 2: 2 * initial, 3: 4 * initial, 8: maxB, 200: maxB} {
		for i := 0; i < 50; i++ {
			d := s.esBackoff().Delay(n)
			if d < want/2 || d > want {
				t.Fatalf("backoff after %d failures: %s, want within [%s, %s]", n, d, want/2, want)
			}
		}
	}
}

func TestACrashBetweenAcknowledgementAndCursorCausesNoDuplicate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	errCrash := errors.New("killed before recording the position")
	crashed := make(chan struct{})
	h.out.setHook(func(_ context.Context, method, tenant string) error {
		if method == "AdvanceConsumer" && tenant == "acme" {
			select {
			case <-crashed:
			default:
				close(crashed)
			}
			return errCrash
		}
		return nil
	})
	events := h.out.commitEvents("acme", 30)
	h.waitFor("Elasticsearch acknowledged the batch and the shipper died", func() bool {
		select {
		case <-crashed:
			return len(h.docsOf("acme")) == len(events)
		default:
			return false
		}
	})
	// The process is gone: nothing of it runs any more.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.ship.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if h.out.position("acme", "analytics") != "" {
		t.Fatal("the position moved although the shipper died before recording it")
	}
	h.out.setHook(nil)
	before := h.es.Stats()

	second := h.start(h.cfg) // a new process
	h.waitForShipper(second, "the restarted shipper caught up", func() bool { return h.caughtUp("acme") })
	h.assertShippedOnce("acme", sharedIndex)
	after := h.es.Stats()
	if after.Created != before.Created || after.Overwrites-before.Overwrites != len(events) {
		t.Errorf("the restart created %d and overwrote %d documents; want 0 created, %d overwritten",
			after.Created-before.Created, after.Overwrites-before.Overwrites, len(events))
	}
	for _, d := range h.docsOf("acme") {
		if d.Version != 2 {
			t.Errorf("document %s has version %d, want 2 (written, then overwritten)", d.ID, d.Version)
		}
	}
}

func TestAPermanentlyRejectedEventIsDeadLetteredAndTheRestShips(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.BatchSize = 10 })
	tx := h.out.begin("acme")
	var evs []*engine.Event
	for i := 0; i < 25; i++ {
		data := `{"amount":1}`
		if i == 17 {
			data = `{"amount":` // not JSON: cannot become a document
		}
		evs = append(evs, tx.add(0, data))
	}
	tx.commit()
	rejected := evs[3]
	h.es.FailItems(estest.ItemFault{Status: http.StatusBadRequest, Reason: "failed to parse field [data.amount] of type [long]",
		Match: func(it estest.Item) bool { return it.ID == rejected.DocumentID() }})
	h.waitFor("caught up", func() bool { return h.caughtUp("acme") })
	h.assertShippedOnce("acme", sharedIndex, rejected.ID, evs[17].ID)
	letters, err := h.ship.DeadLetters(context.Background(), "acme", 10)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[int64]string{}
	for _, l := range letters {
		reasons[l.EventID] = l.Reason
	}
	if len(letters) != 2 || !strings.Contains(reasons[rejected.ID], "mapper_parsing_exception") ||
		!strings.Contains(reasons[rejected.ID], "status 400") || !strings.Contains(reasons[evs[17].ID], "not valid JSON") {
		t.Errorf("dead letters %+v", letters)
	}
	st := h.ship.Stats()
	if st.DeadLettered != 2 || st.Shipped != 23 || st.FailedAttempts != 0 {
		t.Errorf("stats %+v; want 2 dead-lettered, 23 shipped, no failed attempt", st)
	}
}

func TestEventsCommittedOutOfIDOrderAreAllShipped(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	// A transaction that began first takes high IDs and commits last; one
	// that began later takes low IDs and commits first. Until the first
	// ends, the second's events are committed but not readable (they would
	// sort after anything the first commits), so the shipper must keep
	// looking rather than forget the tenant.
	early := h.out.begin("acme")
	early.add(1001, "")
	early.add(1002, "")
	late := h.out.begin("acme")
	late.add(5, "")
	late.add(3, "")
	late.commit()
	h.waitFor("the shipper looked and is rechecking", func() bool {
		return h.out.count("ConsumerState/acme") >= 3
	})
	if len(h.docsOf("acme")) != 0 {
		t.Fatal("events of a transaction newer than an open one were shipped before it")
	}
	if h.ship.Stats().Backlog != 2 {
		t.Errorf("backlog %d, want the 2 committed events", h.ship.Stats().Backlog)
	}
	early.commit()
	// A third, in between: IDs neither ascending nor in cursor order.
	tx := h.out.begin("acme")
	tx.add(2, "")
	tx.add(1000, "")
	tx.commit()
	h.waitFor("caught up", func() bool { return h.caughtUp("acme") })
	h.assertShippedOnce("acme", sharedIndex)
	if got := len(h.docsOf("acme")); got != 6 {
		t.Errorf("%d documents, want 6", got)
	}
	if h.hinted("acme") {
		t.Error("the tenant's hint was not cleared after it was drained")
	}
}

func TestARolledBackTransactionReleasesTheEventsBehindIt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	open := h.out.begin("acme")
	open.add(0, "")
	h.out.commitEvents("acme", 4)
	h.waitFor("rechecking", func() bool { return h.out.count("ConsumerState/acme") >= 3 })
	open.rollback()
	h.waitFor("caught up", func() bool { return h.caughtUp("acme") && len(h.docsOf("acme")) == 4 })
}

func TestWithoutAURLNothingIsShippedOrReadButPruneWorks(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.URLs = nil })
	if h.ship.Enabled() {
		t.Fatal("enabled without a URL")
	}
	h.out.commitEvents("acme", 5)
	h.sig.Notify(datasource.Signal{Topic: datasource.TopicEvents, All: true})
	if n := h.out.totalCalls(); n != 0 {
		t.Errorf("the outbox was called %d times with shipping off", n)
	}
	if h.sig.Subscribers(datasource.TopicEvents) != 0 || h.hints.Reads() != 0 {
		t.Error("a disabled shipper subscribed to signals or read hints")
	}
	if len(h.es.Indices()) != 0 || h.es.Stats().Requests != 0 {
		t.Error("a disabled shipper talked to Elasticsearch")
	}
	if st := h.ship.Stats(); st.Enabled {
		t.Error("stats say enabled")
	}
	// The outbox is still bounded: with no consumer registered, old events go.
	h.advance(73 * time.Hour)
	h.out.commitEvents("acme", 2)
	if err := h.ship.Prune(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	if got := len(h.out.events("acme")); got != 2 {
		t.Errorf("%d events left after pruning, want the 2 recent ones", got)
	}
}

func TestPruneRemovesOnlyWhatEveryConsumerPassed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Retention = 24 * time.Hour })
	old := h.out.commitEvents("acme", 10)
	h.waitFor("shipped", func() bool { return h.caughtUp("acme") })
	// Another consumer (the live event stream) is behind, at the 4th event.
	h.out.setPosition("acme", "live", old[3].Cursor)
	h.advance(25 * time.Hour)
	recent := h.out.commitEvents("acme", 3)
	h.waitFor("shipped", func() bool { return h.caughtUp("acme") })
	if err := h.ship.Prune(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	left := h.out.events("acme")
	if len(left) != 6+len(recent) || left[0].ID != old[4].ID {
		t.Errorf("%d events left, first %d; want the 6 old ones the live consumer has not passed and the 3 recent", len(left), left[0].ID)
	}
	h.out.setPosition("acme", "live", recent[2].Cursor)
	if err := h.ship.Prune(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	if left := h.out.events("acme"); len(left) != 3 {
		t.Errorf("%d events left, want only the 3 within the retention", len(left))
	}
	if h.ship.Stats().Pruned != 10 {
		t.Errorf("pruned %d, want 10", h.ship.Stats().Pruned)
	}
	h.out.setFail("acme", errors.New("storage down"))
	if err := h.ship.Prune(context.Background(), "acme"); err == nil || !strings.Contains(err.Error(), "acme") {
		t.Errorf("prune with storage down: %v", err)
	}
}

func TestEventsElasticsearchNeverAcknowledgedOutliveTheRetention(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Retention = 24 * time.Hour })
	// Elasticsearch is down from the start: the shipper never delivered
	// anything to this tenant, so it has no position in its outbox yet.
	h.es.FailRequests(1_000_000, http.StatusServiceUnavailable)
	h.out.commitEvents("acme", 5)
	h.waitFor("a failed delivery", func() bool { return h.ship.Stats().FailedAttempts > 0 })
	h.advance(25 * time.Hour)
	if err := h.ship.Prune(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	if got := len(h.out.events("acme")); got != 5 {
		t.Fatalf("%d events left after pruning, want all 5: none reached Elasticsearch", got)
	}
	h.es.ClearFaults()
	h.waitFor("shipped after the outage", func() bool { return h.caughtUp("acme") && len(h.docsOf("acme")) == 5 })
	if err := h.ship.Prune(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	if got := len(h.out.events("acme")); got != 0 {
		t.Errorf("%d events left once shipped and past the retention, want 0", got)
	}
}

func TestWhenElasticsearchAnswersAgainEveryTenantWaitingForItRetriesAtOnce(t *testing.T) {
	t.Parallel()
	// Long backoffs, so that each tenant's own would be far apart.
	h := newHarness(t, func(c *Config) { c.InitialBackoff, c.MaxBackoff = time.Hour, 4*time.Hour })
	tenants := tenantNames(5)
	h.es.FailRequests(1_000_000, http.StatusServiceUnavailable)
	for _, tn := range tenants {
		h.out.commitEvents(tn, 3)
	}
	h.waitFor("every tenant failed once", func() bool { return h.ship.Stats().FailedAttempts >= int64(len(tenants)) })
	h.es.ClearFaults()
	// Only the first backoff to end passes; every other tenant follows
	// without the clock moving on.
	first := h.nextRetry()
	h.advance(first.Sub(h.clock.Now()))
	if !h.waitSettled(func() bool { return h.caughtUp(tenants...) }) {
		t.Fatalf("only some tenants shipped once Elasticsearch answered again; stats %+v", h.ship.Stats())
	}
	if !h.clock.Now().Equal(first) {
		t.Fatalf("the clock moved to %v", h.clock.Now())
	}
}

func TestOnlyTenantsWithEventsAreRead(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.dir.add(tenantNames(50)...)
	h.out.commitEvents("t10", 3)
	h.waitFor("shipped", func() bool { return h.caughtUp("t10") })
	for _, tn := range tenantNames(50) {
		if tn != "t10" && h.out.count("ReadEvents/"+tn) != 0 {
			t.Errorf("idle tenant %s was read", tn)
		}
	}
}

func TestHintsFindWorkWhoseSignalWasLost(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.HintInterval = 5 * time.Second })
	// Another node committed; its NOTIFY never arrived, its hint did.
	h.out.notify = func(tenant string) { h.hints.Lower(tenant, datasource.TopicEvents, h.clock.Now()) }
	h.out.commitEvents("acme", 4)
	h.out.commitEvents("globex", 2)
	start := h.clock.Now()
	h.waitFor("shipped through the hints", func() bool { return h.caughtUp("acme", "globex") })
	if waited := h.clock.Since(start); waited < time.Second || waited > 10*time.Second {
		t.Errorf("found after %s; want after the remote delay and within two hint intervals", waited)
	}
	if h.hinted("acme") || h.hinted("globex") {
		t.Error("hints of drained tenants were not cleared")
	}
}

func TestAnAllSignalCausesOneHintReadNotAQueryPerTenant(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.HintInterval = time.Hour })
	h.dir.add(tenantNames(30)...)
	h.waitFor("the first hint read", func() bool { return h.hints.Reads() == 1 })
	h.advance(2 * time.Second)
	h.out.notify = func(tenant string) { h.hints.Lower(tenant, datasource.TopicEvents, h.clock.Now()) }
	h.out.commitEvents("t05", 2)
	reads, states := h.hints.Reads(), h.out.count("ConsumerState")
	// The listener reconnected: a burst of All signals.
	for i := 0; i < 5; i++ {
		h.sig.Notify(datasource.Signal{Topic: datasource.TopicEvents, All: true, Remote: true})
	}
	h.waitFor("t05 shipped", func() bool { return h.caughtUp("t05") })
	if got := h.hints.Reads() - reads; got != 1 {
		t.Errorf("%d hint reads after the All signals, want 1", got)
	}
	// Only t05 was looked at (twice: drain start and end) plus the sweep's
	// few tenants.
	if got := h.out.count("ConsumerState") - states; got > 2+2*h.ship.cfg.SweepRate*3 {
		t.Errorf("%d consumer-state queries after the All signals", got)
	}
}

func TestTheSweepFindsWorkWithNeitherSignalNorHint(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Hints = nil; c.SweepRate = 3 })
	h.dir.add(tenantNames(12)...)
	h.out.notify = nil // signal and hint lost in a crash
	h.out.commitEvents("t11", 5)
	h.waitFor("the sweep found t11", func() bool { return h.caughtUp("t11") })
	if got := h.out.count("ConsumerState/t00"); got < 1 {
		t.Error("the sweep did not go round")
	}
	if h.out.count("ReadEvents/t00") != 0 {
		t.Error("the sweep read events of a tenant with no backlog")
	}
}

func TestRemoteSignalsWaitForTheCommittingNode(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.RemoteDelay = 3 * time.Second; c.Hints = nil; c.Directory = nil })
	h.out.notify = nil
	h.out.commitEvents("acme", 2)
	h.sig.Notify(datasource.Signal{Topic: datasource.TopicEvents, Tenant: "acme", Remote: true})
	start := h.clock.Now()
	h.waitFor("shipped", func() bool { return h.caughtUp("acme") })
	if waited := h.clock.Since(start); waited < 3*time.Second {
		t.Errorf("a remote signal was acted on after %s, before the remote delay", waited)
	}
}

func TestAHugeBacklogDoesNotStarveOtherTenants(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Workers = 1; c.BatchSize = 20 })
	// Big's first batch is held until the small tenants have committed
	// and their flush interval has passed. On the fake clock a batch takes
	// no time, so without this the small tenants, due a flush interval
	// after their commit, would never become due while big, re-queued at
	// "now" after each full batch, drains all its batches. With a real
	// clock batches take time: the small tenants are due FlushInterval
	// after their commit, and then go ahead of big's next batch.
	inside, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	h.out.setHook(func(_ context.Context, method, tenant string) error {
		if method == "AdvanceConsumer" && tenant == "big" && !isClosed(inside) {
			close(inside)
			<-release
		}
		return nil
	})
	tx := h.out.begin("big")
	for i := 0; i < 2000; i++ {
		tx.add(0, "")
	}
	tx.commit()
	h.waitForHook("big's first batch is recording its position", inside)
	small := tenantNames(5)
	for _, tn := range small {
		h.out.commitEvents(tn, 1)
	}
	h.advance(h.ship.cfg.FlushInterval) // while big's batch runs
	once.Do(func() { close(release) })
	h.waitFor("all shipped", func() bool { return h.caughtUp(append(small, "big")...) })
	h.out.mu.Lock()
	order := append([]string(nil), h.out.advances...)
	h.out.mu.Unlock()
	lastSmall := 0
	for i, tn := range order {
		if tn != "big" {
			lastSmall = i
		}
	}
	// Each small tenant waits for at most one batch of big's per tenant
	// ahead of it, not for big's 100 batches.
	if lastSmall > 1+2*len(small) {
		t.Errorf("the small tenants' last batch was the %dth of %d: %v", lastSmall+1, len(order), order[:min(len(order), 20)])
	}
	h.assertShippedOnce("big", sharedIndex)
}

func TestAFailingTenantStorageAffectsThatTenantAlone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.out.setFail("broken", fmt.Errorf("%w: circuit open", datasource.ErrTenantUnavailable))
	h.out.commitEvents("broken", 3)
	h.out.commitEvents("fine", 3)
	h.waitFor("fine shipped, broken retried", func() bool {
		return h.caughtUp("fine") && h.out.count("ConsumerState/broken") >= 3
	})
	if st := h.ship.Stats(); st.StorageErrors < 3 {
		t.Errorf("stats %+v", st)
	}
	h.out.setFail("broken", nil)
	h.waitFor("broken recovered", func() bool { return h.caughtUp("broken") })
	h.assertShippedOnce("broken", sharedIndex)
}

func TestADisabledTenantIsLetGoOf(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.out.commitEvents("acme", 3)
	h.waitFor("shipped", func() bool { return h.caughtUp("acme") })
	if err := h.life.disable(context.Background(), "acme"); err != nil {
		t.Fatal(err)
	}
	h.ship.mu.Lock()
	_, known := h.ship.tenants["acme"]
	h.ship.mu.Unlock()
	if known {
		t.Error("the shipper still holds a disabled tenant")
	}
	// A tenant the storage no longer serves is dropped too, not retried.
	h.out.setFail("gone", fmt.Errorf("%w: gone", datasource.ErrTenantDisabled))
	h.ship.Wake("gone", 0)
	h.waitFor("gone let go of", func() bool {
		h.ship.mu.Lock()
		defer h.ship.mu.Unlock()
		_, ok := h.ship.tenants["gone"]
		return !ok && h.out.count("ConsumerState/gone") == 1
	})
}

// Not parallel: it checks that no goroutine of any shipper is left, and
// parallel tests are paused while it runs.
func TestStopWaitsForTheBatchInFlightAndLeavesNothingRunning(t *testing.T) {
	h := newHarness(t, nil)
	inside := make(chan struct{})
	release := make(chan struct{})
	h.out.setHook(func(_ context.Context, method, tenant string) error {
		if method == "AdvanceConsumer" {
			close(inside)
			<-release
		}
		return nil
	})
	// Registered after the harness, so it runs before the harness stops
	// the shipper: a failed test must not leave the batch blocked.
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	h.out.commitEvents("acme", 3)
	h.waitForHook("a batch is recording its position", inside)
	stopped := make(chan error)
	go func() { stopped <- h.ship.Stop(context.Background()) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned while a batch was in flight")
	default:
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if !h.caughtUp("acme") {
		t.Error("the batch in flight did not finish")
	}
	if n := h.sig.Subscribers(datasource.TopicEvents); n != 0 {
		t.Errorf("%d subscriptions left after Stop", n)
	}
	assertNoGoroutine(t, "analytics.(*Shipper)", "tenantsched.(*Scheduler)", "esutil.(*worker)", "elastictransport.", "net/http.(*persistConn)")
}

func TestStopCancelsABatchStuckBeyondItsDeadline(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	inside := make(chan struct{})
	h.out.setHook(func(ctx context.Context, method, tenant string) error {
		if method == "AdvanceConsumer" {
			close(inside)
			<-ctx.Done() // the storage hangs until the call is cancelled
			return ctx.Err()
		}
		return nil
	})
	h.out.commitEvents("acme", 3)
	h.waitForHook("a batch is stuck recording its position", inside)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := h.ship.Stop(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop: %v, want the deadline reported", err)
	}
	if h.out.position("acme", "analytics") != "" {
		t.Error("a cancelled batch recorded a position")
	}
}

func TestConfigValidationSaysWhatToChange(t *testing.T) {
	t.Parallel()
	_, err := New(Config{URLs: []string{"localhost:9200", "http://u:secret@es:9200"}, IndexPrefix: "Bad Prefix",
		IndexMode: "split", Period: "week", BatchSize: 20_000, APIKey: "k", Username: "u",
		InitialBackoff: time.Minute, MaxBackoff: time.Second})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"Outbox is required", `"localhost:9200"`, "not in the URL", "either APIKey",
		"Username and Password", "IndexPrefix", `IndexMode "split"`, `Period "week"`, "BatchSize 20000", "InitialBackoff"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "secret") {
		t.Error("the error shows a password")
	}
	s, err := New(Config{Outbox: newFakeOutbox(nil)})
	if err != nil {
		t.Fatal(err)
	}
	c := s.cfg
	if c.IndexPrefix != "tenantflow" || c.IndexMode != IndexShared || c.Period != PeriodMonth || c.Consumer != "analytics" ||
		c.BatchSize != 500 || c.Workers != 4 || c.Retention != 72*time.Hour || s.Enabled() {
		t.Errorf("defaults %+v", c)
	}
}

func TestDocumentsAreTheEngineEventsInTheIndexSchema(t *testing.T) {
	t.Parallel()
	e := &engine.Event{ID: 42, Tenant: "acme", Type: engine.EventTaskAssigned, Time: time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC),
		InstanceID: 7, BusinessKey: "order-1", DefinitionID: 3, DefinitionKey: "order", ElementID: "approve", ElementType: "userTask",
		TaskID: 9, Data: json.RawMessage(`{"assignee":"bob"}`)}
	b, err := encodeDocument(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"tenant":"acme","eventId":"42","type":"task-assigned","time":"2026-03-04T05:06:07.008Z","processInstanceId":"7",` +
		`"businessKey":"order-1","processDefinitionId":"3","processDefinitionKey":"order","activityId":"approve",` +
		`"activityType":"userTask","taskId":"9","data":{"assignee":"bob"}}`
	if string(b) != want {
		t.Errorf("document\n%s\nwant\n%s", b, want)
	}
	e.Data = json.RawMessage(`[1,2]`)
	if b, _ := encodeDocument(e); !strings.Contains(string(b), `"data":{"value":[1,2]}`) {
		t.Errorf("a non-object data is not wrapped: %s", b)
	}
	s := &Shipper{cfg: Config{IndexPrefix: "tf", IndexMode: IndexShared, Period: PeriodDay}}
	if tg := s.targetOf(e); tg.index != "tf-events-2026.03.04" || tg.alias != "tf-events" {
		t.Errorf("target %+v", tg)
	}
}

// assertNoGoroutine fails when a goroutine whose stack mentions one of the
// markers is still alive. Client connections close asynchronously after
// Stop closed them, so it yields until they are gone, within a bound.
func assertNoGoroutine(t *testing.T, markers ...string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 4<<20)
	for {
		var left []string
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			for _, m := range markers {
				if strings.Contains(g, m) {
					left = append(left, g)
					break
				}
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after Stop, the first:\n%s", len(left), left[0])
		}
		runtime.Gosched()
	}
}
