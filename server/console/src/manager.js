// The tenant manager's views: tenants, users and migrations, through the
// admin API (/admin/api).
import {api} from './api.js';
import {h, replace, field, formData, table, badge, when} from './dom.js';
import {notify, busy, go} from './ui.js';
import {auditView} from './audit.js';

const A = '/admin/api';
const REFRESH_MS = 5000;
const PAGE = 50;
const TENANT_ID = '^[a-z][a-z0-9_]{1,39}$';

/** managerRoutes registers the tenant manager's views. */
export function managerRoutes(route) {
  route('/tenants', tenantList);
  route('/tenants/new', tenantCreate);
  route('/tenants/:id', tenantDetail);
  route('/users', userList);
  route('/users/:id', userDetail);
  route('/migrations', migrations);
  route('/audit', audit);
}

// ---- audit log ----

async function audit(el) {
  await auditView(el, 'Audit log', 'Every change made in any tenant and by the tenant manager, newest first: who, what, when and from where.',
    () => api(`${A}/audit?maxResults=100`), true);
}

// live runs refresh now and every REFRESH_MS until the view is left.
function live(refresh) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try {
      await refresh();
    } catch (err) {
      notify(err.message);
    }
    if (!stopped) timer = setTimeout(tick, REFRESH_MS);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// pool runs fn over items with at most n calls at once.
async function pool(items, n, fn) {
  const queue = [...items];
  const workers = Array.from({length: Math.min(n, queue.length)}, async () => {
    while (queue.length) await fn(queue.shift());
  });
  await Promise.all(workers);
}

function statusBadge(status) {
  return badge(status, {active: 'ok', disabled: 'warn', dropping: 'bad'}[status] || '');
}

function healthCell(st) {
  if (!st || !st.health) return '—';
  if (!st.health.reachable) return badge(`unreachable${st.health.error ? `: ${st.health.error}` : ''}`, 'bad');
  return badge(`${st.health.latencyMs.toFixed(1)} ms`, 'ok');
}

function migrationCell(st) {
  if (!st || !st.latestSchemaVersion) return '—';
  const cur = st.schemaVersion;
  const text = `${cur} / ${st.latestSchemaVersion}`;
  return cur === st.latestSchemaVersion ? text : badge(`${text} behind`, 'warn');
}

// ---- tenants ----

