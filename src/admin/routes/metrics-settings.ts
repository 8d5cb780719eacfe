import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { changeMetricsToken, readMetricsProtection, type MetricsProtectionDeps } from '../../metrics/index.ts';
import type { Services } from '../../services.ts';
import { scopeOf } from '../http-session.ts';
import { parseInput } from '../validate.ts';

/** Either generate a token or bring one; the API asks more than the CLI's 16 characters of a brought token. */
const TOKEN_BODY = z
  .object({
    generate: z.literal(true).optional(),
    token: z.string().min(24, 'must be at least 24 characters').max(512, 'must be at most 512 characters').optional(),
  })
  .strict()
  .refine((body) => (body.generate === true) !== (body.token !== undefined), 'send either {"generate": true} or {"token": "..."}');

/**
 * The /metrics bearer (control-plane spec §8.4 "metrics"), owner only: the services call `authorize`.
 * Answers the mode and fingerprint, never the token or its digest; a generated token exactly once.
 */
export function registerMetricsSettingsRoutes(app: FastifyInstance, services: Services): void {
  const deps: MetricsProtectionDeps = { db: services.db, keyring: services.config.upstreamKeyring, envToken: services.config.metricsToken };

  app.get('/settings/metrics', async (request) => readMetricsProtection(deps, scopeOf(request)));

  app.post('/settings/metrics/token', async (request) => {
    const scope = scopeOf(request);
    const body = parseInput(TOKEN_BODY, request.body);
    const { protection, generatedToken } = await changeMetricsToken(deps, scope, body.token !== undefined ? { token: body.token } : { generate: true });
    return generatedToken ? { ...protection, token: generatedToken } : protection;
  });

  app.delete('/settings/metrics/token', async (request) => (await changeMetricsToken(deps, scopeOf(request), { clear: true })).protection);
}
