import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { PoolerError } from '../../errors.ts';
import { actorOf, authorize } from '../../operators/index.ts';
import type { Services } from '../../services.ts';
import { createInvite, getInvite, listInvites, revokeInvite, type InviteView } from '../../upstreams/index.ts';
import { scopeOf } from '../http-session.ts';
import { poolFor, readScope } from '../pool-access.ts';
import { ID_PARAMS, parseInput, UUID } from '../validate.ts';

/** An invite without its token: the URL exists only in the create answer. */
export const inviteJson = (invite: InviteView) => ({
  id: invite.id,
  pool_id: invite.poolId,
  pool_slug: invite.poolSlug,
  email: invite.email,
  status: invite.status,
  inviter: invite.inviter,
  email_sent_at: invite.emailSentAt,
  expires_at: invite.expiresAt,
  accepted_at: invite.acceptedAt,
  revoked_at: invite.revokedAt,
  result_account_id: invite.resultAccountId,
  created_at: invite.createdAt,
});

const STATUS = z.enum(['active', 'accepted', 'revoked', 'expired']);

/** Pool invites (control-plane spec §5.4): `pool.operate` to create or revoke, `pool.view` to list. */
export function registerInviteRoutes(app: FastifyInstance, services: Services): void {
  app.get('/invites', async (request) => {
    const scope = scopeOf(request);
    const query = parseInput(z.object({ pool_id: UUID.optional(), status: STATUS.optional() }), request.query);
    const visible = await readScope(services, scope, query.pool_id);
    const invites = await listInvites(services.db, { poolIds: visible.poolIds, ...(visible.poolId ? { pool: visible.poolId } : {}), ...(query.status ? { status: query.status } : {}) });
    return { items: invites.map(inviteJson) };
  });

  app.post('/invites', async (request, reply) => {
    const scope = scopeOf(request);
    const body = parseInput(z.object({ pool_id: UUID, email: z.string().trim().min(3).max(160), expires_at: z.string().trim().max(64).nullish() }), request.body);
    const pool = await poolFor(services, scope, body.pool_id, 'pool.operate');
    const created = await createInvite(services.accountDeps, actorOf(scope), { pool: pool.id, email: body.email, expiresAt: body.expires_at ?? null });
    // The only time the invite URL (its token) is ever returned.
    return reply.code(201).send({ invite: inviteJson(created.invite), url: created.url, emailed: false });
  });

  app.post('/invites/:id/revoke', async (request) => {
    const scope = scopeOf(request);
    const { id } = parseInput(ID_PARAMS, request.params);
    const invite = await getInvite(services.db, id).catch((error: unknown) => {
      if (error instanceof PoolerError) throw new PoolerError('invite_not_found', 'this invite does not exist', { param: 'id' });
      throw error;
    });
    const pool = await services.db.selectFrom('pools').select(['id', 'status']).where('id', '=', invite.poolId).executeTakeFirstOrThrow();
    authorize(scope, 'pool.operate', pool);
    return { invite: inviteJson(await revokeInvite(services.accountDeps, actorOf(scope), id)) };
  });
}
