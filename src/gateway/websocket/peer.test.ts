import pino from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connectToOwner, peerKey, PeerServer, type ForwardedContext } from './peer.ts';

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
const attached: { sessionId: string; context: ForwardedContext }[] = [];
const key = peerKey('k'.repeat(64));

beforeAll(async () => {
  server = new PeerServer({
    key,
    log: pino({ level: 'silent' }),
    accepts: async () => owned,
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

  test('a process that no longer holds the lease refuses with 409', async () => {
    owned = false;
    await expect(connectToOwner(address, SESSION, context, key)).rejects.toThrow('(409)');
    owned = true;
  });
});
