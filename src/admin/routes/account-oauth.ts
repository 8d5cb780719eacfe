import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { actorOf, authorize, type OperatorScope } from '../../operators/index.ts';
import type { Services } from '../../services.ts';
import { completeBrowserFlow, flowJson, getAccount, getFlow, pollDeviceFlow, startBrowserFlow, startDeviceFlow, type ImportResult } from '../../upstreams/index.ts';
import { scopeOf } from '../http-session.ts';
import { poolFor } from '../pool-access.ts';
import { ID_PARAMS, parseInput, UUID } from '../validate.ts';
import { accountJson } from './accounts.ts';

const linkedJson = (result: ImportResult) => ({ account: accountJson(result.account), created: result.created, primed: result.primed });

const START_BODY = z.object({ pool_id: UUID });
const COMPLETE_BODY = z.object({ flow_id: UUID, callback_url: z.string().trim().min(1, 'paste the address your browser ended on').max(4096) });
const POLL_PARAMS = z.object({ flow_id: UUID });

/** Re-authenticate: the account's Pool and identity, after `pool.operate` on that Pool. */
async function relinkTarget(services: Services, scope: OperatorScope, id: string) {
  const account = await getAccount(services.db, id);
  const pool = await services.db.selectFrom('pools').select(['id', 'status']).where('id', '=', account.poolId).executeTakeFirstOrThrow();
  authorize(scope, 'pool.operate', pool);
  return { pool: account.poolId, identityId: account.identityId };
}

/** A flow the operator may finish: `pool.operate` on its Pool. */
async function ownFlow(services: Services, scope: OperatorScope, flowId: string) {
  const flow = await getFlow(services.accountDeps, flowId);
  const pool = await services.db.selectFrom('pools').select(['id', 'status']).where('id', '=', flow.pool_id).executeTakeFirstOrThrow();
  authorize(scope, 'pool.operate', pool);
  return flow;
}

/**
 * Sign-in with ChatGPT for upstream accounts (control-plane spec §5.3): browser PKCE (the operator
 * opens the authorize URL and pastes back the localhost address) and device code, for new accounts
 * and to re-authenticate an existing one (`/accounts/:id/oauth/...`).
 */
export function registerAccountOAuthRoutes(app: FastifyInstance, services: Services): void {
  const deps = services.accountDeps;

  app.post('/accounts/oauth/browser', async (request, reply) => {
    const scope = scopeOf(request);
    const body = parseInput(START_BODY, request.body);
    const pool = await poolFor(services, scope, body.pool_id, 'pool.operate');
    const started = await startBrowserFlow(deps, actorOf(scope), { pool: pool.id, source: 'admin_api' });
    return reply.code(201).send({ flow: flowJson(started.flow), authorize_url: started.authorizeUrl });
  });

  app.post('/accounts/:id/oauth/browser', async (request, reply) => {
    const scope = scopeOf(request);
    const { id } = parseInput(ID_PARAMS, request.params);
    const target = await relinkTarget(services, scope, id);
    const started = await startBrowserFlow(deps, actorOf(scope), { ...target, source: 'admin_api' });
    return reply.code(201).send({ flow: flowJson(started.flow), authorize_url: started.authorizeUrl });
  });

  app.post('/accounts/oauth/browser/complete', async (request) => {
    const scope = scopeOf(request);
    const body = parseInput(COMPLETE_BODY, request.body);
    await ownFlow(services, scope, body.flow_id);
    const done = await completeBrowserFlow(deps, actorOf(scope), { flowId: body.flow_id, callbackUrl: body.callback_url });
    return { flow: flowJson(done.flow), ...linkedJson(done.result) };
  });

  app.post('/accounts/oauth/device', async (request, reply) => {
    const scope = scopeOf(request);
    const body = parseInput(START_BODY, request.body);
    const pool = await poolFor(services, scope, body.pool_id, 'pool.operate');
    return reply.code(201).send({ flow: flowJson(await startDeviceFlow(deps, actorOf(scope), { pool: pool.id, source: 'admin_api' })) });
  });

  app.post('/accounts/:id/oauth/device', async (request, reply) => {
    const scope = scopeOf(request);
    const { id } = parseInput(ID_PARAMS, request.params);
    const target = await relinkTarget(services, scope, id);
    return reply.code(201).send({ flow: flowJson(await startDeviceFlow(deps, actorOf(scope), { ...target, source: 'admin_api' })) });
  });

  app.post('/accounts/oauth/device/:flow_id/poll', async (request) => {
    const scope = scopeOf(request);
    const { flow_id } = parseInput(POLL_PARAMS, request.params);
    await ownFlow(services, scope, flow_id);
    const polled = await pollDeviceFlow(deps, actorOf(scope), flow_id);
    if (polled.status === 'pending') return { status: 'pending', flow: flowJson(polled.flow) };
    return { status: 'completed', flow: flowJson(polled.flow), ...linkedJson(polled.result) };
  });
}
