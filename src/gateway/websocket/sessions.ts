import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type WebSocket from 'ws';
import type { Db } from '../../db/index.ts';
import type { Metrics } from '../../metrics/index.ts';
import { nativeCodec, v1Codec, type TurnCodec } from './codecs.ts';
import { socketDownstream } from './downstream.ts';
import { OwnerLeases, RENEW_MS } from './owner-leases.ts';
import { OwnerSession, type TurnDeps } from './owner-session.ts';
import { PoolerError } from '../../errors.ts';
import { frameBytes, InboundBudget, type ProcessInboundBudget } from './inbound-budget.ts';
import { connectToOwner, forwardedKeyOf, ownerFailureOf, peerKey, PeerServer, type ForwardedContext, type OwnerFailure, type PeerRefusal } from './peer.ts';
import { CLOSE } from './protocol.ts';

export type OwnerForwarding = { secretKeyBase: string; bindHost: string; port: number; advertiseHost: string; podName: string | null };

/** Where a client's session lives: in this process, or behind the owner replica's internal socket. */
export type SessionRoute = { kind: 'local'; session: OwnerSession } | { kind: 'remote'; socket: WebSocket } ;

const DRAIN_POLL_MS = 200;
// A draining owner ends its idle sessions at its next drain poll and then releases their leases:
// the claim is read again once after that.
const RECLAIM_DELAY_MS = 2 * DRAIN_POLL_MS + 100;

/** The process is shutting down: no session is attached any more (the client hears 1001). */
export class SessionsClosedError extends Error {
  constructor() {
    super('websocket sessions are closed: the process is shutting down');
    this.name = 'SessionsClosedError';
  }
}

/**
 * The session's owner is alive but will not take this client: it is draining (1001, the client
 * reconnects elsewhere), the lease moved on, or it refused this replica's signature (1011). The
 * error frame, when there is one, tells the client why before the close.
 */
export class OwnerRouteError extends Error {
  readonly failure: Exclude<OwnerFailure, 'unreachable'>;
  readonly close: { code: number; reason: string };
  readonly frame: PoolerError | null;

  constructor(failure: Exclude<OwnerFailure, 'unreachable'>, close: { code: number; reason: string }, frame: PoolerError | null) {
    super(`websocket session could not be attached to its owner: ${failure}`);
    this.name = 'OwnerRouteError';
    this.failure = failure;
    this.close = close;
    this.frame = frame;
  }
}

export const codecFor = (surface: 'backend' | 'v1'): TurnCodec => (surface === 'v1' ? v1Codec : nativeCodec);

/** Anything that must end when the process drains: client connections register here. */
export type Drainable = { drain(): void; close(code: number, reason: string): void; keyChanged?(prefix: string): void };

/**
 * This process's websocket sessions. Without owner forwarding every session is local and nothing
 * touches the database. With it, each session's owner is leased in PostgreSQL: a session owned
 * elsewhere is reached over the owner's internal socket, and an owner that cannot be reached is
 * replaced (takeover) so the session continues here on its bound account.
 */
export class WebsocketSessions {
  #deps: TurnDeps;
  #log: Logger;
  #metrics: Metrics;
  #ownerIdleMs: number;
  #draining: () => boolean;
  #inbound: ProcessInboundBudget;
  #sessions = new Map<string, OwnerSession>();
  #connections = new Set<Drainable>();
  #leases: OwnerLeases | null = null;
  #peerKey: Buffer | null = null;
  #peer: PeerServer | null = null;
  #renewTimer: NodeJS.Timeout | null = null;
  #drainTimer: NodeJS.Timeout;
  #drained = false;
  #closed = false;

  constructor(options: { deps: TurnDeps; ownerIdleMs: number; draining: () => boolean; inbound: ProcessInboundBudget }) {
    this.#inbound = options.inbound;
    this.#deps = options.deps;
    this.#log = options.deps.log;
    this.#metrics = options.deps.metrics;
    this.#ownerIdleMs = options.ownerIdleMs;
    this.#draining = options.draining;
    // Draining can start from a signal, the drain command or the marker file: looked at every 200 ms.
    this.#drainTimer = setInterval(() => this.#checkDrain(), DRAIN_POLL_MS);
    this.#drainTimer.unref();
  }

  get forwarding(): boolean {
    return this.#leases !== null;
  }

  get localCount(): number {
    return this.#sessions.size;
  }

