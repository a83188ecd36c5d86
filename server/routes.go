package server

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// routeTable lists every API route with the role it needs. Keep it the only
// place routes are declared: the OpenAPI check and the role tests are
// generated from it.
func (s *Server) routeTable() []route {
	r, u, a := security.RoleReader, security.RoleUser, security.RoleAdmin
	t := func(method, path string, role security.Role, h func(http.ResponseWriter, *http.Request) error) route {
		return route{method: method, path: path, scope: scopeTenant, role: role, h: h}
	}
	m := func(method, path string, h func(http.ResponseWriter, *http.Request) error) route {
		return route{method: method, path: path, scope: scopeManager, h: h}
	}
	return []route{
		{method: "GET", path: "/engine", scope: scopeAnyone, h: s.engines},
		{method: "GET", path: "/version", scope: scopeAnyone, h: s.version},

		{method: "POST", path: "/deployment/create", scope: scopeTenant, role: a, h: s.deploymentCreate, maxBody: s.opts.Limits.MaxDeploymentBytes},
		t("GET", "/deployment", r, s.deploymentList),
		t("GET", "/deployment/count", r, s.deploymentCount),
		t("GET", "/deployment/{id}", r, s.deploymentGet),
		t("DELETE", "/deployment/{id}", a, s.deploymentDelete),

		t("GET", "/process-definition", r, s.definitionList),
		t("GET", "/process-definition/count", r, s.definitionCount),
		t("GET", "/process-definition/{id}", r, s.definitionGet),
		// {id}/xml and {id}/statistics share one pattern: Go's router would
		// find /process-definition/{id}/xml ambiguous with
		// /process-definition/key/{key} (both match …/key/xml).
		t("GET", "/process-definition/{id}/{sub}", r, s.definitionSub),
		t("POST", "/process-definition/{id}/start", u, s.definitionStart),
		t("PUT", "/process-definition/{id}/suspended", a, s.definitionSuspend),
		t("GET", "/process-definition/key/{key}", r, s.definitionGet),
		t("GET", "/process-definition/key/{key}/xml", r, s.definitionXML),
		t("POST", "/process-definition/key/{key}/start", u, s.definitionStart),
		t("POST", "/process-definition/key/{key}/tenant-id/{tenant}/start", u, s.definitionStart),
		t("PUT", "/process-definition/key/{key}/suspended", a, s.definitionSuspend),

		t("GET", "/process-instance", r, s.instanceList),
		t("POST", "/process-instance", r, s.instanceList),
		t("GET", "/process-instance/count", r, s.instanceCount),
		t("POST", "/process-instance/count", r, s.instanceCount),
		t("GET", "/process-instance/{id}", r, s.instanceGet),
		t("DELETE", "/process-instance/{id}", a, s.instanceDelete),
		t("PUT", "/process-instance/{id}/suspended", a, s.instanceSuspend),
		t("GET", "/process-instance/{id}/activity-instances", r, s.instanceActivities),
		t("GET", "/process-instance/{id}/variables", r, s.instanceVariables),
		t("POST", "/process-instance/{id}/variables", u, s.instanceModifyVariables),
		t("GET", "/process-instance/{id}/variables/{name}", r, s.instanceVariable),
		t("PUT", "/process-instance/{id}/variables/{name}", u, s.instancePutVariable),
		t("DELETE", "/process-instance/{id}/variables/{name}", u, s.instanceDeleteVariable),

		t("GET", "/task", r, s.taskList),
		t("POST", "/task", r, s.taskList),
		t("GET", "/task/count", r, s.taskCount),
		t("POST", "/task/count", r, s.taskCount),
		t("GET", "/task/{id}", r, s.taskGet),
		t("POST", "/task/{id}/claim", u, s.taskClaim),
		t("POST", "/task/{id}/unclaim", u, s.taskUnclaim),
		t("POST", "/task/{id}/assignee", u, s.taskAssignee),
		t("POST", "/task/{id}/complete", u, s.taskComplete),
		t("POST", "/task/{id}/submit-form", u, s.taskComplete),

		t("POST", "/external-task/fetchAndLock", u, s.fetchAndLock),
		t("GET", "/external-task", r, s.externalList),
		t("POST", "/external-task", r, s.externalList),
		t("GET", "/external-task/count", r, s.externalCount),
		t("GET", "/external-task/{id}", r, s.externalGet),
		t("POST", "/external-task/{id}/complete", u, s.externalComplete),
		t("POST", "/external-task/{id}/failure", u, s.externalFailure),
		t("POST", "/external-task/{id}/bpmnError", u, s.externalBPMNError),
		t("POST", "/external-task/{id}/extendLock", u, s.externalExtendLock),
		t("POST", "/external-task/{id}/lock", u, s.externalLock),
		t("POST", "/external-task/{id}/unlock", u, s.externalUnlock),
		t("PUT", "/external-task/{id}/retries", a, s.externalRetries),

		t("GET", "/job", r, s.jobList),
		t("GET", "/job/count", r, s.jobCount),
		t("GET", "/job/{id}", r, s.jobGet),
		t("PUT", "/job/{id}/retries", a, s.jobRetries),

		t("GET", "/incident", r, s.incidentList),
		t("GET", "/incident/count", r, s.incidentCount),
		t("GET", "/incident/{id}", r, s.incidentGet),

		t("POST", "/message", u, s.message),

		t("GET", "/history/process-instance", r, s.historyInstanceList),
		t("GET", "/history/process-instance/count", r, s.historyInstanceCount),
		t("GET", "/history/process-instance/{id}", r, s.historyInstanceGet),
		t("GET", "/history/activity-instance", r, s.historyActivityList),
		t("GET", "/history/activity-instance/count", r, s.historyActivityCount),
		t("GET", "/history/task", r, s.historyTaskList),
		t("GET", "/history/task/count", r, s.historyTaskCount),
		t("GET", "/history/variable-instance", r, s.historyVariableList),
		t("GET", "/history/user-operation", a, s.userOperations),
		t("GET", "/history/user-operation/count", a, s.userOperationCount),

		t("GET", "/user", r, s.userList),
		t("GET", "/user/count", r, s.userCount),
		t("GET", "/user/{id}/profile", r, s.userProfile),
		t("POST", "/user/create", a, s.userCreate),
		t("DELETE", "/user/{id}", a, s.userDelete),
		t("GET", "/group", r, s.groupList),
		t("GET", "/group/count", r, s.groupCount),
		t("GET", "/group/{id}", r, s.groupGet),
		t("POST", "/group/create", a, s.groupCreate),
		t("DELETE", "/group/{id}", a, s.groupDelete),
		t("PUT", "/group/{id}/members/{userId}", a, s.groupAddMember),
		t("DELETE", "/group/{id}/members/{userId}", a, s.groupRemoveMember),
		t("GET", "/identity/groups", r, s.identityGroups),

		t("GET", "/events", r, s.events),

		m("GET", "/tenants", s.adminTenantList),
		m("POST", "/tenants", s.adminTenantCreate),
		m("GET", "/tenants/{id}", s.adminTenantGet),
		m("PATCH", "/tenants/{id}", s.adminTenantUpdate),
		m("POST", "/tenants/{id}/disable", s.adminTenantDisable),
		m("POST", "/tenants/{id}/enable", s.adminTenantEnable),
		m("DELETE", "/tenants/{id}", s.adminTenantDrop),
		m("GET", "/tenants/{id}/stats", s.adminTenantStats),
		m("GET", "/tenants/{id}/dead-letters", s.adminDeadLetters),
		m("GET", "/tenants/{id}/members", s.adminMembers),
		m("PUT", "/tenants/{id}/members/{userId}", s.adminGrant),
		m("DELETE", "/tenants/{id}/members/{userId}", s.adminRevoke),
		m("GET", "/users", s.adminUserList),
		m("POST", "/users", s.adminUserCreate),
		m("GET", "/users/{id}", s.adminUserGet),
		m("PATCH", "/users/{id}", s.adminUserUpdate),
		m("DELETE", "/users/{id}", s.adminUserDelete),
		m("GET", "/users/{id}/tokens", s.adminTokenList),
		m("POST", "/users/{id}/tokens", s.adminTokenCreate),
		m("DELETE", "/users/{id}/tokens/{tokenId}", s.adminTokenRevoke),
		m("GET", "/migrations", s.adminMigrationStatus),
		m("POST", "/migrations", s.adminMigrateAll),
		m("GET", "/node", s.adminNode),
		m("GET", "/audit", s.adminAudit),
	}
}

