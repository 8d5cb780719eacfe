/**
 * Usage and cost over a period (spec §7.3 "reads for charts come from rollups plus today's live
 * rows"): whole past UTC days whose rollups are trusted are read from `daily_rollups`; today, days
 * the range only partly covers and days whose coverage is missing or invalidated are computed live
 * from `requests` and `ledger_entries`, with the same per-request facts the rebuild uses.
 */
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { PoolerError } from '../errors.ts';
import { addDays, coveredDays, dayStart, FACT_MEASURES, requestFacts, totalsOf, utcDayOf, type RollupDimension, type RollupTotals, type TimeRange, type UtcDay } from './rollups.ts';

export type UsageGroupBy = 'day' | 'api_key' | 'account' | 'model';
export const USAGE_GROUPINGS: readonly UsageGroupBy[] = ['day', 'api_key', 'account', 'model'];

export type UsageMeasures = {
  requests: number;
  succeeded: number;
  failed: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  total_tokens: number;
  /** Cost of settled requests, micro-USD. */
  settled_cost_micros: number;
  /** Estimates of reservations nothing settled or released yet, micro-USD. */
  estimated_cost_micros: number;
  /** settled + estimated, USD (micro-USD precision). Unpriced requests add nothing. */
  cost_usd: number;
  /** Served requests whose model (or tier) has no price: usage recorded, no cost. */
  unpriced_requests: number;
  /** True when every request of the row has a price (cost_usd is complete). */
  priced: boolean;
};

export type UsageReportRow = UsageMeasures & {
  /**
   * The group: the UTC day (`YYYY-MM-DD`), API key id, account (Pool assignment) id or model. Null
   * for the requests that had none (rejected before an account was chosen, no key, no model).
   */
  key: string | null;
  /** Key name or prefix, account label; null for days and models. */
  label: string | null;
};

export type UsageReport = {
  group_by: UsageGroupBy;
  from: Date;
  to: Date;
  rows: UsageReportRow[];
  totals: UsageMeasures;
  /** Where the numbers came from: trusted rollup days, and the time ranges read live. */
  sources: { rollup_days: UtcDay[]; live_ranges: TimeRange[] };
};

export type UsageReportInput = {
  from: Date;
  to: Date;
  groupBy: UsageGroupBy;
  /** Only these Pools; null or absent = every Pool. */
  poolIds?: readonly string[] | null;
  now?: Date;
};

const MAX_RANGE_MS = 366 * 86_400_000;

const DIMENSION_OF: Record<UsageGroupBy, RollupDimension> = {
  day: 'pool',
  api_key: 'api_key',
  account: 'pool_upstream_assignment',
  model: 'model',
};

const LIVE_KEY_OF: Record<UsageGroupBy, ReturnType<typeof sql.raw>> = {
  day: sql.raw('f.day'),
  api_key: sql.raw('f.api_key_id::text'),
  account: sql.raw('f.pool_upstream_assignment_id::text'),
  model: sql.raw('f.model'),
};

const ROLLUP_MEASURES = sql`
  sum(request_count) AS request_count,
  sum(admitted_request_count) AS admitted_request_count,
  sum(success_count) AS success_count,
  sum(failure_count) AS failure_count,
  sum(retry_count) AS retry_count,
  sum(input_tokens) AS input_tokens,
  sum(cached_input_tokens) AS cached_input_tokens,
  sum(output_tokens) AS output_tokens,
  sum(reasoning_tokens) AS reasoning_tokens,
  sum(total_tokens) AS total_tokens,
  sum(estimated_cost_micros) AS estimated_cost_micros,
  sum(settled_cost_micros) AS settled_cost_micros,
  sum(unpriced_request_count) AS unpriced_request_count`;

