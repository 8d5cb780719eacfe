import { jsonb } from '../../db/index.ts';
import type { AuthenticatedKey } from '../../api-keys/index.ts';
import type { Candidate } from '../../routing/index.ts';
import type { NewAttemptRow } from '../request-log.table.ts';
import type { RequestLogRecord, ReservationRecord } from '../request-log-writer.ts';
import type { TokenUsage } from '../usage.ts';
import type { Surface } from './codecs.ts';

export type TurnStatus = 'succeeded' | 'failed' | 'rejected' | 'cancelled';

/** Everything one websocket turn leaves behind: metadata only, never a frame's content. */
export type TurnFacts = {
  requestId: string;
  key: AuthenticatedKey;
  surface: Surface;
  requestedModel: string;
  upstreamModel: string;
  serviceTier: string | null;
  requestBytes: number;
  clientIp: string | null;
  userAgent: string | null;
  clientRequestId: string;
  sessionId: string;
  status: TurnStatus;
  statusCode: number | null;
  errorCode: string | null;
  usage: TokenUsage | null;
  candidate: Candidate | null;
  attempts: NewAttemptRow[];
  startedAt: number;
  firstByteAt: number | null;
  endedAt: number;
  routingReason: string | null;
  connection: { reused: boolean; forwarded: boolean };
  /** Whether the turn's reservation was queued before its upstream call. */
  reserved?: boolean;
};

/** What is known of a turn when it is admitted, before its upstream call. */
export type TurnAdmission = Pick<TurnFacts, 'requestId' | 'key' | 'surface' | 'requestedModel' | 'upstreamModel' | 'serviceTier' | 'requestBytes' | 'clientIp' | 'userAgent' | 'clientRequestId' | 'sessionId' | 'startedAt'>;

/** A turn's provisional request row (`in_progress`) and its reservation, queued before the upstream call. */
export function turnReservation(admission: TurnAdmission): ReservationRecord {
  const record = turnRecord({
    ...admission,
    status: 'succeeded',
    statusCode: null,
    errorCode: null,
    usage: null,
    candidate: null,
    attempts: [],
    firstByteAt: null,
    endedAt: admission.startedAt,
    routingReason: null,
    connection: { reused: false, forwarded: false },
  });
  return {
    request: { ...record.request, status: 'in_progress', usage_status: 'usage_pending', completed_at: null, latency_ms: null },
    ledger: { ...record.ledger!, served: false },
  };
}

/** The request row, attempts and ledger facts of one turn, in the shape the request-log writer takes. */
export function turnRecord(facts: TurnFacts): RequestLogRecord {
  const { key, candidate, usage } = facts;
  const rejected = facts.status === 'rejected';
  return {
    request: {
      id: facts.requestId,
      pool_id: key.poolId,
      api_key_id: key.id,
      pool_upstream_assignment_id: candidate?.assignmentId ?? null,
      upstream_identity_id: candidate?.identityId ?? null,
      model_id: facts.upstreamModel,
      requested_model: facts.requestedModel,
      // Both surfaces account as the canonical backend path (runtime spec §11).
      endpoint: '/backend-api/codex/responses',
      method: 'GET',
      transport: 'websocket',
      status: facts.status,
      usage_status: usage ? 'usage_known' : rejected ? 'not_applicable' : 'usage_unknown',
      correlation_id: facts.requestId,
      client_ip: facts.clientIp,
      user_agent: facts.userAgent?.slice(0, 160) ?? null,
      request_metadata: jsonb({
        key_prefix: key.prefix,
        client_request_id: facts.clientRequestId,
        requested_stream: true,
        request_bytes: facts.requestBytes,
        attempts: facts.attempts.length,
        routing_reason: facts.routingReason,
        codex_session_id: facts.sessionId,
        websocket: facts.connection,
        ...(facts.surface === 'v1' ? { openai_compatibility: { surface: 'openai_v1', source_endpoint: '/v1/responses' } } : {}),
      }),
      admitted_at: new Date(facts.startedAt),
      completed_at: new Date(facts.endedAt),
      response_status_code: facts.statusCode,
      retry_count: Math.max(0, facts.attempts.length - 1),
      last_error_code: facts.errorCode,
      latency_ms: facts.endedAt - facts.startedAt,
      time_to_first_byte_ms: facts.firstByteAt === null ? null : facts.firstByteAt - facts.startedAt,
      input_tokens: usage?.inputTokens ?? null,
      cached_input_tokens: usage?.cachedInputTokens ?? null,
      output_tokens: usage?.outputTokens ?? null,
      reasoning_tokens: usage?.reasoningTokens ?? null,
      total_tokens: usage?.totalTokens ?? null,
      upstream_account_label: candidate?.label ?? null,
      upstream_account_email: candidate?.email ?? null,
      upstream_plan: candidate?.plan ?? null,
      reasoning_effort: null,
      service_tier: facts.serviceTier,
      requested_service_tier: facts.serviceTier,
      actual_service_tier: null,
      routing_reason: facts.routingReason,
    },
    attempts: facts.attempts,
    // A turn refused before it was reserved leaves no ledger row; a reserved one always settles or releases.
    ledger: rejected && !facts.reserved
      ? undefined
      : {
          requestId: facts.requestId,
          attemptId: (facts.attempts.at(-1)?.id as string | undefined) ?? null,
          poolId: key.poolId,
          apiKeyId: key.id,
          assignmentId: candidate?.assignmentId ?? null,
          identityId: candidate?.identityId ?? null,
          model: facts.upstreamModel,
          serviceTier: facts.serviceTier,
          transport: 'websocket',
          estimatedInputTokens: Math.ceil(facts.requestBytes / 4),
          usage,
          served: usage !== null || facts.status === 'succeeded',
          occurredAt: new Date(facts.endedAt),
        },
  };
}
