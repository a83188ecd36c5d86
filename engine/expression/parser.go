package expression

import (
	"fmt"
	"strconv"
)

// The parser builds a small syntax tree of the JUEL subset. Every node keeps
// its byte span in the source so errors and runtime messages can quote what
// the modeller wrote.

type node interface {
	span() (pos, end int)
}

type litKind uint8

const (
	litNull litKind = iota
	litBool
	litInt
	litFloat
	litString
)

type (
	// literalNode is null, true, false, a number or a string.
	literalNode struct {
		pos, end int
		kind     litKind
		b        bool
		i        int64
		f        float64
		s        string
	}
	// identNode reads a variable; a missing one is an error.
	identNode struct {
		pos, end int
		name     string
	}
	// getVarNode is execution.getVariable('name'): a missing variable reads as null.
	getVarNode struct {
		pos, end int
		name     string
	}
	// memberNode is obj.name, obj['name'] or obj[index].
	memberNode struct {
		pos, end int
		obj      node
		key      node // a string literal for obj.name
		dotted   bool // written as obj.name
	}
	unaryNode struct {
		pos, end int
		op       string // "-", "!" or "empty"
		x        node
	}
	// binaryNode holds the operator as a symbol; word operators are mapped
	// to their symbol by the parser ("eq" → "==").
	binaryNode struct {
		pos, end int
		op       string
		word     string // the operator as written, for messages
		l, r     node
	}
	// parenNode keeps the parentheses' span so that messages quote them.
	parenNode struct {
		pos, end int
		x        node
	}
	condNode struct {
		pos, end        int
		c, t, otherwise node
	}
)

func (n *literalNode) span() (int, int) { return n.pos, n.end }
func (n *identNode) span() (int, int)   { return n.pos, n.end }
func (n *getVarNode) span() (int, int)  { return n.pos, n.end }
func (n *memberNode) span() (int, int)  { return n.pos, n.end }
func (n *unaryNode) span() (int, int)   { return n.pos, n.end }
func (n *binaryNode) span() (int, int)  { return n.pos, n.end }
func (n *condNode) span() (int, int)    { return n.pos, n.end }
func (n *parenNode) span() (int, int)   { return n.pos, n.end }

// maxDepth bounds nesting so that a hostile or broken model cannot exhaust
// the stack; real expressions nest a handful of levels.
const maxDepth = 100

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token        { return p.toks[p.i] }
func (p *parser) peekAt(k int) token { return p.toks[min(p.i+k, len(p.toks)-1)] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(pos int, format string, args ...any) error {
	return newCompileError(p.src, pos, fmt.Sprintf(format, args...))
}

// parseBody parses the tokens of one ${…} body.
func parseBody(src string, toks []token) (node, error) {
	p := &parser{src: src, toks: toks}
	if err := p.rejectStatements(); err != nil {
		return nil, err
	}
	if p.peek().kind == tokEOF {
		return nil, p.errorf(p.peek().pos, "empty expression: write something between the braces, such as ${amount > 1000}")
	}
	n, err := p.parseChoice()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errorf(t.pos, "expected an operator or the closing \"}\", found %s", t.describe())
	}
	return n, nil
}

