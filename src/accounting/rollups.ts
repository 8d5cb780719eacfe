/**
 * Daily rollups (spec §2.6, §7.3): one row per UTC day, Pool and dimension (the Pool itself, API key,
 * assignment, upstream identity, model) with request counts, token sums and costs.
 *
 * A request is accounted on the UTC day it was admitted, with everything the ledger recorded for it:
 * counts and tokens from `requests`, the settled cost from its recorded settlement, the estimate of a
 * reservation nothing settled or released yet, and whether the settlement was unpriced. Rebuilding a
 * day and reading live rows use the same per-request facts, so the two always agree.
 *
 * Coverage: a rebuilt past day is trusted (`daily_rollup_coverages.completed_at`) until a request or
 * ledger row of that day is written or changed; triggers (migration 2026_11_27_003) then bump its
 * `mutation_version` and clear `completed_at`, and readers fall back to live rows for that day.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/index.ts';
import { PoolerError } from '../errors.ts';
import { requestLedgerTotals } from './request-ledger.ts';

export const ROLLUP_CONTRACT_VERSION = 2;
export const ROLLUP_DIMENSIONS = ['pool', 'api_key', 'pool_upstream_assignment', 'upstream_identity', 'model'] as const;
export type RollupDimension = (typeof ROLLUP_DIMENSIONS)[number];

const DAY_MS = 86_400_000;
const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

/** A UTC calendar day as `YYYY-MM-DD`. */
export type UtcDay = string;

export const utcDayOf = (date: Date): UtcDay => date.toISOString().slice(0, 10);
export const dayStart = (day: UtcDay): Date => new Date(`${day}T00:00:00.000Z`);
export const addDays = (day: UtcDay, days: number): UtcDay => utcDayOf(new Date(dayStart(day).getTime() + days * DAY_MS));

/** Accepts `YYYY-MM-DD` (a real calendar day) or a Date (its UTC day). */
export function parseUtcDay(value: string | Date, param = 'date'): UtcDay {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new PoolerError('invalid_request', `${param} is not a valid date`, { param });
    return utcDayOf(value);
  }
  const day = value.trim();
  if (!DAY_PATTERN.test(day) || Number.isNaN(dayStart(day).getTime()) || utcDayOf(dayStart(day)) !== day) {
    throw new PoolerError('invalid_request', `${param} must be a calendar day written YYYY-MM-DD (UTC), got "${value}"`, { param });
  }
  return day;
}

export type TimeRange = { start: Date; end: Date };

/**
 * One row per request admitted in the ranges (half-open), with the ledger's view of it. Only rows
 * with a Pool count (a rollup row always has one). `model` is lowercased.
 */
export function requestFacts(ranges: readonly TimeRange[], poolIds: readonly string[] | null): RawBuilder<unknown> {
  const inRanges = sql.join(
    ranges.map((r) => sql`(r.admitted_at >= ${r.start} AND r.admitted_at < ${r.end})`),
    sql` OR `,
  );
  const poolFilter = poolIds === null ? sql`` : poolIds.length === 0 ? sql`AND false` : sql`AND r.pool_id IN (${sql.join(poolIds.map((id) => sql`${id}::uuid`))})`;
  return sql`(
    SELECT
      to_char(r.admitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
      r.pool_id,
      r.api_key_id,
      r.pool_upstream_assignment_id,
      r.upstream_identity_id,
      lower(coalesce(r.model_id, r.requested_model)) AS model,
      r.status,
      r.retry_count,
      coalesce(r.input_tokens, 0) AS input_tokens,
      coalesce(r.cached_input_tokens, 0) AS cached_input_tokens,
      coalesce(r.output_tokens, 0) AS output_tokens,
      coalesce(r.reasoning_tokens, 0) AS reasoning_tokens,
      coalesce(r.total_tokens, 0) AS total_tokens,
      l.settled_cost_micros,
      l.estimated_cost_micros,
      l.unpriced
    FROM requests r
    ${requestLedgerTotals}
    WHERE (${inRanges}) AND r.pool_id IS NOT NULL ${poolFilter}
  )`;
}

