/**
 * The per-key Observatory page in a real browser (Debian's chromium through playwright-core)
 * against a real gateway on a scratch PostgreSQL database and the fake ChatGPT upstream: a key
 * sends requests through the gateway, then its deep link /admin/api-keys/<id> shows the same
 * request count, cost and limits as the admin API. The UI is built into a temporary directory
 * (never the shared web/dist) and served to the browser by request interception.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { setKeyLimits } from '../../src/accounting/index.ts';
import { mintApiKey } from '../../src/api-keys/index.ts';
import { cliActor } from '../../src/audit/index.ts';
import { createPool } from '../../src/pools/index.ts';
import { migrateAndImportPricing } from '../../src/runtime/migrate.ts';
import { importAuthJson } from '../../src/upstreams/index.ts';
import { bootstrapOwnerClient, startAdminHarness, type AdminClient, type AdminHarness } from '../support/admin.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json' };

let dist = '';
let upstream: FakeUpstream;
let harness: AdminHarness;
let owner: AdminClient;
let browser: Browser;
let page: Page;
let keyId = '';

/** Same rule as the UI's formatUsd: sub-cent amounts keep six digits. */
const usd = (value: number) => `$${value.toFixed(value !== 0 && Math.abs(value) < 0.01 ? 6 : 2)}`;

async function send(key: string, text: string): Promise<number> {
  const response = await fetch(`${harness.url}/backend-api/codex/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text }] }], stream: true }),
  });
  await response.text();
  return response.status;
}

async function settled(id: string, count: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await harness.services.requestLog.flush();
    const rows = await harness.db.selectFrom('requests').select('id').where('api_key_id', '=', id).where('status', '=', 'succeeded').execute();
    if (rows.length >= count) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('requests were not recorded');
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: apt-get install chromium (or run .ci/run)`);
  dist = await mkdtemp(join(tmpdir(), 'key-observatory-ui-'));
  const { build } = await import('vite');
  await build({ configFile: join(import.meta.dirname, '..', '..', 'web', 'vite.config.ts'), logLevel: 'silent', build: { outDir: dist, emptyOutDir: true } });

  upstream = await startFakeUpstream();
  harness = await startAdminHarness({ upstream, listen: true });
  await migrateAndImportPricing(harness.db, pino({ level: 'silent' }));
  owner = await bootstrapOwnerClient(harness);
  const pool = await createPool(harness.db, cliActor(), { name: 'observed' });
  const account = await upstream.addAccount({ accountId: 'acct-observed', email: 'observed@example.com' });
  await importAuthJson(harness.services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(account.authJson) });
  const minted = await mintApiKey({ db: harness.db, notifier: harness.services.notifier }, cliActor(), { pool: pool.slug, label: 'ci-runner' });
  keyId = minted.apiKey.id;
  await setKeyLimits({ db: harness.db, notifier: harness.services.notifier }, cliActor(), minted.apiKey.prefix, { max_requests_per_minute: 10, max_tokens_per_day: 100_000 });
  for (const text of ['first question', 'a second question']) expect(await send(minted.key, text)).toBe(200);
  await settled(keyId, 2);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const context = await browser.newContext({ baseURL: harness.url, viewport: { width: 1366, height: 900 } });
  // The owner's session from the API, so the page opens signed in.
  const [name, ...value] = owner.cookie!.split('=');
  await context.addCookies([{ name: name!, value: value.join('='), url: harness.url }]);
  // The SPA from the temporary build; /api/admin still goes to the gateway.
  await context.route(
    (url) => url.pathname.startsWith('/admin/'),
    async (route) => {
      const path = new URL(route.request().url()).pathname.slice('/admin/'.length);
      const file = normalize(join(dist, path));
      const asset = path.startsWith('assets/') && file.startsWith(dist) && existsSync(file);
      await route.fulfill({ status: 200, contentType: asset ? (TYPES[extname(file)] ?? 'application/octet-stream') : 'text/html', body: await readFile(asset ? file : join(dist, 'index.html')) });
    },
  );
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await harness?.close();
  await upstream?.close();
  if (dist) await rm(dist, { recursive: true, force: true });
});

describe('per-key Observatory page', () => {
  test('a deep link shows the key, its request count, cost, limits and recent requests as the API reports them', async () => {
    const api = await owner.get(`/api-keys/${keyId}/observatory?window=1h`);
    expect(api.status, api.raw).toBe(200);
    expect(api.body.totals.requests).toBe(2);
    expect(api.body.totals.cost_usd).toBeGreaterThan(0);

    await page.goto(`/admin/api-keys/${keyId}?window=1h`);
    await page.getByRole('heading', { name: 'ci-runner' }).waitFor();
    await expect.poll(() => page.getByTestId('observatory-requests-value').textContent(), { timeout: 15_000 }).toBe('2');
    expect(await page.getByTestId('observatory-cost-value').textContent()).toBe(usd(api.body.totals.cost_usd));
    expect(await page.getByTestId('observatory-success-value').textContent()).toBe('100%');
    await page.getByTestId('observatory-requests-chart').locator('.recharts-surface').first().waitFor();
    expect(await page.getByTestId('observatory-models').textContent()).toContain('gpt-5.4');

    const limits = page.getByTestId('observatory-limits');
    await expect.poll(() => limits.getByRole('row').count(), { timeout: 15_000 }).toBe(3);
    expect(await limits.textContent()).toContain('Requests per minute');
    expect(await limits.textContent()).toContain('100,000');
    expect(await page.getByTestId('observatory-recent').locator('tbody tr').count()).toBe(2);

    // The window is part of the URL, so the view can be linked.
    await page.getByTestId('observatory-window').getByText('7d', { exact: true }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('window'), { timeout: 15_000 }).toBe('7d');
    await page.getByTestId('observatory-key').getByText('last 7 days', { exact: false }).waitFor();
    expect(await page.getByTestId('observatory-requests-value').textContent()).toBe('2');
  });

  test('an unknown key explains itself instead of showing an empty page', async () => {
    await page.goto('/admin/api-keys/00000000-0000-4000-8000-000000000000');
    await page.getByText('This API key does not exist').waitFor();
    await page.getByRole('link', { name: '← All API keys' }).first().waitFor();
  });
});
