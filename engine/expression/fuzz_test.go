package expression

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzSeeds = []string{
	"${amount > 1000}", "user-${id}", "Hello ${first} ${last}", "demo", "",
	"${not empty x}", "${order.total}", "${order['a'].b[0]}", "${a ? b : c ? d : e}",
	"${execution.getVariable('x') == null}", "${myBean.doIt()}", "${fn:f(x)}",
	"${x -> x}", "${a = 1}", "#{a and b or not c}", "${1.5e3 + .5 - 7 div 2 mod 3}",
	`${'it\'s' == "say \"hi\""}`, `\${escaped}`, "${'unterminated", "${", "${}",
	"${((((a))))}", "${- - -1}", "${[1]}", "${{}}", "${a[b[c[0]]]}", "${'\x00\xff'}",
	"${a eq b ne c lt d gt e le f ge g}", "${empty empty}", "${1..2}", "${a?.b ?? c}",
}

// FuzzCompile checks that no input makes Compile or Eval panic, that errors
// are the documented types, and that text without ${ or #{ is a literal.
func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	vars := Map{
		"a": 1, "b": 2.5, "c": "c", "x": nil, "id": "i", "amount": 5,
		"order": map[string]any{"total": 1, "a": map[string]any{"b": []any{1}}},
		"first": "f", "last": "l", "d": true, "e": []any{}, "f": false, "g": 0,
	}
	f.Fuzz(func(t *testing.T, src string) {
		x, err := Compile(src)
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile(%q) err = %T %v, want *CompileError", src, err, err)
			}
			if ce.Offset < 0 || ce.Offset > len(src) || ce.Line < 1 || ce.Column < 1 {
				t.Fatalf("Compile(%q) position out of range: %+v", src, ce)
			}
			_ = ce.Error()
			return
		}
		if !strings.Contains(src, "${") && !strings.Contains(src, "#{") {
			if !x.IsLiteral() {
				t.Fatalf("Compile(%q) is not a literal", src)
			}
			if v, err := x.Eval(nil); err != nil || v != src {
				t.Fatalf("literal %q evaluated to %#v, %v", src, v, err)
			}
		}
		_ = x.Variables()
		if _, err := x.Eval(vars); err != nil && !errors.As(err, new(*EvalError)) {
			t.Fatalf("Eval(%q) err = %T %v, want *EvalError", src, err, err)
		}
	})
}

// FuzzStringLiteral checks that any string survives the trip through a JUEL
// literal and the translation to expr-lang source.
func FuzzStringLiteral(f *testing.F) {
	for _, s := range []string{"", "a", `"`, `'`, `\`, "\n\r\t", "\x00\xff", "日本", "${x}", "\u2028"} {
		f.Add(s)
	}
	escaper := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	f.Fuzz(func(t *testing.T, s string) {
		src := "${'" + escaper.Replace(s) + "'}"
		x, err := Compile(src)
		if !utf8.ValidString(s) {
			if !errors.As(err, new(*CompileError)) {
				t.Fatalf("Compile(%q) err = %v, want a *CompileError for invalid UTF-8", src, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("Compile(%q): %v", src, err)
		}
		if v, err := x.Eval(nil); err != nil || v != s {
			t.Fatalf("Eval(%q) = %#v, %v; want %q", src, v, err, s)
		}
		tpl, err := Compile("<" + src + ">")
		if err != nil {
			t.Fatalf("Compile template: %v", err)
		}
		if v, err := tpl.Eval(nil); err != nil || v != "<"+s+">" {
			t.Fatalf("template Eval = %#v, %v; want %q", v, err, "<"+s+">")
		}
	})
}
