/**
 * The websocket transports end to end in one process: a real client (ws) against the gateway on
 * PostgreSQL, the gateway against the fake ChatGPT upstream's websocket.
 */
import type { Socket } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { API_KEY_CHANNEL, pauseApiKey, revokeApiKey, updateApiKey } from '../../src/api-keys/index.ts';
import { cliActor } from '../../src/audit/index.ts';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.ts';
import { seedPool, startGateway, type TestGateway } from '../support/gateway.ts';
import { openSocket, wsUrl, type TestSocket } from '../support/websocket-client.ts';

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

const turn = (text: string, extra: Record<string, unknown> = {}) => ({
  type: 'response.create',
  model: 'gpt-5.4',
  instructions: 'be brief',
  input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text }] }],
  ...extra,
});

const upstreamWsTurns = (accountId?: string) => upstream.requests.filter((r) => r.transport === 'websocket' && r.method === 'WS' && (!accountId || r.accountId === accountId));

async function rowsFor(apiKeyId: string) {
  await gateway.services.requestLog.flush();
  return gateway.services.db
    .selectFrom('requests')
    .select(['id', 'transport', 'status', 'endpoint', 'pool_upstream_assignment_id', 'total_tokens', 'usage_status', 'response_status_code', 'request_metadata'])
    .where('api_key_id', '=', apiKeyId)
    .orderBy('admitted_at')
    .execute();
}

