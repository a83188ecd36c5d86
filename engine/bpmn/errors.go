package bpmn

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel causes of a ParseError, for errors.Is. A caller can map ErrTooLarge to "413 Content
// Too Large", for example.
var (
	// ErrTooLarge: the document is longer than Options.MaxBytes.
	ErrTooLarge = errors.New("bpmn: document too large")
	// ErrTooDeep: elements are nested deeper than Options.MaxDepth.
	ErrTooDeep = errors.New("bpmn: elements nested too deep")
	// ErrTooManyElements: the document has more elements than Options.MaxElements.
	ErrTooManyElements = errors.New("bpmn: too many elements")
	// ErrDoctype: the document has a DOCTYPE or another markup declaration.
	ErrDoctype = errors.New("bpmn: DOCTYPE and entity declarations are not allowed")
	// ErrMalformed: the document is not well-formed XML.
	ErrMalformed = errors.New("bpmn: malformed XML")
	// ErrNotBPMN: the root element is not a BPMN 2.0 definitions element.
	ErrNotBPMN = errors.New("bpmn: not a BPMN 2.0 document")
	// ErrInvalidAttribute: an attribute value does not fit its type, such as a boolean that
	// is neither true nor false.
	ErrInvalidAttribute = errors.New("bpmn: invalid attribute value")
)

// Problem is one thing wrong with a document.
type Problem struct {
	// ElementID is the ID of the element concerned, or empty when it has none or the problem
	// is with the document as a whole.
	ElementID string
	// Line is the 1-based line of the problem; 0 when unknown.
	Line int
	// Message says what is wrong and, where it helps, what to do about it.
	Message string
	// Err is the sentinel cause (ErrTooLarge, ErrMalformed, ...), or nil.
	Err error
}

// String formats the problem as "line N: element "ID": message".
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.ElementID != "" {
		fmt.Fprintf(&b, "element %q: ", p.ElementID)
	}
	b.WriteString(p.Message)
	return b.String()
}

// ParseError is the error Parse returns for a document it will not accept. It lists every
// problem found before parsing stopped: structural problems (malformed XML, a limit hit) stop
// parsing at once, attribute problems are collected and reported together.
type ParseError struct {
	Problems []Problem
}

// Error lists the problems, one per line after the first.
func (e *ParseError) Error() string {
	switch len(e.Problems) {
	case 0:
		return "bpmn: invalid document"
	case 1:
		return "bpmn: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "bpmn: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n\t")
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns the sentinel causes of the problems, so errors.Is(err, ErrTooLarge) works.
func (e *ParseError) Unwrap() []error {
	var errs []error
	for _, p := range e.Problems {
		if p.Err != nil {
			errs = append(errs, p.Err)
		}
	}
	return errs
}
