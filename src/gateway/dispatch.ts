import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { request as undiciRequest, type Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { AuthenticatedKey } from '../api-keys/index.ts';
import { routingDecisionLabel, statusClass, type Metrics } from '../metrics/index.ts';
import { jsonb } from '../db/index.ts';
import { PoolerError } from '../errors.ts';
import { describeNoEligibleAccount, selectAccount, type AttemptAdmission, type Candidate, type RouteClass, type RoutingState } from '../routing/index.ts';
import { sha256Hex } from '../crypto/index.ts';
import {
  buildUpstreamHeaders,
  quotaFromErrorBody,
  quotaFromHeaders,
  quotaFromRateLimitEvent,
  usageLimitResetAt,
  type CredentialStore,
  type QuotaRecorder,
} from '../upstreams/index.ts';
import type { LedgerRequest } from '../accounting/index.ts';
import type { NewAttemptRow, NewRequestRow } from './request-log.table.ts';
import type { ClientRelay } from './client-relay.ts';
import type { RequestLogWriter } from './request-log-writer.ts';
import { relayedHeaders } from './relay-headers.ts';
import { SseReader, parseEventData, type SseEvent } from './sse.ts';
import { classifyEvent, failureCode, isFailureType } from './upstream-events.ts';
import { usageFromPayload, type TokenUsage } from './usage.ts';

export type GatewayDeps = {
  routing: RoutingState;
  credentials: CredentialStore;
  quota: QuotaRecorder;
  requestLog: RequestLogWriter;
  dispatcher: Dispatcher;
  upstreamBaseUrl: string;
  timeouts: { firstByteMs: number; idleMs: number };
  log: Logger;
  now: () => number;
  metrics?: Metrics;
};

export type DispatchPlan = {
  endpoint: string;
  upstreamPath: string;
  transport: 'http_json' | 'http_sse' | 'http_compact_json' | 'http_multipart';
  stream: boolean;
  /** Compact never moves to another account: its output is bound to the account's state. */
  failover: boolean;
  requestedModel: string;
  upstreamModel: string;
  body: Buffer;
  affinityKey: string | null;
  forwardClientHeaders: boolean;
  routeClass: RouteClass;
  /** A previous response or encrypted reasoning item id this request continues (its account owns the state). */
  continuationOf?: string | null;
  /** A new conversation or a compaction: a session may move off a nearly spent account here. */
  boundary?: boolean;
  /** The service tier the upstream body asks for (prices differ per tier). */
  serviceTier?: string | null;
  /** How the answer reaches a /v1 client; absent for the native backend (bytes relayed untouched). */
  relay?: ClientRelay;
  /** The pool catalog's ETag, sent as x-models-etag on successful native streams. */
  modelsEtag?: string | null;
  /** The catalog model routing filters accounts on, when it differs from requestedModel; null: any account (files, audio). */
  routeModel?: string | null;
  /** The upstream body's content type when it is not JSON (multipart transcription). */
  contentType?: string;
  /** Shapes a successful upstream JSON answer (bridge validation, follow-up calls on the same account). */
  answer?: UpstreamAnswer;
};

/** A follow-up JSON POST on the account that answered (the file bridge's finalize). */
export type AccountCall = (path: string, body: unknown) => Promise<{ status: number; body: Record<string, unknown> | null }>;
export type UpstreamAnswer = (payload: Record<string, unknown>, account: { call: AccountCall; assignmentId: string }, signal: AbortSignal) => Promise<{ status: number; body: unknown }>;

type AttemptOutcome =
  | { kind: 'done'; status: number; usage: TokenUsage | null; errorCode: string | null; cancelled?: boolean }
  | { kind: 'next'; status: number | null; errorCode: string };

const ERROR_BODY_LIMIT = 64 * 1024;
const JSON_BODY_LIMIT = 64 * 1024 * 1024;
const MAX_PRELUDE_EVENTS = 32;
const DEMOTION_MS = 60_000;
// Stop trying more accounts once this much time went by: a client should not wait on a chain of slow failures.
const FAILOVER_DEADLINE_MS = 60_000;

class ClientGoneError extends Error {}

// Stream failure codes that say nothing about the account's health (runtime spec §7.1).
const HEALTH_NEUTRAL_CODES = new Set([
  'context_length_exceeded', 'cyber_policy', 'invalid_request', 'invalid_request_error', 'invalid_previous_response_id', 'misalignment_policy_violation',
  'missing_required_parameter', 'overloaded_error', 'previous_response_not_found', 'server_is_overloaded', 'server_error', 'unsupported_input_image_format',
  'unsupported_parameter', 'unsupported_value', 'usage_limit_exceeded', 'usage_limit_reached', 'client_disconnected',
]);

/** Circuit and demotion bookkeeping for one attempt: success, route failure, or neutral. */
function recordHealth(deps: GatewayDeps, apiKeyId: string, plan: DispatchPlan, candidate: Candidate, admission: AttemptAdmission, outcome: AttemptOutcome): void {
  let verdict: 'success' | 'failure' | 'neutral';
  let reasonClass = 'none';
  const status = outcome.status;
  if (outcome.kind === 'done' && !outcome.cancelled && status !== null && status < 400 && !outcome.errorCode) verdict = 'success';
  else if (outcome.kind === 'done' && outcome.cancelled) verdict = 'neutral';
  else if (status === null) [verdict, reasonClass] = ['failure', 'upstream_network_error'];
  else if (status === 429) [verdict, reasonClass] = ['failure', 'upstream_rate_limited'];
  else if (status >= 500) [verdict, reasonClass] = ['failure', 'upstream_5xx'];
  else if (status === 401) [verdict, reasonClass] = ['failure', 'upstream_unauthorized'];
  else if (outcome.errorCode && HEALTH_NEUTRAL_CODES.has(outcome.errorCode)) verdict = 'neutral';
  else if (outcome.errorCode === 'model_not_found' || outcome.errorCode === 'model_unavailable') [verdict, reasonClass] = ['failure', 'upstream_model_unavailable'];
  else if (status < 300 && outcome.errorCode) [verdict, reasonClass] = ['failure', 'upstream_stream_error'];
  else verdict = 'neutral';
  deps.routing.recordAttempt(candidate.assignmentId, plan.upstreamModel, plan.routeClass, admission, verdict, reasonClass);
  if (verdict === 'failure') deps.routing.demote(apiKeyId, plan.upstreamModel, candidate.assignmentId);
  if (verdict === 'success') deps.routing.resolveDemotion(apiKeyId, plan.upstreamModel, candidate.assignmentId);
}

/**
 * The routing seed of a request that belongs to a session (routing spec A4): the Codex session, else
 * the prompt cache key when the pool keeps cache locality. Null means no stickiness (the request id seeds).
 */
function affinitySeed(key: AuthenticatedKey, plan: DispatchPlan, settings: { promptCacheAffinity: boolean; stickyWebsocketSessions: boolean }): string | null {
  const value = plan.affinityKey;
  if (!value) return null;
  const scope = `${key.poolId}:${key.id}:${plan.requestedModel.toLowerCase()}`;
  if (value.startsWith('sid:') && settings.stickyWebsocketSessions) return `${scope}:codex_session:${sha256Hex(value.slice(4))}`;
  if (value.startsWith('pck:') && settings.promptCacheAffinity) return `${scope}:prompt_cache:${sha256Hex(value.slice(4))}`;
  return null;
}

/** A bounded label for why an attempt was abandoned (upstream codes would explode cardinality). */
function failoverReason(outcome: { status: number | null; errorCode: string }): string {
  if (outcome.status === null) return outcome.errorCode === 'upstream_timeout' ? 'upstream_timeout' : 'transport_error';
  if (outcome.status === 429) return 'upstream_rate_limited';
  if (outcome.status === 401) return 'upstream_unauthorized';
  if (outcome.status >= 500) return 'upstream_5xx';
  if (outcome.status < 300) return 'first_event_failure';
  return 'upstream_model_unavailable';
}

/**
 * Runs one gateway request against the pool: picks accounts in ring order, fails over while no byte
 * has reached the client, relays the chosen answer with backpressure and records the request log.
 */
export async function dispatchToPool(deps: GatewayDeps, key: AuthenticatedKey, request: FastifyRequest, reply: FastifyReply, plan: DispatchPlan): Promise<void> {
  const startedAt = deps.now();
  const requestId = randomUUID();
  const attempts: NewAttemptRow[] = [];
  const abort = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) abort.abort(new ClientGoneError('client disconnected'));
  };
  // The response's 'close' before it finished means the client went away (the request body was
  // already read by then, so the request's own events say nothing).
  reply.raw.once('close', onClose);

  let logged = false;
  let reserved = false;
  let chosen: Candidate | null = null;
  let final: AttemptOutcome | null = null;
  let firstByteAt: number | null = null;
  let routingReason: string | null = null;
  const markFirstByte = () => {
    firstByteAt ??= deps.now();
  };

  try {
    const [candidates, settings] = await Promise.all([deps.routing.candidates(key.poolId), deps.routing.settings(key.poolId)]);
    const affinity = affinitySeed(key, plan, settings);
    const selection = selectAccount(candidates, {
      now: deps.now(),
      strategy: settings.strategy,
      ringSize: plan.failover ? settings.ringSize : 1,
      seed: affinity ?? requestId,
      sticky: affinity !== null,
      isCircuitBlocked: (c) => deps.routing.isCircuitBlocked(c.assignmentId, plan.upstreamModel, plan.routeClass),
      demoted: deps.routing.demotedFor(key.id, plan.upstreamModel, candidates),
      pinned: plan.continuationOf ? deps.routing.ownerOf(plan.continuationOf) : null,
      boundary: plan.boundary ?? false,
      model: plan.routeModel !== undefined ? plan.routeModel : plan.requestedModel,
    });
    if (selection.moved) routingReason = `affinity_moved:${selection.moved.reason}`;
    if (selection.ordered.length === 0) {
      routingReason = 'no_eligible_account';
      deps.metrics?.routingDecisionCount.inc({ decision: 'no_eligible_account', strategy: settings.strategy });
      throw new PoolerError('no_eligible_backend', describeNoEligibleAccount(key.poolSlug, selection, candidates, deps.now()), { param: 'model' });
    }
    const ring = selection.ordered;
    deps.metrics?.routingDecisionCount.inc({ decision: routingDecisionLabel({ pinned: Boolean(plan.continuationOf), sticky: affinity !== null, moved: selection.moved !== null }), strategy: settings.strategy });
    reserve();
    for (let index = 0; index < ring.length; index++) {
      const candidate = ring[index]!;
      const last = index === ring.length - 1 || deps.now() - startedAt > FAILOVER_DEADLINE_MS;
      const admission = deps.routing.beginAttempt(candidate.assignmentId, plan.upstreamModel, plan.routeClass);
      if (admission === 'blocked') {
        // Another request opened this circuit meanwhile (or its one half-open probe is out).
        if (!last) continue;
        throw new PoolerError('no_eligible_backend', `every eligible upstream account in pool ${key.poolSlug} is failing right now; retry shortly`, { param: 'model' });
      }
      chosen = candidate;
      const attemptStarted = deps.now();
      let outcome: AttemptOutcome;
      try {
        outcome = await attempt(deps, { candidate, plan, request, reply, last, signal: abort.signal, markFirstByte });
      } catch (error) {
        deps.routing.recordAttempt(candidate.assignmentId, plan.upstreamModel, plan.routeClass, admission, 'neutral', 'none');
        throw error;
      }
      recordHealth(deps, key.id, plan, candidate, admission, outcome);
      attempts.push({
        id: randomUUID(),
        request_id: requestId,
        attempt_number: index + 1,
        pool_upstream_assignment_id: candidate.assignmentId,
        upstream_identity_id: candidate.identityId,
        model: plan.upstreamModel,
        transport: plan.transport,
        status: outcome.kind === 'next' ? 'retryable_failed' : outcome.cancelled ? 'cancelled' : outcome.status < 400 && !outcome.errorCode ? 'succeeded' : 'failed',
        started_at: new Date(attemptStarted),
        finished_at: new Date(deps.now()),
        upstream_status_code: outcome.status,
        retryable: outcome.kind === 'next',
        network_error_code: null,
        error_code: outcome.errorCode,
        error_message: null,
        latency_ms: deps.now() - attemptStarted,
        usage_status: outcome.kind === 'done' ? (outcome.usage ? 'usage_known' : 'usage_unknown') : null,
      });
      deps.metrics?.upstreamDuration.observe({ route_class: plan.stream ? 'proxy_stream' : plan.failover ? 'proxy_http' : 'proxy_compact', status_class: statusClass(outcome.status) }, (deps.now() - attemptStarted) / 1000);
      if (outcome.kind === 'done') {
        final = outcome;
        break;
      }
      routingReason = `failover_after_${outcome.errorCode}`;
      deps.metrics?.failoverCount.inc({ reason: failoverReason(outcome) });
      if (last) {
        final = outcome;
        break;
      }
    }
    if (final?.kind === 'next') {
      throw final.errorCode === 'transport_error' || final.errorCode === 'upstream_timeout'
        ? new PoolerError('upstream_request_failed', plan.failover ? 'upstream request failed' : 'upstream compact request failed')
        : new PoolerError('no_eligible_backend', `every eligible upstream account in pool ${key.poolSlug} failed for this request (last: ${final.errorCode})`);
    }
  } catch (error) {
    if (error instanceof ClientGoneError || abort.signal.aborted) {
      final = { kind: 'done', status: 499, usage: null, errorCode: 'client_disconnected', cancelled: true };
    } else {
      const pooler = error instanceof PoolerError ? error : new PoolerError('internal_error');
      if (!(error instanceof PoolerError)) deps.log.error({ err: error }, 'gateway dispatch failed');
      final = { kind: 'done', status: pooler.status, usage: null, errorCode: pooler.code };
      if (!reply.raw.headersSent) {
        reply.raw.removeListener('close', onClose);
        writeLog();
        throw pooler;
      }
      reply.raw.destroy();
    }
  } finally {
    reply.raw.removeListener('close', onClose);
  }
  writeLog();

  /** The request's ledger facts; the estimate is the request bytes / 4 (spec §7.2). */
  function ledgerFacts(usage: TokenUsage | null, served: boolean): LedgerRequest {
    return {
      requestId,
      attemptId: (attempts.at(-1)?.id as string | undefined) ?? null,
      poolId: key.poolId,
      apiKeyId: key.id,
      assignmentId: chosen?.assignmentId ?? null,
      identityId: chosen?.identityId ?? null,
      model: plan.upstreamModel,
      serviceTier: plan.serviceTier ?? null,
      transport: plan.transport,
      estimatedInputTokens: Math.ceil(plan.body.length / 4),
      usage,
      served,
      occurredAt: new Date(deps.now()),
    };
  }

  /** The request log row as it stands: provisional (`in_progress`) until the outcome is known. */
  function requestRow(outcome: AttemptOutcome | null): NewRequestRow & { id: string } {
    const usage = outcome?.kind === 'done' ? outcome.usage : null;
    const status = outcome?.status ?? null;
    const succeeded = outcome?.kind === 'done' && !outcome.cancelled && (status ?? 500) < 400 && !outcome.errorCode;
    const rejected = attempts.length === 0;
    const finished = outcome !== null || logged;
    return {
      id: requestId,
      pool_id: key.poolId,
      api_key_id: key.id,
      pool_upstream_assignment_id: chosen?.assignmentId ?? null,
      upstream_identity_id: chosen?.identityId ?? null,
      model_id: plan.upstreamModel,
      requested_model: plan.requestedModel,
      endpoint: plan.endpoint,
      method: request.method,
      transport: plan.transport,
      status: !finished ? 'in_progress' : outcome?.kind === 'done' && outcome.cancelled ? 'cancelled' : succeeded ? 'succeeded' : rejected ? 'rejected' : 'failed',
      usage_status: !finished ? 'usage_pending' : usage ? 'usage_known' : rejected ? 'not_applicable' : 'usage_unknown',
      // Our own id: clients may reuse x-request-id values, which must never collide with another log row.
      correlation_id: requestId,
      client_ip: request.clientIp ?? request.ip,
      user_agent: typeof request.headers['user-agent'] === 'string' ? request.headers['user-agent'].slice(0, 160) : null,
      request_metadata: jsonb({ route_class: plan.routeClass, key_prefix: key.prefix, client_request_id: request.id, requested_stream: plan.stream, request_bytes: plan.body.length, attempts: attempts.length, routing_reason: routingReason }),
      admitted_at: new Date(startedAt),
      completed_at: finished ? new Date(deps.now()) : null,
      response_status_code: status,
      retry_count: Math.max(0, attempts.length - 1),
      last_error_code: outcome?.errorCode ?? null,
      latency_ms: finished ? deps.now() - startedAt : null,
      time_to_first_byte_ms: firstByteAt === null ? null : firstByteAt - startedAt,
      input_tokens: usage?.inputTokens ?? null,
      cached_input_tokens: usage?.cachedInputTokens ?? null,
      output_tokens: usage?.outputTokens ?? null,
      reasoning_tokens: usage?.reasoningTokens ?? null,
      total_tokens: usage?.totalTokens ?? null,
      upstream_account_label: chosen?.label ?? null,
      upstream_account_email: chosen?.email ?? null,
      upstream_plan: chosen?.plan ?? null,
      reasoning_effort: null,
      service_tier: plan.serviceTier ?? null,
      requested_service_tier: plan.serviceTier ?? null,
      actual_service_tier: null,
      routing_reason: routingReason,
    };
  }

  /** Admitted and routed: the reservation is queued before the first upstream call (never awaited). */
  function reserve(): void {
    reserved = true;
    deps.requestLog.reserve({ request: requestRow(null), ledger: ledgerFacts(null, false) });
  }

  function writeLog(): void {
    if (logged) return;
    logged = true;
    const outcome = final;
    const usage = outcome?.kind === 'done' ? outcome.usage : null;
    const status = outcome?.status ?? null;
    const served = usage !== null || (outcome?.kind === 'done' && !outcome.cancelled && (status ?? 500) < 400);
    deps.requestLog.write({
      request: requestRow(outcome),
      attempts,
      // Requests refused before routing reserved nothing; a reserved one always settles or releases.
      ledger: attempts.length === 0 && !reserved ? undefined : ledgerFacts(usage, served),
    });
  }
}

