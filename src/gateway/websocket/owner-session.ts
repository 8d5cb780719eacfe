import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { KeyPolicyGate } from '../../accounting/index.ts';
import type { AuthenticatedKey } from '../../api-keys/index.ts';
import { sha256Hex } from '../../crypto/index.ts';
import { PoolerError } from '../../errors.ts';
import type { Metrics } from '../../metrics/index.ts';
import { describeNoEligibleAccount, selectAccount, type Admission, type AttemptAdmission, type Candidate, type RoutingState } from '../../routing/index.ts';
import { buildUpstreamHeaders, quotaFromHeaders, quotaFromRateLimitEvent, usageLimitResetAt, type CredentialStore, type QuotaRecorder } from '../../upstreams/index.ts';
import type { NewAttemptRow } from '../request-log.table.ts';
import type { RequestLogWriter } from '../request-log-writer.ts';
import { continuationOf, startsConversation } from '../responses-body.ts';
import { failureCode } from '../upstream-events.ts';
import { usageFromPayload, type TokenUsage } from '../usage.ts';
import type { PreparedTurn, TurnCodec } from './codecs.ts';
import { CLOSE, frameKind, parseClientFrame, peekType, upstreamProcessedFrame, warmupFrames, type JsonObject } from './protocol.ts';
import { turnRecord, type TurnStatus } from './turn-log.ts';
import { UpstreamConnectError, UpstreamSocket, WEBSOCKET_BETA, upstreamWebsocketUrl } from './upstream-socket.ts';

/** What a websocket turn needs from the process: the same services the HTTP dispatch uses. */
export type TurnDeps = {
  routing: RoutingState;
  credentials: CredentialStore;
  quota: QuotaRecorder;
  requestLog: RequestLogWriter;
  keyPolicies: KeyPolicyGate;
  admission: Admission;
  metrics: Metrics;
  log: Logger;
  upstreamBaseUrl: string;
  timeouts: { connectMs: number; idleMs: number };
  now: () => number;
  /** The key's model allow-list and the pool catalog: the upstream model id, or a PoolerError. */
  resolveModel(key: AuthenticatedKey, requested: string): Promise<string>;
  modelsEtag(poolId: string): Promise<string | null>;
  /** False when the key presented at the upgrade is no longer active (revoked, expired, paused). */
  keyStillActive(client: ClientContext): Promise<boolean>;
};

/** Where a session's frames go: a client socket here, or the internal socket of the replica it reached. */
export type Downstream = {
  /** False once more than the high-water mark is queued: the caller waits for `drained()`. */
  send(text: string): boolean;
  drained(): Promise<void>;
  close(code: number, reason: string): void;
  readonly open: boolean;
};

export type ClientContext = {
  key: AuthenticatedKey;
  /** The upgrade's Authorization value, kept in memory to re-check the key per turn; absent for forwarded turns. */
  authorization: string | null;
  clientIp: string | null;
  userAgent: string | null;
  clientRequestId: string;
  forwarded: boolean;
};

type UpstreamLink = { socket: UpstreamSocket; candidate: Candidate; admission: AttemptAdmission };

type TurnOutcome = { status: TurnStatus; statusCode: number; errorCode: string | null; usage: TokenUsage | null; firstByteAt: number | null; upstreamFailure: boolean };

const DEMOTION_MS = 60_000;
const MAX_REMEMBERED_TURNS = 1024;
// Stream failure codes that say nothing about the account's health (runtime spec §7.1).
const HEALTH_NEUTRAL = new Set(['context_length_exceeded', 'invalid_request', 'invalid_request_error', 'invalid_previous_response_id', 'previous_response_not_found', 'server_is_overloaded', 'server_error', 'overloaded_error', 'unsupported_parameter', 'unsupported_value', 'usage_limit_exceeded', 'usage_limit_reached', 'missing_required_parameter']);

/** The routing seed of a session (routing spec A4.3): pool, key, model and the session key's digest. */
export function sessionSeed(key: AuthenticatedKey, model: string, sessionKey: string): string {
  return `${key.poolId}:${key.id}:${model.toLowerCase()}:codex_session:${sha256Hex(sessionKey)}`;
}

