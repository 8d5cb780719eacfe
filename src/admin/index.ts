import type { FastifyInstance } from 'fastify';
import { PoolerError, toEnvelope } from '../errors.ts';
import type { AuthDeps, LoginLimits } from '../operators/index.ts';
import type { Services } from '../services.ts';
import { createCookieJar, installSessionHooks } from './http-session.ts';
import { registerAccountRoutes } from './routes/accounts.ts';
import { registerAccountOAuthRoutes } from './routes/account-oauth.ts';
import { registerInviteRoutes } from './routes/invites.ts';
import { registerApiKeyRoutes } from './routes/api-keys.ts';
import { registerAuditRoutes } from './routes/audit.ts';
import { registerMeRoutes } from './routes/me.ts';
import { registerObservatoryRoutes } from './routes/observatory.ts';
import { registerOperatorRoutes } from './routes/operators.ts';
import { registerPoolRoutes } from './routes/pools.ts';
import { registerRequestLogRoutes } from './routes/request-logs.ts';
import { registerSessionRoutes } from './routes/session.ts';
import { registerMetricsSettingsRoutes } from './routes/metrics-settings.ts';
import { registerSettingsRoutes } from './routes/settings.ts';

export const ADMIN_API_PREFIX = '/api/admin';

/**
 * The admin JSON API under `/api/admin` (docs/admin-api.md): session cookie + CSRF header, the
 * permission matrix on every call, the JSON error envelope everywhere (unknown routes included).
 */
export async function registerAdminApi(app: FastifyInstance, services: Services, options: { loginLimits?: LoginLimits } = {}): Promise<void> {
  await app.register(
    async (admin) => {
      const jar = createCookieJar(services.config.secretKeyBase);
      const deps: AuthDeps = { db: services.db, totpKeyring: services.config.totpKeyring, secretKeyBase: services.config.secretKeyBase };
      installSessionHooks(admin, services, jar);
      admin.setNotFoundHandler((request, reply) => {
        reply.code(404).send(toEnvelope(new PoolerError('not_found', `no admin endpoint ${request.method} ${request.url.split('?')[0]}`)));
      });
      registerSessionRoutes(admin, services, jar, { ...deps, loginLimits: options.loginLimits });
      registerMeRoutes(admin, deps, jar);
      registerPoolRoutes(admin, services);
      registerAccountRoutes(admin, services);
      registerAccountOAuthRoutes(admin, services);
      registerInviteRoutes(admin, services);
      registerApiKeyRoutes(admin, services);
      registerRequestLogRoutes(admin, services, jar);
      registerObservatoryRoutes(admin, services);
      registerAuditRoutes(admin, services);
      registerOperatorRoutes(admin, deps);
      registerSettingsRoutes(admin, services.db, services.settings);
      registerMetricsSettingsRoutes(admin, services);
    },
    { prefix: ADMIN_API_PREFIX },
  );
}
