package expression

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// CompileError reports an expression that cannot be compiled: a syntax error
// or a construct outside the supported subset. The engine reports it as a
// deployment error, so Msg says what is wrong and how to fix it.
type CompileError struct {
	// Source is the text given to Compile.
	Source string
	// Offset is the byte offset of the problem in Source.
	Offset int
	// Line and Column locate the problem, both counting from 1; Column counts
	// characters, not bytes.
	Line, Column int
	// Msg describes the problem, for example
	// `method call "myBean.doIt(…)" is not supported: expressions may read variables, not call methods`.
	Msg string
}

func newCompileError(src string, offset int, msg string) *CompileError {
	offset = min(max(offset, 0), len(src))
	line, col := 1, 1
	for _, r := range src[:offset] {
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return &CompileError{Source: src, Offset: offset, Line: line, Column: col, Msg: msg}
}

// Error returns Msg followed by the position and the source, shortened to a
// readable length.
func (e *CompileError) Error() string {
	where := fmt.Sprintf("column %d", e.Column)
	if strings.Contains(e.Source, "\n") {
		where = fmt.Sprintf("line %d, column %d", e.Line, e.Column)
	}
	return fmt.Sprintf("%s (at %s of %q)", e.Msg, where, shorten(e.Source, 80))
}

// MissingVariableError reports that evaluation read a variable, or a key of a
// map variable, that does not exist.
type MissingVariableError struct {
	// Name is the variable as written in the expression: "amount" for a
	// variable, "order.total" or "order['total']" for a missing key.
	Name string
}

// Error names the variable, or the key path for a missing map key.
func (e *MissingVariableError) Error() string {
	if strings.ContainsAny(e.Name, ".[") {
		return fmt.Sprintf("%q does not exist", e.Name)
	}
	return fmt.Sprintf("variable %q does not exist", e.Name)
}

// EvalError reports a failure while evaluating an expression. Err is the cause:
// a *MissingVariableError, or an error about a value that cannot be used the
// way the expression uses it. errors.As and errors.Is see through it.
type EvalError struct {
	// Source is the expression as written in the model, without surrounding whitespace.
	Source string
	// Err is the cause.
	Err error
}

// Error returns the source followed by the cause.
func (e *EvalError) Error() string { return e.Source + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *EvalError) Unwrap() error { return e.Err }

// ResultTypeError reports an expression whose result has the wrong type for
// where it is used, for example a condition that returned a string.
type ResultTypeError struct {
	// Source is the expression as written in the model, without surrounding whitespace.
	Source string
	// Want describes the expected result: "a boolean", "a string",
	// "a whole number", "a number" or "a list".
	Want string
	// Value is what the expression returned.
	Value any
}

// Error says what the expression returned and what was expected.
func (e *ResultTypeError) Error() string {
	what := "expression"
	if e.Want == "a boolean" {
		what = "condition"
	}
	return fmt.Sprintf("%s %s returned %s, expected %s", what, e.Source, describe(e.Value), e.Want)
}

// describe names a value and its type for error messages: `string "yes"`,
// `number 2.5`, `null`, `list of 3 elements`.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string " + strconv.Quote(shorten(x, 40))
	case bool:
		return "boolean " + strconv.FormatBool(x)
	case time.Time:
		return "time " + x.Format(time.RFC3339Nano)
	case []any:
		return fmt.Sprintf("list of %d elements", len(x))
	case map[string]any:
		return fmt.Sprintf("map of %d keys", len(x))
	}
	if s, ok := numberText(v); ok {
		return "number " + s
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		return fmt.Sprintf("list of %d elements", rv.Len())
	case reflect.Map:
		return fmt.Sprintf("map of %d keys", rv.Len())
	}
	return fmt.Sprintf("value of type %T", v)
}

func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
