import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { cliActor } from '../../src/audit/index.ts';
import { API_KEY_CHANNEL, mintApiKey, revokeApiKey } from '../../src/api-keys/index.ts';
import { createPool } from '../../src/pools/index.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, startGateway, uniqueName, type TestGateway } from '../support/gateway.ts';

let upstream: FakeUpstream;
let gateway: TestGateway;
let other: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
  // A second web process on the same database, with a small body limit for the 413 case.
  other = await startGateway({ databaseUrl: inject('databaseUrl'), upstream, env: { CODEX_POOLER_MAX_BODY_BYTES: '4096' } });
});
afterAll(async () => {
  await other?.close();
  await gateway?.close();
  await upstream?.close();
});

const body = { model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true };

async function call(target: TestGateway, path: string, init: { method?: string; key?: string | null; body?: string; headers?: Record<string, string> } = {}) {
  const response = await fetch(`${target.url}${path}`, {
    method: init.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...(init.key ? { authorization: `Bearer ${init.key}` } : {}), ...init.headers },
    body: init.method === 'GET' ? undefined : (init.body ?? JSON.stringify(body)),
  });
  const text = await response.text();
  return { status: response.status, text, json: (() => { try { return JSON.parse(text) as { error: { code: string; message: string; type: string; param: string | null } }; } catch { return null; } })() };
}

describe('authentication errors use the runtime envelope', () => {
  test.each([
    ['no header', {}],
    ['another scheme', { authorization: 'Basic abc' }],
    ['lowercase bearer', { authorization: 'bearer sk-cxp-0123456789ab-' + 'a'.repeat(43) }],
    ['malformed key', { authorization: 'Bearer not-a-key' }],
    ['unknown key', { authorization: 'Bearer sk-cxp-0123456789ab-' + 'a'.repeat(43) }],
  ])('%s → 401 api_key_missing', async (_name, headers) => {
    const result = await call(gateway, '/backend-api/codex/responses', { headers });
    expect(result.status).toBe(401);
    expect(result.json?.error).toEqual({ message: 'api key is required', type: 'invalid_request_error', code: 'api_key_missing', param: null });
  });

  test('GET /v1/models with a wrong key is a 401 JSON error, not a 404', async () => {
    const result = await call(gateway, '/v1/models', { method: 'GET', headers: { authorization: 'Bearer sk-cxp-0123456789ab-' + 'b'.repeat(43) } });
    expect(result.status).toBe(401);
    expect(result.json?.error.code).toBe('api_key_missing');
  });

  test('a wrong secret for a real prefix is refused like an unknown key', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    const forged = `${seeded.apiKey.prefix}-${'c'.repeat(43)}`;
    const result = await call(gateway, '/backend-api/codex/responses', { key: forged });
    expect(result.status).toBe(401);
    expect(result.json?.error.code).toBe('api_key_missing');
  });

  test('revocation reaches another web process within a second', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    expect((await call(other, '/backend-api/codex/responses', { key: seeded.key })).status).toBe(200);
    await revokeApiKey({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), seeded.apiKey.prefix);
    const deadline = Date.now() + 1000;
    let result = await call(other, '/backend-api/codex/responses', { key: seeded.key });
    while (result.status !== 401 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      result = await call(other, '/backend-api/codex/responses', { key: seeded.key });
    }
    expect(result.status).toBe(401);
    expect(result.json?.error.code).toBe('api_key_revoked');
  });

  test('an expired key → 401 api_key_expired', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    await gateway.services.db.updateTable('api_keys').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', seeded.apiKey.id).execute();
    await gateway.services.notifier.publish(API_KEY_CHANNEL, seeded.apiKey.prefix);
    await new Promise((r) => setTimeout(r, 200));
    const result = await call(gateway, '/backend-api/codex/responses', { key: seeded.key });
    expect(result.status).toBe(401);
    expect(result.json?.error.code).toBe('api_key_expired');
  });
});

describe('request errors', () => {
  test('malformed JSON → 400 invalid_request', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    const result = await call(gateway, '/backend-api/codex/responses', { key: seeded.key, body: '{"model": ' });
    expect(result.status).toBe(400);
    expect(result.json?.error.code).toBe('invalid_request');
  });

  test('missing model → 400 naming the parameter', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    const result = await call(gateway, '/backend-api/codex/responses', { key: seeded.key, body: JSON.stringify({ input: [] }) });
    expect(result.status).toBe(400);
    expect(result.json?.error).toMatchObject({ code: 'invalid_request', param: 'model', message: 'model is required' });
  });

  test('a model outside the fetched catalog → 400 invalid_model', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    const result = await call(gateway, '/backend-api/codex/responses', { key: seeded.key, body: JSON.stringify({ ...body, model: 'gpt-nope' }) });
    expect(result.status).toBe(400);
    expect(result.json?.error.code).toBe('invalid_model');
  });

  test('oversized body → 413', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    const result = await call(other, '/backend-api/codex/responses', { key: seeded.key, body: JSON.stringify({ ...body, instructions: 'x'.repeat(10_000) }) });
    expect(result.status).toBe(413);
    expect(result.json?.error.code).toBe('payload_too_large');
  });

  test('a pool without accounts → 503 with a message an operator can act on', async () => {
    const pool = await createPool(gateway.services.db, cliActor(), { name: uniqueName('empty') });
    const { key } = await mintApiKey({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), { pool: pool.slug });
    const result = await call(gateway, '/backend-api/codex/responses', { key });
    expect(result.status).toBe(503);
    expect(result.json?.error.code).toBe('no_eligible_backend');
    expect(result.json?.error.message).toContain('accounts import');
  });

  test('all accounts disabled → 503 naming why', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    await gateway.services.db.updateTable('pool_upstream_assignments').set({ status: 'disabled' }).where('pool_id', '=', seeded.pool.id).execute();
    gateway.services.routing.invalidate(seeded.pool.id);
    const result = await call(gateway, '/backend-api/codex/responses', { key: seeded.key });
    expect(result.status).toBe(503);
    expect(result.json?.error.message).toContain('1 disabled');
  });

  // Upgrades are served by the websocket transport: test/integration/websocket-gateway.test.ts.
  test('the responses websocket path: plain GET → 400', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    const plain = await call(gateway, '/backend-api/codex/responses', { method: 'GET', key: seeded.key });
    expect(plain.status).toBe(400);
    expect(plain.json?.error.code).toBe('websocket_upgrade_required');
  });

  test('pruned Codex helper routes answer a plain 404 without auth', async () => {
    const response = await fetch(`${gateway.url}/backend-api/codex/safety/arc`, { method: 'POST' });
    expect(response.status).toBe(404);
    expect(await response.text()).toBe('Not Found');
  });
});
