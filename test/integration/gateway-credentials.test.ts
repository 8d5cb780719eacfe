import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { cliActor } from '../../src/audit/index.ts';
import { mintApiKey } from '../../src/api-keys/index.ts';
import { createPool } from '../../src/pools/index.ts';
import { refreshExpiringCredentials } from '../../src/jobs/refresh-expiring-credentials.ts';
import { importAuthJson, listAccounts } from '../../src/upstreams/index.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, startGateway, uniqueName, type TestGateway } from '../support/gateway.ts';

let upstream: FakeUpstream;
let gateway: TestGateway;
let second: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
  second = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
});
afterAll(async () => {
  await second?.close();
  await gateway?.close();
  await upstream?.close();
});

const body = { model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true };

async function send(target: TestGateway, key: string) {
  const response = await fetch(`${target.url}/backend-api/codex/responses`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify(body) });
  return { status: response.status, text: await response.text() };
}

/** A pool with one account whose access token expires within the refresh skew. */
async function expiringPool() {
  const pool = await createPool(gateway.services.db, cliActor(), { name: uniqueName('expiring') });
  const accountId = `acct-${randomBytes(5).toString('hex')}`;
  const account = await upstream.addAccount({ accountId, email: `${accountId}@example.com`, accessExpiresInSec: 20 });
  await importAuthJson(gateway.services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(account.authJson) });
  const { key } = await mintApiKey({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), { pool: pool.slug });
  return { pool, accountId, key };
}

describe('credential refresh', () => {
  test('concurrent requests on an expiring account cause exactly one refresh, across processes too', async () => {
    const { key, accountId } = await expiringPool();
    upstream.setTokenDelayMs(150);
    const before = upstream.tokenCalls;
    const results = await Promise.all([send(gateway, key), send(gateway, key), send(second, key), send(second, key)]);
    upstream.setTokenDelayMs(0);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(upstream.tokenCalls - before).toBe(1);
    // Every request after the refresh used the rotated token.
    const latest = upstream.requestsTo('/backend-api/codex/responses').filter((r) => r.accountId === accountId).slice(-4);
    expect(new Set(latest.map((r) => r.headers.authorization)).size).toBe(1);
    expect(latest[0]!.headers.authorization).toBe(`Bearer ${upstream.accessTokenOf(accountId)}`);
  });

  test('after a refresh, the refreshing process keeps the new token cached; other processes drop their stale copy', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'refresh-cache');
    const account = seeded.accounts[0]!;
    expect((await send(gateway, seeded.key)).status).toBe(200);
    expect((await send(second, seeded.key)).status).toBe(200);
    expect(second.services.credentials.isCached(account.identityId)).toBe(true);
    const refreshed = await gateway.services.credentials.refresh(account.identityId, { trigger: 'manual' });
    expect(refreshed.status).toBe('refreshed');
    // Its own notification came back (and the other process's arrived): only the stale copy went.
    await expect.poll(() => second.services.credentials.isCached(account.identityId), { timeout: 2_000 }).toBe(false);
    expect(gateway.services.credentials.isCached(account.identityId)).toBe(true);
  });

  test('an upstream 401 refreshes and replays once on the same account', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    const accountId = seeded.accounts[0]!.accountId;
    upstream.expireAccessToken(accountId);
    const before = upstream.tokenCalls;
    const result = await send(gateway, seeded.key);
    expect(result.status).toBe(200);
    expect(result.text).toContain('response.completed');
    expect(upstream.tokenCalls - before).toBe(1);
  });

  test('a rejected refresh token moves the account to reauth_required and another account serves', async () => {
    const seeded = await seedPool(gateway, upstream, 2);
    const broken = seeded.accounts[0]!;
    upstream.revokeRefreshToken(broken.accountId);
    upstream.expireAccessToken(broken.accountId);
    // The broken account answers 401 (its token is rejected upstream, so the fake sees no account id):
    // send until its refresh was attempted, which happens the first time routing picks it.
    const before = upstream.tokenCalls;
    for (let i = 0; i < 40 && upstream.tokenCalls === before; i++) expect((await send(gateway, seeded.key)).status).toBe(200);
    expect(upstream.tokenCalls).toBe(before + 1);
    const accounts = await listAccounts(gateway.services.db, { pool: seeded.pool.slug });
    expect(accounts.find((a) => a.chatgptAccountId === broken.accountId)?.state).toBe('reauth_required');
    expect(accounts.find((a) => a.chatgptAccountId === seeded.accounts[1]!.accountId)?.state).toBe('active');
  });


  test('the scheduled job refreshes tokens ahead of expiry, so requests do not wait', async () => {
    const { key } = await expiringPool();
    const before = upstream.tokenCalls;
    const services = gateway.services;
    const result = (await refreshExpiringCredentials.run({ db: services.db, log: services.log, now: () => new Date(), credentials: services.credentials, accountDeps: services.accountDeps }, {})) as { outcomes: Record<string, number> };
    expect(result.outcomes.refreshed).toBeGreaterThanOrEqual(1);
    const afterJob = upstream.tokenCalls;
    expect(afterJob - before).toBe(result.outcomes.refreshed);
    expect((await send(second, key)).status).toBe(200);
    expect(upstream.tokenCalls).toBe(afterJob);
  });
});

