package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"
)

// Definition implements store.Store.
func (s *Store) Definition(ctx context.Context, p *store.DefinitionParams) (*store.DefinitionSource, error) {
	var src *store.DefinitionSource
	err := s.statement(ctx, func(tx *dbtx) error {
		var err error
		src, err = definitionSource(ctx, tx, p)
		return err
	})
	return src, err
}

func definitionSource(ctx context.Context, tx *dbtx, p *store.DefinitionParams) (*store.DefinitionSource, error) {
	var r definitionCols
	var err error
	if p.LatestKey != "" {
		err = tx.GetContext(ctx, &r, definitionSelect+` WHERE def_key = $1 ORDER BY version DESC LIMIT 1`, p.LatestKey)
	} else {
		err = tx.GetContext(ctx, &r, definitionSelect+` WHERE id = $1`, p.ID)
	}
	if errors.Is(err, sql.ErrNoRows) {
		if p.LatestKey != "" {
			return nil, fmt.Errorf("%w: no process definition with key %q is deployed", core.ErrNotFound, p.LatestKey)
		}
		return nil, core.NotFound("process definition", p.ID)
	}
	if err != nil {
		return nil, err
	}
	src := &store.DefinitionSource{DefinitionRow: store.DefinitionRow{ProcessDefinition: r.public(tx.Tenant()), Hash: r.Hash}}
	if p.WithContent {
		var content string
		if err := tx.GetContext(ctx, &content, `SELECT content FROM tf_resource WHERE deployment_id = $1 AND name = $2`,
			r.DeploymentID, r.ResourceName); err != nil {
			return nil, fmt.Errorf("resource %q of definition %d: %w", r.ResourceName, r.ID, err)
		}
		src.Content = []byte(content)
	}
	return src, nil
}

// Deployment implements store.Store.
func (s *Store) Deployment(ctx context.Context, id int64) (*core.Deployment, error) {
	var d *core.Deployment
	err := s.read(ctx, func(tx *dbtx) error {
		var err error
		d, err = deploymentTx(ctx, tx, id)
		return err
	})
	return d, err
}

func deploymentTx(ctx context.Context, tx *dbtx, id int64) (*core.Deployment, error) {
	var r struct {
		ID        int64  `db:"id"`
		Name      string `db:"name"`
		Source    string `db:"source"`
		CreatedAt int64  `db:"created_at"`
	}
	if err := tx.GetContext(ctx, &r, `SELECT id, name, source, created_at FROM tf_deployment WHERE id = $1`, id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, core.NotFound("deployment", id)
		}
		return nil, err
	}
	d := &core.Deployment{ID: r.ID, Tenant: tx.Tenant(), Name: r.Name, Source: r.Source, CreatedAt: timeOf(r.CreatedAt)}
	if err := tx.SelectContext(ctx, &d.Resources, `SELECT name FROM tf_resource WHERE deployment_id = $1 ORDER BY name`, id); err != nil {
		return nil, err
	}
	var defs []definitionCols
	if err := tx.SelectContext(ctx, &defs, definitionSelect+` WHERE deployment_id = $1 ORDER BY def_key`, id); err != nil {
		return nil, err
	}
	for i := range defs {
		pd := defs[i].public(tx.Tenant())
		d.Definitions = append(d.Definitions, &pd)
	}
	return d, nil
}

// deployment queues the rows of a new deployment.
func (a *applier) deployment(d *store.NewDeployment) {
	a.exec(`INSERT INTO tf_deployment (id, name, source, created_at) VALUES ($1, $2, $3, $4)`,
		d.Deployment.ID, d.Deployment.Name, d.Deployment.Source, msOf(d.Deployment.CreatedAt))
	res := &batch{table: "tf_resource", cols: []string{"deployment_id", "name", "content", "hash"}}
	for _, r := range d.Resources {
		res.add(d.Deployment.ID, r.Name, string(r.Content), r.Hash)
	}
	res.exec(a)
	defs := &batch{table: "tf_definition", cols: []string{"id", "def_key", "version", "name", "deployment_id",
		"resource_name", "hash", "version_tag", "history_ttl_ms", "suspended", "created_at"}}
	for _, r := range d.Definitions {
		defs.add(r.ID, r.Key, r.Version, r.Name, r.DeploymentID, r.ResourceName, r.Hash, r.VersionTag,
			r.HistoryTimeToLive.Milliseconds(), r.Suspended, msOf(r.CreatedAt))
	}
	defs.exec(a)
}
