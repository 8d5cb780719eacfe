import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { actorOf, authorize, can, type OperatorScope } from '../../operators/index.ts';
import type { Services } from '../../services.ts';
import { disableAccount, enableAccount, getAccount, importAuthJson, listAccounts, removeAccount, type AccountView } from '../../upstreams/index.ts';
import { scopeOf } from '../http-session.ts';
import { poolFor } from '../pool-access.ts';
import { ID_PARAMS, parseInput, UUID } from '../validate.ts';

/** An upstream account in a Pool as the UI shows it. The ChatGPT account id and tokens never leave the server. */
export const accountJson = (account: AccountView) => ({
  id: account.id,
  identity_id: account.identityId,
  pool_id: account.poolId,
  pool_slug: account.poolSlug,
  label: account.label,
  email: account.email,
  plan: account.plan,
  state: account.state,
  cooldown_until: account.cooldownUntil,
  access_token_expires_at: account.accessTokenExpiresAt,
  last_success_at: account.lastSuccessAt,
  quota: account.quota,
});

/** The account behind `:id`, after checking the operator may `capability` its Pool. */
async function accountFor(services: Services, scope: OperatorScope, id: string, capability: 'pool.view' | 'pool.operate'): Promise<AccountView> {
  const account = await getAccount(services.db, id);
  const pool = await services.db.selectFrom('pools').select(['id', 'status']).where('id', '=', account.poolId).executeTakeFirstOrThrow();
  authorize(scope, capability, pool);
  return account;
}

export function registerAccountRoutes(app: FastifyInstance, services: Services): void {
  const deps = { db: services.db, notifier: services.notifier };

  app.get('/accounts', async (request) => {
    const scope = scopeOf(request);
    const query = parseInput(z.object({ pool_id: UUID.optional() }), request.query);
    if (query.pool_id) await poolFor(services, scope, query.pool_id, 'pool.view');
    const pools = new Map((await services.db.selectFrom('pools').select(['id', 'status']).execute()).map((p) => [p.id, p]));
    const accounts = (await listAccounts(services.db, query.pool_id ? { pool: query.pool_id } : {})).filter((a) => {
      const pool = pools.get(a.poolId);
      return pool !== undefined && can(scope, 'pool.view', pool);
    });
    return { items: accounts.map(accountJson) };
  });

  app.get('/accounts/:id', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    return { account: accountJson(await accountFor(services, scopeOf(request), id, 'pool.view')) };
  });

  // auth.json arrives as text in a JSON body (the UI reads the file or the pasted text).
  app.post('/accounts/import', async (request, reply) => {
    const scope = scopeOf(request);
    const body = parseInput(z.object({ pool_id: UUID, auth_json: z.string().min(1, 'paste the auth.json text'), label: z.string().trim().max(160).nullish() }), request.body);
    const pool = await poolFor(services, scope, body.pool_id, 'pool.operate');
    const result = await importAuthJson(services.accountDeps, actorOf(scope), { pool: pool.id, authJson: body.auth_json, label: body.label ?? null });
    return reply.code(result.created ? 201 : 200).send({ account: accountJson(result.account), created: result.created, primed: result.primed });
  });

  app.post('/accounts/:id/disable', async (request) => {
    const scope = scopeOf(request);
    const { id } = parseInput(ID_PARAMS, request.params);
    await accountFor(services, scope, id, 'pool.operate');
    return { account: accountJson(await disableAccount(deps, actorOf(scope), id)) };
  });

  app.post('/accounts/:id/enable', async (request) => {
    const scope = scopeOf(request);
    const { id } = parseInput(ID_PARAMS, request.params);
    await accountFor(services, scope, id, 'pool.operate');
    return { account: accountJson(await enableAccount(deps, actorOf(scope), id)) };
  });

  app.delete('/accounts/:id', async (request) => {
    const scope = scopeOf(request);
    const { id } = parseInput(ID_PARAMS, request.params);
    await accountFor(services, scope, id, 'pool.operate');
    return { status: 'ok', account: accountJson(await removeAccount(deps, actorOf(scope), id)) };
  });
}
