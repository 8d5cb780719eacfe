import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/index.ts';
import { accountState } from '../upstreams/index.ts';
import type { MetricsAccess, MetricsAccessSource } from './metrics-access.ts';
import { bearerMatches } from './metrics-bearer.ts';
import type { Metrics } from './registry.ts';

function authorized(access: MetricsAccess, header: string | undefined): boolean {
  if (access.mode === 'open') return true;
  if (access.mode === 'unavailable') return false;
  return bearerMatches(header, access.key, access.digest);
}

/** Usage band of a window: a gauge per band says how much of the fleet is near its limit, without ids. */
export function quotaBand(usedPercent: number | null): string {
  if (usedPercent === null || !Number.isFinite(usedPercent)) return 'unknown';
  return usedPercent >= 100 ? 'exhausted' : usedPercent >= 90 ? '90_100' : usedPercent >= 50 ? '50_90' : '0_50';
}

/** Account state and quota gauges are read from the database at scrape time. */
async function refreshAccountGauges(db: Db, metrics: Metrics): Promise<void> {
  const now = new Date();
  const rows = await db
    .selectFrom('pool_upstream_assignments as a')
    .innerJoin('upstream_identities as i', 'i.id', 'a.upstream_identity_id')
    .select(['a.status as assignment_status', 'i.status as identity_status', 'a.cooldown_until'])
    .where('a.status', '<>', 'deleted')
    .execute();
  metrics.accounts.reset();
  for (const row of rows) metrics.accounts.inc({ state: accountState(row.assignment_status, row.identity_status, row.cooldown_until, now) });
  const windows = await db.selectFrom('account_quota_windows').select(['window_kind', 'used_percent']).where('quota_key', '=', 'account').where('model', '=', '').execute();
  metrics.quotaWindows.reset();
  for (const window of windows) metrics.quotaWindows.inc({ window: window.window_kind, band: quotaBand(window.used_percent === null ? null : Number(window.used_percent)) });
}

/**
 * GET /metrics in the Prometheus text format. A refused scrape learns nothing but the refusal:
 * the 401 body is fixed and no metric is computed for it.
 */
export function registerMetricsRoute(app: FastifyInstance, deps: { metrics: Metrics; access: MetricsAccessSource; db: Db }): void {
  app.get('/metrics', async (request, reply) => {
    const access = await deps.access.current();
    if (!authorized(access, request.headers.authorization)) {
      const message = access.mode === 'unavailable' ? 'metrics bearer token is unavailable' : 'metrics bearer token is required';
      return reply.code(401).header('cache-control', 'no-store').send({ error: { code: 'metrics_unauthorized', message } });
    }
    await refreshAccountGauges(deps.db, deps.metrics).catch((error: unknown) => request.log.warn({ err: error }, 'account gauges unavailable'));
    return reply.header('cache-control', 'no-store').type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}
