/**
 * The ledger's view of one request, written once so every reader (rollups, live usage, the
 * Observatory) applies the same cost rules: the settled cost of its recorded settlement, the
 * estimate of a reservation nothing settled or released yet, and whether the settlement was
 * unpriced.
 */
import { sql } from 'kysely';

/**
 * Joins each request `r` to its recorded ledger totals as `l`: `l.settled_cost_micros`,
 * `l.estimated_cost_micros` (0 once the reservation is closed) and `l.unpriced`. An aggregate
 * without GROUP BY always yields one row, so a request without ledger entries gets 0, 0, false.
 */
export const requestLedgerTotals = sql`LEFT JOIN LATERAL (
  SELECT
    coalesce(sum(e.settled_cost_micros) FILTER (WHERE e.entry_kind = 'settlement'), 0) AS settled_cost_micros,
    CASE WHEN coalesce(bool_or(e.entry_kind IN ('settlement', 'release')), false) THEN 0
      ELSE coalesce(sum(e.estimated_cost_micros) FILTER (WHERE e.entry_kind = 'reservation'), 0) END AS estimated_cost_micros,
    coalesce(bool_or(e.entry_kind = 'settlement' AND (e.details->>'unpriced') = 'true'), false) AS unpriced
  FROM ledger_entries e
  WHERE e.request_id = r.id AND e.amount_status = 'recorded'
) l ON true`;
