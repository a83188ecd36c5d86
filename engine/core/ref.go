package core

// Ref names an object of one tenant. IDs repeat across tenants by design,
// so a Ref taken from an entity (task.Ref(), instance.Ref()) carries the
// entity's tenant, and a call made in another tenant's context refuses it
// with ErrWrongTenant instead of reading that tenant's row with the same ID.
// IDRef builds a Ref for an ID already known to belong to the context's
// tenant (an ID from a request of that tenant).
type Ref struct {
	Tenant string
	ID     int64
}

// IDRef is a Ref to an ID in the tenant of the context it is used in.
func IDRef(id int64) Ref { return Ref{ID: id} }

// Ref returns a reference to the instance.
func (p *ProcessInstance) Ref() Ref { return Ref{p.Tenant, p.ID} }

// Ref returns a reference to the definition.
func (d *ProcessDefinition) Ref() Ref { return Ref{d.Tenant, d.ID} }

// Ref returns a reference to the task.
func (t *Task) Ref() Ref { return Ref{t.Tenant, t.ID} }

// Ref returns a reference to the external task.
func (t *ExternalTask) Ref() Ref { return Ref{t.Tenant, t.ID} }

// Ref returns a reference to the job.
func (j *Job) Ref() Ref { return Ref{j.Tenant, j.ID} }

// Ref returns a reference to the incident.
func (i *Incident) Ref() Ref { return Ref{i.Tenant, i.ID} }

// Ref returns a reference to the deployment.
func (d *Deployment) Ref() Ref { return Ref{d.Tenant, d.ID} }
