import { jsonb, type Db, type Tx } from '../db/index.ts';
import { sanitizeDetails } from './sanitize.ts';

/** Who acted; `context` (client IP, HTTP request id) is filled by the admin API and lands on every audit row. */
export type Actor = ({ type: 'user'; userId: string; label: string | null } | { type: 'system'; label: string }) & { context?: ActorContext };
export type ActorContext = { ipAddress: string | null; correlationId: string | null };

export type AuditEntry = {
  actor: Actor;
  action: string;
  poolId?: string | null;
  targetType?: string | null;
  targetId?: string | null;
  outcome?: 'success' | 'failure';
  ipAddress?: string | null;
  correlationId?: string | null;
  details?: Record<string, unknown>;
};

/** Writes one audit row in the caller's transaction, so the audit and the change commit together. */
export async function recordAudit(db: Db | Tx, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit_events')
    .values({
      actor_type: entry.actor.type,
      actor_user_id: entry.actor.type === 'user' ? entry.actor.userId : null,
      actor_label: entry.actor.label,
      pool_id: entry.poolId ?? null,
      request_id: null,
      action: entry.action,
      target_type: entry.targetType ?? null,
      target_id: entry.targetId ?? null,
      outcome: entry.outcome ?? 'success',
      correlation_id: entry.correlationId ?? entry.actor.context?.correlationId ?? null,
      ip_address: entry.ipAddress ?? entry.actor.context?.ipAddress ?? null,
      details: jsonb(sanitizeDetails(entry.details ?? {})),
    })
    .execute();
}
