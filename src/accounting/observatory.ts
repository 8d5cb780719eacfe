/**
 * The Observatory of one Pool API key (control-plane spec §6.3): what the key did over a window —
 * totals, a time series, the model mix, its limits with their headroom, and its latest outcomes.
 * One service for the admin API, the CLI and the key holder's own page. It reads the key's request
 * rows and their ledger view (like the usage report's live path) and never returns prompts, client
 * IPs, user agents, upstream accounts, other keys or raw errors.
 */
import { sql } from 'kysely';
import type { Db } from '../db/index.ts';
import { PoolerError } from '../errors.ts';
import { listKeyLimits } from './key-limits.ts';
import { requestLedgerTotals } from './request-ledger.ts';

export const OBSERVATORY_WINDOWS = {
  '1h': { ms: 3_600_000, buckets: 12 },
  '5h': { ms: 5 * 3_600_000, buckets: 20 },
  '24h': { ms: 24 * 3_600_000, buckets: 24 },
  '7d': { ms: 7 * 86_400_000, buckets: 28 },
} as const;
export type ObservatoryWindow = keyof typeof OBSERVATORY_WINDOWS;
export const isObservatoryWindow = (value: unknown): value is ObservatoryWindow => typeof value === 'string' && Object.hasOwn(OBSERVATORY_WINDOWS, value);

const MAX_MODELS = 12;
const MAX_RECENT = 12;

export type ObservatoryMeasures = {
  requests: number;
  succeeded: number;
  failed: number;
  fresh_input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  reasoning_tokens: number;
  total_tokens: number;
  cost_usd: number;
};

export type ObservatoryTotals = ObservatoryMeasures & {
  /** succeeded / finished requests; null without any. */
  success_rate: number | null;
  /** cached / all input tokens; null without input. */
  cache_rate: number | null;
  avg_latency_ms: number | null;
  /** Output tokens per second of cumulative request latency. */
  tokens_per_second: number | null;
  unpriced_requests: number;
  priced: boolean;
};

export type ObservatoryLimit = {
  scope: 'default' | 'model';
  model: string | null;
  field: 'max_requests_per_minute' | 'max_tokens_per_day' | 'max_tokens_per_week' | 'max_input_tokens_per_request' | 'max_output_tokens_per_request';
  max: number;
  /** Per-request caps have no usage: used, remaining and resets_at are null. */
  used: number | null;
  remaining: number | null;
  resets_at: string | null;
};

export type ObservatoryOutcome = {
  at: string;
  model: string | null;
  endpoint: string;
  status: string;
  status_code: number | null;
  latency_ms: number | null;
  total_tokens: number | null;
  cost_usd: number;
};

export type KeyObservatory = {
  key: { id: string; prefix: string; label: string | null; status: string; pool_id: string };
  window: ObservatoryWindow;
  from: string;
  to: string;
  bucket_seconds: number;
  totals: ObservatoryTotals;
  series: (ObservatoryMeasures & { start: string })[];
  models: (ObservatoryMeasures & { model: string | null; share: number })[];
  limits: ObservatoryLimit[];
  recent: ObservatoryOutcome[];
};

type FactRow = {
  bucket: number | string | null;
  model: string | null;
  requests: string;
  succeeded: string;
  failed: string;
  input_tokens: string;
  cached_input_tokens: string;
  output_tokens: string;
  reasoning_tokens: string;
  total_tokens: string;
  cost_micros: string;
  unpriced: string;
  latency_ms: string;
  latency_count: string;
};

const usd = (micros: number) => Math.round(micros) / 1e6;

function measuresOf(row: FactRow | undefined): ObservatoryMeasures & { costMicros: number } {
  const n = (v: string | undefined) => Number(v ?? 0);
  const input = n(row?.input_tokens);
  const cached = n(row?.cached_input_tokens);
  const costMicros = n(row?.cost_micros);
  return {
    requests: n(row?.requests),
    succeeded: n(row?.succeeded),
    failed: n(row?.failed),
    fresh_input_tokens: Math.max(0, input - cached),
    cached_input_tokens: cached,
    output_tokens: n(row?.output_tokens),
    reasoning_tokens: n(row?.reasoning_tokens),
    total_tokens: n(row?.total_tokens),
    cost_usd: usd(costMicros),
    costMicros,
  };
}

const strip = ({ costMicros: _c, ...m }: ObservatoryMeasures & { costMicros: number }): ObservatoryMeasures => m;