type AttemptContext = {
  candidate: Candidate;
  plan: DispatchPlan;
  request: FastifyRequest;
  reply: FastifyReply;
  last: boolean;
  signal: AbortSignal;
  markFirstByte: () => void;
  /** The token the last upstream call used, for follow-up calls on the same account. */
  accessToken?: string;
};

async function sendUpstream(deps: GatewayDeps, ctx: AttemptContext, accessToken: string): Promise<Dispatcher.ResponseData> {
  const headers = buildUpstreamHeaders({
    account: { accessToken, chatgptAccountId: ctx.candidate.chatgptAccountId },
    stream: ctx.plan.stream,
    json: !ctx.plan.contentType,
    clientHeaders: ctx.request.headers,
    forwardClientHeaders: ctx.plan.forwardClientHeaders,
  });
  if (ctx.plan.contentType) headers['content-type'] = ctx.plan.contentType;
  ctx.accessToken = accessToken;
  return undiciRequest(`${deps.upstreamBaseUrl}${ctx.plan.upstreamPath}`, {
    method: 'POST',
    headers,
    body: ctx.plan.body,
    dispatcher: deps.dispatcher,
    signal: ctx.signal,
    headersTimeout: deps.timeouts.firstByteMs,
    bodyTimeout: deps.timeouts.idleMs,
  });
}