async function tenantList(el) {
  const filter = h('input', {type: 'search', id: 'tenant-filter', placeholder: 'ID or name', 'aria-label': 'Filter tenants'});
  const body = h('div', {});
  const updated = h('p', {class: 'muted small', 'aria-live': 'off'});
  replace(el,
    h('div', {class: 'head'}, h('h1', {}, 'Tenants'), h('a', {class: 'button', href: '#/tenants/new'}, 'Create tenant')),
    h('div', {class: 'toolbar'}, h('label', {for: 'tenant-filter'}, 'Filter'), filter, updated),
    body);
  let tenants = [];
  const stats = new Map();
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = tenants.filter((t) => !q || t.id.includes(q) || (t.displayName || '').toLowerCase().includes(q));
    const cols = [
      {title: 'Tenant', cell: (t) => h('a', {href: `#/tenants/${t.id}`}, t.id)},
      {title: 'Name', cell: (t) => t.displayName || '—'},
      {title: 'Status', cell: (t) => statusBadge(t.status)},
      {title: 'Placement', cell: (t) => t.placement},
      {title: 'Storage', cell: (t) => healthCell(stats.get(t.id))},
      {title: 'Pool', cell: (t) => { const s = stats.get(t.id); return s && s.poolMax ? `${s.poolInUse} / ${s.poolMax}` : '—'; }},
      {title: 'Due jobs', cell: (t) => stats.get(t.id)?.dueJobs ?? '—'},
      {title: 'Incidents', cell: (t) => { const n = stats.get(t.id)?.openIncidents; return n ? badge(String(n), 'bad') : (n ?? '—'); }},
      {title: 'Outbox backlog', cell: (t) => stats.get(t.id)?.outboxBacklog ?? '—'},
      {title: 'Schema', cell: (t) => migrationCell(stats.get(t.id))},
    ];
    const empty = tenants.length
      ? `No tenant matches "${filter.value}".`
      : [h('p', {}, 'There are no tenants yet.'), h('p', {}, h('a', {href: '#/tenants/new'}, 'Create the first tenant'), ' to give a customer its own storage.')];
    replace(body, table('Tenants', cols, shown.slice(0, PAGE), empty),
      shown.length > PAGE ? h('p', {class: 'muted'}, `Showing ${PAGE} of ${shown.length} tenants; type in the filter to narrow the list.`) : null);
    return shown.slice(0, PAGE);
  };
  filter.addEventListener('input', draw);
  return live(async () => {
    tenants = await api(`${A}/tenants`);
    const visible = draw();
    await pool(visible.filter((t) => t.status === 'active'), 6, async (t) => {
      try {
        stats.set(t.id, await api(`${A}/tenants/${t.id}/stats`));
      } catch {
        stats.set(t.id, {health: {reachable: false, error: 'no answer'}});
      }
    });
    draw();
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}; refreshes every ${REFRESH_MS / 1000} s.`;
  });
}

function placementFields(values = {}) {
  return [
    field({label: 'Placement', name: 'placement', value: values.placement || '', options: [
      ['', 'Server default'], ['sqlite', 'sqlite: a file on this node'],
      ['pg-schema', 'pg-schema: a schema in the primary PostgreSQL database'],
      ['pg-dsn', 'pg-dsn: its own PostgreSQL database']],
    help: 'Where the tenant\'s data lives. SQLite is for a single node; PostgreSQL placements serve every node.'}),
    field({label: 'Schema name', name: 'schema', show: 'pg-schema', pattern: '^[a-z_][a-z0-9_]{0,62}$',
      help: 'Optional; the default is the schema prefix followed by the tenant ID.'}),
    field({label: 'PostgreSQL DSN', name: 'dsn', show: 'pg-dsn', spellcheck: 'false',
      placeholder: 'postgres://app@db2.internal:5432/acme?sslmode=require',
      help: 'A URL or key=value DSN without the password; put the password in the next field.'}),
    field({label: 'Database password', name: 'password', type: 'password', show: 'pg-dsn', autocomplete: 'new-password',
      help: 'Write-only: it is stored encrypted and never shown again.'}),
  ];
}

function limitFields(l = {}) {
  return h('fieldset', {}, h('legend', {}, 'Pool limits (0 or empty: the server default)'),
    h('div', {class: 'row'},
      field({label: 'Max open connections', name: 'maxOpenConns', type: 'number', min: 0, max: 1000, value: l.maxOpenConns || ''}),
      field({label: 'Max idle connections', name: 'maxIdleConns', type: 'number', min: 0, max: 1000, value: l.maxIdleConns || ''}),
      field({label: 'Acquire timeout (ms)', name: 'acquireTimeoutMs', type: 'number', min: 0, value: l.acquireTimeoutMs || ''})));
}

// showFor shows the fields that belong to the selected placement.
function showFor(form, placement) {
  for (const f of form.querySelectorAll('[data-show]')) {
    const on = f.dataset.show === placement;
    f.hidden = !on;
    for (const c of f.querySelectorAll('input,select')) c.disabled = !on;
  }
}

function limitsOf(v) {
  const n = (s) => (s ? Number(s) : 0);
  return {maxOpenConns: n(v.maxOpenConns), maxIdleConns: n(v.maxIdleConns), acquireTimeoutMs: n(v.acquireTimeoutMs)};
}

async function tenantCreate(el) {
  const form = h('form', {class: 'card', novalidate: true},
    field({label: 'Tenant ID', name: 'id', required: true, pattern: TENANT_ID, maxlength: 40, spellcheck: 'false',
      help: '2–40 characters: a lowercase letter, then lowercase letters, digits or _. It becomes part of schema and file names and cannot change.'}),
    field({label: 'Display name', name: 'displayName', help: 'Shown to people; can change later.'}),
    placementFields(),
    limitFields(),
    h('div', {class: 'actions'}, h('button', {type: 'submit'}, 'Create tenant'), h('a', {href: '#/tenants', class: 'button secondary'}, 'Cancel')));
  const placement = form.elements.placement;
  placement.addEventListener('change', () => showFor(form, placement.value));
  showFor(form, placement.value);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formData(form);
    const idInput = form.elements.id;
    if (!new RegExp(TENANT_ID).test(v.id)) {
      idInput.setAttribute('aria-invalid', 'true');
      idInput.focus();
      notify(`"${v.id}" is not a valid tenant ID: use 2–40 characters, starting with a lowercase letter, then lowercase letters, digits or _.`);
      return;
    }
    idInput.removeAttribute('aria-invalid');
    if (v.placement === 'pg-dsn' && !v.dsn) {
      form.elements.dsn.focus();
      notify('The pg-dsn placement needs the DSN of the tenant\'s PostgreSQL database.');
      return;
    }
    const body = {id: v.id, displayName: v.displayName, placement: v.placement, schema: v.schema || '', limits: limitsOf(v)};
    if (v.placement === 'pg-dsn') {
      body.dsn = v.dsn;
      if (v.password) body.password = v.password;
    }
    const t = await busy(form.querySelector('button[type=submit]'), () => api(`${A}/tenants`, {method: 'POST', body}));
    if (t) {
      notify(`Tenant ${t.id} is created and its storage is ready.`, 'ok');
      go(`/tenants/${t.id}`);
    }
  });
  replace(el, h('h1', {}, 'Create a tenant'),
    h('p', {class: 'muted'}, 'The tenant\'s storage is created and migrated before this finishes; a PostgreSQL placement can take a few seconds.'),
    form);
  form.elements.id.focus();
}

async function tenantDetail(el, {id}) {
  const t = await api(`${A}/tenants/${id}`);
  const statsBox = h('dl', {class: 'stats'});
  const members = h('div', {});
  const drawStats = (s) => {
    const item = (k, v) => [h('dt', {}, k), h('dd', {}, v)];
    replace(statsBox,
      item('Storage', healthCell(s)), item('Pool in use', s.poolMax ? `${s.poolInUse} / ${s.poolMax}` : '—'),
      item('Running instances', s.runningInstances ?? 0), item('Open tasks', s.openTasks ?? 0),
      item('Due jobs', s.dueJobs ?? 0), item('Open incidents', s.openIncidents ?? 0),
      item('Outbox backlog', s.outboxBacklog ?? 0), item('Dead letters', s.deadLetters ?? 0),
      item('Schema version', migrationCell(s)),
      item('Stored', s.storageBytes ? `${(s.storageBytes / 1048576).toFixed(1)} MiB` : '—'),
      item('Refused by quotas', s.quota ? s.quota.rateRefused + s.quota.streamsRefused + s.quota.pollsRefused + s.quota.instancesRefused + s.quota.storageRefused : 0),
      item('Jobs put off by jobsPerSecond', s.quota?.jobsThrottled ?? 0));
  };
  const loadMembers = async () => {
    const ms = await api(`${A}/tenants/${id}/members`);
    replace(members, table(`Members of ${id}`, [
      {title: 'Login', cell: (m) => h('a', {href: `#/users/${m.userId}`}, m.login)},
      {title: 'Role', cell: (m) => m.role},
      {title: 'Actions', cell: (m) => h('button', {type: 'button', class: 'secondary small', 'aria-label': `Remove ${m.login} from ${id}`,
        onclick: async (e) => {
          if (await busy(e.target, () => api(`${A}/tenants/${id}/members/${m.userId}`, {method: 'DELETE'})) !== undefined) loadMembers();
        }}, 'Remove')},
    ], ms, 'Nobody can use this tenant yet: add a user below, as admin to let them deploy processes.'));
  };

  const configForm = h('form', {class: 'card'},
    h('h2', {}, 'Configuration'),
    field({label: 'Display name', name: 'displayName', value: t.displayName}),
    t.placement === 'pg-dsn' ? [
      field({label: 'PostgreSQL DSN', name: 'dsn', value: t.dsn, spellcheck: 'false', help: 'Credentials in the DSN are shown masked; changing the DSN reconnects the tenant on every node.'}),
      field({label: 'Database password', name: 'password', type: 'password', autocomplete: 'new-password',
        help: t.passwordSet ? 'A password is set. Leave empty to keep it.' : 'No password is set.'}),
    ] : null,
    limitFields(t.limits),
    h('button', {type: 'submit'}, 'Save configuration'));
  configForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formData(configForm);
    const body = {displayName: v.displayName, limits: limitsOf(v)};
    if (t.placement === 'pg-dsn') {
      if (v.dsn && !v.dsn.includes('***')) body.dsn = v.dsn;
      if (v.password) body.password = v.password;
    }
    if (await busy(configForm.querySelector('button[type=submit]'), () => api(`${A}/tenants/${id}`, {method: 'PATCH', body}))) {
      notify('Configuration saved.', 'ok');
      go(`/tenants/${id}`);
    }
  });

  const grantForm = h('form', {class: 'inline'},
    field({label: 'Login', name: 'login', required: true, spellcheck: 'false'}),
    field({label: 'Role', name: 'role', value: 'user', options: [['admin', 'admin: deploy and everything'], ['user', 'user: start and work'], ['reader', 'reader: read only']]}),
    h('button', {type: 'submit'}, 'Add member'));
  grantForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formData(grantForm);
    if (await busy(grantForm.querySelector('button'), () => api(`${A}/tenants/${id}/members/${encodeURIComponent(v.login)}`, {method: 'PUT', body: {role: v.role}})) !== undefined) {
      grantForm.reset();
      loadMembers();
    }
  });

  const toggle = h('button', {type: 'button', class: 'secondary', onclick: async (e) => {
    const action = t.status === 'active' ? 'disable' : 'enable';
    if (await busy(e.target, () => api(`${A}/tenants/${id}/${action}`, {method: 'POST'})) !== undefined) {
      notify(`Tenant ${id} is ${action}d.`, 'ok');
      go(`/tenants/${id}`);
    }
  }}, t.status === 'active' ? 'Disable tenant' : 'Enable tenant');

  const confirmInput = h('input', {id: 'drop-confirm', autocomplete: 'off', spellcheck: 'false'});
  const removeStorage = h('input', {type: 'checkbox', id: 'drop-storage'});
  const dropButton = h('button', {type: 'submit', class: 'danger', disabled: true}, `Drop ${id}`);
  confirmInput.addEventListener('input', () => { dropButton.disabled = confirmInput.value !== id; });
  const dropForm = h('form', {class: 'card danger-zone'},
    h('h2', {}, 'Drop this tenant'),
    h('p', {}, 'Every node stops serving it. With the box below ticked, its storage and all its data are deleted for good.'),
    h('div', {class: 'check'}, removeStorage, h('label', {for: 'drop-storage'}, 'Also delete its storage and data')),
    h('div', {class: 'field'}, h('label', {for: 'drop-confirm'}, `Type ${id} to confirm`), confirmInput),
    dropButton);
  dropForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (confirmInput.value !== id) return;
    const q = new URLSearchParams({confirm: id, removeStorage: String(removeStorage.checked)});
    const res = await busy(dropButton, () => api(`${A}/tenants/${id}?${q}`, {method: 'DELETE'}));
    if (res) {
      notify(`Tenant ${id} is dropped${res.storageRemoved ? ' and its storage deleted' : '; its storage is kept'}.`, 'ok');
      go('/tenants');
    }
  });

  replace(el,
    h('div', {class: 'head'}, h('h1', {}, `Tenant ${id}`), statusBadge(t.status), toggle),
    h('p', {class: 'muted'}, `${t.displayName || 'No display name'} · placement ${t.placement}${t.schema ? ` · schema ${t.schema}` : ''}${t.dsn ? ` · ${t.dsn}` : ''} · created ${when(t.createdAt)}`),
    h('section', {class: 'card', 'aria-labelledby': 'stats-h'}, h('h2', {id: 'stats-h'}, 'Now'), statsBox),
    h('section', {class: 'card', 'aria-labelledby': 'members-h'}, h('h2', {id: 'members-h'}, 'Members'), members, grantForm),
    configForm,
    dropForm);
  loadMembers().catch((err) => notify(err.message));
  if (t.status !== 'active') {
    drawStats({});
    return null;
  }
  return live(async () => drawStats(await api(`${A}/tenants/${id}/stats`)));
}