/** Splits [from, to) into whole trusted past days (rollups) and everything else (live ranges). */
export async function planUsageSources(db: Db, from: Date, to: Date, now: Date): Promise<UsageReport['sources']> {
  const today = utcDayOf(now);
  const whole: UtcDay[] = [];
  const pieces: { day: UtcDay; range: TimeRange }[] = [];
  for (let day = utcDayOf(from); dayStart(day) < to; day = addDays(day, 1)) {
    const start = dayStart(day);
    const end = dayStart(addDays(day, 1));
    const range = { start: start < from ? from : start, end: end > to ? to : end };
    if (day < today && range.start.getTime() === start.getTime() && range.end.getTime() === end.getTime()) whole.push(day);
    pieces.push({ day, range });
  }
  const covered = await coveredDays(db, whole);
  const live: TimeRange[] = [];
  for (const { day, range } of pieces) {
    if (covered.has(day)) continue;
    const last = live.at(-1);
    if (last && last.end.getTime() === range.start.getTime()) last.end = range.end;
    else live.push({ ...range });
  }
  return { rollup_days: whole.filter((d) => covered.has(d)), live_ranges: live };
}

type Grouped = Map<string | null, RollupTotals>;

function add(into: Grouped, key: string | null, totals: RollupTotals): void {
  const current = into.get(key);
  if (!current) return void into.set(key, { ...totals });
  for (const field of Object.keys(totals) as (keyof RollupTotals)[]) current[field] += totals[field];
}

const subtract = (a: RollupTotals, b: RollupTotals): RollupTotals =>
  Object.fromEntries(Object.keys(a).map((k) => [k, a[k as keyof RollupTotals] - b[k as keyof RollupTotals]])) as RollupTotals;

function measures(t: RollupTotals): UsageMeasures {
  // Rollup and live sums arrive as numeric strings; micro-USD is the finest unit we report.
  const settled = Math.round(t.settledCostMicros * 1000) / 1000;
  const estimated = Math.round(t.estimatedCostMicros * 1000) / 1000;
  return {
    requests: t.requests,
    succeeded: t.succeeded,
    failed: t.failed,
    input_tokens: t.inputTokens,
    cached_input_tokens: t.cachedInputTokens,
    output_tokens: t.outputTokens,
    reasoning_tokens: t.reasoningTokens,
    total_tokens: t.totalTokens,
    settled_cost_micros: settled,
    estimated_cost_micros: estimated,
    cost_usd: Math.round(settled + estimated) / 1e6,
    unpriced_requests: t.unpricedRequests,
    priced: t.unpricedRequests === 0,
  };
}

// Costs are summed as floats: a remainder below a thousandth of a micro-USD is rounding, not usage.
const isEmpty = (t: RollupTotals) => Object.values(t).every((v) => Math.abs(v) < 1e-3);

/**
 * Requests, tokens and cost over [from, to), grouped per UTC day, API key, account or model. Rows
 * come sorted (days ascending; otherwise by cost, then requests, descending); their sums equal the
 * totals, a null-keyed row holding the requests without that attribute.
 */
