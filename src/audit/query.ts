import { sql } from 'kysely';
import { beforeCursor, decodeCursor, encodeCursor, microsOf } from '../db/cursor.ts';
import type { Db } from '../db/index.ts';
import { invalidInput } from '../errors.ts';
import { sanitizeDetails } from './sanitize.ts';

/** Which events a reader may see: `null` pools = every event, including those outside any Pool. */
export type AuditVisibility = { poolIds: readonly string[] | null };

export type AuditFilter = {
  /** Exact action, or a prefix when it ends with `.` (`auth.` = every sign-in event). */
  action?: string;
  poolId?: string;
  actorUserId?: string;
  actorType?: 'user' | 'system';
  outcome?: 'success' | 'failure';
  targetType?: string;
  targetId?: string;
  correlationId?: string;
  from?: Date;
  to?: Date;
  cursor?: string;
  limit?: number;
};

export type AuditEventView = {
  id: string;
  occurred_at: Date;
  actor_type: 'user' | 'system';
  actor_user_id: string | null;
  actor_label: string | null;
  pool_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  outcome: 'success' | 'failure';
  correlation_id: string | null;
  ip_address: string | null;
  details: Record<string, unknown>;
};

export type AuditPage = { items: AuditEventView[]; next_cursor: string | null };

/** Newest first, keyset-paginated by (occurred_at, id); details are sanitized again on the way out. */
export async function listAuditEvents(db: Db, visibility: AuditVisibility, filter: AuditFilter = {}): Promise<AuditPage> {
  const limit = Math.min(Math.max(filter.limit ?? 50, 1), 200);
  let query = db
    .selectFrom('audit_events')
    .select(['id', 'occurred_at', 'actor_type', 'actor_user_id', 'actor_label', 'pool_id', 'action', 'target_type', 'target_id', 'outcome', 'correlation_id', 'ip_address', 'details'])
    .select(microsOf('occurred_at').as('occurred_micros'))
    .orderBy('occurred_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (visibility.poolIds !== null) {
    if (visibility.poolIds.length === 0) return { items: [], next_cursor: null };
    query = query.where('pool_id', 'in', [...visibility.poolIds]);
  }
  if (filter.action) {
    query = filter.action.endsWith('.')
      ? query.where(sql`left(action, ${filter.action.length})`, '=', filter.action)
      : query.where('action', '=', filter.action);
  }
  if (filter.poolId) query = query.where('pool_id', '=', filter.poolId);
  if (filter.actorUserId) query = query.where('actor_user_id', '=', filter.actorUserId);
  if (filter.actorType) query = query.where('actor_type', '=', filter.actorType);
  if (filter.outcome) query = query.where('outcome', '=', filter.outcome);
  if (filter.targetType) query = query.where('target_type', '=', filter.targetType);
  if (filter.targetId) query = query.where('target_id', '=', filter.targetId);
  if (filter.correlationId) query = query.where('correlation_id', '=', filter.correlationId);
  if (filter.from) query = query.where('occurred_at', '>=', filter.from);
  if (filter.to) query = query.where('occurred_at', '<', filter.to);
  if (filter.cursor) {
    const cursor = decodeCursor(filter.cursor);
    if (!cursor) throw invalidInput('cursor is not valid; start again without it', 'cursor');
    query = query.where(beforeCursor('occurred_at', 'id', cursor));
  }
  const rows = await query.execute();
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map(({ occurred_micros: _micros, details, ...row }) => ({ ...row, details: sanitizeDetails(details) })),
    next_cursor: rows.length > limit && last ? encodeCursor({ micros: last.occurred_micros, id: last.id }) : null,
  };
}
