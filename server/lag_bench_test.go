package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource/dstest"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// lagProcesses are the benchmark's models: the watched tenant's instances run
// straight through; the slow tenant's wait in a Go handler.
const lagProcesses = `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="lag">
  <process id="lag_straight" isExecutable="true">
    <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="e"/>
    <endEvent id="e"/>
  </process>
  <process id="lag_slow" isExecutable="true">
    <startEvent id="s2"/><sequenceFlow id="g1" sourceRef="s2" targetRef="x"/>
    <serviceTask id="x" camunda:type="external" camunda:topic="lag-slow"/><sequenceFlow id="g2" sourceRef="x" targetRef="e2"/>
    <endEvent id="e2"/>
  </process>
</definitions>`

// BenchmarkEventLag measures how long the watched tenant's events take to
// reach its open GET /events stream after the request that committed them
// returned, and that request's latency, in three phases of b.N instances
// each, in one run: alone; while a transaction stays open in another
// database of the same PostgreSQL server (as a report or pg_dump would);
// and while a Go handler of the slow tenant blocks inside a command. Each
// disturbance lasts its whole phase. It reports the p99 lag of each phase
// (the goal: under 200 ms) and each disturbed phase's request p99 over
// the quiet one (the goal: at most 1.10).
//
//	go test -run '^$' -bench EventLag -benchtime 300x -cpu 2 ./server/
func BenchmarkEventLag(b *testing.B) {
	dstest.RequirePostgres(b)
	a := newAPI(b, dstest.Postgres, "slow", "watched")
	ctx := context.Background()
	for _, tenant := range []string{"slow", "watched"} {
		if _, err := a.eng.DeployXML(security.WithTenant(ctx, tenant), "lag.bpmn", lagProcesses); err != nil {
			b.Fatal(err)
		}
	}
	entered, release := make(chan struct{}, 1), make(chan struct{})
	a.eng.RegisterHandler("lag-slow", func(ctx context.Context, _ *engine.ServiceTask) error {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})

	// The stream: each process-completed event's arrival, by instance.
	sctx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	req, _ := http.NewRequestWithContext(sctx, "GET", a.http.URL+"/engine-rest/events?type=process-completed", nil)
	req.SetBasicAuth("reader_watched", password)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("event stream: %d", resp.StatusCode)
	}
	var mu sync.Mutex
	waiting := map[string]chan time.Time{}
	arrived := map[string]time.Time{}
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			at := time.Now()
			var ev eventDTO
			if json.Unmarshal([]byte(data), &ev) != nil {
				continue
			}
			mu.Lock()
			if ch, ok := waiting[ev.InstanceID]; ok {
				ch <- at
				delete(waiting, ev.InstanceID)
			} else {
				arrived[ev.InstanceID] = at
			}
			mu.Unlock()
		}
	}()

	// One instance: the start request's latency, then the time from its
	// response until the stream delivered the instance's completion.
	run := func() (request, lag time.Duration, err error) {
		t0 := time.Now()
		var inst instanceDTO
		if err := a.callAs("user_watched", "POST", "/engine-rest/process-definition/key/lag_straight/start", map[string]any{}, &inst); err != nil {
			return 0, 0, err
		}
		t1 := time.Now()
		ch := make(chan time.Time, 1)
		mu.Lock()
		if at, ok := arrived[inst.ID]; ok {
			delete(arrived, inst.ID)
			ch <- at
		} else {
			waiting[inst.ID] = ch
		}
		mu.Unlock()
		select {
		case at := <-ch:
			return t1.Sub(t0), max(at.Sub(t1), 0), nil
		case <-time.After(30 * time.Second):
			return 0, 0, fmt.Errorf("instance %s: no completion event within 30 s", inst.ID)
		}
	}
	phase := func() (requests, lags []time.Duration) {
		for range b.N {
			r, l, err := run()
			if err != nil {
				b.Fatal(err)
			}
			requests, lags = append(requests, r), append(lags, l)
		}
		return requests, lags
	}
	for range 20 { // warm credentials, pools and the definition cache
		if _, _, err := run(); err != nil {
			b.Fatal(err)
		}
	}

	b.ResetTimer()
	quietReq, quietLag := phase()

	foreign := dstest.OpenSQL(b, dstest.CreateDatabase(b))
	ftx, err := foreign.Begin()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ftx.Exec(`SELECT txid_current()`); err != nil { // an xid, as every writer has
		b.Fatal(err)
	}
	foreignReq, foreignLag := phase()
	if err := ftx.Rollback(); err != nil {
		b.Fatal(err)
	}

	slow := make(chan error, 1)
	go func() {
		_, err := a.eng.StartInstance(security.WithTenant(ctx, "slow"), &engine.StartParams{DefinitionKey: "lag_slow"})
		slow <- err
	}()
	<-entered
	handlerReq, handlerLag := phase()
	close(release)
	if err := <-slow; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()

	p99 := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[int(0.99*float64(len(d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p99(quietLag), "lag-p99-quiet-ms")
	b.ReportMetric(p99(foreignLag), "lag-p99-foreign-tx-ms")
	b.ReportMetric(p99(handlerLag), "lag-p99-slow-handler-ms")
	q := p99(quietReq)
	b.ReportMetric(q, "request-p99-quiet-ms")
	b.ReportMetric(p99(foreignReq)/q, "request-p99-ratio-foreign-tx")
	b.ReportMetric(p99(handlerReq)/q, "request-p99-ratio-slow-handler")
	b.ReportMetric(0, "ns/op")
}
