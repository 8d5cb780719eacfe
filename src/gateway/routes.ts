import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthenticatedKey, KeySurface } from '../api-keys/index.ts';
import { canonicalJson } from '../crypto/index.ts';
import { PoolerError } from '../errors.ts';
import type { DrainState } from '../http/drain.ts';
import type { Services } from '../services.ts';
import { dispatchToPool, type GatewayDeps } from './dispatch.ts';
import { affinityKeyOf, requireModel, upstreamCompactBody, upstreamResponsesBody, type JsonObject } from './responses-body.ts';

declare module 'fastify' {
  interface FastifyRequest {
    poolKey?: AuthenticatedKey;
  }
}

// Codex app-server helpers the gateway deliberately does not serve: fixed 404, no auth, no side effects.
const PRUNED_ROUTES: [string, string][] = [
  ['GET', '/backend-api/codex/agent-identities/jwks'],
  ['GET', '/backend-api/wham/agent-identities/jwks'],
  ['POST', '/api/codex/rate-limit-reset-credits/consume'],
  ['POST', '/wham/rate-limit-reset-credits/consume'],
  ['POST', '/backend-api/wham/rate-limit-reset-credits/consume'],
  ['POST', '/backend-api/codex/thread/goal/get'],
  ['POST', '/backend-api/codex/thread/goal/set'],
  ['POST', '/backend-api/codex/thread/goal/clear'],
  ['POST', '/backend-api/codex/analytics-events/events'],
  ['POST', '/backend-api/codex/memories/trace_summarize'],
  ['POST', '/backend-api/codex/alpha/search'],
  ['POST', '/backend-api/codex/realtime/calls'],
  ['POST', '/backend-api/codex/safety/arc'],
];

export function gatewayDeps(services: Services): GatewayDeps {
  return {
    routing: services.routing,
    credentials: services.credentials,
    quota: services.quota,
    requestLog: services.requestLog,
    dispatcher: services.dispatcher,
    upstreamBaseUrl: services.config.upstreamBaseUrl,
    timeouts: services.config.upstreamTimeouts,
    log: services.log.child({ component: 'gateway' }),
    metrics: services.metrics,
    now: Date.now,
  };
}

export async function registerGatewayRoutes(app: FastifyInstance, options: { services: Services; drain: DrainState }): Promise<void> {
  const { services } = options;
  const deps = gatewayDeps(services);

  for (const [method, url] of PRUNED_ROUTES) {
    app.route({ method: method as 'GET' | 'POST', url, handler: (_request, reply) => reply.code(404).type('text/html; charset=utf-8').send('Not Found') });
  }

  // Every runtime path authenticates before its body is parsed (hooks run before parsing).
  await app.register(async (scope) => {
    scope.addHook('onRequest', authenticate(services, 'backend'));
    registerBackendRoutes(scope, services, deps);
  });
  await app.register(async (scope) => {
    scope.addHook('onRequest', authenticate(services, 'v1'));
    registerV1Routes(scope, services);
  });
}

function authenticate(services: Services, surface: KeySurface) {
  return async (request: FastifyRequest) => {
    request.poolKey = await services.apiKeys.authenticate(request.headers.authorization, surface);
    if (surface === 'v1' && !request.poolKey.v1Enabled) throw new PoolerError('forbidden', 'OpenAI /v1 compatibility is disabled for this pool');
  };
}

function jsonBody(request: FastifyRequest): JsonObject {
  const body = request.body;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new PoolerError('invalid_request', 'request body must be a JSON object');
  return body as JsonObject;
}

async function resolveModel(services: Services, poolId: string, requested: string): Promise<string> {
  const catalog = await services.routing.catalog(poolId);
  const entry = catalog.models.get(requested.toLowerCase());
  if (entry) return entry.upstreamModelId;
  // A catalog that was never fetched cannot refuse anything: the upstream decides.
  if (!catalog.fetched) return requested;
  throw new PoolerError('invalid_model', 'model is not available for this pool', { param: 'model' });
}

const catalogCache = new WeakMap<object, { body: { models: Record<string, unknown>[] }; etag: string }>();

