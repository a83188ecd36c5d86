package server

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
)

// The audit log records every successful change made through the API, per
// tenant: who (login, and whether a member, the tenant manager, or a member
// acting through a token the tenant manager created), what (Camunda's
// operation and entity types), when, and from where (the client address).
// Routes declare what they record (auditSpecs); handlers add what only they
// know (old and new values, the tenants a user change touches) through the
// request's auditNote. Entries are written after the change succeeded, to
// the primary, so they outlive a dropped tenant.

// auditSpec is what a route records.
type auditSpec struct {
	op, entity, category string
}

// auditSpecs maps "METHOD path" of the route table to its entry.
var auditSpecs = map[string]auditSpec{
	"POST /task/{id}/claim":                          {"Claim", "Task", "TaskWorker"},
	"POST /task/{id}/unclaim":                        {"Claim", "Task", "TaskWorker"},
	"POST /task/{id}/assignee":                       {"Assign", "Task", "TaskWorker"},
	"POST /task/{id}/complete":                       {"Complete", "Task", "TaskWorker"},
	"POST /task/{id}/submit-form":                    {"Complete", "Task", "TaskWorker"},
	"POST /deployment/create":                        {"Create", "Deployment", "Operator"},
	"DELETE /deployment/{id}":                        {"Delete", "Deployment", "Operator"},
	"PUT /process-definition/{id}/suspended":         {"Suspend", "ProcessDefinition", "Operator"},
	"PUT /process-definition/key/{key}/suspended":    {"Suspend", "ProcessDefinition", "Operator"},
	"DELETE /process-instance/{id}":                  {"Delete", "ProcessInstance", "Operator"},
	"PUT /process-instance/{id}/suspended":           {"Suspend", "ProcessInstance", "Operator"},
	"POST /process-instance/{id}/variables":          {"ModifyVariable", "Variable", "Operator"},
	"PUT /process-instance/{id}/variables/{name}":    {"SetVariable", "Variable", "Operator"},
	"DELETE /process-instance/{id}/variables/{name}": {"RemoveVariable", "Variable", "Operator"},
	"PUT /external-task/{id}/retries":                {"SetExternalTaskRetries", "ExternalTask", "Operator"},
	"PUT /job/{id}/retries":                          {"SetJobRetries", "Job", "Operator"},
	"POST /user/create":                              {"Create", "User", "Admin"},
	"DELETE /user/{id}":                              {"Delete", "TenantMembership", "Admin"},
	"POST /group/create":                             {"Create", "Group", "Admin"},
	"DELETE /group/{id}":                             {"Delete", "Group", "Admin"},
	"PUT /group/{id}/members/{userId}":               {"Create", "GroupMembership", "Admin"},
	"DELETE /group/{id}/members/{userId}":            {"Delete", "GroupMembership", "Admin"},
	"POST /tenants":                                  {"Create", "Tenant", "Admin"},
	"PATCH /tenants/{id}":                            {"Update", "Tenant", "Admin"},
	"POST /tenants/{id}/disable":                     {"Disable", "Tenant", "Admin"},
	"POST /tenants/{id}/enable":                      {"Enable", "Tenant", "Admin"},
	"DELETE /tenants/{id}":                           {"Delete", "Tenant", "Admin"},
	"PUT /tenants/{id}/members/{userId}":             {"Create", "TenantMembership", "Admin"},
	"DELETE /tenants/{id}/members/{userId}":          {"Delete", "TenantMembership", "Admin"},
	"POST /users":                                    {"Create", "User", "Admin"},
	"PATCH /users/{id}":                              {"Update", "User", "Admin"},
	"DELETE /users/{id}":                             {"Delete", "User", "Admin"},
	"POST /users/{id}/tokens":                        {"Create", "Token", "Admin"},
	"DELETE /users/{id}/tokens/{tokenId}":            {"Delete", "Token", "Admin"},
	"POST /migrations":                               {"Migrate", "Tenant", "Admin"},
}

// auditNote is what a handler adds to its route's entry.
type auditNote struct {
	// op replaces the route's operation type (Activate for a suspension
	// route that activates).
	op string
	// props are property changes; none means one entry without a property.
	props []auditProp
	// ids fill the entry's references.
	entityID, deploymentID, definitionID, definitionKey, instanceID, taskID, jobID, externalTaskID string
	// tenants replaces the tenant of an admin entry: one entry per tenant
	// (a user change concerns every tenant the user belongs to).
	tenants    []string
	annotation string
	skip       bool
}

type auditProp struct {
	name          string
	orgVal, value *string
}

type auditKey struct{}

// note returns the request's audit note (a throwaway one for a route that
// records nothing).
func note(r *http.Request) *auditNote {
	if n, ok := r.Context().Value(auditKey{}).(*auditNote); ok {
		return n
	}
	return &auditNote{}
}