// rejectStatements looks for the EL 3.0 constructs that do something rather
// than compute a value, so the message names them whatever surrounds them.
func (p *parser) rejectStatements() error {
	for k, t := range p.toks {
		before := "…"
		if k > 0 {
			before = p.toks[k-1].text
		}
		switch {
		case t.is("->"):
			return p.errorf(t.pos, "lambda %q is not supported: expressions may read variables, not define functions", before+" -> …")
		case t.is("="):
			return p.errorf(t.pos, "assignment %q is not supported: expressions may read variables, not change them", before+" = …")
		case t.is("+="):
			return p.errorf(t.pos, `operator "+=" is not supported: to join text write a template such as "${first} ${last}"`)
		case t.is(";"):
			return p.errorf(t.pos, `";" is not supported: write a single expression`)
		case t.is("{"):
			return p.errorf(t.pos, `collection literal "{…}" is not supported: pass the collection in a variable`)
		case t.isWord("instanceof"):
			return p.errorf(t.pos, `"instanceof" is not supported: variables have no Java types here`)
		case t.is("&") || t.is("|"):
			return p.errorf(t.pos, "operator %q is not supported: write %s%s or %s", t.text, t.text, t.text, map[string]string{"&": "and", "|": "or"}[t.text])
		}
	}
	return nil
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > maxDepth {
		return p.errorf(pos, "expression is nested more than %d levels deep: split it", maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// parseChoice: or ( "?" choice ":" choice )?
func (p *parser) parseChoice() (node, error) {
	if err := p.enter(p.peek().pos); err != nil {
		return nil, err
	}
	defer p.leave()
	c, err := p.parseBinary(0)
	if err != nil {
		return nil, err
	}
	if !p.peek().is("?") {
		return c, nil
	}
	p.next()
	t, err := p.parseChoice()
	if err != nil {
		return nil, err
	}
	if tok := p.peek(); !tok.is(":") {
		return nil, p.errorf(tok.pos, `expected ":" of the conditional "a ? b : c", found %s`, tok.describe())
	}
	p.next()
	e, err := p.parseChoice()
	if err != nil {
		return nil, err
	}
	pos, _ := c.span()
	_, end := e.span()
	return &condNode{pos: pos, end: end, c: c, t: t, otherwise: e}, nil
}

// levels lists the binary operators from the loosest to the tightest
// binding, as in the EL specification; word forms map to symbols.
var levels = []map[string]string{
	{"||": "||", "or": "||"},
	{"&&": "&&", "and": "&&"},
	{"==": "==", "!=": "!=", "eq": "==", "ne": "!="},
	{"<": "<", ">": ">", "<=": "<=", ">=": ">=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="},
	{"+": "+", "-": "-"},
	{"*": "*", "/": "/", "%": "%", "div": "/", "mod": "%"},
}

func binaryOp(t token, level int) (string, bool) {
	if t.kind != tokOp && t.kind != tokIdent {
		return "", false
	}
	op, ok := levels[level][t.text]
	return op, ok
}

// parseBinary parses left-associative binary operators of the given level
// and tighter.
func (p *parser) parseBinary(level int) (node, error) {
	if level == len(levels) {
		return p.parseUnary()
	}
	l, err := p.parseBinary(level + 1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		op, ok := binaryOp(t, level)
		if !ok {
			return l, nil
		}
		p.next()
		r, err := p.parseBinary(level + 1)
		if err != nil {
			return nil, err
		}
		pos, _ := l.span()
		_, end := r.span()
		l = &binaryNode{pos: pos, end: end, op: op, word: t.text, l: l, r: r}
	}
}

// parseUnary: ("-" | "!" | "not" | "empty") unary | postfix
func (p *parser) parseUnary() (node, error) {
	t := p.peek()
	var op string
	switch {
	case t.is("-"):
		op = "-"
	case t.is("!") || t.isWord("not"):
		op = "!"
	case t.isWord("empty"):
		op = "empty"
	default:
		return p.parsePostfix()
	}
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	defer p.leave()
	p.next()
	x, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	_, end := x.span()
	return &unaryNode{pos: t.pos, end: end, op: op, x: x}, nil
}

// parsePostfix: primary ( "." name | "[" expr "]" )*, rejecting calls.
func (p *parser) parsePostfix() (node, error) {
	n, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	for links := 0; ; links++ {
		t := p.peek()
		pos, _ := n.span()
		if links == maxDepth {
			return nil, p.errorf(t.pos, "property chain %q is longer than %d links: split it", shorten(p.src[pos:t.pos], 30), maxDepth)
		}
		switch {
		case t.is("."):
			p.next()
			name := p.next()
			if name.kind != tokIdent {
				return nil, p.errorf(name.pos, "expected a property name after \".\", found %s", name.describe())
			}
			if p.peek().is("(") {
				return nil, p.methodCallError(pos, name)
			}
			key := &literalNode{pos: name.pos, end: name.end, kind: litString, s: name.text}
			n = &memberNode{pos: pos, end: name.end, obj: n, key: key, dotted: true}
		case t.is("["):
			p.next()
			key, err := p.parseChoice()
			if err != nil {
				return nil, err
			}
			closing := p.next()
			if !closing.is("]") {
				return nil, p.errorf(closing.pos, `expected "]", found %s`, closing.describe())
			}
			n = &memberNode{pos: pos, end: closing.end, obj: n, key: key}
			if p.peek().is("(") {
				return nil, p.errorf(pos, "method call %q is not supported: expressions may read variables, not call methods",
					p.src[pos:closing.end]+"(…)")
			}
		case t.is("("):
			return nil, p.errorf(pos, "call %q is not supported: expressions may read variables, not call functions",
				p.src[pos:t.pos]+"(…)")
		default:
			return n, nil
		}
	}
}

// methodHints suggest the supported spelling of common Java method calls.
var methodHints = map[string]string{
	"equals":  "; compare with == instead",
	"isEmpty": "; test with empty instead, as in ${empty list}",
	"size":    "; use empty to test for an empty list",
	"length":  "; use empty to test for an empty string",
}

func (p *parser) methodCallError(pos int, name token) error {
	return p.errorf(pos, "method call %q is not supported: expressions may read variables, not call methods%s",
		p.src[pos:name.end]+"(…)", methodHints[name.text])
}

func (p *parser) parsePrimary() (node, error) {
	t := p.next()
	switch t.kind {
	case tokInt:
		v, err := strconv.ParseInt(t.text, 10, 64)
		if err != nil {
			return nil, p.errorf(t.pos, "number %s is too large: integers must lie within ±9223372036854775807", t.text)
		}
		return &literalNode{pos: t.pos, end: t.end, kind: litInt, i: v}, nil
	case tokFloat:
		v, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, p.errorf(t.pos, "number %s is out of range", t.text)
		}
		return &literalNode{pos: t.pos, end: t.end, kind: litFloat, f: v}, nil
	case tokString:
		return &literalNode{pos: t.pos, end: t.end, kind: litString, s: t.val}, nil
	case tokIdent:
		return p.parseIdent(t)
	case tokOp:
		switch t.text {
		case "(":
			n, err := p.parseChoice()
			if err != nil {
				return nil, err
			}
			closing := p.next()
			if !closing.is(")") {
				if closing.is(",") {
					return nil, p.errorf(closing.pos, `unexpected ",": lists and lambda parameters are not supported`)
				}
				return nil, p.errorf(closing.pos, `expected ")", found %s`, closing.describe())
			}
			return &parenNode{pos: t.pos, end: closing.end, x: n}, nil
		case "[":
			return nil, p.errorf(t.pos, `list literal "[…]" is not supported: pass the list in a variable`)
		}
	}
	return nil, p.errorf(t.pos, "expected a value, found %s", t.describe())
}

func (p *parser) parseIdent(t token) (node, error) {
	switch t.text {
	case "true", "false":
		return &literalNode{pos: t.pos, end: t.end, kind: litBool, b: t.text == "true"}, nil
	case "null":
		return &literalNode{pos: t.pos, end: t.end, kind: litNull}, nil
	case "execution":
		return p.parseExecution(t)
	}
	if keywords[t.text] {
		return nil, p.errorf(t.pos, "expected a value, found %q: it is a reserved word and cannot name a variable", t.text)
	}
	next := p.peek()
	if next.is("(") {
		return nil, p.errorf(t.pos, "function call %q is not supported: expressions may read variables, not call functions", t.text+"(…)")
	}
	// prefix:name( is an EL function with a namespace, such as fn:toUpperCase(x).
	if next.is(":") && next.pos == t.end {
		if fn := p.peekAt(1); fn.kind == tokIdent && fn.pos == next.end && p.peekAt(2).is("(") {
			return nil, p.errorf(t.pos, "function call %q is not supported: expressions may read variables, not call functions",
				p.src[t.pos:fn.end]+"(…)")
		}
	}
	return &identNode{pos: t.pos, end: t.end, name: t.text}, nil
}

// parseExecution accepts execution.getVariable('name') and nothing else of
// the execution object.
func (p *parser) parseExecution(t token) (node, error) {
	if !p.peek().is(".") || p.peekAt(1).kind != tokIdent {
		return nil, p.errorf(t.pos, `"execution" is not a variable: read a variable by its name, or with execution.getVariable('name')`)
	}
	p.next()
	name := p.next()
	if !p.peek().is("(") {
		return nil, p.errorf(t.pos, "%q is not supported: of the execution only execution.getVariable('name') can be read",
			p.src[t.pos:name.end])
	}
	if name.text != "getVariable" {
		return nil, p.errorf(t.pos, "method call %q is not supported: expressions may read variables, not call methods (only execution.getVariable('name') is allowed)",
			p.src[t.pos:name.end]+"(…)")
	}
	p.next()
	arg, closing := p.next(), p.next()
	if arg.kind != tokString || !closing.is(")") {
		return nil, p.errorf(t.pos, "execution.getVariable needs one quoted variable name, as in execution.getVariable('amount')")
	}
	return &getVarNode{pos: t.pos, end: closing.end, name: arg.val}, nil
}