async function attempt(deps: GatewayDeps, ctx: AttemptContext): Promise<AttemptOutcome> {
  const { candidate } = ctx;
  let response: Dispatcher.ResponseData;
  const attemptStartedAt = deps.now();
  try {
    let credentials = await deps.credentials.accessTokenFor(candidate.identityId);
    response = await sendUpstream(deps, ctx, credentials.accessToken);
    if (response.statusCode === 401) {
      // An expired or rotated token: refresh once and replay on the same account, before any byte reached the client.
      await response.body.dump().catch(() => {});
      const refreshed = await deps.credentials.refresh(candidate.identityId, { trigger: 'upstream_401', expectedEpoch: credentials.epoch });
      if (refreshed.status === 'reauth_required') {
        deps.routing.accountChanged(candidate.poolId);
        if (!ctx.last) return { kind: 'next', status: 401, errorCode: 'upstream_reauth_required' };
      }
      credentials = refreshed.status === 'refreshed' ? refreshed.credentials : await deps.credentials.accessTokenFor(candidate.identityId);
      response = await sendUpstream(deps, ctx, credentials.accessToken);
    }
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new ClientGoneError('client disconnected');
    const code = (error as { code?: string }).code;
    deps.log.warn({ account: candidate.assignmentId, code }, 'upstream attempt failed before a response');
    const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
    return { kind: 'next', status: null, errorCode: timeout ? 'upstream_timeout' : 'transport_error' };
  }

  deps.metrics?.upstreamFirstByte.observe({ route_class: ctx.plan.stream ? 'proxy_stream' : ctx.plan.failover ? 'proxy_http' : 'proxy_compact' }, (deps.now() - attemptStartedAt) / 1000);
  const now = new Date(deps.now());
  const headerEvidence = quotaFromHeaders(response.headers, now);
  if (headerEvidence.length) deps.quota.record({ identityId: candidate.identityId, windows: headerEvidence, observedAt: now });

  if (response.statusCode >= 400) return relayError(deps, ctx, response, now);
  deps.routing.markSuccess(candidate);
  if (ctx.plan.stream && String(response.headers['content-type'] ?? '').includes('text/event-stream')) return relayStream(deps, ctx, response);
  return relayJson(deps, ctx, response);
}

