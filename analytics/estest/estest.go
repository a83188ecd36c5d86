// Package estest is an in-process Elasticsearch stand-in for tests: an
// httptest server that speaks the parts of the REST protocol the
// go-elasticsearch client uses for shipping and for assertions, with fault
// injection.
//
// It answers GET / (cluster info, version 8.19.7), _bulk (NDJSON
// action/source pairs: index, create, delete; _index, _id, routing;
// per-item statuses and errors: true on partial failure), composable index
// templates, index creation with aliases, _search and _count (match_all,
// term, terms, bool of those; size, from), _refresh, and single-document
// GET. Every answer carries X-Elastic-Product: Elasticsearch, without
// which the client refuses 2xx responses.
//
// Documents are checked against the index's mapping the way Elasticsearch
// would for the mapping features the shipper uses: required routing, date
// fields, keyword fields that get an object, flattened fields that get a
// scalar, and (dynamic: strict) unknown fields. A failed check is a 400
// mapper_parsing_exception (or routing_missing_exception).
//
// Faults: Refuse closes every connection until Accept; FailRequests and
// FailBulkRequests answer the next n requests with a status (503, 429…);
// FailItems refuses chosen bulk items with 429 (retryable) or a 400
// mapper_parsing_exception (permanent), or any status.
//
// Everything visible is exposed for assertions: the documents of an index
// (ID → source, version, how often overwritten), aliases, templates,
// mappings, counters. Changed returns a channel closed at the next change,
// so tests wait on conditions instead of sleeping.
package estest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Version is the Elasticsearch version the stand-in reports.
const Version = "8.19.7"

// Doc is a stored document.
type Doc struct {
	// Index is the concrete index holding the document.
	Index string
	// ID is the document ID.
	ID string
	// Routing is the routing it was written with ("" for none).
	Routing string
	// Source is the document as sent.
	Source json.RawMessage
	// Version starts at 1 and grows with every overwrite.
	Version int64
}

// Item is a bulk item as FailItems predicates see it.
type Item struct {
	Action  string          // index, create, delete
	Index   string          // as sent (may be an alias)
	ID      string          // document ID ("" for an automatic one)
	Routing string          // routing as sent
	Source  json.RawMessage // document source (nil for delete)
}

// ItemFault refuses matching bulk items.
type ItemFault struct {
	// Match selects items; nil matches every item.
	Match func(Item) bool
	// Status is the item's status: 429 or 5xx are retryable for a client,
	// 400 is permanent.
	Status int
	// Type and Reason default by status: es_rejected_execution_exception
	// for 429, mapper_parsing_exception for 400, unavailable_shards_exception
	// otherwise.
	Type, Reason string
	// Times bounds how many items the fault refuses; 0 means until removed.
	Times int

	hits int
}

// Stats counts what the stand-in saw.
type Stats struct {
	Requests     int // every request, refused connections excluded
	BulkRequests int // _bulk requests answered (not failed by a rule)
	BulkItems    int // items received in bulk requests
	Created      int // documents created
	Overwrites   int // documents overwritten by an index action
	ItemFailures int // items answered with an error
	FailedByRule int // requests answered by FailRequests/FailBulkRequests
	Refused      int // connections closed while refusing
}

type index struct {
	name     string
	docs     map[string]*Doc
	mappings map[string]any
	settings map[string]any
	created  time.Time
}

type template struct {
	Patterns []string       `json:"index_patterns"`
	Priority int            `json:"priority"`
	Template map[string]any `json:"template"`
	Meta     map[string]any `json:"_meta,omitempty"`
	raw      json.RawMessage
}

type requestFault struct {
	n      int
	status int
	bulk   bool // bulk requests only
}

// Server is the stand-in. Create it with New.
type Server struct {
	// URL is the server's base URL, for elasticsearch.Config.Addresses.
	URL string

	srv *httptest.Server
	ln  *faultListener

	mu         sync.Mutex
	indices    map[string]*index
	aliases    map[string]map[string]bool // alias → indices
	templates  map[string]*template
	reqFaults  []*requestFault
	itemFaults []*ItemFault
	stats      Stats
	changed    chan struct{}
	seqNo      int64
	autoID     int64
}

// New starts a stand-in, closed when the test ends.
func New(tb testing.TB) *Server {
	tb.Helper()
	s := NewServer()
	tb.Cleanup(s.Close)
	return s
}

