package expression

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The translator turns the syntax tree into expr-lang source. Variables never
// become expr identifiers: every read goes through a helper function with the
// name as a string constant, so a variable may be called "len", "in" or
// "matches" and a missing one is reported by name. Every operator is fully
// parenthesised, so expr-lang's precedence rules never matter.
//
// Helpers (see runtime.go):
//
//	v($env, "x")                 variable x; missing → *MissingVariableError
//	g($env, "x")                 execution.getVariable('x'); missing → nil
//	p(obj, key, "a.b", "a")      property or index; missing → *MissingVariableError
//	e(x)                         empty x
//	b(x, "what")                 x must be a boolean (operands of && || ! ?:)
//	m(x, y)                      x mod y, for integers and floats
//	t(part, …)                   template: concatenates parts as text

type translator struct {
	src  string
	out  strings.Builder
	vars []string
	seen map[string]bool
}

func (tr *translator) addVar(name string) {
	if !tr.seen[name] {
		tr.seen[name] = true
		tr.vars = append(tr.vars, name)
	}
}

func (tr *translator) text(n node) string {
	pos, end := n.span()
	return tr.src[pos:end]
}

// path renders a variable access as the modeller wrote it, without the
// surrounding noise: "order.total", "items[0]", "m['k']".
func (tr *translator) path(n node) string {
	switch n := n.(type) {
	case *identNode:
		return n.name
	case *getVarNode:
		return n.name
	case *memberNode:
		if n.dotted {
			return tr.path(n.obj) + "." + n.key.(*literalNode).s
		}
		return tr.path(n.obj) + "[" + tr.text(n.key) + "]"
	}
	return tr.text(n)
}

func (tr *translator) emit(n node) {
	w := &tr.out
	switch n := n.(type) {
	case *literalNode:
		writeLiteral(w, n)
	case *identNode:
		tr.addVar(n.name)
		w.WriteString(`v($env, `)
		writeString(w, n.name)
		w.WriteString(")")
	case *getVarNode:
		tr.addVar(n.name)
		w.WriteString(`g($env, `)
		writeString(w, n.name)
		w.WriteString(")")
	case *memberNode:
		w.WriteString("p(")
		tr.emit(n.obj)
		w.WriteString(", ")
		tr.emit(n.key)
		w.WriteString(", ")
		writeString(w, tr.path(n))
		w.WriteString(", ")
		writeString(w, tr.path(n.obj))
		w.WriteString(")")
	case *unaryNode:
		switch n.op {
		case "empty":
			w.WriteString("e(")
			tr.emit(n.x)
			w.WriteString(")")
		case "!":
			w.WriteString("(!")
			tr.emitBool(n.x, "not")
			w.WriteString(")")
		default:
			w.WriteString("(-")
			tr.emit(n.x)
			w.WriteString(")")
		}
	case *binaryNode:
		switch n.op {
		case "%":
			w.WriteString("m(")
			tr.emit(n.l)
			w.WriteString(", ")
			tr.emit(n.r)
			w.WriteString(")")
		case "&&", "||":
			w.WriteString("(")
			tr.emitBool(n.l, n.word)
			w.WriteString(" " + n.op + " ")
			tr.emitBool(n.r, n.word)
			w.WriteString(")")
		default:
			w.WriteString("(")
			tr.emit(n.l)
			w.WriteString(" " + n.op + " ")
			tr.emit(n.r)
			w.WriteString(")")
		}
	case *parenNode:
		tr.emit(n.x)
	case *condNode:
		w.WriteString("(")
		tr.emitBool(n.c, "?:")
		w.WriteString(" ? ")
		tr.emit(n.t)
		w.WriteString(" : ")
		tr.emit(n.otherwise)
		w.WriteString(")")
	default:
		panic(fmt.Sprintf("expression: unknown node %T", n))
	}
}

// emitBool emits an operand that must be a boolean. expr-lang does not check
// this at run time for values it cannot type statically ("x" && true yields
// "x"), so operands that are not booleans by construction go through b().
func (tr *translator) emitBool(n node, op string) {
	if isBoolean(n) {
		tr.emit(n)
		return
	}
	w := &tr.out
	w.WriteString("b(")
	tr.emit(n)
	w.WriteString(", ")
	writeString(w, fmt.Sprintf("%s (operand of %s)", tr.text(n), op))
	w.WriteString(")")
}

// isBoolean reports whether n yields a boolean whatever the variables hold.
func isBoolean(n node) bool {
	switch n := n.(type) {
	case *literalNode:
		return n.kind == litBool
	case *unaryNode:
		return n.op == "!" || n.op == "empty"
	case *binaryNode:
		switch n.op {
		case "&&", "||", "==", "!=", "<", ">", "<=", ">=":
			return true
		}
	case *condNode:
		return isBoolean(n.t) && isBoolean(n.otherwise)
	case *parenNode:
		return isBoolean(n.x)
	}
	return false
}

func writeLiteral(w *strings.Builder, n *literalNode) {
	switch n.kind {
	case litNull:
		w.WriteString("nil")
	case litBool:
		w.WriteString(strconv.FormatBool(n.b))
	case litInt:
		w.WriteString(strconv.FormatInt(n.i, 10))
	case litFloat:
		w.WriteString(formatFloatLiteral(n.f))
	case litString:
		writeString(w, n.s)
	}
}

// formatFloatLiteral renders f so that expr-lang reads it back as the same
// float64 (never as an integer). The parser has rejected infinities.
func formatFloatLiteral(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// writeString writes s, which is valid UTF-8, as an expr-lang double-quoted
// string literal that decodes to exactly s.
func writeString(w *strings.Builder, s string) {
	w.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"' || r == '\\':
			w.WriteByte('\\')
			w.WriteRune(r)
		case r == '\n':
			w.WriteString(`\n`)
		case r == '\r':
			w.WriteString(`\r`)
		case r == '\t':
			w.WriteString(`\t`)
		case unicode.IsPrint(r):
			w.WriteRune(r)
		default:
			fmt.Fprintf(w, `\U%08x`, r)
		}
		i += size
	}
	w.WriteByte('"')
}
