/**
 * The Pools page's Routing dialog in a real browser (Debian's chromium through playwright-core)
 * against a real gateway on a scratch PostgreSQL database: an owner changes the strategy, the ring
 * size and a switch (by keyboard), saves, and the stored settings and the reopened dialog agree.
 */
import type { Browser, Page } from 'playwright-core';
import pino from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { cliActor } from '../../src/audit/index.ts';
import { openDatabase } from '../../src/db/index.ts';
import { createPool } from '../../src/pools/index.ts';
import { migrateAndImportPricing } from '../../src/runtime/migrate.ts';
import { ensureFreshBuild, launchChromium, openPage, requireChromium, screenshots } from '../support/browser.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';

const shot = screenshots('routing-');

let scratch: ScratchDatabase;
let upstream: FakeUpstream;
let gateway: TestGateway;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  ensureFreshBuild();
  requireChromium();
  scratch = await createScratchDatabase('e2e_routing');
  const handle = await openDatabase({ kind: 'postgres', url: scratch.url, poolSize: 2, ipv6: false }, { onError: () => {} });
  try {
    await migrateAndImportPricing(handle.db, pino({ level: 'silent' }));
  } finally {
    await handle.close();
  }
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: scratch.url, upstream });
  browser = await launchChromium();
  const opened = await openPage(browser, { baseURL: gateway.url, viewport: { width: 1366, height: 850 } });
  // The owner is bootstrapped through the API; the browser context keeps the session cookie.
  const bootstrapped = await opened.context.request.post('/api/admin/bootstrap', { data: { email: 'owner@example.com', password: 'owner password 1234', display_name: 'Owner' } });
  expect(bootstrapped.status()).toBe(201);
  page = opened.page;
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
  await shot(page, 'dialog');
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