// NewServer starts a stand-in; Close stops it.
func NewServer() *Server {
	s := &Server{
		indices:   map[string]*index{},
		aliases:   map[string]map[string]bool{},
		templates: map[string]*template{},
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.ln = &faultListener{Listener: s.srv.Listener, s: s}
	s.srv.Listener = s.ln
	s.srv.Start()
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// ---- faults ----

// faultListener closes connections at once while the server refuses.
type faultListener struct {
	net.Listener
	s        *Server
	refusing atomic.Bool
}

func (l *faultListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.refusing.Load() {
			return c, err
		}
		c.Close()
		l.s.mu.Lock()
		l.s.stats.Refused++
		l.s.mu.Unlock()
	}
}

// Refuse closes every open connection and every new one until Accept: a
// client sees connection errors, as with a node that is down.
func (s *Server) Refuse() {
	s.ln.refusing.Store(true)
	s.srv.CloseClientConnections()
}

// Accept ends Refuse.
func (s *Server) Accept() { s.ln.refusing.Store(false) }

// FailRequests answers the next n requests, of any kind, with status and an
// Elasticsearch error body.
func (s *Server) FailRequests(n, status int) {
	s.mu.Lock()
	s.reqFaults = append(s.reqFaults, &requestFault{n: n, status: status})
	s.mu.Unlock()
}

// FailBulkRequests answers the next n bulk requests with status.
func (s *Server) FailBulkRequests(n, status int) {
	s.mu.Lock()
	s.reqFaults = append(s.reqFaults, &requestFault{n: n, status: status, bulk: true})
	s.mu.Unlock()
}

// FailItems refuses the bulk items f matches, and returns a function that
// removes the fault.
func (s *Server) FailItems(f ItemFault) (remove func()) {
	fp := &f
	if fp.Type == "" {
		switch {
		case fp.Status == http.StatusTooManyRequests:
			fp.Type = "es_rejected_execution_exception"
		case fp.Status == http.StatusBadRequest:
			fp.Type = "mapper_parsing_exception"
		default:
			fp.Type = "unavailable_shards_exception"
		}
	}
	if fp.Reason == "" {
		fp.Reason = "injected by the test"
	}
	s.mu.Lock()
	s.itemFaults = append(s.itemFaults, fp)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, g := range s.itemFaults {
			if g == fp {
				s.itemFaults = append(s.itemFaults[:i], s.itemFaults[i+1:]...)
				return
			}
		}
	}
}

// ---- assertions ----

// Changed returns a channel closed at the next change of documents,
// indices or templates.
func (s *Server) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

func (s *Server) changedLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// Docs returns the documents of the indices an expression names (an
// index, an alias, a pattern with *, or a comma-separated list), by
// "index/id".
func (s *Server) Docs(expr string) map[string]Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Doc{}
	names, _ := s.resolveLocked(expr)
	for _, n := range names {
		for id, d := range s.indices[n].docs {
			out[n+"/"+id] = *d
		}
	}
	return out
}

// Count returns how many documents the indices of expr hold.
func (s *Server) Count(expr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, _ := s.resolveLocked(expr)
	n := 0
	for _, name := range names {
		n += len(s.indices[name].docs)
	}
	return n
}

