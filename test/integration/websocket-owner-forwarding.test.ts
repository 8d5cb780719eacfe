/**
 * Two real web processes (`codex-pooler serve`) on one PostgreSQL database with owner forwarding on,
 * as the chart runs replicas: a session's live upstream websocket stays with the process that owns
 * it; a client reaching the other process is forwarded to the owner over the signed internal socket;
 * when the owner dies, the in-flight turn fails cleanly and the next turn takes the session over on
 * the same account.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { API_KEY_CHANNEL, updateApiKey } from '../../src/api-keys/index.ts';
import { cliActor } from '../../src/audit/index.ts';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, startGateway, TEST_SECRETS, type TestGateway } from '../support/gateway.ts';
import { killAllPoolers, poolerEnv, startPooler, type PoolerProcess } from '../support/processes.ts';
import { openSocket, wsUrl } from '../support/websocket-client.ts';

let upstream: FakeUpstream;
let seeder: TestGateway;
let dataDir: string;
let a: PoolerProcess;
let b: PoolerProcess;
let urlA: string;
let urlB: string;

beforeAll(async () => {
  upstream = await startFakeUpstream();
  // In-process services on the same database seed pools, accounts and keys (same secrets as the processes).
  seeder = await startGateway({ databaseUrl: inject('databaseUrl'), upstream });
  dataDir = await mkdtemp(join(tmpdir(), 'cxp-ws-owners-'));
  const env = (name: string) =>
    poolerEnv({
      ...TEST_SECRETS,
      DATABASE_URL: inject('databaseUrl'),
      POOL_SIZE: '3',
      PORT: '0',
      CODEX_POOLER_DATA_DIR: join(dataDir, name),
      CODEX_POOLER_UPSTREAM_BASE_URL: upstream.url,
      CODEX_POOLER_AUTH_ISSUER: upstream.url,
      // What the chart passes with clustering and websocketContinuity.ownerForwarding enabled.
      CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING: 'true',
      DNS_CLUSTER_QUERY: 'codex-pooler-cluster.test.svc.cluster.local',
      POD_NAME: `web-${name}`,
      CODEX_POOLER_PEER_PORT: '0',
      CODEX_POOLER_PEER_ADVERTISE_HOST: '127.0.0.1',
    });
  a = startPooler(['serve'], env('a'));
  b = startPooler(['serve'], env('b'));
  urlA = `http://127.0.0.1:${await a.waitForListening()}`;
  urlB = `http://127.0.0.1:${await b.waitForListening()}`;
  await a.waitForLog((l) => l.msg === 'websocket owner forwarding on', 10_000, 'forwarding on (a)');
  await b.waitForLog((l) => l.msg === 'websocket owner forwarding on', 10_000, 'forwarding on (b)');
}, 90_000);

afterAll(async () => {
  await killAllPoolers();
  await seeder?.close();
  await upstream?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

const turn = (text: string) => ({ type: 'response.create', model: 'gpt-5.4', instructions: '', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text }] }] });

/** The key's session owner rows (one session per key in this test). */
async function ownerRows(apiKeyId: string) {
  const rows = await sql<{ owner_instance_id: string; pool_upstream_assignment_id: string | null }>`
    SELECT owner_instance_id, pool_upstream_assignment_id FROM websocket_session_owners WHERE api_key_id = ${apiKeyId}`.execute(seeder.services.db);
  return rows.rows;
}