describe('request logs', () => {
  test('hold metadata, usage and timings, and never a secret', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    expect((await send(gateway, seeded.key)).status).toBe(200);
    await gateway.services.requestLog.flush();
    const rows = await gateway.services.db.selectFrom('requests').selectAll().where('api_key_id', '=', seeded.apiKey.id).execute();
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({ pool_id: seeded.pool.id, endpoint: '/backend-api/codex/responses', transport: 'http_sse', status: 'succeeded', usage_status: 'usage_known', response_status_code: 200, requested_model: 'gpt-5.4' });
    expect(row.input_tokens).toBeGreaterThan(0);
    expect(row.output_tokens).toBeGreaterThan(0);
    expect(row.latency_ms).toBeGreaterThanOrEqual(0);
    expect(row.time_to_first_byte_ms).toBeGreaterThanOrEqual(0);
    expect(row.upstream_identity_id).toBe(seeded.accounts[0]!.identityId);
    const attempts = await gateway.services.db.selectFrom('attempts').selectAll().where('request_id', '=', row.id).execute();
    expect(attempts).toHaveLength(1);
    const ledger = await gateway.services.db.selectFrom('ledger_entries').selectAll().where('request_id', '=', row.id).orderBy('entry_kind').execute();
    expect(ledger.map((e) => e.entry_kind)).toEqual(['reservation', 'settlement']);
    const settlement = ledger.find((e) => e.entry_kind === 'settlement')!;
    expect(settlement).toMatchObject({ usage_status: 'usage_known', input_tokens: row.input_tokens, output_tokens: row.output_tokens, api_key_id: seeded.apiKey.id });
    // gpt-5.4 is in the vendored price feed: the settlement carries a real cost.
    expect(Number(settlement.settled_cost_micros)).toBeGreaterThan(0);
    const bucket = await gateway.services.db.selectFrom('api_key_usage_buckets').selectAll().where('api_key_id', '=', seeded.apiKey.id).execute();
    expect(bucket.reduce((n, b) => n + Number(b.request_count), 0)).toBe(1);
    const stored = JSON.stringify([row, attempts]);
    // The public prefix identifies the key (spec); the full key and its secret never appear.
    expect(stored).not.toContain(seeded.key);
    // The secret is everything after the prefix (it may itself contain '-').
    expect(stored).not.toContain(seeded.key.slice(seeded.apiKey.prefix.length + 1));
    expect(stored).not.toContain(seeded.accounts[0]!.accessToken);
    expect(stored).not.toContain('hi"');
  });
});
