import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { listApiKeys, mintApiKey, revokeApiKey, type ApiKey } from '../../api-keys/index.ts';
import { PoolerError } from '../../errors.ts';
import { actorOf, authorize, can } from '../../operators/index.ts';
import type { Services } from '../../services.ts';
import { scopeOf } from '../http-session.ts';
import { poolFor } from '../pool-access.ts';
import { ID_PARAMS, parseInput, UUID } from '../validate.ts';

/** A Pool API key without its secret: the prefix identifies it; the full key exists only in the create answer. */
export const apiKeyJson = (key: ApiKey) => ({
  id: key.id,
  pool_id: key.poolId,
  prefix: key.prefix,
  label: key.label,
  status: key.status,
  state: key.state,
  expires_at: key.expiresAt,
  last_used_at: key.lastUsedAt,
  revoked_at: key.revokedAt,
  created_at: key.createdAt,
});

export function registerApiKeyRoutes(app: FastifyInstance, services: Services): void {
  const deps = { db: services.db, notifier: services.notifier };

  app.get('/api-keys', async (request) => {
    const scope = scopeOf(request);
    const query = parseInput(z.object({ pool_id: UUID.optional() }), request.query);
    if (query.pool_id) await poolFor(services, scope, query.pool_id, 'pool.view');
    const pools = new Map((await services.db.selectFrom('pools').select(['id', 'status']).execute()).map((p) => [p.id, p]));
    const keys = (await listApiKeys(services.db, query.pool_id ? { pool: query.pool_id } : {})).filter((key) => {
      const pool = pools.get(key.poolId);
      return pool !== undefined && can(scope, 'pool.view', pool);
    });
    return { items: keys.map(apiKeyJson) };
  });

  app.post('/api-keys', async (request, reply) => {
    const scope = scopeOf(request);
    const body = parseInput(z.object({ pool_id: UUID, label: z.string().trim().max(160).nullish(), expires_at: z.string().max(64).nullish() }), request.body);
    const pool = await poolFor(services, scope, body.pool_id, 'pool_api_key.manage');
    const minted = await mintApiKey(deps, actorOf(scope), { pool: pool.id, label: body.label ?? null, expiresAt: body.expires_at ?? null });
    // The only time the key is ever returned.
    return reply.code(201).send({ api_key: apiKeyJson(minted.apiKey), key: minted.key });
  });

  app.post('/api-keys/:id/revoke', async (request) => {
    const scope = scopeOf(request);
    const { id } = parseInput(ID_PARAMS, request.params);
    const key = await services.db
      .selectFrom('api_keys as k')
      .innerJoin('pools as p', 'p.id', 'k.pool_id')
      .select(['k.id', 'p.id as pool_id', 'p.status as pool_status'])
      .where('k.id', '=', id)
      .executeTakeFirst();
    if (!key) throw new PoolerError('not_found', 'api key does not exist', { param: 'id' });
    authorize(scope, 'pool_api_key.manage', { id: key.pool_id, status: key.pool_status });
    return { api_key: apiKeyJson(await revokeApiKey(deps, actorOf(scope), key.id)) };
  });
}
