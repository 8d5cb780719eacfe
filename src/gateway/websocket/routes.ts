import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import fastifyWebsocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type WebSocket from 'ws';
import type { AuthenticatedKey, KeySurface } from '../../api-keys/index.ts';
import { sha256Hex } from '../../crypto/index.ts';
import { API_KEY_CHANNEL } from '../../db/index.ts';
import { PoolerError } from '../../errors.ts';
import type { DrainState } from '../../http/drain.ts';
import type { Services } from '../../services.ts';
import { ClientConnection } from './client-connection.ts';
import type { Surface } from './codecs.ts';
import { ProcessInboundBudget } from './inbound-budget.ts';
import { checkClientKey } from './key-check.ts';
import type { ClientContext, TurnDeps } from './owner-session.ts';
import { CLOSE, MAX_FRAME_BYTES } from './protocol.ts';
import { WebsocketSessions } from './sessions.ts';

export type WebsocketRouteOptions = {
  services: Services;
  drain: DrainState;
  /** The HTTP routes' model resolution (key allow-list, pool catalog), shared so both transports agree. */
  resolveModel(key: AuthenticatedKey, requested: string): Promise<string>;
  /** The pool catalog's ETag (`x-models-etag`). */
  modelsEtag(poolId: string): Promise<string>;
};

// Upgrade response headers computed before the upgrade (turn state, catalog tag), read by ws's 'headers' event.
const UPGRADE_HEADERS = Symbol('codex-pooler.upgrade-headers');
type UpgradeRequest = IncomingMessage & { [UPGRADE_HEADERS]?: Record<string, string> };

// Session headers in the routing spec's order (A2, runtime §10.1).
const SESSION_HEADERS = ['x-codex-window-id', 'x-codex-session-id', 'session-id', 'x-session-id', 'x-session-affinity', 'session_id', 'x-codex-conversation-id'];
const PRINTABLE = /^[\x20-\x7e]{1,512}$/;

/**
 * The session key of an upgrade (runtime spec §10.2): the client's turn state, else a window id
 * (both hashed), else another session header, else the turn state minted for this connection, which
 * the client gets back at the upgrade and may present again to resume.
 */
export function sessionKeyOf(headers: Record<string, string | string[] | undefined>, mintedTurnState: string): { sessionKey: string; turnState: string } {
  const given = headers['x-codex-turn-state'];
  if (typeof given === 'string' && given.trim() && PRINTABLE.test(given.trim())) return { sessionKey: `x-codex-turn-state:${sha256Hex(given.trim())}`, turnState: given.trim() };
  for (const name of SESSION_HEADERS) {
    const value = headers[name];
    if (typeof value !== 'string' || !value.trim()) continue;
    const key = name === 'x-codex-window-id' ? `x-codex-window-id:${sha256Hex(value.trim())}` : value.trim();
    return { sessionKey: key, turnState: mintedTurnState };
  }
  return { sessionKey: `x-codex-turn-state:${sha256Hex(mintedTurnState)}`, turnState: mintedTurnState };
}

/**
 * The websocket transports: GET /backend-api/codex/responses (native, §8) and GET /v1/responses
 * (§9.7). Authentication runs before the upgrade (a bad key gets 401 and the JSON envelope); a
 * plain GET gets 400 websocket_upgrade_required; turn failures are error frames on the open socket.
 */
