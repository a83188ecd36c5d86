// The console talks only to the public REST APIs of this server: the admin
// API under /admin/api and the engine API under /engine-rest. The session
// cookie authenticates; every state change carries the CSRF token.

/** ApiError is a failed call, with a message meant for people. */
export class ApiError extends Error {
  constructor(status, type, detail) {
    super(explain(status, detail));
    this.status = status;
    this.type = type;
    this.detail = detail;
  }
}

let csrfToken = '';

/** setCSRF remembers the session's CSRF token. */
export function setCSRF(token) {
  csrfToken = token || '';
}

/** onSignedOut is called when the server says the session has ended. */
export let onSignedOut = () => {};
export function setSignedOutHandler(fn) {
  onSignedOut = fn;
}

/**
 * api calls path (absolute, e.g. "/admin/api/tenants").
 * opts: {method, body (JSON), form (FormData), tenant (X-Tenant-ID), raw
 * (return the Response)}.
 */
export async function api(path, opts = {}) {
  const method = opts.method || 'GET';
  const headers = {Accept: 'application/json'};
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken;
  if (opts.tenant) headers['X-Tenant-ID'] = opts.tenant;
  let body;
  if (opts.form) {
    body = opts.form;
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(path, {method, headers, body, credentials: 'same-origin', signal: opts.signal});
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, 'NetworkError', '');
  }
  if (!res.ok) {
    let type = '';
    let detail = '';
    try {
      const j = await res.json();
      type = j.type || '';
      detail = j.message || '';
    } catch {
      // not JSON: keep the status alone
    }
    if (res.status === 401 && !path.endsWith('/login')) onSignedOut();
    throw new ApiError(res.status, type, detail);
  }
  if (opts.raw) return res;
  if (res.status === 204) return null;
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

/** tenantAPI calls the engine API as the given tenant. */
export function tenantAPI(tenant, path, opts = {}) {
  return api(`/engine-rest${path}`, {...opts, tenant});
}

/** explain turns an HTTP failure into a sentence a person can act on. */
function explain(status, detail) {
  const said = detail ? ` (${detail})` : '';
  switch (status) {
    case 0:
      return 'The server did not answer. Check that tenantflow is running and your network is up, then try again.';
    case 400:
      return detail || 'The server did not accept that input. Check the highlighted fields and try again.';
    case 401:
      return detail || 'Your session has ended. Sign in again.';
    case 403:
      return `Your role does not allow this.${said} Ask an admin of this tenant for a higher role.`;
    case 404:
      return detail || 'That no longer exists; it may have been deleted by someone else. Reload the list.';
    case 409:
      return detail || 'Someone else changed this at the same time. Reload and try again.';
    case 413:
      return 'That file is too large for the server.';
    case 429:
      return detail || 'Too many attempts. Wait a minute, then try again.';
    case 503:
      return `The tenant's storage is not reachable right now${said}. Other tenants are not affected; try again shortly.`;
    default:
      return `The server failed to do this${said}. The server log has the details.`;
  }
}
