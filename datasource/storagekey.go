package datasource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// storageKey names where a tenant's data lives, normalised so that two
// spellings of one PostgreSQL storage compare equal: server (host:port,
// with every loopback spelling and a local socket as "localhost"), database
// (the user name when unset, as libpq does) and schema. It is "" for
// placements that cannot collide (sqlite files are named by the unique
// tenant ID).
func (l *Lifecycle) storageKey(t *Tenant) (string, error) {
	switch t.Placement {
	case PlacementPGSchema:
		if l.ds.primaryPG == nil {
			return "", nil
		}
		return pgStorageKey(l.ds.primaryPG.cfg, t.Storage.Schema), nil
	case PlacementPGDSN:
		cfg, err := parsePG(t.Storage.DSN, Secret{})
		if err != nil {
			return "", err
		}
		schema := t.Storage.Schema
		if schema == "" {
			schema = "public"
		}
		return pgStorageKey(cfg, schema), nil
	}
	return "", nil
}

func pgStorageKey(cfg pqConfig, schema string) string {
	host := strings.ToLower(strings.TrimSuffix(cfg.Host, "."))
	switch {
	case host == "", host == "localhost", host == "127.0.0.1", host == "::1", host == "[::1]", strings.HasPrefix(host, "/"):
		host = "localhost"
	}
	port := cfg.Port
	if port == 0 {
		port = 5432
	}
	db := cfg.Database
	if db == "" {
		db = cfg.User
	}
	return fmt.Sprintf("%s:%d/%s/%s", host, port, db, schema)
}

// primaryStorageKey is where the primary's own tables live; no tenant may
// be placed there.
func (l *Lifecycle) primaryStorageKey() string {
	if l.ds.primaryPG == nil {
		return ""
	}
	schema := "public"
	if sp := l.ds.primaryPG.cfg.Runtime["search_path"]; sp != "" {
		schema = strings.Trim(strings.TrimSpace(strings.Split(sp, ",")[0]), `"`)
	}
	return pgStorageKey(l.ds.primaryPG.cfg, schema)
}

// checkStorageFree refuses a storage key that the primary or another
// tenant than self already uses, with ErrConflict. Tenants registered
// before keys were recorded are compared by their computed key.
func (l *Lifecycle) checkStorageFree(ctx context.Context, key, self string) error {
	if key == "" {
		return nil
	}
	taken := func(other string) error {
		return fmt.Errorf("%w: tenant %s already keeps its data in that storage (%s); two tenants on one storage would read, migrate and drop each other's data", ErrConflict, other, key)
	}
	if key == l.primaryStorageKey() {
		return fmt.Errorf("%w: that storage (%s) holds the primary datasource's own tables; place the tenant elsewhere", ErrConflict, key)
	}
	var other string
	err := l.primary.r.GetContext(ctx, &other, `SELECT id FROM tf_tenant WHERE storage_key = $1 AND id <> $2`, key, self)
	if err == nil {
		return taken(other)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var legacy []tenantRow
	if err := l.primary.r.SelectContext(ctx, &legacy, `SELECT `+tenantColumns+` FROM tf_tenant
		WHERE storage_key IS NULL AND placement <> 'sqlite' AND id <> $1`, self); err != nil {
		return err
	}
	for i := range legacy {
		lt := &Tenant{ID: legacy[i].ID, Placement: Placement(legacy[i].Placement),
			Storage: Storage{DSN: legacy[i].StorageDSN, Schema: legacy[i].StorageSchema}}
		if k, err := l.storageKey(lt); err == nil && k == key {
			return taken(lt.ID)
		}
	}
	return nil
}