// Indices lists the concrete indices, sorted.
func (s *Server) Indices() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.indices))
	for n := range s.indices {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Aliases lists the aliases of an index, sorted.
func (s *Server) Aliases(indexName string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for a, ix := range s.aliases {
		if ix[indexName] {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}

// Mapping returns an index's mappings (nil when it does not exist).
func (s *Server) Mapping(indexName string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[indexName]; ix != nil {
		return ix.mappings
	}
	return nil
}

// Template returns the body of an index template as it was put.
func (s *Server) Template(name string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.templates[name]
	if !ok {
		return nil, false
	}
	return t.raw, true
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// ---- protocol ----

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if s.ln.refusing.Load() {
		// A request on a connection accepted just before Refuse.
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
	}
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "parse_exception", err.Error())
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 1 && parts[0] == "" {
		parts = nil
	}
	isBulk := len(parts) > 0 && parts[len(parts)-1] == "_bulk"
	s.mu.Lock()
	s.stats.Requests++
	if status := s.requestFaultLocked(isBulk); status != 0 {
		s.stats.FailedByRule++
		s.mu.Unlock()
		typ := "unavailable_shards_exception"
		if status == http.StatusTooManyRequests {
			typ = "es_rejected_execution_exception"
		}
		writeError(w, status, typ, "injected by the test")
		return
	}
	s.mu.Unlock()

	switch {
	case len(parts) == 0:
		if r.Method == http.MethodHead {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"name": "estest", "cluster_name": "estest", "cluster_uuid": "estest-0000",
			"version": map[string]any{"number": Version, "build_flavor": "default", "build_type": "docker",
				"lucene_version": "9.12.2", "minimum_wire_compatibility_version": "7.17.0",
				"minimum_index_compatibility_version": "7.0.0"},
			"tagline": "You Know, for Search",
		})
	case isBulk && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		def := ""
		if len(parts) == 2 {
			def = parts[0]
		}
		s.bulk(w, def, body)
	case parts[0] == "_index_template" && len(parts) == 2:
		s.indexTemplate(w, r.Method, parts[1], body)
	case parts[len(parts)-1] == "_refresh":
		writeJSON(w, http.StatusOK, map[string]any{"_shards": shards()})
	case parts[len(parts)-1] == "_search" || parts[len(parts)-1] == "_count":
		expr := "_all"
		if len(parts) == 2 {
			expr = parts[0]
		}
		s.search(w, expr, body, parts[len(parts)-1] == "_count")
	case len(parts) == 3 && (parts[1] == "_alias" || parts[1] == "_aliases") && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		s.putAlias(w, parts[0], parts[2])
	case len(parts) == 3 && parts[1] == "_doc" && r.Method == http.MethodGet:
		s.getDoc(w, parts[0], parts[2])
	case len(parts) == 1 && !strings.HasPrefix(parts[0], "_"):
		switch r.Method {
		case http.MethodPut:
			s.createIndex(w, parts[0], body)
		case http.MethodHead, http.MethodGet:
			s.mu.Lock()
			names, err := s.resolveLocked(parts[0])
			s.mu.Unlock()
			if err != nil || len(names) == 0 {
				writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+parts[0]+"]")
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{})
		default:
			writeError(w, http.StatusMethodNotAllowed, "illegal_argument_exception", "method not allowed")
		}
	default:
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", "no handler found for uri ["+r.URL.Path+"] and method ["+r.Method+"]")
	}
}

func (s *Server) requestFaultLocked(bulk bool) int {
	for i, f := range s.reqFaults {
		if f.bulk && !bulk {
			continue
		}
		f.n--
		if f.n <= 0 {
			s.reqFaults = append(s.reqFaults[:i], s.reqFaults[i+1:]...)
		}
		return f.status
	}
	return 0
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, err
		}
		defer z.Close()
		rd = z
	}
	return io.ReadAll(rd)
}

