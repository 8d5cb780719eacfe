import { PoolerError } from '../../errors.ts';
import type { Candidate } from '../../routing/index.ts';
import { quotaFromHeaders, quotaFromRateLimitEvent, usageLimitResetAt } from '../../upstreams/index.ts';
import { classifyEvent, failureCode } from '../upstream-events.ts';
import { usageFromPayload, type TokenUsage } from '../usage.ts';
import type { TurnRelay } from './codecs.ts';
import { frameKind, peekType, type JsonObject, type UpstreamFrameKind } from './protocol.ts';
import type { Downstream, TurnDeps, TurnOutcome, UpstreamLink } from './turn-deps.ts';
import type { TurnStatus } from './turn-log.ts';

const DEMOTION_MS = 60_000;

export type RelayRequest = {
  link: UpstreamLink;
  /** The `response.create` payload, serialized once. */
  upstreamText: string;
  relay: TurnRelay;
  downstream: Downstream;
  modelsEtag: string | null;
  /** The client's error frame for a turn the upstream left unfinished. */
  failureFrame(error: PoolerError): string;
  /**
   * Another account could still serve this turn: frames are held until the first meaningful event,
   * and a first-event failure such as `server_is_overloaded` ends the attempt silently (spec §7.1).
   */
  canFailover: boolean;
  /**
   * The token may still be refreshed for this turn: frames are held until the first meaningful
   * event, and an `invalid_api_key`/`invalid_authentication` first event ends the attempt silently
   * so the same account can be retried with a fresh token (spec §8).
   */
  canRetryAuth: boolean;
};

/** First-event codes saying the upstream no longer accepts the token the socket was opened with. */
export const AUTH_REJECTED_CODES: ReadonlySet<string> = new Set(['invalid_api_key', 'invalid_authentication']);

// Leading events examined before the attempt is committed (spec §6.2).
const MAX_PRELUDE_EVENTS = 32;

/**
 * Sends one turn on the session's upstream socket and relays its events until a terminal:
 * pull-based (upstream reading pauses while the client is slow), bounded by the upstream idle
 * timeout. Only terminal, quota and reasoning-item events are parsed. A client that leaves mid-turn
 * only stops the relaying: the rest of the turn is read and dropped so the socket stays usable for
 * the session's next turn. An upstream that closes or goes silent mid-turn fails the turn with an
 * error frame, and the socket is not reused.
 */
export function relayTurn(deps: TurnDeps, request: RelayRequest): Promise<TurnOutcome> {
  const { link, relay, downstream } = request;
  const { socket, candidate } = link;
  return new Promise((resolve) => {
    let usage: TokenUsage | null = null;
    let failure: string | null = null;
    let firstByteAt: number | null = null;
    let cancelled = false;
    let done = false;
    let committed = !request.canFailover && !request.canRetryAuth;
    let preludes = 0;
    const held: string[] = [];
    deps.metrics.activeStreams.inc({ transport: 'websocket' });
    const forward = (frames: string[]) => {
      if (!committed) return void held.push(...frames);
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
    const commit = () => {
      committed = true;
      forward(held.splice(0));
    };
    const finish = (status: TurnStatus, errorCode: string | null, upstreamFailure: boolean, statusCode = 200, failover = false, authRetry = false) => {
      if (done) return;
      done = true;
      if (!failover) commit();
      clearTimeout(idle);
      socket.onFrame = null;
      socket.onClose = null;
      socket.resume();
      deps.metrics.activeStreams.dec({ transport: 'websocket' });
      const final: TurnStatus = cancelled ? 'cancelled' : status;
      deps.metrics.streamOutcomeCount.inc({ outcome: final === 'succeeded' ? 'succeeded' : final === 'cancelled' ? 'interrupted' : 'failed', downstream_transport: 'websocket', upstream_transport: 'websocket' });
      deps.metrics.streamFinalizationCount.inc({ usage_status: usage ? 'usage_known' : 'usage_unknown', usage_source: 'websocket_upstream_usage', downstream_transport: 'websocket', upstream_transport: 'websocket' });
      resolve({ status: final, statusCode: cancelled ? 499 : statusCode, errorCode: cancelled ? 'client_disconnected' : errorCode, usage, firstByteAt, upstreamFailure, failover, ...(authRetry ? { authRetry } : {}) });
    };
    const unfinished = (error: PoolerError, code: string) => {
      if (!cancelled) forward([request.failureFrame(error)]);
      finish('failed', code, true, error.status);
    };
    const onIdle = () => {
      // An upstream silent past the receive timeout cannot be trusted with the next turn either.
      socket.close();
      unfinished(new PoolerError('upstream_timeout', 'upstream sent nothing within the receive timeout'), 'stream_idle_timeout');
    };
    let idle = setTimeout(onIdle, deps.timeouts.idleMs);
    socket.onClose = () => {
      if (!committed && request.canFailover) return finish('failed', 'upstream_stream_error', true, 502, true);
      unfinished(new PoolerError('upstream_request_failed', 'upstream websocket closed before the turn completed'), 'upstream_stream_error');
    };
    socket.onFrame = (text) => {
      clearTimeout(idle);
      idle = setTimeout(onIdle, deps.timeouts.idleMs);
      firstByteAt ??= deps.now();
      const type = peekType(text);
      const kind = frameKind(type);
      const event = kind === 'success' || kind === 'failure' || type === 'codex.rate_limits' || type === 'response.output_item.done' ? parse(text) : null;
      if (event) failure = observe(deps, candidate, type, kind, event, failure, (u) => (usage = u));
      if (!committed && kind === 'failure') {
        const verdict = classifyEvent({ type, data: text });
        if (verdict.kind === 'failure' && request.canRetryAuth && AUTH_REJECTED_CODES.has(verdict.code)) return finish('failed', verdict.code, false, statusOf(event) ?? 401, true, true);
        if (verdict.kind === 'failure' && verdict.failover && request.canFailover) return finish('failed', verdict.code, false, statusOf(event) ?? 200, true);
      }
      if (!committed && (kind !== 'prelude' || ++preludes >= MAX_PRELUDE_EVENTS)) commit();
      if (!cancelled) forward(relay.onUpstream(text, type, event, kind === 'failure' ? failure : null));
      if (kind === 'success') finish(failure ? 'failed' : 'succeeded', failure, false);
      else if (kind === 'failure') finish('failed', failure ?? 'stream_error', false, statusOf(event) ?? 200);
    };
    const model = socket.upgradeHeaders['openai-model'];
    forward(relay.start(request.modelsEtag, typeof model === 'string' ? model : null));
    socket.send(request.upstreamText);
  });
}

/** Usage, quota evidence, conversation ownership and failure codes from one parsed upstream event. */
function observe(deps: TurnDeps, candidate: Candidate, type: string | null, kind: UpstreamFrameKind, event: JsonObject, failure: string | null, setUsage: (u: TokenUsage) => void): string | null {
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
    // Encrypted reasoning can only be read by the account that wrote it.
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