/**
 * One websocket session as its owner process holds it: the account it is bound to, its live
 * upstream socket (opened lazily on the first turn, reused for later turns, kept for the owner idle
 * window after the client leaves), and a FIFO of client frames, one turn at a time.
 */
export class OwnerSession {
  readonly id: string;
  readonly codec: TurnCodec;
  readonly sessionKey: string;
  boundAssignmentId: string | null;
  /** Called when the session binds (or re-binds) to an account: owner forwarding persists it. */
  onBound: ((assignmentId: string) => void) | null = null;
  /** Called once the session is gone (idle, drained, closed): the registry forgets it. */
  onGone: (() => void) | null = null;
  #deps: TurnDeps;
  #ownerIdleMs: number;
  #upstream: UpstreamLink | null = null;
  #downstream: Downstream | null = null;
  #client: ClientContext | null = null;
  #queue: { text: string; downstream: Downstream; client: ClientContext }[] = [];
  #running = false;
  #turnIds = new Set<string>();
  #idleTimer: NodeJS.Timeout | null = null;
  #draining = false;
  #gone = false;

  constructor(deps: TurnDeps, options: { id: string; codec: TurnCodec; sessionKey: string; boundAssignmentId: string | null; ownerIdleMs: number }) {
    this.#deps = deps;
    this.id = options.id;
    this.codec = options.codec;
    this.sessionKey = options.sessionKey;
    this.boundAssignmentId = options.boundAssignmentId;
    this.#ownerIdleMs = options.ownerIdleMs;
  }

  get busy(): boolean {
    return this.#running;
  }

  get attached(): boolean {
    return this.#downstream !== null;
  }

  get hasLiveUpstream(): boolean {
    return this.#upstream?.socket.open ?? false;
  }

