import { randomUUID } from 'node:crypto';
import type { AuthenticatedKey } from '../../api-keys/index.ts';
import { sha256Hex } from '../../crypto/index.ts';
import { jsonb } from '../../db/index.ts';
import { PoolerError } from '../../errors.ts';
import { describeNoEligibleAccount, selectAccount, type AttemptAdmission, type Candidate } from '../../routing/index.ts';
import { buildUpstreamHeaders, quotaFromHeaders, usageLimitResetAt, type AccessCredentials } from '../../upstreams/index.ts';
import type { NewAttemptRow } from '../request-log.table.ts';
import { continuationOf, startsConversation } from '../responses-body.ts';
import type { JsonObject } from './protocol.ts';
import type { TurnDeps, TurnOutcome, UpstreamLink } from './turn-deps.ts';
import { UpstreamConnectError, UpstreamSocket, WEBSOCKET_BETA, upstreamWebsocketUrl } from './upstream-socket.ts';

const DEMOTION_MS = 60_000;
// Stream failure codes that say nothing about the account's health (runtime spec §7.1).
const HEALTH_NEUTRAL = new Set(['context_length_exceeded', 'invalid_request', 'invalid_request_error', 'invalid_previous_response_id', 'previous_response_not_found', 'server_is_overloaded', 'server_error', 'overloaded_error', 'unsupported_parameter', 'unsupported_value', 'usage_limit_exceeded', 'usage_limit_reached', 'missing_required_parameter']);

/** The routing seed of a session (routing spec A4.3): pool, key, model and the session key's digest. */
export function sessionSeed(key: AuthenticatedKey, model: string, sessionKey: string): string {
  return `${key.poolId}:${key.id}:${model.toLowerCase()}:codex_session:${sha256Hex(sessionKey)}`;
}

/**
 * The routing alias of a turn state, scoped to (pool, key) as session aliases are (spec §10.2); the
 * routing state stores it as a digest and shares it with the other processes.
 */
export function turnStateAlias(key: AuthenticatedKey, turnState: string): string {
  return `codex-turn-state:${key.poolId}:${key.id}:${turnState}`;
}

export type OpenRequest = {
  key: AuthenticatedKey;
  requestedModel: string;
  upstreamModel: string;
  /** The upstream payload (continuation anchors and conversation start are read from it). */
  body: JsonObject;
  requestId: string;
  sessionKey: string;
  boundAssignmentId: string | null;
  /** The account of the session a turn state named by the frame belongs to (a soft pin), if known. */
  turnStateOwner: string | null;
  /** Failed connect attempts are appended here for the request log. */
  attempts: NewAttemptRow[];
  /** Accounts that already failed this turn (a first-event failure moved it on). */
  exclude: ReadonlySet<string>;
  routingReason(reason: string): void;
};

/**
 * Picks the session's account (the bound one while it is eligible, else the pool's routing, sticky
 * per session) and opens its upstream socket, failing over to the next account of the ring when a
 * connect fails before anything was sent.
 */