export async function usageReport(db: Db, input: UsageReportInput): Promise<UsageReport> {
  const { from, to, groupBy } = input;
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) throw new PoolerError('invalid_request', 'from and to must be valid times', { param: 'from' });
  if (from.getTime() >= to.getTime()) throw new PoolerError('invalid_request', 'from must be before to', { param: 'from' });
  if (to.getTime() - from.getTime() > MAX_RANGE_MS) throw new PoolerError('invalid_request', 'the range may span at most 366 days', { param: 'from' });
  if (!USAGE_GROUPINGS.includes(groupBy)) throw new PoolerError('invalid_request', `group by one of ${USAGE_GROUPINGS.join(', ')}`, { param: 'group_by' });
  const poolIds = input.poolIds ?? null;
  const sources = await planUsageSources(db, from, to, input.now ?? new Date());
  const dimension = DIMENSION_OF[groupBy];
  const rows: Grouped = new Map();
  const totals: Grouped = new Map();
  const poolFilter = poolIds === null ? sql`` : poolIds.length === 0 ? sql`AND false` : sql`AND pool_id IN (${sql.join(poolIds.map((id) => sql`${id}::uuid`))})`;

  if (sources.rollup_days.length > 0) {
    const days = sql.join(sources.rollup_days.map((d) => sql`${d}::date`));
    // Per day the Pool rows are the day's totals; otherwise the Pool rows give the totals, keyed null.
    const key = groupBy === 'day' ? sql`to_char(rollup_date, 'YYYY-MM-DD')` : sql`CASE WHEN dimension_kind = 'pool' THEN NULL ELSE dimension_id END`;
    const kinds = groupBy === 'day' ? [dimension] : [dimension, 'pool'];
    const result = await sql<Record<string, string | null> & { key: string | null; kind: string }>`
      SELECT dimension_kind AS kind, ${key} AS key, ${ROLLUP_MEASURES}
      FROM daily_rollups
      WHERE rollup_date IN (${days}) AND dimension_kind IN (${sql.join(kinds)}) ${poolFilter}
      GROUP BY 1, 2`.execute(db);
    for (const row of result.rows) {
      if (groupBy === 'day') {
        add(rows, row.key, totalsOf(row as never));
        add(totals, null, totalsOf(row as never));
      } else add(row.kind === 'pool' ? totals : rows, row.key, totalsOf(row as never));
    }
  }

  if (sources.live_ranges.length > 0) {
    const result = await sql<Record<string, string | null> & { key: string | null }>`
      SELECT ${LIVE_KEY_OF[groupBy]} AS key, ${FACT_MEASURES}
      FROM ${requestFacts(sources.live_ranges, poolIds)} f
      GROUP BY 1`.execute(db);
    for (const row of result.rows) {
      if (groupBy === 'day' || row.key !== null) add(rows, row.key, totalsOf(row as never));
      add(totals, null, totalsOf(row as never));
    }
  }

  const total = totals.get(null) ?? totalsOf(undefined);
  if (groupBy !== 'day') {
    const attributed: Grouped = new Map();
    for (const t of rows.values()) add(attributed, null, t);
    const rest = subtract(total, attributed.get(null) ?? totalsOf(undefined));
    if (!isEmpty(rest)) rows.set(null, rest);
  }
  const labels = await labelsOf(db, groupBy, [...rows.keys()].filter((k): k is string => k !== null));
  const list: UsageReportRow[] = [...rows.entries()].map(([key, t]) => ({ key, label: key === null ? null : (labels.get(key) ?? null), ...measures(t) }));
  list.sort((a, b) => {
    if (groupBy === 'day') return (a.key ?? '') < (b.key ?? '') ? -1 : 1;
    if (a.key === null || b.key === null) return a.key === null ? 1 : -1;
    return b.cost_usd - a.cost_usd || b.requests - a.requests || (a.key < b.key ? -1 : 1);
  });
  return { group_by: groupBy, from, to, rows: list, totals: measures(total), sources };
}

async function labelsOf(db: Db, groupBy: UsageGroupBy, keys: string[]): Promise<Map<string, string>> {
  const ids = keys.filter((k) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(k));
  if (ids.length === 0 || (groupBy !== 'api_key' && groupBy !== 'account')) return new Map();
  const list = sql.join(ids.map((id) => sql`${id}::uuid`));
  const result =
    groupBy === 'api_key'
      ? await sql<{ id: string; label: string }>`SELECT id::text AS id, coalesce(display_name, key_prefix) AS label FROM api_keys WHERE id IN (${list})`.execute(db)
      : await sql<{ id: string; label: string }>`
          SELECT a.id::text AS id, coalesce(a.assignment_label, i.account_label) AS label
          FROM pool_upstream_assignments a JOIN upstream_identities i ON i.id = a.upstream_identity_id WHERE a.id IN (${list})`.execute(db);
  return new Map(result.rows.map((r) => [r.id, r.label]));
}
