package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/datasource/dstest"
)

// benchProcess is start → user task → external task → end.
const benchProcess = `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" targetNamespace="bench">
  <process id="bench_user" isExecutable="true">
    <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <userTask id="t" name="Approve"/><sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
    <endEvent id="e"/>
  </process>
  <process id="bench_external" isExecutable="true">
    <startEvent id="s2"/><sequenceFlow id="g1" sourceRef="s2" targetRef="x"/>
    <serviceTask id="x" camunda:type="external" camunda:topic="bench"/><sequenceFlow id="g2" sourceRef="x" targetRef="e2"/>
    <endEvent id="e2"/>
  </process>
</definitions>`

// benchAPI is a server on PostgreSQL (pg-schema) with the bench processes
// deployed in tenant "acme".
func benchAPI(b *testing.B) *api {
	b.Helper()
	a := newAPI(b, dstest.Postgres, "acme")
	path := filepath.Join(b.TempDir(), "bench.bpmn")
	if err := os.WriteFile(path, []byte(benchProcess), 0o600); err != nil {
		b.Fatal(err)
	}
	if r := a.deployFile("admin_acme", path); r.status != http.StatusOK {
		b.Fatalf("deploy: %d %s", r.status, r.body)
	}
	a.client.Transport = &http.Transport{MaxIdleConnsPerHost: 128}
	return a
}

// call is a lean JSON request for benchmarks, as admin_acme: no
// testing.T helpers per call.
func (a *api) call(method, path string, body any, out any) error {
	return a.callAs("admin_acme", method, path, body, out)
}

// callAs is call as login.
func (a *api) callAs(login, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, a.http.URL+path, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(login, password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// parallelLatencies runs op b.N times from clients goroutines and reports
// the p50 and p99 of one op in milliseconds.
func parallelLatencies(b *testing.B, clients int, op func() error) {
	b.Helper()
	var next atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	b.ResetTimer()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				if err := op(); err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "ops/s")
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// BenchmarkRESTRoundTrip is one user-task process over REST: start by key,
// find the task, complete it (the instance ends). One op is the three calls.
func BenchmarkRESTRoundTrip(b *testing.B) {
	dstest.RequirePostgres(b)
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			a := benchAPI(b)
			parallelLatencies(b, clients, func() error {
				var inst instanceDTO
				if err := a.call("POST", "/engine-rest/process-definition/key/bench_user/start", map[string]any{}, &inst); err != nil {
					return err
				}
				var tasks []struct {
					ID string `json:"id"`
				}
				if err := a.call("GET", "/engine-rest/task?processInstanceId="+inst.ID, nil, &tasks); err != nil {
					return err
				}
				if len(tasks) != 1 {
					return fmt.Errorf("instance %s has %d tasks", inst.ID, len(tasks))
				}
				return a.call("POST", "/engine-rest/task/"+tasks[0].ID+"/complete", map[string]any{}, nil)
			})
		})
	}
}

// BenchmarkFetchAndLockComplete measures external-task throughput over REST:
// workers fetch up to 10 tasks at a time and complete each. One op is one
// completed task; instances are started before the timer runs.
func BenchmarkFetchAndLockComplete(b *testing.B) {
	dstest.RequirePostgres(b)
	for _, workers := range []int{1, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			a := benchAPI(b)
			for i := 0; i < b.N; i++ {
				if err := a.call("POST", "/engine-rest/process-definition/key/bench_external/start", map[string]any{}, nil); err != nil {
					b.Fatal(err)
				}
			}
			var done atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, workers)
			b.ResetTimer()
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					worker := fmt.Sprintf("w%d", w)
					for done.Load() < int64(b.N) {
						var tasks []struct {
							ID string `json:"id"`
						}
						err := a.call("POST", "/engine-rest/external-task/fetchAndLock", map[string]any{"workerId": worker, "maxTasks": 10,
							"topics": []map[string]any{{"topicName": "bench", "lockDuration": 60000}}}, &tasks)
						if err != nil {
							errs <- err
							return
						}
						if len(tasks) == 0 {
							return // the others hold the rest
						}
						for _, t := range tasks {
							if err := a.call("POST", "/engine-rest/external-task/"+t.ID+"/complete", map[string]any{"workerId": worker}, nil); err != nil {
								errs <- err
								return
							}
							done.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			if done.Load() != int64(b.N) {
				b.Fatalf("completed %d of %d tasks", done.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tasks/s")
		})
	}
}

// BenchmarkAuthorize is what authentication and tenant resolution add to a
// request with warm caches: credentials checked against the verified-
// credential cache (no bcrypt), the membership read through the registry
// cache, and the route's role checked.
func BenchmarkAuthorize(b *testing.B) {
	a := newAPI(b, dstest.SQLite, "acme")
	var rt route
	for _, r := range a.srv.routeTable() {
		if r.method == "GET" && r.path == "/task" {
			rt = r
		}
	}
	tok, _, err := a.env.Sources.Primary.CreateToken(b.Context(), a.userID(b, "user_acme"), "bench", time.Time{})
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		set  func(*http.Request)
	}{
		{"basic", func(r *http.Request) { r.SetBasicAuth("user_acme", password) }},
		{"basic+header", func(r *http.Request) { r.SetBasicAuth("user_acme", password); r.Header.Set("X-Tenant-ID", "acme") }},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", "/engine-rest/task", nil)
			c.set(req)
			if _, err := a.srv.authorize(req, rt); err != nil { // warm
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				p, err := a.srv.authorize(req, rt)
				if err != nil || p.Tenant != "acme" {
					b.Fatal(p, err)
				}
			}
		})
	}
}

// userID looks a test account up by login.
func (a *api) userID(tb testing.TB, login string) string {
	tb.Helper()
	u, err := a.env.Sources.Primary.UserByLogin(tb.Context(), login)
	if err != nil {
		tb.Fatal(err)
	}
	return u.ID
}
