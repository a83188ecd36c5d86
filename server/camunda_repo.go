package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/tenantflow/tenantflow/engine"
	"github.com/tenantflow/tenantflow/engine/model"
)

// ---- deployments ----

type definitionDTO struct {
	ID                  string  `json:"id"`
	Key                 string  `json:"key"`
	Category            string  `json:"category"`
	Description         *string `json:"description"`
	Name                string  `json:"name"`
	Version             int     `json:"version"`
	Resource            string  `json:"resource"`
	DeploymentID        string  `json:"deploymentId"`
	Diagram             *string `json:"diagram"`
	Suspended           bool    `json:"suspended"`
	TenantID            string  `json:"tenantId"`
	VersionTag          *string `json:"versionTag"`
	HistoryTimeToLive   *int    `json:"historyTimeToLive"`
	StartableInTasklist bool    `json:"startableInTasklist"`
}

func toDefinition(d *engine.ProcessDefinition) definitionDTO {
	out := definitionDTO{ID: id(d.ID), Key: d.Key, Category: "http://bpmn.io/schema/bpmn", Name: d.Name, Version: d.Version,
		Resource: d.ResourceName, DeploymentID: id(d.DeploymentID), Suspended: d.Suspended, TenantID: d.Tenant, StartableInTasklist: true}
	if out.Name == "" {
		out.Name = d.Key
	}
	if d.VersionTag != "" {
		out.VersionTag = &d.VersionTag
	}
	if d.HistoryTimeToLive > 0 {
		days := int(d.HistoryTimeToLive / (24 * time.Hour))
		out.HistoryTimeToLive = &days
	}
	return out
}

type deploymentDTO struct {
	ID                         string                   `json:"id"`
	Name                       string                   `json:"name"`
	Source                     *string                  `json:"source"`
	DeploymentTime             jtime                    `json:"deploymentTime"`
	TenantID                   string                   `json:"tenantId"`
	Links                      []any                    `json:"links"`
	DeployedProcessDefinitions map[string]definitionDTO `json:"deployedProcessDefinitions,omitempty"`
	DeployedCaseDefinitions    *struct{}                `json:"deployedCaseDefinitions"`
	DeployedDecisionDefs       *struct{}                `json:"deployedDecisionDefinitions"`
	DeployedDecisionReqDefs    *struct{}                `json:"deployedDecisionRequirementsDefinitions"`
}

func toDeployment(d *engine.Deployment, withDefs bool) deploymentDTO {
	out := deploymentDTO{ID: id(d.ID), Name: d.Name, DeploymentTime: jtime(d.CreatedAt), TenantID: d.Tenant, Links: []any{}}
	if d.Source != "" {
		out.Source = &d.Source
	}
	if withDefs {
		out.DeployedProcessDefinitions = map[string]definitionDTO{}
		for _, pd := range d.Definitions {
			out.DeployedProcessDefinitions[id(pd.ID)] = toDefinition(pd)
		}
	}
	return out
}

