// The audit log: who changed what, when and from where. The tenant manager
// sees every tenant's (/admin/api/audit), a tenant's admins their tenant's
// (/engine-rest/history/user-operation, Camunda's user operation log).
import {h, replace, table, badge, when} from './dom.js';

/** auditTable renders audit entries, with their tenant when withTenant. */
export function auditTable(rows, withTenant) {
  const on = (e) => e.taskId ? `task ${e.taskId}` : e.processInstanceId ? `instance ${e.processInstanceId}`
    : e.deploymentId ? `deployment ${e.deploymentId}` : e.processDefinitionKey || e.jobId || e.externalTaskId || e.entityId || '—';
  return table('Audit log', [
    {title: 'When', cell: (e) => when(e.timestamp)},
    withTenant ? {title: 'Tenant', cell: (e) => e.tenantId || '—'} : null,
    {title: 'Who', cell: (e) => [e.userId, e.actorKind === 'tenant-manager' ? [' ', badge('tenant manager', 'warn')] : null]},
    {title: 'What', cell: (e) => `${e.operationType} ${e.entityType}`},
    {title: 'On', cell: on},
    {title: 'Change', cell: (e) => e.property ? `${e.property}${e.newValue != null ? ` → ${e.newValue}` : ''}` : '—'},
    {title: 'From', cell: (e) => e.address || '—'},
    {title: 'Note', cell: (e) => e.annotation || ''},
  ].filter(Boolean), rows, 'Nothing has been changed yet.');
}

/** auditView fills el with a heading and the entries load() returns. */
export async function auditView(el, title, intro, load, withTenant) {
  const body = h('div', {});
  replace(el, h('h1', {}, title), h('p', {class: 'muted'}, intro), body);
  replace(body, auditTable(await load(), withTenant));
}
