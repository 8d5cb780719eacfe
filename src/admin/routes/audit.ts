import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { listAuditEvents } from '../../audit/index.ts';
import type { Services } from '../../services.ts';
import { scopeOf } from '../http-session.ts';
import { readScope } from '../pool-access.ts';
import { CURSOR, LIMIT, parseInput, TIME, UUID } from '../validate.ts';

const QUERY = z.object({
  action: z.string().trim().min(1).max(100).optional(),
  pool_id: UUID.optional(),
  actor_user_id: UUID.optional(),
  actor_type: z.enum(['user', 'system']).optional(),
  outcome: z.enum(['success', 'failure']).optional(),
  target_type: z.string().trim().min(1).max(100).optional(),
  target_id: z.string().trim().min(1).max(200).optional(),
  correlation_id: z.string().trim().min(1).max(200).optional(),
  from: TIME.optional(),
  to: TIME.optional(),
  cursor: CURSOR,
  limit: LIMIT,
});

/** Owners see every event (including those outside Pools); admins only their assigned Pools' events. */
export function registerAuditRoutes(app: FastifyInstance, services: Services): void {
  app.get('/audit', async (request) => {
    const query = parseInput(QUERY, request.query);
    const { poolIds, poolId } = await readScope(services, scopeOf(request), query.pool_id);
    return listAuditEvents(services.db, { poolIds }, {
      action: query.action,
      poolId,
      actorUserId: query.actor_user_id,
      actorType: query.actor_type,
      outcome: query.outcome,
      targetType: query.target_type,
      targetId: query.target_id,
      correlationId: query.correlation_id,
      from: query.from,
      to: query.to,
      cursor: query.cursor,
      limit: query.limit,
    });
  });
}
