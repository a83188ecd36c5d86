package expression

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// vars is the variable scope most tests evaluate against.
func testVars() Map {
	return Map{
		"amount":   2500,
		"price":    19.5,
		"count":    int64(3),
		"jsonInt":  4.0, // numbers decoded from JSON are float64
		"approved": true,
		"status":   "open",
		"blank":    "",
		"nothing":  nil,
		"order": map[string]any{
			"total": 120.0,
			"id":    "o-1",
			"lines": []any{
				map[string]any{"sku": "A", "qty": 2},
				map[string]any{"sku": "B", "qty": 1},
			},
			"customer": nil,
		},
		"items":    []any{"a", "b", "c"},
		"none":     []any{},
		"emptyMap": map[string]any{},
		"andrew":   "Andrew",
		"order_no": 7,
		"notes":    "n",
		"len":      5,
		"in":       "word expr-lang reserves",
		"i":        1,
		"first":    "Ada",
		"last":     "Lovelace",
		"when":     time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC),
	}
}

func TestEvalPure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want any
	}{
		// Comparison, symbolic and word forms.
		{"${amount > 1000}", true},
		{"${amount gt 1000}", true},
		{"${amount < 1000}", false},
		{"${amount lt 1000}", false},
		{"${amount >= 2500}", true},
		{"${amount ge 2501}", false},
		{"${amount <= 2500}", true},
		{"${amount le 2499}", false},
		{"${status == 'open'}", true},
		{"${status eq \"open\"}", true},
		{"${status != 'open'}", false},
		{"${status ne 'closed'}", true},
		{"${jsonInt == 4}", true},
		{"${count == 3.0}", true},
		{"${amount == '2500'}", false},
		{"${'a' < 'b'}", true},
		// Logic.
		{"${approved && amount > 1000}", true},
		{"${approved and amount > 1000}", true},
		{"${!approved || amount > 1000}", true},
		{"${not approved or false}", false},
		{"${false && missing}", false}, // short circuit: missing is never read
		{"${true || missing}", true},
		// Arithmetic.
		{"${amount + 1}", 2501},
		{"${amount - 500 * 2}", 1500},
		{"${(amount - 500) * 2}", 4000},
		{"${7 / 2}", 3.5},
		{"${7 div 2}", 3.5},
		{"${7 % 3}", 1},
		{"${7 mod 3}", 1},
		{"${jsonInt mod 3}", 1.0},
		{"${price % 2}", 1.5},
		{"${-amount}", -2500},
		{"${- -2}", 2},
		{"${price * 2}", 39.0},
		{"${1 + 2 * 3 - 4 / 2}", 5.0},
		{"${'ab' + 'cd'}", "abcd"},
		// Literals.
		{"${null}", nil},
		{"${true}", true},
		{"${42}", 42},
		{"${1.5}", 1.5},
		{"${1.}", 1.0},
		{"${.5}", 0.5},
		{"${1e3}", 1000.0},
		{"${2.5E-1}", 0.25},
		{"${007}", 7},
		{`${'it\'s'}`, "it's"},
		{`${"say \"hi\""}`, `say "hi"`},
		{`${'back\\slash'}`, `back\slash`},
		{`${'a "double" in single'}`, `a "double" in single`},
		{"${'}'}", "}"},
		{"${'${not a nested expression}'}", "${not a nested expression}"},
		{"${'日本'}", "日本"},
		// Conditional.
		{"${approved ? 'yes' : 'no'}", "yes"},
		{"${amount > 3000 ? 'big' : amount > 2000 ? 'medium' : 'small'}", "medium"},
		{"${!approved ? missing : 1}", 1},
		// Variables keep their type.
		{"${amount}", 2500},
		{"${count}", int64(3)},
		{"${nothing}", nil},
		{"${items}", []any{"a", "b", "c"}},
		{"${when}", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)},
		// Property and index access.
		{"${order.total}", 120.0},
		{"${order['total']}", 120.0},
		{`${order["id"]}`, "o-1"},
		{"${order.lines[1].sku}", "B"},
		{"${order.lines[0]['qty'] * 10}", 20},
		{"${items[0]}", "a"},
		{"${items[i]}", "b"},
		{"${items[i + 1]}", "c"},
		{"${items[jsonInt - 2]}", "c"},
		{"${order.customer == null}", true},
		// execution.getVariable reads a variable; a missing one is null.
		{"${execution.getVariable('amount') > 1000}", true},
		{"${execution.getVariable(\"status\")}", "open"},
		{"${execution.getVariable('missing') == null}", true},
		{"${execution.getVariable('order').total}", 120.0},
		// Names that contain or equal operator words and expr-lang keywords.
		{"${andrew == 'Andrew'}", true},
		{"${order_no eq 7 and notes ne ''}", true},
		{"${len + 1}", 6},
		{"${in}", "word expr-lang reserves"},
		{"${status eq 'open and closed'}", false},
		{"${'x and y or not z' == 'x and y or not z'}", true},
		{"${'a eq b'}", "a eq b"},
		// Null.
		{"${nothing == null}", true},
		{"${nothing != null}", false},
		{"${status == null}", false},
		// Surrounding whitespace leaves a pure expression pure.
		{"\n    ${amount > 1000}\n  ", true},
		{"${  amount  }", 2500},
		// #{…} means the same as ${…}.
		{"#{amount > 1000}", true},
	}
	vars := testVars()
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			x, err := Compile(tt.src)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			if x.IsLiteral() {
				t.Error("IsLiteral() = true for an expression")
			}
			got, err := x.Eval(vars)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Eval = %#v (%T), want %#v (%T)", got, got, tt.want, tt.want)
			}
		})
	}
}

func TestEvalEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value any
		empty bool
	}{
		{nil, true},
		{"", true},
		{[]any{}, true},
		{map[string]any{}, true},
		{[]string(nil), true},
		{(*int)(nil), true},
		{[0]int{}, true},
		{"x", false},
		{" ", false},
		{[]any{nil}, false},
		{map[string]any{"k": nil}, false},
		{[]int{1}, false},
		{0, false},
		{false, false},
	}
	empty, err := Compile("${empty x}")
	if err != nil {
		t.Fatal(err)
	}
	notEmpty, err := Compile("${not empty x}")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		vars := Map{"x": tt.value}
		if got, err := empty.EvalBool(vars); err != nil || got != tt.empty {
			t.Errorf("empty %#v = %v, %v; want %v", tt.value, got, err, tt.empty)
		}
		if got, err := notEmpty.EvalBool(vars); err != nil || got == tt.empty {
			t.Errorf("not empty %#v = %v, %v; want %v", tt.value, got, err, !tt.empty)
		}
	}
	// A missing variable is an error, not "empty": a typo must not pass silently.
	_, err = notEmpty.Eval(Map{})
	var missing *MissingVariableError
	if !errors.As(err, &missing) || missing.Name != "x" {
		t.Errorf("not empty of a missing variable: err = %v, want *MissingVariableError for x", err)
	}
	// empty binds tighter than the comparison and the logic operators.
	x, err := Compile("${empty x == false && !empty y}")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := x.EvalBool(Map{"x": "a", "y": []any{1}}); err != nil || !got {
		t.Errorf("empty precedence: got %v, %v", got, err)
	}
}

func TestEvalTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src, want string
	}{
		{"user-${status}", "user-open"},
		{"Hello ${first} ${last}", "Hello Ada Lovelace"},
		{"${first}${last}", "AdaLovelace"},
		{"#{first}-${last}", "Ada-Lovelace"},
		{"${amount} EUR", "2500 EUR"},
		{"${jsonInt} items", "4 items"},
		{"${price}", "19.5"}, // a pure expression keeps its type; see EvalString below
		{"total: ${order.total}", "total: 120"},
		{"${approved}!", "true!"},
		{"[${nothing}]", "[]"},
		{"due ${when}", "due 2026-03-01T09:00:00Z"},
		{"${amount > 1000 ? 'big' : 'small'} order", "big order"},
		{"cost \\${amount} is ${amount}", "cost ${amount} is 2500"},
		{"a } b ${status} { c", "a } b open { c"},
		{"${'${'}", "${"},
		{"$ and # and {} alone", "$ and # and {} alone"},
		{"  ${first}\n", "Ada"},     // whitespace around a single ${…} is not text
		{"- ${first}\n", "- Ada\n"}, // other text makes a template, and then whitespace counts
	}
	vars := testVars()
	for _, tt := range tests {
		x, err := Compile(tt.src)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.src, err)
			continue
		}
		got, err := x.EvalString(vars)
		if err != nil || got != tt.want {
			t.Errorf("EvalString(%q) = %q, %v; want %q", tt.src, got, err, tt.want)
		}
	}
	// A template's value is a string even when one part is a number.
	x, err := Compile("n=${amount}")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := x.Eval(vars); err != nil || got != "n=2500" {
		t.Errorf("template Eval = %#v, %v", got, err)
	}
	// Lists and maps have no agreed text form.
	x, err = Compile("items: ${items}")
	if err != nil {
		t.Fatal(err)
	}
	_, err = x.Eval(vars)
	if err == nil || !strings.Contains(err.Error(), "list of 3 elements cannot be written as text") {
		t.Errorf("list in a template: err = %v", err)
	}
}

func TestLiteral(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want string }{
		{"demo", "demo"},
		{"", ""},
		{"  spaced  ", "  spaced  "},
		{"price in $", "price in $"},
		{`\${amount}`, "${amount}"},
		{`\#{amount}`, "#{amount}"},
		{`C:\temp`, `C:\temp`},
	}
	for _, tt := range tests {
		x, err := Compile(tt.src)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.src, err)
			continue
		}
		if !x.IsLiteral() {
			t.Errorf("Compile(%q).IsLiteral() = false", tt.src)
		}
		if x.Source() != tt.src {
			t.Errorf("Source() = %q, want %q", x.Source(), tt.src)
		}
		got, err := x.Eval(nil)
		if err != nil || got != tt.want {
			t.Errorf("Eval(%q) = %#v, %v; want %q", tt.src, got, err, tt.want)
		}
		if len(x.Variables()) != 0 {
			t.Errorf("Variables(%q) = %v, want none", tt.src, x.Variables())
		}
	}
}

func TestMissingVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src, name, msg string
	}{
		{"${amount > 1000}", "amount", `${amount > 1000}: variable "amount" does not exist`},
		{"${x == null}", "x", `variable "x" does not exist`},
		{"user-${id}", "id", `user-${id}: variable "id" does not exist`},
		{"${order.total}", "order.total", `${order.total}: "order.total" does not exist`},
		{"${order['total'] > 5}", "order['total']", `"order['total']" does not exist`},
		{"${order.lines[0].price}", "order.lines[0].price", `"order.lines[0].price" does not exist`},
		{"${approved ? nope : 1}", "nope", `variable "nope" does not exist`},
		{"${execution.getVariable('order').total}", "order.total", `"order.total" does not exist`},
		{"${myBean}", "myBean", `variable "myBean" does not exist`},
	}
	vars := Map{
		"order":    map[string]any{"lines": []any{map[string]any{"sku": "A"}}},
		"approved": true,
	}
	for _, tt := range tests {
		x, err := Compile(tt.src)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.src, err)
			continue
		}
		_, err = x.Eval(vars)
		var missing *MissingVariableError
		if !errors.As(err, &missing) {
			t.Errorf("Eval(%q) err = %v, want a *MissingVariableError", tt.src, err)
			continue
		}
		if missing.Name != tt.name {
			t.Errorf("Eval(%q) missing %q, want %q", tt.src, missing.Name, tt.name)
		}
		var evalErr *EvalError
		if !errors.As(err, &evalErr) || evalErr.Source != tt.src {
			t.Errorf("Eval(%q) err = %#v, want an *EvalError carrying the source", tt.src, err)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Eval(%q) err = %q, want it to contain %q", tt.src, err, tt.msg)
		}
	}
	// A variable that exists with a nil value is not missing.
	x, err := Compile("${x == null}")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := x.EvalBool(Map{"x": nil}); err != nil || !got {
		t.Errorf("x == null with x nil = %v, %v", got, err)
	}
	// No Variables at all behaves as an empty scope.
	if _, err := x.Eval(nil); !errors.As(err, new(*MissingVariableError)) {
		t.Errorf("Eval(nil) err = %v, want *MissingVariableError", err)
	}
}

func TestEvalErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src, msg string
	}{
		{"${status && true}", `${status && true}: status (operand of &&) must be a boolean, not string "open"`},
		{"${approved and status}", `status (operand of and) must be a boolean, not string "open"`},
		{"${!nothing}", `nothing (operand of not) must be a boolean, not null`},
		{"${amount ? 1 : 2}", `amount (operand of ?:) must be a boolean, not number 2500`},
		{"${order.customer.name}", `cannot read order.customer.name: order.customer is null`},
		{"${status.length}", `cannot read status.length: status is string "open", not a map or a list`},
		{"${items[3]}", `cannot read items[3]: index 3 is out of range, items has 3 elements`},
		{"${items['a']}", `items is a list and its index must be a whole number, not string "a"`},
		{"${order[1]}", `order is a map and its keys are strings, not number 1`},
		{"${amount mod 0}", `division by zero in mod`},
		{"${status mod 2}", `mod needs two numbers, not string "open"`},
		{"${status > 1}", `invalid operation: string > int`},
	}
	vars := testVars()
	for _, tt := range tests {
		x, err := Compile(tt.src)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.src, err)
			continue
		}
		_, err = x.Eval(vars)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("Eval(%q) err = %v, want it to contain %q", tt.src, err, tt.msg)
		}
		if !errors.As(err, new(*EvalError)) {
			t.Errorf("Eval(%q) err = %T, want *EvalError", tt.src, err)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src    string
		msg    string
		column int
	}{
		{"${myBean.doIt()}", `method call "myBean.doIt(…)" is not supported: expressions may read variables, not call methods`, 3},
		{"Hello ${user.getName()}", `method call "user.getName(…)" is not supported`, 9},
		{"#{myBean.doIt(execution)}", `method call "myBean.doIt(…)"`, 3},
		{"${execution.setVariable('a', 1)}", `method call "execution.setVariable(…)" is not supported`, 3},
		{"${status.equals('open')}", `method call "status.equals(…)" is not supported: expressions may read variables, not call methods; compare with == instead`, 3},
		{"${list.isEmpty()}", `test with empty instead`, 3},
		{"${items[0].toString()}", `method call "items[0].toString(…)"`, 3},
		{"${items[0]()}", `method call "items[0](…)"`, 3},
		{"${doIt()}", `function call "doIt(…)" is not supported: expressions may read variables, not call functions`, 3},
		{"${fn:toUpperCase(name)}", `function call "fn:toUpperCase(…)"`, 3},
		{"${(x)(1)}", `call "(x)(…)" is not supported`, 3},
		{"${execution.processInstanceId}", `"execution.processInstanceId" is not supported: of the execution only execution.getVariable('name') can be read`, 3},
		{"${execution}", `"execution" is not a variable`, 3},
		{"${execution.getVariable(name)}", `execution.getVariable needs one quoted variable name`, 3},
		{"${execution.getVariable('a', 'b')}", `execution.getVariable needs one quoted variable name`, 3},
		{"${x -> x + 1}", `lambda "x -> …" is not supported: expressions may read variables, not define functions`, 5},
		{"${a = 1}", `assignment "a = …" is not supported: expressions may read variables, not change them`, 5},
		{"${a += 'x'}", `operator "+=" is not supported`, 5},
		{"${a; b}", `";" is not supported`, 4},
		{"${[1, 2]}", `list literal "[…]" is not supported`, 3},
		{"${{1, 2}}", `collection literal "{…}" is not supported`, 3},
		{"${x instanceof String}", `"instanceof" is not supported`, 5},
		{"${a & b}", `operator "&" is not supported: write && or and`, 5},
		{"${a ${b}}", `"${" cannot appear inside an expression`, 5},
		{"${amount > 1000", `"${" is not closed: add the missing "}"`, 1},
		{"text ${", `"${" is not closed`, 6},
		{"${'abc}", `string is not closed: add the missing '`, 3},
		{`${'C:\temp'}`, `invalid escape "\\t" in a string: only \\, \' and \" are escapes`, 6},
		{"${}", `empty expression`, 3},
		{"${a b}", `expected an operator or the closing "}", found "b"`, 5},
		{"${a >}", `expected a value, found the end of the expression`, 6},
		{"${a ? b}", `expected ":" of the conditional`, 8},
		{"${(a}", `expected ")", found the end of the expression`, 5},
		{"${a[1}", `expected "]"`, 6},
		{"${a.}", `expected a property name after "."`, 5},
		{"${and}", `found "and": it is a reserved word`, 3},
		{"${a @ b}", `unexpected character '@'`, 5},
		{"${99999999999999999999}", `number 99999999999999999999 is too large`, 3},
		{"${1e999}", `number 1e999 is out of range`, 3},
		{"${'a' > 1}", `invalid operation: > (mismatched types string and int)`, 1},
		{"ok ${a} then ${'a' - 1}", `invalid operation`, 14},
		{"line one\n  ${a.b()}", `method call "a.b(…)"`, 5},
		{"${" + strings.Repeat("(", 101) + "a" + strings.Repeat(")", 101) + "}", "nested more than 100 levels deep", 103},
		{"${" + strings.Repeat("-", 101) + "a}", "nested more than 100 levels deep", 102},
		{"${a" + strings.Repeat(".b", 101) + "}", "longer than 100 links", 204},
		{"${a\xff}", "not valid UTF-8", 4},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			t.Parallel()
			_, err := Compile(tt.src)
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile err = %v, want a *CompileError", err)
			}
			if !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("Msg = %q, want it to contain %q", ce.Msg, tt.msg)
			}
			if ce.Column != tt.column {
				t.Errorf("Column = %d, want %d (error: %v)", ce.Column, tt.column, ce)
			}
			if ce.Source != tt.src {
				t.Errorf("Source = %q, want %q", ce.Source, tt.src)
			}
		})
	}
}

