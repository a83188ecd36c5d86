// A tenant's views, through the Camunda-compatible engine API
// (/engine-rest) with the tenant chosen by X-Tenant-ID. The server decides
// what the signed-in user may see and do; the console only hides buttons
// the user's role cannot use.
import {tenantAPI} from './api.js';
import {h, replace, field, table, badge, when} from './dom.js';
import {notify, busy, go, can, roleIn} from './ui.js';
import {showDiagram, activeActivities} from './diagram.js';
import {auditView} from './audit.js';

const EVENTS_KEPT = 100;

/** tenantRoutes registers the views of one tenant. */
export function tenantRoutes(route) {
  route('/t/:tenant', definitions);
  route('/t/:tenant/definitions/:id', definitionDetail);
  route('/t/:tenant/instances', instances);
  route('/t/:tenant/instances/:id', instanceDetail);
  route('/t/:tenant/incidents', incidents);
  route('/t/:tenant/tasks', tasks);
  route('/t/:tenant/history', history);
  route('/t/:tenant/events', events);
  route('/t/:tenant/audit', audit);
}

// ---- audit log (admins) ----

async function audit(el, {tenant}) {
  guard(tenant);
  await auditView(el, 'Audit log', `Every change made in ${tenant}, newest first: who, what, when and from where.`,
    () => tenantAPI(tenant, '/history/user-operation?maxResults=100'), false);
}

function guard(tenant) {
  if (!roleIn(tenant)) {
    throw new Error(`You are not a member of tenant ${tenant}. Pick one of your tenants at the top of the page.`);
  }
}

function shortID(id) {
  return id && id.length > 12 ? `…${id.slice(-8)}` : id;
}

// ---- process definitions and deployment ----

async function definitions(el, {tenant}) {
  guard(tenant);
  const T = (p, o) => tenantAPI(tenant, p, o);
  const defs = await T('/process-definition?latestVersion=true&sortBy=key&sortOrder=asc');
  const counts = {};
  await Promise.all(defs.map(async (d) => {
    counts[d.id] = (await T(`/process-instance/count?processDefinitionKey=${encodeURIComponent(d.key)}`)).count;
  }));
  const deploy = can(tenant, 'admin') ? deployForm(tenant) : null;
  replace(el,
    h('h1', {}, 'Processes'),
    table('Process definitions', [
      {title: 'Process', cell: (d) => h('a', {href: `#/t/${tenant}/definitions/${d.id}`}, d.name || d.key)},
      {title: 'Key', cell: (d) => h('code', {}, d.key)},
      {title: 'Version', cell: (d) => d.version},
      {title: 'Running instances', cell: (d) => counts[d.id] ?? 0},
      {title: 'State', cell: (d) => d.suspended ? badge('suspended', 'warn') : badge('active', 'ok')},
    ], defs, [
      h('p', {}, 'No process is deployed in this tenant yet.'),
      h('p', {}, deploy ? 'Deploy a .bpmn file from Camunda Modeler or bpmn.io with the form below, or POST it to /engine-rest/deployment/create.'
        : 'An admin of this tenant can deploy one; tenant users then start and work instances here.'),
    ]),
    deploy);
}

function deployForm(tenant) {
  const form = h('form', {class: 'card'},
    h('h2', {}, 'Deploy'),
    field({label: 'BPMN files', name: 'files', type: 'file', required: true, help: 'One or more .bpmn files. A file identical to the deployed version makes no new version.'}),
    field({label: 'Deployment name', name: 'name', placeholder: 'console deployment'}),
    h('button', {type: 'submit'}, 'Deploy'));
  const files = form.elements.files;
  files.multiple = true;
  files.accept = '.bpmn,.bpmn20.xml,.xml';
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!files.files.length) {
      files.focus();
      notify('Choose at least one .bpmn file to deploy.');
      return;
    }
    const fd = new FormData();
    fd.append('deployment-name', form.elements.name.value.trim() || 'console deployment');
    fd.append('deploy-changed-only', 'true');
    fd.append('deployment-source', 'console');
    for (const f of files.files) fd.append(f.name, f, f.name);
    const dep = await busy(form.querySelector('button'), () => tenantAPI(tenant, '/deployment/create', {method: 'POST', form: fd}));
    if (dep) {
      const n = Object.keys(dep.deployedProcessDefinitions || {}).length;
      notify(n ? `Deployed ${n} process definition(s).` : 'Nothing changed: the files match the deployed versions.', 'ok');
      go(`/t/${tenant}`);
    }
  });
  return form;
}

