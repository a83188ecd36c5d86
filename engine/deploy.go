package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/tenantflow/tenantflow/engine/core"
	"path"
	"strings"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine/model"
)

// Resource is one file of a deployment.
type Resource struct {
	// Name is the file name; .bpmn and .bpmn20.xml files are deployed as
	// processes, anything else is stored as is (forms, documentation).
	Name    string
	Content []byte
}

// DeployParams describes a deployment.
type DeployParams struct {
	Name      string
	Source    string
	Resources []Resource
	// ChangedOnly skips every process whose resource is identical to the
	// latest deployed version of its key: no new version is created for it.
	// When nothing changed at all, no deployment is created and Deploy
	// returns the latest deployment that defined those processes.
	ChangedOnly bool
}

func isProcessResource(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, ".bpmn") || strings.HasSuffix(n, ".bpmn20.xml")
}

// Deploy parses, checks and stores resources. Every problem of every
// resource is reported together in a *model.Error (errors.Is
// ErrInvalidModel) with resource, element ID and line; nothing is stored
// then. Each process gets the next version of its key in the tenant.
//
// Errors: ErrNoTenant, ErrInvalid, *model.Error.
func (e *Engine) Deploy(ctx context.Context, p *DeployParams) (*Deployment, error) {
	if p == nil || len(p.Resources) == 0 {
		return nil, core.Invalidf("a deployment needs at least one resource")
	}
	type compiledRes struct {
		res  Resource
		hash string
		defs []*model.Definition
	}
	var all []compiledRes
	var problems []model.Problem
	seen := map[string]string{}
	for _, r := range p.Resources {
		name := path.Base(strings.ReplaceAll(r.Name, `\`, "/")) // a client may send an absolute path
		if name == "" || name == "." || name == "/" {
			return nil, core.Invalidf("a resource has no file name")
		}
		if int64(len(r.Content)) > e.opts.MaxResourceBytes {
			return nil, core.Invalidf("resource %q is %d bytes, more than the limit of %d", name, len(r.Content), e.opts.MaxResourceBytes)
		}
		sum := sha256.Sum256(r.Content)
		cr := compiledRes{res: Resource{Name: name, Content: r.Content}, hash: hex.EncodeToString(sum[:])}
		if isProcessResource(name) {
			defs, err := e.compile(name, r.Content)
			var me *model.Error
			if errors.As(err, &me) {
				problems = append(problems, me.Problems...)
				continue
			} else if err != nil {
				return nil, err
			}
			for _, d := range defs {
				if other, dup := seen[d.Key]; dup {
					problems = append(problems, model.Problem{Resource: name, ElementID: d.Key, Line: d.Line,
						Message: fmt.Sprintf("process %q is also defined in %s", d.Key, other)})
				}
				seen[d.Key] = name
			}
			cr.defs = defs
		}
		all = append(all, cr)
	}
	if len(problems) > 0 {
		return nil, &model.Error{Problems: problems}
	}

	var out *Deployment
	_, err := e.command(ctx, func(c *core.Executor, l *loader) error {
		out = &Deployment{ID: c.NewRowID(), Tenant: c.Tenant, Name: p.Name, Source: p.Source, CreatedAt: c.Now}
		type newDef struct {
			cols definitionCols
			res  string
			m    *model.Definition
		}
		var created []newDef
		unchangedDeployment := int64(0)
		for _, cr := range all {
			out.Resources = append(out.Resources, cr.res.Name)
			for _, d := range cr.defs {
				var latest definitionCols
				err := l.read(func(tx *datasource.Tx) error {
					return tx.GetContext(ctx, &latest, definitionSelect+` WHERE def_key = $1 ORDER BY version DESC LIMIT 1`, d.Key)
				})
				version := 1
				if err == nil {
					if p.ChangedOnly && latest.Hash == cr.hash {
						unchangedDeployment = latest.DeploymentID
						continue
					}
					version = latest.Version + 1
				} else if !isNoRows(err) {
					return err
				}
				created = append(created, newDef{res: cr.res.Name, m: d, cols: definitionCols{ID: c.NewRowID(), Key: d.Key,
					Version: version, Name: d.Name, DeploymentID: out.ID, ResourceName: cr.res.Name, Hash: cr.hash,
					VersionTag: d.VersionTag, HistoryTTL: d.HistoryTimeToLive.Milliseconds(), CreatedAt: c.NowMS}})
			}
		}
		if len(created) == 0 && p.ChangedOnly && unchangedDeployment != 0 {
			// Nothing changed: report the deployment that holds the
			// current versions instead of creating an empty one.
			var dep *Deployment
			err := l.read(func(tx *datasource.Tx) error {
				var err error
				dep, err = e.deploymentTx(ctx, tx, unchangedDeployment)
				return err
			})
			if err != nil {
				return err
			}
			out = dep
			out.Definitions = nil
			return nil
		}
		l.write(`INSERT INTO tf_deployment (id, name, source, created_at) VALUES ($1, $2, $3, $4)`,
			out.ID, p.Name, p.Source, c.NowMS)
		res := &batch{table: "tf_resource", cols: []string{"deployment_id", "name", "content", "hash"}}
		for _, cr := range all {
			res.add(out.ID, cr.res.Name, string(cr.res.Content), cr.hash)
		}
		l.insert(res)
		defs := &batch{table: "tf_definition", cols: []string{"id", "def_key", "version", "name", "deployment_id",
			"resource_name", "hash", "version_tag", "history_ttl_ms", "suspended", "created_at"}}
		for _, nd := range created {
			r := nd.cols
			defs.add(r.ID, r.Key, r.Version, r.Name, r.DeploymentID, r.ResourceName, r.Hash, r.VersionTag, r.HistoryTTL, false, r.CreatedAt)
			pd := r.public(c.Tenant)
			out.Definitions = append(out.Definitions, &pd)
		}
		l.insert(defs)
		for _, nd := range created {
			d := &core.Deployed{ProcessDefinition: nd.cols.public(c.Tenant), Model: nd.m}
			if err := e.replaceStartEvents(c, l, d); err != nil {
				return err
			}
		}
		c.DefinitionsNew = true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// replaceStartEvents moves the timer and message start events of a key to
// its new version: the previous version's start jobs and subscriptions go,
// the new version's are created.
func (e *Engine) replaceStartEvents(c *core.Executor, l *loader, d *core.Deployed) error {
	l.write(`DELETE FROM tf_job WHERE kind = $1 AND instance_id = 0 AND def_key = $2`, string(JobTimerStart), d.Key)
	l.write(`DELETE FROM tf_subscription WHERE kind = 'message-start' AND def_key = $1`, d.Key)
	for _, el := range d.Model.TimerStarts {
		var data core.JobData
		td := el.Event.Timer
		sched := td.Static
		if sched == nil {
			return core.Invalidf("timer start event %q: its definition must not use variables (there are none before the instance starts)", el.ID)
		}
		due, ok := sched.First(c.Now)
		if !ok {
			continue
		}
		j := c.NewJob(JobTimerStart, nil, el, due, data)
		j.DefinitionID, j.DefKey = d.ID, d.Key
	}
	for _, el := range d.Model.MessageStarts {
		c.Subs = append(c.Subs, &core.SubRow{ID: c.NewRowID(), Kind: "message-start", Name: el.Event.Message, DefinitionID: d.ID,
			DefKey: d.Key, ElementID: el.ID, CreatedAt: c.NowMS, Op: core.RowNew})
	}
	return nil
}

func (e *Engine) deploymentTx(ctx context.Context, tx *datasource.Tx, id int64) (*Deployment, error) {
	var r struct {
		ID        int64  `db:"id"`
		Name      string `db:"name"`
		Source    string `db:"source"`
		CreatedAt int64  `db:"created_at"`
	}
	if err := tx.GetContext(ctx, &r, `SELECT id, name, source, created_at FROM tf_deployment WHERE id = $1`, id); err != nil {
		if isNoRows(err) {
			return nil, core.NotFound("deployment", id)
		}
		return nil, err
	}
	d := &Deployment{ID: r.ID, Tenant: tx.Tenant(), Name: r.Name, Source: r.Source, CreatedAt: timeOf(r.CreatedAt)}
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