// ---- users ----

async function userList(el) {
  const [users, tenants] = await Promise.all([api(`${A}/users`), api(`${A}/tenants`)]);
  const form = h('form', {class: 'card'},
    h('h2', {}, 'Create a user'),
    h('div', {class: 'row'},
      field({label: 'Login', name: 'login', required: true, autocomplete: 'off', spellcheck: 'false'}),
      field({label: 'Password', name: 'password', type: 'password', required: true, autocomplete: 'new-password', minlength: 8,
        help: 'At least 8 characters; stored as a bcrypt hash.'})),
    h('div', {class: 'row'},
      field({label: 'Display name', name: 'displayName'}),
      field({label: 'Email', name: 'email', type: 'email'})),
    h('div', {class: 'row'},
      field({label: 'Tenant', name: 'tenant', options: [['', 'None yet'], ...tenants.map((t) => [t.id, t.id])]}),
      field({label: 'Role in that tenant', name: 'role', value: 'user', options: [['admin', 'admin'], ['user', 'user'], ['reader', 'reader']]})),
    h('button', {type: 'submit'}, 'Create user'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const v = formData(form);
    const u = await busy(form.querySelector('button[type=submit]'), () => api(`${A}/users`, {method: 'POST', body: v}));
    if (u) {
      notify(`User ${u.login} is created${v.tenant ? ` as ${v.role} of ${v.tenant}` : ''}.`, 'ok');
      go('/users');
    }
  });
  replace(el, h('h1', {}, 'Users'),
    table('Users', [
      {title: 'Login', cell: (u) => h('a', {href: `#/users/${u.id}`}, u.login)},
      {title: 'Name', cell: (u) => u.displayName || '—'},
      {title: 'Tenants', cell: (u) => u.tenantManager ? badge('tenant manager', 'info')
        : (u.memberships.length ? u.memberships.map((m) => `${m.login} (${m.role})`).join(', ') : '—')},
      {title: 'Created', cell: (u) => when(u.createdAt)},
    ], users, 'No users yet: create one below.'),
    form);
}

