// The tenantflow admin console: one page, hash routes, plain ES modules.
import './style.css';
import {api, setCSRF, setSignedOutHandler} from './api.js';
import {h, replace, field, formData} from './dom.js';
import {session, notify, clearNotice, busy, go, roleIn} from './ui.js';
import {managerRoutes} from './manager.js';
import {tenantRoutes} from './tenant.js';

// ---- routing ----

const main = () => document.getElementById('main');

const routes = [];
let cleanup = null;

/** route registers a view for a hash pattern like "/tenants/:id". */
function route(pattern, render, opts = {}) {
  const names = [];
  const re = new RegExp('^' + pattern.replace(/:(\w+)/g, (_, n) => { names.push(n); return '([^/]+)'; }) + '$');
  routes.push({re, names, render, ...opts});
}

async function render() {
  const path = location.hash.replace(/^#/, '') || '/';
  if (cleanup) {
    try { cleanup(); } catch { /* a view's cleanup must not block the next */ }
    cleanup = null;
  }
  if (!session.current) {
    renderLogin();
    return;
  }
  if (path === '/') {
    go(homeOf(session.current));
    return;
  }
  for (const r of routes) {
    const m = path.match(r.re);
    if (!m) continue;
    const params = Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])]));
    renderNav(params);
    const el = main();
    replace(el, h('p', {class: 'muted'}, 'Loading…'));
    try {
      cleanup = (await r.render(el, params)) || null;
    } catch (err) {
      replace(el, h('h1', {}, 'This page could not be shown'), h('p', {}, err.message),
        h('p', {}, h('a', {href: '#/'}, 'Back to the start page')));
    }
    const heading = el.querySelector('h1');
    if (heading) {
      heading.tabIndex = -1;
      document.title = `${heading.textContent} · tenantflow`;
    }
    return;
  }
  renderNav({});
  replace(main(), h('h1', {}, 'Page not found'), h('p', {}, `Nothing lives at ${path}. `, h('a', {href: '#/'}, 'Go to the start page.')));
}

function homeOf(s) {
  if (s.tenantManager) return '/tenants';
  if (s.tenants.length) return `/t/${s.tenants[0].tenant}`;
  return '/no-tenant';
}

function renderNav(params) {
  const s = session.current;
  const nav = document.getElementById('nav');
  const here = location.hash;
  // A section is current on its own page and on the pages below it; the
  // tenant's start page owns the definition pages.
  const link = (href, text, below = `${href}/`) => h('a', {href, 'aria-current': here === href || here.startsWith(below) ? 'page' : null}, text);
  if (s.tenantManager) {
    replace(nav, link('#/tenants', 'Tenants'), link('#/users', 'Users'), link('#/migrations', 'Migrations'), link('#/audit', 'Audit log'));
  } else if (params.tenant) {
    const t = params.tenant;
    replace(nav, link(`#/t/${t}`, 'Processes', `#/t/${t}/definitions/`), link(`#/t/${t}/instances`, 'Instances'), link(`#/t/${t}/incidents`, 'Incidents'),
      link(`#/t/${t}/tasks`, 'Tasks'), link(`#/t/${t}/history`, 'History'), link(`#/t/${t}/events`, 'Live events'),
      roleIn(t) === 'admin' ? link(`#/t/${t}/audit`, 'Audit log') : null);
  } else {
    replace(nav);
  }
  const who = document.getElementById('who');
  const parts = [h('span', {class: 'login'}, s.login, s.tenantManager ? ' (tenant manager)' : '')];
  if (!s.tenantManager && s.tenants.length > 1) {
    const sel = h('select', {id: 'tenant-switch', 'aria-label': 'Tenant', onchange: (e) => go(`/t/${e.target.value}`)},
      s.tenants.map((t) => h('option', {value: t.tenant, selected: t.tenant === params.tenant}, `${t.tenant} (${t.role})`)));
    parts.push(sel);
  } else if (params.tenant) {
    parts.push(h('span', {class: 'badge'}, `${params.tenant} · ${roleIn(params.tenant) || 'no access'}`));
  }
  parts.push(h('button', {type: 'button', class: 'secondary', onclick: logout}, 'Sign out'));
  replace(who, parts);
}

// ---- session ----

function renderLogin(message) {
  replace(document.getElementById('nav'));
  replace(document.getElementById('who'));
  const form = h('form', {class: 'card narrow', 'aria-labelledby': 'login-title', onsubmit: async (e) => {
    e.preventDefault();
    const b = form.querySelector('button[type=submit]');
    const info = await busy(b, () => api('/console/api/login', {method: 'POST', body: formData(form)}));
    if (info) {
      signedIn(info);
      clearNotice();
      render();
    }
  }},
  h('h1', {id: 'login-title'}, 'Sign in to tenantflow'),
  message ? h('p', {class: 'muted'}, message) : null,
  field({label: 'Login', name: 'login', required: true, autocomplete: 'username', spellcheck: 'false'}),
  field({label: 'Password', name: 'password', type: 'password', required: true, autocomplete: 'current-password'}),
  h('button', {type: 'submit'}, 'Sign in'));
  replace(main(), form);
  document.title = 'Sign in · tenantflow';
  form.querySelector('input').focus();
}

function signedIn(info) {
  session.current = info;
  setCSRF(info.csrfToken);
}

async function logout() {
  try {
    await api('/console/api/logout', {method: 'POST'});
  } catch {
    // signed out locally either way
  }
  session.current = null;
  setCSRF('');
  location.hash = '#/';
  renderLogin('You are signed out.');
}

setSignedOutHandler(() => {
  if (!session.current) return;
  session.current = null;
  renderLogin('Your session has ended. Sign in again to continue.');
});

route('/no-tenant', (el) => {
  replace(el, h('h1', {}, 'No tenant yet'),
    h('p', {}, 'Your account is not a member of any tenant. Ask the tenant manager to add you to one, then sign in again.'));
});

managerRoutes(route);
tenantRoutes(route);

async function start() {
  try {
    const info = await api('/console/api/session');
    if (info.signedIn) signedIn(info);
  } catch (err) {
    session.current = null;
    if (err.status !== 401) notify(err.message);
  }
  window.addEventListener('hashchange', render);
  render();
}

start();
