import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  createOperator,
  deactivateOperator,
  getOperator,
  listOperators,
  reactivateOperator,
  resetOperatorPassword,
  resetOperatorTotp,
  updateOperator,
  type AuthDeps,
} from '../../operators/index.ts';
import { scopeOf } from '../http-session.ts';
import { ID_PARAMS, parseInput } from '../validate.ts';

/** Operator management, owner only (spec §4.5); the services call `authorize` before anything else. */
export function registerOperatorRoutes(app: FastifyInstance, deps: AuthDeps): void {
  app.get('/operators', async (request) => {
    const query = parseInput(z.object({ status: z.enum(['active', 'disabled']).optional(), query: z.string().max(160).optional() }), request.query);
    return { items: await listOperators(deps.db, scopeOf(request), query) };
  });

  app.get('/operators/:id', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    return { operator: await getOperator(deps.db, scopeOf(request), id) };
  });

  // The temporary password is in this answer only; it is never stored or shown again.
  app.post('/operators', async (request, reply) => {
    const created = await createOperator(deps, scopeOf(request), request.body);
    return reply.code(201).send({ operator: created.operator, temporary_password: created.temporaryPassword });
  });

  app.patch('/operators/:id', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    return { operator: await updateOperator(deps, scopeOf(request), id, request.body) };
  });

  app.post('/operators/:id/deactivate', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    const { reason } = parseInput(z.object({ reason: z.string().max(500).optional() }), request.body ?? {});
    return { operator: await deactivateOperator(deps, scopeOf(request), id, { reason }) };
  });

  app.post('/operators/:id/reactivate', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    const result = await reactivateOperator(deps, scopeOf(request), id);
    return { operator: result.operator, temporary_password: result.temporaryPassword };
  });

  app.post('/operators/:id/password-reset', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    const result = await resetOperatorPassword(deps, scopeOf(request), id);
    return { operator: result.operator, temporary_password: result.temporaryPassword };
  });

  app.post('/operators/:id/totp-reset', async (request) => {
    const { id } = parseInput(ID_PARAMS, request.params);
    await resetOperatorTotp(deps, scopeOf(request), id);
    return { operator: await getOperator(deps.db, scopeOf(request), id) };
  });
}
