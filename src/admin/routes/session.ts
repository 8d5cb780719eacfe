import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { recordAudit } from '../../audit/index.ts';
import { PoolerError } from '../../errors.ts';
import {
  bootstrapOwner,
  bootstrapStatus,
  can,
  completeTotpStep,
  csrfTokenFor,
  loadScope,
  login,
  openSession,
  resolveSession,
  revokeSession,
  type IssuedSession,
  type LoginDeps,
} from '../../operators/index.ts';
import type { Services } from '../../services.ts';
import { clientOf, type CookieJar } from '../http-session.ts';
import { parseInput } from '../validate.ts';

/** The signed-in view every sign-in answer and `GET /session` share. */
async function signedInBody(services: Services, request: FastifyRequest, token: string) {
  const session = await resolveSession(services.db, token, new Date());
  const client = clientOf(request);
  const scope = session && (await loadScope(services.db, session, { ipAddress: client.ipAddress, correlationId: client.correlationId }));
  if (!session || !scope) throw new PoolerError('invalid_session');
  return {
    status: 'ok',
    authenticated: true,
    user: { id: session.userId, email: session.email, display_name: session.displayName },
    auth: {
      roles: [scope.role],
      pool_ids: [...scope.assignedPools.keys()],
      permissions: {
        'pool.manage': can(scope, 'pool.manage'),
        'operator.manage': can(scope, 'operator.manage'),
        'instance_settings.manage': can(scope, 'instance_settings.manage'),
        'audit.view_global': can(scope, 'audit.view_global'),
      },
      totp_enabled: session.totpEnabled,
      password_change_required: session.passwordChangeRequired,
    },
    session: { id: session.sessionId, expires_at: session.expiresAt },
    csrf_token: csrfTokenFor(services.config.secretKeyBase, session.sessionId),
  };
}

const pendingBody = (services: Services, sessionId: string) => ({ status: 'ok', authenticated: false, mfa_required: true, csrf_token: csrfTokenFor(services.config.secretKeyBase, sessionId) });

export function registerSessionRoutes(app: FastifyInstance, services: Services, jar: CookieJar, loginDeps: LoginDeps): void {
  const startSession = async (request: FastifyRequest, reply: FastifyReply, issued: IssuedSession) => {
    // Signing in replaces whatever session the browser had (fresh token, fresh CSRF token).
    if (request.adminSession && request.adminSession.sessionId !== issued.sessionId) await revokeSession(services.db, request.adminSession.sessionId, new Date());
    jar.set(request, reply, issued);
  };

  app.get('/bootstrap', { config: { adminAccess: 'public' } }, async () => ({ status: 'ok', bootstrap: await bootstrapStatus(services.db) }));

  app.post('/bootstrap', { config: { adminAccess: 'public', csrf: false } }, async (request, reply) => {
    const body = parseInput(z.object({ email: z.unknown(), password: z.unknown(), display_name: z.unknown().optional() }), request.body);
    const client = clientOf(request);
    const owner = await bootstrapOwner(services.db, { type: 'system', label: 'bootstrap', context: client }, body, { ipAddress: client.ipAddress });
    const issued = await openSession(services.db, { userId: owner.userId, mfaVerified: true, client, now: new Date() });
    await services.db.updateTable('users').set({ last_login_at: new Date() }).where('id', '=', owner.userId).execute();
    await startSession(request, reply, issued);
    return reply.code(201).send(await signedInBody(services, request, issued.token));
  });

  app.get('/session', { config: { adminAccess: 'public' } }, async (request) => {
    const { optional } = parseInput(z.object({ optional: z.enum(['0', '1', 'true', 'false']).optional() }), request.query);
    const session = request.adminSession;
    const lenient = optional === '1' || optional === 'true';
    if (session && !session.mfaVerified) {
      if (lenient) return pendingBody(services, session.sessionId);
      throw new PoolerError('totp_required');
    }
    if (!session) {
      if (lenient) return { status: 'ok', authenticated: false };
      throw new PoolerError('invalid_session');
    }
    const token = jar.tokenFrom(request)!;
    return signedInBody(services, request, token);
  });

  app.post('/session', { config: { adminAccess: 'public', csrf: false } }, async (request, reply) => {
    const outcome = await login(loginDeps, request.body, clientOf(request));
    await startSession(request, reply, outcome.session);
    if (outcome.kind === 'totp_required') return pendingBody(services, outcome.session.sessionId);
    return signedInBody(services, request, outcome.session.token);
  });

  app.post('/session/totp', { config: { adminAccess: 'pending' } }, async (request, reply) => {
    const session = request.adminSession!;
    if (session.mfaVerified) return signedInBody(services, request, jar.tokenFrom(request)!);
    const outcome = await completeTotpStep(loginDeps, session, request.body, clientOf(request));
    jar.set(request, reply, outcome.session);
    return signedInBody(services, request, outcome.session.token);
  });

  app.delete('/session', { config: { adminAccess: 'public' } }, async (request, reply) => {
    const session = request.adminSession;
    if (session) {
      await revokeSession(services.db, session.sessionId, new Date());
      const client = clientOf(request);
      await recordAudit(services.db, { actor: { type: 'user', userId: session.userId, label: session.email, context: client }, action: 'auth.logout', targetType: 'user', targetId: session.userId });
    }
    jar.clear(request, reply);
    return { status: 'ok', authenticated: false };
  });
}
