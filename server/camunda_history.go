package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/datasource"
	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

// ---- history ----

type historyInstanceDTO struct {
	ID                       string  `json:"id"`
	BusinessKey              *string `json:"businessKey"`
	ProcessDefinitionID      string  `json:"processDefinitionId"`
	ProcessDefinitionKey     string  `json:"processDefinitionKey"`
	ProcessDefinitionName    *string `json:"processDefinitionName"`
	ProcessDefinitionVersion *int    `json:"processDefinitionVersion"`
	StartTime                jtime   `json:"startTime"`
	EndTime                  jtime   `json:"endTime"`
	RemovalTime              jtime   `json:"removalTime"`
	DurationInMillis         *int64  `json:"durationInMillis"`
	StartUserID              *string `json:"startUserId"`
	StartActivityID          string  `json:"startActivityId"`
	DeleteReason             *string `json:"deleteReason"`
	RootProcessInstanceID    string  `json:"rootProcessInstanceId"`
	SuperProcessInstanceID   *string `json:"superProcessInstanceId"`
	SuperCaseInstanceID      *string `json:"superCaseInstanceId"`
	CaseInstanceID           *string `json:"caseInstanceId"`
	TenantID                 string  `json:"tenantId"`
	State                    string  `json:"state"`
}

func toHistoryInstance(p *engine.ProcessInstance) historyInstanceDTO {
	out := historyInstanceDTO{ID: id(p.ID), BusinessKey: strp(p.BusinessKey), ProcessDefinitionID: id(p.DefinitionID),
		ProcessDefinitionKey: p.DefinitionKey, StartTime: jtime(p.StartedAt), EndTime: jtime(p.EndedAt), StartUserID: strp(p.StartUserID),
		StartActivityID: p.StartActivityID, DeleteReason: strp(p.DeleteReason), RootProcessInstanceID: id(p.ID),
		SuperProcessInstanceID: idOrNull(p.SuperInstanceID), TenantID: p.Tenant}
	switch {
	case p.State == engine.InstanceActive && p.Suspended:
		out.State = "SUSPENDED"
	case p.State == engine.InstanceActive:
		out.State = "ACTIVE"
	case p.State == engine.InstanceCompleted:
		out.State = "COMPLETED"
	default:
		out.State = "EXTERNALLY_TERMINATED"
	}
	if !p.EndedAt.IsZero() {
		d := p.EndedAt.Sub(p.StartedAt).Milliseconds()
		out.DurationInMillis = &d
	}
	return out
}

func (s *Server) historyInstanceQuery(r *http.Request) (*engine.InstanceQuery, bool, error) {
	p := query(r)
	pg, err := s.page(p, historyInstanceSorts)
	if err != nil {
		return nil, false, err
	}
	q := &engine.InstanceQuery{AnyState: true, DefinitionKey: p.str("processDefinitionKey"), BusinessKey: p.str("processInstanceBusinessKey"),
		BusinessKeyLike: p.str("processInstanceBusinessKeyLike"), WithIncidents: p.boolean("withIncidents"), Page: pg}
	if n, err := p.id("processInstanceId"); err != nil {
		return nil, false, err
	} else if n != 0 {
		q.IDs = []int64{n}
	}
	ids, err := p.ids("processInstanceIds")
	if err != nil {
		return nil, false, err
	}
	q.IDs = append(q.IDs, ids...)
	if q.DefinitionID, err = p.id("processDefinitionId"); err != nil {
		return nil, false, err
	}
	if q.SuperInstanceID, err = p.id("superProcessInstanceId"); err != nil {
		return nil, false, err
	}
	switch {
	case p.boolean("finished") || p.boolean("completed"):
		q.AnyState, q.States = false, []engine.InstanceState{engine.InstanceCompleted, engine.InstanceTerminated}
		if p.boolean("completed") {
			q.States = []engine.InstanceState{engine.InstanceCompleted}
		}
	case p.boolean("unfinished") || p.boolean("active"):
		q.AnyState, q.States = false, []engine.InstanceState{engine.InstanceActive}
	}
	return q, tenantInFilter(r, p), nil
}