export async function registerWebsocketRoutes(app: FastifyInstance, options: WebsocketRouteOptions): Promise<WebsocketSessions> {
  const { services, drain } = options;
  const { config } = services;
  const log = services.log.child({ component: 'websocket' });
  // One check for every socket and turn, on the surface the client connected to (key-check.ts).
  const checkKey = (client: ClientContext) => checkClientKey(services.apiKeys, log, client);
  // Frames queued by all of this process's connections together (client and internal sockets).
  const inbound = new ProcessInboundBudget();
  const turnDeps: TurnDeps = {
    routing: services.routing,
    credentials: services.credentials,
    quota: services.quota,
    requestLog: services.requestLog,
    keyPolicies: services.keyPolicies,
    admission: services.admission,
    replayedItems: services.replayedItems,
    metrics: services.metrics,
    log,
    upstreamBaseUrl: config.upstreamBaseUrl,
    timeouts: { connectMs: config.upstreamTimeouts.connectMs, idleMs: config.upstreamTimeouts.idleMs },
    now: Date.now,
    resolveModel: options.resolveModel,
    modelsEtag: options.modelsEtag,
    checkKey,
  };
  const sessions = new WebsocketSessions({ deps: turnDeps, ownerIdleMs: config.websocket.ownerIdleTimeoutMs, draining: () => drain.draining, inbound });
  // A paused or revoked key closes its open sockets at once (spec §12). Deferred a tick so the key
  // cache, subscribed to the same notification, has dropped the key's entry before it is re-read.
  await services.notifier
    .subscribe(API_KEY_CHANNEL, (prefix) => void setImmediate(() => sessions.keyChanged(prefix)))
    .catch((error: unknown) => log.warn({ err: error }, 'key changes are not delivered to websockets; open sockets re-check their key every 5 s'));
  if (config.ownerForwarding) {
    if (!config.clusterQuery) log.warn('CODEX_POOLER_WEBSOCKET_OWNER_FORWARDING is on without DNS_CLUSTER_QUERY: replicas still find owners through PostgreSQL');
    await sessions.enableForwarding(services.db, {
      secretKeyBase: config.secretKeyBase,
      bindHost: config.websocket.peerBindHost,
      port: config.websocket.peerPort,
      advertiseHost: config.websocket.peerAdvertiseHost,
      podName: config.podName,
    });
  }

  await app.register(fastifyWebsocket, {
    options: { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false },
    // Shutdown: turns still running get the drain budget (capped at a minute), then every client hears 1001.
    preClose: async function closeSessions() {
      await sessions.close(Math.min(config.drainTimeoutMs, 60_000));
      await new Promise<void>((resolve) => app.websocketServer.close(() => resolve()));
    },
  });
  app.websocketServer.on('headers', (headers: string[], request: UpgradeRequest) => {
    for (const [name, value] of Object.entries(request[UPGRADE_HEADERS] ?? {})) headers.push(`${name}: ${value}`);
  });

  const authenticate = (surface: KeySurface) => async (request: FastifyRequest) => {
    request.poolKey = await services.apiKeys.authenticate(request.headers.authorization, surface);
    if (surface === 'v1' && !request.poolKey.v1Enabled) throw new PoolerError('v1_compatibility_disabled');
  };

  const route = (surface: Surface) => ({
    handler: async () => {
      throw new PoolerError('websocket_upgrade_required', 'this endpoint needs a websocket upgrade');
    },
    preHandler: async (request: FastifyRequest) => {
      if (!request.ws) return;
      const minted = randomUUID();
      const { turnState } = sessionKeyOf(request.headers, minted);
      const headers: Record<string, string> = { 'x-codex-turn-state': turnState };
      if (surface === 'backend') headers['x-models-etag'] = await options.modelsEtag(request.poolKey!.poolId);
      (request.raw as UpgradeRequest)[UPGRADE_HEADERS] = headers;
    },
    wsHandler: (socket: WebSocket, request: FastifyRequest) => {
      // Draining: the upgrade completes so the client reads a close code it understands (1001).
      if (drain.draining) return socket.close(CLOSE.draining.code, CLOSE.draining.reason);
      const key = request.poolKey!;
      const turnState = (request.raw as UpgradeRequest)[UPGRADE_HEADERS]?.['x-codex-turn-state'] ?? randomUUID();
      const { sessionKey } = sessionKeyOf(request.headers, turnState);
      const sessionId = sha256Hex(`${surface}:${key.poolId}:${key.id}:${sessionKey}`);
      const userAgent = typeof request.headers['user-agent'] === 'string' ? request.headers['user-agent'].slice(0, 160) : null;
      const authorization = request.headers.authorization ?? null;
      const connection = new ClientConnection(socket, {
        client: { key, surface, authorization, clientIp: request.clientIp ?? request.ip, userAgent, clientRequestId: request.id, forwarded: false },
        sessionId,
        forwarded: { surface, sessionKey, turnState, key, clientIp: request.clientIp ?? request.ip, userAgent, clientRequestId: request.id },
        sessions,
        log,
        metrics: services.metrics,
        idleMs: config.websocket.idleTimeoutMs,
        checkKey,
        inbound,
      });
      connection.start();
    },
  });

  await app.register(async (scope) => {
    scope.addHook('onRequest', authenticate('backend'));
    for (const url of ['/backend-api/codex/responses', '/backend-api/codex/v1/responses']) scope.route({ method: 'GET', url, ...route('backend') });
  });
  await app.register(async (scope) => {
    scope.addHook('onRequest', authenticate('v1'));
    scope.route({ method: 'GET', url: '/v1/responses', ...route('v1') });
  });
  return sessions;
}