async function userDetail(el, {id}) {
  const u = await api(`${A}/users/${id}`);
  const tokens = h('div', {});
  const shown = h('div', {'aria-live': 'polite'});
  const loadTokens = async () => {
    const ts = await api(`${A}/users/${id}/tokens`);
    replace(tokens, table('API tokens', [
      {title: 'Name', cell: (t) => t.name || '—'},
      {title: 'Created', cell: (t) => when(t.createdAt)},
      {title: 'Expires', cell: (t) => t.expiresAt ? when(t.expiresAt) : 'never'},
      {title: 'Last used', cell: (t) => t.lastUsedAt ? when(t.lastUsedAt) : 'never'},
      {title: 'Actions', cell: (t) => h('button', {type: 'button', class: 'secondary small', 'aria-label': `Revoke token ${t.name}`, onclick: async (e) => {
        if (await busy(e.target, () => api(`${A}/users/${id}/tokens/${t.id}`, {method: 'DELETE'})) !== undefined) loadTokens();
      }}, 'Revoke')},
    ], ts, 'No API tokens. Create one for a worker or a script that calls the REST API.'));
  };
  const tokenForm = h('form', {class: 'inline'},
    field({label: 'Token name', name: 'name', required: true}),
    field({label: 'Expires in', name: 'expiresIn', placeholder: '720h', help: 'Optional, e.g. 720h; empty means never.'}),
    h('button', {type: 'submit'}, 'Create token'));
  tokenForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const res = await busy(tokenForm.querySelector('button'), () => api(`${A}/users/${id}/tokens`, {method: 'POST', body: formData(tokenForm)}));
    if (res) {
      tokenForm.reset();
      replace(shown, h('div', {class: 'card ok'}, h('p', {}, 'Copy this token now; it is not shown again:'),
        h('code', {class: 'secret', tabindex: 0}, res.token)));
      loadTokens();
    }
  });
  const pwForm = h('form', {class: 'inline'},
    field({label: 'New password', name: 'password', type: 'password', required: true, minlength: 8, autocomplete: 'new-password'}),
    h('button', {type: 'submit'}, 'Set password'));
  pwForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (await busy(pwForm.querySelector('button'), () => api(`${A}/users/${id}`, {method: 'PATCH', body: formData(pwForm)})) !== undefined) {
      pwForm.reset();
      notify(`The password of ${u.login} is changed; their signed-in sessions keep working until they expire.`, 'ok');
    }
  });
  const del = h('button', {type: 'button', class: 'danger', onclick: async (e) => {
    if (!window.confirm(`Delete user ${u.login}? Their memberships and API tokens go with them.`)) return;
    if (await busy(e.target, () => api(`${A}/users/${id}`, {method: 'DELETE'})) !== undefined) {
      notify(`User ${u.login} is deleted.`, 'ok');
      go('/users');
    }
  }}, 'Delete user');
  replace(el,
    h('div', {class: 'head'}, h('h1', {}, `User ${u.login}`), u.tenantManager ? badge('tenant manager', 'info') : null),
    h('p', {class: 'muted'}, `${u.displayName || 'No display name'}${u.email ? ` · ${u.email}` : ''} · created ${when(u.createdAt)}`),
    h('section', {class: 'card'}, h('h2', {}, 'Tenants'),
      table('Memberships', [
        {title: 'Tenant', cell: (m) => h('a', {href: `#/tenants/${m.login}`}, m.login)},
        {title: 'Role', cell: (m) => m.role},
      ], u.memberships, 'Not a member of any tenant. Add them from a tenant\'s page.')),
    h('section', {class: 'card'}, h('h2', {}, 'API tokens'), tokens, shown, tokenForm),
    h('section', {class: 'card'}, h('h2', {}, 'Password'), pwForm),
    h('section', {class: 'card danger-zone'}, h('h2', {}, 'Delete'), del));
  await loadTokens();
}