/** The measures of a group of facts, in the rollup's column names. */
export const FACT_MEASURES = sql`
  count(*) AS request_count,
  count(*) FILTER (WHERE f.status <> 'rejected') AS admitted_request_count,
  count(*) FILTER (WHERE f.status = 'succeeded') AS success_count,
  count(*) FILTER (WHERE f.status IN ('failed', 'rejected', 'cancelled')) AS failure_count,
  coalesce(sum(f.retry_count), 0) AS retry_count,
  coalesce(sum(f.input_tokens), 0) AS input_tokens,
  coalesce(sum(f.cached_input_tokens), 0) AS cached_input_tokens,
  coalesce(sum(f.output_tokens), 0) AS output_tokens,
  coalesce(sum(f.reasoning_tokens), 0) AS reasoning_tokens,
  coalesce(sum(f.total_tokens), 0) AS total_tokens,
  coalesce(sum(f.estimated_cost_micros), 0) AS estimated_cost_micros,
  coalesce(sum(f.settled_cost_micros), 0) AS settled_cost_micros,
  count(*) FILTER (WHERE f.unpriced) AS unpriced_request_count`;

/**
 * Each fact once per dimension; a request without a key, account or model is left out of that
 * dimension (the Pool dimension always has it, so readers derive the unattributed remainder).
 */
const DIMENSIONS_OF_FACT = sql`(VALUES
  ('pool', f.pool_id::text),
  ('api_key', f.api_key_id::text),
  ('pool_upstream_assignment', f.pool_upstream_assignment_id::text),
  ('upstream_identity', f.upstream_identity_id::text),
  ('model', f.model)
) AS d(kind, id)`;

export type RollupTotals = {
  requests: number;
  admitted: number;
  succeeded: number;
  failed: number;
  retries: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  totalTokens: number;
  estimatedCostMicros: number;
  settledCostMicros: number;
  unpricedRequests: number;
};

export type RollupRebuildResult = {
  date: UtcDay;
  /** Rows written for the day, all dimensions together. */
  rows: number;
  /** Whether the day is now trusted: false for today, or when its rows changed during the rebuild. */
  covered: boolean;
  /** The Pool dimension summed over Pools (the day's totals). */
  totals: RollupTotals;
};

type MeasureRow = Record<
  | 'request_count'
  | 'admitted_request_count'
  | 'success_count'
  | 'failure_count'
  | 'retry_count'
  | 'input_tokens'
  | 'cached_input_tokens'
  | 'output_tokens'
  | 'reasoning_tokens'
  | 'total_tokens'
  | 'estimated_cost_micros'
  | 'settled_cost_micros'
  | 'unpriced_request_count',
  string | number | null
>;

export function totalsOf(row: MeasureRow | undefined): RollupTotals {
  const n = (v: string | number | null | undefined) => Number(v ?? 0);
  return {
    requests: n(row?.request_count),
    admitted: n(row?.admitted_request_count),
    succeeded: n(row?.success_count),
    failed: n(row?.failure_count),
    retries: n(row?.retry_count),
    inputTokens: n(row?.input_tokens),
    cachedInputTokens: n(row?.cached_input_tokens),
    outputTokens: n(row?.output_tokens),
    reasoningTokens: n(row?.reasoning_tokens),
    totalTokens: n(row?.total_tokens),
    estimatedCostMicros: n(row?.estimated_cost_micros),
    settledCostMicros: n(row?.settled_cost_micros),
    unpricedRequests: n(row?.unpriced_request_count),
  };
}

/**
 * Recomputes one UTC day in one transaction: delete the day's rollups, insert them again from the
 * source rows, then publish its coverage (contract version 2) unless the day's rows changed
 * meanwhile (the coverage's mutation_version moved) or the day is not over yet. Idempotent.
 */
