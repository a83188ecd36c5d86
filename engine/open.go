package engine

import (
	"context"
	"errors"
	"path"
	"strings"

	"github.com/tenantflow/tenantflow/engine/core"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/security"
)

// Open opens the datasources cfg describes (the zero Config is SQLite under
// ./data; set DataDir or PrimaryURL) and an engine over them, for programs
// that embed the engine and own its storage. Close the returned Sources
// when done; the engine holds nothing that needs closing. Programs that
// share their datasources with other services open them with
// datasource.Open and pass them to New instead.
//
// Errors: those of datasource.Open (configuration, an unreachable or
// unmigratable primary) and of New.
func Open(ctx context.Context, cfg datasource.Config, opts Options) (*Engine, *datasource.Sources, error) {
	src, err := datasource.Open(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	e, err := New(src, opts)
	if err != nil {
		return nil, nil, errors.Join(err, src.Close())
	}
	return e, src, nil
}

// WithTenant returns a copy of ctx that carries tenant: every engine call
// works in the tenant of its context, and a context without one is refused
// with ErrNoTenant. It is security.WithTenant, repeated here so that code
// embedding the engine needs no other import for it.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return security.WithTenant(ctx, tenant)
}

// DeployXML deploys one BPMN document, given as a string, under the
// resource name name (".bpmn" is appended when name has no BPMN
// extension). Only processes whose XML differs from their latest version
// get a new version (DeployParams.ChangedOnly), so a program can deploy its
// processes every time it starts. It returns the deployment; its
// Definitions are empty when nothing changed.
//
// Errors: those of Deploy, among them a *model.Error listing every problem
// of the document with element IDs and lines.
func (e *Engine) DeployXML(ctx context.Context, name, xml string) (*Deployment, error) {
	if name == "" {
		return nil, core.Invalidf("DeployXML needs a resource name, such as order.bpmn")
	}
	if !isProcessResource(name) {
		name += ".bpmn"
	}
	return e.Deploy(ctx, &DeployParams{Name: strings.TrimSuffix(path.Base(name), path.Ext(name)), Source: "DeployXML",
		ChangedOnly: true, Resources: []Resource{{Name: name, Content: []byte(xml)}}})
}