describe('native backend websocket (GET /backend-api/codex/responses)', () => {
  test('a warm-up and several turns run on one account over one upstream socket, each logged and accounted', async () => {
    const seeded = await seedPool(gateway, upstream, 2, 'ws-turns');
    const connectionsBefore = upstream.websocketConnections;
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    // The upgrade answers with a turn state and the catalog tag.
    expect(socket.headers['x-codex-turn-state']).toMatch(/^[0-9a-f-]{36}$/);
    expect(socket.headers['x-models-etag']).toMatch(/^W\/"cp-models-v1-[0-9a-f]{64}"$/);

    socket.send(turn('warm up', { generate: false }));
    const warmup = await socket.turn(0);
    expect(warmup).toEqual([
      { type: 'response.created', response: { id: '', usage: null, end_turn: true } },
      { type: 'response.completed', response: { id: '', usage: null, end_turn: true } },
    ]);
    expect(upstream.websocketConnections).toBe(connectionsBefore);

    const accounts = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const from = socket.frames.length;
      socket.send(turn(`question ${i}`, { request_id: `turn-${i}` }));
      const frames = await socket.turn(from);
      expect(frames[0]).toEqual({ type: 'codex.response.metadata', headers: { 'x-models-etag': socket.headers['x-models-etag'] } });
      expect(frames.at(-1)!.type).toBe('response.completed');
      expect(frames.some((f) => f.type === 'response.output_text.delta')).toBe(true);
    }
    for (const request of upstreamWsTurns()) if (seeded.accounts.some((a) => a.accountId === request.accountId)) accounts.add(request.accountId!);
    // One account, one upstream socket for the whole session; the upstream never saw the turn ids.
    expect(accounts.size).toBe(1);
    expect(upstream.websocketConnections).toBe(connectionsBefore + 1);
    const sent = upstreamWsTurns([...accounts][0]).slice(-3);
    for (const request of sent) {
      expect(request.body).toMatchObject({ type: 'response.create', model: 'gpt-5.4', instructions: 'be brief' });
      expect(request.body).not.toHaveProperty('request_id');
      expect(request.headers['openai-beta']).toBe('responses_websockets=2026-02-06');
      expect(request.headers.authorization).not.toContain('sk-cxp-');
    }

    // A reused turn id is refused on the open socket.
    const from = socket.frames.length;
    socket.send(turn('again', { request_id: 'turn-1' }));
    const duplicate = await socket.turn(from);
    expect(duplicate).toEqual([{ type: 'error', status: 409, error: expect.objectContaining({ code: 'duplicate_turn', param: 'request_id' }) }]);
    socket.close();

    const rows = await rowsFor(seeded.apiKey.id);
    expect(rows).toHaveLength(3);
    const account = seeded.accounts.find((a) => a.accountId === [...accounts][0])!;
    for (const row of rows) {
      expect(row).toMatchObject({ transport: 'websocket', status: 'succeeded', endpoint: '/backend-api/codex/responses', pool_upstream_assignment_id: account.assignmentId, usage_status: 'usage_known', response_status_code: 200 });
      expect(Number(row.total_tokens)).toBeGreaterThan(0);
    }
    expect(rows.map((r) => (r.request_metadata as { websocket: { reused: boolean } }).websocket.reused)).toEqual([false, true, true]);
    // Each turn was reserved before its upstream call, then settled.
    const ledger = await gateway.services.db.selectFrom('ledger_entries').select(['request_id', 'entry_kind']).where('request_id', 'in', rows.map((r) => r.id)).execute();
    for (const row of rows) expect(ledger.filter((l) => l.request_id === row.id).map((l) => l.entry_kind).sort()).toEqual(['reservation', 'settlement']);

    const metrics = await gateway.services.metrics.registry.getSingleMetricAsString('codex_pooler_gateway_websocket_turn_count');
    expect(metrics).toMatch(/codex_pooler_gateway_websocket_turn_count\{surface="backend",outcome="succeeded"\} [1-9]/);
  });

  test('a reconnect with the same turn state resumes on the same account and upstream socket', async () => {
    const seeded = await seedPool(gateway, upstream, 3, 'ws-resume');
    const first = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    const turnState = String(first.headers['x-codex-turn-state']);
    first.send(turn('first'));
    await first.turn(0);
    first.close();
    await first.waitClosed();
    const connections = upstream.websocketConnections;

    const again = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}`, 'x-codex-turn-state': turnState });
    expect(again.headers['x-codex-turn-state']).toBe(turnState);
    again.send(turn('second'));
    const frames = await again.turn(0);
    expect(frames.at(-1)!.type).toBe('response.completed');
    again.close();
    expect(upstream.websocketConnections).toBe(connections);
    const rows = await rowsFor(seeded.apiKey.id);
    expect(rows).toHaveLength(2);
    expect(rows[1]!.pool_upstream_assignment_id).toBe(rows[0]!.pool_upstream_assignment_id);
  });

  test('an upstream that drops the socket mid-turn fails that turn with an error frame; the next turn reconnects', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-drop');
    const account = seeded.accounts[0]!;
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.send(turn('first'));
    await socket.turn(0);
    const connections = upstream.websocketConnections;
    upstream.script(account.accountId, { kind: 'refuse-connection', on: 'websocket' });
    let from = socket.frames.length;
    socket.send(turn('dropped'));
    const dropped = await socket.turn(from);
    expect(dropped.at(-1)).toEqual({ type: 'error', status: 502, error: { message: 'upstream websocket closed before the turn completed', type: 'server_error', code: 'upstream_request_failed', param: null } });
    expect(socket.closed).toBeNull();
    from = socket.frames.length;
    socket.send(turn('after'));
    expect((await socket.turn(from)).at(-1)!.type).toBe('response.completed');
    expect(upstream.websocketConnections).toBe(connections + 1);
    socket.close();
    const rows = await rowsFor(seeded.apiKey.id);
    expect(rows.map((r) => r.status)).toEqual(['succeeded', 'failed', 'succeeded']);
  });

  test('a first-event overload on a fresh session moves the turn to the next account before anything reaches the client', async () => {
    const seeded = await seedPool(gateway, upstream, 2, 'ws-failover');
    const [overloaded, healthy] = seeded.accounts;
    upstream.script(overloaded!.accountId, { kind: 'first-event-failure', code: 'server_is_overloaded', on: 'websocket' });
    // Which account a new session starts on depends on its (random) session key: open sessions until
    // one started on the overloaded account.
    let frames: Record<string, unknown>[] = [];
    for (let i = 0; i < 20 && upstreamWsTurns(overloaded!.accountId).length === 0; i++) {
      const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
      socket.send(turn(`attempt ${i}`));
      frames = await socket.turn(0);
      socket.close();
    }
    expect(upstreamWsTurns(overloaded!.accountId)).toHaveLength(1);
    expect(frames.map((f) => f.type)).not.toContain('response.failed');
    expect(frames.filter((f) => f.type === 'codex.response.metadata')).toHaveLength(1);
    expect(frames.at(-1)!.type).toBe('response.completed');
    const rows = await rowsFor(seeded.apiKey.id);
    const last = rows.at(-1)!;
    expect(last).toMatchObject({ status: 'succeeded', pool_upstream_assignment_id: healthy!.assignmentId });
    const attempts = await gateway.services.db.selectFrom('attempts').select(['attempt_number', 'status', 'error_code', 'pool_upstream_assignment_id']).where('request_id', '=', last.id).orderBy('attempt_number').execute();
    expect(attempts).toEqual([
      { attempt_number: 1, status: 'retryable_failed', error_code: 'server_is_overloaded', pool_upstream_assignment_id: overloaded!.assignmentId },
      { attempt_number: 2, status: 'succeeded', error_code: null, pool_upstream_assignment_id: healthy!.assignmentId },
    ]);
  });

  test('a first-event invalid_api_key on an open socket refreshes the token once and retries the same account', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-auth-event');
    const account = seeded.accounts[0]!;
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.send(turn('first'));
    await socket.turn(0);
    const connections = upstream.websocketConnections;
    const refreshes = upstream.tokenCalls;
    upstream.script(account.accountId, { kind: 'auth-error-event', code: 'invalid_api_key', on: 'websocket' });
    const from = socket.frames.length;
    socket.send(turn('second'));
    const frames = await socket.turn(from);
    // The client sees one clean turn: no error frame, one metadata frame.
    expect(frames.map((f) => f.type)).not.toContain('error');
    expect(frames.filter((f) => f.type === 'codex.response.metadata')).toHaveLength(1);
    expect(frames.at(-1)!.type).toBe('response.completed');
    expect(upstream.tokenCalls).toBe(refreshes + 1);
    expect(upstream.websocketConnections).toBe(connections + 1);
    const sent = upstreamWsTurns(account.accountId).slice(-2);
    expect(sent[0]!.headers.authorization).not.toBe(sent[1]!.headers.authorization);
    socket.close();
    const rows = await rowsFor(seeded.apiKey.id);
    expect(rows.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    const attempts = await gateway.services.db.selectFrom('attempts').select(['attempt_number', 'status', 'error_code', 'pool_upstream_assignment_id']).where('request_id', '=', rows[1]!.id).orderBy('attempt_number').execute();
    expect(attempts).toEqual([
      { attempt_number: 1, status: 'retryable_failed', error_code: 'invalid_api_key', pool_upstream_assignment_id: account.assignmentId },
      { attempt_number: 2, status: 'succeeded', error_code: null, pool_upstream_assignment_id: account.assignmentId },
    ]);
  });

  test('a second token rejection in the same turn is relayed: the refresh happens once', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-auth-twice');
    const account = seeded.accounts[0]!;
    upstream.script(account.accountId, { kind: 'auth-error-event', code: 'invalid_authentication', on: 'websocket' });
    upstream.script(account.accountId, { kind: 'auth-error-event', code: 'invalid_authentication', on: 'websocket' });
    const refreshes = upstream.tokenCalls;
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.send(turn('rejected twice'));
    const frames = await socket.turn(0);
    expect(frames.at(-1)).toMatchObject({ type: 'error', status: 401, error: { code: 'invalid_authentication' } });
    expect(upstream.tokenCalls).toBe(refreshes + 1);
    expect(upstreamWsTurns(account.accountId)).toHaveLength(2);
    socket.close();
  });

  test('an account whose token cannot be refreshed after a rejection fails the turn with an error frame', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-auth-reauth');
    const account = seeded.accounts[0]!;
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.send(turn('first'));
    await socket.turn(0);
    upstream.revokeRefreshToken(account.accountId);
    upstream.script(account.accountId, { kind: 'auth-error-event', code: 'invalid_api_key', on: 'websocket' });
    const from = socket.frames.length;
    socket.send(turn('second'));
    const frames = await socket.turn(from);
    expect(frames.at(-1)).toEqual({ type: 'error', status: 502, error: { message: 'the upstream account rejected its credentials and could not be signed in again', type: 'server_error', code: 'upstream_request_failed', param: null } });
    expect(socket.closed).toBeNull();
    socket.close();
    const identity = await gateway.services.db.selectFrom('upstream_identities').select(['status']).where('id', '=', account.identityId).executeTakeFirstOrThrow();
    expect(identity.status).toBe('reauth_required');
    const rows = await rowsFor(seeded.apiKey.id);
    expect(rows.map((r) => r.status)).toEqual(['succeeded', 'failed']);
  });

  test('a turn whose client_metadata names a known turn state continues on that session\'s account', async () => {
    const seeded = await seedPool(gateway, upstream, 3, 'ws-turn-state');
    const first = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    const turnState = String(first.headers['x-codex-turn-state']);
    first.send(turn('first'));
    await first.turn(0);
    first.close();
    const [bound] = await rowsFor(seeded.apiKey.id);
    // New sockets without the upgrade header (each a new session, routed by its own random key)
    // carry the turn state in the frame: every one lands on the first session's account.
    for (let i = 0; i < 5; i++) {
      const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
      expect(socket.headers['x-codex-turn-state']).not.toBe(turnState);
      socket.send(turn(`continued ${i}`, { client_metadata: { 'x-codex-turn-state': turnState } }));
      expect((await socket.turn(0)).at(-1)!.type).toBe('response.completed');
      socket.close();
    }
    const rows = await rowsFor(seeded.apiKey.id);
    expect(rows).toHaveLength(6);
    for (const row of rows) expect(row.pool_upstream_assignment_id).toBe(bound!.pool_upstream_assignment_id);
  });

  test('an upstream error frame is relayed without its quota headers, and its quota evidence is kept', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-429');
    const account = seeded.accounts[0]!;
    upstream.script(account.accountId, { kind: 'status', status: 429, on: 'websocket' });
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.send(turn('limited'));
    const frames = await socket.turn(0);
    const error = frames.at(-1)!;
    expect(error).toMatchObject({ type: 'error', status: 429, error: { code: 'usage_limit_reached' } });
    expect(error).not.toHaveProperty('headers');
    socket.close();
    const rows = await rowsFor(seeded.apiKey.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'failed', response_status_code: 429 });
  });

  test('a missing or bad key is refused with 401 and the JSON envelope before the upgrade', async () => {
    const url = wsUrl(gateway.url, '/backend-api/codex/responses');
    const missing = await openSocket(url, {}).then(() => null, (error: { status: number; body: string }) => error);
    expect(missing?.status).toBe(401);
    expect(JSON.parse(missing!.body)).toEqual({ error: { message: 'api key is required', type: 'invalid_request_error', code: 'api_key_missing', param: null } });
    const bad = await openSocket(url, { authorization: 'Bearer sk-cxp-not-a-real-key' }).then(() => null, (error: { status: number; body: string }) => error);
    expect(bad?.status).toBe(401);
    expect(JSON.parse(bad!.body).error.code).toBe('api_key_missing');
  });

  test('a key revoked while its socket is idle closes the socket with 1008', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-revoke');
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.send(turn('before'));
    await socket.turn(0);
    await revokeApiKey({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), seeded.apiKey.prefix);
    expect(await socket.waitClosed(20_000)).toEqual({ code: 1008, reason: 'api key is no longer active' });
  });

  test('a key paused while its sockets are open closes them with 1008 at once, not at the next poll', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-pause');
    const other = await seedPool(gateway, upstream, 1, 'ws-pause-other');
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    const v1 = await openSocket(wsUrl(gateway.url, '/v1/responses'), { authorization: `Bearer ${seeded.key}` });
    const bystander = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${other.key}` });
    socket.send(turn('before'));
    await socket.turn(0);
    // The periodic re-check runs 5 s after a socket opened; the notification must beat it by far.
    const pausedAt = Date.now();
    await pauseApiKey({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), seeded.apiKey.prefix);
    expect(await socket.waitClosed(10_000)).toEqual({ code: 1008, reason: 'api key is no longer active' });
    expect(await v1.waitClosed(10_000)).toEqual({ code: 1008, reason: 'api key is no longer active' });
    expect(Date.now() - pausedAt).toBeLessThan(2_500);
    // Another key's socket is untouched and still serves.
    expect(bystander.closed).toBeNull();
    bystander.send(turn('still here'));
    expect((await bystander.turn(0)).at(-1)!.type).toBe('response.completed');
    bystander.close();
  });

  test('a plain GET gets 400 websocket_upgrade_required', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-plain');
    const response = await fetch(`${gateway.url}/backend-api/codex/responses`, { headers: { authorization: `Bearer ${seeded.key}` } });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('websocket_upgrade_required');
  });

  test("the key's policy applies to turns: enforced model and service tier, a refused reasoning effort is an error frame", async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-policy');
    await updateApiKey({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), seeded.apiKey.id, {
      policy: { enforced_model: 'gpt-5.4-mini', maximum_reasoning_effort: 'low', service_tier: 'flex' },
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.send(turn('too much thinking', { reasoning: { effort: 'high' } }));
    expect(await socket.turn(0)).toEqual([{ type: 'error', status: 400, error: expect.objectContaining({ code: 'reasoning_effort_not_allowed', param: 'reasoning.effort' }) }]);
    const before = upstreamWsTurns(seeded.accounts[0]!.accountId).length;
    socket.send(turn('allowed', { reasoning: { effort: 'low' } }));
    const frames = await socket.turn(1);
    expect(frames.at(-1)!.type).toBe('response.completed');
    const sent = upstreamWsTurns(seeded.accounts[0]!.accountId);
    expect(sent).toHaveLength(before + 1);
    expect(sent.at(-1)!.body).toMatchObject({ model: 'gpt-5.4-mini', service_tier: 'flex', reasoning: { effort: 'low' } });
    socket.close();
  });

  test('a policy edited while the socket is open applies from the next turn on the same socket', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-policy-live');
    const account = seeded.accounts[0]!.accountId;
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.send(turn('before', { reasoning: { effort: 'high' } }));
    expect((await socket.turn(0)).at(-1)!.type).toBe('response.completed');
    expect(upstreamWsTurns(account).at(-1)!.body).toMatchObject({ model: 'gpt-5.4', reasoning: { effort: 'high' } });

    await updateApiKey({ db: gateway.services.db, notifier: gateway.services.notifier }, cliActor(), seeded.apiKey.id, {
      policy: { enforced_model: 'gpt-5.4-mini', maximum_reasoning_effort: 'low', service_tier: 'flex' },
    });
    // The key-change notification drops the key from this process's cache; the next read sees the edit.
    for (let i = 0; i < 50; i++) {
      const current = await gateway.services.apiKeys.authenticate(`Bearer ${seeded.key}`, 'backend');
      if (current.policy?.enforcedModel === 'gpt-5.4-mini') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const sent = upstreamWsTurns(account).length;
    let from = socket.frames.length;
    socket.send(turn('too much thinking now', { reasoning: { effort: 'high' } }));
    expect(await socket.turn(from)).toEqual([{ type: 'error', status: 400, error: expect.objectContaining({ code: 'reasoning_effort_not_allowed', param: 'reasoning.effort' }) }]);
    expect(upstreamWsTurns(account)).toHaveLength(sent);
    from = socket.frames.length;
    socket.send(turn('within the new policy', { reasoning: { effort: 'low' } }));
    expect((await socket.turn(from)).at(-1)!.type).toBe('response.completed');
    expect(upstreamWsTurns(account).at(-1)!.body).toMatchObject({ model: 'gpt-5.4-mini', service_tier: 'flex', reasoning: { effort: 'low' } });
    expect(socket.closed).toBeNull();
    socket.close();
  });

  test('a key re-check that fails (database hiccup) keeps the socket open; the turn gets a retryable error frame', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-key-check-error');
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.send(turn('before'));
    expect((await socket.turn(0)).at(-1)!.type).toBe('response.completed');
    const keys = gateway.services.apiKeys;
    let failedChecks = 0;
    // What the key cache throws when PostgreSQL drops its connection on a cache miss.
    keys.authenticate = async () => {
      failedChecks++;
      throw new Error('Connection terminated unexpectedly');
    };
    try {
      // A pool edit announces `*`: every open socket re-checks its key at once.
      await gateway.services.notifier.publish(API_KEY_CHANNEL, '*');
      for (let i = 0; i < 100 && failedChecks === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(failedChecks).toBeGreaterThan(0);
      let from = socket.frames.length;
      socket.send(turn('during the hiccup'));
      expect(await socket.turn(from)).toEqual([{ type: 'error', status: 503, error: expect.objectContaining({ code: 'service_unavailable' }) }]);
      expect(socket.closed).toBeNull();
      Reflect.deleteProperty(keys, 'authenticate');
      from = socket.frames.length;
      socket.send(turn('after the hiccup'));
      expect((await socket.turn(from)).at(-1)!.type).toBe('response.completed');
      expect(socket.closed).toBeNull();
    } finally {
      Reflect.deleteProperty(keys, 'authenticate');
      socket.close();
    }
  });

  test('bad frames get error frames; a binary frame closes 1003', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-bad');
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.send('{not json');
    expect(await socket.turn(0)).toEqual([{ type: 'error', status: 400, error: { message: 'websocket message must be valid JSON', type: 'invalid_request_error', code: 'invalid_request', param: null } }]);
    socket.send('[1,2]');
    expect((await socket.turn(1))[0]).toMatchObject({ type: 'error', status: 400, error: { message: 'websocket message must be a JSON object' } });
    socket.send(turn('x', { model: 'no-such-model' }));
    const unknown = (await socket.turn(2))[0]!;
    expect(unknown).toMatchObject({ type: 'error', status: 400 });
    socket.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    expect(await socket.waitClosed()).toEqual({ code: 1003, reason: 'binary frames are not supported' });
    expect(await rowsFor(seeded.apiKey.id)).toHaveLength(0);
  });
});

