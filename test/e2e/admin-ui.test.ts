/**
 * The admin UI in a real browser (Debian's chromium through playwright-core) against a real
 * gateway on a scratch PostgreSQL database and the fake ChatGPT upstream: bootstrap → sign in →
 * enroll TOTP → sign in again with the code → create a pool → import an account → mint a key →
 * a request through the gateway shows up live in the request log and in the usage charts; a
 * pool-scoped admin sees only their pool. Screenshots of each main screen land in
 * test-results/screenshots/.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import pino from 'pino';
import { openDatabase } from '../../src/db/index.ts';
import { registerAdminUi } from '../../src/http/admin-ui.ts';
import { migrateAndImportPricing } from '../../src/runtime/migrate.ts';
import { totpCodeFor } from '../support/admin.ts';
import { SCREENSHOTS, ensureFreshBuild, launchChromium, nav, openPage, pickOption, requireChromium, screenshotFailures, screenshots } from '../support/browser.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const OWNER = { email: 'owner@example.com', password: 'owner password 1234', name: 'Olivia Owner' };
const ADMIN = { email: 'admin@example.com', password: 'admin password 5678' };
const VIEWPORT = { width: 1366, height: 850 };

let scratch: ScratchDatabase;
let upstream: FakeUpstream;
let gateway: TestGateway;
let browser: Browser;
let page: Page;
let totpSecret = '';
let poolId = '';

const shot = screenshots();

beforeAll(async () => {
  ensureFreshBuild();
  requireChromium();
  rmSync(SCREENSHOTS, { recursive: true, force: true });
  scratch = await createScratchDatabase('e2e');
  const handle = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 2, ipv6: false }, { onError: () => {} });
  try {
    // What `codex-pooler migrate` does: schema, then the vendored prices (so usage shows costs).
    await migrateAndImportPricing(handle.db, pino({ level: 'silent' }));
  } finally {
    await handle.close();
  }
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: scratch.url, upstream });
  browser = await launchChromium();
  ({ page } = await openPage(browser, { baseURL: gateway.url, viewport: VIEWPORT }));
}, 120_000);

screenshotFailures(() => page, shot);

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  await upstream?.close();
  await scratch?.drop();
});

describe('serving the SPA', () => {
  test('/ redirects to /admin/, client routes load index.html, missing assets are 404', async () => {
    const root = await fetch(`${gateway.url}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/admin/');
    for (const path of ['/admin/', '/admin/request-logs', '/admin/settings?x=1']) {
      const response = await fetch(`${gateway.url}${path}`);
      expect(response.status, path).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/html');
      expect(await response.text()).toContain('<div id="root">');
    }
    expect((await fetch(`${gateway.url}/admin/assets/gone-123.js`)).status).toBe(404);
    // Hashed assets: long-lived cache, pre-compressed.
    const html = await (await fetch(`${gateway.url}/admin/`)).text();
    const script = /src="(\/admin\/assets\/[^"]+\.js)"/.exec(html)![1]!;
    const asset = await fetch(`${gateway.url}${script}`, { headers: { 'accept-encoding': 'br, gzip' } });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect(asset.headers.get('content-encoding')).toMatch(/^(br|gzip)$/);
    // The admin API keeps its JSON envelope; the SPA fallback never swallows it.
    const api = await fetch(`${gateway.url}/api/admin/nope`);
    expect(api.status).toBeGreaterThanOrEqual(400);
    expect(api.headers.get('content-type')).toContain('application/json');
    expect(((await api.json()) as { error: { code: string } }).error.code).toMatch(/^(not_found|invalid_session)$/);
  });

  test('without a build, /admin answers a clear 503', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'no-ui-'));
    const app = Fastify();
    try {
      await registerAdminUi(app, { distDir: empty });
      const response = await app.inject({ url: '/admin/pools' });
      expect(response.statusCode).toBe(503);
      expect(response.body).toContain('admin UI not built: run npm install');
    } finally {
      await app.close();
      await rm(empty, { recursive: true, force: true });
    }
  });
});

describe('admin UI, end to end', () => {
  test('bootstrap, then sign in with TOTP', async () => {
    // A deep link while bootstrap is pending lands on the bootstrap page.
    await page.goto('/admin/pools');
    await expect.poll(() => page.url()).toContain('/admin/bootstrap');
    await page.getByRole('heading', { name: 'Set up Codex Pooler' }).waitFor();
    await shot(page, '01-bootstrap');
    await page.getByLabel('Your name').fill(OWNER.name);
    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByRole('textbox', { name: /^Password/ }).fill(OWNER.password);
    await page.getByRole('textbox', { name: 'Repeat password' }).fill(OWNER.password);
    await page.getByRole('button', { name: 'Create owner and sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByText('No accounts yet').waitFor();
    await shot(page, '02-overview-empty');

    // Every section is a real link.
    for (const label of ['Pools', 'Accounts', 'API keys', 'Request logs', 'Usage', 'Audit', 'Operators', 'Settings']) {
      await expect(nav(page, label).getAttribute('href')).resolves.toMatch(/^\/admin\//);
    }

    // Enroll TOTP from Settings.
    await nav(page, 'Settings').click();
    await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
    totpSecret = (await page.getByTestId('totp-secret').textContent())!.trim();
    expect(totpSecret).toMatch(/^[A-Z2-7]{16,}$/);
    await expect(page.getByText(/^otpauth:\/\/totp\//).textContent()).resolves.toContain(`secret=${totpSecret}`);
    await page.getByRole('img', { name: 'TOTP QR code' }).waitFor();
    await shot(page, '03-settings-totp-enrollment');
    await page.getByLabel('Code from your app').fill(totpCodeFor(totpSecret));
    await page.getByRole('button', { name: 'Confirm and turn on' }).click();
    await page.getByText(/recovery codes left/).waitFor();
    // Own sessions, the current one marked; instance settings save per group (owner only).
    await page.getByTestId('sessions-table').getByText('this session').waitFor();
    await page.getByRole('tab', { name: 'Instance' }).click();
    const retention = page.getByTestId('settings-group-retention');
    await retention.getByLabel('Request logs days').fill('14');
    await retention.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Retention saved.' }).waitFor();
    await shot(page, '03b-settings-instance');
    const saved = (await page.evaluate(() => fetch('/api/admin/settings').then((r) => r.json()))) as { settings: { retention: { request_logs_days: number } } };
    expect(saved.settings.retention.request_logs_days).toBe(14);

    // Sign out, then sign in: password, then the TOTP step.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Email').fill(OWNER.email);
    await page.getByRole('textbox', { name: 'Password' }).fill('wrong password 0000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Invalid email or password' }).waitFor();
    await page.getByRole('textbox', { name: 'Password' }).fill(OWNER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Two-factor sign-in' }).waitFor();
    await shot(page, '04-sign-in-totp');
    // The next time step: the confirm step's code cannot be replayed.
    await page.getByLabel('Authenticator code').fill(totpCodeFor(totpSecret, 30));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
  }, 120_000);

  test('create a pool, import an account, mint a key', async () => {
    await nav(page, 'Pools').click();
    await page.getByText('No pools yet').waitFor();
    await page.getByRole('button', { name: 'Create pool' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('E2E team');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('cell', { name: 'e2e-team' }).waitFor();
    await shot(page, '05-pools');
    const pools = (await page.evaluate(() => fetch('/api/admin/pools').then((r) => r.json()))) as { items: { id: string; slug: string }[] };
    poolId = pools.items.find((p) => p.slug === 'e2e-team')!.id;

    // Import by paste.
    await nav(page, 'Accounts').click();
    await page.getByText('No accounts here yet').waitFor();
    const account = await upstream.addAccount({ accountId: 'acct-e2e-1', email: 'e2e-account@example.com' });
    await page.getByRole('button', { name: 'Import auth.json' }).first().click();
    await pickOption(page, dialog.getByLabel(/^Pool/), 'E2E team');
    await dialog.getByLabel('auth.json').fill(JSON.stringify(account.authJson, null, 2));
    await dialog.getByRole('button', { name: 'Import', exact: true }).click();
    await dialog.getByText(/Imported e2e-account@example.com/).waitFor();
    await dialog.getByRole('button', { name: 'Close', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('cell', { name: /e2e-account@example.com/ }).first().waitFor();
    await shot(page, '06-accounts');

    await nav(page, 'API keys').click();
    await page.getByText('No API keys yet').waitFor();
    await page.getByRole('button', { name: 'Create API key' }).first().click();
    await pickOption(page, dialog.getByLabel(/^Pool/), 'E2E team');
    await dialog.getByLabel('Label').fill('e2e');
    await dialog.getByRole('button', { name: 'Create', exact: true }).click();
    const key = (await page.getByTestId('new-api-key').textContent())!.trim();
    expect(key).toMatch(/^sk-cxp-/);
    await shot(page, '07-api-key-created');
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('cell', { name: 'e2e', exact: true }).waitFor();
    // The key is shown once: the list only has its prefix.
    expect(await page.content()).not.toContain(key);
    await shot(page, '08-api-keys');

    // The live request log shows a request sent through the gateway within seconds.
    await nav(page, 'Request logs').click();
    await page.getByText('No requests yet').waitFor();
    await page.getByTestId('live-status').filter({ hasText: 'live' }).waitFor();
    const response = await fetch(`${gateway.url}/backend-api/codex/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ model: 'gpt-5.4', instructions: 'be brief', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] }], stream: true }),
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('response.completed');
    const requestId = response.headers.get('x-request-id')!;
    const table = page.getByTestId('request-log-table');
    await table.getByText(requestId).waitFor({ timeout: 8_000 });
    const row = table.getByRole('row').filter({ hasText: requestId });
    await expect(row.textContent()).resolves.toContain('gpt-5.4');
    await row.getByText('succeeded').waitFor();
    await shot(page, '09-request-logs-live');

    // Reloading a deep link keeps the page and still lists the request.
    await page.reload();
    await page.getByTestId('request-log-table').getByText(requestId).waitFor();

    // Usage and cost come from the ledger: the request's tokens and its (sub-cent) price.
    const ledger = (await page.evaluate(() => fetch('/api/admin/usage?group_by=model').then((r) => r.json()))) as { totals: { total_tokens: number; cost_usd: number; priced: boolean } };
    await nav(page, 'Usage').click();
    await page.getByTestId('usage-totals').filter({ hasText: /^1 request \(/ }).waitFor();
    const totals = (await page.getByTestId('usage-totals').textContent())!;
    expect(ledger.totals.total_tokens).toBeGreaterThan(0);
    expect(ledger.totals.cost_usd).toBeGreaterThan(0);
    expect(totals).toContain(`${new Intl.NumberFormat('en-US').format(ledger.totals.total_tokens)} tokens`);
    expect(totals).toContain(`$${ledger.totals.cost_usd.toFixed(6)} cost`);
    await page.getByTestId('usage-requests-chart').locator('path.recharts-rectangle').first().waitFor();
    await page.getByTestId('usage-cost-chart').locator('path.recharts-rectangle').first().waitFor();
    await page.getByTestId('usage-model-chart').getByText('gpt-5.4').first().waitFor();
    await page.getByTestId('usage-breakdown').getByRole('row').filter({ hasText: 'gpt-5.4' }).getByText(`$${ledger.totals.cost_usd.toFixed(6)}`).waitFor();
    await page.getByText('By API key', { exact: true }).click();
    await page.getByTestId('usage-breakdown').getByRole('cell', { name: 'e2e', exact: true }).waitFor();
    await shot(page, '10-usage');

    // Rotate the key from its actions menu: the new key is shown once, the old one stops at once.
    await nav(page, 'API keys').click();
    await page.getByRole('button', { name: 'Actions for e2e' }).click();
    await page.getByRole('menuitem', { name: 'Rotate' }).click();
    await dialog.getByRole('button', { name: 'Rotate key' }).click();
    const rotated = (await page.getByTestId('new-api-key').textContent())!.trim();
    expect(rotated).toMatch(/^sk-cxp-/);
    expect(rotated).not.toBe(key);
    await shot(page, '10b-api-key-rotated');
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('cell', { name: `${rotated.slice(0, 19)}…` }).waitFor();
    const call = (bearer: string) =>
      fetch(`${gateway.url}/backend-api/codex/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        body: JSON.stringify({ model: 'gpt-5.4', instructions: 'be brief', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'again' }] }], stream: true }),
      }).then(async (r) => ({ status: r.status, body: await r.text() }));
    expect((await call(key)).status).toBe(401);
    expect(await call(rotated)).toMatchObject({ status: 200, body: expect.stringContaining('response.completed') });

    // Models and limits in the edit dialog: a requests-per-minute limit, then listed on the key's page.
    await page.getByRole('button', { name: 'Actions for e2e' }).click();
    await page.getByRole('menuitem', { name: 'Edit' }).click();
    await dialog.getByRole('group', { name: 'Models and limits' }).waitFor();
    await dialog.getByLabel('Requests per minute (all models)').fill('1000');
    await shot(page, '10c-api-key-models-and-limits');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('link', { name: 'e2e', exact: true }).click();
    await page.getByTestId('observatory-limits').getByRole('row').filter({ hasText: 'every model' }).filter({ hasText: '1,000' }).waitFor();

    await nav(page, 'Overview').click();
    await page.getByTestId('overview-requests-chart').locator('path.recharts-area-curve').first().waitFor();
    await page.getByRole('cell', { name: /e2e-account@example.com/ }).waitFor();
    await page.getByTestId('overview-cost').filter({ hasText: /\$0\.0\d*[1-9]/ }).waitFor();
    await page.getByTestId('overview-tokens-chart').locator('path.recharts-area-curve').first().waitFor();
    await shot(page, '11-overview');
    // Dark mode is one keyboard-reachable toggle away, and sticks across reloads.
    await page.getByRole('button', { name: 'Toggle dark mode' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('html').getAttribute('data-mantine-color-scheme')).toBe('dark');
    await page.reload();
    await page.getByTestId('overview-requests-chart').locator('path.recharts-area-curve').first().waitFor();
    await expect(page.locator('html').getAttribute('data-mantine-color-scheme')).resolves.toBe('dark');
    await shot(page, '11-overview-dark');
    await page.getByRole('button', { name: 'Toggle dark mode' }).click();

    await nav(page, 'Audit').click();
    await page.getByRole('cell', { name: 'api_key.create' }).waitFor();
    await page.getByRole('cell', { name: 'upstream_account.import' }).waitFor();
    await shot(page, '12-audit');
  }, 120_000);

  test('a pool-scoped admin sees only their pool', async () => {
    // A second pool the admin will not be assigned to.
    await nav(page, 'Pools').click();
    await page.getByRole('button', { name: 'Create pool' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('Other team');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('cell', { name: 'other-team' }).waitFor();
    const pools = (await page.evaluate(() => fetch('/api/admin/pools').then((r) => r.json()))) as { items: { id: string; slug: string }[] };
    const otherId = pools.items.find((p) => p.slug === 'other-team')!.id;

    await nav(page, 'Operators').click();
    await page.getByRole('button', { name: 'Add operator' }).click();
    await dialog.getByLabel('Email').fill(ADMIN.email);
    await pickOption(page, dialog.getByLabel(/^Pools/), 'E2E team');
    await page.keyboard.press('Escape');
    await dialog.getByRole('button', { name: 'Add', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    const temporary = (await page.getByTestId('temporary-password').textContent())!.trim();
    expect(temporary.length).toBeGreaterThan(8);
    await page.getByRole('cell', { name: ADMIN.email }).first().waitFor();
    await shot(page, '13-operators');

    const { context, page: admin } = await openPage(browser, { baseURL: gateway.url, viewport: VIEWPORT });
    try {
      await admin.goto('/admin/');
      await admin.getByRole('heading', { name: 'Sign in' }).waitFor();
      await admin.getByLabel('Email').fill(ADMIN.email);
      await admin.getByRole('textbox', { name: 'Password' }).fill(temporary);
      await admin.getByRole('button', { name: 'Sign in' }).click();
      // The temporary password must be changed first.
      await admin.getByText('Change your temporary password').waitFor();
      await admin.getByRole('textbox', { name: /^New password/ }).fill(ADMIN.password);
      await admin.getByRole('textbox', { name: 'Repeat new password' }).fill(ADMIN.password);
      await admin.getByRole('button', { name: 'Change password' }).click();
      await admin.getByText(/Password changed/).waitFor();
      await nav(admin, 'Pools').click();
      await admin.getByRole('cell', { name: 'e2e-team' }).waitFor();
      expect(await admin.getByRole('cell', { name: 'other-team' }).count()).toBe(0);
      await expect(admin.getByRole('button', { name: 'Create pool' }).count()).resolves.toBe(0);
      await expect(nav(admin, 'Operators').count()).resolves.toBe(0);
      await shot(admin, '14-pools-as-pool-admin');

      // The API refuses the other pool outright, and the lists never include it.
      const refused = await admin.evaluate(async (id) => {
        const response = await fetch(`/api/admin/accounts?pool_id=${id}`);
        return { status: response.status, body: (await response.json()) as { error: { code: string } } };
      }, otherId);
      expect(refused.status).toBe(403);
      expect(refused.body.error.code).toBe('capability_denied');
      const keys = (await admin.evaluate(() => fetch('/api/admin/api-keys').then((r) => r.json()))) as { items: { pool_id: string }[] };
      expect(keys.items.length).toBeGreaterThan(0);
      expect(keys.items.every((k) => k.pool_id === poolId)).toBe(true);
      await nav(admin, 'Request logs').click();
      await admin.getByTestId('request-log-table').waitFor();
    } finally {
      await context.close();
    }

    // Owner: rename the other pool, archive it, then delete it with its slug typed.
    await nav(page, 'Pools').click();
    await page.getByRole('button', { name: 'Actions for Other team' }).click();
    await page.getByRole('menuitem', { name: 'Rename' }).click();
    await dialog.getByLabel('Name').fill('Other crew');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'Other crew', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Actions for Other crew' }).click();
    await expect(page.getByRole('menuitem', { name: 'Delete…' }).isDisabled()).resolves.toBe(true);
    await page.getByRole('menuitem', { name: 'Archive' }).click();
    await page.getByRole('row').filter({ hasText: 'Other crew' }).getByText('archived').waitFor();
    await page.getByRole('button', { name: 'Actions for Other crew' }).click();
    await page.getByRole('menuitem', { name: 'Delete…' }).click();
    await expect(dialog.getByRole('button', { name: 'Delete pool' }).isDisabled()).resolves.toBe(true);
    await dialog.getByLabel(/Type the slug/).fill('other-team');
    await shot(page, '15-pool-delete');
    await dialog.getByRole('button', { name: 'Delete pool' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expect.poll(() => page.getByRole('cell', { name: 'other-team' }).count()).toBe(0);
  }, 120_000);
});
