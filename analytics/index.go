package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/tenantflow/tenantflow/engine"
)

// templateVersion is recorded in the index template's _meta; raise it when
// the mapping changes.
const templateVersion = 1

// target is where an event's document goes: the concrete index it is
// written to and the alias readers search ("" when the index is not split
// by time and carries the alias's name itself).
type target struct {
	index, alias string
}

// modeOf returns a tenant's index layout.
func (s *Shipper) modeOf(tenant string) IndexMode {
	if s.cfg.IndexModeFor != nil {
		switch m := s.cfg.IndexModeFor(tenant); m {
		case IndexShared, IndexPerTenant:
			return m
		}
	}
	return s.cfg.IndexMode
}

// targetOf names the index of an event. It depends only on the tenant's
// layout and the event's own time, never on when the event is shipped, so
// a retry after a crash writes to the same index and overwrites.
func (s *Shipper) targetOf(e *engine.Event) target {
	base := s.cfg.IndexPrefix + "-events"
	if s.modeOf(e.Tenant) == IndexPerTenant {
		base += "-" + e.Tenant
	}
	t := e.Time.UTC()
	switch s.cfg.Period {
	case PeriodDay:
		return target{index: base + "-" + t.Format("2006.01.02"), alias: base}
	case PeriodNone:
		return target{index: base}
	default:
		return target{index: base + "-" + t.Format("2006.01"), alias: base}
	}
}

// document is what an event looks like in Elasticsearch. It is its own
// type, not the engine's JSON, so the index schema changes only here,
// together with mapping; the golden files of testdata/golden/v1 pin both.
type document struct {
	Tenant        string          `json:"tenant"`
	EventID       string          `json:"eventId"`
	Type          string          `json:"type"`
	Time          string          `json:"time"`
	InstanceID    string          `json:"processInstanceId,omitempty"`
	BusinessKey   string          `json:"businessKey,omitempty"`
	DefinitionID  string          `json:"processDefinitionId,omitempty"`
	DefinitionKey string          `json:"processDefinitionKey,omitempty"`
	ElementID     string          `json:"activityId,omitempty"`
	ElementType   string          `json:"activityType,omitempty"`
	TaskID        string          `json:"taskId,omitempty"`
	Data          json.RawMessage `json:"data,omitempty"`
}

func idString(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

// errBadEvent marks an event that cannot become a document; it is
// dead-lettered without being sent.
var errBadEvent = errors.New("event cannot be indexed")

// encodeDocument returns the document source of an event.
func encodeDocument(e *engine.Event) ([]byte, error) {
	d := document{
		Tenant:        e.Tenant,
		EventID:       strconv.FormatInt(e.ID, 10),
		Type:          string(e.Type),
		Time:          e.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		InstanceID:    idString(e.InstanceID),
		BusinessKey:   e.BusinessKey,
		DefinitionID:  idString(e.DefinitionID),
		DefinitionKey: e.DefinitionKey,
		ElementID:     e.ElementID,
		ElementType:   e.ElementType,
		TaskID:        idString(e.TaskID),
	}
	if raw := bytes.TrimSpace(e.Data); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if !json.Valid(raw) {
			return nil, fmt.Errorf("%w: its data is not valid JSON", errBadEvent)
		}
		if raw[0] != '{' {
			// A flattened field takes objects: keep scalars and arrays
			// searchable under data.value.
			raw = append(append([]byte(`{"value":`), raw...), '}')
		}
		d.Data = raw
	}
	return json.Marshal(d)
}

// keyword is the mapping of an identifier or a type: exact match,
// aggregatable, ignored (kept in _source only) beyond 1,024 characters
// so an oversized value cannot reject the document.
var keyword = map[string]any{"type": "keyword", "ignore_above": 1024}

// mapping is the index mapping. Unknown top-level fields are kept in
// _source but not indexed (dynamic: false), and data — variable names and
// values chosen by each tenant — is one flattened field, so no tenant can
// grow the mapping: every leaf of data is searchable as a keyword under
// data.<path> and the field count stays fixed whatever the tenants' names.
// Documents must carry routing (the tenant), so a tenant's documents of a
// period share a shard and a retry reaches the same shard.
func mapping() map[string]any {
	return map[string]any{
		"dynamic":  false,
		"_routing": map[string]any{"required": true},
		"properties": map[string]any{
			"tenant":               keyword,
			"eventId":              keyword,
			"type":                 keyword,
			"time":                 map[string]any{"type": "date", "format": "strict_date_optional_time||epoch_millis"},
			"processInstanceId":    keyword,
			"businessKey":          keyword,
			"processDefinitionId":  keyword,
			"processDefinitionKey": keyword,
			"activityId":           keyword,
			"activityType":         keyword,
			"taskId":               keyword,
			"data":                 map[string]any{"type": "flattened", "ignore_above": 1024, "depth_limit": 20},
		},
	}
}

