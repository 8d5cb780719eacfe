import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { deriveKey, signPayload, verifySignature } from '../../crypto/hmac.ts';
import { REASONING_EFFORTS, SERVICE_TIERS, type AuthenticatedKey, type ReasoningEffort, type ServiceTier } from '../../api-keys/index.ts';
import type { Surface } from './codecs.ts';
import { MAX_FRAME_BYTES } from './protocol.ts';
import { ReplayGuard } from './replay-guard.ts';

/**
 * The internal connection between replicas (routing spec B6, Part D): a replica that receives a
 * session it does not own opens a websocket to the owner's recorded address and relays the
 * client's frames both ways. Each connection is authenticated with an HMAC-SHA256 derived from
 * SECRET_KEY_BASE over the method, the path (which names the session), a timestamp, a one-time
 * nonce and the forwarded context (the request's only payload); a signature is accepted once, within
 * the skew window. The listener is never exposed through the public one.
 */

const PATH_PREFIX = '/websocket-owner/';
export const MAX_SKEW_MS = 60_000;
const NONCE_SHAPE = /^[A-Za-z0-9_-]{22}$/;
export const FORWARD_CONNECT_TIMEOUT_MS = 5_000;

/** What the owner needs to run a forwarded session's turns: the already authenticated key and client facts. */
export type ForwardedContext = {
  surface: Surface;
  sessionKey: string;
  /** The turn state the client holds for the session (an alias of its account). */
  turnState?: string | null;
  key: AuthenticatedKey;
  clientIp: string | null;
  userAgent: string | null;
  clientRequestId: string;
};

export function peerKey(secretKeyBase: string): Buffer {
  return deriveKey(secretKeyBase, 'websocket-owner-forwarding');
}

const parts = (method: string, path: string, timestamp: string, nonce: string, context: string) => [method, path, timestamp, nonce, context];

/** The signed headers of one attachment request (exported for tests that replay or tamper with them). */
export function peerHeaders(sessionId: string, context: ForwardedContext, key: Buffer, now = Date.now()): Record<string, string> {
  const encoded = Buffer.from(JSON.stringify(context)).toString('base64url');
  const timestamp = String(now);
  const nonce = randomBytes(16).toString('base64url');
  const signature = signPayload(key, parts('GET', `${PATH_PREFIX}${sessionId}`, timestamp, nonce, encoded));
  return { 'x-cxp-peer-timestamp': timestamp, 'x-cxp-peer-nonce': nonce, 'x-cxp-peer-context': encoded, 'x-cxp-peer-signature': signature };
}

/**
 * Why the internal socket to a session's owner could not be opened. `status` is null when the owner
 * never answered (network error, handshake timeout); otherwise the HTTP status of its refusal, with
 * the refusal reason and the answering process's instance id when it was a peer listener.
 */
export class OwnerConnectError extends Error {
  readonly status: number | null;
  readonly refusal: string | null;
  readonly instance: string | null;

  constructor(status: number | null, refusal: string | null, instance: string | null, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OwnerConnectError';
    this.status = status;
    this.refusal = refusal;
    this.instance = instance;
  }
}

/** What a failed connection to the recorded owner means for the session (routing spec B6 step 3). */
export type OwnerFailure = 'unreachable' | 'peer_auth_failed' | 'owner_drained' | 'stale_owner';

/**
 * Pure: only an owner that cannot be reached is taken over. A 401 is a configuration error (the
 * replicas do not share SECRET_KEY_BASE) and a 409 comes from a live owner (draining, or the lease
 * moved on): taking those over would give one session two upstream sockets. An address that now
 * answers for another process (a container restarted on the same IP) means the recorded owner is gone.
 */
export function ownerFailureOf(error: unknown, recordedInstance: string): OwnerFailure {
  if (!(error instanceof OwnerConnectError) || error.status === null) return 'unreachable';
  if (error.status === 401) return 'peer_auth_failed';
  if (error.instance !== null && error.instance !== recordedInstance) return 'unreachable';
  return error.status === 409 && error.refusal === 'owner_drained' ? 'owner_drained' : 'stale_owner';
}

/** Why an owner refuses an attachment it authenticated (sent in `x-cxp-peer-refusal`). */
export type PeerRefusal = 'owner_drained' | 'stale_owner';

