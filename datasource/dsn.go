package datasource

import (
	"fmt"
	"strings"
)

// dsnPair is one keyword = value of a key=value PostgreSQL DSN.
type dsnPair struct{ key, value string }

// parseKeyValueDSN splits a key=value DSN as libpq does: keywords and
// values separated by '=' with optional spaces around it, pairs separated
// by spaces, values either bare (a backslash escapes the next character)
// or in single quotes (with \' and \\ escapes). "password = 'a b'" is one
// pair, which a split on spaces would miss.
func parseKeyValueDSN(s string) ([]dsnPair, error) {
	var out []dsnPair
	i := 0
	skip := func() {
		for i < len(s) && isDSNSpace(s[i]) {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return out, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && !isDSNSpace(s[i]) {
			i++
		}
		key := s[start:i]
		skip()
		if i >= len(s) || s[i] != '=' || key == "" {
			return nil, fmt.Errorf("%w: DSN: missing \"=\" after %q", ErrInvalid, key)
		}
		i++ // '='
		skip()
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					v.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '\'' {
					closed = true
					break
				}
				v.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("%w: DSN: unterminated quoted value of %q", ErrInvalid, key)
			}
		} else {
			for i < len(s) && !isDSNSpace(s[i]) {
				if s[i] == '\\' && i+1 < len(s) {
					v.WriteByte(s[i+1])
					i += 2
					continue
				}
				v.WriteByte(s[i])
				i++
			}
		}
		out = append(out, dsnPair{key, v.String()})
	}
}

func isDSNSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// formatKeyValueDSN writes pairs back, every value quoted.
func formatKeyValueDSN(pairs []dsnPair) string {
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		v := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(p.value)
		parts[i] = p.key + "='" + v + "'"
	}
	return strings.Join(parts, " ")
}
