package expression

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Variables gives an expression read access to the variables in scope. The
// engine implements it over an execution's variables; Lookup reports false
// for a variable that does not exist (as opposed to one that holds nil).
// Lookup may be called from several goroutines when one Variables value is
// shared between concurrent evaluations.
type Variables interface {
	Lookup(name string) (value any, ok bool)
}

// Map is Variables backed by a Go map, for tests and simple callers.
type Map map[string]any

// Lookup returns the value of name and whether it is in the map.
func (m Map) Lookup(name string) (any, bool) {
	v, ok := m[name]
	return v, ok
}

type form uint8

const (
	formLiteral  form = iota // plain text, no ${…}
	formPure                 // exactly one ${…}: the result keeps its type
	formTemplate             // text mixed with ${…}: the result is a string
)

// Expression is a compiled expression. It is immutable and safe for
// concurrent use; compile it once at deployment and evaluate it many times.
type Expression struct {
	src     string
	form    form
	literal string      // the text of a literal, escapes resolved
	code    string      // the expr-lang translation
	program *vm.Program // nil for a literal
	vars    []string
}

// Compile parses src, which is a pure expression ("${amount > 1000}"), a
// template ("Hello ${first} ${last}") or plain text ("demo"), and compiles it.
// Whitespace around a single ${…} is ignored, so a condition written on its
// own line in the XML stays a pure expression. src must be valid UTF-8, as
// XML text always is. The returned error is a *CompileError.
func Compile(src string) (*Expression, error) {
	if !utf8.ValidString(src) {
		bad := 0
		for bad < len(src) {
			r, size := utf8.DecodeRuneInString(src[bad:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			bad += size
		}
		return nil, newCompileError(src, bad, "the text is not valid UTF-8")
	}
	parts, err := split(src)
	if err != nil {
		return nil, err
	}
	x := &Expression{src: src}
	exprs := 0
	blank := true
	for _, p := range parts {
		if p.n != nil {
			exprs++
		} else if strings.TrimFunc(p.text, unicode.IsSpace) != "" {
			blank = false
		}
	}
	switch {
	case exprs == 0:
		x.form = formLiteral
		for _, p := range parts {
			x.literal += p.text
		}
		return x, nil
	case exprs == 1 && blank:
		x.form = formPure
		for _, p := range parts {
			if p.n != nil {
				parts = []part{p}
				break
			}
		}
	default:
		x.form = formTemplate
	}
	x.code, x.vars = translate(src, parts, x.form == formTemplate)
	x.program, err = expr.Compile(x.code, compileOptions...)
	if err != nil {
		return nil, staticError(src, parts, err)
	}
	return x, nil
}

// part is a piece of the source: literal text, or a parsed ${…}.
type part struct {
	text string
	n    node
	pos  int // offset of the "${"
}

// split cuts src into text and ${…} / #{…} parts. As in EL, a backslash
// before "${" or "#{" makes it literal text.
func split(src string) ([]part, error) {
	var parts []part
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			parts = append(parts, part{text: text.String()})
			text.Reset()
		}
	}
	for i := 0; i < len(src); {
		if src[i] == '\\' && isOpen(src, i+1) {
			text.WriteString(src[i+1 : i+3])
			i += 3
			continue
		}
		if !isOpen(src, i) {
			text.WriteByte(src[i])
			i++
			continue
		}
		flush()
		toks, next, err := lexExpr(src, i+2, i)
		if err != nil {
			return nil, err
		}
		n, err := parseBody(src, toks)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part{n: n, pos: i})
		i = next
	}
	flush()
	return parts, nil
}

func isOpen(src string, i int) bool {
	return i+1 < len(src) && (src[i] == '$' || src[i] == '#') && src[i+1] == '{'
}

// translate renders the parts as one expr-lang program and lists the
// variables it reads, in order of first appearance.
func translate(src string, parts []part, template bool) (string, []string) {
	tr := &translator{src: src, seen: map[string]bool{}}
	if !template {
		tr.emit(parts[0].n)
		return tr.out.String(), tr.vars
	}
	tr.out.WriteString("t(")
	for i, p := range parts {
		if i > 0 {
			tr.out.WriteString(", ")
		}
		if p.n == nil {
			writeString(&tr.out, p.text)
		} else {
			tr.emit(p.n)
		}
	}
	tr.out.WriteString(")")
	return tr.out.String(), tr.vars
}

// staticError turns an expr-lang compile error, which can only be a type
// error between literals such as ${'a' > 1}, into a CompileError pointing at
// the ${…} that caused it.
func staticError(src string, parts []part, err error) error {
	msg := err.Error()
	var fe *file.Error
	if errors.As(err, &fe) {
		msg = fe.Message
	}
	pos := 0
	for _, p := range parts {
		if p.n == nil {
			continue
		}
		pos = p.pos
		code, _ := translate(src, []part{p}, false)
		if _, err := expr.Compile(code, compileOptions...); err != nil {
			break
		}
	}
	return newCompileError(src, pos, msg)
}

// Source returns the text the expression was compiled from.
func (x *Expression) Source() string { return x.src }

