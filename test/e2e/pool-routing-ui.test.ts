/**
 * The Pools page's Routing dialog in a real browser (Debian's chromium through playwright-core)
 * against a real gateway on a scratch PostgreSQL database: an owner changes the strategy, the ring
 * size and a switch (by keyboard), saves, and the stored settings and the reopened dialog agree.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import pino from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { cliActor } from '../../src/audit/index.ts';
import { openDatabase } from '../../src/db/index.ts';
import { ADMIN_UI_DIST } from '../../src/http/admin-ui.ts';
import { createPool } from '../../src/pools/index.ts';
import { migrateAndImportPricing } from '../../src/runtime/migrate.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let scratch: ScratchDatabase;
let upstream: FakeUpstream;
let gateway: TestGateway;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  ensureFreshBuild();
  if (!existsSync(CHROMIUM)) throw new Error(`chromium not found at ${CHROMIUM}: apt-get install chromium (or run .ci/run)`);
  scratch = await createScratchDatabase('e2e_routing');
  const handle = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 2, ipv6: false }, { onError: () => {} });
  try {
    await migrateAndImportPricing(handle.db, pino({ level: 'silent' }));
  } finally {
    await handle.close();
  }
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: scratch.url, upstream });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  const context = await browser.newContext({ baseURL: gateway.url, viewport: { width: 1366, height: 850 } });
  // The owner is bootstrapped through the API; the browser context keeps the session cookie.
  const bootstrapped = await context.request.post('/api/admin/bootstrap', { data: { email: 'owner@example.com', password: 'owner password 1234', display_name: 'Owner' } });
  expect(bootstrapped.status()).toBe(201);
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  await upstream?.close();
  await scratch?.drop();
});

test('an owner changes a pool\'s routing from the Pools page', async () => {
  const pool = await createPool(gateway.services.db, cliActor(), { name: 'Routing team' });
  await page.goto('/admin/pools');
  await page.getByRole('button', { name: 'Actions for Routing team' }).click();
  await page.getByRole('menuitem', { name: 'Routing…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Routing of Routing team' });
  await dialog.waitFor();
  await expect.poll(() => dialog.getByLabel('Strategy', { exact: true }).inputValue()).toBe('Bridge ring');
  await dialog.getByText('Spreads requests evenly; a session keeps its account (default).').waitFor();

  await dialog.getByLabel('Strategy', { exact: true }).click();
  await page.getByRole('option', { name: /^Quota first/ }).click();
  await dialog.getByText('Prefers the account with the most quota left.').waitFor();
  await dialog.getByLabel('Ring size', { exact: true }).fill('5');
  // Switches are reachable and toggled by keyboard.
  const v1 = dialog.getByRole('switch', { name: 'OpenAI /v1 compatibility' });
  expect(await v1.isChecked()).toBe(true);
  await v1.focus();
  await page.keyboard.press('Space');
  expect(await v1.isChecked()).toBe(false);
  expect(await dialog.getByRole('switch', { name: 'Request compression' }).isDisabled()).toBe(true);
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.waitFor({ state: 'hidden' });

  const row = await gateway.services.db.selectFrom('pool_routing_settings').selectAll().where('pool_id', '=', pool.id).executeTakeFirstOrThrow();
  expect(row).toMatchObject({ routing_strategy: 'quota_first', bridge_ring_size: 5, v1_compatibility_enabled: false, allow_image_generation: true });

  await page.getByRole('button', { name: 'Actions for Routing team' }).click();
  await page.getByRole('menuitem', { name: 'Routing…' }).click();
  await dialog.waitFor();
  await expect.poll(() => dialog.getByLabel('Strategy', { exact: true }).inputValue()).toBe('Quota first');
  expect(await dialog.getByLabel('Ring size', { exact: true }).inputValue()).toBe('5');
  expect(await dialog.getByRole('switch', { name: 'OpenAI /v1 compatibility' }).isChecked()).toBe(false);
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
});

/** Builds web/dist when any web source is newer than it (as test/e2e/admin-ui.test.ts does). */
function ensureFreshBuild() {
  const web = join(import.meta.dirname, '..', '..', 'web');
  const index = join(ADMIN_UI_DIST, 'index.html');
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((entry) => (entry.isDirectory() ? newest(join(dir, entry.name)) : statSync(join(dir, entry.name)).mtimeMs)));
  const sources = Math.max(newest(join(web, 'src')), statSync(join(web, 'index.html')).mtimeMs, statSync(join(web, 'vite.config.ts')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  execFileSync(process.execPath, [join(web, 'build.ts')], { stdio: 'inherit' });
  if (!existsSync(index)) throw new Error('web/dist is missing after the build: run npm install');
}
