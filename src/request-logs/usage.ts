import { sql, type RawBuilder } from 'kysely';
import type { Db } from '../db/index.ts';
import { invalidInput } from '../errors.ts';
import type { RequestLogVisibility } from './query.ts';

export type UsageGrouping = 'day' | 'api_key' | 'account' | 'model';

export type UsageRow = {
  /** The day (`YYYY-MM-DD`, UTC), key id, account id or model; null when the request had none. */
  key: string | null;
  label: string | null;
  requests: number;
  succeeded: number;
  failed: number;
  tokens: { input: number; cached_input: number; output: number; reasoning: number; total: number };
};

export type UsageSummary = { group_by: UsageGrouping; from: Date; to: Date; rows: UsageRow[]; totals: Omit<UsageRow, 'key' | 'label'> };

const MAX_RANGE_MS = 366 * 24 * 60 * 60_000;
const DEFAULT_RANGE_MS = 7 * 24 * 60 * 60_000;

function grouping(groupBy: UsageGrouping): { key: RawBuilder<string | null>; label: RawBuilder<string | null> } {
  switch (groupBy) {
    case 'day':
      return { key: sql`to_char(r.admitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`, label: sql`NULL::text` };
    case 'api_key':
      return { key: sql`r.api_key_id::text`, label: sql`max(coalesce(k.display_name, k.key_prefix))` };
    case 'account':
      return { key: sql`r.pool_upstream_assignment_id::text`, label: sql`max(r.upstream_account_label)` };
    case 'model':
      return { key: sql`lower(coalesce(r.model_id, r.requested_model))`, label: sql`NULL::text` };
  }
}

/**
 * Token and request totals from the request log, grouped per UTC day, key, account or model.
 * Costs come from the ledger once it is written; this reads `requests` only.
 */
export async function usageSummary(db: Db, visibility: RequestLogVisibility, input: { groupBy?: UsageGrouping; poolId?: string; from?: Date; to?: Date } = {}): Promise<UsageSummary> {
  const groupBy = input.groupBy ?? 'day';
  const to = input.to ?? new Date();
  const from = input.from ?? new Date(to.getTime() - DEFAULT_RANGE_MS);
  if (from.getTime() >= to.getTime()) throw invalidInput('from must be before to', 'from');
  if (to.getTime() - from.getTime() > MAX_RANGE_MS) throw invalidInput('the range may span at most 366 days', 'from');
  const { key, label } = grouping(groupBy);
  let query = db
    .selectFrom('requests as r')
    .leftJoin('api_keys as k', 'k.id', 'r.api_key_id')
    .select([
      key.as('key'),
      label.as('label'),
      sql<string>`count(*)`.as('requests'),
      sql<string>`count(*) FILTER (WHERE r.status = 'succeeded')`.as('succeeded'),
      sql<string>`count(*) FILTER (WHERE r.status IN ('failed','rejected','cancelled'))`.as('failed'),
      sql<string>`coalesce(sum(r.input_tokens), 0)`.as('input'),
      sql<string>`coalesce(sum(r.cached_input_tokens), 0)`.as('cached_input'),
      sql<string>`coalesce(sum(r.output_tokens), 0)`.as('output'),
      sql<string>`coalesce(sum(r.reasoning_tokens), 0)`.as('reasoning'),
      sql<string>`coalesce(sum(r.total_tokens), 0)`.as('total'),
    ])
    .where('r.admitted_at', '>=', from)
    .where('r.admitted_at', '<', to)
    .groupBy(key)
    .orderBy(groupBy === 'day' ? sql`1` : sql`count(*)`, groupBy === 'day' ? 'asc' : 'desc')
    .limit(1000);
  if (visibility.poolIds !== null) {
    if (visibility.poolIds.length === 0) return { group_by: groupBy, from, to, rows: [], totals: emptyTotals() };
    query = query.where('r.pool_id', 'in', [...visibility.poolIds]);
  }
  if (input.poolId) query = query.where('r.pool_id', '=', input.poolId);
  const rows: UsageRow[] = (await query.execute()).map((row) => ({
    key: row.key,
    label: row.label,
    requests: Number(row.requests),
    succeeded: Number(row.succeeded),
    failed: Number(row.failed),
    tokens: { input: Number(row.input), cached_input: Number(row.cached_input), output: Number(row.output), reasoning: Number(row.reasoning), total: Number(row.total) },
  }));
  const totals = emptyTotals();
  for (const row of rows) {
    totals.requests += row.requests;
    totals.succeeded += row.succeeded;
    totals.failed += row.failed;
    for (const field of Object.keys(totals.tokens) as Array<keyof UsageRow['tokens']>) totals.tokens[field] += row.tokens[field];
  }
  return { group_by: groupBy, from, to, rows, totals };
}

function emptyTotals(): Omit<UsageRow, 'key' | 'label'> {
  return { requests: 0, succeeded: 0, failed: 0, tokens: { input: 0, cached_input: 0, output: 0, reasoning: 0, total: 0 } };
}