/** The key's request facts in [from, to): the cost of a request is its settlement, else its open reservation's estimate. */
const facts = (apiKeyId: string, from: Date, to: Date) => sql`(
  SELECT r.admitted_at, r.status, r.latency_ms, r.endpoint, r.response_status_code,
    lower(coalesce(r.model_id, r.requested_model)) AS model,
    coalesce(r.input_tokens, 0) AS input_tokens, coalesce(r.cached_input_tokens, 0) AS cached_input_tokens,
    coalesce(r.output_tokens, 0) AS output_tokens, coalesce(r.reasoning_tokens, 0) AS reasoning_tokens,
    r.total_tokens,
    l.settled_cost_micros + l.estimated_cost_micros AS cost_micros,
    l.unpriced
  FROM requests r
  ${requestLedgerTotals}
  WHERE r.api_key_id = ${apiKeyId} AND r.admitted_at >= ${from} AND r.admitted_at < ${to}
)`;

const MEASURES = sql`
  count(*) AS requests,
  count(*) FILTER (WHERE f.status = 'succeeded') AS succeeded,
  count(*) FILTER (WHERE f.status IN ('failed', 'rejected', 'cancelled')) AS failed,
  coalesce(sum(f.input_tokens), 0) AS input_tokens,
  coalesce(sum(f.cached_input_tokens), 0) AS cached_input_tokens,
  coalesce(sum(f.output_tokens), 0) AS output_tokens,
  coalesce(sum(f.reasoning_tokens), 0) AS reasoning_tokens,
  coalesce(sum(f.total_tokens), 0) AS total_tokens,
  coalesce(sum(f.cost_micros), 0) AS cost_micros,
  count(*) FILTER (WHERE f.unpriced) AS unpriced,
  coalesce(sum(f.latency_ms), 0) AS latency_ms,
  count(f.latency_ms) AS latency_count`;

/** The Observatory of one key (by id) over the last `window`, ending at `now`. */
export async function keyObservatory(db: Db, apiKeyId: string, window: ObservatoryWindow, now = new Date()): Promise<KeyObservatory> {
  if (!isObservatoryWindow(window)) throw new PoolerError('invalid_request', `window must be one of ${Object.keys(OBSERVATORY_WINDOWS).join(', ')}`, { param: 'window' });
  const key = await db.selectFrom('api_keys').select(['id', 'key_prefix', 'display_name', 'status', 'pool_id']).where('id', '=', apiKeyId).executeTakeFirst();
  if (!key) throw new PoolerError('not_found', 'api key does not exist', { param: 'id' });
  const spec = OBSERVATORY_WINDOWS[window];
  const bucketMs = spec.ms / spec.buckets;
  // Buckets end at the next bucket boundary after now, so charts do not shift on every refresh.
  const to = new Date(Math.ceil(now.getTime() / bucketMs) * bucketMs);
  const from = new Date(to.getTime() - spec.ms);
  const source = facts(key.id, from, to);

  const [byBucket, byModel, recent] = await Promise.all([
    sql<FactRow>`SELECT floor(extract(epoch FROM (f.admitted_at - ${from}::timestamptz)) * 1000 / ${bucketMs})::int AS bucket, NULL AS model, ${MEASURES} FROM ${source} f GROUP BY 1`.execute(db),
    sql<FactRow>`SELECT NULL AS bucket, f.model, ${MEASURES} FROM ${source} f GROUP BY 2`.execute(db),
    sql<{ admitted_at: Date; model: string | null; endpoint: string; status: string; response_status_code: number | null; latency_ms: number | null; total_tokens: string | null; cost_micros: string }>`
      SELECT f.admitted_at, f.model, f.endpoint, f.status, f.response_status_code, f.latency_ms, f.total_tokens, f.cost_micros
      FROM ${source} f ORDER BY f.admitted_at DESC LIMIT ${MAX_RECENT}`.execute(db),
  ]);

  const buckets = new Map(byBucket.rows.map((row) => [Number(row.bucket), row]));
  const series = Array.from({ length: spec.buckets }, (_, index) => ({ start: new Date(from.getTime() + index * bucketMs).toISOString(), ...strip(measuresOf(buckets.get(index))) }));

  const sum = (field: keyof FactRow) => byModel.rows.reduce((n, row) => n + Number(row[field] ?? 0), 0);
  const all = measuresOf({
    bucket: null,
    model: null,
    ...(Object.fromEntries(
      (['requests', 'succeeded', 'failed', 'input_tokens', 'cached_input_tokens', 'output_tokens', 'reasoning_tokens', 'total_tokens', 'cost_micros', 'unpriced', 'latency_ms', 'latency_count'] as const).map((f) => [f, String(sum(f))]),
    ) as Omit<FactRow, 'bucket' | 'model'>),
  });
  const latencyMs = sum('latency_ms');
  const latencyCount = sum('latency_count');
  const finished = all.succeeded + all.failed;
  const input = all.fresh_input_tokens + all.cached_input_tokens;
  const unpriced = sum('unpriced');
  const totals: ObservatoryTotals = {
    ...strip(all),
    success_rate: finished > 0 ? all.succeeded / finished : null,
    cache_rate: input > 0 ? all.cached_input_tokens / input : null,
    avg_latency_ms: latencyCount > 0 ? Math.round(latencyMs / latencyCount) : null,
    tokens_per_second: latencyMs > 0 ? Math.round((all.output_tokens / (latencyMs / 1000)) * 100) / 100 : null,
    unpriced_requests: unpriced,
    priced: unpriced === 0,
  };

  const models = byModel.rows
    .map((row) => ({ model: row.model, ...measuresOf(row) }))
    .sort((a, b) => b.requests - a.requests || b.costMicros - a.costMicros || String(a.model).localeCompare(String(b.model)))
    .slice(0, MAX_MODELS)
    .map(({ model, ...m }) => ({ model, ...strip(m), share: all.requests > 0 ? m.requests / all.requests : 0 }));

  return {
    key: { id: key.id, prefix: key.key_prefix, label: key.display_name, status: key.status, pool_id: key.pool_id },
    window,
    from: from.toISOString(),
    to: to.toISOString(),
    bucket_seconds: bucketMs / 1000,
    totals,
    series,
    models,
    limits: await limitsWithHeadroom(db, key.id, now),
    recent: recent.rows.map((row) => ({
      at: row.admitted_at.toISOString(),
      model: row.model,
      endpoint: row.endpoint,
      status: row.status,
      status_code: row.response_status_code,
      latency_ms: row.latency_ms,
      total_tokens: row.total_tokens === null ? null : Number(row.total_tokens),
      cost_usd: usd(Number(row.cost_micros)),
    })),
  };
}

