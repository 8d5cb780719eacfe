import { sql } from 'kysely';
import { sanitizeDetails } from '../audit/index.ts';
import { beforeCursor, decodeCursor, encodeCursor, microsOf } from '../db/cursor.ts';
import type { Db } from '../db/index.ts';
import { invalidInput } from '../errors.ts';

/** Pools whose request logs a reader may see: `null` = every Pool. */
export type RequestLogVisibility = { poolIds: readonly string[] | null };

export type RequestLogFilter = {
  poolId?: string;
  apiKeyId?: string;
  /** The Pool's upstream account (assignment id, as the accounts endpoints use). */
  accountId?: string;
  model?: string;
  /** A request status word (`succeeded`, `failed`…) or an HTTP status code (`429`). */
  status?: string;
  correlationId?: string;
  from?: Date;
  to?: Date;
  cursor?: string;
  limit?: number;
};

/** One request as operators see it: metadata only, never prompts, bodies or idempotency keys. */
export type RequestLogView = {
  id: string;
  correlation_id: string;
  pool_id: string | null;
  api_key_id: string | null;
  api_key_prefix: string | null;
  api_key_label: string | null;
  account_id: string | null;
  account_label: string | null;
  account_plan: string | null;
  model: string | null;
  requested_model: string | null;
  endpoint: string;
  transport: string;
  status: string;
  response_status_code: number | null;
  usage_status: string;
  reasoning_effort: string | null;
  service_tier: string | null;
  retry_count: number;
  last_error_code: string | null;
  latency_ms: number | null;
  time_to_first_byte_ms: number | null;
  tokens: { input: number | null; cached_input: number | null; output: number | null; reasoning: number | null; total: number | null };
  client_ip: string | null;
  user_agent: string | null;
  metadata: Record<string, unknown>;
  admitted_at: Date;
  completed_at: Date | null;
};

const STATUS_WORDS = new Set(['accepted', 'in_progress', 'succeeded', 'failed', 'rejected', 'cancelled']);
const num = (value: number | string | null): number | null => (value === null ? null : Number(value));

export function requestLogsQuery(db: Db, visibility: RequestLogVisibility) {
  let query = db
    .selectFrom('requests as r')
    .leftJoin('api_keys as k', 'k.id', 'r.api_key_id')
    .selectAll('r')
    .select(['k.key_prefix as api_key_prefix', 'k.display_name as api_key_label']);
  if (visibility.poolIds !== null) query = query.where('r.pool_id', 'in', visibility.poolIds.length ? [...visibility.poolIds] : ['00000000-0000-0000-0000-000000000000']);
  return query;
}

type RequestLogRow = Awaited<ReturnType<ReturnType<typeof requestLogsQuery>['execute']>>[number];

export function toRequestLogView(row: RequestLogRow): RequestLogView {
  return {
    id: row.id,
    correlation_id: row.correlation_id,
    pool_id: row.pool_id,
    api_key_id: row.api_key_id,
    api_key_prefix: row.api_key_prefix,
    api_key_label: row.api_key_label,
    account_id: row.pool_upstream_assignment_id,
    account_label: row.upstream_account_label,
    account_plan: row.upstream_plan,
    model: row.model_id,
    requested_model: row.requested_model,
    endpoint: row.endpoint,
    transport: row.transport,
    status: row.status,
    response_status_code: row.response_status_code,
    usage_status: row.usage_status,
    reasoning_effort: row.reasoning_effort,
    service_tier: row.actual_service_tier ?? row.service_tier,
    retry_count: row.retry_count,
    last_error_code: row.last_error_code,
    latency_ms: row.latency_ms,
    time_to_first_byte_ms: row.time_to_first_byte_ms,
    tokens: { input: num(row.input_tokens), cached_input: num(row.cached_input_tokens), output: num(row.output_tokens), reasoning: num(row.reasoning_tokens), total: num(row.total_tokens) },
    client_ip: row.client_ip,
    user_agent: row.user_agent,
    metadata: sanitizeDetails(row.request_metadata),
    admitted_at: row.admitted_at,
    completed_at: row.completed_at,
  };
}

export type RequestLogPage = { items: RequestLogView[]; next_cursor: string | null };

/** Newest first by (admitted_at, id), filtered and keyset-paginated. */
export async function listRequestLogs(db: Db, visibility: RequestLogVisibility, filter: RequestLogFilter = {}): Promise<RequestLogPage> {
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), 200);
  let query = requestLogsQuery(db, visibility).select(microsOf('r.admitted_at').as('admitted_micros')).orderBy('r.admitted_at', 'desc').orderBy('r.id', 'desc').limit(limit + 1);
  if (filter.poolId) query = query.where('r.pool_id', '=', filter.poolId);
  if (filter.apiKeyId) query = query.where('r.api_key_id', '=', filter.apiKeyId);
  if (filter.accountId) query = query.where('r.pool_upstream_assignment_id', '=', filter.accountId);
  if (filter.model) query = query.where((eb) => eb.or([eb(sql`lower(r.model_id)`, '=', filter.model!.toLowerCase()), eb(sql`lower(r.requested_model)`, '=', filter.model!.toLowerCase())]));
  if (filter.status) {
    if (/^\d{3}$/.test(filter.status)) query = query.where('r.response_status_code', '=', Number(filter.status));
    else if (STATUS_WORDS.has(filter.status)) query = query.where('r.status', '=', filter.status as RequestLogRow['status']);
    else throw invalidInput('status must be a request status (succeeded, failed, rejected, cancelled, in_progress, accepted) or an HTTP status code', 'status');
  }
  if (filter.correlationId) query = query.where('r.correlation_id', '=', filter.correlationId);
  if (filter.from) query = query.where('r.admitted_at', '>=', filter.from);
  if (filter.to) query = query.where('r.admitted_at', '<', filter.to);
  if (filter.cursor) {
    const cursor = decodeCursor(filter.cursor);
    if (!cursor) throw invalidInput('cursor is not valid; start again without it', 'cursor');
    query = query.where(beforeCursor('r.admitted_at', 'r.id', cursor));
  }
  const rows = await query.execute();
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return { items: page.map(toRequestLogView), next_cursor: rows.length > limit && last ? encodeCursor({ micros: last.admitted_micros, id: last.id }) : null };
}

/**
 * Rows written after `since` (their insertion time), oldest first: what the live view polls. Rows
 * land in batches after they finish, so callers re-read a short overlap and skip ids already sent.
 */
export async function requestLogsWrittenSince(db: Db, visibility: RequestLogVisibility, since: Date, filter: Pick<RequestLogFilter, 'poolId'> = {}, limit = 200): Promise<Array<RequestLogView & { written_at: Date }>> {
  let query = requestLogsQuery(db, visibility).where('r.created_at', '>', since).orderBy('r.created_at').orderBy('r.id').limit(limit);
  if (filter.poolId) query = query.where('r.pool_id', '=', filter.poolId);
  const rows = await query.execute();
  return rows.map((row) => ({ ...toRequestLogView(row), written_at: row.created_at }));
}
