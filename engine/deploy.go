package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/tenantflow/tenantflow/engine/core"
	"github.com/tenantflow/tenantflow/engine/store"

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

	var keys []string
	for _, cr := range all {
		for _, d := range cr.defs {
			keys = append(keys, d.Key)
		}
	}
	var out *Deployment
	_, err := e.command(ctx, func(c *core.Executor, l *loader) error {
		out = &Deployment{ID: c.NewRowID(), Tenant: c.Tenant, Name: p.Name, Source: p.Source, CreatedAt: c.Now}
		snap, err := l.load(&store.LoadParams{StartEventsOf: keys})
		if err != nil {
			return err
		}
		// The start events of the keys deployed, to be replaced.
		c.Jobs = append(c.Jobs, snap.StartJobs...)
		c.Subs = append(c.Subs, snap.StartSubs...)
		nd := &store.NewDeployment{Deployment: *out}
		var models []*model.Definition
		unchangedDeployment := int64(0)
		for _, cr := range all {
			out.Resources = append(out.Resources, cr.res.Name)
			nd.Resources = append(nd.Resources, store.Resource{Name: cr.res.Name, Content: cr.res.Content, Hash: cr.hash})
			for _, d := range cr.defs {
				latest, err := e.st.Definition(ctx, &store.DefinitionParams{LatestKey: d.Key})
				version := 1
				if err == nil {
					if p.ChangedOnly && latest.Hash == cr.hash {
						unchangedDeployment = latest.DeploymentID
						continue
					}
					version = latest.Version + 1
				} else if !errors.Is(err, ErrNotFound) {
					return err
				}
				nd.Definitions = append(nd.Definitions, &store.DefinitionRow{Hash: cr.hash, ProcessDefinition: ProcessDefinition{
					ID: c.NewRowID(), Tenant: c.Tenant, Key: d.Key, Version: version, Name: d.Name, DeploymentID: out.ID,
					ResourceName: cr.res.Name, VersionTag: d.VersionTag, HistoryTimeToLive: d.HistoryTimeToLive, CreatedAt: c.Now}})
				models = append(models, d)
			}
		}
		if len(nd.Definitions) == 0 && p.ChangedOnly && unchangedDeployment != 0 {
			// Nothing changed: report the deployment that holds the
			// current versions instead of creating an empty one.
			dep, err := e.st.Deployment(ctx, unchangedDeployment)
			if err != nil {
				return err
			}
			out = dep
			out.Definitions = nil
			return nil
		}
		l.deployments = append(l.deployments, nd)
		for i, r := range nd.Definitions {
			pd := r.ProcessDefinition
			out.Definitions = append(out.Definitions, &pd)
			if err := e.replaceStartEvents(c, &core.Deployed{ProcessDefinition: pd, Model: models[i]}); err != nil {
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
// its new version: the previous version's start jobs and subscriptions
// (which the command read into its unit) go, the new version's are
// created.
func (e *Engine) replaceStartEvents(c *core.Executor, d *core.Deployed) error {
	for _, j := range c.Jobs {
		if j.Kind == JobTimerStart && j.InstanceID == 0 && j.DefinitionKey == d.Key {
			core.Drop(&j.Op)
		}
	}
	for _, s := range c.Subs {
		if s.Kind == "message-start" && s.DefinitionKey == d.Key {
			core.Drop(&s.Op)
		}
	}
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
		j.DefinitionID, j.DefinitionKey = d.ID, d.Key
	}
	for _, el := range d.Model.MessageStarts {
		c.Subs = append(c.Subs, &core.SubRow{ID: c.NewRowID(), Kind: "message-start", Name: el.Event.Message, DefinitionID: d.ID,
			DefinitionKey: d.Key, ElementID: el.ID, CreatedAt: c.NowMS, Op: core.RowNew})
	}
	return nil
}
