import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { deriveKey, signPayload, verifySignature } from '../../crypto/hmac.ts';
import type { AuthenticatedKey } from '../../api-keys/index.ts';
import type { Surface } from './codecs.ts';
import { MAX_FRAME_BYTES } from './protocol.ts';

/**
 * The internal connection between replicas (routing spec B6, Part D): a replica that receives a
 * session it does not own opens a websocket to the owner's recorded address and relays the
 * client's frames both ways. Each connection is authenticated with an HMAC-SHA256 derived from
 * SECRET_KEY_BASE over the session, a timestamp and the forwarded context; it is never exposed
 * through the public listener.
 */

const PATH_PREFIX = '/websocket-owner/';
const MAX_SKEW_MS = 60_000;
export const FORWARD_CONNECT_TIMEOUT_MS = 5_000;

/** What the owner needs to run a forwarded session's turns: the already authenticated key and client facts. */
export type ForwardedContext = {
  surface: Surface;
  sessionKey: string;
  key: AuthenticatedKey;
  clientIp: string | null;
  userAgent: string | null;
  clientRequestId: string;
};

export function peerKey(secretKeyBase: string): Buffer {
  return deriveKey(secretKeyBase, 'websocket-owner-forwarding');
}

const parts = (sessionId: string, timestamp: string, context: string) => ['GET', `${PATH_PREFIX}${sessionId}`, timestamp, context];

/** Opens the internal socket to the owner; rejects when it cannot be reached or refuses. */
export function connectToOwner(address: string, sessionId: string, context: ForwardedContext, key: Buffer, now = Date.now()): Promise<WebSocket> {
  const encoded = Buffer.from(JSON.stringify(context)).toString('base64url');
  const timestamp = String(now);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${address}${PATH_PREFIX}${sessionId}`, {
      headers: { 'x-cxp-peer-timestamp': timestamp, 'x-cxp-peer-context': encoded, 'x-cxp-peer-signature': signPayload(key, parts(sessionId, timestamp, encoded)) },
      perMessageDeflate: false,
      handshakeTimeout: FORWARD_CONNECT_TIMEOUT_MS,
      maxPayload: MAX_FRAME_BYTES,
    });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_request, response) => {
      ws.terminate();
      reject(new Error(`owner refused the forwarded session (${response.statusCode})`));
    });
    ws.once('error', (error) => reject(error));
  });
}

export type PeerAttach = (sessionId: string, context: ForwardedContext, ws: WebSocket) => void;

/** The owner side: an internal listener accepting signed session attachments from other replicas. */
export class PeerServer {
  #server: Server;
  #wss: WebSocketServer;
  #key: Buffer;
  #log: Logger;
  #accepts: (sessionId: string) => Promise<boolean>;
  #attach: PeerAttach;

  constructor(options: { key: Buffer; log: Logger; accepts: (sessionId: string) => Promise<boolean>; attach: PeerAttach }) {
    this.#key = options.key;
    this.#log = options.log;
    this.#accepts = options.accepts;
    this.#attach = options.attach;
    this.#server = createServer((_request, response) => response.writeHead(404).end());
    this.#wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_FRAME_BYTES });
    this.#server.on('upgrade', (request, socket, head) => void this.#upgrade(request, socket, head));
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const refuse = (status: number): void => void socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Conflict'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    socket.on('error', () => socket.destroy());
    const url = request.url ?? '';
    const sessionId = url.startsWith(PATH_PREFIX) ? url.slice(PATH_PREFIX.length) : '';
    const timestamp = String(request.headers['x-cxp-peer-timestamp'] ?? '');
    const encoded = String(request.headers['x-cxp-peer-context'] ?? '');
    const signature = String(request.headers['x-cxp-peer-signature'] ?? '');
    const skew = Math.abs(Date.now() - Number(timestamp));
    if (!/^[0-9a-f]{64}$/.test(sessionId) || !(skew <= MAX_SKEW_MS) || !verifySignature(this.#key, parts(sessionId, timestamp, encoded), signature)) {
      this.#log.warn({ reason: 'signature' }, 'refused a forwarded websocket session');
      return refuse(401);
    }
    let context: ForwardedContext;
    try {
      context = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as ForwardedContext;
    } catch {
      return refuse(401);
    }
    // The lease is checked per attachment: a replica holding a stale view is sent back to resolve again.
    if (!(await this.#accepts(sessionId).catch(() => false))) return refuse(409);
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#attach(sessionId, context, ws));
  }
}