func (s *Server) historyInstanceList(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.historyInstanceQuery(r)
	if err != nil {
		return err
	}
	out := []historyInstanceDTO{}
	if ok {
		is, err := s.opts.Engine.Instances(r.Context(), q)
		if err != nil {
			return err
		}
		defs := definitionNames{}
		for _, i := range is {
			out = append(out, defs.fill(r, s.opts.Engine, toHistoryInstance(i), i.DefinitionID))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// definitionNames fills the definition name and version of history
// instances, looking each definition up once per request.
type definitionNames map[int64]*engine.ProcessDefinition

func (d definitionNames) fill(r *http.Request, e *engine.Engine, out historyInstanceDTO, defID int64) historyInstanceDTO {
	def, seen := d[defID]
	if !seen {
		def, _ = e.Definition(r.Context(), engine.IDRef(defID), "")
		d[defID] = def // nil when it was deleted: name and version stay null
	}
	if def != nil {
		out.ProcessDefinitionName = strp(def.Name)
		v := def.Version
		out.ProcessDefinitionVersion = &v
	}
	return out
}

func (s *Server) historyInstanceCount(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.historyInstanceQuery(r)
	if err != nil {
		return err
	}
	var n int64
	if ok {
		if n, err = s.opts.Engine.CountInstances(r.Context(), q); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, countBody{n})
	return nil
}

func (s *Server) historyInstanceGet(w http.ResponseWriter, r *http.Request) error {
	ref, err := instanceRef(r)
	if err != nil {
		return err
	}
	inst, err := s.opts.Engine.Instance(r.Context(), ref)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, definitionNames{}.fill(r, s.opts.Engine, toHistoryInstance(inst), inst.DefinitionID))
	return nil
}

type historyActivityDTO struct {
	ID                       string  `json:"id"`
	ParentActivityInstanceID string  `json:"parentActivityInstanceId"`
	ActivityID               string  `json:"activityId"`
	ActivityName             string  `json:"activityName"`
	ActivityType             string  `json:"activityType"`
	ProcessDefinitionID      string  `json:"processDefinitionId"`
	ProcessInstanceID        string  `json:"processInstanceId"`
	ExecutionID              string  `json:"executionId"`
	TaskID                   *string `json:"taskId"`
	CalledProcessInstanceID  *string `json:"calledProcessInstanceId"`
	CalledCaseInstanceID     *string `json:"calledCaseInstanceId"`
	Assignee                 *string `json:"assignee"`
	StartTime                jtime   `json:"startTime"`
	EndTime                  jtime   `json:"endTime"`
	DurationInMillis         *int64  `json:"durationInMillis"`
	Canceled                 bool    `json:"canceled"`
	CompleteScope            bool    `json:"completeScope"`
	TenantID                 string  `json:"tenantId"`
	RootProcessInstanceID    string  `json:"rootProcessInstanceId"`
}

func toHistoryActivity(a *engine.ActivityInstance) historyActivityDTO {
	parent := id(a.ParentID)
	if parent == "" {
		parent = id(a.InstanceID)
	}
	out := historyActivityDTO{ID: id(a.ID), ParentActivityInstanceID: parent, ActivityID: a.ElementID, ActivityName: a.Name,
		ActivityType: a.ElementType, ProcessDefinitionID: id(a.DefinitionID), ProcessInstanceID: id(a.InstanceID),
		ExecutionID: id(a.ExecutionID), TaskID: idOrNull(a.TaskID), CalledProcessInstanceID: idOrNull(a.CalledInstanceID),
		StartTime: jtime(a.StartedAt), EndTime: jtime(a.EndedAt), Canceled: a.Canceled, TenantID: a.Tenant,
		RootProcessInstanceID: id(a.InstanceID), CompleteScope: a.ElementType == "endEvent"}
	if !a.EndedAt.IsZero() {
		d := a.EndedAt.Sub(a.StartedAt).Milliseconds()
		out.DurationInMillis = &d
	}
	return out
}

func (s *Server) historyActivityQuery(r *http.Request) (*engine.ActivityQuery, bool, error) {
	p := query(r)
	pg, err := s.page(p, historyActivitySorts)
	if err != nil {
		return nil, false, err
	}
	q := &engine.ActivityQuery{ElementID: p.str("activityId"), Finished: p.boolean("finished"), Unfinished: p.boolean("unfinished"),
		Canceled: p.boolean("canceled"), Page: pg}
	if q.InstanceID, err = p.id("processInstanceId"); err != nil {
		return nil, false, err
	}
	return q, tenantInFilter(r, p), nil
}

func (s *Server) historyActivityList(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.historyActivityQuery(r)
	if err != nil {
		return err
	}
	out := []historyActivityDTO{}
	if ok {
		as, err := s.opts.Engine.Activities(r.Context(), q)
		if err != nil {
			return err
		}
		for _, a := range as {
			out = append(out, toHistoryActivity(a))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) historyActivityCount(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.historyActivityQuery(r)
	if err != nil {
		return err
	}
	var n int64
	if ok {
		if n, err = s.opts.Engine.CountActivities(r.Context(), q); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, countBody{n})
	return nil
}

type historyTaskDTO struct {
	ID                   string  `json:"id"`
	ProcessDefinitionKey string  `json:"processDefinitionKey"`
	ProcessDefinitionID  string  `json:"processDefinitionId"`
	ProcessInstanceID    string  `json:"processInstanceId"`
	ExecutionID          string  `json:"executionId"`
	Name                 string  `json:"name"`
	DeleteReason         *string `json:"deleteReason"`
	Assignee             *string `json:"assignee"`
	StartTime            jtime   `json:"startTime"`
	EndTime              jtime   `json:"endTime"`
	Duration             *int64  `json:"duration"`
	TaskDefinitionKey    string  `json:"taskDefinitionKey"`
	Priority             int     `json:"priority"`
	Due                  jtime   `json:"due"`
	FollowUp             jtime   `json:"followUp"`
	TenantID             string  `json:"tenantId"`
}

func toHistoryTask(t *engine.Task) historyTaskDTO {
	out := historyTaskDTO{ID: id(t.ID), ProcessDefinitionKey: t.DefinitionKey, ProcessDefinitionID: id(t.DefinitionID),
		ProcessInstanceID: id(t.InstanceID), ExecutionID: id(t.ExecutionID), Name: t.Name, Assignee: strp(t.Assignee),
		StartTime: jtime(t.CreatedAt), EndTime: jtime(t.EndedAt), TaskDefinitionKey: t.ElementID, Priority: t.Priority,
		Due: jtime(t.Due), FollowUp: jtime(t.FollowUp), TenantID: t.Tenant}
	switch t.State {
	case engine.TaskCompleted:
		out.DeleteReason = strp("completed")
	case engine.TaskDeleted:
		out.DeleteReason = strp(t.DeleteReason)
	}
	if !t.EndedAt.IsZero() {
		d := t.EndedAt.Sub(t.CreatedAt).Milliseconds()
		out.Duration = &d
	}
	return out
}

func (s *Server) historyTaskQuery(r *http.Request) (*engine.TaskQuery, bool, error) {
	p := query(r)
	pg, err := s.page(p, historyTaskSorts)
	if err != nil {
		return nil, false, err
	}
	q := &engine.TaskQuery{AnyState: true, Assignee: p.str("taskAssignee"), ElementID: p.str("taskDefinitionKey"),
		DefinitionKey: p.str("processDefinitionKey"), Name: p.str("taskName"), Page: pg}
	if q.InstanceID, err = p.id("processInstanceId"); err != nil {
		return nil, false, err
	}
	if q.ID, err = p.id("taskId"); err != nil {
		return nil, false, err
	}
	switch {
	case p.boolean("finished"):
		q.AnyState, q.States = false, []engine.TaskState{engine.TaskCompleted, engine.TaskDeleted}
	case p.boolean("unfinished"):
		q.AnyState, q.States = false, []engine.TaskState{engine.TaskCreated}
	}
	return q, tenantInFilter(r, p), nil
}

func (s *Server) historyTaskList(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.historyTaskQuery(r)
	if err != nil {
		return err
	}
	out := []historyTaskDTO{}
	if ok {
		ts, err := s.opts.Engine.Tasks(r.Context(), q)
		if err != nil {
			return err
		}
		for _, t := range ts {
			out = append(out, toHistoryTask(t))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) historyTaskCount(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.historyTaskQuery(r)
	if err != nil {
		return err
	}
	var n int64
	if ok {
		if n, err = s.opts.Engine.CountTasks(r.Context(), q); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, countBody{n})
	return nil
}

func (s *Server) historyVariableList(w http.ResponseWriter, r *http.Request) error {
	p := query(r)
	instID, err := p.id("processInstanceId")
	if err != nil {
		return err
	}
	if instID == 0 {
		return badRequest("filter by processInstanceId")
	}
	out := []historyVariableDTO{}
	if tenantInFilter(r, p) {
		vars, err := s.opts.Engine.Variables(r.Context(), engine.IDRef(instID))
		if err != nil {
			return err
		}
		for _, name := range sortedNames(vars) {
			if n := p.str("variableName"); n != "" && n != name {
				continue
			}
			out = append(out, toHistoryVariable(tenantOf(r), instID, name, vars[name]))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// historyVariableDTO is a process variable as the history lists it. Its
// fields are in alphabetical order, as clients have always received them.
type historyVariableDTO struct {
	ID                string         `json:"id"`
	Name              string         `json:"name"`
	ProcessInstanceID string         `json:"processInstanceId"`
	State             string         `json:"state"`
	TenantID          string         `json:"tenantId"`
	Type              string         `json:"type"`
	Value             any            `json:"value"`
	ValueInfo         map[string]any `json:"valueInfo"`
}

// toHistoryVariable is the one conversion of a process variable for the
// history. Only current values are kept, so every one is CREATED.
func toHistoryVariable(tenant string, instID int64, name string, val engine.Value) historyVariableDTO {
	v := wireVar(val)
	return historyVariableDTO{ID: id(instID) + ":" + name, Name: name, ProcessInstanceID: id(instID), State: "CREATED",
		TenantID: tenant, Type: v.Type, Value: v.Value, ValueInfo: v.ValueInfo}
}

func sortedNames(m map[string]engine.Value) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ---- identity (the caller's tenant's users and groups) ----

type userDTO struct {
	ID        string `json:"id"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Email     string `json:"email"`
}

func toUser(u *datasource.User) userDTO {
	first, last, _ := strings.Cut(u.DisplayName, " ")
	return userDTO{ID: u.Login, FirstName: first, LastName: last, Email: u.Email}
}

func (s *Server) tenantUsers(r *http.Request) ([]*datasource.User, error) {
	p := query(r)
	params := &datasource.ListUsersParams{Tenant: tenantOf(r), Group: p.str("memberOfGroup")}
	us, err := s.opts.Sources.Primary.ListUsers(r.Context(), params)
	if err != nil {
		return nil, err
	}
	var out []*datasource.User
	for _, u := range us {
		if want := p.str("id"); want != "" && u.Login != want {
			continue
		}
		if in := p.list("idIn"); len(in) > 0 && !contains(in, u.Login) {
			continue
		}
		out = append(out, u)
	}
	return out, nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) userList(w http.ResponseWriter, r *http.Request) error {
	us, err := s.tenantUsers(r)
	if err != nil {
		return err
	}
	out := []userDTO{}
	for _, u := range us {
		out = append(out, toUser(u))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) userCount(w http.ResponseWriter, r *http.Request) error {
	us, err := s.tenantUsers(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, countBody{int64(len(us))})
	return nil
}

// memberByLogin finds a member of the caller's tenant by login.
func (s *Server) memberByLogin(r *http.Request, login string) (*datasource.User, error) {
	u, err := s.opts.Sources.Primary.UserByLogin(r.Context(), login)
	if err != nil {
		return nil, fmt.Errorf("%w: user %q", engine.ErrNotFound, login)
	}
	ms, err := s.opts.Sources.Primary.MembershipsOfUser(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if m.Tenant == tenantOf(r) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%w: user %q", engine.ErrNotFound, login)
}

func (s *Server) userProfile(w http.ResponseWriter, r *http.Request) error {
	u, err := s.memberByLogin(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUser(u))
	return nil
}

// userCreate creates a user and makes it a member of the caller's tenant
// with the user role.
func (s *Server) userCreate(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		Profile     userDTO `json:"profile"`
		Credentials struct {
			Password string `json:"password"`
		} `json:"credentials"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	name := strings.TrimSpace(b.Profile.FirstName + " " + b.Profile.LastName)
	u, err := s.opts.Sources.Primary.CreateUser(r.Context(), &datasource.CreateUserParams{Login: b.Profile.ID,
		Password: b.Credentials.Password, DisplayName: name, Email: b.Profile.Email})
	if errors.Is(err, datasource.ErrConflict) {
		// Logins are shared by all tenants. Whether one is taken, and by
		// whom, is not for a tenant admin to learn: the answer is the same
		// wherever the login is used, and each tenant may ask only a few
		// times a minute.
		if !s.loginProbes.allow(tenantOf(r)) {
			return limited(time.Minute, "tenant %s asked for too many unavailable logins; retry in a minute", tenantOf(r))
		}
		return badRequest("login %q is not available; choose another", b.Profile.ID)
	}
	if err != nil {
		return err
	}
	note(r).entityID = u.Login
	if err := s.opts.Sources.Primary.Grant(r.Context(), u.ID, tenantOf(r), security.RoleUser); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// userDelete removes a user from the caller's tenant (accounts are shared
// by tenants; only the tenant manager deletes them).
func (s *Server) userDelete(w http.ResponseWriter, r *http.Request) error {
	u, err := s.memberByLogin(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.opts.Sources.Primary.Revoke(r.Context(), u.ID, tenantOf(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type groupDTO struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
}

func (s *Server) tenantGroups(r *http.Request) ([]datasource.Group, error) {
	p := query(r)
	member := ""
	if login := p.str("member"); login != "" {
		u, err := s.memberByLogin(r, login)
		if err != nil {
			return nil, nil
		}
		member = u.ID
	}
	gs, err := s.opts.Sources.Primary.ListGroups(r.Context(), tenantOf(r), member)
	if err != nil {
		return nil, err
	}
	var out []datasource.Group
	for _, g := range gs {
		if want := p.str("id"); want != "" && g.ID != want {
			continue
		}
		out = append(out, g)
	}
	return out, nil
}

func (s *Server) groupList(w http.ResponseWriter, r *http.Request) error {
	gs, err := s.tenantGroups(r)
	if err != nil {
		return err
	}
	out := []groupDTO{}
	for _, g := range gs {
		out = append(out, groupDTO{g.ID, g.Name, g.Type})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) groupCount(w http.ResponseWriter, r *http.Request) error {
	gs, err := s.tenantGroups(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, countBody{int64(len(gs))})
	return nil
}

func (s *Server) groupGet(w http.ResponseWriter, r *http.Request) error {
	gs, err := s.opts.Sources.Primary.ListGroups(r.Context(), tenantOf(r), "")
	if err != nil {
		return err
	}
	for _, g := range gs {
		if g.ID == r.PathValue("id") {
			writeJSON(w, http.StatusOK, groupDTO{g.ID, g.Name, g.Type})
			return nil
		}
	}
	return fmt.Errorf("%w: group %q", engine.ErrNotFound, r.PathValue("id"))
}

func (s *Server) groupCreate(w http.ResponseWriter, r *http.Request) error {
	var b groupDTO
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if err := s.opts.Sources.Primary.CreateGroup(r.Context(), &datasource.Group{Tenant: tenantOf(r), ID: b.ID, Name: b.Name, Type: b.Type}); err != nil {
		return err
	}
	note(r).entityID = b.ID
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) groupDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.opts.Sources.Primary.DeleteGroup(r.Context(), tenantOf(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) groupAddMember(w http.ResponseWriter, r *http.Request) error {
	u, err := s.memberByLogin(r, r.PathValue("userId"))
	if err != nil {
		return err
	}
	if err := s.opts.Sources.Primary.AddGroupMember(r.Context(), tenantOf(r), r.PathValue("id"), u.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) groupRemoveMember(w http.ResponseWriter, r *http.Request) error {
	u, err := s.memberByLogin(r, r.PathValue("userId"))
	if err != nil {
		return err
	}
	if err := s.opts.Sources.Primary.RemoveGroupMember(r.Context(), tenantOf(r), r.PathValue("id"), u.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) identityGroups(w http.ResponseWriter, r *http.Request) error {
	login := query(r).str("userId")
	if login == "" {
		return badRequest("userId is required")
	}
	u, err := s.memberByLogin(r, login)
	if errors.Is(err, engine.ErrNotFound) {
		writeJSON(w, http.StatusOK, map[string]any{"groups": []groupDTO{}, "groupUsers": []any{}})
		return nil
	}
	if err != nil {
		return err
	}
	gs, err := s.opts.Sources.Primary.ListGroups(r.Context(), tenantOf(r), u.ID)
	if err != nil {
		return err
	}
	groups := []groupDTO{}
	users := map[string]userDTO{}
	for _, g := range gs {
		groups = append(groups, groupDTO{g.ID, g.Name, g.Type})
		members, err := s.opts.Sources.Primary.ListUsers(r.Context(), &datasource.ListUsersParams{Tenant: tenantOf(r), Group: g.ID})
		if err != nil {
			return err
		}
		for _, m := range members {
			users[m.Login] = toUser(m)
		}
	}
	groupUsers := []map[string]string{}
	for _, u := range users {
		groupUsers = append(groupUsers, map[string]string{"id": u.ID, "firstName": u.FirstName, "lastName": u.LastName,
			"displayName": strings.TrimSpace(u.FirstName + " " + u.LastName)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": groups, "groupUsers": groupUsers})
	return nil
}
