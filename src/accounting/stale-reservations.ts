import { sql } from 'kysely';
import type { Db } from '../db/index.ts';

/**
 * A reservation this old without a settlement or release, whose request row nobody touched for as
 * long, belongs to a request no process will finish. Running requests are kept fresh by their
 * process (the request-log writer's heartbeat), so a stream longer than this is not mistaken for one.
 */
export const STALE_RESERVATION_MS = 60 * 60_000;
const BATCH = 1000;

export type StaleReservationResult = { released: number; failed_requests: number };

/**
 * Recovers reservations a crashed process left open (spec §7.3, §9 RuntimeStateCleanup): each gets a
 * release mirroring its estimate (`details.reason = stale_reservation`), and its request row, still
 * `in_progress`, becomes `failed` with `reservation_expired`. Idempotent by the release's source
 * event id: a request that finishes meanwhile keeps its own settlement.
 */
export async function releaseStaleReservations(db: Db, opts: { now?: Date; olderThanMs?: number } = {}): Promise<StaleReservationResult> {
  const now = opts.now ?? new Date();
  const cutoff = new Date(now.getTime() - (opts.olderThanMs ?? STALE_RESERVATION_MS));
  const result = await sql<{ released: string; failed_requests: string }>`
    WITH stale AS (
      SELECT e.* FROM ledger_entries e
      WHERE e.entry_kind = 'reservation' AND e.amount_status = 'recorded' AND e.occurred_at < ${cutoff} AND e.request_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM ledger_entries c WHERE c.request_id = e.request_id AND c.entry_kind IN ('settlement', 'release'))
        AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = e.request_id AND r.updated_at >= ${cutoff})
      ORDER BY e.occurred_at
      LIMIT ${BATCH}
    ), released AS (
      INSERT INTO ledger_entries (request_id, pricing_snapshot_id, pool_id, api_key_id, pool_upstream_assignment_id, upstream_identity_id, model,
        entry_kind, usage_status, transport, input_tokens, total_tokens, request_count, estimated_cost_micros, source_event_id, occurred_at, details)
      SELECT request_id, pricing_snapshot_id, pool_id, api_key_id, pool_upstream_assignment_id, upstream_identity_id, model,
        'release', 'not_applicable', transport, input_tokens, total_tokens, 1, estimated_cost_micros, 'request:' || request_id || ':release', ${now},
        jsonb_build_object('reason', 'stale_reservation', 'unpriced', coalesce(details->'unpriced', 'false'::jsonb))
      FROM stale
      ON CONFLICT (source_event_id) DO NOTHING
      RETURNING request_id
    ), failed AS (
      UPDATE requests r SET status = 'failed', usage_status = 'usage_unknown', last_error_code = 'reservation_expired', completed_at = ${now}, updated_at = ${now}
      FROM released WHERE r.id = released.request_id AND r.status IN ('accepted', 'in_progress')
      RETURNING r.id
    )
    SELECT (SELECT count(*) FROM released) AS released, (SELECT count(*) FROM failed) AS failed_requests`.execute(db);
  const row = result.rows[0];
  return { released: Number(row?.released ?? 0), failed_requests: Number(row?.failed_requests ?? 0) };
}