// ---- query parameters ----

type params struct{ url.Values }

func query(r *http.Request) params { return params{r.URL.Query()} }

func (p params) str(name string) string { return p.Get(name) }

func (p params) boolean(name string) bool {
	v := strings.ToLower(p.Get(name))
	return v == "true" || v == "1"
}

func (p params) int(name string, def int) (int, error) {
	v := p.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, badRequest("%s %q is not a whole number", name, v)
	}
	return n, nil
}

func (p params) id(name string) (int64, error) {
	v := p.Get(name)
	if v == "" {
		return 0, nil
	}
	return parseID(v, name)
}

func (p params) ids(name string) ([]int64, error) {
	v := p.Get(name)
	if v == "" {
		return nil, nil
	}
	var out []int64
	for _, s := range strings.Split(v, ",") {
		n, err := parseID(s, name)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

func (p params) list(name string) []string {
	v := p.Get(name)
	if v == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// page reads firstResult, maxResults, sortBy and sortOrder; sorts maps the
// list's sortBy values to the engine's field names.
func (s *Server) page(p params, sorts sortKeys) (engine.Page, error) {
	first, err := p.int("firstResult", 0)
	if err != nil {
		return engine.Page{}, err
	}
	max, err := p.int("maxResults", s.opts.MaxPageSize)
	if err != nil {
		return engine.Page{}, err
	}
	if max > s.opts.MaxPageSize {
		max = s.opts.MaxPageSize
	}
	if max <= 0 {
		max = s.opts.MaxPageSize
	}
	pg := engine.Page{FirstResult: first, MaxResults: max}
	if sb := p.str("sortBy"); sb != "" {
		if pg.SortBy, err = sorts.field(sb); err != nil {
			return pg, err
		}
		switch strings.ToLower(p.str("sortOrder")) {
		case "", "asc":
		case "desc":
			pg.SortDesc = true
		default:
			return pg, badRequest("sortOrder must be asc or desc")
		}
	}
	return pg, nil
}

// tenantInFilter applies tenantIdIn: it can only narrow to the caller's own
// tenant; any other tenant yields an empty result, never another tenant's
// data.
func tenantInFilter(r *http.Request, p params) bool {
	want := p.list("tenantIdIn")
	if len(want) == 0 {
		return true
	}
	tenant, _ := security.TenantFrom(r.Context())
	for _, t := range want {
		if t == tenant {
			return true
		}
	}
	return false
}

func tenantOf(r *http.Request) string {
	t, _ := security.TenantFrom(r.Context())
	return t
}

// countBody is the answer of every …/count route.
type countBody struct {
	Count int64 `json:"count"`
}

func (s *Server) engines(w http.ResponseWriter, r *http.Request) error {
	p := security.PrincipalFrom(r.Context())
	out := []map[string]string{}
	if p != nil && !p.TenantManager {
		ms, err := s.opts.Sources.Directory().Memberships(r.Context(), p.UserID)
		if err != nil {
			return err
		}
		for _, m := range ms {
			out = append(out, map[string]string{"name": m.Tenant})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// CamundaVersion is the Camunda REST API version tenantflow answers to.
const CamundaVersion = "7.21.0"

func (s *Server) version(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"version": CamundaVersion})
	return nil
}
