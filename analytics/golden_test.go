package analytics

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/engine"
)

// The golden files under testdata/golden/v1 pin what the index holds: the
// document of each kind of event and the index template with its mapping.
// A document that changes shape under an existing mapping breaks every
// dashboard and query on the index, so the format is versioned like the
// REST API's. Regenerate after a deliberate change (and a new
// templateVersion) with
//
//	go test ./analytics -run TestGolden -update
var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden/v1")

// checkGolden compares got with a golden file, or writes it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", "v1", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./analytics -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed: the documents in the index would differ\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestGoldenDocuments pins the document source of events of every shape:
// all fields set, only the required ones, data that is an object, a
// scalar, an array or null, and text that JSON escapes.
func TestGoldenDocuments(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC)
	events := []*engine.Event{
		{ID: 42, Tenant: "acme", Type: engine.EventTaskAssigned, Time: at, Cursor: "c17", InstanceID: 7, BusinessKey: "order-1",
			DefinitionID: 3, DefinitionKey: "order", ElementID: "approve", ElementType: "userTask", TaskID: 9,
			Data: json.RawMessage(`{"assignee":"bob","name":"Approve"}`)},
		{ID: 1, Tenant: "globex", Type: engine.EventProcessStarted, Time: at.In(time.FixedZone("CET", 3600))},
		{ID: 43, Tenant: "acme", Type: engine.EventVariableUpdated, Time: at, InstanceID: 7, DefinitionID: 3, DefinitionKey: "order",
			Data: json.RawMessage(` {"name":"total","scopeId":"7","type":"Double","value":12.5} `)},
		{ID: 44, Tenant: "acme", Type: engine.EventVariableUpdated, Time: at, InstanceID: 7, Data: json.RawMessage(`"just text"`)},
		{ID: 45, Tenant: "acme", Type: engine.EventVariableUpdated, Time: at, InstanceID: 7, Data: json.RawMessage(`[1,2]`)},
		{ID: 46, Tenant: "acme", Type: engine.EventIncidentResolved, Time: at, InstanceID: 7, Data: json.RawMessage(`null`)},
		{ID: 47, Tenant: "acme", Type: engine.EventProcessCompleted, Time: at, InstanceID: 7, BusinessKey: `<b>"ünï"</b> & co`,
			Data: json.RawMessage(`{"note":"line\nbreak \u2028"}`)},
	}
	var out bytes.Buffer
	for _, e := range events {
		b, err := encodeDocument(e)
		if err != nil {
			t.Fatalf("event %d: %v", e.ID, err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	checkGolden(t, "documents.ndjson", out.Bytes())
}

// TestGoldenIndexTemplate pins the index template the shipper puts, with
// the mapping the documents are indexed by.
func TestGoldenIndexTemplate(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Outbox: newFakeOutbox(nil)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(s.templateBody(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "index-template.json", append(b, '\n'))
}
