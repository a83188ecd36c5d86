package bpmn_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/tenantflow/tenantflow/engine/bpmn"
)

func wantProblem(t *testing.T, pe *bpmn.ParseError, sentinel error, line int, contains ...string) {
	t.Helper()
	if !errors.Is(pe, sentinel) {
		t.Errorf("error %v is not %v", pe, sentinel)
	}
	p := pe.Problems[len(pe.Problems)-1]
	if line > 0 {
		eq(t, "line", p.Line, line)
	}
	for _, c := range contains {
		if !strings.Contains(p.Message, c) {
			t.Errorf("message %q does not contain %q", p.Message, c)
		}
	}
}

func TestDeclarationsRejected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		line int
	}{
		{"entity expansion", `<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="&lol3;"/>`, 2},
		{"external entity", `<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"><bpmn:process id="&xxe;"/></bpmn:definitions>`, 2},
		{"external DTD", `<!DOCTYPE definitions SYSTEM "http://example.com/bpmn.dtd">
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>`, 1},
		{"declaration inside the root", doc(`<bpmn:process id="P">
  <!ENTITY x "y">
</bpmn:process>`), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pe := parseErr(t, tt.src, bpmn.Options{})
			eq(t, "problems", len(pe.Problems), 1)
			wantProblem(t, pe, bpmn.ErrDoctype, tt.line, "DOCTYPE", "not allowed")
		})
	}
}

func TestEntities(t *testing.T) {
	t.Parallel()
	// Undeclared entities are malformed XML, not expanded and not looked up.
	pe := parseErr(t, doc(`<bpmn:process id="P">
  <bpmn:task id="T" name="&xxe;"/>
</bpmn:process>`), bpmn.Options{})
	wantProblem(t, pe, bpmn.ErrMalformed, 3, "&xxe;")

	// The predefined entities and character references work.
	defs := mustParse(t, doc(`<bpmn:process id="P"><bpmn:task id="T" name="a &amp; b &lt;&#233;&#x41;&quot;&apos;&gt;"/></bpmn:process>`))
	eq(t, "name", defs.Processes[0].FlowNodes[0].Name, `a & b <éA"'>`)
}

// padded returns a valid document of at least n bytes.
func padded(n int) []byte {
	head := doc(`<bpmn:process id="P" isExecutable="true"><bpmn:task id="T"/></bpmn:process>`)
	pad := max(n-len(head), 0)
	return []byte(strings.Replace(head, "</bpmn:definitions>", "<!--"+strings.Repeat("x", pad)+"-->\n</bpmn:definitions>", 1))
}

func TestMaxBytes(t *testing.T) {
	t.Parallel()
	src := padded(5000)
	n := int64(len(src))

	if _, err := bpmn.ParseBytes(src, bpmn.Options{MaxBytes: n}); err != nil {
		t.Errorf("document of exactly MaxBytes: %v", err)
	}
	pe := parseErr(t, string(src), bpmn.Options{MaxBytes: n - 1})
	wantProblem(t, pe, bpmn.ErrTooLarge, 0, fmt.Sprintf("limit of %d bytes", n-1), "Options.MaxBytes")
	pe = parseErr(t, string(src), bpmn.Options{MaxBytes: 1000})
	wantProblem(t, pe, bpmn.ErrTooLarge, 3, "limit of 1000 bytes")
}

// endless is a reader that never ends: a definitions start tag, then white space forever. It
// counts what was read from it.
type endless struct {
	head []byte
	read int64
}

func (e *endless) Read(b []byte) (int, error) {
	n := 0
	if len(e.head) > 0 {
		n = copy(b, e.head)
		e.head = e.head[n:]
	}
	for i := n; i < len(b); i++ {
		b[i] = ' '
	}
	e.read += int64(len(b))
	return len(b), nil
}

func TestMaxBytesDefaultStopsReading(t *testing.T) {
	t.Parallel()
	r := &endless{head: []byte(header)}
	_, err := bpmn.Parse(r, bpmn.Options{})
	var pe *bpmn.ParseError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a ParseError", err)
	}
	wantProblem(t, pe, bpmn.ErrTooLarge, 1, "limit of 10485760 bytes", "raise Options.MaxBytes")
	if r.read > bpmn.DefaultMaxBytes+1 {
		t.Errorf("read %d bytes from the reader, want at most the limit and one byte", r.read)
	}
}

// nested returns a document with a task whose extension elements nest depth foreign elements.
func nested(depth int) string {
	return doc(`<bpmn:process id="P"><bpmn:task id="T"><bpmn:extensionElements>` + "\n" +
		strings.Repeat(`<x:a xmlns:x="urn:x">`, depth) + strings.Repeat(`</x:a>`, depth) +
		`</bpmn:extensionElements></bpmn:task></bpmn:process>`)
}

