import pino from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectToOwner, forwardedKeyOf, keyFrame, MAX_SKEW_MS, OwnerConnectError, ownerFailureOf, peerHeaders, peerKey, PeerServer, type ForwardedContext, type PeerRefusal } from './peer.ts';
import type { AuthenticatedKey } from '../../api-keys/index.ts';
import { ReplayGuard } from './replay-guard.ts';

const SESSION = 'a'.repeat(64);
const context: ForwardedContext = {
  surface: 'backend',
  sessionKey: 'x-codex-turn-state:abc',
  key: { id: 'k', prefix: 'sk-cxp-test', poolId: 'p', poolSlug: 'pool', v1Enabled: true, allowedModels: null },
  clientIp: '127.0.0.1',
  userAgent: 'test',
  clientRequestId: 'req',
};

let server: PeerServer;
let address: string;
let owned = true;
let refusal: PeerRefusal = 'stale_owner';
const attached: { sessionId: string; context: ForwardedContext }[] = [];
const key = peerKey('k'.repeat(64));

beforeAll(async () => {
  server = new PeerServer({
    key,
    log: pino({ level: 'silent' }),
    accepts: async () => (owned ? null : refusal),
    instanceId: 'web-a:1:abcd',
    attach: (sessionId, ctx, ws) => {
      attached.push({ sessionId, context: ctx });
      ws.on('message', (data) => ws.send(`echo:${data.toString()}`));
    },
  });
  address = `ws://127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
});
afterAll(async () => {
  await server?.close();
});

describe('the internal owner socket', () => {
  test('a connection signed with the SECRET_KEY_BASE key attaches and relays frames', async () => {
    const ws = await connectToOwner(address, SESSION, context, key);
    expect(attached.at(-1)).toEqual({ sessionId: SESSION, context });
    const reply = new Promise<string>((resolve) => ws.once('message', (data) => resolve(data.toString())));
    ws.send('hello');
    expect(await reply).toBe('echo:hello');
    ws.close();
  });

  test('another key, a stale timestamp or a tampered context is refused with 401', async () => {
    await expect(connectToOwner(address, SESSION, context, peerKey('z'.repeat(64)))).rejects.toThrow('(401)');
    await expect(connectToOwner(address, SESSION, context, key, Date.now() - 5 * 60_000)).rejects.toThrow('(401)');
    const tampered = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${address}/websocket-owner/${SESSION}`, { headers: { 'x-cxp-peer-timestamp': String(Date.now()), 'x-cxp-peer-context': 'e30', 'x-cxp-peer-signature': 'x'.repeat(43) } });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
    expect(tampered).toBe(401);
  });

  test('a captured attachment replayed within the skew window is refused with 401', async () => {
    const headers = peerHeaders(SESSION, context, key);
    const first = await upgradeStatus(SESSION, headers);
    expect(first).toBe(101);
    expect(await upgradeStatus(SESSION, headers)).toBe(401);
    // A fresh signature (new nonce) for the same session and context is still welcome.
    expect(await upgradeStatus(SESSION, peerHeaders(SESSION, context, key))).toBe(101);
  });

  test('the signature binds the path (session), the nonce and the context', async () => {
    const headers = peerHeaders(SESSION, context, key);
    expect(await upgradeStatus('b'.repeat(64), headers)).toBe(401);
    expect(await upgradeStatus(SESSION, { ...headers, 'x-cxp-peer-nonce': 'A'.repeat(22) })).toBe(401);
    const other = Buffer.from(JSON.stringify({ ...context, clientIp: '10.0.0.1' })).toString('base64url');
    expect(await upgradeStatus(SESSION, { ...headers, 'x-cxp-peer-context': other })).toBe(401);
    const { 'x-cxp-peer-nonce': _nonce, ...withoutNonce } = headers;
    expect(await upgradeStatus(SESSION, withoutNonce)).toBe(401);
    // None of the refusals consumed the genuine signature.
    expect(await upgradeStatus(SESSION, headers)).toBe(101);
  });

  test('a process that no longer holds the lease, or drains, refuses with 409 naming why and who it is', async () => {
    owned = false;
    const refused = (await connectToOwner(address, SESSION, context, key).catch((error: unknown) => error)) as OwnerConnectError;
    expect(refused).toBeInstanceOf(OwnerConnectError);
    expect(refused).toMatchObject({ status: 409, refusal: 'stale_owner', instance: 'web-a:1:abcd' });
    refusal = 'owner_drained';
    expect(await connectToOwner(address, SESSION, context, key).catch((error: unknown) => error)).toMatchObject({ status: 409, refusal: 'owner_drained', instance: 'web-a:1:abcd' });
    owned = true;
    refusal = 'stale_owner';
  });

  test('a bad signature is a bare 401 and an address nobody listens on has no status', async () => {
    expect(await connectToOwner(address, SESSION, context, peerKey('z'.repeat(64))).catch((error: unknown) => error)).toMatchObject({ status: 401, refusal: null, instance: null });
    const closed = new PeerServer({ key, log: pino({ level: 'silent' }), accepts: async () => null, attach: () => {} });
    const port = await closed.listen('127.0.0.1', 0);
    await closed.close();
    expect(await connectToOwner(`ws://127.0.0.1:${port}`, SESSION, context, key).catch((error: unknown) => error)).toMatchObject({ status: null });
  });
});

