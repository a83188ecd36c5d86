package datasource

import (
	"fmt"
	"strings"
)

// MaxTenantIDLength is the longest tenant ID accepted. With the default
// schema prefix the schema name stays well under PostgreSQL's 63-byte limit.
const MaxTenantIDLength = 40

// reservedTenantIDs are IDs that would be confusing or dangerous as schema or
// file names. Prefixes are checked separately.
var reservedTenantIDs = map[string]bool{
	"public": true, "information_schema": true, "primary": true, "postgres": true,
	"template0": true, "template1": true, "default": true, "admin": true, "system": true,
	"tenantflow": true, "engine": true, "all": true, "none": true, "null": true,
}

// ValidateTenantID checks a tenant ID against ^[a-z][a-z0-9_]{1,39}$ and the
// reserved names. Tenant IDs become PostgreSQL schema names and SQLite file
// names, so nothing else is accepted. The error wraps ErrInvalidTenantID and
// says which rule the ID broke.
func ValidateTenantID(id string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s (use 2-%d characters: a lowercase letter, then lowercase letters, digits or _)",
			ErrInvalidTenantID, truncateForError(id), why, MaxTenantIDLength)
	}
	switch {
	case len(id) < 2:
		return bad("too short")
	case len(id) > MaxTenantIDLength:
		return bad(fmt.Sprintf("too long (%d characters)", len(id)))
	case id[0] < 'a' || id[0] > 'z':
		return bad("must start with a lowercase letter")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return bad(fmt.Sprintf("character %q at position %d is not allowed", rune(c), i+1))
		}
	}
	if reservedTenantIDs[id] {
		return bad("the name is reserved")
	}
	if strings.HasPrefix(id, "pg_") || strings.HasPrefix(id, "sqlite_") {
		return bad("names starting with pg_ or sqlite_ are reserved")
	}
	return nil
}

// truncateForError keeps error messages bounded when the input is huge.
func truncateForError(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