func TestCompileErrorText(t *testing.T) {
	t.Parallel()
	_, err := Compile("${myBean.doIt()}")
	want := `method call "myBean.doIt(…)" is not supported: expressions may read variables, not call methods (at column 3 of "${myBean.doIt()}")`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}
	_, err = Compile("first line\n${a.b()}")
	if err == nil || !strings.Contains(err.Error(), "(at line 2, column 3 of ") {
		t.Errorf("multi-line err = %v, want line and column", err)
	}
	var ce *CompileError
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Offset != 13 {
		t.Errorf("multi-line position = %+v, want line 2 at offset 13", ce)
	}
}

func TestTypedResults(t *testing.T) {
	t.Parallel()
	vars := testVars()
	mustCompile := func(src string) *Expression {
		t.Helper()
		x, err := Compile(src)
		if err != nil {
			t.Fatalf("Compile(%q): %v", src, err)
		}
		return x
	}

	t.Run("EvalBool", func(t *testing.T) {
		t.Parallel()
		for src, want := range map[string]bool{"${approved}": true, "${amount < 0}": false, "true": true, " false\n": false} {
			if got, err := mustCompile(src).EvalBool(vars); err != nil || got != want {
				t.Errorf("EvalBool(%q) = %v, %v; want %v", src, got, err, want)
			}
		}
		for src, msg := range map[string]string{
			"${status}":       `condition ${status} returned string "open", expected a boolean`,
			"${nothing}":      `condition ${nothing} returned null, expected a boolean`,
			"${amount}":       `condition ${amount} returned number 2500, expected a boolean`,
			"yes":             `condition yes returned string "yes", expected a boolean`,
			"\n  ${status}\n": `condition ${status} returned string "open", expected a boolean`,
		} {
			_, err := mustCompile(src).EvalBool(vars)
			var rt *ResultTypeError
			if !errors.As(err, &rt) || err.Error() != msg {
				t.Errorf("EvalBool(%q) err = %v, want %q", src, err, msg)
			}
		}
	})

	t.Run("EvalString", func(t *testing.T) {
		t.Parallel()
		for src, want := range map[string]string{
			"${status}": "open", "demo": "demo", "${amount}": "2500", "${price}": "19.5",
			"${jsonInt}": "4", "${approved}": "true", "${when}": "2026-03-01T09:00:00Z",
		} {
			if got, err := mustCompile(src).EvalString(vars); err != nil || got != want {
				t.Errorf("EvalString(%q) = %q, %v; want %q", src, got, err, want)
			}
		}
		for src, msg := range map[string]string{
			"${nothing}": "expression ${nothing} returned null, expected a string",
			"${items}":   "expression ${items} returned list of 3 elements, expected a string",
			"${order}":   "expression ${order} returned map of 4 keys, expected a string",
		} {
			if _, err := mustCompile(src).EvalString(vars); err == nil || err.Error() != msg {
				t.Errorf("EvalString(%q) err = %v, want %q", src, err, msg)
			}
		}
	})

	t.Run("EvalInt", func(t *testing.T) {
		t.Parallel()
		for src, want := range map[string]int{
			"${amount}": 2500, "${count}": 3, "${jsonInt}": 4, "3": 3, " 12 ": 12,
			"${'7'}": 7, "${amount / 100}": 25, "${-2}": -2,
		} {
			if got, err := mustCompile(src).EvalInt(vars); err != nil || got != want {
				t.Errorf("EvalInt(%q) = %d, %v; want %d", src, got, err, want)
			}
		}
		for src, msg := range map[string]string{
			"${price}":  "expression ${price} returned number 19.5, expected a whole number",
			"${status}": `expression ${status} returned string "open", expected a whole number`,
			"three":     `expression three returned string "three", expected a whole number`,
			"${1e300}":  "expected a whole number",
		} {
			if _, err := mustCompile(src).EvalInt(vars); err == nil || !strings.Contains(err.Error(), msg) {
				t.Errorf("EvalInt(%q) err = %v, want %q", src, err, msg)
			}
		}
	})

	t.Run("EvalNumber", func(t *testing.T) {
		t.Parallel()
		for src, want := range map[string]float64{"${price}": 19.5, "${amount}": 2500, "${count}": 3, "2.5": 2.5} {
			if got, err := mustCompile(src).EvalNumber(vars); err != nil || got != want {
				t.Errorf("EvalNumber(%q) = %v, %v; want %v", src, got, err, want)
			}
		}
		if _, err := mustCompile("${approved}").EvalNumber(vars); err == nil ||
			err.Error() != "expression ${approved} returned boolean true, expected a number" {
			t.Errorf("EvalNumber(bool) err = %v", err)
		}
	})

	t.Run("EvalList", func(t *testing.T) {
		t.Parallel()
		got, err := mustCompile("${items}").EvalList(vars)
		if err != nil || !reflect.DeepEqual(got, []any{"a", "b", "c"}) {
			t.Errorf("EvalList(items) = %v, %v", got, err)
		}
		got, err = mustCompile("${users}").EvalList(Map{"users": []string{"ann", "bob"}})
		if err != nil || !reflect.DeepEqual(got, []any{"ann", "bob"}) {
			t.Errorf("EvalList([]string) = %v, %v", got, err)
		}
		for src, msg := range map[string]string{
			"${nothing}": "expression ${nothing} returned null, expected a list",
			"${status}":  `expression ${status} returned string "open", expected a list`,
			"a,b":        `expression a,b returned string "a,b", expected a list`,
		} {
			if _, err := mustCompile(src).EvalList(vars); err == nil || err.Error() != msg {
				t.Errorf("EvalList(%q) err = %v, want %q", src, err, msg)
			}
		}
	})

	t.Run("errors pass through", func(t *testing.T) {
		t.Parallel()
		x := mustCompile("${missing}")
		for name, eval := range map[string]func() error{
			"EvalBool":   func() error { _, err := x.EvalBool(vars); return err },
			"EvalString": func() error { _, err := x.EvalString(vars); return err },
			"EvalInt":    func() error { _, err := x.EvalInt(vars); return err },
			"EvalNumber": func() error { _, err := x.EvalNumber(vars); return err },
			"EvalList":   func() error { _, err := x.EvalList(vars); return err },
		} {
			if err := eval(); !errors.As(err, new(*MissingVariableError)) {
				t.Errorf("%s err = %v, want *MissingVariableError", name, err)
			}
		}
	})
}

