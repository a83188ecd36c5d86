package analytics

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// keepBody is a transport that answers at once and keeps the request body
// to read later, as net/http may after RoundTrip returned.
type keepBody struct{ body io.ReadCloser }

func (k *keepBody) RoundTrip(req *http.Request) (*http.Response, error) {
	k.body = req.Body
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
}

func TestARequestBodyIsNeverReadAfterItsRoundTrip(t *testing.T) {
	t.Parallel()
	buf := bytes.NewBufferString("first request\n")
	req, err := http.NewRequest(http.MethodPost, "http://es.invalid/_bulk", buf)
	if err != nil {
		t.Fatal(err)
	}
	under := &keepBody{}
	if _, err := (privateBody{under}).RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatalf("%d bytes of the caller's buffer left unread when RoundTrip returned", buf.Len())
	}
	// The bulk indexer refills its buffer for the next request; a late
	// read of the first request must not see that.
	buf.WriteString("second request\n")
	late, _ := io.ReadAll(under.body)
	if string(late) != "first request\n" || buf.String() != "second request\n" {
		t.Errorf("late read %q, buffer %q", late, buf.String())
	}
}

// dropFirstItem removes the first item (action and source lines) of the
// first bulk request of at least two items, as a body drained by a late
// read of the previous request arrives.
type dropFirstItem struct {
	next    http.RoundTripper
	dropped atomic.Bool
}

func (d *dropFirstItem) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, "/_bulk") || d.dropped.Load() {
		return d.next.RoundTrip(req)
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	if len(lines) >= 4 && d.dropped.CompareAndSwap(false, true) {
		b = bytes.Join(lines[2:], nil)
	}
	out := req.Clone(req.Context())
	out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	out.GetBody = nil
	return d.next.RoundTrip(out)
}

func TestAnAnswerForAnotherDocumentAcknowledgesNothing(t *testing.T) {
	t.Parallel()
	drop := &dropFirstItem{next: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(drop.next.(*http.Transport).CloseIdleConnections)
	// One bulk worker: the batch goes out as one request, and the answers
	// the indexer pairs with its items by position are all shifted by one.
	h := newHarness(t, func(c *Config) { c.Transport = drop; c.BulkWorkers = 1 })
	h.out.commitEvents("acme", 10)
	h.waitFor("caught up", func() bool { return h.caughtUp("acme") })
	if !drop.dropped.Load() {
		t.Fatal("no item was dropped: the test tests nothing")
	}
	h.assertShippedOnce("acme", sharedIndex)
	st := h.ship.Stats()
	ts, _ := tenantStats(st, "acme")
	if st.FailedAttempts != 1 || ts.Shipped != 10 {
		t.Errorf("stats %+v; want one failed attempt, then 10 shipped", st)
	}
	if got := h.logs.lines("shipping to Elasticsearch failed", "named document"); len(got) != 1 {
		t.Errorf("log lines about the garbled request: %q", got)
	}
}