// ---- migrations ----

async function migrations(el) {
  const body = h('div', {});
  const progress = h('progress', {max: 1, value: 0, 'aria-label': 'Migration progress', hidden: true});
  const log = h('ol', {class: 'log', 'aria-live': 'polite'});
  const load = async () => {
    const st = await api(`${A}/migrations`);
    replace(body, table('Schema versions', [
      {title: 'Tenant', cell: (m) => h('a', {href: `#/tenants/${m.tenant}`}, m.tenant)},
      {title: 'Version', cell: (m) => m.error ? badge(m.error, 'bad') : `${m.current} / ${m.latest}`},
      {title: 'State', cell: (m) => m.error ? '—' : (m.current === m.latest ? badge('up to date', 'ok') : badge('behind', 'warn'))},
    ], st, 'There are no tenants to migrate.'));
  };
  const run = h('button', {type: 'button', onclick: async (e) => {
    replace(log);
    progress.hidden = false;
    progress.value = 0;
    await busy(e.target, async () => {
      const res = await api(`${A}/migrations`, {method: 'POST', raw: true});
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const m = JSON.parse(line);
          if (m.finished) {
            notify(m.failed ? `${m.failed} of ${m.tenants} tenants failed to migrate; see the list.` : `All ${m.tenants} tenants are up to date.`, m.failed ? 'error' : 'ok');
          } else {
            progress.max = m.total;
            progress.value = m.done;
            log.append(h('li', {class: m.error ? 'bad' : ''}, `${m.done}/${m.total} ${m.tenant}: ${m.error ? `failed: ${m.error}` : (m.from === m.to ? `already at ${m.to}` : `${m.from} → ${m.to}`)}`));
          }
        }
      }
    });
    await load();
  }}, 'Migrate all tenants');
  replace(el, h('div', {class: 'head'}, h('h1', {}, 'Migrations'), run),
    h('p', {class: 'muted'}, 'Each tenant\'s schema is migrated on its own; one failure does not stop the others.'),
    progress, log, body);
  await load();
}
