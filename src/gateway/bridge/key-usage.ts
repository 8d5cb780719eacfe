import { listKeyLimits, usageReport, type KeyLimitsView, type UsageMeasures } from '../../accounting/index.ts';
import type { Db } from '../../db/index.ts';
import { PoolerError } from '../../errors.ts';
import type { Candidate } from '../../routing/index.ts';
import { poolUsageDocument, type UsageDocument } from '../usage-document.ts';

/**
 * `GET /v1/usage` (runtime spec §9.8): the calling key's own usage, limits and the pool's upstream
 * windows. Built from the usage report, the key's limits and the Codex usage document; no new
 * accounting queries.
 */

export type KeyLimitUsage = {
  limit_type: 'requests' | 'total_tokens' | 'input_tokens' | 'output_tokens';
  limit_window: 'minute' | 'daily' | 'weekly' | 'request';
  max_value: number;
  current_value: number | null;
  remaining_value: number | null;
  model_filter: string | null;
  reset_at: string | null;
  source: 'api_key_policy';
};

export type UpstreamLimit = { limit_type: 'upstream_window'; limit_window: 'primary' | 'secondary'; used_percent: number; window_seconds: number; reset_at: string };

export type V1Usage = {
  request_count: number;
  total_tokens: number;
  cached_input_tokens: number;
  total_cost_usd: number;
  total_cost_status: 'priced' | 'partial' | 'unpriced';
  limits: KeyLimitUsage[];
  upstream_limits: UpstreamLimit[];
};

/** Any query parameter is refused: the document has no options. */
export function refuseUsageQuery(query: unknown): void {
  const first = query && typeof query === 'object' ? Object.keys(query)[0] : undefined;
  if (first !== undefined) throw new PoolerError('unsupported_parameter', `Unsupported parameter: ${first}`, { param: first });
}

export type WindowUsage = { requestsLastMinute: number; tokensToday: number; tokensLast7Days: number };

const DAY_MS = 86_400_000;
const startOfUtcDay = (now: number) => now - (now % DAY_MS);

/** Each configured limit with what the key used of it in its window (pure). */
export function limitUsage(limits: readonly KeyLimitsView[], used: WindowUsage, now: number): KeyLimitUsage[] {
  const out: KeyLimitUsage[] = [];
  for (const binding of limits) {
    const entry = (limit_type: KeyLimitUsage['limit_type'], limit_window: KeyLimitUsage['limit_window'], max: number | null, current: number | null, resetAt: number | null) => {
      if (max === null) return;
      out.push({
        limit_type,
        limit_window,
        max_value: max,
        current_value: current,
        remaining_value: current === null ? null : Math.max(0, max - current),
        model_filter: binding.model,
        reset_at: resetAt === null ? null : new Date(resetAt).toISOString(),
        source: 'api_key_policy',
      });
    };
    entry('requests', 'minute', binding.max_requests_per_minute, used.requestsLastMinute, now + 60_000);
    entry('total_tokens', 'daily', binding.max_tokens_per_day, used.tokensToday, startOfUtcDay(now) + DAY_MS);
    entry('total_tokens', 'weekly', binding.max_tokens_per_week, used.tokensLast7Days, now + 7 * DAY_MS);
    entry('input_tokens', 'request', binding.max_input_tokens_per_request, null, null);
    entry('output_tokens', 'request', binding.max_output_tokens_per_request, null, null);
  }
  return out;
}

/** The pool's upstream windows, as the Codex usage document shows them (pure). */
export function upstreamLimits(document: UsageDocument): UpstreamLimit[] {
  const windows: UpstreamLimit[] = [];
  for (const [name, window] of [['primary', document.rate_limit.primary_window], ['secondary', document.rate_limit.secondary_window]] as const) {
    if (window) windows.push({ limit_type: 'upstream_window', limit_window: name, used_percent: window.used_percent, window_seconds: window.limit_window_seconds, reset_at: new Date(window.reset_at * 1000).toISOString() });
  }
  return windows;
}

export function costStatus(totals: Pick<UsageMeasures, 'requests' | 'unpriced_requests'>): V1Usage['total_cost_status'] {
  if (totals.requests === 0 || totals.unpriced_requests >= totals.requests) return 'unpriced';
  return totals.unpriced_requests > 0 ? 'partial' : 'priced';
}

const MAX_RANGE_MS = 366 * DAY_MS - 1;

export async function keyUsage(db: Db, key: { id: string; poolId: string }, candidates: readonly Candidate[], now: number): Promise<V1Usage> {
  const row = await db.selectFrom('api_keys').select('created_at').where('id', '=', key.id).executeTakeFirst();
  const createdAt = row ? new Date(row.created_at).getTime() : now - DAY_MS;
  const usageSince = async (from: number): Promise<UsageMeasures | null> => {
    const report = await usageReport(db, { from: new Date(Math.min(from, now - 1)), to: new Date(now), groupBy: 'api_key', poolIds: [key.poolId], now: new Date(now) });
    return report.rows.find((r) => r.key === key.id) ?? null;
  };
  const [lifetime, today, week, minute, limits] = await Promise.all([
    usageSince(Math.max(createdAt - 1000, now - MAX_RANGE_MS)),
    usageSince(startOfUtcDay(now)),
    usageSince(now - 7 * DAY_MS),
    usageSince(now - 60_000),
    listKeyLimits(db, key.id),
  ]);
  return {
    request_count: lifetime?.requests ?? 0,
    total_tokens: lifetime?.total_tokens ?? 0,
    cached_input_tokens: lifetime?.cached_input_tokens ?? 0,
    total_cost_usd: lifetime?.cost_usd ?? 0,
    total_cost_status: costStatus(lifetime ?? { requests: 0, unpriced_requests: 0 }),
    limits: limitUsage(limits, { requestsLastMinute: minute?.requests ?? 0, tokensToday: today?.total_tokens ?? 0, tokensLast7Days: week?.total_tokens ?? 0 }, now),
    upstream_limits: upstreamLimits(poolUsageDocument(candidates, now)),
  };
}