func TestVariables(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want []string
	}{
		{"demo", nil},
		{"${42}", nil},
		{"${amount > 1000}", []string{"amount"}},
		{"${b > a && a < c}", []string{"b", "a", "c"}},
		{"${order.total > limit.value}", []string{"order", "limit"}},
		{"${items[index]}", []string{"items", "index"}},
		{"${m['key'] == key}", []string{"m", "key"}},
		{"Hello ${first} ${last}, ${first}", []string{"first", "last"}},
		{"${execution.getVariable('x') == null || y}", []string{"x", "y"}},
		{"${empty list ? 'none' : list[0]}", []string{"list"}},
	}
	for _, tt := range tests {
		x, err := Compile(tt.src)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.src, err)
			continue
		}
		got := x.Variables()
		if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("Variables(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
	// The returned slice is the caller's.
	x, err := Compile("${a}")
	if err != nil {
		t.Fatal(err)
	}
	x.Variables()[0] = "changed"
	if x.Variables()[0] != "a" {
		t.Error("Variables() exposes the expression's own slice")
	}
}

func TestStructVariables(t *testing.T) {
	t.Parallel()
	type customer struct {
		Name  string
		Email string `json:"mail"`
		age   int
	}
	type order struct {
		Total    float64
		Customer *customer
		Tags     []string
		Extra    map[string]int
	}
	vars := Map{"order": &order{
		Total:    99.5,
		Customer: &customer{Name: "Ann", Email: "ann@example.com", age: 40},
		Tags:     []string{"vip"},
		Extra:    map[string]int{"points": 3},
	}}
	tests := []struct {
		src  string
		want any
	}{
		{"${order.total}", 99.5},
		{"${order.Total}", 99.5},
		{"${order.customer.name}", "Ann"},
		{"${order.customer.mail}", "ann@example.com"},
		{"${order.tags[0]}", "vip"},
		{"${order.extra.points}", 3},
		{"${not empty order.tags}", true},
	}
	for _, tt := range tests {
		x, err := Compile(tt.src)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.src, err)
			continue
		}
		got, err := x.Eval(vars)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Eval(%q) = %#v, %v; want %#v", tt.src, got, err, tt.want)
		}
	}
	for _, src := range []string{"${order.customer.age}", "${order.nope}", "${order.extra.nope}"} {
		x, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := x.Eval(vars); !errors.As(err, new(*MissingVariableError)) {
			t.Errorf("Eval(%q) err = %v, want *MissingVariableError (unexported fields are invisible)", src, err)
		}
	}
}

// TestConcurrentCompile compiles from many goroutines at once, as parallel
// deployments do; run with -race.
func TestConcurrentCompile(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			x, err := Compile(fmt.Sprintf("${n%d > %d && not empty s}", g, g))
			if err != nil {
				t.Error(err)
				return
			}
			if ok, err := x.EvalBool(Map{fmt.Sprintf("n%d", g): g + 1, "s": "x"}); err != nil || !ok {
				t.Errorf("goroutine %d: %v, %v", g, ok, err)
			}
		})
	}
	wg.Wait()
}

// TestConcurrentEval shares one compiled expression between goroutines, each
// with its own variables; run with -race.
func TestConcurrentEval(t *testing.T) {
	t.Parallel()
	x, err := Compile("${amount > limit ? 'big-' : 'small-'}${id}")
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, rounds = 16, 500
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for r := range rounds {
				amount := g*1000 + r
				vars := Map{"amount": amount, "limit": 8000, "id": g}
				want := fmt.Sprintf("small-%d", g)
				if amount > 8000 {
					want = fmt.Sprintf("big-%d", g)
				}
				got, err := x.EvalString(vars)
				if err != nil || got != want {
					errs <- fmt.Errorf("goroutine %d round %d: got %q, %v; want %q", g, r, got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