  /** A client (or a forwarding replica) takes the session; an older connection of it is let go. */
  attach(downstream: Downstream, client: ClientContext): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    const previous = this.#downstream;
    this.#downstream = downstream;
    this.#client = client;
    if (previous && previous !== downstream && previous.open) previous.close(CLOSE.normal.code, 'session continued on another connection');
  }

  /** The client left: in-flight turns are interrupted; the upstream socket waits for a reconnect. */
  detach(downstream: Downstream): void {
    if (this.#downstream !== downstream) return;
    this.#downstream = null;
    this.#client = null;
    this.#queue = this.#queue.filter((item) => item.downstream !== downstream);
    if (this.#draining) return this.end();
    this.#idleTimer = setTimeout(() => this.end(), this.#ownerIdleMs);
    this.#idleTimer.unref();
  }

  /** One client text frame, queued behind the running turn. */
  receive(text: string, downstream: Downstream): void {
    if (downstream !== this.#downstream || !this.#client) return;
    this.#queue.push({ text, downstream, client: this.#client });
    void this.#pump();
  }

  /** Drain: the current turn finishes, then the client is closed with 1001. */
  drain(): void {
    this.#draining = true;
    if (!this.#running) this.#closeDraining();
  }

  /** Closes the upstream socket and forgets the session. */
  end(): void {
    if (this.#gone) return;
    this.#gone = true;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#upstream?.socket.close();
    this.#upstream = null;
    this.onGone?.();
  }

  #closeDraining(): void {
    const downstream = this.#downstream;
    if (downstream?.open) downstream.close(CLOSE.draining.code, CLOSE.draining.reason);
    this.end();
  }

  async #pump(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (let item = this.#queue.shift(); item; item = this.#queue.shift()) {
        await this.#handle(item.text, item.downstream, item.client).catch((error: unknown) => {
          this.#deps.log.error({ err: error, session: this.id }, 'websocket turn failed unexpectedly');
          if (item.downstream.open) item.downstream.send(this.codec.error(new PoolerError('internal_error', 'websocket response task failed'), null));
        });
      }
    } finally {
      this.#running = false;
    }
    if (this.#draining) this.#closeDraining();
  }

  async #handle(text: string, downstream: Downstream, client: ClientContext): Promise<void> {
    const frame = parseClientFrame(text);
    if (frame.kind === 'invalid') return void downstream.send(this.codec.error(frame.error, null));
    if (frame.kind === 'warmup') {
      for (const out of warmupFrames()) downstream.send(out);
      return;
    }
    if (frame.kind === 'processed') {
      // Acknowledgements ride the live socket; without one there is nothing upstream to tell.
      if (this.#upstream?.socket.open) this.#upstream.socket.send(upstreamProcessedFrame(frame.body));
      return;
    }
    if (frame.turnId !== null) {
      if (this.#turnIds.has(frame.turnId)) {
        return void downstream.send(this.codec.error(new PoolerError('duplicate_turn', 'turn id was already used in this session', { param: 'request_id' }), null));
      }
      if (this.#turnIds.size >= MAX_REMEMBERED_TURNS) this.#turnIds.delete(this.#turnIds.values().next().value!);
      this.#turnIds.add(frame.turnId);
    }
    await this.#turn(frame.body, downstream, client);
  }

  async #turn(body: JsonObject, downstream: Downstream, client: ClientContext): Promise<void> {
    const deps = this.#deps;
    const { key } = client;
    let prepared: PreparedTurn;
    try {
      prepared = this.codec.prepare(body);
    } catch (error) {
      return void downstream.send(this.codec.error(asPooler(error), null));
    }
    const fail = (error: unknown) => downstream.send(this.codec.error(asPooler(error), prepared.streamId));
    if (!(await deps.keyStillActive(client))) return downstream.close(CLOSE.keyInactive.code, CLOSE.keyInactive.reason);

    let upstreamModel: string;
    try {
      upstreamModel = await deps.resolveModel(key, prepared.requestedModel);
    } catch (error) {
      return void fail(error);
    }
    const upstreamText = JSON.stringify(prepared.upstreamFrame(upstreamModel));
    const upstreamBody = JSON.parse(upstreamText) as JsonObject;
    const maxOutput = typeof body.max_output_tokens === 'number' ? body.max_output_tokens : 0;
    let finished: () => void;
    try {
      finished = await deps.keyPolicies.admit(key.id, prepared.requestedModel, { inputTokens: Math.ceil(upstreamText.length / 4), outputTokens: maxOutput });
    } catch (error) {
      return void fail(error);
    }
    let release: () => void;
    try {
      release = await deps.admission.proxy_websocket.acquire();
    } catch (error) {
      finished();
      return void fail(error);
    }

    const requestId = randomUUID();
    const startedAt = deps.now();
    const attempts: NewAttemptRow[] = [];
    let candidate: Candidate | null = null;
    let routingReason: string | null = null;
    let reused = false;
    let outcome: TurnOutcome;
    try {
      const existing = this.#upstream?.socket.open ? this.#upstream : null;
      reused = existing !== null;
      const link = existing ?? (await this.#open(key, prepared.requestedModel, upstreamModel, upstreamBody, requestId, attempts, (reason) => (routingReason = reason)));
      candidate = link.candidate;
      const attemptStarted = deps.now();
      const etag = this.codec.surface === 'backend' ? await deps.modelsEtag(key.poolId) : null;
      outcome = await this.#relay(link, upstreamText, prepared, downstream, etag);
      this.#recordHealth(key, upstreamModel, link, outcome);
      attempts.push(attemptRow(requestId, attempts.length + 1, link.candidate, upstreamModel, attemptStarted, deps.now(), outcome, reused));
      if (outcome.status === 'succeeded' && this.boundAssignmentId !== link.candidate.assignmentId) {
        this.boundAssignmentId = link.candidate.assignmentId;
        this.onBound?.(link.candidate.assignmentId);
      }
    } catch (error) {
      const refusal = error instanceof UpstreamConnectError && error.status !== null ? error : null;
      const pooler = refusal ? null : asPooler(error);
      if (pooler?.code === 'internal_error') deps.log.error({ err: error, session: this.id }, 'websocket turn failed');
      downstream.send(refusal ? this.codec.upstreamRefusal(refusal.status!, refusal.body, prepared.streamId) : this.codec.error(pooler!, prepared.streamId));
      const statusCode = refusal?.status ?? pooler!.status;
      outcome = { status: attempts.length ? 'failed' : 'rejected', statusCode, errorCode: refusal?.code ?? pooler!.code, usage: null, firstByteAt: null, upstreamFailure: true };
    } finally {
      release();
      finished();
    }
    deps.metrics.websocketTurnCount.inc({ surface: this.codec.surface, outcome: outcome.status });
    deps.requestLog.write(
      turnRecord({
        requestId,
        key,
        surface: this.codec.surface,
        requestedModel: prepared.requestedModel,
        upstreamModel,
        serviceTier: typeof upstreamBody.service_tier === 'string' ? upstreamBody.service_tier : null,
        requestBytes: upstreamText.length,
        clientIp: client.clientIp,
        userAgent: client.userAgent,
        clientRequestId: client.clientRequestId,
        sessionId: this.id,
        status: outcome.status,
        statusCode: outcome.statusCode,
        errorCode: outcome.errorCode,
        usage: outcome.usage,
        candidate,
        attempts,
        startedAt,
        firstByteAt: outcome.firstByteAt,
        endedAt: deps.now(),
        routingReason,
        connection: { reused, forwarded: client.forwarded },
      }),
    );
  }

  /** Picks the account (the bound one while it is eligible) and opens its upstream socket, failing over on connect errors. */
  async #open(key: AuthenticatedKey, requestedModel: string, upstreamModel: string, body: JsonObject, requestId: string, attempts: NewAttemptRow[], reason: (r: string) => void): Promise<UpstreamLink> {
    const deps = this.#deps;
    const [candidates, settings] = await Promise.all([deps.routing.candidates(key.poolId), deps.routing.settings(key.poolId)]);
    const continuation = continuationOf(body, {});
    const seed = settings.stickyWebsocketSessions ? sessionSeed(key, requestedModel, this.sessionKey) : null;
    const selection = selectAccount(candidates, {
      now: deps.now(),
      strategy: settings.strategy,
      ringSize: settings.ringSize,
      seed: seed ?? requestId,
      sticky: seed !== null,
      isCircuitBlocked: (c) => deps.routing.isCircuitBlocked(c.assignmentId, upstreamModel, 'proxy_websocket'),
      demoted: deps.routing.demotedFor(key.id, upstreamModel, candidates),
      pinned: this.boundAssignmentId ?? (continuation ? deps.routing.ownerOf(continuation) : null),
      boundary: this.boundAssignmentId === null && startsConversation(body),
      model: requestedModel,
    });
    if (selection.ordered.length === 0) throw new PoolerError('no_eligible_backend', describeNoEligibleAccount(key.poolSlug, selection, candidates, deps.now()), { param: 'model' });
    // A bound session never leaves its account while that account can serve it (routing spec A4.1).
    const bound = this.boundAssignmentId !== null && selection.ordered[0]!.assignmentId === this.boundAssignmentId;
    if (this.boundAssignmentId !== null && !bound) reason('session_account_unavailable');
    else if (selection.moved) reason(`affinity_moved:${selection.moved.reason}`);
    const ring = bound ? [selection.ordered[0]!] : selection.ordered;
    for (let index = 0; index < ring.length; index++) {
      const candidate = ring[index]!;
      const last = index === ring.length - 1;
      const admission = deps.routing.beginAttempt(candidate.assignmentId, upstreamModel, 'proxy_websocket');
      if (admission === 'blocked' && !last) continue;
      const started = deps.now();
      try {
        const socket = await this.#connect(candidate);
        deps.routing.markSuccess(candidate);
        // Upgrade headers carry the account's quota windows like any HTTP answer (runtime spec §5.5).
        const now = new Date(deps.now());
        const evidence = quotaFromHeaders(socket.upgradeHeaders, now);
        if (evidence.length) deps.quota.record({ identityId: candidate.identityId, windows: evidence, observedAt: now });
        const link: UpstreamLink = { socket, candidate, admission };
        this.#upstream = link;
        socket.onClose = () => {
          if (this.#upstream?.socket === socket) this.#upstream = null;
        };
        return link;
      } catch (error) {
        const refusal = error instanceof UpstreamConnectError ? error : new UpstreamConnectError(null, 'transport_error', null, {});
        this.#connectFailed(key, upstreamModel, candidate, admission, refusal);
        attempts.push({
          id: randomUUID(), request_id: requestId, attempt_number: attempts.length + 1, pool_upstream_assignment_id: candidate.assignmentId, upstream_identity_id: candidate.identityId,
          model: upstreamModel, transport: 'websocket', status: last ? 'failed' : 'retryable_failed', started_at: new Date(started), finished_at: new Date(deps.now()),
          upstream_status_code: refusal.status, retryable: !last, network_error_code: refusal.status === null ? refusal.code : null, error_code: refusal.code, error_message: null,
          latency_ms: deps.now() - started, usage_status: null,
        });
        if (last) {
          if (refusal.status === null) throw new PoolerError('upstream_request_failed', 'upstream request failed');
          throw refusal;
        }
        reason(`failover_after_${refusal.code}`);
        deps.metrics.failoverCount.inc({ reason: refusal.status === null ? 'transport_error' : refusal.status === 429 ? 'upstream_rate_limited' : refusal.status >= 500 ? 'upstream_5xx' : 'upstream_unauthorized' });
      }
    }
    throw new PoolerError('no_eligible_backend', `every eligible upstream account in pool ${key.poolSlug} is failing right now; retry shortly`, { param: 'model' });
  }

  /** Opens the account's upstream socket; an expired token is refreshed once and the same account retried. */
  async #connect(candidate: Candidate): Promise<UpstreamSocket> {
    const deps = this.#deps;
    const url = upstreamWebsocketUrl(deps.upstreamBaseUrl);
    const credentials = await deps.credentials.accessTokenFor(candidate.identityId);
    try {
      return await UpstreamSocket.connect(url, upgradeHeaders(credentials.accessToken, candidate), { connectTimeoutMs: deps.timeouts.connectMs });
    } catch (error) {
      if (!(error instanceof UpstreamConnectError) || error.status !== 401) throw error;
      const refreshed = await deps.credentials.refresh(candidate.identityId, { trigger: 'upstream_401', expectedEpoch: credentials.epoch });
      if (refreshed.status === 'reauth_required') {
        deps.routing.accountChanged(candidate.poolId);
        throw error;
      }
      const next = refreshed.status === 'refreshed' ? refreshed.credentials : await deps.credentials.accessTokenFor(candidate.identityId);
      return UpstreamSocket.connect(url, upgradeHeaders(next.accessToken, candidate), { connectTimeoutMs: deps.timeouts.connectMs });
    }
  }

  #connectFailed(key: AuthenticatedKey, model: string, candidate: Candidate, admission: AttemptAdmission, refusal: UpstreamConnectError): void {
    const deps = this.#deps;
    const now = new Date(deps.now());
    const evidence = quotaFromHeaders(refusal.headers, now);
    if (evidence.length) deps.quota.record({ identityId: candidate.identityId, windows: evidence, observedAt: now });
    const status = refusal.status;
    const failure = status === null || status === 429 || status >= 500 || status === 401;
    deps.routing.recordAttempt(candidate.assignmentId, model, 'proxy_websocket', admission, failure ? 'failure' : 'neutral', status === null ? 'upstream_network_error' : status === 429 ? 'upstream_rate_limited' : status >= 500 ? 'upstream_5xx' : 'upstream_unauthorized');
    if (failure) deps.routing.demote(key.id, model, candidate.assignmentId);
    if (status === 429) {
      let body: Record<string, unknown> | null = null;
      try {
        body = refusal.body ? (JSON.parse(refusal.body.toString('utf8')) as Record<string, unknown>) : null;
      } catch {
        body = null;
      }
      const resetAt = usageLimitResetAt(429, body, refusal.headers, now);
      deps.routing.markCooldown(candidate, resetAt ? resetAt.getTime() : deps.now() + DEMOTION_MS, resetAt ? 'usage_limit_reached' : 'upstream_rate_limited');
    }
  }

  #recordHealth(key: AuthenticatedKey, model: string, link: UpstreamLink, outcome: TurnOutcome): void {
    const routing = this.#deps.routing;
    const verdict = outcome.status === 'succeeded' ? 'success' : outcome.status === 'cancelled' ? 'neutral' : outcome.upstreamFailure ? 'failure' : outcome.errorCode && HEALTH_NEUTRAL.has(outcome.errorCode) ? 'neutral' : 'failure';
    routing.recordAttempt(link.candidate.assignmentId, model, 'proxy_websocket', link.admission === 'blocked' ? 'normal' : link.admission, verdict, verdict === 'failure' ? 'upstream_stream_error' : 'none');
    // Later turns on the same socket are ordinary attempts, never a second half-open probe.
    link.admission = 'normal';
    if (verdict === 'success') routing.resolveDemotion(key.id, model, link.candidate.assignmentId);
    if (verdict === 'failure') routing.demote(key.id, model, link.candidate.assignmentId);
  }

  /**
   * Sends the turn upstream and relays its events until a terminal: pull-based (upstream reading
   * pauses while the client is slow), bounded by the upstream idle timeout. A client that leaves
   * mid-turn only stops the relaying; the rest of the turn is read and dropped so the socket stays
   * usable for the session's next turn.
   */
  #relay(link: UpstreamLink, upstreamText: string, prepared: PreparedTurn, downstream: Downstream, modelsEtag: string | null): Promise<TurnOutcome> {
    const deps = this.#deps;
    const { socket, candidate } = link;
    const relay = this.codec.relay(prepared.streamId);
    return new Promise((resolve) => {
      let usage: TokenUsage | null = null;
      let failure: string | null = null;
      let firstByteAt: number | null = null;
      let cancelled = false;
      let done = false;
      deps.metrics.activeStreams.inc({ transport: 'websocket' });
      const forward = (frames: string[]) => {
        for (const frame of frames) {
          if (!downstream.open) {
            cancelled = true;
            return;
          }
          if (!downstream.send(frame)) {
            socket.pause();
            void downstream.drained().then(() => socket.resume());
          }
        }
      };
      const finish = (status: TurnStatus, errorCode: string | null, upstreamFailure: boolean, statusCode = 200) => {
        if (done) return;
        done = true;
        clearTimeout(idle);
        socket.onFrame = null;
        socket.resume();
        deps.metrics.activeStreams.dec({ transport: 'websocket' });
        const outcome = status === 'succeeded' ? 'succeeded' : status === 'cancelled' ? 'interrupted' : 'failed';
        deps.metrics.streamOutcomeCount.inc({ outcome, downstream_transport: 'websocket', upstream_transport: 'websocket' });
        deps.metrics.streamFinalizationCount.inc({ usage_status: usage ? 'usage_known' : 'usage_unknown', usage_source: 'websocket_upstream_usage', downstream_transport: 'websocket', upstream_transport: 'websocket' });
        resolve({ status: cancelled ? 'cancelled' : status, statusCode: cancelled ? 499 : statusCode, errorCode: cancelled ? 'client_disconnected' : errorCode, usage, firstByteAt, upstreamFailure });
      };
      let idle = setTimeout(onIdle, deps.timeouts.idleMs);
      function onIdle() {
        // An upstream silent past the receive timeout cannot be trusted with the next turn either.
        socket.close();
        if (!cancelled) forward([...relay.interrupted()]);
        finish('failed', 'stream_idle_timeout', true, 504);
      }
      socket.onClose = () => {
        if (this.#upstream?.socket === socket) this.#upstream = null;
        if (done) return;
        if (!cancelled) forward(relay.interrupted());
        finish('failed', 'upstream_stream_error', true, 502);
      };
      socket.onFrame = (text) => {
        clearTimeout(idle);
        idle = setTimeout(onIdle, deps.timeouts.idleMs);
        firstByteAt ??= deps.now();
        const type = peekType(text);
        const kind = frameKind(type);
        let event: JsonObject | null = null;
        if (kind === 'success' || kind === 'failure' || type === 'codex.rate_limits' || type === 'response.output_item.done' || this.codec.needsEvents) event = parse(text);
        if (event) failure = this.#observe(candidate, type, kind, event, failure, (u) => (usage = u));
        if (!cancelled) forward(relay.onUpstream(text, type, event, kind === 'failure' ? failure : null));
        if (kind === 'success') finish(failure ? 'failed' : 'succeeded', failure, false);
        else if (kind === 'failure') finish('failed', failure ?? 'stream_error', false, statusOf(event) ?? 200);
      };
      const model = socket.upgradeHeaders['openai-model'];
      forward(relay.start(modelsEtag, typeof model === 'string' ? model : null));
      socket.send(upstreamText);
    });
  }

  /** Usage, quota evidence, conversation ownership and failure codes from one parsed upstream event. */
  #observe(candidate: Candidate, type: string | null, kind: string, event: JsonObject, failure: string | null, setUsage: (u: TokenUsage) => void): string | null {
    const deps = this.#deps;
    const now = new Date(deps.now());
    if (event.headers && typeof event.headers === 'object') {
      const evidence = quotaFromHeaders(event.headers as Record<string, string>, now);
      if (evidence.length) deps.quota.record({ identityId: candidate.identityId, windows: evidence, observedAt: now });
    }
    if (type === 'codex.rate_limits') {
      const windows = quotaFromRateLimitEvent(event, now);
      if (windows.length) deps.quota.record({ identityId: candidate.identityId, windows, observedAt: now });
      return failure;
    }
    if (type === 'response.output_item.done') {
      const item = event.item as { type?: unknown; id?: unknown } | undefined;
      if (item?.type === 'reasoning' && typeof item.id === 'string') deps.routing.rememberOwner(item.id, candidate.assignmentId);
      return failure;
    }
    if (kind === 'success') {
      const usage = usageFromPayload(event);
      if (usage) setUsage(usage);
      const id = (event.response as { id?: unknown } | undefined)?.id;
      if (typeof id === 'string' && id) deps.routing.rememberOwner(id, candidate.assignmentId);
      return failure;
    }
    if (kind === 'failure') {
      const code = failureCode(event);
      if (code === 'usage_limit_reached' || code === 'usage_limit_exceeded') {
        const source = (event.response && typeof event.response === 'object' ? event.response : event) as Record<string, unknown>;
        const resetAt = usageLimitResetAt(429, source, {}, now) ?? usageLimitResetAt(429, (event.error ?? {}) as Record<string, unknown>, {}, now);
        deps.routing.markCooldown(candidate, resetAt ? resetAt.getTime() : deps.now() + DEMOTION_MS, 'usage_limit_reached');
      }
      return code;
    }
    return failure;
  }
}

