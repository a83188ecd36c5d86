// Shared console state and helpers for every view.
import {h, replace} from './dom.js';

/** session is who is signed in: {login, tenantManager, tenants, csrfToken}. */
export const session = {current: null};


/** notify shows a message; errors are announced at once. */
export function notify(message, kind = 'error') {
  const el = document.getElementById('flash');
  el.className = `flash ${kind}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  replace(el, h('span', {}, message), h('button', {type: 'button', class: 'link', 'aria-label': 'Dismiss message',
    onclick: () => { el.hidden = true; }}, '×'));
  el.hidden = false;
  if (kind !== 'error') setTimeout(() => { if (el.textContent.startsWith(message)) el.hidden = true; }, 6000);
}

/** clearNotice hides the message bar. */
export function clearNotice() {
  document.getElementById('flash').hidden = true;
}

/**
 * busy disables a button while work runs and reports the work's error.
 * Returns the work's result, or undefined when it failed: work that
 * succeeds must resolve to something else (the API resolves to null on 204).
 */
export async function busy(button, work) {
  const label = button ? button.textContent : '';
  if (button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.textContent = `${label}…`;
  }
  try {
    return await work();
  } catch (err) {
    notify(err.message);
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      button.textContent = label;
    }
  }
}

/** go navigates to a hash route. */
export function go(path) {
  if (location.hash === `#${path}`) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = path;
}

/** roleIn is the signed-in user's role in a tenant, or "". */
export function roleIn(tenant) {
  const m = (session.current?.tenants || []).find((t) => t.tenant === tenant);
  return m ? m.role : '';
}

/** can tells whether the user's role in tenant reaches need. */
export function can(tenant, need) {
  const rank = {reader: 1, user: 2, admin: 3};
  return (rank[roleIn(tenant)] || 0) >= rank[need];
}
