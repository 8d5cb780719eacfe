import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { cliActor } from '../../src/audit/index.ts';
import { mintApiKey } from '../../src/api-keys/index.ts';
import { pollAccountQuota } from '../../src/jobs/poll-account-quota.ts';
import { disableAccount } from '../../src/upstreams/index.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, sendUntilTried, startGateway, type TestGateway } from '../support/gateway.ts';

let upstream: FakeUpstream;
let gateway: TestGateway;
let peer: TestGateway;
let tight: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  const env = { CODEX_POOLER_CIRCUIT_OPEN_SECONDS: '1' };
  gateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream, env });
  peer = await startGateway({ databaseUrl: inject('databaseUrl'), upstream, env });
  tight = await startGateway({ databaseUrl: inject('databaseUrl'), upstream, env: { CODEX_POOLER_ADMISSION_LIMITS: JSON.stringify({ proxy_stream: { max_concurrency: 1, queue_limit: 0, queue_timeout_ms: 1000 } }) } });
});
afterAll(async () => {
  await tight?.close();
  await peer?.close();
  await gateway?.close();
  await upstream?.close();
});

const body = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true, ...extra });

async function send(target: TestGateway, key: string, options: { headers?: Record<string, string>; body?: string } = {}) {
  const response = await fetch(`${target.url}/backend-api/codex/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...options.headers },
    body: options.body ?? body(),
  });
  return { status: response.status, text: await response.text() };
}

const until = async (check: () => boolean | Promise<boolean>, ms: number) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
};

describe('routing engine', () => {
  test('a limited account and an overloaded-in-200 account never reach the client', async () => {
    const seeded = await seedPool(gateway, upstream, 3, 'mixed');
    const [limited, overloaded] = seeded.accounts;
    upstream.script(limited!.accountId, { kind: 'status', status: 429, body: { error: { type: 'usage_limit_reached', code: 'usage_limit_reached', message: 'limit', resets_at: Math.floor(Date.now() / 1000) + 600 } }, on: 'responses' });
    for (let i = 0; i < 30; i++) upstream.script(overloaded!.accountId, { kind: 'first-event-failure', code: 'server_is_overloaded', on: 'responses' });
    for (let i = 0; i < 20; i++) {
      const result = await send(gateway, seeded.key);
      expect(result.status).toBe(200);
      expect(result.text).toContain('response.completed');
      expect(result.text).not.toContain('server_is_overloaded');
      expect(result.text).not.toContain('usage_limit');
    }
  });

  test('a session stays on one account (>= 95% of 40 requests), also through another web process', async () => {
    const seeded = await seedPool(gateway, upstream, 3, 'sticky');
    const before = upstream.requestsTo('/backend-api/codex/responses').length;
    for (let i = 0; i < 40; i++) {
      const target = i % 2 === 0 ? gateway : peer;
      expect((await send(target, seeded.key, { headers: { session_id: 'session-abc' }, body: body({ prompt_cache_key: 'conversation-1' }) })).status).toBe(200);
    }
    const used = upstream.requestsTo('/backend-api/codex/responses').slice(before).map((r) => r.accountId);
    const counts = [...new Set(used)].map((id) => used.filter((x) => x === id).length);
    expect(Math.max(...counts) / used.length).toBeGreaterThanOrEqual(0.95);
  });

  test('a broken account opens its circuit, everywhere, and is probed again later', async () => {
    const seeded = await seedPool(gateway, upstream, 2, 'circuit');
    const broken = seeded.accounts[0]!;
    for (let i = 0; i < 3; i++) upstream.script(broken.accountId, { kind: 'status', status: 500, body: { error: { code: 'server_error', message: 'down' } }, on: 'responses' });
    // Each failure is invisible to the client; three of them open the circuit. A failure also demotes
    // the account for that key (tried last for a minute), so each round uses a key of its own.
    const deps = { db: gateway.services.db, notifier: gateway.services.notifier };
    for (let round = 0; round < 3; round++) {
      const { key } = await mintApiKey(deps, cliActor(), { pool: seeded.pool.slug });
      const results = await sendUntilTried(upstream, broken.accountId, () => send(gateway, key));
      for (const result of results) expect(result.status).toBe(200);
    }
    expect(gateway.services.routing.isCircuitBlocked(broken.assignmentId, 'gpt-5.4', 'proxy_stream')).toBe(true);
    expect(await until(() => peer.services.routing.isCircuitBlocked(broken.assignmentId, 'gpt-5.4', 'proxy_stream'), 1000)).toBe(true);

    await disableAccount({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), seeded.accounts[1]!.assignmentId);
    await until(async () => (await gateway.services.routing.candidates(seeded.pool.id)).every((c) => c.assignmentId !== seeded.accounts[1]!.assignmentId || c.assignmentStatus === 'disabled'), 1000);
    const refused = await send(gateway, seeded.key);
    expect(refused.status).toBe(503);
    expect(refused.text).toContain('circuit open');

    // After the open time one probe goes through; the account has recovered, so the circuit closes.
    await new Promise((r) => setTimeout(r, 1100));
    const { key: freshKey } = await mintApiKey({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), { pool: seeded.pool.slug });
    const probe = await send(gateway, freshKey);
    expect(probe.status).toBe(200);
    expect(gateway.services.routing.isCircuitBlocked(broken.assignmentId, 'gpt-5.4', 'proxy_stream')).toBe(false);
  });

  test('a cooldown taken by one web process is seen by another within a second', async () => {
    const seeded = await seedPool(gateway, upstream, 2, 'cooldown');
    const limited = seeded.accounts[0]!;
    upstream.script(limited.accountId, { kind: 'status', status: 429, body: { error: { type: 'usage_limit_reached', code: 'usage_limit_reached', message: 'limit', resets_at: Math.floor(Date.now() / 1000) + 900 } }, on: 'responses' });
    await peer.services.routing.candidates(seeded.pool.id);
    await sendUntilTried(upstream, limited.accountId, () => send(gateway, seeded.key));
    const seen = await until(async () => (await peer.services.routing.candidates(seeded.pool.id)).some((c) => c.assignmentId === limited.assignmentId && (c.cooldownUntil ?? 0) > Date.now()), 1000);
    expect(seen).toBe(true);
  });

  test('admission rejects beyond the configured limit with 503 server_is_overloaded', async () => {
    const seeded = await seedPool(tight, upstream, 1, 'admission');
    upstream.setEventDelayMs(100);
    try {
      const results = await Promise.all([send(tight, seeded.key), new Promise((r) => setTimeout(r, 100)).then(() => send(tight, seeded.key))]);
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([200, 503]);
      const rejected = JSON.parse(results.find((r) => r.status === 503)!.text) as { error: { code: string; type: string } };
      expect(rejected.error).toMatchObject({ code: 'server_is_overloaded', type: 'server_error' });
    } finally {
      upstream.setEventDelayMs(0);
    }
  });

  test('the quota polling job refreshes windows for every active account', async () => {
    const seeded = await seedPool(gateway, upstream, 2, 'polling');
    upstream.setQuota(seeded.accounts[0]!.accountId, { primaryUsedPercent: 77 });
    await gateway.services.db.updateTable('pool_upstream_assignments').set({ last_successful_sync_at: null }).where('pool_id', '=', seeded.pool.id).execute();
    const services = gateway.services;
    const result = (await pollAccountQuota.run({ db: services.db, log: services.log, now: () => new Date(), credentials: services.credentials, accountDeps: services.accountDeps }, {})) as { polled: number };
    expect(result.polled).toBeGreaterThanOrEqual(2);
    const window = await services.db.selectFrom('account_quota_windows').select(['used_percent']).where('upstream_identity_id', '=', seeded.accounts[0]!.identityId).where('window_kind', '=', 'primary').executeTakeFirstOrThrow();
    expect(Number(window.used_percent)).toBe(77);
  });
});

describe('conversation ownership', () => {
  const responseOf = (sse: string) => {
    const events = sse.split('\n\n').map((block) => block.split('\n').find((l) => l.startsWith('data: '))?.slice(6)).filter(Boolean).map((d) => JSON.parse(d!) as Record<string, any>);
    return {
      id: events.find((e) => e.type === 'response.completed')?.response?.id as string,
      reasoning: events.filter((e) => e.type === 'response.output_item.done' && e.item?.type === 'reasoning').map((e) => e.item)[0] as { id: string; encrypted_content: string } | undefined,
    };
  };
  const lastAccount = () => upstream.requestsTo('/backend-api/codex/responses').at(-1)!.accountId;

  test('a previous_response_id continuation goes to the account that produced it, from any web process', async () => {
    const seeded = await seedPool(gateway, upstream, 3, 'continuation');
    for (let i = 0; i < 6; i++) {
      const first = await send(gateway, seeded.key);
      const owner = lastAccount();
      const { id } = responseOf(first.text);
      expect(id).toMatch(/^resp_/);
      const target = i % 2 === 0 ? gateway : peer;
      await until(() => target.services.routing.ownerOf(id) !== null, 1000);
      const next = await send(target, seeded.key, { body: body({ previous_response_id: id, input: [{ type: 'function_call_output', call_id: 'call_1', output: 'ok' }] }) });
      expect(next.status).toBe(200);
      expect(lastAccount()).toBe(owner);
    }
  });

  test('replayed encrypted reasoning goes back to the account that wrote it', async () => {
    const seeded = await seedPool(gateway, upstream, 3, 'reasoning-owner');
    for (let i = 0; i < 4; i++) {
      const first = await send(gateway, seeded.key, { body: body({ include: ['reasoning.encrypted_content'] }) });
      const owner = lastAccount();
      const { reasoning } = responseOf(first.text);
      expect(reasoning?.encrypted_content).toBeTruthy();
      const replay = [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }, { type: 'reasoning', id: reasoning!.id, summary: [], content: null, encrypted_content: reasoning!.encrypted_content }, { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'and then?' }] }];
      expect((await send(gateway, seeded.key, { body: body({ input: replay, include: ['reasoning.encrypted_content'] }) })).status).toBe(200);
      expect(lastAccount()).toBe(owner);
    }
  });
});

describe('routing explain', () => {
  test('explains a session to the account it actually gets, and names why others are out', async () => {
    const seeded = await seedPool(gateway, upstream, 3, 'explain');
    expect((await send(gateway, seeded.key, { headers: { session_id: 'explain-session' } })).status).toBe(200);
    const served = upstream.requestsTo('/backend-api/codex/responses').at(-1)!.accountId;
    const servedAssignment = seeded.accounts.find((a) => a.accountId === served)!.assignmentId;
    const { explainForPool } = await import('../../src/routing/index.ts');
    const explanation = await explainForPool(gateway.services.routing, { poolId: seeded.pool.id, apiKeyId: seeded.apiKey.id, model: 'gpt-5.4', session: 'explain-session' });
    expect(explanation.affinity.kind).toBe('codex_session');
    expect(explanation.selected).toBe(servedAssignment);
    await disableAccount({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), servedAssignment);
    await until(async () => (await explainForPool(gateway.services.routing, { poolId: seeded.pool.id, apiKeyId: seeded.apiKey.id, session: 'explain-session' })).moved !== null, 1000);
    const moved = await explainForPool(gateway.services.routing, { poolId: seeded.pool.id, apiKeyId: seeded.apiKey.id, session: 'explain-session' });
    expect(moved.moved).toEqual({ from: servedAssignment, reason: 'disabled' });
    expect(moved.candidates.find((c) => c.assignment_id === servedAssignment)?.reason).toBe('disabled');
  });
});

describe('model support per account', () => {
  test('a model only some accounts advertise goes only to those', async () => {
    const { createPool } = await import('../../src/pools/index.ts');
    const { importAuthJson } = await import('../../src/upstreams/index.ts');
    const pool = await createPool(gateway.services.db, cliActor(), { name: `models-${Date.now().toString(36)}` });
    const narrow = await upstream.addAccount({ accountId: `acct-narrow-${Date.now().toString(36)}`, email: 'narrow@example.com', models: ['gpt-5.4'] });
    const wide = await upstream.addAccount({ accountId: `acct-wide-${Date.now().toString(36)}`, email: 'wide@example.com', models: ['gpt-5.4', 'gpt-5.4-mini'] });
    for (const account of [narrow, wide]) await importAuthJson(gateway.services.accountDeps, cliActor(), { pool: pool.slug, authJson: JSON.stringify(account.authJson) });
    const { key } = await mintApiKey({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), { pool: pool.slug });
    const before = upstream.requestsTo('/backend-api/codex/responses').length;
    for (let i = 0; i < 10; i++) expect((await send(gateway, key, { body: body({ model: 'gpt-5.4-mini' }) })).status).toBe(200);
    const used = new Set(upstream.requestsTo('/backend-api/codex/responses').slice(before).map((r) => r.accountId));
    expect([...used]).toEqual([wide.accountId]);
  });
});
