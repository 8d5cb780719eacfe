import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { recordAudit } from '../../audit/index.ts';
import { PoolerError } from '../../errors.ts';
import {
  actorOf,
  beginTotpEnrollment,
  changeOwnPassword,
  confirmTotpEnrollment,
  disableOwnTotp,
  listOwnSessions,
  revokeOperatorSessions,
  revokeSession,
  totpState,
  type AuthDeps,
} from '../../operators/index.ts';
import { scopeOf, type CookieJar } from '../http-session.ts';
import { ID_PARAMS, parseInput } from '../validate.ts';

const CODE_INPUT = z.object({ code: z.string().max(64).optional(), totp_code: z.string().max(64).optional(), recovery_code: z.string().max(64).optional() });

/** The signed-in operator's own account: password, TOTP, sessions. Open to every role. */
export function registerMeRoutes(app: FastifyInstance, deps: AuthDeps, jar: CookieJar): void {
  app.get('/me', { config: { adminAccess: 'password_change' } }, async (request) => {
    const scope = scopeOf(request);
    const user = await deps.db.selectFrom('users').select(['id', 'email', 'display_name', 'timezone', 'datetime_format', 'password_change_required', 'last_login_at']).where('id', '=', scope.userId).executeTakeFirstOrThrow();
    const totp = await totpState(deps, scope.userId);
    return { user: { ...user, role: scope.role, pool_ids: [...scope.assignedPools.keys()] }, totp: { status: totp.status, enrolled_at: totp.enrolledAt, remaining_recovery_codes: totp.remainingRecoveryCodes } };
  });

  app.post('/me/password', { config: { adminAccess: 'password_change' } }, async (request) => {
    const result = await changeOwnPassword(deps, scopeOf(request), request.body);
    return { status: 'ok', authenticated: true, revoked_sessions: result.revokedSessions };
  });

  app.get('/me/totp', async (request) => {
    const totp = await totpState(deps, scopeOf(request).userId);
    return { status: totp.status, enrolled_at: totp.enrolledAt, remaining_recovery_codes: totp.remainingRecoveryCodes };
  });

  app.post('/me/totp/enrollment', async (request, reply) => {
    const enrollment = await beginTotpEnrollment(deps, scopeOf(request));
    return reply.code(201).send({ status: 'pending', secret: enrollment.secret, otpauth_uri: enrollment.otpauthUri, recovery_codes: enrollment.recoveryCodes });
  });

  app.post('/me/totp/confirm', async (request) => {
    const input = parseInput(CODE_INPUT, request.body);
    await confirmTotpEnrollment(deps, scopeOf(request), input.code ?? input.totp_code);
    return { status: 'active' };
  });

  app.post('/me/totp/disable', async (request) => {
    const input = parseInput(CODE_INPUT, request.body);
    await disableOwnTotp(deps, scopeOf(request), { totpCode: input.code ?? input.totp_code ?? null, recoveryCode: input.recovery_code ?? null });
    return { status: 'disabled' };
  });

  app.get('/me/sessions', async (request) => ({ items: await listOwnSessions(deps.db, scopeOf(request), new Date()) }));

  app.delete('/me/sessions/:id', async (request, reply) => {
    const scope = scopeOf(request);
    const { id } = parseInput(ID_PARAMS, request.params);
    const own = await deps.db.selectFrom('sessions').select('id').where('id', '=', id).where('user_id', '=', scope.userId).executeTakeFirst();
    if (!own) throw new PoolerError('not_found', 'session does not exist', { param: 'id' });
    const revoked = await revokeSession(deps.db, id, new Date());
    const current = id === scope.sessionId;
    if (revoked) await recordAudit(deps.db, { actor: actorOf(scope), action: 'auth.session_revoked', targetType: 'session', targetId: id, details: { current_session: current, revoked_sessions: 1 } });
    if (current) jar.clear(request, reply);
    return { status: 'ok', revoked, signed_out: current };
  });

  app.post('/me/sessions/revoke-others', async (request) => {
    const scope = scopeOf(request);
    const count = await revokeOperatorSessions(deps.db, scope.userId, new Date(), scope.sessionId);
    if (count > 0) await recordAudit(deps.db, { actor: actorOf(scope), action: 'auth.sessions_revoked', targetType: 'user', targetId: scope.userId, details: { revoked_sessions: count } });
    return { status: 'ok', revoked_sessions: count };
  });
}
