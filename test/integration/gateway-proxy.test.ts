import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { pollAccountQuota } from '../../src/jobs/poll-account-quota.ts';
import { seedPool, sendUntilTried, startGateway, type TestGateway } from '../support/gateway.ts';

let upstream: FakeUpstream;
let gateway: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

const responsesBody = (extra: Record<string, unknown> = {}) => ({
  model: 'gpt-5.4',
  instructions: 'be brief',
  input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] }],
  stream: true,
  ...extra,
});

async function post(path: string, key: string | null, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('backend responses proxy', () => {
  test('streams the upstream answer through with the chosen account credentials', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    const response = await post('/backend-api/codex/responses', seeded.key, responsesBody(), { 'x-codex-window-id': 'w-1', cookie: 'secret=1' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const text = await response.text();
    expect(text).toContain('event: response.completed');
    expect(text).toContain('Hello from the fake Codex upstream');
    const sent = upstream.requestsTo('/backend-api/codex/responses').at(-1)!;
    expect(sent.accountId).toBe(seeded.accounts[0]!.accountId);
    expect(sent.headers['chatgpt-account-id']).toBe(seeded.accounts[0]!.accountId);
    expect(sent.headers.originator).toBe('codex_cli_rs');
    expect(sent.headers['x-codex-window-id']).toBe('w-1');
    expect(sent.headers.cookie).toBeUndefined();
    expect(sent.headers.authorization).not.toContain('sk-cxp');
  });

  test('non-streaming requests relay the JSON body', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    const response = await post('/backend-api/codex/responses', seeded.key, responsesBody({ stream: false }));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { output: unknown[]; usage: { input_tokens: number } };
    expect(body.usage.input_tokens).toBeGreaterThan(0);
  });

  test('two accounts share the load', async () => {
    const seeded = await seedPool(gateway, upstream, 2);
    const before = upstream.requestsTo('/backend-api/codex/responses').length;
    for (let i = 0; i < 40; i++) {
      const response = await post('/backend-api/codex/responses', seeded.key, responsesBody());
      expect(response.status).toBe(200);
      await response.text();
    }
    const used = upstream.requestsTo('/backend-api/codex/responses').slice(before).map((r) => r.accountId);
    const counts = seeded.accounts.map((a) => used.filter((id) => id === a.accountId).length);
    // Request ids seed the ring hash: a fair coin per request, so each side gets well over 8 of 40.
    expect(counts[0]).toBeGreaterThanOrEqual(8);
    expect(counts[1]).toBeGreaterThanOrEqual(8);
  });

  test('a usage-limit 429 on one account is invisible to the client and cools the account down', async () => {
    const seeded = await seedPool(gateway, upstream, 2);
    const resetsAt = Math.floor(Date.now() / 1000) + 3600;
    const limited = seeded.accounts[0]!;
    upstream.script(limited.accountId, { kind: 'status', status: 429, body: { error: { type: 'usage_limit_reached', code: 'usage_limit_reached', message: 'The usage limit has been reached', resets_at: resetsAt } }, on: 'responses' });
    const before = upstream.requestsTo('/backend-api/codex/responses').length;
    // Whenever the limited account comes first, its 429 is invisible: the other account serves.
    const results = await sendUntilTried(upstream, limited.accountId, async () => {
      const response = await post('/backend-api/codex/responses', seeded.key, responsesBody());
      return { status: response.status, text: await response.text() };
    });
    for (const result of results) {
      expect(result.status).toBe(200);
      expect(result.text).toContain('response.completed');
    }
    const tried = upstream.requestsTo('/backend-api/codex/responses').slice(before).map((r) => r.accountId);
    expect(tried.filter((id) => id === limited.accountId)).toHaveLength(1);
    const cooled = (await gateway.services.routing.candidates(seeded.pool.id)).filter((c) => c.cooldownUntil !== null && c.cooldownUntil > Date.now());
    expect(cooled.map((c) => c.assignmentId)).toEqual([limited.assignmentId]);
    expect(Math.abs(cooled[0]!.cooldownUntil! - resetsAt * 1000)).toBeLessThan(2000);
  });

  test('a first-event overload fails over silently', async () => {
    const seeded = await seedPool(gateway, upstream, 2);
    upstream.script(seeded.accounts[0]!.accountId, { kind: 'first-event-failure', code: 'server_is_overloaded', on: 'responses' });
    const results = await sendUntilTried(upstream, seeded.accounts[0]!.accountId, async () => {
      const response = await post('/backend-api/codex/responses', seeded.key, responsesBody());
      return { status: response.status, text: await response.text() };
    });
    for (const { status, text } of results) {
      expect(status).toBe(200);
      expect(text).toContain('response.completed');
      expect(text).not.toContain('server_is_overloaded');
    }
  });

  test('when every account fails the last answer is relayed', async () => {
    const seeded = await seedPool(gateway, upstream, 2);
    for (const account of seeded.accounts) upstream.script(account.accountId, { kind: 'status', status: 503, body: { error: { code: 'server_error', message: 'down' } }, on: 'responses' });
    const response = await post('/backend-api/codex/responses', seeded.key, responsesBody());
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('server_error');
  });

  test('compact is proxied without failover', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    const response = await post('/backend-api/codex/responses/compact', seeded.key, { model: 'gpt-5.4', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'x' }] }] });
    expect(response.status).toBe(200);
    expect(await response.json()).toHaveProperty('output');
  });

  test('models come from the primed pool catalog', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    const response = await fetch(`${gateway.url}/backend-api/codex/models`, { headers: { authorization: `Bearer ${seeded.key}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toMatch(/^W\/"cp-models-v1-[0-9a-f]{64}"$/);
    const body = (await response.json()) as { models: { slug: string }[] };
    expect(body.models.map((m) => m.slug)).toEqual(['gpt-5.3-codex', 'gpt-5.4', 'gpt-5.4-mini']);
  });

  test('usage routes answer the pool\'s rate-limit view from quota evidence', async () => {
    const seeded = await seedPool(gateway, upstream, 2);
    for (const [i, account] of seeded.accounts.entries()) upstream.setQuota(account.accountId, { primaryUsedPercent: i === 0 ? 80 : 30, secondaryUsedPercent: 10 });
    await gateway.services.db.updateTable('pool_upstream_assignments').set({ last_successful_sync_at: null }).where('pool_id', '=', seeded.pool.id).execute();
    const s = gateway.services;
    await pollAccountQuota.run({ db: s.db, log: s.log, now: () => new Date(), credentials: s.credentials, accountDeps: s.accountDeps }, {});
    s.routing.invalidate(seeded.pool.id);
    for (const path of ['/backend-api/wham/usage', '/api/codex/usage', '/wham/usage']) {
      const response = await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${seeded.key}` } });
      expect(response.status).toBe(200);
      const doc = (await response.json()) as { plan_type: string; rate_limit: { allowed: boolean; primary_window: { used_percent: number; limit_window_seconds: number } } };
      expect(doc.plan_type).toBe('plus');
      expect(doc.rate_limit.allowed).toBe(true);
      expect(doc.rate_limit.primary_window).toMatchObject({ used_percent: 30, limit_window_seconds: 18000 });
    }
    const anonymous = await fetch(`${gateway.url}/wham/usage`);
    expect(anonymous.status).toBe(401);
  });
});