describe('frame size limit', () => {
  test('a frame over 64 MiB closes the socket with 1009', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-big');
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.send('x'.repeat(64 * 1024 * 1024 + 1));
    expect((await socket.waitClosed(30_000)).code).toBe(1009);
  });
});

describe('/v1/responses websocket', () => {
  test('events are normalized and tagged with the stream id; a bad stream id is an error frame', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-v1');
    const socket = await openSocket(wsUrl(gateway.url, '/v1/responses'), { authorization: `Bearer ${seeded.key}` });
    expect(socket.headers['x-models-etag']).toBeUndefined();
    socket.send({ type: 'response.create', model: 'gpt-5.4', input: 'hi', stream_id: 'lane-1' });
    const frames = await socket.turn(0);
    expect(frames.at(-1)).toMatchObject({ type: 'response.completed', stream_id: 'lane-1' });
    for (const frame of frames) expect(frame.stream_id).toBe('lane-1');
    expect(frames.some((f) => String(f.type).startsWith('codex.'))).toBe(false);
    const sequence = frames.map((f) => f.sequence_number as number);
    for (let i = 1; i < sequence.length; i++) expect(sequence[i]!).toBeGreaterThan(sequence[i - 1]!);
    const sent = upstreamWsTurns(seeded.accounts[0]!.accountId).at(-1)!;
    expect(sent.body).toMatchObject({ type: 'response.create', stream: true, store: false });
    expect(sent.body).not.toHaveProperty('stream_id');

    const from = socket.frames.length;
    socket.send({ type: 'response.create', model: 'gpt-5.4', input: 'hi', stream_id: 'bad id!' });
    expect((await socket.turn(from))[0]).toMatchObject({ type: 'error', status: 400, error: { param: 'stream_id' } });
    socket.close();
    const rows = await rowsFor(seeded.apiKey.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ transport: 'websocket', status: 'succeeded', endpoint: '/backend-api/codex/responses' });
  });

  test('item_reference replays resolve from the items relayed to the key; an unknown one is an error frame and nothing goes upstream', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-v1-refs');
    const accountId = seeded.accounts[0]!.accountId;
    const socket = await openSocket(wsUrl(gateway.url, '/v1/responses'), { authorization: `Bearer ${seeded.key}` });
    // No `store` (the Vercel AI SDK's default is true): the gateway keeps what it relays.
    socket.send(turn('first question'));
    const first = await socket.turn(0);
    expect(first.at(-1)).toMatchObject({ type: 'response.completed' });
    // The gateway asked for encrypted reasoning on the client's behalf; the client does not see it.
    expect(upstreamWsTurns(accountId).at(-1)!.body).toMatchObject({ include: ['reasoning.encrypted_content'] });
    expect(JSON.stringify(first)).not.toContain('encrypted_content');
    const relayed = first.filter((f) => f.type === 'response.output_item.done').map((f) => f.item as Record<string, unknown>);
    const reasoning = relayed.find((item) => item.type === 'reasoning')!;
    const message = relayed.find((item) => item.type === 'message')!;
    expect(reasoning.id).toMatch(/^rs_/);
    expect(message.id).toEqual(expect.any(String));

    let from = socket.frames.length;
    socket.send(
      turn('first question', {
        input: [
          { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'first question' }] },
          { type: 'item_reference', id: reasoning.id },
          { type: 'item_reference', id: message.id },
          { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'and then?' }] },
        ],
      }),
    );
    const second = await socket.turn(from);
    expect(second.at(-1)).toMatchObject({ type: 'response.completed' });
    expect(JSON.stringify(second)).not.toContain('encrypted_content');
    const input = (upstreamWsTurns(accountId).at(-1)!.body as { input: Record<string, unknown>[] }).input;
    expect(input.filter((item) => item.type === 'item_reference')).toEqual([]);
    expect(input[1]).toMatchObject({ type: 'reasoning', id: reasoning.id, encrypted_content: expect.stringMatching(/^gAAAAA/) });
    expect(input[2]).toMatchObject({ type: 'message', role: 'assistant', content: message.content });

    const upstreamTurns = upstreamWsTurns(accountId).length;
    from = socket.frames.length;
    socket.send(turn('unknown', { input: [{ type: 'item_reference', id: 'msg_never_relayed' }], stream_id: 'lane-1' }));
    expect(await socket.turn(from)).toEqual([expect.objectContaining({ type: 'error', status: 400, stream_id: 'lane-1', error: expect.objectContaining({ code: 'item_reference_not_found', param: 'input[0].id' }) })]);
    expect(upstreamWsTurns(accountId)).toHaveLength(upstreamTurns);
    socket.close();
    expect((await rowsFor(seeded.apiKey.id)).map((row) => row.status)).toEqual(['succeeded', 'succeeded']);
  });
});