async function readBounded(body: Dispatcher.ResponseData['body'], limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      return null;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJson(buffer: Buffer | null): Record<string, unknown> | null {
  if (!buffer) return null;
  try {
    const value = JSON.parse(buffer.toString('utf8')) as unknown;
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function relayError(deps: GatewayDeps, ctx: AttemptContext, response: Dispatcher.ResponseData, now: Date): Promise<AttemptOutcome> {
  const status = response.statusCode;
  const raw = await readBounded(response.body, ERROR_BODY_LIMIT).catch(() => null);
  const body = parseJson(raw);
  const code = upstreamErrorCode(body) ?? `upstream_${status}`;
  if (body) {
    const evidence = quotaFromErrorBody(body, now);
    if (evidence.length) deps.quota.record({ identityId: ctx.candidate.identityId, windows: evidence, observedAt: now });
  }
  if (status === 429) {
    const resetAt = usageLimitResetAt(status, body, response.headers, now);
    // A usage-limit 429 with a reset time benches the account until then; otherwise a short demotion.
    const reason = resetAt ? 'usage_limit_reached' : 'upstream_rate_limited';
    deps.routing.markCooldown(ctx.candidate, resetAt ? resetAt.getTime() : deps.now() + DEMOTION_MS, reason);
    deps.metrics?.cooldownCount.inc({ reason });
  }
  const modelUnavailable = code === 'model_not_found' || code === 'model_unavailable';
  const failover = status === 429 || status >= 500 || (modelUnavailable && ctx.plan.failover);
  if (failover && !ctx.last) return { kind: 'next', status, errorCode: code };
  ctx.reply.hijack();
  ctx.markFirstByte();
  if (ctx.plan.relay) {
    // /v1 clients never see provider text: the error is redacted to its code.
    const redacted = ctx.plan.relay.upstreamError(status, raw);
    ctx.reply.raw.writeHead(redacted.status, { 'content-type': 'application/json', 'x-request-id': ctx.request.id });
    ctx.reply.raw.end(JSON.stringify(redacted.body));
    return { kind: 'done', status: redacted.status, usage: null, errorCode: code };
  }
  ctx.reply.raw.writeHead(status, { ...relayedHeaders(response.headers, 'application/json'), 'x-request-id': ctx.request.id });
  ctx.reply.raw.end(raw ?? Buffer.from(JSON.stringify({ error: { message: 'upstream request failed', type: 'server_error', code, param: null } })));
  return { kind: 'done', status, usage: null, errorCode: code };
}

function upstreamErrorCode(body: Record<string, unknown> | null): string | null {
  if (!body) return null;
  const error = body.error;
  if (error && typeof error === 'object') {
    const e = error as Record<string, unknown>;
    if (typeof e.code === 'string') return e.code;
    if (typeof e.type === 'string') return e.type;
  }
  if (typeof error === 'string') return error;
  return typeof body.code === 'string' ? body.code : null;
}

async function relayJson(deps: GatewayDeps, ctx: AttemptContext, response: Dispatcher.ResponseData): Promise<AttemptOutcome> {
  const raw = await readBounded(response.body, JSON_BODY_LIMIT);
  if (raw === null) throw new PoolerError('invalid_upstream_response', 'upstream response is too large', { status: 502 });
  const payload = parseJson(raw);
  if (!payload) throw new PoolerError('invalid_upstream_response', 'upstream response was not valid json');
  if (typeof payload.id === 'string') deps.routing.rememberOwner(payload.id, ctx.candidate.assignmentId);
  if (ctx.plan.answer) {
    const shaped = await ctx.plan.answer(payload, { call: accountCall(deps, ctx), assignmentId: ctx.candidate.assignmentId }, ctx.signal);
    ctx.reply.hijack();
    ctx.markFirstByte();
    ctx.reply.raw.writeHead(shaped.status, { 'content-type': 'application/json', 'x-request-id': ctx.request.id });
    ctx.reply.raw.end(JSON.stringify(shaped.body));
    return { kind: 'done', status: shaped.status, usage: null, errorCode: shaped.status >= 400 ? 'upstream_status' : null };
  }
  ctx.reply.hijack();
  ctx.markFirstByte();
  ctx.reply.raw.writeHead(response.statusCode, { ...relayedHeaders(response.headers, 'application/json'), 'x-request-id': ctx.request.id });
  ctx.reply.raw.end(raw);
  return { kind: 'done', status: response.statusCode, usage: usageFromPayload(payload), errorCode: null };
}

function accountCall(deps: GatewayDeps, ctx: AttemptContext): AccountCall {
  return async (path, body) => {
    const headers = buildUpstreamHeaders({ account: { accessToken: ctx.accessToken ?? '', chatgptAccountId: ctx.candidate.chatgptAccountId }, stream: false, json: true });
    const response = await undiciRequest(`${deps.upstreamBaseUrl}${path}`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      dispatcher: deps.dispatcher,
      signal: ctx.signal,
      headersTimeout: deps.timeouts.firstByteMs,
      bodyTimeout: deps.timeouts.idleMs,
    });
    return { status: response.statusCode, body: parseJson(await readBounded(response.body, JSON_BODY_LIMIT)) };
  };
}

/**
 * Holds the leading bytes until the first meaningful event says whether this account can serve the
 * request (a first-event overload fails over silently), then relays byte for byte with backpressure.
 */
async function relayStream(deps: GatewayDeps, ctx: AttemptContext, response: Dispatcher.ResponseData): Promise<AttemptOutcome> {
  const reader = new SseReader();
  const held: Buffer[] = [];
  const heldEvents: SseEvent[] = [];
  const observer = new StreamObserver(deps, ctx.candidate);
  const iterator = response.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let decided = false;
  let eventsSeen = 0;
  try {
    while (!decided) {
      const next = await iterator.next();
      if (next.done) {
        for (const event of reader.end()) {
          observer.observe(event);
          heldEvents.push(event);
        }
        if (!ctx.last && observer.failureCode === null && held.length === 0) return { kind: 'next', status: 200, errorCode: 'stream_incomplete' };
        break;
      }
      held.push(next.value);
      for (const event of reader.push(next.value)) {
        // Every event is observed (usage, quota), also those after the decision in the same chunk.
        observer.observe(event);
        heldEvents.push(event);
        if (decided) continue;
        eventsSeen++;
        const verdict = classifyEvent(event);
        if (verdict.kind === 'prelude' && eventsSeen < MAX_PRELUDE_EVENTS) continue;
        if (verdict.kind === 'failure' && verdict.failover && !ctx.last) {
          response.body.destroy();
          return { kind: 'next', status: 200, errorCode: verdict.code };
        }
        decided = true;
      }
    }
  } catch (error) {
    if (ctx.signal.aborted) throw ctx.signal.reason instanceof Error ? ctx.signal.reason : new ClientGoneError('client disconnected');
    if (!ctx.last) return { kind: 'next', status: 200, errorCode: 'stream_error' };
    throw new PoolerError('upstream_request_failed');
  }

  const raw = ctx.reply.raw;
  deps.metrics?.activeStreams.inc({ transport: 'http_sse' });
  try {
    const relay = ctx.plan.relay;
    if (relay?.mode === 'stream') return await pipeTranslated(deps, ctx, response, relay, { heldEvents, iterator, reader, observer });
    if (relay?.mode === 'json') return await collectToJson(deps, ctx, response, relay, { heldEvents, iterator, reader, observer });
    return await pipeStream(deps, ctx, response, { raw, held, iterator, reader, observer });
  } finally {
    deps.metrics?.activeStreams.dec({ transport: 'http_sse' });
  }
}

async function pipeStream(
  deps: GatewayDeps,
  ctx: AttemptContext,
  response: Dispatcher.ResponseData,
  state: { raw: FastifyReply['raw']; held: Buffer[]; iterator: AsyncIterator<Buffer>; reader: SseReader; observer: StreamObserver },
): Promise<AttemptOutcome> {
  const { raw, held, iterator, reader, observer } = state;
  const outcome = (value: AttemptOutcome & { kind: 'done' }): AttemptOutcome => {
    deps.metrics?.streamOutcomeCount.inc({ outcome: value.cancelled ? 'interrupted' : value.errorCode ? 'failed' : 'succeeded', downstream_transport: 'http_sse', upstream_transport: 'http_sse' });
    deps.metrics?.streamFinalizationCount.inc({ usage_status: value.usage ? 'usage_known' : 'usage_unknown', usage_source: 'upstream_usage', downstream_transport: 'http_sse', upstream_transport: 'http_sse' });
    return value;
  };
  ctx.reply.hijack();
  raw.writeHead(200, {
    ...relayedHeaders(response.headers, 'text/event-stream'),
    'cache-control': 'no-cache',
    'x-request-id': ctx.request.id,
    ...(ctx.plan.modelsEtag ? { 'x-models-etag': ctx.plan.modelsEtag } : {}),
  });
  ctx.markFirstByte();
  try {
    for (const chunk of held) if (!raw.write(chunk)) await once(raw, 'drain', { signal: ctx.signal });
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      for (const event of reader.push(next.value)) observer.observe(event);
      if (!raw.write(next.value)) await once(raw, 'drain', { signal: ctx.signal });
    }
    for (const event of reader.end()) observer.observe(event);
    raw.end();
  } catch (error) {
    response.body.destroy();
    if (ctx.signal.aborted) return outcome({ kind: 'done', status: 200, usage: observer.usage, errorCode: 'client_disconnected', cancelled: true });
    // Bytes already reached the client: no failover; the client sees the stream end.
    deps.log.warn({ err: error, account: ctx.candidate.assignmentId }, 'upstream stream failed mid-way');
    raw.destroy();
    return outcome({ kind: 'done', status: 200, usage: observer.usage, errorCode: 'upstream_stream_error' });
  }
  return outcome({ kind: 'done', status: 200, usage: observer.usage, errorCode: observer.failureCode ?? (observer.completed ? null : 'stream_incomplete') });
}

type StreamState = { heldEvents: SseEvent[]; iterator: AsyncIterator<Buffer>; reader: SseReader; observer: StreamObserver };

/** `/v1` streaming: upstream events translated into the client's frames as they arrive. */
async function pipeTranslated(deps: GatewayDeps, ctx: AttemptContext, response: Dispatcher.ResponseData, relay: Extract<ClientRelay, { mode: 'stream' }>, state: StreamState): Promise<AttemptOutcome> {
  const { heldEvents, iterator, reader, observer } = state;
  const raw = ctx.reply.raw;
  ctx.reply.hijack();
  raw.writeHead(200, { 'content-type': relay.contentType, 'cache-control': 'no-cache', 'x-request-id': ctx.request.id });
  ctx.markFirstByte();
  const write = async (frames: string[]) => {
    if (frames.length > 0 && !raw.write(frames.join(''))) await once(raw, 'drain', { signal: ctx.signal });
  };
  try {
    await write(heldEvents.flatMap((event) => relay.onEvent(event)));
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      const events = reader.push(next.value);
      for (const event of events) observer.observe(event);
      await write(events.flatMap((event) => relay.onEvent(event)));
    }
    const tail = reader.end();
    for (const event of tail) observer.observe(event);
    await write([...tail.flatMap((event) => relay.onEvent(event)), ...relay.finish()]);
    raw.end();
  } catch (error) {
    response.body.destroy();
    if (ctx.signal.aborted) return { kind: 'done', status: 200, usage: observer.usage, errorCode: 'client_disconnected', cancelled: true };
    deps.log.warn({ err: error, account: ctx.candidate.assignmentId }, 'upstream stream failed mid-way');
    // Tell the client in its own protocol, then end: no failover once bytes were sent.
    if (!raw.destroyed) raw.end(relay.finish().join(''));
    return { kind: 'done', status: 200, usage: observer.usage, errorCode: 'upstream_stream_error' };
  }
  return { kind: 'done', status: 200, usage: observer.usage, errorCode: observer.failureCode ?? (observer.completed ? null : 'stream_incomplete') };
}

