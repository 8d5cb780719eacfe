import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, sendUntilTried, startGateway, type TestGateway } from '../support/gateway.ts';

let upstream: FakeUpstream;
let open: TestGateway;
let protectedGateway: TestGateway;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  open = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
  protectedGateway = await startGateway({ databaseUrl: inject('databaseUrl'), upstream, env: { CODEX_POOLER_METRICS_TOKEN: 'scrape-token-123' } });
});
afterAll(async () => {
  await protectedGateway?.close();
  await open?.close();
  await upstream?.close();
});

describe('/metrics', () => {
  test('open mode exposes request, stream, failover and account metrics without ids', async () => {
    const seeded = await seedPool(open, upstream, 2);
    upstream.script(seeded.accounts[0]!.accountId, { kind: 'status', status: 500, on: 'responses' });
    await sendUntilTried(upstream, seeded.accounts[0]!.accountId, async () => {
      const response = await fetch(`${open.url}/backend-api/codex/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${seeded.key}` },
        body: JSON.stringify({ model: 'gpt-5.4', instructions: '', input: [], stream: true }),
      });
      await response.text();
    });
    const response = await fetch(`${open.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    expect(text).toMatch(/codex_pooler_http_route_count\{route="\/backend-api\/codex\/responses",method="POST",status_class="2xx"\} [1-9]/);
    expect(text).toMatch(/codex_pooler_gateway_stream_outcome_count\{outcome="succeeded",downstream_transport="http_sse",upstream_transport="http_sse"\} [1-9]/);
    expect(text).toMatch(/codex_pooler_gateway_failover_count\{reason="upstream_5xx"\} 1/);
    expect(text).toMatch(/codex_pooler_upstream_accounts\{state="active"\} [1-9]/);
    expect(text).toContain('process_resident_memory_bytes');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(text).not.toContain(seeded.accounts[0]!.accountId);
    expect(text).not.toContain(seeded.pool.id);
  });

  test('bearer mode refuses a missing or wrong token and reveals nothing', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'scrape-token-123' }]) {
      const response = await fetch(`${protectedGateway.url}/metrics`, { headers });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ error: { code: 'metrics_unauthorized', message: 'metrics bearer token is required' } });
    }
    const ok = await fetch(`${protectedGateway.url}/metrics`, { headers: { authorization: 'Bearer scrape-token-123' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('codex_pooler_http_request_count');
  });
});