async function definitionDetail(el, {tenant, id}) {
  guard(tenant);
  const T = (p, o) => tenantAPI(tenant, p, o);
  const [def, xml] = await Promise.all([T(`/process-definition/${id}`), T(`/process-definition/${id}/xml`)]);
  const canvas = h('div', {class: 'diagram', id: 'diagram', role: 'img', 'aria-label': `Diagram of ${def.name || def.key}, with running instances per activity`});
  const list = h('div', {});
  const start = can(tenant, 'user') ? startForm(tenant, def) : null;
  replace(el,
    h('div', {class: 'head'}, h('h1', {}, def.name || def.key), badge(`version ${def.version}`, 'info'),
      def.suspended ? badge('suspended', 'warn') : null),
    h('p', {class: 'muted'}, 'Numbers at the bottom of an activity count the instances waiting there; red ones count open incidents.'),
    canvas,
    start,
    h('section', {class: 'card'}, h('h2', {}, 'Running instances'), list));
  let viewer = null;
  const refresh = async () => {
    const [stats, insts] = await Promise.all([T(`/process-definition/${id}/statistics?incidents=true`),
      T(`/process-instance?processDefinitionId=${id}&maxResults=50`)]);
    const counts = {};
    const inc = {};
    for (const s of stats) {
      counts[s.id] = s.instances;
      inc[s.id] = (s.incidents || []).reduce((a, i) => a + i.incidentCount, 0);
    }
    if (viewer) viewer.destroy();
    viewer = await showDiagram(canvas, xml.bpmn20Xml, {counts, incidents: inc});
    replace(list, table('Running instances', [
      {title: 'Instance', cell: (p) => h('a', {href: `#/t/${tenant}/instances/${p.id}`}, shortID(p.id))},
      {title: 'Business key', cell: (p) => p.businessKey || '—'},
      {title: 'State', cell: (p) => p.suspended ? badge('suspended', 'warn') : badge('running', 'ok')},
    ], insts, 'No instance of this process is running.'));
  };
  await refresh();
  return () => { if (viewer) viewer.destroy(); };
}

function startForm(tenant, def) {
  const form = h('form', {class: 'card inline'},
    field({label: 'Business key', name: 'businessKey', help: 'Optional: your own reference for the instance.'}),
    h('button', {type: 'submit'}, 'Start an instance'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const inst = await busy(form.querySelector('button'), () => tenantAPI(tenant, `/process-definition/${def.id}/start`,
      {method: 'POST', body: {businessKey: form.elements.businessKey.value.trim()}}));
    if (inst) {
      notify(inst.ended ? 'The instance ran to its end at once.' : 'Instance started.', 'ok');
      go(inst.ended ? `/t/${tenant}/definitions/${def.id}` : `/t/${tenant}/instances/${inst.id}`);
    }
  });
  return form;
}

// ---- instances ----

async function instances(el, {tenant}) {
  guard(tenant);
  const rows = await tenantAPI(tenant, '/history/process-instance?unfinished=true&sortBy=startTime&sortOrder=desc&maxResults=100');
  replace(el, h('h1', {}, 'Running instances'),
    table('Running instances', [
      {title: 'Instance', cell: (p) => h('a', {href: `#/t/${tenant}/instances/${p.id}`}, shortID(p.id))},
      {title: 'Process', cell: (p) => `${p.processDefinitionName || p.processDefinitionKey} v${p.processDefinitionVersion}`},
      {title: 'Business key', cell: (p) => p.businessKey || '—'},
      {title: 'Started', cell: (p) => when(p.startTime)},
      {title: 'Started by', cell: (p) => p.startUserId || '—'},
    ], rows, 'Nothing is running. Start an instance from a process\'s page.'));
}

