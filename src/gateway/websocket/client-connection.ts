import type { Logger } from 'pino';
import type WebSocket from 'ws';
import { PoolerError } from '../../errors.ts';
import type { Metrics } from '../../metrics/index.ts';
import { codecFor, OwnerRouteError, SessionsClosedError, type WebsocketSessions } from './sessions.ts';
import { socketDownstream } from './downstream.ts';
import { frameBytes, InboundBudget, type ProcessInboundBudget } from './inbound-budget.ts';
import type { KeyCheck } from './key-check.ts';
import type { ClientContext, Downstream, OwnerSession } from './owner-session.ts';
import { keyFrame, type ForwardedContext } from './peer.ts';
import { CLOSE, DOWNSTREAM_HIGH_WATER_BYTES, PING_INTERVAL_MS, closeCodeLabel, frameKind, parseClientFrame, peekType } from './protocol.ts';

const KEY_CHECK_MS = 5_000;

type Target =
  | { kind: 'local'; session: OwnerSession }
  | { kind: 'remote'; socket: WebSocket; inFlight: number; dead: boolean };

/**
 * One client websocket: its frames go to the session's owner (this process, or another replica over
 * the internal socket), in order. It enforces the client-facing rules: binary frames close 1003,
 * idle clients close 1002, a draining process closes 1001 once the current turn ends, and a dead
 * owner fails the in-flight turn with an error frame while the next turn takes the session over.
 */
export class ClientConnection {
  #ws: WebSocket;
  #downstream: Downstream;
  #client: ClientContext;
  #sessionId: string;
  #forwarded: ForwardedContext;
  #sessions: WebsocketSessions;
  #log: Logger;
  #metrics: Metrics;
  #idleMs: number;
  #verifyKey: (client: ClientContext) => Promise<KeyCheck>;
  #target: Target | null = null;
  #chain: Promise<void> = Promise.resolve();
  /** Frames received and not yet taken by the session (or sent to the owner): bounded, reading pauses past it. */
  #inbound: InboundBudget;
  #idle: NodeJS.Timeout | null = null;
  #ping: NodeJS.Timeout;
  #keyCheck: NodeJS.Timeout;
  #awaitingPong = false;
  #draining = false;
  #closed = false;
  #untrack: () => void;

  constructor(
    ws: WebSocket,
    options: { client: ClientContext; sessionId: string; forwarded: ForwardedContext; sessions: WebsocketSessions; log: Logger; metrics: Metrics; idleMs: number; checkKey: (client: ClientContext) => Promise<KeyCheck>; inbound: ProcessInboundBudget },
  ) {
    this.#verifyKey = options.checkKey;
    this.#ws = ws;
    this.#downstream = socketDownstream(ws);
    this.#client = options.client;
    this.#sessionId = options.sessionId;
    this.#forwarded = options.forwarded;
    this.#sessions = options.sessions;
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#idleMs = options.idleMs;
    this.#metrics.activeWebsockets.inc();
    this.#inbound = new InboundBudget(ws, options.inbound);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.close(CLOSE.binary.code, CLOSE.binary.reason);
      this.#touch();
      const text = data.toString();
      const taken = this.#inbound.admit(frameBytes(data));
      this.#chain = this.#chain
        .then(() => this.#deliver(text, taken))
        .catch((error: unknown) => {
          taken();
          this.#log.error({ err: error }, 'websocket frame could not be delivered');
        });
    });
    ws.on('pong', () => {
      this.#awaitingPong = false;
    });
    ws.on('close', (code) => this.#ended(code));
    ws.on('error', () => ws.terminate());
    this.#ping = setInterval(() => {
      // While reading is paused (queue full) a pong cannot be read: the client is alive, it is sending.
      if (this.#inbound.paused) return void (this.#awaitingPong = false);
      if (this.#awaitingPong) return void ws.terminate();
      this.#awaitingPong = true;
      ws.ping();
    }, PING_INTERVAL_MS);
    this.#ping.unref();
    // A key revoked (or expired, or its pool disabled) while the socket is open ends it with 1008 (spec §12).
    // Key changes arrive at once through keyChanged(); this poll is the safety net for a lost
    // notification and for expiry, which nobody announces.
    this.#keyCheck = setInterval(() => this.#checkKey(), KEY_CHECK_MS);
    this.#keyCheck.unref();
    this.#untrack = this.#sessions.track(this);
    this.#touch();
  }

