import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { listKeyLimits, replaceKeyLimits, toLimitsDocument } from '../../accounting/index.ts';
import { deleteApiKey, listApiKeys, mintApiKey, modelPolicyJson, pauseApiKey, resumeApiKey, revokeApiKey, rotateApiKey, updateApiKey, MAX_NOTES_LENGTH, type ApiKey, type ModelPolicyEdit } from '../../api-keys/index.ts';
import { PoolerError } from '../../errors.ts';
import { actorOf, authorize, can, type OperatorScope } from '../../operators/index.ts';
import type { Services } from '../../services.ts';
import { scopeOf } from '../http-session.ts';
import { poolFor } from '../pool-access.ts';
import { ID_PARAMS, parseInput, UUID } from '../validate.ts';

/** A Pool API key without its secret: the prefix identifies it; the full key exists only in the create and rotate answers. */
export const apiKeyJson = (key: ApiKey) => ({
  id: key.id,
  pool_id: key.poolId,
  prefix: key.prefix,
  label: key.label,
  notes: key.notes,
  status: key.status,
  state: key.state,
  expires_at: key.expiresAt,
  last_used_at: key.lastUsedAt,
  revoked_at: key.revokedAt,
  created_at: key.createdAt,
  dashboard_access: key.dashboardAccess,
  // Model policy (limits: GET /api-keys/:id/limits).
  ...modelPolicyJson(key.policy),
});

const LABEL = z.string().trim().max(160).nullish();
const NOTES = z.string().trim().max(MAX_NOTES_LENGTH).nullish();
const EXPIRES_AT = z.string().max(64).nullish();
// Policy fields are checked as a whole by the api-keys domain (invalid_request / invalid_policy).
const POLICY_FIELDS = ['model_mode', 'allowed_models', 'enforced_model', 'maximum_reasoning_effort', 'enforced_reasoning_effort', 'service_tier'] as const;
const EDIT = z
  .object({
    label: LABEL,
    notes: NOTES,
    expires_at: EXPIRES_AT,
    status: z.enum(['active', 'paused']).optional(),
    pool_id: UUID.optional(),
    ...Object.fromEntries(POLICY_FIELDS.map((field) => [field, z.unknown().optional()])),
  })
  .strict();

export function registerApiKeyRoutes(app: FastifyInstance, services: Services): void {
  const deps = { db: services.db, notifier: services.notifier };
  /**
   * Other processes drop their cached copy on the key channel's NOTIFY; this one drops it at once,
   * so the operator's next request through this node already sees the change.
   * Every mutating key route calls it: the local effect never depends on the notifier's delivery.
   */
  const forgetLocally = (key: { id: string; prefix: string }) => {
    services.apiKeys.invalidate(key.prefix);
    services.keyPolicies.invalidate(key.id);
  };

  /** The key behind `:id` (its id and prefix), after checking the operator may manage keys of its (active) Pool. */
  async function keyFor(scope: OperatorScope, params: unknown): Promise<{ id: string; prefix: string }> {
    const { id } = parseInput(ID_PARAMS, params);
    const key = await services.db
      .selectFrom('api_keys as k')
      .innerJoin('pools as p', 'p.id', 'k.pool_id')
      .select(['k.id', 'k.key_prefix', 'p.id as pool_id', 'p.status as pool_status'])
      .where('k.id', '=', id)
      .executeTakeFirst();
    if (!key) throw new PoolerError('not_found', 'api key does not exist', { param: 'id' });
    authorize(scope, 'pool_api_key.manage', { id: key.pool_id, status: key.pool_status });
    return { id: key.id, prefix: key.key_prefix };
  }

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
    const body = parseInput(z.object({ pool_id: UUID, label: LABEL, notes: NOTES, expires_at: EXPIRES_AT }), request.body);
    const pool = await poolFor(services, scope, body.pool_id, 'pool_api_key.manage');
    const minted = await mintApiKey(deps, actorOf(scope), { pool: pool.id, label: body.label ?? null, notes: body.notes ?? null, expiresAt: body.expires_at ?? null });
    // The only time the key is ever returned.
    return reply.code(201).send({ api_key: apiKeyJson(minted.apiKey), key: minted.key });
  });

  // Name, expiry, notes, pause/resume, model policy and Pool in one audited edit; absent fields stay, null clears.
  app.patch('/api-keys/:id', async (request) => {
    const scope = scopeOf(request);
    const { id } = await keyFor(scope, request.params);
    const body = parseInput(EDIT, request.body) as z.output<typeof EDIT> & Record<string, unknown>;
    // Moving a key needs the capability on the Pool it goes to as well as the one it leaves.
    const target = body.pool_id ? await poolFor(services, scope, body.pool_id, 'pool_api_key.manage') : null;
    const present = POLICY_FIELDS.filter((field) => body[field] !== undefined);
    const policy = present.length > 0 ? (Object.fromEntries(present.map((field) => [field, body[field]])) as ModelPolicyEdit) : undefined;
    const edit = { label: body.label, notes: body.notes, expiresAt: body.expires_at, status: body.status, policy, pool: target?.id };
    const updated = await updateApiKey(deps, actorOf(scope), id, edit);
    forgetLocally(updated);
    return { api_key: apiKeyJson(updated) };
  });

  // Limits: the default binding and per-model bindings, read and replaced as one document.
  app.get('/api-keys/:id/limits', async (request) => {
    const { id } = await keyFor(scopeOf(request), request.params);
    return toLimitsDocument(await listKeyLimits(services.db, id));
  });
  app.put('/api-keys/:id/limits', async (request) => {
    const scope = scopeOf(request);
    const key = await keyFor(scope, request.params);
    const limits = await replaceKeyLimits(deps, actorOf(scope), key.id, request.body);
    forgetLocally(key);
    return toLimitsDocument(limits);
  });

  for (const [verb, act] of [['pause', pauseApiKey], ['resume', resumeApiKey], ['revoke', revokeApiKey]] as const) {
    app.post(`/api-keys/:id/${verb}`, async (request) => {
      const scope = scopeOf(request);
      const changed = await act(deps, actorOf(scope), (await keyFor(scope, request.params)).id);
      forgetLocally(changed);
      return { api_key: apiKeyJson(changed) };
    });
  }

  // Same row, new secret and prefix; like create, the only answer that carries the key.
  app.post('/api-keys/:id/rotate', async (request) => {
    const scope = scopeOf(request);
    const rotated = await rotateApiKey(deps, actorOf(scope), (await keyFor(scope, request.params)).id);
    // The old prefix must stop working here at once; the new one may have a negative-cache entry.
    forgetLocally({ id: rotated.apiKey.id, prefix: rotated.previousPrefix });
    forgetLocally(rotated.apiKey);
    return { api_key: apiKeyJson(rotated.apiKey), key: rotated.key, previous_prefix: rotated.previousPrefix };
  });

  // Hard delete with the prefix typed as confirmation (body `{confirm}` or `?confirm=`).
  app.delete('/api-keys/:id', async (request) => {
    const scope = scopeOf(request);
    const { id } = await keyFor(scope, request.params);
    const confirmation = z.object({ confirm: z.string().max(200).optional() });
    const confirm = parseInput(confirmation, request.body ?? {}).confirm ?? parseInput(confirmation, request.query).confirm;
    const deleted = await deleteApiKey(deps, actorOf(scope), id, confirm);
    forgetLocally(deleted);
    return { status: 'ok', deleted: apiKeyJson(deleted) };
  });
}