/** `/v1` without streaming: the whole upstream stream assembled into one JSON answer. */
async function collectToJson(_deps: GatewayDeps, ctx: AttemptContext, response: Dispatcher.ResponseData, relay: Extract<ClientRelay, { mode: 'json' }>, state: StreamState): Promise<AttemptOutcome> {
  const { heldEvents, iterator, reader, observer } = state;
  try {
    for (const event of heldEvents) relay.onEvent(event);
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      for (const event of reader.push(next.value)) {
        observer.observe(event);
        relay.onEvent(event);
      }
    }
    for (const event of reader.end()) {
      observer.observe(event);
      relay.onEvent(event);
    }
  } catch {
    response.body.destroy();
    if (ctx.signal.aborted) return { kind: 'done', status: 499, usage: observer.usage, errorCode: 'client_disconnected', cancelled: true };
  }
  const result = relay.result();
  ctx.reply.hijack();
  ctx.markFirstByte();
  ctx.reply.raw.writeHead(result.status, { 'content-type': 'application/json', 'x-request-id': ctx.request.id });
  ctx.reply.raw.end(JSON.stringify(result.body));
  return { kind: 'done', status: result.status, usage: observer.usage, errorCode: result.status >= 400 ? (observer.failureCode ?? 'upstream_response_missing') : null };
}

