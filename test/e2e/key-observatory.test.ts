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
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bootstrapOwnerClient, startAdminHarness, type AdminClient, type AdminHarness } from '../support/admin.ts';
import { launchChromium, openPage, requireChromium } from '../support/browser.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedObservedKey } from '../support/observatory.ts';

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

beforeAll(async () => {
  requireChromium();
  dist = await mkdtemp(join(tmpdir(), 'key-observatory-ui-'));
  const { build } = await import('vite');
  await build({ configFile: join(import.meta.dirname, '..', '..', 'web', 'vite.config.ts'), logLevel: 'silent', build: { outDir: dist, emptyOutDir: true } });

  upstream = await startFakeUpstream();
  harness = await startAdminHarness({ upstream, listen: true });
  owner = await bootstrapOwnerClient(harness);
  const observed = await seedObservedKey(harness, upstream, {
    pool: 'observed',
    accountId: 'acct-observed',
    accountEmail: 'observed@example.com',
    label: 'ci-runner',
    questions: ['first question', 'a second question'],
  });
  keyId = observed.keyId;

  browser = await launchChromium();
  // The owner's session from the API, so the page opens signed in.
  const opened = await openPage(browser, { baseURL: harness.url, cookie: owner.cookie! });
  page = opened.page;
  // The SPA from the temporary build; /api/admin still goes to the gateway.
  await opened.context.route(
    (url) => url.pathname.startsWith('/admin/'),
    async (route) => {
      const path = new URL(route.request().url()).pathname.slice('/admin/'.length);
      const file = normalize(join(dist, path));
      const asset = path.startsWith('assets/') && file.startsWith(dist) && existsSync(file);
      await route.fulfill({ status: 200, contentType: asset ? (TYPES[extname(file)] ?? 'application/octet-stream') : 'text/html', body: await readFile(asset ? file : join(dist, 'index.html')) });
    },
  );
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
