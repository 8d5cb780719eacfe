import { randomUUID } from 'node:crypto';
import type { AuthenticatedKey } from '../../api-keys/index.ts';
import { PoolerError } from '../../errors.ts';
import type { Candidate } from '../../routing/index.ts';
import { applyKeyPolicy } from '../key-policy.ts';
import type { NewAttemptRow } from '../request-log.table.ts';
import { attemptRow, openAccountLink, recordTurnHealth, reopenWithFreshToken, turnStateAlias } from './account-link.ts';
import type { PreparedTurn, TurnCodec } from './codecs.ts';
import { CLOSE, parseClientFrame, streamIdOf, turnStateOf, upstreamProcessedFrame, warmupFrames, type JsonObject } from './protocol.ts';
import { turnRecord, turnReservation, type TurnAdmission } from './turn-log.ts';
import type { ClientContext, Downstream, TurnDeps, TurnOutcome, UpstreamLink } from './turn-deps.ts';
import { relayTurn } from './turn-relay.ts';
import { UpstreamConnectError } from './upstream-socket.ts';

export type { ClientContext, Downstream, TurnDeps } from './turn-deps.ts';

const MAX_REMEMBERED_TURNS = 1024;

/**
 * One websocket session as its owner process holds it: the account it is bound to, its live
 * upstream socket (opened lazily on the first turn, reused for later turns, kept for the owner idle
 * window after the client leaves), and a FIFO of client frames, one turn at a time.
 */
export class OwnerSession {
  readonly id: string;
  readonly codec: TurnCodec;
  readonly sessionKey: string;
  /** The turn state the client holds for this session (the upgrade's), an alias of its account. */
  readonly turnState: string | null;
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
  /** Bounded by the caller's InboundBudget: `taken` tells it the frame left the queue. */
  #queue: { text: string; downstream: Downstream; client: ClientContext; taken: () => void }[] = [];
  #running = false;
  #turnIds = new Set<string>();
  #idleTimer: NodeJS.Timeout | null = null;
  #draining = false;
  #gone = false;

  constructor(deps: TurnDeps, options: { id: string; codec: TurnCodec; sessionKey: string; turnState: string | null; boundAssignmentId: string | null; ownerIdleMs: number }) {
    this.#deps = deps;
    this.id = options.id;
    this.codec = options.codec;
    this.sessionKey = options.sessionKey;
    this.turnState = options.turnState;
    this.boundAssignmentId = options.boundAssignmentId;
    this.#ownerIdleMs = options.ownerIdleMs;
  }