export async function rebuildDailyRollups(db: Db, date: string | Date, opts: { now?: Date } = {}): Promise<RollupRebuildResult> {
  const day = parseUtcDay(date);
  const now = opts.now ?? new Date();
  const today = utcDayOf(now);
  if (day > today) throw new PoolerError('invalid_request', `cannot roll up ${day}: it is in the future (today is ${today} UTC)`, { param: 'date' });
  const range = { start: dayStart(day), end: dayStart(addDays(day, 1)) };
  return db.transaction().execute(async (tx) => {
    // Two rebuilds of one day queue up rather than interleave their delete and insert.
    await sql`SELECT pg_advisory_xact_lock(hashtext('codex_pooler.daily_rollup'), hashtext(${day}))`.execute(tx);
    await sql`INSERT INTO daily_rollup_coverages (rollup_date, contract_version, completed_at, mutation_version)
              VALUES (${day}::date, ${ROLLUP_CONTRACT_VERSION}, NULL, 0) ON CONFLICT (rollup_date) DO NOTHING`.execute(tx);
    const captured = await sql<{ mutation_version: string }>`SELECT mutation_version FROM daily_rollup_coverages WHERE rollup_date = ${day}::date`.execute(tx);
    const version = captured.rows[0]!.mutation_version;

    await sql`DELETE FROM daily_rollups WHERE rollup_date = ${day}::date`.execute(tx);
    const inserted = await sql<MeasureRow & { dimension_kind: RollupDimension }>`
      INSERT INTO daily_rollups (
        rollup_date, dimension_kind, pool_id, dimension_id,
        request_count, admitted_request_count, success_count, failure_count, retry_count,
        input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, total_tokens,
        estimated_cost_micros, settled_cost_micros, unpriced_request_count, rounded_settled_cost_micros,
        created_at, updated_at)
      SELECT ${day}::date, g.kind, g.pool_id, g.id,
        g.request_count, g.admitted_request_count, g.success_count, g.failure_count, g.retry_count,
        g.input_tokens, g.cached_input_tokens, g.output_tokens, g.reasoning_tokens, g.total_tokens,
        g.estimated_cost_micros, g.settled_cost_micros, g.unpriced_request_count, round(g.settled_cost_micros),
        ${now}, ${now}
      FROM (
        SELECT d.kind, f.pool_id, d.id, ${FACT_MEASURES}
        FROM ${requestFacts([range], null)} f CROSS JOIN LATERAL ${DIMENSIONS_OF_FACT}
        WHERE d.id IS NOT NULL
        GROUP BY d.kind, f.pool_id, d.id
      ) g
      RETURNING dimension_kind, request_count, admitted_request_count, success_count, failure_count, retry_count,
        input_tokens, cached_input_tokens, output_tokens, reasoning_tokens, total_tokens,
        estimated_cost_micros, settled_cost_micros, unpriced_request_count`.execute(tx);

    const published =
      day < today
        ? await sql`UPDATE daily_rollup_coverages SET contract_version = ${ROLLUP_CONTRACT_VERSION}, completed_at = ${now}
                    WHERE rollup_date = ${day}::date AND mutation_version = ${version} RETURNING rollup_date`.execute(tx)
        : null;
    const totals = totalsOf(undefined);
    for (const row of inserted.rows) {
      if (row.dimension_kind !== 'pool') continue;
      const t = totalsOf(row);
      for (const field of Object.keys(totals) as (keyof RollupTotals)[]) totals[field] += t[field];
    }
    return { date: day, rows: inserted.rows.length, covered: (published?.rows.length ?? 0) === 1, totals };
  });
}

/**
 * Past days that need a rebuild: yesterday, and every day within `lookbackDays` whose coverage was
 * invalidated (rows written late, usage corrected) or never published. Oldest first.
 */
export async function staleRollupDays(db: Db, opts: { now?: Date; lookbackDays?: number } = {}): Promise<UtcDay[]> {
  const today = utcDayOf(opts.now ?? new Date());
  const yesterday = addDays(today, -1);
  const oldest = addDays(today, -(opts.lookbackDays ?? 7));
  const stale = await sql<{ day: string }>`
    SELECT to_char(rollup_date, 'YYYY-MM-DD') AS day FROM daily_rollup_coverages
    WHERE rollup_date >= ${oldest}::date AND rollup_date < ${today}::date
      AND (completed_at IS NULL OR contract_version <> ${ROLLUP_CONTRACT_VERSION})`.execute(db);
  return [...new Set([...stale.rows.map((r) => r.day), yesterday])].sort();
}

/** Past days (of those given) whose rollups are trusted. */
export async function coveredDays(db: Db, days: readonly UtcDay[]): Promise<Set<UtcDay>> {
  if (days.length === 0) return new Set();
  const rows = await sql<{ day: string }>`
    SELECT to_char(rollup_date, 'YYYY-MM-DD') AS day FROM daily_rollup_coverages
    WHERE rollup_date IN (${sql.join(days.map((d) => sql`${d}::date`))})
      AND completed_at IS NOT NULL AND contract_version = ${ROLLUP_CONTRACT_VERSION}`.execute(db);
  return new Set(rows.rows.map((r) => r.day));
}
