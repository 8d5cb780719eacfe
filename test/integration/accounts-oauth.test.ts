import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliActor } from '../../src/audit/index.ts';
import { mintApiKey } from '../../src/api-keys/index.ts';
import { runOperatorCommand } from '../../src/cli/operator.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { AdminClient, bootstrapOwnerClient, startAdminHarness, type AdminHarness } from '../support/admin.ts';

let upstream: FakeUpstream;
let harness: AdminHarness;
let owner: AdminClient;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  harness = await startAdminHarness({ upstream, listen: true });
  owner = await bootstrapOwnerClient(harness);
});
afterAll(async () => {
  await harness?.close();
  await upstream?.close();
});

const suffix = () => randomBytes(4).toString('hex');
async function newPool(): Promise<{ id: string; slug: string }> {
  const created = await owner.post('/pools', { name: `oauth ${suffix()}` });
  expect(created.status).toBe(201);
  return created.body.pool;
}
async function newUpstreamAccount(email?: string) {
  const accountId = `acct-${suffix()}`;
  await upstream.addAccount({ accountId, email: email ?? `${accountId}@example.com`, planType: 'pro' });
  return accountId;
}
const flowRow = (id: string) => harness.db.selectFrom('upstream_oauth_flows').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
/** The poll gate (`poll_after_at`) is the interval the issuer asked for; tests move it instead of waiting. */
const allowPoll = (id: string) => harness.db.updateTable('upstream_oauth_flows').set({ poll_after_at: new Date(Date.now() - 1000) }).where('id', '=', id).execute();

