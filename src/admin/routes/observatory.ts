import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { EXPORT_GROUPS, keyObservatory, OBSERVATORY_WINDOWS, usageExport, type ObservatoryWindow } from '../../accounting/index.ts';
import { PoolerError } from '../../errors.ts';
import { authorize } from '../../operators/index.ts';
import type { Services } from '../../services.ts';
import { scopeOf } from '../http-session.ts';
import { poolFor } from '../pool-access.ts';
import { ID_PARAMS, parseInput, TIME } from '../validate.ts';

const WINDOW = z.enum(Object.keys(OBSERVATORY_WINDOWS) as [ObservatoryWindow, ...ObservatoryWindow[]]).default('24h');
const DURATION = z
  .string()
  .trim()
  .regex(/^[1-9]\d{0,3}[hdw]$/, 'must be a duration such as 24h, 7d or 2w')
  .transform((v) => Number(v.slice(0, -1)) * { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 }[v.at(-1) as 'h' | 'd' | 'w']);

const EXPORT_QUERY = z.strictObject({
  format: z.enum(['csv', 'json']).default('csv'),
  by: z.enum(Object.keys(EXPORT_GROUPS) as [keyof typeof EXPORT_GROUPS, ...(keyof typeof EXPORT_GROUPS)[]]).default('day'),
  since: z.union([TIME, DURATION]).optional(),
  until: TIME.optional(),
});

/** Per-key Observatory and per-Pool usage exports (docs/accounting.md); `pool.view` on the Pool. */
export function registerObservatoryRoutes(app: FastifyInstance, services: Services): void {
  app.get('/api-keys/:id/observatory', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    const { window } = parseInput(z.strictObject({ window: WINDOW }), request.query);
    const key = await services.db
      .selectFrom('api_keys as k')
      .innerJoin('pools as p', 'p.id', 'k.pool_id')
      .select(['k.id', 'p.id as pool_id', 'p.status as pool_status'])
      .where('k.id', '=', id)
      .executeTakeFirst();
    if (!key) throw new PoolerError('not_found', 'api key does not exist', { param: 'id' });
    authorize(scopeOf(request), 'pool.view', { id: key.pool_id, status: key.pool_status });
    return keyObservatory(services.db, key.id, window);
  });

  app.get('/pools/:id/usage/export', async (request, reply) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    const query = parseInput(EXPORT_QUERY, request.query);
    const pool = await poolFor(services, scopeOf(request), id, 'pool.view');
    const to = query.until ?? new Date();
    const from = query.since instanceof Date ? query.since : new Date(to.getTime() - (query.since ?? 86_400_000));
    const exported = await usageExport(services.db, { pool, from, to, by: query.by, format: query.format });
    return reply.type(exported.contentType).header('content-disposition', `attachment; filename="${exported.filename}"`).header('cache-control', 'no-store').send(exported.body);
  });
}