  /** Starts the internal listener and records this process as a possible owner (owner forwarding on). */
  async enableForwarding(db: Db, options: OwnerForwarding): Promise<void> {
    this.#peerKey = peerKey(options.secretKeyBase);
    const instanceId = `${options.podName ?? hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#peer = new PeerServer({
      key: this.#peerKey,
      log: this.#log,
      instanceId,
      accepts: async (sessionId): Promise<PeerRefusal | null> => {
        if (this.#draining()) return 'owner_drained';
        return (await this.#leases!.holds(sessionId)) ? null : 'stale_owner';
      },
      attach: (sessionId, context, ws) => this.#attachForwarded(sessionId, context, ws),
    });
    const port = await this.#peer.listen(options.bindHost, options.port);
    const address = `ws://${options.advertiseHost.includes(':') ? `[${options.advertiseHost}]` : options.advertiseHost}:${port}`;
    this.#leases = new OwnerLeases(db, { instanceId, address });
    this.#renewTimer = setInterval(() => {
      this.#leases!.renew([...this.#sessions.keys()]).catch((error: unknown) => this.#log.warn({ err: error }, 'websocket owner leases could not be renewed'));
    }, RENEW_MS);
    this.#renewTimer.unref();
    this.#log.info({ instance: instanceId, address }, 'websocket owner forwarding on');
  }

  track(connection: Drainable): () => void {
    this.#connections.add(connection);
    if (this.#drained) connection.drain();
    return () => this.#connections.delete(connection);
  }

  /** A Pool API key changed (its prefix, or `*`): the sockets it opened re-check it and close 1008 if it is no longer active. */
  keyChanged(prefix: string): void {
    for (const connection of this.#connections) connection.keyChanged?.(prefix);
  }

  /**
   * The session's route for a client arriving here (routing spec B6 steps 1-3). Only an owner that
   * cannot be reached is taken over; a live owner's refusal is retried once (draining) or fails.
   */
  async route(sessionId: string, surface: 'backend' | 'v1', context: ForwardedContext, scope: { poolId: string; apiKeyId: string }, reclaimed = false): Promise<SessionRoute> {
    if (this.#closed) throw new SessionsClosedError();
    const local = this.#sessions.get(sessionId);
    if (!this.#leases) return { kind: 'local', session: local ?? this.#create(sessionId, surface, context.sessionKey, context.turnState ?? null, null) };
    const claim = await this.#leases.claim(sessionId, scope);
    if (this.#closed) {
      // Shutdown started while the lease was being taken: give it back at once.
      if (claim.kind === 'mine') await this.#leases.release([sessionId]).catch(() => {});
      throw new SessionsClosedError();
    }
    if (claim.kind === 'mine') {
      this.#metrics.websocketOwnerCount.inc({ decision: 'local' });
      return { kind: 'local', session: local ?? this.#create(sessionId, surface, context.sessionKey, context.turnState ?? null, claim.assignmentId) };
    }
    // Another replica holds the lease: a local copy is stale (taken over meanwhile).
    local?.end();
    const session = sessionId.slice(0, 12);
    try {
      const socket = await connectToOwner(claim.address, sessionId, context, this.#peerKey!);
      this.#metrics.websocketOwnerCount.inc({ decision: 'forwarded' });
      return { kind: 'remote', socket };
    } catch (error) {
      const failure = ownerFailureOf(error, claim.instanceId);
      this.#metrics.websocketOwnerCount.inc({ decision: failure === 'unreachable' ? 'owner_unavailable' : failure });
      if (failure === 'peer_auth_failed') {
        // A configuration error, not a dead owner: taking over would run the session twice.
        this.#log.error({ session, owner: claim.instanceId, address: claim.address }, 'websocket owner refused this replica\'s signature: SECRET_KEY_BASE differs between replicas; the session is not taken over');
        throw new OwnerRouteError(failure, { code: CLOSE.failed.code, reason: 'websocket owner is unavailable' }, new PoolerError('websocket_owner_unavailable', 'websocket owner forwarding failed: the owner refused this replica (peer authentication failed; every replica needs the same SECRET_KEY_BASE)'));
      }
      if (failure === 'owner_drained' || failure === 'stale_owner') {
        if (!reclaimed) {
          // The owner is alive: a draining one releases the lease shortly, a moved lease names the new owner.
          this.#log.info({ session, owner: claim.instanceId, reason: failure }, 'websocket owner refused the session; reading its lease again');
          await new Promise((resolve) => setTimeout(resolve, failure === 'owner_drained' ? RECLAIM_DELAY_MS : 0));
          return this.route(sessionId, surface, context, scope, true);
        }
        this.#log.warn({ session, owner: claim.instanceId, reason: failure }, 'websocket owner still refuses the session');
        if (failure === 'owner_drained') throw new OwnerRouteError(failure, CLOSE.draining, null);
        throw new OwnerRouteError(failure, { code: CLOSE.failed.code, reason: 'websocket owner lease is stale' }, new PoolerError('websocket_owner_unavailable', 'websocket owner lease is stale; reconnect'));
      }
      this.#log.warn({ err: error, session, owner: claim.instanceId }, 'websocket owner is unreachable; taking the session over');
      const taken = await this.#leases.takeOver(sessionId, claim.token);
      if (!taken) return this.route(sessionId, surface, context, scope, reclaimed);
      this.#metrics.websocketOwnerCount.inc({ decision: 'takeover' });
      return { kind: 'local', session: this.#create(sessionId, surface, context.sessionKey, context.turnState ?? null, taken.assignmentId) };
    }
  }

  /**
   * Shutdown: turns still running get up to `waitMs` to finish (polled every 200 ms, spec B5), then
   * every client hears 1001, upstream sockets close and leases are released.
   */
  async close(waitMs = 0): Promise<void> {
    this.#checkDrain(true);
    this.#closed = true;
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && [...this.#sessions.values()].some((session) => session.busy)) await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    clearInterval(this.#drainTimer);
    if (this.#renewTimer) clearInterval(this.#renewTimer);
    for (const connection of this.#connections) connection.close(CLOSE.draining.code, CLOSE.draining.reason);
    const ids = [...this.#sessions.keys()];
    for (const session of [...this.#sessions.values()]) session.end();
    await this.#peer?.close();
    await this.#leases?.release(ids).catch(() => {});
  }

  #create(sessionId: string, surface: 'backend' | 'v1', sessionKey: string, turnState: string | null, boundAssignmentId: string | null): OwnerSession {
    const session = new OwnerSession(this.#deps, { id: sessionId, codec: codecFor(surface), sessionKey, turnState, boundAssignmentId, ownerIdleMs: this.#ownerIdleMs });
    this.#sessions.set(sessionId, session);
    session.onGone = () => {
      if (this.#sessions.get(sessionId) !== session) return;
      this.#sessions.delete(sessionId);
      this.#leases?.release([sessionId]).catch(() => {});
    };
    if (this.#leases) {
      const leases = this.#leases;
      session.onBound = (assignmentId) => void leases.bind(sessionId, assignmentId).catch((error: unknown) => this.#log.warn({ err: error }, 'websocket session binding could not be recorded'));
    }
    if (this.#drained) session.drain();
    return session;
  }

  /** A replica forwards a client to this owner: the internal socket is the session's downstream. */
  #attachForwarded(sessionId: string, context: ForwardedContext, ws: WebSocket): void {
    const session = this.#sessions.get(sessionId) ?? this.#create(sessionId, context.surface, context.sessionKey, context.turnState ?? null, null);
    const downstream = socketDownstream(ws);
    session.attach(downstream, { key: context.key, surface: context.surface, authorization: null, clientIp: context.clientIp, userAgent: context.userAgent, clientRequestId: context.clientRequestId, forwarded: true });
    // The same queue bounds as a direct client (its own and the process's): past them the internal
    // socket stops being read and the forwarding replica holds (and bounds) the client's frames itself.
    const inbound = new InboundBudget(ws, this.#inbound);
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        // The key the replica just checked, for the turn that follows (peer.ts keyFrame).
        const key = forwardedKeyOf(Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]), context.key);
        if (key) session.refreshKey(downstream, key);
        else this.#log.warn({ session: sessionId.slice(0, 12) }, 'ignored a malformed key frame from a forwarding replica');
        return;
      }
      session.receive(data.toString(), downstream, inbound.admit(frameBytes(data)));
    });
    ws.on('close', () => {
      inbound.close();
      session.detach(downstream);
    });
    ws.on('error', () => ws.terminate());
  }

  #checkDrain(force = false): void {
    if (this.#drained || !(force || this.#draining())) return;
    this.#drained = true;
    this.#log.info({ sessions: this.#sessions.size, connections: this.#connections.size }, 'draining websocket sessions: each closes with 1001 after its current turn');
    for (const session of this.#sessions.values()) session.drain();
    for (const connection of this.#connections) connection.drain();
  }
}
