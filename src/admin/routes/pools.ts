import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { PoolerError } from '../../errors.ts';
import { actorOf, authorize, can } from '../../operators/index.ts';
import { createPool, deletePool, listPools, renamePool, routingOfPool, setPoolStatus, updatePoolRouting, type Pool, type PoolSummary } from '../../pools/index.ts';
import { explainForPool } from '../../routing/index.ts';
import type { Services } from '../../services.ts';
import { scopeOf } from '../http-session.ts';
import { poolFor } from '../pool-access.ts';
import { ID_PARAMS, parseInput } from '../validate.ts';

const STATUS = z.enum(['active', 'disabled', 'archived']);

export const poolJson = (pool: Pool | PoolSummary) => ({
  id: pool.id,
  slug: pool.slug,
  name: pool.name,
  status: pool.status,
  created_at: pool.createdAt,
  ...('accountCount' in pool ? { account_count: pool.accountCount, api_key_count: pool.keyCount } : {}),
});

export function registerPoolRoutes(app: FastifyInstance, services: Services): void {
  const deps = { db: services.db, notifier: services.notifier };

  app.get('/pools', async (request) => {
    const scope = scopeOf(request);
    const { status } = parseInput(z.object({ status: STATUS.optional() }), request.query);
    const pools = (await listPools(services.db)).filter((pool) => can(scope, 'pool.view', pool) && (!status || pool.status === status));
    return { items: pools.map(poolJson) };
  });

  app.get('/pools/:id', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    const pool = await poolFor(services, scopeOf(request), id, 'pool.view');
    const summary = (await listPools(services.db)).find((p) => p.id === pool.id) ?? pool;
    return { pool: poolJson(summary), routing: await routingOfPool(services.db, pool.id) };
  });

  // Routing settings (spec §2.2): anyone who sees the Pool may read them; only owners change them (§4.4).
  app.get('/pools/:id/routing', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    const pool = await poolFor(services, scopeOf(request), id, 'pool.view');
    return { pool: poolJson(pool), routing: await routingOfPool(services.db, pool.id) };
  });

  app.patch('/pools/:id/routing', async (request) => {
    const scope = scopeOf(request);
    if (!can(scope, 'pool.manage')) throw new PoolerError('capability_denied', "only an instance owner can change a pool's routing");
    const { id } = parseInput(ID_PARAMS, request.params);
    const pool = await poolFor(services, scope, id, 'pool.view');
    // The body is validated by the service (field by field, unknown fields refused), as the CLI's is.
    const updated = await updatePoolRouting(deps, actorOf(scope), pool.id, request.body ?? {});
    return { pool: poolJson(updated.pool), routing: updated.routing, changed_fields: updated.changed };
  });

  // Why requests land where they land: the route plan as this web process sees it.
  app.get('/pools/:id/routing/explain', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    const pool = await poolFor(services, scopeOf(request), id, 'pool.view');
    const query = parseInput(z.object({ model: z.string().max(255).optional(), session: z.string().max(512).optional(), prompt_cache_key: z.string().max(256).optional(), api_key_id: z.uuid().optional() }), request.query);
    return {
      explanation: await explainForPool(services.routing, { poolId: pool.id, apiKeyId: query.api_key_id ?? null, model: query.model ?? null, session: query.session ?? null, promptCacheKey: query.prompt_cache_key ?? null }),
    };
  });

  // The models a Pool's catalog exposes, for the key editor's model pickers (pool.view).
  app.get('/pools/:id/models', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    const pool = await poolFor(services, scopeOf(request), id, 'pool.view');
    const catalog = await services.routing.catalog(pool.id);
    const items = [...catalog.models.entries()]
      .map(([model, entry]) => ({ id: model, display_name: typeof entry.entry.display_name === 'string' ? entry.entry.display_name : model }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { fetched: catalog.fetched, items };
  });

  app.post('/pools', async (request, reply) => {
    const scope = scopeOf(request);
    authorize(scope, 'pool.manage');
    const body = parseInput(z.object({ name: z.string().max(160), slug: z.string().max(160).optional() }), request.body);
    const pool = await createPool(services.db, actorOf(scope), body);
    return reply.code(201).send({ pool: poolJson(pool) });
  });

  app.patch('/pools/:id', async (request) => {
    const scope = scopeOf(request);
    authorize(scope, 'pool.manage');
    const { id } = parseInput(ID_PARAMS, request.params);
    const body = parseInput(z.object({ name: z.string().max(160).optional(), status: STATUS.optional() }).strict(), request.body);
    let pool = await poolFor(services, scope, id, 'pool.view');
    if (body.name !== undefined && body.name.trim() !== pool.name) pool = await renamePool(services.db, actorOf(scope), pool.id, body.name);
    if (body.status !== undefined) pool = await setPoolStatus(deps, actorOf(scope), pool.id, body.status);
    return { pool: poolJson(pool) };
  });

  // Spec §6.1: only an archived Pool, and only with its slug typed as confirmation. Its keys,
  // accounts' assignments and request history go with it; audit rows stay (pool_id NULL).
  app.delete('/pools/:id', async (request) => {
    const scope = scopeOf(request);
    authorize(scope, 'pool.manage');
    const { id } = parseInput(ID_PARAMS, request.params);
    const confirmation = z.object({ confirm: z.string().max(200).optional() });
    const confirm = parseInput(confirmation, request.body ?? {}).confirm ?? parseInput(confirmation, request.query).confirm;
    const pool = await poolFor(services, scope, id, 'pool.view');
    if (pool.status !== 'archived') throw new PoolerError('pool_not_archived');
    if (confirm?.trim() !== pool.slug) throw new PoolerError('confirmation_mismatch', 'type the pool slug to confirm', { param: 'confirm' });
    await deletePool(services.db, actorOf(scope), pool.id, { force: true });
    return { status: 'ok', deleted: poolJson(pool) };
  });
}