// IsLiteral reports whether the expression is plain text without ${…}: its
// value is that text and evaluating it needs no variables.
func (x *Expression) IsLiteral() bool { return x.form == formLiteral }

// Variables returns the names of the variables the expression reads, each
// once, in order of first appearance. Only top-level names are listed:
// ${order.total} reads "order". Names read with execution.getVariable are
// included although they may be missing.
func (x *Expression) Variables() []string { return slices.Clone(x.vars) }

// vmPool recycles VMs: a VM is not safe for concurrent use, but reusing one
// saves its stack allocation on every evaluation.
var vmPool = sync.Pool{New: func() any { return new(vm.VM) }}

// Eval evaluates the expression. A pure expression returns its value with its
// type (bool, a number type, string, []any, map[string]any, or whatever the
// variables hold); a template or literal returns a string. Errors are
// *EvalError values whose cause is a *MissingVariableError for a variable or
// map key that does not exist.
func (x *Expression) Eval(vars Variables) (any, error) {
	if x.program == nil {
		return x.literal, nil
	}
	m := vmPool.Get().(*vm.VM)
	out, err := m.Run(x.program, vars)
	vmPool.Put(m)
	if err != nil {
		return nil, x.evalError(err)
	}
	return out, nil
}

func (x *Expression) evalError(err error) error {
	cause := err
	var fe *file.Error
	if errors.As(err, &fe) {
		if fe.Prev != nil {
			cause = fe.Prev
		} else {
			cause = errors.New(fe.Message)
		}
	}
	return &EvalError{Source: x.quoted(), Err: cause}
}

// EvalBool evaluates a condition. The result must be a boolean; plain text
// "true" or "false" (ignoring surrounding whitespace) is accepted too. Any
// other result is a *ResultTypeError: a string "true" computed by ${…} is not
// converted.
func (x *Expression) EvalBool(vars Variables) (bool, error) {
	if x.form == formLiteral {
		switch strings.TrimSpace(x.literal) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	v, err := x.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, &ResultTypeError{Source: x.quoted(), Want: "a boolean", Value: v}
	}
	return b, nil
}

// EvalString evaluates the expression as text, for assignees, names and
// dates. Strings, numbers, booleans and times (as RFC 3339) are converted the
// way a template converts them; null, lists and maps are a *ResultTypeError.
func (x *Expression) EvalString(vars Variables) (string, error) {
	v, err := x.Eval(vars)
	if err != nil {
		return "", err
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	if v != nil && !isCollection(v) {
		var b strings.Builder
		if appendText(&b, v) == nil {
			return b.String(), nil
		}
	}
	return "", &ResultTypeError{Source: x.quoted(), Want: "a string", Value: v}
}

// EvalInt evaluates the expression as a whole number, for loop cardinality
// and similar counts. Integers, floats without a fraction (as decoded from
// JSON) and strings holding a whole number in decimal are accepted, so plain
// text such as "3" works; anything else is a *ResultTypeError.
func (x *Expression) EvalInt(vars Variables) (int, error) {
	v, err := x.Eval(vars)
	if err != nil {
		return 0, err
	}
	i, ok := wholeNumber(v)
	if s, isString := v.(string); isString {
		i, ok = parseWhole(s)
	}
	if !ok || i < math.MinInt || i > math.MaxInt {
		return 0, &ResultTypeError{Source: x.quoted(), Want: "a whole number", Value: v}
	}
	return int(i), nil
}

func parseWhole(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return wholeNumber(f)
}

// EvalNumber evaluates the expression as a number. Any Go number type and
// strings holding a decimal number are accepted; anything else is a
// *ResultTypeError.
func (x *Expression) EvalNumber(vars Variables) (float64, error) {
	v, err := x.Eval(vars)
	if err != nil {
		return 0, err
	}
	f, _, ok := number(v)
	if s, isString := v.(string); isString {
		var perr error
		f, perr = strconv.ParseFloat(strings.TrimSpace(s), 64)
		ok = perr == nil
	}
	if !ok {
		return 0, &ResultTypeError{Source: x.quoted(), Want: "a number", Value: v}
	}
	return f, nil
}

// EvalList evaluates the expression as a list, for multi-instance
// collections. A []any is returned as is; other slices and arrays are copied
// into a []any. Anything else, null included, is a *ResultTypeError.
func (x *Expression) EvalList(vars Variables) ([]any, error) {
	v, err := x.Eval(vars)
	if err != nil {
		return nil, err
	}
	if l, ok := v.([]any); ok {
		return l, nil
	}
	rv := reflect.ValueOf(v)
	if k := rv.Kind(); k == reflect.Array || (k == reflect.Slice && !rv.IsNil()) {
		l := make([]any, rv.Len())
		for i := range l {
			l[i] = rv.Index(i).Interface()
		}
		return l, nil
	}
	return nil, &ResultTypeError{Source: x.quoted(), Want: "a list", Value: v}
}

func isCollection(v any) bool {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return true
	}
	return false
}

// quoted returns the source for error messages, without the whitespace that
// surrounds expressions written on their own line in the XML.
func (x *Expression) quoted() string { return strings.TrimSpace(x.src) }
