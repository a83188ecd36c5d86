package bpmn

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Namespaces matched by URI; prefixes are whatever the document declares.
const (
	nsModel   = "http://www.omg.org/spec/BPMN/20100524/MODEL"
	nsCamunda = "http://camunda.org/schema/1.0/bpmn"
	nsZeebe   = "http://camunda.org/schema/zeebe/1.0"
	nsModeler = "http://camunda.org/schema/modeler/1.0"
)

// Parse reads one BPMN 2.0 document from r and returns its definitions. A document it will
// not accept yields a *ParseError listing the problems with their lines; a failure to read r
// is returned wrapped as it is. Options bound the work; the zero value means the defaults.
func Parse(r io.Reader, opts Options) (*Definitions, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	p := &parser{opts: opts}
	p.dec = xml.NewDecoder(&limitedReader{r: r, max: opts.MaxBytes})
	// Strict with no Entity map: only the five predefined entities and character
	// references are expanded; anything else is a syntax error.
	p.dec.Strict = true
	defs := p.document()
	if p.readErr != nil {
		return nil, p.readErr
	}
	if len(p.problems) > 0 {
		return nil, &ParseError{Problems: p.problems}
	}
	return defs, nil
}

// ParseBytes is Parse over a byte slice.
func ParseBytes(b []byte, opts Options) (*Definitions, error) {
	return Parse(bytes.NewReader(b), opts)
}

// errInputLimit is what limitedReader returns past the limit; the parser turns it into a
// problem carrying ErrTooLarge.
var errInputLimit = errors.New("input limit reached")

// readError marks a failure of the caller's reader, as opposed to a problem of the document.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// limitedReader passes at most max bytes through and fails with errInputLimit as soon as
// the input has more, so an oversized document is rejected without reading all of it.
type limitedReader struct {
	r        io.Reader
	max, n   int64
	exceeded bool
}