export async function openAccountLink(deps: TurnDeps, request: OpenRequest): Promise<{ link: UpstreamLink; last: boolean }> {
  const { key, upstreamModel, boundAssignmentId } = request;
  const [candidates, settings] = await Promise.all([deps.routing.candidates(key.poolId), deps.routing.settings(key.poolId)]);
  const continuation = continuationOf(request.body, {});
  const seed = settings.stickyWebsocketSessions ? sessionSeed(key, request.requestedModel, request.sessionKey) : null;
  const selection = selectAccount(candidates, {
    now: deps.now(),
    strategy: settings.strategy,
    ringSize: settings.ringSize,
    seed: seed ?? request.requestId,
    sticky: seed !== null,
    isCircuitBlocked: (c) => deps.routing.isCircuitBlocked(c.assignmentId, upstreamModel, 'proxy_websocket'),
    demoted: deps.routing.demotedFor(key.id, upstreamModel, candidates),
    pinned: boundAssignmentId ?? (continuation ? deps.routing.ownerOf(continuation) : null) ?? request.turnStateOwner,
    boundary: boundAssignmentId === null && startsConversation(request.body),
    model: request.requestedModel,
    exclude: request.exclude,
  });
  if (selection.ordered.length === 0) throw new PoolerError('no_eligible_backend', describeNoEligibleAccount(key.poolSlug, selection, candidates, deps.now()), { param: 'model' });
  // A bound session never leaves its account while that account can serve it (routing spec A4.1).
  const bound = boundAssignmentId !== null && selection.ordered[0]!.assignmentId === boundAssignmentId;
  if (boundAssignmentId !== null && !bound) request.routingReason('session_account_unavailable');
  else if (selection.moved) request.routingReason(`affinity_moved:${selection.moved.reason}`);
  const ring = bound ? [selection.ordered[0]!] : selection.ordered;
  for (let index = 0; index < ring.length; index++) {
    const candidate = ring[index]!;
    const last = index === ring.length - 1;
    const admission = deps.routing.beginAttempt(candidate.assignmentId, upstreamModel, 'proxy_websocket');
    if (admission === 'blocked' && !last) continue;
    const started = deps.now();
    try {
      const { socket, epoch } = await connectAccount(deps, candidate);
      connected(deps, candidate, socket);
      return { link: { socket, candidate, admission, credentialEpoch: epoch }, last };
    } catch (error) {
      const refusal = error instanceof UpstreamConnectError ? error : new UpstreamConnectError(null, 'transport_error', null, {});
      connectFailed(deps, key, upstreamModel, candidate, admission, refusal);
      request.attempts.push({
        id: randomUUID(),
        request_id: request.requestId,
        attempt_number: request.attempts.length + 1,
        pool_upstream_assignment_id: candidate.assignmentId,
        upstream_identity_id: candidate.identityId,
        model: upstreamModel,
        transport: 'websocket',
        status: last ? 'failed' : 'retryable_failed',
        started_at: new Date(started),
        finished_at: new Date(deps.now()),
        upstream_status_code: refusal.status,
        retryable: !last,
        network_error_code: refusal.status === null ? refusal.code : null,
        error_code: refusal.code,
        error_message: null,
        latency_ms: deps.now() - started,
        usage_status: null,
      });
      if (last) {
        if (refusal.status === null) throw new PoolerError('upstream_request_failed', 'upstream request failed');
        throw refusal;
      }
      request.routingReason(`failover_after_${refusal.code}`);
      deps.metrics.failoverCount.inc({ reason: refusal.status === null ? 'transport_error' : refusal.status === 429 ? 'upstream_rate_limited' : refusal.status >= 500 ? 'upstream_5xx' : 'upstream_unauthorized' });
    }
  }
  throw new PoolerError('no_eligible_backend', `every eligible upstream account in pool ${key.poolSlug} is failing right now; retry shortly`, { param: 'model' });
}

/** Upgrade headers carry the account's quota windows like any HTTP answer (runtime spec §5.5). */
function connected(deps: TurnDeps, candidate: Candidate, socket: UpstreamSocket): void {
  deps.routing.markSuccess(candidate);
  const now = new Date(deps.now());
  const evidence = quotaFromHeaders(socket.upgradeHeaders, now);
  if (evidence.length) deps.quota.record({ identityId: candidate.identityId, windows: evidence, observedAt: now });
}

/** Opens the account's upstream socket; an expired token is refreshed once and the same account retried. */
async function connectAccount(deps: TurnDeps, candidate: Candidate): Promise<{ socket: UpstreamSocket; epoch: number }> {
  const url = upstreamWebsocketUrl(deps.upstreamBaseUrl);
  const options = { connectTimeoutMs: deps.timeouts.connectMs };
  const credentials = await deps.credentials.accessTokenFor(candidate.identityId);
  try {
    return { socket: await UpstreamSocket.connect(url, upgradeHeaders(credentials.accessToken, candidate), options), epoch: credentials.epoch };
  } catch (error) {
    if (!(error instanceof UpstreamConnectError) || error.status !== 401) throw error;
    const next = await refreshedCredentials(deps, candidate, credentials.epoch, 'upstream_401');
    if (!next) throw error;
    return { socket: await UpstreamSocket.connect(url, upgradeHeaders(next.accessToken, candidate), options), epoch: next.epoch };
  }
}

/**
 * The account's token after one single-flight refresh (shared with every caller that saw the same
 * epoch rejected); null when the account must be signed in again or the refresh failed.
 */
async function refreshedCredentials(deps: TurnDeps, candidate: Candidate, rejectedEpoch: number, trigger: string): Promise<AccessCredentials | null> {
  const refreshed = await deps.credentials.refresh(candidate.identityId, { trigger, expectedEpoch: rejectedEpoch });
  if (refreshed.status === 'reauth_required') {
    deps.routing.accountChanged(candidate.poolId);
    return null;
  }
  if (refreshed.status === 'failed') return null;
  return refreshed.status === 'refreshed' ? refreshed.credentials : deps.credentials.accessTokenFor(candidate.identityId);
}

/**
 * The upstream rejected the token of an open socket on a turn's first event (runtime spec §8):
 * the token is refreshed once and a new socket is opened on the same account. Throws the
 * client's error when the account cannot be signed in again or refuses the new socket.
 */