describe('what a failed owner connection means (only an unreachable owner is taken over)', () => {
  const refusal = (status: number | null, reason: string | null = null, instance: string | null = null) => new OwnerConnectError(status, reason, instance, 'x');
  test.each([
    ['a network error', refusal(null), 'unreachable'],
    ['any other error', new Error('boom'), 'unreachable'],
    ['a refused signature', refusal(401), 'peer_auth_failed'],
    ['the owner draining', refusal(409, 'owner_drained', 'owner-1'), 'owner_drained'],
    ['the owner no longer holding the lease', refusal(409, 'stale_owner', 'owner-1'), 'stale_owner'],
    ['a 409 from an older peer without reasons', refusal(409), 'stale_owner'],
    ['another process answering at the recorded address', refusal(409, 'stale_owner', 'restarted-2'), 'unreachable'],
    ['an unexpected status', refusal(502), 'stale_owner'],
  ])('%s', (_name, error, want) => {
    expect(ownerFailureOf(error, 'owner-1')).toBe(want);
  });
});

/** Opens the internal socket with the given headers; the HTTP status of the answer (101 = attached). */
function upgradeStatus(sessionId: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${address}/websocket-owner/${sessionId}`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(-1));
  });
}

describe('the replay guard', () => {
  test('a signature is admitted once while it is valid, and forgotten after', () => {
    let now = 1_000_000;
    const guard = new ReplayGuard({ windowMs: MAX_SKEW_MS, now: () => now });
    expect(guard.admit('sig-a', now)).toBe(true);
    expect(guard.admit('sig-a', now)).toBe(false);
    expect(guard.admit('sig-b', now)).toBe(true);
    now += MAX_SKEW_MS;
    expect(guard.admit('sig-a', now - MAX_SKEW_MS)).toBe(false);
    now += 1;
    // Past the window the skew check refuses it anyway; the guard has let it go.
    expect(guard.admit('sig-c', now)).toBe(true);
    expect(guard.size).toBe(1);
  });

  test('bounded: when full of live signatures new ones are refused, and admitted once old ones expire', () => {
    let now = 0;
    const guard = new ReplayGuard({ windowMs: 100, maxEntries: 3, now: () => now });
    for (const sig of ['a', 'b', 'c']) expect(guard.admit(sig, now)).toBe(true);
    expect(guard.admit('d', now)).toBe(false);
    expect(guard.admit('a', now)).toBe(false);
    now = 101;
    expect(guard.admit('d', now)).toBe(true);
    expect(guard.size).toBe(1);
  });

  test('entries out of timestamp order are still swept when the bound is reached', () => {
    let now = 0;
    const guard = new ReplayGuard({ windowMs: 100, maxEntries: 2, now: () => now });
    expect(guard.admit('late', 50)).toBe(true);
    expect(guard.admit('early', 0)).toBe(true);
    now = 120;
    // 'early' expired but sits behind the live 'late': the full sweep finds it.
    expect(guard.admit('new', now)).toBe(true);
    expect(guard.admit('late', 50)).toBe(false);
  });
});

describe('the forwarded key frame', () => {
  const attachedKey = context.key;
  const fresh: AuthenticatedKey = {
    ...attachedKey,
    allowedModels: ['gpt-5.4-mini'],
    policy: { allowedModels: ['gpt-5.4-mini'], enforcedModel: 'gpt-5.4-mini', maximumReasoningEffort: null, enforcedReasoningEffort: 'low', serviceTier: 'flex' },
  };

  test('round-trips the fresh key and its policy', () => {
    expect(forwardedKeyOf(keyFrame(fresh), attachedKey)).toEqual(fresh);
    expect(forwardedKeyOf(keyFrame(attachedKey), { ...attachedKey, policy: fresh.policy })).toEqual(attachedKey);
  });

  test.each([
    ['not JSON', Buffer.from('{oops')],
    ['another key', keyFrame({ ...fresh, id: 'other' })],
    ['another pool', keyFrame({ ...fresh, poolId: 'other' })],
    ['a bad allow-list', Buffer.from(JSON.stringify({ ...fresh, allowedModels: 'gpt-5.4' }))],
    ['an unknown effort', Buffer.from(JSON.stringify({ ...fresh, policy: { ...fresh.policy, enforcedReasoningEffort: 'extreme' } }))],
    ['an unknown tier', Buffer.from(JSON.stringify({ ...fresh, policy: { ...fresh.policy, serviceTier: 'free' } }))],
  ])('%s is ignored', (_name, frame) => {
    expect(forwardedKeyOf(frame, attachedKey)).toBeNull();
  });
});