async function instanceDetail(el, {tenant, id}) {
  guard(tenant);
  const T = (p, o) => tenantAPI(tenant, p, o);
  const hist = await T(`/history/process-instance/${id}`);
  const running = hist.state === 'ACTIVE' || hist.state === 'SUSPENDED';
  const xml = await T(`/process-definition/${hist.processDefinitionId}/xml`);
  const canvas = h('div', {class: 'diagram', id: 'diagram', role: 'img', 'aria-label': 'Diagram with the instance\'s active activities highlighted'});
  const side = h('div', {});
  const del = running && can(tenant, 'admin') ? h('button', {type: 'button', class: 'danger', onclick: async (e) => {
    if (!window.confirm('Cancel this instance? Its tasks and jobs are removed.')) return;
    if (await busy(e.target, () => T(`/process-instance/${id}`, {method: 'DELETE'})) !== undefined) {
      notify('The instance is canceled.', 'ok');
      go(`/t/${tenant}/instances`);
    }
  }}, 'Cancel instance') : null;
  replace(el,
    h('div', {class: 'head'}, h('h1', {}, `Instance ${shortID(id)}`), badge(hist.state.toLowerCase(), running ? 'ok' : ''), del),
    h('p', {class: 'muted'}, `${hist.processDefinitionName || hist.processDefinitionKey} v${hist.processDefinitionVersion}`,
      hist.businessKey ? ` · business key ${hist.businessKey}` : '', ` · started ${when(hist.startTime)}`,
      hist.endTime ? ` · ended ${when(hist.endTime)}` : ''),
    canvas, side);
  let viewer = null;
  const refresh = async () => {
    const [tree, incs, acts, vars, tks] = await Promise.all([
      running ? T(`/process-instance/${id}/activity-instances`).catch(() => null) : null,
      T(`/incident?processInstanceId=${id}`),
      T(`/history/activity-instance?processInstanceId=${id}&sortBy=startTime&sortOrder=desc&maxResults=50`),
      running ? T(`/process-instance/${id}/variables`).catch(() => ({})) : {},
      running ? T(`/task?processInstanceId=${id}`) : [],
    ]);
    const active = activeActivities(tree);
    const inc = {};
    for (const i of incs) inc[i.activityId] = (inc[i.activityId] || 0) + 1;
    if (viewer) viewer.destroy();
    viewer = await showDiagram(canvas, xml.bpmn20Xml, {active, incidents: inc});
    canvas.dataset.active = active.join(' ');
    replace(side,
      incs.length ? h('section', {class: 'card'}, h('h2', {}, 'Incidents'), incidentTable(tenant, incs, refresh)) : null,
      tks.length ? h('section', {class: 'card'}, h('h2', {}, 'Open tasks'), taskTable(tenant, tks, refresh)) : null,
      h('section', {class: 'card'}, h('h2', {}, 'Variables'), table('Variables', [
        {title: 'Name', cell: ([k]) => h('code', {}, k)},
        {title: 'Type', cell: ([, v]) => v.type},
        {title: 'Value', cell: ([, v]) => h('code', {class: 'value'}, JSON.stringify(v.value))},
      ], Object.entries(vars), 'No variables.')),
      h('section', {class: 'card'}, h('h2', {}, 'History'), activityTable(acts)));
  };
  await refresh();
  return () => { if (viewer) viewer.destroy(); };
}

function activityTable(acts) {
  return table('Activity history', [
    {title: 'Activity', cell: (a) => a.activityName || a.activityId},
    {title: 'Type', cell: (a) => a.activityType},
    {title: 'Started', cell: (a) => when(a.startTime)},
    {title: 'Ended', cell: (a) => a.endTime ? when(a.endTime) : badge('active', 'ok')},
    {title: 'Outcome', cell: (a) => a.canceled ? 'canceled' : (a.endTime ? 'completed' : '—')},
  ], acts, 'No activity yet.');
}

// ---- incidents ----

async function retry(tenant, incident) {
  const path = incident.incidentType === 'failedExternalTask'
    ? `/external-task/${incident.configuration}/retries` : `/job/${incident.configuration}/retries`;
  return tenantAPI(tenant, path, {method: 'PUT', body: {retries: 1}});
}

function incidentTable(tenant, rows, after) {
  const admin = can(tenant, 'admin');
  return table('Incidents', [
    {title: 'Activity', cell: (i) => i.activityId},
    {title: 'Message', cell: (i) => h('span', {class: 'message'}, i.incidentMessage || '(no message)')},
    {title: 'Since', cell: (i) => when(i.incidentTimestamp)},
    {title: 'Instance', cell: (i) => h('a', {href: `#/t/${tenant}/instances/${i.processInstanceId}`}, shortID(i.processInstanceId))},
    {title: 'Actions', cell: (i) => admin ? h('button', {type: 'button', class: 'small', 'aria-label': `Retry ${i.activityId}`, onclick: async (e) => {
      if (await busy(e.target, () => retry(tenant, i)) !== undefined) {
        notify(`Retrying ${i.activityId}; the incident closes when it succeeds.`, 'ok');
        after();
      }
    }}, 'Retry') : '—'},
  ], rows, 'No open incidents.');
}

async function incidents(el, {tenant}) {
  guard(tenant);
  const body = h('div', {});
  const load = async () => replace(body, incidentTable(tenant, await tenantAPI(tenant, '/incident?sortBy=incidentTimestamp&sortOrder=desc'), load));
  replace(el, h('h1', {}, 'Incidents'),
    h('p', {class: 'muted'}, 'A job or external task that ran out of retries stops here. Fix the cause, then retry.'), body);
  await load();
}

// ---- tasks ----

