package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/security"
)

func principal(r *http.Request) *security.Principal { return security.PrincipalFrom(r.Context()) }

// ---- user tasks ----

type taskDTO struct {
	ID                  string  `json:"id"`
	Name                string  `json:"name"`
	Assignee            *string `json:"assignee"`
	Owner               *string `json:"owner"`
	Created             jtime   `json:"created"`
	Due                 jtime   `json:"due"`
	FollowUp            jtime   `json:"followUp"`
	DelegationState     *string `json:"delegationState"`
	Description         *string `json:"description"`
	ExecutionID         string  `json:"executionId"`
	ParentTaskID        *string `json:"parentTaskId"`
	Priority            int     `json:"priority"`
	ProcessDefinitionID string  `json:"processDefinitionId"`
	ProcessInstanceID   string  `json:"processInstanceId"`
	CaseExecutionID     *string `json:"caseExecutionId"`
	CaseDefinitionID    *string `json:"caseDefinitionId"`
	CaseInstanceID      *string `json:"caseInstanceId"`
	TaskDefinitionKey   string  `json:"taskDefinitionKey"`
	Suspended           bool    `json:"suspended"`
	FormKey             *string `json:"formKey"`
	TenantID            string  `json:"tenantId"`
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toTask(t *engine.Task) taskDTO {
	return taskDTO{ID: id(t.ID), Name: t.Name, Assignee: strp(t.Assignee), Created: jtime(t.CreatedAt), Due: jtime(t.Due),
		FollowUp: jtime(t.FollowUp), ExecutionID: id(t.ExecutionID), Priority: t.Priority, ProcessDefinitionID: id(t.DefinitionID),
		ProcessInstanceID: id(t.InstanceID), TaskDefinitionKey: t.ElementID, Suspended: t.Suspended, FormKey: strp(t.FormKey), TenantID: t.Tenant}
}

// taskFilter is the JSON form of the task query.
type taskFilter struct {
	ProcessInstanceID          string           `json:"processInstanceId"`
	ProcessInstanceIDIn        []string         `json:"processInstanceIdIn"`
	ProcessInstanceBusinessKey string           `json:"processInstanceBusinessKey"`
	ProcessDefinitionKey       string           `json:"processDefinitionKey"`
	ProcessDefinitionID        string           `json:"processDefinitionId"`
	TaskDefinitionKey          string           `json:"taskDefinitionKey"`
	TaskDefinitionKeyIn        []string         `json:"taskDefinitionKeyIn"`
	TaskID                     string           `json:"taskId"`
	TaskIDIn                   []string         `json:"taskIdIn"`
	Assignee                   string           `json:"assignee"`
	Assigned                   bool             `json:"assigned"`
	Unassigned                 bool             `json:"unassigned"`
	CandidateUser              string           `json:"candidateUser"`
	CandidateGroup             string           `json:"candidateGroup"`
	CandidateGroups            []string         `json:"candidateGroups"`
	IncludeAssignedTasks       bool             `json:"includeAssignedTasks"`
	InvolvedUser               string           `json:"involvedUser"`
	Name                       string           `json:"name"`
	NameLike                   string           `json:"nameLike"`
	DueBefore                  *jtime           `json:"dueBefore"`
	DueAfter                   *jtime           `json:"dueAfter"`
	ProcessVariables           []variableFilter `json:"processVariables"`
	TenantIDIn                 []string         `json:"tenantIdIn"`
	SortBy                     string           `json:"sortBy"`
	SortOrder                  string           `json:"sortOrder"`
	Sorting                    []sorting        `json:"sorting"`
}

func (s *Server) taskQuery(r *http.Request) (*engine.TaskQuery, bool, error) {
	p := query(r)
	pg, err := s.page(p, taskSorts)
	if err != nil {
		return nil, false, err
	}
	var f taskFilter
	if r.Method == http.MethodPost {
		if err := readJSON(r, &f); err != nil {
			return nil, false, err
		}
		if f.SortBy == "" && len(f.Sorting) > 0 {
			f.SortBy, f.SortOrder = f.Sorting[0].SortBy, f.Sorting[0].SortOrder
		}
		if f.SortBy != "" {
			if pg.SortBy, err = taskSorts.field(f.SortBy); err != nil {
				return nil, false, err
			}
			pg.SortDesc = strings.EqualFold(f.SortOrder, "desc")
		}
	} else {
		f = taskFilter{ProcessInstanceID: p.str("processInstanceId"), ProcessInstanceIDIn: p.list("processInstanceIdIn"),
			ProcessInstanceBusinessKey: p.str("processInstanceBusinessKey"), ProcessDefinitionKey: p.str("processDefinitionKey"),
			ProcessDefinitionID: p.str("processDefinitionId"), TaskDefinitionKey: p.str("taskDefinitionKey"),
			TaskDefinitionKeyIn: p.list("taskDefinitionKeyIn"), TaskID: p.str("taskId"), TaskIDIn: p.list("taskIdIn"),
			Assignee: p.str("assignee"), Assigned: p.boolean("assigned"), Unassigned: p.boolean("unassigned"),
			CandidateUser: p.str("candidateUser"), CandidateGroup: p.str("candidateGroup"), CandidateGroups: p.list("candidateGroups"),
			IncludeAssignedTasks: p.boolean("includeAssignedTasks"), InvolvedUser: p.str("involvedUser"), Name: p.str("name"),
			NameLike: p.str("nameLike"), TenantIDIn: p.list("tenantIdIn")}
		for _, b := range []struct {
			name string
			dst  **jtime
		}{{"dueBefore", &f.DueBefore}, {"dueAfter", &f.DueAfter}} {
			if v := p.str(b.name); v != "" {
				t, err := engine.ParseTime(v)
				if err != nil {
					return nil, false, badRequest("%s: %v", b.name, err)
				}
				jt := jtime(t)
				*b.dst = &jt
			}
		}
		pv, err := parseVariableFilters(p.str("processVariables"))
		if err != nil {
			return nil, false, err
		}
		for _, v := range pv {
			f.ProcessVariables = append(f.ProcessVariables, variableFilter{Name: v.Name, Operator: v.Op, Value: v.Value})
		}
	}
	q := &engine.TaskQuery{DefinitionKey: f.ProcessDefinitionKey, ElementID: f.TaskDefinitionKey, ElementIDs: f.TaskDefinitionKeyIn,
		Assignee: f.Assignee, Assigned: f.Assigned, Unassigned: f.Unassigned, CandidateUser: f.CandidateUser,
		CandidateGroups: f.CandidateGroups, IncludeAssigned: f.IncludeAssignedTasks, InvolvedUser: f.InvolvedUser,
		Name: f.Name, NameLike: f.NameLike, BusinessKey: f.ProcessInstanceBusinessKey, Page: pg}
	if f.CandidateGroup != "" {
		q.CandidateGroups = append(q.CandidateGroups, f.CandidateGroup)
	}
	if f.DueBefore != nil {
		q.DueBefore = time.Time(*f.DueBefore)
	}
	if f.DueAfter != nil {
		q.DueAfter = time.Time(*f.DueAfter)
	}
	for _, pair := range []struct {
		s   string
		dst *int64
		n   string
	}{{f.ProcessInstanceID, &q.InstanceID, "processInstanceId"}, {f.ProcessDefinitionID, &q.DefinitionID, "processDefinitionId"}, {f.TaskID, &q.ID, "taskId"}} {
		if pair.s != "" {
			if *pair.dst, err = parseID(pair.s, pair.n); err != nil {
				return nil, false, err
			}
		}
	}
	for _, v := range f.ProcessInstanceIDIn {
		n, err := parseID(v, "processInstanceIdIn")
		if err != nil {
			return nil, false, err
		}
		q.InstanceIDs = append(q.InstanceIDs, n)
	}
	for _, v := range f.TaskIDIn {
		n, err := parseID(v, "taskIdIn")
		if err != nil {
			return nil, false, err
		}
		q.IDs = append(q.IDs, n)
	}
	for _, v := range f.ProcessVariables {
		q.ProcessVariables = append(q.ProcessVariables, engine.VariableFilter{Name: v.Name, Op: v.Operator, Value: v.Value})
	}
	ok := true
	if len(f.TenantIDIn) > 0 {
		ok = false
		for _, t := range f.TenantIDIn {
			ok = ok || t == tenantOf(r)
		}
	}
	return q, ok, nil
}

func (s *Server) taskList(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.taskQuery(r)
	if err != nil {
		return err
	}
	out := []taskDTO{}
	if ok {
		ts, err := s.opts.Engine.Tasks(r.Context(), q)
		if err != nil {
			return err
		}
		for _, t := range ts {
			out = append(out, toTask(t))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) taskCount(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.taskQuery(r)
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

func taskRef(r *http.Request) (engine.Ref, error) {
	n, err := parseID(r.PathValue("id"), "task id")
	return engine.IDRef(n), err
}

func (s *Server) taskGet(w http.ResponseWriter, r *http.Request) error {
	ref, err := taskRef(r)
	if err != nil {
		return err
	}
	t, err := s.openTask(r, ref)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toTask(t))
	return nil
}

type userIDBody struct {
	UserID string `json:"userId"`
}

// Task authorization follows Camunda's: a tenant admin may do anything
// with a task; anyone else works on tasks as themselves.
//   - claim: only for oneself;
//   - unclaim: only one's own task;
//   - set the assignee: only to oneself, on a task one may claim, or to
//     nobody, on one's own task;
//   - complete: one's own task, or an unassigned task one is a candidate
//     for (a candidate user, or in a candidate group).
// A user ID is the login, as in the task's assignee.

// openTask reads a task that is still open.
func (s *Server) openTask(r *http.Request, ref engine.Ref) (*engine.Task, error) {
	t, err := s.opts.Engine.Task(r.Context(), ref)
	if err != nil {
		return nil, err
	}
	if t.State != engine.TaskCreated {
		return nil, fmt.Errorf("%w: task %d is %s (see /history/task)", engine.ErrNotFound, ref.ID, t.State)
	}
	return t, nil
}

// candidate reports whether p is one of t's candidates.
func candidate(t *engine.Task, p *security.Principal) bool {
	for _, u := range t.CandidateUsers {
		if u == p.Login {
			return true
		}
	}
	for _, g := range t.CandidateGroups {
		for _, mine := range p.Groups {
			if g == mine {
				return true
			}
		}
	}
	return false
}

// mayWork checks a task operation against the rules above.
func (s *Server) mayWork(r *http.Request, ref engine.Ref, op string, target string) error {
	p := principal(r)
	if p.Can(security.RoleAdmin) {
		return nil
	}
	deny := func(why string) error {
		return fmt.Errorf("%w: %s may not %s task %d: %s (a tenant admin may)", security.ErrForbidden, p.Login, op, ref.ID, why)
	}
	switch op {
	case "claim":
		if target != p.Login {
			return deny("a user claims tasks only for themself")
		}
		return nil
	}
	t, err := s.openTask(r, ref)
	if err != nil {
		return err
	}
	n := note(r)
	n.instanceID, n.definitionID, n.definitionKey = id(t.InstanceID), id(t.DefinitionID), t.DefinitionKey
	switch op {
	case "unclaim":
		if t.Assignee != "" && t.Assignee != p.Login {
			return deny("it is assigned to someone else")
		}
	case "assign":
		switch {
		case target == p.Login && (t.Assignee == "" || t.Assignee == p.Login):
		case target == "" && t.Assignee == p.Login:
		default:
			return deny("a user assigns tasks only to themself, or gives back their own")
		}
	case "complete":
		switch {
		case t.Assignee == p.Login:
		case t.Assignee == "" && candidate(t, p):
		case t.Assignee == "":
			return deny("it is not assigned and the user is not among its candidates; claim it first")
		default:
			return deny("it is assigned to someone else")
		}
	}
	return nil
}

func (s *Server) taskClaim(w http.ResponseWriter, r *http.Request) error {
	ref, err := taskRef(r)
	if err != nil {
		return err
	}
	var b userIDBody
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if b.UserID == "" {
		return badRequest("claim needs a userId")
	}
	if err := s.mayWork(r, ref, "claim", b.UserID); err != nil {
		return err
	}
	if err := s.opts.Engine.ClaimTask(r.Context(), ref, b.UserID); err != nil {
		return err
	}
	note(r).prop("assignee", nil, sp(b.UserID))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) taskUnclaim(w http.ResponseWriter, r *http.Request) error {
	ref, err := taskRef(r)
	if err != nil {
		return err
	}
	if err := s.mayWork(r, ref, "unclaim", ""); err != nil {
		return err
	}
	if err := s.opts.Engine.UnclaimTask(r.Context(), ref); err != nil {
		return err
	}
	note(r).prop("assignee", nil, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) taskAssignee(w http.ResponseWriter, r *http.Request) error {
	ref, err := taskRef(r)
	if err != nil {
		return err
	}
	var b userIDBody
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if err := s.mayWork(r, ref, "assign", b.UserID); err != nil {
		return err
	}
	if err := s.opts.Engine.SetAssignee(r.Context(), ref, b.UserID); err != nil {
		return err
	}
	note(r).prop("assignee", nil, strp(b.UserID))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) taskComplete(w http.ResponseWriter, r *http.Request) error {
	ref, err := taskRef(r)
	if err != nil {
		return err
	}
	var b struct {
		Variables             map[string]inVar `json:"variables"`
		WithVariablesInReturn bool             `json:"withVariablesInReturn"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	vars, err := decodeVars(b.Variables)
	if err != nil {
		return err
	}
	if err := s.mayWork(r, ref, "complete", ""); err != nil {
		return err
	}
	user := ""
	if p := principal(r); p != nil {
		user = p.Login
	}
	out, err := s.opts.Engine.CompleteTask(r.Context(), ref, &engine.CompleteTaskParams{TypedVariables: vars, User: user, ReturnVariables: b.WithVariablesInReturn})
	if err != nil {
		return err
	}
	note(r).prop("delete", nil, sp("true"))
	if b.WithVariablesInReturn {
		writeJSON(w, http.StatusOK, wireVars(out))
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- external tasks ----

type externalDTO struct {
	ActivityID           string              `json:"activityId"`
	ActivityInstanceID   *string             `json:"activityInstanceId"`
	ErrorMessage         *string             `json:"errorMessage"`
	ErrorDetails         *string             `json:"errorDetails,omitempty"`
	ExecutionID          string              `json:"executionId"`
	ID                   string              `json:"id"`
	LockExpirationTime   jtime               `json:"lockExpirationTime"`
	ProcessDefinitionID  string              `json:"processDefinitionId"`
	ProcessDefinitionKey string              `json:"processDefinitionKey"`
	ProcessInstanceID    string              `json:"processInstanceId"`
	Retries              *int                `json:"retries"`
	Suspended            bool                `json:"suspended"`
	WorkerID             *string             `json:"workerId"`
	TopicName            string              `json:"topicName"`
	TenantID             string              `json:"tenantId"`
	Priority             int                 `json:"priority"`
	BusinessKey          *string             `json:"businessKey"`
	Variables            map[string]variable `json:"variables,omitempty"`
	ExtensionProperties  map[string]string   `json:"extensionProperties"`
}

func toExternal(t *engine.ExternalTask, withVars bool) externalDTO {
	out := externalDTO{ActivityID: t.ElementID, ErrorMessage: strp(t.ErrorMessage), ExecutionID: id(t.ExecutionID), ID: id(t.ID),
		LockExpirationTime: jtime(t.LockExpiresAt), ProcessDefinitionID: id(t.DefinitionID), ProcessDefinitionKey: t.DefinitionKey,
		ProcessInstanceID: id(t.InstanceID), Retries: t.Retries, Suspended: t.Suspended, WorkerID: strp(t.WorkerID),
		TopicName: t.Topic, TenantID: t.Tenant, Priority: t.Priority, BusinessKey: strp(t.BusinessKey), ExtensionProperties: map[string]string{}}
	if withVars {
		out.Variables = wireVars(t.Variables)
	}
	return out
}

type fetchBody struct {
	WorkerID             string `json:"workerId"`
	MaxTasks             int    `json:"maxTasks"`
	UsePriority          bool   `json:"usePriority"`
	AsyncResponseTimeout int64  `json:"asyncResponseTimeout"`
	Topics               []struct {
		TopicName              string   `json:"topicName"`
		LockDuration           int64    `json:"lockDuration"`
		Variables              []string `json:"variables"`
		LocalVariables         bool     `json:"localVariables"`
		BusinessKey            string   `json:"businessKey"`
		ProcessDefinitionKey   string   `json:"processDefinitionKey"`
		ProcessDefinitionKeyIn []string `json:"processDefinitionKeyIn"`
	} `json:"topics"`
}

// fetchAndLock locks tasks for a worker. With asyncResponseTimeout it waits
// (long polling) until tasks exist or the timeout passes, woken by the
// engine's signal when a task of a requested topic is created; a new
// request of the same worker ends its pending one.
func (s *Server) fetchAndLock(w http.ResponseWriter, r *http.Request) error {
	var b fetchBody
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if b.WorkerID == "" {
		return badRequest("fetchAndLock needs a workerId")
	}
	if b.MaxTasks <= 0 {
		b.MaxTasks = 10
	}
	b.MaxTasks = min(b.MaxTasks, s.opts.Limits.MaxTasks)
	p := &engine.FetchAndLockParams{WorkerID: b.WorkerID, MaxTasks: b.MaxTasks, UsePriority: b.UsePriority}
	var topics []string
	for _, t := range b.Topics {
		if t.LockDuration <= 0 {
			return badRequest("topic %q needs a positive lockDuration (milliseconds)", t.TopicName)
		}
		keys := t.ProcessDefinitionKeyIn
		if t.ProcessDefinitionKey != "" {
			keys = append(keys, t.ProcessDefinitionKey)
		}
		p.Topics = append(p.Topics, engine.TopicRequest{Name: t.TopicName, LockDuration: time.Duration(t.LockDuration) * time.Millisecond,
			Variables: t.Variables, LocalVariables: t.LocalVariables, BusinessKey: t.BusinessKey, DefinitionKeys: keys})
		topics = append(topics, t.TopicName)
	}
	timeout := min(time.Duration(b.AsyncResponseTimeout)*time.Millisecond, s.opts.MaxLongPoll)
	tasks, err := s.polls.fetch(w, r, p, topics, timeout)
	if err != nil {
		return err
	}
	out := make([]externalDTO, 0, len(tasks))
	for _, t := range tasks {
		out = append(out, toExternal(t, true))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) externalQuery(r *http.Request) (*engine.ExternalTaskQuery, bool, error) {
	p := query(r)
	pg, err := s.page(p, externalTaskSorts)
	if err != nil {
		return nil, false, err
	}
	q := &engine.ExternalTaskQuery{Topic: p.str("topicName"), WorkerID: p.str("workerId"), Locked: p.boolean("locked"),
		NotLocked: p.boolean("notLocked"), WithRetriesLeft: p.boolean("withRetriesLeft"), NoRetriesLeft: p.boolean("noRetriesLeft"),
		ElementID: p.str("activityId"), DefinitionKey: p.str("processDefinitionKey"), Page: pg}
	if r.Method == http.MethodPost {
		var f struct {
			TopicName         string   `json:"topicName"`
			WorkerID          string   `json:"workerId"`
			ProcessInstanceID string   `json:"processInstanceId"`
			ExternalTaskIDIn  []string `json:"externalTaskIdIn"`
			Locked            bool     `json:"locked"`
			NotLocked         bool     `json:"notLocked"`
			TenantIDIn        []string `json:"tenantIdIn"`
		}
		if err := readJSON(r, &f); err != nil {
			return nil, false, err
		}
		q.Topic, q.WorkerID, q.Locked, q.NotLocked = f.TopicName, f.WorkerID, f.Locked, f.NotLocked
		if f.ProcessInstanceID != "" {
			if q.InstanceID, err = parseID(f.ProcessInstanceID, "processInstanceId"); err != nil {
				return nil, false, err
			}
		}
		for _, v := range f.ExternalTaskIDIn {
			n, err := parseID(v, "externalTaskIdIn")
			if err != nil {
				return nil, false, err
			}
			q.IDs = append(q.IDs, n)
		}
		ok := len(f.TenantIDIn) == 0
		for _, t := range f.TenantIDIn {
			ok = ok || t == tenantOf(r)
		}
		return q, ok, nil
	}
	if q.ID, err = p.id("externalTaskId"); err != nil {
		return nil, false, err
	}
	if q.InstanceID, err = p.id("processInstanceId"); err != nil {
		return nil, false, err
	}
	return q, tenantInFilter(r, p), nil
}

func (s *Server) externalList(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.externalQuery(r)
	if err != nil {
		return err
	}
	out := []externalDTO{}
	if ok {
		ts, err := s.opts.Engine.ExternalTasks(r.Context(), q)
		if err != nil {
			return err
		}
		for _, t := range ts {
			out = append(out, toExternal(t, false))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) externalCount(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.externalQuery(r)
	if err != nil {
		return err
	}
	var n int64
	if ok {
		if n, err = s.opts.Engine.CountExternalTasks(r.Context(), q); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, countBody{n})
	return nil
}

func externalRef(r *http.Request) (engine.Ref, error) {
	n, err := parseID(r.PathValue("id"), "external task id")
	return engine.IDRef(n), err
}

func (s *Server) externalGet(w http.ResponseWriter, r *http.Request) error {
	ref, err := externalRef(r)
	if err != nil {
		return err
	}
	t, err := s.opts.Engine.ExternalTask(r.Context(), ref)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toExternal(t, false))
	return nil
}

func (s *Server) externalComplete(w http.ResponseWriter, r *http.Request) error {
	ref, err := externalRef(r)
	if err != nil {
		return err
	}
	var b struct {
		WorkerID       string           `json:"workerId"`
		Variables      map[string]inVar `json:"variables"`
		LocalVariables map[string]inVar `json:"localVariables"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	vars, err := decodeVars(b.Variables)
	if err != nil {
		return err
	}
	local, err := decodeVars(b.LocalVariables)
	if err != nil {
		return err
	}
	if err := s.opts.Engine.CompleteExternalTask(r.Context(), ref, &engine.CompleteExternalTaskParams{WorkerID: b.WorkerID,
		TypedVariables: vars, LocalTypedVariables: local}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) externalFailure(w http.ResponseWriter, r *http.Request) error {
	ref, err := externalRef(r)
	if err != nil {
		return err
	}
	var b struct {
		WorkerID     string `json:"workerId"`
		ErrorMessage string `json:"errorMessage"`
		ErrorDetails string `json:"errorDetails"`
		Retries      int    `json:"retries"`
		RetryTimeout int64  `json:"retryTimeout"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if err := s.opts.Engine.FailExternalTask(r.Context(), ref, &engine.ExternalFailureParams{WorkerID: b.WorkerID,
		ErrorMessage: b.ErrorMessage, ErrorDetails: b.ErrorDetails, Retries: b.Retries,
		RetryTimeout: time.Duration(b.RetryTimeout) * time.Millisecond}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) externalBPMNError(w http.ResponseWriter, r *http.Request) error {
	ref, err := externalRef(r)
	if err != nil {
		return err
	}
	var b struct {
		WorkerID     string           `json:"workerId"`
		ErrorCode    string           `json:"errorCode"`
		ErrorMessage string           `json:"errorMessage"`
		Variables    map[string]inVar `json:"variables"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	vars, err := decodeVars(b.Variables)
	if err != nil {
		return err
	}
	if err := s.opts.Engine.ExternalTaskBPMNError(r.Context(), ref, &engine.ExternalBPMNErrorParams{WorkerID: b.WorkerID,
		ErrorCode: b.ErrorCode, ErrorMessage: b.ErrorMessage, TypedVariables: vars}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) externalExtendLock(w http.ResponseWriter, r *http.Request) error {
	ref, err := externalRef(r)
	if err != nil {
		return err
	}
	var b struct {
		WorkerID    string `json:"workerId"`
		NewDuration int64  `json:"newDuration"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if err := s.opts.Engine.ExtendExternalTaskLock(r.Context(), ref, b.WorkerID, time.Duration(b.NewDuration)*time.Millisecond); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) externalLock(w http.ResponseWriter, r *http.Request) error {
	ref, err := externalRef(r)
	if err != nil {
		return err
	}
	var b struct {
		WorkerID     string `json:"workerId"`
		LockDuration int64  `json:"lockDuration"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if err := s.opts.Engine.LockExternalTask(r.Context(), ref, b.WorkerID, time.Duration(b.LockDuration)*time.Millisecond); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) externalUnlock(w http.ResponseWriter, r *http.Request) error {
	ref, err := externalRef(r)
	if err != nil {
		return err
	}
	if err := s.opts.Engine.UnlockExternalTask(r.Context(), ref); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) externalRetries(w http.ResponseWriter, r *http.Request) error {
	ref, err := externalRef(r)
	if err != nil {
		return err
	}
	var b struct {
		Retries *int `json:"retries"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if b.Retries == nil {
		return badRequest("retries is required")
	}
	if err := s.opts.Engine.SetExternalTaskRetries(r.Context(), ref, *b.Retries); err != nil {
		return err
	}
	note(r).prop("retries", nil, sp(strconv.Itoa(*b.Retries)))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- jobs ----

type jobDTO struct {
	ID                   string  `json:"id"`
	JobDefinitionID      *string `json:"jobDefinitionId"`
	DueDate              jtime   `json:"dueDate"`
	ProcessInstanceID    *string `json:"processInstanceId"`
	ExecutionID          *string `json:"executionId"`
	ProcessDefinitionKey string  `json:"processDefinitionKey"`
	Retries              int     `json:"retries"`
	ExceptionMessage     *string `json:"exceptionMessage"`
	FailedActivityID     *string `json:"failedActivityId"`
	Suspended            bool    `json:"suspended"`
	Priority             int     `json:"priority"`
	TenantID             string  `json:"tenantId"`
	CreateTime           jtime   `json:"createTime"`
	Kind                 string  `json:"kind"`
	ActivityID           string  `json:"activityId"`
}

func toJob(j *engine.Job) jobDTO {
	out := jobDTO{ID: id(j.ID), DueDate: jtime(j.DueAt), ProcessInstanceID: idOrNull(j.InstanceID), Retries: j.Retries,
		ExceptionMessage: strp(j.ErrorMessage), Suspended: j.Suspended, Priority: j.Priority, TenantID: j.Tenant, Kind: string(j.Kind), ActivityID: j.ElementID}
	if j.ErrorMessage != "" {
		out.FailedActivityID = strp(j.ElementID)
	}
	return out
}

func (s *Server) jobQuery(r *http.Request) (*engine.JobQuery, bool, error) {
	p := query(r)
	pg, err := s.page(p, jobSorts)
	if err != nil {
		return nil, false, err
	}
	q := &engine.JobQuery{DefinitionKey: p.str("processDefinitionKey"), ElementID: p.str("activityId"),
		WithRetriesLeft: p.boolean("withRetriesLeft"), NoRetriesLeft: p.boolean("noRetriesLeft"), Executable: p.boolean("executable"), Page: pg}
	if p.boolean("timers") {
		q.Kind = engine.JobTimer
	}
	if q.ID, err = p.id("jobId"); err != nil {
		return nil, false, err
	}
	if q.InstanceID, err = p.id("processInstanceId"); err != nil {
		return nil, false, err
	}
	return q, tenantInFilter(r, p), nil
}

func (s *Server) jobList(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.jobQuery(r)
	if err != nil {
		return err
	}
	out := []jobDTO{}
	if ok {
		js, err := s.opts.Engine.Jobs(r.Context(), q)
		if err != nil {
			return err
		}
		for _, j := range js {
			out = append(out, toJob(j))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) jobCount(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.jobQuery(r)
	if err != nil {
		return err
	}
	var n int64
	if ok {
		if n, err = s.opts.Engine.CountJobs(r.Context(), q); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, countBody{n})
	return nil
}

func (s *Server) jobGet(w http.ResponseWriter, r *http.Request) error {
	n, err := parseID(r.PathValue("id"), "job id")
	if err != nil {
		return err
	}
	js, err := s.opts.Engine.Jobs(r.Context(), &engine.JobQuery{ID: n})
	if err != nil {
		return err
	}
	if len(js) == 0 {
		return fmt.Errorf("%w: job %d", engine.ErrNotFound, n)
	}
	writeJSON(w, http.StatusOK, toJob(js[0]))
	return nil
}

func (s *Server) jobRetries(w http.ResponseWriter, r *http.Request) error {
	n, err := parseID(r.PathValue("id"), "job id")
	if err != nil {
		return err
	}
	var b struct {
		Retries *int `json:"retries"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if b.Retries == nil {
		return badRequest("retries is required")
	}
	if err := s.opts.Engine.SetJobRetries(r.Context(), engine.IDRef(n), *b.Retries); err != nil {
		return err
	}
	note(r).prop("retries", nil, sp(strconv.Itoa(*b.Retries)))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- incidents ----

type incidentDTO struct {
	ID                  string  `json:"id"`
	ProcessDefinitionID string  `json:"processDefinitionId"`
	ProcessInstanceID   string  `json:"processInstanceId"`
	ExecutionID         string  `json:"executionId"`
	IncidentTimestamp   jtime   `json:"incidentTimestamp"`
	IncidentType        string  `json:"incidentType"`
	ActivityID          string  `json:"activityId"`
	FailedActivityID    string  `json:"failedActivityId"`
	CauseIncidentID     string  `json:"causeIncidentId"`
	RootCauseIncidentID string  `json:"rootCauseIncidentId"`
	Configuration       string  `json:"configuration"`
	TenantID            string  `json:"tenantId"`
	IncidentMessage     string  `json:"incidentMessage"`
	JobDefinitionID     *string `json:"jobDefinitionId"`
	Annotation          *string `json:"annotation"`
}

func toIncident(i *engine.Incident) incidentDTO {
	conf := id(i.JobID)
	if i.ExternalTaskID != 0 {
		conf = id(i.ExternalTaskID)
	}
	return incidentDTO{ID: id(i.ID), ProcessDefinitionID: id(i.DefinitionID), ProcessInstanceID: id(i.InstanceID), ExecutionID: id(i.ExecutionID),
		IncidentTimestamp: jtime(i.CreatedAt), IncidentType: string(i.Type), ActivityID: i.ElementID, FailedActivityID: i.ElementID,
		CauseIncidentID: id(i.ID), RootCauseIncidentID: id(i.ID), Configuration: conf, TenantID: i.Tenant, IncidentMessage: i.Message}
}

func (s *Server) incidentQuery(r *http.Request) (*engine.IncidentQuery, bool, error) {
	p := query(r)
	pg, err := s.page(p, incidentSorts)
	if err != nil {
		return nil, false, err
	}
	q := &engine.IncidentQuery{DefinitionKey: p.str("processDefinitionKey"), ElementID: p.str("activityId"),
		Type: engine.IncidentType(p.str("incidentType")), Page: pg}
	if q.ID, err = p.id("incidentId"); err != nil {
		return nil, false, err
	}
	if q.InstanceID, err = p.id("processInstanceId"); err != nil {
		return nil, false, err
	}
	if q.DefinitionID, err = p.id("processDefinitionId"); err != nil {
		return nil, false, err
	}
	return q, tenantInFilter(r, p), nil
}

func (s *Server) incidentList(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.incidentQuery(r)
	if err != nil {
		return err
	}
	out := []incidentDTO{}
	if ok {
		is, err := s.opts.Engine.Incidents(r.Context(), q)
		if err != nil {
			return err
		}
		for _, i := range is {
			out = append(out, toIncident(i))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) incidentCount(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.incidentQuery(r)
	if err != nil {
		return err
	}
	var n int64
	if ok {
		if n, err = s.opts.Engine.CountIncidents(r.Context(), q); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, countBody{n})
	return nil
}

func (s *Server) incidentGet(w http.ResponseWriter, r *http.Request) error {
	n, err := parseID(r.PathValue("id"), "incident id")
	if err != nil {
		return err
	}
	is, err := s.opts.Engine.Incidents(r.Context(), &engine.IncidentQuery{ID: n, AnyState: true})
	if err != nil {
		return err
	}
	if len(is) == 0 {
		return fmt.Errorf("%w: incident %d", engine.ErrNotFound, n)
	}
	writeJSON(w, http.StatusOK, toIncident(is[0]))
	return nil
}

// ---- messages ----

func (s *Server) message(w http.ResponseWriter, r *http.Request) error {
	var b struct {
		MessageName       string           `json:"messageName"`
		BusinessKey       string           `json:"businessKey"`
		TenantID          string           `json:"tenantId"`
		ProcessInstanceID string           `json:"processInstanceId"`
		CorrelationKeys   map[string]inVar `json:"correlationKeys"`
		ProcessVariables  map[string]inVar `json:"processVariables"`
		All               bool             `json:"all"`
		ResultEnabled     bool             `json:"resultEnabled"`
		VariablesInResult bool             `json:"variablesInResultEnabled"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	if b.MessageName == "" {
		return badRequest("messageName is required")
	}
	if b.TenantID != "" && b.TenantID != tenantOf(r) {
		return fmt.Errorf("%w: tenantId %q is not the tenant of this request", engine.ErrWrongTenant, b.TenantID)
	}
	keys, err := decodeVars(b.CorrelationKeys)
	if err != nil {
		return err
	}
	vars, err := decodeVars(b.ProcessVariables)
	if err != nil {
		return err
	}
	p := &engine.CorrelateParams{MessageName: b.MessageName, BusinessKey: b.BusinessKey, TypedVariables: vars, All: b.All,
		CorrelationKeys: map[string]any{}}
	for k, v := range keys {
		p.CorrelationKeys[k] = v
	}
	if b.ProcessInstanceID != "" {
		n, err := parseID(b.ProcessInstanceID, "processInstanceId")
		if err != nil {
			return err
		}
		p.Instance = engine.IDRef(n)
	}
	results, err := s.opts.Engine.CorrelateMessage(r.Context(), p)
	if err != nil {
		return err
	}
	if !b.ResultEnabled {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	out := []correlationResultDTO{}
	for _, res := range results {
		out = append(out, toCorrelationResult(res))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// correlationResultDTO is one delivery of a correlated message: to a
// waiting execution, or a process instance the message started.
type correlationResultDTO struct {
	ResultType      string        `json:"resultType"`
	Execution       *executionDTO `json:"execution"`
	ProcessInstance *instanceDTO  `json:"processInstance"`
}

// executionDTO is the execution a message reached. Executions are not
// exposed on their own: the instance stands for them.
type executionDTO struct {
	ID                string `json:"id"`
	ProcessInstanceID string `json:"processInstanceId"`
	Ended             bool   `json:"ended"`
	TenantID          string `json:"tenantId"`
}

// toCorrelationResult is the one conversion of a correlation result.
func toCorrelationResult(res *engine.CorrelationResult) correlationResultDTO {
	out := correlationResultDTO{ResultType: res.Type}
	if res.Type == "Execution" {
		out.Execution = &executionDTO{ID: id(res.Instance.ID), ProcessInstanceID: id(res.Instance.ID), Ended: res.Instance.Ended(), TenantID: res.Instance.Tenant}
	} else {
		pi := toInstance(res.Instance)
		out.ProcessInstance = &pi
	}
	return out
}