/** Reads what accounting and routing need from a relayed stream: usage, quota, the terminal. */
class StreamObserver {
  usage: TokenUsage | null = null;
  failureCode: string | null = null;
  completed = false;
  #deps: GatewayDeps;
  #candidate: Candidate;

  constructor(deps: GatewayDeps, candidate: Candidate) {
    this.#deps = deps;
    this.#candidate = candidate;
  }

  observe(event: SseEvent): void {
    switch (event.type) {
      case 'response.completed':
      case 'response.done':
      case 'response.incomplete': {
        this.completed = true;
        const data = parseEventData(event);
        this.usage = usageFromPayload(data) ?? this.usage;
        const id = (data?.response as { id?: unknown } | undefined)?.id;
        if (typeof id === 'string') this.#deps.routing.rememberOwner(id, this.#candidate.assignmentId);
        return;
      }
      case 'response.output_item.done': {
        // Encrypted reasoning can only be read by the account that wrote it.
        const item = parseEventData(event)?.item as { type?: unknown; id?: unknown } | undefined;
        if (item?.type === 'reasoning' && typeof item.id === 'string') this.#deps.routing.rememberOwner(item.id, this.#candidate.assignmentId);
        return;
      }
      case 'codex.rate_limits': {
        const now = new Date(this.#deps.now());
        const windows = quotaFromRateLimitEvent(parseEventData(event), now);
        if (windows.length) this.#deps.quota.record({ identityId: this.#candidate.identityId, windows, observedAt: now });
        return;
      }
      default:
        if (isFailureType(event.type)) {
          const data = parseEventData(event);
          this.failureCode = failureCode(data);
          this.completed = true;
          if (this.failureCode === 'usage_limit_reached' || this.failureCode === 'usage_limit_exceeded') {
            const now = new Date(this.#deps.now());
            const resetAt = usageLimitResetAt(429, data?.response && typeof data.response === 'object' ? (data.response as Record<string, unknown>) : data, {}, now) ?? usageLimitResetAt(429, data, {}, now);
            this.#deps.routing.markCooldown(this.#candidate, resetAt ? resetAt.getTime() : this.#deps.now() + DEMOTION_MS, 'usage_limit_reached');
            this.#deps.metrics?.cooldownCount.inc({ reason: 'usage_limit_reached' });
          }
        }
    }
  }
}