describe('/v1/responses websocket refusals', () => {
  test('a pool with /v1 off refuses the upgrade with 403 v1_compatibility_disabled', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-v1-off');
    await sql`INSERT INTO pool_routing_settings (pool_id, v1_compatibility_enabled) VALUES (${seeded.pool.id}, false)
      ON CONFLICT (pool_id) DO UPDATE SET v1_compatibility_enabled = false`.execute(gateway.services.db);
    const refused = await openSocket(wsUrl(gateway.url, '/v1/responses'), { authorization: `Bearer ${seeded.key}` }).then(() => null, (error: { status: number; body: string }) => error);
    expect(refused?.status).toBe(403);
    expect(JSON.parse(refused!.body).error.code).toBe('v1_compatibility_disabled');
    expect(upstream.requests.filter((r) => seeded.accounts.some((a) => a.accountId === r.accountId) && r.transport === 'websocket')).toHaveLength(0);
  });
});

describe('/v1 compatibility turned off while /v1 sockets are open', () => {
  test('the next /v1 turn is refused at once (1008) and a key notification closes the others; native sockets keep working', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-v1-turned-off');
    const first = await openSocket(wsUrl(gateway.url, '/v1/responses'), { authorization: `Bearer ${seeded.key}` });
    const second = await openSocket(wsUrl(gateway.url, '/v1/responses'), { authorization: `Bearer ${seeded.key}` });
    const native = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    first.send({ type: 'response.create', model: 'gpt-5.4', input: 'before' });
    expect((await first.turn(0)).at(-1)!.type).toBe('response.completed');
    const sent = upstreamWsTurns(seeded.accounts[0]!.accountId).length;
    await sql`INSERT INTO pool_routing_settings (pool_id, v1_compatibility_enabled) VALUES (${seeded.pool.id}, false)
      ON CONFLICT (pool_id) DO UPDATE SET v1_compatibility_enabled = false`.execute(gateway.services.db);
    // Only this process's key cache forgets the key: no notification, so the 5 s poll has not run;
    // the turn itself must see the change.
    gateway.services.apiKeys.invalidate(seeded.apiKey.prefix);
    const from = first.frames.length;
    first.send({ type: 'response.create', model: 'gpt-5.4', input: 'after' });
    expect(await first.waitClosed(3_000)).toEqual({ code: 1008, reason: 'api key is no longer active' });
    expect(first.frames.slice(from).some((f) => f.type === 'response.completed')).toBe(false);
    expect(upstreamWsTurns(seeded.accounts[0]!.accountId)).toHaveLength(sent);
    // The key-change notification re-checks the open /v1 socket on its own surface.
    await gateway.services.notifier.publish(API_KEY_CHANNEL, seeded.apiKey.prefix);
    expect(await second.waitClosed(3_000)).toEqual({ code: 1008, reason: 'api key is no longer active' });
    expect(native.closed).toBeNull();
    native.send(turn('native still works'));
    expect((await native.turn(0)).at(-1)!.type).toBe('response.completed');
    native.close();
  });
});