// templateName is the name of the shipper's composable index template.
func (s *Shipper) templateName() string { return s.cfg.IndexPrefix + "-events" }

// templateBody is the composable index template covering every index the
// shipper writes (shared and per-tenant, every period).
func (s *Shipper) templateBody() map[string]any {
	p := s.cfg.IndexPrefix
	return map[string]any{
		"index_patterns": []string{p + "-events", p + "-events-*"},
		"priority":       200,
		"template": map[string]any{
			"settings": s.cfg.IndexSettings,
			"mappings": mapping(),
		},
		"_meta": map[string]any{"managed_by": "tenantflow analytics", "version": templateVersion},
	}
}

// setup creates the index template and the indices on first use. The
// template is put once per process (overwriting an older version); each
// index once, with its alias.
type setup struct {
	mu       sync.Mutex
	template bool
	indices  sync.Map // index name → struct{}
}

// esError is an error answer of Elasticsearch.
type esError struct {
	Status int
	Type   string
	Reason string
}

func (e *esError) Error() string {
	if e.Type == "" {
		return fmt.Sprintf("elasticsearch: status %d", e.Status)
	}
	return fmt.Sprintf("elasticsearch: status %d: %s: %s", e.Status, e.Type, e.Reason)
}

// readError turns an error response into an *esError.
func readError(res *esapi.Response) error {
	var body struct {
		Error struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	_ = json.Unmarshal(b, &body)
	e := &esError{Status: res.StatusCode, Type: body.Error.Type, Reason: body.Error.Reason}
	if e.Type == "" && len(b) > 0 {
		e.Reason = strings.TrimSpace(string(b[:min(len(b), 200)]))
	}
	return e
}

// do runs a request and returns nil for a 2xx answer, an *esError
// otherwise.
func do(ctx context.Context, c *elasticsearch.Client, req esapi.Request) error {
	res, err := req.Do(ctx, c)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.IsError() {
		return readError(res)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return nil
}

// ensureTemplate checks the cluster once and puts the index template.
func (s *Shipper) ensureTemplate(ctx context.Context) error {
	s.setup.mu.Lock()
	defer s.setup.mu.Unlock()
	if s.setup.template {
		return nil
	}
	res, err := s.es.Info(s.es.Info.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("elasticsearch info: %w", err)
	}
	var info struct {
		Version struct {
			Number string `json:"number"`
		} `json:"version"`
	}
	if res.IsError() {
		err = readError(res)
	} else {
		err = json.NewDecoder(res.Body).Decode(&info)
	}
	res.Body.Close()
	if err != nil {
		return fmt.Errorf("elasticsearch info: %w", err)
	}
	if !strings.HasPrefix(info.Version.Number, "8.") {
		s.log.Warn("the analytics shipper targets Elasticsearch 8.x", "version", info.Version.Number)
	}
	body, err := json.Marshal(s.templateBody())
	if err != nil {
		return err
	}
	if err := do(ctx, s.es, esapi.IndicesPutIndexTemplateRequest{Name: s.templateName(), Body: bytes.NewReader(body)}); err != nil {
		return fmt.Errorf("put index template %s: %w", s.templateName(), err)
	}
	s.setup.template = true
	return nil
}

// ensureIndex creates an index with its alias, or adds the alias to an
// index that exists already (created by another node, or auto-created).
func (s *Shipper) ensureIndex(ctx context.Context, t target) error {
	if _, ok := s.setup.indices.Load(t.index); ok {
		return nil
	}
	if err := s.ensureTemplate(ctx); err != nil {
		return err
	}
	body := []byte(`{}`)
	if t.alias != "" {
		body, _ = json.Marshal(map[string]any{"aliases": map[string]any{t.alias: map[string]any{}}})
	}
	err := do(ctx, s.es, esapi.IndicesCreateRequest{Index: t.index, Body: bytes.NewReader(body)})
	var ee *esError
	if errors.As(err, &ee) && ee.Type == "resource_already_exists_exception" {
		err = nil
		if t.alias != "" {
			err = do(ctx, s.es, esapi.IndicesPutAliasRequest{Index: []string{t.index}, Name: t.alias})
		}
	}
	if err != nil {
		return fmt.Errorf("create index %s: %w", t.index, err)
	}
	s.setup.indices.Store(t.index, struct{}{})
	return nil
}

// forgetIndex makes the next batch check an index again (it was deleted).
func (s *Shipper) forgetIndex(index string) { s.setup.indices.Delete(index) }