function parse(text: string): JsonObject | null {
  try {
    const value = JSON.parse(text) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : null;
  } catch {
    return null;
  }
}

function statusOf(event: JsonObject | null): number | null {
  const status = event?.status;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : null;
}

function asPooler(error: unknown): PoolerError {
  return error instanceof PoolerError ? error : new PoolerError('internal_error', 'websocket response task failed');
}

/** Upgrade headers: the account's credentials, the gateway's Codex identity and the beta flag; nothing of the client's (§5.2). */
function upgradeHeaders(accessToken: string, candidate: Candidate): Record<string, string> {
  const headers = buildUpstreamHeaders({ account: { accessToken, chatgptAccountId: candidate.chatgptAccountId }, stream: false, json: false });
  delete headers.accept;
  headers['openai-beta'] = WEBSOCKET_BETA;
  return headers;
}

function attemptRow(requestId: string, number: number, candidate: Candidate, model: string, started: number, ended: number, outcome: TurnOutcome, reused: boolean): NewAttemptRow {
  return {
    id: randomUUID(),
    request_id: requestId,
    attempt_number: number,
    pool_upstream_assignment_id: candidate.assignmentId,
    upstream_identity_id: candidate.identityId,
    model,
    transport: 'websocket',
    status: outcome.status === 'succeeded' ? 'succeeded' : outcome.status === 'cancelled' ? 'cancelled' : 'failed',
    started_at: new Date(started),
    finished_at: new Date(ended),
    upstream_status_code: outcome.statusCode,
    retryable: false,
    network_error_code: null,
    error_code: outcome.errorCode,
    error_message: null,
    latency_ms: ended - started,
    usage_status: outcome.usage ? 'usage_known' : 'usage_unknown',
    response_metadata: JSON.stringify({ upstream_transport: 'websocket', websocket: { reused } }) as unknown as Record<string, unknown>,
  };
}
