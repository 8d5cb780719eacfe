/**
 * Signing ChatGPT accounts in from the admin UI, in a real browser (Debian's chromium through
 * playwright-core) against a real gateway on a scratch PostgreSQL database, with the fake upstream
 * as the OAuth issuer: the browser flow with a pasted callback address (and a wrong one), the
 * device code, re-authenticating an account whose refresh was rejected, and an invite accepted on
 * the public onboarding page. Only the UI is driven; the fake plays the account owner at ChatGPT.
 * The admin UI is served from web/dist (`npm run build`). Screenshots land in
 * test-results/screenshots/sign-in-*.png.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliActor } from '../../src/audit/index.ts';
import { createPool } from '../../src/pools/index.ts';
import { bootstrapOwnerClient, startAdminHarness, type AdminClient, type AdminHarness } from '../support/admin.ts';
import { ensureFreshBuild, launchChromium, nav, openPage, pickOption, requireChromium, screenshotFailures, screenshots } from '../support/browser.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { CODEX_CLIENT_ID } from '../support/fake-tokens.ts';

let upstream: FakeUpstream;
let harness: AdminHarness;
let owner: AdminClient;
let browser: Browser;
let page: Page;

const shot = screenshots('sign-in-');
const dialog = () => page.getByRole('dialog');
const accountRow = (email: string) => page.getByRole('row').filter({ hasText: email });

beforeAll(async () => {
  ensureFreshBuild();
  requireChromium();
  upstream = await startFakeUpstream();
  // Device codes poll every second, so the dialogs notice an approval quickly.
  upstream.setDeviceIntervalSec(1);
  harness = await startAdminHarness({ upstream, listen: true });
  owner = await bootstrapOwnerClient(harness);
  await createPool(harness.db, cliActor(), { name: 'Sign-in team' });

  browser = await launchChromium();
  // The owner's session from the API, so the page opens signed in.
  ({ page } = await openPage(browser, { baseURL: harness.url, cookie: owner.cookie! }));
}, 60_000);

screenshotFailures(() => page, shot);

afterAll(async () => {
  await browser?.close();
  await harness?.close();
  await upstream?.close();
});

describe('signing ChatGPT accounts in from the admin UI', () => {
  test('Sign in with ChatGPT: the authorize link, a wrong pasted address, then the right one', async () => {
    await upstream.addAccount({ accountId: 'acct-browser', email: 'browser-flow@example.com' });
    await page.goto('/admin/accounts');
    await page.getByText('No accounts here yet').waitFor();

    // The dialog opens from the keyboard.
    await page.getByRole('button', { name: 'Sign in with ChatGPT' }).focus();
    await page.keyboard.press('Enter');
    await dialog().getByRole('heading', { name: 'Sign in with ChatGPT' }).waitFor();
    await expect(dialog().getByRole('button', { name: 'Get sign-in link' }).isDisabled()).resolves.toBe(true);
    await pickOption(page, dialog().getByLabel(/^Pool/), 'Sign-in team');
    await dialog().getByRole('button', { name: 'Get sign-in link' }).focus();
    await page.keyboard.press('Enter');

    const link = dialog().getByRole('link', { name: 'Open ChatGPT sign-in' });
    const authorizeUrl = new URL((await link.getAttribute('href'))!);
    expect(authorizeUrl.origin).toBe(upstream.url);
    expect(authorizeUrl.pathname).toBe('/oauth/authorize');
    expect(Object.fromEntries(authorizeUrl.searchParams)).toMatchObject({
      response_type: 'code',
      client_id: CODEX_CLIENT_ID,
      redirect_uri: 'http://localhost:1455/auth/callback',
      code_challenge_method: 'S256',
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      state: expect.stringMatching(/.{16,}/),
    });
    await shot(page, '01-browser-link');

    // A callback address from another sign-in is refused with a clear reason; that link is used up.
    const callback = dialog().getByLabel('Callback address');
    await callback.fill('http://localhost:1455/auth/callback?code=ac_forged&state=from-another-sign-in');
    await callback.press('Enter');
    await dialog().getByRole('alert').filter({ hasText: 'state does not match' }).filter({ hasText: 'get a new one' }).waitFor();
    await shot(page, '02-browser-wrong-callback');
    expect(await owner.get('/accounts').then((r) => r.body.items)).toHaveLength(0);

    // A new link, approved at the issuer; the localhost address the browser ends on is pasted back.
    await dialog().getByRole('button', { name: 'Get sign-in link' }).click();
    const freshUrl = (await dialog().getByRole('link', { name: 'Open ChatGPT sign-in' }).getAttribute('href'))!;
    expect(new URL(freshUrl).searchParams.get('state')).not.toBe(authorizeUrl.searchParams.get('state'));
    await dialog().getByRole('alert').waitFor({ state: 'detached' });
    const pasted = upstream.approveAuthorization(freshUrl, 'acct-browser');
    expect(pasted).toMatch(/^http:\/\/localhost:1455\/auth\/callback\?code=/);
    await callback.fill(pasted);
    await callback.press('Enter');
    await dialog().getByRole('status').filter({ hasText: 'Linked browser-flow@example.com (active).' }).waitFor();
    await shot(page, '03-browser-linked');
    await dialog().getByRole('button', { name: 'Close' }).first().click();
    await dialog().waitFor({ state: 'detached' });
    await accountRow('browser-flow@example.com').getByText('active', { exact: true }).waitFor();
  }, 30_000);

  test('Device code: a denied code says so, a new code is approved and the dialog notices', async () => {
    await upstream.addAccount({ accountId: 'acct-device', email: 'device-flow@example.com' });
    await page.goto('/admin/accounts');
    await page.getByRole('button', { name: 'Device code', exact: true }).click();
    await dialog().getByRole('heading', { name: 'Sign in with a device code' }).waitFor();
    await pickOption(page, dialog().getByLabel(/^Pool/), 'Sign-in team');
    await dialog().getByRole('button', { name: 'Get a code' }).click();
    const code = dialog().getByLabel('Device code');
    const denied = (await code.textContent())!.trim();
    expect(upstream.deviceCodeList().map((d) => d.userCode)).toContain(denied);
    await dialog().getByText('Waiting for approval…', { exact: false }).waitFor();
    upstream.denyDevice(denied);
    await dialog().getByRole('alert').filter({ hasText: 'denied' }).filter({ hasText: 'Get a new code' }).waitFor();
    await shot(page, '04a-device-denied');

    await dialog().getByRole('button', { name: 'Get a code' }).click();
    await expect.poll(async () => (await code.textContent())?.trim()).not.toBe(denied);
    const userCode = (await code.textContent())!.trim();
    await shot(page, '04-device-code');
    upstream.approveDevice(userCode, 'acct-device');
    await dialog().getByRole('status').filter({ hasText: 'Linked device-flow@example.com (active).' }).waitFor();
    await shot(page, '05-device-linked');
    await dialog().getByRole('button', { name: 'Done' }).click();
    await dialog().waitFor({ state: 'detached' });
    await accountRow('device-flow@example.com').getByText('active', { exact: true }).waitFor();
  }, 30_000);

  test('Re-authenticate brings an account whose refresh was rejected back to active', async () => {
    // The issuer revokes the refresh token; the next refresh marks the account reauth_required.
    const listed = (await owner.get('/accounts')).body.items as { identity_id: string; email: string }[];
    const account = listed.find((a) => a.email === 'browser-flow@example.com')!;
    upstream.revokeRefreshToken('acct-browser');
    expect(await harness.services.credentials.refresh(account.identity_id, { trigger: 'test' })).toMatchObject({ status: 'reauth_required' });

    await page.reload();
    const row = accountRow('browser-flow@example.com');
    await row.getByText('reauth required').waitFor();
    await shot(page, '06-reauth-required');
    await row.getByRole('button', { name: 'Re-authenticate', exact: true }).click();
    await dialog().getByRole('heading', { name: 'Re-authenticate with ChatGPT' }).waitFor();
    await dialog().getByText('browser-flow@example.com').waitFor();
    await dialog().getByRole('button', { name: 'Get sign-in link' }).click();
    const authorizeUrl = (await dialog().getByRole('link', { name: 'Open ChatGPT sign-in' }).getAttribute('href'))!;
    await dialog().getByLabel('Callback address').fill(upstream.approveAuthorization(authorizeUrl, 'acct-browser'));
    await shot(page, '07-reauth-dialog');
    await dialog().getByRole('button', { name: 'Finish sign-in' }).click();
    await dialog().getByRole('status').filter({ hasText: 'Re-authenticated browser-flow@example.com (active).' }).waitFor();
    await page.keyboard.press('Escape');
    await dialog().waitFor({ state: 'detached' });
    await row.getByText('active', { exact: true }).waitFor();
    expect(await row.getByText('reauth required').count()).toBe(0);
    // Still one account for that ChatGPT account, not a second one.
    expect((await owner.get('/accounts')).body.items.filter((a: { email: string }) => a.email === 'browser-flow@example.com')).toHaveLength(1);
  }, 30_000);

  test('an invite is accepted on the public page; another is revoked', async () => {
    await upstream.addAccount({ accountId: 'acct-invitee', email: 'invitee@example.com' });
    await upstream.addAccount({ accountId: 'acct-stranger', email: 'stranger@example.com' });
    await page.goto('/admin/accounts');
    await nav(page, 'Invites').click();
    await page.getByText('No invites', { exact: true }).waitFor();
    const invite = async (email: string) => {
      await page.getByRole('button', { name: 'Create invite' }).first().click();
      await pickOption(page, dialog().getByLabel(/^Pool/), 'Sign-in team');
      await dialog().getByLabel('Email').fill(email);
      await dialog().getByLabel('Email').press('Enter');
      await dialog().getByText(`Send this link to ${email}; it is shown only once.`).waitFor();
      const url = (await dialog().locator('pre').textContent())!.trim();
      expect(url).toMatch(/\/onboarding\/invites\/[A-Za-z0-9_-]{43}$/);
      return url;
    };
    const url = await invite('invitee@example.com');
    await shot(page, '08-invite-created');
    await dialog().getByRole('button', { name: 'Done' }).click();
    await dialog().waitFor({ state: 'detached' });
    // Shown once: the list never carries the link.
    await page.getByRole('row').filter({ hasText: 'invitee@example.com' }).getByText('active', { exact: true }).waitFor();
    expect(await page.content()).not.toContain(new URL(url).pathname);

    // The account owner opens the link in their own browser: no admin session.
    const publicContext = await browser.newContext({ baseURL: harness.url, viewport: { width: 900, height: 800 } });
    try {
      const onboarding = await publicContext.newPage();
      onboarding.setDefaultTimeout(15_000);
      const response = await onboarding.goto(new URL(url).pathname);
      expect(response!.status()).toBe(200);
      await onboarding.getByRole('heading', { name: 'Join a Codex Pooler pool' }).waitFor();
      await onboarding.getByText('invitee@example.com').waitFor();
      await onboarding.getByText('Sign-in team').waitFor();
      await shot(onboarding, '09-onboarding');
      const start = onboarding.getByRole('button', { name: 'Sign in with a device code' });
      const code = onboarding.locator('#code');
      const status = onboarding.getByRole('status');
      // Approved with a ChatGPT account of another email: refused, and a new code can be started.
      await start.click();
      await status.filter({ hasText: 'Waiting for you to approve the code' }).waitFor();
      upstream.approveDevice((await code.textContent())!.trim(), 'acct-stranger');
      await status.filter({ hasText: 'sign in with invitee@example.com; this ChatGPT account uses another email. Start again' }).waitFor();
      await code.waitFor({ state: 'hidden' });
      await shot(onboarding, '09b-onboarding-wrong-account');

      // From the keyboard this time.
      await start.focus();
      await onboarding.keyboard.press('Enter');
      await code.waitFor({ state: 'visible' });
      await status.filter({ hasText: 'Waiting for you to approve the code' }).waitFor();
      await shot(onboarding, '10-onboarding-code');
      upstream.approveDevice((await code.textContent())!.trim(), 'acct-invitee');
      await status.filter({ hasText: 'Done: invitee@example.com joined the pool.' }).waitFor();
      await code.waitFor({ state: 'hidden' });
      await start.waitFor({ state: 'hidden' });
      await shot(onboarding, '11-onboarding-done');
      // The link works once.
      const again = await onboarding.goto(new URL(url).pathname);
      expect(again!.status()).toBe(410);
      await onboarding.getByRole('heading', { name: 'Invite already used' }).waitFor();
    } finally {
      await publicContext.close();
    }

    await page.reload();
    await page.getByRole('row').filter({ hasText: 'invitee@example.com' }).getByText('accepted', { exact: true }).waitFor();

    // Another invite, revoked from its row (after the confirmation).
    const revokedUrl = await invite('not-coming@example.com');
    await dialog().getByRole('button', { name: 'Done' }).click();
    await dialog().waitFor({ state: 'detached' });
    const revokedRow = page.getByRole('row').filter({ hasText: 'not-coming@example.com' });
    page.once('dialog', (confirm) => {
      expect(confirm.message()).toBe('Revoke the invite for not-coming@example.com?');
      void confirm.accept();
    });
    await revokedRow.getByRole('button', { name: 'Revoke' }).click();
    await revokedRow.getByText('revoked', { exact: true }).waitFor();
    await expect(revokedRow.getByRole('button', { name: 'Revoke' }).count()).resolves.toBe(0);
    await shot(page, '12-invites');
    expect((await fetch(`${harness.url}${new URL(revokedUrl).pathname}`)).status).toBe(404);

    await nav(page, 'Accounts').click();
    await accountRow('invitee@example.com').getByText('active', { exact: true }).waitFor();
    await shot(page, '13-accounts');
  }, 30_000);
});