/** Opens the internal socket to the owner; rejects with an OwnerConnectError when it cannot be reached or refuses. */
export function connectToOwner(address: string, sessionId: string, context: ForwardedContext, key: Buffer, now = Date.now()): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${address}${PATH_PREFIX}${sessionId}`, {
      headers: peerHeaders(sessionId, context, key, now),
      perMessageDeflate: false,
      handshakeTimeout: FORWARD_CONNECT_TIMEOUT_MS,
      maxPayload: MAX_FRAME_BYTES,
    });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_request, response) => {
      ws.terminate();
      const header = (name: string) => (typeof response.headers[name] === 'string' ? (response.headers[name] as string) : null);
      const status = response.statusCode ?? 0;
      reject(new OwnerConnectError(status, header('x-cxp-peer-refusal'), header('x-cxp-peer-instance'), `owner refused the forwarded session (${status})`));
    });
    ws.once('error', (error) => reject(new OwnerConnectError(null, null, null, `owner could not be reached: ${error.message}`, { cause: error })));
  });
}

/**
 * The fresh key of a forwarded turn: the replica the client reached re-checks the key before each
 * turn and sends the result to the owner as a binary frame right before the turn's text frame, so
 * the owner runs the turn with the key's current model policy. Client binary frames never reach the
 * internal socket (they close the client with 1003), so a client cannot forge one.
 */
export function keyFrame(key: AuthenticatedKey): Buffer {
  return Buffer.from(JSON.stringify(key));
}

const isStringOrNull = (value: unknown) => value === null || typeof value === 'string';
const isModelList = (value: unknown) => value === null || (Array.isArray(value) && value.every((m) => typeof m === 'string'));

/**
 * Pure: a key frame from the forwarding replica → the key to run the next turns with, or null when
 * it is malformed or names another key or pool than the session was attached with (then ignored).
 */
export function forwardedKeyOf(data: Buffer, attached: AuthenticatedKey): AuthenticatedKey | null {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const key = value as Record<string, unknown>;
  if (key.id !== attached.id || key.prefix !== attached.prefix || key.poolId !== attached.poolId) return null;
  if (typeof key.poolSlug !== 'string' || typeof key.v1Enabled !== 'boolean' || !isModelList(key.allowedModels)) return null;
  const policy = key.policy as Record<string, unknown> | undefined;
  if (policy !== undefined) {
    if (!policy || typeof policy !== 'object' || !isModelList(policy.allowedModels)) return null;
    if (![policy.enforcedModel, policy.maximumReasoningEffort, policy.enforcedReasoningEffort, policy.serviceTier].every(isStringOrNull)) return null;
    if (![policy.maximumReasoningEffort, policy.enforcedReasoningEffort].every((e) => e === null || (REASONING_EFFORTS as readonly unknown[]).includes(e))) return null;
    if (policy.serviceTier !== null && !(SERVICE_TIERS as readonly unknown[]).includes(policy.serviceTier)) return null;
  }
  const fresh: AuthenticatedKey = { id: attached.id, prefix: attached.prefix, poolId: attached.poolId, poolSlug: key.poolSlug, v1Enabled: key.v1Enabled, allowedModels: key.allowedModels as string[] | null };
  if (policy === undefined) return fresh;
  return {
    ...fresh,
    policy: {
      allowedModels: policy.allowedModels as string[] | null,
      enforcedModel: policy.enforcedModel as string | null,
      maximumReasoningEffort: policy.maximumReasoningEffort as ReasoningEffort | null,
      enforcedReasoningEffort: policy.enforcedReasoningEffort as ReasoningEffort | null,
      serviceTier: policy.serviceTier as ServiceTier | null,
    },
  };
}

export type PeerAttach = (sessionId: string, context: ForwardedContext, ws: WebSocket) => void;

/** The owner side: an internal listener accepting signed session attachments from other replicas. */
export class PeerServer {
  #server: Server;
  #wss: WebSocketServer;
  #key: Buffer;
  #log: Logger;
  #accepts: (sessionId: string) => Promise<PeerRefusal | null>;
  #instanceId: string | null;
  #attach: PeerAttach;
  #replays: ReplayGuard;
  #now: () => number;

  /** `accepts` answers null to take the session, else why not; `instanceId` names this process in refusals. */
  constructor(options: { key: Buffer; log: Logger; accepts: (sessionId: string) => Promise<PeerRefusal | null>; attach: PeerAttach; instanceId?: string; now?: () => number }) {
    this.#instanceId = options.instanceId ?? null;
    this.#now = options.now ?? Date.now;
    // A signature stays valid up to the skew past its timestamp: it is remembered that long.
    this.#replays = new ReplayGuard({ windowMs: MAX_SKEW_MS, now: this.#now });
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
    const refuse = (status: number, refusal: PeerRefusal | null = null): void => {
      // Only an authenticated peer learns why (and who answered): a 401 says nothing more.
      const extra = refusal ? `x-cxp-peer-refusal: ${refusal}\r\n${this.#instanceId ? `x-cxp-peer-instance: ${this.#instanceId}\r\n` : ''}` : '';
      void socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Conflict'}\r\n${extra}connection: close\r\ncontent-length: 0\r\n\r\n`);
    };
    socket.on('error', () => socket.destroy());
    const url = request.url ?? '';
    const sessionId = url.startsWith(PATH_PREFIX) ? url.slice(PATH_PREFIX.length) : '';
    const timestamp = String(request.headers['x-cxp-peer-timestamp'] ?? '');
    const nonce = String(request.headers['x-cxp-peer-nonce'] ?? '');
    const encoded = String(request.headers['x-cxp-peer-context'] ?? '');
    const signature = String(request.headers['x-cxp-peer-signature'] ?? '');
    const skew = Math.abs(this.#now() - Number(timestamp));
    if (
      !/^[0-9a-f]{64}$/.test(sessionId) ||
      !/^[0-9]{1,16}$/.test(timestamp) ||
      !(skew <= MAX_SKEW_MS) ||
      !NONCE_SHAPE.test(nonce) ||
      !verifySignature(this.#key, parts(request.method ?? '', url, timestamp, nonce, encoded), signature)
    ) {
      this.#log.warn({ reason: 'signature' }, 'refused a forwarded websocket session');
      return refuse(401);
    }
    // Checked after the signature, so only a holder of the key can make it remember anything.
    if (!this.#replays.admit(signature, Number(timestamp))) {
      this.#log.warn({ reason: 'replayed' }, 'refused a forwarded websocket session');
      return refuse(401);
    }
    let context: ForwardedContext;
    try {
      context = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as ForwardedContext;
    } catch {
      return refuse(401);
    }
    // The lease is checked per attachment: a replica holding a stale view is sent back to resolve again.
    const refusal = await this.#accepts(sessionId).catch((): PeerRefusal => 'stale_owner');
    if (refusal) return refuse(409, refusal);
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#attach(sessionId, context, ws));
  }
}
