import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Db } from '../db/index.ts';
import { accountState } from '../upstreams/index.ts';
import type { Metrics } from './registry.ts';

export type MetricsAccess = { mode: 'open' } | { mode: 'bearer'; digest: Buffer; key: Buffer } | { mode: 'unavailable' };

/** Bearer tokens are compared as HMAC digests under the upstream key, in constant time. */
export function metricsTokenDigest(key: Buffer, token: string): Buffer {
  return createHmac('sha256', key).update(token).digest();
}

function authorized(access: MetricsAccess, header: string | undefined): boolean {
  if (access.mode === 'open') return true;
  if (access.mode === 'unavailable' || !header?.startsWith('Bearer ')) return false;
  const presented = metricsTokenDigest(access.key, header.slice(7));
  return presented.length === access.digest.length && timingSafeEqual(presented, access.digest);
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
  for (const window of windows) {
    const used = window.used_percent === null ? null : Number(window.used_percent);
    const band = used === null ? 'unknown' : used >= 100 ? 'exhausted' : used >= 90 ? '90_100' : used >= 50 ? '50_90' : '0_50';
    metrics.quotaWindows.inc({ window: window.window_kind, band });
  }
}

export function registerMetricsRoute(app: FastifyInstance, deps: { metrics: Metrics; access: MetricsAccess; db: Db }): void {
  app.get('/metrics', async (request, reply) => {
    if (!authorized(deps.access, request.headers.authorization)) {
      const message = deps.access.mode === 'unavailable' ? 'metrics bearer token is unavailable' : 'metrics bearer token is required';
      return reply.code(401).send({ error: { code: 'metrics_unauthorized', message } });
    }
    await refreshAccountGauges(deps.db, deps.metrics).catch((error: unknown) => request.log.warn({ err: error }, 'account gauges unavailable'));
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
}