describe('per-connection queue bound', () => {
  test('a client pipelining large frames during a turn is no longer read past 16 MiB; every frame is served afterwards', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-queue-bound');
    // The gateway's end of the client's TCP connection: how many bytes it has read from the client.
    const accepted = new Promise<Socket>((resolve) => gateway.app.server.once('connection', resolve));
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    const gatewaySide = await accepted;
    upstream.script(seeded.accounts[0]!.accountId, { kind: 'stall-mid-stream', ms: 4_000, on: 'websocket' });
    socket.send(turn('slow'));
    await socket.until(() => socket.frames.some((f) => f.type === 'response.output_text.delta'), 'the slow turn to start');
    // 24 warm-ups of 4 MiB each queue behind the running turn (96 MiB in all).
    const pad = 'x'.repeat(4 * 1024 * 1024);
    const frames = 24;
    for (let i = 0; i < frames; i++) socket.send({ type: 'response.create', model: 'gpt-5.4', generate: false, pad });
    // Wait until the gateway stops reading.
    let last = -1;
    for (let i = 0; i < 20 && gatewaySide.bytesRead !== last; i++) {
      last = gatewaySide.bytesRead;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    // Reading paused once 4 frames (16 MiB) were queued, with at most one socket read more; the
    // frame bound (8) alone would have let 32 MiB in, no bound all 96 MiB.
    expect(socket.frames.some((f) => f.type === 'response.completed')).toBe(false);
    expect(gatewaySide.bytesRead).toBeGreaterThanOrEqual(4 * pad.length);
    expect(gatewaySide.bytesRead).toBeLessThan(5 * pad.length);
    expect(socket.ws.bufferedAmount).toBeGreaterThan(8 * pad.length);
    // The turn ends, the queue drains, reading resumes: every warm-up is answered, in order, on an open socket.
    await socket.until(() => socket.frames.filter((f) => f.type === 'response.completed').length === 1 + frames || undefined, 'every warm-up to be answered', 30_000);
    expect(socket.closed).toBeNull();
    expect(socket.ws.bufferedAmount).toBe(0);
    expect(gatewaySide.bytesRead).toBeGreaterThan(frames * pad.length);
    socket.close();
  }, 60_000);
});