// prop records a property change.
func (n *auditNote) prop(name string, org, val *string) {
	n.props = append(n.props, auditProp{name, org, val})
}

func sp(s string) *string { return &s }

// auditWriter writes entries and counts failures.
type auditWriter struct {
	failed atomic.Int64
}

// record writes the entries of a successful request.
func (s *Server) record(r *http.Request, rt route, spec auditSpec, n *auditNote) {
	if n.skip || s.opts.Sources == nil {
		return
	}
	p := principal(r)
	if p == nil {
		return
	}
	pathIDs(r, rt, n)
	base := datasource.AuditEntry{UserID: p.Login, ActorKind: "member", Address: s.clientIP(r), OperationType: spec.op,
		EntityType: spec.entity, Category: spec.category, EntityID: n.entityID, DeploymentID: n.deploymentID,
		ProcessDefinitionID: n.definitionID, ProcessDefinitionKey: n.definitionKey, ProcessInstanceID: n.instanceID,
		TaskID: n.taskID, JobID: n.jobID, ExternalTaskID: n.externalTaskID, Annotation: n.annotation}
	if n.op != "" {
		base.OperationType = n.op
	}
	if p.TenantManager {
		base.ActorKind = "tenant-manager"
	}
	if p.ImpersonatedBy != "" {
		by := p.ImpersonatedBy
		if a, err := s.opts.Sources.Directory().AccountByID(r.Context(), by); err == nil {
			by = a.Login
		}
		base.Annotation = strings.TrimSpace(base.Annotation + " (with a token " + by + " created for " + p.Login + ")")
	}
	tenants := []string{p.Tenant}
	if rt.scope == scopeManager {
		tenants = []string{r.PathValue("id")}
		if !strings.HasPrefix(rt.path, "/tenants/") {
			tenants = []string{""}
		}
		if n.tenants != nil {
			tenants = n.tenants
		}
	}
	props := n.props
	if len(props) == 0 {
		props = []auditProp{{}}
	}
	now := time.Now()
	var entries []*datasource.AuditEntry
	for _, t := range tenants {
		for _, pr := range props {
			e := base
			e.Tenant, e.At, e.Property, e.OrgValue, e.NewValue = t, now, pr.name, pr.orgVal, pr.value
			entries = append(entries, &e)
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if err := s.opts.Sources.Primary.AppendAudit(ctx, entries...); err != nil {
		s.audits.failed.Add(1)
		s.log.Error("audit log write failed", "route", rt.path, "user", p.Login, "tenant", p.Tenant, "err", err)
	}
}

// memberTenants lists the tenants a user belongs to, for entries about the
// user ("" when none, so the entry is still written).
func (s *Server) memberTenants(ctx context.Context, userID string) []string {
	ms, err := s.opts.Sources.Primary.MembershipsOfUser(ctx, userID)
	if err != nil || len(ms) == 0 {
		return []string{""}
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Tenant
	}
	return out
}

// pathIDs fills the references a route's path names, where the handler
// did not.
func pathIDs(r *http.Request, rt route, n *auditNote) {
	id := r.PathValue("id")
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	switch first, _, _ := strings.Cut(strings.TrimPrefix(rt.path, "/"), "/"); first {
	case "task":
		set(&n.taskID, id)
	case "process-instance":
		set(&n.instanceID, id)
	case "deployment":
		set(&n.deploymentID, id)
	case "job":
		set(&n.jobID, id)
	case "external-task":
		set(&n.externalTaskID, id)
	case "process-definition":
		set(&n.definitionID, id)
		set(&n.definitionKey, r.PathValue("key"))
	default:
		if u := r.PathValue("userId"); u != "" {
			set(&n.entityID, u)
		}
		set(&n.entityID, id)
	}
}

// userOperationDTO is an audit entry in the shape of Camunda's user
// operation log (GET /history/user-operation), plus who acted in which
// role and from where.
type userOperationDTO struct {
	ID                    string  `json:"id"`
	DeploymentID          *string `json:"deploymentId"`
	ProcessDefinitionID   *string `json:"processDefinitionId"`
	ProcessDefinitionKey  *string `json:"processDefinitionKey"`
	ProcessInstanceID     *string `json:"processInstanceId"`
	ExecutionID           *string `json:"executionId"`
	CaseDefinitionID      *string `json:"caseDefinitionId"`
	CaseInstanceID        *string `json:"caseInstanceId"`
	CaseExecutionID       *string `json:"caseExecutionId"`
	TaskID                *string `json:"taskId"`
	ExternalTaskID        *string `json:"externalTaskId"`
	BatchID               *string `json:"batchId"`
	JobID                 *string `json:"jobId"`
	JobDefinitionID       *string `json:"jobDefinitionId"`
	UserID                string  `json:"userId"`
	Timestamp             jtime   `json:"timestamp"`
	OperationID           string  `json:"operationId"`
	OperationType         string  `json:"operationType"`
	EntityType            string  `json:"entityType"`
	Property              *string `json:"property"`
	OrgValue              *string `json:"orgValue"`
	NewValue              *string `json:"newValue"`
	RemovalTime           *string `json:"removalTime"`
	RootProcessInstanceID *string `json:"rootProcessInstanceId"`
	Category              string  `json:"category"`
	Annotation            *string `json:"annotation"`
	TenantID              *string `json:"tenantId"`
	// EntityID names the entity when no Camunda reference above does (a
	// user's login, a tenant, a group).
	EntityID *string `json:"entityId"`
	// ActorKind is "member" or "tenant-manager"; Address is the client's.
	ActorKind string `json:"actorKind"`
	Address   string `json:"address"`
}

func toUserOperation(e *datasource.AuditEntry) userOperationDTO {
	return userOperationDTO{ID: e.ID, DeploymentID: strp(e.DeploymentID), ProcessDefinitionID: strp(e.ProcessDefinitionID),
		ProcessDefinitionKey: strp(e.ProcessDefinitionKey), ProcessInstanceID: strp(e.ProcessInstanceID), TaskID: strp(e.TaskID),
		ExternalTaskID: strp(e.ExternalTaskID), JobID: strp(e.JobID), UserID: e.UserID, Timestamp: jtime(e.At),
		OperationID: e.OperationID, OperationType: e.OperationType, EntityType: e.EntityType, Property: strp(e.Property),
		OrgValue: e.OrgValue, NewValue: e.NewValue, Category: e.Category, Annotation: strp(e.Annotation),
		TenantID: strp(e.Tenant), EntityID: strp(e.EntityID), ActorKind: e.ActorKind, Address: e.Address}
}

// auditSorts: the user operation log sorts by time only.
var auditSorts = sortKeys{fields: map[string]string{"timestamp": "timestamp"}}

// auditQuery reads the user operation log filters of Camunda (and
// entityTypeIn, categoryIn), every value a parameter of the query.
func (s *Server) auditQuery(r *http.Request) (*datasource.AuditQuery, error) {
	p := query(r)
	pg, err := s.page(p, auditSorts)
	if err != nil {
		return nil, err
	}
	q := &datasource.AuditQuery{UserID: p.str("userId"), ProcessInstanceID: p.str("processInstanceId"),
		ProcessDefinitionKey: p.str("processDefinitionKey"), TaskID: p.str("taskId"),
		FirstResult: pg.FirstResult, MaxResults: pg.MaxResults, Ascending: pg.SortBy != "" && !pg.SortDesc}
	if v := p.str("operationType"); v != "" {
		q.OperationTypes = []string{v}
	}
	q.EntityTypes = p.list("entityTypeIn")
	if v := p.str("entityType"); v != "" {
		q.EntityTypes = append(q.EntityTypes, v)
	}
	q.Categories = p.list("categoryIn")
	if v := p.str("category"); v != "" {
		q.Categories = append(q.Categories, v)
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"afterTimestamp", &q.After}, {"beforeTimestamp", &q.Before}} {
		if v := p.str(b.name); v != "" {
			t, err := engine.ParseTime(v)
			if err != nil {
				return nil, badRequest("%s: %v", b.name, err)
			}
			*b.dst = t
		}
	}
	return q, nil
}

// userOperations answers GET /history/user-operation: the caller's tenant's
// audit log, newest first (sortBy=timestamp&sortOrder=asc for oldest).
func (s *Server) userOperations(w http.ResponseWriter, r *http.Request) error {
	q, err := s.auditQuery(r)
	if err != nil {
		return err
	}
	q.Tenant = tenantOf(r)
	return s.writeAudit(w, r, q)
}

func (s *Server) userOperationCount(w http.ResponseWriter, r *http.Request) error {
	q, err := s.auditQuery(r)
	if err != nil {
		return err
	}
	q.Tenant = tenantOf(r)
	n, err := s.opts.Sources.Primary.CountAudit(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, countBody{n})
	return nil
}

// adminAudit answers GET /admin/api/audit: every tenant's audit log, or
// one tenant's with ?tenant= (?tenant= empty: actions on no tenant).
func (s *Server) adminAudit(w http.ResponseWriter, r *http.Request) error {
	q, err := s.auditQuery(r)
	if err != nil {
		return err
	}
	if query(r).Has("tenant") {
		q.Tenant = query(r).str("tenant")
	} else {
		q.AllTenants = true
	}
	return s.writeAudit(w, r, q)
}

func (s *Server) writeAudit(w http.ResponseWriter, r *http.Request, q *datasource.AuditQuery) error {
	es, err := s.opts.Sources.Primary.ListAudit(r.Context(), q)
	if err != nil {
		return err
	}
	out := make([]userOperationDTO, len(es))
	for i, e := range es {
		out[i] = toUserOperation(e)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