  /** Attaches to the session's owner right away, so its lease is taken at connect (routing spec B6 step 1). */
  start(): void {
    this.#chain = this.#chain.then(() => this.#ensureTarget().then(() => undefined)).catch((error: unknown) => {
      if (error instanceof SessionsClosedError) return this.close(CLOSE.draining.code, CLOSE.draining.reason);
      if (error instanceof OwnerRouteError) return this.#refuse(error);
      this.#log.warn({ err: error }, 'websocket session could not be attached');
      this.close(CLOSE.failed.code, CLOSE.failed.reason);
    });
  }

  drain(): void {
    this.#draining = true;
    if (this.#target?.kind === 'remote' && this.#target.inFlight === 0) this.close(CLOSE.draining.code, CLOSE.draining.reason);
    // Local sessions close their client themselves once the current turn ends.
  }

  close(code: number, reason: string): void {
    this.#downstream.close(code, reason);
  }

  /** A Pool API key changed (its prefix, or `*` for all): this socket's key is checked again now. */
  keyChanged(prefix: string): void {
    if (prefix === '*' || prefix === this.#client.key.prefix) this.#checkKey();
  }

  #checkKey(): void {
    if (this.#closed) return;
    // Only a refusal of the key closes the socket; a failed check (logged) waits for the next one.
    void this.#verifyKey(this.#client).then((check) => {
      if (check.status === 'inactive') this.close(CLOSE.keyInactive.code, CLOSE.keyInactive.reason);
    });
  }

  async #ensureTarget(): Promise<Target> {
    if (this.#target && !(this.#target.kind === 'remote' && this.#target.dead)) return this.#target;
    const route = await this.#sessions.route(this.#sessionId, this.#forwarded.surface, this.#forwarded, { poolId: this.#client.key.poolId, apiKeyId: this.#client.key.id });
    if (this.#closed) {
      if (route.kind === 'remote') route.socket.close(1000);
      throw new Error('client left while its session was being attached');
    }
    if (route.kind === 'local') {
      route.session.attach(this.#downstream, this.#client);
      this.#target = { kind: 'local', session: route.session };
    } else {
      this.#target = this.#remote(route.socket);
    }
    return this.#target!;
  }

  #remote(socket: WebSocket): Target & { kind: 'remote' } {
    const target: Target & { kind: 'remote' } = { kind: 'remote', socket, inFlight: 0, dead: false };
    const downstream = this.#downstream;
    socket.on('message', (data) => {
      const text = data.toString();
      const kind = frameKind(peekType(text));
      if ((kind === 'success' || kind === 'failure') && target.inFlight > 0) target.inFlight--;
      this.#touch();
      if (!downstream.send(text)) {
        socket.pause();
        void downstream.drained().then(() => socket.resume());
      }
      if (this.#draining && target.inFlight === 0) this.close(CLOSE.draining.code, CLOSE.draining.reason);
    });
    socket.on('error', () => socket.terminate());
    socket.on('close', (code, reason) => {
      target.dead = true;
      if (this.#closed) return;
      // The owner ended the session on purpose (draining, key revoked): the client hears the same.
      if (code === CLOSE.draining.code || code === CLOSE.keyInactive.code || code === CLOSE.normal.code) return this.close(code, reason.toString());
      this.#metrics.websocketOwnerCount.inc({ decision: 'owner_crashed' });
      if (target.inFlight > 0) {
        target.inFlight = 0;
        downstream.send(codecFor(this.#forwarded.surface).error(new PoolerError('websocket_owner_unavailable', 'websocket owner crashed; the turn was not completed, send it again'), null));
      }
    });
    return target;
  }

  /** The owner is alive but will not take this client: say why (when there is a frame), then close. */
  #refuse(error: OwnerRouteError): void {
    if (error.frame) this.#downstream.send(codecFor(this.#forwarded.surface).error(error.frame, null));
    this.close(error.close.code, error.close.reason);
  }

  /** One client frame to its owner; `taken` releases its place in the inbound queue once it left this connection. */
  async #deliver(text: string, taken: () => void): Promise<void> {
    let handedOver = false;
    try {
      if (this.#closed) return;
      let target: Target;
      try {
        target = await this.#ensureTarget();
      } catch (error) {
        if (error instanceof OwnerRouteError) return this.#refuse(error);
        this.#log.warn({ err: error }, 'websocket session owner could not be reached');
        this.#downstream.send(codecFor(this.#forwarded.surface).error(new PoolerError('websocket_owner_unavailable', 'websocket owner is unavailable'), null));
        return;
      }
      if (target.kind === 'local') {
        // The session's queue holds the frame now and releases it when its turn loop takes it.
        handedOver = true;
        return target.session.receive(text, this.#downstream, taken);
      }
      const kind = parseClientFrame(text).kind;
      if (kind === 'turn') {
        // Forwarded turns are re-checked here, where the client's key was presented (local ones by
        // the owner), and the owner gets the fresh key right before the turn: it runs with the
        // key's current policy.
        const check = await this.#verifyKey(this.#client);
        if (check.status === 'inactive') return this.close(CLOSE.keyInactive.code, CLOSE.keyInactive.reason);
        if (check.status === 'unverified') {
          this.#downstream.send(codecFor(this.#forwarded.surface).error(new PoolerError('service_unavailable', 'the api key could not be checked; send the turn again'), null));
          return;
        }
        target.socket.send(keyFrame(check.key), { binary: true });
      }
      if (kind === 'turn' || kind === 'warmup') target.inFlight++;
      target.socket.send(text);
      // An owner whose queue is full stops reading the internal socket: this frame stays counted
      // (and the client's reading paused) until the internal socket has taken it.
      while (!target.dead && target.socket.readyState === target.socket.OPEN && target.socket.bufferedAmount >= DOWNSTREAM_HIGH_WATER_BYTES) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    } finally {
      if (!handedOver) taken();
    }
  }

  #touch(): void {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      const busy = this.#target?.kind === 'local' ? this.#target.session.busy : (this.#target?.inFlight ?? 0) > 0;
      if (busy) return this.#touch();
      this.close(CLOSE.idle.code, CLOSE.idle.reason);
    }, this.#idleMs);
    this.#idle.unref();
  }

  #ended(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#ping);
    clearInterval(this.#keyCheck);
    this.#inbound.close();
    if (this.#idle) clearTimeout(this.#idle);
    this.#untrack();
    this.#metrics.activeWebsockets.dec();
    this.#metrics.websocketCloseCount.inc({ code: closeCodeLabel(code) });
    const target = this.#target;
    if (target?.kind === 'local') target.session.detach(this.#downstream);
    if (target?.kind === 'remote' && !target.dead) target.socket.close(1000);
  }
}
