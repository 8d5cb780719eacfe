/**
 * The ingress firewall (control-plane spec §8.5, acceptance 47) on a real gateway whose instance
 * settings are saved and then re-read (`services.settings.refresh()`). A scratch database keeps the
 * allowlist away from the gateways of concurrently running test files.
 */
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { openDatabase } from '../../src/db/index.ts';
import { systemScope } from '../../src/operators/index.ts';
import { migrateAndImportPricing } from '../../src/runtime/migrate.ts';
import { getInstanceSettings, updateInstanceSettings, type InstanceSettingsDocument } from '../../src/settings/index.ts';
import { createScratchDatabase, type ScratchDatabase } from '../support/database.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, startGateway, type SeededPool, type TestGateway } from '../support/gateway.ts';
import { openSocket, wsUrl } from '../support/websocket-client.ts';

let database: ScratchDatabase, upstream: FakeUpstream, gateway: TestGateway, seeded: SeededPool;

beforeAll(async () => {
  database = await createScratchDatabase('ingress');
  const handle = await openDatabase({ kind: 'postgres', url: database.url, poolSize: 2, ipv6: false }, { onError: () => {} });
  try {
    await migrateAndImportPricing(handle.db, pino({ level: 'silent' }));
  } finally {
    await handle.close();
  }
  upstream = await startFakeUpstream();
  gateway = await startGateway({ databaseUrl: database.url, upstream });
  seeded = await seedPool(gateway, upstream, 1, 'ingress');
  upstream.reset();
}, 60_000);
afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
  await database?.drop();
});
afterEach(async () => {
  await saveIngress({ firewall_allowlist: [], trusted_proxies: [], forwarded_client_ip_source: 'x_forwarded_for', forwarded_proxy_depth: 0 });
  upstream.reset();
});

/** Saves the ingress group as an operator would, then has the gateway re-read it. */
async function saveIngress(ingress: Partial<InstanceSettingsDocument['ingress']>): Promise<void> {
  const scope = systemScope('test');
  const current = await getInstanceSettings(gateway.services.db, scope);
  await updateInstanceSettings(gateway.services.db, scope, { lock_version: current.lock_version, settings: { ingress } });
  await gateway.services.settings.refresh();
}

const responsesBody = JSON.stringify({
  model: 'gpt-5.4',
  instructions: 'be brief',
  input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] }],
  stream: true,
});
const postResponses = (headers: Record<string, string> = {}) =>
  fetch(`${gateway.url}/backend-api/codex/responses`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${seeded.key}`, ...headers }, body: responsesBody });

async function clientIpsLogged(): Promise<(string | null)[]> {
  await gateway.services.requestLog.flush();
  const rows = await gateway.services.db.selectFrom('requests').select('client_ip').where('api_key_id', '=', seeded.apiKey.id).orderBy('admitted_at').execute();
  return rows.map((row) => row.client_ip);
}

describe('ingress firewall', () => {
  test('an allowlist without the client refuses runtime requests with 403 access_denied before auth or upstream', async () => {
    await saveIngress({ firewall_allowlist: ['10.0.0.0/8'] });
    const refused = await postResponses();
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ error: { message: 'client IP is not allowed', type: 'invalid_request_error', code: 'access_denied', param: null } });

    // Before authentication: no key at all still gets access_denied, not api_key_missing.
    for (const path of ['/v1/models', '/api/codex/usage', '/wham/usage', '/backend-api/codex/models']) {
      const response = await fetch(`${gateway.url}${path}`);
      expect(response.status, path).toBe(403);
      expect(((await response.json()) as { error: { code: string } }).error.code, path).toBe('access_denied');
    }

    // Websocket upgrades are refused before the upgrade, with the same envelope.
    const upgrade = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` }).then(() => null, (error: { status: number; body: string }) => error);
    expect(upgrade?.status).toBe(403);
    expect(JSON.parse(upgrade!.body).error.code).toBe('access_denied');

    expect(upstream.requestsTo('/codex/responses')).toHaveLength(0);
    expect(await clientIpsLogged()).toEqual([]);
    const denied = await gateway.services.metrics.registry.getSingleMetricAsString('codex_pooler_ingress_firewall_denied_count');
    expect(denied).toMatch(/codex_pooler_ingress_firewall_denied_count\{reason="not_allowed"\} [6-9]/);
  });

  test('probes, admin and bootstrap are never blocked', async () => {
    await saveIngress({ firewall_allowlist: ['10.0.0.0/8'] });
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${gateway.url}/admin/pools`)).status).not.toBe(403);
    const session = await fetch(`${gateway.url}/api/admin/session`);
    expect(session.status).not.toBe(403);
    const observatory = await fetch(`${gateway.url}/observatory`);
    expect(observatory.status).not.toBe(403);
  });

  test('behind a trusted proxy the forwarded client is checked and logged', async () => {
    await saveIngress({ firewall_allowlist: ['10.0.0.0/8'], trusted_proxies: ['127.0.0.1/32'] });
    const allowed = await postResponses({ 'x-forwarded-for': '203.0.113.9, 10.1.2.3' });
    expect(allowed.status).toBe(200);
    await allowed.text();
    expect(upstream.requestsTo('/backend-api/codex/responses')).toHaveLength(1);

    const outside = await postResponses({ 'x-forwarded-for': '192.0.2.5' });
    expect(outside.status).toBe(403);
    const malformed = await postResponses({ 'x-forwarded-for': '10.1.2.3, not-an-ip' });
    expect(malformed.status).toBe(403);
    expect(upstream.requestsTo('/backend-api/codex/responses')).toHaveLength(1);

    // The request log records the resolved client, not the proxy.
    expect(await clientIpsLogged()).toEqual(['10.1.2.3']);
  });

  test('x-forwarded-for from an untrusted peer is ignored', async () => {
    await saveIngress({ firewall_allowlist: ['10.0.0.0/8'], trusted_proxies: ['192.0.2.0/24'] });
    const forged = await postResponses({ 'x-forwarded-for': '10.1.2.3' });
    expect(forged.status).toBe(403);
    expect(((await forged.json()) as { error: { code: string } }).error.code).toBe('access_denied');
    expect(upstream.requestsTo('/codex/responses')).toHaveLength(0);
  });

  test('an empty allowlist allows everything', async () => {
    await saveIngress({ firewall_allowlist: [] });
    const response = await postResponses({ 'x-forwarded-for': '192.0.2.5' });
    expect(response.status).toBe(200);
    await response.text();
    expect(upstream.requestsTo('/backend-api/codex/responses')).toHaveLength(1);
    // Untrusted peer: the forged header is not what gets logged.
    expect(await clientIpsLogged()).toContain('127.0.0.1');
  });
});