  get busy(): boolean {
    return this.#running;
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

  /**
   * A forwarded session's replica checked the client's key for the next turn: frames received from
   * now on run with it (the internal socket delivers the key before the turn it belongs to).
   */
  refreshKey(downstream: Downstream, key: AuthenticatedKey): void {
    if (downstream !== this.#downstream || !this.#client) return;
    this.#client = { ...this.#client, key };
  }

  /** The client left: its queued frames are dropped; the upstream socket waits for a reconnect. */
  detach(downstream: Downstream): void {
    if (this.#downstream !== downstream) return;
    this.#downstream = null;
    this.#client = null;
    this.#queue = this.#queue.filter((item) => {
      if (item.downstream === downstream) item.taken();
      return item.downstream !== downstream;
    });
    if (this.#draining) return this.end();
    this.#idleTimer = setTimeout(() => this.end(), this.#ownerIdleMs);
    this.#idleTimer.unref();
  }

  /** One client text frame, queued behind the running turn; `taken` is called once it leaves the queue. */
  receive(text: string, downstream: Downstream, taken: () => void = () => {}): void {
    if (downstream !== this.#downstream || !this.#client) return taken();
    this.#queue.push({ text, downstream, client: this.#client, taken });
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
    for (const item of this.#queue.splice(0)) item.taken();
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
        item.taken();
        await this.#handle(item.text, item.downstream, item.client).catch((error: unknown) => {
          this.#deps.log.error({ err: error, session: this.id.slice(0, 12) }, 'websocket turn failed unexpectedly');
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
      if (this.#turnIds.has(frame.turnId)) return void downstream.send(this.codec.error(new PoolerError('duplicate_turn', 'turn id was already used in this session', { param: 'request_id' }), null));
      if (this.#turnIds.size >= MAX_REMEMBERED_TURNS) this.#turnIds.delete(this.#turnIds.values().next().value!);
      this.#turnIds.add(frame.turnId);
    }
    await this.#turn(frame.body, downstream, client);
  }

  /**
   * One turn: validation, model and key policy, the route class bulkhead, then the session's
   * upstream socket (opened on its account when there is none) and the relay. Every failure is an
   * error frame; every turn that reached routing leaves a request row, attempts and ledger facts.
   */
  async #turn(body: JsonObject, downstream: Downstream, client: ClientContext): Promise<void> {
    const deps = this.#deps;
    // The key as it is now, not as it was at the upgrade: a policy edited while the socket is open
    // applies from the next turn on.
    const check = await deps.checkKey(client);
    if (check.status === 'inactive') return downstream.close(CLOSE.keyInactive.code, CLOSE.keyInactive.reason);
    if (check.status === 'unverified') {
      return void downstream.send(this.codec.error(new PoolerError('service_unavailable', 'the api key could not be checked; send the turn again'), streamIdOrNull(body)));
    }
    const { key } = check;
    let prepared: PreparedTurn;
    try {
      // The key's enforced model, reasoning effort and service tier apply as on HTTP.
      prepared = this.codec.prepare(typeof body.model === 'string' ? applyKeyPolicy(key, body, body.model).body : body, { store: deps.replayedItems, apiKeyId: key.id });
    } catch (error) {
      // A turn refused while being prepared still echoes its (valid) stream id (spec §9.7).
      return void downstream.send(this.codec.error(asPooler(error), this.codec.surface === 'v1' ? streamIdOrNull(body) : null));
    }
    const fail = (error: unknown) => void downstream.send(this.codec.error(asPooler(error), prepared.streamId));

    let upstreamModel: string;
    try {
      upstreamModel = await deps.resolveModel(key, prepared.requestedModel);
    } catch (error) {
      return fail(error);
    }
    const upstreamBody = prepared.upstreamFrame(upstreamModel);
    const upstreamText = JSON.stringify(upstreamBody);
    const maxOutput = typeof body.max_output_tokens === 'number' ? body.max_output_tokens : 0;
    let finished: () => void;
    try {
      finished = await deps.keyPolicies.admit(key.id, prepared.requestedModel, { inputTokens: Math.ceil(upstreamText.length / 4), outputTokens: maxOutput });
    } catch (error) {
      return fail(error);
    }
    let release: () => void;
    try {
      release = await deps.admission.proxy_websocket.acquire();
    } catch (error) {
      finished();
      return fail(error);
    }

    const requestId = randomUUID();
    const startedAt = deps.now();
    const admitted: TurnAdmission = {
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
      startedAt,
    };
    // Queued (never awaited) before the upstream call, like HTTP requests: a crash mid-turn leaves
    // a reservation the cleanup job releases rather than nothing at all.
    deps.requestLog.reserve(turnReservation(admitted));
    // A turn naming a known turn state continues on that session's account (spec §8, §10.1).
    const frameTurnState = turnStateOf(body);
    const turnStateOwner = frameTurnState ? deps.routing.ownerOf(turnStateAlias(key, frameTurnState)) : null;
    const attempts: NewAttemptRow[] = [];
    let candidate: Candidate | null = null;
    let routingReason: string | null = null;
    let reused = false;
    let outcome: TurnOutcome;
    try {
      const exclude = new Set<string>();
      const modelsEtag = this.codec.surface === 'backend' ? await deps.modelsEtag(key.poolId) : null;
      // Set after a token rejection: the same account, reopened with a refreshed token.
      let retry: { link: UpstreamLink; last: boolean } | null = null;
      let authRetried = false;
      for (;;) {
        const existing = retry ? null : this.#upstream?.socket.open ? this.#upstream : null;
        reused = existing !== null;
        const opened: { link: UpstreamLink; last: boolean } = retry
          ? retry
          : existing
          ? { link: existing, last: true }
          : await openAccountLink(deps, {
              key,
              requestedModel: prepared.requestedModel,
              upstreamModel,
              body: upstreamBody,
              requestId,
              sessionKey: this.sessionKey,
              boundAssignmentId: this.boundAssignmentId,
              turnStateOwner,
              attempts,
              exclude,
              routingReason: (reason) => (routingReason = reason),
            });
        retry = null;
        const { link } = opened;
        this.#upstream = link;
        candidate = link.candidate;
        const attemptStarted = deps.now();
        outcome = await relayTurn(deps, {
          link,
          upstreamText,
          relay: this.codec.relay(prepared.streamId, prepared.memory),
          downstream,
          modelsEtag,
          failureFrame: (error) => this.codec.error(error, prepared.streamId),
          // Only a fresh socket of an unbound session may move on: a bound session keeps its account.
          canFailover: !reused && !opened.last && this.boundAssignmentId === null,
          canRetryAuth: !authRetried,
        });
        // A rejected token says nothing about the account's health until the refreshed one fails too.
        if (!outcome.authRetry) recordTurnHealth(deps, key, upstreamModel, link, outcome);
        attempts.push(attemptRow(requestId, attempts.length + 1, link, upstreamModel, attemptStarted, deps.now(), outcome, reused));
        if (outcome.authRetry) {
          // Nothing reached the client: refresh the token once and retry the same account (spec §8).
          authRetried = true;
          link.socket.close();
          this.#upstream = null;
          routingReason = `token_refreshed_after_${outcome.errorCode}`;
          retry = { link: await reopenWithFreshToken(deps, link, outcome.errorCode ?? 'invalid_api_key'), last: opened.last };
          this.#upstream = retry.link;
          continue;
        }
        if (outcome.failover) {
          // Nothing of this attempt reached the client: the next account of the ring serves the turn.
          link.socket.close();
          this.#upstream = null;
          exclude.add(link.candidate.assignmentId);
          routingReason = `failover_after_${outcome.errorCode}`;
          deps.metrics.failoverCount.inc({ reason: 'first_event_failure' });
          continue;
        }
        break;
      }
      if (outcome.status === 'succeeded' && candidate) {
        // Both turn states now name this account: a later socket presenting either continues here.
        for (const turnState of new Set([this.turnState, frameTurnState])) if (turnState) deps.routing.rememberOwner(turnStateAlias(key, turnState), candidate.assignmentId);
        if (this.boundAssignmentId !== candidate.assignmentId) {
          this.boundAssignmentId = candidate.assignmentId;
          this.onBound?.(candidate.assignmentId);
        }
      }
    } catch (error) {
      const refusal = error instanceof UpstreamConnectError && error.status !== null ? error : null;
      const pooler = refusal ? null : asPooler(error);
      if (pooler?.code === 'internal_error') deps.log.error({ err: error, session: this.id.slice(0, 12) }, 'websocket turn failed');
      downstream.send(refusal ? this.codec.upstreamRefusal(refusal.status!, refusal.body, prepared.streamId) : this.codec.error(pooler!, prepared.streamId));
      outcome = { status: attempts.length ? 'failed' : 'rejected', statusCode: refusal?.status ?? pooler!.status, errorCode: refusal?.code ?? pooler!.code, usage: null, firstByteAt: null, upstreamFailure: true };
    } finally {
      release();
      finished();
    }
    deps.metrics.websocketTurnCount.inc({ surface: this.codec.surface, outcome: outcome.status });
    deps.requestLog.write(
      turnRecord({
        ...admitted,
        status: outcome.status,
        statusCode: outcome.statusCode,
        errorCode: outcome.errorCode,
        usage: outcome.usage,
        candidate,
        attempts,
        firstByteAt: outcome.firstByteAt,
        endedAt: deps.now(),
        routingReason,
        reserved: true,
        connection: { reused, forwarded: client.forwarded },
      }),
    );
  }
}

function asPooler(error: unknown): PoolerError {
  return error instanceof PoolerError ? error : new PoolerError('internal_error', 'websocket response task failed');
}

/** The turn's `stream_id` when it is a valid one (echoed on the error of a turn that never started). */
function streamIdOrNull(body: JsonObject): string | null {
  const id = streamIdOf(body);
  return 'streamId' in id ? id.streamId : null;
}