export async function reopenWithFreshToken(deps: TurnDeps, link: UpstreamLink, rejectedCode: string): Promise<UpstreamLink> {
  const { candidate } = link;
  const next = await refreshedCredentials(deps, candidate, link.credentialEpoch, `upstream_${rejectedCode}`);
  if (!next) throw new PoolerError('upstream_request_failed', 'the upstream account rejected its credentials and could not be signed in again');
  const socket = await UpstreamSocket.connect(upstreamWebsocketUrl(deps.upstreamBaseUrl), upgradeHeaders(next.accessToken, candidate), { connectTimeoutMs: deps.timeouts.connectMs });
  connected(deps, candidate, socket);
  return { socket, candidate, admission: link.admission, credentialEpoch: next.epoch };
}

/** Upgrade headers: the account's credentials, the gateway's Codex identity and the beta flag; nothing of the client's (§5.2). */
function upgradeHeaders(accessToken: string, candidate: Candidate): Record<string, string> {
  const headers = buildUpstreamHeaders({ account: { accessToken, chatgptAccountId: candidate.chatgptAccountId }, stream: false, json: false });
  delete headers.accept;
  headers['openai-beta'] = WEBSOCKET_BETA;
  return headers;
}

/** Circuit, demotion, cooldown and quota bookkeeping for a refused upgrade. */
function connectFailed(deps: TurnDeps, key: AuthenticatedKey, model: string, candidate: Candidate, admission: AttemptAdmission, refusal: UpstreamConnectError): void {
  const now = new Date(deps.now());
  const evidence = quotaFromHeaders(refusal.headers, now);
  if (evidence.length) deps.quota.record({ identityId: candidate.identityId, windows: evidence, observedAt: now });
  const status = refusal.status;
  const failure = status === null || status === 429 || status >= 500 || status === 401;
  const reasonClass = status === null ? 'upstream_network_error' : status === 429 ? 'upstream_rate_limited' : status >= 500 ? 'upstream_5xx' : 'upstream_unauthorized';
  deps.routing.recordAttempt(candidate.assignmentId, model, 'proxy_websocket', admission, failure ? 'failure' : 'neutral', reasonClass);
  if (failure) deps.routing.demote(key.id, model, candidate.assignmentId);
  if (status !== 429) return;
  let body: Record<string, unknown> | null = null;
  try {
    body = refusal.body ? (JSON.parse(refusal.body.toString('utf8')) as Record<string, unknown>) : null;
  } catch {
    body = null;
  }
  const resetAt = usageLimitResetAt(429, body, refusal.headers, now);
  deps.routing.markCooldown(candidate, resetAt ? resetAt.getTime() : deps.now() + DEMOTION_MS, resetAt ? 'usage_limit_reached' : 'upstream_rate_limited');
}

/** Circuit and demotion bookkeeping after a turn on an open socket. */
export function recordTurnHealth(deps: TurnDeps, key: AuthenticatedKey, model: string, link: UpstreamLink, outcome: TurnOutcome): void {
  const verdict = outcome.status === 'succeeded' ? 'success' : outcome.status === 'cancelled' ? 'neutral' : outcome.upstreamFailure ? 'failure' : outcome.errorCode && HEALTH_NEUTRAL.has(outcome.errorCode) ? 'neutral' : 'failure';
  deps.routing.recordAttempt(link.candidate.assignmentId, model, 'proxy_websocket', link.admission === 'blocked' ? 'normal' : link.admission, verdict, verdict === 'failure' ? 'upstream_stream_error' : 'none');
  // Later turns on the same socket are ordinary attempts, never a second half-open probe.
  link.admission = 'normal';
  if (verdict === 'success') deps.routing.resolveDemotion(key.id, model, link.candidate.assignmentId);
  if (verdict === 'failure') deps.routing.demote(key.id, model, link.candidate.assignmentId);
}

export function attemptRow(requestId: string, number: number, link: UpstreamLink, model: string, started: number, ended: number, outcome: TurnOutcome, reused: boolean): NewAttemptRow {
  return {
    id: randomUUID(),
    request_id: requestId,
    attempt_number: number,
    pool_upstream_assignment_id: link.candidate.assignmentId,
    upstream_identity_id: link.candidate.identityId,
    model,
    transport: 'websocket',
    status: outcome.failover ? 'retryable_failed' : outcome.status === 'succeeded' ? 'succeeded' : outcome.status === 'cancelled' ? 'cancelled' : 'failed',
    started_at: new Date(started),
    finished_at: new Date(ended),
    upstream_status_code: outcome.statusCode,
    retryable: outcome.failover === true,
    network_error_code: null,
    error_code: outcome.errorCode,
    error_message: null,
    latency_ms: ended - started,
    usage_status: outcome.usage ? 'usage_known' : 'usage_unknown',
    response_metadata: jsonb({ upstream_transport: 'websocket', websocket: { reused } }),
  };
}