/** The backend catalog body and its ETag, memoised per loaded catalog snapshot. */
async function catalogBody(services: Services, poolId: string): Promise<{ body: { models: Record<string, unknown>[] }; etag: string }> {
  const catalog = await services.routing.catalog(poolId);
  const cached = catalogCache.get(catalog);
  if (cached) return cached;
  const entries = [...catalog.models.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, model]) => {
      const { source_assignment_id: _a, upstream_model: _b, ...entry } = model.entry;
      return entry;
    });
  const body = { models: entries };
  const value = { body, etag: `W/"cp-models-v1-${createHash('sha256').update(canonicalJson(body)).digest('hex')}"` };
  catalogCache.set(catalog, value);
  return value;
}

function registerBackendRoutes(scope: FastifyInstance, services: Services, deps: GatewayDeps): void {
  const responses = async (request: FastifyRequest, reply: FastifyReply) => {
    const key = request.poolKey!;
    const body = jsonBody(request);
    const requestedModel = requireModel(body);
    const upstreamModel = await resolveModel(services, key.poolId, requestedModel);
    const upstreamBody = upstreamResponsesBody(body, upstreamModel);
    const stream = upstreamBody.stream === true;
    const catalog = await catalogBody(services, key.poolId);
    await dispatchToPool(deps, key, request, reply, {
      modelsEtag: catalog.etag,
      endpoint: '/backend-api/codex/responses',
      upstreamPath: '/backend-api/codex/responses',
      transport: stream ? 'http_sse' : 'http_json',
      stream,
      failover: true,
      requestedModel,
      upstreamModel,
      body: Buffer.from(JSON.stringify(upstreamBody)),
      affinityKey: affinityKeyOf(body, request.headers),
      forwardClientHeaders: true,
    });
  };
  const compact = async (request: FastifyRequest, reply: FastifyReply) => {
    const key = request.poolKey!;
    const body = jsonBody(request);
    const requestedModel = requireModel(body);
    const upstreamModel = await resolveModel(services, key.poolId, requestedModel);
    await dispatchToPool(deps, key, request, reply, {
      endpoint: '/backend-api/codex/responses/compact',
      upstreamPath: '/backend-api/codex/responses/compact',
      transport: 'http_compact_json',
      stream: false,
      failover: false,
      requestedModel,
      upstreamModel,
      body: Buffer.from(JSON.stringify(upstreamCompactBody(body, upstreamModel))),
      affinityKey: affinityKeyOf(body, request.headers),
      forwardClientHeaders: true,
    });
  };
  const models = async (request: FastifyRequest, reply: FastifyReply) => {
    const { body, etag } = await catalogBody(services, request.poolKey!.poolId);
    if (request.headers['if-none-match'] === etag) return reply.code(304).header('etag', etag).send();
    return reply.header('etag', etag).header('x-models-etag', etag).send(body);
  };
  // Until the websocket transport lands, an upgrade gets 426 so Codex falls back to HTTP streaming.
  const websocketOnly = async (request: FastifyRequest) => {
    if (String(request.headers.upgrade ?? '').toLowerCase() === 'websocket') throw new PoolerError('upgrade_required');
    throw new PoolerError('websocket_upgrade_required');
  };

  for (const prefix of ['/backend-api/codex', '/backend-api/codex/v1']) {
    scope.post(`${prefix}/responses`, responses);
    scope.post(`${prefix}/responses/compact`, compact);
    scope.get(`${prefix}/models`, models);
    scope.get(`${prefix}/responses`, websocketOnly);
  }
}

function registerV1Routes(scope: FastifyInstance, services: Services): void {
  scope.get('/v1/models', async (request) => {
    const catalog = await services.routing.catalog(request.poolKey!.poolId);
    const data = [...catalog.models.keys()].sort().map((id) => ({ id, object: 'model', created: 0, owned_by: 'codex-pooler' }));
    return { object: 'list', data };
  });
  scope.all('/v1/*', async () => {
    throw new PoolerError('unsupported_endpoint', 'Unsupported OpenAI /v1 endpoint');
  });
}