/**
 * Each limit of the key with what is left of it now, over the windows the key policy gate enforces:
 * requests admitted in the rolling 60 s, tokens since 00:00 UTC, tokens in the rolling 7 days.
 */
export async function limitsWithHeadroom(db: Db, apiKeyId: string, now = new Date()): Promise<ObservatoryLimit[]> {
  const bindings = await listKeyLimits(db, apiKeyId);
  if (bindings.length === 0) return [];
  const dayStart = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const weekAgo = new Date(now.getTime() - 7 * 86_400_000);
  const usage = (
    await sql<{ minute_requests: string; oldest_admission: Date | null; day_tokens: string; week_tokens: string; oldest: Date | null }>`
      SELECT (SELECT count(*) FROM api_key_admissions WHERE api_key_id = ${apiKeyId} AND admitted_at > ${new Date(now.getTime() - 60_000)}) AS minute_requests,
             (SELECT min(admitted_at) FROM api_key_admissions WHERE api_key_id = ${apiKeyId} AND admitted_at > ${new Date(now.getTime() - 60_000)}) AS oldest_admission,
             coalesce(sum(total_tokens) FILTER (WHERE minute >= ${dayStart}), 0) AS day_tokens,
             coalesce(sum(total_tokens), 0) AS week_tokens,
             min(minute) FILTER (WHERE total_tokens > 0) AS oldest
        FROM api_key_usage_buckets WHERE api_key_id = ${apiKeyId} AND minute >= ${weekAgo}`.execute(db)
  ).rows[0];
  const used = { minute: Number(usage?.minute_requests ?? 0), day: Number(usage?.day_tokens ?? 0), week: Number(usage?.week_tokens ?? 0) };
  const resets = {
    // Rolling: the oldest admission in the window leaves it first.
    minute: new Date((usage?.oldest_admission ? new Date(usage.oldest_admission).getTime() : now.getTime()) + 60_000).toISOString(),
    day: new Date(dayStart.getTime() + 86_400_000).toISOString(),
    // Rolling: the oldest counted minute leaves the window first.
    week: new Date((usage?.oldest ? new Date(usage.oldest).getTime() + 60_000 : now.getTime()) + 7 * 86_400_000).toISOString(),
  };
  const limits: ObservatoryLimit[] = [];
  for (const b of bindings) {
    const windowed = (field: ObservatoryLimit['field'], max: number | null, window: keyof typeof used) => {
      if (max !== null) limits.push({ scope: b.scope, model: b.model, field, max, used: used[window], remaining: Math.max(0, max - used[window]), resets_at: resets[window] });
    };
    windowed('max_requests_per_minute', b.max_requests_per_minute, 'minute');
    windowed('max_tokens_per_day', b.max_tokens_per_day, 'day');
    windowed('max_tokens_per_week', b.max_tokens_per_week, 'week');
    for (const field of ['max_input_tokens_per_request', 'max_output_tokens_per_request'] as const) {
      const max = b[field];
      if (max !== null) limits.push({ scope: b.scope, model: b.model, field, max, used: null, remaining: null, resets_at: null });
    }
  }
  return limits;
}