func TestMaxDepth(t *testing.T) {
	t.Parallel()
	// definitions, process, task, extensionElements: the foreign elements start at depth 5.
	if _, err := bpmn.ParseBytes([]byte(nested(96)), bpmn.Options{}); err != nil {
		t.Errorf("depth 100: %v", err)
	}
	pe := parseErr(t, nested(97), bpmn.Options{})
	wantProblem(t, pe, bpmn.ErrTooDeep, 3, "limit of 100 elements", "Options.MaxDepth")

	if _, err := bpmn.ParseBytes([]byte(nested(6)), bpmn.Options{MaxDepth: 10}); err != nil {
		t.Errorf("depth 10 with MaxDepth 10: %v", err)
	}
	pe = parseErr(t, nested(7), bpmn.Options{MaxDepth: 10})
	wantProblem(t, pe, bpmn.ErrTooDeep, 3, "limit of 10 elements")

	// Nested sub-processes recurse in the parser; the limit bounds that too.
	deep := doc(`<bpmn:process id="P">` + strings.Repeat("\n<bpmn:subProcess>", 5000) + strings.Repeat("</bpmn:subProcess>", 5000) + `</bpmn:process>`)
	pe = parseErr(t, deep, bpmn.Options{})
	wantProblem(t, pe, bpmn.ErrTooDeep, 101, "<subProcess>")
}

func TestMaxElements(t *testing.T) {
	t.Parallel()
	src := doc(`<bpmn:process id="P">` + strings.Repeat("\n<bpmn:task/>", 50) + `</bpmn:process>`)
	if _, err := bpmn.ParseBytes([]byte(src), bpmn.Options{MaxElements: 52}); err != nil {
		t.Errorf("52 elements with MaxElements 52: %v", err)
	}
	pe := parseErr(t, src, bpmn.Options{MaxElements: 51})
	wantProblem(t, pe, bpmn.ErrTooManyElements, 52, "limit of 51 elements", "Options.MaxElements")
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		src      string
		line     int
		contains string
	}{
		{"mismatched end tag", doc("<bpmn:process id=\"P\">\n<bpmn:task id=\"T\">\n</bpmn:process>"), 4, "<task> closed by </process>"},
		{"unclosed at end", header + "\n<bpmn:process id=\"P\">\n", 3, "unexpected EOF"},
		{"unquoted attribute", doc(`<bpmn:process id=P/>`), 2, "unquoted"},
		{"second root", doc("") + "<bpmn:definitions/>\n", 4, "after the root element"},
		{"text after root", doc("") + "junk\n", 3, "text outside the root element"},
		{"text before root", "junk\n" + doc(""), 1, "text outside the root element"},
		{"byte order mark after the start", "\n\uFEFF" + doc(""), 1, "text outside the root element"},
		{"invalid UTF-8", doc("<bpmn:process id=\"P\" name=\"\xff\xfe\"/>"), 2, "UTF-8"},
		{"other encoding", `<?xml version="1.0" encoding="ISO-8859-1"?>` + "\n" + doc(""), 1, "ISO-8859-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pe := parseErr(t, tt.src, bpmn.Options{})
			eq(t, "problems", len(pe.Problems), 1)
			wantProblem(t, pe, bpmn.ErrMalformed, tt.line, "malformed XML", tt.contains)
		})
	}
}

func TestByteOrderMark(t *testing.T) {
	t.Parallel()
	defs := mustParse(t, "\uFEFF<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"+doc(`<bpmn:process id="P"/>`))
	eq(t, "process line", defs.Processes[0].Line, 3)
}

func TestInvalidOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []bpmn.Options{{MaxBytes: -1}, {MaxDepth: -1}, {MaxElements: -1}} {
		_, err := bpmn.ParseBytes([]byte(doc("")), opts)
		var pe *bpmn.ParseError
		if err == nil || errors.As(err, &pe) {
			t.Errorf("Options %+v: error %v, want a plain error", opts, err)
		} else if !strings.Contains(err.Error(), "zero for the default") {
			t.Errorf("Options %+v: error %q does not say what to do", opts, err)
		}
	}
}

// failing reads a little, then fails.
type failing struct{ err error }

func (f failing) Read(b []byte) (int, error) {
	return copy(b, header), f.err
}

func TestReaderError(t *testing.T) {
	t.Parallel()
	cause := errors.New("connection reset")
	_, err := bpmn.Parse(failing{cause}, bpmn.Options{})
	if !errors.Is(err, cause) {
		t.Fatalf("error %v does not wrap the reader's error", err)
	}
	var pe *bpmn.ParseError
	if errors.As(err, &pe) {
		t.Errorf("a reader failure is reported as a ParseError: %v", err)
	}

	// A reader that ends early gives malformed XML, not a read error.
	_, err = bpmn.Parse(io.MultiReader(strings.NewReader(header), bytes.NewReader(nil)), bpmn.Options{})
	if !errors.Is(err, bpmn.ErrMalformed) {
		t.Errorf("truncated document: %v, want ErrMalformed", err)
	}
}

func TestProblemFormatting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    bpmn.Problem
		want string
	}{
		{bpmn.Problem{Line: 3, ElementID: "T", Message: "bad"}, `line 3: element "T": bad`},
		{bpmn.Problem{Message: "bad"}, "bad"},
		{bpmn.Problem{ElementID: "T", Message: "bad"}, `element "T": bad`},
	}
	for _, tt := range tests {
		eq(t, "String", tt.p.String(), tt.want)
	}
	eq(t, "one problem", (&bpmn.ParseError{Problems: []bpmn.Problem{tests[0].p}}).Error(), `bpmn: line 3: element "T": bad`)
	eq(t, "no problem", (&bpmn.ParseError{}).Error(), "bpmn: invalid document")
}
