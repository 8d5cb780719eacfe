/**
 * Owner forwarding when the owner is alive but will not take the client (routing spec B6): only an
 * unreachable owner is taken over. Real gateways in this process share one PostgreSQL database, each
 * with its internal peer listener, as replicas do.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, startGateway, type TestGateway } from '../support/gateway.ts';
import { openSocket, wsUrl } from '../support/websocket-client.ts';

let upstream: FakeUpstream;
const gateways: TestGateway[] = [];

const replica = async (name: string, env: Record<string, string> = {}) => {
  const gateway = await startGateway({
    databaseUrl: inject('databaseUrl'),
    upstream,
    env: { CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING: 'true', POD_NAME: `web-${name}`, CODEX_POOLER_PEER_PORT: '0', CODEX_POOLER_PEER_BIND_HOST: '127.0.0.1', CODEX_POOLER_PEER_ADVERTISE_HOST: '127.0.0.1', ...env },
  });
  gateways.push(gateway);
  return gateway;
};

beforeAll(async () => {
  upstream = await startFakeUpstream();
});
afterAll(async () => {
  for (const gateway of gateways.reverse()) await gateway.close();
  await upstream?.close();
});

const turn = (text: string) => ({ type: 'response.create', model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text }] }] });

async function owner(db: TestGateway, apiKeyId: string) {
  const rows = await sql<{ owner_instance_id: string; live: boolean }>`
    SELECT owner_instance_id, owner_lease_expires_at > now() AS live FROM websocket_session_owners WHERE api_key_id = ${apiKeyId}`.execute(db.services.db);
  return rows.rows;
}

/** A session opened on `on` with one finished turn; its client has left, the owner keeps it. */
async function sessionOn(on: TestGateway, label: string) {
  const seeded = await seedPool(on, upstream, 1, label);
  const headers = { authorization: `Bearer ${seeded.key}`, 'x-codex-turn-state': randomUUID() };
  const socket = await openSocket(wsUrl(on.url, '/backend-api/codex/responses'), headers);
  socket.send(turn('first'));
  expect((await socket.turn(0)).at(-1)!.type).toBe('response.completed');
  socket.close();
  await socket.waitClosed();
  return { seeded, headers };
}

describe('a live owner that refuses is not taken over', () => {
  test('a replica with another SECRET_KEY_BASE gets a peer authentication error frame and 1011; the owner keeps the session', async () => {
    const a = await replica('a');
    const misconfigured = await replica('c', { SECRET_KEY_BASE: `other-secret-key-base-${randomBytes(8).toString('hex')}`.padEnd(80, 'y') });
    const { seeded, headers } = await sessionOn(a, 'ws-peer-401');
    const connections = upstream.websocketConnections;
    const socket = await openSocket(wsUrl(misconfigured.url, '/backend-api/codex/responses'), headers);
    expect(await socket.waitClosed()).toEqual({ code: 1011, reason: 'websocket owner is unavailable' });
    expect(socket.frames).toEqual([{ type: 'error', status: 503, error: expect.objectContaining({ code: 'websocket_owner_unavailable', message: expect.stringContaining('peer authentication failed') }) }]);
    // No takeover: the lease stays with the owner and no second upstream socket was opened.
    expect((await owner(a, seeded.apiKey.id)).map((r) => r.owner_instance_id.split(':')[0])).toEqual(['web-a']);
    expect(upstream.websocketConnections).toBe(connections);
    const decisions = await misconfigured.services.metrics.registry.getSingleMetricAsString('codex_pooler_gateway_websocket_owner_count');
    expect(decisions).toMatch(/decision="peer_auth_failed"\} 1/);
    expect(decisions).not.toMatch(/decision="takeover"/);
  });

  test('an owner draining through a running turn: the other replica reads the lease again, then closes 1001 without taking over', async () => {
    const a = await replica('a2');
    const b = await replica('b2');
    const { seeded, headers } = await sessionOn(a, 'ws-peer-drain');
    upstream.script(seeded.accounts[0]!.accountId, { kind: 'stall-mid-stream', ms: 3_000, on: 'websocket' });
    const busy = await openSocket(wsUrl(a.url, '/backend-api/codex/responses'), headers);
    busy.send(turn('slow'));
    await busy.until(() => busy.frames.some((f) => f.type === 'response.output_text.delta'), 'the slow turn to start');
    a.drain.start();
    const connections = upstream.websocketConnections;
    const other = await openSocket(wsUrl(b.url, '/backend-api/codex/responses'), headers);
    expect(await other.waitClosed()).toEqual({ code: 1001, reason: 'websocket owner is draining' });
    expect(upstream.websocketConnections).toBe(connections);
    const decisions = await b.services.metrics.registry.getSingleMetricAsString('codex_pooler_gateway_websocket_owner_count');
    expect(decisions).toMatch(/decision="owner_drained"\} 2/);
    expect(decisions).not.toMatch(/decision="takeover"/);
    // The owner finishes its turn, then lets its client go with 1001 and releases the lease.
    expect((await busy.turn(0)).at(-1)!.type).toBe('response.completed');
    expect(await busy.waitClosed()).toEqual({ code: 1001, reason: 'websocket owner is draining' });
    let rows = await owner(a, seeded.apiKey.id);
    for (let i = 0; i < 50 && rows[0]!.live; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      rows = await owner(a, seeded.apiKey.id);
    }
    expect(rows).toEqual([{ owner_instance_id: expect.stringContaining('web-a2:'), live: false }]);
  });

  test('an idle session of a draining owner continues on the replica once the owner released it', async () => {
    const d = await replica('d3');
    const b = await replica('b3');
    const { seeded, headers } = await sessionOn(d, 'ws-peer-drain-idle');
    d.drain.start();
    const socket = await openSocket(wsUrl(b.url, '/backend-api/codex/responses'), headers);
    socket.send(turn('after the drain'));
    expect((await socket.turn(0)).at(-1)!.type).toBe('response.completed');
    socket.close();
    expect((await owner(b, seeded.apiKey.id)).map((r) => r.owner_instance_id.split(':')[0])).toEqual(['web-b3']);
    // Same account: the session's binding moved with it.
    const accounts = upstream.requests.filter((r) => r.method === 'WS' && r.accountId === seeded.accounts[0]!.accountId);
    expect(accounts).toHaveLength(2);
  });
});