func shards() map[string]any { return map[string]any{"total": 1, "successful": 1, "failed": 0} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func errorBody(typ, reason string) map[string]any {
	return map[string]any{"type": typ, "reason": reason, "root_cause": []any{map[string]any{"type": typ, "reason": reason}}}
}

func writeError(w http.ResponseWriter, status int, typ, reason string) {
	writeJSON(w, status, map[string]any{"error": errorBody(typ, reason), "status": status})
}

// ---- indices, aliases, templates ----

var indexName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.+-]*$`)

func validIndexName(n string) error {
	if len(n) > 255 || !indexName.MatchString(n) || n == "." || n == ".." {
		//lint:ignore ST1005 Elasticsearch's own wording, which clients may match
		return fmt.Errorf("Invalid index name [%s], must be lowercase and must not contain the characters \\, /, *, ?, \", <, >, |, space, comma, #", n)
	}
	return nil
}

func (s *Server) indexTemplate(w http.ResponseWriter, method, name string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch method {
	case http.MethodPut, http.MethodPost:
		var t template
		if err := json.Unmarshal(body, &t); err != nil || len(t.Patterns) == 0 {
			writeError(w, http.StatusBadRequest, "x_content_parse_exception", "index template needs index_patterns")
			return
		}
		for other, o := range s.templates {
			if other != name && o.Priority == t.Priority && patternsOverlap(o.Patterns, t.Patterns) {
				writeError(w, http.StatusBadRequest, "illegal_argument_exception",
					fmt.Sprintf("index template [%s] has index patterns overlapping with [%s] at the same priority", name, other))
				return
			}
		}
		t.raw = append(json.RawMessage(nil), body...)
		s.templates[name] = &t
		s.changedLocked()
		writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
	case http.MethodGet:
		t, ok := s.templates[name]
		if !ok {
			writeError(w, http.StatusNotFound, "resource_not_found_exception", "index template matching ["+name+"] not found")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"index_templates": []any{map[string]any{"name": name, "index_template": t.raw}}})
	default:
		writeError(w, http.StatusMethodNotAllowed, "illegal_argument_exception", "method not allowed")
	}
}

func patternsOverlap(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y || globMatch(x, y) || globMatch(y, x) {
				return true
			}
		}
	}
	return false
}

func globMatch(pattern, name string) bool {
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// templateForLocked is the highest-priority template matching a name.
func (s *Server) templateForLocked(name string) *template {
	var best *template
	for _, t := range s.templates {
		for _, p := range t.Patterns {
			if globMatch(p, name) && (best == nil || t.Priority > best.Priority) {
				best = t
			}
		}
	}
	return best
}

// createIndexLocked creates an index from the matching template and the
// request body (mappings, settings, aliases).
func (s *Server) createIndexLocked(name string, body map[string]any) (*index, int, string, string) {
	if err := validIndexName(name); err != nil {
		return nil, http.StatusBadRequest, "invalid_index_name_exception", err.Error()
	}
	if s.indices[name] != nil {
		return nil, http.StatusBadRequest, "resource_already_exists_exception", "index [" + name + "] already exists"
	}
	if s.aliases[name] != nil {
		return nil, http.StatusBadRequest, "invalid_index_name_exception", "Invalid index name [" + name + "], already exists as alias"
	}
	ix := &index{name: name, docs: map[string]*Doc{}, created: time.Now()}
	aliases := map[string]any{}
	if t := s.templateForLocked(name); t != nil {
		ix.mappings, _ = t.Template["mappings"].(map[string]any)
		ix.settings, _ = t.Template["settings"].(map[string]any)
		if a, ok := t.Template["aliases"].(map[string]any); ok {
			for k, v := range a {
				aliases[k] = v
			}
		}
	}
	if m, ok := body["mappings"].(map[string]any); ok {
		ix.mappings = m
	}
	if st, ok := body["settings"].(map[string]any); ok {
		ix.settings = st
	}
	if a, ok := body["aliases"].(map[string]any); ok {
		for k, v := range a {
			aliases[k] = v
		}
	}
	for a := range aliases {
		if s.indices[a] != nil || a == name {
			return nil, http.StatusBadRequest, "invalid_alias_name_exception", "Invalid alias name [" + a + "]: an index or data stream exists with the same name as the alias"
		}
	}
	s.indices[name] = ix
	for a := range aliases {
		if s.aliases[a] == nil {
			s.aliases[a] = map[string]bool{}
		}
		s.aliases[a][name] = true
	}
	s.changedLocked()
	return ix, 0, "", ""
}

func (s *Server) createIndex(w http.ResponseWriter, name string, body []byte) {
	var req map[string]any
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "x_content_parse_exception", err.Error())
			return
		}
	}
	s.mu.Lock()
	_, status, typ, reason := s.createIndexLocked(name, req)
	s.mu.Unlock()
	if status != 0 {
		writeError(w, status, typ, reason)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": name})
}

func (s *Server) putAlias(w http.ResponseWriter, indexExpr, alias string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.resolveLocked(indexExpr)
	if err != nil || len(names) == 0 {
		writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+indexExpr+"]")
		return
	}
	if s.indices[alias] != nil {
		writeError(w, http.StatusBadRequest, "invalid_alias_name_exception", "Invalid alias name ["+alias+"]: an index exists with the same name")
		return
	}
	if s.aliases[alias] == nil {
		s.aliases[alias] = map[string]bool{}
	}
	for _, n := range names {
		s.aliases[alias][n] = true
	}
	s.changedLocked()
	writeJSON(w, http.StatusOK, map[string]any{"acknowledged": true})
}

// resolveLocked expands an index expression into concrete index names. A
// concrete name or alias that does not exist is an error; a pattern that
// matches nothing is not.
func (s *Server) resolveLocked(expr string) ([]string, error) {
	set := map[string]bool{}
	for _, part := range strings.Split(expr, ",") {
		switch {
		case part == "_all" || part == "*" || part == "":
			for n := range s.indices {
				set[n] = true
			}
		case strings.Contains(part, "*"):
			for n := range s.indices {
				if globMatch(part, n) {
					set[n] = true
				}
			}
			for a, ix := range s.aliases {
				if globMatch(part, a) {
					for n := range ix {
						set[n] = true
					}
				}
			}
		case s.indices[part] != nil:
			set[part] = true
		case s.aliases[part] != nil:
			for n := range s.aliases[part] {
				set[n] = true
			}
		default:
			return nil, fmt.Errorf("no such index [%s]", part)
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// ---- bulk ----

type bulkMeta struct {
	Index    string `json:"_index"`
	ID       string `json:"_id"`
	Routing  string `json:"routing"`
	URouting string `json:"_routing"`
}

func (s *Server) bulk(w http.ResponseWriter, defIndex string, body []byte) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 100<<20)
	var items []any
	hasErrors := false
	s.mu.Lock()
	s.stats.BulkRequests++
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var action map[string]bulkMeta
		if err := json.Unmarshal(line, &action); err != nil || len(action) != 1 {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, "illegal_argument_exception", "Malformed action/metadata line ["+strconv.Itoa(len(items)+1)+"]")
			return
		}
		var op string
		var meta bulkMeta
		for k, v := range action {
			op, meta = k, v
		}
		var source json.RawMessage
		if op != "delete" {
			if !sc.Scan() {
				s.mu.Unlock()
				writeError(w, http.StatusBadRequest, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]")
				return
			}
			source = append(json.RawMessage(nil), sc.Bytes()...)
		}
		if meta.Routing == "" {
			meta.Routing = meta.URouting
		}
		if meta.Index == "" {
			meta.Index = defIndex
		}
		s.stats.BulkItems++
		res := s.bulkItemLocked(op, meta, source)
		if _, failed := res["error"]; failed {
			hasErrors = true
			s.stats.ItemFailures++
		}
		items = append(items, map[string]any{op: res})
	}
	s.changedLocked()
	s.mu.Unlock()
	if err := sc.Err(); err != nil {
		writeError(w, http.StatusBadRequest, "illegal_argument_exception", err.Error())
		return
	}
	if len(items) == 0 {
		writeError(w, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"took": 1, "errors": hasErrors, "items": items})
}

func itemError(idx, id string, status int, typ, reason string) map[string]any {
	e := errorBody(typ, reason)
	delete(e, "root_cause")
	e["index"] = idx
	return map[string]any{"_index": idx, "_id": id, "status": status, "error": e}
}

func (s *Server) bulkItemLocked(op string, meta bulkMeta, source json.RawMessage) map[string]any {
	if meta.Index == "" {
		return itemError("", meta.ID, http.StatusBadRequest, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
	}
	for _, f := range s.itemFaults {
		if f.Times > 0 && f.hits >= f.Times {
			continue
		}
		if f.Match == nil || f.Match(Item{Action: op, Index: meta.Index, ID: meta.ID, Routing: meta.Routing, Source: source}) {
			f.hits++
			return itemError(meta.Index, meta.ID, f.Status, f.Type, f.Reason)
		}
	}
	name := meta.Index
	if ix := s.aliases[name]; ix != nil {
		if len(ix) != 1 {
			return itemError(name, meta.ID, http.StatusBadRequest, "illegal_argument_exception",
				"no write index is defined for alias ["+name+"]")
		}
		for n := range ix {
			name = n
		}
	}
	ix := s.indices[name]
	if ix == nil {
		if op == "delete" {
			return itemError(name, meta.ID, http.StatusNotFound, "index_not_found_exception", "no such index ["+name+"]")
		}
		var status int
		var typ, reason string
		ix, status, typ, reason = s.createIndexLocked(name, nil)
		if ix == nil {
			return itemError(name, meta.ID, status, typ, reason)
		}
	}
	if req, _ := ix.mappings["_routing"].(map[string]any); req != nil && req["required"] == true && meta.Routing == "" {
		return itemError(name, meta.ID, http.StatusBadRequest, "routing_missing_exception", "routing is required for ["+name+"]/["+meta.ID+"]")
	}
	ok := func(status int, result string, d *Doc) map[string]any {
		s.seqNo++
		return map[string]any{"_index": name, "_id": d.ID, "_version": d.Version, "result": result,
			"_shards": map[string]any{"total": 2, "successful": 1, "failed": 0}, "_seq_no": s.seqNo, "_primary_term": 1, "status": status}
	}
	existing := ix.docs[meta.ID]
	switch op {
	case "delete":
		if existing == nil {
			return map[string]any{"_index": name, "_id": meta.ID, "_version": 1, "result": "not_found", "status": 404}
		}
		delete(ix.docs, meta.ID)
		return ok(http.StatusOK, "deleted", existing)
	case "index", "create":
		if err := checkSource(ix.mappings, source); err != nil {
			return itemError(name, meta.ID, http.StatusBadRequest, "mapper_parsing_exception", err.Error())
		}
		if meta.ID == "" {
			s.autoID++
			meta.ID = "auto-" + strconv.FormatInt(s.autoID, 10)
		}
		if existing != nil {
			if op == "create" {
				return itemError(name, meta.ID, http.StatusConflict, "version_conflict_engine_exception",
					"["+meta.ID+"]: version conflict, document already exists (current version ["+strconv.FormatInt(existing.Version, 10)+"])")
			}
			existing.Version++
			existing.Source, existing.Routing = source, meta.Routing
			s.stats.Overwrites++
			return ok(http.StatusOK, "updated", existing)
		}
		d := &Doc{Index: name, ID: meta.ID, Routing: meta.Routing, Source: source, Version: 1}
		ix.docs[meta.ID] = d
		s.stats.Created++
		return ok(http.StatusCreated, "created", d)
	default:
		return itemError(name, meta.ID, http.StatusBadRequest, "illegal_argument_exception", "the stand-in does not support the "+op+" action")
	}
}

// checkSource checks a document against the mapping features the shipper
// relies on.
func checkSource(mappings map[string]any, source json.RawMessage) error {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(source))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return fmt.Errorf("failed to parse: the document is not a JSON object")
	}
	props, _ := mappings["properties"].(map[string]any)
	strict := mappings["dynamic"] == "strict"
	for field, v := range doc {
		p, ok := props[field].(map[string]any)
		if !ok {
			if strict {
				return fmt.Errorf("[1:2] mapping set to strict, dynamic introduction of [%s] within [_doc] is not allowed", field)
			}
			continue
		}
		typ, _ := p["type"].(string)
		switch typ {
		case "keyword":
			if _, isObj := v.(map[string]any); isObj {
				return fmt.Errorf("failed to parse field [%s] of type [keyword]: expected a value, got an object", field)
			}
		case "date":
			switch x := v.(type) {
			case json.Number:
			case string:
				if _, err := time.Parse(time.RFC3339Nano, x); err != nil {
					return fmt.Errorf("failed to parse field [%s] of type [date]: failed to parse date field [%s]", field, x)
				}
			default:
				return fmt.Errorf("failed to parse field [%s] of type [date]", field)
			}
		case "flattened":
			if _, isObj := v.(map[string]any); !isObj && v != nil {
				return fmt.Errorf("failed to parse field [%s] of type [flattened]: expected an object", field)
			}
		}
	}
	return nil
}

// ---- reading ----

func (s *Server) getDoc(w http.ResponseWriter, expr, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.resolveLocked(expr)
	if err != nil || len(names) != 1 {
		writeError(w, http.StatusNotFound, "index_not_found_exception", "no such index ["+expr+"]")
		return
	}
	d := s.indices[names[0]].docs[id]
	if d == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"_index": names[0], "_id": id, "found": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"_index": d.Index, "_id": d.ID, "_version": d.Version, "_routing": d.Routing,
		"found": true, "_source": d.Source})
}

type searchRequest struct {
	Query map[string]json.RawMessage `json:"query"`
	Size  *int                       `json:"size"`
	From  int                        `json:"from"`
}

func (s *Server) search(w http.ResponseWriter, expr string, body []byte, count bool) {
	var req searchRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "parsing_exception", err.Error())
			return
		}
	}
	match, err := compileQuery(req.Query)
	if err != nil {
		writeError(w, http.StatusBadRequest, "parsing_exception", err.Error())
		return
	}
	s.mu.Lock()
	names, err := s.resolveLocked(expr)
	if err != nil {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "index_not_found_exception", err.Error())
		return
	}
	var hits []*Doc
	for _, n := range names {
		ids := make([]string, 0, len(s.indices[n].docs))
		for id := range s.indices[n].docs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			d := s.indices[n].docs[id]
			var src map[string]any
			_ = json.Unmarshal(d.Source, &src)
			if match(src) {
				cp := *d
				hits = append(hits, &cp)
			}
		}
	}
	s.mu.Unlock()
	if count {
		writeJSON(w, http.StatusOK, map[string]any{"count": len(hits), "_shards": shards()})
		return
	}
	size := 10
	if req.Size != nil {
		size = *req.Size
	}
	total := len(hits)
	from := min(max(req.From, 0), len(hits))
	hits = hits[from:min(from+max(size, 0), len(hits))]
	out := make([]any, 0, len(hits))
	for _, d := range hits {
		h := map[string]any{"_index": d.Index, "_id": d.ID, "_score": 1.0, "_source": d.Source}
		if d.Routing != "" {
			h["_routing"] = d.Routing
		}
		out = append(out, h)
	}
	writeJSON(w, http.StatusOK, map[string]any{"took": 1, "timed_out": false, "_shards": shards(),
		"hits": map[string]any{"total": map[string]any{"value": total, "relation": "eq"}, "max_score": 1.0, "hits": out}})
}

// compileQuery supports match_all, term, terms and bool (must, filter,
// should, must_not) of those.
func compileQuery(q map[string]json.RawMessage) (func(map[string]any) bool, error) {
	if len(q) == 0 {
		return func(map[string]any) bool { return true }, nil
	}
	if len(q) != 1 {
		return nil, fmt.Errorf("a query has exactly one clause")
	}
	for kind, raw := range q {
		switch kind {
		case "match_all":
			return func(map[string]any) bool { return true }, nil
		case "term":
			var t map[string]json.RawMessage
			if err := json.Unmarshal(raw, &t); err != nil || len(t) != 1 {
				return nil, fmt.Errorf("[term] query malformed")
			}
			for field, v := range t {
				var obj struct {
					Value any `json:"value"`
				}
				var want any
				if json.Unmarshal(v, &obj) == nil && obj.Value != nil {
					want = obj.Value
				} else if err := json.Unmarshal(v, &want); err != nil {
					return nil, err
				}
				w := fmt.Sprint(want)
				return func(doc map[string]any) bool { return fieldEquals(doc, field, w) }, nil
			}
		case "terms":
			var t map[string][]any
			if err := json.Unmarshal(raw, &t); err != nil || len(t) != 1 {
				return nil, fmt.Errorf("[terms] query malformed")
			}
			for field, vs := range t {
				return func(doc map[string]any) bool {
					for _, v := range vs {
						if fieldEquals(doc, field, fmt.Sprint(v)) {
							return true
						}
					}
					return false
				}, nil
			}
		case "bool":
			var b map[string]json.RawMessage
			if err := json.Unmarshal(raw, &b); err != nil {
				return nil, err
			}
			var must, should, not []func(map[string]any) bool
			for occ, clauses := range b {
				var list []map[string]json.RawMessage
				if err := json.Unmarshal(clauses, &list); err != nil {
					var one map[string]json.RawMessage
					if err := json.Unmarshal(clauses, &one); err != nil {
						return nil, fmt.Errorf("[bool] %s malformed", occ)
					}
					list = append(list, one)
				}
				for _, c := range list {
					f, err := compileQuery(c)
					if err != nil {
						return nil, err
					}
					switch occ {
					case "must", "filter":
						must = append(must, f)
					case "should":
						should = append(should, f)
					case "must_not":
						not = append(not, f)
					default:
						return nil, fmt.Errorf("[bool] does not support [%s]", occ)
					}
				}
			}
			return func(doc map[string]any) bool {
				for _, f := range must {
					if !f(doc) {
						return false
					}
				}
				for _, f := range not {
					if f(doc) {
						return false
					}
				}
				if len(should) == 0 {
					return true
				}
				for _, f := range should {
					if f(doc) {
						return true
					}
				}
				return false
			}, nil
		}
		return nil, fmt.Errorf("unknown query [%s] (the stand-in supports match_all, term, terms, bool)", kind)
	}
	return nil, nil
}

// fieldEquals compares a field (dotted paths reach into objects, as a
// flattened field does) with a value's string form.
func fieldEquals(doc map[string]any, field, want string) bool {
	var cur any = doc
	for _, p := range strings.Split(field, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		cur, ok = m[p]
		if !ok {
			return false
		}
	}
	if list, ok := cur.([]any); ok {
		for _, v := range list {
			if fmt.Sprint(v) == want {
				return true
			}
		}
		return false
	}
	return fmt.Sprint(cur) == want
}

// ClearFaults removes every request and item fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.reqFaults, s.itemFaults = nil, nil
	s.mu.Unlock()
}
