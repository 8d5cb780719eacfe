import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { pingDatabase, migrationsCurrent } from '../db/index.ts';
import { PoolerError, toEnvelope } from '../errors.ts';
import { asPoolerError } from './error-mapping.ts';
import { registerAdminApi } from '../admin/index.ts';
import { registerAdminUi } from './admin-ui.ts';
import { registerGatewayRoutes } from '../gateway/routes.ts';
import { createMetricsAccessSource, registerMetricsRoute, statusClass } from '../metrics/index.ts';
import type { Services } from '../services.ts';
import { registerBootstrapRoutes } from './bootstrap-routes.ts';
import { registerObservatoryPages } from '../observatory/index.ts';
import { registerOnboardingRoutes } from './onboarding.ts';
import type { DrainState } from './drain.ts';
import { httpsRedirectHook } from './https-redirect.ts';
import { ingressFirewallHook } from '../ingress/index.ts';

export type AppDeps = {
  services: Services;
  drain: DrainState;
  version: string;
  /** After close() starts, connections still open this long are cut (spec: within 10 s). */
  connectionCloseGraceMs?: number;
};

const REQUEST_ID_SHAPE = /^[\x21-\x7e]{20,200}$/;
const QUIET_PATHS = new Set(['/healthz', '/readyz']);

/** Builds the HTTP app without listening, so tests drive it with inject() or a real socket. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { services, drain } = deps;
  const app = Fastify({
    loggerInstance: services.log.child({ component: 'http' }) as FastifyBaseLogger,
    // Access logging is done in onResponse below (quiet for probes); Fastify's own per-request lines are off.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: services.config.maxRequestBodyBytes,
    // Reuse a client request id of 20-200 printable bytes, else mint one; always echoed.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_SHAPE.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    return503OnClosing: true,
    // Idle keep-alive sockets close at shutdown; in-flight requests still finish.
    forceCloseConnections: 'idle',
    keepAliveTimeout: 65_000,
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // Shutdown waits for these (streams included) before it stops listening; websocket upgrades
  // are drained by their own owners and live views never end, so neither is counted here.
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.upgrade || request.routeOptions.config?.longLived) return;
    drain.requestStarted();
    reply.raw.once('close', () => drain.requestEnded());
  });
  const { metrics } = services;
  app.addHook('onRequest', async (request, reply) => {
    const started = process.hrtime.bigint();
    // 'finish' also fires for hijacked (streamed) replies, which skip Fastify's onResponse.
    reply.raw.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = request.routeOptions.url ?? 'unmatched';
      const status = statusClass(reply.raw.statusCode);
      metrics.endpointStopCount.inc();
      metrics.endpointStopDuration.observe(seconds);
      metrics.routerDispatchDuration.observe({ route }, seconds);
      metrics.httpRequestCount.inc({ method: request.method, status_class: status });
      metrics.httpRouteCount.inc({ route, method: request.method, status_class: status });
    });
  });
  if (services.config.forceHttps) app.addHook('onRequest', httpsRedirectHook(services.config.publicHost));
  // Runtime routes only; registered before every route scope so it runs ahead of authentication.
  app.decorateRequest('clientIp', null);
  app.addHook('onRequest', ingressFirewallHook(() => services.settings.current.ingress, (reason) => services.metrics.ingressFirewallDenied.inc({ reason })));
  app.addHook('onResponse', async (request, reply) => {
    if (QUIET_PATHS.has(request.url)) return;
    // The route template, never the raw path: some paths carry secrets (invite tokens).
    request.log.info({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode, duration_ms: Math.round(reply.elapsedTime) }, 'request');
  });

  app.setErrorHandler((error: FastifyError | PoolerError, request, reply) => {
    const pooler = asPoolerError(error);
    if (pooler.status >= 500) request.log.error({ err: error }, 'request failed');
    reply.headers(pooler.headers).code(pooler.status).send(toEnvelope(pooler));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).type('text/html; charset=utf-8').send('Not Found');
  });

  // server.close() drops idle keep-alive sockets only once; sockets whose last response ends during
  // shutdown would otherwise hold the process open until their keep-alive timeout.
  app.addHook('preClose', async () => {
    const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
    const cutoff = setTimeout(() => app.server.closeAllConnections(), deps.connectionCloseGraceMs ?? 10_000);
    app.server.once('close', () => {
      clearInterval(sweep);
      clearTimeout(cutoff);
    });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    if (drain.draining) return reply.code(503).send({ status: 'unavailable' });
    const ready = (await pingDatabase(services.db, 1000)) && (await migrationsCurrent(services.db).catch(() => false));
    if (!ready) {
      services.log.warn({ path: '/readyz', reason_class: 'database' }, 'readiness probe failed');
      return reply.code(503).send({ status: 'unavailable' });
    }
    return { status: 'ready' };
  });

  registerMetricsRoute(app, {
    metrics,
    db: services.db,
    access: createMetricsAccessSource({ db: services.db, keyring: services.config.upstreamKeyring, envToken: services.config.metricsToken, log: services.log.child({ component: 'metrics' }) }),
  });
  await registerBootstrapRoutes(app, services);
  await registerAdminApi(app, services);
  await registerAdminUi(app);
  await registerObservatoryPages(app, services);
  await registerOnboardingRoutes(app, services);
  await registerGatewayRoutes(app, { services, drain });
  return app;
}
