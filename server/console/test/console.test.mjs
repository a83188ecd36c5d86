// Browser test of the admin console, run by `make test` after the console
// is bundled: it starts the real `tenantflow serve` binary on the embedded
// default (SQLite) and drives Debian's chromium through playwright-core as a
// tenant manager and as two tenants' admins would.
//
//   TENANTFLOW_BIN      the binary (default ../../bin/tenantflow)
//   SCREENSHOT_DIR      where screenshots go (default ../../build/console-screenshots)
//   CHROMIUM            the browser (default /usr/bin/chromium)
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {mkdtemp, mkdir, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {chromium} from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const BIN = process.env.TENANTFLOW_BIN || path.join(root, 'bin/tenantflow');
const SHOTS = process.env.SCREENSHOT_DIR || path.join(root, 'build/console-screenshots');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const MANAGER_PASSWORD = 'manager-secret-1';

let server;
let base;
let dataDir;
let browser;
const problems = [];

async function startServer() {
  dataDir = await mkdtemp(path.join(tmpdir(), 'tf-console-'));
  const env = {...process.env, TENANTFLOW_DATA_DIR: dataDir, TENANTFLOW_ADDR: '127.0.0.1:0',
    TENANTFLOW_ADMIN_PASSWORD: MANAGER_PASSWORD, TENANTFLOW_LOG_FORMAT: 'json', TENANTFLOW_PRIMARY_URL: ''};
  server = spawn(BIN, ['serve'], {env, stdio: ['ignore', 'pipe', 'pipe']});
  const log = [];
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tenantflow serve did not start:\n${log.join('')}`)), 60_000);
    const scan = (chunk) => {
      log.push(chunk.toString());
      for (const line of chunk.toString().split('\n')) {
        if (!line.includes('tenantflow serving')) continue;
        clearTimeout(timer);
        resolve(JSON.parse(line).addr);
      }
    };
    server.stdout.on('data', scan);
    server.stderr.on('data', scan);
    server.on('exit', (code) => reject(new Error(`tenantflow serve exited with ${code}:\n${log.join('')}`)));
  });
  base = `http://${addr}`;
}

// rest calls the server as a REST client would, with HTTP Basic.
async function rest(method, p, {user, password, body, form, tenant} = {}) {
  const headers = {Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`};
  if (tenant) headers['X-Tenant-ID'] = tenant;
  let payload = form;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(`${base}${p}`, {method, headers, body: payload});
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const manager = {user: 'admin', password: MANAGER_PASSWORD};
const acme = {user: 'acme_admin', password: 'acme-password-1', tenant: 'acme'};
const globex = {user: 'globex_admin', password: 'globex-password-1', tenant: 'globex'};

async function newPage(viewport = {width: 1280, height: 800}) {
  const context = await browser.newContext({viewport});
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // An event stream closed by navigation is not a failure.
    if (!r.url().includes('/events')) problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return page;
}

async function signIn(page, who, {keyboard = false} = {}) {
  await page.goto(`${base}/console/`);
  await page.getByLabel('Login').fill(who.user);
  if (keyboard) {
    // Keyboard only: the login field has focus, Tab reaches the password,
    // Enter submits.
    await page.keyboard.press('Tab');
    await page.keyboard.type(who.password);
    await page.keyboard.press('Enter');
  } else {
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', {name: 'Sign in'}).click();
  }
}

async function shot(page, name) {
  await page.screenshot({path: path.join(SHOTS, `${name}.png`), fullPage: true});
}

before(async () => {
  await mkdir(SHOTS, {recursive: true});
  await startServer();
  browser = await chromium.launch({executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync']});
});

after(async () => {
  if (browser) await browser.close();
  if (server) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  if (dataDir) await rm(dataDir, {recursive: true, force: true});
});

test('the console is served as modules under a CSP that forbids remote scripts', async () => {
  const page = await fetch(`${base}/console/`);
  assert.equal(page.status, 200);
  const csp = page.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /script-src[^;]*(https?:|\*)/);
  const html = await page.text();
  assert.match(html, /<script type="module" src="app.js">/, 'the bundle, not the placeholder, is embedded');
  const js = await fetch(`${base}/console/app.js`);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  const css = await fetch(`${base}/console/app.css`);
  assert.match(css.headers.get('content-type'), /^text\/css/);
  assert.doesNotMatch(await js.text(), /https?:\/\/(unpkg|cdn|cdnjs)\./, 'nothing is loaded from a CDN');
});

test('a tenant manager and two tenant admins use the console', async (t) => {
  const page = await newPage();

  await t.test('the tenant manager signs in with the keyboard', async () => {
    await signIn(page, manager, {keyboard: true});
    await page.getByRole('heading', {name: 'Tenants'}).waitFor();
    await page.getByText('There are no tenants yet.').waitFor();
    await shot(page, '01-tenants-empty');
  });

  await t.test('creating a tenant checks the ID and reports what is wrong', async () => {
    await page.getByRole('link', {name: 'Create tenant'}).click();
    await page.getByLabel('Tenant ID').fill('Acme-Corp');
    await page.getByRole('button', {name: 'Create tenant'}).click();
    await page.getByRole('alert').getByText('is not a valid tenant ID').waitFor();
    assert.equal(await page.getByLabel('Tenant ID').getAttribute('aria-invalid'), 'true');

    await page.getByLabel('Tenant ID').fill('acme');
    await page.getByLabel('Display name').fill('Acme Corporation');
    await page.getByLabel('Placement').selectOption('pg-dsn');
    assert.ok(await page.getByLabel('PostgreSQL DSN').isVisible(), 'pg-dsn shows its DSN field');
    assert.equal(await page.getByLabel('Database password').getAttribute('type'), 'password');
    await page.getByLabel('Placement').selectOption('');
    assert.ok(!(await page.getByLabel('PostgreSQL DSN').isVisible()), 'other placements hide it');
    await shot(page, '02-tenant-create');
    await page.getByRole('button', {name: 'Create tenant'}).click();
    await page.getByRole('heading', {name: 'Tenant acme'}).waitFor();
    await page.getByText('Tenant acme is created').waitFor();
    await page.locator('.stats').getByText('ms').first().waitFor(); // storage health measured
  });

  await t.test('the manager creates a tenant admin', async () => {
    await rest('POST', '/admin/api/tenants', {...manager, body: {id: 'globex', displayName: 'Globex'}});
    await page.getByRole('link', {name: 'Users'}).click();
    await page.getByRole('heading', {name: 'Users'}).waitFor();
    await page.getByLabel('Login', {exact: true}).fill(acme.user);
    await page.getByLabel('Password').fill(acme.password);
    await page.getByLabel('Display name').fill('Acme admin');
    await page.getByLabel('Tenant', {exact: true}).selectOption('acme');
    await page.getByLabel('Role in that tenant').selectOption('admin');
    await page.getByRole('button', {name: 'Create user'}).click();
    await page.getByText('User acme_admin is created as admin of acme').waitFor();
    await page.getByRole('row', {name: /acme_admin/}).getByText('acme (admin)').waitFor();
    await rest('POST', '/admin/api/users', {...manager, body: {login: globex.user, password: globex.password, tenant: 'globex', role: 'admin'}});
    await shot(page, '03-users');

    await page.getByRole('link', {name: 'Tenants'}).click();
    const row = page.getByRole('row', {name: /acme/});
    await row.getByText('active').waitFor();
    await page.getByText(/^Updated /).waitFor();
    await shot(page, '04-tenants');
  });

  await t.test('the manager sees migration progress', async () => {
    await page.getByRole('link', {name: 'Migrations'}).click();
    await page.getByRole('button', {name: 'Migrate all tenants'}).click();
    await page.getByText('All 2 tenants are up to date.').waitFor();
    assert.equal(await page.locator('progress').getAttribute('max'), '2');
    await shot(page, '05-migrations');
    await page.getByRole('link', {name: 'Audit log'}).click();
    await page.getByRole('heading', {name: 'Audit log'}).waitFor();
    await page.getByRole('row', {name: /Create Tenant/}).first().waitFor();
    await page.getByRole('row', {name: /Create User.*acme_admin/}).waitFor();
    await shot(page, '11-audit-manager');
    await page.getByRole('button', {name: 'Sign out'}).click();
    await page.getByRole('heading', {name: 'Sign in to tenantflow'}).waitFor();
  });

  let instanceID;
  await t.test('the tenant admin sees its empty tenant, then a deployed process and its diagram', async () => {
    await signIn(page, acme);
    await page.getByRole('heading', {name: 'Processes'}).waitFor();
    await page.getByText('No process is deployed in this tenant yet.').waitFor();

    const form = new FormData();
    form.append('deployment-name', 'orders');
    form.append('order.bpmn', new Blob([await readFile(path.join(here, 'fixtures/order.bpmn'))]), 'order.bpmn');
    await rest('POST', '/engine-rest/deployment/create', {...acme, form});
    const inst = await rest('POST', '/engine-rest/process-definition/key/order/start', {...acme, body: {businessKey: 'order-1001'}});
    instanceID = inst.id;

    await page.reload();
    await page.getByRole('link', {name: 'Order'}).click();
    const diagram = page.locator('#diagram[data-ready="true"]');
    await diagram.waitFor();
    await diagram.locator('[data-element-id="review"]').first().waitFor();
    const count = page.locator('.djs-overlays[data-container-id="review"] .tf-count');
    assert.equal(await count.textContent(), '1', 'one instance waits at "Review order"');
    await shot(page, '06-definition');
  });

  await t.test('the instance view highlights the active task', async () => {
    await page.locator(`a[href$="/instances/${instanceID}"]`).click();
    // The definition's diagram stays on the page, ready, until the
    // instance view replaces it: wait for a marker only the instance's has
    // (markers are all set before the diagram says it is ready).
    const active = page.locator('#diagram[data-ready="true"] .djs-element.tf-active');
    await active.first().waitFor();
    assert.equal(await active.count(), 1);
    assert.equal(await active.getAttribute('data-element-id'), 'review');
    await page.getByText('order-1001').waitFor();
    await shot(page, '07-instance');
    await page.getByRole('button', {name: 'Complete Review order'}).click();
    await page.getByText('Review order is completed.').waitFor();
    await page.locator('#diagram .djs-element.tf-active[data-element-id="charge"]').waitFor();
  });

  await t.test('an incident is resolved with retry', async () => {
    const [task] = await rest('POST', '/engine-rest/external-task/fetchAndLock', {...acme,
      body: {workerId: 'w1', maxTasks: 1, topics: [{topicName: 'charge', lockDuration: 60000}]}});
    assert.ok(task, 'the charge task is fetched');
    await rest('POST', `/engine-rest/external-task/${task.id}/failure`, {...acme,
      body: {workerId: 'w1', errorMessage: 'card declined: insufficient funds', retries: 0, retryTimeout: 0}});

    await page.getByRole('link', {name: 'Incidents'}).click();
    const row = page.getByRole('row', {name: /card declined/});
    await row.waitFor();
    await shot(page, '08-incidents');
    await row.getByRole('button', {name: 'Retry charge'}).click();
    await page.getByText('Retrying charge').waitFor();
    await page.getByText('No open incidents.').waitFor();

    const [again] = await rest('POST', '/engine-rest/external-task/fetchAndLock', {...acme,
      body: {workerId: 'w1', maxTasks: 1, topics: [{topicName: 'charge', lockDuration: 60000}]}});
    assert.equal(again?.id, task.id, 'after the retry a worker gets the task again');
    await rest('POST', `/engine-rest/external-task/${task.id}/complete`, {...acme, body: {workerId: 'w1'}});
  });

  await t.test('history and live events show what happened', async () => {
    await page.getByRole('link', {name: 'History'}).click();
    await page.getByRole('row', {name: /completed/}).first().waitFor();
    await page.getByRole('link', {name: 'Live events'}).click();
    await page.getByText(/^Connected/).waitFor();
    await page.locator('.events li', {hasText: 'process-completed'}).waitFor();
    await shot(page, '09-events');
    await page.getByRole('link', {name: 'Audit log'}).click();
    await page.getByRole('row', {name: /acme_admin.*Complete Task/}).waitFor();
    await page.getByRole('row', {name: /acme_admin.*Create Deployment/}).waitFor();
    await shot(page, '12-audit-tenant');
    await page.getByRole('button', {name: 'Sign out'}).click();
    // Wait for the sign-in page: navigating away earlier would abort the
    // logout request itself.
    await page.getByRole('heading', {name: 'Sign in to tenantflow'}).waitFor();
  });

  await t.test("another tenant's admin sees none of it", async () => {
    await signIn(page, globex);
    await page.getByRole('heading', {name: 'Processes'}).waitFor();
    await page.getByText('No process is deployed in this tenant yet.').waitFor();
    await page.getByRole('link', {name: 'Incidents'}).click();
    await page.getByText('No open incidents.').waitFor();
    await page.getByRole('link', {name: 'History'}).click();
    await page.getByText('No instance has finished yet.').waitFor();
    // Its audit log shows what the tenant manager did in globex, and
    // nothing of acme's.
    await page.getByRole('link', {name: 'Audit log'}).click();
    await page.getByRole('row', {name: /admin.*tenant manager.*Create Tenant/}).waitFor();
    assert.equal(await page.getByText('acme_admin').count(), 0, "acme's changes are not in globex's audit log");

    await page.goto(`${base}/console/#/t/acme`);
    await page.getByText('You are not a member of tenant acme').waitFor();
    // The session's own cookie, sent outside the page (a refused call in the
    // page would be logged as a console error).
    const other = await page.request.get(`${base}/engine-rest/process-definition`, {headers: {'X-Tenant-ID': 'acme'}});
    assert.equal(other.status(), 403, "the API refuses another tenant's data to this session");
    const admin = await page.request.get(`${base}/admin/api/tenants`);
    assert.equal(admin.status(), 403, 'a tenant admin cannot use the tenant-manager API');
    await page.context().close();
  });
});

test('the console is readable in a narrow window', async () => {
  const page = await newPage({width: 390, height: 844});
  await signIn(page, manager);
  await page.getByRole('heading', {name: 'Tenants'}).waitFor();
  await page.getByRole('row', {name: /acme/}).waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  await shot(page, '10-narrow');
  await page.context().close();
});

test('no errors in the browser console', () => {
  assert.deepEqual(problems, []);
});