async function sendThroughGateway(poolSlug: string) {
  const { key } = await mintApiKey({ db: harness.db, notifier: harness.services.notifier }, cliActor(), { pool: poolSlug, label: 'oauth-test' });
  const response = await fetch(`${harness.url}/backend-api/codex/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true }),
  });
  return { status: response.status, text: await response.text() };
}

describe('browser sign-in (PKCE)', () => {
  test('start URL, paste the callback, the account is active and serves a request', async () => {
    const pool = await newPool();
    const accountId = await newUpstreamAccount();
    const start = await owner.post('/accounts/oauth/browser', { pool_id: pool.id });
    expect(start.status).toBe(201);
    const url = new URL(start.body.authorize_url);
    // Acceptance 36 (the issuer is the fake upstream here).
    expect(url.origin).toBe(upstream.url);
    expect(url.pathname).toBe('/oauth/authorize');
    expect(url.searchParams.get('client_id')).toBe('app_EMoamEEZ73f0CkXaXp7hrann');
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('redirect_uri')).toBe('http://localhost:1455/auth/callback');
    const row = await flowRow(start.body.flow.id);
    expect(row.state_token_hash).toHaveLength(32);
    expect(JSON.stringify(row)).not.toContain(url.searchParams.get('state')!);
    expect(row.code_verifier_ciphertext).not.toContain(url.searchParams.get('code_challenge')!);

    const callback = upstream.approveAuthorization(start.body.authorize_url, accountId);
    const done = await owner.post('/accounts/oauth/browser/complete', { flow_id: start.body.flow.id, callback_url: callback });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ created: true, flow: { status: 'completed' }, account: { state: 'active', email: `${accountId}@example.com`, pool_id: pool.id } });
    expect(upstream.requestsTo('/oauth/token').at(-1)!.body).toMatchObject({ grant_type: 'authorization_code', redirect_uri: 'http://localhost:1455/auth/callback', client_id: 'app_EMoamEEZ73f0CkXaXp7hrann' });
    const identity = await harness.db.selectFrom('upstream_identities').selectAll().where('id', '=', done.body.account.identity_id).executeTakeFirstOrThrow();
    expect(identity).toMatchObject({ status: 'active', onboarding_method: 'browser', credential_provenance: 'codex_chatgpt_oauth' });
    const audit = await harness.db.selectFrom('audit_events').select(['action', 'outcome']).where('target_id', '=', done.body.account.id).execute();
    expect(audit).toContainEqual({ action: 'upstream_account.oauth_browser_link', outcome: 'success' });

    const served = await sendThroughGateway(pool.slug);
    expect(served.status).toBe(200);
    expect(upstream.requestsTo('/backend-api/codex/responses').at(-1)!.accountId).toBe(accountId);
    // Nothing secret left the server or reached the logs.
    for (const text of [...owner.seen, ...harness.logs]) expect(text).not.toContain(upstream.refreshTokenOf(accountId));

    const again = await owner.post('/accounts/oauth/browser/complete', { flow_id: start.body.flow.id, callback_url: callback });
    expect(again.body.error.code).toBe('flow_not_pending');
  });

  test.each([
    ['port 1456', (cb: string) => cb.replace(':1455', ':1456'), 'invalid_callback_origin', 400],
    ['a different state', (cb: string) => cb.replace(/state=[^&]+/, 'state=someone-elses-state'), 'invalid_state', 400],
    ['two code params', (cb: string) => `${cb}&code=another`, 'duplicate_callback_param', 400],
    ['a provider error', (cb: string) => cb.replace(/code=[^&]+/, 'error=access_denied'), 'provider_denied', 400],
  ])('a callback with %s is %s and fails the flow, storing nothing', async (_name, mangle, code, status) => {
    const pool = await newPool();
    const accountId = await newUpstreamAccount();
    const start = await owner.post('/accounts/oauth/browser', { pool_id: pool.id });
    const callback = mangle(upstream.approveAuthorization(start.body.authorize_url, accountId));
    const done = await owner.post('/accounts/oauth/browser/complete', { flow_id: start.body.flow.id, callback_url: callback });
    expect(done.status).toBe(status);
    expect(done.body.error.code).toBe(code);
    expect(await flowRow(start.body.flow.id)).toMatchObject({ status: 'failed', error_code: code });
    expect((await owner.get(`/accounts?pool_id=${pool.id}`)).body.items).toHaveLength(0);
  });

  test('completing after 600 s is expired_flow', async () => {
    const pool = await newPool();
    const accountId = await newUpstreamAccount();
    const start = await owner.post('/accounts/oauth/browser', { pool_id: pool.id });
    expect(new Date(start.body.flow.expires_at).getTime() - Date.now()).toBeGreaterThan(590_000);
    await harness.db.updateTable('upstream_oauth_flows').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', start.body.flow.id).execute();
    const done = await owner.post('/accounts/oauth/browser/complete', { flow_id: start.body.flow.id, callback_url: upstream.approveAuthorization(start.body.authorize_url, accountId) });
    expect(done.body.error.code).toBe('expired_flow');
    expect((await flowRow(start.body.flow.id)).status).toBe('expired');
  });

  test('a second flow for the same pool and purpose cancels the first with stale_flow', async () => {
    const pool = await newPool();
    const accountId = await newUpstreamAccount();
    const first = await owner.post('/accounts/oauth/browser', { pool_id: pool.id });
    const second = await owner.post('/accounts/oauth/device', { pool_id: pool.id });
    expect(second.status).toBe(201);
    expect(await flowRow(first.body.flow.id)).toMatchObject({ status: 'cancelled', error_code: 'stale_flow' });
    const late = await owner.post('/accounts/oauth/browser/complete', { flow_id: first.body.flow.id, callback_url: upstream.approveAuthorization(first.body.authorize_url, accountId) });
    expect(late.body.error.code).toBe('stale_flow');
  });

  test('bad input is a 400 naming the field; an admin without the pool is refused', async () => {
    const missing = await owner.post('/accounts/oauth/browser/complete', { flow_id: 'nope', callback_url: 'x' });
    expect(missing.body.error).toMatchObject({ code: 'invalid_request', param: 'flow_id' });
    const pool = await newPool();
    const admin = new AdminClient(harness.app);
    const email = `admin-${suffix()}@example.com`;
    const created = await owner.post('/operators', { email, role: 'instance_admin', display_name: 'Admin' });
    expect(created.status).toBe(201);
    await admin.login(email, created.body.temporary_password);
    await admin.post('/me/password', { new_password: 'admin password 1234' });
    const denied = await admin.post('/accounts/oauth/browser', { pool_id: pool.id });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('capability_denied');
    expect(await harness.db.selectFrom('upstream_oauth_flows').select('id').where('pool_id', '=', pool.id).execute()).toHaveLength(0);
  });
});

describe('device code sign-in', () => {
  test('pending → slow_down → approved links the account', async () => {
    const pool = await newPool();
    const accountId = await newUpstreamAccount();
    const start = await owner.post('/accounts/oauth/device', { pool_id: pool.id });
    expect(start.status).toBe(201);
    const flow = start.body.flow;
    expect(flow).toMatchObject({ kind: 'device', status: 'pending', interval_seconds: 5, verification_url: `${upstream.url}/codex/device` });
    expect(flow.user_code).toMatch(/^[0-9A-F]{4}-[0-9A-F]{6}$/);
    const poll = () => owner.post(`/accounts/oauth/device/${flow.id}/poll`);

    expect((await poll()).body).toMatchObject({ status: 'pending', flow: { interval_seconds: 5 } });
    const pollsBefore = upstream.requestsTo('/deviceauth/token').length;
    expect((await poll()).body.status).toBe('pending'); // too early: the issuer is not asked
    expect(upstream.requestsTo('/deviceauth/token').length).toBe(pollsBefore);

    upstream.slowDownDevice(flow.user_code);
    await allowPoll(flow.id);
    expect((await poll()).body).toMatchObject({ status: 'pending', flow: { interval_seconds: 10 } });

    upstream.approveDevice(flow.user_code, accountId);
    await allowPoll(flow.id);
    const done = await poll();
    expect(done.body).toMatchObject({ status: 'completed', created: true, account: { state: 'active', email: `${accountId}@example.com` } });
    expect(upstream.requestsTo('/oauth/token').at(-1)!.body).toMatchObject({ grant_type: 'authorization_code', redirect_uri: `${upstream.url}/deviceauth/callback` });
    const audit = await harness.db.selectFrom('audit_events').select('action').where('target_id', '=', done.body.account.id).execute();
    expect(audit.map((a) => a.action)).toContain('upstream_account.oauth_device_link');
  });

  test.each([
    ['denied', (code: string) => upstream.denyDevice(code), 'provider_denied', 'failed'],
    ['expired', (code: string) => upstream.expireDevice(code), 'expired_flow', 'expired'],
  ])('a %s code ends the flow with %s', async (_name, act, code, status) => {
    const pool = await newPool();
    const start = await owner.post('/accounts/oauth/device', { pool_id: pool.id });
    act(start.body.flow.user_code);
    const polled = await owner.post(`/accounts/oauth/device/${start.body.flow.id}/poll`);
    expect(polled.body.error.code).toBe(code);
    expect((await flowRow(start.body.flow.id)).status).toBe(status);
    expect((await owner.get(`/accounts?pool_id=${pool.id}`)).body.items).toHaveLength(0);
  });
});

describe('re-authenticate', () => {
  async function reauthRequiredAccount() {
    const pool = await newPool();
    const accountId = await newUpstreamAccount();
    const start = await owner.post('/accounts/oauth/browser', { pool_id: pool.id });
    const linked = await owner.post('/accounts/oauth/browser/complete', { flow_id: start.body.flow.id, callback_url: upstream.approveAuthorization(start.body.authorize_url, accountId) });
    const account = linked.body.account;
    // What a rejected refresh leaves behind (spec §5.5).
    await harness.db.updateTable('upstream_identities').set({ status: 'reauth_required', disabled_at: new Date() }).where('id', '=', account.identity_id).execute();
    await harness.db.updateTable('pool_upstream_assignments').set({ status: 'reauth_required', health_status: 'disabled', eligibility_status: 'ineligible' }).where('id', '=', account.id).execute();
    return { pool, accountId, account };
  }

  test('signing the same account in brings a reauth_required account back to active', async () => {
    const { pool, accountId, account } = await reauthRequiredAccount();
    expect((await owner.get(`/accounts/${account.id}`)).body.account.state).toBe('reauth_required');
    const epoch = (await harness.db.selectFrom('upstream_identities').select('credential_epoch').where('id', '=', account.identity_id).executeTakeFirstOrThrow()).credential_epoch;
    const start = await owner.post(`/accounts/${account.id}/oauth/browser`);
    expect(start.status).toBe(201);
    expect(start.body.flow.purpose).toBe('relink');
    const done = await owner.post('/accounts/oauth/browser/complete', { flow_id: start.body.flow.id, callback_url: upstream.approveAuthorization(start.body.authorize_url, accountId) });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ created: false, account: { id: account.id, state: 'active' } });
    const identity = await harness.db.selectFrom('upstream_identities').selectAll().where('id', '=', account.identity_id).executeTakeFirstOrThrow();
    expect(identity.credential_epoch).toBe(epoch + 1);
    expect(identity.disabled_at).toBeNull();
    const assignment = await harness.db.selectFrom('pool_upstream_assignments').selectAll().where('id', '=', account.id).executeTakeFirstOrThrow();
    expect(assignment).toMatchObject({ status: 'active', eligibility_status: 'eligible' });
    expect((await sendThroughGateway(pool.slug)).status).toBe(200);
  });

  test('signing another ChatGPT account in is identity_mismatch and changes nothing', async () => {
    const { account } = await reauthRequiredAccount();
    const other = await newUpstreamAccount();
    const start = await owner.post(`/accounts/${account.id}/oauth/device`);
    upstream.approveDevice(start.body.flow.user_code, other);
    const polled = await owner.post(`/accounts/oauth/device/${start.body.flow.id}/poll`);
    expect(polled.status).toBe(409);
    expect(polled.body.error.code).toBe('identity_mismatch');
    expect((await owner.get(`/accounts/${account.id}`)).body.account.state).toBe('reauth_required');
    expect(await harness.db.selectFrom('upstream_identities').select('id').where('chatgpt_account_id', '=', other).execute()).toHaveLength(0);
    expect((await flowRow(start.body.flow.id)).error_code).toBe('identity_mismatch');
  });
});

describe('invites', () => {
  test('a second active invite for the same pool and email is invite_exists; after revoking, creation works (44)', async () => {
    const pool = await newPool();
    const first = await owner.post('/invites', { pool_id: pool.id, email: 'Owner.Of.Account@Example.com' });
    expect(first.status).toBe(201);
    expect(first.body.invite).toMatchObject({ email: 'owner.of.account@example.com', status: 'active' });
    expect(first.body.url).toMatch(/\/onboarding\/invites\/[A-Za-z0-9_-]{43}$/);
    const dup = await owner.post('/invites', { pool_id: pool.id, email: 'owner.of.account@example.com' });
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('invite_exists');
    expect((await owner.post(`/invites/${first.body.invite.id}/revoke`)).body.invite.status).toBe('revoked');
    expect((await owner.post(`/invites/${first.body.invite.id}/revoke`)).body.error.code).toBe('invite_not_found');
    expect((await owner.post('/invites', { pool_id: pool.id, email: 'owner.of.account@example.com' })).status).toBe(201);
    const listed = await owner.get(`/invites?pool_id=${pool.id}`);
    expect(listed.body.items.map((i: { status: string }) => i.status).sort()).toEqual(['active', 'revoked']);
    expect(listed.raw).not.toContain(first.body.url.split('/').at(-1));
    const actions = await harness.db.selectFrom('audit_events').select('action').where('pool_id', '=', pool.id).where('action', 'like', 'invite.%').execute();
    expect(actions.map((a) => a.action).sort()).toEqual(['invite.create', 'invite.create', 'invite.revoke']);
    expect((await owner.post('/invites', { pool_id: pool.id, email: 'not-an-email' })).body.error).toMatchObject({ code: 'invalid_request', param: 'email' });
  });

  test('the public page: revoked → not found, accepted → consumed, full acceptance by device code (45)', async () => {
    const pool = await newPool();
    const email = `invitee-${suffix()}@example.com`;
    const accountId = await newUpstreamAccount(email);
    const wrong = await newUpstreamAccount();

    const revoked = await owner.post('/invites', { pool_id: pool.id, email: `gone-${suffix()}@example.com` });
    await owner.post(`/invites/${revoked.body.invite.id}/revoke`);
    const revokedPage = await fetch(revoked.body.url.replace(/^https?:\/\/[^/]+/, harness.url));
    expect(revokedPage.status).toBe(404);
    expect(await revokedPage.text()).toContain('Invite not found');

    const invite = await owner.post('/invites', { pool_id: pool.id, email });
    const pageUrl = invite.body.url.replace(/^https?:\/\/[^/]+/, harness.url);
    const page = await fetch(pageUrl);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(email);
    expect(html).toContain('Sign in with a device code');

    // A different ChatGPT account is refused; the invite stays usable.
    const startWrong = await fetch(`${pageUrl}/device`, { method: 'POST' });
    const wrongFlow = ((await startWrong.json()) as { flow: { id: string; user_code: string } }).flow;
    upstream.approveDevice(wrongFlow.user_code, wrong);
    const refused = await fetch(`${pageUrl}/device/${wrongFlow.id}/poll`, { method: 'POST' });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('invite_email_mismatch');

    const start = await fetch(`${pageUrl}/device`, { method: 'POST' });
    expect(start.status).toBe(201);
    const flow = ((await start.json()) as { flow: { id: string; user_code: string } }).flow;
    const pending = await fetch(`${pageUrl}/device/${flow.id}/poll`, { method: 'POST' });
    expect(((await pending.json()) as { status: string }).status).toBe('pending');
    upstream.approveDevice(flow.user_code, accountId);
    await allowPoll(flow.id);
    const accepted = await fetch(`${pageUrl}/device/${flow.id}/poll`, { method: 'POST' });
    expect(accepted.status).toBe(200);
    expect(await accepted.json()).toMatchObject({ status: 'completed', account: { email, state: 'active' } });

    const accounts = (await owner.get(`/accounts?pool_id=${pool.id}`)).body.items;
    expect(accounts).toHaveLength(1);
    const listed = (await owner.get(`/invites?pool_id=${pool.id}&status=accepted`)).body.items;
    expect(listed).toMatchObject([{ email, status: 'accepted', result_account_id: accounts[0].id }]);
    const identity = await harness.db.selectFrom('upstream_identities').select('onboarding_method').where('id', '=', accounts[0].identity_id).executeTakeFirstOrThrow();
    expect(identity.onboarding_method).toBe('invite');

    const consumed = await fetch(pageUrl);
    expect(consumed.status).toBe(410);
    expect(await consumed.text()).toContain('already used');
    // The invite token is a bearer secret: the access log names the route, never the token.
    const token = pageUrl.split('/').at(-1)!;
    expect(harness.logs.some((line) => line.includes('/onboarding/invites/:token'))).toBe(true);
    for (const line of harness.logs) expect(line).not.toContain(token);
    const consumedJson = await fetch(`${pageUrl}/status`);
    expect(((await consumedJson.json()) as { error: { code: string } }).error.code).toBe('invite_consumed');
  });
});

/** An io that answers stdin from what the command printed (the operator pasting the callback). */
function interactiveIo(answer: (printed: string) => string | null): CliIo & { out: string; err: string } {
  const io = {
    cwd: process.cwd(),
    out: '',
    err: '',
    stdout: (text: string) => void (io.out += text),
    stderr: (text: string) => {
      io.err += text;
    },
    readStdin: async () => answer(io.err) ?? '',
  };
  return io;
}

describe('command line', () => {
  const run = (argv: string[], io: CliIo) => runOperatorCommand(argv, io, async () => ({ db: harness.db, notifier: harness.services.notifier, accountDeps: harness.services.accountDeps }));

  test('accounts login (browser) prints the link and links the account from the pasted address', async () => {
    const pool = await newPool();
    const accountId = await newUpstreamAccount();
    const io = interactiveIo((printed) => {
      const url = /(http\S+\/oauth\/authorize\S+)/.exec(printed)?.[1];
      return url ? upstream.approveAuthorization(url, accountId) : null;
    });
    expect(await run(['accounts', 'login', '--pool', pool.slug, '--json'], io)).toBe(0);
    expect(JSON.parse(io.out)).toMatchObject({ pool: pool.slug, state: 'active', created: true, email: `${accountId}@example.com` });
  });

  test('accounts login with a bad address exits 1 with the reason; --device polls until approved', async () => {
    const pool = await newPool();
    const bad = interactiveIo(() => 'http://localhost:1456/auth/callback?code=x&state=y');
    expect(await run(['accounts', 'login', '--pool', pool.slug], bad)).toBe(1);
    expect(bad.err).toContain('codex-pooler: the callback address must be');

    const accountId = await newUpstreamAccount();
    const io = interactiveIo(() => null);
    const originalStderr = io.stderr;
    io.stderr = (text: string) => {
      originalStderr(text);
      const code = /^\s+([0-9A-F]{4}-[0-9A-F]{6})$/m.exec(text)?.[1];
      if (code) upstream.approveDevice(code, accountId);
    };
    expect(await run(['accounts', 'login', '--pool', pool.slug, '--device'], io)).toBe(0);
    expect(io.out).toContain(`linked account`);
    expect(io.err).toContain('approved');
  });

  test('oauth-start, oauth-complete and oauth-poll each answer JSON at once, so a script can sign in', async () => {
    const pool = await newPool();
    const accountId = await newUpstreamAccount();
    const start = interactiveIo(() => null);
    expect(await run(['accounts', 'oauth-start', '--pool', pool.slug, '--json'], start)).toBe(0);
    const started = JSON.parse(start.out);
    expect(started).toMatchObject({ flow: { kind: 'browser', purpose: 'link', status: 'pending', pool_id: pool.id, user_code: null }, authorize_url: expect.stringContaining('/oauth/authorize?') });
    expect(new Date(started.flow.expires_at).getTime()).toBeGreaterThan(Date.now());
    // `-` reads the address from stdin (kept out of the process list).
    const callback = upstream.approveAuthorization(started.authorize_url, accountId);
    const complete = interactiveIo(() => `${callback}\n`);
    expect(await run(['accounts', 'oauth-complete', started.flow.id, '-', '--json'], complete)).toBe(0);
    expect(JSON.parse(complete.out)).toMatchObject({ status: 'completed', created: true, flow: { id: started.flow.id, status: 'completed' }, account: { pool: pool.slug, state: 'active', email: `${accountId}@example.com` } });
    expect(complete.out).not.toContain(upstream.refreshTokenOf(accountId));

    const other = await newUpstreamAccount();
    const device = interactiveIo(() => null);
    expect(await run(['accounts', 'oauth-start', '--pool', pool.slug, '--device', '--json'], device)).toBe(0);
    const flow = JSON.parse(device.out).flow;
    expect(flow).toMatchObject({ kind: 'device', status: 'pending', interval_seconds: 5, verification_url: `${upstream.url}/codex/device`, user_code: expect.stringMatching(/^[0-9A-F]{4}-[0-9A-F]{6}$/) });
    const poll = async () => {
      const io = interactiveIo(() => null);
      expect(await run(['accounts', 'oauth-poll', flow.id, '--json'], io), io.err).toBe(0);
      return JSON.parse(io.out);
    };
    const pending = await poll();
    expect(pending).toMatchObject({ status: 'pending', flow: { id: flow.id } });
    expect(new Date(pending.flow.poll_after).getTime()).toBeGreaterThan(Date.now());
    upstream.approveDevice(flow.user_code, other);
    await allowPoll(flow.id);
    expect(await poll()).toMatchObject({ status: 'completed', created: true, account: { email: `${other}@example.com`, state: 'active' } });

    // Without --json the steps say what to do next.
    const human = interactiveIo(() => null);
    expect(await run(['accounts', 'oauth-start', '--pool', pool.slug], human)).toBe(0);
    expect(human.out).toMatch(/^started browser sign-in [0-9a-f-]{36} \(expires /);
    expect(human.out).toContain('codex-pooler accounts oauth-complete ');
  });

  test('the steps refuse bad input with a clear reason: usage 2, failures 1', async () => {
    const pool = await newPool();
    const neither = interactiveIo(() => null);
    expect(await run(['accounts', 'oauth-start', '--json'], neither)).toBe(2);
    expect(neither.err).toBe('codex-pooler: oauth-start needs --pool (sign a new account in) or --account (re-authenticate one)\n');
    const badId = interactiveIo(() => null);
    expect(await run(['accounts', 'oauth-poll', 'not-a-flow'], badId)).toBe(1);
    expect(badId.err).toContain('flow id must be a uuid');
    const device = interactiveIo(() => null);
    expect(await run(['accounts', 'oauth-start', '--pool', pool.slug, '--device', '--json'], device)).toBe(0);
    const wrongKind = interactiveIo(() => null);
    expect(await run(['accounts', 'oauth-complete', JSON.parse(device.out).flow.id, 'http://localhost:1455/auth/callback?code=x&state=y'], wrongKind)).toBe(1);
    expect(wrongKind.err).toBe('codex-pooler: this sign-in is a device flow\n');
    const missingPool = interactiveIo(() => null);
    expect(await run(['accounts', 'login', '--pool', `no-such-${suffix()}`], missingPool)).toBe(1);
    expect(missingPool.err).toMatch(/^codex-pooler: pool "no-such-[0-9a-f]+" does not exist\n$/);
    expect(missingPool.err).not.toContain('Open this link');
  });

  test('login fails with the reason and exit 1 for an expired link and a denied device code', async () => {
    const pool = await newPool();
    const accountId = await newUpstreamAccount();
    const expired = interactiveIo(() => null);
    expired.readStdin = async () => {
      // The operator took longer than the link lives.
      await harness.db.updateTable('upstream_oauth_flows').set({ expires_at: new Date(Date.now() - 1000) }).where('pool_id', '=', pool.id).where('status', '=', 'pending').execute();
      const url = /(http\S+\/oauth\/authorize\S+)/.exec(expired.err)![1]!;
      return upstream.approveAuthorization(url, accountId);
    };
    expect(await run(['accounts', 'login', '--pool', pool.slug], expired)).toBe(1);
    expect(expired.err).toMatch(/codex-pooler: this sign-in expired after 10 minutes; start a new one\n$/);
    expect(expired.out).toBe('');

    const denied = interactiveIo(() => null);
    const write = denied.stderr;
    denied.stderr = (text: string) => {
      write(text);
      const code = /^\s+([0-9A-F]{4}-[0-9A-F]{6})$/m.exec(text)?.[1];
      if (code) upstream.denyDevice(code);
    };
    expect(await run(['accounts', 'login', '--pool', pool.slug, '--device'], denied)).toBe(1);
    expect(denied.err).toMatch(/Waiting for approval \(expires [^)]+\)\ncodex-pooler: the device code was denied at ChatGPT\n$/);
    expect((await owner.get(`/accounts?pool_id=${pool.id}`)).body.items).toHaveLength(0);
  });

  test('accounts reauth signs the same account in again and says so', async () => {
    const pool = await newPool();
    const accountId = await newUpstreamAccount();
    const approve = (printed: string) => {
      const url = /(http\S+\/oauth\/authorize\S+)/.exec(printed)?.[1];
      return url ? upstream.approveAuthorization(url, accountId) : null;
    };
    const login = interactiveIo(approve);
    expect(await run(['accounts', 'login', '--pool', pool.slug, '--json'], login)).toBe(0);
    const account = JSON.parse(login.out);
    const reauth = interactiveIo(approve);
    expect(await run(['accounts', 'reauth', account.id], reauth)).toBe(0);
    expect(reauth.out).toMatch(new RegExp(`^re-authenticated account ${account.id} \\(${accountId}@example\\.com\\) in pool ${pool.slug}\n`));
    const relinks = await harness.db.selectFrom('upstream_oauth_flows').select(['purpose', 'status']).where('pool_id', '=', pool.id).orderBy('created_at').execute();
    expect(relinks).toEqual([{ purpose: 'link', status: 'completed' }, { purpose: 'relink', status: 'completed' }]);
  });

  test('invites create, list --json and revoke', async () => {
    const pool = await newPool();
    const io = interactiveIo(() => null);
    expect(await run(['invites', 'create', '--pool', pool.slug, '--email', `cli-${suffix()}@example.com`, '--json'], io)).toBe(0);
    const created = JSON.parse(io.out);
    expect(created.url).toContain('/onboarding/invites/');
    const again = interactiveIo(() => null);
    expect(await run(['invites', 'create', '--pool', pool.slug, '--email', created.email], again)).toBe(1);
    expect(again.err).toContain('already has an active invite');
    const list = interactiveIo(() => null);
    expect(await run(['invites', 'list', '--pool', pool.slug, '--json'], list)).toBe(0);
    expect(JSON.parse(list.out)).toMatchObject([{ id: created.id, status: 'active' }]);
    const revoke = interactiveIo(() => null);
    expect(await run(['invites', 'revoke', created.id], revoke)).toBe(0);
    expect(await run(['invites', 'revoke', created.id], interactiveIo(() => null))).toBe(1);
  });
});
