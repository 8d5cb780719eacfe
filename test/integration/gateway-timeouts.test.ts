import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, sendUntilTried, startGateway, type TestGateway } from '../support/gateway.ts';

let upstream: FakeUpstream;
let gateway: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  gateway = await startGateway({
    databaseUrl: inject('databaseUrl'),
    upstream,
    env: { CODEX_POOLER_UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '400', CODEX_POOLER_UPSTREAM_IDLE_TIMEOUT_MS: '400' },
  });
});
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

const body = JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] }], stream: true });
const send = (key: string, signal?: AbortSignal) =>
  fetch(`${gateway.url}/backend-api/codex/responses`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body, signal });

describe('timeouts and cancellation', () => {
  test('an upstream that never sends headers fails over to the next account', async () => {
    const seeded = await seedPool(gateway, upstream, 2);
    upstream.script(seeded.accounts[0]!.accountId, { kind: 'stall', ms: 3000, on: 'responses' });
    const results = await sendUntilTried(upstream, seeded.accounts[0]!.accountId, async () => {
      const started = Date.now();
      const response = await send(seeded.key);
      return { status: response.status, text: await response.text(), ms: Date.now() - started };
    });
    for (const result of results) {
      expect(result.status).toBe(200);
      expect(result.text).toContain('response.completed');
      expect(result.ms).toBeLessThan(2500);
    }
  });

  test('the last account timing out answers 502 in the envelope', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    upstream.script(seeded.accounts[0]!.accountId, { kind: 'stall', ms: 3000, on: 'responses' });
    const response = await send(seeded.key);
    expect(response.status).toBe(502);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('upstream_request_failed');
  });

  test('a stream that goes idle mid-way is cut off instead of hanging', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    upstream.script(seeded.accounts[0]!.accountId, { kind: 'stall-mid-stream', ms: 5000, on: 'responses' });
    const started = Date.now();
    const response = await send(seeded.key);
    expect(response.status).toBe(200);
    const text = await response.text().catch(() => 'stream cut');
    expect(text).not.toContain('response.completed');
    expect(Date.now() - started).toBeLessThan(3000);
  });

  test('a client that disconnects cancels the upstream request', async () => {
    const seeded = await seedPool(gateway, upstream, 1);
    upstream.setEventDelayMs(100);
    try {
      const before = upstream.abortedStreams;
      const controller = new AbortController();
      const response = await send(seeded.key, controller.signal);
      const reader = response.body!.getReader();
      await reader.read();
      controller.abort();
      const deadline = Date.now() + 2000;
      while (upstream.abortedStreams === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(upstream.abortedStreams).toBe(before + 1);
      await gateway.services.requestLog.flush();
      await new Promise((r) => setTimeout(r, 100));
      await gateway.services.requestLog.flush();
      const row = await gateway.services.db.selectFrom('requests').select(['status', 'last_error_code']).where('api_key_id', '=', seeded.apiKey.id).executeTakeFirst();
      expect(row).toEqual({ status: 'cancelled', last_error_code: 'client_disconnected' });
    } finally {
      upstream.setEventDelayMs(0);
    }
  });
});