describe('close metric', () => {
  test('a client close code outside the gateway table is counted as other', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-close-label');
    const socket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    socket.ws.close(4321, 'bye');
    await socket.waitClosed();
    let text = '';
    for (let i = 0; i < 50 && !text.includes('code="other"'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      text = await gateway.services.metrics.registry.getSingleMetricAsString('codex_pooler_gateway_websocket_close_count');
    }
    expect(text).toMatch(/code="other"\} [1-9]/);
    expect(text).not.toContain('4321');
  });
});

describe('draining', () => {
  test('draining lets the running turn finish, then closes with 1001; new sockets close with 1001 at once', async () => {
    const seeded = await seedPool(gateway, upstream, 1, 'ws-drain');
    const busy: TestSocket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    const idle: TestSocket = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    upstream.setEventDelayMs(100);
    busy.send(turn('a slow turn'));
    await busy.until(() => busy.frames.some((f) => f.type === 'response.created'), 'the turn to start');
    gateway.drain.start();
    expect(await idle.waitClosed()).toEqual({ code: 1001, reason: 'websocket owner is draining' });
    const frames = await busy.turn(0);
    upstream.setEventDelayMs(0);
    expect(frames.at(-1)!.type).toBe('response.completed');
    expect(await busy.waitClosed()).toEqual({ code: 1001, reason: 'websocket owner is draining' });
    const late = await openSocket(wsUrl(gateway.url, '/backend-api/codex/responses'), { authorization: `Bearer ${seeded.key}` });
    expect(await late.waitClosed()).toEqual({ code: 1001, reason: 'websocket owner is draining' });
  });
});