function taskTable(tenant, rows, after) {
  const user = can(tenant, 'user');
  const me = () => document.querySelector('#who .login')?.textContent || '';
  return table('Tasks', [
    {title: 'Task', cell: (t) => t.name || t.taskDefinitionKey},
    {title: 'Assignee', cell: (t) => t.assignee || '—'},
    {title: 'Created', cell: (t) => when(t.created)},
    {title: 'Instance', cell: (t) => h('a', {href: `#/t/${tenant}/instances/${t.processInstanceId}`}, shortID(t.processInstanceId))},
    {title: 'Actions', cell: (t) => user ? h('span', {class: 'buttons'},
      t.assignee ? null : h('button', {type: 'button', class: 'secondary small', 'aria-label': `Claim ${t.name || t.id}`, onclick: async (e) => {
        if (await busy(e.target, () => tenantAPI(tenant, `/task/${t.id}/claim`, {method: 'POST', body: {userId: me()}})) !== undefined) after();
      }}, 'Claim'),
      h('button', {type: 'button', class: 'small', 'aria-label': `Complete ${t.name || t.id}`, onclick: async (e) => {
        if (await busy(e.target, () => tenantAPI(tenant, `/task/${t.id}/complete`, {method: 'POST', body: {}})) !== undefined) {
          notify(`${t.name || 'The task'} is completed.`, 'ok');
          after();
        }
      }}, 'Complete')) : '—'},
  ], rows, 'No open tasks.');
}

async function tasks(el, {tenant}) {
  guard(tenant);
  const body = h('div', {});
  const load = async () => replace(body, taskTable(tenant, await tenantAPI(tenant, '/task?sortBy=created&sortOrder=desc&maxResults=100'), load));
  replace(el, h('h1', {}, 'Open tasks'), body);
  await load();
}

// ---- history ----

async function history(el, {tenant}) {
  guard(tenant);
  const T = (p) => tenantAPI(tenant, p);
  const [done, acts] = await Promise.all([
    T('/history/process-instance?finished=true&sortBy=endTime&sortOrder=desc&maxResults=25'),
    T('/history/activity-instance?sortBy=startTime&sortOrder=desc&maxResults=50')]);
  replace(el, h('h1', {}, 'Recent history'),
    h('section', {class: 'card'}, h('h2', {}, 'Finished instances'), table('Finished instances', [
      {title: 'Instance', cell: (p) => h('a', {href: `#/t/${tenant}/instances/${p.id}`}, shortID(p.id))},
      {title: 'Process', cell: (p) => p.processDefinitionName || p.processDefinitionKey},
      {title: 'Outcome', cell: (p) => p.state.toLowerCase()},
      {title: 'Ended', cell: (p) => when(p.endTime)},
      {title: 'Took', cell: (p) => p.durationInMillis != null ? `${(p.durationInMillis / 1000).toFixed(1)} s` : '—'},
    ], done, 'No instance has finished yet.')),
    h('section', {class: 'card'}, h('h2', {}, 'Latest activities'), activityTable(acts)));
}

// ---- live events ----

const EVENT_TYPES = ['process-started', 'process-completed', 'process-terminated', 'activity-started', 'activity-completed',
  'activity-canceled', 'task-created', 'task-assigned', 'task-completed', 'incident-created', 'incident-resolved', 'variable-updated'];

async function events(el, {tenant}) {
  guard(tenant);
  // EventSource cannot send headers: the named-engine path carries the tenant.
  const src = new EventSource(`/engine-rest/engine/${encodeURIComponent(tenant)}/events`);
  const state = h('p', {class: 'muted', role: 'status'}, 'Connecting…');
  const list = h('ol', {class: 'events', reversed: true});
  const empty = h('div', {class: 'empty'}, 'No events yet. Start an instance and its events appear here as they commit.');
  replace(el, h('h1', {}, 'Live events'), state, empty, list);
  src.onopen = () => { state.textContent = `Connected: newest first, the last ${EVENTS_KEPT} are kept.`; };
  src.onerror = () => { state.textContent = 'The connection dropped; reconnecting and resuming after the last event seen…'; };
  const onEvent = (m) => {
    const ev = JSON.parse(m.data);
    empty.hidden = true;
    const what = [ev.processDefinitionKey, ev.activityId].filter(Boolean).join(' · ');
    list.prepend(h('li', {class: `ev ${ev.type.startsWith('incident-created') ? 'bad' : ''}`},
      h('time', {datetime: ev.time}, new Date(ev.time).toLocaleTimeString()), ' ',
      h('strong', {}, ev.type), ' ', what,
      ev.processInstanceId ? [' ', h('a', {href: `#/t/${tenant}/instances/${ev.processInstanceId}`}, shortID(ev.processInstanceId))] : null));
    while (list.children.length > EVENTS_KEPT) list.lastChild.remove();
  };
  for (const t of EVENT_TYPES) src.addEventListener(t, onEvent);
  return () => src.close();
}