func (s *Server) deploymentCreate(w http.ResponseWriter, r *http.Request) error {
	mt, ps, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") {
		return badRequest("a deployment is a multipart/form-data request: one part per resource, plus deployment-name")
	}
	_ = ps
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("cannot read the multipart body: %v", err)
	}
	p := &engine.DeployParams{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return badRequest("deployment larger than %d bytes", mbe.Limit)
			}
			return badRequest("cannot read the multipart body: %v", err)
		}
		body, err := io.ReadAll(part)
		if err != nil {
			return badRequest("cannot read part %q: %v", part.FormName(), err)
		}
		switch part.FormName() {
		case "deployment-name":
			p.Name = string(body)
		case "deployment-source":
			p.Source = string(body)
		case "deploy-changed-only", "enable-duplicate-filtering":
			if strings.EqualFold(strings.TrimSpace(string(body)), "true") {
				p.ChangedOnly = true
			}
		case "tenant-id":
			if t := strings.TrimSpace(string(body)); t != "" && t != tenantOf(r) {
				return fmt.Errorf("%w: tenant-id %q is not the tenant of this request", engine.ErrWrongTenant, t)
			}
		default:
			name := part.FileName()
			if name == "" {
				name = part.FormName()
			}
			// Clients send absolute paths as file names: keep the base name.
			name = path.Base(strings.ReplaceAll(name, `\`, "/"))
			p.Resources = append(p.Resources, engine.Resource{Name: name, Content: body})
		}
	}
	if len(p.Resources) == 0 {
		return badRequest("the deployment has no resource: add the .bpmn file as a part")
	}
	if err := s.quota.checkGrowth(r, false); err != nil {
		return err
	}
	d, err := s.opts.Engine.Deploy(r.Context(), p)
	var me *model.Error
	if errors.As(err, &me) {
		return fmt.Errorf("%w: %s", errModel, me.Error())
	}
	if err != nil {
		return err
	}
	note(r).deploymentID = id(d.ID)
	writeJSON(w, http.StatusOK, toDeployment(d, true))
	return nil
}

// noteSuspension records whether a suspension route suspended or
// activated.
func noteSuspension(r *http.Request, suspended bool) {
	n := note(r)
	if suspended {
		n.prop("suspensionState", nil, sp("suspended"))
		return
	}
	n.op = "Activate"
	n.prop("suspensionState", nil, sp("active"))
}

func (s *Server) deploymentList(w http.ResponseWriter, r *http.Request) error {
	p := query(r)
	pg, err := s.page(p, deploymentSorts)
	if err != nil {
		return err
	}
	out := []deploymentDTO{}
	if !tenantInFilter(r, p) {
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	ds, err := s.opts.Engine.Deployments(r.Context(), p.str("name"), pg)
	if err != nil {
		return err
	}
	for _, d := range ds {
		out = append(out, toDeployment(d, false))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) deploymentCount(w http.ResponseWriter, r *http.Request) error {
	p := query(r)
	if !tenantInFilter(r, p) {
		writeJSON(w, http.StatusOK, countBody{})
		return nil
	}
	ds, err := s.opts.Engine.Deployments(r.Context(), p.str("name"), engine.Page{MaxResults: engine.MaxPageSize})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, countBody{int64(len(ds))})
	return nil
}

func (s *Server) deploymentGet(w http.ResponseWriter, r *http.Request) error {
	depID, err := parseID(r.PathValue("id"), "deployment id")
	if err != nil {
		return err
	}
	d, err := s.opts.Engine.Deployment(r.Context(), engine.IDRef(depID))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDeployment(d, false))
	return nil
}

func (s *Server) deploymentDelete(w http.ResponseWriter, r *http.Request) error {
	depID, err := parseID(r.PathValue("id"), "deployment id")
	if err != nil {
		return err
	}
	if err := s.opts.Engine.DeleteDeployment(r.Context(), engine.IDRef(depID), query(r).boolean("cascade")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- process definitions ----

func (s *Server) definitionQuery(r *http.Request) (*engine.DefinitionQuery, bool, error) {
	p := query(r)
	pg, err := s.page(p, definitionSorts)
	if err != nil {
		return nil, false, err
	}
	q := &engine.DefinitionQuery{Key: p.str("key"), Keys: p.list("keysIn"), Name: p.str("name"), NameLike: p.str("nameLike"),
		LatestVersion: p.boolean("latestVersion"), Page: pg}
	if q.Keys == nil {
		q.Keys = p.list("keyIn")
	}
	if q.ID, err = p.id("processDefinitionId"); err != nil {
		return nil, false, err
	}
	if q.DeploymentID, err = p.id("deploymentId"); err != nil {
		return nil, false, err
	}
	if q.Version, err = p.int("version", 0); err != nil {
		return nil, false, err
	}
	if p.boolean("suspended") {
		q.Suspended = boolp(true)
	}
	if p.boolean("active") {
		q.Suspended = boolp(false)
	}
	return q, tenantInFilter(r, p), nil
}

func boolp(b bool) *bool { return &b }

func (s *Server) definitionList(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.definitionQuery(r)
	if err != nil {
		return err
	}
	out := []definitionDTO{}
	if ok {
		ds, err := s.opts.Engine.Definitions(r.Context(), q)
		if err != nil {
			return err
		}
		for _, d := range ds {
			out = append(out, toDefinition(d))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) definitionCount(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.definitionQuery(r)
	if err != nil {
		return err
	}
	var n int64
	if ok {
		if n, err = s.opts.Engine.CountDefinitions(r.Context(), q); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, countBody{n})
	return nil
}

// definitionOf resolves {id} or {key} (latest version) of a path.
func (s *Server) definitionOf(r *http.Request) (*engine.ProcessDefinition, error) {
	ref, key, err := definitionPath(r)
	if err != nil {
		return nil, err
	}
	return s.opts.Engine.Definition(r.Context(), ref, key)
}

// definitionPath reads the definition a path names, without looking it
// up: by ID, or the latest version of a key (ref zero).
func definitionPath(r *http.Request) (ref engine.Ref, key string, err error) {
	if t := r.PathValue("tenant"); t != "" && t != tenantOf(r) {
		return ref, "", fmt.Errorf("%w: tenant %q is not the tenant of this request", engine.ErrWrongTenant, t)
	}
	if key := r.PathValue("key"); key != "" {
		return ref, key, nil
	}
	defID, err := parseID(r.PathValue("id"), "process definition id")
	if err != nil {
		return ref, "", err
	}
	return engine.IDRef(defID), "", nil
}

func (s *Server) definitionGet(w http.ResponseWriter, r *http.Request) error {
	d, err := s.definitionOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toDefinition(d))
	return nil
}

func (s *Server) definitionXML(w http.ResponseWriter, r *http.Request) error {
	d, err := s.definitionOf(r)
	if err != nil {
		return err
	}
	xml, err := s.opts.Engine.DefinitionXML(r.Context(), d.Ref())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id(d.ID), "bpmn20Xml": string(xml)})
	return nil
}

// definitionSub serves GET /process-definition/{id}/xml and …/statistics.
func (s *Server) definitionSub(w http.ResponseWriter, r *http.Request) error {
	switch r.PathValue("sub") {
	case "xml":
		return s.definitionXML(w, r)
	case "statistics":
		return s.definitionStatistics(w, r)
	}
	return fmt.Errorf("%w: no such resource /process-definition/{id}/%s", engine.ErrNotFound, r.PathValue("sub"))
}

func (s *Server) definitionStatistics(w http.ResponseWriter, r *http.Request) error {
	d, err := s.definitionOf(r)
	if err != nil {
		return err
	}
	stats, err := s.opts.Engine.DefinitionStatistics(r.Context(), d.Ref())
	if err != nil {
		return err
	}
	out := []activityStatisticDTO{}
	for i := range stats {
		out = append(out, toActivityStatistic(&stats[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// activityStatisticDTO is what stands at one element of a definition.
type activityStatisticDTO struct {
	ID         string             `json:"id"`
	Instances  int64              `json:"instances"`
	FailedJobs int64              `json:"failedJobs"`
	Incidents  []incidentCountDTO `json:"incidents"`
}

// incidentCountDTO counts the open incidents of one type at an element.
type incidentCountDTO struct {
	IncidentType  string `json:"incidentType"`
	IncidentCount int64  `json:"incidentCount"`
}

// toActivityStatistic is the one conversion of an activity statistic.
func toActivityStatistic(st *engine.ActivityStatistic) activityStatisticDTO {
	out := activityStatisticDTO{ID: st.ElementID, Instances: st.Instances, FailedJobs: st.FailedJobs, Incidents: []incidentCountDTO{}}
	for typ, n := range st.Incidents {
		out.Incidents = append(out.Incidents, incidentCountDTO{string(typ), n})
	}
	return out
}

type startBody struct {
	BusinessKey           string           `json:"businessKey"`
	Variables             map[string]inVar `json:"variables"`
	WithVariablesInReturn bool             `json:"withVariablesInReturn"`
}

type instanceDTO struct {
	Links          []any               `json:"links"`
	ID             string              `json:"id"`
	DefinitionID   string              `json:"definitionId"`
	BusinessKey    *string             `json:"businessKey"`
	CaseInstanceID *string             `json:"caseInstanceId"`
	Ended          bool                `json:"ended"`
	Suspended      bool                `json:"suspended"`
	TenantID       string              `json:"tenantId"`
	Variables      map[string]variable `json:"variables,omitempty"`
}

func toInstance(p *engine.ProcessInstance) instanceDTO {
	out := instanceDTO{Links: []any{}, ID: id(p.ID), DefinitionID: id(p.DefinitionID), Ended: p.Ended(), Suspended: p.Suspended, TenantID: p.Tenant}
	if p.BusinessKey != "" {
		out.BusinessKey = &p.BusinessKey
	}
	return out
}

func (s *Server) definitionStart(w http.ResponseWriter, r *http.Request) error {
	// The engine resolves the definition: the latest version of a key
	// from its cache, checked when the start commits.
	ref, key, err := definitionPath(r)
	if err != nil {
		return err
	}
	var body startBody
	if err := readJSON(r, &body); err != nil {
		return err
	}
	vars, err := decodeVars(body.Variables)
	if err != nil {
		return err
	}
	if err := s.quota.checkGrowth(r, true); err != nil {
		return err
	}
	user := ""
	if p := principal(r); p != nil {
		user = p.Login
	}
	inst, err := s.opts.Engine.StartInstance(r.Context(), &engine.StartParams{Definition: ref, DefinitionKey: key, BusinessKey: body.BusinessKey,
		TypedVariables: vars, StartUser: user, ReturnVariables: body.WithVariablesInReturn})
	if err != nil {
		return err
	}
	out := toInstance(inst)
	if body.WithVariablesInReturn {
		out.Variables = wireVars(inst.Variables)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) definitionSuspend(w http.ResponseWriter, r *http.Request) error {
	d, err := s.definitionOf(r)
	if err != nil {
		return err
	}
	var body struct {
		Suspended               bool `json:"suspended"`
		IncludeProcessInstances bool `json:"includeProcessInstances"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if err := s.opts.Engine.SuspendDefinition(r.Context(), d.Ref(), body.Suspended, body.IncludeProcessInstances); err != nil {
		return err
	}
	noteSuspension(r, body.Suspended)
	n := note(r)
	n.definitionID, n.definitionKey = id(d.ID), d.Key
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- process instances ----

// instanceFilter is the JSON form of the process-instance query.
type instanceFilter struct {
	ProcessInstanceIDs     []string         `json:"processInstanceIds"`
	BusinessKey            string           `json:"businessKey"`
	BusinessKeyLike        string           `json:"businessKeyLike"`
	ProcessDefinitionID    string           `json:"processDefinitionId"`
	ProcessDefinitionKey   string           `json:"processDefinitionKey"`
	ProcessDefinitionKeyIn []string         `json:"processDefinitionKeyIn"`
	SuperProcessInstance   string           `json:"superProcessInstance"`
	Active                 bool             `json:"active"`
	Suspended              bool             `json:"suspended"`
	WithIncident           bool             `json:"withIncident"`
	TenantIDIn             []string         `json:"tenantIdIn"`
	Variables              []variableFilter `json:"variables"`
	SortBy                 string           `json:"sortBy"`
	SortOrder              string           `json:"sortOrder"`
	Sorting                []sorting        `json:"sorting"`
}

type sorting struct {
	SortBy    string `json:"sortBy"`
	SortOrder string `json:"sortOrder"`
}

type variableFilter struct {
	Name     string `json:"name"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`
}

// parseVariableFilters reads "name_op_value,name_op_value".
func parseVariableFilters(s string) ([]engine.VariableFilter, error) {
	if s == "" {
		return nil, nil
	}
	var out []engine.VariableFilter
	for _, part := range strings.Split(s, ",") {
		bits := strings.SplitN(part, "_", 3)
		if len(bits) != 3 {
			return nil, badRequest("variable filter %q: use name_operator_value, e.g. amount_gt_100", part)
		}
		var v any = bits[2]
		if n, err := strconv.ParseInt(bits[2], 10, 64); err == nil {
			v = n
		} else if f, err := strconv.ParseFloat(bits[2], 64); err == nil {
			v = f
		} else if b, err := strconv.ParseBool(bits[2]); err == nil {
			v = b
		}
		out = append(out, engine.VariableFilter{Name: bits[0], Op: bits[1], Value: v})
	}
	return out, nil
}

func (s *Server) instanceQuery(r *http.Request) (*engine.InstanceQuery, bool, error) {
	p := query(r)
	pg, err := s.page(p, instanceSorts)
	if err != nil {
		return nil, false, err
	}
	var f instanceFilter
	if r.Method == http.MethodPost {
		if err := readJSON(r, &f); err != nil {
			return nil, false, err
		}
		if f.SortBy == "" && len(f.Sorting) > 0 {
			f.SortBy, f.SortOrder = f.Sorting[0].SortBy, f.Sorting[0].SortOrder
		}
		if f.SortBy != "" {
			if pg.SortBy, err = instanceSorts.field(f.SortBy); err != nil {
				return nil, false, err
			}
			pg.SortDesc = strings.EqualFold(f.SortOrder, "desc")
		}
	} else {
		f = instanceFilter{ProcessInstanceIDs: p.list("processInstanceIds"), BusinessKey: p.str("businessKey"),
			BusinessKeyLike: p.str("businessKeyLike"), ProcessDefinitionID: p.str("processDefinitionId"),
			ProcessDefinitionKey: p.str("processDefinitionKey"), ProcessDefinitionKeyIn: p.list("processDefinitionKeyIn"),
			SuperProcessInstance: p.str("superProcessInstance"), Active: p.boolean("active"), Suspended: p.boolean("suspended"),
			WithIncident: p.boolean("withIncident"), TenantIDIn: p.list("tenantIdIn")}
	}
	q := &engine.InstanceQuery{BusinessKey: f.BusinessKey, BusinessKeyLike: f.BusinessKeyLike, DefinitionKey: f.ProcessDefinitionKey,
		DefinitionKeys: f.ProcessDefinitionKeyIn, WithIncidents: f.WithIncident, Page: pg}
	for _, s := range f.ProcessInstanceIDs {
		n, err := parseID(s, "processInstanceIds")
		if err != nil {
			return nil, false, err
		}
		q.IDs = append(q.IDs, n)
	}
	if f.ProcessDefinitionID != "" {
		if q.DefinitionID, err = parseID(f.ProcessDefinitionID, "processDefinitionId"); err != nil {
			return nil, false, err
		}
	}
	if f.SuperProcessInstance != "" {
		if q.SuperInstanceID, err = parseID(f.SuperProcessInstance, "superProcessInstance"); err != nil {
			return nil, false, err
		}
	}
	if f.Active {
		q.Suspended = boolp(false)
	}
	if f.Suspended {
		q.Suspended = boolp(true)
	}
	if r.Method == http.MethodPost {
		for _, v := range f.Variables {
			q.Variables = append(q.Variables, engine.VariableFilter{Name: v.Name, Op: v.Operator, Value: v.Value})
		}
	} else if q.Variables, err = parseVariableFilters(p.str("variables")); err != nil {
		return nil, false, err
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

func (s *Server) instanceList(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.instanceQuery(r)
	if err != nil {
		return err
	}
	out := []instanceDTO{}
	if ok {
		is, err := s.opts.Engine.Instances(r.Context(), q)
		if err != nil {
			return err
		}
		for _, i := range is {
			out = append(out, toInstance(i))
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) instanceCount(w http.ResponseWriter, r *http.Request) error {
	q, ok, err := s.instanceQuery(r)
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

func instanceRef(r *http.Request) (engine.Ref, error) {
	n, err := parseID(r.PathValue("id"), "process instance id")
	return engine.IDRef(n), err
}

func (s *Server) instanceGet(w http.ResponseWriter, r *http.Request) error {
	ref, err := instanceRef(r)
	if err != nil {
		return err
	}
	inst, err := s.opts.Engine.Instance(r.Context(), ref)
	if err != nil {
		return err
	}
	if inst.Ended() {
		// Camunda's runtime API does not know finished instances.
		return fmt.Errorf("%w: process instance %d has ended (see /history/process-instance)", engine.ErrNotFound, ref.ID)
	}
	writeJSON(w, http.StatusOK, toInstance(inst))
	return nil
}

func (s *Server) instanceDelete(w http.ResponseWriter, r *http.Request) error {
	ref, err := instanceRef(r)
	if err != nil {
		return err
	}
	if err := s.opts.Engine.DeleteInstance(r.Context(), ref, "deleted through the REST API"); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) instanceSuspend(w http.ResponseWriter, r *http.Request) error {
	ref, err := instanceRef(r)
	if err != nil {
		return err
	}
	var body struct {
		Suspended bool `json:"suspended"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	if err := s.opts.Engine.SuspendInstance(r.Context(), ref, body.Suspended); err != nil {
		return err
	}
	noteSuspension(r, body.Suspended)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// activityTree is Camunda's activity-instance tree.
type activityTree struct {
	ID                       string          `json:"id"`
	ParentActivityInstanceID *string         `json:"parentActivityInstanceId"`
	ActivityID               string          `json:"activityId"`
	ActivityType             string          `json:"activityType"`
	ProcessInstanceID        string          `json:"processInstanceId"`
	ProcessDefinitionID      string          `json:"processDefinitionId"`
	ChildActivityInstances   []*activityTree `json:"childActivityInstances"`
	ChildTransitionInstances []any           `json:"childTransitionInstances"`
	ExecutionIDs             []string        `json:"executionIds"`
	ActivityName             string          `json:"activityName"`
	IncidentIDs              []string        `json:"incidentIds"`
	Name                     string          `json:"name"`
}

// instanceTreeRoot is the root of an instance's activity tree: the
// instance itself, standing for its process definition.
func instanceTreeRoot(inst *engine.ProcessInstance) *activityTree {
	return &activityTree{ID: id(inst.ID), ActivityID: inst.DefinitionKey, ActivityType: "processDefinition",
		ProcessInstanceID: id(inst.ID), ProcessDefinitionID: id(inst.DefinitionID), ExecutionIDs: []string{id(inst.ID)},
		ChildActivityInstances: []*activityTree{}, ChildTransitionInstances: []any{}, IncidentIDs: []string{}, ActivityName: inst.DefinitionKey, Name: inst.DefinitionKey}
}

// toActivityTree is the one conversion of a running activity instance
// into a node of the tree, without its children and incidents.
func toActivityTree(a *engine.ActivityInstance) *activityTree {
	return &activityTree{ID: id(a.ID), ActivityID: a.ElementID, ActivityType: a.ElementType, ProcessInstanceID: id(a.InstanceID),
		ProcessDefinitionID: id(a.DefinitionID), ExecutionIDs: []string{id(a.ExecutionID)}, ActivityName: a.Name, Name: a.Name,
		ChildActivityInstances: []*activityTree{}, ChildTransitionInstances: []any{}, IncidentIDs: []string{}}
}

func (s *Server) instanceActivities(w http.ResponseWriter, r *http.Request) error {
	ref, err := instanceRef(r)
	if err != nil {
		return err
	}
	e := s.opts.Engine
	inst, err := e.Instance(r.Context(), ref)
	if err != nil {
		return err
	}
	if inst.Ended() {
		return fmt.Errorf("%w: process instance %d has ended", engine.ErrNotFound, ref.ID)
	}
	acts, err := e.Activities(r.Context(), &engine.ActivityQuery{InstanceID: ref.ID, Unfinished: true, Page: engine.Page{MaxResults: engine.MaxPageSize}})
	if err != nil {
		return err
	}
	incidents, err := e.Incidents(r.Context(), &engine.IncidentQuery{InstanceID: ref.ID, Page: engine.Page{MaxResults: engine.MaxPageSize}})
	if err != nil {
		return err
	}
	root := instanceTreeRoot(inst)
	nodes := map[int64]*activityTree{}
	for _, a := range acts {
		n := toActivityTree(a)
		for _, inc := range incidents {
			if inc.ExecutionID == a.ExecutionID && inc.ElementID == a.ElementID {
				n.IncidentIDs = append(n.IncidentIDs, id(inc.ID))
			}
		}
		nodes[a.ID] = n
	}
	for _, a := range acts {
		n := nodes[a.ID]
		parent := root
		if p, ok := nodes[a.ParentID]; ok {
			parent = p
		}
		n.ParentActivityInstanceID = &parent.ID
		parent.ChildActivityInstances = append(parent.ChildActivityInstances, n)
	}
	writeJSON(w, http.StatusOK, root)
	return nil
}

func (s *Server) instanceVariables(w http.ResponseWriter, r *http.Request) error {
	ref, err := instanceRef(r)
	if err != nil {
		return err
	}
	vars, err := s.opts.Engine.Variables(r.Context(), ref)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wireVars(vars))
	return nil
}

func (s *Server) instanceVariable(w http.ResponseWriter, r *http.Request) error {
	ref, err := instanceRef(r)
	if err != nil {
		return err
	}
	vars, err := s.opts.Engine.Variables(r.Context(), ref)
	if err != nil {
		return err
	}
	v, ok := vars[r.PathValue("name")]
	if !ok {
		return fmt.Errorf("%w: process instance %d has no variable %q", engine.ErrNotFound, ref.ID, r.PathValue("name"))
	}
	writeJSON(w, http.StatusOK, wireVar(v))
	return nil
}

func (s *Server) instancePutVariable(w http.ResponseWriter, r *http.Request) error {
	ref, err := instanceRef(r)
	if err != nil {
		return err
	}
	var body inVar
	if err := readJSON(r, &body); err != nil {
		return err
	}
	name := r.PathValue("name")
	val, err := body.decode(name)
	if err != nil {
		return err
	}
	if err := s.opts.Engine.ModifyVariables(r.Context(), ref, &engine.ModifyVariablesParams{SetTyped: map[string]engine.Value{name: val}}); err != nil {
		return err
	}
	note(r).prop(name, nil, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) instanceDeleteVariable(w http.ResponseWriter, r *http.Request) error {
	ref, err := instanceRef(r)
	if err != nil {
		return err
	}
	if err := s.opts.Engine.ModifyVariables(r.Context(), ref, &engine.ModifyVariablesParams{Deletions: []string{r.PathValue("name")}}); err != nil {
		return err
	}
	note(r).prop(r.PathValue("name"), nil, nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) instanceModifyVariables(w http.ResponseWriter, r *http.Request) error {
	ref, err := instanceRef(r)
	if err != nil {
		return err
	}
	var body struct {
		Modifications map[string]inVar `json:"modifications"`
		Deletions     []string         `json:"deletions"`
	}
	if err := readJSON(r, &body); err != nil {
		return err
	}
	vars, err := decodeVars(body.Modifications)
	if err != nil {
		return err
	}
	if err := s.opts.Engine.ModifyVariables(r.Context(), ref, &engine.ModifyVariablesParams{SetTyped: vars, Deletions: body.Deletions}); err != nil {
		return err
	}
	for name := range vars {
		note(r).prop(name, nil, nil)
	}
	for _, name := range body.Deletions {
		note(r).prop(name, nil, nil)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