describe('two web processes with owner forwarding', () => {
  test('a session opened on A continues through B; killing A fails the in-flight turn and the next turn takes over', async () => {
    const seeded = await seedPool(seeder, upstream, 2, 'ws-owners');
    const turnState = randomUUID();
    const headers = { authorization: `Bearer ${seeded.key}`, 'x-codex-turn-state': turnState };
    const wsTurns = () => upstream.requests.filter((r) => r.method === 'WS' && seeded.accounts.some((acc) => acc.accountId === r.accountId));

    // Turn 1 on A: A owns the session and its upstream socket.
    const onA = await openSocket(wsUrl(urlA, '/backend-api/codex/responses'), headers);
    expect(onA.headers['x-codex-turn-state']).toBe(turnState);
    onA.send(turn('one'));
    expect((await onA.turn(0)).at(-1)!.type).toBe('response.completed');
    onA.close();
    await onA.waitClosed();
    const account = wsTurns()[0]!.accountId;
    const connectionsAfterFirst = upstream.websocketConnections;
    const owner = (await ownerRows(seeded.apiKey.id))[0]!;
    expect(owner.owner_instance_id).toContain(`web-a:${a.pid}:`);

    // Turn 2 through B: forwarded to A, served on A's live upstream socket (no new upstream connection).
    const onB = await openSocket(wsUrl(urlB, '/backend-api/codex/responses'), headers);
    expect(onB.headers['x-codex-turn-state']).toBe(turnState);
    onB.send(turn('two'));
    const second = await onB.turn(0);
    expect(second[0]).toMatchObject({ type: 'codex.response.metadata' });
    expect(second.at(-1)!.type).toBe('response.completed');
    expect(upstream.websocketConnections).toBe(connectionsAfterFirst);
    expect(wsTurns().map((r) => r.accountId)).toEqual([account, account]);
    expect((await ownerRows(seeded.apiKey.id))[0]!.owner_instance_id).toContain(`web-a:${a.pid}:`);

    // The key's policy is tightened while B's client is connected: B checks the key before each
    // forwarded turn and sends A the fresh key with it, so A runs the next turns with the new policy.
    let announced!: () => void;
    const keyChanged = new Promise<void>((resolve) => (announced = resolve));
    await seeder.services.notifier.subscribe(API_KEY_CHANNEL, (prefix) => void (prefix === seeded.apiKey.prefix && announced()));
    await updateApiKey({ db: seeder.services.db, notifier: seeder.services.notifier }, cliActor(), seeded.apiKey.id, { policy: { maximum_reasoning_effort: 'low', service_tier: 'flex' } });
    await keyChanged;
    // Every process got the same notification; give A's and B's listeners a moment to act on it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const refusedFrom = onB.frames.length;
    onB.send({ ...turn('think hard'), reasoning: { effort: 'high' } });
    expect(await onB.turn(refusedFrom)).toEqual([{ type: 'error', status: 400, error: expect.objectContaining({ code: 'reasoning_effort_not_allowed', param: 'reasoning.effort' }) }]);
    expect(wsTurns()).toHaveLength(2);

    // Turn 3 through B is slow; A dies mid-turn: B's client gets an error frame and keeps its socket.
    upstream.setEventDelayMs(400);
    const from = onB.frames.length;
    onB.send(turn('three'));
    await onB.until(() => onB.frames.slice(from).some((f) => f.type === 'response.output_text.delta' || f.type === 'response.output_item.added'), 'the slow turn to start');
    expect(wsTurns().at(-1)!.body).toMatchObject({ service_tier: 'flex' });
    a.child.kill('SIGKILL');
    const failed = await onB.turn(from);
    expect(failed.at(-1)).toMatchObject({ type: 'error', status: 503, error: { code: 'websocket_owner_unavailable' } });
    expect(onB.closed).toBeNull();
    upstream.setEventDelayMs(0);

    // Turn 4 on the same socket: B takes the session over and serves it on the same account.
    const next = onB.frames.length;
    onB.send(turn('four'));
    const fourth = await onB.turn(next);
    expect(fourth.at(-1)!.type).toBe('response.completed');
    expect(wsTurns().at(-1)!.accountId).toBe(account);
    expect(upstream.websocketConnections).toBe(connectionsAfterFirst + 1);
    const taken = (await ownerRows(seeded.apiKey.id))[0]!;
    expect(taken.owner_instance_id).toContain(`web-b:${b.pid}:`);
    expect(taken.pool_upstream_assignment_id).toBe(seeded.accounts.find((acc) => acc.accountId === account)!.assignmentId);
    onB.close();

    // Each turn is logged by the process that ran it: A the first two (the second marked forwarded), B the last.
    const logged = async () => seeder.services.db.selectFrom('requests').select(['status', 'pool_upstream_assignment_id', 'request_metadata']).where('api_key_id', '=', seeded.apiKey.id).execute();
    let rows = await logged();
    for (let i = 0; i < 50 && rows.filter((r) => r.status === 'succeeded').length < 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      rows = await logged();
    }
    const succeeded = rows.filter((r) => r.status === 'succeeded');
    expect(succeeded).toHaveLength(3);
    for (const row of succeeded) expect(row.pool_upstream_assignment_id).toBe(taken.pool_upstream_assignment_id);
    expect(succeeded.map((r) => (r.request_metadata as { websocket: { forwarded: boolean } }).websocket.forwarded).sort()).toEqual([false, false, true]);

    // SIGTERM: B drains, its client hears 1001, its lease is released and it exits cleanly.
    const last = await openSocket(wsUrl(urlB, '/backend-api/codex/responses'), headers);
    const code = await b.stop('SIGTERM', 30_000);
    expect(await last.waitClosed()).toEqual({ code: 1001, reason: 'websocket owner is draining' });
    expect(code).toBe(0);
    const released = await sql<{ live: boolean }>`
      SELECT owner_lease_expires_at > now() AS live FROM websocket_session_owners WHERE api_key_id = ${seeded.apiKey.id}`.execute(seeder.services.db);
    expect(released.rows.map((r) => r.live), b.tail(30)).toEqual([false]);
  }, 90_000);
});
