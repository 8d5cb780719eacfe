import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { setKeyLimits } from '../../src/accounting/index.ts';
import { cliActor } from '../../src/audit/index.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, startGateway, type TestGateway } from '../support/gateway.ts';

let upstream: FakeUpstream;
let gateway: TestGateway;
let peer: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
  peer = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
});
afterAll(async () => {
  await peer?.close();
  await gateway?.close();
  await upstream?.close();
});

const body = (extra: Record<string, unknown> = {}) => JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true, ...extra });
async function send(target: TestGateway, key: string, payload = body()) {
  const response = await fetch(`${target.url}/backend-api/codex/responses`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: payload });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), text: await response.text() };
}
const deps = () => ({ db: gateway.services.db, notifier: gateway.services.notifier });

describe('key limits', () => {
  test('requests per minute: the request over the limit is refused before the upstream, with resets_at and Retry-After', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'rpm');
    await setKeyLimits(deps(), cliActor(), seeded.apiKey.prefix, { max_requests_per_minute: 2 });
    await new Promise((r) => setTimeout(r, 100));
    expect((await send(gateway, seeded.key)).status).toBe(200);
    expect((await send(gateway, seeded.key)).status).toBe(200);
    const before = upstream.requestsTo('/backend-api/codex/responses').length;
    const refused = await send(gateway, seeded.key);
    expect(refused.status).toBe(400);
    const error = (JSON.parse(refused.text) as { error: { code: string; message: string; resets_at: string; param: string } }).error;
    expect(error.code).toBe('api_key_policy_limit_exceeded');
    expect(error.message).toBe('api key policy max_requests_per_minute exceeded for requests in minute window: attempted 3, max 2');
    expect(Date.parse(error.resets_at)).toBeGreaterThan(Date.now());
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(upstream.requestsTo('/backend-api/codex/responses').length).toBe(before);
  });

  test('another web process sees the usage within a couple of seconds', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'rpm-shared');
    await setKeyLimits(deps(), cliActor(), seeded.apiKey.prefix, { max_requests_per_minute: 2 });
    expect((await send(gateway, seeded.key)).status).toBe(200);
    expect((await send(gateway, seeded.key)).status).toBe(200);
    await gateway.services.requestLog.flush();
    await new Promise((r) => setTimeout(r, 1100));
    expect((await send(peer, seeded.key)).status).toBe(400);
  });

  test('5 requests per minute across two web processes: requests alternate, the 6th is refused with resets_at and Retry-After', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'rpm-five');
    await setKeyLimits(deps(), cliActor(), seeded.apiKey.prefix, { max_requests_per_minute: 5 });
    const startedAt = Date.now();
    const targets = [gateway, peer, gateway, peer, gateway];
    for (const target of targets) expect((await send(target, seeded.key)).status).toBe(200);
    const before = upstream.requestsTo('/backend-api/codex/responses').length;
    const refused = await send(peer, seeded.key);
    expect(refused.status).toBe(400);
    const error = (JSON.parse(refused.text) as { error: { code: string; message: string; resets_at: string; param: string } }).error;
    expect(error).toMatchObject({ code: 'api_key_policy_limit_exceeded', param: 'max_requests_per_minute', message: 'api key policy max_requests_per_minute exceeded for requests in minute window: attempted 6, max 5' });
    // Rolling 60 s: the window frees a slot when the first of the five admissions is a minute old.
    const resetsAt = Date.parse(error.resets_at);
    expect(resetsAt).toBeGreaterThan(Date.now());
    expect(resetsAt).toBeGreaterThanOrEqual(startedAt + 60_000 - 1_000);
    expect(resetsAt).toBeLessThanOrEqual(startedAt + 60_000 + 5_000);
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
    expect(upstream.requestsTo('/backend-api/codex/responses').length).toBe(before);
    // The other process refuses it too: the count is shared, not per process.
    expect((await send(gateway, seeded.key)).status).toBe(400);
  });

  test('a per-model binding overrides the default, and per-request caps compare the estimate', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'caps');
    await setKeyLimits(deps(), cliActor(), seeded.apiKey.prefix, { max_input_tokens_per_request: 10 });
    await setKeyLimits(deps(), cliActor(), seeded.apiKey.prefix, { model: 'GPT-5.4-mini', max_input_tokens_per_request: 100_000 });
    await new Promise((r) => setTimeout(r, 100));
    const big = await send(gateway, seeded.key, body({ instructions: 'x'.repeat(2000) }));
    expect(big.status).toBe(400);
    expect(big.text).toContain('max_input_tokens_per_request');
    expect((await send(gateway, seeded.key, body({ model: 'gpt-5.4-mini', instructions: 'x'.repeat(2000) }))).status).toBe(200);
  });

  test('a key restricted to some models is refused others with 403 model_not_allowed', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'allowed-models');
    await gateway.services.db.updateTable('api_keys').set({ allowed_model_identifiers: ['gpt-5.4-mini'] }).where('id', '=', seeded.apiKey.id).execute();
    await gateway.services.notifier.publish('cxp_api_keys', seeded.apiKey.prefix);
    await new Promise((r) => setTimeout(r, 100));
    const refused = await send(gateway, seeded.key);
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.text).error).toMatchObject({ code: 'model_not_allowed', param: 'model' });
    expect((await send(gateway, seeded.key, body({ model: 'GPT-5.4-mini' }))).status).toBe(200);
  });

  test('bad limit input is refused and changes nothing', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'bad-limits');
    await expect(setKeyLimits(deps(), cliActor(), seeded.apiKey.prefix, { max_requests_per_minute: -1 })).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(setKeyLimits(deps(), cliActor(), seeded.apiKey.prefix, { rpm: 5 })).rejects.toMatchObject({ code: 'invalid_request' });
    expect(await gateway.services.db.selectFrom('api_key_policy_bindings').select('id').where('api_key_id', '=', seeded.apiKey.id).execute()).toHaveLength(0);
  });
});
