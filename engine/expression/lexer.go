package expression

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

type tokenKind uint8

const (
	tokEOF    tokenKind = iota
	tokIdent            // identifiers and the word operators/keywords
	tokInt              // integer literal
	tokFloat            // floating-point literal
	tokString           // string literal; val holds the decoded text
	tokOp               // punctuation and symbolic operators; text holds it
)

// token is one lexeme of an expression. Offsets are byte offsets into the
// whole source given to Compile, so errors can point at the right column even
// inside a template.
type token struct {
	kind tokenKind
	pos  int
	end  int
	text string
	val  string
}

// describe names a token for "expected …, found …" messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "the end of the expression"
	case tokString:
		return "string " + t.text
	case tokInt, tokFloat:
		return "number " + t.text
	}
	if t.kind == tokOp && t.text == "}" {
		return `"}"`
	}
	return fmt.Sprintf("%q", t.text)
}

func (t token) is(op string) bool { return t.kind == tokOp && t.text == op }

func (t token) isWord(w string) bool { return t.kind == tokIdent && t.text == w }

// keywords are the reserved words of the expression language: they can never
// name a variable.
var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "eq": true, "ne": true, "lt": true,
	"gt": true, "le": true, "ge": true, "div": true, "mod": true, "empty": true,
	"true": true, "false": true, "null": true, "instanceof": true,
}

// operators lists the symbolic tokens, longest first so that "<=" wins over "<".
// Some of them ("=", "+=", "->", ";", "{") exist only to be rejected with a
// message that names the construct.
var operators = []string{
	"==", "!=", "<=", ">=", "&&", "||", "+=", "->",
	"<", ">", "!", "+", "-", "*", "/", "%", "?", ":", ".", "[", "]",
	"(", ")", ",", "=", ";", "{", "}", "&", "|",
}

// lexExpr reads the tokens of one ${…} body starting at offset start (just
// after the opening "${") up to its closing "}". It returns the tokens
// without the closing brace, terminated by a tokEOF positioned at the brace,
// and the offset just after the brace.
func lexExpr(src string, start, open int) ([]token, int, error) {
	var toks []token
	depth := 0
	i := start
	for {
		for i < len(src) {
			r, size := utf8.DecodeRuneInString(src[i:])
			if !unicode.IsSpace(r) {
				break
			}
			i += size
		}
		if i >= len(src) {
			return nil, 0, newCompileError(src, open,
				fmt.Sprintf("%q is not closed: add the missing \"}\"", src[open:open+2]))
		}
		c := src[i]
		r, size := utf8.DecodeRuneInString(src[i:])
		switch {
		case (c == '$' || c == '#') && i+1 < len(src) && src[i+1] == '{':
			return nil, 0, newCompileError(src, i,
				fmt.Sprintf("%q cannot appear inside an expression: write the inner expression without it", src[i:i+2]))
		case isIdentStart(r):
			j := i + size
			for j < len(src) {
				r2, s2 := utf8.DecodeRuneInString(src[j:])
				if !isIdentPart(r2) {
					break
				}
				j += s2
			}
			toks = append(toks, token{kind: tokIdent, pos: i, end: j, text: src[i:j]})
			i = j
		case c >= '0' && c <= '9', c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			t := lexNumber(src, i)
			toks = append(toks, t)
			i = t.end
		case c == '\'' || c == '"':
			t, err := lexString(src, i)
			if err != nil {
				return nil, 0, err
			}
			toks = append(toks, t)
			i = t.end
		default:
			op := ""
			for _, o := range operators {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, 0, newCompileError(src, i, fmt.Sprintf("unexpected character %q", r))
			}
			switch op {
			case "{":
				depth++
			case "}":
				if depth == 0 {
					toks = append(toks, token{kind: tokEOF, pos: i, end: i})
					return toks, i + 1, nil
				}
				depth--
			}
			toks = append(toks, token{kind: tokOp, pos: i, end: i + len(op), text: op})
			i += len(op)
		}
	}
}

// isIdentStart and isIdentPart follow Java identifiers, which JUEL uses.
func isIdentStart(r rune) bool { return r == '_' || r == '$' || unicode.IsLetter(r) }

func isIdentPart(r rune) bool { return isIdentStart(r) || unicode.IsDigit(r) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// lexNumber scans an EL number: 12, 1.5, 1., .5, 1e3, 1.5E-3.
func lexNumber(src string, i int) token {
	start := i
	kind := tokInt
	for i < len(src) && isDigit(src[i]) {
		i++
	}
	if i < len(src) && src[i] == '.' {
		kind = tokFloat
		i++
		for i < len(src) && isDigit(src[i]) {
			i++
		}
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		j := i + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < len(src) && isDigit(src[j]) {
			kind = tokFloat
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			i = j
		}
	}
	return token{kind: kind, pos: start, end: i, text: src[start:i]}
}

// lexString scans a quoted string. As in JUEL, a backslash escapes only a
// backslash or a quote; any other escape is an error rather than a silent
// surprise (a Windows path such as 'C:\temp' must be written 'C:\\temp').
func lexString(src string, i int) (token, error) {
	quote := src[i]
	start := i
	i++
	var b strings.Builder
	for i < len(src) {
		c := src[i]
		switch c {
		case quote:
			return token{kind: tokString, pos: start, end: i + 1, text: src[start : i+1], val: b.String()}, nil
		case '\\':
			if i+1 < len(src) && (src[i+1] == '\\' || src[i+1] == '\'' || src[i+1] == '"') {
				b.WriteByte(src[i+1])
				i += 2
				continue
			}
			esc := `\`
			if i+1 < len(src) {
				_, size := utf8.DecodeRuneInString(src[i+1:])
				esc = src[i : i+1+size]
			}
			return token{}, newCompileError(src, i,
				fmt.Sprintf(`invalid escape %q in a string: only \\, \' and \" are escapes (write a backslash as \\)`, esc))
		default:
			b.WriteByte(c)
			i++
		}
	}
	return token{}, newCompileError(src, start,
		fmt.Sprintf("string is not closed: add the missing %c", quote))
}