func (l *limitedReader) Read(b []byte) (int, error) {
	if l.exceeded {
		return 0, errInputLimit
	}
	room := l.max - l.n
	// Ask for one byte more than is allowed, to learn whether the input goes on.
	if int64(len(b)) > room+1 {
		b = b[:room+1]
	}
	n, err := l.r.Read(b)
	if int64(n) > room {
		l.exceeded = true
		l.n = l.max
		return int(room), errInputLimit
	}
	l.n += int64(n)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

// parser holds the state of one Parse call. Element handlers read through next, so the
// limits apply wherever they are; after a fatal problem next reports false and every loop
// unwinds.
type parser struct {
	dec  *xml.Decoder
	opts Options

	depth    int // open elements
	elements int // elements seen

	problems    []Problem
	stopped     bool  // a fatal problem or a read error ends parsing
	readErr     error // the caller's reader failed
	unsupported []*UnsupportedElement
	processID   string // the process being parsed, for UnsupportedElement.ProcessID
}

// elem is a start tag with the line it began on.
type elem struct {
	name  xml.Name
	attrs []xml.Attr
	line  int
}

// attr returns the unqualified attribute local, as the BPMN schema writes them.
func (e elem) attr(local string) string {
	v, _ := e.lookup("", local)
	return v
}

// camunda returns the camunda: attribute local.
func (e elem) camunda(local string) string {
	v, _ := e.lookup(nsCamunda, local)
	return v
}

func (e elem) lookup(space, local string) (string, bool) {
	for _, a := range e.attrs {
		if a.Name.Local != local {
			continue
		}
		// The BPMN schema's attributes are unqualified; tolerate a model-namespace prefix.
		if a.Name.Space == space || (space == "" && a.Name.Space == nsModel) {
			return a.Value, true
		}
	}
	return "", false
}

// next returns the next token and the line it starts on, enforcing the limits. It returns
// false at the end of the input and after a fatal problem.
func (p *parser) next() (xml.Token, int, bool) {
	if p.stopped {
		return nil, 0, false
	}
	line, _ := p.dec.InputPos()
	tok, err := p.dec.Token()
	if err != nil {
		p.tokenError(err)
		return nil, 0, false
	}
	switch t := tok.(type) {
	case xml.StartElement:
		p.depth++
		p.elements++
		if p.depth > p.opts.MaxDepth {
			p.fatal(Problem{
				Line:    line,
				Message: fmt.Sprintf("element <%s> is nested deeper than the limit of %d elements; raise Options.MaxDepth to accept it", t.Name.Local, p.opts.MaxDepth),
				Err:     ErrTooDeep,
			})
			return nil, 0, false
		}
		if p.elements > p.opts.MaxElements {
			p.fatal(Problem{
				Line:    line,
				Message: fmt.Sprintf("document has more than the limit of %d elements; raise Options.MaxElements to accept it", p.opts.MaxElements),
				Err:     ErrTooManyElements,
			})
			return nil, 0, false
		}
	case xml.EndElement:
		p.depth--
	case xml.Directive:
		p.fatal(Problem{
			Line:    line,
			Message: fmt.Sprintf("<!%s> is not allowed: BPMN documents must not declare a DOCTYPE or entities", directiveName(t)),
			Err:     ErrDoctype,
		})
		return nil, 0, false
	}
	return tok, line, true
}

// tokenError sorts a decoder error into the end of input, a read failure or a problem.
func (p *parser) tokenError(err error) {
	var re *readError
	var se *xml.SyntaxError
	line, _ := p.dec.InputPos()
	switch {
	case err == io.EOF:
		p.stopped = true
	case errors.As(err, &re):
		p.stopped = true
		p.readErr = fmt.Errorf("bpmn: reading document: %w", re.err)
	case errors.Is(err, errInputLimit):
		p.fatal(Problem{
			Line:    line,
			Message: fmt.Sprintf("document is larger than the limit of %d bytes; raise Options.MaxBytes to accept it", p.opts.MaxBytes),
			Err:     ErrTooLarge,
		})
	case errors.As(err, &se):
		p.fatal(Problem{Line: se.Line, Message: "malformed XML: " + se.Msg, Err: ErrMalformed})
	default:
		// Such as an encoding declaration other than UTF-8.
		p.fatal(Problem{Line: line, Message: "malformed XML: " + strings.TrimPrefix(err.Error(), "xml: "), Err: ErrMalformed})
	}
}

func directiveName(d xml.Directive) string {
	name, _, _ := strings.Cut(strings.TrimSpace(string(d)), " ")
	if len(name) > 20 {
		name = name[:20] + "..."
	}
	return name
}

// problem records a problem that does not stop parsing.
func (p *parser) problem(pr Problem) {
	p.problems = append(p.problems, pr)
}

// fatal records a problem and stops parsing.
func (p *parser) fatal(pr Problem) {
	p.problems = append(p.problems, pr)
	p.stopped = true
}

// walk reads the content of the element just opened, up to and including its end tag. It
// hands each child element to fn, which must consume it; with fn nil children are skipped.
// With text set it returns the element's own character data (CDATA included, children's
// text excluded).
func (p *parser) walk(fn func(c elem), text bool) string {
	var b strings.Builder
	for {
		tok, line, ok := p.next()
		if !ok {
			return b.String()
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if fn == nil {
				p.skip()
			} else {
				fn(elem{name: t.Name, attrs: t.Attr, line: line})
			}
		case xml.EndElement:
			return b.String()
		case xml.CharData:
			if text {
				b.Write(t)
			}
		}
	}
}

// skip consumes the element just opened, whatever it contains.
func (p *parser) skip() {
	for depth := 1; depth > 0; {
		tok, _, ok := p.next()
		if !ok {
			return
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			depth--
		}
	}
}

// text returns the trimmed text of the element just opened and consumes it.
func (p *parser) text() string {
	return strings.TrimSpace(p.walk(nil, true))
}

// ignored are model-namespace elements that may appear in many places and carry nothing the
// engine acts on: artifacts, data modelling, documentation-only structure. They are skipped
// without a record wherever they appear.
var ignored = map[string]bool{
	"extensionElements":       true, // where a handler does not read them
	"textAnnotation":          true,
	"association":             true,
	"group":                   true,
	"category":                true,
	"dataObject":              true,
	"dataObjectReference":     true,
	"dataStore":               true,
	"dataStoreReference":      true,
	"dataInputAssociation":    true,
	"dataOutputAssociation":   true,
	"property":                true,
	"ioSpecification":         true,
	"dataInput":               true,
	"dataOutput":              true,
	"inputSet":                true,
	"outputSet":               true,
	"itemDefinition":          true,
	"laneSet":                 true, // lanes of a sub-process; a process's are read
	"participantMultiplicity": true,
	"auditing":                true,
	"monitoring":              true,
	"rendering":               true,
}

// children walks the content of parent, an element in the model namespace whose ID is
// parentID. Children in other namespaces are skipped; documentation is collected and
// returned. Every other model-namespace child goes to fn, which returns false for one it
// does not handle (without consuming it): that child is skipped if it is in ignored and
// recorded as unsupported otherwise.
func (p *parser) children(parent elem, parentID string, fn func(c elem) bool) (doc string) {
	var docs []string
	p.walk(func(c elem) {
		switch {
		case c.name.Space != nsModel:
			p.skip()
		case c.name.Local == "documentation":
			if t := p.text(); t != "" {
				docs = append(docs, t)
			}
		case fn != nil && fn(c):
		case ignored[c.name.Local]:
			p.skip()
		default:
			p.unsupportedElement(c, parent.name.Local, parentID)
		}
	}, false)
	return strings.Join(docs, "\n")
}

// unsupportedElement records c and consumes it.
func (p *parser) unsupportedElement(c elem, parentTag, parentID string) {
	p.unsupported = append(p.unsupported, &UnsupportedElement{
		Tag:       c.name.Local,
		ID:        c.attr("id"),
		Name:      c.attr("name"),
		Line:      c.line,
		ParentTag: parentTag,
		ParentID:  parentID,
		ProcessID: p.processID,
	})
	p.skip()
}

// bool reads a boolean attribute (xsd:boolean: true, false, 1 or 0), recording a problem
// and returning def for any other value. An absent or empty attribute means def.
func (p *parser) bool(e elem, space, local string, def bool, id string) bool {
	v, ok := e.lookup(space, local)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return def
	}
	switch v {
	case "true", "1":
		return true
	case "false", "0":
		return false
	}
	name := local
	switch space {
	case nsCamunda:
		name = "camunda:" + local
	case nsZeebe:
		name = "zeebe:" + local
	}
	p.problem(Problem{
		ElementID: id,
		Line:      e.line,
		Message:   fmt.Sprintf("<%s> attribute %s=%q is not a boolean; write true or false", e.name.Local, name, v),
		Err:       ErrInvalidAttribute,
	})
	return def
}
